//! Bundles attached to an image manifest as OCI referrers: each one an
//! artifact manifest (`artifactType` the bundle's media type, the empty
//! config, the bundle as its one layer, `subject` the image manifest),
//! listed in an index kept under the distribution spec's referrers tag,
//! `<repository>:sha256-<hex of the manifest>`. That tag is an ordinary
//! store ref: gc keeps it, `strata push` sends it, and registries without
//! the referrers API read it as the fallback the spec defines.

use oci_spec::image::{Descriptor, ImageIndex, ImageIndexBuilder, ImageManifest, MediaType};
use serde_json::{Value, json};

use super::SignError;
use super::bundle::MEDIA_TYPE;
use crate::store::Store;

/// The annotation saying what a bundle's statement is about.
pub const PREDICATE_ANNOTATION: &str = "dev.sigstore.bundle.predicateType";

/// The referrers tag of `manifest` in the repository of `name`.
pub fn tag(name: &str, manifest: &Descriptor) -> Result<String, SignError> {
    let full = crate::store::normalize_ref(name)?;
    let repo = full.split('@').next().unwrap_or(&full);
    let slash = repo.rfind('/').map_or(0, |i| i + 1);
    let repo = match repo[slash..].rfind(':') {
        Some(i) => &repo[..slash + i],
        None => repo,
    };
    Ok(format!("{repo}:{}-{}", manifest.digest().algorithm().as_ref(), manifest.digest().digest()))
}

/// Attaches `bundles` (predicate type, bundle) to `manifest`, replacing
/// bundles of the same predicate types; returns the referrers index.
pub fn attach(
    store: &Store,
    tag: &str,
    manifest: &Descriptor,
    bundles: &[(String, Value)],
) -> Result<Descriptor, SignError> {
    let mut kept: Vec<Descriptor> =
        list(store, tag)?.into_iter().filter(|(pt, _)| !bundles.iter().any(|(t, _)| t == pt)).map(|(_, d)| d).collect();
    let empty = store.put_bytes(MediaType::EmptyJSON, b"{}")?;
    let subject = json!({ "mediaType": manifest.media_type().to_string(), "digest": manifest.digest().to_string(), "size": manifest.size() });
    for (pt, bundle) in bundles {
        let layer = store.put_json(MediaType::Other(MEDIA_TYPE.into()), bundle)?;
        let m = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": MEDIA_TYPE,
            "config": { "mediaType": "application/vnd.oci.empty.v1+json", "digest": empty.digest().to_string(), "size": 2 },
            "layers": [{ "mediaType": MEDIA_TYPE, "digest": layer.digest().to_string(), "size": layer.size() }],
            "subject": subject,
            "annotations": { PREDICATE_ANNOTATION: pt, "dev.sigstore.bundle.content": "dsse-envelope" },
        });
        let mut d = store.put_json(MediaType::ImageManifest, &m)?;
        d.set_artifact_type(Some(MediaType::Other(MEDIA_TYPE.into())));
        d.set_annotations(Some([(PREDICATE_ANNOTATION.to_string(), pt.clone())].into()));
        kept.push(d);
    }
    let index =
        ImageIndexBuilder::default().schema_version(2u32).media_type(MediaType::ImageIndex).manifests(kept).build()?;
    let d = store.put_json(MediaType::ImageIndex, &index)?;
    store.set_ref(tag, &d)?;
    Ok(d)
}

/// The bundle referrers under `tag`: (predicate type, artifact manifest).
pub fn list(store: &Store, tag: &str) -> Result<Vec<(String, Descriptor)>, SignError> {
    let Ok(d) = store.resolve(tag) else { return Ok(Vec::new()) };
    let index: ImageIndex = store.read_json(d.digest())?;
    Ok(index
        .manifests()
        .iter()
        .filter_map(|m| Some((m.annotations().as_ref()?.get(PREDICATE_ANNOTATION)?.clone(), m.clone())))
        .collect())
}

/// The bundle an artifact manifest carries.
pub fn bundle(store: &Store, artifact: &Descriptor) -> Result<Value, SignError> {
    let m: ImageManifest = store.read_json(artifact.digest())?;
    let layer = m.layers().first().ok_or_else(|| SignError::BadBundle("a bundle referrer without a layer".into()))?;
    serde_json::from_slice(&store.read_blob(layer.digest())?).map_err(|e| SignError::BadBundle(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_referrers_tag_is_in_the_images_repository() {
        let d = Descriptor::new(
            MediaType::ImageManifest,
            2,
            format!("sha256:{}", "a".repeat(64)).parse::<oci_spec::image::Digest>().unwrap(),
        );
        assert_eq!(tag("demo:1", &d).unwrap(), format!("demo:sha256-{}", "a".repeat(64)));
        assert_eq!(
            tag("127.0.0.1:5000/team/app", &d).unwrap(),
            format!("127.0.0.1:5000/team/app:sha256-{}", "a".repeat(64))
        );
    }

    #[test]
    fn attaching_again_replaces_the_bundle_of_the_same_predicate_type() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let m = s.put_bytes(MediaType::ImageManifest, b"{}").unwrap();
        let t = tag("demo:1", &m).unwrap();
        attach(&s, &t, &m, &[("a".into(), json!({"n": 1})), ("b".into(), json!({"n": 2}))]).unwrap();
        attach(&s, &t, &m, &[("a".into(), json!({"n": 3}))]).unwrap();
        let l = list(&s, &t).unwrap();
        assert_eq!(l.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(), ["b", "a"]);
        assert_eq!(bundle(&s, &l[1].1).unwrap(), json!({"n": 3}));
    }
}
