//! The containerd executor: runs a step through containerd's gRPC API
//! (`containerd-client`, tonic) — content, snapshots, diff, containers and
//! tasks — and hands back the step's overlay upper dir, so strata's own
//! layer writer makes the layer and its digest matches the runc backend's
//! byte for byte (the tests compare them).
//!
//! # One step
//!
//! | # | calls | what for |
//! |---|---|---|
//! | 1 | `Leases.Create` (label `containerd.io/gc.expire`) | everything below is made inside the lease (the `containerd-lease` header): containerd's GC leaves it alone mid-step, and collects it after [`ContainerdConfig::lease_expiry`] if strata dies |
//! | 2 | `Snapshots.Stat`, `Content.Info`/`Write`, `Snapshots.Prepare`, `Diff.Apply`, `Snapshots.Commit` | input layers → committed snapshots named by chain ID, reused by later steps (`unpack`) |
//! | 3 | `Snapshots.Prepare`, a local mount, `Snapshots.Commit` | the **init snapshot**: the mount points the runtime needs that the image lacks, above the chain, cached per (chain, mount points) (`rootfs`) |
//! | 4 | `Snapshots.Prepare`, a local mount | the step's active snapshot; the working directory made in it if missing, owned by the step's user |
//! | 5 | `Containers.Create` | the spec of [`spec::try_runtime_spec`] + [`spec::etc_mounts`], cgroup `/strata/<id>`, root `rootfs`, as a `types.Any` ([`SPEC_TYPE_URL`]) |
//! | 6 | `Tasks.Create`, `Start`, `Wait` | the shim mounts the snapshot at `<bundle>/rootfs`; stdout and stderr go to two FIFOs streamed live to the [`LogSink`] (`fifo`) |
//! | 7 | `Tasks.Kill` (SIGKILL, all processes) | on timeout or [`Cancel`] |
//! | 8 | `Tasks.Delete`, `Containers.Delete` | the shim unmounts the rootfs |
//! | 9 | capture | the active snapshot's `upperdir=` → [`Changes::UpperDir`] |
//! | 10 | `Snapshots.Remove`, `Leases.Delete` | when the changes' guard drops (after `snapshot::capture`) |
//!
//! Steps 3 and 4 are what the runc backend does to its own overlay (the
//! `snapshot` module's init dir and `Rootfs::mkdir_all`); without them
//! runc would create `/proc`, `/dev`, `/etc/hosts`... in the step's own
//! snapshot and they would end up in the layer. Exit codes follow the runc
//! backend too: the command's own, 128 + signal, and 127/126 when the
//! command cannot be executed (containerd's message goes to the log).
//!
//! # Capturing changes: the upper dir, or the Diff service
//!
//! With the overlayfs snapshotter the active snapshot's mount is
//! `overlay … upperdir=<root>/snapshots/<n>/fs`: a path on this machine,
//! holding exactly what the step changed in the kernel's own format.
//! Handing that directory to `snapshot::capture` is what the runc backend
//! does with its upper dir, so both write the same bytes. The guard in
//! [`Changes::UpperDir`] keeps the snapshot (and the lease) until the layer
//! is written.
//!
//! That needs containerd on this host with its root visible here, and an
//! overlayfs that writes complete upper dirs: containerd mounts with the
//! kernel's defaults, and `redirect_dir=Y` or `metacopy=Y` leave renamed
//! directories or chmod'ed files' data in the lower layers. Otherwise
//! [`Capture::DiffService`] asks containerd: `Snapshots.View` of the parent,
//! `Diff.Diff(parent, active)` writes an uncompressed OCI layer into
//! containerd's content store, `Content.Read` streams it into a temp file in
//! strata's store → [`Changes::DiffTar`], which `snapshot::capture`
//! re-encodes deterministically. It costs a second copy of the changes, and
//! containerd's walking differ (a double walk of two mounted trees) decides
//! which unchanged directories to list; on the tests' cases it gives the
//! same digest as the upper dir. [`Capture::Auto`] (the default) takes the
//! upper dir when it is usable and the Diff service otherwise.
//!
//! A truly remote containerd is only half supported: steps 3 and 4 need a
//! local mount and are skipped when the snapshot is not visible here (the
//! runtime then creates mount points and the working directory, as root,
//! inside the step's snapshot, so those layers differ from the runc
//! backend's), and the FIFOs, the `/etc/hosts` files and the sources of
//! [`super::Mount::Bind`] are paths on this machine that containerd's shim
//! must be able to open.
//!
//! # What stays in containerd
//!
//! Only committed snapshots: the chain snapshots ([`CHAIN_LABEL`]) and init
//! snapshots ([`INIT_LABEL`]), labelled `containerd.io/gc.root` so
//! containerd's GC keeps them. They are this executor's cache (`ctr -n
//! strata snapshots ls`); [`ContainerdExecutor::prune`] removes the ones no
//! other snapshot is built on and no step's lease holds. Blobs pushed for unpacking belong to the
//! step's lease and are collected after it. No container, task, active
//! snapshot or lease outlives a step, on any path: errors, timeouts and
//! cancellation release them in `Drop` (SIGKILL, delete task, delete
//! container, remove snapshots, delete lease). If strata itself is killed,
//! its task may run on and its container, active snapshot and lease stay
//! (the lease expires after [`ContainerdConfig::lease_expiry`] and
//! containerd's GC takes what it held, but not the container record);
//! [`ContainerdExecutor::prune_leftovers`] (`strata store gc --all`)
//! removes them at once, knowing them by their `strata-` ids and the
//! [`OWNER_LABEL`] (`<hostname>/<pid>`) on the lease and the container
//! (whose label `io.strata.step` names the step).
//!
//! # Threads
//!
//! The [`Executor`] trait is synchronous; the executor owns a small tokio
//! runtime (one worker) and blocks on it, from any number of threads at
//! once. Calling [`Executor::run`] from inside another tokio runtime works
//! too (each call moves to a scoped thread), but `spawn_blocking` is the
//! better home for it.

mod fifo;
mod rootfs;
mod rpc;
mod unpack;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use containerd_client::tonic::Code;
use containerd_client::tonic::transport::Channel;
use containerd_client::types::Mount as CtrMount;

pub use unpack::{CHAIN_LABEL, chain_ids};

/// The label on the init snapshots strata commits (value: the chain ID
/// below it).
pub const INIT_LABEL: &str = "io.strata.init";

use self::fifo::{Event, Fifos};
use self::rootfs::LocalMount;
use self::rpc::{Conn, RpcError, gone_ok};
use super::{Cancel, Changes, ExecError, Execution, Executor, LogSink, StepSpec, Stream, exec_failure_code, spec};
use crate::snapshot::MountPoint;
use crate::store::Store;

/// The `types.Any` type URL containerd registers for an OCI runtime spec
/// (`github.com/containerd/containerd/containers`, `typeurl.Register(&specs.Spec{}, "types.containerd.io", "opencontainers/runtime-spec", major, "Spec")`).
pub const SPEC_TYPE_URL: &str = "types.containerd.io/opencontainers/runtime-spec/1/Spec";
pub const DEFAULT_ADDRESS: &str = "/run/containerd/containerd.sock";
pub const DEFAULT_NAMESPACE: &str = "strata";
pub const DEFAULT_SNAPSHOTTER: &str = "overlayfs";
pub const DEFAULT_RUNTIME: &str = "io.containerd.runc.v2";

const BACKEND: &str = "containerd";
const SIGKILL: u32 = 9;
/// How long a killed task gets to report its exit before cleanup takes over.
const KILL_GRACE: Duration = Duration::from_secs(10);
/// How long output may trail the exit before the FIFOs are closed.
const DRAIN: Duration = Duration::from_secs(2);
/// Upper bound on each cleanup call, so a wedged containerd cannot hang a drop.
const CLEANUP_CALL: Duration = Duration::from_secs(30);
/// How often a running step checks for cancellation and its timeout.
const POLL: Duration = Duration::from_millis(50);
/// Label on each step's container: the step's name.
const STEP_LABEL: &str = "io.strata.step";
/// Label on each step's container and lease: `<hostname>/<pid>` of the
/// strata process running it, so [`ContainerdExecutor::prune_leftovers`]
/// can tell a killed build's from a live one's.
pub const OWNER_LABEL: &str = "io.strata.owner";

/// How a finished step's changes are handed to `snapshot::capture`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Capture {
    /// The upper dir if it is visible here, else the Diff service.
    #[default]
    Auto,
    /// The overlayfs upper dir of the active snapshot (containerd on this host).
    UpperDir,
    /// `Diff.Diff` into containerd's content store, read back as a tar.
    DiffService,
}

/// Where containerd is and how to use it.
#[derive(Debug, Clone)]
pub struct ContainerdConfig {
    /// containerd's gRPC socket.
    pub address: PathBuf,
    /// The containerd namespace everything lives in (`ctr -n <namespace>`).
    pub namespace: String,
    /// The snapshotter; [`Capture::UpperDir`] needs `overlayfs`.
    pub snapshotter: String,
    /// The runtime shim.
    pub runtime: String,
    pub capture: Capture,
    /// How long a step's lease outlives a crashed strata (added to the
    /// step's timeout). Also a bound on a step without timeout: past it,
    /// containerd may collect the step's snapshot after its container is gone.
    pub lease_expiry: Duration,
    pub connect_timeout: Duration,
}

impl ContainerdConfig {
    /// The defaults, with the address, namespace and snapshotter `ctr`
    /// reads from the environment (`CONTAINERD_ADDRESS`,
    /// `CONTAINERD_NAMESPACE`, `CONTAINERD_SNAPSHOTTER`) where set: what
    /// `strata build --executor containerd` and `strata store gc --all` use,
    /// so both see the same containerd and namespace, and `ctr` run in the
    /// same environment lists what strata made.
    pub fn from_env() -> ContainerdConfig {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let d = ContainerdConfig::default();
        ContainerdConfig {
            address: var("CONTAINERD_ADDRESS").map_or(d.address, PathBuf::from),
            namespace: var("CONTAINERD_NAMESPACE").unwrap_or(d.namespace),
            snapshotter: var("CONTAINERD_SNAPSHOTTER").unwrap_or(d.snapshotter),
            ..d
        }
    }
}

/// What [`ContainerdExecutor::prune_leftovers`] removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LeftoverReport {
    /// Step containers (with their tasks, killed) of strata processes that are gone.
    pub containers: usize,
    /// Their leases.
    pub leases: usize,
    /// Their active snapshots: the step's own, and extraction, init and view snapshots in flight.
    pub snapshots: usize,
    /// Steps of live processes, of other hosts, or without an owner label, left alone.
    pub in_use: usize,
}

impl Default for ContainerdConfig {
    fn default() -> Self {
        ContainerdConfig {
            address: DEFAULT_ADDRESS.into(),
            namespace: DEFAULT_NAMESPACE.into(),
            snapshotter: DEFAULT_SNAPSHOTTER.into(),
            runtime: DEFAULT_RUNTIME.into(),
            capture: Capture::Auto,
            lease_expiry: Duration::from_secs(24 * 3600),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// Runs steps through containerd. Cheap to create: it connects on first use
/// and keeps the connection.
#[derive(Debug)]
pub struct ContainerdExecutor {
    config: ContainerdConfig,
    client: Arc<Client>,
}

/// The tokio runtime and the (lazily opened) channel, shared with the
/// guards of captured changes.
#[derive(Debug)]
struct Client {
    rt: Option<tokio::runtime::Runtime>,
    channel: Mutex<Option<Channel>>,
}

impl Client {
    fn rt(&self) -> &tokio::runtime::Runtime {
        self.rt.as_ref().expect("the runtime lives as long as the client")
    }

    /// Runs `f` to completion on the executor's runtime; from inside another
    /// tokio runtime (where `block_on` would panic) on a scoped thread.
    fn block_on<F>(&self, f: F) -> F::Output
    where
        F: Future + Send,
        F::Output: Send,
    {
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|s| s.spawn(|| self.rt().block_on(f)).join().expect("containerd call panicked"))
        } else {
            self.rt().block_on(f)
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // A guard may be the last owner and drop inside async code, where
        // dropping a runtime normally panics.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl ContainerdExecutor {
    /// An executor for `config`; does not connect yet (see [`Self::ping`]).
    pub fn new(config: ContainerdConfig) -> Result<Self, ExecError> {
        if !is_identifier(&config.namespace) {
            return Err(ExecError::Unavailable {
                backend: BACKEND,
                reason: format!(
                    "{:?} is not a valid containerd namespace (letters and digits, joined by single '.', '_' or '-', at most 76 characters)",
                    config.namespace
                ),
            });
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("strata-containerd")
            .enable_all()
            .build()
            .map_err(|e| ExecError::Unavailable {
                backend: BACKEND,
                reason: format!("cannot start a tokio runtime: {e}"),
            })?;
        Ok(ContainerdExecutor { config, client: Arc::new(Client { rt: Some(rt), channel: Mutex::new(None) }) })
    }

    /// With the defaults: `/run/containerd/containerd.sock`, namespace `strata`.
    pub fn with_defaults() -> Result<Self, ExecError> {
        Self::new(ContainerdConfig::default())
    }

    pub fn config(&self) -> &ContainerdConfig {
        &self.config
    }

    /// Connects (if not yet) and asks containerd for its version:
    /// [`ExecError::Unavailable`] naming the socket if it does not answer.
    pub fn ping(&self) -> Result<(), ExecError> {
        self.conn().map(|_| ())
    }

    /// Removes the chain and init snapshots strata committed in this
    /// namespace that nothing else is built on (repeatedly, so whole unused
    /// stacks go) and no lease holds (a running step adds the stack it
    /// builds on to its lease). Returns how many were removed.
    pub fn prune(&self) -> Result<usize, ExecError> {
        let conn = self.conn()?;
        let be = |e| self.rpc_error("prune", e);
        self.client
            .block_on(async {
                let mut removed = 0;
                loop {
                    let all = conn.list_snapshots().await?;
                    let parents: std::collections::HashSet<&str> = all.iter().map(|s| s.1.as_str()).collect();
                    let mut held = std::collections::HashSet::new();
                    for (lease, _) in conn.list_leases().await? {
                        let resources = match conn.lease_resources(&lease).await {
                            Err(e) if e.code() == Code::NotFound => continue,
                            r => r?,
                        };
                        held.extend(
                            resources.into_iter().filter(|(t, _)| t.starts_with("snapshots/")).map(|(_, id)| id),
                        );
                    }
                    let mut progress = false;
                    for (name, _, labels) in &all {
                        let ours = labels.contains_key(CHAIN_LABEL) || labels.contains_key(INIT_LABEL);
                        if !ours || parents.contains(name.as_str()) || held.contains(name) {
                            continue;
                        }
                        match conn.remove_snapshot(name).await {
                            Ok(()) => {
                                removed += 1;
                                progress = true;
                            }
                            Err(e) if matches!(e.code(), Code::NotFound | Code::FailedPrecondition) => {}
                            Err(e) => return Err(e),
                        }
                    }
                    if !progress {
                        return Ok(removed);
                    }
                }
            })
            .map_err(be)
    }

    /// Removes what steps of strata processes that are gone (killed
    /// mid-step) left in this namespace: their tasks (killed first), their
    /// containers, their active snapshots and their leases — found by the
    /// `strata-` ids steps use and the [`OWNER_LABEL`] on their lease and
    /// container. Steps of live processes, and objects without an owner
    /// label (made by an older strata; their lease expires on its own), are
    /// left alone and counted in `in_use`.
    pub fn prune_leftovers(&self) -> Result<LeftoverReport, ExecError> {
        let conn = self.conn()?;
        let be = |e| self.rpc_error("prune", e);
        let (leases, containers, snapshots) = self
            .client
            .block_on(async {
                Ok::<_, RpcError>((
                    conn.list_leases().await?,
                    conn.list_containers().await?,
                    conn.list_snapshots().await?,
                ))
            })
            .map_err(be)?;
        // Per step id: has a lease, has a container, and whether its owner is known to be gone.
        let mut steps: std::collections::BTreeMap<String, (bool, bool, bool)> = Default::default();
        let gone = |labels: &HashMap<String, String>| {
            labels.get(OWNER_LABEL).and_then(|o| super::owner_alive(o)) == Some(false)
        };
        for (id, labels) in &leases {
            if id.starts_with("strata-") {
                let e = steps.entry(id.clone()).or_default();
                e.0 = true;
                e.2 |= gone(labels);
            }
        }
        for (id, labels) in &containers {
            if labels.contains_key(STEP_LABEL) {
                let e = steps.entry(id.clone()).or_default();
                e.1 = true;
                e.2 |= gone(labels);
            }
        }
        let mut report = LeftoverReport::default();
        for (id, (lease, container, gone)) in steps {
            if !gone {
                report.in_use += 1;
                continue;
            }
            let prefix = format!("{id}-");
            let keys: Vec<String> = snapshots
                .iter()
                .map(|(name, _, _)| name)
                .filter(|name| **name == id || name.starts_with(&prefix))
                .cloned()
                .collect();
            report.containers += usize::from(container);
            report.leases += usize::from(lease);
            report.snapshots += keys.len();
            // What the step's own cleanup would have released, released the same way.
            let mut held = Held {
                client: self.client.clone(),
                conn: conn.clone(),
                task: container.then(|| id.clone()),
                container: container.then(|| id.clone()),
                snapshots: keys,
                lease: lease.then(|| id.clone()),
            };
            let failed = held.release();
            if !failed.is_empty() {
                return Err(ExecError::Backend {
                    backend: BACKEND,
                    step: "prune".into(),
                    message: format!("cannot remove what step {id} left: {}", failed.join("; ")),
                });
            }
        }
        Ok(report)
    }

    fn unavailable(&self, why: impl std::fmt::Display) -> ExecError {
        ExecError::Unavailable {
            backend: BACKEND,
            reason: format!(
                "cannot reach containerd at {}: {why}; start it (`containerd &` or `systemctl start containerd`; \
                 strata's tests: `bash .ci/setup`) or point strata at its socket (CONTAINERD_ADDRESS)",
                self.config.address.display()
            ),
        }
    }

    fn rpc_error(&self, step: &str, e: RpcError) -> ExecError {
        if e.code() == Code::Unavailable {
            return self.unavailable(e);
        }
        ExecError::Backend { backend: BACKEND, step: step.to_owned(), message: e.to_string() }
    }

    /// The connection, opened and checked (`Version`) on first use.
    fn conn(&self) -> Result<Conn, ExecError> {
        let mut slot = self.client.channel.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(ch) = slot.as_ref() {
            return Ok(Conn::new(ch.clone(), &self.config.namespace, &self.config.snapshotter));
        }
        let address = self.config.address.clone();
        match std::fs::metadata(&address) {
            Err(e) => return Err(self.unavailable(e)),
            Ok(m) if !std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()) => {
                return Err(self.unavailable("not a socket"));
            }
            Ok(_) => {}
        }
        let limit = self.config.connect_timeout;
        let channel = self
            .client
            .block_on(async {
                let ch = tokio::time::timeout(limit, containerd_client::connect(&address))
                    .await
                    .map_err(|_| format!("no answer within {limit:?}"))?
                    .map_err(|e| format!("{e} ({})", source_chain(&e)))?;
                let mut version = containerd_client::services::v1::version_client::VersionClient::new(ch.clone());
                tokio::time::timeout(limit, version.version(()))
                    .await
                    .map_err(|_| format!("no answer within {limit:?}"))?
                    .map_err(|s| format!("{} ({:?})", s.message(), s.code()))?;
                Ok::<_, String>(ch)
            })
            .map_err(|e| self.unavailable(e))?;
        *slot = Some(channel.clone());
        Ok(Conn::new(channel, &self.config.namespace, &self.config.snapshotter))
    }

    /// The step's OCI runtime spec, as the runc backend builds it: shared
    /// spec, per-step `/etc/hosts` and `/etc/hostname` (files in `io_dir`),
    /// cgroup `/strata/<id>`; root `rootfs`, where the shim mounts the
    /// snapshot (runc resolves it against the bundle). Also returns the
    /// mount points the init snapshot must provide.
    fn runtime_spec(
        &self,
        step: &StepSpec,
        id: &str,
        io_dir: &Path,
    ) -> Result<(prost_types::Any, Vec<MountPoint>), ExecError> {
        let mut config = spec::try_runtime_spec(step, Path::new("rootfs"))?;
        let mut points = spec::mount_points(&config);
        points.extend(["/etc/hosts", "/etc/hostname"].map(|p| MountPoint { path: p.into(), file: true }));
        let mut mounts = config.mounts().clone().unwrap_or_default();
        mounts.extend(spec::etc_mounts(io_dir, step).map_err(|source| ExecError::Io {
            step: step.name.clone(),
            path: io_dir.to_owned(),
            source,
        })?);
        config.set_mounts(Some(mounts));
        if let Some(linux) = config.linux_mut() {
            linux.set_cgroups_path(Some(PathBuf::from(format!("/strata/{id}"))));
        }
        let value = serde_json::to_vec(&config).expect("a runtime spec serializes");
        Ok((prost_types::Any { type_url: SPEC_TYPE_URL.to_owned(), value }, points))
    }

    /// The committed init snapshot over `top` holding `points` (see
    /// `rootfs`), made once per (chain, points) and cached like the chain
    /// snapshots. `None` when containerd's snapshots are not visible here
    /// (a remote containerd): then the runtime creates the mount points in
    /// the step's own snapshot.
    fn init_snapshot(
        &self,
        store: &Store,
        held: &mut Held,
        top: Option<&str>,
        points: &[MountPoint],
        step: &str,
    ) -> Result<Option<String>, ExecError> {
        let be = |e: RpcError| self.rpc_error(step, e);
        let conn = held.conn.clone();
        let id = held.lease.clone().expect("the lease is held");
        let mut key_text = top.unwrap_or_default().to_owned();
        for p in points {
            key_text.push_str(&format!("\n{}:{}", p.path.display(), if p.file { "file" } else { "dir" }));
        }
        let name = format!("strata-init-{}", &crate::digest::sha256(key_text.as_bytes()).digest()[..32]);
        if self.client.block_on(conn.snapshot_exists(&name)).map_err(be)? {
            self.client.block_on(conn.lease_add(&format!("snapshots/{}", conn.snapshotter), &name)).map_err(be)?;
            return Ok(Some(name));
        }
        let key = format!("{id}-init");
        let mounts = self.client.block_on(conn.prepare(&key, top)).map_err(be)?;
        held.snapshots.push(key.clone());
        if !upper_dir(&mounts).is_some_and(|p| p.is_dir()) {
            self.client.block_on(conn.remove_snapshot(&key)).map_err(be)?;
            held.snapshots.retain(|k| k != &key);
            return Ok(None);
        }
        let tmp = store.tmp_dir();
        let io_err = |path: &Path| {
            let path = path.to_owned();
            move |source| ExecError::Io { step: step.to_owned(), path, source }
        };
        let m = LocalMount::new(&mounts, &tmp).map_err(io_err(&tmp))?;
        rootfs::build_init(m.path(), points).map_err(io_err(m.path()))?;
        m.unmount().map_err(io_err(&tmp))?;
        let labels = HashMap::from([
            ("containerd.io/gc.root".to_owned(), rfc3339(SystemTime::now())),
            (INIT_LABEL.to_owned(), top.unwrap_or_default().to_owned()),
        ]);
        match self.client.block_on(conn.commit(&name, &key, labels)) {
            Ok(()) => {}
            Err(e) if e.code() == Code::AlreadyExists => {
                self.client.block_on(async { gone_ok(conn.remove_snapshot(&key).await) }).map_err(be)?;
            }
            Err(e) => return Err(be(e)),
        }
        held.snapshots.retain(|k| k != &key);
        Ok(Some(name))
    }
}

/// What a step holds in containerd; `Drop` releases whatever is still held.
/// Also the guard of [`Changes::UpperDir`] (then: the active snapshot and
/// the lease).
struct Held {
    client: Arc<Client>,
    conn: Conn,
    task: Option<String>,
    container: Option<String>,
    /// Snapshot keys to remove, in this order.
    snapshots: Vec<String>,
    lease: Option<String>,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("containerd resources")
            .field("task", &self.task)
            .field("container", &self.container)
            .field("snapshots", &self.snapshots)
            .field("lease", &self.lease)
            .finish()
    }
}

impl Held {
    /// Releases everything; returns what could not be released.
    fn release(&mut self) -> Vec<String> {
        let (task, container, lease) = (self.task.take(), self.container.take(), self.lease.take());
        let snapshots = std::mem::take(&mut self.snapshots);
        if task.is_none() && container.is_none() && lease.is_none() && snapshots.is_empty() {
            return Vec::new();
        }
        let conn = &self.conn;
        self.client.block_on(async move {
            let mut failed = Vec::new();
            if let Some(id) = &task {
                let _ = within(conn.kill_task(id, SIGKILL)).await;
                // A killed task takes a moment to stop; delete refuses until
                // then (FailedPrecondition, or Unknown "cannot delete a
                // running process" from some shims). Wait for its exit first.
                let _ = tokio::time::timeout(KILL_GRACE, conn.wait_task(id)).await;
                for tries in 0.. {
                    match within(async { gone_ok(conn.delete_task(id).await) }).await {
                        Err(e) if matches!(e.code(), Code::FailedPrecondition | Code::Unknown) && tries < 100 => {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            let _ = within(conn.kill_task(id, SIGKILL)).await;
                        }
                        r => {
                            failed.extend(r.err());
                            break;
                        }
                    }
                }
                if !failed.is_empty() {
                    // Deleting the container under a task that is still
                    // there would orphan the task in its shim; keep it all
                    // (the lease still expires) for a later prune to retry.
                    return failed.into_iter().map(|e| e.to_string()).collect();
                }
            }
            if let Some(id) = &container {
                failed.extend(within(async { gone_ok(conn.delete_container(id).await) }).await.err());
            }
            for key in &snapshots {
                failed.extend(within(async { gone_ok(conn.remove_snapshot(key).await) }).await.err());
            }
            if let Some(id) = &lease {
                failed.extend(within(async { gone_ok(conn.delete_lease(id).await) }).await.err());
            }
            failed.into_iter().map(|e| e.to_string()).collect()
        })
    }
}

/// A cleanup call, bounded by [`CLEANUP_CALL`].
async fn within<T>(f: impl Future<Output = Result<T, RpcError>>) -> Result<T, RpcError> {
    tokio::time::timeout(CLEANUP_CALL, f).await.unwrap_or_else(|_| {
        Err(RpcError {
            what: "clean up".into(),
            status: containerd_client::tonic::Status::deadline_exceeded(format!("no answer within {CLEANUP_CALL:?}")),
        })
    })
}

impl Drop for Held {
    fn drop(&mut self) {
        for problem in self.release() {
            eprintln!("warning: containerd executor: could not clean up: {problem}");
        }
    }
}

/// Why the step loop stopped the task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    TimedOut,
    Cancelled,
}

impl Executor for ContainerdExecutor {
    fn name(&self) -> &'static str {
        BACKEND
    }

    fn run(
        &self,
        store: &Store,
        spec: &StepSpec,
        sink: &mut dyn LogSink,
        cancel: &Cancel,
    ) -> Result<Execution, ExecError> {
        let step = spec.name.as_str();
        let cancelled = || ExecError::Cancelled { step: step.to_owned() };
        if cancel.is_cancelled() {
            return Err(cancelled());
        }
        spec::validate(spec)?;
        let be = |e: RpcError| self.rpc_error(step, e);
        let base = self.conn()?;
        let id = step_id(step);
        let conn = base.with_lease(&id);
        let mut held = Held {
            client: self.client.clone(),
            conn: conn.clone(),
            task: None,
            container: None,
            snapshots: Vec::new(),
            lease: None,
        };
        // The step's own files: FIFOs, /etc/hosts, /etc/hostname.
        let tmp = store.tmp_dir();
        let io_dir = tempfile::Builder::new()
            .prefix("containerd-step-")
            .tempdir_in(&tmp)
            .map_err(|source| ExecError::Io { step: step.to_owned(), path: tmp.clone(), source })?;
        let (oci, points) = self.runtime_spec(spec, &id, io_dir.path())?;

        // 1. the lease everything below lives in
        let expire = rfc3339(SystemTime::now() + self.config.lease_expiry + spec.timeout.unwrap_or_default());
        let lease_labels =
            HashMap::from([("containerd.io/gc.expire".to_owned(), expire), (OWNER_LABEL.to_owned(), super::owner())]);
        self.client.block_on(base.create_lease(&id, lease_labels)).map_err(be)?;
        held.lease = Some(id.clone());

        // 2, 3. input layers → chain snapshots, and the init snapshot over them
        let mut pending = Vec::new();
        let top = self.client.block_on(unpack::ensure_chain(&conn, store, &spec.layers, &id, &mut pending));
        held.snapshots.extend(pending);
        let top = top.map_err(|e| match e {
            unpack::UnpackError::Rpc(e) => be(e),
            unpack::UnpackError::Store(e) => ExecError::Store(e),
            unpack::UnpackError::DiffIdMismatch { layer, expected, found } => ExecError::Backend {
                backend: BACKEND,
                step: step.to_owned(),
                message: format!("containerd unpacked layer {layer} to diff_id {found}, strata recorded {expected}"),
            },
        })?;
        let parent = self.init_snapshot(store, &mut held, top.as_deref(), &points, step)?.or(top);
        if cancel.is_cancelled() {
            return Err(cancelled());
        }

        // 4. the step's own snapshot, with its working directory
        let mounts = self.client.block_on(conn.prepare(&id, parent.as_deref())).map_err(be)?;
        held.snapshots.insert(0, id.clone());
        if spec.cwd != "/" && upper_dir(&mounts).is_some_and(|p| p.is_dir()) {
            let (uid, gid) = spec::parse_user(&spec.user).expect("validated");
            let io_err = |path: &Path| {
                let path = path.to_owned();
                move |source| ExecError::Io { step: step.to_owned(), path, source }
            };
            let m = LocalMount::new(&mounts, &tmp).map_err(io_err(&tmp))?;
            crate::snapshot::mkdir_in_root(m.path(), &spec.cwd, uid, gid)?;
            m.unmount().map_err(io_err(&tmp))?;
        }

        // 5. the container
        let labels =
            HashMap::from([(STEP_LABEL.to_owned(), step.to_owned()), (OWNER_LABEL.to_owned(), super::owner())]);
        self.client.block_on(conn.create_container(&id, &self.config.runtime, oci, &id, labels)).map_err(be)?;
        held.container = Some(id.clone());

        // 6, 7. the task, its output, its exit (or a kill)
        let (tx, rx) = mpsc::channel();
        let mut fifos = Fifos::create(io_dir.path(), &tx).map_err(|source| ExecError::Io {
            step: step.to_owned(),
            path: io_dir.path().to_owned(),
            source,
        })?;
        if let Err(e) = self.client.block_on(conn.create_task(&id, mounts.clone(), &fifos.stdout, &fifos.stderr)) {
            // A command that cannot be executed is the step's failure, with
            // Docker's exit codes, as on the runc backend.
            let Some(code) = exec_failure_code(e.status.message()) else {
                return Err(be(e));
            };
            sink.write(Stream::Stderr, format!("{}\n", e.status.message()).as_bytes());
            drop(fifos);
            self.client.block_on(conn.delete_container(&id)).map_err(be)?;
            held.container = None;
            let changes = self.capture(store, step, held, &mounts, parent.as_deref())?;
            return Ok(Execution { exit_code: code, changes, log: sink.path().to_owned() });
        }
        held.task = Some(id.clone());
        self.client.block_on(conn.start_task(&id)).map_err(be)?;
        let started = Instant::now();
        {
            let (conn, id, tx) = (conn.clone(), id.clone(), tx.clone());
            self.client.rt().spawn(async move {
                let _ = tx.send(Event::Exited(conn.wait_task(&id).await));
            });
        }
        drop(tx);

        let deadline = spec.timeout.map(|t| started + t);
        let mut open_streams = 2;
        let mut exit: Option<Result<u32, RpcError>> = None;
        let mut stop: Option<(Stop, Instant)> = None;
        let mut handle = |ev: Event, open: &mut i32, exit: &mut Option<Result<u32, RpcError>>| match ev {
            Event::Output(s, bytes) => sink.write(s, &bytes),
            Event::Eof => *open -= 1,
            Event::Exited(r) => *exit = Some(r),
        };
        while exit.is_none() {
            match stop {
                None => {
                    let why = if cancel.is_cancelled() {
                        Some(Stop::Cancelled)
                    } else if deadline.is_some_and(|d| Instant::now() >= d) {
                        Some(Stop::TimedOut)
                    } else {
                        None
                    };
                    if let Some(why) = why {
                        // An error here (the task just exited) is fine: Wait reports it.
                        let _ = self.client.block_on(conn.kill_task(&id, SIGKILL));
                        stop = Some((why, Instant::now()));
                    }
                }
                Some((_, at)) if at.elapsed() > KILL_GRACE => break,
                Some(_) => {}
            }
            let mut tick = POLL;
            if let (Some(d), None) = (deadline, stop) {
                tick = tick.min(d.saturating_duration_since(Instant::now()));
            }
            match rx.recv_timeout(tick) {
                Ok(ev) => handle(ev, &mut open_streams, &mut exit),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        // Output still in the shim flows until it closes the FIFOs, which it
        // does once the process's pipes are drained.
        let drain_until = Instant::now() + DRAIN;
        while open_streams > 0 {
            match rx.recv_timeout(drain_until.saturating_duration_since(Instant::now())) {
                Ok(ev) => handle(ev, &mut open_streams, &mut exit),
                Err(_) => break,
            }
        }
        fifos.stop();
        while let Ok(ev) = rx.try_recv() {
            handle(ev, &mut open_streams, &mut exit);
        }
        match stop {
            // `held` kills and deletes the task, the container, the
            // snapshots and the lease on the way out.
            Some((Stop::Cancelled, _)) => return Err(cancelled()),
            Some((Stop::TimedOut, _)) => {
                return Err(ExecError::TimedOut {
                    step: step.to_owned(),
                    after: spec.timeout.unwrap_or_default(),
                    log: sink.path().to_owned(),
                });
            }
            None => {}
        }
        let exit_code = match exit {
            Some(Ok(status)) => status as i32,
            Some(Err(e)) => return Err(be(e)),
            None => {
                return Err(ExecError::Backend {
                    backend: BACKEND,
                    step: step.to_owned(),
                    message: format!("task {id} ended without reporting an exit status"),
                });
            }
        };

        // 8. delete the task (the shim unmounts the rootfs) and the container
        self.client.block_on(conn.delete_task(&id)).map_err(be)?;
        held.task = None;
        self.client.block_on(conn.delete_container(&id)).map_err(be)?;
        held.container = None;
        drop(io_dir);

        // 9. the changes (10: their guard releases the rest)
        let changes = self.capture(store, step, held, &mounts, parent.as_deref())?;
        Ok(Execution { exit_code, changes, log: sink.path().to_owned() })
    }
}

impl ContainerdExecutor {
    fn capture(
        &self,
        store: &Store,
        step: &str,
        mut held: Held,
        mounts: &[CtrMount],
        parent: Option<&str>,
    ) -> Result<Changes, ExecError> {
        let upper = upper_dir(mounts).filter(|p| p.is_dir());
        let unsafe_overlay = overlay_hides_changes();
        let mode = match self.config.capture {
            Capture::Auto if upper.is_some() && unsafe_overlay.is_none() => Capture::UpperDir,
            Capture::Auto => Capture::DiffService,
            m => m,
        };
        if mode == Capture::UpperDir {
            let problem = match (&upper, unsafe_overlay) {
                (None, _) => format!(
                    "no local upper dir in the snapshot's mounts {mounts:?} (containerd on another host, or not \
                     the overlayfs snapshotter?)"
                ),
                (Some(_), Some(param)) => format!(
                    "the kernel's overlayfs has {param}=Y by default, so an upper dir can hold references into \
                     lower layers instead of the changes"
                ),
                (Some(_), None) => String::new(),
            };
            let Some(path) = upper.filter(|_| problem.is_empty()) else {
                return Err(ExecError::Backend {
                    backend: BACKEND,
                    step: step.to_owned(),
                    message: format!("cannot capture the upper dir: {problem}; use the Diff service capture"),
                });
            };
            // `held` now holds exactly the active snapshot and the lease.
            return Ok(Changes::UpperDir { path, guard: Box::new(held) });
        }

        let be = |e: RpcError| self.rpc_error(step, e);
        let id = held.lease.clone().expect("the lease is held until capture");
        let conn = held.conn.clone();
        let left = match parent {
            Some(parent) => {
                let key = format!("{id}-view");
                let m = self.client.block_on(conn.view(&key, parent)).map_err(be)?;
                held.snapshots.insert(0, key);
                m
            }
            None => Vec::new(),
        };
        let digest = self.client.block_on(conn.diff(left, mounts.to_vec(), &format!("{id}-diff"))).map_err(be)?;
        let tmp = store.tmp_dir();
        let io_err = |e: std::io::Error| ExecError::Io { step: step.to_owned(), path: tmp.clone(), source: e };
        let mut file =
            tempfile::Builder::new().prefix("containerd-diff-").suffix(".tar").tempfile_in(&tmp).map_err(io_err)?;
        let mut w = crate::digest::HashingWriter::new(std::io::BufWriter::new(file.as_file_mut()));
        self.client.block_on(conn.read_blob(&digest, &mut w)).map_err(be)?;
        let (buf, found, _) = w.finish();
        buf.into_inner().map_err(|e| io_err(e.into_error()))?;
        if found.to_string() != digest {
            return Err(ExecError::Backend {
                backend: BACKEND,
                step: step.to_owned(),
                message: format!("the diff read back from containerd is {found}, expected {digest}"),
            });
        }
        drop(held); // view, active snapshot, lease (and with it the diff blob)
        Ok(Changes::DiffTar { file })
    }
}

/// The directory holding a snapshot's own changes: overlay's `upperdir=`,
/// or the source of the bind mount of a snapshot without parent.
fn upper_dir(mounts: &[CtrMount]) -> Option<PathBuf> {
    match mounts {
        [m] if m.r#type == "overlay" => m.options.iter().find_map(|o| o.strip_prefix("upperdir=")).map(PathBuf::from),
        [m] if m.r#type == "bind" && !m.options.iter().any(|o| o == "ro") => Some(PathBuf::from(&m.source)),
        _ => None,
    }
}

/// The overlayfs module parameter, if any, that makes an upper dir an
/// incomplete change set: containerd mounts with the kernel's defaults, and
/// with `redirect_dir` a renamed directory stays in the lower layer (the
/// upper holds a redirect xattr), with `metacopy` a chmod'ed file's data
/// does. (strata's own overlay mounts turn both off explicitly.)
fn overlay_hides_changes() -> Option<&'static str> {
    ["redirect_dir", "metacopy"].into_iter().find(|p| {
        std::fs::read_to_string(format!("/sys/module/overlay/parameters/{p}"))
            .is_ok_and(|v| matches!(v.trim(), "Y" | "y"))
    })
}

/// A unique containerd id for one step: `strata-<name>-<pid>-<n>-<time>`,
/// valid as container id, snapshot key and lease id.
fn step_id(name: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let mut slug = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
        if slug.len() >= 32 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-');
    let n = N.fetch_add(1, Ordering::Relaxed);
    let t = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_nanos() as u32;
    let pid = std::process::id();
    if slug.is_empty() { format!("strata-{pid}-{n}-{t:08x}") } else { format!("strata-{slug}-{pid}-{n}-{t:08x}") }
}

/// containerd's identifier rule (namespaces, container ids, lease ids):
/// alphanumeric components joined by single `.`, `_` or `-`, ≤ 76 bytes.
fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 76
        && s.split(['.', '_', '-']).all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric()))
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

fn source_chain(e: &dyn std::error::Error) -> String {
    let mut out = Vec::new();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push(s.to_string());
        cur = s.source();
    }
    out.join(": ")
}
