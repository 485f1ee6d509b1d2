//! Attestations in an image index, the way BuildKit attaches them: the
//! index lists the image manifest (with its platform) and an attestation
//! manifest, platform `unknown/unknown`, annotated
//! `vnd.docker.reference.type=attestation-manifest` and
//! `vnd.docker.reference.digest=<the image manifest>`. Its layers are the
//! in-toto statements (`application/vnd.in-toto+json`, each annotated with
//! its `in-toto.io/predicate-type`). Being ordinary manifests and blobs,
//! they go wherever the index goes: the store's refs and gc, oci and
//! oci-archive exports, registry pushes.

use std::collections::HashMap;

use oci_spec::image::{
    Descriptor, DescriptorBuilder, Digest, ImageIndex, ImageIndexBuilder, ImageManifest, ImageManifestBuilder,
    MediaType, PlatformBuilder,
};
use serde_json::{Value, json};

use super::AttestError;
use super::statement::{MEDIA_TYPE, PREDICATE_ANNOTATION};
use crate::store::Store;

pub const REFERENCE_TYPE: &str = "vnd.docker.reference.type";
pub const REFERENCE_DIGEST: &str = "vnd.docker.reference.digest";
pub const ATTESTATION_MANIFEST: &str = "attestation-manifest";

/// One attestation of an image, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attestation {
    pub predicate_type: String,
    pub layer: Descriptor,
}

/// Writes `statements` (predicate type, statement) as the attestation
/// manifest of `image` (a manifest descriptor with its platform) and an
/// index of both; returns the index's descriptor.
pub fn attach(store: &Store, image: &Descriptor, statements: &[(String, Value)]) -> Result<Descriptor, AttestError> {
    let mut layers = Vec::new();
    for (predicate_type, statement) in statements {
        let d = store.put_json(MediaType::Other(MEDIA_TYPE.into()), statement)?;
        let ann: HashMap<String, String> = [(PREDICATE_ANNOTATION.to_string(), predicate_type.clone())].into();
        layers.push(
            DescriptorBuilder::default()
                .media_type(MEDIA_TYPE)
                .digest(d.digest().clone())
                .size(d.size())
                .annotations(ann)
                .build()?,
        );
    }
    let diff_ids: Vec<String> = layers.iter().map(|l| l.digest().to_string()).collect();
    let config = json!({
        "architecture": "unknown",
        "os": "unknown",
        "config": {},
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
    });
    let config = store.put_json(MediaType::ImageConfig, &config)?;
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config)
        .layers(layers)
        .build()?;
    let mut att = store.put_json(MediaType::ImageManifest, &manifest)?;
    att.set_platform(Some(PlatformBuilder::default().os("unknown").architecture("unknown").build()?));
    att.set_annotations(Some(
        [
            (REFERENCE_TYPE.to_string(), ATTESTATION_MANIFEST.to_string()),
            (REFERENCE_DIGEST.to_string(), image.digest().to_string()),
        ]
        .into(),
    ));
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(vec![image.clone(), att])
        .build()?;
    Ok(store.put_json(MediaType::ImageIndex, &index)?)
}

/// The image manifest an index or manifest `desc` stands for, and its
/// attestations (none for a plain manifest or an index without them).
pub fn read(store: &Store, desc: &Descriptor) -> Result<(Descriptor, Vec<Attestation>), AttestError> {
    if desc.media_type() != &MediaType::ImageIndex {
        return Ok((desc.clone(), Vec::new()));
    }
    let index: ImageIndex = store.read_json(desc.digest())?;
    let is_att = |d: &Descriptor| {
        d.annotations().as_ref().and_then(|a| a.get(REFERENCE_TYPE)).is_some_and(|t| t == ATTESTATION_MANIFEST)
    };
    let image = index.manifests().iter().find(|d| !is_att(d)).cloned().ok_or(AttestError::NoImage)?;
    let mut out = Vec::new();
    for a in index.manifests().iter().filter(|d| is_att(d)) {
        let target = a.annotations().as_ref().and_then(|m| m.get(REFERENCE_DIGEST)).cloned();
        if target.as_deref() != Some(image.digest().as_ref()) {
            continue;
        }
        let m: ImageManifest = store.read_json(a.digest())?;
        for l in m.layers() {
            let pt = l.annotations().as_ref().and_then(|m| m.get(PREDICATE_ANNOTATION)).cloned().unwrap_or_default();
            out.push(Attestation { predicate_type: pt, layer: l.clone() });
        }
    }
    Ok((image, out))
}

/// The statement `a` as stored, checked against its digest.
pub fn statement(store: &Store, a: &Attestation) -> Result<Value, AttestError> {
    let bytes = store.read_blob(a.layer.digest())?;
    let got = Digest::try_from(format!("sha256:{}", hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes))))?;
    if &got != a.layer.digest() {
        return Err(AttestError::Corrupt { digest: a.layer.digest().clone() });
    }
    Ok(serde_json::from_slice(&bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attached_statements_read_back_with_their_predicate_types() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let image = s.put_bytes(MediaType::ImageManifest, b"{}").unwrap();
        let st = vec![("https://spdx.dev/Document".to_string(), json!({"a": 1}))];
        let index = attach(&s, &image, &st).unwrap();
        let (got, atts) = read(&s, &index).unwrap();
        assert_eq!(got.digest(), image.digest());
        assert_eq!(atts.len(), 1);
        assert_eq!(atts[0].predicate_type, "https://spdx.dev/Document");
        assert_eq!(statement(&s, &atts[0]).unwrap(), json!({"a": 1}));
        let raw: Value = s.read_json(index.digest()).unwrap();
        assert_eq!(raw["manifests"][1]["platform"]["os"], "unknown");
        assert_eq!(raw["manifests"][1]["annotations"][REFERENCE_TYPE], ATTESTATION_MANIFEST);
    }

    #[test]
    fn the_same_statements_give_the_same_index() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let image = s.put_bytes(MediaType::ImageManifest, b"{}").unwrap();
        let st = vec![("p".to_string(), json!({"b": [1, 2], "a": "x"}))];
        assert_eq!(attach(&s, &image, &st).unwrap(), attach(&s, &image, &st).unwrap());
    }
}
