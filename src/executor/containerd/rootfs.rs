//! What the runc backend does to a step's root filesystem before the
//! process starts, done here to containerd snapshots mounted on this host,
//! so both backends capture the same changes:
//!
//! - the **init snapshot** ([`build_init`]): the mount points the runtime
//!   needs (`/proc`, `/dev`, `/sys`, `/etc/hosts`, bind destinations...)
//!   that the image lacks, in a committed snapshot between the image's chain
//!   and the step's active snapshot — Docker's `-init` layer, strata's
//!   `snapshot` init dir. Parents the image has keep the image's owner, mode
//!   and times, so the merged view is the image's and a copy-up in the step
//!   records the image's metadata.
//! - the **working directory**: created if missing, *as a change*, by
//!   `snapshot::mkdir_in_root` (shared with the runc backend).
//!
//! `build_init` mirrors `snapshot::lower::build_init`, which works on a
//! view of strata's own snapshot dirs; this one works through a temporary
//! local mount of containerd's snapshot instead.

use std::ffi::CString;
use std::fs::{self, File, Metadata};
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use containerd_client::types::Mount;

use crate::snapshot::MountPoint;
use crate::snapshot::lower::{Found, components};

/// Longest mount data the kernel takes in one page (minus a margin).
const MAX_MOUNT_DATA: usize = 4000;

/// A containerd snapshot mounted in a temp dir; unmounted and removed on drop.
pub(crate) struct LocalMount {
    dir: Option<tempfile::TempDir>,
    target: PathBuf,
    mounted: bool,
}

impl LocalMount {
    /// Mounts `mounts` (one overlay or bind mount, as the overlayfs
    /// snapshotter returns them) in a new temp dir under `under`.
    pub fn new(mounts: &[Mount], under: &Path) -> io::Result<LocalMount> {
        let dir = tempfile::Builder::new().prefix("containerd-mount-").tempdir_in(under)?;
        let target = dir.path().to_owned();
        let mut lm = LocalMount { dir: Some(dir), target, mounted: false };
        let [m] = mounts else {
            return Err(io::Error::other(format!("expected one mount, got {mounts:?}")));
        };
        let target_c = cstr(&lm.target)?;
        match m.r#type.as_str() {
            "overlay" => {
                let (data, _fds) = overlay_data(&m.options)?;
                let data = CString::new(data).map_err(io::Error::other)?;
                // SAFETY: valid NUL-terminated strings; result checked.
                let r = unsafe {
                    libc::mount(c"overlay".as_ptr(), target_c.as_ptr(), c"overlay".as_ptr(), 0, data.as_ptr().cast())
                };
                if r != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            "bind" | "rbind" => {
                let source = cstr(Path::new(&m.source))?;
                // SAFETY: as above.
                let r = unsafe {
                    libc::mount(
                        source.as_ptr(),
                        target_c.as_ptr(),
                        std::ptr::null(),
                        libc::MS_BIND | libc::MS_REC,
                        std::ptr::null(),
                    )
                };
                if r != 0 {
                    return Err(io::Error::last_os_error());
                }
                if m.options.iter().any(|o| o == "ro") {
                    lm.mounted = true;
                    let flags = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY;
                    // SAFETY: as above.
                    if unsafe {
                        libc::mount(std::ptr::null(), target_c.as_ptr(), std::ptr::null(), flags, std::ptr::null())
                    } != 0
                    {
                        return Err(io::Error::last_os_error());
                    }
                }
            }
            other => {
                return Err(io::Error::other(format!("cannot mount a {other:?} snapshot mount here")));
            }
        }
        lm.mounted = true;
        Ok(lm)
    }

    pub fn path(&self) -> &Path {
        &self.target
    }

    /// Unmounts (and removes the temp dir); errors are reported, not hidden.
    pub fn unmount(mut self) -> io::Result<()> {
        self.do_unmount()
    }

    fn do_unmount(&mut self) -> io::Result<()> {
        if self.mounted {
            let c = cstr(&self.target)?;
            // SAFETY: valid path.
            if unsafe { libc::umount2(c.as_ptr(), 0) } != 0 {
                let e = io::Error::last_os_error();
                // Busy (someone has a file open in it): detach lazily, never
                // delete through a live mount.
                // SAFETY: valid path.
                if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } != 0 {
                    if let Some(d) = self.dir.take() {
                        let _ = d.keep();
                    }
                    return Err(e);
                }
            }
            self.mounted = false;
        }
        self.dir.take();
        Ok(())
    }
}

impl Drop for LocalMount {
    fn drop(&mut self) {
        let _ = self.do_unmount();
    }
}

fn cstr(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(io::Error::other)
}

/// The overlay mount data; when it is longer than a page, the lower dirs
/// are opened and named `/proc/self/fd/N` (what `snapshot::mount` does), the
/// descriptors returned to be held until the mount is done.
fn overlay_data(options: &[String]) -> io::Result<(String, Vec<OwnedFd>)> {
    let plain = options.join(",");
    if plain.len() <= MAX_MOUNT_DATA {
        return Ok((plain, Vec::new()));
    }
    let mut fds = Vec::new();
    let mut out = Vec::new();
    for o in options {
        match o.strip_prefix("lowerdir=") {
            Some(list) => {
                let mut short = Vec::new();
                for dir in list.split(':') {
                    let c = cstr(Path::new(dir))?;
                    // SAFETY: valid path; result checked.
                    let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_DIRECTORY) };
                    if fd < 0 {
                        return Err(io::Error::last_os_error());
                    }
                    // SAFETY: a fresh descriptor we own.
                    fds.push(unsafe { OwnedFd::from_raw_fd(fd) });
                    short.push(format!("/proc/self/fd/{fd}"));
                }
                out.push(format!("lowerdir={}", short.join(":")));
            }
            None => out.push(o.clone()),
        }
    }
    let data = out.join(",");
    if data.len() > MAX_MOUNT_DATA {
        return Err(io::Error::other(format!("overlay mount data of {} bytes is too long for one page", data.len())));
    }
    Ok((data, fds))
}

/// Creates the missing mount `points` in `root`, the mounted (writable)
/// init snapshot over the image. Mirrors `snapshot::lower::build_init`: a
/// point below a non-directory (a symlink, say) is left to the runtime; an
/// entry of the right kind already there is kept; parents the image has
/// get their owner, mode and times back after their children are created.
pub(crate) fn build_init(root: &Path, points: &[MountPoint]) -> io::Result<()> {
    let mut restore: Vec<(PathBuf, Metadata)> = Vec::new();
    // Directories made here: not the image's, nothing to restore.
    let mut made: Vec<PathBuf> = Vec::new();
    for point in points {
        let Some(comps) = components(&point.path) else { continue };
        let Some((_, parents)) = comps.split_last() else {
            continue;
        };
        // The merged view at each prefix, stopping at the first one missing
        // or not a directory.
        let mut walk = Vec::new();
        let mut at = root.to_path_buf();
        for comp in &comps {
            at.push(comp);
            match fs::symlink_metadata(&at) {
                Ok(md) if md.is_dir() => walk.push(Some(Found::Dir(md))),
                Ok(md) => {
                    walk.push(Some(Found::Other(md)));
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    walk.push(None);
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        if walk.iter().take(parents.len()).any(|f| matches!(f, Some(Found::Other(_)))) {
            continue;
        }
        let here = root.join(comps.iter().collect::<PathBuf>());
        match walk.get(parents.len()) {
            Some(Some(Found::Dir(_))) if !point.file => continue,
            Some(Some(Found::Other(md))) if point.file && md.is_file() => continue,
            // The wrong kind (a symlink where a file is bound, say): the init
            // dir of the runc backend shadows it with the right kind; here
            // that is remove + create, which leaves the same upper entry.
            Some(Some(Found::Dir(_))) => fs::remove_dir_all(&here)?,
            Some(Some(Found::Other(_))) => fs::remove_file(&here)?,
            _ => {}
        }
        let mut at = root.to_path_buf();
        for (i, comp) in parents.iter().enumerate() {
            at.push(comp);
            match walk.get(i) {
                Some(Some(Found::Dir(md))) => {
                    if !made.contains(&at) && !restore.iter().any(|(p, _)| p == &at) {
                        restore.push((at.clone(), md.clone()));
                    }
                }
                _ => {
                    if fs::symlink_metadata(&at).is_err() {
                        fs::DirBuilder::new().mode(0o755).create(&at)?;
                        fs::set_permissions(&at, fs::Permissions::from_mode(0o755))?;
                        made.push(at.clone());
                    }
                }
            }
        }
        if point.file {
            File::create(&here)?;
            fs::set_permissions(&here, fs::Permissions::from_mode(0o644))?;
        } else {
            fs::DirBuilder::new().mode(0o755).create(&here)?;
            fs::set_permissions(&here, fs::Permissions::from_mode(0o755))?;
            made.push(here);
        }
    }
    restore.sort_by_key(|(p, _)| std::cmp::Reverse(p.components().count()));
    for (path, md) in restore {
        std::os::unix::fs::lchown(&path, Some(md.uid()), Some(md.gid()))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(md.mode() & 0o7777))?;
        let times = fs::FileTimes::new().set_accessed(md.accessed()?).set_modified(md.modified()?);
        File::open(&path)?.set_times(times)?;
    }
    Ok(())
}
