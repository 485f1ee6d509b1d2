//! The lifecycle (DESIGN.md §4): a craft project's planned actions run one
//! by one — pull, overlay, build, stage, prime — then packed into an image.
//!
//! | step | where | input layers | layer it yields (a real blob in the store) |
//! |---|---|---|---|
//! | pull: stage-packages | container, host network: apt ([`packages`]) | build base | `root/parts/<p>/stage_packages/*.deb`, verified |
//! | pull | host: `sources::fetch` (the local dir in place, or the archive/clone fetched into the work dir) packed with `layer::write_tree`; container for `override-pull` | — | `root/parts/<p>/src` |
//! | overlay | container: `scripts::step_run` ([`overlay`]) | base + earlier parts' overlays (bare: build base, overlay mounted) | its changes, filtered by `overlay:` |
//! | build-packages | container, host network: `apt_install` | build base | its changes |
//! | build: stage-packages | container: `dpkg-deb -x`, then host: normalised ([`packages`]) | build base + the `.deb`s | `root/parts/<p>/install` |
//! | build | container, host network: `scripts::step_run`; the overlay at `CRAFT_OVERLAY` if the part sees it | build base + build-packages + own pull + unpacked stage-packages + stage of `after:` parts | `root/parts/<p>/{build,install}` (captured, `layer::filter`ed, squashed over the unpacked packages), then `organize` → `root/parts/<p>/install` |
//! | stage | host: `migrate::stage_part`, `.pc` prefixes into the stage; container for `override-stage` | install + this part's stage | `root/stage`: what this part adds |
//! | prime | host: `migrate::prime_part`; container for `override-prime` | install + this part's stage | `root/prime`: what this part adds |
//! | pack | host | base + overlays (part order) + every part's prime laid over each other at `/` (through the base's merged-/usr links) | the image |
//!
//! The frontend's functions work on [`Tree`]s; [`hostfs`] reads host
//! directories (unpacked snapshots of the layers) into trees and writes the
//! trees the frontend computes back out. The work dir (`<store>/strata/tmp/
//! build-*`) holds each part's organized install tree, the stage and the
//! prime as plain directories; each is also written as a layer after the
//! step that changes it.
//!
//! ## The step cache
//!
//! Each action is a vertex (`part:step`; `part:build-packages` and `pack`
//! besides). Before it runs, [`keys`] names its inputs; a record in the
//! [`StepCache`] under that key replaces the run: the layers it yields and
//! the project variables it leaves are taken from the record. State lives in
//! layers, not host dirs, so a hit costs a lookup: host trees are read from
//! snapshots only when a later step misses and needs them.
//!
//! Each part's stage and prime are layers of their own (what that part
//! added); a part's build sees the stage layers of the parts it is `after:`;
//! pack lays every part's prime layer over an empty dir. So a change in part
//! A reruns part B only if B is `after:` A and A's stage layer changed.
//!
//! Two steps also read the Debian mirror, whose content is not an input
//! known beforehand. A pull with stage-packages records the `.deb` layer
//! (role `stage-packages`) and the resolved list ([`packages::StagePackages`],
//! the record's data) beside its source layer; its key names the packages
//! and the build base, so a hit reuses what was fetched — a moved mirror is
//! picked up with `--no-cache-filter PART:pull`. The build keys on the
//! `.deb` layer; the unpack and the squash happen inside it, so its install
//! layer is all a hit needs. The overlay step (`part:overlay`, role
//! `overlay`) keys on the base, the earlier overlays and the part's overlay
//! keys and scripts; builds that see the overlay and pack key on the
//! overlay layers.

/// The host-side tree functions the lifecycle uses.
mod hostfs {
    pub use super::pkgconfig::fix_staged_pkg_config;
    pub use crate::vertex::hostfs::*;
}
mod keys;
pub mod overlay;
pub mod packages;
mod pkgconfig;
pub(crate) mod relocate;
mod shell;
pub use crate::resolve::vcs;

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use oci_spec::image::{Descriptor, Digest};
use strata_frontend_api::{Action, ActionKind, Base, Project, SourceKind, Step};
use strata_frontend_craft::dirs::{CRAFTCTL_DIR, FETCHED_SOURCE_DIR, PROJECT_DIR, RUN_DIR};
use strata_frontend_craft::env::expand_globals;
use strata_frontend_craft::migrate::{check_stage_conflicts, prime_part, stage_part};
use strata_frontend_craft::organize::organize;
use strata_frontend_craft::scripts::{ProjectVars, apt_install, build_packages, step_run};
use strata_frontend_craft::tree::Tree;
use strata_frontend_craft::{BuildInfo, CraftFrontend, SPEC_FILE_NAMES};

use crate::cache::remote::{RemoteCache, parse_cache_ref};
use crate::cache::{Key, MissReason, Record, StepCache, Vars};
use crate::executor::{Cancel, Executor, Mount, Network, PrefixedLog, StepSpec};
use crate::image::{Image, ImageBuilder, ImageSettings, NewLayer, Platform};
use crate::layer::{self, Compression, IdMode, LayerInfo, LayerInput, OutputOptions, WriteOptions};
use crate::progress::{Event, Progress, StepStatus};
use crate::sources;
use crate::store::Store;

pub use hostfs::{Sources, materialize, read_tree};
pub use shell::shell;

/// What the lifecycle itself can get wrong (step failures are
/// [`crate::executor::StepFailed`]).
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error(transparent)]
    Load(#[from] strata_frontend_craft::LoadError),
    #[error(transparent)]
    Order(#[from] strata_frontend_craft::order::OrderError),
    #[error(transparent)]
    Organize(#[from] strata_frontend_craft::organize::OrganizeError),
    #[error(transparent)]
    Migrate(#[from] strata_frontend_craft::migrate::MigrateError),
    #[error(transparent)]
    StageConflict(#[from] strata_frontend_craft::migrate::StageConflict),
    #[error(transparent)]
    Packages(#[from] packages::PackageError),
    #[error(transparent)]
    Overlay(#[from] overlay::OverlayError),
    #[error("no project file in {}: expected one of {}", dir.display(), SPEC_FILE_NAMES.join(", "))]
    NoProjectFile { dir: PathBuf },
    #[error(
        "image '{name}' is not in the store and pulling it failed ({pull_error}); build it with `strata image build images/<recipe>` or check the reference"
    )]
    ImageNotFound { name: String, pull_error: String },
    #[error("no part '{part}' in the project (its parts: {})", known.join(", "))]
    UnknownPart { part: String, known: Vec<String> },
    #[error("part '{part}': {what} is not supported yet")]
    Unsupported { part: String, what: String },
    #[error(transparent)]
    HostFs(#[from] crate::vertex::hostfs::HostFsError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// How to build.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Overrides the project's `build-base` (a store ref).
    pub build_base: Option<String>,
    /// Overrides the project's `base` (`bare` or a store ref).
    pub base: Option<String>,
    pub compression: Compression,
    /// Pull `base`/`build-base` from their registry even when the store has
    /// them (reporting a tag that moved); by default only missing ones are.
    pub pull: bool,
    /// How to reach registries when pulling.
    pub registry: crate::registry::RegistryOptions,
    /// Stops the build: the running step is killed and cleaned up, no
    /// further step starts.
    pub cancel: Cancel,
    /// Run every step, ignoring (but still filling) the step cache.
    pub no_cache: bool,
    /// Run these parts' steps (`PART`, or `PART:STEP` for one step) even
    /// when cached.
    pub no_cache_filter: Vec<String>,
    /// Registry caches to import step results from, in order
    /// (`registry://HOST/REPO[:TAG]`).
    pub cache_from: Vec<String>,
    /// Open a shell over a failed step's inputs before giving up.
    pub shell_on_fail: bool,
}

/// What a build produced.
#[derive(Debug, Clone)]
pub struct Built {
    pub manifest: Descriptor,
    pub name: String,
    pub version: Option<String>,
    /// Every intermediate layer, by `part:step`, in the order they were made
    /// or found in the cache.
    pub layers: Vec<(String, LayerInfo)>,
    /// The steps that ran, in order (`part:step`, `pack`).
    pub ran: Vec<String>,
    /// The steps taken from the cache.
    pub cached: Vec<String>,
    /// Every cache record this build used or made (what `--cache-to` exports).
    pub records: Vec<(Key, Record)>,
}

/// Finds the project file: `path` itself, or a known spec name inside it.
pub fn find_project_file(path: &Path) -> Result<PathBuf, LifecycleError> {
    if path.is_dir() {
        return SPEC_FILE_NAMES
            .iter()
            .map(|n| path.join(n))
            .find(|p| p.is_file())
            .ok_or_else(|| LifecycleError::NoProjectFile { dir: path.to_path_buf() });
    }
    Ok(path.to_path_buf())
}

/// Loads a craft project with its globals expanded for this machine.
pub fn load_project(path: &Path) -> Result<Project, LifecycleError> {
    let file = find_project_file(path)?;
    let project = CraftFrontend.load(&file)?;
    Ok(expand_globals(&project, &build_info()))
}

fn build_info() -> BuildInfo {
    let n = std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1);
    BuildInfo::host(n)
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> crate::Error + '_ {
    move |source| LifecycleError::Io { path: path.to_path_buf(), source }.into()
}

/// The layers of a stored image, bottom to top.
pub fn image_layers(image: &Image) -> Vec<LayerInfo> {
    image
        .layers()
        .filter_map(|(desc, diff_id)| {
            Some(LayerInfo {
                digest: desc.digest().clone(),
                diff_id: diff_id.parse::<Digest>().ok()?,
                size: desc.size(),
                compression: Compression::from_media_type(desc.media_type())?,
            })
        })
        .collect()
}

/// Loads a base image by name: from the store, pulling it from its registry
/// first when the store lacks it (or always, with `--pull`). Registry
/// references take every form users type (`debian:bookworm` is Docker Hub's,
/// `host:5000/ns/img:tag@sha256:...` is pinned); a tag that moved since the
/// last pull is reported.
fn load_image(store: &Store, name: &str, opts: &BuildOptions, progress: &mut dyn Progress) -> crate::Result<Image> {
    let local = store.resolve(name);
    let missing = matches!(local, Err(crate::store::StoreError::RefNotFound { .. }));
    if missing || opts.pull {
        let pulled = crate::registry::parse_reference(name).and_then(|r| {
            let po = crate::registry::PullOptions {
                registry: opts.registry.clone(),
                local_name: Some(name.to_owned()),
                ..Default::default()
            };
            crate::registry::pull(store, &r, Some(&Platform::host()), &po)
        });
        match pulled {
            Ok(rep) => {
                if let Some(m) = &rep.tag_moved {
                    progress.event(&Event::Note { message: m.to_string() });
                }
                progress.event(&Event::Note { message: format!("pulled {name} {}", rep.descriptor.digest()) });
            }
            Err(e) if missing => {
                return Err(LifecycleError::ImageNotFound { name: name.to_owned(), pull_error: e.to_string() }.into());
            }
            Err(e) => return Err(e.into()),
        }
    }
    let desc = store.resolve(name)?;
    Ok(Image::load(store, &desc, &Platform::host())?)
}

/// One part's state: the layers its steps yielded (run or cached).
#[derive(Default)]
struct PartState {
    pull: Option<LayerInfo>,
    /// The `.deb`s of its stage-packages, fetched in the pull step.
    stage_packages: Option<packages::Fetched>,
    /// Its overlay step's layer (parts with overlay content).
    overlay: Option<LayerInfo>,
    build_packages: Option<LayerInfo>,
    /// The build's captured `root/parts/<p>/{build,install}`.
    built: Option<LayerInfo>,
    /// The organized install tree.
    install_layer: Option<LayerInfo>,
    /// Its listing, read from a snapshot when a step that misses needs it.
    install: Option<(Tree, Sources)>,
    /// What this part added to the stage (`root/stage/...`).
    stage: Option<LayerInfo>,
    /// What this part added to the prime (`root/prime/...`).
    prime: Option<LayerInfo>,
    /// The trees of `stage` and `prime` with their files on the host, when
    /// this build computed them host-side: prime and pack use these instead
    /// of reading (and hashing) the layers back from snapshots.
    stage_tree: Option<(Tree, Sources)>,
    prime_tree: Option<(Tree, Sources)>,
}

/// One build (or plan) of one project.
pub struct Lifecycle<'a> {
    store: &'a Store,
    /// `None` when only planning: nothing may run.
    executor: Option<&'a dyn Executor>,
    progress: &'a mut dyn Progress,
    cache: StepCache<'a>,
    /// The project file's path: whose last builds explain misses.
    project_id: String,
    project: Project,
    info: BuildInfo,
    vars: ProjectVars,
    epoch: i64,
    compression: Compression,
    build_base: Vec<LayerInfo>,
    base: Option<(String, Image)>,
    /// A `/bin/bash` stand-in for build bases without bash (busybox).
    bash_shim: Option<PathBuf>,
    work: tempfile::TempDir,
    parts: BTreeMap<String, PartState>,
    /// Parts in lifecycle order.
    order: Vec<String>,
    /// Parts in the order they were staged / primed in this build.
    staged: Vec<String>,
    primed: Vec<String>,
    layers: Vec<(String, LayerInfo)>,
    cancel: Cancel,
    no_cache: bool,
    no_cache_filter: Vec<String>,
    shell_on_fail: bool,
    /// Planning: vertices that would run, so their outputs are unknown.
    unknown: HashSet<String>,
    /// Planning: a step that may set project variables would run.
    vars_unknown: bool,
    step_index: usize,
    ran: Vec<String>,
    cached: Vec<String>,
    /// The image, once packed or found in the cache.
    packed: Option<Descriptor>,
    /// The project's git origin and commit, asked once (pack's key and its
    /// annotations both need them).
    git: std::cell::OnceCell<Option<vcs::GitInfo>>,
    /// `--cache-from` registries.
    remotes: Vec<RemoteCache>,
    records: Vec<(Key, Record)>,
}

/// Builds the project at `path` into an image in `store`.
pub fn build(
    store: &Store,
    executor: &dyn Executor,
    path: &Path,
    opts: &BuildOptions,
    progress: &mut dyn Progress,
) -> crate::Result<Built> {
    let mut lc = Lifecycle::new(store, Some(executor), path, opts, progress)?;
    lc.run_all()?;
    lc.pack()
}

/// `strata plan`: what a build would do, step by step, and why; runs nothing.
/// Steps whose inputs are all known and cached show as cached; the others as
/// would-run with the reason (an input that changed, or an earlier step that
/// runs).
pub fn plan(store: &Store, path: &Path, opts: &BuildOptions, progress: &mut dyn Progress) -> crate::Result<()> {
    let mut lc = Lifecycle::new(store, None, path, opts, progress)?;
    lc.run_all()?;
    lc.plan_pack()
}

/// `strata step STEP [PART...]`: runs (or takes from the cache) the
/// lifecycle up to `target` for `parts` (every part if empty) and what they
/// need, as `strata build` would; packs nothing.
pub fn run_steps(
    store: &Store,
    executor: &dyn Executor,
    path: &Path,
    opts: &BuildOptions,
    target: Step,
    parts: &[String],
    progress: &mut dyn Progress,
) -> crate::Result<()> {
    let mut lc = Lifecycle::new(store, Some(executor), path, opts, progress)?;
    check_parts(&lc.project, parts)?;
    let names: Vec<&str> = parts.iter().map(String::as_str).collect();
    let actions = strata_frontend_craft::sequencer::Sequencer::new(&lc.project)
        .map_err(LifecycleError::from)?
        .plan(target, &names);
    lc.run_actions(&actions, 0)
}

/// Whose last builds explain misses: the project file's canonical path.
fn project_id(path: &Path) -> crate::Result<String> {
    let file = find_project_file(path)?;
    Ok(std::fs::canonicalize(&file).unwrap_or(file).to_string_lossy().into_owned())
}

/// Fails naming the first of `parts` the project does not have.
fn check_parts(project: &Project, parts: &[String]) -> crate::Result<()> {
    match parts.iter().find(|p| !project.parts.contains_key(*p)) {
        Some(p) => {
            let known = project.parts.keys().cloned().collect();
            Err(LifecycleError::UnknownPart { part: p.clone(), known }.into())
        }
        None => Ok(()),
    }
}

/// `strata clean [PART...]`: forgets the cached steps of `parts` (all parts
/// and the image if empty) as last built from this project, so the next
/// build runs them. Blobs stay until `strata store gc`. Returns how many
/// records were removed.
pub fn clean(store: &Store, path: &Path, parts: &[String]) -> crate::Result<usize> {
    let project = load_project(path)?;
    check_parts(&project, parts)?;
    let project_id = project_id(path)?;
    let known: Vec<String> = project.parts.keys().cloned().collect();
    let chosen = if parts.is_empty() { known } else { parts.to_vec() };
    let mut vertices: Vec<String> = chosen
        .iter()
        .flat_map(|p| ["pull", "overlay", "build-packages", "build", "stage", "prime"].map(|s| format!("{p}:{s}")))
        .collect();
    if parts.is_empty() {
        vertices.push("pack".into());
    }
    let cache = StepCache::new(store);
    Ok(vertices.iter().filter(|v| cache.forget(&project_id, v)).count())
}

/// The record role of a pull's `.deb` layer, and the record data key of
/// the package list that goes with it.
const STAGE_PACKAGES: &str = "stage-packages";

/// The package list a pull's record keeps beside its `.deb` layer.
fn stage_packages_of(rec: &Record) -> Option<packages::StagePackages> {
    serde_json::from_value(rec.data.get(STAGE_PACKAGES)?.clone()).ok()
}

/// Whether a record holds everything [`Lifecycle::apply`] needs: a `.deb`
/// layer comes with its package list (else the lookup is a miss).
fn complete(rec: &Record) -> bool {
    rec.layer(STAGE_PACKAGES).is_none() || stage_packages_of(rec).is_some()
}

fn has_bash(store: &Store, layers: &[LayerInfo]) -> crate::Result<bool> {
    for l in layers.iter().rev() {
        let dir = crate::snapshot::snapshot(store, l)?;
        for p in ["bin/bash", "usr/bin/bash"] {
            if std::fs::symlink_metadata(dir.join(p)).is_ok() {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

impl<'a> Lifecycle<'a> {
    fn new(
        store: &'a Store,
        executor: Option<&'a dyn Executor>,
        path: &Path,
        opts: &BuildOptions,
        progress: &'a mut dyn Progress,
    ) -> crate::Result<Lifecycle<'a>> {
        let mut project = load_project(path)?;
        if let Some(b) = &opts.build_base {
            project.build_base = b.clone();
        }
        if let Some(b) = &opts.base {
            project.base = if b == "bare" { Base::Bare } else { Base::Image(b.clone()) };
        }
        let epoch = crate::image::source_date_epoch(project.source_date_epoch)?;
        project.source_date_epoch = Some(epoch);
        let build_base_image = load_image(store, &project.build_base, opts, progress)?;
        let base = match &project.base {
            Base::Bare => None,
            Base::Image(name) => Some((name.clone(), load_image(store, name, opts, progress)?)),
        };
        let tmp = store.tmp_dir();
        std::fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;
        let work = tempfile::Builder::new().prefix("build-").tempdir_in(&tmp).map_err(io_err(&tmp))?;
        let build_base = image_layers(&build_base_image);
        let bash_shim = if has_bash(store, &build_base)? {
            None
        } else {
            let p = work.path().join("bash-shim");
            std::fs::write(
                &p,
                "#!/bin/sh\n# strata: the build base has no bash; run the step with its sh\nexec /bin/sh \"$@\"\n",
            )
            .map_err(io_err(&p))?;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).map_err(io_err(&p))?;
            Some(p)
        };
        let project_id = project_id(path)?;
        let order = strata_frontend_craft::order::order(&project).map_err(LifecycleError::from)?;
        let mut remotes = Vec::new();
        for r in &opts.cache_from {
            let reference = parse_cache_ref(r)?;
            match RemoteCache::open(store, reference, opts.registry.clone()) {
                Ok(c) => {
                    progress.event(&Event::Note { message: format!("cache {r}: {} step(s)", c.len()) });
                    remotes.push(c);
                }
                // An unreachable cache makes a slower build, not a failed one.
                Err(e) => progress.event(&Event::Note { message: format!("cache {r} not used: {e}") }),
            }
        }
        Ok(Lifecycle {
            store,
            executor,
            progress,
            cache: StepCache::new(store),
            project_id,
            info: build_info(),
            vars: ProjectVars::new(&project),
            epoch,
            compression: opts.compression,
            build_base,
            base,
            bash_shim,
            work,
            parts: BTreeMap::new(),
            order,
            staged: Vec::new(),
            primed: Vec::new(),
            layers: Vec::new(),
            cancel: opts.cancel.clone(),
            no_cache: opts.no_cache,
            no_cache_filter: opts.no_cache_filter.clone(),
            shell_on_fail: opts.shell_on_fail,
            unknown: HashSet::new(),
            vars_unknown: false,
            step_index: 0,
            ran: Vec::new(),
            cached: Vec::new(),
            packed: None,
            git: std::cell::OnceCell::new(),
            remotes,
            records: Vec::new(),
            project,
        })
    }

    fn git(&self) -> Option<&vcs::GitInfo> {
        self.git.get_or_init(|| vcs::git_info(&self.project.project_dir)).as_ref()
    }

    fn planning(&self) -> bool {
        self.executor.is_none()
    }

    /// Every planned action up to prime, in order.
    fn run_all(&mut self) -> crate::Result<()> {
        let actions =
            strata_frontend_craft::sequencer::plan(&self.project, Step::Prime).map_err(LifecycleError::from)?;
        self.run_actions(&actions, 1)
    }

    /// Runs `actions`; `more` steps (pack) follow them.
    fn run_actions(&mut self, actions: &[Action], more: usize) -> crate::Result<()> {
        let steps = actions.iter().filter(|a| a.kind != ActionKind::Skip).count() + more;
        self.progress.event(&Event::Plan { steps });
        for action in actions {
            if self.cancel.is_cancelled() {
                let step = format!("{}:{}", action.part, action.step.name());
                return Err(crate::executor::ExecError::Cancelled { step }.into());
            }
            self.run_action(action)?;
        }
        Ok(())
    }

    fn step_event(&mut self, vertex: &str, status: StepStatus) {
        let index = self.step_index;
        self.progress.event(&Event::Step { vertex: vertex.to_string(), index, status });
    }

    /// Whether the user asked to run `part:step` whatever the cache holds.
    fn forced(&self, part: &str, step: &str) -> Option<String> {
        if self.no_cache {
            return Some("--no-cache".into());
        }
        self.no_cache_filter
            .iter()
            .find(|f| *f == part || **f == format!("{part}:{step}"))
            .map(|f| format!("--no-cache-filter {f}"))
    }

    /// Runs one planned action, or takes it from the cache, saying which.
    pub fn run_action(&mut self, action: &Action) -> crate::Result<()> {
        if action.kind == ActionKind::Skip {
            // Already done in this build (the sequencer lists it again for
            // a later part's sake); nothing to run.
            return Ok(());
        }
        let part = action.part.as_str();
        if action.step == Step::Overlay && !strata_frontend_craft::parse::uses_overlay(&self.project.parts[part]) {
            // Nothing to overlay: no vertex.
            return Ok(());
        }
        self.step_index += 1;
        if action.step == Step::Build {
            self.build_packages(part)?;
        }
        let vertex = format!("{part}:{}", action.step.name());
        self.cached_or_run(&vertex, part, action.step.name(), |lc| match action.step {
            Step::Pull => lc.pull(part),
            Step::Build => lc.build(part),
            Step::Stage => lc.stage(part),
            Step::Prime => lc.prime(part),
            Step::Overlay => lc.overlay(part),
        })
    }

    /// The cache protocol of one vertex: key, lookup, run on a miss, record.
    fn cached_or_run(
        &mut self,
        vertex: &str,
        part: &str,
        step: &str,
        run: impl FnOnce(&mut Self) -> crate::Result<()>,
    ) -> crate::Result<()> {
        let Some(inputs) = self.key_parts(vertex, part, step)? else {
            // Planning, and an input comes from a step that would run.
            let why = self.unknown_input(vertex, part, step).unwrap_or_else(|| "an earlier step runs".into());
            self.mark_unknown(vertex, part);
            self.step_event(vertex, StepStatus::WouldRun { reason: why });
            return Ok(());
        };
        let key = inputs.key();
        let forced = self.forced(part, step);
        if forced.is_none()
            && let Some(rec) = self.lookup(&key).filter(complete)
        {
            self.apply(vertex, part, &rec);
            self.records.push((key, rec));
            if !self.planning() {
                self.cache.remember(&self.project_id, vertex, &inputs);
            }
            self.cached.push(vertex.to_string());
            self.step_event(vertex, StepStatus::Cached);
            return Ok(());
        }
        let reason = match forced {
            Some(by) => MissReason::Forced { by },
            None => MissReason::between(self.cache.last_inputs(&self.project_id, vertex).as_ref(), &inputs),
        };
        if self.planning() {
            self.mark_unknown(vertex, part);
            self.step_event(vertex, StepStatus::WouldRun { reason: reason.to_string() });
            return Ok(());
        }
        self.step_event(vertex, StepStatus::Running { reason: reason.to_string() });
        let started = Instant::now();
        let first_new = self.layers.len();
        if let Err(e) = run(self) {
            self.step_event(vertex, StepStatus::Failed { error: e.to_string() });
            return Err(e);
        }
        let made: Vec<Event> = self.layers[first_new..]
            .iter()
            .map(|(role, l)| Event::Layer { vertex: vertex.into(), role: role.clone(), digest: l.digest.to_string() })
            .collect();
        for e in &made {
            self.progress.event(e);
        }
        let rec = self.record(vertex, part, step);
        self.cache.put(&key, &rec)?;
        self.records.push((key, rec));
        self.cache.remember(&self.project_id, vertex, &inputs);
        self.ran.push(vertex.to_string());
        self.step_event(vertex, StepStatus::Done { seconds: started.elapsed().as_secs_f64() });
        Ok(())
    }

    /// The local record of `key`, or one a `--cache-from` registry has
    /// (fetched into the store first). A registry that fails is a miss.
    /// Planning only reads: records are not marked used and a registry's
    /// record is taken from its index, its blobs left where they are.
    fn lookup(&mut self, key: &Key) -> Option<Record> {
        if self.planning() {
            return self.cache.peek(key).or_else(|| self.remotes.iter().find_map(|r| r.record(key)));
        }
        if let Some(rec) = self.cache.get(key) {
            return Some(rec);
        }
        let mut notes = Vec::new();
        let mut found = None;
        for remote in &self.remotes {
            match remote.fetch(self.store, key) {
                Ok(Some(rec)) => {
                    if let Err(e) = self.cache.put(key, &rec) {
                        notes.push(format!("cannot record a step fetched from the cache: {e}"));
                    }
                    found = Some(rec);
                    break;
                }
                Ok(None) => {}
                Err(e) => notes.push(format!("cache lookup failed, running the step: {e}")),
            }
        }
        for message in notes {
            self.progress.event(&Event::Note { message });
        }
        found.and_then(|_| self.cache.get(key))
    }

    fn mark_unknown(&mut self, vertex: &str, part: &str) {
        self.unknown.insert(vertex.to_string());
        if self.project.adopt_info.as_deref() == Some(part) {
            self.vars_unknown = true;
        }
        if let Some(step) = vertex.rsplit(':').next() {
            // Later steps of this build look the part up in these lists.
            match step {
                "stage" => self.staged.push(part.to_string()),
                "prime" => self.primed.push(part.to_string()),
                _ => {}
            }
        }
    }

    /// What a step yielded, for its cache record.
    fn record(&self, vertex: &str, part: &str, step: &str) -> Record {
        let st = self.parts.get(part);
        let get = |f: fn(&PartState) -> &Option<LayerInfo>| st.and_then(|s| f(s).clone());
        let fetched = st.and_then(|s| s.stage_packages.clone());
        let layers: Vec<(&str, Option<LayerInfo>)> = match step {
            "pull" => vec![("pull", get(|s| &s.pull)), ("stage-packages", fetched.as_ref().map(|f| f.layer.clone()))],
            "overlay" => vec![("overlay", get(|s| &s.overlay))],
            "build-packages" => vec![("build-packages", get(|s| &s.build_packages))],
            "build" => vec![("build", get(|s| &s.built)), ("install", get(|s| &s.install_layer))],
            "stage" => vec![("stage", get(|s| &s.stage))],
            "prime" => vec![("prime", get(|s| &s.prime))],
            _ => vec![],
        };
        Record {
            vertex: vertex.to_string(),
            layers: layers.into_iter().filter_map(|(r, l)| Some((r.to_string(), l?))).collect(),
            vars: Some(Vars { values: self.vars.values.clone(), set: self.vars.set.clone() }),
            manifest: if step == "pack" { self.packed.clone() } else { None },
            data: match fetched.filter(|_| step == "pull") {
                Some(f) => BTreeMap::from([(
                    STAGE_PACKAGES.to_string(),
                    serde_json::to_value(&f.packages).expect("a package list serializes"),
                )]),
                None => BTreeMap::new(),
            },
        }
    }

    /// Takes a step's results from its record.
    fn apply(&mut self, vertex: &str, part: &str, rec: &Record) {
        let st = self.parts.entry(part.to_string()).or_default();
        for (role, l) in &rec.layers {
            let slot = match role.as_str() {
                "pull" => &mut st.pull,
                "overlay" => &mut st.overlay,
                STAGE_PACKAGES => {
                    // `complete` checked that the list is there.
                    let packages = stage_packages_of(rec).unwrap_or_default();
                    st.stage_packages = Some(packages::Fetched { packages, layer: l.clone() });
                    self.layers.push((vertex.to_string(), l.clone()));
                    continue;
                }
                "build-packages" => &mut st.build_packages,
                "build" => &mut st.built,
                "install" => {
                    st.install = None;
                    &mut st.install_layer
                }
                "stage" => {
                    st.stage_tree = None;
                    &mut st.stage
                }
                "prime" => {
                    st.prime_tree = None;
                    &mut st.prime
                }
                _ => continue,
            };
            *slot = Some(l.clone());
            self.layers.push((vertex.to_string(), l.clone()));
        }
        if vertex.ends_with(":stage") {
            self.staged.push(part.to_string());
        }
        if vertex.ends_with(":prime") {
            self.primed.push(part.to_string());
        }
        if rec.manifest.is_some() {
            self.packed = rec.manifest.clone();
        }
        if let Some(v) = &rec.vars {
            self.vars.values = v.values.clone();
            self.vars.set = v.set.clone();
        }
    }

    fn write_opts(&self, prefix: Option<&str>, ids: IdMode) -> WriteOptions {
        WriteOptions { prefix: prefix.map(PathBuf::from), ids, ..WriteOptions::new(self.compression, self.epoch) }
    }

    /// Packs a host dir as a layer blob in the store.
    fn write_layer(&mut self, label: &str, dir: &Path, prefix: Option<&str>, ids: IdMode) -> crate::Result<LayerInfo> {
        let opts = self.write_opts(prefix, ids);
        let mut blob = self.store.blob_writer()?;
        let diff_id = layer::write_tree(dir, &opts, &mut blob)?.diff_id;
        let (digest, size) = blob.commit(None)?;
        let info = LayerInfo { digest, diff_id, size, compression: self.compression };
        self.layers.push((label.to_string(), info.clone()));
        Ok(info)
    }

    fn part_dir(&self, part: &str) -> PathBuf {
        self.work.path().join("parts").join(part)
    }

    /// A fresh, empty dir in the work dir.
    fn fresh_dir(&self, part: &str, name: &str) -> crate::Result<PathBuf> {
        let dir = self.part_dir(part).join(name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(io_err(&dir))?;
        }
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        Ok(dir)
    }

    /// Where a part's local source is, checked.
    fn local_source(&self, part: &str) -> crate::Result<Option<PathBuf>> {
        match &self.project.parts[part].source {
            Some(s) if s.kind == SourceKind::Local => {
                let path = sources::host_path(&s.location, &self.project.project_dir);
                if !path.is_dir() {
                    return Err(sources::SourceError::NotADirectory { part: part.into(), path }.into());
                }
                Ok(Some(path))
            }
            _ => Ok(None),
        }
    }

    fn pull(&mut self, part: &str) -> crate::Result<()> {
        if !self.project.parts[part].build_plan.build_snaps.is_empty() {
            return Err(LifecycleError::Unsupported { part: part.into(), what: "build-snaps".into() }.into());
        }
        // Before the source, as craft-parts does.
        self.fetch_stage_packages(part)?;
        let p = &self.project.parts[part];
        let override_pull = p.scriptlets.override_pull.is_some();
        let in_container = override_pull || !p.build_plan.pull_commands.is_empty();
        let label = format!("{part}:pull");
        let prefix = format!("root/parts/{part}/src");
        let fetched = match &p.source {
            None => sources::Fetched { dir: self.fresh_dir(part, "empty-src")?, identity: None },
            Some(s) => {
                // Host-side: a local dir is used in place (never written);
                // other kinds land in the work dir (downloads cached in the store).
                let dest = self.part_dir(part).join("fetched-src");
                let downloads = sources::Downloads::in_store(self.store);
                let req = sources::FetchRequest {
                    part,
                    source: s,
                    project_dir: &self.project.project_dir,
                    dest: &dest,
                    downloads: &downloads,
                    cancel: &self.cancel,
                };
                let progress = &mut *self.progress;
                let fetched = sources::fetch(&req, &mut |line| {
                    progress.event(&Event::Note { message: format!("{label}: {line}") });
                })?;
                // With override-pull the script owns the src dir: checked after it ran.
                if !override_pull {
                    sources::check_subdir(part, s, &fetched.dir)?;
                }
                fetched
            }
        };
        let src = fetched.dir;
        let layer = if in_container {
            // override-pull / plugin pull commands: the fetched source is
            // mounted read-only at /run/strata/source (`craftctl default`
            // copies it into src); the step's src dir is its layer.
            let (run_dir, argv) = self.prepare_run(part, Step::Pull)?;
            let mount_point = run_dir.join("source");
            std::fs::create_dir_all(&mount_point).map_err(io_err(&mount_point))?;
            let extra = Mount::Bind { source: src, destination: FETCHED_SOURCE_DIR.into(), read_only: true };
            let captured =
                self.run_container(&label, self.build_base.clone(), argv, Some(&run_dir), Network::None, vec![extra])?;
            self.filter_layer(&label, &captured, std::slice::from_ref(&prefix))?
        } else {
            // Packed host-side from the fetched dir (for a local source the
            // project's own: nothing is linked or copied back into it);
            // owners are root, as in a managed instance.
            self.write_layer(&label, &src, Some(&prefix), IdMode::Root)?
        };
        if let Some(s) = self.project.parts[part].source.as_ref().filter(|s| s.subdir.is_some() && override_pull) {
            let snap = crate::snapshot::snapshot(self.store, &layer)?;
            sources::check_subdir(part, s, &snap.join(&prefix))?;
        }
        self.parts.entry(part.to_string()).or_default().pull = Some(layer);
        if let Some(id) = fetched.identity {
            self.progress.event(&Event::Note { message: format!("{label}: source {id}") });
        }
        Ok(())
    }

    /// The run dir of one step: `step_run`'s files, mounted at `/run/strata`.
    fn prepare_run(&mut self, part: &str, step: Step) -> crate::Result<(PathBuf, Vec<String>)> {
        let run = step_run(&self.project, part, step, &self.info, &self.vars);
        let dir = self.part_dir(part).join(format!("run-{}", step.name()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(io_err(&dir))?;
        }
        for (rel, f) in &run.files {
            let path = dir.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(io_err(parent))?;
            }
            std::fs::write(&path, &f.contents).map_err(io_err(&path))?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(f.mode)).map_err(io_err(&path))?;
        }
        for sub in ["craftctl/vars", "craftctl/set"] {
            let d = dir.join(sub);
            std::fs::create_dir_all(&d).map_err(io_err(&d))?;
        }
        Ok((dir, run.argv))
    }

    /// A step of this build: `argv` over `layers` with `SOURCE_DATE_EPOCH`,
    /// the step's run dir (scripts, craftctl and the default action's inputs
    /// read-only; only craftctl's state dir, the project variables,
    /// writable), the project read-only, `extra` mounts and the bash shim.
    fn step_spec(
        &self,
        label: &str,
        layers: Vec<LayerInfo>,
        argv: Vec<String>,
        run_dir: Option<&Path>,
        extra: Vec<Mount>,
    ) -> StepSpec {
        let mut spec = StepSpec::new(label, layers, argv);
        spec.env.push(format!("SOURCE_DATE_EPOCH={}", self.epoch));
        if let Some(d) = run_dir {
            spec.mounts.push(Mount::Bind { source: d.to_path_buf(), destination: RUN_DIR.into(), read_only: true });
            spec.mounts.push(Mount::Bind {
                source: d.join("craftctl"),
                destination: CRAFTCTL_DIR.into(),
                read_only: false,
            });
        }
        spec.mounts.push(Mount::Bind {
            source: self.project.project_dir.clone(),
            destination: PROJECT_DIR.into(),
            read_only: true,
        });
        spec.mounts.extend(extra);
        if let Some(shim) = &self.bash_shim {
            spec.mounts.push(Mount::Bind { source: shim.clone(), destination: "/bin/bash".into(), read_only: true });
        }
        spec
    }

    /// Runs a container step and captures its changes as a layer blob.
    fn run_container(
        &mut self,
        label: &str,
        layers: Vec<LayerInfo>,
        argv: Vec<String>,
        run_dir: Option<&Path>,
        network: Network,
        extra_mounts: Vec<Mount>,
    ) -> crate::Result<LayerInfo> {
        let executor = self.executor.expect("planning never runs a step");
        let mut spec = self.step_spec(label, layers, argv, run_dir, extra_mounts);
        spec.network = network;
        let echo: Box<dyn Write + Send> = Box::new(std::io::stderr());
        let mut log = PrefixedLog::for_step(self.store, label, Some(echo))
            .map_err(io_err(&crate::executor::log::step_log_path(self.store, label)))?;
        let execution = match executor.run(self.store, &spec, &mut log, &self.cancel)?.success(label) {
            Ok(e) => e,
            Err(failed) => {
                if self.shell_on_fail {
                    self.shell_after_failure(&spec);
                }
                return Err(failed.into());
            }
        };
        let layer = crate::snapshot::capture(self.store, execution.changes, &self.output_opts())?;
        if let Some(d) = run_dir {
            self.read_back_vars(d)?;
        }
        Ok(layer)
    }

    fn output_opts(&self) -> OutputOptions {
        OutputOptions::new(self.compression, self.epoch)
    }

    fn read_back_vars(&mut self, run_dir: &Path) -> crate::Result<()> {
        let dir = run_dir.join("craftctl");
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        for sub in ["vars", "set"] {
            let d = dir.join(sub);
            let Ok(rd) = std::fs::read_dir(&d) else { continue };
            for e in rd.flatten() {
                let bytes = std::fs::read(e.path()).map_err(io_err(&e.path()))?;
                files.push((format!("{sub}/{}", e.file_name().to_string_lossy()), bytes));
            }
        }
        files.sort();
        self.vars.read_back(files.iter().map(|(p, b)| (p.as_str(), b.as_slice())));
        Ok(())
    }

    /// Keeps the entries of `layer` under one of `dirs` as a new layer blob.
    fn filter_layer(&mut self, label: &str, layer: &LayerInfo, dirs: &[String]) -> crate::Result<LayerInfo> {
        let blob = self.store.open_blob(&layer.digest)?;
        let keep = |p: &Path, _k: layer::EntryKind| dirs.iter().any(|d| p.starts_with(d));
        let mut out = self.store.blob_writer()?;
        let diff_id =
            layer::filter(LayerInput::sorted(std::io::BufReader::new(blob)), &keep, &self.output_opts(), &mut out)?
                .diff_id;
        let (digest, size) = out.commit(None)?;
        let info = LayerInfo { digest, diff_id, size, compression: self.compression };
        self.layers.push((label.to_string(), info.clone()));
        Ok(info)
    }

    /// The part's build-packages, installed with apt in a layer of their
    /// own: a vertex of its own too, so parts with the same packages share it.
    fn build_packages(&mut self, part: &str) -> crate::Result<()> {
        let packages = build_packages(&self.project, part);
        if packages.is_empty() {
            return Ok(());
        }
        let vertex = format!("{part}:build-packages");
        self.cached_or_run(&vertex, part, "build-packages", |lc| {
            let script = apt_install(&packages);
            let layer = lc.run_container(
                &vertex,
                lc.build_base.clone(),
                vec!["/bin/sh".into(), "-c".into(), format!("set -e\n{script}rm -rf /var/lib/apt/lists/*\n")],
                None,
                Network::Host,
                vec![],
            )?;
            lc.layers.push((vertex.clone(), layer.clone()));
            lc.parts.entry(part.to_string()).or_default().build_packages = Some(layer);
            Ok(())
        })
    }

    /// The stage layers of the parts `part` is `after:`, transitively, in
    /// lifecycle order: what its build sees of the stage.
    fn dependency_stage(&self, part: &str) -> Vec<(String, Option<LayerInfo>)> {
        let deps = self.dependencies(part);
        self.order
            .iter()
            .filter(|n| deps.contains(*n))
            .map(|n| (n.clone(), self.parts.get(n).and_then(|s| s.stage.clone())))
            .collect()
    }

    fn dependencies(&self, part: &str) -> HashSet<String> {
        let mut seen = HashSet::new();
        let mut todo: Vec<&str> = self.project.parts[part].after.iter().map(String::as_str).collect();
        while let Some(p) = todo.pop() {
            if seen.insert(p.to_string())
                && let Some(def) = self.project.parts.get(p)
            {
                todo.extend(def.after.iter().map(String::as_str));
            }
        }
        seen
    }

    fn build(&mut self, part: &str) -> crate::Result<()> {
        // stage-packages are unpacked into the install dir first (craft-parts'
        // `_unpack_stage_packages`); the build runs over them.
        let unpacked = self.unpack_stage_packages(part)?;
        let mut layers = self.build_base.clone();
        let st = self.parts.get(part);
        layers.extend(st.and_then(|s| s.build_packages.clone()));
        layers.extend(st.and_then(|s| s.pull.clone()));
        layers.extend(unpacked.clone());
        layers.extend(self.dependency_stage(part).into_iter().filter_map(|(_, l)| l));
        let (run_dir, argv) = self.prepare_run(part, Step::Build)?;
        let label = format!("{part}:build");
        // The overlay at CRAFT_OVERLAY, read-only, for parts that see it.
        let view = self.overlay_view(part)?;
        let mounts = view.iter().map(|(_, m)| m.clone()).collect();
        // The host network, as craft-parts' build has: plugins fetch their
        // dependencies in the build step (pip, go mod download, cargo, npm).
        let captured = self.run_container(&label, layers, argv, Some(&run_dir), Network::Host, mounts)?;
        drop(view);
        let keep = [format!("root/parts/{part}/build"), format!("root/parts/{part}/install")];
        let built = self.filter_layer(&label, &captured, &keep)?;
        let built = self.with_stage_packages(unpacked.as_ref(), built)?;
        // organize, on the install tree of the build's layer
        let snap = crate::snapshot::snapshot(self.store, &built)?;
        let (mut install, sources) = read_tree(&snap.join(format!("root/parts/{part}/install")))?;
        let mapping = self.project.parts[part].organize.clone();
        organize(part, &mut install, &mapping).map_err(LifecycleError::from)?;
        let dir = self.fresh_dir(part, "install")?;
        let paths: Vec<String> = install.paths().map(str::to_string).collect();
        materialize(&install, &paths, &sources, &dir)?;
        let prefix = format!("root/parts/{part}/install");
        let layer = self.write_layer(&format!("{part}:install"), &dir, Some(&prefix), IdMode::AsFound)?;
        let st = self.parts.entry(part.to_string()).or_default();
        st.built = Some(built);
        st.install_layer = Some(layer);
        // The organized tree's files are in `dir` now.
        let (_, sources) = read_tree(&dir)?;
        st.install = Some((install, sources));
        Ok(())
    }

    /// A part's organized install tree, read from its layer's snapshot the
    /// first time a step needs it.
    fn install_tree(&mut self, part: &str) -> crate::Result<(Tree, Sources)> {
        let Some(st) = self.parts.get(part) else { return Ok((Tree::new(), Sources::new())) };
        if let Some(t) = &st.install {
            return Ok(t.clone());
        }
        let Some(layer) = st.install_layer.clone() else { return Ok((Tree::new(), Sources::new())) };
        let snap = crate::snapshot::snapshot(self.store, &layer)?;
        let t = read_tree(&snap.join(format!("root/parts/{part}/install")))?;
        self.parts.get_mut(part).expect("checked").install = Some(t.clone());
        Ok(t)
    }

    /// A layer's tree under `dir` (`root/stage`), from its snapshot.
    fn layer_tree(&self, layer: &LayerInfo, dir: &str) -> crate::Result<(Tree, Sources)> {
        let snap = crate::snapshot::snapshot(self.store, layer)?;
        Ok(read_tree(&snap.join(dir))?)
    }

    fn stage(&mut self, part: &str) -> crate::Result<()> {
        // Conflicts between the parts built so far, in lifecycle order.
        let mut trees = Vec::new();
        for n in self.order.clone() {
            if self.parts.get(&n).is_some_and(|s| s.install_layer.is_some()) {
                trees.push((n.clone(), self.install_tree(&n)?.0));
            }
        }
        let built: Vec<(&str, &strata_frontend_api::Part, &Tree)> =
            trees.iter().map(|(n, t)| (n.as_str(), &self.project.parts[n], t)).collect();
        check_stage_conflicts(&built).map_err(LifecycleError::from)?;
        let (install, sources) = self.install_tree(part)?;
        let install_layer = self.parts.get(part).and_then(|s| s.install_layer.clone());
        let p = self.project.parts[part].clone();
        let install_path = strata_frontend_craft::env::part_dirs(part, &p).install;
        let label = format!("{part}:stage");
        let mut migration = Tree::new();
        let sel = stage_part(part, &p, &install, &mut migration).map_err(LifecycleError::from)?;
        let mut host_tree = None;
        let layer = if p.scriptlets.override_stage.is_some() {
            let (run_dir, argv) = self.prepare_run(part, Step::Stage)?;
            let to = run_dir.join("migration");
            materialize(&migration, sel.all().iter(), &sources, &to)?;
            hostfs::fix_staged_pkg_config(&to, &mut migration, &sel.files, &install_path)?;
            let mut layers = self.build_base.clone();
            layers.extend(install_layer);
            layers.extend(self.staged_layers());
            let captured = self.run_container(&label, layers, argv, Some(&run_dir), Network::None, vec![])?;
            self.filter_layer(&label, &captured, &["root/stage".to_string()])?
        } else {
            let dir = self.fresh_dir(part, "stage")?;
            materialize(&migration, sel.all().iter(), &sources, &dir)?;
            hostfs::fix_staged_pkg_config(&dir, &mut migration, &sel.files, &install_path)?;
            let layer = self.write_layer(&label, &dir, Some("root/stage"), IdMode::AsFound)?;
            let sources = hostfs::sources_in(&migration, &dir);
            host_tree = Some((migration, sources));
            layer
        };
        let st = self.parts.entry(part.to_string()).or_default();
        st.stage = Some(layer);
        st.stage_tree = host_tree;
        self.staged.push(part.to_string());
        Ok(())
    }

    /// The stage layers of every part staged so far, in staging order.
    fn staged_layers(&self) -> Vec<LayerInfo> {
        self.staged.iter().filter_map(|n| self.parts.get(n)?.stage.clone()).collect()
    }

    fn primed_layers(&self) -> Vec<LayerInfo> {
        self.primed.iter().filter_map(|n| self.parts.get(n)?.prime.clone()).collect()
    }

    fn prime(&mut self, part: &str) -> crate::Result<()> {
        let (install, _) = self.install_tree(part)?;
        let st = self.parts.get(part);
        let install_layer = st.and_then(|s| s.install_layer.clone());
        let (stage, stage_sources) = match (st.and_then(|s| s.stage_tree.clone()), st.and_then(|s| s.stage.clone())) {
            (Some(tree), _) => tree,
            (None, Some(l)) => self.layer_tree(&l, "root/stage")?,
            (None, None) => (Tree::new(), Sources::new()),
        };
        let p = self.project.parts[part].clone();
        let label = format!("{part}:prime");
        let mut migration = Tree::new();
        let sel = prime_part(part, &p, &install, &stage, &mut migration).map_err(LifecycleError::from)?;
        let mut host_tree = None;
        let layer = if p.scriptlets.override_prime.is_some() {
            let (run_dir, argv) = self.prepare_run(part, Step::Prime)?;
            materialize(&migration, sel.all().iter(), &stage_sources, &run_dir.join("migration"))?;
            let mut layers = self.build_base.clone();
            layers.extend(install_layer);
            layers.extend(self.staged_layers());
            layers.extend(self.primed_layers());
            let captured = self.run_container(&label, layers, argv, Some(&run_dir), Network::None, vec![])?;
            self.filter_layer(&label, &captured, &["root/prime".to_string()])?
        } else {
            let dir = self.fresh_dir(part, "prime")?;
            materialize(&migration, sel.all().iter(), &stage_sources, &dir)?;
            let layer = self.write_layer(&label, &dir, Some("root/prime"), IdMode::AsFound)?;
            let sources = hostfs::sources_in(&migration, &dir);
            host_tree = Some((migration, sources));
            layer
        };
        let st = self.parts.entry(part.to_string()).or_default();
        st.prime = Some(layer);
        st.prime_tree = host_tree;
        self.primed.push(part.to_string());
        Ok(())
    }

    /// The image settings, name and version the project asks for.
    fn image_meta(&self) -> (String, String, Option<String>, ImageSettings) {
        let project = &self.project;
        let name = project.name.clone().unwrap_or_else(|| "strata-build".into());
        let version = self.vars.values.get("version").filter(|v| !v.is_empty()).cloned().or(project.version.clone());
        let s = &project.image;
        let title = project.title.clone().unwrap_or_else(|| name.clone());
        // The base's own title and version labels would describe the base.
        let mut labels = s.labels.clone();
        labels.entry("org.opencontainers.image.title".into()).or_insert_with(|| title.clone());
        if let Some(v) = &version {
            labels.entry("org.opencontainers.image.version".into()).or_insert_with(|| v.clone());
        }
        let settings = ImageSettings {
            env: s.environment.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            entrypoint: s.entrypoint.clone(),
            cmd: s.cmd.clone(),
            working_dir: s.working_dir.clone(),
            user: s.user.clone(),
            labels,
            exposed_ports: s.ports.clone(),
            ..Default::default()
        };
        (name, title, version, settings)
    }

    /// `strata plan`'s last line: would pack run?
    fn plan_pack(mut self) -> crate::Result<()> {
        self.step_index += 1;
        self.cached_or_run("pack", "", "pack", |_| unreachable!("planning runs nothing"))
    }

    /// The final image: base + the parts' overlay layers + every part's
    /// prime at `/`, with the project's settings. A vertex like the others:
    /// unchanged overlays, primes and settings give the cached image.
    fn pack(mut self) -> crate::Result<Built> {
        self.step_index += 1;
        let (name, _, version, _) = self.image_meta();
        self.cached_or_run("pack", "", "pack", |lc| {
            lc.packed = Some(lc.pack_image()?);
            Ok(())
        })?;
        let manifest = self.packed.clone().expect("pack ran or its record named the image");
        self.progress.event(&Event::Image {
            digest: manifest.digest().to_string(),
            cached_steps: self.cached.len(),
            run_steps: self.ran.len(),
        });
        Ok(Built {
            manifest,
            name,
            version,
            layers: self.layers,
            ran: self.ran,
            cached: self.cached,
            records: self.records,
        })
    }

    fn pack_image(&mut self) -> crate::Result<Descriptor> {
        let dir = self.work.path().join("pack");
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        for part in &self.order {
            let Some(st) = self.parts.get(part) else { continue };
            match (&st.prime_tree, &st.prime) {
                (Some((tree, sources)), _) => {
                    let paths: Vec<String> = tree.paths().map(str::to_string).collect();
                    materialize(tree, &paths, sources, &dir)?;
                }
                (None, Some(l)) => {
                    let snap = crate::snapshot::snapshot(self.store, l)?;
                    hostfs::copy_over(&snap.join("root/prime"), &dir)?;
                }
                (None, None) => {}
            }
        }
        if let Some((_, base)) = &self.base {
            relocate::through_base_links(self.store, &image_layers(base), &dir)?;
        }
        let layer = self.write_layer("pack", &dir, None, IdMode::AsFound)?;
        let (name, title, version, settings) = self.image_meta();
        let mut builder = match self.base.clone() {
            None => ImageBuilder::scratch(self.epoch),
            Some((n, img)) => ImageBuilder::from_base(img, Some(n), self.epoch),
        };
        for (part, info) in self.overlay_layers() {
            let created_by = format!("strata build: the overlay of part '{part}'");
            builder = builder.layer(NewLayer { info, created_by, comment: None });
        }
        let mut builder = builder
            .layer(NewLayer {
                info: layer,
                created_by: format!("strata build: the prime of {name}"),
                comment: Some(format!("parts: {}", self.project.parts.keys().cloned().collect::<Vec<_>>().join(", "))),
            })
            .settings(settings)
            .annotation("org.opencontainers.image.title", title);
        if let Some(v) = &version {
            builder = builder.annotation("org.opencontainers.image.version", v.clone());
        }
        if let Some(git) = self.git().cloned() {
            if let Some(src) = git.source {
                builder = builder.annotation("org.opencontainers.image.source", src);
            }
            builder = builder.annotation("org.opencontainers.image.revision", git.revision);
        }
        Ok(builder.build(self.store)?)
    }
}
