//! `source-type: git`: a clone made by the `git` command, as craft-parts
//! 2.37.2 makes it (`git_source.GitSource._clone_new`), `.git` included.
//!
//! - A location without a scheme (`[\w.@+-]+:`) is a path relative to the
//!   project and becomes a `file://` URL (so git never hard-links objects
//!   out of the project).
//! - `source-depth` with a full 40-digit `source-commit` (git ≥ 2.34.1):
//!   `init`, `remote add origin`, `fetch origin <commit> --depth N`,
//!   `checkout <commit>`, then the submodules.
//! - Otherwise `git clone` with `--branch <tag or branch>`, `--depth N` and,
//!   without a commit, `--recursive` (or `--recursive=<path>` per listed
//!   submodule; none for `source-submodules: []`). With a commit:
//!   `fetch origin <commit>` (a short one expanded with `rev-parse` first),
//!   `checkout`, `submodule update --init --recursive [paths]`.
//!
//! The resolved commit (`rev-parse HEAD`) is the source's identity.
//!
//! Differences from craft-parts: git runs with `GIT_TERMINAL_PROMPT=0` (a
//! private repository fails instead of waiting for a password nobody can
//! type), and when the repository itself is local (a path or `file://`),
//! with `protocol.file.allow=always`, so its submodules may be local too
//! (git ≥ 2.38.1 refuses file:// submodules by default, which stops
//! craft-parts there). A remote repository keeps git's default. Each build
//! clones afresh into its own directory; craft-parts' update of an existing
//! clone (`_pull_existing`) has no counterpart.

use std::fs::File;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use strata_frontend_api::Source;

use super::error::{SourceError, io_err};
use crate::executor::Cancel;

/// Length of a full (sha1) commit id, as craft-parts' `MAX_COMMIT_LENGTH`.
const FULL_COMMIT_LEN: usize = 40;

/// One clone in progress.
pub struct Git<'a> {
    part: &'a str,
    url: String,
    local: bool,
    dest: &'a Path,
    cancel: &'a Cancel,
}

/// The git URL of a location: as it is when it has a scheme (or is
/// scp-like, `host:path`), else a `file://` URL of the path in the project.
pub fn url_of(location: &str, project_dir: &Path) -> String {
    if has_scheme(location) {
        return location.to_owned();
    }
    let path = super::host_path(location, project_dir);
    let path = std::fs::canonicalize(&path).unwrap_or(path);
    format!("file://{}", path.display())
}

/// craft-parts' `^[\w\-.@+]+:`.
fn has_scheme(location: &str) -> bool {
    let Some((head, _)) = location.split_once(':') else { return false };
    !head.is_empty() && head.chars().all(|c| c.is_alphanumeric() || "_-.@+".contains(c))
}

/// Clones `source` into `dest` (which must not exist or be empty) and
/// returns the commit checked out.
pub fn clone(
    part: &str,
    source: &Source,
    project_dir: &Path,
    dest: &Path,
    cancel: &Cancel,
) -> Result<String, SourceError> {
    let url = url_of(&source.location, project_dir);
    let local = url.starts_with("file://");
    let git = Git { part, url, local, dest, cancel };
    let commit = source.commit.as_deref();
    let depth = source.depth;
    let shallow_at_commit =
        depth > 0 && commit.is_some_and(|c| c.len() == FULL_COMMIT_LEN) && git.version()? >= (2, 34, 1);
    if let (true, Some(c)) = (shallow_at_commit, commit) {
        git.clone_at_commit(c, depth, source.submodules.as_deref())?;
    } else {
        git.clone_new(source)?;
    }
    git.run_in(&["rev-parse", "HEAD"])
}

impl Git<'_> {
    fn clone_new(&self, source: &Source) -> Result<(), SourceError> {
        let mut args: Vec<String> = vec!["-c".into(), "advice.detachedHead=false".into(), "clone".into()];
        if source.commit.is_none() {
            match &source.submodules {
                None => args.push("--recursive".into()),
                Some(list) => args.extend(list.iter().map(|s| format!("--recursive={s}"))),
            }
        }
        if let Some(r) = source.tag.as_ref().or(source.branch.as_ref()) {
            args.extend(["--branch".into(), r.clone()]);
        }
        if source.depth > 0 {
            args.extend(["--depth".into(), source.depth.to_string()]);
        }
        args.push(self.url.clone());
        args.push(self.dest.display().to_string());
        self.run(None, &args)?;
        if let Some(c) = &source.commit {
            let full = self.expand_commit(c, source.depth)?;
            self.run_in(&["fetch", "origin", &full])?;
            self.run_in(&["checkout", &full])?;
            self.update_submodules(source.submodules.as_deref())?;
        }
        Ok(())
    }

    fn clone_at_commit(&self, commit: &str, depth: u32, submodules: Option<&[String]>) -> Result<(), SourceError> {
        std::fs::create_dir_all(self.dest).map_err(io_err(self.dest))?;
        self.run_in(&["init"])?;
        self.run_in(&["remote", "add", "origin", &self.url])?;
        self.run_in(&["fetch", "origin", commit, "--depth", &depth.to_string()])?;
        self.run_in(&["checkout", commit])?;
        self.update_submodules(submodules)
    }

    fn update_submodules(&self, submodules: Option<&[String]>) -> Result<(), SourceError> {
        if submodules.is_some_and(<[String]>::is_empty) {
            return Ok(());
        }
        let mut args = vec!["submodule", "update", "--init", "--recursive"];
        args.extend(submodules.unwrap_or_default().iter().map(String::as_str));
        self.run_in(&args).map(drop)
    }

    /// A full commit id for `commit` (as craft-parts: a 40-digit one as it is).
    fn expand_commit(&self, commit: &str, depth: u32) -> Result<String, SourceError> {
        if commit.len() == FULL_COMMIT_LEN {
            return Ok(commit.to_owned());
        }
        self.run_in(&["rev-parse", "--verify", "--quiet", &format!("{commit}^{{commit}}")]).map_err(|_| {
            SourceError::GitCommit {
                part: self.part.to_owned(),
                commit: commit.to_owned(),
                hint: if depth > 0 {
                    "make sure source-commit is right, give the full 40-character commit, or remove source-depth"
                } else {
                    "make sure source-commit is right, or give the full 40-character commit"
                },
            }
        })
    }

    fn version(&self) -> Result<(u32, u32, u32), SourceError> {
        let out = self.run(None, &["version".to_owned()])?;
        Ok(parse_version(&out).unwrap_or((0, 0, 0)))
    }

    /// `git -C <dest> args...`; returns stdout, trimmed.
    fn run_in(&self, args: &[&str]) -> Result<String, SourceError> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        self.run(Some(self.dest), &args)
    }

    /// Runs git, waiting for it while watching the cancel flag; returns stdout.
    fn run(&self, dir: Option<&Path>, args: &[String]) -> Result<String, SourceError> {
        let mut cmd = Command::new("git");
        if let Some(d) = dir {
            cmd.arg("-C").arg(d);
        }
        if self.local {
            cmd.args(["-c", "protocol.file.allow=always"]);
        }
        cmd.args(args).env("GIT_TERMINAL_PROMPT", "0").stdin(Stdio::null());
        let shown = format!("git {}", args.join(" "));
        let tmp = std::env::temp_dir();
        let mut out = tempfile::tempfile().map_err(io_err(&tmp))?;
        let mut err = tempfile::tempfile().map_err(io_err(&tmp))?;
        cmd.stdout(out.try_clone().map_err(io_err(&tmp))?).stderr(err.try_clone().map_err(io_err(&tmp))?);
        let mut child =
            cmd.spawn().map_err(|e| SourceError::GitMissing { part: self.part.into(), message: e.to_string() })?;
        let status = loop {
            if let Some(s) = child.try_wait().map_err(io_err(PathBuf::from("git")))? {
                break s;
            }
            if self.cancel.wait_timeout(Duration::from_millis(100)) {
                let _ = child.kill();
                let _ = child.wait();
                return Err(SourceError::Cancelled { part: self.part.into(), location: self.url.clone() });
            }
        };
        let stdout = read_back(&mut out).map_err(io_err(&tmp))?;
        if !status.success() {
            let stderr = read_back(&mut err).map_err(io_err(&tmp))?;
            return Err(SourceError::Git {
                part: self.part.into(),
                command: shown,
                status: status.to_string(),
                stderr,
            });
        }
        Ok(stdout.trim().to_owned())
    }
}

fn read_back(f: &mut File) -> std::io::Result<String> {
    f.rewind()?;
    let mut s = String::new();
    f.read_to_string(&mut s)?;
    Ok(s)
}

/// `git version 2.47.3` → (2, 47, 3).
fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    let v = text.strip_prefix("git version ")?.split_whitespace().next()?;
    let mut n = v.split('.').map(|p| p.parse::<u32>().ok());
    Some((n.next()??, n.next()??, n.next().flatten().unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_without_a_scheme_are_project_paths() {
        let proj = Path::new("/nonexistent/proj");
        assert_eq!(url_of("https://example.com/r.git", proj), "https://example.com/r.git");
        assert_eq!(url_of("git@example.com:me/r.git", proj), "git@example.com:me/r.git");
        assert_eq!(url_of("git+ssh://example.com/r", proj), "git+ssh://example.com/r");
        assert_eq!(url_of("vendor/lib", proj), "file:///nonexistent/proj/vendor/lib");
    }

    #[test]
    fn git_versions_are_read_from_git_version() {
        assert_eq!(parse_version("git version 2.47.3"), Some((2, 47, 3)));
        assert_eq!(parse_version("git version 2.39.5 (Apple Git-154)"), Some((2, 39, 5)));
        assert_eq!(parse_version("git version 2.50.0.windows.1"), Some((2, 50, 0)));
        assert_eq!(parse_version("nonsense"), None);
    }
}
