//! Host vertices: a frontend's own operation (craft's organize, stage,
//! prime) over file trees. Each input is read from its layers' snapshots
//! as a [`Tree`] (later layers over earlier ones; a file's content id is
//! the sha256 of its bytes), the frontend computes the output trees, and
//! each is written back from the files it names (or the bytes the op made)
//! as a layer under its prefix, owners and modes as the tree says.

use std::collections::BTreeMap;
use std::path::PathBuf;

use strata_frontend_api::graph::HostOp;
use strata_frontend_api::tree::{EntryKind, Tree};
use strata_frontend_api::{HostOpError, HostTree, ReadFile};

use super::Context;
use super::hostfs::{self, FilesByContent, HostFsError};
use crate::layer::{IdMode, LayerInfo, WhiteoutSource};
use crate::worker::Outputs;

/// One input tree and where its files' bytes are.
struct Input {
    tree: Tree,
    sources: FilesByContent,
}

impl ReadFile for Input {
    fn read(&self, path: &str) -> std::io::Result<Vec<u8>> {
        let not_found = || std::io::Error::new(std::io::ErrorKind::NotFound, format!("no file {path} in the tree"));
        let Some(EntryKind::File { content }) = self.tree.get(path).map(|e| &e.kind) else { return Err(not_found()) };
        std::fs::read(self.sources.get(content).ok_or_else(not_found)?)
    }
}

pub fn run(ctx: &Context<'_>, op: &HostOp, inputs: &[Vec<LayerInfo>]) -> crate::Result<Outputs> {
    let mut groups = inputs.iter();
    let mut trees = Vec::new();
    for input in &op.inputs {
        let layers: Vec<&LayerInfo> = groups.by_ref().take(input.layers.len()).flatten().collect();
        trees.push(read_input(ctx, &layers, &input.path)?);
    }
    let views: Vec<HostTree<'_>> = trees.iter().map(|t| HostTree { tree: &t.tree, files: t }).collect();
    let results = ctx.frontend.run_host_op(op, &views)?;
    if results.len() != op.outputs.len() {
        let message = format!("host op {} returned {} trees for {} outputs", op.name, results.len(), op.outputs.len());
        return Err(HostOpError::new(message).into());
    }
    let mut sources: FilesByContent = FilesByContent::new();
    for t in &trees {
        for (c, p) in &t.sources {
            sources.entry(c.clone()).or_insert_with(|| p.clone());
        }
    }
    let mut outputs = Outputs::new();
    for (spec, result) in op.outputs.iter().zip(results) {
        let work = ctx.temp_dir("host-")?;
        let mut all = sources.clone();
        for (n, (id, bytes)) in result.data.iter().enumerate() {
            let path: PathBuf = work.path().join(format!("data-{n}"));
            std::fs::write(&path, bytes).map_err(|e| HostFsError { path: path.clone(), source: e })?;
            all.insert(id.clone(), path);
        }
        let dir = work.path().join("out");
        let paths: Vec<String> =
            result.tree.paths().filter(|p| !hostfs::is_whiteout_name(p)).map(str::to_string).collect();
        hostfs::materialize(&result.tree, &paths, &all, &dir)?;
        let whiteouts = hostfs::write_whiteouts(&result.tree, &dir)?;
        let source = if whiteouts { WhiteoutSource::Overlay } else { WhiteoutSource::Plain };
        outputs.insert(spec.name.clone(), ctx.write_dir_with(&dir, &spec.prefix, IdMode::AsFound, source)?);
    }
    Ok(outputs)
}

/// `layers` read as one tree at `path`: each layer's snapshot, later ones
/// over earlier ones.
fn read_input(ctx: &Context<'_>, layers: &[&LayerInfo], path: &str) -> crate::Result<Input> {
    let mut tree = Tree::new();
    let mut sources = BTreeMap::new();
    for l in layers {
        let snap = crate::snapshot::snapshot(ctx.store, l)?;
        let (t, s) = hostfs::read_tree_with_whiteouts(&snap.join(path))?;
        for (p, e) in t.iter() {
            tree.insert(p, e.clone());
        }
        for (c, p) in s {
            sources.entry(c).or_insert(p);
        }
    }
    Ok(Input { tree, sources })
}
