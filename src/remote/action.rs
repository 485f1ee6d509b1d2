//! A step as a REAPI Action. Its input root:
//!
//! ```text
//! step.json        the manifest: the op, its layers by digest, the epoch, the compression
//! project.tar      the project directory (only for an op that mounts it)
//! layers/<hex>     each input layer blob, byte for byte, named by its OCI digest
//! ```
//!
//! Its command is `strata step-exec step.json`; its outputs are
//! `out/outputs.json` (each output's [`LayerInfo`] by name) and `out/<n>`,
//! the blob of the op's n-th output. Everything is encoded canonically
//! (sorted names, canonical JSON), so the same step gives the same Action
//! digest on every machine and the farm's action cache is a step cache.

use std::collections::BTreeMap;

use strata_frontend_api::graph::{ExecOp, MountSource};

use super::cas::{Source, Upload};
use super::client::pb;
use crate::layer::{Compression, LayerInfo};
use crate::store::Store;
use crate::worker::ExecJob;

/// The manifest's name in the input root.
pub const MANIFEST: &str = "step.json";
/// The project tar's name in the input root.
pub const PROJECT_TAR: &str = "project.tar";
/// Where the input layers are in the input root.
pub const LAYERS_DIR: &str = "layers";
/// Where step-exec writes its outputs.
pub const OUT_DIR: &str = "out";
/// The outputs' [`LayerInfo`]s by name.
pub const OUTPUTS: &str = "out/outputs.json";

/// The path of the n-th output's blob.
pub fn output_path(n: usize) -> String {
    format!("{OUT_DIR}/{n}")
}

/// What `strata step-exec` runs: an [`ExecJob`] as data.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StepManifest {
    /// The format of this file (1).
    pub version: u32,
    pub vertex: String,
    pub op: ExecOp,
    pub rootfs: Vec<LayerInfo>,
    pub mount_layers: Vec<Vec<LayerInfo>>,
    pub epoch: i64,
    /// The output layers' compression.
    pub compression: Compression,
    /// Whether `project.tar` is there (the op mounts the project).
    pub project: bool,
}

impl StepManifest {
    pub fn of(job: &ExecJob<'_>, compression: Compression) -> StepManifest {
        StepManifest {
            version: 1,
            vertex: job.vertex.to_string(),
            op: job.op.clone(),
            rootfs: job.rootfs.clone(),
            mount_layers: job.mount_layers.clone(),
            epoch: job.epoch,
            compression,
            project: mounts_project(job.op),
        }
    }

    /// Every input layer, each once, by digest.
    pub fn layers(&self) -> BTreeMap<String, &LayerInfo> {
        self.rootfs.iter().chain(self.mount_layers.iter().flatten()).map(|l| (l.digest.to_string(), l)).collect()
    }
}

/// Whether `op` mounts the project directory.
pub fn mounts_project(op: &ExecOp) -> bool {
    op.mounts.iter().any(|m| matches!(m.source, MountSource::Project))
}

/// An Action ready to look up or send: its digest and every blob it needs.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub action: pb::Digest,
    /// The protos, the manifest, the project tar and the layers (as files
    /// in the store; a layer the store lacks must be in the farm already).
    pub uploads: Vec<Upload>,
}

/// The project tar, as a blob in the store.
#[derive(Debug, Clone)]
pub struct ProjectTar {
    pub digest: oci_spec::image::Digest,
    pub size: u64,
}

/// The Action of `job`.
pub fn build(store: &Store, job: &ExecJob<'_>, compression: Compression, project: Option<&ProjectTar>) -> Prepared {
    let manifest = StepManifest::of(job, compression);
    let mut uploads = Vec::new();
    let mut layer_files = Vec::new();
    for (digest, l) in manifest.layers() {
        let d = super::reapi_digest(&l.digest, l.size);
        layer_files.push(file_node(digest.trim_start_matches("sha256:"), d.clone()));
        uploads.push(Upload { digest: d, source: Source::File(store.blob_path(&l.digest)) });
    }
    let layers_dir = pb::Directory { files: layer_files, ..Default::default() };
    let layers_dir = proto(&layers_dir, &mut uploads);
    let json = crate::json::to_vec(&manifest).expect("a step manifest serializes");
    let json = Upload::bytes(json);
    let mut files = vec![file_node(MANIFEST, json.digest.clone())];
    uploads.push(json);
    if let (true, Some(p)) = (manifest.project, project) {
        let d = super::reapi_digest(&p.digest, p.size);
        files.push(file_node(PROJECT_TAR, d.clone()));
        uploads.push(Upload { digest: d, source: Source::File(store.blob_path(&p.digest)) });
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    let root = pb::Directory {
        files,
        directories: vec![pb::DirectoryNode { name: LAYERS_DIR.into(), digest: Some(layers_dir) }],
        ..Default::default()
    };
    let root = proto(&root, &mut uploads);
    let n = job.op.outputs().len();
    let mut output_paths: Vec<String> = (0..n).map(output_path).collect();
    output_paths.push(OUTPUTS.into());
    output_paths.sort();
    let command = pb::Command {
        arguments: vec!["strata".into(), "step-exec".into(), MANIFEST.into()],
        output_paths,
        ..Default::default()
    };
    let command = proto(&command, &mut uploads);
    let action = pb::Action { command_digest: Some(command), input_root_digest: Some(root), ..Default::default() };
    let action = proto(&action, &mut uploads);
    Prepared { action, uploads }
}

fn file_node(name: &str, digest: pb::Digest) -> pb::FileNode {
    pb::FileNode { name: name.into(), digest: Some(digest), ..Default::default() }
}

/// `m` encoded, added to `uploads`; its digest.
fn proto<M: prost::Message>(m: &M, uploads: &mut Vec<Upload>) -> pb::Digest {
    let u = Upload::bytes(m.encode_to_vec());
    let d = u.digest.clone();
    uploads.push(u);
    d
}

/// The outputs an ActionResult holds: each output's layer, its blob's
/// digest checked against the file the farm has.
pub fn outputs_of(
    step: &str,
    op: &ExecOp,
    result: &pb::ActionResult,
    outputs_json: &[u8],
) -> Result<crate::worker::Outputs, super::RemoteError> {
    let bad = |what: String| super::RemoteError::BadResult { step: step.into(), what };
    let infos: BTreeMap<String, LayerInfo> =
        serde_json::from_slice(outputs_json).map_err(|e| bad(format!("an unreadable {OUTPUTS}: {e}")))?;
    let mut outputs = crate::worker::Outputs::new();
    for (n, name) in op.outputs().iter().enumerate() {
        let path = output_path(n);
        let info = infos.get(name).ok_or_else(|| bad(format!("no output '{name}' in {OUTPUTS}")))?;
        let file = result.output_files.iter().find(|f| f.path == path).ok_or_else(|| bad(format!("no file {path}")))?;
        let d = file.digest.clone().unwrap_or_default();
        if d.hash != info.digest.digest() || d.size_bytes as u64 != info.size {
            return Err(bad(format!(
                "{path} is sha256:{} ({} bytes), not {} ({} bytes)",
                d.hash, d.size_bytes, info.digest, info.size
            )));
        }
        outputs.insert(name.clone(), info.clone());
    }
    Ok(outputs)
}

/// The digest of `out/outputs.json` in `result`.
pub fn outputs_json_digest(result: &pb::ActionResult) -> Option<pb::Digest> {
    result.output_files.iter().find(|f| f.path == OUTPUTS).and_then(|f| f.digest.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_frontend_api::graph::{Capture, Mount};

    fn layer(n: u8) -> LayerInfo {
        let d = format!("sha256:{}", hex::encode([n; 32]));
        LayerInfo {
            digest: d.parse().unwrap(),
            diff_id: d.parse().unwrap(),
            size: 10 + n as u64,
            compression: Compression::Gzip,
        }
    }

    fn op() -> ExecOp {
        ExecOp {
            argv: vec!["sh".into(), "-c".into(), "true".into()],
            capture: vec![Capture::all("out")],
            mounts: vec![Mount {
                destination: "/p".into(),
                source: MountSource::Project,
                read_only: true,
                capture: None,
            }],
            ..Default::default()
        }
    }

    fn job<'a>(op: &'a ExecOp, rootfs: Vec<LayerInfo>) -> ExecJob<'a> {
        ExecJob {
            vertex: "p:build",
            op,
            rootfs,
            mount_layers: vec![vec![]],
            project_dir: std::path::Path::new("/nonexistent"),
            epoch: 0,
        }
    }

    #[test]
    fn the_same_step_gives_the_same_action_and_other_layers_another() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("s")).unwrap();
        let op = op();
        let tar = ProjectTar { digest: layer(9).digest, size: 19 };
        let a = build(&store, &job(&op, vec![layer(1), layer(2)]), Compression::Gzip, Some(&tar));
        let b = build(&store, &job(&op, vec![layer(1), layer(2)]), Compression::Gzip, Some(&tar));
        let c = build(&store, &job(&op, vec![layer(1), layer(3)]), Compression::Gzip, Some(&tar));
        assert_eq!(a.action, b.action);
        assert_ne!(a.action, c.action);
        // The layers go up as files named by their digest, never unpacked.
        let layer_uploads: Vec<_> = a.uploads.iter().filter(|u| matches!(u.source, Source::File(_))).collect();
        assert_eq!(layer_uploads.len(), 3, "two layers and the project tar");
        assert!(layer_uploads.iter().any(|u| u.digest.hash == hex::encode([1u8; 32]) && u.digest.size_bytes == 11));
    }

    #[test]
    fn the_manifest_round_trips_and_lists_each_layer_once() {
        let op = op();
        let m = StepManifest::of(&job(&op, vec![layer(1), layer(1), layer(2)]), Compression::Zstd);
        assert!(m.project);
        assert_eq!(m.layers().len(), 2);
        let back: StepManifest = serde_json::from_slice(&crate::json::to_vec(&m).unwrap()).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn outputs_are_checked_against_the_files_the_farm_has() {
        let op = op();
        let l = layer(4);
        let json = crate::json::to_vec(&BTreeMap::from([("out".to_string(), l.clone())])).unwrap();
        let file = |hash: String| pb::OutputFile {
            path: output_path(0),
            digest: Some(pb::Digest { hash, size_bytes: 14 }),
            ..Default::default()
        };
        let good = pb::ActionResult { output_files: vec![file(hex::encode([4u8; 32]))], ..Default::default() };
        assert_eq!(outputs_of("s", &op, &good, &json).unwrap()["out"], l);
        let bad = pb::ActionResult { output_files: vec![file(hex::encode([5u8; 32]))], ..Default::default() };
        assert!(outputs_of("s", &op, &bad, &json).unwrap_err().to_string().contains("not sha256:"));
    }
}
