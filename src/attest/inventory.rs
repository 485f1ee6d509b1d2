//! What an image is made of, found by reading it: the base image, the
//! project and its groups (from the graph's metadata), and the Debian
//! packages and Python distributions each layer added, with the group
//! whose step made the layer. The SBOM writers ([`super::spdx`],
//! [`super::cyclonedx`]) render this; nothing here knows a document format.
//!
//! Which layer installed a Debian package: dpkg rewrites its whole status
//! file, so each layer holding `var/lib/dpkg/status` holds the database as
//! it was after that layer; a package belongs to the first layer whose
//! database lists it (same name, version and architecture), and the image
//! has the packages of the topmost database. A Python distribution belongs
//! to the topmost layer holding its `METADATA`. In a layer that lays
//! several groups' outputs together (a [`LayerOp::Relocate`], craft's
//! prime), the distribution is credited to the group whose input holds the
//! same path under the relocated directory.

use std::collections::BTreeMap;
use std::path::Path;

use oci_spec::image::Digest;
use strata_frontend_api::graph::{BuildGraph, LayerOp, LayerRef, Op};
use strata_frontend_api::metadata::Package;

use super::dpkg::{self, Deb};
use super::python::{self, Dist};
use crate::image::Image;
use crate::layer::LayerInfo;
use crate::resolve::{Resolved, image_layers};
use crate::worker::Outputs;

/// Who made a layer.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Origin {
    /// The base image's layers.
    Base,
    /// A step of a group: the group (a part) and the step (`overlay`, `prime`).
    Group(String, String),
    /// A project-wide step (no group).
    Project,
}

/// A package found in the image, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found<T> {
    pub item: T,
    pub origin: Origin,
    /// Its layer's position in the image, bottom first.
    pub layer: usize,
}

/// The base image as resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseImage {
    pub reference: String,
    pub digest: Digest,
}

/// Everything an SBOM says of one image.
#[derive(Debug, Clone)]
pub struct Inventory {
    /// The image's name (`hello:1.0`) and manifest digest.
    pub name: String,
    pub version: Option<String>,
    pub digest: Digest,
    pub project: Option<Package>,
    pub base: Option<BaseImage>,
    /// The graph's groups in its order, with what their metadata says.
    pub groups: Vec<(String, Package)>,
    pub debs: Vec<Found<Deb>>,
    pub dists: Vec<Found<Dist>>,
}

/// What an inventory is read from.
pub struct Sources<'a> {
    pub store: &'a crate::store::Store,
    pub graph: &'a BuildGraph,
    pub resolved: &'a Resolved,
    pub outputs: &'a BTreeMap<String, Outputs>,
    /// The built image.
    pub image: &'a Image,
    pub name: String,
    pub version: Option<String>,
}

/// A group's output laid into a shared layer: the group, its step, the
/// output, and the directory of it the layer holds (`root/prime`).
type Part = (String, String, LayerInfo, String);

/// A layer of the image, who made it, and for a layer that lays groups'
/// outputs together, those outputs.
struct Layer {
    info: LayerInfo,
    origin: Origin,
    parts: Vec<Part>,
}

/// The packages found: Debian's and Python's.
type Packages = (Vec<Found<Deb>>, Vec<Found<Dist>>);

/// Reads `s.image` layer by layer.
pub fn inventory(s: &Sources<'_>) -> crate::Result<Inventory> {
    let spec = s.graph.image.as_ref();
    let base = spec.and_then(|sp| sp.base.as_ref()).and_then(|r| {
        let image = s.resolved.images.get(r)?.image.as_ref()?;
        Some(BaseImage { reference: r.clone(), digest: image.digest().clone() })
    });
    let layers = layers(s);
    let (debs, dists) = scan(s.store, &layers)?;
    let groups = groups(s.graph);
    Ok(Inventory {
        name: s.name.clone(),
        version: s.version.clone(),
        digest: s.image.digest().clone(),
        project: s.graph.metadata.project.clone(),
        base,
        groups,
        debs,
        dists,
    })
}

/// The groups in graph order, each with its metadata (or just its name).
fn groups(graph: &BuildGraph) -> Vec<(String, Package)> {
    let mut out: Vec<(String, Package)> = Vec::new();
    for g in graph.vertices.iter().filter_map(|v| v.group.as_ref()) {
        if !out.iter().any(|(n, _)| n == g) {
            let p = graph.metadata.groups.get(g).cloned();
            out.push((g.clone(), p.unwrap_or_else(|| Package { name: g.clone(), ..Default::default() })));
        }
    }
    out
}

/// The image's layers with their origins: the base's, then the spec's.
fn layers(s: &Sources<'_>) -> Vec<Layer> {
    let all = image_layers(s.image);
    let mut origins: Vec<(Origin, Vec<Part>)> = Vec::new();
    let base_count = s
        .graph
        .image
        .as_ref()
        .and_then(|sp| sp.base.as_ref())
        .and_then(|r| s.resolved.images.get(r))
        .map(|p| p.layers().len())
        .unwrap_or(0);
    origins.extend((0..base_count).map(|_| (Origin::Base, Vec::new())));
    for l in s.graph.image.iter().flat_map(|sp| &sp.layers) {
        match &l.layer {
            LayerRef::Output { vertex, .. } => origins.push(origin_of(s, vertex)),
            LayerRef::Image { reference } => {
                let n = s.resolved.images.get(reference).map(|p| p.layers().len()).unwrap_or(0);
                origins.extend((0..n).map(|_| (Origin::Base, Vec::new())));
            }
        }
    }
    all.into_iter()
        .enumerate()
        .map(|(i, info)| {
            let (origin, parts) = origins.get(i).cloned().unwrap_or((Origin::Project, Vec::new()));
            Layer { info, origin, parts }
        })
        .collect()
}

fn origin_of(s: &Sources<'_>, vertex: &str) -> (Origin, Vec<Part>) {
    let Some(v) = s.graph.vertex(vertex) else { return (Origin::Project, Vec::new()) };
    if let Some(g) = &v.group {
        return (Origin::Group(g.clone(), v.step.clone()), Vec::new());
    }
    let mut parts = Vec::new();
    if let Op::Layer(LayerOp::Relocate { inputs, from, .. }) = &v.op {
        for r in inputs {
            if let LayerRef::Output { vertex, output } = r
                && let Some(input) = s.graph.vertex(vertex)
                && let Some(group) = input.group.clone()
                && let Some(info) = s.outputs.get(vertex).and_then(|o| o.get(output))
            {
                parts.push((group, input.step.clone(), info.clone(), from.clone()));
            }
        }
    }
    (Origin::Project, parts)
}

fn scan(store: &crate::store::Store, layers: &[Layer]) -> crate::Result<Packages> {
    let mut first: BTreeMap<(String, String, String), (Origin, usize)> = BTreeMap::new();
    let mut last_status: Option<Vec<Deb>> = None;
    let mut dists: BTreeMap<String, Found<Dist>> = BTreeMap::new();
    for (i, l) in layers.iter().enumerate() {
        let root = crate::snapshot::snapshot(store, &l.info)?;
        let status = root.join(dpkg::STATUS);
        if status.is_file()
            && let Ok(text) = std::fs::read_to_string(&status)
        {
            let debs = dpkg::parse_status(&text);
            let origin = credit(store, l, dpkg::STATUS)?;
            for d in &debs {
                let key = (d.name.clone(), d.version.clone(), d.architecture.clone());
                first.entry(key).or_insert_with(|| (origin.clone(), i));
            }
            last_status = Some(debs);
        }
        for d in python::scan(&root) {
            let origin = credit(store, l, &d.path)?;
            dists.insert(d.path.clone(), Found { item: d, origin, layer: i });
        }
    }
    let debs = last_status
        .unwrap_or_default()
        .into_iter()
        .map(|d| {
            let key = (d.name.clone(), d.version.clone(), d.architecture.clone());
            let (origin, layer) = first.get(&key).cloned().unwrap_or((Origin::Project, 0));
            Found { item: d, origin, layer }
        })
        .collect();
    Ok((debs, dists.into_values().collect()))
}

/// The group a file of layer `l` at `path` came from.
fn credit(store: &crate::store::Store, l: &Layer, path: &str) -> crate::Result<Origin> {
    for (group, step, info, from) in &l.parts {
        let root = crate::snapshot::snapshot(store, info)?;
        let base = if from.is_empty() { root } else { root.join(from) };
        // A relocation through a merged-/usr link moves `lib/x` to `usr/lib/x`.
        let unlinked = path.strip_prefix("usr/").unwrap_or(path);
        if exists(&base.join(path)) || exists(&base.join(unlinked)) {
            return Ok(Origin::Group(group.clone(), step.clone()));
        }
    }
    Ok(l.origin.clone())
}

fn exists(p: &Path) -> bool {
    p.symlink_metadata().is_ok()
}
