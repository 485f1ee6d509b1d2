//! Deterministic tar archives of an image layout: entries sorted by path
//! bytes (parent directories included), every mtime the same, uid/gid 0, no
//! user or group names, mode 0644 for files and 0755 for directories, plain
//! ustar headers. The same entries always give the same archive bytes.
//!
//! Blobs are streamed from the store and hashed on the way; a store blob
//! whose bytes no longer match its name fails the export instead of being
//! copied into the archive.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::path::Path;

use oci_spec::image::Digest;

use super::ExportError;
use crate::digest::{HashingReader, HashingWriter};
use crate::store::Store;

enum Content {
    Dir,
    Bytes(Vec<u8>),
    Blob(Digest),
}

/// The entries of an archive, kept sorted until written.
pub struct ArchiveEntries {
    entries: BTreeMap<String, Content>,
    mtime: u64,
}

impl ArchiveEntries {
    pub fn new(mtime: i64) -> Self {
        ArchiveEntries { entries: BTreeMap::new(), mtime: mtime.max(0) as u64 }
    }

    fn add_parents(&mut self, path: &str) {
        let mut end = 0;
        while let Some(i) = path[end..].find('/') {
            end += i + 1;
            self.entries.entry(path[..end].to_owned()).or_insert(Content::Dir);
        }
    }

    /// A small file from memory (`index.json`, `manifest.json`, …).
    pub fn bytes(&mut self, path: &str, bytes: Vec<u8>) {
        self.add_parents(path);
        self.entries.insert(path.to_owned(), Content::Bytes(bytes));
    }

    /// A store blob at `blobs/<alg>/<hex>`.
    pub fn blob(&mut self, digest: &Digest) {
        let path = blob_path(digest);
        self.add_parents(&path);
        self.entries.insert(path, Content::Blob(digest.clone()));
    }

    /// Writes the archive to `out`; returns `out` and the byte count.
    pub fn write<W: Write>(self, store: &Store, out: W) -> Result<(W, u64), ExportError> {
        let mut tar = tar::Builder::new(HashingWriter::new(out));
        let io_err = |path: &str, e: io::Error| ExportError::Io { path: path.into(), source: e };
        for (path, content) in self.entries {
            let mut h = tar::Header::new_ustar();
            h.set_mtime(self.mtime);
            h.set_uid(0);
            h.set_gid(0);
            match content {
                Content::Dir => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_mode(0o755);
                    h.set_size(0);
                    h.set_path(&path).map_err(|e| io_err(&path, e))?;
                    h.set_cksum();
                    tar.append(&h, io::empty()).map_err(|e| io_err(&path, e))?;
                }
                Content::Bytes(b) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_mode(0o644);
                    h.set_size(b.len() as u64);
                    h.set_path(&path).map_err(|e| io_err(&path, e))?;
                    h.set_cksum();
                    tar.append(&h, &b[..]).map_err(|e| io_err(&path, e))?;
                }
                Content::Blob(d) => {
                    let f = store.open_blob(&d)?;
                    let blob_path = store.blob_path(&d);
                    let size = f.metadata().map_err(|e| ExportError::Io { path: blob_path.clone(), source: e })?.len();
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_mode(0o644);
                    h.set_size(size);
                    h.set_path(&path).map_err(|e| io_err(&path, e))?;
                    h.set_cksum();
                    // `take` guards the archive against a blob that grows
                    // while we copy it; the digest check catches the rest.
                    let mut r = HashingReader::new(f.take(size));
                    tar.append(&h, &mut r).map_err(|e| io_err(&path, e))?;
                    let (_, found, n) = r.finish();
                    if n != size {
                        return Err(ExportError::WrongSize { digest: d, expected: size, found: n });
                    }
                    if found != d {
                        return Err(ExportError::CorruptBlob { expected: d, found });
                    }
                }
            }
        }
        let hw = tar.into_inner().map_err(|e| io_err("<archive end>", e))?;
        let (out, _, n) = hw.finish();
        Ok((out, n))
    }

    /// Writes the archive to `dest` atomically: a temp file beside it, then
    /// a rename, so `dest` is either the old file or the complete new one.
    pub fn write_file(self, store: &Store, dest: &Path) -> Result<u64, ExportError> {
        let io_err = |e: io::Error| ExportError::Io { path: dest.to_owned(), source: e };
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => std::path::PathBuf::from("."),
        };
        let tmp = tempfile::Builder::new().prefix(".strata-export-").tempfile_in(&dir).map_err(io_err)?;
        let (buf, n) = self.write(store, io::BufWriter::with_capacity(256 * 1024, tmp))?;
        let tmp = buf.into_inner().map_err(|e| io_err(e.into_error()))?;
        tmp.as_file().sync_all().map_err(io_err)?;
        // NamedTempFile is 0600; an exported archive is an ordinary file.
        set_mode(tmp.as_file(), 0o644).map_err(io_err)?;
        tmp.persist(dest).map_err(|e| io_err(e.error))?;
        Ok(n)
    }
}

fn set_mode(f: &std::fs::File, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(std::fs::Permissions::from_mode(mode))
}

/// `blobs/sha256/<hex>`: where an OCI layout keeps a blob.
pub fn blob_path(d: &Digest) -> String {
    format!("blobs/{}/{}", d.algorithm().as_ref(), d.digest())
}
