//! One index over the images of a spec's variants (spk's): each variant's
//! manifest, annotated with what the frontend says about it (build id,
//! options), in the frontend's order, then the attestation manifests of
//! each, as BuildKit lists a multi-platform build's. Every variant has the
//! same platform, so a client that picks by platform gets the first: the
//! default variant.

use std::collections::{BTreeMap, HashMap};

use oci_spec::image::{Descriptor, ImageIndex, ImageIndexBuilder, MediaType};

use super::ImageError;
use crate::store::Store;

/// Writes the index of `images` (each variant's manifest, and the index
/// attaching its attestations if it has one), annotating the k-th
/// manifest with `annotations[k]`.
pub fn variant_index(
    store: &Store,
    images: &[(Descriptor, Option<Descriptor>)],
    annotations: &[BTreeMap<String, String>],
) -> Result<Descriptor, ImageError> {
    let mut manifests = Vec::new();
    let mut attestations = Vec::new();
    for (k, (manifest, attached)) in images.iter().enumerate() {
        let mut m = manifest.clone();
        let mut ann: HashMap<String, String> = m.annotations().clone().unwrap_or_default();
        ann.extend(annotations.get(k).cloned().unwrap_or_default());
        m.set_annotations(Some(ann));
        manifests.push(m);
        if let Some(index) = attached {
            let index: ImageIndex = store.read_json(index.digest())?;
            attestations.extend(index.manifests().iter().filter(|d| d.digest() != manifest.digest()).cloned());
        }
    }
    manifests.extend(attestations);
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(manifests)
        .build()
        .expect("an index with manifests");
    Ok(store.put_json(MediaType::ImageIndex, &index)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_come_first_annotated_then_their_attestations() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let a = store.put_bytes(MediaType::ImageManifest, br#"{"a":1}"#).unwrap();
        let b = store.put_bytes(MediaType::ImageManifest, br#"{"b":1}"#).unwrap();
        let att = crate::attest::oci::attach(&store, &b, &[("p".into(), serde_json::json!({}))]).unwrap();
        let ann = |id: &str| BTreeMap::from([("dev.spk.build".to_string(), id.to_string())]);
        let index = variant_index(&store, &[(a.clone(), None), (b.clone(), Some(att))], &[ann("A"), ann("B")]).unwrap();
        let index: ImageIndex = store.read_json(index.digest()).unwrap();
        let m = index.manifests();
        assert_eq!(m.len(), 3);
        assert_eq!((m[0].digest(), m[1].digest()), (a.digest(), b.digest()));
        assert_eq!(m[1].annotations().as_ref().unwrap()["dev.spk.build"], "B");
        assert_eq!(
            m[2].annotations().as_ref().unwrap()[crate::attest::oci::REFERENCE_DIGEST],
            b.digest().to_string(),
            "b's attestation, after the images"
        );
    }
}
