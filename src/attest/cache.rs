//! The attestation cache: a rebuild whose inputs are all the same gets the
//! index its earlier build attached, instead of scanning the image's
//! layers and writing the SBOMs and provenance again (the bulk of a cached
//! rebuild's time).
//!
//! ```text
//! <store>/strata/cache/attest/<key hex>.json   the index descriptor a build attached
//! ```
//!
//! The key is the sha256 of everything [`super::attach`] reads — the
//! manifest digest, the graph, the solved layers, what resolve pinned, the
//! spec, the checkout, the options, the epoch — and of the strata binary
//! (its path, size and modification time: another build of strata may
//! write other documents). Only reproducible provenance is cached: full
//! provenance holds the wall clock. A hit is used only when the index and
//! every manifest, config and statement it reaches are still in the store.

use std::path::PathBuf;

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};
use sha2::{Digest as _, Sha256};

use crate::store::Store;

/// The cache of one store.
pub struct AttestCache {
    dir: PathBuf,
}

/// Builds a cache key from parts, each length-prefixed so no two lists of
/// parts give the same bytes.
#[derive(Default)]
pub struct Key(Sha256);

impl Key {
    pub fn part(mut self, bytes: impl AsRef<[u8]>) -> Key {
        let b = bytes.as_ref();
        self.0.update((b.len() as u64).to_le_bytes());
        self.0.update(b);
        self
    }

    /// Adds what identifies the running strata binary.
    pub fn binary(self) -> Key {
        let exe = std::env::current_exe().ok();
        let meta = exe.as_ref().and_then(|e| std::fs::metadata(e).ok());
        let mtime = meta.as_ref().and_then(|m| m.modified().ok()).map(|t| format!("{t:?}")).unwrap_or_default();
        let size = meta.map(|m| m.len()).unwrap_or(0);
        self.part(env!("CARGO_PKG_VERSION"))
            .part(exe.map(|e| e.to_string_lossy().into_owned()).unwrap_or_default())
            .part(size.to_le_bytes())
            .part(mtime)
    }

    pub fn hex(self) -> String {
        hex::encode(self.0.finalize())
    }
}

impl AttestCache {
    pub fn in_store(store: &Store) -> AttestCache {
        AttestCache { dir: store.root().join("strata/cache/attest") }
    }

    /// The index attached under `key`, if it and what it reaches are there.
    pub fn get(&self, store: &Store, key: &str) -> Option<Descriptor> {
        let text = std::fs::read(self.dir.join(format!("{key}.json"))).ok()?;
        let d: Descriptor = serde_json::from_slice(&text).ok()?;
        complete(store, &d).then_some(d)
    }

    /// Records `index` under `key` (best effort: a failure only costs the
    /// next rebuild its time).
    pub fn put(&self, key: &str, index: &Descriptor) {
        let Ok(json) = serde_json::to_vec(index) else { return };
        if std::fs::create_dir_all(&self.dir).is_err() {
            return;
        }
        let Ok(mut tmp) = tempfile::NamedTempFile::new_in(&self.dir) else { return };
        if std::io::Write::write_all(&mut tmp, &json).is_ok() {
            let _ = tmp.persist(self.dir.join(format!("{key}.json")));
        }
    }
}

impl AttestCache {
    /// Forgets entries whose index is no longer in the store (for `strata
    /// store gc`, after its sweep); returns how many went.
    pub fn prune(&self, store: &Store) -> usize {
        let Ok(rd) = std::fs::read_dir(&self.dir) else { return 0 };
        let mut n = 0;
        for e in rd.flatten() {
            let gone = std::fs::read(e.path())
                .ok()
                .and_then(|t| serde_json::from_slice::<Descriptor>(&t).ok())
                .is_none_or(|d| !store.has_blob(d.digest()));
            if gone && std::fs::remove_file(e.path()).is_ok() {
                n += 1;
            }
        }
        n
    }
}

/// Whether the index `d` and every manifest, config and layer it reaches
/// are in the store.
fn complete(store: &Store, d: &Descriptor) -> bool {
    let Ok(index) = store.read_json::<ImageIndex>(d.digest()) else { return false };
    index.manifests().iter().all(|m| {
        let Ok(manifest) = store.read_json::<ImageManifest>(m.digest()) else { return false };
        store.has_blob(manifest.config().digest()) && manifest.layers().iter().all(|l| store.has_blob(l.digest()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_by_any_part_and_by_how_parts_split() {
        let k = |parts: &[&str]| parts.iter().fold(Key::default(), |k, p| k.part(p)).hex();
        assert_eq!(k(&["a", "b"]), k(&["a", "b"]));
        assert_ne!(k(&["a", "b"]), k(&["a", "c"]));
        assert_ne!(k(&["ab", ""]), k(&["a", "b"]));
    }

    #[test]
    fn a_recorded_index_is_a_hit_only_while_its_blobs_are_there() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("store")).unwrap();
        let cache = AttestCache::in_store(&store);
        assert!(cache.get(&store, "k").is_none());
        // An index of one manifest with one layer.
        let layer = store.put_json(oci_spec::image::MediaType::Other("application/json".into()), &"layer").unwrap();
        let config = store.put_json(oci_spec::image::MediaType::ImageConfig, &serde_json::json!({})).unwrap();
        let manifest = oci_spec::image::ImageManifestBuilder::default()
            .schema_version(2u32)
            .config(config)
            .layers(vec![layer.clone()])
            .build()
            .unwrap();
        let m = store.put_json(oci_spec::image::MediaType::ImageManifest, &manifest).unwrap();
        let index =
            oci_spec::image::ImageIndexBuilder::default().schema_version(2u32).manifests(vec![m]).build().unwrap();
        let i = store.put_json(oci_spec::image::MediaType::ImageIndex, &index).unwrap();
        cache.put("k", &i);
        assert_eq!(cache.get(&store, "k").map(|d| d.digest().clone()), Some(i.digest().clone()));
        // gc took the statement: the cached index is no longer whole.
        std::fs::remove_file(store.blob_path(layer.digest())).unwrap();
        assert!(cache.get(&store, "k").is_none());
        // gc prunes an entry once its index is gone too.
        assert_eq!(cache.prune(&store), 0);
        std::fs::remove_file(store.blob_path(i.digest())).unwrap();
        assert_eq!(cache.prune(&store), 1);
    }
}
