//! `strata step-exec MANIFEST`: one step, as a farm's worker runs it, in a
//! directory laid out as [`super::action`] says. The layers go into the
//! worker's store (kept between steps, so its snapshots are reused), the
//! step runs through the [`LocalWorker`] on runc — the same code and so the
//! same bytes as a local build — and each output blob is written to
//! `out/<n>`, with `out/outputs.json` naming them.
//!
//! Exit codes: the step's own when it fails (its log is on stderr), 0 when
//! it succeeded. SIGTERM and SIGINT cancel the step: the container is
//! killed and everything unmounted before step-exec exits.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::RemoteError;
use super::action::{self, StepManifest};
use crate::executor::{Cancel, RuncExecutor, checked::CheckedOnFirstUse};
use crate::store::Store;
use crate::worker::{ExecJob, LocalWorker, Worker};

fn io<'p>(what: &'static str, path: &'p Path) -> impl FnOnce(std::io::Error) -> RemoteError + 'p {
    move |source| RemoteError::Io { what, path: path.to_path_buf(), source }
}

/// Reads and checks the manifest at `path`.
pub fn read_manifest(path: &Path) -> Result<StepManifest, RemoteError> {
    let bytes = std::fs::read(path).map_err(io("cannot read the step manifest", path))?;
    let m: StepManifest = serde_json::from_slice(&bytes)
        .map_err(|e| RemoteError::BadManifest { path: path.into(), why: e.to_string() })?;
    if m.version != 1 {
        let why = format!("format {} (this strata reads 1): update the worker's strata", m.version);
        return Err(RemoteError::BadManifest { path: path.into(), why });
    }
    Ok(m)
}

/// Runs the step `manifest` describes; returns the exit code to exit with.
pub fn run(store: &Store, manifest: &Path, cancel: &Cancel, out: &mut dyn Write) -> crate::Result<i32> {
    let m = read_manifest(manifest)?;
    let manifest = std::path::absolute(manifest).map_err(io("cannot find", manifest))?;
    let dir = manifest.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("/"));
    for (digest, l) in m.layers() {
        if !store.has_blob(&l.digest) {
            let p = dir.join(action::LAYERS_DIR).join(digest.trim_start_matches("sha256:"));
            let f = std::fs::File::open(&p).map_err(io("cannot open an input layer", &p))?;
            store.put_verified(f, &l.digest)?;
        }
    }
    let project = dir.join("project");
    if m.project {
        let tar = dir.join(action::PROJECT_TAR);
        std::fs::create_dir_all(&project).map_err(io("cannot create", &project))?;
        let f = std::fs::File::open(&tar).map_err(io("cannot open the project", &tar))?;
        crate::layer::unpack(f, &project, &crate::layer::UnpackOptions::default())?;
    }
    let job = ExecJob {
        vertex: &m.vertex,
        op: &m.op,
        rootfs: m.rootfs.clone(),
        mount_layers: m.mount_layers.clone(),
        project_dir: &project,
        epoch: m.epoch,
    };
    let runc = CheckedOnFirstUse::new(RuncExecutor::new(), RuncExecutor::check);
    let worker = LocalWorker {
        store,
        executor: &runc,
        compression: m.compression,
        echo: true,
        ca: crate::worker::local::host_ca_bundle(),
        limits: Default::default(),
        timeout: None,
        secrets: Default::default(),
    };
    let outputs = match worker.exec(&job, cancel) {
        Ok(o) => o,
        Err(crate::Error::StepFailed(f)) => {
            eprintln!("step {} failed with exit code {}", f.step, f.exit_code);
            return Ok(f.exit_code.clamp(1, 255));
        }
        Err(e) => return Err(e),
    };
    let out_dir = dir.join(action::OUT_DIR);
    std::fs::create_dir_all(&out_dir).map_err(io("cannot create", &out_dir))?;
    for (n, name) in m.op.outputs().iter().enumerate() {
        let Some(l) = outputs.get(name) else { continue };
        let dest = dir.join(action::output_path(n));
        let src = store.blob_path(&l.digest);
        if std::fs::hard_link(&src, &dest).is_err() {
            std::fs::copy(&src, &dest).map_err(io("cannot write an output", &dest))?;
        }
        writeln!(out, "{name}: {} ({} bytes)", l.digest, l.size).ok();
    }
    let json = crate::json::to_vec(&outputs).expect("layer infos serialize");
    let p = dir.join(action::OUTPUTS);
    std::fs::write(&p, json).map_err(io("cannot write", &p))?;
    Ok(0)
}

/// SIGTERM or SIGINT cancels `cancel` (a bot stopping a lease, a runner's timeout).
pub fn cancel_on_signals(cancel: &Cancel) {
    let cancel = cancel.clone();
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        rt.block_on(async {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
                return;
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            eprintln!("step-exec: cancelling the step");
            cancel.cancel();
        });
    });
}
