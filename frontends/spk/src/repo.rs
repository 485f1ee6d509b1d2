//! spk packages in a package repository ([`strata_frontend_api::packages`]):
//! what a published build records for those who depend on it, and which
//! published build meets a request.
//!
//! spk keeps packages in spfs, which has no OCI form; strata stores each
//! binary build as an index whose members are its components (and the
//! source package as one with the member `src`), tagged `VERSION-BUILD` in
//! the repository `<name>`. The record ([`RECORD`]) is what [`Built`] holds
//! besides the layers: the components' `uses` and install requirements, the
//! build's options and its `install.environment`, already expanded.
//!
//! Choosing (spk's solver, without backtracking): the highest version the
//! range contains; among its builds, the first whose options agree with
//! the `-o` values and the host options it records (`os`, `arch`); the
//! repositories in the order given, the store first.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use strata_frontend_api::graph::LayerRef;
use strata_frontend_api::packages::{PackageMember, PackageSpec, Published};

use crate::error::Pos;
use crate::lower::Built;
use crate::spec::{EnvOp, Request};
use crate::version::{Version, VersionRange};

/// Annotation: a build's [`Record`] as JSON.
pub const RECORD: &str = "org.strata.spk.package";
/// The build id of a source package.
pub const SOURCE_BUILD: &str = "src";

/// What depending on a build needs to know, besides its layers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// `name/version/build`.
    pub ident: String,
    pub options: BTreeMap<String, String>,
    pub components: Vec<RecordComponent>,
    /// `install.environment`, expanded as at build time.
    pub environment: Vec<EnvOp>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordComponent {
    pub name: String,
    pub uses: Vec<String>,
    /// The install requirements on packages (the install-level ones and
    /// the component's own).
    pub requirements: Vec<RecordRequest>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordRequest {
    pub pkg: String,
    pub range: String,
    pub components: Vec<String>,
    pub if_already_present: bool,
}

/// The package spec of a binary build lowered in this graph.
pub fn binary_package(b: &Built, options: &BTreeMap<String, String>) -> PackageSpec {
    let components = b
        .components
        .keys()
        .map(|c| RecordComponent {
            name: c.clone(),
            uses: b.uses.get(c).cloned().unwrap_or_default(),
            requirements: b
                .requirements
                .get(c)
                .into_iter()
                .flatten()
                .filter_map(|r| match r {
                    Request::Pkg { name, components, range, if_already_present, .. } => Some(RecordRequest {
                        pkg: name.clone(),
                        range: range.clone(),
                        components: components.clone(),
                        if_already_present: *if_already_present,
                    }),
                    Request::Var { .. } => None,
                })
                .collect(),
        })
        .collect();
    let record =
        Record { ident: b.ident.clone(), options: options.clone(), components, environment: b.environment.clone() };
    PackageSpec {
        name: b.name.clone(),
        version: b.version.clone(),
        build: b.digest.clone(),
        annotations: BTreeMap::from([(RECORD.to_string(), serde_json::to_string(&record).expect("plain data"))]),
        members: b.components.iter().map(|(c, l)| PackageMember { name: c.clone(), layer: l.clone() }).collect(),
    }
}

/// The package spec of a source package lowered in this graph.
pub fn source_package(name: &str, version: &str, layer: &LayerRef) -> PackageSpec {
    PackageSpec {
        name: name.to_string(),
        version: version.to_string(),
        build: SOURCE_BUILD.into(),
        annotations: BTreeMap::new(),
        members: vec![PackageMember { name: "src".into(), layer: layer.clone() }],
    }
}

/// A published binary build as a dependency.
pub fn built(p: &Published) -> Result<Built, String> {
    let text = p.annotations.get(RECORD).ok_or_else(|| format!("{} has no spk record", ident(p)))?;
    let record: Record =
        serde_json::from_str(text).map_err(|e| format!("{}: its spk record is unreadable: {e}", ident(p)))?;
    Version::parse(&p.version).map_err(|e| format!("{}: {e}", ident(p)))?;
    let mut components = BTreeMap::new();
    for (member, reference) in &p.members {
        components.insert(member.clone(), LayerRef::image(reference));
    }
    let requirements = record
        .components
        .iter()
        .map(|c| {
            let reqs = c
                .requirements
                .iter()
                .map(|r| Request::Pkg {
                    name: r.pkg.clone(),
                    components: r.components.clone(),
                    range: r.range.clone(),
                    if_already_present: r.if_already_present,
                    from_build_env: None,
                    if_present_in_build_env: false,
                    pos: Pos::default(),
                })
                .collect();
            (c.name.clone(), reqs)
        })
        .collect();
    Ok(Built {
        name: p.name.clone(),
        ident: record.ident.clone(),
        version: p.version.clone(),
        digest: p.build.clone(),
        components,
        uses: record.components.iter().map(|c| (c.name.clone(), c.uses.clone())).collect(),
        requirements,
        environment: record.environment.clone(),
        build: None,
    })
}

/// `name/version/build`.
pub fn ident(p: &Published) -> String {
    format!("{}/{}/{}", p.name, p.version, p.build)
}

/// The published build that meets `range` with options agreeing with
/// `wanted` (see the module docs), from `builds` in repository order.
pub fn choose<'p>(
    builds: &'p [Published],
    range: &VersionRange,
    wanted: &BTreeMap<String, String>,
) -> Option<&'p Published> {
    let agrees = |p: &Published| {
        let Some(Ok(record)) = p.annotations.get(RECORD).map(|t| serde_json::from_str::<Record>(t)) else {
            return false;
        };
        wanted.iter().all(|(k, v)| record.options.get(k).is_none_or(|have| have == v))
    };
    let mut best: Option<(&Published, Version)> = None;
    for p in builds.iter().filter(|p| p.build != SOURCE_BUILD) {
        let Ok(v) = Version::parse(&p.version) else { continue };
        if !range.contains(&v) || !agrees(p) {
            continue;
        }
        if best.as_ref().is_none_or(|(_, b)| v > *b) {
            best = Some((p, v));
        }
    }
    best.map(|(p, _)| p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_frontend_api::packages::Repository;

    fn published(version: &str, build: &str, options: &[(&str, &str)]) -> Published {
        let b = Built {
            name: "lib".into(),
            ident: format!("lib/{version}/{build}"),
            version: version.into(),
            digest: build.into(),
            components: BTreeMap::from([
                ("build".to_string(), LayerRef::output("x", "build")),
                ("run".to_string(), LayerRef::output("x", "run")),
            ]),
            uses: BTreeMap::from([("build".to_string(), vec!["run".to_string()])]),
            requirements: BTreeMap::from([(
                "run".to_string(),
                vec![Request::Pkg {
                    name: "zlib".into(),
                    components: vec![],
                    range: "1.2".into(),
                    if_already_present: false,
                    from_build_env: None,
                    if_present_in_build_env: false,
                    pos: Pos::default(),
                }],
            )]),
            environment: vec![EnvOp::Prepend { var: "PATH".into(), value: "/spfs/bin".into(), separator: ":".into() }],
            build: None,
        };
        let opts: BTreeMap<String, String> = options.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let spec = binary_package(&b, &opts);
        Published {
            repository: Repository::Store,
            name: spec.name,
            version: spec.version,
            build: spec.build,
            annotations: spec.annotations,
            members: vec![("build".into(), "spk/lib@sha256:b".into()), ("run".into(), "spk/lib@sha256:r".into())],
        }
    }

    #[test]
    fn a_published_build_reads_back_as_the_build_it_was() {
        let p = published("1.2.0", "AAAAAAAA", &[("debug", "off")]);
        let b = built(&p).unwrap();
        assert_eq!(b.ident, "lib/1.2.0/AAAAAAAA");
        assert_eq!(b.components["run"], LayerRef::image("spk/lib@sha256:r"));
        assert_eq!(b.uses["build"], ["run"]);
        assert!(
            matches!(&b.requirements["run"][0], Request::Pkg { name, range, .. } if name == "zlib" && range == "1.2")
        );
        assert_eq!(b.environment.len(), 1);
    }

    #[test]
    fn a_records_environment_keeps_its_published_json_form() {
        let op = EnvOp::Prepend { var: "PATH".into(), value: "/spfs/bin".into(), separator: ":".into() };
        assert_eq!(
            serde_json::to_string(&[op, EnvOp::Priority(5)]).unwrap(),
            r#"[{"prepend":{"var":"PATH","value":"/spfs/bin","separator":":"}},{"priority":5}]"#
        );
    }

    #[test]
    fn choose_takes_the_highest_version_in_range_whose_options_agree() {
        let builds = vec![
            published("1.0.0", "AAAAAAAA", &[("debug", "off")]),
            published("1.4.0", "BBBBBBBB", &[("debug", "on")]),
            published("1.4.0", "CCCCCCCC", &[("debug", "off")]),
            published("2.0.0", "DDDDDDDD", &[("debug", "off")]),
        ];
        let r = VersionRange::parse("1.0").unwrap();
        let off = BTreeMap::from([("debug".to_string(), "off".to_string())]);
        assert_eq!(choose(&builds, &r, &off).unwrap().build, "CCCCCCCC");
        let on = BTreeMap::from([("debug".to_string(), "on".to_string())]);
        assert_eq!(choose(&builds, &r, &on).unwrap().build, "BBBBBBBB");
        assert_eq!(choose(&builds, &VersionRange::parse("3").unwrap(), &off), None);
        let unrelated = BTreeMap::from([("color".to_string(), "red".to_string())]);
        assert_eq!(choose(&builds, &r, &unrelated).unwrap().version, "1.4.0", "options it does not have do not matter");
    }
}
