//! The contract between strata and its frontends (craft-parts YAML, spk,
//! Guix): the build graph every frontend lowers its spec to ([`graph`]),
//! the [`Frontend`] trait, and file trees ([`tree`]) that host ops work on.
//! Frontends know nothing of containers, stores or executors (DESIGN.md §2).
//!
//! | concept | type |
//! |---|---|
//! | the build graph (IR version 2): vertices, ops, outputs, the image | [`graph::BuildGraph`], [`graph::Op`] |
//! | a frontend: locate, lower, run its host ops | [`Frontend`] |
//! | a spec error with file, line, column and a hint | [`FrontendError`] |
//! | a file listing host ops read and return | [`tree::Tree`] |
//! | what a build is made of, for SBOMs and provenance (in no key) | [`metadata::Metadata`] |
//! | package builds a graph publishes, and looking packages up while lowering | [`packages::PackageSpec`], [`packages::PackageIndex`] |
//!
//! Below: the craft project model (craft-parts' schema), which the craft
//! frontend reads specs into before lowering them. It stays here while
//! `src/lifecycle` still runs it; it moves into `frontends/craft` when the
//! lifecycle runs the graph.
//!
//! | concept | type |
//! |---|---|
//! | a lifecycle step and its order | [`Step`] |
//! | a project: image settings, bases, platforms, parts | [`Project`] |
//! | a part: source, plugin build plan, filesets, scriptlets | [`Part`] |
//! | what a plugin contributes to the build step | [`BuildPlan`] |
//! | a planned lifecycle action ("stage z-lib (required to build 'a-app')") | [`Action`] |
//!
//! Everything here is plain data: ordered containers only (`Vec`, `BTreeMap`),
//! no `HashMap`, no host state, so `serde_json` of a value is canonical
//! enough to hash for cache keys. [`IR_VERSION`] changes whenever the shape
//! or the meaning of a field changes, so keys computed over an older IR never
//! match a newer one.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

mod bounded;
pub mod frontend;
pub mod graph;
pub mod metadata;
pub mod packages;
pub mod tree;

pub use bounded::read_bounded;
pub use frontend::{
    Flag, Frontend, FrontendError, FrontendOption, FrontendTarget, HostOpError, HostResult, HostTree, LowerOptions,
    ReadFile, check_frontend_options, debian_arch, parse_frontend_option,
};
pub use graph::IR_VERSION;

/// A lifecycle step, in craft-parts order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    Pull,
    Overlay,
    Build,
    Stage,
    Prime,
}

impl Step {
    pub const ALL: [Step; 5] = [Step::Pull, Step::Overlay, Step::Build, Step::Stage, Step::Prime];

    pub fn name(self) -> &'static str {
        match self {
            Step::Pull => "pull",
            Step::Overlay => "overlay",
            Step::Build => "build",
            Step::Stage => "stage",
            Step::Prime => "prime",
        }
    }

    /// The steps that must run before this one, for the same part.
    pub fn previous(self) -> &'static [Step] {
        let i = Step::ALL.iter().position(|s| *s == self).expect("every step is in ALL");
        &Step::ALL[..i]
    }

    /// The steps that come after this one, for the same part.
    pub fn next(self) -> &'static [Step] {
        let i = Step::ALL.iter().position(|s| *s == self).expect("every step is in ALL");
        &Step::ALL[i + 1..]
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Step {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Step::ALL
            .into_iter()
            .find(|st| st.name() == s)
            .ok_or_else(|| format!("unknown step '{s}' (expected pull, overlay, build, stage or prime)"))
    }
}

/// One project: a spec file, the directory it lives in, and everything the
/// lifecycle needs to build an image from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    /// Always [`IR_VERSION`] for values built by this crate's version.
    pub ir_version: u32,
    /// The frontend that produced this value (`"craft"`, ...).
    pub frontend: String,
    /// `CRAFT_PROJECT_NAME`; `None` for a bare `parts:` file.
    pub name: Option<String>,
    pub title: Option<String>,
    /// The initial value of the `version` project variable; a part named by
    /// `adopt_info` may set it with `craftctl set version=...`.
    pub version: Option<String>,
    pub summary: Option<String>,
    pub description: Option<String>,
    pub license: Option<String>,
    /// The runtime base of the final image (and of the overlay step).
    pub base: Base,
    /// The image build steps run in (an image reference). Always set: the
    /// frontend resolves its default.
    pub build_base: String,
    /// Platform name → where it builds and what it builds for (Debian
    /// architecture names). Empty: build on and for the host.
    pub platforms: BTreeMap<String, Platform>,
    /// The part allowed to set project variables (`craftctl set`).
    pub adopt_info: Option<String>,
    /// Clamp for mtimes and `created` fields (DESIGN.md §5), from the spec.
    pub source_date_epoch: Option<i64>,
    /// Settings of the final image config.
    pub image: ImageSettings,
    /// The host directory the spec file lives in (`/root/project` inside
    /// build containers). Local sources are relative to it. This is a host
    /// path: cache keys should digest source contents, not this path.
    pub project_dir: PathBuf,
    /// The spec file's name inside `project_dir`.
    pub spec_file: String,
    /// The parts, by name. Iteration order is by name; the lifecycle order
    /// (`after:`) is computed by the frontend's planner.
    pub parts: BTreeMap<String, Part>,
}

/// The runtime base of the final image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Base {
    /// An empty root filesystem (rockcraft's `base: bare`).
    Bare,
    /// An image reference, resolved by the store or a registry.
    Image(String),
}

/// Where a platform builds and what it builds for (Debian architectures).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub build_on: Vec<String>,
    pub build_for: Vec<String>,
}

/// Settings of the final image's config (OCI image-spec `config`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageSettings {
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    /// `NAME=value` pairs, in spec order.
    pub environment: Vec<(String, String)>,
    pub labels: BTreeMap<String, String>,
    pub user: Option<String>,
    pub working_dir: Option<String>,
    /// Exposed ports, normalized to `port/proto` (`8080/tcp`), in spec order.
    pub ports: Vec<String>,
    /// rockcraft's `run-user`: a shared user (`_daemon_`) the frontend adds
    /// to the image's `/etc/passwd` and `/etc/group` and runs the image as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_user: Option<String>,
}

/// A named component of a project (craft-parts term).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// The plugin name (`dump`, `make`, ...).
    pub plugin: String,
    /// The plugin's own keys as written (`make-parameters`, ...), for
    /// display and keying; their effect is already in `build_plan`.
    pub plugin_options: BTreeMap<String, OptionValue>,
    /// What the plugin does in the pull and build steps.
    pub build_plan: BuildPlan,
    pub source: Option<Source>,
    /// Parts that must be staged before this part builds.
    pub after: Vec<String>,
    pub disable_parallel: bool,
    /// Debian packages installed in the build base before the build step
    /// (the part's own; the plugin's are in `build_plan`).
    pub build_packages: Vec<String>,
    /// Debian packages unpacked into the part's install dir.
    pub stage_packages: Vec<String>,
    /// Debian packages installed in the overlay (runtime base).
    pub overlay_packages: Vec<String>,
    /// Which files of the part's overlay layer are kept.
    pub overlay: Fileset,
    /// `NAME=value` pairs exported in every step of this part, in order.
    pub build_environment: Vec<(String, String)>,
    pub build_attributes: Vec<String>,
    /// `from → to` pairs as written; applied explicit keys first, then globs.
    pub organize: Vec<(String, String)>,
    pub stage: Fileset,
    pub prime: Fileset,
    /// User scriptlets replacing a step's default action.
    pub scriptlets: Scriptlets,
    /// Ownership and modes applied when priming.
    pub permissions: Vec<Permission>,
}

/// A `nil` part with every fileset `*` and nothing else set: what a spec
/// that names only a part's plugin as `nil` means.
impl Default for Part {
    fn default() -> Part {
        Part {
            plugin: "nil".into(),
            plugin_options: BTreeMap::new(),
            build_plan: BuildPlan::default(),
            source: None,
            after: vec![],
            disable_parallel: false,
            build_packages: vec![],
            stage_packages: vec![],
            overlay_packages: vec![],
            overlay: Fileset::all(),
            build_environment: vec![],
            build_attributes: vec![],
            organize: vec![],
            stage: Fileset::all(),
            prime: Fileset::all(),
            scriptlets: Scriptlets::default(),
            permissions: vec![],
        }
    }
}

/// A plugin option value: every plugin key is one of these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OptionValue {
    Bool(bool),
    String(String),
    List(Vec<String>),
}

/// What a plugin contributes to a part's lifecycle, already resolved to
/// shell lines with container paths (craft-parts' plugin API:
/// `get_build_commands`, `get_build_environment`, `get_build_packages`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildPlan {
    /// Commands run after the source is pulled (cwd: the source subdir).
    pub pull_commands: Vec<String>,
    /// Commands of the build step's default action (cwd: the build subdir).
    pub build_commands: Vec<String>,
    /// Exported before the part's `build_environment` in the build step.
    pub environment: Vec<(String, String)>,
    /// Debian packages the plugin needs in the build base.
    pub build_packages: Vec<String>,
    /// Snaps craft-parts would install; strata has no snapd, so the
    /// frontend maps them to packages or errors, and this stays empty
    /// unless a future build base provides snaps.
    pub build_snaps: Vec<String>,
    /// Commands the build environment must provide (`go`, `meson`, ...),
    /// checked before the build like craft-parts' environment validators.
    pub required_commands: Vec<RequiredCommand>,
    /// Whether the plugin builds out of the source tree (cmake, meson): then
    /// the build dir is not a copy of the source dir.
    pub out_of_source: bool,
}

/// A command the build environment must provide, as craft-parts'
/// plugin environment validators check it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequiredCommand {
    /// The command, run as `<command> <args>` in the build environment.
    pub command: String,
    pub args: String,
    /// A part that, when listed in `after:`, may provide the command instead.
    pub provided_by_part: String,
    /// What to tell the user when it is missing.
    pub hint: String,
}

/// Where a part's source comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub kind: SourceKind,
    /// A URL, or a path relative to the project directory.
    pub location: String,
    /// `algorithm/hexdigest` (craft-parts' `source-checksum`).
    pub checksum: Option<String>,
    pub branch: Option<String>,
    pub tag: Option<String>,
    pub commit: Option<String>,
    /// Git history depth; 0 is the full history.
    pub depth: u32,
    /// Git submodules to fetch; `None` fetches all of them.
    pub submodules: Option<Vec<String>>,
    /// The subdirectory the build runs in (`source-subdir`).
    pub subdir: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Local,
    Tar,
    Zip,
    Git,
    File,
    Deb,
}

impl SourceKind {
    pub fn name(self) -> &'static str {
        match self {
            SourceKind::Local => "local",
            SourceKind::Tar => "tar",
            SourceKind::Zip => "zip",
            SourceKind::Git => "git",
            SourceKind::File => "file",
            SourceKind::Deb => "deb",
        }
    }
}

/// A list of paths to include and, prefixed with `-`, to exclude
/// (craft-parts filesets: `stage`, `prime`, `overlay`). The default is `*`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fileset {
    pub entries: Vec<String>,
}

impl Fileset {
    pub fn new<S: Into<String>>(entries: impl IntoIterator<Item = S>) -> Fileset {
        Fileset { entries: entries.into_iter().map(Into::into).collect() }
    }

    /// `["*"]`: everything.
    pub fn all() -> Fileset {
        Fileset::new(["*"])
    }

    pub fn is_all(&self) -> bool {
        self.entries.len() == 1 && self.entries[0] == "*"
    }

    /// Entries without a leading `-` (a leading `\` escapes a `-`).
    pub fn includes(&self) -> Vec<&str> {
        self.entries.iter().filter(|e| !e.starts_with('-')).map(|e| e.strip_prefix('\\').unwrap_or(e)).collect()
    }

    /// Entries with a leading `-`, without it.
    pub fn excludes(&self) -> Vec<&str> {
        self.entries.iter().filter_map(|e| e.strip_prefix('-')).collect()
    }
}

impl Default for Fileset {
    fn default() -> Fileset {
        Fileset::all()
    }
}

/// User scriptlets (`override-*`, `overlay-script`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scriptlets {
    pub override_pull: Option<String>,
    /// Runs after overlay packages are installed, with `craftctl`.
    pub overlay_script: Option<String>,
    /// Runs inside the overlay root (craft-parts' chroot), without `craftctl`
    /// other than `craftctl default`.
    pub override_overlay: Option<String>,
    pub override_build: Option<String>,
    pub override_stage: Option<String>,
    pub override_prime: Option<String>,
}

impl Scriptlets {
    /// The scriptlet replacing `step`'s default action, if any.
    pub fn for_step(&self, step: Step) -> Option<&str> {
        match step {
            Step::Pull => self.override_pull.as_deref(),
            Step::Overlay => self.overlay_script.as_deref().or(self.override_overlay.as_deref()),
            Step::Build => self.override_build.as_deref(),
            Step::Stage => self.override_stage.as_deref(),
            Step::Prime => self.override_prime.as_deref(),
        }
    }
}

/// Ownership and mode for primed paths matching `path` (an fnmatch pattern
/// where `*` also matches `/`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permission {
    pub path: String,
    pub owner: Option<u32>,
    pub group: Option<u32>,
    /// Permission bits (`0o755`).
    pub mode: Option<u32>,
}

/// What a planned action does with its step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    /// Run the step.
    Run,
    /// Clean the step (and the later ones) and run it again.
    Rerun,
    /// The step already ran and is up to date.
    Skip,
    /// Update the step's results in place (outdated sources).
    Update,
    /// Re-apply an overlay layer whose lower layers changed.
    Reapply,
}

impl ActionKind {
    pub fn name(self) -> &'static str {
        match self {
            ActionKind::Run => "run",
            ActionKind::Rerun => "rerun",
            ActionKind::Skip => "skip",
            ActionKind::Update => "update",
            ActionKind::Reapply => "reapply",
        }
    }
}

/// One planned lifecycle action, with why it is there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    pub part: String,
    pub step: Step,
    pub kind: ActionKind,
    /// `already ran`, `required to build 'a-app'`, ...
    pub reason: Option<String>,
}

/// Formats like craft-parts' action listings (and the conformance cases'
/// `expected-actions.txt`): `stage    run     z-lib (required to build 'a-app')`.
impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:8} {:7} {}", self.step.name(), self.kind.name(), self.part)?;
        if let Some(reason) = &self.reason {
            write!(f, " ({reason})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_run_in_craft_parts_order() {
        assert_eq!(Step::Build.previous(), &[Step::Pull, Step::Overlay]);
        assert_eq!(Step::Build.next(), &[Step::Stage, Step::Prime]);
        assert_eq!("prime".parse::<Step>().unwrap(), Step::Prime);
        assert!("pack".parse::<Step>().is_err());
    }

    #[test]
    fn actions_print_like_craft_parts() {
        let a = Action {
            part: "z-lib".into(),
            step: Step::Stage,
            kind: ActionKind::Run,
            reason: Some("required to build 'a-app'".into()),
        };
        assert_eq!(a.to_string(), "stage    run     z-lib (required to build 'a-app')");
        let b = Action { part: "files".into(), step: Step::Pull, kind: ActionKind::Skip, reason: None };
        assert_eq!(b.to_string(), "pull     skip    files");
    }

    #[test]
    fn filesets_split_includes_and_excludes() {
        let f = Fileset::new(["usr", "-usr/lib/*.a", "\\-odd"]);
        assert_eq!(f.includes(), ["usr", "-odd"]);
        assert_eq!(f.excludes(), ["usr/lib/*.a"]);
        assert!(Fileset::default().is_all());
    }

    #[test]
    fn scriptlets_pick_overlay_script_first() {
        let s = Scriptlets { override_overlay: Some("b".into()), ..Default::default() };
        assert_eq!(s.for_step(Step::Overlay), Some("b"));
        assert_eq!(s.for_step(Step::Build), None);
    }
}
