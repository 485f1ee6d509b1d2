//! A step's root filesystem: snapshots stacked under a fresh upper dir, in a
//! per-step temp dir that is unmounted and removed whatever happens.

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::lower::{self, LowerView, components};
use super::{Changes, SnapshotError, SnapshotMode, copy, mount, snapshot};
use crate::layer::LayerInfo;
use crate::store::Store;

/// A path the runtime mounts something on, which must exist in the root
/// filesystem without becoming part of the step's changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountPoint {
    /// Absolute path inside the container.
    pub path: PathBuf,
    /// A file (for a bind mount of a file), else a directory.
    pub file: bool,
}

/// A mounted (or, in copy mode, copied) root filesystem for one step.
///
/// Dropping it unmounts the overlay and removes the step's temp dir;
/// [`Rootfs::into_changes`] instead hands the upper dir on, still alive
/// until the returned [`Changes`] is captured or dropped.
#[derive(Debug)]
pub struct Rootfs {
    dir: Option<tempfile::TempDir>,
    root: PathBuf,
    upper: PathBuf,
    mode: SnapshotMode,
    mounted: bool,
    baseline: Option<copy::Baseline>,
    /// The lower dirs, top first (overlay modes).
    lowers: Vec<PathBuf>,
}

impl Rootfs {
    /// Builds the root filesystem of `layers` (bottom first) in a new temp
    /// dir under `<store>/strata/tmp/`, unpacking missing snapshots first
    /// (empty layers are left out),
    /// with `points` present but hidden from the changes. A stack deeper than
    /// overlayfs allows (500), or deeper than one page of mount options on a
    /// kernel without `lowerdir+` (< 6.8, ~200 layers), falls back to copy
    /// mode (see [`Rootfs::mode`]).
    pub fn mount(
        store: &Store,
        layers: &[LayerInfo],
        mode: SnapshotMode,
        points: &[MountPoint],
    ) -> Result<Rootfs, SnapshotError> {
        // An empty layer adds nothing to the stack (a Guix phase that left
        // an output alone): it is not mounted.
        let snapshots: Vec<PathBuf> =
            layers.iter().filter(|l| !l.is_empty()).map(|l| snapshot(store, l)).collect::<Result<_, _>>()?;
        let tmp_root = store.tmp_dir();
        let tmp =
            tempfile::Builder::new().prefix("step-").tempdir_in(&tmp_root).map_err(SnapshotError::io(&tmp_root))?;
        let dir = tmp.path().to_owned();
        let (root, upper, work, init) = (dir.join("rootfs"), dir.join("upper"), dir.join("work"), dir.join("init"));
        for d in [&root, &upper, &work, &init] {
            make_dir(d)?;
        }
        let mode = if mode != SnapshotMode::Copy && snapshots.len() + 1 > mount::MAX_LOWERS {
            SnapshotMode::Copy
        } else {
            mode
        };
        let mut rootfs =
            Rootfs { dir: Some(tmp), root, upper, mode, mounted: false, baseline: None, lowers: Vec::new() };
        if mode != SnapshotMode::Copy {
            let mut lowers: Vec<PathBuf> = snapshots.iter().rev().cloned().collect();
            lower::build_init(&init, &LowerView::new(&lowers), points).map_err(SnapshotError::io(&init))?;
            lowers.insert(0, init);
            let r = match mode {
                SnapshotMode::Overlay => mount::mount_overlay(&lowers, &rootfs.upper, &work, &rootfs.root),
                _ => mount::mount_fuse(store.root(), &lowers, &rootfs.upper, &work, &rootfs.root),
            };
            match r {
                Ok(()) => {
                    rootfs.mounted = true;
                    rootfs.lowers = lowers;
                    return Ok(rootfs);
                }
                // Too many layers for this kernel's mount options: copy them.
                Err(e) if e.kind() == io::ErrorKind::Unsupported => rootfs.mode = SnapshotMode::Copy,
                Err(e) => {
                    return Err(SnapshotError::Mount { mode, target: rootfs.root.clone(), reason: e.to_string() });
                }
            }
        }
        copy::populate(&rootfs.root, &snapshots).map_err(SnapshotError::io(&rootfs.root))?;
        copy::create_points(&rootfs.root, points).map_err(SnapshotError::io(&rootfs.root))?;
        rootfs.baseline = Some(copy::Baseline::record(&rootfs.root).map_err(SnapshotError::io(&rootfs.root))?);
        Ok(rootfs)
    }

    /// The merged root (a runtime bundle's `rootfs`).
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The step's temp dir: a place for the bundle's `config.json` and other
    /// per-step files, removed with the root filesystem.
    pub fn dir(&self) -> &Path {
        self.root.parent().expect("rootfs has a parent")
    }

    /// The mode in use (may differ from the one asked for; see [`Rootfs::mount`]).
    pub fn mode(&self) -> SnapshotMode {
        self.mode
    }

    /// Creates the directory `path` (absolute, inside the root) and any
    /// missing parents, owned by `uid:gid`, mode 0755 — as part of the
    /// step's changes. Symlinks are resolved inside the root, never out of
    /// it. Returns whether anything was created.
    pub fn mkdir_all(&self, path: &str, uid: u32, gid: u32) -> Result<bool, SnapshotError> {
        mkdir_in_root(&self.root, path, uid, gid)
    }

    /// Ends the step's use of the root filesystem: unmounts it and returns
    /// its changes as an overlay-style upper dir, which lives until the
    /// [`Changes`] is captured or dropped.
    pub fn into_changes(mut self) -> Result<Changes, SnapshotError> {
        let upper = self.upper.clone();
        match self.mode {
            SnapshotMode::Overlay | SnapshotMode::FuseOverlayfs => {
                self.unmount()?;
                if self.mode == SnapshotMode::FuseOverlayfs {
                    normalize_fuse_upper(&upper, &self.lowers).map_err(SnapshotError::io(&upper))?;
                }
            }
            SnapshotMode::Copy => {
                let base = self.baseline.take().unwrap_or_default();
                copy::diff(&self.root, &base, &upper).map_err(SnapshotError::io(&upper))?;
            }
        }
        let guard = self.dir.take().expect("a live rootfs has its dir");
        Ok(Changes::UpperDir { path: upper, guard: Box::new(guard) })
    }

    fn unmount(&mut self) -> Result<(), SnapshotError> {
        if self.mounted {
            mount::unmount(&self.root).map_err(|e| SnapshotError::Mount {
                mode: self.mode,
                target: self.root.clone(),
                reason: format!("cannot unmount: {e}"),
            })?;
            self.mounted = false;
        }
        Ok(())
    }
}

impl Drop for Rootfs {
    fn drop(&mut self) {
        let _ = self.unmount();
        if let Some(dir) = self.dir.take()
            && mount::is_mount_point(&self.root)
        {
            // Never recurse into a filesystem that is still mounted: leave
            // the dir for `strata store gc` rather than delete through it.
            let _ = dir.keep();
        }
    }
}

fn make_dir(p: &Path) -> Result<(), SnapshotError> {
    fs::DirBuilder::new().mode(0o755).create(p).map_err(SnapshotError::io(p))?;
    // Whatever the umask: the upper dir's mode is the merged root's.
    fs::set_permissions(p, fs::Permissions::from_mode(0o755)).map_err(SnapshotError::io(p))
}

/// Turns a fuse-overlayfs upper dir into what kernel overlayfs would have
/// written for the same operations:
///
/// - fuse-overlayfs marks an opaque directory with the xattr *and* a
///   `.wh..wh..opq` file (plus a `.wh..opq` device): only the xattr stays;
/// - it marks *every* directory it creates opaque, where the kernel does so
///   only for one created over a whiteout: the mark is dropped where the
///   lower dirs (`lowers`, top first) have nothing at that path to hide;
/// - without the right to mknod it writes whiteouts as `.wh.NAME` files:
///   they become 0/0 char devices.
///
/// One difference remains: when it copies a file up, fuse-overlayfs does
/// not restore the mtime of the parent directories it copies up with it
/// (the kernel does), so such a directory carries the step's time.
pub(crate) fn normalize_fuse_upper(upper: &Path, lowers: &[PathBuf]) -> io::Result<()> {
    normalize_fuse_dir(upper, &LowerView::new(lowers), &mut Vec::new(), false)
}

/// `rel`: the path of `dir` below the upper root; `hidden`: whether the
/// lower dirs have nothing visible below it (it is new, or opaque).
fn normalize_fuse_dir(
    dir: &Path,
    view: &LowerView<'_>,
    rel: &mut Vec<std::ffi::OsString>,
    hidden: bool,
) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let path = entry.path();
        let ft = entry.file_type()?;
        let n = name.as_bytes();
        if n == b".wh..wh..opq" || n == b".wh..opq" {
            fs::remove_file(&path)?;
            xattr::set(dir, "trusted.overlay.opaque", b"y")?;
        } else if let Some(target) = n.strip_prefix(b".wh.") {
            fs::remove_file(&path)?;
            let c = CString::new(dir.join(std::ffi::OsStr::from_bytes(target)).as_os_str().as_bytes())
                .map_err(io::Error::other)?;
            // SAFETY: valid path; a 0/0 char device is an overlayfs whiteout.
            if unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR, libc::makedev(0, 0)) } != 0 {
                return Err(io::Error::last_os_error());
            }
        } else if ft.is_dir() {
            // Restore the directory's mtime: removing markers changes it.
            let md = fs::symlink_metadata(&path)?;
            rel.push(name.clone());
            let below = if hidden {
                None
            } else {
                let comps: Vec<&std::ffi::OsStr> = rel.iter().map(|c| c.as_os_str()).collect();
                view.walk(&comps)?.pop().flatten()
            };
            // Markers inside first: they may make the directory opaque.
            let opaque_now = lower::is_opaque(&path)
                || fs::symlink_metadata(path.join(".wh..wh..opq")).is_ok()
                || fs::symlink_metadata(path.join(".wh..opq")).is_ok();
            let opaque = opaque_now && below.is_some();
            normalize_fuse_dir(&path, view, rel, hidden || opaque || !matches!(below, Some(lower::Found::Dir(_))))?;
            if opaque_now && !opaque {
                xattr::remove(&path, "trusted.overlay.opaque")?;
            }
            rel.pop();
            fs::File::open(&path)?.set_times(fs::FileTimes::new().set_modified(md.modified()?))?;
        }
    }
    Ok(())
}

fn openat2_dir(root: &OwnedFd, rel: &[u8]) -> io::Result<OwnedFd> {
    let path = CString::new(if rel.is_empty() { &b"."[..] } else { rel }).map_err(io::Error::other)?;
    /// `struct open_how` (libc's is non-exhaustive).
    #[repr(C)]
    struct OpenHow {
        flags: u64,
        mode: u64,
        resolve: u64,
    }
    let how = OpenHow {
        flags: (libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS,
    };
    // SAFETY: valid descriptor, path and `open_how` of the size given.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
            path.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// `mkdir -p` inside `root`, resolving every component as if `root` were
/// `/`; a dangling symlink on the way gets its target created, as
/// `os.MkdirAll` in the container would.
pub(crate) fn mkdir_in_root(root: &Path, path: &str, uid: u32, gid: u32) -> Result<bool, SnapshotError> {
    mkdir_in_root_depth(root, path, uid, gid, 0)
}

fn mkdir_in_root_depth(root: &Path, path: &str, uid: u32, gid: u32, depth: usize) -> Result<bool, SnapshotError> {
    if depth > 40 {
        return Err(SnapshotError::Io {
            path: root.join(path.trim_start_matches('/')),
            source: io::Error::from_raw_os_error(libc::ELOOP),
        });
    }
    let outside = || SnapshotError::OutsideRoot { path: path.to_owned() };
    let comps = components(Path::new(path)).ok_or_else(outside)?;
    let io_err = |e: io::Error| SnapshotError::Io { path: root.join(path.trim_start_matches('/')), source: e };
    let c = CString::new(root.as_os_str().as_bytes()).map_err(|e| io_err(io::Error::other(e)))?;
    // SAFETY: valid path; the result is checked.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io_err(io::Error::last_os_error()));
    }
    // SAFETY: a fresh descriptor we own.
    let rootfd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut created = false;
    let mut prefix: Vec<u8> = Vec::new();
    for comp in comps {
        let parent = openat2_dir(&rootfd, &prefix).map_err(io_err)?;
        if !prefix.is_empty() {
            prefix.push(b'/');
        }
        prefix.extend_from_slice(comp.as_bytes());
        match openat2_dir(&rootfd, &prefix) {
            Ok(_) => continue,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(io_err(e)),
        }
        let name = CString::new(comp.as_bytes()).map_err(|e| io_err(io::Error::other(e)))?;
        // SAFETY: valid descriptor and name; results checked.
        unsafe {
            if libc::mkdirat(parent.as_raw_fd(), name.as_ptr(), 0o755) != 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::EEXIST) {
                    return Err(io_err(e));
                }
                // A dangling symlink: create what it points to, then go on.
                let mut buf = vec![0u8; libc::PATH_MAX as usize];
                let n = libc::readlinkat(parent.as_raw_fd(), name.as_ptr(), buf.as_mut_ptr().cast(), buf.len());
                if n < 0 {
                    return Err(io_err(e));
                }
                buf.truncate(n as usize);
                let parent_path = String::from_utf8_lossy(&prefix[..prefix.len() - comp.len()]).into_owned();
                let target = String::from_utf8_lossy(&buf).into_owned();
                let target = if target.starts_with('/') { target } else { format!("/{parent_path}{target}") };
                mkdir_in_root_depth(root, &target, uid, gid, depth + 1)?;
                created = true;
                continue;
            }
            let dirfd = openat2_dir(&rootfd, &prefix).map_err(io_err)?;
            // O_PATH descriptors cannot fchown/fchmod; go through /proc.
            let proc = CString::new(format!("/proc/self/fd/{}", dirfd.as_raw_fd())).expect("no NUL");
            if libc::chown(proc.as_ptr(), uid, gid) != 0 || libc::chmod(proc.as_ptr(), 0o755) != 0 {
                return Err(io_err(io::Error::last_os_error()));
            }
        }
        created = true;
    }
    Ok(created)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    #[test]
    fn mkdir_in_root_never_leaves_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let outside = dir.path().join("outside");
        fs::create_dir_all(root.join("usr")).unwrap();
        fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("escape")).unwrap();
        std::os::unix::fs::symlink("usr", root.join("link")).unwrap();
        let (uid, gid) = (fs::metadata(&root).unwrap().uid(), fs::metadata(&root).unwrap().gid());
        assert!(mkdir_in_root(&root, "/escape/work", uid, gid).unwrap());
        // Resolved as if the root were `/`: `<root>/<outside path>/work`.
        assert!(root.join(outside.strip_prefix("/").unwrap()).join("work").is_dir());
        assert!(!outside.join("work").exists());
        assert!(mkdir_in_root(&root, "/link/src/app", uid, gid).unwrap());
        assert!(root.join("usr/src/app").is_dir());
        assert!(!mkdir_in_root(&root, "/usr/src", uid, gid).unwrap(), "already there");
        assert!(matches!(mkdir_in_root(&root, "/a/../b", uid, gid), Err(SnapshotError::OutsideRoot { .. })));
        assert_eq!(fs::metadata(root.join("usr/src/app")).unwrap().mode() & 0o7777, 0o755);
    }

    /// `n` layers, layer `i` adding the file `l/i`.
    fn many_layers(store: &Store, n: usize) -> Vec<LayerInfo> {
        use crate::layer::{Compression, IdMode, WriteOptions, write_blob, write_tree};
        let opts = WriteOptions { ids: IdMode::Root, ..WriteOptions::new(Compression::None, 1_700_000_000) };
        (0..n)
            .map(|i| {
                let tree = tempfile::tempdir().unwrap();
                fs::create_dir(tree.path().join("l")).unwrap();
                fs::write(tree.path().join("l").join(i.to_string()), b"").unwrap();
                write_blob(store, opts.compression, |w| write_tree(tree.path(), &opts, w)).unwrap()
            })
            .collect()
    }

    #[test]
    fn deep_stacks_mount_past_the_page_limit_or_fall_back_to_copy() {
        if !crate::layer::testutil::have_root("mounting overlays") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("store")).unwrap();
        let layers = many_layers(&store, 501);
        // 260 lowers named /proc/self/fd/N are more than a page: the new mount API.
        let rootfs = Rootfs::mount(&store, &layers[..260], SnapshotMode::Overlay, &[]).unwrap();
        assert_eq!(rootfs.mode(), SnapshotMode::Overlay);
        assert_eq!(fs::read_dir(rootfs.path().join("l")).unwrap().count(), 260);
        let root = rootfs.path().to_owned();
        drop(rootfs);
        assert!(!root.exists());
        let rootfs = Rootfs::mount(&store, &layers, SnapshotMode::Overlay, &[]).unwrap();
        assert_eq!(rootfs.mode(), SnapshotMode::Copy, "overlayfs takes at most 500 lower dirs");
        assert_eq!(fs::read_dir(rootfs.path().join("l")).unwrap().count(), 501);
        drop(rootfs);
        assert_eq!(fs::read_dir(store.tmp_dir()).unwrap().count(), 0);
    }

    #[test]
    fn fuse_overlayfs_markers_become_kernel_whiteouts() {
        if !crate::layer::testutil::have_root("mknod and trusted.* xattrs") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let (up, low) = (dir.path().join("upper"), dir.path().join("lower"));
        fs::create_dir_all(low.join("op/old")).unwrap();
        fs::create_dir_all(up.join("op/sub")).unwrap();
        fs::create_dir_all(up.join("fresh")).unwrap();
        fs::write(up.join("op/.wh..wh..opq"), b"").unwrap();
        fs::write(up.join("op/new"), b"").unwrap();
        fs::write(up.join(".wh.gone"), b"").unwrap();
        // fuse-overlayfs makes every directory it creates opaque.
        for d in ["fresh", "op/sub"] {
            xattr::set(up.join(d), "trusted.overlay.opaque", b"y").unwrap();
        }
        let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000);
        fs::File::open(up.join("op")).unwrap().set_modified(old).unwrap();
        normalize_fuse_upper(&up, &[low]).unwrap();
        assert!(lower::is_opaque(&up.join("op")), "recreated over a lower dir");
        assert!(!lower::is_opaque(&up.join("fresh")), "nothing below to hide");
        assert!(!lower::is_opaque(&up.join("op/sub")), "inside an opaque dir");
        assert!(!up.join("op/.wh..wh..opq").exists());
        assert!(lower::is_whiteout(&fs::symlink_metadata(up.join("gone")).unwrap()));
        assert!(!up.join(".wh.gone").exists());
        assert_eq!(fs::metadata(up.join("op")).unwrap().modified().unwrap(), old);
    }
}
