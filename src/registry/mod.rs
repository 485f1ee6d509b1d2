//! Registries: pull images into the store, push them out, log in.
//!
//! Built on [oci-client] (the maintained successor of oci-distribution) for
//! the protocol — the token dance, blob HEAD/GET/upload, cross-repository
//! mounts, raw manifest GET/PUT — with what it lacks written here:
//!
//! | file | owns | why hand-written |
//! |---|---|---|
//! | `reference` | parsing `name[:tag][@digest]`, Docker Hub defaults | oci-spec's parser, better messages |
//! | `auth` | the credential lookup chain, `credHelpers`/`credsStore`, auth files | oci-client takes credentials, it does not find them |
//! | `login` | `strata login`/`logout`: check, then write `auth.json` | oci-client cannot verify HTTP Basic credentials |
//! | `transport` | HTTPS vs HTTP, certs.d CA certificates, options | oci-client takes one fixed protocol and root list per client |
//! | `session` | one repository: credentials, retries with backoff or `Retry-After`, error mapping | oci-client never retries and its errors name no registry |
//! | `http` | strata's own blob requests: the session's credentials, failures that keep `Retry-After` | oci-client's blob calls cannot resume and drop the answer's headers |
//! | `pull` | manifest/index → platform → verified blobs in the store | resumable, store-verified downloads; strata's platform rules |
//! | `push` | HEAD → mount → upload, then exact manifest bytes | `Client::push` re-serializes manifests and re-uploads everything |
//! | `upload` | one blob's upload session, continued at the registry's offset after a fault | oci-client starts a failed upload again from byte 0 |
//! | `records` | tag resolutions and blob source repositories under `strata/pulls/` | strata's store |
//! | `artifact` | OCI artifacts and the referrers API / tag-schema fallback | oci-client reads referrers but cannot attach |
//! | `tags` | a repository's tags and the documents they name (package repositories) | one session for the list and every manifest |
//! | `carry` | an image's stored referrers (signatures) along with push and pull; the tag's merge | oci-client cannot merge a referrers tag |
//!
//! The public functions are synchronous (they run a private tokio runtime,
//! on a helper thread when called from inside one); the `*_async` variants
//! are there for callers that already are async.
//!
//! Faults are tested against a real registry behind a scripted proxy
//! (`faultproxy`, `fault_tests`): resets, stalls, 5xx and 429 with and
//! without `Retry-After`, truncated and corrupted bodies, on pull, push and
//! the remote step cache.
//!
//! Credentials never appear in messages: errors are built from redacted
//! text (see `error::redact`) and [`Credentials`] has no `Display`.
//!
//! [oci-client]: https://docs.rs/oci-client

mod artifact;
mod auth;
mod carry;
mod error;
mod http;
mod login;
mod pull;
mod push;
mod records;
mod reference;
mod session;
mod tags;
mod transport;
mod upload;

#[cfg(test)]
mod fault_tests;
#[cfg(test)]
mod faultproxy;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod testutil;

use std::future::Future;

pub use artifact::{ArtifactFile, ArtifactSpec, AttachReport, attach, attach_async, build_artifact, referrers};
pub use auth::{AuthConfig, Credentials, FoundCredentials};
pub use carry::{ReferrersPushed, ReferrersSource, merge as merge_referrers, pull_referrers, push_referrers};
pub use error::RegistryError;
pub use login::{login, logout, normalize_registry};
pub use pull::{PullOptions, PullReport, TagMoved, fetch_blobs_async, fetch_manifest_async, pull_async, read_document};
pub use push::{PushOptions, PushReport, push_async};
pub use records::{PullRecord, blob_sources, last_pull};
pub use reference::{Reference, is_loopback, parse_reference, repository_name};
pub use tags::{tagged_documents, tagged_documents_async};
pub(crate) use transport::crypto_provider as install_crypto_provider;
pub use transport::{Progress, RegistryOptions, RetryPolicy};

use oci_spec::image::{Descriptor, Digest};

use crate::image::Platform;
use crate::store::Store;

/// What happened to one blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobAction {
    /// Downloaded into the store.
    Fetch,
    /// Uploaded to the registry.
    Upload,
    /// Mounted from another repository of the same registry.
    Mount,
    /// Already there; nothing sent.
    Present,
}

/// Progress of a pull or push, for [`RegistryOptions::progress`].
#[derive(Debug, Clone)]
pub enum RegistryEvent {
    BlobStarted {
        digest: Digest,
        size: u64,
        action: BlobAction,
    },
    /// Bytes so far (at most one event per MiB, and at the end of an upload).
    BlobProgress {
        digest: Digest,
        done: u64,
        total: u64,
    },
    BlobDone {
        digest: Digest,
        action: BlobAction,
    },
    /// `registry/repo:tag@sha256:…` now points at the pushed manifest.
    ManifestPushed {
        reference: String,
    },
    /// A request failed in a way worth retrying; the next try is after `delay`.
    Retrying {
        registry: String,
        doing: String,
        attempt: u32,
        delay: std::time::Duration,
        error: String,
    },
}

/// Pulls `reference` into `store`: the image for `platform` (the host's if
/// `None`) or, with `opts.all_platforms`, the whole index. See `pull`.
pub fn pull(
    store: &Store,
    reference: &Reference,
    platform: Option<&Platform>,
    opts: &PullOptions,
) -> Result<PullReport, RegistryError> {
    block_on(|| pull_async(store, reference, platform, opts))
}

/// Pushes the manifest or index `desc` (and everything it references) from
/// `store` to each of `dests`. See `push`.
pub fn push(
    store: &Store,
    desc: &Descriptor,
    dests: &[Reference],
    opts: &PushOptions,
) -> Result<PushReport, RegistryError> {
    block_on(|| push_async(store, desc, dests, opts))
}

/// The manifest `reference` names, alone (see [`fetch_manifest_async`]).
pub fn fetch_manifest(
    store: &Store,
    reference: &Reference,
    opts: &RegistryOptions,
) -> Result<Option<Descriptor>, RegistryError> {
    block_on(|| fetch_manifest_async(store, reference, opts))
}

/// Blobs of `reference`'s repository (see [`fetch_blobs_async`]).
pub fn fetch_blobs(
    store: &Store,
    reference: &Reference,
    wanted: &[Descriptor],
    opts: &RegistryOptions,
) -> Result<u64, RegistryError> {
    block_on(|| fetch_blobs_async(store, reference, wanted, opts))
}

/// What `reference` resolves to in its registry now (a HEAD request), e.g.
/// to tell whether a base image's tag moved without pulling it.
pub fn resolve_digest(reference: &Reference, opts: &RegistryOptions) -> Result<Digest, RegistryError> {
    block_on(|| async {
        let s = session::Session::open(reference, oci_client::RegistryOperation::Pull, opts).await?;
        let doing = format!("resolving {reference}");
        let d = s.retry(&doing, || s.client.fetch_manifest_digest(reference, &s.auth)).await?;
        d.parse::<Digest>().map_err(|e| RegistryError::Invalid { what: doing, message: e.to_string() })
    })
}

/// Runs a future to completion on a private runtime; on a helper thread if
/// the caller is already inside a tokio runtime (where `block_on` would
/// panic).
pub(crate) fn block_on<Fut, T>(make: impl FnOnce() -> Fut + Send) -> Result<T, RegistryError>
where
    Fut: Future<Output = Result<T, RegistryError>>,
    T: Send,
{
    let run = move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("strata-registry")
            .enable_all()
            .build()
            .map_err(RegistryError::Runtime)?;
        rt.block_on(make())
    };
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::scope(|sc| sc.spawn(run).join()).unwrap_or_else(|p| std::panic::resume_unwind(p))
    } else {
        run()
    }
}
