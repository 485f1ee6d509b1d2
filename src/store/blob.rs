//! Writing blobs: temp file, hash while writing, verify, rename atomically.
//!
//! A blob is never visible under `blobs/` until its bytes are complete and its
//! digest is known, so a crash or Ctrl-C at any point leaves at worst a stray
//! temp file (removed by `gc`), never a corrupt blob.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use oci_spec::image::Digest;
use tempfile::NamedTempFile;

use super::{Store, StoreError};
use crate::digest::HashingWriter;

/// An in-progress blob. Dropping it without [`BlobWriter::commit`] discards it.
pub struct BlobWriter {
    inner: HashingWriter<io::BufWriter<NamedTempFile>>,
    blobs: std::path::PathBuf,
}

impl BlobWriter {
    pub(super) fn new(store: &Store) -> Result<Self, StoreError> {
        let tmp = store.tmp_dir();
        let f = tempfile::Builder::new()
            .prefix("blob-")
            .tempfile_in(&tmp)
            .map_err(|e| StoreError::Io { path: tmp, source: e })?;
        Ok(BlobWriter {
            inner: HashingWriter::new(io::BufWriter::with_capacity(256 * 1024, f)),
            blobs: store.root().join("blobs/sha256"),
        })
    }

    pub fn temp_path(&self) -> &Path {
        self.inner.get_ref().get_ref().path()
    }

    /// Bytes written so far.
    pub fn count(&self) -> u64 {
        self.inner.count()
    }

    /// Finishes the blob: flushes, syncs, checks the digest against `expected`
    /// (if given) and renames it into place. Returns its digest and size. If a
    /// blob with that digest is already present the new copy is discarded.
    pub fn commit(self, expected: Option<&Digest>) -> Result<(Digest, u64), StoreError> {
        let (buf, digest, size) = self.inner.finish();
        let tmp = buf.into_inner().map_err(|e| {
            let (source, w) = e.into_parts();
            StoreError::Io { path: w.get_ref().path().to_owned(), source }
        })?;
        if let Some(expected) = expected
            && expected != &digest
        {
            return Err(StoreError::DigestMismatch { expected: expected.clone(), found: digest });
        }
        let dest = self.blobs.join(digest.digest());
        if dest.is_file() {
            return Ok((digest, size));
        }
        let io_err = |e: io::Error| StoreError::Io { path: dest.clone(), source: e };
        tmp.as_file().sync_all().map_err(io_err)?;
        // Blobs are immutable: read-only for everyone.
        set_readonly(tmp.as_file()).map_err(io_err)?;
        tmp.persist(&dest).map_err(|e| io_err(e.error))?;
        Ok((digest, size))
    }
}

fn set_readonly(f: &File) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(std::fs::Permissions::from_mode(0o444))
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blob_appears_only_after_a_verified_commit() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let wrong = crate::digest::sha256(b"something else");
        let mut w = store.blob_writer().unwrap();
        w.write_all(b"hello").unwrap();
        let err = w.commit(Some(&wrong)).unwrap_err();
        assert!(matches!(err, StoreError::DigestMismatch { .. }), "{err}");
        assert_eq!(std::fs::read_dir(dir.path().join("blobs/sha256")).unwrap().count(), 0);
        assert_eq!(std::fs::read_dir(dir.path().join("strata/tmp")).unwrap().count(), 0);

        let mut w = store.blob_writer().unwrap();
        w.write_all(b"hello").unwrap();
        let (d, n) = w.commit(Some(&crate::digest::sha256(b"hello"))).unwrap();
        assert_eq!(n, 5);
        assert_eq!(store.read_blob(&d).unwrap(), b"hello");
    }
}
