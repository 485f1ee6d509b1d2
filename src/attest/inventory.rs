//! What an image is made of, found by reading it: the base image, the
//! project and its groups (from the graph's metadata), and the Debian
//! packages and language packages (Python, npm, Go, Cargo) each layer added, with the group
//! whose step made the layer. The SBOM writers ([`super::spdx`],
//! [`super::cyclonedx`]) render this; nothing here knows a document format.
//!
//! Which layer installed a Debian package: dpkg rewrites its whole status
//! file, so each layer holding `var/lib/dpkg/status` holds the database as
//! it was after that layer; a package belongs to the first layer whose
//! database lists it (same name, version and architecture), and the image
//! has the packages of the topmost database. A Python distribution belongs
//! to the topmost layer holding its `METADATA` (an npm, Go or Cargo
//! package, to the topmost holding the file it was read from). In a layer that lays
//! several groups' outputs together (a [`LayerOp::Relocate`], craft's
//! prime), the distribution is credited to the group whose input holds the
//! same path under the relocated directory.
//!
//! Packages a group unpacked without dpkg (craft's stage-packages) come
//! from the list its metadata names, credited to the group's topmost
//! layer, when it has one in the image. Every Debian package's licenses
//! are read from the image's `usr/share/doc/<name>/copyright` (the topmost
//! layer's, through `usr/share/doc` links to another package's directory).

use std::collections::BTreeMap;
use std::path::Path;

use oci_spec::image::Digest;
use strata_frontend_api::graph::{BuildGraph, LayerOp, LayerRef, Op};
use strata_frontend_api::metadata::Package;

use super::copyright::{self, DebLicense};
use super::dpkg::{self, Deb};
use super::lang::Lang;
use super::layer_scan::LayerScans;
use super::python::Dist;
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
    /// npm, Go and Cargo packages ([`lang`]).
    pub langs: Vec<Found<Lang>>,
}

impl Inventory {
    /// The Python distributions and the other language packages, as one list.
    pub fn language_packages(&self) -> Vec<Found<Lang>> {
        let py = self.dists.iter().map(|d| Found { item: d.item.as_lang(), origin: d.origin.clone(), layer: d.layer });
        py.chain(self.langs.iter().cloned()).collect()
    }
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

/// The packages found: Debian's, Python's, the others.
type Packages = (Vec<Found<Deb>>, Vec<Found<Dist>>, Vec<Found<Lang>>);

/// Reads `s.image` layer by layer.
pub fn inventory(s: &Sources<'_>) -> crate::Result<Inventory> {
    let spec = s.graph.image.as_ref();
    let base = spec.and_then(|sp| sp.base.as_ref()).and_then(|r| {
        let image = s.resolved.images.get(r)?.image.as_ref()?;
        Some(BaseImage { reference: r.clone(), digest: image.digest().clone() })
    });
    let layers = layers(s);
    let (debs, dists, langs) = scan(s, &layers)?;
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
        langs,
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
                && let Some((group, step)) = match &input.group {
                    Some(g) => Some((g.clone(), input.step.clone())),
                    None => carried_group(s.graph, output),
                }
                && let Some(info) = s.outputs.get(vertex).and_then(|o| o.get(output))
            {
                parts.push((group, step, info.clone(), from.clone()));
            }
        }
    }
    (Origin::Project, parts)
}

/// The group an output named `name` of a project-wide vertex carries, and
/// that group's last step: such a vertex passes groups' results through
/// one by one (craft's `pack:prune` filters each part's prime), naming
/// each output after its group.
fn carried_group(graph: &BuildGraph, name: &str) -> Option<(String, String)> {
    let last = graph.vertices.iter().rev().find(|v| v.group.as_deref() == Some(name))?;
    Some((name.to_string(), last.step.clone()))
}

fn scan(s: &Sources<'_>, layers: &[Layer]) -> crate::Result<Packages> {
    let store = s.store;
    let mut first: BTreeMap<(String, String, String), (Origin, usize)> = BTreeMap::new();
    let mut last_status: Option<Vec<Deb>> = None;
    let mut dists: BTreeMap<String, Found<Dist>> = BTreeMap::new();
    let mut docs: BTreeMap<String, Doc> = BTreeMap::new();
    let mut langs: BTreeMap<String, Found<Lang>> = BTreeMap::new();
    let scans = LayerScans::in_store(store);
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
        read_docs(&root, &mut docs);
        let scanned = scans.scan(&l.info, &root);
        for d in scanned.dists {
            let origin = credit(store, l, &d.path)?;
            dists.insert(d.path.clone(), Found { item: d, origin, layer: i });
        }
        for p in scanned.langs {
            let origin = credit(store, l, &p.path)?;
            langs.insert(p.key(), Found { item: p, origin, layer: i });
        }
    }
    let mut debs: Vec<Found<Deb>> = last_status
        .unwrap_or_default()
        .into_iter()
        .map(|d| {
            let key = (d.name.clone(), d.version.clone(), d.architecture.clone());
            let (origin, layer) = first.get(&key).cloned().unwrap_or((Origin::Project, 0));
            Found { item: d, origin, layer }
        })
        .collect();
    debs.extend(unpacked(s, layers)?);
    for d in &mut debs {
        d.item.license = license_of(&docs, &d.item.name);
    }
    Ok((debs, dists.into_values().collect(), langs.into_values().collect()))
}

/// The packages groups unpacked without dpkg (their metadata's
/// `unpacked_debs` lists), for each group with a layer in the image,
/// credited to its topmost layer.
fn unpacked(s: &Sources<'_>, layers: &[Layer]) -> crate::Result<Vec<Found<Deb>>> {
    #[derive(serde::Deserialize)]
    struct Listed {
        name: String,
        version: String,
        arch: String,
        #[serde(default)]
        sha256: Option<String>,
    }
    let mut out = Vec::new();
    for (group, meta) in &s.graph.metadata.groups {
        let in_layer = |l: &Layer| {
            matches!(&l.origin, Origin::Group(g, _) if g == group) || l.parts.iter().any(|(g, ..)| g == group)
        };
        let Some(layer) = layers.iter().rposition(in_layer) else { continue };
        for list in &meta.unpacked_debs {
            let Some(info) = s.outputs.get(&list.vertex).and_then(|o| o.get(&list.output)) else { continue };
            let root = crate::snapshot::snapshot(s.store, info)?;
            let Ok(text) = std::fs::read_to_string(root.join(&list.path)) else { continue };
            let Ok(listed) = serde_json::from_str::<Vec<Listed>>(&text) else { continue };
            for p in listed {
                let item = Deb {
                    name: p.name,
                    version: p.version,
                    architecture: p.arch,
                    maintainer: None,
                    homepage: None,
                    source: None,
                    sha256: p.sha256,
                    license: Default::default(),
                };
                out.push(Found { item, origin: Origin::Group(group.clone(), list.by.clone()), layer });
            }
        }
    }
    Ok(out)
}

/// An entry of `usr/share/doc`: a package's copyright file, or a link to
/// another package's directory (`libgcc-s1 -> gcc-12-base`).
enum Doc {
    Copyright(String),
    Link(String),
}

/// The largest copyright file read.
const MAX_COPYRIGHT: u64 = 1 << 20;

/// Records `root`'s `usr/share/doc` entries over those of lower layers.
fn read_docs(root: &Path, docs: &mut BTreeMap<String, Doc>) {
    let Ok(entries) = std::fs::read_dir(root.join("usr/share/doc")) else { return };
    for e in entries.filter_map(Result::ok) {
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(md) = e.path().symlink_metadata() else { continue };
        if md.file_type().is_symlink() {
            if let Ok(t) = std::fs::read_link(e.path()) {
                let target =
                    t.to_string_lossy().trim_end_matches('/').rsplit('/').next().unwrap_or_default().to_string();
                docs.insert(name, Doc::Link(target));
            }
            continue;
        }
        // Only a regular file: a link could point anywhere on the host.
        let file = e.path().join("copyright");
        if file.symlink_metadata().is_ok_and(|m| m.is_file() && m.len() <= MAX_COPYRIGHT)
            && let Ok(text) = std::fs::read(&file)
        {
            docs.insert(name, Doc::Copyright(String::from_utf8_lossy(&text).into_owned()));
        }
    }
}

/// Package `name`'s licenses from the image's `usr/share/doc`.
fn license_of(docs: &BTreeMap<String, Doc>, name: &str) -> DebLicense {
    let mut dir = name.to_string();
    for _ in 0..8 {
        match docs.get(&dir) {
            Some(Doc::Copyright(text)) => return copyright::parse(&dir, text),
            Some(Doc::Link(target)) if !target.is_empty() && *target != dir => dir = target.clone(),
            _ => break,
        }
    }
    DebLicense { note: format!("the image has no /usr/share/doc/{name}/copyright"), ..Default::default() }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copyright_files_are_read_through_doc_links_and_upper_layers_win() {
        let (lower, upper) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let doc = |root: &Path, pkg: &str, text: &str| {
            std::fs::create_dir_all(root.join("usr/share/doc").join(pkg)).unwrap();
            std::fs::write(root.join("usr/share/doc").join(pkg).join("copyright"), text).unwrap();
        };
        let dep5 = |l: &str| {
            format!(
                "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: {l}\n"
            )
        };
        doc(lower.path(), "gcc-12-base", &dep5("GPL-3+"));
        doc(lower.path(), "zlib1g", &dep5("Zlib"));
        doc(lower.path(), "libc6", "prose");
        std::os::unix::fs::symlink("gcc-12-base", lower.path().join("usr/share/doc/libgcc-s1")).unwrap();
        // A link out of the tree is not followed on the host.
        std::os::unix::fs::symlink("/etc", lower.path().join("usr/share/doc/evil")).unwrap();
        doc(upper.path(), "zlib1g", &dep5("Expat"));
        let mut docs = BTreeMap::new();
        read_docs(lower.path(), &mut docs);
        read_docs(upper.path(), &mut docs);
        assert_eq!(license_of(&docs, "libgcc-s1").expression.as_deref(), Some("GPL-3.0-or-later"));
        assert_eq!(license_of(&docs, "zlib1g").expression.as_deref(), Some("MIT"));
        assert!(license_of(&docs, "libc6").note.contains("not machine-readable"));
        assert_eq!(license_of(&docs, "evil").note, "the image has no /usr/share/doc/evil/copyright");
        assert_eq!(license_of(&docs, "gone").expression, None);
    }
}
