//! The layer module's error type.
//!
//! Every variant names what it is about: a path on disk (`path`), an entry of
//! a tar stream (`entry`, as it appears in the archive, before normalisation)
//! or both. Messages are lowercase and, where the fix is on the caller's side,
//! say what to do.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum LayerError {
    /// Reading the tree being packed failed.
    #[error("cannot read {path}: {source}")]
    ReadTree { path: PathBuf, source: io::Error },

    /// The root given to the writer is not a directory (symlinks are not followed).
    #[error("{path} is not a directory (the root of a layer must be a real directory)")]
    RootNotADirectory { path: PathBuf },

    /// A file changed size while it was being packed: the layer would not
    /// describe any state the tree was ever in.
    #[error("{path} changed while it was being packed (expected {expected} bytes)")]
    FileChanged { path: PathBuf, expected: u64 },

    /// A name starting with `.wh.` would be read back as a whiteout.
    #[error("{path}: names starting with '.wh.' are reserved for whiteouts and cannot be stored in a layer")]
    ReservedName { path: PathBuf },

    /// The overlay upper dir uses a feature whose meaning depends on the
    /// lower dirs, which a layer cannot carry.
    #[error(
        "{path} carries the overlay xattr {xattr}; mount the overlay with redirect_dir=off and metacopy=off to capture changes as a layer"
    )]
    OverlayFeature { path: PathBuf, xattr: String },

    /// A value does not fit a PAX tar header (device numbers above 2^21-1).
    #[error("{path}: {what} cannot be represented in a pax tar header")]
    Unrepresentable { path: String, what: &'static str },

    /// Writing the layer stream (tar, compressor or the caller's writer) failed.
    #[error("cannot write the layer stream: {0}")]
    WriteStream(#[source] io::Error),

    /// The layer stream is not a readable (gzip/zstd-compressed) tar.
    #[error("malformed layer stream: {0}")]
    Malformed(#[source] io::Error),

    /// An entry with an absolute path.
    #[error("layer entry {entry:?} has an absolute path; refusing to unpack it")]
    AbsolutePath { entry: String },

    /// An entry whose path has a `..` component.
    #[error("layer entry {entry:?} has a '..' component; refusing to unpack it")]
    ParentComponent { entry: String },

    /// An entry that would be written through a symlink leading out of the target.
    #[error("layer entry {entry:?} would be written through symlink {link} which leads outside {target}")]
    SymlinkEscape { entry: String, link: PathBuf, target: PathBuf },

    /// A hard link whose target leaves the layer's root.
    #[error("layer entry {entry:?} is a hard link to {link_target:?} which is outside {target}")]
    HardLinkEscape { entry: String, link_target: String, target: PathBuf },

    /// A hard link whose target does not exist (or is a directory).
    #[error("layer entry {entry:?} is a hard link to {link_target:?} which does not exist in {target}")]
    HardLinkMissing { entry: String, link_target: String, target: PathBuf },

    /// A parent of an entry exists and is not a directory.
    #[error("layer entry {entry:?}: {path} is not a directory")]
    NotADirectory { entry: String, path: PathBuf },

    /// Symlinks loop (or nest deeper than 40 levels) while resolving a parent.
    #[error("layer entry {entry:?}: too many levels of symlinks under {target}")]
    SymlinkLoop { entry: String, target: PathBuf },

    /// A tar entry type strata does not handle (sockets, GNU volume headers, ...).
    #[error("layer entry {entry:?} has unsupported type {kind:?}")]
    UnsupportedEntry { entry: String, kind: char },

    /// Unpacking one entry into the target failed.
    #[error("cannot unpack layer entry {entry:?} into {target}: {source}")]
    Unpack { entry: String, target: PathBuf, source: io::Error },

    /// An input declared to be in strata's order is not.
    #[error(
        "layer {layer}: entry {entry:?} comes after {previous:?}, which is not strata's order; pass the layer as InputOrder::Unsorted"
    )]
    OutOfOrder { layer: usize, entry: String, previous: String },

    /// An entry sits under a path that the merged layer has as a non-directory.
    #[error("layer entry {entry:?} is under {parent:?}, which is not a directory in the result")]
    ParentNotADirectory { entry: String, parent: String },

    /// Two paths of a squashed result land on one through a move (a prime's
    /// `bin/X` and `usr/bin/X` over a base with `bin -> usr/bin`) and are not
    /// the same entry.
    #[error(
        "conflicting paths pointing to '{path}': '{first}' (layer {first_layer}) and '{second}' (layer {second_layer}) differ, and {through} makes them one; keep one of them, or make them identical"
    )]
    PathConflict {
        /// Where both would go.
        path: String,
        first: String,
        first_layer: usize,
        second: String,
        second_layer: usize,
        /// The move that joins them (`bin -> usr/bin`).
        through: String,
    },

    /// A [`Relocation`](super::relocate::Relocation) whose moves nest or chain.
    #[error("invalid relocation: {why}")]
    InvalidRelocation { why: String },

    /// Temporary spool files (for unsorted inputs and dropped hard-link targets).
    #[error("cannot use a temporary spool file: {0}")]
    Spool(#[source] io::Error),

    /// Committing a layer blob to the store failed ([`super::write_blob`]).
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl LayerError {
    pub(crate) fn read_tree(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> LayerError {
        let path = path.into();
        move |source| LayerError::ReadTree { path, source }
    }
}
