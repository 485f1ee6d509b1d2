//! Talking to a Docker or Podman daemon through the Docker API (bollard):
//! where its socket is, connecting with a clear error when it is not
//! running, and `docker load` of a docker archive.
//!
//! Podman serves the same API on its own socket (`podman.socket`), so one
//! client covers both. The image ID a daemon reports is checked against the
//! config digest: that is Docker's (classic store) and Podman's image ID.
//! Docker with the containerd image store reports the manifest digest
//! instead, which is accepted too.
//!
//! Callers are synchronous: each operation runs on its own current-thread
//! tokio runtime, so these functions must not be called from async code.

use std::io::{self, Seek};
use std::time::Duration;

use bollard::Docker;
use bytes::Bytes;
use futures_util::StreamExt;
use oci_spec::image::{Descriptor, Digest};
use thiserror::Error;
use tokio::io::AsyncReadExt;

use super::docker_archive;
use super::name::ImageName;
use super::target::DaemonKind;
use super::{ExportError, ExportReport, ExportTarget};
use crate::store::Store;

/// How long one API request (a whole image load or save) may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3600);
/// How long a daemon may take to answer a ping: a hung daemon is reported,
/// not waited on for an hour.
const PING_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Error)]
pub enum DaemonError {
    #[error("cannot reach the {kind} daemon at {address}: {reason}; {hint}")]
    Unreachable { kind: DaemonKind, address: String, reason: String, hint: String },
    #[error("unsupported {kind} daemon address '{address}': use unix:///path/to.sock or tcp://host:port")]
    BadAddress { kind: DaemonKind, address: String },
    #[error("the {kind} daemon at {address} failed to {op}: {message}")]
    Api { kind: DaemonKind, address: String, op: String, message: String },
    #[error(
        "the {kind} daemon at {address} reports image ID {found} for {name}, expected {expected} (the config digest)"
    )]
    IdMismatch { kind: DaemonKind, address: String, name: String, expected: Digest, found: String },
    #[error("cannot start the async runtime for the daemon client: {0}")]
    Runtime(io::Error),
}

/// A daemon's API address, resolved from `host=`, the environment or the
/// default socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonEndpoint {
    pub kind: DaemonKind,
    /// `unix:///path` or `tcp://host:port`.
    pub address: String,
}

impl DaemonEndpoint {
    /// Docker: `host`, else `$DOCKER_HOST`, else `unix:///var/run/docker.sock`.
    /// Podman: `host`, else `$CONTAINER_HOST`, else `/run/podman/podman.sock`
    /// for root and `$XDG_RUNTIME_DIR/podman/podman.sock` for other users.
    pub fn resolve(kind: DaemonKind, host: Option<&str>) -> DaemonEndpoint {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let address = match (host, kind) {
            (Some(h), _) => h.to_owned(),
            (None, DaemonKind::Docker) => env("DOCKER_HOST").unwrap_or_else(|| "unix:///var/run/docker.sock".into()),
            (None, DaemonKind::Podman) => env("CONTAINER_HOST").unwrap_or_else(podman_default_socket),
        };
        let address = if address.starts_with('/') { format!("unix://{address}") } else { address };
        DaemonEndpoint { kind, address }
    }

    fn hint(&self) -> String {
        match self.kind {
            DaemonKind::Docker => {
                "is dockerd running? start it with `sudo systemctl start docker` (or `sudo dockerd &`), \
                 or point DOCKER_HOST (or host=) at its socket"
                    .into()
            }
            DaemonKind::Podman => {
                let path = self.address.strip_prefix("unix://").unwrap_or("/run/podman/podman.sock");
                format!(
                    "start podman's API service with `systemctl --user start podman.socket` (rootless), \
                     `sudo systemctl start podman.socket` (root) or `podman system service --time=0 unix://{path} &`, \
                     or point CONTAINER_HOST (or host=) at its socket"
                )
            }
        }
    }

    fn unreachable(&self, e: &bollard::errors::Error) -> DaemonError {
        DaemonError::Unreachable {
            kind: self.kind,
            address: self.address.clone(),
            reason: error_chain(e),
            hint: self.hint(),
        }
    }

    pub(crate) fn api_error(&self, op: &str, e: &bollard::errors::Error) -> DaemonError {
        DaemonError::Api { kind: self.kind, address: self.address.clone(), op: op.into(), message: error_chain(e) }
    }

    /// Connects, checks the daemon answers, and agrees on an API version
    /// (Docker 20.10 speaks 1.41, older than bollard's default).
    pub(crate) async fn connect(&self) -> Result<Docker, DaemonError> {
        let timeout = PING_TIMEOUT.as_secs();
        let docker = if let Some(path) = self.address.strip_prefix("unix://") {
            Docker::connect_with_unix(path, timeout, bollard::API_DEFAULT_VERSION)
        } else if self.address.starts_with("tcp://") || self.address.starts_with("http://") {
            Docker::connect_with_http(&self.address, timeout, bollard::API_DEFAULT_VERSION)
        } else {
            return Err(DaemonError::BadAddress { kind: self.kind, address: self.address.clone() });
        };
        let docker = docker.map_err(|e| self.unreachable(&e))?;
        docker.ping().await.map_err(|e| self.unreachable(&e))?;
        let docker = docker.negotiate_version().await.map_err(|e| self.unreachable(&e))?;
        Ok(docker.with_timeout(REQUEST_TIMEOUT))
    }
}

fn podman_default_socket() -> String {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    if uid == 0 {
        return "unix:///run/podman/podman.sock".into();
    }
    match std::env::var("XDG_RUNTIME_DIR").ok().filter(|d| !d.is_empty()) {
        Some(dir) => format!("unix://{dir}/podman/podman.sock"),
        None => format!("unix:///run/user/{uid}/podman/podman.sock"),
    }
}

/// An error and its sources, `a: b: c` — hyper's top-level messages alone
/// ("client error (Connect)") do not say what went wrong.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

/// A runtime for one blocking daemon operation.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, DaemonError> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(DaemonError::Runtime)
}

/// The image ID without its `sha256:` prefix (Podman's compat API has sent
/// both forms over the years).
fn bare_id(id: &str) -> &str {
    id.strip_prefix("sha256:").unwrap_or(id)
}

/// `docker load` of `desc` (the host platform's image) named `name`.
pub fn load(
    store: &Store,
    desc: &Descriptor,
    name: &ImageName,
    kind: DaemonKind,
    host: Option<&str>,
) -> Result<ExportReport, ExportError> {
    let ep = DaemonEndpoint::resolve(kind, host);
    let rt = runtime()?;
    // Fail fast, before writing the archive, when there is no daemon.
    let docker = rt.block_on(ep.connect())?;

    let da = docker_archive::build(store, desc, name)?;
    let tmp_dir = store.tmp_dir();
    let io_err = |e: io::Error| ExportError::Io { path: tmp_dir.clone(), source: e };
    let tmp = tempfile::Builder::new().prefix("docker-load-").tempfile_in(&tmp_dir).map_err(io_err)?;
    let (buf, bytes) = da.entries.write(store, io::BufWriter::with_capacity(256 * 1024, tmp))?;
    let tmp = buf.into_inner().map_err(|e| io_err(e.into_error()))?;
    let mut file = tmp.reopen().map_err(io_err)?;
    file.rewind().map_err(io_err)?;

    let lookup = name.repo_tag().unwrap_or_else(|| da.config.to_string());
    let id = rt.block_on(async {
        let body = futures_util::stream::try_unfold(tokio::fs::File::from_std(file), |mut f| async move {
            let mut buf = vec![0u8; 1 << 20];
            let n = f.read(&mut buf).await?;
            if n == 0 {
                return Ok(None);
            }
            buf.truncate(n);
            Ok::<_, io::Error>(Some((Bytes::from(buf), f)))
        });
        let opts = bollard::query_parameters::ImportImageOptions { quiet: true, platform: None };
        let mut progress = docker.import_image(opts, bollard::body_try_stream(body), None);
        while let Some(item) = progress.next().await {
            item.map_err(|e| ep.api_error("load the image", &e))?;
        }
        let inspect =
            docker.inspect_image(&lookup).await.map_err(|e| ep.api_error(&format!("inspect {lookup}"), &e))?;
        Ok::<_, DaemonError>(inspect.id.unwrap_or_default())
    })?;
    drop(tmp);

    let found = bare_id(&id);
    if found != da.config.digest() && found != da.manifest.digest() {
        return Err(DaemonError::IdMismatch {
            kind,
            address: ep.address,
            name: lookup,
            expected: da.config,
            found: id,
        }
        .into());
    }
    Ok(ExportReport {
        target: ExportTarget::Daemon { kind, host: Some(ep.address) },
        digest: da.manifest,
        config: Some(da.config),
        blobs: da.blobs,
        bytes,
        image_id: Some(id),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_wins_and_bare_paths_become_unix_urls() {
        let ep = DaemonEndpoint::resolve(DaemonKind::Podman, Some("/tmp/p.sock"));
        assert_eq!(ep.address, "unix:///tmp/p.sock");
        let ep = DaemonEndpoint::resolve(DaemonKind::Docker, Some("tcp://127.0.0.1:2375"));
        assert_eq!(ep.address, "tcp://127.0.0.1:2375");
    }

    #[test]
    fn a_missing_socket_is_named_with_how_to_start_the_daemon() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("nobody.sock");
        for kind in [DaemonKind::Docker, DaemonKind::Podman] {
            let ep = DaemonEndpoint::resolve(kind, Some(sock.to_str().unwrap()));
            let e = runtime().unwrap().block_on(ep.connect()).unwrap_err().to_string();
            assert!(e.contains(&format!("unix://{}", sock.display())), "{e}");
            assert!(e.contains(&format!("cannot reach the {kind} daemon")), "{e}");
            assert!(e.contains("systemctl"), "{e}");
        }
    }

    #[test]
    fn ssh_addresses_are_refused_clearly() {
        let ep = DaemonEndpoint::resolve(DaemonKind::Docker, Some("ssh://me@host"));
        let e = runtime().unwrap().block_on(ep.connect()).unwrap_err().to_string();
        assert!(e.contains("unsupported docker daemon address 'ssh://me@host'"), "{e}");
    }
}
