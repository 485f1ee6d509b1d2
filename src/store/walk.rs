//! What a descriptor references: an index its manifests, a manifest its
//! config and layers. Parsed loosely (any JSON with `manifests`, or with
//! `config`/`layers`) so Docker schema-2 media types and OCI artifacts walk
//! the same way as OCI images.

use oci_spec::image::{Descriptor, MediaType};

use super::{Store, StoreError};

fn is_json_document(mt: &MediaType) -> bool {
    matches!(mt, MediaType::ImageIndex | MediaType::ImageManifest | MediaType::ArtifactManifest)
        || matches!(mt, MediaType::Other(s) if s.ends_with("manifest.v2+json") || s.ends_with("manifest.list.v2+json"))
}

/// Whether a blob a document names may legitimately be absent from a store,
/// an export or a push: foreign (non-distributable) layers, which
/// registries never serve and `docker save` leaves out. The one rule that
/// fsck, export, import, pull and push share.
pub fn may_be_absent(d: &Descriptor) -> bool {
    matches!(
        d.media_type(),
        MediaType::ImageLayerNonDistributable
            | MediaType::ImageLayerNonDistributableGzip
            | MediaType::ImageLayerNonDistributableZstd
    ) || matches!(d.media_type(), MediaType::Other(s) if s.contains(".foreign."))
}

/// The descriptors `desc` points to; empty for a leaf (layer, config).
pub fn children(store: &Store, desc: &Descriptor) -> Result<Vec<Descriptor>, StoreError> {
    if !is_json_document(desc.media_type()) {
        return Ok(Vec::new());
    }
    let v: serde_json::Value = store.read_json(desc.digest())?;
    children_of_json(&v, desc)
}

/// The descriptors the parsed document `v` (the blob of `desc`) names.
pub fn children_of_json(v: &serde_json::Value, desc: &Descriptor) -> Result<Vec<Descriptor>, StoreError> {
    let parse = |v: &serde_json::Value| -> Result<Descriptor, StoreError> {
        serde_json::from_value(v.clone()).map_err(|e| StoreError::BadJson { digest: desc.digest().clone(), source: e })
    };
    let mut out = Vec::new();
    if let Some(ms) = v.get("manifests").and_then(|m| m.as_array()) {
        for m in ms {
            out.push(parse(m)?);
        }
    }
    if let Some(c) = v.get("config") {
        out.push(parse(c)?);
    }
    for key in ["layers", "blobs"] {
        if let Some(ls) = v.get(key).and_then(|l| l.as_array()) {
            for l in ls {
                out.push(parse(l)?);
            }
        }
    }
    Ok(out)
}
