//! What a frontend is to strata: it recognises its spec files, lowers one to
//! a [`BuildGraph`], and runs its own [`HostOp`]s over file listings.
//! Nothing else: no containers, stores or executors (DESIGN.md §2).
//!
//! `trait Frontend` is object-safe, so strata's frontend registry holds
//! `&'static dyn Frontend`s and picks one by asking each whether it reads a
//! path.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::graph::{BuildGraph, HostOp};
use crate::tree::Tree;

/// What lowering may depend on besides the spec: the machine and the
/// user's overrides. Everything here that changes a vertex ends up in the
/// vertex's op (and so in its key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LowerOptions {
    /// Overrides the spec's runtime base: `bare` or an image reference.
    pub base: Option<String>,
    /// Overrides the spec's build base (an image reference).
    pub build_base: Option<String>,
    /// The Debian architecture built on and for (`amd64`).
    pub arch: String,
    /// How many jobs a build step may run at once (`CRAFT_PARALLEL_BUILD_COUNT`).
    pub parallelism: u32,
    /// The user's frontend-specific options (`-X KEY=VALUE`, `-X KEY` for
    /// `KEY=true`), in the order given. strata checks the keys against
    /// [`Frontend::options`] before lowering; a frontend reads them with
    /// [`LowerOptions::option`], [`LowerOptions::options`] and
    /// [`LowerOptions::flag`].
    pub frontend_options: Vec<(String, String)>,
    /// The ids of the build secrets the user gave (`--secret id=ID,...`),
    /// sorted. A frontend has the steps that run the user's code ask for
    /// them ([`crate::graph::BuildGraph::give_secrets`]); one that cannot
    /// give its steps secrets refuses a non-empty list.
    pub secrets: Vec<String>,
    /// One of [`Frontend::targets`] (`strata FRONTEND TARGET FILE`): the
    /// graph holds what that target makes and, usually, no image. `None`:
    /// a whole build.
    pub target: Option<String>,
    /// The package repositories' index, for a frontend whose packages
    /// depend on published ones ([`crate::packages`]); `None`: nothing is
    /// published (unit tests, or no store).
    pub packages: Option<crate::packages::Packages>,
    /// For a spec that makes one image per variant
    /// ([`crate::graph::BuildGraph::image_variants`]): make the image of
    /// the variant at this position instead of the first. The rest of the
    /// graph is the same.
    pub image_variant: Option<usize>,
    /// A directory of source files the user added to the store (`strata
    /// source add`), by file name. Sources with a sha256 checksum are
    /// served from them by content anyway; a frontend that looks sources
    /// up by name (Guix's recursive origins) reads it. `None`: no store.
    pub added_sources: Option<std::path::PathBuf>,
}

impl LowerOptions {
    /// Building on and for this machine, with no overrides.
    pub fn host(parallelism: u32) -> LowerOptions {
        let arch = debian_arch(std::env::consts::ARCH).unwrap_or("amd64");
        LowerOptions {
            base: None,
            build_base: None,
            arch: arch.into(),
            parallelism,
            frontend_options: Vec::new(),
            secrets: Vec::new(),
            target: None,
            packages: None,
            image_variant: None,
            added_sources: None,
        }
    }

    /// The last value given for `key`.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.frontend_options.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Every value given for `key`, in order (a repeatable option).
    pub fn options(&self, key: &str) -> Vec<&str> {
        self.frontend_options.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
    }

    /// Whether the flag `key` is on: given, and its last value is not
    /// `false`, `0`, `no` or `off`.
    pub fn flag(&self, key: &str) -> bool {
        self.option(key).is_some_and(|v| !matches!(v, "false" | "0" | "no" | "off"))
    }
}

/// One `-X` option a frontend understands, for checking and `--help`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrontendOption {
    /// The key (`package`, `variant`).
    pub name: &'static str,
    /// What a value looks like (`NAME`, `K=V`); empty for a flag.
    pub value: &'static str,
    /// Whether it may be given more than once.
    pub repeatable: bool,
    /// One line for the user.
    pub help: &'static str,
    /// The option's own command-line flag on `strata build` (and `plan`,
    /// and the frontend's targets), as the frontend's own tool spells it:
    /// `--variant` for spk's `variant`. `-X KEY=VALUE` works either way.
    /// Two frontends may share a flag only for options of the same name.
    pub flag: Option<Flag>,
}

/// A frontend option's command-line flag: `--long`, and `-s` if it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag {
    pub long: &'static str,
    pub short: Option<char>,
}

impl Flag {
    /// `--long`.
    pub const fn long(long: &'static str) -> Option<Flag> {
        Some(Flag { long, short: None })
    }

    /// `--long` and `-s`.
    pub const fn with_short(long: &'static str, short: char) -> Option<Flag> {
        Some(Flag { long, short: Some(short) })
    }
}

/// Something a frontend makes besides a whole build, run as `strata
/// FRONTEND TARGET FILE` (spk's `make-source`): lowering is told the
/// target in [`LowerOptions::target`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrontendTarget {
    /// The subcommand (`make-source`).
    pub name: &'static str,
    /// One line for `--help`.
    pub help: &'static str,
}

/// Parses one `-X` argument: `KEY=VALUE`, or `KEY` alone for `KEY=true`.
pub fn parse_frontend_option(arg: &str) -> Result<(String, String), String> {
    let (k, v) = match arg.split_once('=') {
        Some((k, v)) => (k, v),
        None => (arg, "true"),
    };
    let k = k.trim();
    if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.') {
        return Err(format!("'{arg}' is not KEY=VALUE (a key is letters, digits, '-', '_' or '.')"));
    }
    Ok((k.to_string(), v.to_string()))
}

/// Why the user's `-X` options do not fit a frontend: an unknown key (with
/// the keys it knows) or a repeated one that may be given once.
pub fn check_frontend_options(frontend: &dyn Frontend, given: &[(String, String)]) -> Result<(), String> {
    let known = frontend.options();
    for (i, (k, _)) in given.iter().enumerate() {
        let Some(opt) = known.iter().find(|o| o.name == k) else {
            let names: Vec<&str> = known.iter().map(|o| o.name).collect();
            return Err(if names.is_empty() {
                format!("the {} frontend takes no -X options (got '{k}')", frontend.name())
            } else {
                format!("the {} frontend has no option '{k}'; it knows: {}", frontend.name(), names.join(", "))
            });
        };
        if !opt.repeatable && given[..i].iter().any(|(p, _)| p == k) {
            return Err(format!("-X {k} given twice: the {} frontend takes it once", frontend.name()));
        }
        if opt.value.is_empty()
            && !matches!(given[i].1.as_str(), "true" | "false" | "1" | "0" | "yes" | "no" | "on" | "off")
        {
            return Err(format!("-X {k} is a flag: give it alone or as {k}=true|false"));
        }
    }
    Ok(())
}

/// The Debian architecture of a Rust `target_arch`.
pub fn debian_arch(rust_arch: &str) -> Option<&'static str> {
    Some(match rust_arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "armhf",
        "x86" => "i386",
        "powerpc64" => "ppc64el",
        "riscv64" => "riscv64",
        "s390x" => "s390x",
        _ => return None,
    })
}

/// One spec format.
pub trait Frontend: Send + Sync {
    /// Its name, in every key (`craft`).
    fn name(&self) -> &'static str;

    /// The version of its semantics, in every key: bumped whenever a vertex
    /// it lowers would yield other bytes for the same spec.
    fn semantics_version(&self) -> u32;

    /// The spec file this frontend would read for `path`: `path` itself if
    /// it is a spec file of this format, the spec file inside it if it is a
    /// directory holding one; `None` otherwise.
    fn locate(&self, path: &Path) -> Option<PathBuf>;

    /// Lowers the spec at `spec` (as [`Frontend::locate`] found it).
    fn lower(&self, spec: &Path, opts: &LowerOptions) -> Result<BuildGraph, FrontendError>;

    /// The `-X KEY=VALUE` options it understands (none by default).
    fn options(&self) -> &'static [FrontendOption] {
        &[]
    }

    /// What it makes besides a whole build (none by default).
    fn targets(&self) -> &'static [FrontendTarget] {
        &[]
    }

    /// Whether its graphs publish packages ([`crate::packages`]): strata
    /// then gives it `strata FRONTEND ls` and `strata FRONTEND publish`.
    fn has_packages(&self) -> bool {
        false
    }

    /// Runs one of the host ops its graphs hold.
    fn run_host_op(&self, op: &HostOp, inputs: &[HostTree<'_>]) -> Result<Vec<HostResult>, HostOpError>;

    /// The command and working directory of a shell (`argv`; a shell when
    /// empty) opened over the state of `group` after `step` (`strata shell`,
    /// `--shell-on-fail`): a frontend sets up its step environment here.
    fn shell_command(&self, group: &str, step: &str, argv: &[String]) -> (Vec<String>, Option<String>) {
        let _ = (group, step);
        let argv = if argv.is_empty() { vec!["/bin/sh".to_string()] } else { argv.to_vec() };
        (argv, None)
    }
}

/// One input tree of a host op, with a way to read its files' bytes (for
/// the few ops that rewrite contents, like craft's pkg-config fix).
pub struct HostTree<'a> {
    pub tree: &'a Tree,
    pub files: &'a dyn ReadFile,
}

/// Reads a file of a [`HostTree`] by its path in that tree.
pub trait ReadFile {
    fn read(&self, path: &str) -> std::io::Result<Vec<u8>>;
}

/// One tree a host op yields (its `outputs`, in order). A file entry's
/// content id names either the content of a file of an input tree (the
/// input's own content id, as strata read it) or a key of `data`, bytes
/// the op made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostResult {
    pub tree: Tree,
    pub data: BTreeMap<String, Vec<u8>>,
}

/// A host op that failed: the frontend's message, ready for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct HostOpError {
    pub message: String,
}

impl HostOpError {
    pub fn new(message: impl fmt::Display) -> HostOpError {
        HostOpError { message: message.to_string() }
    }
}

/// A spec that cannot be lowered: where, what, and what to do. Every
/// frontend's spec errors are this type, so strata prints them one way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontendError {
    /// The spec file (or a file it names).
    pub file: Option<PathBuf>,
    /// Line and column, both from 1.
    pub pos: Option<(usize, usize)>,
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl FrontendError {
    pub fn new(message: impl Into<String>) -> FrontendError {
        FrontendError { file: None, pos: None, message: message.into(), hint: None }
    }

    pub fn at(mut self, file: impl Into<PathBuf>, line: usize, column: usize) -> FrontendError {
        self.file = Some(file.into());
        self.pos = Some((line, column));
        self
    }

    pub fn in_file(mut self, file: impl Into<PathBuf>) -> FrontendError {
        self.file = Some(file.into());
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> FrontendError {
        self.hint = Some(hint.into());
        self
    }
}

/// `file:line:col: message`, then `  help: hint`.
impl fmt::Display for FrontendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}:", file.display())?;
            if let Some((line, col)) = self.pos {
                write!(f, "{line}:{col}:")?;
            }
            f.write_str(" ")?;
        }
        f.write_str(&self.message)?;
        if let Some(h) = &self.hint {
            write!(f, "\n  help: {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for FrontendError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_print_file_line_column_and_help() {
        let e = FrontendError::new("unknown key 'plugn'").at("rockcraft.yaml", 3, 5).hint("did you mean 'plugin'?");
        assert_eq!(e.to_string(), "rockcraft.yaml:3:5: unknown key 'plugn'\n  help: did you mean 'plugin'?");
        assert_eq!(FrontendError::new("no parts").to_string(), "no parts");
    }

    #[test]
    fn the_trait_is_object_safe() {
        fn takes(_: &[&dyn Frontend]) {}
        takes(&[]);
    }

    /// A frontend with one repeatable option and one flag, for the checks.
    struct Opts;
    impl Frontend for Opts {
        fn name(&self) -> &'static str {
            "toy"
        }
        fn semantics_version(&self) -> u32 {
            1
        }
        fn locate(&self, _: &Path) -> Option<PathBuf> {
            None
        }
        fn lower(&self, _: &Path, _: &LowerOptions) -> Result<BuildGraph, FrontendError> {
            Err(FrontendError::new("not here"))
        }
        fn options(&self) -> &'static [FrontendOption] {
            &[
                FrontendOption { name: "mirror", value: "KIND=URL", repeatable: true, help: "", flag: None },
                FrontendOption { name: "strict", value: "", repeatable: false, help: "", flag: None },
            ]
        }
        fn run_host_op(&self, _: &HostOp, _: &[HostTree<'_>]) -> Result<Vec<HostResult>, HostOpError> {
            Ok(Vec::new())
        }
    }

    fn given(args: &[&str]) -> Vec<(String, String)> {
        args.iter().map(|a| parse_frontend_option(a).unwrap()).collect()
    }

    #[test]
    fn a_frontend_option_is_key_value_or_a_bare_flag() {
        assert_eq!(parse_frontend_option("mirror=gnu=http://m/gnu"), Ok(("mirror".into(), "gnu=http://m/gnu".into())));
        assert_eq!(parse_frontend_option("strict"), Ok(("strict".into(), "true".into())));
        assert!(parse_frontend_option("=x").is_err());
        assert!(parse_frontend_option("a b=c").is_err());
    }

    #[test]
    fn lowering_reads_the_last_value_every_value_or_a_flag() {
        let lo = LowerOptions {
            frontend_options: given(&["mirror=a", "strict=false", "mirror=b"]),
            ..LowerOptions::host(1)
        };
        assert_eq!(lo.option("mirror"), Some("b"));
        assert_eq!(lo.options("mirror"), ["a", "b"]);
        assert!(!lo.flag("strict"));
        assert!(!lo.flag("absent"));
        let lo = LowerOptions { frontend_options: given(&["strict"]), ..LowerOptions::host(1) };
        assert!(lo.flag("strict"));
    }

    #[test]
    fn unknown_repeated_and_valued_flags_are_refused_by_name() {
        assert_eq!(check_frontend_options(&Opts, &given(&["mirror=a", "mirror=b", "strict"])), Ok(()));
        let e = check_frontend_options(&Opts, &given(&["packge=hello"])).unwrap_err();
        assert_eq!(e, "the toy frontend has no option 'packge'; it knows: mirror, strict");
        let e = check_frontend_options(&Opts, &given(&["strict", "strict"])).unwrap_err();
        assert!(e.contains("given twice"), "{e}");
        let e = check_frontend_options(&Opts, &given(&["strict=maybe"])).unwrap_err();
        assert!(e.contains("is a flag"), "{e}");
    }
}
