//! Where a project comes from, for the image's `org.opencontainers.image.source`
//! and `.revision` annotations: the git checkout the project file is in
//! (its `origin` remote, credentials removed, and `HEAD`'s commit).

use std::path::Path;
use std::process::Command;

/// A project's git origin and commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitInfo {
    /// The `origin` remote's URL, if there is one.
    pub source: Option<String>,
    pub revision: String,
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git").arg("-C").arg(dir).args(args).output().ok()?;
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !s.is_empty()).then_some(s)
}

/// The git checkout `dir` is in, if any (and if git is installed).
pub fn git_info(dir: &Path) -> Option<GitInfo> {
    let revision = git(dir, &["rev-parse", "--verify", "HEAD"])?;
    let source = git(dir, &["config", "--get", "remote.origin.url"]).map(|u| without_credentials(&u));
    Some(GitInfo { source, revision })
}

/// Where a project's spec file is in its git work tree, for the provenance:
/// what `strata verify IMAGE` clones and checks out to rebuild it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    /// The `origin` remote's URL (credentials removed), else the work
    /// tree's own path: what `git clone` takes.
    pub source: String,
    /// Whether `source` is the `origin` remote (else the work tree's path).
    pub origin: bool,
    pub revision: String,
    /// The spec file's path relative to the work tree's root.
    pub path: String,
    /// Whether the work tree had changes (tracked or untracked) not in
    /// `revision`: a checkout of the commit is then not what was built.
    pub dirty: bool,
}

/// The git work tree `spec` (a file) is in, if any.
pub fn checkout(spec: &Path) -> Option<Checkout> {
    let dir = spec.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let info = git_info(dir)?;
    let root = std::path::PathBuf::from(git(dir, &["rev-parse", "--show-toplevel"])?);
    let abs = std::fs::canonicalize(spec).ok()?;
    let root = std::fs::canonicalize(&root).unwrap_or(root);
    let path = abs.strip_prefix(&root).ok()?.to_string_lossy().into_owned();
    let status = Command::new("git").arg("-C").arg(dir).args(["status", "--porcelain"]).output().ok()?;
    let dirty = !status.status.success() || !status.stdout.is_empty();
    let origin = info.source.is_some();
    let source = info.source.unwrap_or_else(|| root.display().to_string());
    Some(Checkout { source, origin, revision: info.revision, path, dirty })
}

/// `https://user:token@host/x` → `https://host/x`: secrets never go into an image.
fn without_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let host_end = rest.find('/').unwrap_or(rest.len());
    match rest[..host_end].rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://{host}{}", &rest[host_end..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_urls_lose_their_credentials() {
        assert_eq!(without_credentials("https://me:tok@example.com/a/b.git"), "https://example.com/a/b.git");
        assert_eq!(without_credentials("https://example.com/a@b"), "https://example.com/a@b");
        assert_eq!(without_credentials("git@example.com:a/b.git"), "git@example.com:a/b.git");
    }

    #[test]
    fn a_checkout_gives_its_origin_and_commit() {
        let d = tempfile::tempdir().unwrap();
        let sh = |c: &str| {
            let ok = Command::new("sh").arg("-c").arg(c).current_dir(d.path()).status().unwrap().success();
            assert!(ok, "{c}");
        };
        if !crate::testutil::need_tool("git") {
            return;
        }
        assert_eq!(git_info(d.path()), None, "not a checkout");
        sh("git init -q && git -c user.email=a@b -c user.name=a commit -q --allow-empty -m x");
        sh("git remote add origin https://u:p@example.com/proj.git");
        let info = git_info(d.path()).unwrap();
        assert_eq!(info.source.as_deref(), Some("https://example.com/proj.git"));
        assert_eq!(info.revision.len(), 40);
    }

    #[test]
    fn a_spec_in_a_checkout_gives_its_path_and_whether_the_tree_is_dirty() {
        if !crate::testutil::need_tool("git") {
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let sh = |c: &str| {
            let ok = Command::new("sh").arg("-c").arg(c).current_dir(d.path()).status().unwrap().success();
            assert!(ok, "{c}");
        };
        sh("mkdir -p p && echo name: t > p/spec.yaml && git init -q && git add . \
            && git -c user.email=a@b -c user.name=a commit -q -m x");
        let c = checkout(&d.path().join("p/spec.yaml")).unwrap();
        assert_eq!(c.path, "p/spec.yaml");
        assert!(!c.dirty && !c.origin);
        assert_eq!(c.source, std::fs::canonicalize(d.path()).unwrap().display().to_string(), "no origin: the path");
        sh("touch p/new");
        assert!(checkout(&d.path().join("p/spec.yaml")).unwrap().dirty, "an untracked file");
    }
}
