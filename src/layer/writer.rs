//! Directory tree → layer stream.
//!
//! [`write_tree`] walks a directory depth-first, each directory's children
//! sorted by the raw bytes of their names, which is strata's layer
//! [order](super::order), and streams every entry through the emitter: tar
//! ▸ sha256 (the diff_id) ▸ compressor ▸ `out`. One pass, no temporary
//! uncompressed copy; memory is one sorted listing per directory on the
//! current path, the hard-link table, a 256 KiB copy buffer, 2 MiB of tar
//! stream in flight and the compressor's state (zstd's job buffers, ~64 MiB,
//! are the largest part: W8 packs 2 GiB in 71 MiB of RSS).
//!
//! The walk, the file reads and the diff_id run on a scoped thread; the
//! calling thread compresses (zstd adds its worker). The compressor is fed
//! the same blocks either way, so this changes speed, not bytes.
//!
//! What is recorded (DESIGN.md §5, normalised by `emit`):
//!
//! - regular files, directories (incl. setuid/setgid/sticky bits), symlinks
//!   (stored as symlinks, never followed), char and block devices, fifos.
//!   Sockets are skipped, as GNU tar does: they cannot live in a tar.
//! - hard links: a non-directory with `nlink > 1` is stored in full the first
//!   time its (dev, ino) is met in the walk and as a hard-link entry to that
//!   first path afterwards. No sparse-file detection: holes are stored as
//!   zeros.
//! - `security.capability` is the only xattr kept.
//! - **The root directory itself has no entry** (there is no `./`): its mode,
//!   owner and mtime belong to whoever unpacks the layer. With a `prefix`,
//!   the prefix and each of its parents are emitted as directories 0755,
//!   owned by 0:0, mtime `source_date_epoch`, before the tree's entries.
//! - names starting with `.wh.` are refused: a reader would take them for
//!   whiteouts.
//!
//! With [`WhiteoutSource::Overlay`] the tree is an overlayfs upper dir: a
//! char device 0/0 becomes the whiteout `.wh.NAME`; a directory with the
//! xattr `trusted.overlay.opaque=y` (or `user.overlay.opaque=y` for
//! `userxattr` mounts) becomes the directory plus `DIR/.wh..wh..opq`;
//! overlay-private xattrs are never emitted. An upper dir that uses
//! `redirect_dir` or `metacopy` (whose meaning depends on the lower dirs) is
//! refused.

use std::collections::HashMap;
use std::fs::{self, File, Metadata};
use std::io::{self, Read};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::emit::{self, Emitter, Kind, Meta, Origin};
use super::order::WHITEOUT_PREFIX;
use super::{Compression, IdMode, LayerError, LayerInfo, OutputOptions, Written};
use crate::digest::HashingWriter;

/// Where whiteouts come from in the tree being packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WhiteoutSource {
    /// A plain tree: devices are devices, no whiteouts.
    #[default]
    Plain,
    /// An overlayfs upper dir: char devices 0/0 are whiteouts and
    /// `*.overlay.opaque=y` marks opaque directories.
    Overlay,
}

/// How to pack a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOptions {
    pub compression: Compression,
    /// mtimes are clamped to `[0, source_date_epoch]`.
    pub source_date_epoch: i64,
    /// The path inside the layer the tree lands at, e.g. `root/parts/a/src`
    /// (relative; a leading `/` is ignored). `None`: the tree is the layer's root.
    pub prefix: Option<PathBuf>,
    pub whiteouts: WhiteoutSource,
    pub ids: IdMode,
}

impl WriteOptions {
    pub fn new(compression: Compression, source_date_epoch: i64) -> Self {
        WriteOptions {
            compression,
            source_date_epoch,
            prefix: None,
            whiteouts: WhiteoutSource::Plain,
            ids: IdMode::AsFound,
        }
    }

    /// The options that shape the stream itself.
    pub fn output(&self) -> OutputOptions {
        OutputOptions { compression: self.compression, source_date_epoch: self.source_date_epoch, ids: self.ids }
    }
}

/// Packs the tree at `root` as a layer stream into `out`. Returns `out`, the
/// diff_id and the uncompressed size; the caller hashes the compressed bytes.
pub fn write_tree<W: std::io::Write>(root: &Path, opts: &WriteOptions, out: W) -> Result<Written<W>, LayerError> {
    let meta = fs::symlink_metadata(root).map_err(LayerError::read_tree(root))?;
    if !meta.is_dir() {
        return Err(LayerError::RootNotADirectory { path: root.to_path_buf() });
    }
    let prefix = match &opts.prefix {
        Some(p) => normalise_prefix(p)?,
        None => Vec::new(),
    };
    emit::two_stage(out, &opts.output(), move |emitter| {
        let mut walker = Walker { emitter, overlay: opts.whiteouts == WhiteoutSource::Overlay, links: HashMap::new() };
        walker.walk(root, prefix, opts.source_date_epoch)?;
        Ok(walker.emitter)
    })
}

/// [`write_tree`] for callers without a blob store: also hashes the
/// compressed stream and returns the whole [`LayerInfo`]. Pass `&mut w` to
/// keep using the writer afterwards.
pub fn write_layer<W: std::io::Write>(root: &Path, opts: &WriteOptions, out: W) -> Result<LayerInfo, LayerError> {
    if opts.compression == Compression::None {
        // The blob is the tar stream: its digest is the diff_id; no need to hash it twice.
        let written = write_tree(root, opts, out)?;
        return Ok(LayerInfo {
            digest: written.diff_id.clone(),
            diff_id: written.diff_id,
            size: written.uncompressed_size,
            compression: opts.compression,
        });
    }
    let written = write_tree(root, opts, HashingWriter::new(out))?;
    let (_, digest, size) = written.out.finish();
    Ok(LayerInfo { digest, diff_id: written.diff_id, size, compression: opts.compression })
}

fn normalise_prefix(p: &Path) -> Result<Vec<u8>, LayerError> {
    let raw = p.as_os_str().as_bytes();
    let raw = raw.strip_prefix(b"/").unwrap_or(raw);
    match super::order::parse_entry_name(raw)? {
        super::order::EntryName::Root => Ok(Vec::new()),
        super::order::EntryName::Entry { path, class: super::order::Class::Plain } => Ok(path),
        _ => Err(LayerError::ReservedName { path: p.to_path_buf() }),
    }
}

struct Walker<W: std::io::Write> {
    emitter: Emitter<W>,
    overlay: bool,
    /// (dev, ino) of multiply-linked non-directories → their first path.
    links: HashMap<(u64, u64), Vec<u8>>,
}

impl<W: std::io::Write> Walker<W> {
    /// Emits the prefix directory (if any) and the whole tree.
    fn walk(&mut self, root: &Path, prefix: Vec<u8>, epoch: i64) -> Result<(), LayerError> {
        if !prefix.is_empty() {
            // The prefix directory itself (and, through the emitter, its parents).
            let dir = Meta {
                path: prefix.clone(),
                kind: Kind::Dir,
                mode: 0o755,
                uid: 0,
                gid: 0,
                mtime: epoch,
                capability: None,
            };
            self.emitter.emit(&dir, &mut io::empty(), Origin::Stream)?;
        }
        let mut rel = prefix;
        let mut abs = root.to_path_buf();
        self.walk_dir(&mut abs, &mut rel)
    }

    /// Emits the children of `abs` (whose logical path is `rel`), recursing
    /// into subdirectories. `abs` and `rel` are restored on return.
    fn walk_dir(&mut self, abs: &mut PathBuf, rel: &mut Vec<u8>) -> Result<(), LayerError> {
        let mut names: Vec<std::ffi::OsString> = Vec::new();
        for entry in fs::read_dir(&*abs).map_err(LayerError::read_tree(&*abs))? {
            names.push(entry.map_err(LayerError::read_tree(&*abs))?.file_name());
        }
        names.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for name in names {
            let rel_len = rel.len();
            if !rel.is_empty() {
                rel.push(b'/');
            }
            rel.extend_from_slice(name.as_bytes());
            abs.push(&name);
            let is_dir = self.visit(abs, rel, name.as_bytes());
            abs.pop();
            let is_dir = is_dir?;
            if is_dir {
                abs.push(&name);
                let r = self.walk_dir(abs, rel);
                abs.pop();
                r?;
            }
            rel.truncate(rel_len);
        }
        Ok(())
    }

    /// Emits one entry; returns whether it is a directory to descend into.
    fn visit(&mut self, abs: &Path, rel: &[u8], name: &[u8]) -> Result<bool, LayerError> {
        if name.starts_with(WHITEOUT_PREFIX) {
            return Err(LayerError::ReservedName { path: abs.to_path_buf() });
        }
        let md = fs::symlink_metadata(abs).map_err(LayerError::read_tree(abs))?;
        let ft = md.file_type();
        let mut meta = Meta {
            path: rel.to_vec(),
            kind: Kind::Fifo,
            mode: md.mode(),
            uid: md.uid().into(),
            gid: md.gid().into(),
            mtime: md.mtime(),
            capability: None,
        };
        let mut opaque = false;
        if ft.is_socket() {
            return Ok(false);
        }
        // Only files can carry a capability; only directories (opaque,
        // redirect) and files (metacopy) carry overlay xattrs that matter.
        if ft.is_file() || (ft.is_dir() && self.overlay) {
            self.read_xattrs(abs, &ft, &mut meta, &mut opaque)?;
        }
        // overlayfs (Linux ≥ 5.8) hard-links its whiteouts to one shared
        // inode: they are whiteouts, never hard links of each other.
        let whiteout = self.overlay && ft.is_char_device() && md.rdev() == 0;
        if !ft.is_dir() && !whiteout && md.nlink() > 1 {
            let id = (md.dev(), md.ino());
            if let Some(first) = self.links.get(&id) {
                meta.kind = Kind::HardLink { target: first.clone() };
                meta.capability = None;
                self.emitter.emit(&meta, &mut io::empty(), Origin::Tree(abs))?;
                return Ok(false);
            }
            self.links.insert(id, rel.to_vec());
        }
        if ft.is_file() {
            meta.kind = Kind::File { size: md.len() };
            self.emit_file(abs, &md, &meta)?;
            return Ok(false);
        }
        meta.kind = if ft.is_dir() {
            Kind::Dir
        } else if ft.is_symlink() {
            let target = fs::read_link(abs).map_err(LayerError::read_tree(abs))?;
            Kind::Symlink { target: target.into_os_string().into_vec() }
        } else if ft.is_char_device() {
            let (major, minor) = dev_numbers(md.rdev());
            if self.overlay && major == 0 && minor == 0 { Kind::Whiteout } else { Kind::CharDevice { major, minor } }
        } else if ft.is_block_device() {
            let (major, minor) = dev_numbers(md.rdev());
            Kind::BlockDevice { major, minor }
        } else {
            Kind::Fifo
        };
        self.emitter.emit(&meta, &mut io::empty(), Origin::Tree(abs))?;
        if opaque {
            let marker = Meta { kind: Kind::Opaque, capability: None, ..meta };
            self.emitter.emit(&marker, &mut io::empty(), Origin::Tree(abs))?;
        }
        Ok(ft.is_dir())
    }

    /// Reads the xattrs that matter: `security.capability`, and in overlay
    /// mode the overlay's own (opaque is honoured, redirect and metacopy refused).
    fn read_xattrs(&self, abs: &Path, ft: &fs::FileType, meta: &mut Meta, opaque: &mut bool) -> Result<(), LayerError> {
        let names = match xattr::list(abs) {
            Ok(names) => names,
            // Filesystems without xattr support have nothing to keep.
            Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => return Ok(()),
            Err(e) => {
                return Err(LayerError::ReadTree { path: abs.to_path_buf(), source: e });
            }
        };
        for name in names {
            let n = name.as_bytes();
            if n == b"security.capability" && ft.is_file() {
                meta.capability = xattr::get(abs, &name).map_err(LayerError::read_tree(abs))?;
            } else if self.overlay
                && let Some(what) = n.strip_prefix(b"trusted.overlay.").or_else(|| n.strip_prefix(b"user.overlay."))
            {
                match what {
                    b"opaque" if ft.is_dir() => {
                        let v = xattr::get(abs, &name).map_err(LayerError::read_tree(abs))?;
                        *opaque = v.as_deref() == Some(b"y");
                    }
                    b"redirect" | b"metacopy" => {
                        return Err(LayerError::OverlayFeature {
                            path: abs.to_path_buf(),
                            xattr: name.to_string_lossy().into_owned(),
                        });
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    fn emit_file(&mut self, abs: &Path, md: &Metadata, meta: &Meta) -> Result<(), LayerError> {
        let mut file = File::options()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NOCTTY)
            .open(abs)
            .map_err(LayerError::read_tree(abs))?;
        let now = file.metadata().map_err(LayerError::read_tree(abs))?;
        if now.ino() != md.ino() || now.dev() != md.dev() {
            return Err(LayerError::FileChanged { path: abs.to_path_buf(), expected: md.len() });
        }
        self.emitter.emit(meta, &mut file, Origin::Tree(abs))?;
        // A file that grew while being read would make the layer describe a
        // state the tree never was in.
        let mut probe = [0u8; 1];
        if file.read(&mut probe).map_err(LayerError::read_tree(abs))? != 0 {
            return Err(LayerError::FileChanged { path: abs.to_path_buf(), expected: md.len() });
        }
        Ok(())
    }
}

fn dev_numbers(rdev: u64) -> (u32, u32) {
    (libc::major(rdev) as u32, libc::minor(rdev) as u32)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::layer::testutil::{Tree, have_root, listing, names};

    const EPOCH: i64 = 1_700_000_000;

    fn opts(compression: Compression) -> WriteOptions {
        WriteOptions { ids: IdMode::Root, ..WriteOptions::new(compression, EPOCH) }
    }

    fn layer(root: &Path, o: &WriteOptions) -> (Vec<u8>, LayerInfo) {
        let mut out = Vec::new();
        let info = write_layer(root, o, &mut out).unwrap();
        (out, info)
    }

    /// The tree of the pinned digest test: every kind of entry an unprivileged
    /// test can make, with explicit modes and times.
    fn pinned_tree(root: &Path) {
        let long = format!("share/{}/{}", "d".repeat(60), "long-name-".repeat(8));
        Tree(root)
            .dir("bin", 0o755)
            .file("bin/hello", b"#!/bin/sh\necho hello\n", 0o755)
            .hardlink("bin/hello-again", "bin/hello")
            .file("bin/su", b"not really su\n", 0o4755)
            .dir("etc", 0o755)
            .file("etc/config", b"key=value\n", 0o644)
            .file("etc/empty", b"", 0o600)
            .symlink("etc/link", "config")
            .dir("share", 0o755)
            .dir(&format!("share/{}", "d".repeat(60)), 0o755)
            .file(&long, b"a name longer than 100 bytes\n", 0o644)
            .dir("tmp", 0o1777)
            .touch_all(EPOCH as u64 + 1000);
        // One entry older than SOURCE_DATE_EPOCH keeps its own mtime.
        let old = std::fs::File::open(root.join("etc/config")).unwrap();
        old.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000)).unwrap();
    }

    /// DESIGN.md §5: a dependency that silently changes the tar format or a
    /// compressor must fail here, not show up as a cache that stops hitting.
    #[test]
    fn pinned_digests_of_a_known_tree() {
        let dir = tempfile::tempdir().unwrap();
        pinned_tree(dir.path());
        let (tar, none) = layer(dir.path(), &opts(Compression::None));
        let (_, gzip) = layer(dir.path(), &opts(Compression::Gzip));
        let (_, zstd) = layer(dir.path(), &opts(Compression::Zstd));
        // The same tar stream under each compressor.
        assert_eq!(none.diff_id, none.digest);
        assert_eq!(gzip.diff_id, none.diff_id);
        assert_eq!(zstd.diff_id, none.diff_id);
        let got = [none.diff_id.to_string(), gzip.digest.to_string(), zstd.digest.to_string()];
        assert_eq!(
            got,
            [
                "sha256:fb1e2a537b5aa39531daba96eab0c36af8ea4a33a6978684aa118639a96df2cd",
                "sha256:9d8c83166aad31b48000d2eae4c4c0398d3fe2316ed999d3015833650448254a",
                "sha256:f16a241abd77a96981a8543eab8310daa7301c963cbb7feb54fe3a6d96fb7d9b",
            ],
            "layer bytes changed; listing:\n{}",
            listing(&tar).join("\n")
        );
    }

    #[test]
    fn entries_come_in_strata_order_without_a_root_entry() {
        let dir = tempfile::tempdir().unwrap();
        // Created in an order unrelated to the result.
        Tree(dir.path())
            .file("a-c", b"", 0o644)
            .dir("b", 0o755)
            .dir("a", 0o755)
            .file("a/z", b"", 0o644)
            .file("a.d", b"", 0o644)
            .dir("a/b", 0o755)
            .file("a/b/c", b"", 0o644)
            .file("B", b"", 0o644);
        let (tar, _) = layer(dir.path(), &opts(Compression::None));
        assert_eq!(names(&tar), ["B", "a/", "a/b/", "a/b/c", "a/z", "a-c", "a.d", "b/"]);
    }

    #[test]
    fn headers_are_normalised() {
        let dir = tempfile::tempdir().unwrap();
        pinned_tree(dir.path());
        let (tar, _) = layer(dir.path(), &opts(Compression::None));
        let long = format!("share/{}/{}", "d".repeat(60), "long-name-".repeat(8));
        let expected = vec![
            "bin/ 5 755 0:0 1700000000 0".to_string(),
            "bin/hello 0 755 0:0 1700000000 21 \"#!/bin/sh\\necho hello\\n\"".into(),
            "bin/hello-again 1 755 0:0 1700000000 0 -> bin/hello".into(),
            "bin/su 0 4755 0:0 1700000000 14 \"not really su\\n\"".into(),
            "etc/ 5 755 0:0 1700000000 0".into(),
            // Older than the epoch: keeps its mtime.
            "etc/config 0 644 0:0 1600000000 10 \"key=value\\n\"".into(),
            "etc/empty 0 600 0:0 1700000000 0".into(),
            "etc/link 2 777 0:0 1700000000 0 -> config".into(),
            "share/ 5 755 0:0 1700000000 0".into(),
            format!("share/{}/ 5 755 0:0 1700000000 0", "d".repeat(60)),
            format!("{long} 0 644 0:0 1700000000 29 \"a name longer than 100 b\""),
            "tmp/ 5 1777 0:0 1700000000 0".into(),
        ];
        assert_eq!(listing(&tar), expected);

        // Raw bytes: PAX for the long name, never GNU; ustar magic; no names.
        let mut types = Vec::new();
        let mut at = 0;
        while at + 512 <= tar.len() && tar[at..at + 512].iter().any(|&b| b != 0) {
            let h = tar::Header::from_byte_slice(&tar[at..at + 512]);
            assert_eq!(&h.as_bytes()[257..265], b"ustar\x0000", "ustar magic and version");
            assert_eq!(h.username_bytes(), Some(&b""[..]));
            assert_eq!(h.groupname_bytes(), Some(&b""[..]));
            types.push(h.entry_type().as_byte() as char);
            at += 512 + (h.entry_size().unwrap() as usize).next_multiple_of(512);
        }
        assert!(!types.contains(&'L') && !types.contains(&'K'), "no GNU long names: {types:?}");
        assert_eq!(types.iter().filter(|&&t| t == 'x').count(), 1, "one PAX header, for the long name");
        // The stream ends with two zero blocks.
        assert_eq!(tar.len(), at + 1024);
    }

    #[test]
    fn same_tree_gives_same_bytes_whatever_the_creation_order_and_later_mtimes() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        pinned_tree(a.path());
        // Same content, created in reverse, with different mtimes above the epoch.
        Tree(b.path())
            .dir("tmp", 0o1777)
            .dir("share", 0o755)
            .dir(&format!("share/{}", "d".repeat(60)), 0o755)
            .file(
                &format!("share/{}/{}", "d".repeat(60), "long-name-".repeat(8)),
                b"a name longer than 100 bytes\n",
                0o644,
            )
            .dir("etc", 0o755)
            .symlink("etc/link", "config")
            .file("etc/empty", b"", 0o600)
            .file("etc/config", b"key=value\n", 0o644)
            .dir("bin", 0o755)
            .file("bin/su", b"not really su\n", 0o4755)
            .file("bin/hello", b"#!/bin/sh\necho hello\n", 0o755)
            .hardlink("bin/hello-again", "bin/hello")
            .touch_all(EPOCH as u64 + 999_999);
        let old = std::fs::File::open(b.path().join("etc/config")).unwrap();
        old.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000)).unwrap();
        for c in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let (bytes_a, info_a) = layer(a.path(), &opts(c));
            let (bytes_b, info_b) = layer(b.path(), &opts(c));
            assert_eq!(info_a, info_b, "{c:?}");
            assert_eq!(bytes_a, bytes_b);
            // And again: no hidden state between runs.
            assert_eq!(layer(a.path(), &opts(c)).1, info_a);
        }
    }

    #[test]
    fn write_tree_reports_the_uncompressed_stream() {
        let dir = tempfile::tempdir().unwrap();
        pinned_tree(dir.path());
        let (tar, _) = layer(dir.path(), &opts(Compression::None));
        let written = write_tree(dir.path(), &opts(Compression::Zstd), Vec::new()).unwrap();
        assert_eq!(written.diff_id, crate::digest::sha256(&tar));
        assert_eq!(written.uncompressed_size, tar.len() as u64);
        assert_eq!(zstd::decode_all(&written.out[..]).unwrap(), tar);
    }

    /// A writer that fails stops the walk (no hang, no partial success).
    #[test]
    fn a_failing_writer_fails_the_write() {
        #[derive(Debug)]
        struct Full(usize);
        impl std::io::Write for Full {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                if self.0 < buf.len() {
                    return Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"));
                }
                self.0 -= buf.len();
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let dir = tempfile::tempdir().unwrap();
        for i in 0..64 {
            Tree(dir.path()).file(&format!("f{i}"), &vec![i as u8; 100_000], 0o644);
        }
        let err = write_tree(dir.path(), &opts(Compression::None), Full(1_000_000)).unwrap_err();
        assert!(matches!(&err, LayerError::WriteStream(e) if e.kind() == io::ErrorKind::StorageFull), "{err}");
    }

    #[test]
    fn a_prefix_lands_the_tree_below_root_owned_parents() {
        let dir = tempfile::tempdir().unwrap();
        Tree(dir.path()).file("main.c", b"int main;\n", 0o640);
        let o =
            WriteOptions { prefix: Some("/root/parts/a/src".into()), ids: IdMode::AsFound, ..opts(Compression::None) };
        let (tar, _) = layer(dir.path(), &o);
        let uid = fs::metadata(dir.path().join("main.c")).unwrap().uid();
        let gid = fs::metadata(dir.path().join("main.c")).unwrap().gid();
        let mtime = fs::metadata(dir.path().join("main.c")).unwrap().mtime().min(EPOCH);
        assert_eq!(
            listing(&tar),
            [
                "root/ 5 755 0:0 1700000000 0".to_string(),
                "root/parts/ 5 755 0:0 1700000000 0".into(),
                "root/parts/a/ 5 755 0:0 1700000000 0".into(),
                "root/parts/a/src/ 5 755 0:0 1700000000 0".into(),
                format!("root/parts/a/src/main.c 0 640 {uid}:{gid} {mtime} 10 \"int main;\\n\""),
            ]
        );
    }

    #[test]
    fn symlinks_are_stored_not_followed_and_fifos_kept() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        Tree(outside.path()).file("secret", b"do not pack", 0o644);
        Tree(dir.path()).symlink("escape", outside.path().to_str().unwrap()).symlink("dangling", "nowhere");
        let fifo = std::ffi::CString::new(dir.path().join("pipe").as_os_str().as_bytes()).unwrap();
        // SAFETY: valid path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o620) }, 0);
        fs::set_permissions(dir.path().join("pipe"), fs::Permissions::from_mode(0o620)).unwrap();
        let (tar, _) = layer(dir.path(), &opts(Compression::None));
        let l = listing(&tar);
        assert_eq!(names(&tar), ["dangling", "escape", "pipe"]);
        assert!(l[1].ends_with(&format!("-> {}", outside.path().display())), "{l:?}");
        assert!(l[2].starts_with("pipe 6 620 "), "{l:?}");
    }

    #[test]
    fn whiteout_names_cannot_be_packed() {
        let dir = tempfile::tempdir().unwrap();
        Tree(dir.path()).dir("etc", 0o755).file("etc/.wh.passwd", b"", 0o644);
        let err = write_tree(dir.path(), &opts(Compression::None), Vec::new()).unwrap_err();
        assert!(matches!(err, LayerError::ReservedName { .. }));
        assert!(err.to_string().contains("etc/.wh.passwd"), "{err}");
    }

    #[test]
    fn the_root_must_be_a_real_directory() {
        let dir = tempfile::tempdir().unwrap();
        Tree(dir.path()).dir("real", 0o755).symlink("link", "real");
        let err = write_tree(&dir.path().join("link"), &opts(Compression::None), Vec::new()).unwrap_err();
        assert!(matches!(err, LayerError::RootNotADirectory { .. }), "{err}");
    }

    #[test]
    fn file_capabilities_are_the_only_xattr_kept() {
        if !have_root("setting security.capability") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        Tree(dir.path()).file("ping", b"\x7fELF", 0o755).file("plain", b"", 0o644);
        // cap_net_raw+ep, VFS_CAP_REVISION_2.
        let cap = [0x01, 0, 0, 0x02, 0x00, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        xattr::set(dir.path().join("ping"), "security.capability", &cap).unwrap();
        xattr::set(dir.path().join("ping"), "user.comment", b"dropped").unwrap();
        let (tar, _) = layer(dir.path(), &opts(Compression::None));
        let l = listing(&tar);
        assert!(l[0].contains("SCHILY.xattr.security.capability=[01, 00, 00, 02, 00, 20,"), "{l:?}");
        assert!(!l.iter().any(|e| e.contains("user.comment")));
        assert!(!l[1].contains("SCHILY"));
    }

    #[test]
    fn an_overlay_upper_dir_becomes_whiteouts() {
        if !have_root("mknod and trusted.* xattrs") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        Tree(dir.path())
            .dir("etc", 0o755)
            .file("etc/new", b"n", 0o644)
            .dir("var", 0o755)
            .dir("var/cache", 0o700)
            .file("var/cache/+x", b"", 0o644)
            .file("var/cache/.keep", b"", 0o644);
        let node = std::ffi::CString::new(dir.path().join("etc/old").as_os_str().as_bytes()).unwrap();
        // SAFETY: valid path; a 0/0 char device is how overlayfs stores a whiteout.
        assert_eq!(unsafe { libc::mknod(node.as_ptr(), libc::S_IFCHR, libc::makedev(0, 0)) }, 0);
        // overlayfs shares one inode between whiteouts.
        fs::hard_link(dir.path().join("etc/old"), dir.path().join("etc/older")).unwrap();
        xattr::set(dir.path().join("var/cache"), "trusted.overlay.opaque", b"y").unwrap();
        xattr::set(dir.path().join("var"), "trusted.overlay.origin", b"ignored").unwrap();
        Tree(dir.path()).touch_all(EPOCH as u64 + 5);
        let o = WriteOptions { whiteouts: WhiteoutSource::Overlay, ..opts(Compression::None) };
        let (tar, _) = layer(dir.path(), &o);
        assert_eq!(
            listing(&tar),
            [
                "etc/ 5 755 0:0 1700000000 0",
                "etc/new 0 644 0:0 1700000000 1 \"n\"",
                "etc/.wh.old 0 600 0:0 1700000000 0",
                "etc/.wh.older 0 600 0:0 1700000000 0",
                "var/ 5 755 0:0 1700000000 0",
                "var/cache/ 5 700 0:0 1700000000 0",
                // The opaque marker comes first in its directory, before `+x`
                // and `.keep`, which sort before `.wh..wh..opq` bytewise.
                "var/cache/.wh..wh..opq 0 600 0:0 1700000000 0",
                "var/cache/+x 0 644 0:0 1700000000 0",
                "var/cache/.keep 0 644 0:0 1700000000 0",
            ]
        );
        // As a plain tree, the same device is just a device.
        let (tar, _) = layer(dir.path(), &opts(Compression::None));
        assert!(listing(&tar).contains(&"etc/old 3 0 0:0 1700000000 0".to_string()));
    }

    #[test]
    fn overlay_redirects_are_refused() {
        if !have_root("trusted.* xattrs") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        Tree(dir.path()).dir("moved", 0o755);
        xattr::set(dir.path().join("moved"), "trusted.overlay.redirect", b"/orig").unwrap();
        let o = WriteOptions { whiteouts: WhiteoutSource::Overlay, ..opts(Compression::None) };
        let err = write_tree(dir.path(), &o, Vec::new()).unwrap_err();
        assert!(matches!(err, LayerError::OverlayFeature { .. }), "{err}");
        assert!(err.to_string().contains("moved") && err.to_string().contains("redirect_dir=off"), "{err}");
    }
}
