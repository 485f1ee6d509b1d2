//! Executors: run one step's process in a container over its input layers
//! and hand back what it changed.
//!
//! Every backend implements [`Executor`]. They differ only in how they start
//! a process over a root filesystem (DESIGN.md §7); the layer a step yields
//! is always written by strata's own layer writer from the captured
//! [`Changes`], so one step gives one layer digest on every executor.
//!
//! | backend | module | root filesystem | changes from |
//! |---|---|---|---|
//! | runc (default, no daemon) | `runc` | overlay of snapshots (`crate::snapshot`) | the overlay upper dir |
//! | Docker / Podman (bollard) | `docker` | an image loaded from the input layers | the container's upper dir, or its diff as a tar |
//! | containerd | `containerd` | containerd snapshots of the input layers | the active snapshot's upper dir |
//!
//! - `spec`: the OCI runtime spec every backend starts from (oci-spec types).
//! - `cancel`: [`Cancel`], a cancellation flag steps poll and wait on.
//! - `log`: [`LogSink`] and the file log kept beside each step's result.

pub mod cancel;
pub mod cgroup;
pub mod checked;
pub mod containerd;
pub mod docker;
pub mod log;
pub mod runc;
pub mod seccomp;
pub mod spec;

use std::path::PathBuf;
use std::time::Duration;

use crate::layer::LayerInfo;

pub use cancel::Cancel;
pub use log::{LogSink, PrefixedLog, Stream};
pub use runc::RuncExecutor;

/// `<hostname>/<pid>` of this process: the value of the owner label the
/// daemon executors put on what a step leaves in a daemon while it runs
/// (`org.strata.owner` on Docker/Podman, `io.strata.owner` on containerd),
/// so a prune can tell a live build's objects from a killed one's.
pub(crate) fn owner() -> String {
    format!("{}/{}", hostname(), std::process::id())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).unwrap_or_default()
}

/// Whether `owner` (an [`owner`] value) names a process alive on this
/// host. `None` for another host, where it cannot be told.
pub(crate) fn owner_alive(owner: &str) -> Option<bool> {
    let (host, pid) = owner.rsplit_once('/')?;
    if host != hostname() {
        return None;
    }
    let pid: u32 = pid.parse().ok()?;
    Some(std::path::Path::new(&format!("/proc/{pid}")).exists())
}

/// A mount into the step's container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mount {
    /// A host path, bind-mounted (read-only if asked).
    Bind { source: PathBuf, destination: String, read_only: bool },
    /// An empty tmpfs.
    Tmpfs { destination: String, size_bytes: Option<u64> },
}

/// The network a step sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Network {
    /// Loopback only (the default: build steps are hermetic).
    #[default]
    None,
    /// The host's network namespace.
    Host,
    /// A bridge with NAT, where the backend has one (Docker, Podman).
    Bridge,
}

/// One process to run in a container over `layers`.
#[derive(Debug, Clone)]
pub struct StepSpec {
    /// A label for logs and errors, e.g. `hello:build`.
    pub name: String,
    /// The root filesystem: layer blobs in the store, bottom to top.
    pub layers: Vec<LayerInfo>,
    pub argv: Vec<String>,
    /// `KEY=value`.
    pub env: Vec<String>,
    /// Working directory inside the container (created if missing).
    pub cwd: String,
    /// `uid[:gid]`, numeric.
    pub user: String,
    pub mounts: Vec<Mount>,
    pub network: Network,
    pub hostname: String,
    /// Killed (and reported as timed out) after this long.
    pub timeout: Option<Duration>,
    /// Memory and process limits (the container's cgroup).
    pub limits: Limits,
}

/// What a step may use at most (`None`: no limit of strata's), and which
/// syscalls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Memory in bytes, swap included (`docker run --memory` with
    /// `--memory-swap` the same: a step over it is killed by the kernel).
    pub memory: Option<u64>,
    /// Processes and threads at once (`docker run --pids-limit`): a fork
    /// bomb fails with EAGAIN instead of taking the host down.
    pub pids: Option<i64>,
    /// Which syscalls it may make: Docker's default refusals, or all
    /// (`--security-opt seccomp=unconfined`). Docker and Podman apply
    /// their daemon's own profile.
    pub seccomp: seccomp::Seccomp,
}

impl StepSpec {
    /// A root step named `name` running `argv` over `layers`, no network.
    pub fn new(name: impl Into<String>, layers: Vec<LayerInfo>, argv: Vec<String>) -> StepSpec {
        StepSpec {
            name: name.into(),
            layers,
            argv,
            env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
            cwd: "/".into(),
            user: "0:0".into(),
            mounts: Vec::new(),
            network: Network::None,
            hostname: "strata".into(),
            timeout: None,
            limits: Limits::default(),
        }
    }
}

/// What a finished step changed. Written into a layer by
/// `snapshot::capture`, never by the backend itself.
#[derive(Debug)]
pub enum Changes {
    /// An overlayfs upper dir (whiteouts as 0/0 char devices, opaque dirs as
    /// xattrs), owned by the given guard and removed when it drops.
    UpperDir { path: PathBuf, guard: Box<dyn std::any::Any + Send> },
    /// An OCI/Docker diff tar (whiteouts as `.wh.` entries) in a temp file.
    DiffTar { file: tempfile::NamedTempFile },
}

/// The result of running a step to completion (any exit code).
#[derive(Debug)]
pub struct Execution {
    pub exit_code: i32,
    pub changes: Changes,
    /// The step's full log (stdout and stderr, in order).
    pub log: PathBuf,
}

impl Execution {
    /// `Ok(self)` if the command exited 0, else the [`StepFailed`] the user
    /// sees, with the tail of the log (the changes are dropped).
    pub fn success(self, step: &str) -> Result<Execution, StepFailed> {
        match self.exit_code {
            0 => Ok(self),
            code => Err(StepFailed::new(step, code, &self.log)),
        }
    }
}

/// Runs steps in containers.
pub trait Executor: Send + Sync {
    /// The backend's name, as the CLI spells it (`runc`, `docker`, ...).
    fn name(&self) -> &'static str;

    /// Runs `spec` to completion, streaming its output to `sink`. Returns
    /// `Err(ExecError::Cancelled)` if `cancel` fires and
    /// `Err(ExecError::TimedOut)` past `spec.timeout`, after killing the
    /// process and removing every mount, container and temp dir it made.
    fn run(
        &self,
        store: &crate::store::Store,
        spec: &StepSpec,
        sink: &mut dyn LogSink,
        cancel: &Cancel,
    ) -> Result<Execution, ExecError>;

    /// Runs `spec` attached to this process's stdin, stdout and stderr (a
    /// terminal inside the container when stdin is one), for `strata shell`
    /// and `--shell-on-fail`; its changes are discarded. Returns its exit code.
    fn interactive(&self, _store: &crate::store::Store, spec: &StepSpec) -> Result<i32, ExecError> {
        Err(ExecError::InvalidStep {
            step: spec.name.clone(),
            reason: format!("the {} executor cannot open a shell yet; use --executor runc", self.name()),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("step {step} was cancelled")]
    Cancelled { step: String },
    #[error("step {step} timed out after {after:?}; its log is at {}", log.display())]
    TimedOut { step: String, after: Duration, log: PathBuf },
    #[error("{backend} is not available: {reason}")]
    Unavailable { backend: &'static str, reason: String },
    #[error("{backend} failed to run step {step}: {message}")]
    Backend { backend: &'static str, step: String, message: String },
    #[error("step {step} cannot run: {reason}")]
    InvalidStep { step: String, reason: String },
    #[error("step {step}: i/o on {}: {source}", path.display())]
    Io { step: String, path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Layer(#[from] crate::layer::LayerError),
    #[error(transparent)]
    Snapshot(#[from] crate::snapshot::SnapshotError),
}

/// A step whose command exited non-zero: what the user sees.
#[derive(Debug, thiserror::Error)]
#[error("step {step} failed with exit code {exit_code}\n--- last lines of its log:\n{tail}--- full log: {}", log.display())]
pub struct StepFailed {
    pub step: String,
    pub exit_code: i32,
    pub tail: String,
    pub log: PathBuf,
}

impl StepFailed {
    /// How many lines of the log the error shows.
    pub const TAIL_LINES: usize = 20;

    /// The failure of `step`, with the last [`StepFailed::TAIL_LINES`] lines of `log`.
    pub fn new(step: &str, exit_code: i32, log: &std::path::Path) -> StepFailed {
        StepFailed {
            step: step.to_owned(),
            exit_code,
            tail: log::PrefixedLog::tail(log, Self::TAIL_LINES),
            log: log.to_owned(),
        }
    }
}

/// The exit code a shell gives a command the runtime could not execute, read
/// from the runtime's message (`exec: "x": ...`, `exec failed`), as Docker
/// classifies it: 127 when it is missing, 126 when it cannot be run; `None`
/// for any other failure. Shared by every backend so they agree.
pub(crate) fn exec_failure_code(msg: &str) -> Option<i32> {
    if !msg.contains("exec:") && !msg.contains("exec failed") {
        return None;
    }
    if msg.contains("permission denied") || msg.contains("is a directory") {
        Some(126)
    } else if msg.contains("not found") || msg.contains("no such file or directory") {
        Some(127)
    } else {
        None
    }
}
