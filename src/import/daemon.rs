//! `docker-daemon:IMAGE`: `docker save` through the Docker API (bollard),
//! spooled to a temp file in the store's tmp dir, then imported as a docker
//! archive. Works against Podman's Docker-compatible socket too (`host`).

use std::io::Write;

use futures_util::StreamExt;
use oci_spec::image::Descriptor;

use super::{ImportError, ImportOptions, docker_archive};
use crate::export::{DaemonEndpoint, DaemonKind};
use crate::store::Store;

pub fn import(store: &Store, image: &str, host: Option<&str>, opts: &ImportOptions) -> Result<Descriptor, ImportError> {
    let ep = DaemonEndpoint::resolve(DaemonKind::Docker, host);
    let tmp_dir = store.tmp_dir();
    let mut tmp = tempfile::Builder::new()
        .prefix("docker-save-")
        .suffix(".tar")
        .tempfile_in(&tmp_dir)
        .map_err(|e| ImportError::Io { path: tmp_dir.clone(), source: e })?;
    let rt = crate::export::daemon_runtime()?;
    rt.block_on(async {
        let docker = ep.connect().await?;
        let mut chunks = docker.export_image(image);
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|e| ep.api_error(&format!("save {image}"), &e))?;
            tmp.write_all(&chunk).map_err(|e| ImportError::Io { path: tmp.path().to_owned(), source: e })?;
        }
        Ok::<_, ImportError>(())
    })?;
    tmp.flush().map_err(|e| ImportError::Io { path: tmp.path().to_owned(), source: e })?;
    docker_archive::import(store, tmp.path(), Some(image), opts)
}
