//! `docker-archive:PATH`: what `docker save` writes since Docker 25 — an OCI
//! layout (`oci-layout`, `index.json`, `blobs/sha256/…`) plus the legacy
//! `manifest.json` and `repositories` pointing into `blobs/`. Docker ≥ 25,
//! Podman and `skopeo … oci-archive:FILE` read the OCI part, so the manifest
//! digest survives; Docker 20.10 and skopeo's `docker-archive:` read
//! `manifest.json`, which names the config (so the image ID, the config
//! digest, survives) and the layers.
//!
//! Layers are written exactly as stored, compressed or not. Docker's legacy
//! loader decompresses each `Layers` file before checking it against the
//! config's diff_ids (moby `tarexport.loadLayer` → `archive.DecompressStream`),
//! so gzip and zstd layers load into Docker 20.10 as well (checked by hand
//! against Debian 12's docker.io 20.10.24: `docker load` + `docker run` of
//! gzip, zstd and uncompressed exports, image ID = config digest each
//! time; Podman 4.3 loads them with the manifest digest kept); recompressing
//! them to plain tars would change the manifest digest, which is exactly
//! what this format is meant to keep.
//!
//! An archive holds one platform: for an index, the host platform's manifest.

use std::path::Path;

use oci_spec::image::{Descriptor, Digest};
use serde_json::json;

use super::archive::{ArchiveEntries, blob_path};
use super::layout::{self, OCI_LAYOUT};
use super::name::ImageName;
use super::{ExportError, ExportReport, ExportTarget};
use crate::image::{Image, Platform};
use crate::store::Store;

/// What a docker archive of an image holds.
pub struct DockerArchive {
    pub entries: ArchiveEntries,
    /// The manifest in the OCI part.
    pub manifest: Digest,
    /// The config digest: Docker's image ID.
    pub config: Digest,
    pub blobs: usize,
}

pub fn build(store: &Store, desc: &Descriptor, name: &ImageName) -> Result<DockerArchive, ExportError> {
    let img = Image::load(store, desc, &Platform::host())?;
    for l in img.manifest.layers() {
        if !store.has_blob(l.digest()) && crate::store::may_be_absent(l) {
            return Err(ExportError::ForeignLayer { digest: l.digest().clone() });
        }
    }
    let blobs = layout::closure(store, &img.descriptor)?;
    let config = img.manifest.config().digest().clone();
    let mut a = ArchiveEntries::new(layout::created_epoch(store, &img.descriptor));
    a.bytes("oci-layout", OCI_LAYOUT.to_vec());
    a.bytes("index.json", layout::index_json(vec![layout::index_entry(&img.descriptor, name)])?);
    for d in blobs.values() {
        a.blob(d.digest());
    }
    let layers: Vec<String> = img.manifest.layers().iter().map(|l| blob_path(l.digest())).collect();
    let repo_tags: Vec<String> = name.repo_tag().into_iter().collect();
    let manifest_json = json!([{
        "Config": blob_path(&config),
        "RepoTags": repo_tags,
        "Layers": layers,
    }]);
    a.bytes("manifest.json", crate::json::to_vec(&manifest_json)?);
    // `repositories` is the pre-1.10 index; loaders that know manifest.json
    // ignore it, but `docker save` still writes it: repo → tag → top layer.
    if let (Some(tag), Some(top)) = (&name.tag, img.manifest.layers().last()) {
        let repos = json!({ name.familiar_repo(): { tag: top.digest().digest() } });
        a.bytes("repositories", crate::json::to_vec(&repos)?);
    }
    Ok(DockerArchive { entries: a, manifest: img.digest().clone(), config, blobs: blobs.len() })
}

pub fn write(store: &Store, desc: &Descriptor, name: &ImageName, dest: &Path) -> Result<ExportReport, ExportError> {
    let da = build(store, desc, name)?;
    let bytes = da.entries.write_file(store, dest)?;
    Ok(ExportReport {
        target: ExportTarget::DockerArchive(dest.to_owned()),
        digest: da.manifest,
        config: Some(da.config),
        blobs: da.blobs,
        bytes,
        image_id: None,
    })
}
