//! What every export format shares: the set of blobs an image needs, the
//! `index.json` entry naming it, and the timestamp archive entries carry.

use std::collections::{BTreeMap, HashSet};

use oci_spec::image::Descriptor;
use serde_json::{Value, json};

use super::ExportError;
use super::name::ImageName;
use crate::image::{Image, Platform};
use crate::store::{self, Store};

pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
pub const CONTAINERD_NAME: &str = "io.containerd.image.name";
pub const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// Every blob `root` reaches (itself included), keyed by digest string so
/// the order is fixed. Fails on a blob that is missing or has the wrong size.
pub fn closure(store: &Store, root: &Descriptor) -> Result<BTreeMap<String, Descriptor>, ExportError> {
    let mut out = BTreeMap::new();
    let mut seen = HashSet::new();
    let mut stack = vec![(root.clone(), "the exported image".to_owned())];
    while let Some((d, needed_by)) = stack.pop() {
        if !seen.insert(d.digest().clone()) {
            continue;
        }
        let path = store.blob_path(d.digest());
        let Ok(meta) = std::fs::metadata(&path) else {
            if store::may_be_absent(&d) {
                continue;
            }
            return Err(ExportError::MissingBlob { digest: d.digest().clone(), needed_by });
        };
        if meta.len() != d.size() {
            return Err(ExportError::WrongSize { digest: d.digest().clone(), expected: d.size(), found: meta.len() });
        }
        for kid in store::children(store, &d)? {
            stack.push((kid, d.digest().to_string()));
        }
        out.insert(d.digest().to_string(), d);
    }
    Ok(out)
}

/// The `index.json` entry for `desc` under `name`: media type, digest, size
/// and the two name annotations; the store's own annotations stay behind.
pub fn index_entry(desc: &Descriptor, name: &ImageName) -> Value {
    let mut ann = serde_json::Map::new();
    ann.insert(CONTAINERD_NAME.into(), json!(name.full()));
    if let Some(tag) = &name.tag {
        ann.insert(REF_NAME.into(), json!(tag));
    }
    json!({
        "mediaType": desc.media_type().to_string(),
        "digest": desc.digest().to_string(),
        "size": desc.size(),
        "annotations": ann,
    })
}

/// An OCI image index document listing `manifests`.
pub fn index_json(manifests: Vec<Value>) -> Result<Vec<u8>, ExportError> {
    Ok(crate::json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    }))?)
}

/// The modification time archive entries get: the image's `created` time
/// (the host platform's image, for an index), or 0 when it has none.
pub fn created_epoch(store: &Store, desc: &Descriptor) -> i64 {
    Image::load(store, desc, &Platform::host())
        .ok()
        .and_then(|img| img.config.created().clone())
        .and_then(|c| parse_rfc3339(&c))
        .unwrap_or(0)
}

/// Parses an RFC 3339 time in UTC (`Z`), with or without fractional
/// seconds; anything else (offsets, garbage, before 1970) gives `None`.
fn parse_rfc3339(s: &str) -> Option<i64> {
    let t = humantime::parse_rfc3339_weak(s.trim_end_matches('Z')).ok()?;
    let secs = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    i64::try_from(secs).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn created_times_parse_to_epoch_seconds() {
        assert_eq!(super::parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(super::parse_rfc3339("2023-11-14T22:13:20Z"), Some(1_700_000_000));
        assert_eq!(super::parse_rfc3339("2023-11-14T22:13:20.123456789Z"), Some(1_700_000_000));
        assert_eq!(super::parse_rfc3339("yesterday"), None);
    }
}
