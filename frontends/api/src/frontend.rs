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
}

impl LowerOptions {
    /// Building on and for this machine, with no overrides.
    pub fn host(parallelism: u32) -> LowerOptions {
        let arch = debian_arch(std::env::consts::ARCH).unwrap_or("amd64");
        LowerOptions { base: None, build_base: None, arch: arch.into(), parallelism }
    }
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
}
