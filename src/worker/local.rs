//! The local worker: an exec op run by an [`Executor`] over the store's
//! snapshots, its changes captured by strata's own layer writer (so every
//! executor yields the same bytes).
//!
//! | mount source | becomes |
//! |---|---|
//! | `Project` | a bind of the project directory |
//! | `Layers` | the layers mounted host-side as one root (overlay or copy, [`Rootfs`]) and bound; writable ones are captured as the root's changes (whiteouts included) |
//! | `Dir` | a fresh temp dir: the seed layers' trees copied in, then the files written; bound; writable ones are captured whole |
//! | `Tmpfs` | a tmpfs |
//!
//! A `provide`d file is bound read-only at its path when the root
//! filesystem's layers have nothing there (looked up in their snapshots,
//! through a top-level link such as `bin -> usr/bin`).
//!
//! Steps with network access get the build's CA certificates (`--build-ca`,
//! by default the host's bundle, as buildah mounts the host's certificates):
//! bound read-only at [`CA_PATH`], with the variables pip, requests, curl,
//! git, Go, Node and cargo read pointed at it. Behind a TLS-intercepting
//! proxy (common in companies) package managers in a base without
//! `ca-certificates` then verify what the proxy serves. The bundle is a
//! mount, so it is never captured, and it is in no key: it changes how a
//! step reaches the network, not what the step is.
//!
//! The secrets a step asks for are bound read-only at `/run/secrets/<id>`
//! ([`super::secrets`]); like the CA bundle they are mounts, never captured.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use strata_frontend_api::graph::{Capture, MountSource, Network};

use super::secrets::{SECRETS_DIR, SecretError, SecretSource, Secrets};
use super::{ExecJob, Outputs, Worker};
use crate::executor::{self, Cancel, Executor, Mount, PrefixedLog, StepSpec};
use crate::layer::{self, Compression, IdMode, LayerInfo, OutputOptions, WriteOptions};
use crate::snapshot::{Rootfs, SnapshotMode};
use crate::store::Store;
use crate::vertex::hostfs::{self, HostFsError};

/// See the module docs.
pub struct LocalWorker<'a> {
    pub store: &'a Store,
    pub executor: &'a dyn Executor,
    pub compression: Compression,
    /// Copy each step's log lines to stderr (prefixed with the vertex).
    pub echo: bool,
    /// The CA bundle steps with network access trust.
    pub ca: Option<PathBuf>,
    /// What each step may use (`--memory`, `--pids-limit`) and how long it
    /// may run (`--step-timeout`). In no key: a step that fits gives the
    /// same bytes under any limit.
    pub limits: crate::executor::Limits,
    pub timeout: Option<std::time::Duration>,
    /// The build's `--secret`s; a step gets only those it asks for.
    pub secrets: Secrets,
}

/// Where steps find the build's CA bundle.
pub const CA_PATH: &str = "/run/strata-ca/ca-certificates.crt";

/// The variables that make TLS clients in a step trust [`CA_PATH`].
pub const CA_VARIABLES: &[&str] = &[
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
    "PIP_CERT",
    "CURL_CA_BUNDLE",
    "GIT_SSL_CAINFO",
    "NODE_EXTRA_CA_CERTS",
    "CARGO_HTTP_CAINFO",
];

/// The host's CA bundle, if it has one where Debian keeps it.
pub fn host_ca_bundle() -> Option<PathBuf> {
    let p = PathBuf::from("/etc/ssl/certs/ca-certificates.crt");
    p.is_file().then_some(p)
}

/// What a mount holds while the step runs.
enum Held {
    None,
    Root(Rootfs),
    Dir(PathBuf),
}

/// A job made ready to run: its spec and what its mounts hold.
struct Prepared {
    spec: StepSpec,
    held: Vec<Held>,
    _work: tempfile::TempDir,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> crate::Error + '_ {
    move |source| HostFsError { path: path.to_path_buf(), source }.into()
}

impl LocalWorker<'_> {
    fn opts(&self, epoch: i64) -> OutputOptions {
        OutputOptions::new(self.compression, epoch)
    }

    fn prepare(&self, job: &ExecJob<'_>) -> crate::Result<Prepared> {
        let op = job.op;
        let tmp = self.store.tmp_dir();
        std::fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;
        let work = tempfile::Builder::new().prefix("job-").tempdir_in(&tmp).map_err(io_err(&tmp))?;
        let mut spec = StepSpec::new(job.vertex, job.rootfs.clone(), op.argv.clone());
        spec.limits = self.limits;
        spec.timeout = self.timeout;
        spec.env.push(format!("SOURCE_DATE_EPOCH={}", job.epoch));
        spec.env.extend(op.env.iter().map(|(k, v)| format!("{k}={v}")));
        if let Some(cwd) = &op.cwd {
            spec.cwd = cwd.clone();
        }
        if let Some(user) = &op.user {
            spec.user = user.clone();
        }
        spec.network = match op.network {
            Network::None => executor::Network::None,
            Network::Host => executor::Network::Host,
        };
        let mut held = Vec::new();
        for (n, (m, layers)) in op.mounts.iter().zip(&job.mount_layers).enumerate() {
            let bind =
                |source: PathBuf| Mount::Bind { source, destination: m.destination.clone(), read_only: m.read_only };
            match &m.source {
                MountSource::Project => {
                    spec.mounts.push(bind(job.project_dir.to_path_buf()));
                    held.push(Held::None);
                }
                MountSource::Tmpfs => {
                    spec.mounts.push(Mount::Tmpfs { destination: m.destination.clone(), size_bytes: None });
                    held.push(Held::None);
                }
                MountSource::Layers(_) => {
                    let root = Rootfs::mount(self.store, layers, SnapshotMode::resolve(self.store)?, &[])?;
                    spec.mounts.push(bind(root.path().to_path_buf()));
                    held.push(Held::Root(root));
                }
                MountSource::Dir { files, .. } => {
                    let dir = work.path().join(format!("mount-{n}"));
                    std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
                    for l in layers {
                        let snap = crate::snapshot::snapshot(self.store, l)?;
                        hostfs::copy_over(&snap, &dir)?;
                    }
                    for f in files {
                        write_file(&dir.join(&f.path), f.mode, &f.contents)?;
                    }
                    spec.mounts.push(bind(dir.clone()));
                    held.push(Held::Dir(dir));
                }
            }
        }
        // A mount inside a `Dir` mount (the craftctl dir inside the run dir)
        // needs its mount point in that dir: the dir is read-only inside.
        for (j, m) in op.mounts.iter().enumerate() {
            for (outer, h) in op.mounts[..j].iter().zip(&held) {
                let (Held::Dir(dir), Some(rel)) = (h, below(&m.destination, &outer.destination)) else { continue };
                let point = dir.join(rel);
                std::fs::create_dir_all(&point).map_err(io_err(&point))?;
            }
        }
        if let (Some(ca), Network::Host) = (&self.ca, op.network) {
            spec.mounts.push(Mount::Bind { source: ca.clone(), destination: CA_PATH.into(), read_only: true });
            spec.env.extend(CA_VARIABLES.iter().map(|v| format!("{v}={CA_PATH}")));
        }
        for (n, p) in op.provide.iter().enumerate() {
            if !rootfs_has(self.store, &job.rootfs, &p.path)? {
                let file = work.path().join(format!("provided-{n}"));
                write_file(&file, p.file.mode, &p.file.contents)?;
                spec.mounts.push(Mount::Bind { source: file, destination: p.path.clone(), read_only: true });
            }
        }
        for id in &op.secrets {
            let source = match self.secrets.get(id) {
                Some(SecretSource::File(path)) => path.clone(),
                Some(SecretSource::Value(value)) => {
                    let file = work.path().join(format!("secret-{id}"));
                    write_private(&file, value)?;
                    file
                }
                None => return Err(SecretError::Missing { step: job.vertex.to_owned(), id: id.clone() }.into()),
            };
            spec.mounts.push(Mount::Bind { source, destination: format!("{SECRETS_DIR}/{id}"), read_only: true });
        }
        Ok(Prepared { spec, held, _work: work })
    }

    /// `all` (every change) narrowed to what `c` keeps.
    fn narrow(&self, epoch: i64, all: &LayerInfo, c: &Capture) -> crate::Result<LayerInfo> {
        if c.paths.is_empty() && c.drop.is_empty() {
            return Ok(all.clone());
        }
        crate::vertex::layers::filter(self.store, &self.opts(epoch), all, &|p| c.keeps(p.trim_end_matches('/')))
    }
}

impl Worker for LocalWorker<'_> {
    fn name(&self) -> &str {
        self.executor.name()
    }

    fn exec(&self, job: &ExecJob<'_>, cancel: &Cancel) -> crate::Result<Outputs> {
        let prepared = self.prepare(job)?;
        let echo: Option<Box<dyn Write + Send>> = self.echo.then(|| Box::new(std::io::stderr()) as _);
        let log_path = executor::log::step_log_path(self.store, job.vertex);
        let mut log = PrefixedLog::for_step(self.store, job.vertex, echo).map_err(io_err(&log_path))?;
        let execution = self.executor.run(self.store, &prepared.spec, &mut log, cancel)?.success(job.vertex)?;
        let op = job.op;
        let mut outputs = Outputs::new();
        if op.capture.is_empty() {
            drop(execution);
        } else {
            let all = crate::snapshot::capture(self.store, execution.changes, &self.opts(job.epoch))?;
            for c in &op.capture {
                outputs.insert(c.output.clone(), self.narrow(job.epoch, &all, c)?);
            }
        }
        for (m, held) in op.mounts.iter().zip(prepared.held) {
            let Some(c) = &m.capture else { continue };
            let all = match held {
                Held::Root(root) => crate::snapshot::capture(self.store, root.into_changes()?, &self.opts(job.epoch))?,
                Held::Dir(dir) => write_dir(self.store, &dir, &self.opts(job.epoch))?,
                Held::None => continue,
            };
            outputs.insert(c.output.clone(), self.narrow(job.epoch, &all, c)?);
        }
        Ok(outputs)
    }

    fn shell(&self, job: &ExecJob<'_>, argv: Vec<String>) -> crate::Result<i32> {
        let mut prepared = self.prepare(job)?;
        prepared.spec.name = format!("{}-shell", job.vertex);
        prepared.spec.argv = argv;
        prepared.spec.timeout = None;
        Ok(self.executor.interactive(self.store, &prepared.spec)?)
    }
}

/// `path` relative to `dir` when it is strictly below it (both absolute).
fn below<'p>(path: &'p str, dir: &str) -> Option<&'p str> {
    let rest = path.strip_prefix(dir.trim_end_matches('/'))?.strip_prefix('/')?;
    (!rest.is_empty()).then_some(rest)
}

fn write_file(path: &Path, mode: u32, contents: &[u8]) -> crate::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    std::fs::write(path, contents).map_err(io_err(path))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io_err(path))
}

/// Writes a secret's value to a new file only its owner can read.
fn write_private(path: &Path, value: &[u8]) -> crate::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f =
        std::fs::OpenOptions::new().write(true).create_new(true).mode(0o400).open(path).map_err(io_err(path))?;
    f.write_all(value).map_err(io_err(path))
}

fn write_dir(store: &Store, dir: &Path, opts: &OutputOptions) -> crate::Result<LayerInfo> {
    let wopts = WriteOptions { ids: IdMode::AsFound, ..WriteOptions::new(opts.compression, opts.source_date_epoch) };
    Ok(layer::write_blob(store, opts.compression, |w| layer::write_tree(dir, &wopts, w))?)
}

/// Whether the root filesystem of `layers` has something at `path`
/// (absolute), also through a top-level link (`bin -> usr/bin`).
fn rootfs_has(store: &Store, layers: &[LayerInfo], path: &str) -> crate::Result<bool> {
    let rel = path.trim_start_matches('/');
    let snaps: Vec<PathBuf> =
        layers.iter().rev().map(|l| crate::snapshot::snapshot(store, l)).collect::<Result<_, _>>()?;
    let exists = |p: &str| snaps.iter().any(|s| std::fs::symlink_metadata(s.join(p)).is_ok());
    if exists(rel) {
        return Ok(true);
    }
    let Some((first, rest)) = rel.split_once('/') else { return Ok(false) };
    // The topmost layer that has the first component decides what it is.
    for s in &snaps {
        let p = s.join(first);
        let Ok(meta) = std::fs::symlink_metadata(&p) else { continue };
        if !meta.file_type().is_symlink() {
            return Ok(false);
        }
        let target = std::fs::read_link(&p).map_err(io_err(&p))?;
        let t = target.to_string_lossy().trim_matches('/').to_string();
        return Ok(!t.is_empty() && !t.contains("..") && exists(&format!("{t}/{rest}")));
    }
    Ok(false)
}
