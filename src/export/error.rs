//! Errors of the exporters.

use std::path::PathBuf;

use oci_spec::image::Digest;
use thiserror::Error;

use super::daemon::DaemonError;

#[derive(Debug, Error)]
pub enum ExportError {
    #[error("invalid export target '{input}': {reason}")]
    BadTarget { input: String, reason: String },
    #[error("invalid image name '{name}': {reason}")]
    BadName { name: String, reason: String },
    #[error("export i/o on {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Image(#[from] crate::image::ImageError),
    #[error("blob {digest} (needed by {needed_by}) is not in the store; pull or rebuild the image")]
    MissingBlob { digest: Digest, needed_by: String },
    #[error("blob {digest} in the store has {found} bytes, its descriptor says {expected}; run `strata store fsck`")]
    WrongSize { digest: Digest, expected: u64, found: u64 },
    #[error("blob {expected} in the store is corrupt (its content hashes to {found}); run `strata store fsck`")]
    CorruptBlob { expected: Digest, found: Digest },
    #[error("{path} exists and is not an OCI image layout (no oci-layout file); choose a new or empty directory")]
    NotALayout { path: PathBuf },
    #[error("{path} is not a valid OCI image layout: {reason}")]
    BadLayout { path: PathBuf, reason: String },
    #[error("layer {digest} is a foreign layer absent from the store; a docker archive cannot carry it")]
    ForeignLayer { digest: Digest },
    #[error("cannot serialize json: {0}")]
    Json(#[from] serde_json::Error),
    /// Boxed: the daemon's errors carry addresses and messages, and would
    /// make every `Result` of this module large.
    #[error(transparent)]
    Daemon(Box<DaemonError>),
}

impl From<DaemonError> for ExportError {
    fn from(e: DaemonError) -> Self {
        ExportError::Daemon(Box::new(e))
    }
}
