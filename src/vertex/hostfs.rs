//! Host-side trees: a directory read as a [`Tree`] (what frontends' host
//! ops work on: craft's filesets, organize and migration), and a tree a
//! host op computed written back to disk from the files it came from.
//!
//! A file's content id in a [`Tree`] is the sha256 of its bytes, so equal
//! ids mean equal contents (stage conflicts compare them) and [`FilesByContent`]
//! finds a file with those bytes to copy when a tree is materialized.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};
use strata_frontend_api::tree::{Entry, EntryKind, Tree};

/// An i/o error on a host path.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct HostFsError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> HostFsError + '_ {
    move |source| HostFsError { path: path.to_path_buf(), source }
}

/// Content id → a host file with those bytes.
pub type FilesByContent = BTreeMap<String, PathBuf>;

/// The OCI name of a whiteout for `name`, and of an opaque directory's marker.
pub const WHITEOUT_PREFIX: &str = ".wh.";
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";

/// Reads the directory `root` as a tree (the root itself is not an entry).
/// Overlay whiteouts (char devices) and other special files are skipped.
/// Returns the tree and where each content id's bytes are.
pub fn read_tree(root: &Path) -> Result<(Tree, FilesByContent), HostFsError> {
    read(root, false)
}

/// [`read_tree`] of a snapshot (whiteouts stored the overlayfs way) that
/// keeps its whiteouts in their OCI form: an empty file `dir/.wh.<name>`
/// for a char device 0/0 at `dir/<name>`, and `dir/.wh..wh..opq` for a
/// directory marked opaque (what host ops see, DESIGN.md and the graph's
/// `HostOp` docs).
pub fn read_tree_with_whiteouts(root: &Path) -> Result<(Tree, FilesByContent), HostFsError> {
    read(root, true)
}

/// The content id of no bytes (what a whiteout's entry holds).
pub fn empty_content() -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b"")))
}

fn read(root: &Path, whiteouts: bool) -> Result<(Tree, FilesByContent), HostFsError> {
    let mut tree = Tree::new();
    let mut sources = FilesByContent::new();
    if !root.is_dir() {
        return Ok((tree, sources));
    }
    for entry in walkdir::WalkDir::new(root).min_depth(1).sort_by_file_name().follow_links(false) {
        let entry = entry.map_err(|e| HostFsError {
            path: e.path().unwrap_or(root).to_path_buf(),
            source: e.into_io_error().unwrap_or_else(|| io::Error::other("walk error")),
        })?;
        let path = entry.path();
        let rel = path.strip_prefix(root).expect("under root").to_string_lossy().into_owned();
        let meta = fs::symlink_metadata(path).map_err(io_err(path))?;
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            EntryKind::Dir
        } else if ft.is_symlink() {
            let target = fs::read_link(path).map_err(io_err(path))?;
            EntryKind::Symlink { target: target.to_string_lossy().into_owned() }
        } else if ft.is_file() {
            let content = file_digest(path)?;
            sources.entry(content.clone()).or_insert_with(|| path.to_path_buf());
            EntryKind::File { content }
        } else if whiteouts && ft.is_char_device() && meta.rdev() == 0 {
            let (dir, name) = rel.rsplit_once('/').map(|(d, n)| (format!("{d}/"), n)).unwrap_or((String::new(), &rel));
            tree.insert(&format!("{dir}{WHITEOUT_PREFIX}{name}"), Entry::file(0, empty_content()));
            continue;
        } else {
            continue;
        };
        if whiteouts && ft.is_dir() && is_opaque(path) {
            tree.insert(&format!("{rel}/{OPAQUE_MARKER}"), Entry::file(0, empty_content()));
        }
        tree.insert(&rel, Entry { kind, mode: meta.mode() & 0o7777, uid: meta.uid(), gid: meta.gid() });
    }
    Ok((tree, sources))
}

fn is_opaque(dir: &Path) -> bool {
    ["trusted.overlay.opaque", "user.overlay.opaque"]
        .iter()
        .any(|x| xattr::get(dir, x).ok().flatten().as_deref() == Some(b"y"))
}

/// Writes the whiteouts of `tree` (entries named `.wh.<name>` and
/// `.wh..wh..opq`) under `dest` the overlayfs way — a char device 0/0 at
/// `<name>`, the opaque xattr on the directory — so the layer writer, in
/// its overlay mode, packs them as whiteouts. Returns whether there were
/// any. Their directories must exist (materialize the rest first).
pub fn write_whiteouts(tree: &Tree, dest: &Path) -> Result<bool, HostFsError> {
    let mut any = false;
    for path in tree.paths() {
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        let at = if dir.is_empty() { dest.to_path_buf() } else { dest.join(dir) };
        if name == OPAQUE_MARKER {
            fs::create_dir_all(&at).map_err(io_err(&at))?;
            xattr::set(&at, "trusted.overlay.opaque", b"y").map_err(io_err(&at))?;
            any = true;
        } else if let Some(deleted) = name.strip_prefix(WHITEOUT_PREFIX) {
            fs::create_dir_all(&at).map_err(io_err(&at))?;
            let node = at.join(deleted);
            let c = std::ffi::CString::new(node.as_os_str().as_encoded_bytes())
                .map_err(|e| io_err(&node)(io::Error::other(e)))?;
            // SAFETY: a valid NUL-terminated path; mknod does not retain it.
            if unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR, 0) } != 0 {
                return Err(io_err(&node)(io::Error::last_os_error()));
            }
            any = true;
        }
    }
    Ok(any)
}

/// Whether `path`'s last component is an OCI whiteout name.
pub fn is_whiteout_name(path: &str) -> bool {
    path.rsplit('/').next().is_some_and(|n| n.starts_with(WHITEOUT_PREFIX))
}

pub fn file_digest(path: &Path) -> Result<String, HostFsError> {
    let mut f = fs::File::open(path).map_err(io_err(path))?;
    let mut h = Sha256::new();
    io::copy(&mut f, &mut h).map_err(io_err(path))?;
    Ok(format!("sha256:{}", hex::encode(h.finalize())))
}

/// Writes the entries `paths` of `tree` under `dest`, file contents from
/// `sources`, with the entries' modes and owners. Parent directories come
/// from `tree` too (0755 root if it lacks them). An existing symlink at a
/// file's place is left alone, as craft-parts' migration does.
pub fn materialize<'a>(
    tree: &Tree,
    paths: impl IntoIterator<Item = &'a String>,
    sources: &FilesByContent,
    dest: &Path,
) -> Result<(), HostFsError> {
    fs::create_dir_all(dest).map_err(io_err(dest))?;
    let mut paths: Vec<&String> = paths.into_iter().collect();
    paths.sort();
    for rel in paths {
        let Some(entry) = tree.get(rel) else { continue };
        // Parents first, like the tree has them.
        let mut prefix = String::new();
        for comp in rel.split('/').collect::<Vec<_>>().split_last().map(|(_, p)| p.to_vec()).unwrap_or_default() {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(comp);
            let p = dest.join(&prefix);
            if fs::symlink_metadata(&p).is_err() {
                let e = tree.get(&prefix).cloned().unwrap_or_else(|| Entry::dir(0o755));
                write_entry(&p, &e, sources)?;
            }
        }
        write_entry(&dest.join(rel), entry, sources)?;
    }
    Ok(())
}

fn write_entry(path: &Path, entry: &Entry, sources: &FilesByContent) -> Result<(), HostFsError> {
    let existing = fs::symlink_metadata(path).ok();
    match &entry.kind {
        EntryKind::Dir => {
            match &existing {
                Some(m) if m.is_dir() => {}
                Some(m) if m.file_type().is_symlink() => return Ok(()),
                Some(_) => fs::remove_file(path).map_err(io_err(path))?,
                None => {}
            }
            if !path.is_dir() {
                fs::create_dir(path).map_err(io_err(path))?;
            }
        }
        EntryKind::File { content } => {
            if existing.as_ref().is_some_and(|m| m.file_type().is_symlink()) {
                return Ok(());
            }
            if existing.as_ref().is_some_and(|m| m.is_dir()) {
                fs::remove_dir_all(path).map_err(io_err(path))?;
            } else if existing.is_some() {
                fs::remove_file(path).map_err(io_err(path))?;
            }
            let from = sources.get(content).ok_or_else(|| HostFsError {
                path: path.to_path_buf(),
                source: io::Error::other(format!("no source file with content {content}")),
            })?;
            fs::copy(from, path).map_err(io_err(path))?;
        }
        EntryKind::Symlink { target } => {
            if existing.as_ref().is_some_and(|m| m.is_dir() && !m.file_type().is_symlink()) {
                fs::remove_dir_all(path).map_err(io_err(path))?;
            } else if existing.is_some() {
                fs::remove_file(path).map_err(io_err(path))?;
            }
            std::os::unix::fs::symlink(target, path).map_err(io_err(path))?;
            let _ = std::os::unix::fs::lchown(path, Some(entry.uid), Some(entry.gid));
            return Ok(());
        }
    }
    fs::set_permissions(path, fs::Permissions::from_mode(entry.mode)).map_err(io_err(path))?;
    let _ = std::os::unix::fs::lchown(path, Some(entry.uid), Some(entry.gid));
    Ok(())
}

/// Copies everything under `from` over `to` (modes, owners and symlinks
/// kept; whiteouts and special files skipped).
pub fn copy_over(from: &Path, to: &Path) -> Result<(), HostFsError> {
    let (tree, sources) = read_tree(from)?;
    let paths: Vec<String> = tree.paths().map(str::to_string).collect();
    materialize(&tree, &paths, &sources, to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_read_from_disk_is_written_back_with_modes_links_and_contents() {
        let src = tempfile::tempdir().unwrap();
        let s = src.path();
        fs::create_dir_all(s.join("etc/sub")).unwrap();
        fs::write(s.join("etc/app.conf"), "secret").unwrap();
        fs::set_permissions(s.join("etc/app.conf"), fs::Permissions::from_mode(0o600)).unwrap();
        fs::set_permissions(s.join("etc/sub"), fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::symlink("app.conf", s.join("etc/link")).unwrap();
        let (tree, sources) = read_tree(s).unwrap();
        assert_eq!(tree.paths().collect::<Vec<_>>(), ["etc", "etc/app.conf", "etc/link", "etc/sub"]);
        assert_eq!(tree.get("etc/app.conf").unwrap().mode_string(), "-rw-------");

        let dst = tempfile::tempdir().unwrap();
        // Only the file: its parent comes along with the tree's metadata.
        materialize(&tree, [&"etc/app.conf".to_string(), &"etc/link".to_string()], &sources, dst.path()).unwrap();
        assert_eq!(fs::read_to_string(dst.path().join("etc/app.conf")).unwrap(), "secret");
        assert_eq!(fs::read_link(dst.path().join("etc/link")).unwrap(), Path::new("app.conf"));
        assert!(!dst.path().join("etc/sub").exists());
        let (back, _) = read_tree(dst.path()).unwrap();
        assert_eq!(back.get("etc/app.conf"), tree.get("etc/app.conf"));
    }

    #[test]
    fn a_missing_dir_reads_as_an_empty_tree() {
        let (tree, _) = read_tree(Path::new("/nonexistent/strata-test")).unwrap();
        assert!(tree.is_empty());
    }

    #[test]
    fn whiteouts_read_as_their_oci_names_and_are_written_back_the_overlayfs_way() {
        if !crate::testutil::need_root("making char devices") {
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let snap = d.path().join("snap");
        fs::create_dir_all(snap.join("etc/opaque")).unwrap();
        xattr::set(snap.join("etc/opaque"), "trusted.overlay.opaque", b"y").unwrap();
        let gone = std::ffi::CString::new(snap.join("etc/gone").as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mknod(gone.as_ptr(), libc::S_IFCHR, 0) }, 0);

        let (tree, _) = read_tree_with_whiteouts(&snap).unwrap();
        assert_eq!(tree.paths().collect::<Vec<_>>(), ["etc", "etc/.wh.gone", "etc/opaque", "etc/opaque/.wh..wh..opq"]);
        let (plain, _) = read_tree(&snap).unwrap();
        assert_eq!(plain.paths().collect::<Vec<_>>(), ["etc", "etc/opaque"], "read_tree skips them");

        let out = d.path().join("out");
        let paths: Vec<String> = tree.paths().filter(|p| !is_whiteout_name(p)).map(str::to_string).collect();
        materialize(&tree, &paths, &FilesByContent::new(), &out).unwrap();
        assert!(write_whiteouts(&tree, &out).unwrap());
        let (back, _) = read_tree_with_whiteouts(&out).unwrap();
        assert_eq!(back.paths().collect::<Vec<_>>(), tree.paths().collect::<Vec<_>>());
    }
}
