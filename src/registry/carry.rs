//! Carrying an image's referrers (signatures, attestations attached by
//! `subject`) along with `strata push` and `strata pull`.
//!
//! In the store, the referrers of a manifest are an image index under a
//! ref (strata keeps it at the distribution spec's referrers tag,
//! `sha256-<hex>`, of the image's repository; see `sign::referrers`). On
//! push, each artifact manifest it lists goes to the destination repository
//! by digest, with its blobs; then, where the registry has no referrers API
//! (`GET /v2/<name>/referrers/<digest>` answers 404), the index goes under
//! the tag `sha256-<hex>` — merged with the index the registry already
//! holds there, keeping the entries it has that we do not, as the spec asks
//! of clients. A registry with the API indexes the pushed artifacts by
//! their `subject` itself, and gets no tag.
//!
//! On pull, the referrers come from the API, or from the tag when the API
//! answers 404; those of the wanted artifact type are fetched (manifest and
//! blobs, each checked against its digest) and their descriptors returned,
//! for the caller to keep under its own ref. Nothing is trusted because it
//! was listed: `strata verify-signature` checks every bundle with the key.

use std::collections::HashSet;

use bytes::Bytes;
use oci_client::{Reference, RegistryOperation};
use oci_spec::image::{Descriptor, Digest, ImageIndex, ImageIndexBuilder, MediaType};
use reqwest::header::HeaderValue;

use super::pull::MANIFEST_TYPES;
use super::push::{PushOptions, push_async};
use super::session::Session;
use super::{RegistryError, RegistryOptions, reference as refs};
use crate::store::Store;

const INDEX_TYPE: &str = "application/vnd.oci.image.index.v1+json";

/// Where a registry keeps the referrers of a manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferrersSource {
    /// The OCI 1.1 referrers API.
    Api,
    /// The referrers tag schema, `sha256-<hex>`.
    Tag,
}

/// The referrers tag of `subject`: `sha256-<hex>`.
pub fn tag_of(subject: &Digest) -> String {
    format!("{}-{}", subject.algorithm().as_ref(), subject.digest())
}

/// `ours`, then the entries of `theirs` whose digest is not among ours: the
/// merge the distribution spec asks of a client updating a referrers tag
/// (it must not drop what others attached).
pub fn merge(ours: &[Descriptor], theirs: &[Descriptor]) -> Vec<Descriptor> {
    let mine: HashSet<&Digest> = ours.iter().map(|d| d.digest()).collect();
    let mut seen = HashSet::new();
    ours.iter()
        .cloned()
        .chain(theirs.iter().filter(|d| !mine.contains(d.digest())).cloned())
        .filter(|d| seen.insert(d.digest().clone()))
        .collect()
}

fn invalid(what: &str, e: impl std::fmt::Display) -> RegistryError {
    RegistryError::Invalid { what: what.to_owned(), message: e.to_string() }
}

fn parse_index(what: &str, bytes: &[u8]) -> Result<ImageIndex, RegistryError> {
    serde_json::from_slice(bytes).map_err(|e| invalid(what, format!("not an image index: {e}")))
}

/// The referrers of `subject` in the session's repository, and where they
/// were found. An absent tag is an empty list.
async fn list(s: &Session<'_>, subject: &Digest) -> Result<(Vec<Descriptor>, ReferrersSource), RegistryError> {
    let url = s.v2_url(&format!("referrers/{subject}"));
    let doing = format!("listing the referrers of {}@{subject}", refs::repository_name(&s.reference));
    let answer = s
        .retry(&doing, || async {
            let r = s.send(reqwest::Method::GET, &url, false, |rb| rb.header("Accept", INDEX_TYPE)).await?;
            match r.status() {
                st if st.is_success() => Ok(Some(r.bytes().await.map_err(super::http::Failure::from)?)),
                reqwest::StatusCode::NOT_FOUND => Ok(None),
                _ => Err(super::http::Failure::from_response(r).await),
            }
        })
        .await?;
    if let Some(body) = answer {
        return Ok((parse_index(&doing, &body)?.manifests().clone(), ReferrersSource::Api));
    }
    let target = refs::with_tag(&s.reference, &tag_of(subject));
    let doing = format!("reading the referrers tag {}", tag_of(subject));
    let accept = [INDEX_TYPE];
    match s.retry(&doing, || s.client.pull_manifest_raw(&target, &s.auth, &accept)).await {
        Ok((bytes, _)) => Ok((parse_index(&doing, &bytes)?.manifests().clone(), ReferrersSource::Tag)),
        Err(RegistryError::NotFound { .. }) => Ok((Vec::new(), ReferrersSource::Tag)),
        Err(e) => Err(e),
    }
}

/// What [`push_referrers`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReferrersPushed {
    /// Artifact manifests sent (each counted once, whatever the number of
    /// destination repositories).
    pub artifacts: usize,
    /// Referrers tags written (registries without the referrers API).
    pub tags: usize,
}

/// Pushes, for each `(subject, index)` — a manifest already pushed to
/// `dests` and its referrers index in the store — the artifacts the index
/// lists, and (where needed) the merged index under the referrers tag, to
/// each repository of `dests`; see the module docs.
pub async fn push_referrers_async(
    store: &Store,
    found: &[(Descriptor, Descriptor)],
    dests: &[Reference],
    opts: &PushOptions,
) -> Result<ReferrersPushed, RegistryError> {
    let mut repos: Vec<&Reference> = Vec::new();
    for d in dests {
        if !repos.iter().any(|r| refs::same_repository(r, d)) {
            repos.push(d);
        }
    }
    let mut sent = HashSet::new();
    let mut report = ReferrersPushed::default();
    for repo in repos {
        let s = Session::open(repo, RegistryOperation::Push, &opts.registry).await?;
        for (subject, index_desc) in found {
            let ours: ImageIndex = store.read_json(index_desc.digest())?;
            for m in ours.manifests() {
                push_async(store, m, &[refs::with_digest(repo, m.digest().as_ref())], opts).await?;
                sent.insert(m.digest().clone());
            }
            let (theirs, source) = list(&s, subject.digest()).await?;
            if source == ReferrersSource::Api {
                continue;
            }
            let merged = merge(ours.manifests(), &theirs);
            let bytes = if merged.len() == ours.manifests().len() {
                store.read_blob(index_desc.digest())?
            } else {
                let index = ImageIndexBuilder::default()
                    .schema_version(2u32)
                    .media_type(MediaType::ImageIndex)
                    .manifests(merged)
                    .build()
                    .map_err(|e| invalid("the merged referrers index", e))?;
                crate::json::to_vec(&index).map_err(|e| invalid("the merged referrers index", e))?
            };
            let tag = tag_of(subject.digest());
            let target = refs::with_tag(&s.reference, &tag);
            let doing = format!("pushing the referrers tag {}:{tag}", refs::repository_name(&s.reference));
            let body = Bytes::from(bytes);
            let ct = HeaderValue::from_static(INDEX_TYPE);
            s.retry(&doing, || s.client.push_manifest_raw(&target, body.clone(), ct.clone())).await?;
            report.tags += 1;
        }
    }
    report.artifacts = sent.len();
    Ok(report)
}

/// Fetches the referrers of `subject` in `reference`'s repository whose
/// `artifactType` is `artifact_type` (manifests and blobs, verified, into
/// the store); returns their descriptors, with the annotations and artifact
/// type their manifests carry where the listing left them out.
pub async fn pull_referrers_async(
    store: &Store,
    reference: &Reference,
    subject: &Digest,
    artifact_type: &str,
    opts: &RegistryOptions,
) -> Result<Vec<Descriptor>, RegistryError> {
    let s = Session::open(reference, RegistryOperation::Pull, opts).await?;
    let (listed, _) = list(&s, subject).await?;
    let wanted = |d: &Descriptor| d.artifact_type().as_ref().is_some_and(|t| t.to_string() == artifact_type);
    let mut out = Vec::new();
    for mut d in listed.into_iter().filter(wanted) {
        if !store.has_blob(d.digest()) {
            let target = refs::with_digest(&s.reference, d.digest().as_ref());
            let doing = format!("fetching referrer {}", d.digest());
            let (bytes, _) = s.retry(&doing, || s.client.pull_manifest_raw(&target, &s.auth, MANIFEST_TYPES)).await?;
            store.put_verified(&bytes[..], d.digest())?;
        }
        let m: serde_json::Value = store.read_json(d.digest())?;
        let blobs = crate::store::children_of_json(&m, &d)?;
        super::pull::fetch_blobs_async(store, &s.reference, &blobs, opts).await?;
        if d.annotations().is_none()
            && let Some(a) = m.get("annotations")
        {
            d.set_annotations(serde_json::from_value(a.clone()).ok());
        }
        out.push(d);
    }
    Ok(out)
}

/// [`push_referrers_async`], blocking.
pub fn push_referrers(
    store: &Store,
    found: &[(Descriptor, Descriptor)],
    dests: &[Reference],
    opts: &PushOptions,
) -> Result<ReferrersPushed, RegistryError> {
    super::block_on(|| push_referrers_async(store, found, dests, opts))
}

/// [`pull_referrers_async`], blocking.
pub fn pull_referrers(
    store: &Store,
    reference: &Reference,
    subject: &Digest,
    artifact_type: &str,
    opts: &RegistryOptions,
) -> Result<Vec<Descriptor>, RegistryError> {
    super::block_on(|| pull_referrers_async(store, reference, subject, artifact_type, opts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(n: u8) -> Descriptor {
        Descriptor::new(MediaType::ImageManifest, n as u64, crate::digest::sha256(&[n]))
    }

    #[test]
    fn a_merge_keeps_ours_then_what_only_the_registry_has() {
        let (a, b, c) = (desc(1), desc(2), desc(3));
        let mut b_there = b.clone();
        b_there.set_size(99);
        let merged = merge(&[a.clone(), b.clone()], &[c.clone(), b_there, a.clone()]);
        assert_eq!(merged, vec![a.clone(), b, c.clone()], "ours win for a digest both have");
        assert_eq!(merge(std::slice::from_ref(&a), &[]), vec![a.clone()]);
        assert_eq!(merge(&[], &[c.clone(), c.clone()]), vec![c], "no duplicates");
        assert_eq!(merge(&[a.clone(), a.clone()], &[]), vec![a]);
    }

    #[test]
    fn the_referrers_tag_names_the_subject() {
        let d = crate::digest::sha256(b"x");
        assert_eq!(tag_of(&d), format!("sha256-{}", d.digest()));
    }
}
