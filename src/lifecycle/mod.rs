//! The lifecycle (DESIGN.md §4): a craft project's planned actions run one
//! by one — pull, overlay, build, stage, prime — then packed into an image.
//!
//! | step | where | input layers | layer it yields (a real blob in the store) |
//! |---|---|---|---|
//! | pull: stage-packages | container, host network: apt ([`packages`]) | build base | `root/parts/<p>/stage_packages/*.deb`, verified |
//! | pull | host: the local source dir packed with `layer::write_tree` | — | `root/parts/<p>/src` |
//! | overlay | container: `scripts::step_run` ([`overlay`]) | base + earlier parts' overlays (bare: build base, overlay mounted) | its changes, filtered by `overlay:` |
//! | build-packages | container, host network: `apt_install` | build base | its changes |
//! | build: stage-packages | container: `dpkg-deb -x`, then host: normalised ([`packages`]) | build base + the `.deb`s | `root/parts/<p>/install` |
//! | build | container: `scripts::step_run`; the overlay at `CRAFT_OVERLAY` if the part sees it | build base + build-packages + own pull + unpacked stage-packages + current stage | `root/parts/<p>/{build,install}` (captured, `layer::filter`ed, squashed over the unpacked packages), then `organize` → `root/parts/<p>/install` |
//! | stage | host: `migrate::stage_part`, `.pc` prefixes into the stage; container for `override-stage` | install + stage | `root/stage` |
//! | prime | host: `migrate::prime_part`; container for `override-prime` | install + stage + prime | `root/prime` |
//! | pack | host | base + overlays (part order) + prime at `/` | the image |
//!
//! The frontend's functions work on [`Tree`]s; [`hostfs`] reads host
//! directories (unpacked snapshots of the layers) into trees and writes the
//! trees the frontend computes back out. The work dir (`<store>/strata/tmp/
//! build-*`) holds each part's organized install tree, the stage and the
//! prime as plain directories; each is also written as a layer after the
//! step that changes it.
//!
//! ## Where the step cache hooks in (not built yet)
//!
//! Every step is one call of [`Lifecycle::run_action`] whose inputs are
//! all known before it runs: the part's IR (`serde_json` of the `Part`), the
//! `StepRun` files and argv, the input layers' digests (`StepSpec::layers`)
//! and the project variables going in. A key over those (DESIGN.md §6)
//! looked up before `run_action` can replace the step with its recorded
//! output: the layer(s) it yields and the `ProjectVars` it leaves. Host-side
//! state to restore on a hit: the install/stage/prime dirs come from
//! snapshots of those layers (`snapshot::snapshot`).
//!
//! Two steps also read the Debian mirror, whose content is not an input
//! known beforehand: a pull with stage-packages (record its
//! [`packages::StagePackages`] — names, versions, SHA256s — with the `.deb`
//! layer, and key the build on that list) and an overlay step with
//! overlay-packages (its key: the base's and earlier overlays' digests, the
//! part's overlay keys and scriptlets; a rebuild against a moved mirror
//! gives another layer).

mod hostfs;
pub mod overlay;
pub mod packages;

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use oci_spec::image::{Descriptor, Digest};
use strata_frontend_api::{Action, ActionKind, Base, Frontend, Project, SourceKind, Step};
use strata_frontend_craft::dirs::{CRAFTCTL_DIR, FETCHED_SOURCE_DIR, PROJECT_DIR, RUN_DIR};
use strata_frontend_craft::env::expand_globals;
use strata_frontend_craft::migrate::{check_stage_conflicts, prime_part, stage_part};
use strata_frontend_craft::organize::organize;
use strata_frontend_craft::scripts::{ProjectVars, apt_install, build_packages, step_run};
use strata_frontend_craft::tree::Tree;
use strata_frontend_craft::{BuildInfo, CraftFrontend, SPEC_FILE_NAMES};

use crate::executor::{Cancel, Executor, Mount, Network, PrefixedLog, StepSpec};
use crate::image::{Image, ImageBuilder, ImageSettings, NewLayer, Platform};
use crate::layer::{self, Compression, IdMode, LayerInfo, LayerInput, OutputOptions, WriteOptions};
use crate::store::Store;

pub use hostfs::{Sources, materialize, read_tree};

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
    #[error(
        "part '{part}': {kind} sources are not supported yet (only local directories); use a local 'source:' for now"
    )]
    UnsupportedSource { part: String, kind: &'static str },
    #[error("part '{part}': source '{}' is not a directory", path.display())]
    SourceNotADirectory { part: String, path: PathBuf },
    #[error("part '{part}': {what} is not supported yet")]
    Unsupported { part: String, what: String },
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
}

/// What a build produced.
#[derive(Debug, Clone)]
pub struct Built {
    pub manifest: Descriptor,
    pub name: String,
    pub version: Option<String>,
    /// Every intermediate layer, by `part:step`, in the order they were made.
    pub layers: Vec<(String, LayerInfo)>,
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
fn load_image(store: &Store, name: &str, opts: &BuildOptions, out: &mut dyn Write) -> crate::Result<Image> {
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
                    writeln!(out, "note: {m}").ok();
                }
                writeln!(out, "[pull] {name} {}", rep.descriptor.digest()).ok();
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

/// One part's state on the host.
#[derive(Default)]
struct PartState {
    pull: Option<LayerInfo>,
    /// The `.deb`s of its stage-packages, fetched in the pull step.
    stage_packages: Option<packages::Fetched>,
    /// Its overlay step's layer (parts with overlay content).
    overlay: Option<LayerInfo>,
    /// The organized install tree: its layer, its dir, its listing.
    install_layer: Option<LayerInfo>,
    install_dir: PathBuf,
    install: Option<(Tree, Sources)>,
}

/// One build of one project.
pub struct Lifecycle<'a> {
    store: &'a Store,
    executor: &'a dyn Executor,
    out: &'a mut dyn Write,
    project: Project,
    info: BuildInfo,
    vars: ProjectVars,
    epoch: i64,
    compression: Compression,
    build_base: Vec<LayerInfo>,
    /// The runtime base's layers (none for `bare`): what the overlay step
    /// runs over.
    base: Vec<LayerInfo>,
    /// A `/bin/bash` stand-in for build bases without bash (busybox).
    bash_shim: Option<PathBuf>,
    work: tempfile::TempDir,
    parts: BTreeMap<String, PartState>,
    stage_dir: PathBuf,
    stage: Tree,
    stage_layer: Option<LayerInfo>,
    prime_dir: PathBuf,
    prime: Tree,
    prime_layer: Option<LayerInfo>,
    layers: Vec<(String, LayerInfo)>,
    cancel: Cancel,
}

/// Builds the project at `path` into an image in `store`.
pub fn build(
    store: &Store,
    executor: &dyn Executor,
    path: &Path,
    opts: &BuildOptions,
    out: &mut dyn Write,
) -> crate::Result<Built> {
    let mut project = load_project(path)?;
    if let Some(b) = &opts.build_base {
        project.build_base = b.clone();
    }
    if let Some(b) = &opts.base {
        project.base = if b == "bare" { Base::Bare } else { Base::Image(b.clone()) };
    }
    let epoch = crate::image::source_date_epoch(project.source_date_epoch)?;
    project.source_date_epoch = Some(epoch);
    let build_base_image = load_image(store, &project.build_base, opts, out)?;
    let base_image = match &project.base {
        Base::Bare => None,
        Base::Image(name) => Some((name.clone(), load_image(store, name, opts, out)?)),
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
    let info = build_info();
    let vars = ProjectVars::new(&project);
    let mut lc = Lifecycle {
        store,
        executor,
        out,
        info,
        vars,
        epoch,
        compression: opts.compression,
        build_base,
        base: base_image.as_ref().map(|(_, img)| image_layers(img)).unwrap_or_default(),
        bash_shim,
        stage_dir: work.path().join("stage"),
        prime_dir: work.path().join("prime"),
        work,
        parts: BTreeMap::new(),
        stage: Tree::new(),
        stage_layer: None,
        prime: Tree::new(),
        prime_layer: None,
        layers: Vec::new(),
        cancel: opts.cancel.clone(),
        project,
    };
    for d in [&lc.stage_dir, &lc.prime_dir] {
        std::fs::create_dir_all(d).map_err(io_err(d))?;
    }
    let actions = strata_frontend_craft::sequencer::plan(&lc.project, Step::Prime).map_err(LifecycleError::from)?;
    for action in &actions {
        if lc.cancel.is_cancelled() {
            let step = format!("{}:{}", action.part, action.step.name());
            return Err(crate::executor::ExecError::Cancelled { step }.into());
        }
        lc.run_action(action)?;
    }
    lc.pack(base_image)
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

impl Lifecycle<'_> {
    fn say(&mut self, line: std::fmt::Arguments<'_>) {
        writeln!(self.out, "{line}").ok();
        self.out.flush().ok();
    }

    /// Runs one planned action, printing its start and end.
    pub fn run_action(&mut self, action: &Action) -> crate::Result<()> {
        let label = format!("{}:{}", action.part, action.step.name());
        let reason = action.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default();
        if action.kind == ActionKind::Skip {
            // Already done in this build (the sequencer lists it again for
            // a later part's sake); nothing to run.
            return Ok(());
        }
        self.say(format_args!("[{label}] {}{reason}", action.kind.name()));
        let started = Instant::now();
        let first_new = self.layers.len();
        match action.step {
            Step::Pull => self.pull(&action.part)?,
            Step::Overlay => self.overlay(&action.part)?,
            Step::Build => self.build(&action.part)?,
            Step::Stage => self.stage(&action.part)?,
            Step::Prime => self.prime(&action.part)?,
        }
        let made: Vec<String> = self.layers[first_new..].iter().map(|(l, i)| format!("{l} {}", i.digest)).collect();
        for m in made {
            self.say(format_args!("[{label}] layer {m}"));
        }
        self.say(format_args!("[{label}] done in {:.1}s", started.elapsed().as_secs_f64()));
        Ok(())
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

    fn pull(&mut self, part: &str) -> crate::Result<()> {
        if !self.project.parts[part].build_plan.build_snaps.is_empty() {
            return Err(LifecycleError::Unsupported { part: part.into(), what: "build-snaps".into() }.into());
        }
        // Before the source, as craft-parts does.
        self.fetch_stage_packages(part)?;
        let p = &self.project.parts[part];
        let in_container = p.scriptlets.override_pull.is_some() || !p.build_plan.pull_commands.is_empty();
        let src = match &p.source {
            None => {
                let empty = self.part_dir(part).join("empty-src");
                std::fs::create_dir_all(&empty).map_err(io_err(&empty))?;
                empty
            }
            Some(s) if s.kind == SourceKind::Local => {
                let path = self.project.project_dir.join(&s.location);
                if !path.is_dir() {
                    return Err(LifecycleError::SourceNotADirectory { part: part.into(), path }.into());
                }
                path
            }
            Some(s) => return Err(LifecycleError::UnsupportedSource { part: part.into(), kind: s.kind.name() }.into()),
        };
        let label = format!("{part}:pull");
        let prefix = format!("root/parts/{part}/src");
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
            self.filter_layer(&label, &captured, &[prefix])?
        } else {
            // Packed host-side straight from the project: nothing is linked
            // or copied back into it; owners are root, as in a managed instance.
            self.write_layer(&label, &src, Some(&prefix), IdMode::Root)?
        };
        self.parts.entry(part.to_string()).or_default().pull = Some(layer);
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
        let mut spec = StepSpec::new(label, layers, argv);
        spec.env.push(format!("SOURCE_DATE_EPOCH={}", self.epoch));
        spec.network = network;
        if let Some(d) = run_dir {
            // Scripts, craftctl and the default action's inputs read-only;
            // only craftctl's state dir (project variables) is writable.
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
        spec.mounts.extend(extra_mounts);
        if let Some(shim) = &self.bash_shim {
            spec.mounts.push(Mount::Bind { source: shim.clone(), destination: "/bin/bash".into(), read_only: true });
        }
        let echo: Box<dyn Write + Send> = Box::new(std::io::stderr());
        let mut log = PrefixedLog::for_step(self.store, label, Some(echo))
            .map_err(io_err(&crate::executor::log::step_log_path(self.store, label)))?;
        let execution = self.executor.run(self.store, &spec, &mut log, &self.cancel)?.success(label)?;
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

    fn build(&mut self, part: &str) -> crate::Result<()> {
        // stage-packages are unpacked into the install dir first (craft-parts'
        // `_unpack_stage_packages`); the build runs over them.
        let unpacked = self.unpack_stage_packages(part)?;
        let mut layers = self.build_base.clone();
        let packages = build_packages(&self.project, part);
        if !packages.is_empty() {
            let script = apt_install(&packages);
            let label = format!("{part}:build-packages");
            let started = Instant::now();
            self.say(format_args!("[{label}] run: {}", packages.join(" ")));
            let layer = self.run_container(
                &label,
                self.build_base.clone(),
                vec!["/bin/sh".into(), "-c".into(), format!("set -e\n{script}rm -rf /var/lib/apt/lists/*\n")],
                None,
                Network::Host,
                vec![],
            )?;
            self.say(format_args!("[{label}] done in {:.1}s", started.elapsed().as_secs_f64()));
            self.layers.push((label, layer.clone()));
            layers.push(layer);
        }
        let state = self.parts.get(part).and_then(|s| s.pull.clone());
        layers.extend(state);
        layers.extend(unpacked.clone());
        layers.extend(self.stage_layer.clone());
        let (run_dir, argv) = self.prepare_run(part, Step::Build)?;
        let label = format!("{part}:build");
        // The overlay at CRAFT_OVERLAY, read-only, for parts that see it.
        let view = self.overlay_view(part)?;
        let mounts = view.iter().map(|(_, m)| m.clone()).collect();
        let captured = self.run_container(&label, layers, argv, Some(&run_dir), Network::None, mounts)?;
        drop(view);
        let keep = [format!("root/parts/{part}/build"), format!("root/parts/{part}/install")];
        let built = self.filter_layer(&label, &captured, &keep)?;
        let built = self.with_stage_packages(unpacked.as_ref(), built)?;
        // organize, on the install tree of the build's layer
        let snap = crate::snapshot::snapshot(self.store, &built)?;
        let (mut install, sources) = read_tree(&snap.join(format!("root/parts/{part}/install")))?;
        let mapping = self.project.parts[part].organize.clone();
        organize(part, &mut install, &mapping).map_err(LifecycleError::from)?;
        let dir = self.part_dir(part).join("install");
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(io_err(&dir))?;
        }
        let paths: Vec<String> = install.paths().map(str::to_string).collect();
        materialize(&install, &paths, &sources, &dir)?;
        let prefix = format!("root/parts/{part}/install");
        let layer = self.write_layer(&format!("{part}:install"), &dir, Some(&prefix), IdMode::AsFound)?;
        let st = self.parts.entry(part.to_string()).or_default();
        st.install_layer = Some(layer);
        st.install_dir = dir;
        st.install = Some((install, sources));
        Ok(())
    }

    fn install_of(&self, part: &str) -> (Tree, Sources, PathBuf, Option<LayerInfo>) {
        match self.parts.get(part) {
            Some(PartState { install: Some((t, s)), install_dir, install_layer, .. }) => {
                (t.clone(), s.clone(), install_dir.clone(), install_layer.clone())
            }
            _ => (Tree::new(), Sources::new(), PathBuf::new(), None),
        }
    }

    fn stage(&mut self, part: &str) -> crate::Result<()> {
        // Conflicts between the parts built so far, in lifecycle order.
        let order = strata_frontend_craft::order::order(&self.project).map_err(LifecycleError::from)?;
        let built: Vec<(&str, &strata_frontend_api::Part, &Tree)> = order
            .iter()
            .filter_map(|n| {
                let t = &self.parts.get(n)?.install.as_ref()?.0;
                Some((n.as_str(), &self.project.parts[n], t))
            })
            .collect();
        check_stage_conflicts(&built).map_err(LifecycleError::from)?;
        let (install, sources, install_dir, install_layer) = self.install_of(part);
        let p = self.project.parts[part].clone();
        let install_path = strata_frontend_craft::env::part_dirs(part, &p).install;
        let label = format!("{part}:stage");
        if p.scriptlets.override_stage.is_some() {
            let mut migration = Tree::new();
            let sel = stage_part(part, &p, &install, &mut migration).map_err(LifecycleError::from)?;
            stage_part(part, &p, &install, &mut self.stage).map_err(LifecycleError::from)?;
            let (run_dir, argv) = self.prepare_run(part, Step::Stage)?;
            materialize(&migration, sel.all().iter(), &sources, &run_dir.join("migration"))?;
            hostfs::fix_staged_pkg_config(&run_dir.join("migration"), &mut self.stage, &sel.files, &install_path)?;
            let mut layers = self.build_base.clone();
            layers.extend(install_layer);
            layers.extend(self.stage_layer.clone());
            let captured = self.run_container(&label, layers, argv, Some(&run_dir), Network::None, vec![])?;
            let kept = self.filter_layer(&label, &captured, &["root/stage".to_string()])?;
            let snap = crate::snapshot::snapshot(self.store, &kept)?;
            hostfs::copy_over(&snap.join("root/stage"), &self.stage_dir)?;
        } else {
            let sel = stage_part(part, &p, &install, &mut self.stage).map_err(LifecycleError::from)?;
            let _ = install_dir;
            materialize(&self.stage, sel.all().iter(), &sources, &self.stage_dir)?;
            hostfs::fix_staged_pkg_config(&self.stage_dir, &mut self.stage, &sel.files, &install_path)?;
        }
        let dir = self.stage_dir.clone();
        self.stage_layer = Some(self.write_layer(&label, &dir, Some("root/stage"), IdMode::AsFound)?);
        Ok(())
    }

    fn prime(&mut self, part: &str) -> crate::Result<()> {
        let (install, _, _, install_layer) = self.install_of(part);
        let p = self.project.parts[part].clone();
        let label = format!("{part}:prime");
        let (_, stage_sources) = read_tree(&self.stage_dir)?;
        if p.scriptlets.override_prime.is_some() {
            let mut migration = Tree::new();
            let sel = prime_part(part, &p, &install, &self.stage, &mut migration).map_err(LifecycleError::from)?;
            prime_part(part, &p, &install, &self.stage, &mut self.prime).map_err(LifecycleError::from)?;
            let (run_dir, argv) = self.prepare_run(part, Step::Prime)?;
            materialize(&migration, sel.all().iter(), &stage_sources, &run_dir.join("migration"))?;
            let mut layers = self.build_base.clone();
            layers.extend(install_layer);
            layers.extend(self.stage_layer.clone());
            layers.extend(self.prime_layer.clone());
            let captured = self.run_container(&label, layers, argv, Some(&run_dir), Network::None, vec![])?;
            let kept = self.filter_layer(&label, &captured, &["root/prime".to_string()])?;
            let snap = crate::snapshot::snapshot(self.store, &kept)?;
            hostfs::copy_over(&snap.join("root/prime"), &self.prime_dir)?;
        } else {
            let sel = prime_part(part, &p, &install, &self.stage, &mut self.prime).map_err(LifecycleError::from)?;
            materialize(&self.prime, sel.all().iter(), &stage_sources, &self.prime_dir)?;
        }
        let dir = self.prime_dir.clone();
        self.prime_layer = Some(self.write_layer(&label, &dir, Some("root/prime"), IdMode::AsFound)?);
        Ok(())
    }

    /// The final image: base + the parts' overlay layers + the prime at
    /// `/`, with the project's settings.
    fn pack(mut self, base: Option<(String, Image)>) -> crate::Result<Built> {
        let started = Instant::now();
        self.say(format_args!("[pack] the image"));
        let dir = self.prime_dir.clone();
        let layer = self.write_layer("pack", &dir, None, IdMode::AsFound)?;
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
        let mut builder = match base {
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
                comment: Some(format!("parts: {}", project.parts.keys().cloned().collect::<Vec<_>>().join(", "))),
            })
            .settings(settings)
            .annotation("org.opencontainers.image.title", title);
        if let Some(v) = &version {
            builder = builder.annotation("org.opencontainers.image.version", v.clone());
        }
        let manifest = builder.build(self.store)?;
        self.say(format_args!("[pack] done in {:.1}s", started.elapsed().as_secs_f64()));
        Ok(Built { manifest, name, version, layers: self.layers })
    }
}
