//! The Docker / Podman executor: runs a step in a container of a Docker API
//! daemon through `bollard` — dockerd, or Podman's Docker-compatible socket.
//!
//! One run, start to end:
//!
//! 1. **Connect** to the endpoint (`export::DaemonEndpoint`: `DOCKER_HOST`
//!    or `/var/run/docker.sock`; for Podman `CONTAINER_HOST` or
//!    `/run/podman/podman.sock`). No answer → [`ExecError::Unavailable`]
//!    naming the socket and how to start the daemon.
//! 2. **Input image** (`image`): the image made of exactly the step's layers
//!    is described in the store; the daemon loads it only if it does not have
//!    its ID (the config digest) yet.
//! 3. **Container** (`body`): argv, env, cwd, user, hostname, bind/tmpfs
//!    mounts, network `none`/`host`/`bridge`; no TTY, stdin closed; labelled
//!    `org.strata.step=<step>`. Attached before it starts, so stdout and
//!    stderr stream live, demultiplexed, into the [`LogSink`]. A non-root
//!    step's missing working directory is created owned by its user first
//!    (`workdir`), as the runc backend does.
//! 4. **Wait** for it, with `spec.timeout` and [`Cancel`]: either kills and
//!    removes the container and returns `TimedOut` / `Cancelled`. Any exit
//!    code is a finished run; the caller decides what non-zero means.
//! 5. **Changes**: with a local daemon on the overlay(2) driver (and no user
//!    namespace remapping), the container's upper dir, read in place:
//!    [`Changes::UpperDir`] whose guard removes the container when dropped,
//!    i.e. after `snapshot::capture` has written the layer. Otherwise
//!    (`diff`) the container is committed, the commit saved, and its top
//!    layer handed over as [`Changes::DiffTar`]; the temporary image and the
//!    container are removed before returning. Either way the runtime's own
//!    files (`/etc/hosts` placeholders, `/.dockerenv`, mount points, …)
//!    are removed from the changes first — the rule is documented in
//!    `runtime_files` — and, on Podman, the `/etc/passwd` and `/etc/group`
//!    lines it adds for unknown users (`users`).
//!
//! What stays behind: only the input images, as a cache (tag
//! `strata-step:<config>`, label `org.strata.step-image=1`).
//! [`DockerExecutor::prune`] removes them, together with any step container
//! or temporary commit a killed `strata` process left.
//!
//! What still differs from the runc backend, by the daemons' design: the
//! environment gains `HOSTNAME` (Docker, Podman) and `container=podman`,
//! `TERM=xterm` (Podman); Docker's default seccomp (and AppArmor, where
//! enabled) profile applies; what a step writes through the bind-mounted
//! `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf` is not captured
//! (as with runc). Bind sources are paths on the daemon's host.
//!
//! The daemon's API is async; the [`Executor`] trait is not. Each run owns a
//! current-thread tokio runtime (`Session`), so `run` must not be called from
//! async code — like the rest of strata's daemon client.

mod body;
mod diff;
mod image;
mod runtime_files;
mod users;
mod workdir;

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::models::{ContainerInspectResponse, ContainerStateStatusEnum};
use bollard::query_parameters::{
    AttachContainerOptions, CreateContainerOptions, KillContainerOptions, ListContainersOptions, ListImagesOptions,
    RemoveContainerOptions, RemoveImageOptions, WaitContainerOptions,
};
use futures_util::StreamExt;

use super::{
    Cancel, Changes, ExecError, Execution, Executor, LogSink, Network, StepSpec, Stream, exec_failure_code, spec,
};
use crate::export::{DaemonEndpoint, DaemonError, DaemonKind};
use crate::layer::LayerInfo;
use crate::store::Store;
use oci_spec::image::Digest;
use runtime_files::RuntimePaths;
use users::{Fix, PodmanUsers};

pub use body::{OWNER_LABEL, STEP_LABEL};
pub use diff::CAPTURE_IMAGE_LABEL;
pub use image::STEP_IMAGE_LABEL;

/// How often a running step checks its [`Cancel`] flag.
const CANCEL_POLL: Duration = Duration::from_millis(50);
/// How long to wait for the rest of a step's output once it has exited.
const DRAIN: Duration = Duration::from_secs(10);

/// How a run hands back its changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CaptureMode {
    /// The upper dir where the daemon allows it, else a diff tar.
    #[default]
    Auto,
    /// Always the upper dir; a run on a daemon where that is impossible fails.
    UpperDir,
    /// Always a diff tar through commit and save (what a remote daemon gets).
    DiffTar,
}

/// Runs steps through a Docker API daemon: dockerd or Podman.
#[derive(Debug)]
pub struct DockerExecutor {
    endpoint: DaemonEndpoint,
    capture: CaptureMode,
    /// Whether this daemon's upper dirs can be read here (asked once).
    upper_dirs: OnceLock<Result<(), String>>,
    /// The connection, made by the first run that needs it.
    session: Mutex<Option<Arc<Session>>>,
}

/// What [`DockerExecutor::prune`] removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PruneReport {
    /// Stopped step containers.
    pub containers: usize,
    /// Step images and temporary commits.
    pub images: usize,
    /// Containers and images a live build still uses, left alone.
    pub in_use: usize,
}

impl DockerExecutor {
    /// Docker at `$DOCKER_HOST`, else `unix:///var/run/docker.sock`.
    pub fn docker() -> Self {
        Self::new(DaemonKind::Docker, None)
    }

    /// Podman's Docker-compatible API at `$CONTAINER_HOST`, else
    /// `/run/podman/podman.sock` (root) or
    /// `$XDG_RUNTIME_DIR/podman/podman.sock`.
    pub fn podman() -> Self {
        Self::new(DaemonKind::Podman, None)
    }

    /// A daemon of `kind` at `host` (`unix:///path`, `/path`,
    /// `tcp://host:port`), or at its default address.
    pub fn new(kind: DaemonKind, host: Option<&str>) -> Self {
        DockerExecutor {
            endpoint: DaemonEndpoint::resolve(kind, host),
            capture: CaptureMode::Auto,
            upper_dirs: OnceLock::new(),
            session: Mutex::new(None),
        }
    }

    /// Chooses how changes are captured (the default is [`CaptureMode::Auto`]).
    pub fn capture_mode(mut self, mode: CaptureMode) -> Self {
        self.capture = mode;
        self
    }

    pub fn endpoint(&self) -> &DaemonEndpoint {
        &self.endpoint
    }

    fn backend(&self) -> &'static str {
        match self.endpoint.kind {
            DaemonKind::Docker => "docker",
            DaemonKind::Podman => "podman",
        }
    }

    /// The daemon-side image ID (its config digest) of the input image for
    /// `layers`, and the tag it is loaded under. Writes its config and
    /// manifest into `store`.
    pub fn step_image(store: &Store, layers: &[LayerInfo]) -> Result<(Digest, String), ExecError> {
        let img = image::describe(store, layers, "docker", "")?;
        let tag = img.tag();
        Ok((img.id, tag))
    }

    /// Checks that the daemon answers.
    pub fn check(&self) -> Result<(), ExecError> {
        let s = self.session()?;
        s.block_on(s.docker.ping()).map(drop).map_err(|e| ExecError::Unavailable {
            backend: s.backend,
            reason: s.ep.api_error("answer a ping", &e).to_string(),
        })
    }

    /// The executor's connection, made on first use (a failed attempt is
    /// not remembered: the daemon may be started meanwhile).
    fn session(&self) -> Result<Arc<Session>, ExecError> {
        let mut cached = self.session.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = cached.as_ref() {
            return Ok(s.clone());
        }
        let s = Arc::new(Session::open(&self.endpoint, self.backend())?);
        *cached = Some(s.clone());
        Ok(s)
    }

    /// Removes what steps leave in the daemon: every step image (the input
    /// cache) no container uses, and the step containers and temporary
    /// commits of strata processes that are gone (killed mid-step). What a
    /// live process on this host made (label `org.strata.owner`), and
    /// running containers of other hosts, are counted in `in_use` and left
    /// alone.
    pub fn prune(&self) -> Result<PruneReport, ExecError> {
        let s = self.session()?;
        let mut report = PruneReport::default();
        let live = |labels: Option<&HashMap<String, String>>, running: bool| match labels
            .and_then(|l| l.get(body::OWNER_LABEL))
            .and_then(|o| body::owner_alive(o))
        {
            Some(alive) => alive,
            None => running,
        };
        let filters = HashMap::from([("label".to_owned(), vec![STEP_LABEL.to_owned()])]);
        let opts = ListContainersOptions { all: true, filters: Some(filters), ..Default::default() };
        let containers = s
            .block_on(parsed(|| s.docker.list_containers(Some(opts.clone()))))
            .map_err(|e| s.api_error("", "list step containers", &e))?;
        for c in containers {
            let Some(id) = c.id else { continue };
            let running = c.state.is_some_and(|st| st.to_string() == "running");
            if live(c.labels.as_ref(), running) {
                report.in_use += 1;
                continue;
            }
            match s.remove_container(&id) {
                Ok(()) => report.containers += 1,
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(s.api_error("", &format!("remove container {id}"), &e)),
            }
        }
        for label in [CAPTURE_IMAGE_LABEL, STEP_IMAGE_LABEL] {
            let filters = HashMap::from([("label".to_owned(), vec![format!("{label}=1")])]);
            let opts = ListImagesOptions { filters: Some(filters), ..Default::default() };
            let images =
                s.block_on(s.docker.list_images(Some(opts))).map_err(|e| s.api_error("", "list step images", &e))?;
            for img in images {
                if live(Some(&img.labels), false) {
                    report.in_use += 1;
                    continue;
                }
                // Not forced: an image a container still uses stays (409).
                let opts = RemoveImageOptions { force: false, noprune: false, ..Default::default() };
                match s.block_on(s.docker.remove_image(&img.id, Some(opts), None)) {
                    Ok(_) => report.images += 1,
                    Err(e) if is_not_found(&e) => {}
                    Err(e) if status(&e) == Some(409) => report.in_use += 1,
                    Err(e) => return Err(s.api_error("", &format!("remove image {}", img.id), &e)),
                }
            }
        }
        Ok(report)
    }

    /// Whether upper dirs of this daemon's containers can be read here: a
    /// local socket, an overlay driver, no user namespace (ids in the upper
    /// dir would be the host's), and an overlay module whose upper dirs mean
    /// the same without their lower dirs (no `redirect_dir`, no `metacopy`).
    fn upper_dirs_usable(&self, s: &Session) -> Result<(), String> {
        self.upper_dirs
            .get_or_init(|| {
                if !self.endpoint.address.starts_with("unix://") {
                    return Err(format!("{} is not a local socket", self.endpoint.address));
                }
                let info =
                    s.block_on(s.docker.info()).map_err(|e| format!("cannot ask the daemon for its info: {e}"))?;
                let driver = info.driver.unwrap_or_default();
                if driver != "overlay2" && driver != "overlay" {
                    return Err(format!("the storage driver is {driver:?}, not overlay2"));
                }
                if let Some(o) = info
                    .security_options
                    .unwrap_or_default()
                    .iter()
                    .find(|o| o.split(',').any(|kv| kv == "name=userns" || kv == "name=rootless"))
                {
                    return Err(format!("the daemon maps user ids ({o})"));
                }
                for p in ["redirect_dir", "metacopy"] {
                    let v = std::fs::read_to_string(format!("/sys/module/overlay/parameters/{p}")).unwrap_or_default();
                    if v.trim() == "Y" {
                        return Err(format!("the overlay module has {p}=Y"));
                    }
                }
                Ok(())
            })
            .clone()
    }

    /// The stopped container's changes (step 5 of the module doc).
    fn capture(
        &self,
        s: &Arc<Session>,
        store: &Store,
        container: ContainerGuard,
        spec: &StepSpec,
    ) -> Result<Changes, ExecError> {
        let step = spec.name.as_str();
        let runtime = RuntimePaths::for_step(spec);
        let users = match self.endpoint.kind {
            DaemonKind::Podman => PodmanUsers::for_step(spec, store),
            DaemonKind::Docker => None,
        };
        if self.capture != CaptureMode::DiffTar {
            match self.local_upper_dir(s, &container.id, step) {
                Ok(path) => {
                    let io = |e| ExecError::Io { step: step.to_owned(), path: path.clone(), source: e };
                    let fixed_away = match &users {
                        Some(u) => fix_users_in_upper(u, &path, step)?,
                        None => Vec::new(),
                    };
                    runtime.scrub_upper_dir(&path, &fixed_away).map_err(io)?;
                    return Ok(Changes::UpperDir { path, guard: Box::new(container) });
                }
                Err(why) if self.capture == CaptureMode::UpperDir => {
                    return Err(ExecError::Backend {
                        backend: s.backend,
                        step: step.to_owned(),
                        message: format!("cannot read the container's upper dir: {why}"),
                    });
                }
                Err(_) => {}
            }
        }
        let file = diff::diff_tar(s, store, &container.id, spec.layers.len(), &runtime, users.as_ref(), step)?;
        drop(container);
        Ok(Changes::DiffTar { file })
    }

    fn local_upper_dir(&self, s: &Session, id: &str, step: &str) -> Result<PathBuf, String> {
        self.upper_dirs_usable(s)?;
        let info = s
            .block_on(inspect(&s.docker, id))
            .map_err(|e| s.api_error(step, "inspect the container", &e).to_string())?;
        let gd = info.graph_driver.ok_or("the daemon reports no GraphDriver")?;
        if gd.name != "overlay2" && gd.name != "overlay" {
            return Err(format!("the container's driver is {:?}", gd.name));
        }
        let upper = gd.data.get("UpperDir").map(PathBuf::from).ok_or("GraphDriver.Data has no UpperDir")?;
        if !upper.is_dir() {
            return Err(format!("{} is not a directory here", upper.display()));
        }
        Ok(upper)
    }
}

impl Executor for DockerExecutor {
    fn name(&self) -> &'static str {
        self.backend()
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
        // The checks runc makes (absolute cwd, KEY=value env, numeric user,
        // absolute mount paths), so a step is refused alike everywhere; a
        // bridge network, which runc lacks, is ours to give.
        spec::validate(&StepSpec { network: Network::None, ..spec.clone() })?;
        let s = self.session()?;
        let img = image::describe(store, &spec.layers, s.backend, step)?;
        image::ensure(&s, store, &img, step)?;
        if cancel.is_cancelled() {
            return Err(cancelled());
        }
        let image_id = img.id.to_string();
        let container = match ContainerGuard::create(&s, spec, &image_id) {
            // A prune between the check and the create removed the image.
            Err(e) if is_not_found(&e) => {
                image::ensure(&s, store, &img, step)?;
                ContainerGuard::create(&s, spec, &image_id)
            }
            r => r,
        }
        .map_err(|e| s.api_error(step, "create the step container", &e))?;
        workdir::prepare(&s, &container.id, spec)?;
        let end = s.block_on(drive(&s.docker, &container.id, spec, sink, cancel));
        let end = end.map_err(|e| s.api_error(step, "run the container", &e))?;
        let exit_code = match end {
            End::Exited(code) => code,
            End::TimedOut => {
                s.kill(&container.id);
                drop(container);
                return Err(ExecError::TimedOut {
                    step: step.to_owned(),
                    after: spec.timeout.unwrap_or_default(),
                    log: sink.path().to_owned(),
                });
            }
            End::Cancelled => {
                s.kill(&container.id);
                drop(container);
                return Err(cancelled());
            }
        };
        let changes = self.capture(&s, store, container, spec)?;
        Ok(Execution { exit_code, changes, log: sink.path().to_owned() })
    }
}

/// Applies Podman's `users` fixes to an upper dir; returns the files removed.
fn fix_users_in_upper(users: &PodmanUsers, upper: &std::path::Path, step: &str) -> Result<Vec<String>, ExecError> {
    let mut removed = Vec::new();
    for f in ["etc/passwd", "etc/group"] {
        let full = upper.join(f);
        let io = |e| ExecError::Io { step: step.to_owned(), path: full.clone(), source: e };
        match std::fs::symlink_metadata(&full) {
            Ok(m) if m.is_file() => {}
            _ => continue,
        }
        match users.fix(f, &std::fs::read(&full).map_err(io)?)? {
            Fix::Keep => {}
            Fix::Drop => {
                std::fs::remove_file(&full).map_err(io)?;
                removed.push(f.to_owned());
            }
            // Truncates in place: mode and owner stay the copy-up's.
            Fix::Replace(content) => std::fs::write(&full, content).map_err(io)?,
        }
    }
    Ok(removed)
}

/// How the wait for a container ended.
enum End {
    Exited(i32),
    TimedOut,
    Cancelled,
}

/// Attaches, starts and waits for the container `id`, streaming its output
/// into `sink`, until it exits, times out or is cancelled.
async fn drive(
    docker: &Docker,
    id: &str,
    spec: &StepSpec,
    sink: &mut dyn LogSink,
    cancel: &Cancel,
) -> Result<End, bollard::errors::Error> {
    let attach = AttachContainerOptions { stream: true, stdout: true, stderr: true, ..Default::default() };
    let started = async {
        let attached = docker.attach_container(id, Some(attach)).await?;
        drop(attached.input);
        docker.start_container(id, None).await?;
        Ok(attached.output)
    };
    let mut output = match started.await {
        Ok(output) => output,
        Err(e) => {
            // A command that cannot be executed is the step's failure, not
            // the daemon's: Docker records 127 (not found) or 126 (not
            // executable); Podman (which fails the attach already) leaves
            // the container "created" with code 0 and only says why, so its
            // message is classified. The log gets the message, as with runc.
            let message = error_message(&e);
            let code = match exit_code_of(docker, id).await? {
                code @ (126 | 127) => Some(code),
                _ => exec_failure_code(&message),
            };
            return match code {
                Some(code) => {
                    sink.write(Stream::Stderr, format!("{message}\n").as_bytes());
                    Ok(End::Exited(code))
                }
                None => Err(e),
            };
        }
    };
    let started = Instant::now();
    let deadline = spec.timeout.map(|t| tokio::time::Instant::from_std(started + t));
    // "not-running" answers at once for a container that has already
    // exited, so waiting after the start cannot miss a quick step.
    let wait = WaitContainerOptions { condition: "not-running".into() };
    let mut wait = docker.wait_container(id, Some(wait));
    let mut tick = tokio::time::interval(CANCEL_POLL);
    let timeout = async {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(timeout);
    let mut exit = None;
    let mut output_done = false;
    while exit.is_none() {
        tokio::select! {
            chunk = output.next(), if !output_done => match chunk {
                Some(Ok(out)) => write_output(sink, out),
                // The output ends when the container does: its exit code is
                // known now, sooner than Podman's wait (which polls every
                // 250 ms) says. A broken attach stream loses output, not
                // the step: the wait still reports how it ended.
                Some(Err(_)) | None => {
                    output_done = true;
                    exit = exited(docker, id).await?;
                }
            },
            status = wait.next() => exit = Some(match status {
                Some(Ok(r)) => i32::try_from(r.status_code).unwrap_or(i32::MAX),
                Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => {
                    i32::try_from(code).unwrap_or(i32::MAX)
                }
                Some(Err(e)) => return Err(e),
                None => exit_code_of(docker, id).await?,
            }),
            _ = &mut timeout => return Ok(End::TimedOut),
            _ = tick.tick() => if cancel.is_cancelled() {
                return Ok(End::Cancelled);
            },
        }
    }
    // The output ends when the container's last writer is gone; it is all
    // in the sink before the run returns.
    let drain = tokio::time::sleep(DRAIN);
    tokio::pin!(drain);
    while !output_done {
        tokio::select! {
            chunk = output.next() => match chunk {
                Some(Ok(out)) => write_output(sink, out),
                Some(Err(_)) | None => output_done = true,
            },
            _ = &mut drain => break,
        }
    }
    Ok(End::Exited(exit.unwrap_or_default()))
}

fn write_output(sink: &mut dyn LogSink, out: LogOutput) {
    match out {
        LogOutput::StdErr { message } => sink.write(Stream::Stderr, &message),
        LogOutput::StdOut { message } | LogOutput::Console { message } => sink.write(Stream::Stdout, &message),
        LogOutput::StdIn { .. } => {}
    }
}

/// The daemon's own message for an API error, without bollard's wrapping.
fn error_message(e: &bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        e => e.to_string(),
    }
}

/// Calls the daemon until its answer parses, for up to a second: Podman
/// briefly reports the status "stopped" between a process's exit and
/// "exited", which the Docker API (and so bollard) does not know.
async fn parsed<T, F: Future<Output = Result<T, bollard::errors::Error>>>(
    mut call: impl FnMut() -> F,
) -> Result<T, bollard::errors::Error> {
    let mut tries = 0;
    loop {
        match call().await {
            Err(bollard::errors::Error::JsonDataError { .. } | bollard::errors::Error::JsonSerdeError { .. })
                if tries < 50 =>
            {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            r => return r,
        }
    }
}

/// `inspect` of a container (see [`parsed`]).
async fn inspect(docker: &Docker, id: &str) -> Result<ContainerInspectResponse, bollard::errors::Error> {
    parsed(|| docker.inspect_container(id, None)).await
}

/// The exit code of a container that has exited, `None` if it has not.
async fn exited(docker: &Docker, id: &str) -> Result<Option<i32>, bollard::errors::Error> {
    let state = inspect(docker, id).await?.state.unwrap_or_default();
    Ok(match (state.status, state.exit_code) {
        (Some(ContainerStateStatusEnum::EXITED), Some(code)) => Some(i32::try_from(code).unwrap_or(i32::MAX)),
        _ => None,
    })
}

/// The exit code from `inspect`, for a wait stream that ended without one.
async fn exit_code_of(docker: &Docker, id: &str) -> Result<i32, bollard::errors::Error> {
    let info = inspect(docker, id).await?;
    Ok(info.state.and_then(|s| s.exit_code).map_or(-1, |c| i32::try_from(c).unwrap_or(i32::MAX)))
}

/// A connection to the daemon: a client, and the runtime it runs on — a
/// multi-thread runtime with one worker, so steps on several threads can
/// each `block_on` it at once. Made once per executor: Podman takes a
/// quarter of a second to answer the version negotiation.
pub(crate) struct Session {
    rt: tokio::runtime::Runtime,
    docker: Docker,
    ep: DaemonEndpoint,
    backend: &'static str,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("endpoint", &self.ep.address).finish()
    }
}

impl Session {
    fn open(ep: &DaemonEndpoint, backend: &'static str) -> Result<Session, ExecError> {
        let unavailable = |e: DaemonError| ExecError::Unavailable { backend, reason: e.to_string() };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("strata-docker")
            .enable_all()
            .build()
            .map_err(|e| unavailable(DaemonError::Runtime(e)))?;
        let docker = rt.block_on(ep.connect()).map_err(unavailable)?;
        Ok(Session { rt, docker, ep: ep.clone(), backend })
    }

    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    fn api_error(&self, step: &str, op: &str, e: &bollard::errors::Error) -> ExecError {
        ExecError::Backend {
            backend: self.backend,
            step: step.to_owned(),
            message: self.ep.api_error(op, e).to_string(),
        }
    }

    fn kill(&self, id: &str) {
        let opts = KillContainerOptions { signal: "KILL".into() };
        // It may have exited meanwhile; removal (forced) follows anyway.
        let _ = self.block_on(self.docker.kill_container(id, Some(opts)));
    }

    fn remove_container(&self, id: &str) -> Result<(), bollard::errors::Error> {
        let opts = RemoveContainerOptions { force: true, v: true, link: false };
        self.block_on(self.docker.remove_container(id, Some(opts)))
    }
}

/// A step container, removed (forcibly, with its anonymous volumes) when
/// dropped — at the end of a failed run, or with the [`Changes::UpperDir`]
/// it guards once the layer is written.
struct ContainerGuard {
    session: Option<Arc<Session>>,
    id: String,
}

impl std::fmt::Debug for ContainerGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContainerGuard").field("id", &self.id).finish()
    }
}

impl ContainerGuard {
    fn create(s: &Arc<Session>, spec: &StepSpec, image: &str) -> Result<ContainerGuard, bollard::errors::Error> {
        let opts = CreateContainerOptions { name: Some(body::container_name(&spec.name)), ..Default::default() };
        let created = s.block_on(s.docker.create_container(Some(opts), body::container_body(spec, image)))?;
        Ok(ContainerGuard { session: Some(s.clone()), id: created.id })
    }
}

impl Drop for ContainerGuard {
    fn drop(&mut self) {
        let Some(s) = self.session.take() else { return };
        let id = std::mem::take(&mut self.id);
        let work = move || {
            if let Err(e) = s.remove_container(&id)
                && !is_not_found(&e)
            {
                eprintln!(
                    "warning: cannot remove step container {id} from {}: {e}; remove it with `{} rm -f {id}`",
                    s.ep.address, s.backend
                );
            }
            // The session (and its runtime) is dropped here, outside any
            // async context.
        };
        // Blocking on our runtime inside someone else's panics: do it on a
        // plain thread then.
        if tokio::runtime::Handle::try_current().is_ok() {
            let _ = std::thread::spawn(work).join();
        } else {
            work();
        }
    }
}

fn status(e: &bollard::errors::Error) -> Option<u16> {
    match e {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

fn is_not_found(e: &bollard::errors::Error) -> bool {
    status(e) == Some(404)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_daemon_kind() {
        assert_eq!(DockerExecutor::new(DaemonKind::Docker, Some("/x.sock")).name(), "docker");
        assert_eq!(DockerExecutor::new(DaemonKind::Podman, Some("/x.sock")).name(), "podman");
        assert_eq!(DockerExecutor::podman().endpoint().kind, DaemonKind::Podman);
    }

    #[test]
    fn a_daemon_that_is_not_running_is_unavailable_with_its_socket_and_a_hint() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("nobody.sock");
        for kind in [DaemonKind::Docker, DaemonKind::Podman] {
            let ex = DockerExecutor::new(kind, Some(sock.to_str().unwrap()));
            let store = Store::open(dir.path().join("store")).unwrap();
            let spec = StepSpec::new("t:build", Vec::new(), vec!["true".into()]);
            let mut sink = NullSink(dir.path().join("log"));
            let e = ex.run(&store, &spec, &mut sink, &Cancel::new()).unwrap_err();
            assert!(matches!(e, ExecError::Unavailable { .. }), "{e}");
            let msg = e.to_string();
            assert!(msg.starts_with(&format!("{kind} is not available")), "{msg}");
            assert!(msg.contains(&format!("unix://{}", sock.display())), "{msg}");
            assert!(msg.contains("start"), "{msg}");
        }
    }

    #[test]
    fn a_cancelled_step_does_not_even_connect() {
        let dir = tempfile::tempdir().unwrap();
        let ex = DockerExecutor::new(DaemonKind::Docker, Some("/nonexistent.sock"));
        let store = Store::open(dir.path().join("store")).unwrap();
        let spec = StepSpec::new("t:build", Vec::new(), vec!["true".into()]);
        let cancel = Cancel::new();
        cancel.cancel();
        let e = ex.run(&store, &spec, &mut NullSink(dir.path().join("log")), &cancel).unwrap_err();
        assert!(matches!(e, ExecError::Cancelled { .. }), "{e}");
    }

    #[test]
    fn exec_failures_are_classified_like_a_shell() {
        let podman = "preparing container 9c for attach: runc: runc create failed: unable to start container \
                      process: exec: \"/no/such/command\": stat /no/such/command: no such file or directory: OCI \
                      runtime attempted to invoke a command that was not found";
        assert_eq!(exec_failure_code(podman), Some(127));
        let denied = "runc create failed: unable to start container process: exec: \"/etc/passwd\": permission \
                      denied: OCI permission denied";
        assert_eq!(exec_failure_code(denied), Some(126));
        assert_eq!(exec_failure_code("cannot set up the network: permission denied"), None);
    }

    struct NullSink(PathBuf);
    impl LogSink for NullSink {
        fn write(&mut self, _: Stream, _: &[u8]) {}
        fn path(&self) -> &std::path::Path {
            &self.0
        }
    }
}
