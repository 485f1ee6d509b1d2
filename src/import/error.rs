//! Errors of the importers. Each names the file (and entry or digest) it is
//! about, so a refused archive says what is wrong with which blob.

use std::path::PathBuf;

use oci_spec::image::Digest;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ImportError {
    #[error("invalid import source '{input}': {reason}")]
    BadSource { input: String, reason: String },
    #[error("no name for the image imported from '{source_ref}': give one with --tag NAME")]
    NoName { source_ref: String },
    #[error("import i/o on {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a readable tar archive: {source}")]
    BadTar { path: PathBuf, source: std::io::Error },
    #[error("{path} is truncated: entry {entry} has {found} of its {expected} bytes")]
    Truncated { path: PathBuf, entry: String, expected: u64, found: u64 },
    #[error("blob {expected} in {path} is corrupt: its content hashes to {found}")]
    CorruptBlob { path: PathBuf, expected: Digest, found: Digest },
    #[error("blob {digest} in {path} has {found} bytes, its descriptor says {expected}")]
    WrongSize { path: PathBuf, digest: Digest, expected: u64, found: u64 },
    #[error("{path} lacks blob {digest} (needed by {needed_by}); the archive is incomplete or truncated")]
    MissingBlob { path: PathBuf, digest: Digest, needed_by: String },
    #[error("{path} lacks {entry}, named in {needed_by}; the archive is incomplete or truncated")]
    MissingEntry { path: PathBuf, entry: String, needed_by: String },
    #[error("{path} has no {file}, so it is not {what}")]
    MissingFile { path: PathBuf, file: String, what: &'static str },
    #[error("{path}: {file} is invalid: {reason}")]
    BadFile { path: PathBuf, file: String, reason: String },
    #[error("{path} has no image named '{reference}' (it has: {available})")]
    NoSuchImage { path: PathBuf, reference: String, available: String },
    #[error("{path} holds {count} images ({available}); name one, e.g. {example}")]
    Ambiguous { path: PathBuf, count: usize, available: String, example: String },
    #[error("{path}: layer {layer} has diff_id {found}, but the image config says {expected}")]
    DiffIdMismatch { path: PathBuf, layer: String, expected: String, found: Digest },
    #[error("{path}: unsupported digest {digest} (strata verifies sha256 only)")]
    UnsupportedDigest { path: PathBuf, digest: String },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Image(#[from] crate::image::ImageError),
    #[error("cannot import root filesystem tarball {path}: {source}")]
    Rootfs { path: PathBuf, source: crate::layer::LayerError },
    /// Boxed, as in [`ExportError`](crate::export::ExportError).
    #[error(transparent)]
    Daemon(Box<crate::export::DaemonError>),
}

impl From<crate::export::DaemonError> for ImportError {
    fn from(e: crate::export::DaemonError) -> Self {
        ImportError::Daemon(Box::new(e))
    }
}
