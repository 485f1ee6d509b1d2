//! Assembling an image: a base (or nothing), new layers on top, settings
//! applied to the config, every timestamp from `SOURCE_DATE_EPOCH`. The
//! config and manifest are written as canonical JSON, so the same inputs
//! always give the same manifest digest.

use std::collections::{BTreeMap, HashMap};

use oci_spec::image::{
    Config, ConfigBuilder, Descriptor, HistoryBuilder, ImageConfiguration, ImageConfigurationBuilder,
    ImageManifestBuilder, MediaType, RootFsBuilder,
};

use super::{Image, ImageError, ImageSettings, Platform, rfc3339};
use crate::layer::LayerInfo;
use crate::store::Store;

/// A layer to put on top of the image, and the history line describing it.
#[derive(Debug, Clone)]
pub struct NewLayer {
    pub info: LayerInfo,
    /// What made the layer, as `docker history` shows it.
    pub created_by: String,
    pub comment: Option<String>,
}

/// Builds an image manifest and config into a store.
#[derive(Debug, Clone)]
pub struct ImageBuilder {
    base: Option<Image>,
    base_name: Option<String>,
    platform: Platform,
    layers: Vec<NewLayer>,
    settings: ImageSettings,
    annotations: BTreeMap<String, String>,
    epoch: i64,
}

impl ImageBuilder {
    /// An image from scratch (no base), for the host platform.
    pub fn scratch(epoch: i64) -> Self {
        ImageBuilder {
            base: None,
            base_name: None,
            platform: Platform::host(),
            layers: Vec::new(),
            settings: ImageSettings::default(),
            annotations: BTreeMap::new(),
            epoch,
        }
    }

    /// An image on top of `base`, inheriting its platform, config and history.
    pub fn from_base(base: Image, base_name: Option<String>, epoch: i64) -> Self {
        let platform = Platform {
            os: base.config.os().to_string(),
            architecture: base.config.architecture().to_string(),
            variant: base.config.variant().clone(),
        };
        ImageBuilder { base: Some(base), base_name, platform, ..Self::scratch(epoch) }
    }

    pub fn platform(mut self, p: Platform) -> Self {
        self.platform = p;
        self
    }

    pub fn layer(mut self, l: NewLayer) -> Self {
        self.layers.push(l);
        self
    }

    pub fn settings(mut self, s: ImageSettings) -> Self {
        self.settings = s;
        self
    }

    pub fn annotation(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.annotations.insert(key.into(), value.into());
        self
    }

    /// Writes config and manifest to `store`; returns the manifest descriptor
    /// (with its platform, ready to go into an index).
    pub fn build(self, store: &Store) -> Result<Descriptor, ImageError> {
        let created = rfc3339(self.epoch);
        let (mut base_layers, mut diff_ids, mut history, mut config) = match &self.base {
            Some(b) => (
                b.manifest.layers().clone(),
                b.config.rootfs().diff_ids().clone(),
                b.config.history().clone().unwrap_or_default(),
                b.config.config().clone().unwrap_or_default(),
            ),
            None => (Vec::new(), Vec::new(), Vec::new(), default_config()),
        };
        self.settings.apply(&mut config);
        for l in &self.layers {
            base_layers.push(Descriptor::new(l.info.media_type(), l.info.size, l.info.digest.clone()));
            diff_ids.push(l.info.diff_id.to_string());
            let mut h = HistoryBuilder::default().created(created.clone()).created_by(l.created_by.clone());
            if let Some(c) = &l.comment {
                h = h.comment(c.clone());
            }
            history.push(h.build()?);
        }
        if self.layers.is_empty() && self.settings != ImageSettings::default() {
            history.push(
                HistoryBuilder::default()
                    .created(created.clone())
                    .created_by("strata: image settings")
                    .empty_layer(true)
                    .build()?,
            );
        }
        let mut cfg: ImageConfiguration = ImageConfigurationBuilder::default()
            .created(created.clone())
            .architecture(self.platform.arch())
            .os(self.platform.os())
            .config(config)
            .rootfs(RootFsBuilder::default().typ("layers").diff_ids(diff_ids).build()?)
            .history(history)
            .build()?;
        cfg.set_variant(self.platform.variant.clone());
        let config_desc = store.put_json(MediaType::ImageConfig, &cfg)?;

        let mut annotations: HashMap<String, String> = self.annotations.into_iter().collect();
        annotations.entry("org.opencontainers.image.created".into()).or_insert(created);
        if let Some(b) = &self.base {
            annotations.insert("org.opencontainers.image.base.digest".into(), b.digest().to_string());
            if let Some(n) = &self.base_name {
                annotations.insert("org.opencontainers.image.base.name".into(), n.clone());
            }
        }
        let manifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(config_desc)
            .layers(base_layers)
            .annotations(annotations)
            .build()?;
        let mut desc = store.put_json(MediaType::ImageManifest, &manifest)?;
        let mut p = oci_spec::image::PlatformBuilder::default()
            .os(self.platform.os())
            .architecture(self.platform.arch())
            .build()?;
        p.set_variant(self.platform.variant.clone());
        desc.set_platform(Some(p));
        Ok(desc)
    }
}

/// The config of an image with no base: a PATH, as Docker gives `FROM scratch`
/// images at run time anyway, written down so every runtime agrees.
fn default_config() -> Config {
    ConfigBuilder::default()
        .env(vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_owned()])
        .build()
        .expect("config has no required fields")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::{Compression, LayerInfo};

    fn fake_layer(store: &Store, bytes: &[u8]) -> NewLayer {
        let d = store.put_bytes(MediaType::ImageLayer, bytes).unwrap();
        NewLayer {
            info: LayerInfo {
                digest: d.digest().clone(),
                diff_id: d.digest().clone(),
                size: d.size(),
                compression: Compression::None,
            },
            created_by: "test".into(),
            comment: None,
        }
    }

    #[test]
    fn the_same_inputs_give_the_same_manifest_digest_in_two_stores() {
        let digests: Vec<_> = (0..2)
            .map(|_| {
                let dir = tempfile::tempdir().unwrap();
                let s = Store::open(dir.path()).unwrap();
                let l = fake_layer(&s, b"tar bytes");
                let settings = ImageSettings {
                    env: vec!["A=1".into()],
                    labels: [("b".into(), "2".into()), ("a".into(), "1".into())].into(),
                    exposed_ports: vec!["80".into(), "443".into()],
                    ..Default::default()
                };
                ImageBuilder::scratch(1_700_000_000).layer(l).settings(settings).build(&s).unwrap().digest().clone()
            })
            .collect();
        assert_eq!(digests[0], digests[1]);
    }

    #[test]
    fn an_image_on_a_base_keeps_the_base_layers_and_history() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let base_desc = ImageBuilder::scratch(0).layer(fake_layer(&s, b"base")).build(&s).unwrap();
        let base = Image::load(&s, &base_desc, &Platform::host()).unwrap();
        let top = ImageBuilder::from_base(base, Some("base:latest".into()), 0)
            .layer(fake_layer(&s, b"top"))
            .build(&s)
            .unwrap();
        let img = Image::load(&s, &top, &Platform::host()).unwrap();
        assert_eq!(img.manifest.layers().len(), 2);
        assert_eq!(img.config.history().as_ref().unwrap().len(), 2);
        assert_eq!(img.config.created().as_deref(), Some("1970-01-01T00:00:00Z"));
        let ann = img.manifest.annotations().as_ref().unwrap();
        assert_eq!(ann["org.opencontainers.image.base.name"], "base:latest");
    }
}
