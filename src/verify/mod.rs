//! `strata verify`: whether a rebuild gives an image bit for bit, and if
//! not, the first place the two differ — descending from the index through
//! manifests, configs and attestations (JSON documents: the first
//! differing field, [`json`]) to layers (the first differing tar entry,
//! [`tar`]), so the report names a file, not just two digests.

pub mod json;
pub mod tar;

use oci_spec::image::{Descriptor, MediaType};
use serde_json::Value;

use crate::store::Store;

/// Where two images first differ: a path of what was descended through
/// (`index → manifests[0] → layers[2]`) and what differs there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub path: Vec<String>,
    pub what: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.join(" → "), self.what)
    }
}

/// The first difference between the blobs `a` and `b` (both in `store`),
/// `None` when they are the same bytes.
pub fn first_difference(store: &Store, a: &Descriptor, b: &Descriptor) -> crate::Result<Option<Difference>> {
    descend(store, a, b, vec![describe(a)])
}

fn descend(store: &Store, a: &Descriptor, b: &Descriptor, path: Vec<String>) -> crate::Result<Option<Difference>> {
    if a.digest() == b.digest() {
        return Ok(None);
    }
    let (x, y) = (store.read_blob(a.digest())?, store.read_blob(b.digest())?);
    if let (Ok(va), Ok(vb)) = (serde_json::from_slice::<Value>(&x), serde_json::from_slice::<Value>(&y)) {
        // A manifest's layers say more than the config's diff ids that
        // follow from them: look at them first.
        if let (Some(la), Some(lb)) = (va["layers"].as_array(), vb["layers"].as_array()) {
            for (i, (da, db)) in la.iter().zip(lb).enumerate() {
                let (Ok(da), Ok(db)) = (
                    serde_json::from_value::<Descriptor>(da.clone()),
                    serde_json::from_value::<Descriptor>(db.clone()),
                ) else {
                    continue;
                };
                let mut deeper = path.clone();
                deeper.push(format!("layers[{i}] ({})", describe(&da)));
                if let Some(d) = descend(store, &da, &db, deeper)? {
                    return Ok(Some(d));
                }
            }
        }
        let Some((field, da, db)) = json::first_difference(&va, &vb) else {
            let what = "the same JSON, written differently (key order or spacing)".to_string();
            return Ok(Some(Difference { path, what }));
        };
        // A differing descriptor: say why its blobs differ instead.
        if let (Some(ca), Some(cb)) = (descriptor_at(&va, &field), descriptor_at(&vb, &field)) {
            let mut deeper = path.clone();
            deeper.push(format!("{} ({})", field.trim_end_matches(".digest"), describe(&ca)));
            if let Some(d) = descend(store, &ca, &cb, deeper)? {
                return Ok(Some(d));
            }
        }
        let mut path = path;
        path.push(field);
        return Ok(Some(Difference { path, what: format!("{da} ≠ {db}") }));
    }
    if let Some(what) = tar::first_difference(&x, &y)? {
        return Ok(Some(Difference { path, what }));
    }
    Ok(Some(Difference {
        path,
        what: format!("{} ({} bytes) ≠ {} ({} bytes)", a.digest(), a.size(), b.digest(), b.size()),
    }))
}

/// The descriptor holding the field at `field` (`manifests[1].digest`).
fn descriptor_at(v: &Value, field: &str) -> Option<Descriptor> {
    let parent = field.strip_suffix(".digest")?;
    let node = json::at(v, parent)?;
    serde_json::from_value(node.clone()).ok()
}

fn describe(d: &Descriptor) -> String {
    let kind = match d.media_type() {
        MediaType::ImageIndex => "index",
        MediaType::ImageManifest => "manifest",
        MediaType::ImageConfig => "config",
        MediaType::Other(s) if s.contains("in-toto") => "attestation",
        t if crate::layer::Compression::from_media_type(t).is_some() => "layer",
        _ => "blob",
    };
    format!("{kind} {}", d.digest())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_difference_in_a_referenced_config_is_reported_in_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let c1 = s.put_bytes(MediaType::ImageConfig, br#"{"created":"1970-01-01T00:00:00Z"}"#).unwrap();
        let c2 = s.put_bytes(MediaType::ImageConfig, br#"{"created":"2026-12-02T12:00:00Z"}"#).unwrap();
        let m = |c: &Descriptor| s.put_json(MediaType::ImageManifest, &serde_json::json!({ "config": c })).unwrap();
        let d = first_difference(&s, &m(&c1), &m(&c2)).unwrap().unwrap();
        assert_eq!(d.path.last().unwrap(), "created");
        assert!(d.path[1].starts_with("config (config sha256:"), "{d}");
        assert!(d.what.contains("1970-01-01"), "{d}");
        assert_eq!(first_difference(&s, &c1, &c1).unwrap(), None);
    }
}
