//! Reading a stored image back: manifest and config, verified by digest;
//! an index resolves to the manifest for the wanted platform.

use oci_spec::image::{Descriptor, Digest, ImageConfiguration, ImageIndex, ImageManifest, MediaType};

use super::{ImageError, Platform};
use crate::store::Store;

/// A single-platform image in the store.
#[derive(Debug, Clone)]
pub struct Image {
    /// The manifest's descriptor (digest, size, media type).
    pub descriptor: Descriptor,
    pub manifest: ImageManifest,
    pub config: ImageConfiguration,
}

fn is_index(mt: &MediaType) -> bool {
    matches!(mt, MediaType::ImageIndex)
        || matches!(mt, MediaType::Other(s) if s == "application/vnd.docker.distribution.manifest.list.v2+json")
}

fn is_manifest(mt: &MediaType) -> bool {
    matches!(mt, MediaType::ImageManifest)
        || matches!(mt, MediaType::Other(s) if s == "application/vnd.docker.distribution.manifest.v2+json")
}

impl Image {
    /// Loads the image `desc` names. For an index, picks `platform`'s manifest.
    pub fn load(store: &Store, desc: &Descriptor, platform: &Platform) -> Result<Image, ImageError> {
        let invalid = |digest: &Digest, what, e: serde_json::Error| ImageError::Invalid {
            digest: digest.clone(),
            what,
            reason: e.to_string(),
        };
        let mut desc = desc.clone();
        if is_index(desc.media_type()) {
            let bytes = store.read_blob(desc.digest())?;
            let index: ImageIndex =
                serde_json::from_slice(&bytes).map_err(|e| invalid(desc.digest(), "image index", e))?;
            desc = pick_platform(desc.digest(), &index, platform)?;
        }
        if !is_manifest(desc.media_type()) {
            return Err(ImageError::NotAnImage {
                digest: desc.digest().clone(),
                media_type: desc.media_type().to_string(),
            });
        }
        let bytes = store.read_blob(desc.digest())?;
        let manifest: ImageManifest =
            serde_json::from_slice(&bytes).map_err(|e| invalid(desc.digest(), "image manifest", e))?;
        let cd = manifest.config().digest();
        let config: ImageConfiguration =
            serde_json::from_slice(&store.read_blob(cd)?).map_err(|e| invalid(cd, "image config", e))?;
        if config.rootfs().diff_ids().len() != manifest.layers().len() {
            return Err(ImageError::Invalid {
                digest: desc.digest().clone(),
                what: "image",
                reason: format!(
                    "{} layers but {} diff_ids in its config",
                    manifest.layers().len(),
                    config.rootfs().diff_ids().len()
                ),
            });
        }
        // Keep the descriptor lean: what the manifest is, not where it was found.
        let descriptor = Descriptor::new(desc.media_type().clone(), desc.size(), desc.digest().clone());
        Ok(Image { descriptor, manifest, config })
    }

    /// Loads the image a store ref names.
    pub fn load_ref(store: &Store, name: &str, platform: &Platform) -> Result<Image, ImageError> {
        let desc = store.resolve(name)?;
        Image::load(store, &desc, platform)
    }

    /// The manifest digest, the image's identity.
    pub fn digest(&self) -> &Digest {
        self.descriptor.digest()
    }

    /// Layers bottom to top with their diff_ids.
    pub fn layers(&self) -> impl Iterator<Item = (&Descriptor, &str)> {
        self.manifest.layers().iter().zip(self.config.rootfs().diff_ids().iter().map(String::as_str))
    }
}

fn pick_platform(digest: &Digest, index: &ImageIndex, want: &Platform) -> Result<Descriptor, ImageError> {
    let images: Vec<&Descriptor> =
        index.manifests().iter().filter(|d| is_manifest(d.media_type()) || is_index(d.media_type())).collect();
    if let Some(d) = images.iter().find(|d| d.platform().as_ref().is_some_and(|p| want.matches(p))) {
        return Ok((*d).clone());
    }
    // An index of one manifest without platform information (what
    // `skopeo copy` into an OCI layout writes) is that image.
    if let [only] = images[..]
        && only.platform().is_none()
    {
        return Ok(only.clone());
    }
    let available = images
        .iter()
        .filter_map(|d| d.platform().as_ref().map(|p| format!("{}/{}", p.os(), p.architecture())))
        .collect::<Vec<_>>()
        .join(", ");
    Err(ImageError::NoSuchPlatform { digest: digest.clone(), platform: want.to_string(), available })
}
