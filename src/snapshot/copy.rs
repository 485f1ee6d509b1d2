//! Copy mode: the layers copied into a plain directory, and the tree diff
//! that turns what a step did to it into an overlay-style upper dir (see the
//! module docs of `snapshot` for the rules).

use std::collections::{HashMap, HashSet};
use std::ffi::CString;
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::MountPoint;
use super::lower::{components, is_opaque, is_whiteout};

const CAPABILITY: &str = "security.capability";

fn cstr(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(io::Error::other)
}

fn mkdir(p: &Path) -> io::Result<()> {
    fs::DirBuilder::new().mode(0o755).create(p)
}

/// Removes whatever is at `p` (a directory with its contents), never
/// following a symlink.
fn remove_any(p: &Path) -> io::Result<()> {
    match fs::symlink_metadata(p) {
        Ok(md) if md.is_dir() => fs::remove_dir_all(p),
        Ok(_) => fs::remove_file(p),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Sets atime and mtime of `p` (not following a symlink) from `md`.
fn set_times(p: &Path, md: &Metadata) -> io::Result<()> {
    let c = cstr(p)?;
    let ts = [
        libc::timespec { tv_sec: md.atime(), tv_nsec: md.atime_nsec() },
        libc::timespec { tv_sec: md.mtime(), tv_nsec: md.mtime_nsec() },
    ];
    // SAFETY: valid path and a two-element array.
    let r = unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), ts.as_ptr(), libc::AT_SYMLINK_NOFOLLOW) };
    if r == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// Owner, then mode (chown clears setuid bits), then times.
fn set_meta(p: &Path, md: &Metadata) -> io::Result<()> {
    std::os::unix::fs::lchown(p, Some(md.uid()), Some(md.gid()))?;
    if !md.file_type().is_symlink() {
        fs::set_permissions(p, fs::Permissions::from_mode(md.mode() & 0o7777))?;
    }
    set_times(p, md)
}

/// Copies one non-directory entry with its metadata and file capability
/// (set last: chown clears it). Sockets are skipped, as the layer writer does.
fn copy_node(src: &Path, md: &Metadata, dst: &Path) -> io::Result<()> {
    let ft = md.file_type();
    if ft.is_socket() {
        return Ok(());
    }
    if ft.is_file() {
        fs::copy(src, dst)?;
    } else if ft.is_symlink() {
        std::os::unix::fs::symlink(fs::read_link(src)?, dst)?;
    } else {
        let c = cstr(dst)?;
        // SAFETY: valid path; mode carries the file type, rdev the device.
        if unsafe { libc::mknod(c.as_ptr(), md.mode() as libc::mode_t, md.rdev() as libc::dev_t) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    set_meta(dst, md)?;
    if ft.is_file()
        && let Some(cap) = xattr::get(src, CAPABILITY)?
    {
        xattr::set(dst, CAPABILITY, &cap)?;
    }
    Ok(())
}

/// Copies the snapshots (bottom first) into `root`, applying their
/// whiteouts and opaque directories. Hard links between lower files are
/// not kept (see the module docs).
pub(crate) fn populate(root: &Path, snapshots: &[PathBuf]) -> io::Result<()> {
    // The topmost metadata of every directory, applied once all layers are in.
    let mut dirs: HashMap<PathBuf, Metadata> = HashMap::new();
    for snap in snapshots {
        apply(snap, root, &mut PathBuf::new(), &mut dirs)?;
    }
    let mut dirs: Vec<(PathBuf, Metadata)> = dirs.into_iter().collect();
    dirs.sort_by_key(|(rel, _)| std::cmp::Reverse(rel.components().count()));
    for (rel, md) in dirs {
        let p = root.join(&rel);
        // A directory a higher layer removed (and did not recreate) is gone.
        if fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
            set_meta(&p, &md)?;
        }
    }
    Ok(())
}

fn apply(snap: &Path, root: &Path, rel: &mut PathBuf, dirs: &mut HashMap<PathBuf, Metadata>) -> io::Result<()> {
    for entry in fs::read_dir(snap.join(&*rel))? {
        let name = entry?.file_name();
        rel.push(&name);
        let (src, dst) = (snap.join(&*rel), root.join(&*rel));
        let md = fs::symlink_metadata(&src)?;
        let existing = fs::symlink_metadata(&dst).ok();
        if is_whiteout(&md) {
            remove_any(&dst)?;
        } else if md.is_dir() {
            match existing {
                Some(e) if e.is_dir() => {
                    if is_opaque(&src) {
                        fs::remove_dir_all(&dst)?;
                        mkdir(&dst)?;
                    }
                }
                Some(_) => {
                    fs::remove_file(&dst)?;
                    mkdir(&dst)?;
                }
                None => mkdir(&dst)?,
            }
            dirs.insert(rel.clone(), md);
            apply(snap, root, rel, dirs)?;
        } else {
            if existing.is_some() {
                remove_any(&dst)?;
            }
            copy_node(&src, &md, &dst)?;
        }
        rel.pop();
    }
    Ok(())
}

/// Creates the mount points `root` lacks (before the baseline is taken, so
/// they are never seen as changes), keeping the mtimes of the directories
/// they are created in. Mount points below a symlink are left to the runtime.
pub(crate) fn create_points(root: &Path, points: &[MountPoint]) -> io::Result<()> {
    let mut touched: Vec<(PathBuf, Metadata)> = Vec::new();
    let remember = |dir: &Path, touched: &mut Vec<(PathBuf, Metadata)>| -> io::Result<()> {
        if !touched.iter().any(|(p, _)| p == dir) {
            touched.push((dir.to_owned(), fs::symlink_metadata(dir)?));
        }
        Ok(())
    };
    'points: for point in points {
        let Some(comps) = components(&point.path) else { continue };
        let Some((last, parents)) = comps.split_last() else { continue };
        let mut at = root.to_path_buf();
        for comp in parents {
            let next = at.join(comp);
            match fs::symlink_metadata(&next) {
                Ok(md) if md.is_dir() => {}
                Ok(_) => continue 'points,
                Err(_) => {
                    remember(&at, &mut touched)?;
                    mkdir(&next)?;
                    fs::set_permissions(&next, fs::Permissions::from_mode(0o755))?;
                }
            }
            at = next;
        }
        let target = at.join(last);
        let ok = match fs::symlink_metadata(&target) {
            Ok(md) => md.is_dir() != point.file && (md.is_dir() || md.is_file()),
            Err(_) => false,
        };
        if ok {
            continue;
        }
        remember(&at, &mut touched)?;
        remove_any(&target)?;
        if point.file {
            fs::File::create(&target)?;
            fs::set_permissions(&target, fs::Permissions::from_mode(0o644))?;
        } else {
            mkdir(&target)?;
            fs::set_permissions(&target, fs::Permissions::from_mode(0o755))?;
        }
    }
    // Deepest first: restoring a child's mtime does not touch its parent's.
    touched.sort_by_key(|(p, _)| std::cmp::Reverse(p.components().count()));
    for (dir, md) in touched {
        set_times(&dir, &md)?;
    }
    Ok(())
}

/// What `root` held before the step ran: every path's inode and ctime.
#[derive(Debug, Default)]
pub(crate) struct Baseline {
    seen: HashMap<Vec<u8>, Seen>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    /// The inode and its birth time: filesystems reuse inode numbers at
    /// once (ext4 gives a directory removed and recreated the same one), so
    /// the birth time (statx `btime`, where the filesystem has one) is what
    /// tells a recreated entry from a modified one.
    id: (u64, Option<std::time::SystemTime>),
    ctime: (i64, i64),
    dir: bool,
}

impl Seen {
    fn of(md: &Metadata) -> Seen {
        Seen { id: (md.ino(), md.created().ok()), ctime: (md.ctime(), md.ctime_nsec()), dir: md.is_dir() }
    }
}

impl Baseline {
    pub fn record(root: &Path) -> io::Result<Baseline> {
        let mut seen = HashMap::new();
        for entry in walkdir::WalkDir::new(root).min_depth(1).follow_links(false) {
            let entry = entry.map_err(io::Error::other)?;
            let rel = entry.path().strip_prefix(root).expect("under root").as_os_str().as_bytes().to_vec();
            seen.insert(rel, Seen::of(&entry.metadata().map_err(io::Error::other)?));
        }
        Ok(Baseline { seen })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Same,
    /// ctime changed: content or metadata (or, for a directory, its entries).
    Modified,
    /// Another inode at the same path: deleted and recreated, or a new type.
    Replaced,
    /// Nothing was there (or it is inside a new or replaced directory).
    New,
}

/// Builds in `upper` the overlay upper dir equivalent of what happened to
/// `root` since `base` was recorded.
pub(crate) fn diff(root: &Path, base: &Baseline, upper: &Path) -> io::Result<()> {
    let mut d = Differ {
        root,
        upper,
        base,
        made: HashSet::new(),
        dir_meta: Vec::new(),
        copies: HashMap::new(),
        unchanged_links: HashMap::new(),
    };
    d.walk(&mut PathBuf::new(), false)?;
    // Hard-link closure: an unchanged path of an inode that was copied
    // (linked to by a new path, or modified) goes with it, as overlayfs
    // copies the inode up once and links every name to it.
    let pending: Vec<((u64, u64), Vec<PathBuf>)> = d.unchanged_links.drain().collect();
    for (id, paths) in pending {
        if d.copies.contains_key(&id) {
            for rel in paths {
                let md = fs::symlink_metadata(root.join(&rel))?;
                d.include_file(&rel, &md)?;
            }
        }
    }
    // Deletions: a whiteout for each recorded path that is gone, when its
    // parent is the same directory as before (else the parent covers it).
    let mut gone: Vec<&Vec<u8>> = Vec::new();
    for (rel, _) in base.seen.iter() {
        let p = root.join(std::ffi::OsStr::from_bytes(rel));
        if fs::symlink_metadata(&p).is_ok() {
            continue;
        }
        let parent = Path::new(std::ffi::OsStr::from_bytes(rel)).parent().unwrap_or(Path::new(""));
        if parent.as_os_str().is_empty() {
            gone.push(rel);
            continue;
        }
        let (Some(before), Ok(now)) =
            (base.seen.get(parent.as_os_str().as_bytes()), fs::symlink_metadata(root.join(parent)))
        else {
            continue;
        };
        if now.is_dir() && before.dir && before.id == Seen::of(&now).id {
            gone.push(rel);
        }
    }
    gone.sort();
    for rel in gone {
        let rel = Path::new(std::ffi::OsStr::from_bytes(rel));
        d.ensure_parents(rel)?;
        let c = cstr(&upper.join(rel))?;
        // SAFETY: valid path; a 0/0 char device is an overlayfs whiteout.
        if unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR, libc::makedev(0, 0)) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    // Directory metadata last, deepest first, once their contents are in.
    let mut dirs = std::mem::take(&mut d.dir_meta);
    dirs.sort_by_key(|(rel, _, _)| std::cmp::Reverse(rel.components().count()));
    for (rel, md, opaque) in dirs {
        let p = upper.join(&rel);
        if opaque {
            xattr::set(&p, "trusted.overlay.opaque", b"y")?;
        }
        set_meta(&p, &md)?;
    }
    Ok(())
}

struct Differ<'a> {
    root: &'a Path,
    upper: &'a Path,
    base: &'a Baseline,
    /// Directories created in `upper`.
    made: HashSet<PathBuf>,
    dir_meta: Vec<(PathBuf, Metadata, bool)>,
    /// (dev, ino) of multiply-linked files copied to `upper` → their copy.
    copies: HashMap<(u64, u64), PathBuf>,
    /// Unchanged multiply-linked files, by inode, for the hard-link closure.
    unchanged_links: HashMap<(u64, u64), Vec<PathBuf>>,
}

impl Differ<'_> {
    fn walk(&mut self, rel: &mut PathBuf, fresh: bool) -> io::Result<()> {
        for entry in fs::read_dir(self.root.join(&*rel))? {
            let name = entry?.file_name();
            rel.push(&name);
            let md = fs::symlink_metadata(self.root.join(&*rel))?;
            let state = if fresh {
                State::New
            } else {
                match self.base.seen.get(rel.as_os_str().as_bytes()) {
                    None => State::New,
                    Some(s) if s.id != Seen::of(&md).id || s.dir != md.is_dir() => State::Replaced,
                    Some(s) if *s != Seen::of(&md) => State::Modified,
                    Some(_) => State::Same,
                }
            };
            if md.is_dir() {
                if state != State::Same {
                    self.include_dir(rel, &md, state == State::Replaced)?;
                }
                self.walk(rel, matches!(state, State::New | State::Replaced))?;
            } else if state != State::Same {
                self.include_file(rel, &md)?;
            } else if md.nlink() > 1 {
                self.unchanged_links.entry((md.dev(), md.ino())).or_default().push(rel.clone());
            }
            rel.pop();
        }
        Ok(())
    }

    /// Creates the parents of `rel` in `upper` with the root's metadata.
    fn ensure_parents(&mut self, rel: &Path) -> io::Result<()> {
        let Some(parent) = rel.parent() else { return Ok(()) };
        let mut at = PathBuf::new();
        for comp in parent.components() {
            at.push(comp);
            if !self.made.contains(&at) {
                let md = fs::symlink_metadata(self.root.join(&at))?;
                self.include_dir(&at.clone(), &md, false)?;
            }
        }
        Ok(())
    }

    fn include_dir(&mut self, rel: &Path, md: &Metadata, opaque: bool) -> io::Result<()> {
        self.ensure_parents(rel)?;
        if self.made.insert(rel.to_owned()) {
            mkdir(&self.upper.join(rel))?;
            self.dir_meta.push((rel.to_owned(), md.clone(), opaque));
        }
        Ok(())
    }

    fn include_file(&mut self, rel: &Path, md: &Metadata) -> io::Result<()> {
        self.ensure_parents(rel)?;
        let dst = self.upper.join(rel);
        if md.nlink() > 1 && !md.is_dir() {
            let id = (md.dev(), md.ino());
            if let Some(first) = self.copies.get(&id) {
                return fs::hard_link(self.upper.join(first), &dst);
            }
            self.copies.insert(id, rel.to_owned());
        }
        copy_node(&self.root.join(rel), md, &dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `path kind mode [target]` for every entry under `dir`, sorted.
    fn listing(dir: &Path) -> Vec<String> {
        let mut out: Vec<String> = walkdir::WalkDir::new(dir)
            .min_depth(1)
            .into_iter()
            .map(|e| {
                let e = e.unwrap();
                let md = e.metadata().unwrap();
                let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
                let kind = if is_whiteout(&md) {
                    "whiteout".to_string()
                } else if md.is_dir() {
                    format!("dir{}", if is_opaque(e.path()) { " opaque" } else { "" })
                } else if md.file_type().is_symlink() {
                    format!("-> {}", fs::read_link(e.path()).unwrap().display())
                } else {
                    format!("file {:?}", String::from_utf8_lossy(&fs::read(e.path()).unwrap()))
                };
                format!("{rel} {kind}")
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn the_diff_is_what_overlayfs_would_have_in_its_upper_dir() {
        if !crate::layer::testutil::have_root("mknod and trusted.* xattrs") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let (snap, root, upper) = (dir.path().join("snap"), dir.path().join("root"), dir.path().join("upper"));
        for d in [&snap, &root, &upper] {
            fs::create_dir(d).unwrap();
        }
        for d in ["keep/sub", "gone/sub", "recreated", "to-file"] {
            fs::create_dir_all(snap.join(d)).unwrap();
        }
        for f in ["keep/a", "keep/sub/b", "gone/sub/c", "recreated/old", "to-dir", "modified", "linked"] {
            fs::write(snap.join(f), f.as_bytes()).unwrap();
        }
        populate(&root, std::slice::from_ref(&snap)).unwrap();
        assert_eq!(listing(&root), listing(&snap));
        let base = Baseline::record(&root).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));

        // What a step might do.
        fs::remove_dir_all(root.join("gone")).unwrap();
        fs::remove_file(root.join("keep/a")).unwrap();
        fs::remove_dir_all(root.join("recreated")).unwrap();
        fs::create_dir(root.join("recreated")).unwrap();
        fs::write(root.join("recreated/new"), b"n").unwrap();
        fs::remove_dir_all(root.join("to-file")).unwrap();
        fs::write(root.join("to-file"), b"f").unwrap();
        fs::remove_file(root.join("to-dir")).unwrap();
        fs::create_dir(root.join("to-dir")).unwrap();
        fs::write(root.join("modified"), b"changed").unwrap();
        fs::hard_link(root.join("linked"), root.join("new-link")).unwrap();
        fs::create_dir_all(root.join("fresh/deep")).unwrap();

        diff(&root, &base, &upper).unwrap();
        assert_eq!(
            listing(&upper),
            [
                "fresh dir",
                "fresh/deep dir",
                "gone whiteout",
                "keep dir",
                "keep/a whiteout",
                "linked file \"linked\"",
                "modified file \"changed\"",
                "new-link file \"linked\"",
                "recreated dir opaque",
                "recreated/new file \"n\"",
                "to-dir dir opaque",
                "to-file file \"f\"",
            ]
        );
        let (a, b) = (fs::metadata(upper.join("linked")).unwrap(), fs::metadata(upper.join("new-link")).unwrap());
        assert_eq!(a.ino(), b.ino(), "hard links stay linked in the upper dir");
    }

    #[test]
    fn layers_stack_with_whiteouts_and_opaque_dirs() {
        if !crate::layer::testutil::have_root("mknod and trusted.* xattrs") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let (l1, l2, root) = (dir.path().join("l1"), dir.path().join("l2"), dir.path().join("root"));
        for d in ["l1/etc", "l1/var/cache", "l2/var/cache", "root"] {
            fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        fs::write(l1.join("etc/passwd"), b"root").unwrap();
        fs::write(l1.join("etc/shadow"), b"x").unwrap();
        fs::write(l1.join("var/cache/old"), b"o").unwrap();
        fs::write(l2.join("var/cache/new"), b"n").unwrap();
        xattr::set(l2.join("var/cache"), "trusted.overlay.opaque", b"y").unwrap();
        fs::create_dir(l2.join("etc")).unwrap();
        let c = cstr(&l2.join("etc/shadow")).unwrap();
        // SAFETY: valid path.
        assert_eq!(unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR, libc::makedev(0, 0)) }, 0);
        fs::set_permissions(l1.join("etc"), fs::Permissions::from_mode(0o700)).unwrap();
        fs::set_permissions(l2.join("etc"), fs::Permissions::from_mode(0o750)).unwrap();
        populate(&root, &[l1, l2]).unwrap();
        assert_eq!(
            listing(&root),
            ["etc dir", "etc/passwd file \"root\"", "var dir", "var/cache dir", "var/cache/new file \"n\""]
        );
        assert_eq!(fs::metadata(root.join("etc")).unwrap().mode() & 0o7777, 0o750, "the top layer's metadata");
    }

    #[test]
    fn mount_points_are_created_without_touching_parent_mtimes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir(root.join("etc")).unwrap();
        std::os::unix::fs::symlink("/elsewhere", root.join("etc/resolv.conf")).unwrap();
        let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000);
        fs::File::open(root.join("etc")).unwrap().set_modified(old).unwrap();
        let point = |p: &str, file| MountPoint { path: p.into(), file };
        create_points(root, &[point("/etc/resolv.conf", true), point("/proc", false), point("/a/b", false)]).unwrap();
        assert!(fs::symlink_metadata(root.join("etc/resolv.conf")).unwrap().is_file());
        assert!(root.join("proc").is_dir() && root.join("a/b").is_dir());
        assert_eq!(fs::metadata(root.join("etc")).unwrap().modified().unwrap(), old);
    }
}
