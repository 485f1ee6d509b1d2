//! Package repositories (DESIGN.md §4, spk): where a frontend's built
//! packages live, and how lowering finds the ones it depends on.
//!
//! A frontend that has packages (spk) declares each package build a graph
//! makes as a [`PackageSpec`]: a name, a version, a build id, one member
//! per component layer, and annotations only the frontend reads back. After
//! the build, strata stores it in the store's repository; `strata FRONTEND
//! publish` copies it to a registry. On the wire and in the store a package
//! build is an OCI image index tagged [`tag`]`(version, build)` in the
//! repository `<name>` (the store names it `<frontend>/<name>:<tag>`),
//! whose manifests are one single-layer image per member, annotated with
//! [`MEMBER`]: any OCI tool can copy it, and a member can be pulled alone
//! by digest.
//!
//! Lowering looks packages up through a [`PackageIndex`] that strata
//! hands it in [`crate::LowerOptions::packages`]: read-only, so planning
//! stays free of writes and pulls; the members it returns are image
//! references pinned by digest, which the graph names as
//! [`crate::graph::LayerRef::Image`] and the resolver pulls when missing.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::graph::LayerRef;

/// Annotation: the package's name (on a package build's index).
pub const NAME: &str = "org.strata.package.name";
/// Annotation: the package's version.
pub const VERSION: &str = "org.strata.package.version";
/// Annotation: the build id (`src` for a source package).
pub const BUILD: &str = "org.strata.package.build";
/// Annotation: which member a manifest is (`run`, `build`, `src`).
pub const MEMBER: &str = "org.strata.package.member";

/// A package build a graph makes, stored once its layers are built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageSpec {
    pub name: String,
    pub version: String,
    pub build: String,
    /// The frontend's own record of the build (what depending on it needs).
    pub annotations: BTreeMap<String, String>,
    /// In the order a listing shows them.
    pub members: Vec<PackageMember>,
}

/// One layer of a package build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageMember {
    pub name: String,
    pub layer: LayerRef,
}

/// The tag of a package build: `VERSION-BUILD`, with the characters a tag
/// cannot hold (`+`) as `_`.
pub fn tag(version: &str, build: &str) -> String {
    let t: String = format!("{version}-{build}")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' })
        .collect();
    t
}

/// Where packages are looked up.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Repository {
    /// The local store (always searched first).
    Store,
    /// `registry://HOST/REPO`: the repositories `HOST/REPO/<name>`.
    Registry(String),
}

impl Repository {
    /// `registry://HOST/REPO` (a trailing `/` is dropped).
    pub fn parse(s: &str) -> Result<Repository, String> {
        let rest = s
            .strip_prefix("registry://")
            .ok_or_else(|| format!("'{s}' is not a package repository: expected registry://HOST/REPO"))?;
        let rest = rest.trim_end_matches('/');
        if rest.is_empty() || !rest.contains('/') && !rest.contains(['.', ':']) && rest != "localhost" {
            return Err(format!("'{s}' names no registry host: expected registry://HOST/REPO"));
        }
        Ok(Repository::Registry(rest.to_string()))
    }
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Repository::Store => f.write_str("the store"),
            Repository::Registry(r) => write!(f, "registry://{r}"),
        }
    }
}

/// A package build a repository has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub repository: Repository,
    pub name: String,
    pub version: String,
    pub build: String,
    /// The index's annotations (the frontend's record among them).
    pub annotations: BTreeMap<String, String>,
    /// Each member's name and an image reference pinned by digest whose
    /// one layer it is (what [`crate::graph::LayerRef::image`] takes).
    pub members: Vec<(String, String)>,
}

/// Read-only lookups in package repositories.
pub trait PackageIndex: Send + Sync {
    /// Every build of package `name` that `repository` has, of this
    /// frontend's packages, in a stable order (by tag). A repository
    /// that has never heard of `name` has none; one that cannot be asked
    /// is an error (its message names it).
    fn builds(&self, repository: &Repository, name: &str) -> Result<Vec<Published>, String>;
}

/// A [`PackageIndex`] in [`crate::LowerOptions`] (compared by identity).
#[derive(Clone)]
pub struct Packages(pub Arc<dyn PackageIndex>);

impl fmt::Debug for Packages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Packages(..)")
    }
}

impl PartialEq for Packages {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Packages {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_is_version_dash_build_with_plus_as_underscore() {
        assert_eq!(tag("1.0.8", "3I42H3S6"), "1.0.8-3I42H3S6");
        assert_eq!(tag("1.0.0-pre.1+r.2", "src"), "1.0.0-pre.1_r.2-src");
    }

    #[test]
    fn repositories_are_registry_urls() {
        assert_eq!(
            Repository::parse("registry://127.0.0.1:5000/spk/").unwrap(),
            Repository::Registry("127.0.0.1:5000/spk".into())
        );
        assert!(Repository::parse("127.0.0.1:5000/spk").unwrap_err().contains("registry://HOST/REPO"));
        assert!(Repository::parse("registry://").is_err());
        assert_eq!(Repository::Registry("h:5000/r".into()).to_string(), "registry://h:5000/r");
    }
}
