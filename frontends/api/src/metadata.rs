//! What a build is made of, as a bill of materials names it: the project
//! and each group (a craft part, an spk package, a Guix package) with its
//! name, version, license and sources. Frontends fill what their spec
//! says; strata's `attest` module turns it into SBOM packages and the
//! provenance's resolved dependencies.
//!
//! It describes the build and never changes what a vertex does, so no
//! cache key reads it (keys read a vertex's op, [`crate::graph`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The project and its groups, by group name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// The project as a whole (the image's own package in an SBOM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<Package>,
    /// By [`crate::graph::Vertex::group`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub groups: BTreeMap<String, Package>,
}

impl Metadata {
    pub fn is_empty(&self) -> bool {
        self.project.is_none() && self.groups.is_empty()
    }
}

/// One package: what is known of it, `None` when the spec does not say.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// An SPDX license expression, as the spec gives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub homepage: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Where it is built from, in spec order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<SourceRef>,
    /// Debian packages a step of this group unpacked without dpkg (craft's
    /// `stage-packages`), so that no dpkg status in the image lists them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unpacked_debs: Vec<DebList>,
}

/// A file in a vertex's output listing the Debian packages a group
/// unpacked: a JSON array of objects with at least `name`, `version` and
/// `arch` (Debian architecture), and optionally `sha256` (of the `.deb`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DebList {
    pub vertex: String,
    pub output: String,
    /// The file's path in that output.
    pub path: String,
    /// What unpacked them, as the SBOM says (`stage-packages`).
    pub by: String,
}

/// One source of a package, pinned as far as the spec pins it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRef {
    /// `git`, `tar`, `local`, ... ([`crate::SourceKind::name`]).
    pub kind: String,
    /// A URL, or a path relative to the project directory.
    pub url: String,
    /// `algorithm/hexdigest` (`sha256/ab12…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
    /// A VCS commit, as the spec pins it; strata's resolve phase pins
    /// branches and tags when it builds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// A VCS tag or branch the commit was chosen by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

impl SourceRef {
    /// What the spec says of `source`.
    pub fn of(source: &crate::Source) -> SourceRef {
        SourceRef {
            kind: source.kind.name().into(),
            url: source.location.clone(),
            checksum: source.checksum.clone(),
            commit: source.commit.clone(),
            reference: source.tag.clone().or_else(|| source.branch.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_metadata_is_absent_from_json_and_absent_json_reads_as_empty() {
        assert_eq!(serde_json::to_string(&Metadata::default()).unwrap(), "{}");
        let m: Metadata = serde_json::from_str("{}").unwrap();
        assert!(m.is_empty());
    }

    #[test]
    fn a_package_serializes_only_what_is_known() {
        let p = Package {
            name: "hello".into(),
            version: Some("2.12".into()),
            sources: vec![SourceRef {
                kind: "tar".into(),
                url: "https://ftp.gnu.org/gnu/hello/hello-2.12.tar.gz".into(),
                checksum: Some("sha256/cf04".into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"name":"hello","version":"2.12","sources":[{"kind":"tar","url":"https://ftp.gnu.org/gnu/hello/hello-2.12.tar.gz","checksum":"sha256/cf04"}]}"#
        );
    }
}
