//! What a step changed → a layer blob in the store.

use std::io::{BufReader, Read, Write};

use super::{Changes, SnapshotError};
use crate::layer::{self, Kind, LayerError, LayerInfo, LayerInput, OutputOptions, WhiteoutSource, WriteOptions};
use crate::store::Store;

/// Writes `changes` as a layer blob into `store` and returns it.
///
/// - [`Changes::UpperDir`]: packed by `layer::write_tree` with
///   [`WhiteoutSource::Overlay`] (0/0 char devices become `.wh.` entries,
///   opaque xattrs become `.wh..wh..opq`, overlay xattrs are dropped); the
///   upper dir is removed once written.
/// - [`Changes::DiffTar`]: re-emitted by [`normalize_diff_tar`].
///
/// Both go through the same emitter, so the same changes give the same
/// bytes, whichever backend captured them.
pub fn capture(store: &Store, changes: Changes, opts: &OutputOptions) -> Result<LayerInfo, SnapshotError> {
    let info = match changes {
        Changes::UpperDir { path, guard } => {
            let wo = WriteOptions {
                compression: opts.compression,
                source_date_epoch: opts.source_date_epoch,
                prefix: None,
                whiteouts: WhiteoutSource::Overlay,
                ids: opts.ids,
            };
            let info = layer::write_blob(store, opts.compression, |blob| layer::write_tree(&path, &wo, blob))?;
            drop(guard);
            info
        }
        Changes::DiffTar { file } => {
            let reader = file.reopen().map_err(SnapshotError::io(file.path()))?;
            let reader = BufReader::with_capacity(256 * 1024, reader);
            layer::write_blob(store, opts.compression, |blob| normalize_diff_tar(reader, opts, blob))?
        }
    };
    Ok(info)
}

/// Re-emits a diff tar (Docker/OCI `.wh.` whiteouts, entries in any order,
/// any header style, compressed or not) as a strata layer stream: sorted,
/// headers normalised, whiteouts and opaque markers kept. An overlay upper
/// dir and the diff tar of the same changes give the same bytes.
pub fn normalize_diff_tar<R: Read, W: Write>(
    tar: R,
    opts: &OutputOptions,
    out: W,
) -> Result<layer::Written<W>, LayerError> {
    // `filter` keeping everything is exactly a normalising copy: it indexes
    // an unsorted input, serves it in strata's order and re-emits each entry
    // through the one emitter, whiteouts included.
    let keep_all = |_: &std::path::Path, _: &Kind| true;
    layer::filter(LayerInput::unsorted(tar), &keep_all, opts, out)
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::path::Path;

    use super::*;
    use crate::layer::{Compression, IdMode};

    const EPOCH: i64 = 1_700_000_000;

    /// An upper dir as overlayfs leaves it: new files, a hard link, a
    /// whiteout, an opaque directory, a symlink, a setuid file.
    fn upper_dir(dir: &Path) {
        for d in ["etc", "var/cache", "usr/bin"] {
            fs::create_dir_all(dir.join(d)).unwrap();
        }
        fs::write(dir.join("etc/new"), b"new\n").unwrap();
        fs::hard_link(dir.join("etc/new"), dir.join("etc/new-link")).unwrap();
        fs::write(dir.join("var/cache/fresh"), b"f").unwrap();
        fs::write(dir.join("usr/bin/su"), b"su").unwrap();
        fs::set_permissions(dir.join("usr/bin/su"), fs::Permissions::from_mode(0o4755)).unwrap();
        std::os::unix::fs::symlink("../etc/new", dir.join("usr/bin/link")).unwrap();
        let c = std::ffi::CString::new(dir.join("etc/old").as_os_str().as_bytes()).unwrap();
        // SAFETY: valid path.
        assert_eq!(unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR, libc::makedev(0, 0)) }, 0);
        xattr::set(dir.join("var/cache"), "trusted.overlay.opaque", b"y").unwrap();
        xattr::set(dir.join("var"), "trusted.overlay.origin", b"ignored").unwrap();
    }

    /// The header of a whiteout or opaque marker, as Docker writes them.
    fn marker(mode: u32) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(0);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h
    }

    /// The same changes as a Docker-style diff tar: `.wh.` names, entries in
    /// reverse order, GNU headers, a `./` root entry, the hard link last.
    fn diff_tar(upper: &Path) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut paths: Vec<_> = walkdir::WalkDir::new(upper).min_depth(1).into_iter().map(|e| e.unwrap()).collect();
        paths.reverse();
        let mut root = marker(0o755);
        root.set_entry_type(tar::EntryType::Directory);
        b.append_data(&mut root, "./", std::io::empty()).unwrap();
        let mut link_done = false;
        for e in paths {
            let rel = e.path().strip_prefix(upper).unwrap().to_owned();
            let md = fs::symlink_metadata(e.path()).unwrap();
            let mut h = tar::Header::new_gnu();
            h.set_metadata(&md);
            h.set_username("someone").unwrap();
            if !md.is_file() {
                h.set_size(0);
            }
            if crate::snapshot::lower::is_whiteout(&md) {
                let wh = rel.with_file_name(format!(".wh.{}", rel.file_name().unwrap().to_str().unwrap()));
                b.append_data(&mut marker(0o644), wh, std::io::empty()).unwrap();
                continue;
            }
            if md.is_dir() {
                b.append_data(&mut h, &rel, std::io::empty()).unwrap();
                if crate::snapshot::lower::is_opaque(e.path()) {
                    b.append_data(&mut marker(0o600), rel.join(".wh..wh..opq"), std::io::empty()).unwrap();
                }
            } else if md.file_type().is_symlink() {
                b.append_link(&mut h, &rel, fs::read_link(e.path()).unwrap()).unwrap();
            } else if md.nlink() > 1 && !link_done {
                // Written in full under one name; the other name links to it.
                link_done = true;
                b.append_data(&mut h, &rel, fs::File::open(e.path()).unwrap()).unwrap();
            } else if md.nlink() > 1 {
                let first = if rel.ends_with("new") { "etc/new-link" } else { "etc/new" };
                let mut h = tar::Header::new_gnu();
                h.set_metadata(&md);
                h.set_entry_type(tar::EntryType::Link);
                h.set_size(0);
                b.append_link(&mut h, &rel, first).unwrap();
            } else {
                b.append_data(&mut h, &rel, fs::File::open(e.path()).unwrap()).unwrap();
            }
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn an_upper_dir_and_its_diff_tar_give_the_same_layer() {
        if !crate::layer::testutil::have_root("mknod and trusted.* xattrs") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("store")).unwrap();
        let upper = dir.path().join("upper");
        fs::create_dir(&upper).unwrap();
        upper_dir(&upper);
        let tar = diff_tar(&upper);
        for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let opts = OutputOptions { ids: IdMode::AsFound, ..OutputOptions::new(compression, EPOCH) };
            let mut file = tempfile::NamedTempFile::new().unwrap();
            file.write_all(&tar).unwrap();
            let from_tar = capture(&store, Changes::DiffTar { file }, &opts).unwrap();
            // A copy of the upper dir, as the guard removes what it owns.
            let copy = tempfile::tempdir().unwrap();
            let status = std::process::Command::new("cp")
                .arg("-a")
                .arg(format!("{}/.", upper.display()))
                .arg(copy.path())
                .status()
                .unwrap();
            assert!(status.success());
            let path = copy.path().to_owned();
            let from_upper =
                capture(&store, Changes::UpperDir { path: path.clone(), guard: Box::new(copy) }, &opts).unwrap();
            assert!(!path.exists(), "the guard went with the capture");
            assert_eq!(from_upper, from_tar, "{compression:?}");
            assert!(store.has_blob(&from_upper.digest));
            if compression == Compression::None {
                assert_eq!(from_upper.digest, from_upper.diff_id);
            }
        }
    }

    #[test]
    fn an_empty_upper_dir_is_the_empty_layer() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("store")).unwrap();
        let upper = tempfile::tempdir().unwrap();
        let opts = OutputOptions::new(Compression::None, EPOCH);
        let path = upper.path().to_owned();
        let info = capture(&store, Changes::UpperDir { path, guard: Box::new(upper) }, &opts).unwrap();
        // Two zero blocks: the tar of nothing.
        assert_eq!(info.diff_id, crate::digest::sha256(&[0u8; 1024]));
        assert_eq!(info.size, 1024);
        assert!(info.is_empty());
    }
}
