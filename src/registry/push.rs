//! Pushing a stored image, index or artifact to one or more destinations.
//!
//! Per destination repository (several tags of one repository share one
//! pass):
//!
//! 1. each blob is checked with a HEAD first, and skipped when the
//!    registry has it — so a blob that was fully uploaded by an earlier,
//!    interrupted push is not uploaded again;
//! 2. a missing blob that the store knows to be in another repository of
//!    the same registry (pulled from there, or pushed there before — see
//!    `records`) is mounted across repositories instead of uploaded;
//! 3. the rest are uploaded, several at once, each read from its file (see
//!    `upload`). By default a blob goes as one streamed request
//!    (containerd's way: on a local distribution registry a 200 MiB blob
//!    takes 0.8 s this way, 1.8 s in 4 MiB chunks — distribution re-reads
//!    its hash state on every chunk); when the registry or a proxy refuses
//!    that (413, 405, …), after a fault, or with [`PushOptions::chunked`],
//!    it goes as the distribution spec's chunked upload, 4 MiB PATCHes. A
//!    failed upload continues at the offset the registry reports, and a
//!    blob the registry turns out to have after a failure is not sent
//!    again; 5xx, 429 (waiting out `Retry-After`) and broken connections
//!    are retried;
//! 4. manifests go last, children before their index, as the exact bytes
//!    the store holds — never re-serialized — so the registry computes the
//!    local digest; with [`PushOptions::verify`] each tag is then resolved
//!    again and must give that digest.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::{StreamExt as _, TryStreamExt as _};
use oci_client::{Reference, RegistryOperation};
use oci_spec::image::{Descriptor, Digest};
use reqwest::header::HeaderValue;

use super::pull::is_manifest_type;
use super::records;
use super::session::Session;
use super::{BlobAction, RegistryError, RegistryEvent, RegistryOptions, reference as refs, upload};
use crate::store::{Store, StoreError, may_be_absent};

#[derive(Debug, Clone)]
pub struct PushOptions {
    pub registry: RegistryOptions,
    /// After pushing, resolve each tag again and require the local digest.
    pub verify: bool,
    /// Always upload blobs as a series of 4 MiB PATCH requests (the
    /// distribution spec's chunked upload). Off by default: one streamed
    /// request is twice as fast, and strata falls back to chunks by itself
    /// when a registry or proxy refuses a large request.
    pub chunked: bool,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions { registry: RegistryOptions::from_env(), verify: true, chunked: false }
    }
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushReport {
    /// The digest of the pushed manifest or index: the local one.
    pub digest: Digest,
    pub media_type: String,
    /// Every destination as pullable by digest: `registry/repo:tag@sha256:…`.
    pub pushed: Vec<String>,
    pub blobs_uploaded: usize,
    pub bytes_uploaded: u64,
    /// Blobs mounted from another repository of the same registry.
    pub blobs_mounted: usize,
    /// Blobs the registry already had.
    pub blobs_present: usize,
    /// Bytes of blob data the registries accepted: `bytes_uploaded`, plus
    /// what an upload a registry dropped after a fault had had before.
    pub bytes_sent: u64,
    /// Uploads that continued at the registry's offset after a fault.
    pub uploads_resumed: usize,
    /// Uploads the registry had dropped after a fault, started again.
    pub uploads_restarted: usize,
    pub manifests_pushed: usize,
}

/// Everything a push sends, in sending order.
struct Plan {
    /// Leaves (configs, layers), each once.
    blobs: Vec<Descriptor>,
    /// Manifests and indexes, children first; the root is last.
    manifests: Vec<Descriptor>,
}

fn plan(store: &Store, root: &Descriptor) -> Result<Plan, RegistryError> {
    fn visit(
        store: &Store,
        d: &Descriptor,
        seen: &mut std::collections::HashSet<Digest>,
        plan: &mut Plan,
    ) -> Result<(), RegistryError> {
        if !seen.insert(d.digest().clone()) {
            return Ok(());
        }
        if !store.has_blob(d.digest()) {
            if may_be_absent(d) {
                return Ok(());
            }
            return Err(StoreError::BlobMissing { digest: d.digest().clone() }.into());
        }
        if is_manifest_type(d.media_type()) {
            for c in crate::store::children(store, d)? {
                visit(store, &c, seen, plan)?;
            }
            plan.manifests.push(d.clone());
        } else {
            plan.blobs.push(d.clone());
        }
        Ok(())
    }
    if !is_manifest_type(root.media_type()) {
        return Err(RegistryError::Invalid {
            what: format!("pushing {}", root.digest()),
            message: format!("media type {} is not a manifest or an index", root.media_type()),
        });
    }
    let mut p = Plan { blobs: Vec::new(), manifests: Vec::new() };
    visit(store, root, &mut Default::default(), &mut p)?;
    Ok(p)
}

/// Pushes `desc` (from `store`) to every destination; see the module docs.
pub async fn push_async(
    store: &Store,
    desc: &Descriptor,
    dests: &[Reference],
    opts: &PushOptions,
) -> Result<PushReport, RegistryError> {
    if dests.is_empty() {
        return Err(RegistryError::Invalid { what: "push".into(), message: "no destination given".into() });
    }
    for d in dests {
        if let Some(pinned) = d.digest()
            && pinned != desc.digest().as_ref()
        {
            return Err(RegistryError::BadDestination {
                reference: d.to_string(),
                reason: format!("it names digest {pinned}, but the image is {}", desc.digest()),
            });
        }
    }
    let plan = plan(store, desc)?;
    let mut report = PushReport {
        digest: desc.digest().clone(),
        media_type: desc.media_type().to_string(),
        pushed: Vec::new(),
        blobs_uploaded: 0,
        bytes_uploaded: 0,
        blobs_mounted: 0,
        blobs_present: 0,
        bytes_sent: 0,
        uploads_resumed: 0,
        uploads_restarted: 0,
        manifests_pushed: 0,
    };
    // Group by repository, keeping the order destinations were given in.
    let mut groups: Vec<Vec<&Reference>> = Vec::new();
    for d in dests {
        match groups.iter_mut().find(|g| refs::same_repository(g[0], d)) {
            Some(g) => g.push(d),
            None => groups.push(vec![d]),
        }
    }
    for group in groups {
        push_repository(store, &plan, desc, &group, opts, &mut report).await?;
    }
    Ok(report)
}

async fn push_repository(
    store: &Store,
    plan: &Plan,
    root: &Descriptor,
    dests: &[&Reference],
    opts: &PushOptions,
    report: &mut PushReport,
) -> Result<(), RegistryError> {
    let s = Session::open(dests[0], RegistryOperation::Push, &opts.registry).await?;
    let results: Vec<(BlobAction, upload::Uploaded)> =
        futures_util::stream::iter(plan.blobs.iter().map(|b| push_blob(&s, store, b, opts.chunked)))
            .buffer_unordered(opts.registry.max_concurrent.max(1))
            .try_collect()
            .await?;
    for ((action, up), b) in results.into_iter().zip(&plan.blobs) {
        report.bytes_sent += up.bytes_sent;
        report.uploads_resumed += up.resumed as usize;
        report.uploads_restarted += up.restarted as usize;
        match action {
            BlobAction::Upload => {
                report.blobs_uploaded += 1;
                report.bytes_uploaded += b.size();
            }
            BlobAction::Mount => report.blobs_mounted += 1,
            BlobAction::Present => report.blobs_present += 1,
            BlobAction::Fetch => {}
        }
    }
    let (children, _) = plan.manifests.split_at(plan.manifests.len() - 1);
    for m in children {
        let target = refs::with_digest(&s.reference, m.digest().as_ref());
        let doing = format!("checking manifest {}", m.digest());
        let there = s
            .retry(&doing, || async {
                match s.client.fetch_manifest_digest(&target, &s.auth).await {
                    Ok(d) => Ok(d == m.digest().as_ref()),
                    Err(e) if Session::is_retryable(&e) => Err(e),
                    Err(_) => Ok(false),
                }
            })
            .await?;
        if !there {
            put_manifest(&s, store, m, &target).await?;
            report.manifests_pushed += 1;
        }
    }
    let repo = refs::repository_name(&s.reference);
    for d in dests {
        let target = match d.tag() {
            Some(t) => refs::with_tag(&s.reference, t),
            None => refs::with_digest(&s.reference, root.digest().as_ref()),
        };
        put_manifest(&s, store, root, &target).await?;
        report.manifests_pushed += 1;
        if opts.verify {
            let doing = format!("checking what {target} resolves to after the push");
            let got = s.retry(&doing, || s.client.fetch_manifest_digest(&target, &s.auth)).await?;
            if got != root.digest().as_ref() {
                return Err(RegistryError::DigestMismatch {
                    repository: refs::repository_name(&s.reference),
                    what: format!("checking the manifest pushed as {target}"),
                    expected: root.digest().to_string(),
                    found: got,
                });
            }
        }
        let shown = match d.tag() {
            Some(t) => format!("{repo}:{t}@{}", root.digest()),
            None => format!("{repo}@{}", root.digest()),
        };
        opts.registry.emit(RegistryEvent::ManifestPushed { reference: shown.clone() });
        report.pushed.push(shown);
    }
    let all = plan.blobs.iter().chain(&plan.manifests).map(|d| d.digest());
    records::add_blob_sources(store, all, &repo)?;
    Ok(())
}

async fn put_manifest(s: &Session<'_>, store: &Store, m: &Descriptor, target: &Reference) -> Result<(), RegistryError> {
    let bytes = Bytes::from(store.read_blob(m.digest())?);
    let ct = HeaderValue::from_str(m.media_type().as_ref()).map_err(|e| RegistryError::Invalid {
        what: format!("manifest {}", m.digest()),
        message: format!("media type is not a valid header: {e}"),
    })?;
    let doing = format!("pushing manifest {} as {target}", m.digest());
    s.retry(&doing, || s.client.push_manifest_raw(target, bytes.clone(), ct.clone())).await?;
    Ok(())
}

/// HEAD, then mount, then upload (see the module docs).
async fn push_blob(
    s: &Session<'_>,
    store: &Store,
    d: &Descriptor,
    chunked: bool,
) -> Result<(BlobAction, upload::Uploaded), RegistryError> {
    let digest = d.digest().to_string();
    let emit = |action| s.opts.emit(RegistryEvent::BlobDone { digest: d.digest().clone(), action });
    let exists = s.retry(&format!("checking blob {digest}"), || s.has_blob(&digest)).await?;
    if exists {
        emit(BlobAction::Present);
        return Ok((BlobAction::Present, Default::default()));
    }
    let candidates = records::blob_sources(store, d.digest()).into_iter().filter_map(|src| {
        let (registry, repository) = src.split_once('/')?;
        (registry == s.registry() && repository != s.repository()).then(|| repository.to_owned())
    });
    for repository in candidates.take(2) {
        let from = Reference::with_digest(s.registry().to_owned(), repository, digest.clone());
        // A registry that cannot mount answers 202 and opens an upload
        // instead (oci-client calls that a spec violation): fall through.
        if s.client.mount_blob(&s.reference, &from, &digest).await.is_ok() {
            emit(BlobAction::Mount);
            return Ok((BlobAction::Mount, Default::default()));
        }
    }
    s.opts.emit(RegistryEvent::BlobStarted { digest: d.digest().clone(), size: d.size(), action: BlobAction::Upload });
    let size = d.size();
    let progress = s.opts.progress.clone();
    let digest_ = d.digest().clone();
    let last = std::sync::atomic::AtomicU64::new(0);
    let on_bytes = move |done: u64| {
        // At most one event per MiB, and the last one.
        let prev = last.load(std::sync::atomic::Ordering::Relaxed);
        if done < prev + (1 << 20) && done != size {
            return;
        }
        last.store(done, std::sync::atomic::Ordering::Relaxed);
        if let Some(p) = &progress {
            p(&RegistryEvent::BlobProgress { digest: digest_.clone(), done, total: size });
        }
    };
    let blob = upload::Blob { path: store.blob_path(d.digest()), digest: &digest, size, on_bytes: Arc::new(on_bytes) };
    let up = upload::upload(s, &blob, chunked).await?;
    emit(BlobAction::Upload);
    Ok((BlobAction::Upload, up))
}
