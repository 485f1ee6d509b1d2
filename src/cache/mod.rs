//! The step cache (DESIGN.md §6): a vertex's [`Key`] → the [`Record`] of
//! what it yielded, so a rebuild runs only the steps whose inputs changed.
//!
//! ```text
//! <store>/strata/cache/steps/<key hex>.json       the records; mtime = last use (LRU)
//! <store>/strata/cache/vertices/<id hex>.json     the inputs of each vertex's last build, to explain misses
//! <store>/strata/cache/stat/<path hex>.json       stat caches of local source trees (see `stat`)
//! ```
//!
//! Records are written atomically (temp file, rename) after the blobs they
//! name are committed, so a killed build leaves either no record or a
//! complete one. A record whose blobs the store lacks is a miss, never an
//! error. Two builds computing the same key write the same record.
//!
//! The records are gc roots (`crate::gc`, through [`StepCache::records`]
//! and [`Record::roots`]): `strata store gc` keeps what they name;
//! `--keep-storage SIZE` first drops the least recently used records until
//! what only the cache holds fits in SIZE.
//!
//! - `key`: what goes into a key, step by step (the table).
//! - `explain`: [`MissReason`], old → new.
//! - `stat`: local source trees by content, cheaply.
//! - `remote`: the cache exported to and imported from a registry.

mod explain;
mod key;
pub mod remote;
mod stat;

use std::fs;
use std::path::PathBuf;
use std::time::SystemTime;

use oci_spec::image::{Descriptor, Digest};
use serde::{Deserialize, Serialize};

pub use explain::MissReason;
pub use key::{FORMAT_VERSION, Key, KeyParts, sha256};
pub use stat::{ListingStats, RACY_SECS, source_listing, source_listing_read_only};

use crate::layer::LayerInfo;
use crate::store::{Store, StoreError};

/// What a step yielded: enough to skip it and go on as if it had run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// `part:step`.
    pub vertex: String,
    /// The layers it wrote, by role (`pull`, `build`, `install`, ...).
    pub layers: Vec<(String, LayerInfo)>,
    /// The project variables after it (`craftctl set`), when it ran scripts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vars: Option<Vars>,
    /// The image it made (`pack`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<Descriptor>,
    /// What else a later step needs from it, by name (a pull's
    /// `stage-packages`: the resolved package list that goes with its
    /// `.deb` layer). Absent from records that have none.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub data: std::collections::BTreeMap<String, serde_json::Value>,
}

/// Project variables as a record keeps them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vars {
    pub values: std::collections::BTreeMap<String, String>,
    pub set: std::collections::BTreeSet<String>,
}

impl Record {
    pub fn layer(&self, role: &str) -> Option<&LayerInfo> {
        self.layers.iter().find(|(r, _)| r == role).map(|(_, l)| l)
    }

    fn blobs(&self) -> impl Iterator<Item = &Digest> {
        self.layers.iter().map(|(_, l)| &l.digest).chain(self.manifest.iter().map(|m| m.digest()))
    }
}

/// The step cache of one store.
pub struct StepCache<'s> {
    store: &'s Store,
}

fn steps_dir(store: &Store) -> PathBuf {
    store.root().join("strata/cache/steps")
}

fn vertices_dir(store: &Store) -> PathBuf {
    store.root().join("strata/cache/vertices")
}

impl<'s> StepCache<'s> {
    pub fn new(store: &'s Store) -> Self {
        StepCache { store }
    }

    fn record_path(&self, key: &Key) -> PathBuf {
        steps_dir(self.store).join(format!("{}.json", key.0))
    }

    /// The record of `key` if it is whole: readable and every blob it
    /// names present. Marks it used now (for `--keep-storage`).
    pub fn get(&self, key: &Key) -> Option<Record> {
        let rec = self.peek(key)?;
        let path = self.record_path(key);
        if let Ok(f) = fs::File::options().write(true).open(&path) {
            let _ = f.set_modified(SystemTime::now());
        }
        Some(rec)
    }

    /// [`StepCache::get`] without marking the record used (`strata plan`).
    pub fn peek(&self, key: &Key) -> Option<Record> {
        let rec: Record = serde_json::from_slice(&fs::read(self.record_path(key)).ok()?).ok()?;
        let whole = rec.blobs().all(|d| self.store.has_blob(d));
        whole.then_some(rec)
    }

    /// Stores the record of `key` (after its blobs are committed).
    pub fn put(&self, key: &Key, rec: &Record) -> Result<(), StoreError> {
        let path = self.record_path(key);
        let dir = steps_dir(self.store);
        fs::create_dir_all(&dir).map_err(|e| StoreError::Io { path: dir.clone(), source: e })?;
        let bytes = crate::json::to_vec(rec).expect("a record serializes");
        crate::store::write_atomic(&self.store.tmp_dir(), &path, &bytes)
    }

    fn vertex_path(&self, project: &str, vertex: &str) -> PathBuf {
        let id = sha256(format!("{project}\n{vertex}").as_bytes());
        vertices_dir(self.store).join(format!("{}.json", id.trim_start_matches("sha256:")))
    }

    /// The inputs of the last build of `vertex` of `project` (a path).
    pub fn last_inputs(&self, project: &str, vertex: &str) -> Option<KeyParts> {
        serde_json::from_slice(&fs::read(self.vertex_path(project, vertex)).ok()?).ok()
    }

    /// Remembers the inputs `vertex` was built with (best effort: losing
    /// them only makes the next miss less well explained).
    pub fn remember(&self, project: &str, vertex: &str, parts: &KeyParts) {
        let path = self.vertex_path(project, vertex);
        let Ok(prev) = fs::read(&path) else { return self.write_inputs(&path, parts) };
        if serde_json::from_slice::<KeyParts>(&prev).ok().as_ref() != Some(parts) {
            self.write_inputs(&path, parts);
        }
    }

    fn write_inputs(&self, path: &std::path::Path, parts: &KeyParts) {
        let dir = vertices_dir(self.store);
        let _ = fs::create_dir_all(&dir);
        if let Ok(bytes) = serde_json::to_vec(parts) {
            let _ = crate::store::write_atomic(&self.store.tmp_dir(), path, &bytes);
        }
    }

    /// Forgets the last build of `vertex`: its record and its inputs.
    /// Returns whether there was a record to remove.
    pub fn forget(&self, project: &str, vertex: &str) -> bool {
        let Some(last) = self.last_inputs(project, vertex) else { return false };
        let _ = fs::remove_file(self.vertex_path(project, vertex));
        fs::remove_file(self.record_path(&last.key())).is_ok()
    }
}

/// A record as it lies in the store, for gc (`crate::gc`).
#[derive(Debug, Clone)]
pub struct StoredRecord {
    pub path: PathBuf,
    /// When a build last used it (`get` touches it): the LRU order of
    /// `--keep-storage`.
    pub used: SystemTime,
    pub record: Record,
}

impl StepCache<'_> {
    /// Every readable record, in no particular order. A file that does not
    /// parse as a record (not ours, or from a future format) is not listed:
    /// it is never a gc root and gc never removes it.
    pub fn records(&self) -> Vec<StoredRecord> {
        let Ok(rd) = fs::read_dir(steps_dir(self.store)) else { return Vec::new() };
        let mut out = Vec::new();
        for e in rd.flatten() {
            let path = e.path();
            let Ok(bytes) = fs::read(&path) else { continue };
            let Ok(record) = serde_json::from_slice::<Record>(&bytes) else { continue };
            let used = e.metadata().and_then(|m| m.modified()).unwrap_or(SystemTime::UNIX_EPOCH);
            out.push(StoredRecord { path, used, record });
        }
        out
    }

    /// Removes a record [`StepCache::records`] listed (gc dropping it).
    /// The vertex's last inputs stay, so the next build can say its cache
    /// entry was removed.
    pub fn remove(&self, rec: &StoredRecord) -> Result<(), StoreError> {
        match fs::remove_file(&rec.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(StoreError::Io { path: rec.path.clone(), source: e })
            }
            _ => Ok(()),
        }
    }
}

impl Record {
    /// What this record keeps alive in the store: its layers and the image
    /// it made; gc walks each (an image reaches its config and layers).
    pub fn roots(&self) -> Vec<Descriptor> {
        let layers = self.layers.iter().map(|(_, l)| Descriptor::new(l.media_type(), l.size, l.digest.clone()));
        layers.chain(self.manifest.iter().cloned()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::Record;

    #[test]
    fn records_without_data_still_parse_and_data_round_trips() {
        let old = r#"{"vertex":"p:pull","layers":[]}"#;
        let rec: Record = serde_json::from_str(old).unwrap();
        assert!(rec.data.is_empty());
        assert_eq!(serde_json::to_string(&rec).unwrap(), old, "no data, no field");
        let mut rec = rec;
        rec.data.insert("stage-packages".into(), serde_json::json!({"packages": []}));
        let back: Record = serde_json::from_str(&serde_json::to_string(&rec).unwrap()).unwrap();
        assert_eq!(back, rec);
    }
}
