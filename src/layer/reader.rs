//! Layer stream → directory, refusing anything that would land outside it.
//!
//! [`unpack`] sniffs the compression (gzip, zstd or none) from the first
//! bytes and extracts every entry into `target`. It does not use tar-rs's
//! own `unpack`/`unpack_in`: those follow symlinks in parent directories
//! (checking only the final canonical path) and have their own ideas about
//! permissions and ownership. Instead every entry goes through the same
//! steps here:
//!
//! 1. The name is checked (`order::parse_entry_name`): an absolute path or a
//!    `..` component is refused, naming the entry.
//! 2. Its parent is resolved one component at a time with `lstat`, starting
//!    at `target`. A missing directory is created (0755). A symlink is
//!    followed only if it resolves inside `target`: relative links within
//!    it, or absolute links whose text starts with `target`'s canonical
//!    path. Anything else (`link -> /` and then `link/etc/x`, a `..` climbing
//!    out) is refused with [`LayerError::SymlinkEscape`] before anything is
//!    written. The result is a path whose every component is a real
//!    directory, so the operations below cannot be redirected.
//!    (containerd instead resolves absolute links as if `target` were `/`;
//!    strata refuses them: layers made from a filesystem never write
//!    through a symlink, so only a crafted layer does.)
//! 3. The last component is never followed: an existing non-directory there
//!    is removed first (a directory is removed when the entry is not one),
//!    files are created with `O_CREAT|O_EXCL|O_NOFOLLOW`, ownership is set
//!    with `lchown`/`fchown`, times with `futimens` or
//!    `utimensat(AT_SYMLINK_NOFOLLOW)`.
//! 4. Hard links must name an entry inside the layer (checked like a name)
//!    that exists in `target`; the link itself is made with `linkat`
//!    without following.
//!
//! Metadata: modes including setuid/setgid/sticky (set after `chown`, which
//! clears them), mtimes (atime = mtime), ownership when
//! [`UnpackOptions::same_owner`], and `security.capability` (set last, as
//! `chown` clears it). Directories get their mode, owner and mtime at the
//! end, deepest first, through a descriptor opened without following
//! symlinks, so a read-only directory can still be filled and a directory
//! replaced by a symlink later in the stream is not chmod-ed through it.
//! The root of the layer (`./`, if present) is not applied to `target`.
//!
//! Without root, device nodes and `security.capability` cannot be created;
//! they are skipped and counted in [`UnpackStats::skipped`]. With root a
//! failure is an error.
//!
//! Whiteouts ([`WhiteoutMode`]): **Apply** deletes the path from the lower
//! layers already in `target` (an opaque marker clears its directory), but
//! never an entry this same layer wrote (OCI: a whiteout only hides lower
//! layers), whatever order the layer is in. **Overlay** instead writes them
//! the way overlayfs stores them, so `target` can be used as a lowerdir:
//! char device 0/0 for a whiteout, the xattr `trusted.overlay.opaque=y` on
//! an opaque directory (`user.overlay.opaque=y` when not root, for
//! `userxattr` mounts).
//!
//! Not transactional: on error, `target` holds what was unpacked so far.
//! The caller unpacks into a fresh temporary directory and renames it.

use std::collections::{HashSet, VecDeque};
use std::ffi::{CString, OsStr};
use std::fs::{self, File, FileTimes, OpenOptions, Permissions};
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use oci_spec::image::Digest;
use xattr::FileExt;

use super::emit::{Kind, Meta};
use super::source::{decompress, meta_from_tar};
use super::{Compression, LayerError};
use crate::digest::HashingReader;

/// What to do with whiteout entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WhiteoutMode {
    /// Delete what they hide from `target` (layers applied on top of each other).
    #[default]
    Apply,
    /// Store them as overlayfs does, for `target` to serve as a lowerdir.
    Overlay,
}

/// How to unpack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnpackOptions {
    pub whiteouts: WhiteoutMode,
    /// Set the entries' uid/gid (needs root; default: whether euid is 0).
    pub same_owner: bool,
}

impl Default for UnpackOptions {
    fn default() -> Self {
        UnpackOptions { whiteouts: WhiteoutMode::Apply, same_owner: is_root() }
    }
}

/// What an unpack did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpackStats {
    pub compression: Compression,
    /// Digest of the whole uncompressed stream, computed on the way: compare
    /// it with the image config's `rootfs.diff_ids`.
    pub diff_id: Digest,
    /// Entries read (excluding the root and PAX/GNU extension headers).
    pub entries: u64,
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub hard_links: u64,
    /// Char and block devices and fifos.
    pub specials: u64,
    /// Whiteouts and opaque markers applied (or stored, in overlay mode).
    pub whiteouts: u64,
    /// Bytes of file content written.
    pub bytes: u64,
    /// Devices and capabilities left out because the process is not root.
    pub skipped: u64,
}

/// Unpacks a layer stream (gzip, zstd or plain tar) into `target`, an
/// existing directory.
pub fn unpack<R: Read>(blob: R, target: &Path, opts: &UnpackOptions) -> Result<UnpackStats, LayerError> {
    let root = fs::canonicalize(target).map_err(|source| LayerError::Unpack {
        entry: ".".into(),
        target: target.to_path_buf(),
        source,
    })?;
    if !fs::symlink_metadata(&root).map(|m| m.is_dir()).unwrap_or(false) {
        return Err(LayerError::RootNotADirectory { path: target.to_path_buf() });
    }
    let (compression, stream) = decompress(blob).map_err(LayerError::Malformed)?;
    let mut u = Unpacker {
        root,
        opts: *opts,
        root_user: is_root(),
        created: HashSet::new(),
        dirs: Vec::new(),
        stats: UnpackStats {
            compression,
            diff_id: crate::digest::sha256(b""),
            entries: 0,
            files: 0,
            dirs: 0,
            symlinks: 0,
            hard_links: 0,
            specials: 0,
            whiteouts: 0,
            bytes: 0,
            skipped: 0,
        },
    };
    let mut archive = tar::Archive::new(HashingReader::new(stream));
    for entry in archive.entries().map_err(LayerError::Malformed)? {
        let mut entry = entry.map_err(LayerError::Malformed)?;
        let Some(meta) = meta_from_tar(&mut entry, &u.root)? else {
            continue;
        };
        u.stats.entries += 1;
        u.entry(&meta, &mut entry)?;
    }
    u.finish_dirs()?;
    // The diff_id covers everything after the end-of-archive blocks too
    // (tar pads to its record size).
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(LayerError::Malformed)?;
    u.stats.diff_id = rest.finish().1;
    Ok(u.stats)
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Directory metadata applied at the end.
struct DirMeta {
    real: Vec<u8>,
    entry: String,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: i64,
}

struct Unpacker {
    /// `target`, canonical.
    root: PathBuf,
    opts: UnpackOptions,
    root_user: bool,
    /// Real paths (relative to root) written by this layer.
    created: HashSet<Vec<u8>>,
    dirs: Vec<DirMeta>,
    stats: UnpackStats,
}

fn join(a: &[u8], b: &[u8]) -> Vec<u8> {
    if a.is_empty() {
        return b.to_vec();
    }
    let mut v = Vec::with_capacity(a.len() + 1 + b.len());
    v.extend_from_slice(a);
    v.push(b'/');
    v.extend_from_slice(b);
    v
}

fn split_last(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&c| c == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (b"", path),
    }
}

fn os(bytes: &[u8]) -> &OsStr {
    OsStr::from_bytes(bytes)
}

impl Unpacker {
    fn abs(&self, real: &[u8]) -> PathBuf {
        if real.is_empty() { self.root.clone() } else { self.root.join(os(real)) }
    }

    fn io_err(&self, meta: &Meta) -> impl Fn(io::Error) -> LayerError + '_ {
        let entry = meta.display();
        move |source| LayerError::Unpack { entry: entry.clone(), target: self.root.clone(), source }
    }

    /// Resolves a logical directory path to a real one (every component a
    /// directory, no symlinks), following symlinks only inside the root.
    /// Missing directories are created when `create`; otherwise `None`.
    fn resolve_dir(&mut self, logical: &[u8], create: bool, meta: &Meta) -> Result<Option<Vec<u8>>, LayerError> {
        let entry = || meta.display();
        let mut real: Vec<Vec<u8>> = Vec::new();
        let mut todo: VecDeque<Vec<u8>> =
            logical.split(|&c| c == b'/').filter(|c| !c.is_empty()).map(<[u8]>::to_vec).collect();
        let mut hops = 0;
        let mut via: Option<PathBuf> = None;
        while let Some(comp) = todo.pop_front() {
            match comp.as_slice() {
                b"" | b"." => continue,
                b".." => {
                    if real.pop().is_none() {
                        return Err(LayerError::SymlinkEscape {
                            entry: entry(),
                            link: via.unwrap_or_default(),
                            target: self.root.clone(),
                        });
                    }
                    continue;
                }
                _ => {}
            }
            let mut candidate = real.join(&b'/');
            candidate = join(&candidate, &comp);
            let abs = self.abs(&candidate);
            match fs::symlink_metadata(&abs) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    if !create {
                        return Ok(None);
                    }
                    // 0755 whatever the umask, as the writer synthesizes them.
                    fs::DirBuilder::new()
                        .mode(0o755)
                        .create(&abs)
                        .and_then(|()| fs::set_permissions(&abs, Permissions::from_mode(0o755)))
                        .map_err(self.io_err(meta))?;
                    self.created.insert(candidate);
                    real.push(comp);
                }
                Err(e) => return Err(self.io_err(meta)(e)),
                Ok(md) if md.is_dir() => real.push(comp),
                Ok(md) if md.file_type().is_symlink() => {
                    hops += 1;
                    if hops > 40 {
                        return Err(LayerError::SymlinkLoop { entry: entry(), target: self.root.clone() });
                    }
                    let link = fs::read_link(&abs).map_err(self.io_err(meta))?;
                    let escape =
                        || LayerError::SymlinkEscape { entry: entry(), link: abs.clone(), target: self.root.clone() };
                    let rest: &Path = if link.is_absolute() {
                        // Only an absolute link into the root itself stays inside.
                        let rest = link.strip_prefix(&self.root).map_err(|_| escape())?;
                        real.clear();
                        rest
                    } else {
                        &link
                    };
                    let comps: Vec<Vec<u8>> =
                        rest.as_os_str().as_bytes().split(|&c| c == b'/').map(<[u8]>::to_vec).collect();
                    for c in comps.into_iter().rev() {
                        todo.push_front(c);
                    }
                    via = Some(abs);
                }
                Ok(_) => {
                    return Err(LayerError::NotADirectory { entry: entry(), path: abs });
                }
            }
        }
        Ok(Some(real.join(&b'/')))
    }

    /// Clears whatever non-directory (or, for a non-directory entry, directory)
    /// is in the way at `abs`. Returns whether a directory is left there.
    fn make_room(&self, abs: &Path, keep_dir: bool, meta: &Meta) -> Result<bool, LayerError> {
        match fs::symlink_metadata(abs) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(self.io_err(meta)(e)),
            Ok(md) if md.is_dir() && keep_dir => Ok(true),
            Ok(md) if md.is_dir() => fs::remove_dir_all(abs).map(|_| false).map_err(self.io_err(meta)),
            Ok(_) => fs::remove_file(abs).map(|_| false).map_err(self.io_err(meta)),
        }
    }

    fn entry(&mut self, meta: &Meta, data: &mut dyn Read) -> Result<(), LayerError> {
        // An opaque marker acts on its directory; everything else on its path.
        if meta.kind == Kind::Opaque {
            return self.opaque(meta);
        }
        let (parent, name) = split_last(&meta.path);
        let create_parents = meta.kind != Kind::Whiteout || self.opts.whiteouts == WhiteoutMode::Overlay;
        let Some(parent_real) = self.resolve_dir(parent, create_parents, meta)? else {
            // A whiteout for something whose parent does not exist: nothing to hide.
            self.stats.whiteouts += 1;
            return Ok(());
        };
        let real = join(&parent_real, name);
        let abs = self.abs(&real);
        match &meta.kind {
            Kind::Whiteout => return self.whiteout(meta, &real, &abs),
            Kind::Opaque => unreachable!("handled above"),
            Kind::Dir => {
                if !self.make_room(&abs, true, meta)? {
                    fs::create_dir(&abs).map_err(self.io_err(meta))?;
                }
                self.dirs.push(DirMeta {
                    real: real.clone(),
                    entry: meta.display(),
                    mode: meta.mode,
                    uid: meta.uid,
                    gid: meta.gid,
                    mtime: meta.mtime,
                });
                self.stats.dirs += 1;
            }
            Kind::File { size } => {
                self.make_room(&abs, false, meta)?;
                self.file(meta, &abs, *size, data)?;
            }
            Kind::Symlink { target } => {
                self.make_room(&abs, false, meta)?;
                std::os::unix::fs::symlink(os(target), &abs).map_err(self.io_err(meta))?;
                self.finish_node(meta, &abs, false)?;
                self.stats.symlinks += 1;
            }
            Kind::HardLink { target } => {
                let (tparent, tname) = split_last(target);
                let root = self.root.clone();
                let missing = || LayerError::HardLinkMissing {
                    entry: meta.display(),
                    link_target: String::from_utf8_lossy(target).into_owned(),
                    target: root.clone(),
                };
                let treal = match self.resolve_dir(tparent, false, meta)? {
                    Some(p) => join(&p, tname),
                    None => return Err(missing()),
                };
                let tabs = self.abs(&treal);
                match fs::symlink_metadata(&tabs) {
                    Ok(md) if !md.is_dir() => {}
                    _ => return Err(missing()),
                }
                if treal == real {
                    return Ok(());
                }
                self.make_room(&abs, false, meta)?;
                fs::hard_link(&tabs, &abs).map_err(self.io_err(meta))?;
                self.stats.hard_links += 1;
            }
            Kind::CharDevice { .. } | Kind::BlockDevice { .. } | Kind::Fifo => {
                self.make_room(&abs, false, meta)?;
                let (ty, dev) = match meta.kind {
                    Kind::CharDevice { major, minor } => (libc::S_IFCHR, libc::makedev(major, minor)),
                    Kind::BlockDevice { major, minor } => (libc::S_IFBLK, libc::makedev(major, minor)),
                    _ => (libc::S_IFIFO, 0),
                };
                match mknod(&abs, ty | (meta.mode & 0o7777), dev) {
                    Ok(()) => {}
                    Err(e) if e.raw_os_error() == Some(libc::EPERM) && !self.root_user => {
                        self.stats.skipped += 1;
                        return Ok(());
                    }
                    Err(e) => return Err(self.io_err(meta)(e)),
                }
                self.finish_node(meta, &abs, true)?;
                self.stats.specials += 1;
            }
        }
        self.created.insert(real);
        Ok(())
    }

    fn file(&mut self, meta: &Meta, abs: &Path, size: u64, data: &mut dyn Read) -> Result<(), LayerError> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(abs)
            .map_err(self.io_err(meta))?;
        let n = io::copy(&mut data.take(size), &mut f).map_err(LayerError::Malformed)?;
        if n != size {
            return Err(LayerError::Malformed(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("content of {:?} ends early", meta.display()),
            )));
        }
        if self.opts.same_owner {
            std::os::unix::fs::fchown(&f, Some(meta.uid as u32), Some(meta.gid as u32)).map_err(self.io_err(meta))?;
        }
        f.set_permissions(Permissions::from_mode(meta.mode & 0o7777)).map_err(self.io_err(meta))?;
        if let Some(cap) = &meta.capability {
            match f.set_xattr("security.capability", cap) {
                Ok(()) => {}
                Err(e) if !self.root_user && matches!(e.raw_os_error(), Some(libc::EPERM | libc::ENOTSUP)) => {
                    self.stats.skipped += 1;
                }
                Err(e) => return Err(self.io_err(meta)(e)),
            }
        }
        let t = time(meta.mtime);
        f.set_times(FileTimes::new().set_modified(t).set_accessed(t)).map_err(self.io_err(meta))?;
        self.stats.files += 1;
        self.stats.bytes += n;
        Ok(())
    }

    /// Owner, mode (not for symlinks) and times of a node just created at `abs`.
    fn finish_node(&self, meta: &Meta, abs: &Path, chmod: bool) -> Result<(), LayerError> {
        if self.opts.same_owner {
            std::os::unix::fs::lchown(abs, Some(meta.uid as u32), Some(meta.gid as u32)).map_err(self.io_err(meta))?;
        }
        if chmod {
            // `abs` was just created as a device or fifo by us: not a symlink.
            fs::set_permissions(abs, Permissions::from_mode(meta.mode & 0o7777)).map_err(self.io_err(meta))?;
        }
        lutimes(abs, meta.mtime).map_err(self.io_err(meta))
    }

    fn whiteout(&mut self, meta: &Meta, real: &[u8], abs: &Path) -> Result<(), LayerError> {
        self.stats.whiteouts += 1;
        if self.created.contains(real) {
            // A whiteout never hides an entry of its own layer.
            return Ok(());
        }
        match self.opts.whiteouts {
            WhiteoutMode::Apply => {
                self.make_room(abs, false, meta)?;
            }
            WhiteoutMode::Overlay => {
                self.make_room(abs, false, meta)?;
                mknod(abs, libc::S_IFCHR, libc::makedev(0, 0)).map_err(self.io_err(meta))?;
                self.created.insert(real.to_vec());
            }
        }
        Ok(())
    }

    fn opaque(&mut self, meta: &Meta) -> Result<(), LayerError> {
        self.stats.whiteouts += 1;
        let real = self.resolve_dir(&meta.path, true, meta)?.expect("created");
        let abs = self.abs(&real);
        match self.opts.whiteouts {
            WhiteoutMode::Apply => self.clear_lower(&real, meta),
            WhiteoutMode::Overlay => {
                let set = |name: &str| xattr::set(&abs, name, b"y");
                match set("trusted.overlay.opaque") {
                    Ok(()) => Ok(()),
                    Err(e) if !self.root_user && e.raw_os_error() == Some(libc::EPERM) => {
                        set("user.overlay.opaque").map_err(self.io_err(meta))
                    }
                    Err(e) => Err(self.io_err(meta)(e)),
                }
            }
        }
    }

    /// Removes everything under the directory `real` that this layer did not
    /// write; directories this layer wrote are cleared recursively.
    fn clear_lower(&self, real: &[u8], meta: &Meta) -> Result<(), LayerError> {
        let abs = self.abs(real);
        for child in fs::read_dir(&abs).map_err(self.io_err(meta))? {
            let child = child.map_err(self.io_err(meta))?;
            let creal = join(real, child.file_name().as_bytes());
            let cabs = child.path();
            let is_dir = child.file_type().map_err(self.io_err(meta))?.is_dir();
            if self.created.contains(&creal) {
                if is_dir {
                    self.clear_lower(&creal, meta)?;
                }
            } else if is_dir {
                fs::remove_dir_all(&cabs).map_err(self.io_err(meta))?;
            } else {
                fs::remove_file(&cabs).map_err(self.io_err(meta))?;
            }
        }
        Ok(())
    }

    /// Applies directory metadata, deepest (latest) first, through
    /// descriptors opened without following symlinks.
    fn finish_dirs(&mut self) -> Result<(), LayerError> {
        for d in self.dirs.iter().rev() {
            let err = |source| LayerError::Unpack { entry: d.entry.clone(), target: self.root.clone(), source };
            // Gone (a later whiteout) or replaced by a non-directory: nothing to do.
            let Some(dir) = open_dir_nofollow(&self.root, &d.real).map_err(err)? else {
                continue;
            };
            if self.opts.same_owner {
                std::os::unix::fs::fchown(&dir, Some(d.uid as u32), Some(d.gid as u32)).map_err(err)?;
            }
            dir.set_permissions(Permissions::from_mode(d.mode & 0o7777)).map_err(err)?;
            let t = time(d.mtime);
            dir.set_times(FileTimes::new().set_modified(t).set_accessed(t)).map_err(err)?;
        }
        Ok(())
    }
}

fn time(mtime: i64) -> SystemTime {
    if mtime >= 0 {
        UNIX_EPOCH + Duration::from_secs(mtime as u64)
    } else {
        UNIX_EPOCH - Duration::from_secs(mtime.unsigned_abs())
    }
}

fn cstr(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

fn mknod(p: &Path, mode: libc::mode_t, dev: libc::dev_t) -> io::Result<()> {
    let c = cstr(p)?;
    // SAFETY: `c` is a valid NUL-terminated path.
    if unsafe { libc::mknod(c.as_ptr(), mode, dev) } == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// Sets atime and mtime of `p` without following a symlink at `p`.
fn lutimes(p: &Path, mtime: i64) -> io::Result<()> {
    let c = cstr(p)?;
    let ts = libc::timespec { tv_sec: mtime as libc::time_t, tv_nsec: 0 };
    let times = [ts, ts];
    // SAFETY: valid path and a two-element timespec array, as utimensat requires.
    let r = unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), times.as_ptr(), libc::AT_SYMLINK_NOFOLLOW) };
    if r == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// Opens `root/real` as a directory, refusing to follow a symlink at any
/// component. `None` if it no longer exists or is not a directory.
fn open_dir_nofollow(root: &Path, real: &[u8]) -> io::Result<Option<File>> {
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    let c = cstr(root)?;
    // SAFETY: valid path; the returned descriptor is owned below.
    let fd = unsafe { libc::open(c.as_ptr(), flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor we own.
    let mut dir = unsafe { OwnedFd::from_raw_fd(fd) };
    for comp in real.split(|&c| c == b'/').filter(|c| !c.is_empty()) {
        let c = CString::new(comp).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        // SAFETY: `dir` is an open directory descriptor and `c` a valid name.
        let fd = unsafe { libc::openat(dir.as_raw_fd(), c.as_ptr(), flags) };
        if fd < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP) => Ok(None),
                _ => Err(e),
            };
        }
        // SAFETY: as above.
        dir = unsafe { OwnedFd::from_raw_fd(fd) };
    }
    Ok(Some(File::from(dir)))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    use super::*;
    use crate::layer::testutil::{Raw, Tree, have_root, raw_tar, tree_paths};
    use crate::layer::{IdMode, WriteOptions, write_tree};

    const EPOCH: i64 = 1_700_000_000;

    fn opts(c: Compression) -> WriteOptions {
        WriteOptions { ids: IdMode::Root, ..WriteOptions::new(c, EPOCH) }
    }

    fn write(root: &Path, c: Compression) -> Vec<u8> {
        write_tree(root, &opts(c), Vec::new()).unwrap().out
    }

    fn sample_tree(root: &Path) {
        Tree(root)
            .dir("bin", 0o755)
            .file("bin/tool", b"#!/bin/sh\n", 0o4755)
            .hardlink("bin/tool-alias", "bin/tool")
            .dir("etc", 0o750)
            .file("etc/conf", b"x=1\n", 0o600)
            .symlink("etc/conf.link", "conf")
            .symlink("etc/abs.link", "/etc/passwd")
            .dir("ro", 0o555)
            .file("ro/inside", b"read-only parent\n", 0o444)
            .dir("tmp", 0o1777)
            .touch_all(1_650_000_000);
    }

    #[test]
    fn write_unpack_write_gives_identical_bytes() {
        let src = tempfile::tempdir().unwrap();
        sample_tree(src.path());
        for c in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let layer = write(src.path(), c);
            let dst = tempfile::tempdir().unwrap();
            let stats = unpack(&layer[..], dst.path(), &UnpackOptions::default()).unwrap();
            assert_eq!(stats.compression, c);
            assert_eq!(stats.diff_id, write_tree(src.path(), &opts(Compression::None), Vec::new()).unwrap().diff_id);
            assert_eq!((stats.files, stats.dirs, stats.symlinks, stats.hard_links), (3, 4, 2, 1));
            assert!(write(dst.path(), c) == layer, "{c:?}: the unpacked tree packs to the same bytes");
        }
    }

    #[test]
    fn modes_times_links_are_restored() {
        let src = tempfile::tempdir().unwrap();
        sample_tree(src.path());
        let dst = tempfile::tempdir().unwrap();
        unpack(&write(src.path(), Compression::Zstd)[..], dst.path(), &UnpackOptions::default()).unwrap();
        let md = |p: &str| fs::symlink_metadata(dst.path().join(p)).unwrap();
        assert_eq!(md("bin/tool").mode() & 0o7777, 0o4755, "setuid survives");
        assert_eq!(md("tmp").mode() & 0o7777, 0o1777, "sticky dir");
        assert_eq!(md("ro").mode() & 0o7777, 0o555, "read-only dir, filled before its mode was set");
        assert_eq!(md("etc").mode() & 0o7777, 0o750);
        assert_eq!(md("bin/tool").ino(), md("bin/tool-alias").ino(), "hard link");
        assert_eq!(fs::read_link(dst.path().join("etc/abs.link")).unwrap(), Path::new("/etc/passwd"));
        for p in ["bin", "bin/tool", "etc/conf.link", "ro", "tmp"] {
            assert_eq!(md(p).mtime(), 1_650_000_000, "{p}");
        }
    }

    /// Unpacks a crafted stream into `root/target`; returns the error and
    /// checks nothing appeared next to the target.
    fn refused(entries: &[Raw]) -> LayerError {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("target");
        fs::create_dir(&target).unwrap();
        let err = unpack(&raw_tar(entries)[..], &target, &UnpackOptions::default()).unwrap_err();
        assert_eq!(tree_paths(root.path()).iter().filter(|p| !p.starts_with("target")).count(), 0);
        err
    }

    #[test]
    fn parent_components_are_refused_naming_the_entry() {
        let err = refused(&[Raw::file("../evil", b"x")]);
        assert!(matches!(err, LayerError::ParentComponent { .. }), "{err}");
        assert!(err.to_string().contains("\"../evil\""), "{err}");
    }

    #[test]
    fn absolute_paths_are_refused_naming_the_entry() {
        let err = refused(&[Raw::file("/etc/x", b"x")]);
        assert!(matches!(err, LayerError::AbsolutePath { .. }), "{err}");
        assert!(err.to_string().contains("\"/etc/x\""), "{err}");
        assert!(!Path::new("/etc/x").exists());
    }

    #[test]
    fn writing_through_a_symlink_out_of_the_target_is_refused() {
        let err = refused(&[Raw::symlink("link", "/"), Raw::file("link/etc/x", b"x")]);
        assert!(matches!(err, LayerError::SymlinkEscape { .. }), "{err}");
        assert!(err.to_string().contains("\"link/etc/x\""), "{err}");
        assert!(!Path::new("/etc/x").exists());

        // The same with a relative link climbing out.
        let err = refused(&[Raw::dir("d/"), Raw::symlink("d/up", "../.."), Raw::file("d/up/evil", b"x")]);
        assert!(matches!(err, LayerError::SymlinkEscape { .. }), "{err}");
        assert!(err.to_string().contains("d/up/evil"), "{err}");
    }

    #[test]
    fn hard_links_out_of_the_layer_are_refused() {
        let err = refused(&[Raw::hardlink("passwd", "../../outside")]);
        assert!(matches!(err, LayerError::HardLinkEscape { .. }), "{err}");
        assert!(err.to_string().contains("\"passwd\"") && err.to_string().contains("../../outside"), "{err}");

        let err = refused(&[Raw::hardlink("shadow", "/etc/shadow")]);
        assert!(matches!(err, LayerError::HardLinkEscape { .. }), "{err}");

        // Through a symlinked parent that leaves the target.
        let err = refused(&[Raw::symlink("etc", "/etc"), Raw::hardlink("stolen", "etc/hostname")]);
        assert!(matches!(err, LayerError::SymlinkEscape { .. }), "{err}");
        assert!(err.to_string().contains("\"stolen\""), "{err}");
    }

    #[test]
    fn symlinks_inside_the_target_are_followed_and_final_symlinks_replaced() {
        let outside = tempfile::tempdir().unwrap();
        let secret = outside.path().join("secret");
        fs::write(&secret, b"keep").unwrap();
        let dst = tempfile::tempdir().unwrap();
        let secret_s = secret.to_str().unwrap().to_owned();
        let abs_inside = format!("{}/usr/lib", fs::canonicalize(dst.path()).unwrap().display());
        let layer = raw_tar(&[
            Raw::dir("usr/lib/"),
            Raw::symlink("lib", "usr/lib"),
            Raw::file("lib/libc.so", b"elf"),
            Raw::symlink("lib64", &abs_inside),
            Raw::file("lib64/ld.so", b"ld"),
            // A file entry over a symlink replaces the link, never writes through it.
            Raw::symlink("f", &secret_s),
            Raw::file("f", b"new"),
            // A hard link to a symlink links the symlink, not what it points at.
            Raw::symlink("s", &secret_s),
            Raw::hardlink("h", "s"),
        ]);
        unpack(&layer[..], dst.path(), &UnpackOptions::default()).unwrap();
        assert_eq!(fs::read(dst.path().join("usr/lib/libc.so")).unwrap(), b"elf");
        assert_eq!(fs::read(dst.path().join("usr/lib/ld.so")).unwrap(), b"ld");
        assert_eq!(fs::read(dst.path().join("f")).unwrap(), b"new");
        assert!(fs::symlink_metadata(dst.path().join("h")).unwrap().file_type().is_symlink());
        assert_eq!(fs::read(&secret).unwrap(), b"keep");
    }

    #[test]
    fn foreign_conventions_are_accepted() {
        let dst = tempfile::tempdir().unwrap();
        let before = fs::metadata(dst.path()).unwrap().mode();
        let mut root = Raw::dir("./");
        root.mode = 0o700;
        // A root entry, `./` prefixes, and a file whose parents have no entries.
        let layer = raw_tar(&[root, Raw::file("./a/b/c.txt", b"c"), Raw::dir("./a/")]);
        let stats = unpack(&layer[..], dst.path(), &UnpackOptions::default()).unwrap();
        assert_eq!(stats.entries, 2, "the root entry is not an entry");
        assert_eq!(tree_paths(dst.path()), ["a/", "a/b/", "a/b/c.txt"]);
        assert_eq!(fs::metadata(dst.path()).unwrap().mode(), before, "the target's own mode is untouched");
    }

    fn lower(root: &Path) {
        Tree(root)
            .dir("etc", 0o755)
            .file("etc/passwd", b"root", 0o644)
            .file("etc/group", b"root", 0o644)
            .dir("var/cache/apt", 0o755)
            .file("var/cache/apt/pkgcache.bin", b"cache", 0o644)
            .file("var/cache/.hidden", b"h", 0o644)
            .dir("opt/tool", 0o755)
            .file("opt/tool/bin", b"t", 0o755);
    }

    #[test]
    fn whiteouts_delete_from_lower_layers() {
        let dst = tempfile::tempdir().unwrap();
        lower(dst.path());
        let layer = raw_tar(&[
            Raw::dir("etc/"),
            Raw::file("etc/.wh.passwd", b""),
            Raw::file(".wh.opt", b""),
            Raw::file("var/cache/+new", b"same layer, before the marker"),
            Raw::file("var/cache/.wh..wh..opq", b""),
            Raw::file("var/cache/zz", b"same layer, after the marker"),
            // A whiteout never hides an entry of its own layer.
            Raw::file("new", b"n"),
            Raw::file(".wh.new", b""),
            Raw::file("nothing/.wh.here", b""),
        ]);
        let stats = unpack(&layer[..], dst.path(), &UnpackOptions::default()).unwrap();
        assert_eq!(stats.whiteouts, 5);
        assert_eq!(
            tree_paths(dst.path()),
            ["etc/", "etc/group", "new", "var/", "var/cache/", "var/cache/+new", "var/cache/zz"]
        );
    }

    #[test]
    fn overlay_mode_stores_whiteouts_as_overlayfs_does() {
        if !have_root("mknod and trusted.* xattrs") {
            return;
        }
        let dst = tempfile::tempdir().unwrap();
        let layer = raw_tar(&[
            Raw::dir("etc/"),
            Raw::file("etc/.wh.passwd", b""),
            Raw::dir("var/"),
            Raw::file("var/.wh..wh..opq", b""),
        ]);
        let o = UnpackOptions { whiteouts: WhiteoutMode::Overlay, ..Default::default() };
        unpack(&layer[..], dst.path(), &o).unwrap();
        let md = fs::symlink_metadata(dst.path().join("etc/passwd")).unwrap();
        assert!(std::os::unix::fs::FileTypeExt::is_char_device(&md.file_type()));
        assert_eq!(md.rdev(), 0);
        assert_eq!(xattr::get(dst.path().join("var"), "trusted.overlay.opaque").unwrap().as_deref(), Some(&b"y"[..]));
        assert_eq!(tree_paths(dst.path()), ["etc/", "etc/passwd", "var/"]);
    }

    #[test]
    fn ownership_and_capabilities_are_restored_as_root() {
        if !have_root("chown and security.capability") {
            return;
        }
        let src = tempfile::tempdir().unwrap();
        Tree(src.path()).file("ping", b"\x7fELF", 0o4711).dir("home", 0o700);
        std::os::unix::fs::chown(src.path().join("ping"), Some(1000), Some(1001)).unwrap();
        fs::set_permissions(src.path().join("ping"), fs::Permissions::from_mode(0o4711)).unwrap();
        let cap = [0x01, 0, 0, 0x02, 0x00, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        xattr::set(src.path().join("ping"), "security.capability", &cap).unwrap();
        let o = WriteOptions::new(Compression::None, EPOCH);
        let layer = write_tree(src.path(), &o, Vec::new()).unwrap().out;
        let dst = tempfile::tempdir().unwrap();
        unpack(&layer[..], dst.path(), &UnpackOptions::default()).unwrap();
        let md = fs::metadata(dst.path().join("ping")).unwrap();
        assert_eq!((md.uid(), md.gid(), md.mode() & 0o7777), (1000, 1001, 0o4711), "setuid survives chown");
        assert_eq!(xattr::get(dst.path().join("ping"), "security.capability").unwrap().as_deref(), Some(&cap[..]));
        assert_eq!(write_tree(dst.path(), &o, Vec::new()).unwrap().out, layer);
    }
}
