//! Mounting and unmounting overlays: kernel overlayfs through `mount(2)` or
//! the new mount API, and the `fuse-overlayfs` daemon.

use std::ffi::CString;
use std::fs::{self, File};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use super::{SnapshotError, SnapshotMode};
use crate::store::Store;

/// overlayfs' limit on lower dirs (`OVL_MAX_STACK`).
pub(crate) const MAX_LOWERS: usize = 500;

/// Options that keep the upper dir a plain change set: no redirects, no
/// metadata-only copy-ups, no index (hard links copy up as plain files).
const PLAIN_UPPER: &str = "redirect_dir=off,metacopy=off,index=off";

fn cstr(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(io::Error::other)
}

fn open_path(p: &Path) -> io::Result<OwnedFd> {
    let c = cstr(p)?;
    // SAFETY: valid path; the result is checked.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn fd_path(fd: &OwnedFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// Whether the kernel accepts `volatile` (no syncs to the upper dir, which
/// is thrown away after capture anyway): 0 unknown, 1 yes, 2 no.
static VOLATILE: AtomicU8 = AtomicU8::new(0);

/// Mounts kernel overlayfs at `target`. `lowers` top first.
pub(crate) fn mount_overlay(lowers: &[PathBuf], upper: &Path, work: &Path, target: &Path) -> io::Result<()> {
    let mut fds = Vec::with_capacity(lowers.len());
    for l in lowers {
        fds.push(open_path(l)?);
    }
    let (up, wk) = (open_path(upper)?, open_path(work)?);
    let lowerdir: Vec<String> = fds.iter().map(fd_path).collect();
    let base =
        format!("lowerdir={},upperdir={},workdir={},{PLAIN_UPPER}", lowerdir.join(":"), fd_path(&up), fd_path(&wk));
    let page = 4096;
    let attempt = |volatile: bool| -> io::Result<()> {
        let data = if volatile { format!("{base},volatile") } else { base.clone() };
        if data.len() < page {
            mount_legacy(&data, target)
        } else {
            mount_fsconfig(&lowerdir, &fd_path(&up), &fd_path(&wk), volatile, target).map_err(|e| {
                // Unsupported: the caller falls back to copy mode.
                let why =
                    format!("{} lower dirs need the new mount API (Linux >= 6.8), which failed: {e}", lowers.len());
                if e.raw_os_error() == Some(libc::EINVAL) && !volatile {
                    io::Error::new(io::ErrorKind::Unsupported, why)
                } else {
                    e
                }
            })
        }
    };
    match VOLATILE.load(Ordering::Relaxed) {
        1 => attempt(true),
        2 => attempt(false),
        _ => match attempt(true) {
            Ok(()) => {
                VOLATILE.store(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                attempt(false)?;
                VOLATILE.store(2, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => Err(e),
        },
    }
}

fn mount_legacy(data: &str, target: &Path) -> io::Result<()> {
    let t = cstr(target)?;
    let d = CString::new(data).map_err(io::Error::other)?;
    // SAFETY: valid NUL-terminated strings; the result is checked.
    let r = unsafe { libc::mount(c"overlay".as_ptr(), t.as_ptr(), c"overlay".as_ptr(), 0, d.as_ptr().cast()) };
    if r == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

// The new mount API (Linux ≥ 5.2; `lowerdir+` needs ≥ 6.8). libc has the
// syscall numbers but not these constants.
const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_FLAG: libc::c_uint = 0;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 4;

fn check(r: libc::c_long) -> io::Result<libc::c_long> {
    if r < 0 { Err(io::Error::last_os_error()) } else { Ok(r) }
}

/// Mounts overlayfs with one `lowerdir+` per layer: no page limit.
fn mount_fsconfig(lowers: &[String], upper: &str, work: &str, volatile: bool, target: &Path) -> io::Result<()> {
    // SAFETY: every call gets valid pointers and NUL-terminated strings;
    // results are checked and descriptors owned.
    unsafe {
        let fs = check(libc::syscall(libc::SYS_fsopen, c"overlay".as_ptr(), FSOPEN_CLOEXEC))?;
        let fs = OwnedFd::from_raw_fd(fs as i32);
        let set = |key: &str, value: Option<&str>| -> io::Result<()> {
            let k = CString::new(key).map_err(io::Error::other)?;
            let v = value.map(CString::new).transpose().map_err(io::Error::other)?;
            let (cmd, vp) = match &v {
                Some(v) => (FSCONFIG_SET_STRING, v.as_ptr()),
                None => (FSCONFIG_SET_FLAG, std::ptr::null()),
            };
            check(libc::syscall(libc::SYS_fsconfig, fs.as_raw_fd(), cmd, k.as_ptr(), vp, 0)).map(drop)
        };
        for l in lowers {
            set("lowerdir+", Some(l))?;
        }
        set("upperdir", Some(upper))?;
        set("workdir", Some(work))?;
        for opt in PLAIN_UPPER.split(',') {
            let (k, v) = opt.split_once('=').expect("key=value");
            set(k, Some(v))?;
        }
        if volatile {
            set("volatile", None)?;
        }
        check(libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_char>(),
            0,
        ))?;
        let mnt = check(libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, 0))?;
        let mnt = OwnedFd::from_raw_fd(mnt as i32);
        let t = cstr(target)?;
        check(libc::syscall(
            libc::SYS_move_mount,
            mnt.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        ))?;
    }
    Ok(())
}

/// Mounts `fuse-overlayfs` at `target`; returns once the mount is up (the
/// daemon forks into the background). Paths are given relative to the
/// store root so that long or comma-containing store paths cannot break
/// its option parsing.
pub(crate) fn mount_fuse(
    store_root: &Path,
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> io::Result<()> {
    let rel = |p: &Path| -> io::Result<String> {
        let r = p
            .strip_prefix(store_root)
            .map_err(|_| io::Error::other(format!("{} is outside the store", p.display())))?;
        let s = r.to_str().ok_or_else(|| io::Error::other(format!("{} is not UTF-8", p.display())))?;
        if s.contains([',', ':', '=']) {
            return Err(io::Error::other(format!("{} has a character fuse-overlayfs cannot parse", p.display())));
        }
        Ok(s.to_owned())
    };
    let lowerdir: Vec<String> = lowers.iter().map(|l| rel(l)).collect::<io::Result<_>>()?;
    let opts = format!("lowerdir={},upperdir={},workdir={},{PLAIN_UPPER}", lowerdir.join(":"), rel(upper)?, rel(work)?);
    // Its stderr goes to a file, not a pipe: the daemon it forks could keep
    // a pipe open for as long as the mount lives.
    let mut errors = tempfile::tempfile()?;
    let status = Command::new("fuse-overlayfs")
        .arg("-o")
        .arg(&opts)
        .arg(target)
        .current_dir(store_root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(errors.try_clone()?)
        .status()?;
    if !status.success() {
        use std::io::{Read, Seek};
        let mut msg = String::new();
        errors.seek(io::SeekFrom::Start(0))?;
        errors.read_to_string(&mut msg)?;
        return Err(io::Error::other(format!("fuse-overlayfs {status}: {}", msg.trim())));
    }
    Ok(())
}

/// Whether an overlay is still mounted at `path` (its device differs from
/// its parent's: overlayfs and FUSE mounts have their own).
pub(crate) fn is_mount_point(path: &Path) -> bool {
    let (Ok(md), Some(parent)) = (fs::symlink_metadata(path), path.parent()) else { return false };
    let Ok(pmd) = fs::symlink_metadata(parent) else { return false };
    md.dev() != pmd.dev()
}

/// Unmounts `target`: retries while busy (a dying container may still hold
/// it for a moment), then detaches it lazily.
pub(crate) fn unmount(target: &Path) -> io::Result<()> {
    let t = cstr(target)?;
    for attempt in 0..50 {
        // SAFETY: valid NUL-terminated path.
        if unsafe { libc::umount2(t.as_ptr(), 0) } == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EBUSY) if attempt < 49 => std::thread::sleep(Duration::from_millis(10)),
            Some(libc::EBUSY) => break,
            // Not mounted (any more): nothing to do.
            Some(libc::EINVAL) | Some(libc::ENOENT) => return Ok(()),
            _ => return Err(e),
        }
    }
    // SAFETY: as above.
    if unsafe { libc::umount2(t.as_ptr(), libc::MNT_DETACH) } == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// Mounts a throw-away overlay of `mode` in the store's temp dir.
pub(crate) fn probe(store: &Store, mode: SnapshotMode) -> Result<(), SnapshotError> {
    let unavailable = |reason: String| SnapshotError::Unavailable { mode, reason };
    let tmp_root = store.tmp_dir();
    let dir = tempfile::Builder::new().prefix("probe-").tempdir_in(&tmp_root).map_err(SnapshotError::io(&tmp_root))?;
    let d = dir.path();
    for sub in ["lower", "upper", "work", "merged"] {
        fs::create_dir(d.join(sub)).map_err(SnapshotError::io(d.join(sub)))?;
    }
    File::create(d.join("lower/probe")).map_err(SnapshotError::io(d.join("lower/probe")))?;
    let lowers = [d.join("lower")];
    let r = match mode {
        SnapshotMode::Overlay => mount_overlay(&lowers, &d.join("upper"), &d.join("work"), &d.join("merged")),
        SnapshotMode::FuseOverlayfs => {
            mount_fuse(store.root(), &lowers, &d.join("upper"), &d.join("work"), &d.join("merged"))
        }
        SnapshotMode::Copy => return Ok(()),
    };
    r.map_err(|e| unavailable(e.to_string()))?;
    let seen = d.join("merged/probe").exists();
    unmount(&d.join("merged")).map_err(|e| unavailable(format!("cannot unmount the probe: {e}")))?;
    if !seen {
        return Err(unavailable("the probe mount does not show its lower dir".into()));
    }
    Ok(())
}
