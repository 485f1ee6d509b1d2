//! The sources module's error type.
//!
//! Every variant names the part or the archive and the entry it is about;
//! messages are lowercase and, where the fix is the user's, say what to do.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

use crate::layer::LayerError;

#[derive(Debug, Error)]
pub enum SourceError {
    /// A local source that is not a directory of the project.
    #[error("part '{part}': source '{}' is not a directory", path.display())]
    NotADirectory { part: String, path: PathBuf },

    /// An archive or file source given as a path that does not exist.
    #[error("part '{part}': source '{}' not found; make sure the path is relative to the project directory", path.display())]
    NotFound { part: String, path: PathBuf },

    /// A `source-checksum` that is not `<algorithm>/<hex digest>`.
    #[error(
        "part '{part}': invalid source-checksum '{checksum}': {reason}; write <algorithm>/<hex digest> with md5, sha1, sha224, sha256, sha384 or sha512"
    )]
    InvalidChecksum { part: String, checksum: String, reason: String },

    /// The fetched bytes do not have the declared checksum. Nothing was
    /// extracted or kept.
    #[error(
        "part '{part}': checksum mismatch for {location}: expected {algorithm}/{expected}, got {algorithm}/{actual}; make sure source-checksum matches the source"
    )]
    ChecksumMismatch { part: String, location: String, algorithm: &'static str, expected: String, actual: String },

    /// A URL strata cannot download (only http and https).
    #[error(
        "part '{part}': cannot download '{url}': only http and https URLs are supported; give a path relative to the project for local files"
    )]
    UnsupportedScheme { part: String, url: String },

    /// The server answered with an error status.
    #[error("part '{part}': downloading {url} failed: HTTP {status}; check the URL")]
    HttpStatus { part: String, url: String, status: u16 },

    /// The download never got (or lost) its answer.
    #[error("part '{part}': downloading {url} failed: {message}; check the network and the URL, and try again")]
    Network { part: String, url: String, message: String },

    /// A `file` source URL whose path has no file name to store it under.
    #[error("part '{part}': cannot tell a file name from '{location}'; give a URL that ends in the file's name")]
    NoFileName { part: String, location: String },

    /// An archive entry that would land outside the source directory or
    /// could not be stored in a layer.
    #[error("{}: entry {entry:?} {why}; refusing to extract it", archive.display())]
    UnsafeEntry { archive: PathBuf, entry: String, why: &'static str },

    /// An archive entry type strata does not extract.
    #[error("{}: entry {entry:?} has unsupported tar type {kind:?}", archive.display())]
    UnsupportedEntry { archive: PathBuf, entry: String, kind: char },

    /// Writing the extracted tree failed or was refused (a write through a
    /// symlink leading out of the tree, a hard link to a missing file).
    #[error("cannot extract {}: {source}", archive.display())]
    Extract {
        archive: PathBuf,
        #[source]
        source: LayerError,
    },

    /// The archive cannot be read (corrupt, truncated, not the format its
    /// source-type says).
    #[error("cannot read {} as a {format} archive: {message}", archive.display())]
    Malformed { archive: PathBuf, format: &'static str, message: String },

    /// The `git` command failed.
    #[error(
        "part '{part}': `{command}` failed ({status}){}; check the repository and its branch, tag or commit",
        tail_text(stderr)
    )]
    Git { part: String, command: String, status: String, stderr: String },

    /// `git` is not installed on the host.
    #[error("part '{part}': git sources need the git command on the host: {message}; install git")]
    GitMissing { part: String, message: String },

    /// A `source-commit` git cannot resolve.
    #[error("part '{part}': cannot resolve source-commit '{commit}'; {hint}")]
    GitCommit { part: String, commit: String, hint: &'static str },

    /// `source-subdir` is not a directory of the fetched source.
    #[error(
        "part '{part}': source-subdir '{subdir}' is not a directory in the source {location}; check it against the source's layout (a tarball with a single top-level directory has it stripped)"
    )]
    MissingSubdir { part: String, subdir: String, location: String },

    /// The build was cancelled while the source was being fetched.
    #[error("part '{part}': fetching {location} was cancelled")]
    Cancelled { part: String, location: String },

    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn tail_text(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return String::new();
    }
    let tail = &lines[lines.len().saturating_sub(10)..];
    format!(":\n  {}\n", tail.join("\n  "))
}

/// `map_err` helper for I/O on a path.
pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> SourceError {
    let path = path.into();
    move |source| SourceError::Io { path, source }
}
