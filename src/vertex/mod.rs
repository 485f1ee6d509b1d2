//! How each kind of vertex runs (DESIGN.md §3: "how each op kind is keyed
//! and run"; the keys are [`crate::solver::keys`]). A job thread of the
//! solver calls [`run`] with the vertex's input layers resolved, in its
//! op's input order; every kind returns its outputs as layers in the store.
//!
//! | op | module | runs |
//! |---|---|---|
//! | exec | [`exec_job`] | through the [`Worker`] |
//! | fetch | [`fetch`] | host-side: `sources::fetch`, then the layer writer |
//! | layer | [`layers`] | host-side: filter, squash, relocate over layer streams |
//! | host | [`host`] | host-side: the frontend's op over trees read from the layers' snapshots |
//! | the image | [`image`] | host-side: config, manifest, index |

pub mod fetch;
pub mod host;
pub mod hostfs;
pub mod image;
pub mod layers;
pub mod relocate;

use std::path::{Path, PathBuf};

use strata_frontend_api::Frontend;
use strata_frontend_api::graph::{ExecOp, MountSource, Op, Vertex};

use crate::executor::Cancel;
use crate::layer::{self, Compression, IdMode, LayerInfo, OutputOptions, WhiteoutSource, WriteOptions};
use crate::resolve::Resolved;
use crate::store::Store;
use crate::worker::{ExecJob, Outputs, Worker};

/// What every vertex of one build runs with.
#[derive(Clone)]
pub struct Context<'a> {
    pub store: &'a Store,
    pub frontend: &'a dyn Frontend,
    /// `None` when planning (nothing runs then).
    pub worker: Option<&'a dyn Worker>,
    pub project_dir: PathBuf,
    pub compression: Compression,
    pub epoch: i64,
    pub cancel: Cancel,
    pub resolved: &'a Resolved,
    /// The graph being solved (host-side ops name the groups of their inputs in errors).
    pub graph: &'a strata_frontend_api::graph::BuildGraph,
}

impl Context<'_> {
    pub fn output_opts(&self) -> OutputOptions {
        OutputOptions::new(self.compression, self.epoch)
    }

    /// Writes the tree at `dir` as a layer blob, its entries under `prefix`.
    pub fn write_dir(&self, dir: &Path, prefix: &str, ids: IdMode) -> crate::Result<LayerInfo> {
        self.write_dir_with(dir, prefix, ids, WhiteoutSource::Plain)
    }

    /// [`Context::write_dir`] of a tree that may hold overlayfs whiteouts.
    pub fn write_dir_with(
        &self,
        dir: &Path,
        prefix: &str,
        ids: IdMode,
        whiteouts: WhiteoutSource,
    ) -> crate::Result<LayerInfo> {
        let opts = WriteOptions {
            prefix: (!prefix.is_empty()).then(|| PathBuf::from(prefix)),
            ids,
            whiteouts,
            ..WriteOptions::new(self.compression, self.epoch)
        };
        Ok(layer::write_blob(self.store, self.compression, |w| layer::write_tree(dir, &opts, w))?)
    }

    /// A fresh temp dir in the store's tmp (same filesystem as the blobs),
    /// removed when dropped.
    pub fn temp_dir(&self, prefix: &str) -> crate::Result<tempfile::TempDir> {
        let tmp = self.store.tmp_dir();
        let io = |e| hostfs::HostFsError { path: tmp.clone(), source: e };
        std::fs::create_dir_all(&tmp).map_err(io)?;
        Ok(tempfile::Builder::new().prefix(prefix).tempdir_in(&tmp).map_err(io)?)
    }
}

/// Runs `vertex` over `inputs` (the layers of each of its op's inputs, in
/// order). `note` takes progress lines (a download, a commit checked out).
pub fn run(
    ctx: &Context<'_>,
    vertex: &Vertex,
    inputs: &[Vec<LayerInfo>],
    note: &dyn Fn(String),
) -> crate::Result<Outputs> {
    match &vertex.op {
        Op::Exec(op) => {
            let worker = ctx.worker.expect("only a build runs vertices, and a build has a worker");
            worker.exec(&exec_job(ctx, &vertex.id, op, inputs), &ctx.cancel)
        }
        Op::Fetch(op) => fetch::run(ctx, &vertex.id, op, note),
        Op::Layer(op) => {
            fetch_inputs(ctx, inputs)?;
            layers::run(ctx, op, inputs)
        }
        Op::Host(op) => {
            fetch_inputs(ctx, inputs)?;
            host::run(ctx, op, inputs)
        }
    }
}

/// Host-side ops read their inputs from the store: a farm's layers come
/// down first ([`Worker::fetch`]).
pub fn fetch_inputs(ctx: &Context<'_>, inputs: &[Vec<LayerInfo>]) -> crate::Result<()> {
    match ctx.worker {
        Some(w) => w.fetch(&inputs.concat()),
        None => Ok(()),
    }
}

/// The worker's view of an exec vertex: its op with every reference
/// resolved to layers.
pub fn exec_job<'j>(ctx: &'j Context<'_>, id: &'j str, op: &'j ExecOp, inputs: &[Vec<LayerInfo>]) -> ExecJob<'j> {
    let mut inputs = inputs.iter();
    let rootfs = inputs.by_ref().take(op.rootfs.len()).flatten().cloned().collect();
    let mount_layers = op
        .mounts
        .iter()
        .map(|m| {
            let n = match &m.source {
                MountSource::Layers(ls) => ls.len(),
                MountSource::Dir { seed, .. } => seed.len(),
                MountSource::Project | MountSource::Tmpfs => 0,
            };
            inputs.by_ref().take(n).flatten().cloned().collect()
        })
        .collect();
    ExecJob { vertex: id, op, rootfs, mount_layers, project_dir: &ctx.project_dir, epoch: ctx.epoch }
}
