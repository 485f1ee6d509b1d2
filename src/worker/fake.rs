//! A recording fake worker: runs nothing, records every job, and makes up
//! each output layer — a real layer in the store holding one file,
//! `<output>`, whose contents are a digest of the job's op and inputs — so
//! equal jobs give equal layers, and a job whose inputs changed gives new
//! ones, exactly as a deterministic real step would. Jobs can be told to fail or to take a
//! while, and the fake counts how many ran at once. The solver's tests and
//! the frontends' lowering tests run on it without root or containers
//! (DESIGN.md §11; BuildKit's scheduler tests use toy vertices the same way).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use sha2::{Digest as _, Sha256};

use super::{ExecJob, Outputs, Worker};
use crate::executor::{Cancel, ExecError, StepFailed};
use crate::layer::{Compression, IdMode, LayerInfo, WriteOptions};
use crate::store::Store;

/// What the fake saw and how busy it was.
#[derive(Debug, Default)]
struct State {
    jobs: Vec<String>,
    running: usize,
    most_at_once: usize,
}

/// See the module docs.
#[derive(Debug)]
pub struct FakeWorker<'s> {
    store: &'s Store,
    state: Mutex<State>,
    /// Vertex id → exit code to fail with.
    failing: BTreeMap<String, i32>,
    /// Vertex id → how long its job takes (cancellable).
    slow: BTreeMap<String, Duration>,
}

impl<'s> FakeWorker<'s> {
    /// A fake writing its layers into `store`.
    pub fn new(store: &'s Store) -> FakeWorker<'s> {
        FakeWorker { store, state: Mutex::default(), failing: BTreeMap::new(), slow: BTreeMap::new() }
    }

    /// Makes `vertex`'s job exit with `code`.
    pub fn failing(mut self, vertex: &str, code: i32) -> Self {
        self.failing.insert(vertex.to_string(), code);
        self
    }

    /// Makes `vertex`'s job take `time` (it returns early when cancelled).
    pub fn slow(mut self, vertex: &str, time: Duration) -> Self {
        self.slow.insert(vertex.to_string(), time);
        self
    }

    /// The vertices whose jobs ran, in the order they started.
    pub fn jobs(&self) -> Vec<String> {
        self.lock().jobs.clone()
    }

    /// The most jobs that were running at the same time.
    pub fn most_at_once(&self) -> usize {
        self.lock().most_at_once
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The made-up layer for output `output` of `job`: a file named
    /// after the output, holding a digest of the op and every input layer.
    pub fn layer_for(&self, job: &ExecJob<'_>, output: &str) -> crate::Result<LayerInfo> {
        let mut h = Sha256::new();
        h.update(crate::json::to_vec(job.op).expect("an op serializes"));
        for l in job.rootfs.iter().chain(job.mount_layers.iter().flatten()) {
            h.update(l.diff_id.to_string().as_bytes());
        }
        let dir = tempfile::tempdir()
            .map_err(|e| crate::vertex::hostfs::HostFsError { path: std::env::temp_dir(), source: e })?;
        let file = dir.path().join(output);
        std::fs::write(&file, hex::encode(h.finalize()))
            .map_err(|e| crate::vertex::hostfs::HostFsError { path: file.clone(), source: e })?;
        let opts = WriteOptions { ids: IdMode::Root, ..WriteOptions::new(Compression::Gzip, job.epoch) };
        let write = |w| crate::layer::write_tree(dir.path(), &opts, w);
        Ok(crate::layer::write_blob(self.store, Compression::Gzip, write)?)
    }
}

impl Worker for FakeWorker<'_> {
    fn name(&self) -> &str {
        "fake"
    }

    fn exec(&self, job: &ExecJob<'_>, cancel: &Cancel) -> crate::Result<Outputs> {
        {
            let mut s = self.lock();
            s.jobs.push(job.vertex.to_string());
            s.running += 1;
            s.most_at_once = s.most_at_once.max(s.running);
        }
        let cancelled = match self.slow.get(job.vertex) {
            Some(d) => cancel.wait_timeout(*d),
            None => cancel.is_cancelled(),
        };
        self.lock().running -= 1;
        if cancelled {
            return Err(ExecError::Cancelled { step: job.vertex.to_string() }.into());
        }
        if let Some(code) = self.failing.get(job.vertex) {
            let log = std::env::temp_dir().join("strata-fake-worker.log");
            return Err(StepFailed { step: job.vertex.into(), exit_code: *code, tail: String::new(), log }.into());
        }
        job.op.outputs().into_iter().map(|o| Ok((o.clone(), self.layer_for(job, &o)?))).collect()
    }
}
