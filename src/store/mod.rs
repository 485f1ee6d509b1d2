//! The local content-addressed store: an OCI image layout plus the temp
//! dir and locks every writer shares.
//!
//! ```text
//! <root>/oci-layout            {"imageLayoutVersion":"1.0.0"}
//! <root>/index.json            named refs (annotation org.opencontainers.image.ref.name)
//! <root>/blobs/sha256/<hex>    every blob, named by its digest
//! <root>/strata/tmp/           anything being written (blobs: temp file → verify → rename)
//! <root>/strata/locks/         inter-process locks (see `lock`)
//! <root>/strata/<other>/       the store's tenants' own dirs, unknown here
//! ```
//!
//! Because the top level is a plain OCI layout, `skopeo inspect oci:<root>:NAME`
//! and `umoci` read the store directly.
//!
//! The store is a leaf: it knows blobs, descriptors and refs, and imports
//! none of its tenants (the step cache, snapshots, the download cache keep
//! their own dirs under `strata/`). Garbage collection is composed above it
//! in `crate::gc`, which asks each tenant for its roots and uses the
//! mark, sweep and temp cleanup offered here.
//!
//! - `blob`: [`BlobWriter`] — hash while writing, verify, rename atomically.
//! - `refs`: names → descriptors in `index.json`.
//! - `lock`: the index lock and the gc lock shared between processes.
//! - `walk`: what a descriptor references (index → manifests → config, layers).
//! - `fsck`: verification.
//! - `sweep`: [`Store::mark`], and under the [`Exclusive`] gc lock
//!   [`Exclusive::sweep`] and [`Exclusive::clean_temp`].

mod blob;
mod error;
mod fsck;
mod lock;
mod refs;
mod sweep;
mod walk;

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, Digest, MediaType};

pub use blob::BlobWriter;
pub use error::StoreError;
pub use fsck::{FsckProblem, FsckReport};
pub use refs::normalize_ref;
pub use sweep::{Exclusive, Marks, SweepReport, TempReport, remove_all};
pub use walk::{children, children_of_json, may_be_absent};

use crate::digest::{self, HashingReader};

/// The environment variable that overrides the default store location.
pub const STORE_ENV: &str = "STRATA_STORE";

/// An open store. Cheap to clone the path out of; one per process is typical.
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    /// Held shared for the life of the store so `gc` in another process waits
    /// for us: blobs we have written but not yet referenced are safe.
    gc_guard: lock::GcGuard,
}

impl Store {
    /// The default store root: `$STRATA_STORE`, else `$XDG_DATA_HOME/strata`,
    /// else `~/.local/share/strata`.
    pub fn default_root() -> PathBuf {
        if let Some(p) = std::env::var_os(STORE_ENV).filter(|p| !p.is_empty()) {
            return PathBuf::from(p);
        }
        if let Some(p) = std::env::var_os("XDG_DATA_HOME").filter(|p| !p.is_empty()) {
            return PathBuf::from(p).join("strata");
        }
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| "/root".into());
        home.join(".local/share/strata")
    }

    /// Opens the store at `root`, creating an empty OCI layout if needed.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store, StoreError> {
        let root = root.into();
        let io_err = |path: &Path, e: io::Error| StoreError::Io { path: path.to_owned(), source: e };
        for dir in ["blobs/sha256", "strata/tmp", "strata/locks"] {
            let d = root.join(dir);
            fs::create_dir_all(&d).map_err(|e| io_err(&d, e))?;
        }
        let layout = root.join("oci-layout");
        if !layout.exists() {
            write_atomic(&root.join("strata/tmp"), &layout, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        let index = root.join("index.json");
        if !index.exists() {
            let _l = lock::IndexLock::acquire(&root)?;
            if !index.exists() {
                refs::write_index(&root, &[])?;
            }
        }
        let gc_guard = lock::GcGuard::shared(&root)?;
        Ok(Store { root, gc_guard })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a blob lives (whether or not it is present).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs").join(digest.algorithm().as_ref()).join(digest.digest())
    }

    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Opens a blob for streaming. The caller verifies if it needs to (see
    /// [`Store::read_blob`] and [`Store::verify_blob`]).
    pub fn open_blob(&self, digest: &Digest) -> Result<File, StoreError> {
        let p = self.blob_path(digest);
        File::open(&p).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::BlobMissing { digest: digest.clone() },
            _ => StoreError::Io { path: p, source: e },
        })
    }

    /// Reads a whole (small) blob and checks its digest.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let mut buf = Vec::new();
        let p = self.blob_path(digest);
        self.open_blob(digest)?.read_to_end(&mut buf).map_err(|e| StoreError::Io { path: p, source: e })?;
        let found = digest::sha256(&buf);
        if &found != digest {
            return Err(StoreError::DigestMismatch { expected: digest.clone(), found });
        }
        Ok(buf)
    }

    /// Reads and parses a JSON blob (manifest, index, config), verified.
    pub fn read_json<T: serde::de::DeserializeOwned>(&self, digest: &Digest) -> Result<T, StoreError> {
        let bytes = self.read_blob(digest)?;
        serde_json::from_slice(&bytes).map_err(|e| StoreError::BadJson { digest: digest.clone(), source: e })
    }

    /// Streams a blob through sha256 and compares with its name.
    pub fn verify_blob(&self, digest: &Digest) -> Result<u64, StoreError> {
        let p = self.blob_path(digest);
        let mut r = HashingReader::new(self.open_blob(digest)?);
        io::copy(&mut r, &mut io::sink()).map_err(|e| StoreError::Io { path: p, source: e })?;
        let (_, found, size) = r.finish();
        if &found != digest {
            return Err(StoreError::DigestMismatch { expected: digest.clone(), found });
        }
        Ok(size)
    }

    /// Starts writing a new blob; see [`BlobWriter::commit`].
    pub fn blob_writer(&self) -> Result<BlobWriter, StoreError> {
        BlobWriter::new(self)
    }

    /// Stores `bytes` as a blob and returns its descriptor.
    pub fn put_bytes(&self, media_type: MediaType, bytes: &[u8]) -> Result<Descriptor, StoreError> {
        let mut w = self.blob_writer()?;
        io::Write::write_all(&mut w, bytes)
            .map_err(|e| StoreError::Io { path: w.temp_path().to_owned(), source: e })?;
        let (digest, size) = w.commit(None)?;
        Ok(Descriptor::new(media_type, size, digest))
    }

    /// Stores `value` as canonical JSON and returns its descriptor.
    pub fn put_json<T: serde::Serialize>(&self, media_type: MediaType, value: &T) -> Result<Descriptor, StoreError> {
        let bytes = crate::json::to_vec(value).map_err(StoreError::Serialize)?;
        self.put_bytes(media_type, &bytes)
    }

    /// Copies a blob in from a reader, verifying it against `expected`.
    /// Nothing is left in the store if the bytes do not match.
    pub fn put_verified<R: Read>(&self, mut r: R, expected: &Digest) -> Result<u64, StoreError> {
        if self.has_blob(expected) {
            return Ok(fs::metadata(self.blob_path(expected)).map(|m| m.len()).unwrap_or(0));
        }
        let mut w = self.blob_writer()?;
        io::copy(&mut r, &mut w).map_err(|e| StoreError::Io { path: w.temp_path().to_owned(), source: e })?;
        Ok(w.commit(Some(expected))?.1)
    }

    /// Resolves a ref name (`busybox`, `debian:bookworm`) to its descriptor.
    /// A name pinned by digest (`NAME@sha256:…`) that is no ref resolves to
    /// the manifest or index blob itself when the store has it: the digest
    /// says all there is to say (how a package's members are named).
    pub fn resolve(&self, name: &str) -> Result<Descriptor, StoreError> {
        match refs::resolve(&self.root, name) {
            Err(StoreError::RefNotFound { name: n }) => {
                let pinned = name.rsplit_once('@').and_then(|(_, d)| d.parse::<oci_spec::image::Digest>().ok());
                match pinned.filter(|d| self.has_blob(d)) {
                    Some(d) => self.document(&d).ok_or(StoreError::RefNotFound { name: n }),
                    None => Err(StoreError::RefNotFound { name: n }),
                }
            }
            r => r,
        }
    }

    /// The descriptor of the manifest or index blob `digest`; `None` for
    /// any other blob.
    fn document(&self, digest: &oci_spec::image::Digest) -> Option<Descriptor> {
        let bytes = self.read_blob(digest).ok()?;
        let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        let media_type = match v.get("mediaType").and_then(|m| m.as_str()) {
            Some(mt) => MediaType::from(mt),
            None if v.get("manifests").is_some() => MediaType::ImageIndex,
            None if v.get("config").is_some() => MediaType::ImageManifest,
            None => return None,
        };
        let is_document = matches!(media_type, MediaType::ImageIndex | MediaType::ImageManifest)
            || media_type.to_string().contains("manifest");
        is_document.then(|| Descriptor::new(media_type, bytes.len() as u64, digest.clone()))
    }

    /// Points `name` at `desc`, replacing what it pointed at before.
    pub fn set_ref(&self, name: &str, desc: &Descriptor) -> Result<(), StoreError> {
        refs::set(&self.root, name, desc)
    }

    /// Removes the ref `name`; its blobs stay until `gc`.
    pub fn remove_ref(&self, name: &str) -> Result<Descriptor, StoreError> {
        refs::remove(&self.root, name)
    }

    /// Every named ref, sorted by name.
    pub fn refs(&self) -> Result<Vec<(String, Descriptor)>, StoreError> {
        refs::list(&self.root)
    }

    /// Verifies every blob and every ref; see [`FsckReport`].
    pub fn fsck(&self) -> Result<FsckReport, StoreError> {
        fsck::run(self)
    }

    /// `desc` and every blob it reaches (an image: manifest, config, layers).
    pub fn closure(&self, desc: &Descriptor) -> Vec<Descriptor> {
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut stack = vec![desc.clone()];
        while let Some(d) = stack.pop() {
            if !seen.insert(d.digest().clone()) {
                continue;
            }
            if self.has_blob(d.digest()) {
                stack.extend(walk::children(self, &d).unwrap_or_default());
            }
            out.push(d);
        }
        out
    }

    /// `strata/tmp/`: where every writer stages what it renames into place,
    /// on the store's filesystem. Emptied by gc.
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("strata/tmp")
    }
}

/// Writes `bytes` to `dest` through a temp file in `tmp_dir` and a rename.
pub(crate) fn write_atomic(tmp_dir: &Path, dest: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    use std::io::Write;
    let io_err = |e: io::Error| StoreError::Io { path: dest.to_owned(), source: e };
    let mut t = tempfile::NamedTempFile::new_in(tmp_dir).map_err(io_err)?;
    t.write_all(bytes).map_err(io_err)?;
    t.as_file().sync_all().map_err(io_err)?;
    t.persist(dest).map_err(|e| io_err(e.error))?;
    Ok(())
}
