//! Workers: the solver's only way to run a process (DESIGN.md §7).
//!
//! A [`Worker`] takes an exec op as data — an [`ExecJob`]: the op, its
//! layers by digest, its files by content, the project directory — and
//! returns its output layers by digest. It never hands back host paths, so
//! a worker on another machine (a Remote Execution API farm) fits the same
//! trait.
//!
//! | worker | runs on | module |
//! |---|---|---|
//! | [`LocalWorker`] | an [`Executor`](crate::executor::Executor) (runc, Docker/Podman, containerd) over the store's snapshots | [`local`] |
//! | [`FakeWorker`] | nothing: records the jobs, makes up layers; for tests without root | [`fake`] |
//! | [`RemoteWorker`] | a Remote Execution API farm (`--remote`), through `strata step-exec` on its workers | [`remote`] |
//!
//! [`secrets`] holds the build's `--secret`s, which only the local worker
//! mounts.

pub mod fake;
pub mod local;
pub mod remote;
pub mod secrets;

use std::collections::BTreeMap;
use std::path::Path;

use strata_frontend_api::graph::ExecOp;

use crate::executor::Cancel;
use crate::layer::LayerInfo;

pub use fake::FakeWorker;
pub use local::LocalWorker;
pub use remote::RemoteWorker;

/// One exec op with every layer reference resolved.
#[derive(Debug, Clone)]
pub struct ExecJob<'a> {
    /// The vertex id: names the step in logs and errors.
    pub vertex: &'a str,
    pub op: &'a ExecOp,
    /// The root filesystem's layers, bottom to top.
    pub rootfs: Vec<LayerInfo>,
    /// For each of `op.mounts`, in order: the layers a `Layers` mount shows
    /// or a `Dir` mount is seeded with (empty for the others).
    pub mount_layers: Vec<Vec<LayerInfo>>,
    /// What `MountSource::Project` mounts.
    pub project_dir: &'a Path,
    /// `SOURCE_DATE_EPOCH`, given to the process and clamping the layers.
    pub epoch: i64,
}

/// The layers an exec op yielded, by output name.
pub type Outputs = BTreeMap<String, LayerInfo>;

/// Runs exec ops.
pub trait Worker: Send + Sync {
    /// For messages (`runc`, `docker`, `fake`).
    fn name(&self) -> &str;

    /// Runs `job` and returns every output its op declares. A process that
    /// exits non-zero is [`crate::executor::StepFailed`]; `cancel` stops it
    /// and leaves nothing running or mounted.
    fn exec(&self, job: &ExecJob<'_>, cancel: &Cancel) -> crate::Result<Outputs>;

    /// What another machine already made of `job` (a farm's action cache),
    /// asked before the step runs: the solver takes it as cached. Local
    /// workers have no such memory beyond the step cache.
    fn cached(&self, job: &ExecJob<'_>) -> crate::Result<Option<Outputs>> {
        let _ = job;
        Ok(None)
    }

    /// Brings `layers` into the store when they are not there: a farm
    /// keeps the layers its steps made until something local reads them
    /// (a host-side op, the image). Local workers' layers are always there.
    fn fetch(&self, layers: &[LayerInfo]) -> crate::Result<()> {
        let _ = layers;
        Ok(())
    }

    /// Opens an interactive shell over `job`'s inputs (`--shell-on-fail`,
    /// `strata shell`), `argv` replacing the op's; returns its exit code.
    fn shell(&self, job: &ExecJob<'_>, argv: Vec<String>) -> crate::Result<i32> {
        let _ = argv;
        Err(crate::executor::ExecError::InvalidStep {
            step: job.vertex.to_string(),
            reason: format!("the {} worker cannot open a shell", self.name()),
        }
        .into())
    }
}
