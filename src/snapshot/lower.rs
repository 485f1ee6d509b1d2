//! The merged view of a stack of snapshots without mounting it, and the
//! per-step init dir built from it (see the module docs of `snapshot`).

use std::ffi::OsStr;
use std::fs::{self, File, Metadata};
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use super::MountPoint;

/// Whether `md` is an overlayfs whiteout (a 0/0 char device).
pub(crate) fn is_whiteout(md: &Metadata) -> bool {
    md.file_type().is_char_device() && md.rdev() == 0
}

/// Whether the directory at `path` is marked opaque the overlayfs way.
pub(crate) fn is_opaque(path: &Path) -> bool {
    ["trusted.overlay.opaque", "user.overlay.opaque"]
        .iter()
        .any(|name| matches!(xattr::get(path, name), Ok(Some(v)) if v == b"y"))
}

/// The normal components of a container path (`/etc//x/` → `etc`, `x`);
/// `None` if it has a `..` component.
pub(crate) fn components(path: &Path) -> Option<Vec<&OsStr>> {
    let mut out = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// What the merged view has at a path.
#[derive(Debug)]
pub(crate) enum Found {
    Dir(Metadata),
    /// Anything but a directory (the metadata of the topmost one).
    Other(Metadata),
}

/// Snapshots stacked as overlayfs would stack them, looked up without a mount.
pub(crate) struct LowerView<'a> {
    /// Top first.
    layers: &'a [PathBuf],
}

impl<'a> LowerView<'a> {
    pub fn new(top_first: &'a [PathBuf]) -> Self {
        LowerView { layers: top_first }
    }

    /// What the merged view has at each prefix of `comps`, as overlayfs
    /// resolves it: the topmost entry wins; directories merge down to an
    /// opaque one; a whiteout or non-directory hides everything below. Stops
    /// after the first prefix that is missing or not a directory.
    pub fn walk(&self, comps: &[&OsStr]) -> io::Result<Vec<Option<Found>>> {
        let mut active: Vec<PathBuf> = self.layers.to_vec();
        let mut out = Vec::with_capacity(comps.len());
        for comp in comps {
            let mut found: Option<Found> = None;
            let mut next = Vec::new();
            for dir in &active {
                let p = dir.join(comp);
                let md = match fs::symlink_metadata(&p) {
                    Ok(md) => md,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                };
                if is_whiteout(&md) {
                    break;
                }
                if !md.is_dir() {
                    if found.is_none() {
                        found = Some(Found::Other(md));
                    }
                    break;
                }
                if found.is_none() {
                    found = Some(Found::Dir(md));
                }
                let opaque = is_opaque(&p);
                next.push(p);
                if opaque {
                    break;
                }
            }
            let dir = matches!(found, Some(Found::Dir(_)));
            out.push(found);
            if !dir {
                break;
            }
            active = next;
        }
        Ok(out)
    }
}

/// Fills `init` (an empty directory, the top lower dir) with the mount
/// points the merged view lacks and copies of their parent directories.
///
/// A mount point whose parent is missing gets its parents created 0755
/// root; a parent that exists is copied with its mode, owner and mtime so
/// the merged view does not change. A mount point below a symlink or a
/// non-directory is skipped: the runtime resolves it inside the container.
pub(crate) fn build_init(init: &Path, view: &LowerView<'_>, points: &[MountPoint]) -> io::Result<()> {
    // Parent copies, applied deepest first once their children exist.
    let mut copies: Vec<(PathBuf, Metadata)> = Vec::new();
    for point in points {
        let Some(comps) = components(&point.path) else { continue };
        let Some((_, parents)) = comps.split_last() else { continue };
        let walk = view.walk(&comps)?;
        if walk.iter().take(parents.len()).any(|f| matches!(f, Some(Found::Other(_)))) {
            continue;
        }
        let present = match walk.get(parents.len()) {
            Some(Some(Found::Dir(_))) => !point.file,
            Some(Some(Found::Other(md))) => point.file && md.is_file(),
            _ => false,
        };
        if present {
            continue;
        }
        let mut at = init.to_path_buf();
        for (i, comp) in parents.iter().enumerate() {
            at.push(comp);
            if fs::symlink_metadata(&at).is_ok() {
                continue;
            }
            fs::DirBuilder::new().mode(0o755).create(&at)?;
            fs::set_permissions(&at, fs::Permissions::from_mode(0o755))?;
            if let Some(Some(Found::Dir(md))) = walk.get(i) {
                copies.push((at.clone(), md.clone()));
            }
        }
        at.push(comps[parents.len()]);
        if fs::symlink_metadata(&at).is_ok() {
            continue;
        }
        if point.file {
            File::create(&at)?;
            fs::set_permissions(&at, fs::Permissions::from_mode(0o644))?;
        } else {
            fs::DirBuilder::new().mode(0o755).create(&at)?;
            fs::set_permissions(&at, fs::Permissions::from_mode(0o755))?;
        }
    }
    copies.sort_by_key(|(p, _)| std::cmp::Reverse(p.components().count()));
    for (path, md) in copies {
        copy_dir_meta(&path, &md)?;
    }
    Ok(())
}

/// Gives the directory at `path` the owner, mode and times of `md`.
pub(crate) fn copy_dir_meta(path: &Path, md: &Metadata) -> io::Result<()> {
    std::os::unix::fs::lchown(path, Some(md.uid()), Some(md.gid()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(md.mode() & 0o7777))?;
    let times = fs::FileTimes::new().set_accessed(md.accessed()?).set_modified(md.modified()?);
    File::open(path)?.set_times(times)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mknod_whiteout(p: &Path) -> bool {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap();
        // SAFETY: valid path.
        unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR, libc::makedev(0, 0)) == 0 }
    }

    fn kinds(view: &LowerView<'_>, path: &str) -> Vec<&'static str> {
        let comps = components(Path::new(path)).unwrap();
        view.walk(&comps)
            .unwrap()
            .iter()
            .map(|f| match f {
                None => "missing",
                Some(Found::Dir(_)) => "dir",
                Some(Found::Other(_)) => "other",
            })
            .collect()
    }

    #[test]
    fn lookups_follow_overlay_rules() {
        let dir = tempfile::tempdir().unwrap();
        let (top, bottom) = (dir.path().join("top"), dir.path().join("bottom"));
        fs::create_dir_all(bottom.join("etc/ssl")).unwrap();
        fs::create_dir_all(bottom.join("var/cache")).unwrap();
        fs::write(bottom.join("file"), b"").unwrap();
        fs::create_dir_all(top.join("etc")).unwrap();
        fs::create_dir_all(top.join("file")).unwrap();
        std::os::unix::fs::symlink("etc", top.join("link")).unwrap();
        let layers = [top.clone(), bottom.clone()];
        let view = LowerView::new(&layers);
        assert_eq!(kinds(&view, "/etc/ssl"), ["dir", "dir"]);
        assert_eq!(kinds(&view, "/file"), ["dir"]);
        assert_eq!(kinds(&view, "/link/ssl"), ["other"]);
        assert_eq!(kinds(&view, "/nope/x"), ["missing"]);
        // Root-only: whiteouts and opaque dirs.
        if mknod_whiteout(&top.join("var")) {
            assert_eq!(kinds(&view, "/var/cache"), ["missing"]);
            xattr::set(top.join("etc"), "trusted.overlay.opaque", b"y").unwrap();
            assert_eq!(kinds(&view, "/etc/ssl"), ["dir", "missing"]);
        }
    }

    #[test]
    fn the_init_dir_holds_missing_mount_points_under_copies_of_their_parents() {
        let dir = tempfile::tempdir().unwrap();
        let lower = dir.path().join("lower");
        let init = dir.path().join("init");
        fs::create_dir_all(lower.join("etc")).unwrap();
        fs::create_dir_all(lower.join("proc")).unwrap();
        fs::write(lower.join("etc/hosts"), b"127.0.0.1 localhost\n").unwrap();
        std::os::unix::fs::symlink("/run/resolv.conf", lower.join("etc/resolv.conf")).unwrap();
        std::os::unix::fs::symlink("/tmp", lower.join("var")).unwrap();
        fs::set_permissions(lower.join("etc"), fs::Permissions::from_mode(0o751)).unwrap();
        let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000);
        File::open(lower.join("etc")).unwrap().set_modified(old).unwrap();
        fs::create_dir(&init).unwrap();
        let layers = [lower];
        let point = |p: &str, file| MountPoint { path: p.into(), file };
        build_init(
            &init,
            &LowerView::new(&layers),
            &[
                point("/proc", false),
                point("/sys", false),
                point("/etc/hosts", true),
                point("/etc/resolv.conf", true),
                point("/var/run/x", false),
                point("/root/project", false),
            ],
        )
        .unwrap();
        let mut got: Vec<String> = walkdir::WalkDir::new(&init)
            .min_depth(1)
            .sort_by_file_name()
            .into_iter()
            .map(|e| {
                let e = e.unwrap();
                let md = e.metadata().unwrap();
                let rel = e.path().strip_prefix(&init).unwrap().display().to_string();
                format!("{rel} {} {:o}", if md.is_dir() { "d" } else { "f" }, md.mode() & 0o7777)
            })
            .collect();
        got.sort();
        assert_eq!(got, ["etc d 751", "etc/resolv.conf f 644", "root d 755", "root/project d 755", "sys d 755"]);
        assert_eq!(fs::metadata(init.join("etc")).unwrap().modified().unwrap(), old);
    }
}
