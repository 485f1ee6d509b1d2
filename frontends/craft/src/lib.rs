//! # strata-frontend-craft — craft-parts YAML to the lifecycle IR
//!
//! Reads rockcraft-style project files (`rockcraft.yaml`, `strata.yaml`) and
//! bare `parts:` files into a [`strata_frontend_api::Project`], and holds the
//! semantics of craft-parts 2.37.2 as pure functions over that IR and over
//! file listings ([`tree::Tree`]): nothing here starts a container or reads
//! a layer. The lifecycle runs what these functions describe.
//!
//! | question | module | start at |
//! |---|---|---|
//! | reading a spec, errors with line and column | [`parse`], [`yaml`], [`error`] | [`CraftFrontend`], [`parse::parse_project`] |
//! | plugins: keys, build packages, environment, commands | [`plugins`] | [`plugins::PLUGINS`] |
//! | part order (`after:`), cycles | [`order`] | [`order::order`] |
//! | the action plan ("stage z-lib (required to build 'a-app')") | [`sequencer`] | [`sequencer::Sequencer`] |
//! | stage/prime/overlay filesets, prime inheriting stage | [`fileset`], [`glob`] | [`fileset::select`], [`fileset::effective_prime`] |
//! | organize | [`organize`] | [`organize::organize`] |
//! | stage and prime migration, stage conflicts, permissions | [`migrate`] | [`migrate::stage_part`], [`migrate::check_stage_conflicts`] |
//! | `CRAFT_*` environment, global variable expansion | [`env`](mod@env) | [`env::step_environment`], [`env::expand_globals`] |
//! | the scripts a step runs, `craftctl`, project variables | [`scripts`] | [`scripts::step_run`], [`scripts::CRAFTCTL_SH`] |
//! | paths inside build containers | [`dirs`] | [`dirs::PartDirs`] |
//! | the build graph: vertices per step, their inputs and captures | [`lower`] | [`lower::lower`], [`frontend::SEMANTICS_VERSION`] |
//! | host ops: organize, stage, prime, overlay filter, stage-packages, pruning the prime, run-user | [`hostops`] | [`hostops::run`] |
//! | usrmerged install dirs: which parts, per base, and the scaffolding | [`usrmerge`] | [`usrmerge::usrmerged`] |
//!
//! Deliberate differences from craft-parts are listed in
//! `docs/craft-differences.md`; each is also noted where it is implemented.
//!
//! ## Lowering a craft project (what strata's solver runs)
//!
//! [`CraftFrontend`] implements [`strata_frontend_api::Frontend`]
//! ([`frontend`]): `lower` loads the spec, expands its globals for the
//! machine, applies the base overrides and lowers it ([`lower`]) to a build
//! graph whose vertices name every layer they read; the semantics over file
//! trees are host ops ([`hostops`]) strata runs through `run_host_op`. The
//! steps below are what `src/lifecycle` still does by hand until the solver
//! runs the graph.
//!
//! ## Running a craft project (what the lifecycle does with this crate)
//!
//! 1. `CraftFrontend.load(path)` → `Project` (platform-independent); for the
//!    platform being built, [`env::expand_globals`] with a [`BuildInfo`]
//!    (architectures, parallel build count) gives craft-parts' exact text.
//! 2. [`sequencer::Sequencer`] plans the actions (mark cached steps with
//!    `mark_ran`); [`order::order`] is the part order.
//! 3. For each action, [`scripts::step_run`] says whether it needs a
//!    container and gives the files to mount at `/run/strata` (entrypoint,
//!    `step.sh`, environment, `craftctl`, its default action, project
//!    variables from [`scripts::ProjectVars`]), the argv, and what the
//!    default action copies from ([`scripts::DefaultInput`]).
//!    - pull: fetch the source host-side into `/root/parts/<p>/src` (or, when
//!      the step runs a container, mount it at `/run/strata/source`);
//!      stage-packages are downloaded here.
//!    - overlay: a container over the runtime base; filter its changes with
//!      the part's `overlay` fileset ([`fileset::select`]).
//!    - build: in the build base plus [`scripts::build_packages`]
//!      (`scripts::apt_install`), with the part's pull layer and the stage of
//!      its `after:` parts; unpack stage-packages into the install dir first;
//!      afterwards apply [`organize::organize`] to the captured install tree.
//!    - stage: [`migrate::check_stage_conflicts`] over all parts, then
//!      [`migrate::stage_part`] (and [`migrate::fix_pkg_config`] on staged
//!      `.pc` files); with `override-stage`, mount that migration at
//!      `/run/strata/migration` and run the container instead.
//!    - prime: [`migrate::prime_part`] (permissions included), likewise.
//! 4. After every container step, read `/run/strata/craftctl/{vars,set}`
//!    back with [`scripts::ProjectVars::read_back`], keep it with the cached
//!    result, and pass it to the next step.

use std::path::{Path, PathBuf};

use strata_frontend_api::Project;

pub mod dirs;
pub mod env;
pub mod error;
pub mod fileset;
pub mod frontend;
pub mod glob;
pub mod hostops;
pub mod lower;
pub mod migrate;
pub mod order;
pub mod organize;
pub mod parse;
pub mod plugins;
pub mod scripts;
pub mod sequencer;
pub mod usrmerge;
pub use strata_frontend_api::tree;
pub mod yaml;

#[cfg(test)]
mod testing;

pub use env::BuildInfo;
pub use error::{LoadError, Pos, SpecError};
pub use frontend::SEMANTICS_VERSION;

/// File names this frontend reads without looking inside.
pub const SPEC_FILE_NAMES: &[&str] = &["rockcraft.yaml", "strata.yaml", "parts.yaml"];

/// The craft-parts frontend: `rockcraft.yaml`, `strata.yaml`, `parts.yaml`,
/// or any YAML file with a top-level `parts:` key.
#[derive(Debug, Clone, Copy, Default)]
pub struct CraftFrontend;

impl CraftFrontend {
    /// Parses spec text as if it were the file `spec_file` in `project_dir`.
    pub fn load_str(&self, text: &str, project_dir: &Path, spec_file: &str) -> Result<Project, LoadError> {
        self.load_str_over(text, project_dir, spec_file, None)
    }

    /// [`CraftFrontend::load_str`] with the runtime base replaced
    /// ([`parse::parse_project_over`]).
    pub fn load_str_over(
        &self,
        text: &str,
        project_dir: &Path,
        spec_file: &str,
        base: Option<&str>,
    ) -> Result<Project, LoadError> {
        parse::parse_project_over(text, project_dir, spec_file, base)
            .map_err(|error| LoadError::Spec { file: spec_file.to_string(), error })
    }
}

impl CraftFrontend {
    /// Whether `path` is a craft spec file (by name, or a YAML file with a
    /// top-level `parts:` key).
    pub fn accepts(&self, path: &Path) -> bool {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if SPEC_FILE_NAMES.contains(&name) || name.ends_with(".rockcraft.yaml") {
            return true;
        }
        if !(name.ends_with(".yaml") || name.ends_with(".yml")) {
            return false;
        }
        std::fs::read_to_string(path).is_ok_and(|t| t.lines().any(|l| l.starts_with("parts:")))
    }

    /// Reads the spec file at `path` into a project; errors point at line and column.
    pub fn load(&self, path: &Path) -> Result<Project, LoadError> {
        self.load_over(path, None)
    }

    /// [`CraftFrontend::load`] with the runtime base replaced (`--base`).
    pub fn load_over(&self, path: &Path, base: Option<&str>) -> Result<Project, LoadError> {
        let text = yaml::read_bounded(path, yaml::MAX_SIZE)
            .map_err(|source| LoadError::Io { path: path.to_path_buf(), source })?;
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let project_dir = path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
        let spec_file = path.file_name().and_then(|n| n.to_str()).unwrap_or("rockcraft.yaml").to_string();
        self.load_str_over(&text, &project_dir, &spec_file, base)
    }
}
