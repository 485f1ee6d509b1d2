//! The spk frontend as strata sees it: `*.spk.yaml` files, its options
//! (spk's `-o`, `--variant`, `--new-variant`, `--no-host`; strata's
//! `--strict`, `--spk-provide` and `--test`), its targets (`strata spk
//! make-source|make-binary|test`), lowering, and its host ops.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use strata_frontend_api::graph::{BuildGraph, FrontendId, HostOp};
use strata_frontend_api::packages::Repository;
use strata_frontend_api::{
    Flag, Frontend, FrontendError, FrontendOption, FrontendTarget, HostOpError, HostResult, HostTree, LowerOptions,
};

use crate::lower::{DEFAULT_BASE, Settings, Target, lower};
use crate::variants::{Host, Selection, distro_of, rust_arch};

/// Bumped whenever a vertex would yield other bytes for the same spec.
pub const SEMANTICS_VERSION: u32 = 1;
pub const NAME: &str = "spk";

/// The spk frontend.
pub struct SpkFrontend;

static OPTIONS: &[FrontendOption] = &[
    FrontendOption {
        name: "opt",
        value: "NAME=VALUE",
        repeatable: true,
        help: "an option value (spk's -o): overrides it in every variant and in the template's opt",
        flag: Flag::with_short("opt", 'o'),
    },
    FrontendOption {
        name: "variant",
        value: "N|K=V[,K=V]|JSON",
        repeatable: true,
        help: "build only this variant: its index, or the values it has (spk's --variant)",
        flag: Flag::long("variant"),
    },
    FrontendOption {
        name: "new-variant",
        value: "JSON",
        repeatable: true,
        help: "build this variant instead of the spec's, e.g. '{\"debug\": \"on\"}' (spk's --new-variant)",
        flag: Flag::long("new-variant"),
    },
    FrontendOption {
        name: "no-host",
        value: "",
        repeatable: false,
        help: "leave the host options (os, arch, distro) out (spk's --no-host)",
        flag: Flag::long("no-host"),
    },
    FrontendOption {
        name: "strict",
        value: "",
        repeatable: false,
        help: "refuse keys spk would ignore instead of warning about them",
        flag: Flag::long("strict"),
    },
    FrontendOption {
        name: "spk-provide",
        value: "NAME=DEBIAN-PKG[,...]",
        repeatable: true,
        help: "spk package NAME is these Debian packages of the build base: requirements on it are met by them",
        flag: Flag::long("spk-provide"),
    },
    FrontendOption {
        name: "spk-repo",
        value: "registry://HOST/REPO",
        repeatable: true,
        help: "also resolve dependencies from the packages published to this registry repository (after the store)",
        flag: Flag::long("spk-repo"),
    },
    FrontendOption {
        name: "host-pkg",
        value: "NAME",
        repeatable: true,
        help: "a package the build base provides, unchecked: requirements on it are met without a recipe",
        flag: None,
    },
    FrontendOption {
        name: "test",
        value: "",
        repeatable: false,
        help: "run the spec's install tests after building (what spk users ask `spk build --test` for)",
        flag: Flag::long("test"),
    },
    FrontendOption {
        name: "stage",
        value: "sources|build|install",
        repeatable: true,
        help: "with `strata spk test`: run only this stage's tests (spk test FILE@STAGE)",
        flag: Flag::long("stage"),
    },
    FrontendOption {
        name: "env",
        value: "NAME=VALUE",
        repeatable: true,
        help: "a variable of the template's env (strata passes none of its own)",
        flag: None,
    },
];

static TARGETS: &[FrontendTarget] = &[
    FrontendTarget { name: "make-source", help: "Make the source package only (spk make-source)" },
    FrontendTarget {
        name: "make-binary",
        help: "Make the source package and every selected variant's binary package, no image (spk make-binary)",
    },
    FrontendTarget {
        name: "test",
        help: "Run the spec's tests: the sources, build and install stages, or those given with --stage (spk test)",
    },
];

impl SpkFrontend {
    pub fn id() -> FrontendId {
        FrontendId { name: NAME.into(), semantics: SEMANTICS_VERSION }
    }

    /// What lowering reads from the user's options.
    pub fn settings(opts: &LowerOptions) -> Result<Settings, FrontendError> {
        let pairs = |key: &str| -> Result<BTreeMap<String, String>, FrontendError> {
            let mut m = BTreeMap::new();
            for v in opts.options(key) {
                let (k, val) = v.split_once('=').or_else(|| v.split_once(':')).ok_or_else(|| {
                    FrontendError::new(format!("-X {key}={v}: expected {key}=NAME=VALUE"))
                        .hint(format!("e.g. -X {key}=debug=on"))
                })?;
                m.insert(
                    if key == "opt" { k.trim().to_lowercase() } else { k.trim().to_string() },
                    val.trim().to_string(),
                );
            }
            Ok(m)
        };
        let build_base = opts.build_base.clone().unwrap_or_else(|| DEFAULT_BASE.to_string());
        let base = match opts.base.as_deref() {
            Some("bare") => None,
            Some(b) => Some(b.to_string()),
            None => Some(DEFAULT_BASE.to_string()),
        };
        let host = Host { os: "linux".into(), arch: rust_arch(&opts.arch), distro: distro_of(&build_base) };
        let mut provides = BTreeMap::new();
        for v in opts.options("spk-provide") {
            let (name, debs) = v.split_once('=').ok_or_else(|| {
                FrontendError::new(format!("--spk-provide {v}: expected NAME=DEBIAN-PKG[,DEBIAN-PKG]"))
                    .hint("e.g. --spk-provide gcc=gcc,g++ (the Debian packages must be in the build base)")
            })?;
            let debs: Vec<String> = debs.split(',').map(|d| d.trim().to_string()).filter(|d| !d.is_empty()).collect();
            if debs.is_empty() || !crate::spec::valid_pkg_name(name.trim()) {
                return Err(FrontendError::new(format!("--spk-provide {v}: expected NAME=DEBIAN-PKG[,DEBIAN-PKG]"))
                    .hint("NAME is an spk package name; the Debian packages are comma-separated"));
            }
            provides.insert(name.trim().to_string(), debs);
        }
        let target = match opts.target.as_deref() {
            None => None,
            Some("make-source") => Some(Target::Source),
            Some("make-binary") => Some(Target::Binary),
            Some("test") => Some(Target::Test),
            Some(other) => return Err(FrontendError::new(format!("the spk frontend makes no '{other}'"))),
        };
        Ok(Settings {
            selection: Selection {
                overrides: pairs("opt")?,
                variants: opts.options("variant").into_iter().map(str::to_string).collect(),
                new_variants: opts.options("new-variant").into_iter().map(str::to_string).collect(),
                no_host: opts.flag("no-host"),
            },
            host_pkgs: opts
                .options("host-pkg")
                .iter()
                .flat_map(|v| v.split(','))
                .map(|s| s.trim().to_string())
                .collect(),
            provides,
            target,
            run_tests: opts.flag("test"),
            stages: stages(opts)?,
            strict: opts.flag("strict"),
            env: pairs("env")?,
            build_base,
            base,
            host,
            repositories: repositories(opts)?,
            packages: opts.packages.clone(),
            image_variant: opts.image_variant,
        })
    }
}

/// The store, then each `--spk-repo`.
fn repositories(opts: &LowerOptions) -> Result<Vec<Repository>, FrontendError> {
    let mut repos = vec![Repository::Store];
    for r in opts.options("spk-repo") {
        let repo = Repository::parse(r).map_err(|e| FrontendError::new(format!("--spk-repo {r}: {e}")))?;
        if !repos.contains(&repo) {
            repos.push(repo);
        }
    }
    Ok(repos)
}

/// The test stages `--stage` asks for (none: all).
fn stages(opts: &LowerOptions) -> Result<Vec<String>, FrontendError> {
    opts.options("stage")
        .into_iter()
        .map(|st| match st {
            "sources" | "build" | "install" => Ok(st.to_string()),
            _ => Err(FrontendError::new(format!("--stage {st}: spk's test stages are sources, build and install"))),
        })
        .collect()
}

/// Whether `path` names an spk spec.
fn is_spec(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n.to_string_lossy().ends_with(".spk.yaml"))
}

impl Frontend for SpkFrontend {
    fn name(&self) -> &'static str {
        NAME
    }

    fn semantics_version(&self) -> u32 {
        SEMANTICS_VERSION
    }

    /// A `*.spk.yaml` file, or a directory holding exactly one.
    fn locate(&self, path: &Path) -> Option<PathBuf> {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .ok()?
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file() && is_spec(p))
                .collect();
            return (found.len() == 1).then(|| found.remove(0));
        }
        (path.is_file() && is_spec(path)).then(|| path.to_path_buf())
    }

    fn options(&self) -> &'static [FrontendOption] {
        OPTIONS
    }

    fn targets(&self) -> &'static [FrontendTarget] {
        TARGETS
    }

    fn has_packages(&self) -> bool {
        true
    }

    fn lower(&self, spec: &Path, opts: &LowerOptions) -> Result<BuildGraph, FrontendError> {
        let settings = SpkFrontend::settings(opts)?;
        let (mut graph, warnings) = lower(spec, &settings, SpkFrontend::id())?;
        // spk has no secrets: the source scripts, the build script and the tests get them.
        graph.give_secrets(&opts.secrets, |v| matches!(v.step.as_str(), "source" | "build" | "test"));
        for w in &warnings {
            eprintln!("{w}");
        }
        Ok(graph)
    }

    fn run_host_op(&self, op: &HostOp, inputs: &[HostTree<'_>]) -> Result<Vec<HostResult>, HostOpError> {
        crate::hostops::run(op, inputs)
    }

    fn shell_command(&self, _group: &str, _step: &str, argv: &[String]) -> (Vec<String>, Option<String>) {
        let mut v = vec![
            "/bin/sh".to_string(),
            "-c".into(),
            "for f in /spfs/etc/spfs/startup.d/*.sh; do [ -e \"$f\" ] && . \"$f\"; done; exec \"$@\"".into(),
            "strata-shell".into(),
        ];
        if argv.is_empty() {
            v.extend(["/bin/sh".to_string(), "-c".into(), "command -v bash >/dev/null && exec bash || exec sh".into()]);
        } else {
            v.extend(argv.iter().cloned());
        }
        (v, Some("/spfs".into()))
    }
}
