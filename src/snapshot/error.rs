//! Errors of snapshots, root filesystems and change capture.

use std::path::PathBuf;

use oci_spec::image::Digest;
use thiserror::Error;

use super::SnapshotMode;

#[derive(Debug, Error)]
pub enum SnapshotError {
    #[error("snapshot i/o on {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },

    /// Boxed: keeps every `Result` carrying this error small.
    #[error("layer {} unpacked to diff_id {}, but its descriptor says {}", .0.digest, .0.found, .0.expected)]
    DiffIdMismatch(Box<DiffIdMismatch>),

    #[error("cannot mount the {mode} root filesystem at {}: {reason}", target.display())]
    Mount { mode: SnapshotMode, target: PathBuf, reason: String },

    #[error("the {mode} snapshotter is not available here: {reason}")]
    Unavailable { mode: SnapshotMode, reason: String },

    #[error("unknown snapshotter '{value}' in STRATA_SNAPSHOTTER (expected overlay, fuse-overlayfs or copy)")]
    BadMode { value: String },

    #[error("{path} is outside the root filesystem or crosses a symlink out of it")]
    OutsideRoot { path: String },

    #[error(transparent)]
    Layer(#[from] crate::layer::LayerError),

    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// A layer whose content is not what its diff_id says.
#[derive(Debug)]
pub struct DiffIdMismatch {
    pub digest: Digest,
    pub expected: Digest,
    pub found: Digest,
}

impl SnapshotError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> SnapshotError {
        let path = path.into();
        move |source| SnapshotError::Io { path, source }
    }
}
