//! Remote execution: exec steps on a Remote Execution API (REAPI v2) farm
//! — BuildGrid, Buildbarn, NativeLink, BuildBuddy — its CAS and action
//! cache shared by every machine (docs/remote-execution.md).
//!
//! ```text
//!  strata build --remote     ──Action──▶  farm (CAS, action cache, scheduler)  ◀──leases──  strata worker --bots
//!  (worker::RemoteWorker)                                                                   runs `strata step-exec`
//! ```
//!
//! A step is an Action whose input root holds its input layers as opaque
//! blobs named by their OCI digest (never unpacked into REAPI trees, which
//! cannot carry owners, xattrs, device nodes or whiteouts), the project as
//! one tar, and a canonical JSON manifest of the op; its command is
//! `strata step-exec`, which runs the step with runc through the local
//! worker and writes the output layers with strata's layer writer, so the
//! bytes are those of a local build.
//!
//! | job | module | start at |
//! |---|---|---|
//! | where the farm is, TLS and token; the gRPC channel | [`client`] | [`client::Endpoint`], [`client::Farm`] |
//! | moving blobs: FindMissingBlobs, batch and ByteStream up and down | [`cas`] | [`client::Farm::upload`], [`client::Farm::download_to_store`] |
//! | a step as an Action: the manifest, input root, command | [`action`] | [`action::StepManifest`], [`action::build`] |
//! | `strata step-exec`: one step from an input root | [`step_exec`] | [`step_exec::run`] |
//! | `strata worker --bots`: a Remote Workers API bot | [`bot`] | [`bot::run`] |
//!
//! The client side, the [`Worker`](crate::worker::Worker) the solver
//! talks to, is [`crate::worker::RemoteWorker`].

pub mod action;
pub mod bot;
pub mod cas;
pub mod client;
pub mod step_exec;

/// What can go wrong talking to a farm or running its work.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("'{url}' is not a farm address: {why} (expected grpc://HOST:PORT or grpcs://HOST:PORT)")]
    BadUrl { url: String, why: String },
    #[error("cannot read {what} {path}: {source}")]
    ReadFile { what: &'static str, path: std::path::PathBuf, source: std::io::Error },
    #[error("cannot connect to the farm at {url}: {source}")]
    Connect { url: String, source: tonic::transport::Error },
    #[error("the farm at {url} refused {call}: {status}")]
    Rpc { url: String, call: &'static str, status: Box<tonic::Status> },
    #[error("the farm's CAS has no blob {digest} and neither has the local store: was it evicted? Build again")]
    MissingBlob { digest: String },
    #[error("blob {digest} from the farm is {got}, not what its digest says")]
    CorruptBlob { digest: String, got: String },
    #[error("step {step}: the farm answered {what}")]
    BadResult { step: String, what: String },
    #[error("step {step} failed on the farm: {message} (code {code})")]
    Execution { step: String, code: i32, message: String },
    #[error("bad step manifest {path}: {why}")]
    BadManifest { path: std::path::PathBuf, why: String },
    #[error("{what} {path}: {source}")]
    Io { what: &'static str, path: std::path::PathBuf, source: std::io::Error },
    #[error("step {step} cancelled")]
    Cancelled { step: String },
    #[error("lease {lease}: {why}")]
    Lease { lease: String, why: String },
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

pub type Result<T, E = RemoteError> = std::result::Result<T, E>;

/// The REAPI digest of an OCI `sha256:` digest and size.
pub fn reapi_digest(d: &oci_spec::image::Digest, size: u64) -> client::pb::Digest {
    client::pb::Digest { hash: d.digest().to_string(), size_bytes: size as i64 }
}

/// The REAPI digest of `bytes`.
pub fn digest_of(bytes: &[u8]) -> client::pb::Digest {
    use sha2::Digest as _;
    client::pb::Digest { hash: hex::encode(sha2::Sha256::digest(bytes)), size_bytes: bytes.len() as i64 }
}

/// The OCI digest (`sha256:HEX`) of a REAPI digest.
pub fn oci_digest(d: &client::pb::Digest) -> Result<oci_spec::image::Digest> {
    format!("sha256:{}", d.hash)
        .parse()
        .map_err(|_| RemoteError::CorruptBlob { digest: d.hash.clone(), got: "not a sha256 digest".into() })
}
