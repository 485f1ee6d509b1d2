//! One build of one project, end to end: the frontend registry finds the
//! spec's frontend, the frontend lowers the spec to a graph, [`resolve`]
//! pins the world, the [`solver`] runs the graph through a worker, and the
//! image comes out of the store. `strata build`, `plan`, `step`, `shell`
//! and `clean` are this pipeline with other targets (DESIGN.md §2).
//!
//! ```text
//! path ─frontends::detect─▶ Frontend ─lower─▶ BuildGraph ─resolve─▶ Resolved ─Solver::solve─▶ Solved (+ image)
//! ```

use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, ImageManifest};
use strata_frontend_api::graph::{BuildGraph, Op};
use strata_frontend_api::{Frontend, LowerOptions};

use crate::cache::remote::{RemoteCache, parse_cache_ref};
use crate::cache::{Key, Record, StepCache};
use crate::executor::{Cancel, Executor};
use crate::layer::{Compression, LayerInfo};
use crate::progress::{Event, Progress};
use crate::resolve::{ResolveOptions, Resolved};
use crate::solver::{PACK, SolveOptions, Solved, Solver};
use crate::store::Store;
use crate::worker::{LocalWorker, Worker};

/// What a build can get wrong besides its steps.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    NoFrontend(#[from] crate::frontends::NoFrontend),
    #[error("no part '{name}' in the project (its parts: {})", known.join(", "))]
    UnknownPart { name: String, known: Vec<String> },
    #[error("part '{part}' runs no process up to its {step} step: there is nothing to open a shell in")]
    NoShell { part: String, step: String },
    #[error("say whose state to enter: --part NAME (--package NAME for a Guix package)")]
    NoPart,
    #[error("'{part}' has no step '{step}'; its steps: {}", known.join(", "))]
    UnknownStep { part: String, step: String, known: Vec<String> },
    #[error("'{step}' is the first step of '{part}': there is no state before it")]
    NothingBefore { part: String, step: String },
    #[error("the project makes no image")]
    NoImage,
    #[error("{0}")]
    FrontendOption(String),
    #[error("{p} is {have} spec, not {want} one: `strata {wanted} {target}` reads {wanted} specs", p = path.display(), have = article(frontend), want = article(wanted))]
    WrongFrontend { path: PathBuf, frontend: String, wanted: String, target: String },
    #[error("the {frontend} frontend has no target '{target}' (it has: {})", known.join(", "))]
    UnknownTarget { frontend: String, target: String, known: Vec<String> },
}

/// `a craft`, `an spk`.
fn article(name: &str) -> String {
    let vowel_sound = name.starts_with(['a', 'e', 'i', 'o', 'u']) || name == "spk";
    format!("{} {name}", if vowel_sound { "an" } else { "a" })
}

/// How to build.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Overrides the spec's build base (an image reference).
    pub build_base: Option<String>,
    /// Overrides the spec's runtime base (`bare` or an image reference).
    pub base: Option<String>,
    pub compression: Compression,
    /// Pull every base from its registry even when the store has it
    /// (reporting a tag that moved); by default only missing ones are.
    pub pull: bool,
    pub registry: crate::registry::RegistryOptions,
    /// Stops the build: running steps are killed and cleaned up, no
    /// further step starts.
    pub cancel: Cancel,
    /// Run every step, ignoring (but still filling) the step cache.
    pub no_cache: bool,
    /// Run these groups' steps (`PART`, `PART:STEP`) even when cached.
    pub no_cache_filter: Vec<String>,
    /// Registry caches to take step results from, in order.
    pub cache_from: Vec<String>,
    /// Open a shell over a failed step's inputs before giving up.
    pub shell_on_fail: bool,
    /// Steps at once; 0: the machine's cores.
    pub jobs: usize,
    /// Copy step logs to stderr as they come (plain and json progress; the
    /// tty renderer shows running steps instead).
    pub echo_logs: bool,
    /// CA certificates steps with network access trust (see
    /// [`crate::worker::local::BuildCa`]).
    pub build_ca: Option<PathBuf>,
    /// What each step may use (`--memory`, `--pids-limit`).
    pub limits: crate::executor::Limits,
    /// A step running longer is killed and fails the build (`--step-timeout`).
    pub step_timeout: Option<std::time::Duration>,
    /// The frontend's own options (`-X KEY=VALUE`), checked against
    /// [`Frontend::options`] before lowering.
    pub frontend_options: Vec<(String, String)>,
    /// Attach SBOMs and provenance to the image (`None`: the bare manifest).
    pub attest: Option<crate::attest::AttestOptions>,
    /// Build secrets (`--secret`), mounted into the steps that ask for them.
    pub secrets: crate::worker::secrets::Secrets,
    /// One of the frontend's targets (`strata spk make-source`): what the
    /// graph makes instead of an image.
    pub target: Option<String>,
    /// Which of the spec's image variants to make (see
    /// [`strata_frontend_api::LowerOptions::image_variant`]); set by
    /// [`build_with`] itself.
    pub image_variant: Option<usize>,
    /// `Some`: the git source the provenance records (none if `Some(None)`)
    /// instead of the spec's work tree's: `strata verify IMAGE`'s rebuild
    /// records the original's.
    pub provenance_source: Option<Option<crate::resolve::Checkout>>,
}

/// What a build produced.
#[derive(Debug, Clone)]
pub struct Built {
    /// The image manifest, with its platform.
    pub manifest: Descriptor,
    /// The index attaching the attestations to it, when asked for.
    pub index: Option<Descriptor>,
    /// The project's name (the default tag's repository).
    pub name: String,
    pub version: Option<String>,
    /// Every vertex's layers, by vertex id and output.
    pub layers: Vec<(String, LayerInfo)>,
    pub ran: Vec<String>,
    pub cached: Vec<String>,
    /// Every cache record this build used or made (what `--cache-to` exports).
    pub records: Vec<(Key, Record)>,
}

/// A project lowered and resolved, ready to solve.
pub struct Project {
    pub frontend: &'static dyn Frontend,
    pub spec: PathBuf,
    pub dir: PathBuf,
    /// Whose last builds explain misses: the spec file's canonical path.
    pub id: String,
    pub graph: BuildGraph,
}

fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// Finds the frontend of `path` and lowers its spec. Pure: reads the spec
/// and, for a frontend with packages, looks its dependencies up in the
/// package repositories (read-only).
pub fn lower(store: &Store, path: &Path, opts: &BuildOptions) -> crate::Result<Project> {
    let (frontend, spec) = crate::frontends::detect(path).map_err(BuildError::from)?;
    lower_spec(store, frontend, spec, opts)
}

/// Lowers `spec`, which `frontend` reads (as [`crate::frontends::detect`] found them).
fn lower_spec(
    store: &Store,
    frontend: &'static dyn Frontend,
    spec: PathBuf,
    opts: &BuildOptions,
) -> crate::Result<Project> {
    let spec = std::path::absolute(&spec).unwrap_or(spec);
    let mut lo = LowerOptions::host(cores() as u32);
    lo.base = opts.base.clone();
    lo.build_base = opts.build_base.clone();
    strata_frontend_api::check_frontend_options(frontend, &opts.frontend_options)
        .map_err(|e| BuildError::FrontendOption(whose_option(frontend, &opts.frontend_options, e)))?;
    if let Some(t) = &opts.target
        && !frontend.targets().iter().any(|k| k.name == t)
    {
        return Err(BuildError::UnknownTarget {
            frontend: frontend.name().into(),
            target: t.clone(),
            known: frontend.targets().iter().map(|k| k.name.to_string()).collect(),
        }
        .into());
    }
    lo.frontend_options = opts.frontend_options.clone();
    lo.secrets = opts.secrets.ids();
    lo.target = opts.target.clone();
    lo.image_variant = opts.image_variant;
    lo.added_sources = Some(crate::sources::Downloads::in_store(store).names_dir());
    if frontend.has_packages() {
        let index = crate::packages::StoreIndex {
            root: store.root().to_path_buf(),
            frontend: frontend.name().into(),
            registry: opts.registry.clone(),
        };
        lo.packages = Some(strata_frontend_api::packages::Packages(std::sync::Arc::new(index)));
    }
    let graph = frontend.lower(&spec, &lo)?;
    let dir = spec.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    let id = std::fs::canonicalize(&spec).unwrap_or_else(|_| spec.clone()).to_string_lossy().into_owned();
    Ok(Project { frontend, spec, dir, id, graph })
}

/// `error`, and which other frontend has the option the spec's frontend
/// does not (`--variant` given to a craft project).
fn whose_option(frontend: &dyn Frontend, given: &[(String, String)], error: String) -> String {
    let unknown = given.iter().find(|(k, _)| !frontend.options().iter().any(|o| o.name == k));
    let Some((key, _)) = unknown else { return error };
    let owners: Vec<&str> = crate::frontends::FRONTENDS
        .iter()
        .filter(|f| f.options().iter().any(|o| o.name == key))
        .map(|f| f.name())
        .collect();
    if owners.is_empty() {
        return error;
    }
    format!("{error} ('{key}' is an option of the {} frontend)", owners.join(" and "))
}

/// What `strata FRONTEND TARGET` made.
#[derive(Debug, Clone)]
pub struct Made {
    /// The vertices no other vertex reads (the target's results), in the
    /// graph's order, with their outputs (none for a check such as a test).
    pub results: Vec<(String, Vec<(String, LayerInfo)>)>,
    pub ran: Vec<String>,
    pub cached: Vec<String>,
}

/// `strata FRONTEND TARGET`: lowers the spec for `opts.target` (which
/// must name a frontend of that name) and solves every vertex.
pub fn make(
    store: &Store,
    worker: &dyn Worker,
    path: &Path,
    frontend: &str,
    opts: &BuildOptions,
    progress: &mut dyn Progress,
) -> crate::Result<Made> {
    let (found, spec) = crate::frontends::detect(path).map_err(BuildError::from)?;
    if found.name() != frontend {
        return Err(BuildError::WrongFrontend {
            path: spec,
            frontend: found.name().into(),
            wanted: frontend.into(),
            target: opts.target.clone().unwrap_or_default(),
        }
        .into());
    }
    let project = lower_spec(store, found, spec, opts)?;
    let (solved, resolved) = solve(store, Some(worker), &project, opts, &[], progress)?;
    stored_packages(store, &project, &solved, &resolved, progress)?;
    let read: std::collections::BTreeSet<&str> = project.graph.vertices.iter().flat_map(|v| v.dependencies()).collect();
    let results = project
        .graph
        .vertices
        .iter()
        .filter(|v| !read.contains(v.id.as_str()))
        .map(|v| {
            let outs = solved.outputs.get(&v.id).map(|o| o.iter().map(|(k, l)| (k.clone(), l.clone())).collect());
            (v.id.clone(), outs.unwrap_or_default())
        })
        .collect();
    Ok(Made { results, ran: solved.ran, cached: solved.cached })
}

/// A local build's worker (see [`make`]).
pub fn make_local(
    store: &Store,
    executor: &dyn Executor,
    path: &Path,
    frontend: &str,
    opts: &BuildOptions,
    progress: &mut dyn Progress,
) -> crate::Result<Made> {
    make(store, &local_worker(store, executor, opts), path, frontend, opts, progress)
}

/// The `--cache-from` registries that answer (one that does not makes a
/// slower build, not a failed one).
fn remotes(store: &Store, opts: &BuildOptions, progress: &mut dyn Progress) -> crate::Result<Vec<RemoteCache>> {
    let mut remotes = Vec::new();
    for r in &opts.cache_from {
        let reference = parse_cache_ref(r)?;
        match RemoteCache::open(store, reference, opts.registry.clone()) {
            Ok(c) => {
                progress.event(&Event::Note { message: format!("cache {r}: {} step(s)", c.len()) });
                remotes.push(c);
            }
            Err(e) => progress.event(&Event::Note { message: format!("cache {r} not used: {e}") }),
        }
    }
    Ok(remotes)
}

/// The worker of a local build: `executor` over the store's snapshots.
fn local_worker<'a>(store: &'a Store, executor: &'a dyn Executor, opts: &BuildOptions) -> LocalWorker<'a> {
    LocalWorker {
        store,
        executor,
        compression: opts.compression,
        echo: opts.echo_logs,
        ca: opts.build_ca.clone(),
        limits: opts.limits,
        timeout: opts.step_timeout,
        secrets: opts.secrets.clone(),
    }
}

/// Lowers, resolves and solves `targets` (everything and the image when
/// empty); `worker` `None` plans.
fn solve(
    store: &Store,
    worker: Option<&dyn Worker>,
    project: &Project,
    opts: &BuildOptions,
    targets: &[String],
    progress: &mut dyn Progress,
) -> crate::Result<(Solved, Resolved)> {
    let planning = worker.is_none();
    let ro = ResolveOptions { pull: opts.pull, registry: opts.registry.clone(), planning };
    let resolved = crate::resolve::resolve(store, &project.graph, &project.dir, &ro, progress)?;
    let epoch = crate::image::source_date_epoch(project.graph.source_date_epoch)?;
    let remotes = remotes(store, opts, progress)?;
    let solver = Solver {
        store,
        frontend: project.frontend,
        worker,
        graph: &project.graph,
        resolved: &resolved,
        remotes: &remotes,
        opts: SolveOptions {
            jobs: if opts.jobs == 0 { cores() } else { opts.jobs },
            no_cache: opts.no_cache,
            no_cache_filter: opts.no_cache_filter.clone(),
            cancel: opts.cancel.clone(),
            compression: opts.compression,
            project_id: project.id.clone(),
            project_dir: project.dir.clone(),
            shell_on_fail: opts.shell_on_fail,
        },
        epoch,
    };
    let solved = solver.solve(targets, progress)?;
    Ok((solved, resolved))
}

/// Stores the package builds the graph declares (the store is the
/// default package repository) and says so.
fn stored_packages(
    store: &Store,
    project: &Project,
    solved: &Solved,
    resolved: &Resolved,
    progress: &mut dyn Progress,
) -> crate::Result<()> {
    for (name, desc) in crate::packages::store_packages(store, &project.graph, &solved.outputs, resolved)? {
        progress.event(&Event::Note { message: format!("stored package {name} {}", desc.digest()) });
    }
    Ok(())
}

/// `strata build`: the project at `path` into an image in `store`.
pub fn build(
    store: &Store,
    executor: &dyn Executor,
    path: &Path,
    opts: &BuildOptions,
    progress: &mut dyn Progress,
) -> crate::Result<Built> {
    build_with(store, &local_worker(store, executor, opts), path, opts, progress)
}

/// [`build`] with any worker: a farm's, or a fake that answers exec ops
/// without containers (the craft conformance simulation). A spec that
/// makes one image per variant ([`BuildGraph::image_variants`]) is lowered
/// and solved once per variant (the builds are shared, so the later solves
/// only assemble their images), and the images go in one index, the first
/// variant's first.
pub fn build_with(
    store: &Store,
    worker: &dyn Worker,
    path: &Path,
    opts: &BuildOptions,
    progress: &mut dyn Progress,
) -> crate::Result<Built> {
    let project = lower(store, path, opts)?;
    let variants = project.graph.image_variants.clone();
    let mut built = one_image(store, worker, project, opts, progress)?;
    if variants.len() < 2 {
        return Ok(built);
    }
    let mut images = vec![(built.manifest.clone(), built.index.clone())];
    for k in 1..variants.len() {
        let o = BuildOptions { image_variant: Some(k), ..opts.clone() };
        let project = lower(store, path, &o)?;
        let b = one_image(store, worker, project, &o, progress)?;
        images.push((b.manifest, b.index));
        built.ran.extend(b.ran);
        for r in b.records {
            if !built.records.iter().any(|(k, _)| *k == r.0) {
                built.records.push(r);
            }
        }
    }
    let index = crate::image::variant_index(store, &images, &variants)?;
    progress.event(&Event::Note {
        message: format!("{} images, one per variant, in the index {}", images.len(), index.digest()),
    });
    built.index = Some(index);
    Ok(built)
}

/// Solves `project` and assembles its image (with its attestations, when asked for).
fn one_image(
    store: &Store,
    worker: &dyn Worker,
    project: Project,
    opts: &BuildOptions,
    progress: &mut dyn Progress,
) -> crate::Result<Built> {
    let started_on = now_rfc3339();
    let spec = project.graph.image.clone().ok_or(BuildError::NoImage)?;
    let (solved, resolved) = solve(store, Some(worker), &project, opts, &[], progress)?;
    stored_packages(store, &project, &solved, &resolved, progress)?;
    let manifest = solved.image.clone().expect("a solve of every vertex assembles the image");
    progress.event(&Event::Image {
        digest: manifest.digest().to_string(),
        cached_steps: solved.cached.len(),
        run_steps: solved.ran.len(),
    });
    let m: ImageManifest = store.read_json(manifest.digest())?;
    let version = m.annotations().as_ref().and_then(|a| a.get("org.opencontainers.image.version").cloned());
    let layers = solved.outputs.iter().flat_map(|(v, outs)| outs.values().map(|l| (v.clone(), l.clone()))).collect();
    let index = match opts.attest {
        Some(a) if a.enabled => {
            let run = crate::attest::provenance::Run {
                started_on,
                finished_on: now_rfc3339(),
                ran: solved.ran.clone(),
                cached: solved.cached.clone(),
            };
            Some(attest(store, &project, &resolved, &solved, &manifest, (&spec.name, version.clone()), opts, a, run)?)
        }
        _ => None,
    };
    Ok(Built {
        manifest,
        index,
        name: spec.name,
        version,
        layers,
        ran: solved.ran,
        cached: solved.cached,
        records: solved.records,
    })
}

/// `strata plan`: what a build would do, vertex by vertex, and why; runs
/// nothing, pulls nothing, writes nothing to the store.
/// The wall clock, for the provenance's run details only.
fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// Writes the attestations of a build and the index attaching them.
#[allow(clippy::too_many_arguments)]
fn attest(
    store: &Store,
    project: &Project,
    resolved: &Resolved,
    solved: &Solved,
    manifest: &Descriptor,
    (name, version): (&str, Option<String>),
    opts: &BuildOptions,
    a: crate::attest::AttestOptions,
    run: crate::attest::provenance::Run,
) -> crate::Result<Descriptor> {
    use serde_json::json;
    let image = crate::image::Image::load(store, manifest, &crate::image::Platform::host())?;
    let spec_bytes = std::fs::read(&project.spec)
        .map_err(|e| crate::store::StoreError::Io { path: project.spec.clone(), source: e })?;
    let mut options = std::collections::BTreeMap::new();
    if let Some(b) = &opts.base {
        options.insert("base".to_string(), json!(b));
    }
    if let Some(b) = &opts.build_base {
        options.insert("build-base".to_string(), json!(b));
    }
    if !opts.frontend_options.is_empty() {
        let m: std::collections::BTreeMap<&str, &str> =
            opts.frontend_options.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        options.insert("frontend-options".to_string(), json!(m));
    }
    // A rebuild that changed nothing attaches what the last one did.
    let epoch = crate::image::source_date_epoch(project.graph.source_date_epoch)?;
    let checkout = match &opts.provenance_source {
        Some(recorded) => recorded.clone(),
        None => crate::resolve::vcs::checkout(&project.spec),
    };
    let compression =
        serde_json::to_value(opts.compression).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    let cache = crate::attest::cache::AttestCache::in_store(store);
    let key = (a.provenance == crate::attest::provenance::Mode::Reproducible).then(|| {
        let layers: Vec<(&String, Vec<(&String, String)>)> = solved
            .outputs
            .iter()
            .map(|(v, o)| (v, o.iter().map(|(n, l)| (n, l.digest.to_string())).collect()))
            .collect();
        let images: Vec<(&String, Option<String>)> =
            resolved.images.iter().map(|(r, p)| (r, p.image.as_ref().map(|i| i.digest().to_string()))).collect();
        crate::attest::cache::Key::default()
            .binary()
            .part(manifest.digest().to_string())
            .part(serde_json::to_vec(&project.graph).unwrap_or_default())
            .part(format!("{layers:?}"))
            .part(format!("{images:?}{:?}{:?}", resolved.pins, resolved.vcs))
            .part(&spec_bytes)
            .part(project.spec.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default())
            .part(format!("{checkout:?}"))
            .part(serde_json::to_vec(&options).unwrap_or_default())
            .part(epoch.to_le_bytes())
            .part(&compression)
            .part(format!("{name}\n{version:?}"))
            .hex()
    });
    if let Some(k) = &key
        && let Some(index) = cache.get(store, k)
    {
        return Ok(index);
    }
    let inputs = crate::attest::Attest {
        inventory: crate::attest::inventory::Sources {
            store,
            graph: &project.graph,
            resolved,
            outputs: &solved.outputs,
            image: &image,
            name: name.to_string(),
            version,
        },
        provenance: crate::attest::provenance::Inputs {
            graph: &project.graph,
            resolved,
            spec_file: project.spec.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default(),
            spec_bytes,
            checkout,
            options,
            epoch,
            compression,
            mode: a.provenance,
            run,
        },
        manifest,
    };
    let index = crate::attest::attach(&inputs)?;
    if let Some(k) = &key {
        cache.put(k, &index);
    }
    Ok(index)
}

pub fn plan(store: &Store, path: &Path, opts: &BuildOptions, progress: &mut dyn Progress) -> crate::Result<()> {
    let project = lower(store, path, opts)?;
    solve(store, None, &project, opts, &[], progress).map(|_| ())
}

/// The vertices of `groups` (every group if empty) at `step`: what
/// `strata step STEP [PART...]` solves (their inputs come along).
fn step_targets(graph: &BuildGraph, step: &str, groups: &[String]) -> crate::Result<Vec<String>> {
    check_groups(graph, groups)?;
    Ok(graph
        .vertices
        .iter()
        .filter(|v| v.step == step)
        .filter(|v| groups.is_empty() || v.group.as_ref().is_some_and(|g| groups.contains(g)))
        .map(|v| v.id.clone())
        .collect())
}

/// Fails naming the first of `groups` the graph does not have.
fn check_groups(graph: &BuildGraph, groups: &[String]) -> crate::Result<()> {
    let mut known: Vec<String> = graph.vertices.iter().filter_map(|v| v.group.clone()).collect();
    known.dedup();
    known.sort();
    known.dedup();
    match groups.iter().find(|g| !known.contains(g)) {
        Some(g) => Err(BuildError::UnknownPart { name: g.clone(), known }.into()),
        None => Ok(()),
    }
}

/// `strata step STEP [PART...]`: runs (or takes from the cache) `step` of
/// `parts` (every part if empty) and what it needs; packs nothing.
pub fn run_steps(
    store: &Store,
    executor: &dyn Executor,
    path: &Path,
    opts: &BuildOptions,
    step: &str,
    parts: &[String],
    progress: &mut dyn Progress,
) -> crate::Result<()> {
    let project = lower(store, path, opts)?;
    let targets = step_targets(&project.graph, step, parts)?;
    if targets.is_empty() {
        progress.event(&Event::Note { message: format!("nothing to do for {step}") });
        return Ok(());
    }
    solve(store, Some(&local_worker(store, executor, opts)), &project, opts, &targets, progress).map(|_| ())
}

/// `strata clean [PART...]`: forgets the cached vertices of `parts` (every
/// vertex and the image if empty) as last built from this project, so the
/// next build runs them. Blobs stay until `strata store gc`. Returns how
/// many records were removed.
pub fn clean(store: &Store, path: &Path, parts: &[String]) -> crate::Result<usize> {
    let project = lower(store, path, &BuildOptions::default())?;
    check_groups(&project.graph, parts)?;
    let mut ids: Vec<String> = project
        .graph
        .vertices
        .iter()
        .filter(|v| parts.is_empty() || v.group.as_ref().is_some_and(|g| parts.contains(g)))
        .map(|v| v.id.clone())
        .collect();
    if parts.is_empty() {
        ids.push(PACK.into());
    }
    let cache = StepCache::new(store);
    Ok(ids.iter().filter(|v| cache.forget(&project.id, v)).count())
}

/// Where `strata shell` opens its shell in a part's steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShellAt {
    /// The state after this step (`--step`).
    After(String),
    /// The state before this step: after the step that ran before it
    /// (`--phase`).
    Before(String),
}

/// The step whose end is the state `at` names, in `part`'s steps in graph
/// order.
fn shell_step(graph: &BuildGraph, part: &str, at: &ShellAt) -> crate::Result<String> {
    check_groups(graph, &[part.to_string()])?;
    let mut steps: Vec<&str> = Vec::new();
    for v in graph.vertices.iter().filter(|v| v.group.as_deref() == Some(part)) {
        if !steps.contains(&v.step.as_str()) {
            steps.push(&v.step);
        }
    }
    let (ShellAt::After(step) | ShellAt::Before(step)) = at;
    let Some(i) = steps.iter().position(|s| s == step) else {
        return Err(BuildError::UnknownStep {
            part: part.into(),
            step: step.clone(),
            known: steps.iter().map(|s| s.to_string()).collect(),
        }
        .into());
    };
    match at {
        ShellAt::After(_) => Ok(step.clone()),
        ShellAt::Before(_) => {
            // The last earlier step that runs a process (sources are not).
            let runs = |s: &str| {
                graph
                    .vertices
                    .iter()
                    .any(|v| v.group.as_deref() == Some(part) && v.step == s && matches!(v.op, Op::Exec(_)))
            };
            steps[..i]
                .iter()
                .rev()
                .find(|s| runs(s))
                .map(|s| s.to_string())
                .ok_or_else(|| BuildError::NothingBefore { part: part.into(), step: step.clone() }.into())
        }
    }
}

/// `strata shell --part P --step S [-- CMD]`: solves `S` of `P`, then runs
/// `argv` (a shell if empty) over the state after it — the root filesystem
/// of the last process `P` ran up to `S`, with what that process and the
/// rest of `S` yielded laid on top, its mounts and files — and returns the
/// exit code. Changes made in a shell are discarded. `--phase S` is the
/// state after the step before `S`.
#[allow(clippy::too_many_arguments)]
pub fn shell(
    store: &Store,
    executor: &dyn Executor,
    path: &Path,
    opts: &BuildOptions,
    part: &str,
    at: &ShellAt,
    argv: &[String],
    progress: &mut dyn Progress,
) -> crate::Result<i32> {
    let project = lower(store, path, opts)?;
    let graph = &project.graph;
    let step = shell_step(graph, part, at)?;
    let step = step.as_str();
    let targets = step_targets(graph, step, &[part.to_string()])?;
    let worker = local_worker(store, executor, opts);
    let (solved, resolved) = solve(store, Some(&worker), &project, opts, &targets, progress)?;
    // The last exec vertex of the part among what was solved, in graph order.
    let of_part = |v: &&strata_frontend_api::graph::Vertex| v.group.as_deref() == Some(part);
    let solved_ids: Vec<&str> = solved.outputs.keys().map(String::as_str).collect();
    let Some(vertex) = graph
        .vertices
        .iter()
        .rev()
        .filter(of_part)
        .find(|v| solved_ids.contains(&v.id.as_str()) && matches!(v.op, Op::Exec(_)))
    else {
        return Err(BuildError::NoShell { part: part.into(), step: step.into() }.into());
    };
    let Op::Exec(op) = &vertex.op else { unreachable!("filtered on exec") };
    let inputs: Vec<Vec<LayerInfo>> = vertex
        .op
        .inputs()
        .into_iter()
        .map(|r| match r {
            strata_frontend_api::graph::LayerRef::Output { vertex, output } => {
                solved.outputs.get(vertex).and_then(|o| o.get(output)).cloned().into_iter().collect()
            }
            r => resolved.image_layers(r).unwrap_or_default(),
        })
        .collect();
    let epoch = crate::image::source_date_epoch(graph.source_date_epoch)?;
    let ctx = crate::vertex::Context {
        store,
        frontend: project.frontend,
        worker: None,
        project_dir: project.dir.clone(),
        compression: opts.compression,
        epoch,
        cancel: opts.cancel.clone(),
        resolved: &resolved,
        graph,
    };
    let (argv, cwd) = project.frontend.shell_command(part, step, argv);
    let mut shell_op = op.clone();
    shell_op.cwd = cwd.or(shell_op.cwd);
    let mut job = crate::vertex::exec_job(&ctx, &vertex.id, &shell_op, &inputs);
    // What the process made, then what the rest of the step made.
    job.rootfs.extend(op.capture.iter().filter_map(|c| solved.outputs.get(&vertex.id)?.get(&c.output).cloned()));
    let later = graph.vertices.iter().filter(of_part).filter(|v| v.step == step && v.id != vertex.id);
    for v in later {
        job.rootfs.extend(solved.outputs.get(&v.id).into_iter().flat_map(|o| o.values().cloned()));
    }
    let worker = LocalWorker { echo: false, ..worker };
    worker.shell(&job, argv)
}
