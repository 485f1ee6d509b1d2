//! Pulling an image (or a whole index) into the store.
//!
//! 1. The reference's manifest is fetched — by digest when the reference
//!    pins one (the tag is then only checked for movement), else by tag.
//!    A pinned reference whose content is already complete in the store
//!    needs no manifest fetch at all, so pinned builds work offline.
//! 2. From an index, the manifest for the wanted platform is chosen (the
//!    host's unless told), or — with [`PullOptions::all_platforms`] — the
//!    index is kept whole with every manifest it lists.
//! 3. Every blob the chosen manifests reference and the store lacks is
//!    fetched, several at once, each streamed into a [`BlobWriter`] that
//!    hashes as it writes and only lands in `blobs/` when the digest
//!    matches. An interrupted download (a reset, a stall past the read
//!    timeout, a body cut short) resumes where it stopped with a range
//!    request into the same writer, whose hash carries on; a body that
//!    does not hash to its digest (or is longer than its descriptor) is
//!    thrown away and fetched again, never committed.
//! 4. The tag's resolution is recorded (`records`), and compared with the
//!    previous one: a moved tag is reported in [`PullReport::tag_moved`].
//!    Every fetched blob's repository is recorded too, for cross-repository
//!    mounts on push.
//!
//! [`BlobWriter`]: crate::store::BlobWriter

use std::collections::HashSet;
use std::io::Write as _;

use futures_util::{StreamExt as _, TryStreamExt as _};
use oci_client::{Reference, RegistryOperation};
use oci_spec::image::{Descriptor, Digest, ImageIndex, MediaType};

use super::http::Failure;
use super::records::{self, PullRecord};
use super::session::Session;
use super::{RegistryError, RegistryEvent, RegistryOptions, reference as refs};
use crate::image::Platform;
use crate::store::{BlobWriter, Store, StoreError, may_be_absent};

/// Media types strata asks registries for, most preferred first.
pub(crate) const MANIFEST_TYPES: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

#[derive(Debug, Clone)]
pub struct PullOptions {
    pub registry: RegistryOptions,
    /// Keep an index whole (every platform) instead of choosing one manifest.
    pub all_platforms: bool,
    /// Point this store ref at what was pulled.
    pub local_name: Option<String>,
    /// For a reference with both a tag and a digest, also ask the registry
    /// where the tag points now, to report that it moved. Failure to ask is
    /// not an error (see [`PullReport::tag_check_failed`]).
    pub check_tag: bool,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions { registry: RegistryOptions::from_env(), all_platforms: false, local_name: None, check_tag: true }
    }
}

/// A tag that points somewhere else than it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagMoved {
    /// `registry/repository:tag`.
    pub tag: String,
    pub previous: Digest,
    pub current: Digest,
    /// The reference pinned `previous`, which is what was used.
    pub pinned: bool,
}

impl std::fmt::Display for TagMoved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.pinned {
            write!(f, "{} now points to {}; using the pinned {}", self.tag, self.current, self.previous)
        } else {
            write!(f, "{} moved from {} to {} since the last pull", self.tag, self.previous, self.current)
        }
    }
}

#[derive(Debug, Clone)]
pub struct PullReport {
    /// The reference as pulled, normalized.
    pub reference: String,
    /// What landed in the store: a manifest (with its platform, when chosen
    /// from an index) or, with `all_platforms`, the index.
    pub descriptor: Descriptor,
    /// What the reference resolved to (an index or a manifest).
    pub resolved: Digest,
    pub tag_moved: Option<TagMoved>,
    pub tag_check_failed: Option<String>,
    pub blobs_fetched: usize,
    pub bytes_fetched: u64,
    /// Blobs that were already in the store.
    pub blobs_present: usize,
}

pub(crate) fn is_index(mt: &MediaType) -> bool {
    matches!(mt, MediaType::ImageIndex)
        || matches!(mt, MediaType::Other(s) if s == "application/vnd.docker.distribution.manifest.list.v2+json")
}

pub(crate) fn is_manifest_type(mt: &MediaType) -> bool {
    is_index(mt)
        || matches!(mt, MediaType::ImageManifest | MediaType::ArtifactManifest)
        || matches!(mt, MediaType::Other(s) if s == "application/vnd.docker.distribution.manifest.v2+json")
}

/// The media type a manifest document declares, or what its shape says.
pub(crate) fn document_media_type(bytes: &[u8]) -> Result<MediaType, String> {
    let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    if v.get("schemaVersion").and_then(|s| s.as_u64()) == Some(1) {
        return Err("application/vnd.docker.distribution.manifest.v1+json".into());
    }
    if let Some(mt) = v.get("mediaType").and_then(|m| m.as_str()) {
        return Ok(MediaType::from(mt));
    }
    if v.get("manifests").is_some() {
        Ok(MediaType::ImageIndex)
    } else if v.get("config").is_some() || v.get("layers").is_some() {
        Ok(MediaType::ImageManifest)
    } else {
        Err("(none: neither a manifest nor an index)".into())
    }
}

/// What a pull reads from a manifest or index document `bytes` (fetched
/// for `reference`, hashing to `digest`), without a registry or a store:
/// its media type (refusing anything but an image manifest or index), for
/// an index the manifest chosen for `want`, and the descriptors the pull
/// would fetch next. A pure entry point for tests and fuzzing.
pub fn read_document(
    reference: &str,
    bytes: &[u8],
    digest: &Digest,
    want: &Platform,
) -> Result<(MediaType, Vec<Descriptor>), RegistryError> {
    let invalid = |message: String| RegistryError::Invalid { what: format!("manifest of {reference}"), message };
    let media_type = document_media_type(bytes).map_err(|mt| invalid(format!("unsupported media type {mt}")))?;
    if !is_manifest_type(&media_type) {
        return Err(invalid(format!("unsupported media type {media_type}")));
    }
    let desc = Descriptor::new(media_type.clone(), bytes.len() as u64, digest.clone());
    let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
    let mut next = crate::store::children_of_json(&v, &desc).map_err(|e| invalid(e.to_string()))?;
    if is_index(&media_type) {
        let index: ImageIndex = serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
        next = vec![choose_platform(reference, &index, want)?];
    }
    Ok((media_type, next))
}

fn parse_digest(s: &str, what: &str) -> Result<Digest, RegistryError> {
    s.parse::<Digest>()
        .map_err(|e| RegistryError::Invalid { what: what.to_owned(), message: format!("bad digest '{s}': {e}") })
}

/// Chooses `want`'s manifest from an index.
pub(crate) fn choose_platform(
    reference: &str,
    index: &ImageIndex,
    want: &Platform,
) -> Result<Descriptor, RegistryError> {
    let images: Vec<&Descriptor> = index.manifests().iter().filter(|d| is_manifest_type(d.media_type())).collect();
    if let Some(d) = images.iter().find(|d| d.platform().as_ref().is_some_and(|p| want.matches(p))) {
        return Ok((*d).clone());
    }
    if let [only] = images[..]
        && only.platform().is_none()
    {
        return Ok(only.clone());
    }
    let mut available: Vec<String> = images
        .iter()
        .filter_map(|d| d.platform().as_ref())
        .map(|p| {
            let mut s = format!("{}/{}", p.os(), p.architecture());
            if let Some(v) = p.variant() {
                s.push('/');
                s.push_str(v);
            }
            s
        })
        .filter(|s| s != "unknown/unknown")
        .collect();
    available.dedup();
    Err(RegistryError::NoSuchPlatform {
        reference: reference.to_owned(),
        platform: want.to_string(),
        available: if available.is_empty() { "no platforms".into() } else { available.join(", ") },
    })
}

/// Whether `desc` and everything it reaches is in the store.
fn complete(store: &Store, desc: &Descriptor) -> bool {
    let mut stack = vec![desc.clone()];
    let mut seen = HashSet::new();
    while let Some(d) = stack.pop() {
        if !seen.insert(d.digest().clone()) {
            continue;
        }
        if !store.has_blob(d.digest()) {
            if may_be_absent(&d) {
                continue;
            }
            return false;
        }
        match crate::store::children(store, &d) {
            Ok(kids) => stack.extend(kids),
            Err(_) => return false,
        }
    }
    true
}

/// Pulls `reference` into `store` (see the module docs).
pub async fn pull_async(
    store: &Store,
    reference: &Reference,
    platform: Option<&Platform>,
    opts: &PullOptions,
) -> Result<PullReport, RegistryError> {
    let want = platform.cloned().unwrap_or_else(Platform::host);
    let name = reference.to_string();
    let reg = &opts.registry;
    let pinned = reference.digest().map(|d| parse_digest(d, &name)).transpose()?;

    // Offline fast path: a pinned reference already complete in the store.
    if let Some(d) = &pinned
        && let Some(desc) = local_pinned(store, &name, d, &want, opts.all_platforms)?
    {
        let mut report = PullReport {
            reference: name,
            resolved: d.clone(),
            descriptor: desc,
            tag_moved: None,
            tag_check_failed: None,
            blobs_fetched: 0,
            bytes_fetched: 0,
            blobs_present: 0,
        };
        if opts.check_tag && reference.tag().is_some() {
            // Only a courtesy check: one try, so an offline build of a pinned
            // base does not wait out the backoff.
            let once = RegistryOptions { retry: super::RetryPolicy { attempts: 1, ..reg.retry }, ..reg.clone() };
            match Session::open(reference, RegistryOperation::Pull, &once).await {
                Ok(s) => check_pinned_tag(store, &s, reference, d, &mut report).await,
                Err(e) => report.tag_check_failed = Some(e.to_string()),
            }
        }
        finish(store, &report, opts)?;
        return Ok(report);
    }

    let s = Session::open(reference, RegistryOperation::Pull, reg).await?;
    let target = match reference.digest() {
        Some(d) => refs::with_digest(reference, d),
        None => reference.clone(),
    };
    let doing = format!("fetching the manifest of {name}");
    let (bytes, digest) = s.retry(&doing, || s.client.pull_manifest_raw(&target, &s.auth, MANIFEST_TYPES)).await?;
    let resolved = parse_digest(&digest, &name)?;
    let media_type = document_media_type(&bytes).map_err(|mt| RegistryError::UnsupportedMediaType {
        registry: s.registry().to_owned(),
        repository: s.repository().to_owned(),
        digest: digest.clone(),
        media_type: mt,
    })?;
    if !is_manifest_type(&media_type) {
        return Err(RegistryError::UnsupportedMediaType {
            registry: s.registry().to_owned(),
            repository: s.repository().to_owned(),
            digest,
            media_type: media_type.to_string(),
        });
    }
    store.put_verified(&bytes[..], &resolved)?;
    let top = Descriptor::new(media_type.clone(), bytes.len() as u64, resolved.clone());

    let (root, chosen_platform) = if is_index(&media_type) && !opts.all_platforms {
        let index: ImageIndex = serde_json::from_slice(&bytes)
            .map_err(|e| RegistryError::Invalid { what: format!("image index of {name}"), message: e.to_string() })?;
        (choose_platform(&name, &index, &want)?, Some(want.to_string()))
    } else {
        (top, None)
    };

    let mut report = PullReport {
        reference: name.clone(),
        descriptor: root.clone(),
        resolved: resolved.clone(),
        tag_moved: None,
        tag_check_failed: None,
        blobs_fetched: 0,
        bytes_fetched: 0,
        blobs_present: 0,
    };
    fetch_tree(&s, store, &root, &mut report).await?;

    if let Some(key) = records::tag_key(reference) {
        if let Some(p) = &pinned {
            if opts.check_tag {
                check_pinned_tag(store, &s, reference, p, &mut report).await;
            }
        } else {
            let previous = records::last_pull(store, reference);
            if let Some(prev) = previous.filter(|p| p.digest != resolved.as_ref())
                && let Ok(previous) = prev.digest.parse::<Digest>()
            {
                report.tag_moved =
                    Some(TagMoved { tag: key.clone(), previous, current: resolved.clone(), pinned: false });
            }
            records::record_pull(
                store,
                &PullRecord {
                    reference: key,
                    digest: resolved.to_string(),
                    manifest: root.digest().to_string(),
                    platform: chosen_platform,
                },
            )?;
        }
    }
    finish(store, &report, opts)?;
    Ok(report)
}

fn finish(store: &Store, report: &PullReport, opts: &PullOptions) -> Result<(), RegistryError> {
    if let Some(n) = &opts.local_name {
        store.set_ref(n, &report.descriptor)?;
    }
    Ok(())
}

/// The descriptor to use for a pinned digest that is complete locally.
fn local_pinned(
    store: &Store,
    name: &str,
    digest: &Digest,
    want: &Platform,
    all_platforms: bool,
) -> Result<Option<Descriptor>, RegistryError> {
    if !store.has_blob(digest) {
        return Ok(None);
    }
    let bytes = store.read_blob(digest)?;
    let Ok(mt) = document_media_type(&bytes) else { return Ok(None) };
    let top = Descriptor::new(mt.clone(), bytes.len() as u64, digest.clone());
    let root = if is_index(&mt) && !all_platforms {
        let Ok(index) = serde_json::from_slice::<ImageIndex>(&bytes) else { return Ok(None) };
        choose_platform(name, &index, want)?
    } else {
        top
    };
    Ok(complete(store, &root).then_some(root))
}

/// For `name:tag@digest`: asks where the tag points now, reports if that
/// is not the pinned digest, and records it.
async fn check_pinned_tag(
    store: &Store,
    s: &Session<'_>,
    reference: &Reference,
    pinned: &Digest,
    report: &mut PullReport,
) {
    let (Some(tag), Some(key)) = (reference.tag(), records::tag_key(reference)) else { return };
    let tagged = refs::with_tag(reference, tag);
    let doing = format!("resolving tag {key}");
    match s.retry(&doing, || s.client.fetch_manifest_digest(&tagged, &s.auth)).await {
        Ok(now) => {
            let Ok(current) = now.parse::<Digest>() else { return };
            if &current != pinned {
                report.tag_moved = Some(TagMoved {
                    tag: key.clone(),
                    previous: pinned.clone(),
                    current: current.clone(),
                    pinned: true,
                });
            }
            let _ = records::record_pull(
                store,
                &PullRecord { reference: key, digest: current.to_string(), manifest: String::new(), platform: None },
            );
        }
        Err(e) => report.tag_check_failed = Some(e.to_string()),
    }
}

/// Fetches every manifest and blob `root` reaches that the store lacks.
async fn fetch_tree(
    s: &Session<'_>,
    store: &Store,
    root: &Descriptor,
    report: &mut PullReport,
) -> Result<(), RegistryError> {
    let mut docs = vec![root.clone()];
    let mut blobs: Vec<Descriptor> = Vec::new();
    let mut seen = HashSet::new();
    let mut all = Vec::new();
    seen.insert(root.digest().clone());
    while let Some(d) = docs.pop() {
        ensure_document(s, store, &d).await?;
        all.push(d.digest().clone());
        for c in crate::store::children(store, &d)? {
            if !seen.insert(c.digest().clone()) {
                continue;
            }
            if is_manifest_type(c.media_type()) {
                docs.push(c);
            } else {
                blobs.push(c);
            }
        }
    }
    all.extend(blobs.iter().map(|b| b.digest().clone()));
    let (present, missing): (Vec<_>, Vec<_>) = blobs.into_iter().partition(|b| store.has_blob(b.digest()));
    report.blobs_present = present.len();
    let missing: Vec<Descriptor> = missing.into_iter().filter(|b| !may_be_absent(b)).collect();
    let results: Vec<u64> = futures_util::stream::iter(missing.iter().map(|b| fetch_blob(s, store, b)))
        .buffer_unordered(s.opts.max_concurrent.max(1))
        .try_collect()
        .await?;
    report.blobs_fetched = results.len();
    report.bytes_fetched = results.iter().sum();
    records::add_blob_sources(store, all.iter(), &refs::repository_name(&s.reference))?;
    Ok(())
}

/// Makes sure a manifest or index document is in the store.
async fn ensure_document(s: &Session<'_>, store: &Store, d: &Descriptor) -> Result<(), RegistryError> {
    if store.has_blob(d.digest()) {
        return Ok(());
    }
    let target = refs::with_digest(&s.reference, d.digest().as_ref());
    let doing = format!("fetching manifest {}", d.digest());
    let own = d.media_type().to_string();
    let mut accept: Vec<&str> = Vec::new();
    if !MANIFEST_TYPES.contains(&own.as_str()) {
        accept.push(&own);
    }
    accept.extend(MANIFEST_TYPES);
    let (bytes, _) = s.retry(&doing, || s.client.pull_manifest_raw(&target, &s.auth, &accept)).await?;
    store.put_verified(&bytes[..], d.digest())?;
    Ok(())
}

/// Fetches the manifest `reference` names (a tag or digest) into the store
/// without anything it references; `None` if the registry has no such
/// manifest. For documents strata reads itself (the step cache's manifest).
pub async fn fetch_manifest_async(
    store: &Store,
    reference: &Reference,
    opts: &RegistryOptions,
) -> Result<Option<Descriptor>, RegistryError> {
    let s = Session::open(reference, RegistryOperation::Pull, opts).await?;
    let doing = format!("fetching manifest {reference}");
    let accept: Vec<&str> = MANIFEST_TYPES.to_vec();
    let got = s
        .retry(&doing, || async {
            match s.client.pull_manifest_raw(reference, &s.auth, &accept).await {
                Ok(r) => Ok(Some(r)),
                Err(oci_client::errors::OciDistributionError::ImageManifestNotFoundError(_)) => Ok(None),
                Err(e) if e.to_string().contains("MANIFEST_UNKNOWN") || e.to_string().contains("NAME_UNKNOWN") => {
                    Ok(None)
                }
                Err(e) => Err(e),
            }
        })
        .await?;
    let Some((bytes, digest)) = got else { return Ok(None) };
    let digest = parse_digest(&digest, &doing)?;
    let media_type = document_media_type(&bytes).map_err(|m| RegistryError::Invalid { what: doing, message: m })?;
    store.put_verified(&bytes[..], &digest)?;
    Ok(Some(Descriptor::new(media_type, bytes.len() as u64, digest)))
}

/// Fetches the blobs `wanted` from `reference`'s repository into the store
/// (those it lacks), verified; returns the bytes fetched.
pub async fn fetch_blobs_async(
    store: &Store,
    reference: &Reference,
    wanted: &[Descriptor],
    opts: &RegistryOptions,
) -> Result<u64, RegistryError> {
    let missing: Vec<&Descriptor> = wanted.iter().filter(|d| !store.has_blob(d.digest())).collect();
    if missing.is_empty() {
        return Ok(0);
    }
    let s = Session::open(reference, RegistryOperation::Pull, opts).await?;
    let fetched: Vec<u64> = futures_util::stream::iter(missing.into_iter().map(|b| fetch_blob(&s, store, b)))
        .buffer_unordered(opts.max_concurrent.max(1))
        .try_collect()
        .await?;
    Ok(fetched.iter().sum())
}

/// Streams one blob into the store (see the module docs): a download cut
/// short continues with a range request into the same writer, whose hash
/// state carries on; the blob lands in the store only if its digest
/// matches. Failures count in a row: a retry that got bytes starts the
/// count again.
async fn fetch_blob(s: &Session<'_>, store: &Store, d: &Descriptor) -> Result<u64, RegistryError> {
    let digest = d.digest().to_string();
    let doing = format!("fetching blob {digest}");
    let mut writer: Option<BlobWriter> = None;
    let mut failures = 0;
    let mut had = 0u64;
    let total = d.size();
    s.opts.emit(RegistryEvent::BlobStarted {
        digest: d.digest().clone(),
        size: total,
        action: super::BlobAction::Fetch,
    });
    loop {
        let result = download(s, store, d, &mut writer).await;
        let failure = match result {
            Ok(()) => {
                let w = writer.take().expect("a successful transfer has a writer");
                match w.commit(Some(d.digest())) {
                    Ok((_, size)) => {
                        s.opts.emit(RegistryEvent::BlobDone {
                            digest: d.digest().clone(),
                            action: super::BlobAction::Fetch,
                        });
                        return Ok(size);
                    }
                    // Never committed: the temp file is gone, start over.
                    Err(StoreError::DigestMismatch { expected, found }) => {
                        had = 0;
                        Failure::Corrupt { expected: expected.to_string(), found: found.to_string() }
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Err(Fail::Store(e)) => return Err(e.into()),
            Err(Fail::Net(f)) => f,
        };
        let now = writer.as_ref().map_or(0, |w| w.count());
        if now > had {
            failures = 0;
        }
        had = now;
        failures += 1;
        s.after_failure(&doing, failure, failures).await?;
    }
}

enum Fail {
    Net(Failure),
    Store(StoreError),
}

impl From<Failure> for Fail {
    fn from(f: Failure) -> Self {
        Fail::Net(f)
    }
}

/// One try at the rest of a blob: from the writer's count on.
async fn download(s: &Session<'_>, store: &Store, d: &Descriptor, writer: &mut Option<BlobWriter>) -> Result<(), Fail> {
    let total = d.size();
    let offset = writer.as_ref().map_or(0, |w| w.count());
    if writer.is_some() && offset == total {
        return Ok(());
    }
    // The registry first; the descriptor's `urls` (foreign layers) if it
    // does not have the blob, never with credentials.
    let mut urls = vec![s.v2_url(&format!("blobs/{}", d.digest()))];
    urls.extend(
        d.urls()
            .iter()
            .flatten()
            .filter_map(|u| reqwest::Url::parse(u).ok())
            .filter(|u| matches!(u.scheme(), "http" | "https")),
    );
    let mut answer = None;
    for url in &urls {
        // A range request even from 0: a registry that cannot serve ranges
        // shows it now (200), not after a cut.
        let r = s.send(reqwest::Method::GET, url, false, |rb| rb.header("Range", format!("bytes={offset}-"))).await?;
        if r.status().is_success() {
            answer = Some(r);
            break;
        }
        let last = url == urls.last().expect("one URL at least");
        if r.status() != reqwest::StatusCode::NOT_FOUND || last {
            return Err(Failure::from_response(r).await.into());
        }
    }
    let r = answer.expect("an answer or an error");
    let resumes = r.status() == reqwest::StatusCode::PARTIAL_CONTENT
        && r.headers()
            .get(reqwest::header::CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().strip_prefix("bytes ")?.split('-').next()?.parse::<u64>().ok())
            == Some(offset);
    if !resumes {
        // The whole blob (200), or a range other than asked: start over.
        *writer = None;
    }
    if writer.is_none() {
        *writer = Some(store.blob_writer().map_err(Fail::Store)?);
    }
    let w = writer.as_mut().expect("just set");
    let mut stream = r.bytes_stream();
    let mut last_report = w.count();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(Failure::from)?;
        if w.count() + chunk.len() as u64 > total {
            // More than the descriptor says: not the blob asked for.
            *writer = None;
            return Err(Failure::Corrupt {
                expected: format!("{} ({total} bytes)", d.digest()),
                found: "a longer body".into(),
            }
            .into());
        }
        w.write_all(&chunk).map_err(|e| Fail::Store(StoreError::Io { path: w.temp_path().to_owned(), source: e }))?;
        if w.count() - last_report >= 1 << 20 {
            last_report = w.count();
            s.opts.emit(RegistryEvent::BlobProgress { digest: d.digest().clone(), done: w.count(), total });
        }
    }
    if w.count() < total {
        return Err(Failure::Cut(format!("the body ended after {} of {total} bytes", w.count())).into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(entries: &[(&str, &str, Option<&str>)]) -> ImageIndex {
        let manifests: Vec<serde_json::Value> = entries
            .iter()
            .enumerate()
            .map(|(i, (os, arch, variant))| {
                let mut p = serde_json::json!({ "os": os, "architecture": arch });
                if let Some(v) = variant {
                    p["variant"] = serde_json::json!(v);
                }
                serde_json::json!({
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": crate::digest::sha256(&[i as u8]).to_string(),
                    "size": 100 + i,
                    "platform": p,
                })
            })
            .collect();
        serde_json::from_value(serde_json::json!({ "schemaVersion": 2, "manifests": manifests })).unwrap()
    }

    #[test]
    fn platform_selection_from_an_index() {
        let idx = index(&[
            ("linux", "amd64", None),
            ("linux", "arm64", Some("v8")),
            ("linux", "arm", Some("v7")),
            ("unknown", "unknown", None),
        ]);
        let pick = |p: &str| choose_platform("x", &idx, &p.parse().unwrap()).map(|d| d.size());
        assert_eq!(pick("linux/amd64").unwrap(), 100);
        assert_eq!(pick("linux/arm64").unwrap(), 101);
        assert_eq!(pick("linux/arm64/v8").unwrap(), 101);
        assert_eq!(pick("linux/arm/v7").unwrap(), 102);
        let e = pick("linux/s390x").unwrap_err().to_string();
        assert!(e.contains("linux/s390x") && e.contains("linux/amd64, linux/arm64/v8, linux/arm/v7"), "{e}");
        assert!(!e.contains("unknown"), "attestation entries are not platforms: {e}");
    }

    #[test]
    fn document_media_types() {
        assert_eq!(document_media_type(br#"{"schemaVersion":2,"manifests":[]}"#).unwrap(), MediaType::ImageIndex);
        assert_eq!(document_media_type(br#"{"schemaVersion":2,"config":{}}"#).unwrap(), MediaType::ImageManifest);
        assert_eq!(
            document_media_type(
                br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json"}"#
            )
            .unwrap()
            .to_string(),
            "application/vnd.docker.distribution.manifest.v2+json"
        );
        assert!(document_media_type(br#"{"schemaVersion":1,"fsLayers":[]}"#).unwrap_err().contains("v1"));
    }
}
