//! OCI artifacts: non-image payloads (SBOMs, signatures, test reports,
//! build logs) pushed as an image manifest with an `artifactType`, the
//! empty config and one layer per file — the OCI 1.1 guidance — and
//! attached to an image through `subject` and the referrers API.
//!
//! Attaching pushes the artifact by digest into the image's repository.
//! Registries that implement the referrers API index it by its `subject`;
//! for those that do not (Docker's distribution 2.x, among many), the
//! distribution spec's *referrers tag schema* applies: the client keeps an
//! image index of referrers under the tag `sha256-<hex of the subject>`
//! and adds the artifact to it. strata asks for the referrers after the
//! push (oci-client's `pull_referrers` reads the API and falls back to the
//! tag) and updates the tag only if the artifact is not listed, so a
//! registry with the API never gets the fallback tag. Two clients
//! attaching to one subject at the same moment can lose one entry of the
//! fallback index; the spec accepts that race.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use oci_spec::image::{Descriptor, Digest, ImageIndex, ImageManifestBuilder, MediaType};
use reqwest::header::HeaderValue;

use super::pull::{MANIFEST_TYPES, document_media_type};
use super::push::{PushOptions, PushReport, push_async};
use super::session::Session;
use super::{Reference, RegistryError, reference as refs};
use crate::store::{Store, StoreError};

/// The empty JSON config (`{}`) every artifact without a config uses.
const EMPTY_JSON: &[u8] = b"{}";
const TITLE: &str = "org.opencontainers.image.title";

/// One file of an artifact.
#[derive(Debug, Clone)]
pub struct ArtifactFile {
    pub path: PathBuf,
    pub media_type: String,
}

#[derive(Debug, Clone, Default)]
pub struct ArtifactSpec {
    /// What the artifact is, e.g. `application/spdx+json`.
    pub artifact_type: String,
    pub files: Vec<ArtifactFile>,
    pub annotations: BTreeMap<String, String>,
    /// The manifest this artifact is about (set by [`attach`]).
    pub subject: Option<Descriptor>,
}

fn empty_descriptor() -> Descriptor {
    let mut d = Descriptor::new(MediaType::EmptyJSON, EMPTY_JSON.len() as u64, crate::digest::sha256(EMPTY_JSON));
    d.set_data(Some("e30=".into()));
    d
}

/// Stores the files and the artifact manifest; returns the manifest's
/// descriptor (with its `artifactType`), ready for [`super::push`].
pub fn build_artifact(store: &Store, spec: &ArtifactSpec) -> Result<Descriptor, RegistryError> {
    if spec.artifact_type.trim().is_empty() || !spec.artifact_type.contains('/') {
        return Err(RegistryError::Invalid {
            what: "artifact".into(),
            message: format!("artifact type '{}' is not a media type (type/subtype)", spec.artifact_type),
        });
    }
    store.put_bytes(MediaType::EmptyJSON, EMPTY_JSON)?;
    let mut layers = Vec::new();
    for f in &spec.files {
        let file = std::fs::File::open(&f.path).map_err(|e| RegistryError::Io { path: f.path.clone(), source: e })?;
        let mut w = store.blob_writer()?;
        std::io::copy(&mut std::io::BufReader::new(file), &mut w)
            .map_err(|e| StoreError::Io { path: f.path.clone(), source: e })?;
        let (digest, size) = w.commit(None)?;
        let mut d = Descriptor::new(MediaType::from(f.media_type.as_str()), size, digest);
        if let Some(name) = f.path.file_name().and_then(|n| n.to_str()) {
            d.set_annotations(Some(HashMap::from([(TITLE.to_owned(), name.to_owned())])));
        }
        layers.push(d);
    }
    if layers.is_empty() {
        // "If the artifact has no payload, the layers SHOULD contain one
        // empty descriptor" (image-spec, guidelines for artifact usage).
        layers.push(empty_descriptor());
    }
    let mut b = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .artifact_type(MediaType::from(spec.artifact_type.as_str()))
        .config(empty_descriptor())
        .layers(layers);
    if !spec.annotations.is_empty() {
        b = b.annotations(spec.annotations.clone().into_iter().collect::<HashMap<_, _>>());
    }
    if let Some(s) = &spec.subject {
        b = b.subject(Descriptor::new(s.media_type().clone(), s.size(), s.digest().clone()));
    }
    let manifest =
        b.build().map_err(|e| RegistryError::Invalid { what: "artifact manifest".into(), message: e.to_string() })?;
    let mut d = store.put_json(MediaType::ImageManifest, &manifest)?;
    d.set_artifact_type(Some(MediaType::from(spec.artifact_type.as_str())));
    Ok(d)
}

/// What [`attach`] did.
#[derive(Debug, Clone)]
pub struct AttachReport {
    pub subject: Digest,
    pub artifact: Descriptor,
    pub push: PushReport,
    /// Whether the referrers tag (`sha256-<hex>`) was written, i.e. the
    /// registry does not index referrers itself.
    pub used_tag_schema: bool,
}

/// Builds an artifact about `subject` (a reference in a registry) and pushes
/// it into the subject's repository; see the module docs.
pub fn attach(
    store: &Store,
    subject: &Reference,
    spec: &ArtifactSpec,
    opts: &PushOptions,
) -> Result<AttachReport, RegistryError> {
    super::block_on(|| attach_async(store, subject, spec, opts))
}

pub async fn attach_async(
    store: &Store,
    subject: &Reference,
    spec: &ArtifactSpec,
    opts: &PushOptions,
) -> Result<AttachReport, RegistryError> {
    let s = Session::open(subject, oci_client::RegistryOperation::Push, &opts.registry).await?;
    let doing = format!("fetching the manifest of {subject}");
    let (bytes, digest) = s.retry(&doing, || s.client.pull_manifest_raw(subject, &s.auth, MANIFEST_TYPES)).await?;
    let subject_digest: Digest = digest
        .parse()
        .map_err(|e| RegistryError::Invalid { what: doing.clone(), message: format!("bad digest: {e}") })?;
    let mt = document_media_type(&bytes).unwrap_or(MediaType::ImageManifest);
    let mut spec = spec.clone();
    spec.subject = Some(Descriptor::new(mt, bytes.len() as u64, subject_digest.clone()));
    let artifact = build_artifact(store, &spec)?;
    let dest = refs::with_digest(subject, artifact.digest().as_ref());
    let push = push_async(store, &artifact, &[dest], opts).await?;

    let by_digest = refs::with_digest(subject, subject_digest.as_ref());
    let listed = referrers_of(&s, &by_digest, None).await?;
    let used_tag_schema = !listed.manifests().iter().any(|d| d.digest() == artifact.digest());
    if used_tag_schema {
        add_to_referrers_tag(&s, &subject_digest, &artifact, &spec).await?;
    }
    Ok(AttachReport { subject: subject_digest, artifact, push, used_tag_schema })
}

/// The artifacts attached to `subject` (which must name a digest, or a tag
/// that is resolved first), optionally only those of `artifact_type`.
pub fn referrers(
    subject: &Reference,
    artifact_type: Option<&str>,
    opts: &super::RegistryOptions,
) -> Result<Vec<Descriptor>, RegistryError> {
    super::block_on(|| async {
        let s = Session::open(subject, oci_client::RegistryOperation::Pull, opts).await?;
        let by_digest = match subject.digest() {
            Some(_) => subject.clone(),
            None => {
                let doing = format!("resolving {subject}");
                let d = s.retry(&doing, || s.client.fetch_manifest_digest(subject, &s.auth)).await?;
                refs::with_digest(subject, &d)
            }
        };
        Ok(referrers_of(&s, &by_digest, artifact_type).await?.manifests().clone())
    })
}

async fn referrers_of(
    s: &Session<'_>,
    by_digest: &Reference,
    artifact_type: Option<&str>,
) -> Result<ImageIndex, RegistryError> {
    let doing = format!("listing the referrers of {by_digest}");
    let index = s.retry(&doing, || s.client.pull_referrers(by_digest, artifact_type)).await?;
    let v = serde_json::to_value(&index)
        .map_err(|e| RegistryError::Invalid { what: doing.clone(), message: e.to_string() })?;
    serde_json::from_value(v).map_err(|e| RegistryError::Invalid { what: doing, message: e.to_string() })
}

/// Adds `artifact` to the index under the referrers tag of `subject`.
async fn add_to_referrers_tag(
    s: &Session<'_>,
    subject: &Digest,
    artifact: &Descriptor,
    spec: &ArtifactSpec,
) -> Result<(), RegistryError> {
    let tag = format!("{}-{}", subject.algorithm(), subject.digest());
    let target = refs::with_tag(&s.reference, &tag);
    let doing = format!("reading the referrers tag {tag}");
    let accept = [MANIFEST_TYPES[0]];
    let mut index: serde_json::Value =
        match s.retry(&doing, || s.client.pull_manifest_raw(&target, &s.auth, &accept)).await {
            Ok((bytes, _)) => serde_json::from_slice(&bytes)
                .map_err(|e| RegistryError::Invalid { what: doing.clone(), message: e.to_string() })?,
            Err(RegistryError::NotFound { .. }) => serde_json::json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": [],
            }),
            Err(e) => return Err(e),
        };
    let mut entry = serde_json::json!({
        "mediaType": artifact.media_type().to_string(),
        "digest": artifact.digest().to_string(),
        "size": artifact.size(),
        "artifactType": spec.artifact_type,
    });
    if !spec.annotations.is_empty() {
        entry["annotations"] = serde_json::to_value(&spec.annotations).expect("a string map is JSON");
    }
    let list = index.get_mut("manifests").and_then(|m| m.as_array_mut()).ok_or_else(|| RegistryError::Invalid {
        what: doing.clone(),
        message: "the tag does not hold an image index".into(),
    })?;
    list.retain(|e| e.get("digest").and_then(|d| d.as_str()) != Some(artifact.digest().as_ref()));
    list.push(entry);
    let bytes =
        crate::json::to_vec(&index).map_err(|e| RegistryError::Invalid { what: doing, message: e.to_string() })?;
    let ct = HeaderValue::from_static("application/vnd.oci.image.index.v1+json");
    let doing = format!("updating the referrers tag {tag}");
    let body = bytes::Bytes::from(bytes);
    s.retry(&doing, || s.client.push_manifest_raw(&target, body.clone(), ct.clone())).await?;
    Ok(())
}
