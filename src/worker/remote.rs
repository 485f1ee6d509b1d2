//! The remote worker: exec ops run on a Remote Execution API farm
//! ([`crate::remote`]). Each job becomes an Action ([`action::build`]);
//! the farm's action cache is asked first ([`Worker::cached`], which the
//! solver calls before it runs a step, so a step another machine ran shows
//! as cached); otherwise what the CAS lacks goes up and the farm runs it.
//! Uploads go one step at a time: steps that start together share their
//! base layers, and only the first finds them missing and sends them.
//! Output layers stay in the farm: the solver needs only their digests,
//! and [`Worker::fetch`] brings the blobs into the store when something
//! local reads them (a host-side op, the image).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use futures_util::StreamExt as _;

use super::{ExecJob, Outputs, Worker};
use crate::executor::{Cancel, StepFailed};
use crate::layer::{self, Compression, IdMode, LayerInfo, WriteOptions};
use crate::remote::RemoteError;
use crate::remote::action::{self, ProjectTar};
use crate::remote::client::{Endpoint, Farm, pb};
use crate::store::Store;

/// What moved between this machine and the farm, for the user.
#[derive(Debug, Default, Clone, Copy)]
pub struct Traffic {
    pub uploaded_blobs: usize,
    pub uploaded_bytes: u64,
    pub downloaded_blobs: usize,
    pub downloaded_bytes: u64,
    /// Steps the farm's action cache answered.
    pub cached: usize,
    /// Steps the farm ran.
    pub executed: usize,
}

/// See the module docs.
pub struct RemoteWorker<'a> {
    store: &'a Store,
    farm: Farm,
    rt: tokio::runtime::Runtime,
    compression: Compression,
    projects: Mutex<HashMap<(PathBuf, i64), ProjectTar>>,
    traffic: Mutex<Traffic>,
    /// Held while a step's blobs go up, so that steps starting together do
    /// not all find the same base layer missing and all send it.
    uploading: tokio::sync::Mutex<()>,
}

impl<'a> RemoteWorker<'a> {
    /// A worker sending `store`'s steps to the farm at `endpoint`.
    pub fn new(store: &'a Store, endpoint: &Endpoint, compression: Compression) -> crate::Result<RemoteWorker<'a>> {
        let rt = crate::remote::client::runtime()?;
        Ok(RemoteWorker {
            store,
            farm: endpoint.connect(&rt)?,
            rt,
            compression,
            projects: Mutex::default(),
            traffic: Mutex::default(),
            uploading: tokio::sync::Mutex::new(()),
        })
    }

    pub fn traffic(&self) -> Traffic {
        *self.traffic.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn count(&self, f: impl FnOnce(&mut Traffic)) {
        f(&mut self.traffic.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// The project directory as one tar blob in the store (once per build).
    fn project_tar(&self, job: &ExecJob<'_>) -> crate::Result<Option<ProjectTar>> {
        if !action::mounts_project(job.op) {
            return Ok(None);
        }
        let key = (job.project_dir.to_path_buf(), job.epoch);
        if let Some(p) = self.projects.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(Some(p.clone()));
        }
        let opts = WriteOptions { ids: IdMode::AsFound, ..WriteOptions::new(Compression::None, job.epoch) };
        let info = layer::write_blob(self.store, Compression::None, |w| layer::write_tree(job.project_dir, &opts, w))?;
        let p = ProjectTar { digest: info.digest, size: info.size };
        self.projects.lock().unwrap_or_else(|e| e.into_inner()).insert(key, p.clone());
        Ok(Some(p))
    }

    /// The outputs of a successful `result`.
    async fn outputs(&self, job: &ExecJob<'_>, result: &pb::ActionResult) -> crate::Result<Outputs> {
        let bad = |what: &str| RemoteError::BadResult { step: job.vertex.into(), what: what.into() };
        let d = action::outputs_json_digest(result).ok_or_else(|| bad("no out/outputs.json"))?;
        let json = self.farm.read_blob(&d).await?;
        Ok(action::outputs_of(job.vertex, job.op, result, &json)?)
    }

    /// The failure of a step that exited non-zero, its log (the farm's
    /// stdout and stderr) saved where a local step's would be.
    async fn failed(&self, job: &ExecJob<'_>, result: &pb::ActionResult) -> crate::Error {
        let mut log = Vec::new();
        for d in [&result.stdout_digest, &result.stderr_digest].into_iter().flatten() {
            if let Ok(b) = self.farm.read_blob(d).await {
                log.extend(b);
            }
        }
        log.extend(&result.stdout_raw);
        log.extend(&result.stderr_raw);
        let path = crate::executor::log::step_log_path(self.store, job.vertex);
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = std::fs::write(&path, &log);
        let text = String::from_utf8_lossy(&log);
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(StepFailed::TAIL_LINES)..].join("\n");
        StepFailed { step: job.vertex.into(), exit_code: result.exit_code, tail, log: path }.into()
    }
}

impl Worker for RemoteWorker<'_> {
    fn name(&self) -> &str {
        "remote"
    }

    fn cached(&self, job: &ExecJob<'_>) -> crate::Result<Option<Outputs>> {
        let prepared = action::build(self.store, job, self.compression, self.project_tar(job)?.as_ref());
        self.rt.block_on(async {
            match self.farm.get_action_result(&prepared.action).await? {
                Some(r) if r.exit_code == 0 => {
                    let outputs = self.outputs(job, &r).await?;
                    self.count(|t| t.cached += 1);
                    Ok(Some(outputs))
                }
                _ => Ok(None),
            }
        })
    }

    fn exec(&self, job: &ExecJob<'_>, cancel: &Cancel) -> crate::Result<Outputs> {
        if !job.op.secrets.is_empty() {
            let ids = job.op.secrets.clone();
            return Err(crate::worker::secrets::SecretError::NotRemote { step: job.vertex.into(), ids }.into());
        }
        let prepared = action::build(self.store, job, self.compression, self.project_tar(job)?.as_ref());
        self.rt.block_on(async {
            if let Some(r) = self.farm.get_action_result(&prepared.action).await?
                && r.exit_code == 0
            {
                self.count(|t| t.cached += 1);
                return self.outputs(job, &r).await;
            }
            let moved = {
                let _one_at_a_time = self.uploading.lock().await;
                self.farm.upload(prepared.uploads).await?
            };
            self.count(|t| {
                t.uploaded_blobs += moved.blobs;
                t.uploaded_bytes += moved.bytes;
            });
            let response = self.farm.execute(job.vertex, &prepared.action, cancel).await?;
            let result = response.result.ok_or_else(|| RemoteError::BadResult {
                step: job.vertex.into(),
                what: "an ExecuteResponse without result".into(),
            })?;
            if response.cached_result {
                self.count(|t| t.cached += 1);
            } else {
                self.count(|t| t.executed += 1);
            }
            if result.exit_code != 0 {
                return Err(self.failed(job, &result).await);
            }
            self.outputs(job, &result).await
        })
    }

    fn fetch(&self, layers: &[LayerInfo]) -> crate::Result<()> {
        let missing: Vec<&LayerInfo> = layers.iter().filter(|l| !self.store.has_blob(&l.digest)).collect();
        if missing.is_empty() {
            return Ok(());
        }
        let farm = &self.farm;
        let store = self.store;
        let moved: Vec<Result<u64, RemoteError>> =
            self.rt.block_on(
                futures_util::stream::iter(missing)
                    .map(|l| async move {
                        farm.download_to_store(store, &crate::remote::reapi_digest(&l.digest, l.size)).await
                    })
                    .buffer_unordered(4)
                    .collect(),
            );
        for m in moved {
            let n = m?;
            self.count(|t| {
                t.downloaded_blobs += usize::from(n > 0);
                t.downloaded_bytes += n;
            });
        }
        Ok(())
    }
}
