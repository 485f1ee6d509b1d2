//! Errors of the store.

use std::path::PathBuf;

use oci_spec::image::Digest;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("store i/o on {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("blob {digest} is not in the store")]
    BlobMissing { digest: Digest },
    #[error("digest mismatch: expected {expected}, found {found}")]
    DigestMismatch { expected: Digest, found: Digest },
    #[error("blob {digest} is not valid JSON: {source}")]
    BadJson { digest: Digest, source: serde_json::Error },
    #[error("store index {path} is unreadable: {reason}; `strata store fsck` says more")]
    BadIndex { path: PathBuf, reason: String },
    #[error("no image named '{name}' in the store (see `strata image ls`)")]
    RefNotFound { name: String },
    #[error("invalid image name '{name}': {reason}")]
    BadRefName { name: String, reason: String },
    #[error("cannot serialize json: {0}")]
    Serialize(serde_json::Error),
    #[error("unsupported digest algorithm in {digest} (strata computes sha256 only)")]
    UnsupportedDigest { digest: Digest },
}
