//! The craft frontend as strata sees it ([`strata_frontend_api::Frontend`]):
//! which files it reads, lowering one to a graph ([`crate::lower`]), and
//! running its host ops ([`crate::hostops`]).

use std::path::{Path, PathBuf};

use strata_frontend_api::graph::{BuildGraph, FrontendId, HostOp};
use strata_frontend_api::{Frontend, FrontendError, HostOpError, HostResult, HostTree, LowerOptions};

use crate::dirs::{CRAFTCTL_DIR, PARTS_DIR};
use crate::env::{BuildInfo, expand_globals};
use crate::lower::{LowerError, lower};
use crate::{CraftFrontend, LoadError, SPEC_FILE_NAMES};

/// The version of the craft frontend's semantics, in every key of its
/// graphs. Bump it whenever a vertex it lowers would yield other bytes for
/// the same spec: a changed script (`scripts`, `env`, `craftctl.sh`), a
/// changed host op (organize, stage, prime, the overlay filter, the
/// stage-packages' verification and normalisation), another capture.
pub const SEMANTICS_VERSION: u32 = 1;

/// The frontend's name, in every key.
pub const NAME: &str = "craft";

impl CraftFrontend {
    /// The id its graphs carry.
    pub fn id() -> FrontendId {
        FrontendId { name: NAME.into(), semantics: SEMANTICS_VERSION }
    }
}

impl From<LoadError> for FrontendError {
    fn from(e: LoadError) -> FrontendError {
        match e {
            LoadError::Io { path, source } => {
                FrontendError::new(format!("cannot read {}: {source}", path.display())).in_file(path)
            }
            LoadError::Spec { file, error } => {
                FrontendError::new(error.message).at(file, error.pos.line, error.pos.col).hint(error.help)
            }
        }
    }
}

impl From<LowerError> for FrontendError {
    fn from(e: LowerError) -> FrontendError {
        FrontendError::new(e.to_string())
    }
}

impl Frontend for CraftFrontend {
    fn name(&self) -> &'static str {
        NAME
    }

    fn semantics_version(&self) -> u32 {
        SEMANTICS_VERSION
    }

    fn locate(&self, path: &Path) -> Option<PathBuf> {
        if path.is_dir() {
            return SPEC_FILE_NAMES.iter().map(|n| path.join(n)).find(|p| p.is_file());
        }
        (path.is_file() && self.accepts(path)).then(|| path.to_path_buf())
    }

    fn lower(&self, spec: &Path, opts: &LowerOptions) -> Result<BuildGraph, FrontendError> {
        let info = BuildInfo {
            arch_build_on: opts.arch.clone(),
            arch_build_for: opts.arch.clone(),
            parallel_build_count: opts.parallelism,
        };
        let mut project = self.load_over(spec, opts.base.as_deref())?;
        if let Some(b) = &opts.build_base {
            project.build_base = b.clone();
        }
        // The bases first: `CRAFT_OVERLAY` and the overlay scripts depend on them.
        let project = expand_globals(&project, &info);
        let file = project.project_dir.join(&project.spec_file);
        let mut graph =
            lower(&project, &info, CraftFrontend::id()).map_err(|e| FrontendError::from(e).in_file(file))?;
        // parts YAML has no word for secrets: the steps that fetch and
        // compile get them (as a rockcraft user's `override-build` would
        // read a token), stage and prime never do.
        graph.give_secrets(&opts.secrets, |v| matches!(v.step.as_str(), "pull" | "overlay" | "build"));
        Ok(graph)
    }

    fn run_host_op(&self, op: &HostOp, inputs: &[HostTree<'_>]) -> Result<Vec<HostResult>, HostOpError> {
        crate::hostops::run(op, inputs)
    }

    /// The step's environment sourced first (`CRAFT_*`, the plugin's), then
    /// `argv` or bash (sh where the base has no bash), in the part's source
    /// dir for pull and its build dir otherwise.
    fn shell_command(&self, part: &str, step: &str, argv: &[String]) -> (Vec<String>, Option<String>) {
        let mut v = vec![
            "/bin/sh".to_string(),
            "-c".into(),
            format!(". {CRAFTCTL_DIR}/environment.sh 2>/dev/null; exec \"$@\""),
            "strata-shell".into(),
        ];
        if argv.is_empty() {
            v.extend(["/bin/sh".to_string(), "-c".into(), "command -v bash >/dev/null && exec bash || exec sh".into()]);
        } else {
            v.extend(argv.iter().cloned());
        }
        let dir = if step == "pull" { "src" } else { "build" };
        (v, Some(format!("{PARTS_DIR}/{part}/{dir}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_errors_keep_their_file_line_column_and_hint() {
        let err =
            CraftFrontend.load_str("parts:\n  a:\n    plugn: nil\n", Path::new("/p"), "rockcraft.yaml").unwrap_err();
        let e = FrontendError::from(err);
        assert_eq!(e.file.as_deref(), Some(Path::new("rockcraft.yaml")));
        assert_eq!(e.pos.map(|(l, _)| l), Some(3));
        assert!(e.hint.is_some(), "{e}");
    }

    #[test]
    fn it_finds_a_spec_in_a_directory_and_lowers_it_with_the_overrides() {
        let d = std::env::temp_dir().join(format!("strata-craft-frontend-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("rockcraft.yaml"),
            "name: t\nbase: bare\nbuild-base: debian:bookworm\nparts:\n  a:\n    plugin: nil\n",
        )
        .unwrap();
        let f: &dyn Frontend = &CraftFrontend;
        let spec = f.locate(&d).expect("rockcraft.yaml is found");
        assert_eq!(f.locate(&d.join("nothing.txt")), None);
        let opts = LowerOptions {
            base: Some("ubuntu:24.04".into()),
            ..LowerOptions { arch: "amd64".into(), ..LowerOptions::host(2) }
        };
        let g = f.lower(&spec, &opts).unwrap();
        assert_eq!(g.frontend, CraftFrontend::id());
        assert_eq!(g.image.unwrap().base.as_deref(), Some("ubuntu:24.04"), "the base override applies");
        std::fs::remove_dir_all(&d).unwrap();
    }
    #[test]
    fn secrets_go_to_the_steps_that_fetch_and_compile_and_nowhere_else() {
        let d = std::env::temp_dir().join(format!("strata-craft-secrets-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let spec = d.join("rockcraft.yaml");
        std::fs::write(&spec, "name: t\nbase: bare\nbuild-base: debian:bookworm\nparts:\n  a:\n    plugin: nil\n")
            .unwrap();
        let opts = LowerOptions { secrets: vec!["token".into()], ..LowerOptions::host(2) };
        let g = CraftFrontend.lower(&spec, &opts).unwrap();
        let mut asked: Vec<(&str, bool)> = Vec::new();
        for v in &g.vertices {
            if let strata_frontend_api::graph::Op::Exec(e) = &v.op {
                asked.push((v.step.as_str(), e.secrets == ["token"]));
            }
        }
        assert!(asked.iter().any(|(s, _)| *s == "build"), "{asked:?}");
        for (step, has) in &asked {
            assert_eq!(*has, matches!(*step, "pull" | "overlay" | "build"), "{step}: {asked:?}");
        }
        let plain = CraftFrontend.lower(&spec, &LowerOptions::host(2)).unwrap();
        assert!(plain.vertices.iter().all(|v| match &v.op {
            strata_frontend_api::graph::Op::Exec(e) => e.secrets.is_empty(),
            _ => true,
        }));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
