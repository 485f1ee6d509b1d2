//! Layers: deterministic tar writing, safe unpacking, filtering and squashing.
//!
//! This module owns the bytes of every layer strata produces. The rules of
//! DESIGN.md §5 live here and nowhere else: PAX tar, entries sorted by path
//! bytes, mtimes clamped to `SOURCE_DATE_EPOCH`, numeric ids, no names, no
//! atime/ctime, symlinks never followed, hard links kept within a layer,
//! `security.capability` as the only xattr, one pinned compressor per format.
//!
//! - [`Compression`]: none, gzip (flate2 + zlib-rs, level pinned), zstd (one
//!   worker pinned) and how each maps to an OCI media type.
//! - `writer`: a directory tree (or an overlay upper dir) → a layer stream,
//!   computing the diff_id in the same pass.
//! - `reader`: a layer stream → a directory, refusing anything that escapes.
//! - `filter` / `squash`: tar-level operations used by stage and prime.

use oci_spec::image::{Digest, MediaType};

/// How a layer's tar stream is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    #[default]
    Gzip,
    Zstd,
}

impl Compression {
    /// The OCI media type of a layer compressed this way.
    pub fn media_type(self) -> MediaType {
        match self {
            Compression::None => MediaType::ImageLayer,
            Compression::Gzip => MediaType::ImageLayerGzip,
            Compression::Zstd => MediaType::ImageLayerZstd,
        }
    }

    /// The compression a layer media type announces (OCI and Docker names).
    pub fn from_media_type(mt: &MediaType) -> Option<Compression> {
        match mt {
            MediaType::ImageLayer | MediaType::ImageLayerNonDistributable => Some(Compression::None),
            MediaType::ImageLayerGzip | MediaType::ImageLayerNonDistributableGzip => {
                Some(Compression::Gzip)
            }
            MediaType::ImageLayerZstd | MediaType::ImageLayerNonDistributableZstd => {
                Some(Compression::Zstd)
            }
            MediaType::Other(s) => match s.as_str() {
                "application/vnd.docker.image.rootfs.diff.tar.gzip"
                | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => Some(Compression::Gzip),
                "application/vnd.docker.image.rootfs.diff.tar" => Some(Compression::None),
                _ => None,
            },
            _ => None,
        }
    }

    /// Guesses the compression of a stream from its first bytes.
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

impl std::str::FromStr for Compression {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" | "uncompressed" => Ok(Compression::None),
            "gzip" | "gz" => Ok(Compression::Gzip),
            "zstd" | "zst" => Ok(Compression::Zstd),
            other => Err(format!("unknown compression '{other}' (expected none, gzip or zstd)")),
        }
    }
}

/// What the store needs to know of a layer blob once written.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LayerInfo {
    /// Digest of the (compressed) blob.
    pub digest: Digest,
    /// Digest of the uncompressed tar stream.
    pub diff_id: Digest,
    /// Size in bytes of the (compressed) blob.
    pub size: u64,
    pub compression: Compression,
}

impl LayerInfo {
    pub fn media_type(&self) -> MediaType {
        self.compression.media_type()
    }
}
