//! The build graph (IR version 2): what every frontend lowers its spec to,
//! and all the solver needs to key, run and cache a build (DESIGN.md §2–§7).
//!
//! A [`BuildGraph`] is a list of [`Vertex`]es. Each has an [`Op`] and yields
//! named output layers; its inputs are other vertices' outputs or the layers
//! of an image ([`LayerRef`]). Edges are exactly those references: a vertex
//! depends on nothing it does not name, so its cache key reads only what it
//! names, never the order in which other vertices ran.
//!
//! | op | run by | yields |
//! |---|---|---|
//! | [`ExecOp`]: a process in a container | a worker (local executor or remote) | its [`Capture`]s of the root filesystem and of writable mounts |
//! | [`FetchOp`]: a source fetched host-side | strata (`sources`) | `out`: the tree under [`FetchOp::prefix`] |
//! | [`LayerOp`]: filter, squash, relocate | strata (`layer`) | `out` |
//! | [`HostOp`]: a frontend's own semantics over file listings | the frontend's [`crate::HostOps`], run by strata | one layer per [`HostOutput`] |
//!
//! The final image is [`ImageSpec`]: a base, layers on top, config.
//!
//! Everything is plain data (ordered containers only), so the canonical
//! JSON of an op is what its key hashes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Source;
use crate::metadata::Metadata;

/// The version of this IR. Bump it on any change of shape or meaning: it
/// is in every cache key, so keys computed over an older IR never match.
pub const IR_VERSION: u32 = 2;

/// Which frontend lowered a graph, and the version of its semantics. Both
/// are in every key: a frontend that changes what a vertex means (craft's
/// organize, prime, the scripts a step runs) bumps `semantics`, so an
/// upgrade never returns a stale hit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrontendId {
    pub name: String,
    pub semantics: u32,
}

/// A whole build: vertices, and how the image is assembled from them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildGraph {
    /// Always [`IR_VERSION`] for graphs built against this crate.
    pub ir_version: u32,
    pub frontend: FrontendId,
    /// Clamp for mtimes and `created` fields (DESIGN.md §5) as the spec
    /// gives it; strata falls back to the environment, then 0.
    pub source_date_epoch: Option<i64>,
    /// In the order a user reads them (a plan's order); ids are unique.
    /// The solver runs them in any order their references allow.
    pub vertices: Vec<Vertex>,
    /// The final image, if the spec makes one.
    pub image: Option<ImageSpec>,
    /// When the spec makes one image per variant (spk's variants): the
    /// annotations of each variant's manifest, in order. `image` is the
    /// first variant's, or the one [`crate::LowerOptions::image_variant`]
    /// names; strata lowers once per variant and puts the images in one
    /// index. Empty: one image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_variants: Vec<BTreeMap<String, String>>,
    /// What the build is made of, for SBOMs and provenance; in no key.
    #[serde(default, skip_serializing_if = "Metadata::is_empty")]
    pub metadata: Metadata,
    /// Package builds to store once their layers are built ([`crate::packages`]); in no key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<crate::packages::PackageSpec>,
}

impl BuildGraph {
    /// Has every exec vertex `asks` picks ask for the secrets `ids` (the
    /// ids the user gave with `--secret`): how a frontend whose spec format
    /// has no word for secrets says which of its steps get them.
    pub fn give_secrets(&mut self, ids: &[String], asks: impl Fn(&Vertex) -> bool) {
        for v in &mut self.vertices {
            if !asks(v) {
                continue;
            }
            if let Op::Exec(e) = &mut v.op {
                for id in ids {
                    if !e.secrets.contains(id) {
                        e.secrets.push(id.clone());
                    }
                }
            }
        }
    }

    /// An empty graph of `frontend`'s.
    pub fn new(frontend: FrontendId) -> BuildGraph {
        BuildGraph {
            ir_version: IR_VERSION,
            frontend,
            source_date_epoch: None,
            vertices: Vec::new(),
            image: None,
            image_variants: Vec::new(),
            metadata: Metadata::default(),
            packages: Vec::new(),
        }
    }

    pub fn vertex(&self, id: &str) -> Option<&Vertex> {
        self.vertices.iter().find(|v| v.id == id)
    }

    /// Adds a vertex and returns a reference to its output `output`.
    pub fn push(&mut self, vertex: Vertex) {
        self.vertices.push(vertex);
    }
}

/// One node of the graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vertex {
    /// Unique in the graph: `hello:build`, `hello:build-packages`.
    pub id: String,
    /// The user's name for what this vertex belongs to (a craft part, an
    /// spk package, a Guix package), for `--no-cache-filter` and
    /// `strata step`; `None` for project-wide vertices.
    pub group: Option<String>,
    /// The step it is part of, as the user names steps (`pull`, `build`,
    /// `stage`): several vertices may share one.
    pub step: String,
    /// One line for progress output ("build hello"); the id when empty.
    pub description: String,
    pub op: Op,
}

impl Vertex {
    pub fn new(id: impl Into<String>, group: Option<&str>, step: &str, op: Op) -> Vertex {
        Vertex { id: id.into(), group: group.map(str::to_string), step: step.into(), description: String::new(), op }
    }

    /// A reference to this vertex's output `output`.
    pub fn output(&self, output: &str) -> LayerRef {
        LayerRef::output(&self.id, output)
    }

    /// The names of the layers it yields, in order.
    pub fn outputs(&self) -> Vec<String> {
        self.op.outputs()
    }

    /// The vertices whose outputs it reads, in order, without repeats.
    pub fn dependencies(&self) -> Vec<&str> {
        let mut deps: Vec<&str> = Vec::new();
        for r in self.op.inputs() {
            if let LayerRef::Output { vertex, .. } = r
                && !deps.contains(&vertex.as_str())
            {
                deps.push(vertex);
            }
        }
        deps
    }
}

/// Where a layer comes from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LayerRef {
    /// Output `output` of vertex `vertex`.
    Output { vertex: String, output: String },
    /// Every layer of an image, bottom to top; the resolver pins the
    /// reference to a manifest digest before anything is keyed.
    Image { reference: String },
}

impl LayerRef {
    pub fn output(vertex: &str, output: &str) -> LayerRef {
        LayerRef::Output { vertex: vertex.into(), output: output.into() }
    }

    pub fn image(reference: &str) -> LayerRef {
        LayerRef::Image { reference: reference.into() }
    }
}

/// The name of the one output of ops that have one.
pub const OUT: &str = "out";

/// What a vertex does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Op {
    Exec(ExecOp),
    Fetch(FetchOp),
    Layer(LayerOp),
    Host(HostOp),
}

impl Op {
    /// The kind, as keys and progress name it.
    pub fn kind(&self) -> &'static str {
        match self {
            Op::Exec(_) => "exec",
            Op::Fetch(_) => "fetch",
            Op::Layer(_) => "layer",
            Op::Host(_) => "host",
        }
    }

    /// Every layer reference it reads, in a fixed order.
    pub fn inputs(&self) -> Vec<&LayerRef> {
        match self {
            Op::Exec(e) => {
                let mut v: Vec<&LayerRef> = e.rootfs.iter().collect();
                for m in &e.mounts {
                    match &m.source {
                        MountSource::Layers(ls) => v.extend(ls),
                        MountSource::Dir { seed, .. } => v.extend(seed),
                        MountSource::Project | MountSource::Tmpfs => {}
                    }
                }
                v
            }
            Op::Fetch(_) => Vec::new(),
            Op::Layer(l) => l.inputs(),
            Op::Host(h) => h.inputs.iter().flat_map(|i| &i.layers).collect(),
        }
    }

    /// The names of the layers it yields, in order.
    pub fn outputs(&self) -> Vec<String> {
        match self {
            Op::Exec(e) => e.outputs(),
            Op::Fetch(_) | Op::Layer(_) => vec![OUT.to_string()],
            Op::Host(h) => h.outputs.iter().map(|o| o.name.clone()).collect(),
        }
    }
}

/// Whether a process reaches the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Network {
    /// Loopback only.
    #[default]
    None,
    /// The host's network (package managers fetching dependencies).
    Host,
}

/// A process in a container whose root filesystem is `rootfs`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecOp {
    /// The root filesystem's layers, bottom to top (an image reference
    /// stands for all of its layers).
    pub rootfs: Vec<LayerRef>,
    /// Mounted over the root filesystem, in order.
    pub mounts: Vec<Mount>,
    pub argv: Vec<String>,
    /// `NAME=value`, in order, on top of strata's own (`SOURCE_DATE_EPOCH`).
    pub env: Vec<(String, String)>,
    /// The working directory (`/` when `None`).
    pub cwd: Option<String>,
    /// `uid[:gid]` or a name the root filesystem knows (`root` when `None`).
    pub user: Option<String>,
    pub network: Network,
    /// Which changes to the root filesystem become which output layer.
    /// Changes matched by no capture are dropped.
    pub capture: Vec<Capture>,
    /// Files mounted read-only where the root filesystem has nothing (a
    /// `/bin/bash` stand-in for a base without bash). Whether one is used
    /// follows from the root filesystem's layers, which are in the key.
    pub provide: Vec<Provided>,
    /// Build secrets the step asks for, by id (`--secret id=ID,src=FILE`):
    /// each a file mounted read-only at `/run/secrets/<id>` ([`SECRETS_DIR`]),
    /// as BuildKit's secret mounts. The ids are in the key, the contents
    /// never; the mount is never captured.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
}

/// Where a step finds the secrets it asks for.
pub const SECRETS_DIR: &str = "/run/secrets";

impl ExecOp {
    /// Its outputs: the root filesystem's captures, then the mounts'.
    pub fn outputs(&self) -> Vec<String> {
        let mut v: Vec<String> = self.capture.iter().map(|c| c.output.clone()).collect();
        v.extend(self.mounts.iter().filter_map(|m| m.capture.as_ref().map(|c| c.output.clone())));
        v
    }
}

/// A file given as data, mounted at `path` when the root filesystem lacks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provided {
    /// An absolute path in the container.
    pub path: String,
    pub file: FileData,
}

/// Changes to a root filesystem kept as one output layer: those under one
/// of `paths` (every change when `paths` is empty), less `drop`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capture {
    pub output: String,
    /// Relative paths (`root/parts/hello/install`): a change is kept when it
    /// is one of them or below one.
    pub paths: Vec<String>,
    /// Relative paths never kept (files a tool rewrites with the time in them).
    pub drop: Vec<String>,
}

impl Capture {
    /// Every change, as output `output`.
    pub fn all(output: &str) -> Capture {
        Capture { output: output.into(), paths: Vec::new(), drop: Vec::new() }
    }

    /// The changes under `paths`, as output `output`.
    pub fn under<S: Into<String>>(output: &str, paths: impl IntoIterator<Item = S>) -> Capture {
        Capture { output: output.into(), paths: paths.into_iter().map(Into::into).collect(), drop: Vec::new() }
    }

    /// Whether a change at `path` (relative, `/`-separated) is kept.
    pub fn keeps(&self, path: &str) -> bool {
        let under = |p: &String| path == p || path.strip_prefix(p.as_str()).is_some_and(|r| r.starts_with('/'));
        (self.paths.is_empty() || self.paths.iter().any(under)) && !self.drop.iter().any(|d| d == path)
    }
}

/// Something mounted into an exec op's container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// An absolute path in the container.
    pub destination: String,
    pub source: MountSource,
    pub read_only: bool,
    /// When set (and the mount is writable): what the mount holds after the
    /// process ends becomes an output layer — the changes over the layers
    /// for [`MountSource::Layers`] (whiteouts included), the whole dir for
    /// [`MountSource::Dir`], filtered by the capture's paths (relative to
    /// the mount, as are the layer's entries).
    pub capture: Option<Capture>,
}

/// What a [`Mount`] shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MountSource {
    /// The project directory. Keyed by the project's path, not its content:
    /// a frontend that lets steps read project files it does not also fetch
    /// as a [`FetchOp`] says so in its documentation.
    Project,
    /// Layers laid over each other, bottom to top.
    Layers(Vec<LayerRef>),
    /// A fresh directory: the contents of `seed` (layers, bottom to top),
    /// then `files` written over them.
    Dir { seed: Vec<LayerRef>, files: Vec<FileData> },
    /// An empty tmpfs, never captured.
    Tmpfs,
}

/// A file given as data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileData {
    /// Relative to the directory it is written in.
    pub path: String,
    pub mode: u32,
    pub contents: Vec<u8>,
}

impl FileData {
    pub fn new(path: impl Into<String>, mode: u32, contents: impl Into<Vec<u8>>) -> FileData {
        FileData { path: path.into(), mode, contents: contents.into() }
    }
}

/// A source fetched host-side (local dir, archive, single file, git) and
/// packed as the layer `out`, its tree under `prefix`. What it depends on
/// beyond the spec (a git branch's commit, a local dir's contents) is
/// pinned by strata's resolve phase before keying.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchOp {
    /// The group (part) whose source this is, for messages.
    pub part: String,
    pub source: Source,
    /// Where the fetched tree lands in the layer (`root/parts/hello/src`).
    pub prefix: String,
    /// Owners in the layer: root (as in a fresh checkout) or as found.
    pub owner: Owner,
    /// Check that `source.subdir` exists in what was fetched.
    pub check_subdir: bool,
}

/// Whose files a layer written from a host tree holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Owner {
    /// Every entry owned by 0:0.
    #[default]
    Root,
    /// The owners the files have.
    AsFound,
}

/// A layer operation strata owns; each yields `out`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LayerOp {
    /// The entries of `input` under one of `paths` (relative).
    Filter { input: LayerRef, paths: Vec<String> },
    /// `inputs` laid over each other (later wins, whiteouts applied) as one layer.
    Squash { inputs: Vec<LayerRef> },
    /// `inputs` squashed, keeping only what is under `from` (relative;
    /// empty: everything), moved to the root; then each top-level directory
    /// that the root of `links_of` (an image's layers) has as a symlink to a
    /// path inside the root goes where the link points (merged /usr:
    /// `bin/x` → `usr/bin/x`). Two different entries meeting at one path
    /// through a link are an error; identical ones are merged.
    Relocate { inputs: Vec<LayerRef>, from: String, links_of: Vec<LayerRef> },
}

impl LayerOp {
    pub fn inputs(&self) -> Vec<&LayerRef> {
        match self {
            LayerOp::Filter { input, .. } => vec![input],
            LayerOp::Squash { inputs } => inputs.iter().collect(),
            LayerOp::Relocate { inputs, links_of, .. } => inputs.iter().chain(links_of).collect(),
        }
    }
}

/// An operation of the frontend's own, run by strata on the host over file
/// listings ([`crate::tree::Tree`]): craft's organize, stage and prime.
/// Strata reads each input as a tree, calls the frontend's
/// [`crate::HostOps::run`] with `name` and `params`, and writes each tree it
/// returns as a layer.
///
/// A layer's whiteouts are entries of the trees in their OCI form: an empty
/// regular file `dir/.wh.<name>` for a deleted `dir/<name>`, and
/// `dir/.wh..wh..opq` for an opaque `dir`. A returned tree's entries so
/// named are written as those whiteouts. (craft's overlay filter keeps a
/// part's deletions from the base unless the fileset filters their
/// directory out; a tree without these names could not say so.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostOp {
    /// The frontend's name for the operation (`craft.stage`).
    pub name: String,
    /// Its parameters, as the frontend defines them; in the key.
    pub params: serde_json::Value,
    pub inputs: Vec<HostInput>,
    pub outputs: Vec<HostOutput>,
}

/// One tree a host op reads: `layers` laid over each other, the subtree at
/// `path` (relative; empty: the root).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostInput {
    pub layers: Vec<LayerRef>,
    pub path: String,
}

/// One tree a host op yields, written as a layer with its entries under
/// `prefix` (relative; empty: the root).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostOutput {
    pub name: String,
    pub prefix: String,
}

/// The final image: `base` (or nothing), then `layers`, then `config`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageSpec {
    /// An image reference, resolved like every image; `None`: scratch.
    pub base: Option<String>,
    /// On top of the base, bottom to top.
    pub layers: Vec<ImageLayer>,
    /// The project's name (the default tag's repository).
    pub name: String,
    pub config: ImageConfig,
    /// Manifest annotations, besides those strata adds (`created`, and the
    /// project's VCS source and revision when [`ImageSpec::vcs`] is set).
    pub annotations: BTreeMap<String, String>,
    /// A value read from a layer when the image is assembled, placed as the
    /// `org.opencontainers.image.version` label and annotation (craft's
    /// `craftctl set version=`).
    pub version: Option<ValueFrom>,
    /// Annotate the image with the project directory's VCS origin and commit.
    pub vcs: bool,
}

/// A history line and the layer it describes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageLayer {
    pub layer: LayerRef,
    pub created_by: String,
    pub comment: Option<String>,
    /// Leave the layer out of the image when it holds nothing (a step that
    /// had nothing to install, as Guix's runtime libraries often are).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub omit_if_empty: bool,
}

/// The image config's settings (OCI image-spec `config`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    /// `NAME=value` pairs, in order.
    pub env: Vec<(String, String)>,
    pub labels: BTreeMap<String, String>,
    pub user: Option<String>,
    pub working_dir: Option<String>,
    /// `port/proto`, in order.
    pub ports: Vec<String>,
}

/// A string: fixed, or the contents of a file in a layer (falling back to
/// `default` when the file is absent or empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueFrom {
    pub default: Option<String>,
    pub file: Option<(LayerRef, String)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec(rootfs: Vec<LayerRef>) -> Op {
        Op::Exec(ExecOp { rootfs, capture: vec![Capture::all("changes")], ..Default::default() })
    }

    #[test]
    fn a_vertex_depends_on_the_vertices_it_names_once_each() {
        let v = Vertex::new(
            "b:build",
            Some("b"),
            "build",
            exec(vec![
                LayerRef::image("debian:bookworm"),
                LayerRef::output("a:pull", OUT),
                LayerRef::output("a:pull", "x"),
            ]),
        );
        assert_eq!(v.dependencies(), ["a:pull"]);
        assert_eq!(v.outputs(), ["changes"]);
    }

    #[test]
    fn captures_keep_what_is_under_their_paths_less_what_they_drop() {
        let c =
            Capture { output: "o".into(), paths: vec!["root/parts/a".into()], drop: vec!["root/parts/a/log".into()] };
        assert!(c.keeps("root/parts/a"));
        assert!(c.keeps("root/parts/a/install/bin/x"));
        assert!(!c.keeps("root/parts/ab"));
        assert!(!c.keeps("root/parts/a/log"));
        assert!(Capture::all("o").keeps("anything"));
    }

    #[test]
    fn mount_captures_are_outputs_too() {
        let op = Op::Exec(ExecOp {
            mounts: vec![Mount {
                destination: "/run/state".into(),
                source: MountSource::Dir { seed: vec![LayerRef::output("a:build", "vars")], files: vec![] },
                read_only: false,
                capture: Some(Capture::under("vars", ["vars", "set"])),
            }],
            ..Default::default()
        });
        assert_eq!(op.outputs(), ["vars"]);
        assert_eq!(op.inputs(), [&LayerRef::output("a:build", "vars")]);
    }
}
