//! The runc executor: no daemon, one `runc run` per step over an overlay of
//! the step's snapshots.
//!
//! A step goes through these stages, each undone by a guard if anything
//! after it fails, times out, is cancelled or panics:
//!
//! 1. **bundle** ([`RuncExecutor::prepare`]): the snapshots are mounted as a
//!    [`Rootfs`] under `<store>/strata/tmp/step-XXXXXX/` (with the spec's
//!    mount points in its init dir, so `/proc`, `/etc/hosts`, bind
//!    destinations and the like never show up as changes); the working
//!    directory is created if missing — *as a change*, as Docker and
//!    BuildKit create `WORKDIR`, owned by the step's user; `config.json` is
//!    written beside `rootfs/` from [`spec::runtime_spec`] plus the per-step
//!    `/etc/hosts` and `/etc/hostname` of [`spec::etc_mounts`]. The guard
//!    unmounts and removes it all.
//! 2. **container**: `runc --root <store>/strata/runc run --bundle DIR ID`,
//!    in its own process group (a terminal's Ctrl-C reaches strata, which
//!    cancels), stdin `/dev/null`, stdout and stderr piped and handed to
//!    the [`LogSink`] chunk by chunk as they arrive. The guard kills the
//!    container (`runc kill ID KILL`, retried while runc is still creating
//!    it) and runs `runc delete --force ID`; the normal path needs neither,
//!    as a foreground `runc run` deletes its container when it exits.
//! 3. **changes**: [`Rootfs::into_changes`] unmounts and hands over the
//!    upper dir in a [`Changes::UpperDir`] whose guard removes the step dir
//!    once the layer is captured.
//!
//! Exit codes: the command's own, or 128 + the signal that killed it. When
//! runc itself fails (its `--log` has an error), the step fails with
//! [`ExecError::Backend`] — except for a command that cannot be executed,
//! which is the step's fault and gets Docker's exit codes: 127 (not found)
//! or 126 (not executable), with runc's message in the step's log.
//! A non-zero exit is not an error here: the caller turns it into a
//! [`StepFailed`](super::StepFailed) with [`Execution::success`].

use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{Cancel, Changes, ExecError, Execution, Executor, LogSink, StepSpec, Stream, exec_failure_code, spec};
use crate::snapshot::{MountPoint, Rootfs, SnapshotError, SnapshotMode};
use crate::store::Store;

const BACKEND: &str = "runc";
const NEEDS_ROOT: &str = "it needs root (rootless runc is not supported yet); use the docker executor";
/// How often a running step checks for cancellation and its timeout.
const POLL: Duration = Duration::from_millis(50);

/// Runs steps with the `runc` binary over overlay snapshots.
#[derive(Debug, Clone)]
pub struct RuncExecutor {
    runc: PathBuf,
    mode: Option<SnapshotMode>,
}

impl Default for RuncExecutor {
    fn default() -> Self {
        RuncExecutor::new()
    }
}

/// A runtime bundle over a mounted root filesystem, ready for `runc run`.
/// Dropping it unmounts and removes everything.
#[derive(Debug)]
pub struct Bundle {
    rootfs: Rootfs,
    id: String,
}

impl Bundle {
    /// The bundle directory (`config.json`, `rootfs/`).
    pub fn dir(&self) -> &Path {
        self.rootfs.dir()
    }

    /// The container id to run it as, unique in the store.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn rootfs(&self) -> &Rootfs {
        &self.rootfs
    }

    /// Unmounts the root filesystem and hands over its changes.
    pub fn into_changes(self) -> Result<Changes, SnapshotError> {
        self.rootfs.into_changes()
    }
}

impl RuncExecutor {
    /// Uses `runc` from `PATH` and the snapshot mode of
    /// [`SnapshotMode::resolve`] (`STRATA_SNAPSHOTTER`, else the first that
    /// mounts).
    pub fn new() -> Self {
        RuncExecutor { runc: PathBuf::from("runc"), mode: None }
    }

    pub fn with_runc(mut self, runc: impl Into<PathBuf>) -> Self {
        self.runc = runc.into();
        self
    }

    /// Forces a snapshot mode (tests run every mode this way).
    pub fn with_snapshot_mode(mut self, mode: SnapshotMode) -> Self {
        self.mode = Some(mode);
        self
    }

    /// Where runc keeps the state of this store's containers.
    pub fn runc_root(store: &Store) -> PathBuf {
        store.root().join("strata/runc")
    }

    /// Whether steps can run here: root, and a runc that starts.
    pub fn check(&self) -> Result<(), ExecError> {
        let unavailable = |reason: String| ExecError::Unavailable { backend: BACKEND, reason };
        // SAFETY: no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err(unavailable(NEEDS_ROOT.into()));
        }
        let out = Command::new(&self.runc)
            .arg("--version")
            .output()
            .map_err(|e| unavailable(format!("cannot run {}: {e}; install the runc package", self.runc.display())))?;
        if !out.status.success() {
            return Err(unavailable(format!("{} --version exited with {}", self.runc.display(), out.status)));
        }
        Ok(())
    }

    /// The snapshot mode steps in `store` use.
    pub fn snapshot_mode(&self, store: &Store) -> Result<SnapshotMode, ExecError> {
        match self.mode {
            Some(m) => Ok(m),
            None => Ok(SnapshotMode::resolve(store)?),
        }
    }

    /// Stage 1 (see the module docs): mounts the root filesystem of `step`
    /// and writes its bundle. `run` uses it; so does the W7 benchmark, to
    /// time a bare `runc run` of the very same bundle.
    pub fn prepare(&self, store: &Store, step: &StepSpec) -> Result<Bundle, ExecError> {
        let mode = self.snapshot_mode(store)?;
        let mut config = spec::try_runtime_spec(step, Path::new("rootfs"))?;
        let (uid, gid) = spec::parse_user(&step.user).expect("checked by try_runtime_spec");
        let mut points = spec::mount_points(&config);
        points.extend(["/etc/hosts", "/etc/hostname"].map(|p| MountPoint { path: p.into(), file: true }));
        let rootfs = Rootfs::mount(store, &step.layers, mode, &points)?;
        let dir = rootfs.dir().to_owned();
        let io_err = |path: PathBuf| move |source| ExecError::Io { step: step.name.clone(), path, source };
        let mut mounts = config.mounts().clone().unwrap_or_default();
        mounts.extend(spec::etc_mounts(&dir, step).map_err(io_err(dir.clone()))?);
        config.set_mounts(Some(mounts));
        rootfs.mkdir_all(&step.cwd, uid, gid)?;
        let id = format!("strata-{}", dir.file_name().expect("step dir has a name").to_string_lossy());
        if let Some(linux) = config.linux_mut() {
            linux.set_cgroups_path(Some(PathBuf::from(format!("/strata/{id}"))));
        }
        let json = serde_json::to_vec(&config).expect("a runtime spec serializes");
        std::fs::write(dir.join("config.json"), json).map_err(io_err(dir.join("config.json")))?;
        Ok(Bundle { rootfs, id })
    }

    /// Stops and deletes every container runc still has state for in
    /// `store`: what a strata killed mid-step left running (a foreground
    /// `runc run` outlives its parent, in its own process group). Only for
    /// [`crate::recover`], under the store's exclusive lock, when no live
    /// strata has a step running. Returns the ids removed; a runc that
    /// cannot be run leaves nothing to remove here.
    pub fn remove_leftovers(&self, store: &Store) -> Vec<String> {
        // A container runc has no state for yet (the kill came while it was
        // being created) is found by its cgroup, named after its step dir.
        let mut killed = Vec::new();
        if let Ok(steps) = std::fs::read_dir(store.tmp_dir()) {
            for dir in steps.flatten() {
                let name = dir.file_name().to_string_lossy().into_owned();
                if name.starts_with("step-") {
                    let id = format!("strata-{name}");
                    if super::cgroup::kill_and_remove(&id) > 0 {
                        killed.push(id);
                    }
                }
            }
        }
        let root = Self::runc_root(store);
        let Ok(entries) = std::fs::read_dir(&root) else { return killed };
        let mut ids: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .collect();
        ids.sort();
        ids.retain(|id| {
            let quiet =
                |args: &[&str]| self.runc(store).args(args).stdout(Stdio::null()).stderr(Stdio::null()).status();
            // `delete --force` kills a running container and waits for it.
            let _ = quiet(&["kill", id, "KILL"]);
            let _ = quiet(&["delete", "--force", id]);
            !root.join(id).exists() || std::fs::remove_dir_all(root.join(id)).is_ok()
        });
        killed.retain(|id| !ids.contains(id));
        ids.extend(killed);
        ids.sort();
        ids
    }

    fn runc(&self, store: &Store) -> Command {
        let mut c = Command::new(&self.runc);
        c.arg("--root").arg(Self::runc_root(store));
        c
    }
}

enum Msg {
    Data(Stream, Vec<u8>),
    Eof,
}

fn pump(mut from: impl Read + Send + 'static, stream: Stream, tx: mpsc::Sender<Msg>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if tx.send(Msg::Data(stream, buf[..n].to_vec())).is_err() {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let _ = tx.send(Msg::Eof);
    })
}

/// A started `runc run`; dropping it before it exits kills the container.
struct Container {
    runc: Command,
    id: String,
    child: Child,
    exited: bool,
}

impl Container {
    fn runc(&mut self, args: &[&str]) -> std::io::Result<ExitStatus> {
        let mut c = Command::new(self.runc.get_program());
        c.args(self.runc.get_args()).args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        c.status()
    }

    fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)) | Err(_))
    }

    /// Kills the container and waits for `runc run` to exit; then makes
    /// sure runc has no state left for it.
    fn kill(&mut self) {
        if self.exited {
            return;
        }
        let id = self.id.clone();
        let give_up = Instant::now() + Duration::from_secs(10);
        'kill: while !self.exited() {
            // Fails while runc is still creating the container: retried.
            let _ = self.runc(&["kill", &id, "KILL"]);
            for _ in 0..20 {
                if self.exited() {
                    break 'kill;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            if Instant::now() > give_up {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
        }
        let _ = self.runc(&["delete", "--force", &id]);
        self.exited = true;
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The exit code of a finished process: its own, or 128 + the signal.
fn exit_code(status: ExitStatus) -> i32 {
    status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// The first error runc logged (its `--log` in JSON), if any.
fn runc_error(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()).find_map(|v| {
        (v["level"] == "error" || v["level"] == "fatal").then(|| v["msg"].as_str().unwrap_or_default().to_owned())
    })
}

impl Executor for RuncExecutor {
    fn name(&self) -> &'static str {
        BACKEND
    }

    fn interactive(&self, store: &Store, step: &StepSpec) -> Result<i32, ExecError> {
        use std::io::IsTerminal;
        // SAFETY: no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err(ExecError::Unavailable { backend: BACKEND, reason: NEEDS_ROOT.into() });
        }
        let bundle = self.prepare(store, step)?;
        let config = bundle.dir().join("config.json");
        let io_err = |source| ExecError::Io { step: step.name.clone(), path: config.clone(), source };
        if std::io::stdin().is_terminal() {
            // A foreground `runc run` with a terminal relays this one.
            let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&config).map_err(io_err)?)
                .map_err(std::io::Error::other)
                .map_err(io_err)?;
            v["process"]["terminal"] = serde_json::Value::Bool(true);
            std::fs::write(&config, serde_json::to_vec(&v).expect("json")).map_err(io_err)?;
        }
        let root = Self::runc_root(store);
        std::fs::create_dir_all(&root).map_err(|source| ExecError::Io {
            step: step.name.clone(),
            path: root,
            source,
        })?;
        let status = self
            .runc(store)
            .arg("run")
            .arg("--bundle")
            .arg(bundle.dir())
            .arg(bundle.id())
            .status()
            .map_err(|e| ExecError::Unavailable { backend: BACKEND, reason: format!("cannot start runc: {e}") })?;
        Ok(exit_code(status))
    }

    fn run(
        &self,
        store: &Store,
        step: &StepSpec,
        sink: &mut dyn LogSink,
        cancel: &Cancel,
    ) -> Result<Execution, ExecError> {
        if cancel.is_cancelled() {
            return Err(ExecError::Cancelled { step: step.name.clone() });
        }
        // SAFETY: no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err(ExecError::Unavailable { backend: BACKEND, reason: NEEDS_ROOT.into() });
        }
        let bundle = self.prepare(store, step)?;
        let runc_log = bundle.dir().join("runc.log");
        let root = Self::runc_root(store);
        std::fs::create_dir_all(&root).map_err(|source| ExecError::Io {
            step: step.name.clone(),
            path: root.clone(),
            source,
        })?;
        let mut cmd = self.runc(store);
        cmd.arg("--log")
            .arg(&runc_log)
            .arg("--log-format")
            .arg("json")
            .arg("run")
            .arg("--bundle")
            .arg(bundle.dir())
            .arg(bundle.id())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        // runc dies with strata's step thread (a SIGKILLed strata cannot
        // clean up; a container runc had not started yet then never starts,
        // and one that had is `crate::recover`'s to stop).
        // SAFETY: prctl is async-signal-safe and touches no memory of ours.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|e| ExecError::Unavailable {
            backend: BACKEND,
            reason: format!("cannot start {}: {e}; install the runc package", self.runc.display()),
        })?;
        let (tx, rx) = mpsc::channel();
        let pumps = [
            pump(child.stdout.take().expect("piped"), Stream::Stdout, tx.clone()),
            pump(child.stderr.take().expect("piped"), Stream::Stderr, tx),
        ];
        // Declared after `bundle`, so it is dropped (the container killed) first.
        let mut container = Container { runc: self.runc(store), id: bundle.id().to_owned(), child, exited: false };
        let deadline = step.timeout.map(|t| Instant::now() + t);
        let mut open = pumps.len();
        let status = loop {
            let stop = if cancel.is_cancelled() {
                Some(ExecError::Cancelled { step: step.name.clone() })
            } else if let (Some(d), Some(after)) = (deadline, step.timeout)
                && Instant::now() >= d
            {
                Some(ExecError::TimedOut { step: step.name.clone(), after, log: sink.path().to_owned() })
            } else {
                None
            };
            if let Some(err) = stop {
                container.kill();
                // What the step wrote before it died still goes to its log.
                let until = Instant::now() + Duration::from_secs(1);
                while open > 0 && Instant::now() < until {
                    match rx.recv_timeout(Duration::from_millis(100)) {
                        Ok(Msg::Data(s, b)) => sink.write(s, &b),
                        Ok(Msg::Eof) => open -= 1,
                        Err(_) => break,
                    }
                }
                return Err(err);
            }
            let wait = deadline.map_or(POLL, |d| d.saturating_duration_since(Instant::now()).min(POLL));
            if open > 0 {
                match rx.recv_timeout(wait) {
                    Ok(Msg::Data(s, b)) => sink.write(s, &b),
                    Ok(Msg::Eof) => open -= 1,
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => open = 0,
                }
                continue;
            }
            // Output closed: runc is exiting (or the step closed its stdout
            // and stderr and runs on, so keep checking the clock).
            match container.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) => {
                    cancel.wait_timeout(Duration::from_millis(2).min(wait));
                }
                Err(source) => return Err(ExecError::Io { step: step.name.clone(), path: self.runc.clone(), source }),
            }
        };
        container.exited = true;
        for p in pumps {
            let _ = p.join();
        }
        let mut exit = exit_code(status);
        if exit != 0
            && let Some(msg) = runc_error(&runc_log)
        {
            match exec_failure_code(&msg) {
                Some(code) => exit = code,
                None => return Err(ExecError::Backend { backend: BACKEND, step: step.name.clone(), message: msg }),
            }
        }
        let changes = bundle.into_changes()?;
        Ok(Execution { exit_code: exit, changes, log: sink.path().to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runc_errors_are_read_from_its_json_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("runc.log");
        std::fs::write(
            &log,
            concat!(
                "{\"level\":\"warning\",\"msg\":\"cgroup v1 is deprecated\"}\n",
                "{\"level\":\"error\",\"msg\":\"runc run failed: unable to start container process: exec: \\\"nope\\\": executable file not found in $PATH\"}\n",
            ),
        )
        .unwrap();
        let msg = runc_error(&log).unwrap();
        assert!(msg.contains("executable file not found"), "{msg}");
        assert_eq!(exec_failure_code(&msg), Some(127));
        assert_eq!(
            exec_failure_code("runc run failed: unable to start container process: exec: \"/etc\": permission denied"),
            Some(126)
        );
        assert_eq!(exec_failure_code("runc run failed: unable to apply cgroup configuration"), None);
        assert_eq!(runc_error(&dir.path().join("missing")), None);
    }

    #[test]
    fn signals_become_128_plus_the_signal() {
        assert_eq!(exit_code(ExitStatus::from_raw(3 << 8)), 3);
        assert_eq!(exit_code(ExitStatus::from_raw(libc::SIGKILL)), 137);
    }
}
