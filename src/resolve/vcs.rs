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
}
