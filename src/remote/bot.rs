//! `strata worker --bots grpc://…`: a bot of the Remote Workers API
//! (`google.devtools.remoteworkers.v1test2.Bots`), the protocol BuildGrid
//! hands its work out with. The bot opens a session with its capacity
//! (`--leases N`), long-polls `UpdateBotSession`, and for each lease
//! (an Action, or its digest) lays out the input root, runs the command —
//! `strata step-exec`, or any other — uploads the outputs, and reports the
//! lease completed with its `ActionResult`, which the farm puts in its
//! action cache.
//!
//! A lease the farm drops from the session (cancelled, or given to another
//! bot) has its process stopped: SIGTERM, which step-exec answers by
//! killing the container and unmounting. A bot killed outright stops
//! heart-beating; the farm expires its session and hands its leases to
//! another bot. Children get SIGTERM when the bot dies (`PR_SET_PDEATHSIG`).
//!
//! Large input files (layers) go through the bot's store, so a base layer
//! comes down once per worker, not once per step, and step-exec finds it
//! already there.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use googleapis_tonic_google_devtools_remoteworkers_v1test2::google::devtools::remoteworkers::v1test2 as rw;
use googleapis_tonic_google_devtools_remoteworkers_v1test2::google::rpc::Status as LeaseStatus;
use prost::Message as _;
use rw::bots_client::BotsClient;

use super::cas::{Source, Upload};
use super::client::{Endpoint, Farm, pb};
use super::{RemoteError, Result};
use crate::executor::Cancel;
use crate::store::Store;

/// Files larger than this go through the bot's store (and stay there).
const VIA_STORE: i64 = 64 << 10;
/// How long one `UpdateBotSession` may wait for work.
const POLL: Duration = Duration::from_secs(10);
const ACTION_RESULT_URL: &str = "type.googleapis.com/build.bazel.remote.execution.v2.ActionResult";
/// google.rpc.Code: what BuildGrid retries on another bot.
const UNAVAILABLE: i32 = 14;
const INTERNAL: i32 = 13;

/// How the bot runs.
#[derive(Debug, Clone)]
pub struct BotOptions {
    pub endpoint: Endpoint,
    /// Leases at once.
    pub leases: usize,
    /// The bot's id in the farm (default: host name and pid).
    pub bot_id: String,
    /// Where leases are laid out.
    pub work_dir: PathBuf,
    /// What `strata` in a command means: this binary.
    pub strata: PathBuf,
}

/// A lease being worked on.
struct Running {
    cancel: Cancel,
    task: tokio::task::JoinHandle<rw::Lease>,
}

type Log = Arc<Mutex<Box<dyn Write + Send>>>;

fn say(log: &Log, line: String) {
    let mut l = log.lock().unwrap_or_else(|e| e.into_inner());
    let _ = writeln!(l, "{line}");
    let _ = l.flush();
}

/// Serves leases until `cancel` is set (SIGTERM, Ctrl-C).
pub fn run(store: &Store, opts: &BotOptions, cancel: &Cancel, log: Box<dyn Write + Send>) -> crate::Result<()> {
    let rt = super::client::runtime()?;
    let farm = opts.endpoint.connect(&rt)?;
    std::fs::create_dir_all(&opts.work_dir).map_err(|source| RemoteError::Io {
        what: "cannot create",
        path: opts.work_dir.clone(),
        source,
    })?;
    let log: Log = Arc::new(Mutex::new(log));
    rt.block_on(serve(store.root().to_path_buf(), farm, opts.clone(), cancel.clone(), log))?;
    Ok(())
}

fn new_session(opts: &BotOptions) -> rw::BotSession {
    rw::BotSession {
        bot_id: opts.bot_id.clone(),
        status: rw::BotStatus::Ok as i32,
        worker: Some(rw::Worker {
            configs: vec![rw::worker::Config { key: "capacity".into(), value: opts.leases.to_string() }],
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn serve(store: PathBuf, farm: Farm, opts: BotOptions, cancel: Cancel, log: Log) -> Result<()> {
    let mut bots = BotsClient::new(farm.channel.clone()).max_decoding_message_size(64 << 20);
    let mut running: HashMap<String, Running> = HashMap::new();
    let mut completed: Vec<rw::Lease> = Vec::new();
    let mut session: Option<rw::BotSession> = None;
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    say(&log, format!("bot {}: serving {} with {} lease(s)", opts.bot_id, farm.url, opts.leases));
    while !cancel.is_cancelled() {
        // Collect what finished.
        let finished: Vec<String> =
            running.iter().filter(|(_, r)| r.task.is_finished()).map(|(k, _)| k.clone()).collect();
        for id in finished {
            let r = running.remove(&id).expect("listed above");
            match r.task.await {
                Ok(lease) => completed.push(lease),
                Err(e) => completed.push(failed_lease(&id, INTERNAL, format!("the lease's task panicked: {e}"))),
            }
        }
        let call = match &session {
            None => {
                let mut req = farm.req(rw::CreateBotSessionRequest {
                    parent: farm.instance.clone(),
                    bot_session: Some(new_session(&opts)),
                });
                req.set_timeout(POLL);
                Call::Create(bots.create_bot_session(req))
            }
            Some(s) => {
                let mut s = s.clone();
                s.leases = running
                    .keys()
                    .map(|id| rw::Lease { id: id.clone(), state: rw::LeaseState::Active as i32, ..Default::default() })
                    .chain(completed.iter().cloned())
                    .collect();
                let mut req = farm.req(rw::UpdateBotSessionRequest {
                    name: s.name.clone(),
                    bot_session: Some(s),
                    update_mask: None,
                });
                req.set_timeout(POLL);
                Call::Update(bots.update_bot_session(req))
            }
        };
        let reported = completed.len();
        let answer = tokio::select! {
            a = call.finish() => a,
            // A lease ended: report it now rather than after the long poll.
            _ = done_rx.recv(), if reported == 0 => continue,
            () = super::client::cancelled(&cancel) => break,
        };
        let answer = match answer {
            Ok(s) => s,
            Err(status) => {
                let lost = matches!(
                    status.code(),
                    tonic::Code::NotFound
                        | tonic::Code::InvalidArgument
                        | tonic::Code::FailedPrecondition
                        | tonic::Code::Aborted
                );
                if lost && session.is_some() {
                    say(
                        &log,
                        format!(
                            "bot {}: the farm dropped the session ({}); starting a new one",
                            opts.bot_id,
                            status.message()
                        ),
                    );
                    for (id, r) in running.drain() {
                        r.cancel.cancel();
                        say(&log, format!("lease {id}: cancelled (session lost)"));
                    }
                    session = None;
                    completed.clear();
                } else if status.code() != tonic::Code::DeadlineExceeded && status.code() != tonic::Code::Cancelled {
                    say(&log, format!("bot {}: {} ({:?}); retrying", opts.bot_id, status.message(), status.code()));
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                continue;
            }
        };
        completed.drain(..reported);
        // Leases the farm no longer lists are cancelled or given away: stop them.
        let listed: std::collections::HashSet<&str> = answer.leases.iter().map(|l| l.id.as_str()).collect();
        let dropped: Vec<String> = running.keys().filter(|id| !listed.contains(id.as_str())).cloned().collect();
        for id in dropped {
            if let Some(r) = running.remove(&id) {
                r.cancel.cancel();
                say(&log, format!("lease {id}: cancelled by the farm"));
            }
        }
        for lease in &answer.leases {
            let new = !running.contains_key(&lease.id)
                && (lease.state == rw::LeaseState::Pending as i32 || lease.state == rw::LeaseState::Active as i32);
            if new && running.len() < opts.leases {
                let lease_cancel = Cancel::new();
                let ctx = LeaseCtx {
                    farm: farm.clone(),
                    store: store.clone(),
                    opts: opts.clone(),
                    cancel: lease_cancel.clone(),
                    log: log.clone(),
                };
                let id = lease.id.clone();
                let lease = lease.clone();
                let tx = done_tx.clone();
                let task = tokio::spawn(async move {
                    let id = lease.id.clone();
                    let done = run_lease(&ctx, &lease).await;
                    let _ = tx.send(());
                    match done {
                        Ok(l) => l,
                        Err(e) => {
                            say(&ctx.log, format!("lease {id}: failed on this bot: {e}"));
                            failed_lease(&id, UNAVAILABLE, e.to_string())
                        }
                    }
                });
                running.insert(id, Running { cancel: lease_cancel, task });
            }
        }
        session = Some(rw::BotSession { leases: vec![], ..answer });
    }
    for (id, r) in running.drain() {
        r.cancel.cancel();
        let _ = r.task.await;
        say(&log, format!("lease {id}: stopped (the bot is shutting down)"));
    }
    say(&log, format!("bot {}: stopped", opts.bot_id));
    Ok(())
}

/// One in-flight session call.
enum Call<F1, F2> {
    Create(F1),
    Update(F2),
}

impl<F1, F2> Call<F1, F2>
where
    F1: std::future::Future<Output = std::result::Result<tonic::Response<rw::BotSession>, tonic::Status>>,
    F2: std::future::Future<Output = std::result::Result<tonic::Response<rw::BotSession>, tonic::Status>>,
{
    async fn finish(self) -> std::result::Result<rw::BotSession, tonic::Status> {
        match self {
            Call::Create(f) => f.await.map(tonic::Response::into_inner),
            Call::Update(f) => f.await.map(tonic::Response::into_inner),
        }
    }
}

fn failed_lease(id: &str, code: i32, message: String) -> rw::Lease {
    rw::Lease {
        id: id.into(),
        state: rw::LeaseState::Completed as i32,
        status: Some(LeaseStatus { code, message, details: vec![] }),
        ..Default::default()
    }
}

/// What a lease's task has.
struct LeaseCtx {
    farm: Farm,
    store: PathBuf,
    opts: BotOptions,
    cancel: Cancel,
    log: Log,
}

fn io<'p>(what: &'static str, path: &'p Path) -> impl FnOnce(std::io::Error) -> RemoteError + 'p {
    move |source| RemoteError::Io { what, path: path.to_path_buf(), source }
}

/// Runs one lease; an `Err` is the bot's failure (retried elsewhere), a
/// command that exits non-zero is a result.
async fn run_lease(ctx: &LeaseCtx, lease: &rw::Lease) -> Result<rw::Lease> {
    let started = Instant::now();
    let farm = &ctx.farm;
    let bad = |why: String| RemoteError::Lease { lease: lease.id.clone(), why };
    let payload = lease.payload.as_ref().ok_or_else(|| bad("no payload".into()))?;
    let action = if payload.type_url.ends_with("build.bazel.remote.execution.v2.Action") {
        pb::Action::decode(payload.value.as_slice()).map_err(|e| bad(format!("an undecodable Action: {e}")))?
    } else if payload.type_url.ends_with("build.bazel.remote.execution.v2.Digest") {
        let d = pb::Digest::decode(payload.value.as_slice()).map_err(|e| bad(format!("an undecodable Digest: {e}")))?;
        let bytes = farm.read_blob(&d).await?;
        pb::Action::decode(bytes.as_slice()).map_err(|e| bad(format!("an undecodable Action: {e}")))?
    } else {
        return Err(bad(format!("a payload of type {}", payload.type_url)));
    };
    let command_digest = action.command_digest.clone().ok_or_else(|| bad("an Action without command".into()))?;
    let command = pb::Command::decode(farm.read_blob(&command_digest).await?.as_slice())
        .map_err(|e| bad(format!("an undecodable Command: {e}")))?;
    let name: String = lease.id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    let work = ctx.opts.work_dir.join(&name);
    let _ = std::fs::remove_dir_all(&work);
    let root = work.join("root");
    std::fs::create_dir_all(&root).map_err(io("cannot create", &root))?;
    let store = Store::open(&ctx.store).map_err(|e| bad(format!("cannot open the bot's store: {e}")))?;
    let input_root = action.input_root_digest.clone().unwrap_or_else(|| super::digest_of(b""));
    materialize(farm, &store, &input_root, &root).await?;
    let vertex = std::fs::read(root.join(super::action::MANIFEST))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["vertex"].as_str().map(str::to_owned))
        .unwrap_or_else(|| command.arguments.join(" "));
    say(&ctx.log, format!("lease {}: running {vertex}", lease.id));
    let stdout = work.join("stdout");
    let stderr = work.join("stderr");
    let spec = Spawn {
        command: command.clone(),
        cwd: root.join(&command.working_directory),
        stdout: stdout.clone(),
        stderr: stderr.clone(),
        strata: ctx.opts.strata.clone(),
        store: ctx.store.clone(),
        cancel: ctx.cancel.clone(),
    };
    let exit = tokio::task::spawn_blocking(move || spawn_and_wait(&spec))
        .await
        .map_err(|e| RemoteError::Runtime(std::io::Error::other(e)))??;
    let Some(exit_code) = exit else {
        let _ = std::fs::remove_dir_all(&work);
        say(&ctx.log, format!("lease {}: {vertex} cancelled", lease.id));
        return Ok(failed_lease(&lease.id, 1, "cancelled".into()));
    };
    let mut uploads = Vec::new();
    let mut output_files = Vec::new();
    // Older clients name their outputs in the deprecated output_files.
    #[allow(deprecated)]
    let mut paths: Vec<&String> = command.output_files.iter().chain(command.output_paths.iter()).collect();
    paths.sort();
    paths.dedup();
    for p in paths {
        let file = root.join(&command.working_directory).join(p);
        if !file.is_file() {
            continue;
        }
        let u = file_upload(&file)?;
        output_files.push(pb::OutputFile { path: p.clone(), digest: Some(u.digest.clone()), ..Default::default() });
        uploads.push(u);
    }
    let out = file_upload(&stdout)?;
    let err = file_upload(&stderr)?;
    let result = pb::ActionResult {
        output_files,
        exit_code,
        stdout_digest: Some(out.digest.clone()),
        stderr_digest: Some(err.digest.clone()),
        execution_metadata: Some(pb::ExecutedActionMetadata { worker: ctx.opts.bot_id.clone(), ..Default::default() }),
        ..Default::default()
    };
    uploads.push(out);
    uploads.push(err);
    farm.upload(uploads).await?;
    let _ = std::fs::remove_dir_all(&work);
    say(
        &ctx.log,
        format!("lease {}: {vertex} exited {exit_code} in {:.1}s", lease.id, started.elapsed().as_secs_f64()),
    );
    Ok(rw::Lease {
        id: lease.id.clone(),
        state: rw::LeaseState::Completed as i32,
        status: Some(LeaseStatus { code: 0, message: String::new(), details: vec![] }),
        result: Some(prost_types::Any { type_url: ACTION_RESULT_URL.into(), value: result.encode_to_vec() }),
        ..Default::default()
    })
}

/// A file's upload (hashed here, streamed from disk).
fn file_upload(path: &Path) -> Result<Upload> {
    use sha2::Digest as _;
    let mut f = std::fs::File::open(path).map_err(io("cannot open", path))?;
    let mut h = sha2::Sha256::new();
    let n = std::io::copy(&mut f, &mut h).map_err(io("cannot read", path))?;
    let digest = pb::Digest { hash: hex::encode(h.finalize()), size_bytes: n as i64 };
    Ok(Upload { digest, source: Source::File(path.to_path_buf()) })
}

/// Lays out the tree of `dir` at `at`: small files downloaded, large ones
/// through the store (and linked).
async fn materialize(farm: &Farm, store: &Store, dir: &pb::Digest, at: &Path) -> Result<()> {
    let mut stack = vec![(dir.clone(), at.to_path_buf())];
    while let Some((d, path)) = stack.pop() {
        let bytes = farm.read_blob(&d).await?;
        let dir = pb::Directory::decode(bytes.as_slice()).map_err(|e| RemoteError::Lease {
            lease: path.display().to_string(),
            why: format!("an undecodable Directory: {e}"),
        })?;
        std::fs::create_dir_all(&path).map_err(io("cannot create", &path))?;
        for f in &dir.files {
            let target = path.join(safe_name(&f.name)?);
            let digest = f.digest.clone().unwrap_or_else(|| super::digest_of(b""));
            if digest.size_bytes > VIA_STORE {
                farm.download_to_store(store, &digest).await?;
                let blob = store.blob_path(&super::oci_digest(&digest)?);
                if std::fs::hard_link(&blob, &target).is_err() {
                    std::fs::copy(&blob, &target).map_err(io("cannot write", &target))?;
                }
            } else if digest.size_bytes == 0 {
                std::fs::write(&target, b"").map_err(io("cannot write", &target))?;
            } else {
                farm.download_to_file(&digest, &target).await?;
            }
            if f.is_executable {
                use std::os::unix::fs::PermissionsExt as _;
                std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))
                    .map_err(io("cannot chmod", &target))?;
            }
        }
        for s in &dir.symlinks {
            let target = path.join(safe_name(&s.name)?);
            std::os::unix::fs::symlink(&s.target, &target).map_err(io("cannot create", &target))?;
        }
        for sub in &dir.directories {
            let d = sub.digest.clone().unwrap_or_else(|| super::digest_of(b""));
            stack.push((d, path.join(safe_name(&sub.name)?)));
        }
    }
    Ok(())
}

/// A tree entry's name, refused when it would leave its directory.
fn safe_name(name: &str) -> Result<&str> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return Err(RemoteError::Lease { lease: String::new(), why: format!("an input named '{name}'") });
    }
    Ok(name)
}

/// A command to run for a lease.
struct Spawn {
    command: pb::Command,
    cwd: PathBuf,
    stdout: PathBuf,
    stderr: PathBuf,
    strata: PathBuf,
    store: PathBuf,
    cancel: Cancel,
}

/// Runs the command; its exit code, or `None` when cancelled.
fn spawn_and_wait(s: &Spawn) -> Result<Option<i32>> {
    use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
    let args = &s.command.arguments;
    let Some(program) = args.first() else {
        return Err(RemoteError::Lease { lease: String::new(), why: "a Command without arguments".into() });
    };
    let program = if program == "strata" { s.strata.clone() } else { PathBuf::from(program) };
    let mut cmd = std::process::Command::new(&program);
    cmd.args(&args[1..]).current_dir(&s.cwd).env("STRATA_STORE", &s.store);
    for v in &s.command.environment_variables {
        cmd.env(&v.name, &v.value);
    }
    let out = std::fs::File::create(&s.stdout).map_err(io("cannot create", &s.stdout))?;
    let err = std::fs::File::create(&s.stderr).map_err(io("cannot create", &s.stderr))?;
    cmd.stdout(out).stderr(err).stdin(std::process::Stdio::null());
    // SAFETY: prctl is async-signal-safe; the closure allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(io("cannot run", &program))?;
    let mut term_sent: Option<Instant> = None;
    loop {
        if let Some(status) = child.try_wait().map_err(io("cannot wait for", &program))? {
            if term_sent.is_some() {
                return Ok(None);
            }
            return Ok(Some(status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0))));
        }
        if s.cancel.is_cancelled() {
            match term_sent {
                None => {
                    // SAFETY: signalling our own child by its pid.
                    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
                    term_sent = Some(Instant::now());
                }
                Some(t) if t.elapsed() > Duration::from_secs(30) => {
                    let _ = child.kill();
                }
                Some(_) => {}
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_leave_their_directory_are_refused() {
        for bad in ["", ".", "..", "a/b"] {
            assert!(safe_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(safe_name("step.json").unwrap(), "step.json");
    }

    #[test]
    fn a_command_runs_in_its_directory_and_a_cancelled_one_is_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let spawn = |argv: &[&str], cancel: Cancel| Spawn {
            command: pb::Command { arguments: argv.iter().map(|s| s.to_string()).collect(), ..Default::default() },
            cwd: dir.path().to_path_buf(),
            stdout: dir.path().join("out"),
            stderr: dir.path().join("err"),
            strata: PathBuf::from("/nonexistent"),
            store: dir.path().join("store"),
            cancel,
        };
        let ok = spawn_and_wait(&spawn(&["sh", "-c", "pwd; echo $STRATA_STORE; exit 3"], Cancel::new())).unwrap();
        assert_eq!(ok, Some(3));
        let out = std::fs::read_to_string(dir.path().join("out")).unwrap();
        assert!(out.contains(&dir.path().display().to_string()) && out.contains("/store"), "{out}");
        let cancel = Cancel::new();
        cancel.cancel();
        let started = Instant::now();
        assert_eq!(spawn_and_wait(&spawn(&["sleep", "30"], cancel)).unwrap(), None);
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
