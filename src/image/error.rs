//! Errors of the image module.

use oci_spec::image::Digest;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ImageError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("{digest} is not a valid {what}: {reason}")]
    Invalid { digest: Digest, what: &'static str, reason: String },
    #[error("{digest} has media type {media_type}, which is not an image manifest or index")]
    NotAnImage { digest: Digest, media_type: String },
    #[error("image index {digest} has no manifest for platform {platform} (it has: {available})")]
    NoSuchPlatform { digest: Digest, platform: String, available: String },
    #[error("invalid platform '{0}': expected os/arch[/variant], e.g. linux/amd64")]
    BadPlatform(String),
    #[error("invalid SOURCE_DATE_EPOCH '{0}': expected whole seconds since 1970")]
    BadEpoch(String),
    #[error("building image json: {0}")]
    Build(#[from] oci_spec::OciSpecError),
}
