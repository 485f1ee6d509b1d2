//! A layer's language packages, scanned once: walking a layer's tree for
//! Python distributions and for npm, Go and Cargo packages
//! ([`super::python::scan`], [`super::lang::scan`]) is most of an SBOM's
//! cost (0.17 s for a Debian base), and a layer's bytes never change, so
//! each layer's findings are kept and every later image holding the layer
//! reads them instead.
//!
//! ```text
//! <store>/strata/cache/attest-layers/<key hex>.json   what the scanners found in one layer
//! ```
//!
//! The key is the layer's diff id and the strata binary (another build of
//! strata may find other packages). A record that cannot be read is
//! scanned again; one that cannot be written only costs the next SBOM
//! its time. `strata store gc` forgets the records of layers it removed.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::cache::Key;
use super::lang::{self, Lang};
use super::python::{self, Dist};
use crate::layer::LayerInfo;
use crate::store::Store;

/// What the scanners found in one layer's tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scanned {
    /// The layer's blob (a record outlives it only until gc).
    pub layer: String,
    pub dists: Vec<Dist>,
    pub langs: Vec<Lang>,
}

/// The records of one store.
pub struct LayerScans {
    dir: PathBuf,
}

impl LayerScans {
    pub fn in_store(store: &Store) -> LayerScans {
        LayerScans { dir: store.root().join("strata/cache/attest-layers") }
    }

    /// What layer `info`, unpacked at `root`, holds: from its record, else
    /// scanned (and recorded).
    pub fn scan(&self, info: &LayerInfo, root: &Path) -> Scanned {
        let path = self.dir.join(format!("{}.json", Key::default().binary().part(info.diff_id.to_string()).hex()));
        if let Ok(text) = std::fs::read(&path)
            && let Ok(found) = serde_json::from_slice::<Scanned>(&text)
        {
            return found;
        }
        let found = Scanned { layer: info.digest.to_string(), dists: python::scan(root), langs: lang::scan(root) };
        self.put(&path, &found);
        found
    }

    fn put(&self, path: &Path, found: &Scanned) {
        let Ok(json) = serde_json::to_vec(found) else { return };
        if std::fs::create_dir_all(&self.dir).is_err() {
            return;
        }
        let Ok(mut tmp) = tempfile::NamedTempFile::new_in(&self.dir) else { return };
        if std::io::Write::write_all(&mut tmp, &json).is_ok() {
            let _ = tmp.persist(path);
        }
    }

    /// Forgets the records of layers no longer in the store (for `strata
    /// store gc`, after its sweep); returns how many went.
    pub fn prune(&self, store: &Store) -> usize {
        let Ok(rd) = std::fs::read_dir(&self.dir) else { return 0 };
        let mut n = 0;
        for e in rd.flatten() {
            let gone = std::fs::read(e.path())
                .ok()
                .and_then(|t| serde_json::from_slice::<Scanned>(&t).ok())
                .and_then(|s| s.layer.parse::<oci_spec::image::Digest>().ok())
                .is_none_or(|d| !store.has_blob(&d));
            if gone && std::fs::remove_file(e.path()).is_ok() {
                n += 1;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use oci_spec::image::MediaType;

    use super::*;

    fn layer(store: &Store, bytes: &[u8]) -> LayerInfo {
        let d = store.put_bytes(MediaType::ImageLayer, bytes).unwrap();
        LayerInfo {
            digest: d.digest().clone(),
            diff_id: d.digest().clone(),
            size: d.size(),
            compression: crate::layer::Compression::None,
        }
    }

    fn tree_with_dist(dir: &Path, name: &str) {
        let info = dir.join(format!("usr/lib/python3/dist-packages/{name}-1.0.dist-info"));
        std::fs::create_dir_all(&info).unwrap();
        std::fs::write(info.join("METADATA"), format!("Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n\n"))
            .unwrap();
    }

    #[test]
    fn a_layer_is_scanned_once_and_its_record_read_after_that_until_gc_removes_the_layer() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("store")).unwrap();
        let scans = LayerScans::in_store(&store);
        let root = dir.path().join("root");
        tree_with_dist(&root, "requests");
        let a = layer(&store, b"layer a");
        let names = |s: &Scanned| s.dists.iter().map(|d| d.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&scans.scan(&a, &root)), ["requests"]);

        // The same layer is not walked again: what the tree holds now
        // does not matter (a layer's tree never changes).
        std::fs::remove_dir_all(&root).unwrap();
        tree_with_dist(&root, "urllib3");
        assert_eq!(names(&scans.scan(&a, &root)), ["requests"]);
        // Another layer is scanned.
        let b = layer(&store, b"layer b");
        assert_eq!(names(&scans.scan(&b, &root)), ["urllib3"]);

        // gc: the records of layers that are gone go too.
        assert_eq!(scans.prune(&store), 0);
        std::fs::remove_file(store.blob_path(&a.digest)).unwrap();
        assert_eq!(scans.prune(&store), 1);
        std::fs::remove_dir_all(&root).unwrap();
        assert!(scans.scan(&a, &root).dists.is_empty(), "scanned again once forgotten");
    }
}
