//! The step cache in a registry: `--cache-to registry://HOST/REPO[:TAG]`
//! exports the records a build used with their blobs, `--cache-from` imports
//! them on demand (BuildKit's `type=registry,ref=...` is accepted too).
//!
//! The export is one OCI artifact (`artifactType`
//! `application/vnd.strata.cache.v1+json`, tag `cache` unless given): its
//! first layer is the cache index, a JSON document
//! `{"format": ..., "records": {"<key hex>": {"record": ..., "blobs": [...]}}}`;
//! the other layers are every blob the records name (layers, and for a
//! cached image its manifest, config and layers), so the registry keeps
//! them. Pushing reuses the registry client: only missing blobs go up.
//!
//! Importing fetches the artifact's manifest and index only. A key missing
//! locally and present in the index has its blobs fetched, verified, and its
//! record written to the local cache; then it is an ordinary hit. A failed
//! fetch is a miss with a note, never a failed build.

use std::collections::{BTreeMap, BTreeSet};

use oci_spec::image::{Descriptor, MediaType};
use serde::{Deserialize, Serialize};

use super::{FORMAT_VERSION, Key, Record};
use crate::registry::{self, ArtifactFile, ArtifactSpec, Reference, RegistryError, RegistryOptions};
use crate::store::Store;

/// The artifact type of an exported cache.
pub const ARTIFACT_TYPE: &str = "application/vnd.strata.cache.v1+json";
/// The media type of its index layer.
pub const INDEX_MEDIA_TYPE: &str = "application/vnd.strata.cache.index.v1+json";
/// The media type the payload blobs are listed under in the artifact (so no
/// client mistakes a cached manifest blob for a document to follow).
const BLOB_MEDIA_TYPE: &str = "application/vnd.strata.cache.blob";

/// One record and the blobs it needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    record: Record,
    blobs: Vec<Descriptor>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Index {
    format: String,
    records: BTreeMap<String, Entry>,
}

/// `registry://HOST/REPO[:TAG]` or `type=registry,ref=HOST/REPO[:TAG]`.
pub fn parse_cache_ref(s: &str) -> Result<Reference, RegistryError> {
    let r = if let Some(rest) = s.strip_prefix("registry://") {
        rest.to_string()
    } else if s.starts_with("type=") {
        let mut kind = None;
        let mut r = None;
        for kv in s.split(',') {
            match kv.split_once('=') {
                Some(("type", v)) => kind = Some(v),
                Some(("ref", v)) => r = Some(v.to_string()),
                _ => {}
            }
        }
        if kind != Some("registry") {
            return Err(invalid(s, "only type=registry caches exist"));
        }
        r.ok_or_else(|| invalid(s, "missing ref=HOST/REPO"))?
    } else {
        return Err(invalid(s, "expected registry://HOST/REPO[:TAG] or type=registry,ref=HOST/REPO[:TAG]"));
    };
    let has_tag = r.rsplit('/').next().is_some_and(|last| last.contains(':') || last.contains('@'));
    registry::parse_reference(&if has_tag { r } else { format!("{r}:cache") })
}

fn invalid(s: &str, why: &str) -> RegistryError {
    RegistryError::Invalid { what: format!("cache reference '{s}'"), message: why.into() }
}

/// A registry cache being imported from.
pub struct RemoteCache {
    reference: Reference,
    opts: RegistryOptions,
    index: Index,
}

impl RemoteCache {
    /// Reads the cache's index; an absent cache is an empty one.
    pub fn open(store: &Store, reference: Reference, opts: RegistryOptions) -> Result<RemoteCache, RegistryError> {
        let mut index = Index::default();
        if let Some(desc) = registry::fetch_manifest(store, &reference, &opts)? {
            let manifest: oci_spec::image::ImageManifest = store.read_json(desc.digest())?;
            let first = manifest.layers().iter().find(|l| l.media_type().to_string() == INDEX_MEDIA_TYPE).cloned();
            if let Some(first) = first {
                registry::fetch_blobs(store, &reference, std::slice::from_ref(&first), &opts)?;
                let parsed: Index = store.read_json(first.digest())?;
                if parsed.format == FORMAT_VERSION {
                    index = parsed;
                }
            }
        }
        Ok(RemoteCache { reference, opts, index })
    }

    pub fn len(&self) -> usize {
        self.index.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.records.is_empty()
    }

    /// The record of `key` as the index has it, nothing fetched (`strata plan`).
    pub fn record(&self, key: &Key) -> Option<Record> {
        self.index.records.get(&key.0).map(|e| e.record.clone())
    }

    /// The record of `key`, its blobs fetched into `store`.
    pub fn fetch(&self, store: &Store, key: &Key) -> Result<Option<Record>, RegistryError> {
        let Some(entry) = self.index.records.get(&key.0) else { return Ok(None) };
        registry::fetch_blobs(store, &self.reference, &entry.blobs, &self.opts)?;
        Ok(Some(entry.record.clone()))
    }
}

/// Pushes `records` (and every blob they need, from `store`) as the cache
/// artifact `reference`. Returns the artifact's descriptor.
pub fn export(
    store: &Store,
    reference: &Reference,
    records: &[(Key, Record)],
    opts: &RegistryOptions,
) -> Result<Descriptor, RegistryError> {
    let mut index = Index { format: FORMAT_VERSION.to_string(), records: BTreeMap::new() };
    let mut all: BTreeSet<String> = BTreeSet::new();
    let mut payload: Vec<Descriptor> = Vec::new();
    for (key, rec) in records {
        let mut blobs: Vec<Descriptor> = rec
            .layers
            .iter()
            .map(|(_, l)| Descriptor::new(l.compression.media_type(), l.size, l.digest.clone()))
            .collect();
        if let Some(m) = &rec.manifest {
            blobs.extend(store.closure(m));
        }
        for b in &blobs {
            if all.insert(b.digest().to_string()) {
                payload.push(Descriptor::new(MediaType::from(BLOB_MEDIA_TYPE), b.size(), b.digest().clone()));
            }
        }
        index.records.insert(key.0.clone(), Entry { record: rec.clone(), blobs });
    }
    let tmp = tempfile::Builder::new()
        .prefix("cache-index-")
        .tempdir_in(store_tmp(store))
        .map_err(|e| RegistryError::Io { path: store_tmp(store), source: e })?;
    let index_path = tmp.path().join("strata-cache-index.json");
    let bytes = crate::json::to_vec(&index).expect("the index serializes");
    std::fs::write(&index_path, bytes).map_err(|e| RegistryError::Io { path: index_path.clone(), source: e })?;
    let spec = ArtifactSpec {
        artifact_type: ARTIFACT_TYPE.into(),
        files: vec![ArtifactFile { path: index_path, media_type: INDEX_MEDIA_TYPE.into() }],
        annotations: BTreeMap::from([("org.opencontainers.image.created".into(), "1970-01-01T00:00:00Z".into())]),
        subject: None,
    };
    let artifact = registry::build_artifact(store, &spec)?;
    // The payload blobs join the index as layers of the same artifact.
    let mut manifest: oci_spec::image::ImageManifest = store.read_json(artifact.digest())?;
    let mut layers = manifest.layers().clone();
    layers.extend(payload);
    manifest.set_layers(layers);
    let mut desc = store.put_json(MediaType::ImageManifest, &manifest)?;
    desc.set_artifact_type(Some(MediaType::from(ARTIFACT_TYPE)));
    let push = registry::PushOptions { registry: opts.clone(), ..Default::default() };
    registry::push(store, &desc, std::slice::from_ref(reference), &push)?;
    Ok(desc)
}

fn store_tmp(store: &Store) -> std::path::PathBuf {
    store.root().join("strata/tmp")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_references_take_both_spellings_and_default_to_the_cache_tag() {
        let r = parse_cache_ref("registry://127.0.0.1:5000/team/app").unwrap();
        assert_eq!(r.to_string(), "127.0.0.1:5000/team/app:cache");
        let r = parse_cache_ref("type=registry,ref=127.0.0.1:5000/team/app:buildcache").unwrap();
        assert_eq!(r.to_string(), "127.0.0.1:5000/team/app:buildcache");
        assert!(parse_cache_ref("type=local,dest=x").unwrap_err().to_string().contains("type=registry"));
        assert!(parse_cache_ref("127.0.0.1:5000/x").unwrap_err().to_string().contains("registry://"));
    }
}
