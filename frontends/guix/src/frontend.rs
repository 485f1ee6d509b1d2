//! [`GuixFrontend`]: which files it reads (`*.scm`), its `-X` options, and
//! which package of the file it builds: `-X package=NAME` (a variable or a
//! package name), else the last package the file defines, as
//! `guix build -f` takes the file's last value. Every other `.scm` file of
//! the directory is read too, so inputs defined there are built first.

use std::fs;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use strata_frontend_api::frontend::{Flag, FrontendOption};
use strata_frontend_api::graph::{BuildGraph, FrontendId, HostOp};
use strata_frontend_api::{Frontend, FrontendError, HostOpError, HostResult, HostTree, LowerOptions};

use crate::eval::record::Package;
use crate::eval::{Evaluator, Target};
use crate::lower::{Lowering, Settings};

/// The Guix frontend.
pub struct GuixFrontend;

/// The default build and runtime base.
pub const DEFAULT_BASE: &str = "debian:bookworm";

const OPTIONS: &[FrontendOption] = &[
    FrontendOption {
        name: "package",
        value: "NAME",
        repeatable: false,
        help: "the package to build (default: the last one the file defines)",
        flag: Flag::long("package"),
    },
    FrontendOption {
        name: "mirror",
        value: "KIND=URL",
        repeatable: true,
        help: "a base URL for mirror://KIND/ (before the built-in ones)",
        flag: Flag::long("mirror"),
    },
    FrontendOption {
        name: "source-cache",
        value: "DIR",
        repeatable: true,
        help: "a directory of source files used instead of downloading when their sha256 matches",
        flag: Flag::long("source-cache"),
    },
    FrontendOption {
        name: "patch-path",
        value: "DIR",
        repeatable: true,
        help: "a directory search-patches looks in, after the definition's own and its patches/",
        flag: None,
    },
    FrontendOption {
        name: "strict",
        value: "",
        repeatable: false,
        help: "a substitute* that matches nothing fails the phase",
        flag: Flag::long("strict"),
    },
    FrontendOption {
        name: "symlink",
        value: "LINK=TARGET",
        repeatable: true,
        help: "a symlink in the image to TARGET in the out output (guix pack -S: /bin/hello=bin/hello)",
        flag: None,
    },
    FrontendOption {
        name: "debian",
        value: "NAME=PKG[,PKG]",
        repeatable: true,
        help: "map Guix input NAME to these Debian packages",
        flag: None,
    },
];

/// Guix's system name for a Debian architecture.
fn guix_system(arch: &str) -> String {
    let cpu = match arch {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        "armhf" => "armhf",
        "i386" => "i686",
        "ppc64el" => "powerpc64le",
        other => other,
    };
    format!("{cpu}-linux")
}

impl GuixFrontend {
    /// Reads `spec` and its neighbours and picks the package to build.
    pub fn evaluate(spec: &Path, opts: &LowerOptions) -> Result<(Evaluator, Rc<Package>), FrontendError> {
        let mut ev = Evaluator::new(Target { system: guix_system(&opts.arch) });
        let text = crate::reader::read_bounded(spec, crate::reader::MAX_SIZE)
            .map_err(|e| FrontendError::new(format!("cannot read: {e}")).in_file(spec))?;
        ev.load(spec, &text, true)?;
        let dir = spec.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let mut others: Vec<PathBuf> =
            fs::read_dir(dir).map(|rd| rd.flatten().map(|e| e.path()).collect()).unwrap_or_default();
        others
            .retain(|p| p.extension().is_some_and(|x| x == "scm") && p.file_name() != spec.file_name() && p.is_file());
        others.sort();
        for f in &others {
            let t = crate::reader::read_bounded(f, crate::reader::MAX_SIZE)
                .map_err(|e| FrontendError::new(format!("cannot read: {e}")).in_file(f))?;
            ev.load(f, &t, false)?;
        }
        let p = pick(&ev, spec, opts.option("package"))?;
        Ok((ev, p))
    }
}

fn pick(ev: &Evaluator, spec: &Path, wanted: Option<&str>) -> Result<Rc<Package>, FrontendError> {
    let get = |n: &str| ev.package(n).map_err(|e| e.into_frontend());
    match wanted {
        Some(name) => {
            if ev.is_defined(name)
                && let Some(p) = get(name)?
            {
                return Ok(p);
            }
            let mut names = ev.names_in(spec);
            names.extend(ev.all_names().into_iter().filter(|n| ev.file_of(n) != Some(spec)));
            for n in &names {
                if let Some(p) = get(n)?
                    && p.name == name
                {
                    return Ok(p);
                }
            }
            Err(FrontendError::new(format!("no package '{name}' in {} or its directory", spec.display()))
                .in_file(spec)
                .hint(format!("the definitions are: {}", ev.names_in(spec).join(" "))))
        }
        None => {
            for n in ev.names_in(spec).iter().rev() {
                if let Some(p) = get(n)? {
                    return Ok(p);
                }
            }
            Err(FrontendError::new("the file defines no package")
                .in_file(spec)
                .hint("define one with (define-public NAME (package …))"))
        }
    }
}

impl Frontend for GuixFrontend {
    fn name(&self) -> &'static str {
        "guix"
    }

    fn semantics_version(&self) -> u32 {
        1
    }

    fn locate(&self, path: &Path) -> Option<PathBuf> {
        (path.is_file() && path.extension().is_some_and(|x| x == "scm")).then(|| path.to_path_buf())
    }

    fn options(&self) -> &'static [FrontendOption] {
        OPTIONS
    }

    fn lower(&self, spec: &Path, opts: &LowerOptions) -> Result<BuildGraph, FrontendError> {
        if !opts.secrets.is_empty() {
            return Err(FrontendError::new(format!(
                "--secret {}: a Guix build has no secrets: its phases see only their inputs, and what they \
                 fetch is an origin checked against its hash",
                opts.secrets.join(", ")
            ))
            .in_file(spec)
            .hint("fetch a private origin beforehand into a directory and give it with `-X source-cache=DIR`"));
        }
        let (ev, p) = GuixFrontend::evaluate(spec, opts)?;
        let dir = spec.parent().unwrap_or(Path::new("."));
        let settings = Settings {
            build_base: opts.build_base.clone().unwrap_or_else(|| DEFAULT_BASE.into()),
            base: match opts.base.as_deref() {
                Some("bare") => None,
                Some(b) => Some(b.to_string()),
                None => Some(DEFAULT_BASE.into()),
            },
            system: ev.target.system.clone(),
            parallelism: opts.parallelism,
            strict: opts.flag("strict"),
            mirrors: opts.options("mirror").into_iter().map(str::to_string).collect(),
            caches: opts.options("source-cache").into_iter().map(|d| dir.join(d)).collect(),
            added: opts.added_sources.clone(),
            patch_path: opts.options("patch-path").into_iter().map(|d| dir.join(d)).collect(),
            debian: opts.options("debian").into_iter().map(str::to_string).collect(),
            symlinks: opts.options("symlink").into_iter().map(str::to_string).collect(),
        };
        let graph = BuildGraph::new(FrontendId { name: self.name().into(), semantics: self.semantics_version() });
        let mut l = Lowering::new(graph, settings);
        let outs = l.package(&p)?;
        l.image(&p, &outs);
        Ok(l.graph)
    }

    fn run_host_op(&self, op: &HostOp, inputs: &[HostTree<'_>]) -> Result<Vec<HostResult>, HostOpError> {
        crate::hostops::run(op, inputs)
    }

    /// The phase's saved environment and directory, then `argv` or a shell.
    fn shell_command(&self, _group: &str, _step: &str, argv: &[String]) -> (Vec<String>, Option<String>) {
        let mut v = vec![
            "/bin/sh".to_string(),
            "-c".into(),
            ". /strata/state/environ.sh 2>/dev/null; cd \"$(cat /strata/state/cwd 2>/dev/null || echo /)\"; exec \"$@\"".into(),
            "strata-shell".into(),
        ];
        if argv.is_empty() {
            v.extend(["/bin/sh".to_string(), "-c".into(), "command -v bash >/dev/null && exec bash || exec sh".into()]);
        } else {
            v.extend(argv.iter().cloned());
        }
        (v, None)
    }
}

#[cfg(test)]
mod tests;
