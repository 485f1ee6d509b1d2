//! Sending images out of the store: oci-archive, OCI directory,
//! docker-archive, and `docker load` into Docker or Podman.
//!
//! One image keeps its digests in every format that can carry them: the
//! manifest (or index) blob is copied byte for byte, never re-serialized, so
//! `skopeo inspect` of an export shows the digest `strata` printed. Archives
//! are deterministic (see `archive`): exporting the same image twice gives
//! identical bytes.
//!
//! - `target`: [`ExportTarget`] parsed from skopeo's or BuildKit's syntax.
//! - `name`: image names in full (`docker.io/library/busybox:latest`) and
//!   familiar (`busybox:latest`) form, for the annotations and `RepoTags`.
//! - `layout`: the blobs an image needs, its `index.json` entry.
//! - `archive`: the deterministic tar writer.
//! - `oci_archive`, `oci_dir`, `docker_archive`: one file per format.
//! - `daemon`: daemon sockets, connection errors, `docker load`.
//!
//! Multi-platform indexes go whole into oci-archive and OCI directories;
//! docker archives and daemons take the host platform's manifest.

mod archive;
mod daemon;
mod docker_archive;
mod error;
mod layout;
mod name;
mod oci_archive;
mod oci_dir;
mod target;

use oci_spec::image::{Descriptor, Digest};

pub use daemon::{DaemonEndpoint, DaemonError};
pub use error::ExportError;
pub use name::ImageName;
pub use target::{DaemonKind, ExportTarget};

pub(crate) use daemon::runtime as daemon_runtime;

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportReport {
    /// Where it went (for a daemon, the resolved socket address).
    pub target: ExportTarget,
    /// The manifest (or index) digest the target holds.
    pub digest: Digest,
    /// The config digest, for single-image formats: Docker's image ID.
    pub config: Option<Digest>,
    /// How many blobs were written.
    pub blobs: usize,
    /// Bytes written (the archive size; for an OCI dir, only new blobs).
    pub bytes: u64,
    /// The image ID the daemon reported, for daemon loads.
    pub image_id: Option<String>,
}

impl std::fmt::Display for ExportReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exported {} to {}", self.digest, self.target)?;
        if let Some(c) = &self.config {
            write!(f, " (config {c})")?;
        }
        write!(f, ": {} blobs, {} bytes", self.blobs, self.bytes)?;
        if let Some(id) = &self.image_id {
            write!(f, "; the daemon reports image ID {id}")?;
        }
        Ok(())
    }
}

/// Exports the image `desc` (a manifest or an index in `store`) under `name`
/// (`busybox:latest`; `:latest` is added when there is no tag) to `target`.
pub fn export(
    store: &Store,
    desc: &Descriptor,
    name: &str,
    target: &ExportTarget,
) -> Result<ExportReport, ExportError> {
    let name = ImageName::parse(name)?;
    match target {
        ExportTarget::OciArchive(p) => oci_archive::write(store, desc, &name, p),
        ExportTarget::OciDir(p) => oci_dir::write(store, desc, &name, p),
        ExportTarget::DockerArchive(p) => docker_archive::write(store, desc, &name, p),
        ExportTarget::Daemon { kind, host } => daemon::load(store, desc, &name, *kind, host.as_deref()),
    }
}

use crate::store::Store;

#[cfg(test)]
pub(crate) mod tests;
