//! Input layers → committed containerd snapshots named by chain ID.
//!
//! The same scheme containerd's own unpacker uses, so one snapshot per
//! distinct layer stack exists however many steps (or images) use it:
//!
//! 1. find the topmost chain ID that already exists (`Snapshots.Stat`); its
//!    ancestors exist too (a committed snapshot keeps its parent);
//! 2. for each layer above it: make sure its blob is in containerd's content
//!    store (`Content.Info`, else `Content.Write` from strata's store),
//!    `Prepare` an extraction snapshot over the previous chain ID,
//!    `Diff.Apply` the blob onto it, check the applied diff_id, and `Commit`
//!    it under its chain ID. A concurrent step committing the same chain ID
//!    first is fine (`AlreadyExists`: drop ours, use theirs).
//!
//! Committed snapshots carry `containerd.io/gc.root`, so containerd's GC
//! keeps them after the step's lease is gone (that is the cache), plus
//! [`CHAIN_LABEL`] so [`super::ContainerdExecutor::prune`] can find them.
//! Blobs are only needed while applying: they live in the step's lease and
//! are collected after it.

use std::collections::HashMap;

use super::rpc::{Conn, RpcError};
use crate::layer::LayerInfo;
use crate::store::Store;
use containerd_client::tonic::Code;
use containerd_client::types::Descriptor;

/// The label strata puts on the chain snapshots it commits (value: the
/// layer's diff_id).
pub const CHAIN_LABEL: &str = "io.strata.diff-id";

/// The OCI chain IDs of a stack of layers, bottom to top
/// (image-spec `config.md`, "Layer ChainID"):
/// `ChainID(L0) = DiffID(L0)`, `ChainID(L0..n) = sha256(ChainID(L0..n-1) + " " + DiffID(Ln))`.
pub fn chain_ids<S: AsRef<str>>(diff_ids: &[S]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.as_ref().to_owned(),
            Some(parent) => crate::digest::sha256(format!("{parent} {}", d.as_ref()).as_bytes()).to_string(),
        };
        out.push(next);
    }
    out
}

pub(crate) enum UnpackError {
    Rpc(RpcError),
    Store(crate::store::StoreError),
    /// containerd applied a layer and got another diff_id than strata recorded.
    DiffIdMismatch {
        layer: String,
        expected: String,
        found: String,
    },
}

impl From<RpcError> for UnpackError {
    fn from(e: RpcError) -> Self {
        UnpackError::Rpc(e)
    }
}

/// Makes sure the chain snapshots of `layers` exist; returns the top chain
/// ID (`None` for no layers). `conn` carries the step's lease; extraction
/// snapshots in flight are listed in `pending` so the caller's cleanup can
/// remove them if this fails halfway. `id` makes temporary names unique.
pub(crate) async fn ensure_chain(
    conn: &Conn,
    store: &Store,
    layers: &[LayerInfo],
    id: &str,
    pending: &mut Vec<String>,
) -> Result<Option<String>, UnpackError> {
    let diff_ids: Vec<String> = layers.iter().map(|l| l.diff_id.to_string()).collect();
    let chain = chain_ids(&diff_ids);
    let mut have = 0;
    for i in (0..chain.len()).rev() {
        if conn.snapshot_exists(&chain[i]).await? {
            have = i + 1;
            break;
        }
    }
    if have > 0 {
        // Hold the existing stack for the step (a prune or image removal
        // running meanwhile must not take it away).
        conn.lease_add(&format!("snapshots/{}", conn.snapshotter), &chain[have - 1]).await?;
    }
    for i in have..chain.len() {
        let layer = &layers[i];
        let digest = layer.digest.to_string();
        if conn.content_exists(&digest).await? {
            conn.lease_add("content", &digest).await?;
        } else {
            let path = store.blob_path(&layer.digest);
            if !path.is_file() {
                return Err(UnpackError::Store(crate::store::StoreError::BlobMissing { digest: layer.digest.clone() }));
            }
            conn.write_blob(&path, &digest, layer.size, &format!("{id}-{}", &layer.digest.digest()[..12])).await?;
        }
        let key = format!("{id}-extract-{i}");
        let parent = i.checked_sub(1).map(|p| chain[p].as_str());
        let mounts = conn.prepare(&key, parent).await?;
        pending.push(key.clone());
        let desc = Descriptor {
            media_type: layer.media_type().to_string(),
            digest: digest.clone(),
            size: layer.size as i64,
            annotations: HashMap::new(),
        };
        let applied = conn.apply(desc, mounts).await?;
        if applied != diff_ids[i] {
            return Err(UnpackError::DiffIdMismatch { layer: digest, expected: diff_ids[i].clone(), found: applied });
        }
        let labels = HashMap::from([
            ("containerd.io/gc.root".to_owned(), super::rfc3339(std::time::SystemTime::now())),
            (CHAIN_LABEL.to_owned(), diff_ids[i].clone()),
        ]);
        match conn.commit(&chain[i], &key, labels).await {
            Ok(()) => {}
            Err(e) if e.code() == Code::AlreadyExists => {
                super::rpc::gone_ok(conn.remove_snapshot(&key).await)?;
            }
            Err(e) => return Err(e.into()),
        }
        pending.retain(|k| k != &key);
    }
    Ok(chain.last().cloned())
}
