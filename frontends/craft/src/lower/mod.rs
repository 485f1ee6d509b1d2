//! The lowering: a craft [`Project`] → a [`BuildGraph`] (DESIGN.md §2, §4).
//! Everything `src/lifecycle` wired by hand — which layers a step sees,
//! what it captures, organize, stage, prime, the overlay, stage-packages,
//! pack's layer order, the scripts and the project variables — is written
//! here as vertices whose inputs are named, so each key reads only them.
//!
//! Vertices come in the sequencer's plan order ([`crate::sequencer::plan`]
//! up to prime), each with `group = Some(part)` and `step` the craft step:
//!
//! | step | vertices (`<p>` the part) | module |
//! |---|---|---|
//! | pull | `<p>:pull:stage-packages` (exec, host network) → `<p>:pull:debs` (host: verify); `<p>:pull` (fetch, or exec over `<p>:pull:source` for `override-pull` and plugin pull commands, or an empty tree) → `<p>:pull:check-subdir` | [`pull`], [`packages`] |
//! | overlay | `<p>:overlay` (exec over the base and earlier overlays) → `<p>:overlay:filter` (host) | [`overlay`] |
//! | build | `<p>:build-packages` (exec, shared by parts with the same packages); `<p>:build:unpack` (exec) → `<p>:build:normalize` (host); `<p>:build` (exec) → `<p>:build:squash` (layer) → `<p>:build:organize` (host) | [`build`], [`packages`] |
//! | stage | `<p>:stage` (host), or `<p>:stage:migration` (host) → `<p>:stage` (exec) | [`migrate`] |
//! | prime | `<p>:prime` (host), or `<p>:prime:migration` (host) → `<p>:prime` (exec) | [`migrate`] |
//! | pack | `pack:prune` (host: drop primed files the base has; not on `bare`) → `pack:prime` (layer: relocate through the base's links); `pack:run-user` (host: `/etc/passwd` with rockcraft's shared user) with `run-user`; then the [`ImageSpec`](strata_frontend_api::graph::ImageSpec) | [`image`] |
//!
//! The graph's metadata (the project and its parts' sources, for SBOMs)
//! is filled last ([`metadata`]).
//!
//! Every vertex's layer is `out` (captures and host outputs alike), except
//! the exec ops' `vars` (the project variables, see [`run`]) and the
//! stage-packages' `fetched`, `debs`, `list`, `install` and `info`.
//!
//! Which vertex's output a part's step reads is a function of the project
//! only (`Lowering::install`, `Lowering::stage_out`, ...), so the
//! modules do not pass layer references around.

use strata_frontend_api::graph::{BuildGraph, FrontendId, LayerRef, OUT, Op, Vertex};
use strata_frontend_api::{ActionKind, Base, Project, Step};

use crate::env::BuildInfo;
use crate::order::{OrderError, order};
use crate::parse::uses_overlay;
use crate::scripts::build_packages;
use crate::sequencer::plan;

pub mod build;
pub mod image;
pub mod metadata;
pub mod migrate;
pub mod overlay;
pub mod packages;
pub mod pull;
pub mod run;

/// What a project cannot be lowered for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LowerError {
    #[error(transparent)]
    Order(#[from] OrderError),
    #[error("part '{part}' uses {what}, but the base is bare; {}", crate::parse::BARE_OVERLAY_HELP)]
    BareBase { part: String, what: &'static str },
    #[error("part '{part}': {what} is not supported yet")]
    Unsupported { part: String, what: String },
    #[error(
        "part '{part}': '{name}' is not a Debian package name (chisel slices, 'pkg_slice', are not supported); list packages as name, name:arch or name=version"
    )]
    BadPackageName { part: String, name: String },
}

/// Lowers `project` (its globals expanded with `info`, its bases final) to
/// the graph of a build up to the image.
pub fn lower(project: &Project, info: &BuildInfo, frontend: FrontendId) -> Result<BuildGraph, LowerError> {
    let mut l = Lowering::new(project, info, frontend)?;
    let mut done: Vec<(String, Step)> = Vec::new();
    for action in plan(project, Step::Prime)? {
        let key = (action.part.clone(), action.step);
        if action.kind == ActionKind::Skip || done.contains(&key) {
            continue;
        }
        done.push(key);
        let part = action.part.as_str();
        match action.step {
            Step::Pull => l.pull(part)?,
            Step::Overlay => l.overlay(part)?,
            Step::Build => l.build(part),
            Step::Stage => l.stage(part),
            Step::Prime => l.prime(part),
        }
    }
    l.stage_conflicts();
    l.image();
    l.metadata();
    Ok(l.graph)
}

/// The state of one lowering: the graph so far, and the project variables'
/// latest layer in plan order.
pub struct Lowering<'a> {
    project: &'a Project,
    info: BuildInfo,
    /// Parts in lifecycle order.
    order: Vec<String>,
    graph: BuildGraph,
    /// The `vars` output of the adopt-info part's latest script-running
    /// step so far (plan order): what the next script's craftctl dir is
    /// seeded with.
    vars: Option<LayerRef>,
}

impl<'a> Lowering<'a> {
    fn new(project: &'a Project, info: &BuildInfo, frontend: FrontendId) -> Result<Lowering<'a>, LowerError> {
        let mut graph = BuildGraph::new(frontend);
        graph.source_date_epoch = project.source_date_epoch;
        Ok(Lowering { project, info: info.clone(), order: order(project)?, graph, vars: None })
    }

    fn push(&mut self, id: String, part: &str, step: Step, description: String, op: Op) {
        let mut v = Vertex::new(id, Some(part), step.name(), op);
        v.description = description;
        self.graph.push(v);
    }

    /// The build base, as the bottom of a root filesystem.
    fn build_base(&self) -> LayerRef {
        LayerRef::image(&self.project.build_base)
    }

    /// The runtime base (`None`: bare).
    fn base(&self) -> Option<LayerRef> {
        match &self.project.base {
            Base::Bare => None,
            Base::Image(r) => Some(LayerRef::image(r)),
        }
    }

    /// The parts before `part` in lifecycle order.
    fn before(&self, part: &str) -> &[String] {
        let i = self.order.iter().position(|p| p == part).unwrap_or(0);
        &self.order[..i]
    }

    /// The parts `part` comes after, transitively, in lifecycle order.
    fn dependencies(&self, part: &str) -> Vec<String> {
        let mut seen: Vec<String> = Vec::new();
        let mut todo: Vec<String> = self.project.parts[part].after.clone();
        while let Some(p) = todo.pop() {
            if !seen.contains(&p)
                && let Some(def) = self.project.parts.get(&p)
            {
                todo.extend(def.after.iter().cloned());
                seen.push(p);
            }
        }
        self.order.iter().filter(|p| seen.contains(p)).cloned().collect()
    }

    /// The part's pulled `src` (`root/parts/<p>/src`).
    fn pull_out(&self, part: &str) -> LayerRef {
        LayerRef::output(&format!("{part}:pull"), OUT)
    }

    /// The part's build-packages layer, if it has build-packages.
    fn build_packages_out(&self, part: &str) -> Option<LayerRef> {
        let none = build_packages(self.project, part).is_empty();
        (!none).then(|| LayerRef::output(&format!("{part}:build-packages"), OUT))
    }

    /// The part's normalised stage-packages under `root/parts/<p>/install`.
    fn unpacked(&self, part: &str) -> Option<LayerRef> {
        let none = self.project.parts[part].stage_packages.is_empty();
        (!none).then(|| LayerRef::output(&format!("{part}:build:normalize"), OUT))
    }

    /// The part's organized install tree (`root/parts/<p>/install`).
    fn install(&self, part: &str) -> LayerRef {
        LayerRef::output(&format!("{part}:build:organize"), OUT)
    }

    /// What the part added to the stage (`root/stage`).
    fn stage_out(&self, part: &str) -> LayerRef {
        LayerRef::output(&format!("{part}:stage"), OUT)
    }

    /// What the part added to the prime (`root/prime`).
    fn prime_out(&self, part: &str) -> LayerRef {
        LayerRef::output(&format!("{part}:prime"), OUT)
    }

    /// The part's filtered overlay layer, if it has overlay content.
    fn overlay_out(&self, part: &str) -> Option<LayerRef> {
        uses_overlay(&self.project.parts[part]).then(|| LayerRef::output(&format!("{part}:overlay:filter"), OUT))
    }

    /// The overlay layers of the parts before `part` (and its own, with
    /// `including`), in lifecycle order.
    fn overlays_before(&self, part: &str, including: bool) -> Vec<LayerRef> {
        let mut parts: Vec<&str> = self.before(part).iter().map(String::as_str).collect();
        if including {
            parts.push(part);
        }
        parts.into_iter().filter_map(|p| self.overlay_out(p)).collect()
    }
}

/// `root/parts/<p>/<dir>`, as a layer path.
fn part_path(part: &str, dir: &str) -> String {
    format!("root/parts/{part}/{dir}")
}

#[cfg(test)]
mod tests;
