//! Bringing images into the store: oci-archive, OCI directory,
//! docker-archive, a Docker/Podman daemon, or a root-filesystem tarball.
//!
//! Every blob copied in is verified against its digest on the way
//! ([`Store::put_verified`], or a [`BlobWriter`] committed with the digest
//! its name promises), and checked against its descriptor's size. A corrupt
//! or truncated source is refused with an error naming the blob or entry;
//! the store never holds a half-written blob, and refs are set by the
//! caller only after [`import`] succeeds, so a failed import leaves at most
//! unreferenced, intact blobs for `strata store gc`.
//!
//! - `source`: [`ImportSource`], parsed from skopeo's transport syntax.
//! - `spool`: one pass over an archive tar, blobs into the store.
//! - `layout`: choosing an image in an `index.json`; checking its blobs.
//! - `oci_archive`, `oci_dir`, `docker_archive`, `daemon`, `rootfs`: one
//!   file per source.
//!
//! Digests are kept: an OCI manifest or index is imported as the same blob
//! (an index whole, all platforms); a docker archive keeps its config (the
//! Docker image ID) and layer bytes, and its manifest too when it carries an
//! OCI layout (Docker ≥ 25).
//!
//! [`BlobWriter`]: crate::store::BlobWriter

mod daemon;
mod docker_archive;
mod error;
mod layout;
mod oci_archive;
mod oci_dir;
mod rootfs;
mod source;
mod spool;

use oci_spec::image::Descriptor;

pub use error::ImportError;
pub use source::ImportSource;

use crate::image::{DEFAULT_SOURCE_DATE_EPOCH, ImageSettings, Platform};
use crate::layer::Compression;
use crate::store::Store;

/// How to import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOptions {
    /// Which image to take where a source offers several platforms and no
    /// index to keep whole (docker archives and daemons; an OCI `index.json`
    /// listing one name per platform).
    pub platform: Platform,
    /// Layer compression, for `rootfs:` (other sources keep their layers' bytes).
    pub compression: Compression,
    /// The epoch of `rootfs:` images: tar mtimes are clamped to it and the
    /// config's `created` is it.
    pub source_date_epoch: i64,
    /// Config settings of `rootfs:` images.
    pub settings: ImageSettings,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            platform: Platform::host(),
            compression: Compression::default(),
            source_date_epoch: DEFAULT_SOURCE_DATE_EPOCH,
            settings: ImageSettings::default(),
        }
    }
}

/// Imports `src` into `store`; returns the descriptor of the imported
/// manifest (or index). The caller names it with [`Store::set_ref`].
pub fn import(store: &Store, src: &ImportSource, opts: &ImportOptions) -> Result<Descriptor, ImportError> {
    match src {
        ImportSource::OciArchive { path, reference } => oci_archive::import(store, path, reference.as_deref(), opts),
        ImportSource::OciDir { path, reference } => oci_dir::import(store, path, reference.as_deref(), opts),
        ImportSource::DockerArchive { path, reference } => {
            docker_archive::import(store, path, reference.as_deref(), opts)
        }
        ImportSource::DockerDaemon { image, host } => daemon::import(store, image, host.as_deref(), opts),
        ImportSource::RootfsTar { path } => rootfs::import(store, path, opts),
    }
}

#[cfg(test)]
mod tests;
