//! `docker-archive:PATH[:REF]`: `docker save` output, in both shapes.
//!
//! - Legacy (Docker < 25, Podman, skopeo): `manifest.json` names a config
//!   file (`<id>.json`) and layer files (`<id>/layer.tar`), in any order in
//!   the tar, sometimes as symlinks to one another.
//! - Docker ≥ 25: the same `manifest.json`, pointing into an OCI layout
//!   (`index.json`, `blobs/sha256/…`) in the same tar.
//!
//! Everything is spooled into the store in one pass. If the archive carries
//! an OCI manifest for the chosen image (same config) with all its blobs,
//! that manifest is imported as is, keeping its digest. Otherwise an OCI
//! manifest is written for the config and layers `manifest.json` names.
//! Either way the layer bytes are kept exactly as they are in the archive:
//! an uncompressed layer gets media type `…layer.v1.tar` and digest =
//! diff_id; each layer's diff_id is checked against the config's; and the
//! config blob is kept byte for byte, so the Docker image ID (the config
//! digest) survives the trip.

use std::io;
use std::path::Path;

use oci_spec::image::{Descriptor, Digest, ImageConfiguration, ImageManifestBuilder, MediaType, PlatformBuilder};
use serde::Deserialize;

use super::spool::{self, Flavor, Spooled};
use super::{ImportError, ImportOptions, layout};
use crate::digest::HashingReader;
use crate::export::ImageName;
use crate::image::Platform;
use crate::layer::Compression;
use crate::store::Store;

/// One entry of `manifest.json`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ManifestItem {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    #[serde(default)]
    layers: Vec<String>,
}

pub fn import(
    store: &Store,
    path: &Path,
    reference: Option<&str>,
    opts: &ImportOptions,
) -> Result<Descriptor, ImportError> {
    let spooled = spool::spool(store, path, Flavor::Docker)?;
    let bytes = spooled.metadata.get("manifest.json").ok_or_else(|| ImportError::MissingFile {
        path: path.to_owned(),
        file: "manifest.json".into(),
        what: "a docker archive (`docker save` output; archives from Docker < 1.10 are not supported)",
    })?;
    let items: Vec<ManifestItem> = serde_json::from_slice(bytes).map_err(|e| ImportError::BadFile {
        path: path.to_owned(),
        file: "manifest.json".into(),
        reason: e.to_string(),
    })?;
    let item = select(&items, reference, path)?;
    let (config, config_size) = spooled.resolve(path, &item.config, "manifest.json")?;

    if let Some(index) = spooled.metadata.get("index.json") {
        let index = layout::parse_index(index, path)?;
        if let Some(desc) = oci_manifest_for(store, index.manifests(), &config, &opts.platform, 0)
            && layout::ingest(store, &desc, path, None).is_ok()
        {
            return Ok(desc);
        }
    }
    synthesize(store, path, &spooled, item, config, config_size)
}

/// The `manifest.json` entry `reference` names (a tag, in full or familiar
/// form, or an image ID prefix), or the only one.
fn select<'a>(
    items: &'a [ManifestItem],
    reference: Option<&str>,
    path: &Path,
) -> Result<&'a ManifestItem, ImportError> {
    let tags = |i: &ManifestItem| i.repo_tags.clone().unwrap_or_default();
    let available = || {
        let v: Vec<String> = items
            .iter()
            .map(|i| {
                let t = tags(i);
                if t.is_empty() { format!("untagged {}", i.config) } else { t.join(" ") }
            })
            .collect();
        if v.is_empty() { "nothing".to_owned() } else { v.join(", ") }
    };
    let matching: Vec<&ManifestItem> = match reference {
        None => items.iter().collect(),
        Some(r) => {
            let full = |s: &str| ImageName::parse(s).ok().map(|n| n.full());
            let wanted = full(r);
            let id = r.strip_prefix("sha256:").unwrap_or(r);
            let is_id = id.len() >= 12 && id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
            items
                .iter()
                .filter(|i| {
                    tags(i).iter().any(|t| t == r || (wanted.is_some() && full(t) == wanted))
                        || (is_id && config_hex(&i.config).is_some_and(|h| h.starts_with(id)))
                })
                .collect()
        }
    };
    match matching[..] {
        [one] => Ok(one),
        [] => Err(ImportError::NoSuchImage {
            path: path.to_owned(),
            reference: reference.unwrap_or("").to_owned(),
            available: available(),
        }),
        _ => Err(ImportError::Ambiguous {
            path: path.to_owned(),
            count: matching.len(),
            available: available(),
            example: format!(
                "docker-archive:{}:{}",
                path.display(),
                matching.iter().find_map(|i| tags(i).into_iter().next()).unwrap_or_else(|| "NAME:TAG".into())
            ),
        }),
    }
}

/// The hex of a config path (`<hex>.json` or `blobs/sha256/<hex>`).
fn config_hex(p: &str) -> Option<&str> {
    let name = p.rsplit('/').next()?;
    Some(name.strip_suffix(".json").unwrap_or(name))
}

/// In the archive's OCI part, the manifest whose config is `config`
/// (looking into nested indexes, preferring `platform`), if its blobs are in
/// the store.
fn oci_manifest_for(
    store: &Store,
    entries: &[Descriptor],
    config: &Digest,
    platform: &Platform,
    depth: usize,
) -> Option<Descriptor> {
    if depth > 4 {
        return None;
    }
    let mut ordered: Vec<&Descriptor> = entries.iter().collect();
    ordered.sort_by_key(|d| !d.platform().as_ref().is_some_and(|p| platform.matches(p)));
    for d in ordered {
        if !store.has_blob(d.digest()) {
            continue;
        }
        let Ok(v) = store.read_json::<serde_json::Value>(d.digest()) else {
            continue;
        };
        if let Some(kids) = v.get("manifests") {
            let kids: Vec<Descriptor> = serde_json::from_value(kids.clone()).ok()?;
            if let Some(m) = oci_manifest_for(store, &kids, config, platform, depth + 1) {
                return Some(m);
            }
        } else if v.pointer("/config/digest").and_then(|c| c.as_str()) == Some(config.as_ref()) {
            let mut m = Descriptor::new(d.media_type().clone(), d.size(), d.digest().clone());
            m.set_platform(d.platform().clone());
            return Some(m);
        }
    }
    None
}

/// Writes an OCI manifest for the config and layers `item` names.
fn synthesize(
    store: &Store,
    path: &Path,
    spooled: &Spooled,
    item: &ManifestItem,
    config: Digest,
    config_size: u64,
) -> Result<Descriptor, ImportError> {
    let cfg: ImageConfiguration = serde_json::from_slice(&store.read_blob(&config)?).map_err(|e| {
        ImportError::BadFile { path: path.to_owned(), file: item.config.clone(), reason: e.to_string() }
    })?;
    let diff_ids = cfg.rootfs().diff_ids();
    if diff_ids.len() != item.layers.len() {
        return Err(ImportError::BadFile {
            path: path.to_owned(),
            file: "manifest.json".into(),
            reason: format!(
                "{} layers, but config {} lists {} diff_ids",
                item.layers.len(),
                item.config,
                diff_ids.len()
            ),
        });
    }
    let mut layers = Vec::new();
    for (entry, want) in item.layers.iter().zip(diff_ids) {
        let (digest, size) = spooled.resolve(path, entry, "manifest.json")?;
        let (compression, diff_id) = diff_id(store, &digest)?;
        if diff_id.as_ref() != want.as_str() {
            return Err(ImportError::DiffIdMismatch {
                path: path.to_owned(),
                layer: entry.clone(),
                expected: want.clone(),
                found: diff_id,
            });
        }
        layers.push(Descriptor::new(compression.media_type(), size, digest));
    }
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(Descriptor::new(MediaType::ImageConfig, config_size, config))
        .layers(layers)
        .build()
        .map_err(crate::image::ImageError::from)?;
    let mut desc = store.put_json(MediaType::ImageManifest, &manifest)?;
    let mut p = PlatformBuilder::default()
        .os(cfg.os().clone())
        .architecture(cfg.architecture().clone())
        .build()
        .map_err(crate::image::ImageError::from)?;
    p.set_variant(cfg.variant().clone());
    desc.set_platform(Some(p));
    Ok(desc)
}

/// A stored layer blob's compression and the digest of its uncompressed tar.
fn diff_id(store: &Store, digest: &Digest) -> Result<(Compression, Digest), ImportError> {
    let blob_path = store.blob_path(digest);
    let io_err = |e: io::Error| ImportError::Io { path: blob_path.clone(), source: e };
    let (compression, tar) = crate::layer::decompress(io::BufReader::new(store.open_blob(digest)?)).map_err(io_err)?;
    if compression == Compression::None {
        return Ok((compression, digest.clone()));
    }
    let mut r = HashingReader::new(tar);
    io::copy(&mut r, &mut io::sink()).map_err(io_err)?;
    Ok((compression, r.finish().1))
}
