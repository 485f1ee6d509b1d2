//! The SLSA provenance v1 predicate of a build.
//!
//! `buildDefinition`: the build type, the external parameters (the spec
//! file by name and sha256, the frontend and its semantics version, the
//! options the user gave; when the spec is in a git work tree, `source`:
//! its origin URL (or the work tree's path), commit, the spec's path in it
//! and whether the tree was dirty, what `strata verify IMAGE` clones),
//! internal ones (IR version, `SOURCE_DATE_EPOCH`,
//! compression), and the resolved dependencies — every image by manifest
//! digest, every source by checksum, git commit or the digest of its file
//! listing. `runDetails`: the builder id and strata's version.
//!
//! What differs between two runs of one build — when it started and ended,
//! which steps were cache hits — is written only in [`Mode::Full`]
//! (`--provenance=full`). The default, [`Mode::Reproducible`], leaves it
//! out, so the same inputs give the same provenance and so the same image
//! index digest (docs/attestations.md).

use std::collections::BTreeMap;

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use strata_frontend_api::graph::{BuildGraph, Op};

use crate::resolve::Resolved;

pub const PREDICATE_TYPE: &str = "https://slsa.dev/provenance/v1";

/// How much of the run the provenance records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Only what the inputs fix: the same build gives the same bytes.
    #[default]
    Reproducible,
    /// Also the wall-clock start and end and the cache hits and misses.
    Full,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Mode, String> {
        match s {
            "reproducible" | "min" => Ok(Mode::Reproducible),
            "full" | "max" => Ok(Mode::Full),
            _ => Err(format!("unknown provenance mode '{s}' (expected reproducible or full)")),
        }
    }
}

/// What one run did, for [`Mode::Full`].
#[derive(Debug, Clone, Default)]
pub struct Run {
    /// RFC 3339 wall-clock times.
    pub started_on: String,
    pub finished_on: String,
    pub ran: Vec<String>,
    pub cached: Vec<String>,
}

/// Everything the predicate is made from.
pub struct Inputs<'a> {
    pub graph: &'a BuildGraph,
    pub resolved: &'a Resolved,
    /// The spec file's name in the project and its bytes.
    pub spec_file: String,
    pub spec_bytes: Vec<u8>,
    /// The git work tree the spec file is in, if it is in one.
    pub checkout: Option<crate::resolve::Checkout>,
    /// The options as the user gave them (`base`, `-X` options, ...).
    pub options: BTreeMap<String, Value>,
    pub epoch: i64,
    pub compression: String,
    pub mode: Mode,
    pub run: Run,
}

/// The predicate.
pub fn predicate(i: &Inputs<'_>) -> Value {
    let repo = super::STRATA_URI;
    let mut run_details = json!({
        "builder": { "id": format!("{repo}/builder/local@v1"), "version": { "strata": env!("CARGO_PKG_VERSION") } },
    });
    if i.mode == Mode::Full {
        run_details["metadata"] = json!({ "startedOn": i.run.started_on, "finishedOn": i.run.finished_on });
        run_details["byproducts"] = json!([{
            "name": "cache",
            "mediaType": "application/json",
            "content": base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                crate::json::to_vec(&json!({ "ran": i.run.ran, "cached": i.run.cached })).expect("json"),
            ),
            "annotations": { "hits": i.run.cached.len(), "misses": i.run.ran.len() },
        }]);
    }
    let mut external = json!({
        "spec": { "file": i.spec_file, "digest": { "sha256": hex::encode(Sha256::digest(&i.spec_bytes)) } },
        "frontend": { "name": i.graph.frontend.name, "semantics": i.graph.frontend.semantics },
        "options": i.options,
    });
    if let Some(c) = &i.checkout {
        // What `strata verify IMAGE` clones: the SLSA convention's source
        // (a URI and a git commit), with the spec's path in it and whether
        // the work tree had changes the commit does not hold.
        external["source"] = json!({
            "uri": c.source,
            "digest": { "gitCommit": c.revision },
            "path": c.path,
            "dirty": c.dirty,
        });
        if c.origin {
            external["source"]["remote"] = json!("origin");
        }
    }
    json!({
        "buildDefinition": {
            "buildType": format!("{repo}/build-types/graph@v1"),
            "externalParameters": external,
            "internalParameters": {
                "irVersion": i.graph.ir_version,
                "sourceDateEpoch": i.epoch,
                "compression": i.compression,
            },
            "resolvedDependencies": dependencies(i.graph, i.resolved),
        },
        "runDetails": run_details,
    })
}

/// Images by manifest digest, then each fetched source, in graph order.
fn dependencies(graph: &BuildGraph, resolved: &Resolved) -> Vec<Value> {
    let mut out: Vec<Value> = resolved
        .images
        .iter()
        .filter_map(|(r, p)| {
            let d = p.image.as_ref()?.digest();
            Some(json!({ "name": r, "uri": format!("oci://{r}"), "digest": { d.algorithm().as_ref(): d.digest() } }))
        })
        .collect();
    for v in &graph.vertices {
        let Op::Fetch(f) = &v.op else { continue };
        let s = &f.source;
        let mut digest = serde_json::Map::new();
        if let Some((alg, hex)) = s.checksum.as_deref().and_then(|c| c.split_once('/')) {
            digest.insert(alg.into(), json!(hex));
        }
        let pins = resolved.pins.get(&v.id).cloned().unwrap_or_default();
        for (k, val) in &pins {
            if k == "source:identity"
                && let Some(c) = val.strip_prefix("commit ")
            {
                digest.insert("gitCommit".into(), json!(c));
            }
        }
        if digest.is_empty() && !pins.is_empty() {
            // A local tree: the digest of its listing (path → content digest).
            digest
                .insert("sha256".into(), json!(hex::encode(Sha256::digest(crate::json::to_vec(&pins).expect("json")))));
        }
        let uri = if s.location.contains("://") { s.location.clone() } else { format!("file:{}", s.location) };
        let mut d = json!({ "name": format!("{}:{}", f.part, s.kind.name()), "uri": uri });
        if !digest.is_empty() {
            d["digest"] = Value::Object(digest);
        }
        if !out.contains(&d) {
            out.push(d);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use strata_frontend_api::graph::{FetchOp, FrontendId, Owner, Vertex};
    use strata_frontend_api::{Source, SourceKind};

    use super::*;

    fn inputs<'a>(graph: &'a BuildGraph, resolved: &'a Resolved, mode: Mode) -> Inputs<'a> {
        Inputs {
            graph,
            resolved,
            spec_file: "rockcraft.yaml".into(),
            spec_bytes: b"name: t\n".to_vec(),
            checkout: None,
            options: BTreeMap::new(),
            epoch: 0,
            compression: "gzip".into(),
            mode,
            run: Run { started_on: "2026-12-02T12:00:00Z".into(), ran: vec!["a:build".into()], ..Default::default() },
        }
    }

    fn graph() -> BuildGraph {
        let mut g = BuildGraph::new(FrontendId { name: "craft".into(), semantics: 3 });
        let source = Source {
            kind: SourceKind::Git,
            location: "https://example.com/a.git".into(),
            checksum: None,
            branch: Some("main".into()),
            tag: None,
            commit: None,
            depth: 1,
            submodules: None,
            subdir: None,
        };
        let op = Op::Fetch(FetchOp {
            part: "a".into(),
            source,
            prefix: "src".into(),
            owner: Owner::Root,
            check_subdir: false,
        });
        g.push(Vertex::new("a:pull", Some("a"), "pull", op));
        g
    }

    #[test]
    fn sources_are_pinned_by_the_commit_resolve_found() {
        let g = graph();
        let mut r = Resolved { images: BTreeMap::new(), pins: BTreeMap::new(), vcs: None };
        r.pins.insert("a:pull".into(), vec![("source:identity".into(), "commit 0123".into())]);
        let p = predicate(&inputs(&g, &r, Mode::Reproducible));
        let dep = &p["buildDefinition"]["resolvedDependencies"][0];
        assert_eq!(dep["digest"]["gitCommit"], "0123");
        assert_eq!(dep["uri"], "https://example.com/a.git");
        assert_eq!(p["buildDefinition"]["externalParameters"]["frontend"]["semantics"], 3);
    }

    #[test]
    fn only_full_mode_records_times_and_cache_use() {
        let g = graph();
        let r = Resolved { images: BTreeMap::new(), pins: BTreeMap::new(), vcs: None };
        let repro = predicate(&inputs(&g, &r, Mode::Reproducible));
        assert!(repro["runDetails"].get("metadata").is_none());
        let full = predicate(&inputs(&g, &r, Mode::Full));
        assert_eq!(full["runDetails"]["metadata"]["startedOn"], "2026-12-02T12:00:00Z");
        assert_eq!(full["runDetails"]["byproducts"][0]["annotations"]["misses"], 1);
    }

    #[test]
    fn a_project_in_git_records_where_it_is() {
        let g = graph();
        let r = Resolved { images: BTreeMap::new(), pins: BTreeMap::new(), vcs: None };
        let mut i = inputs(&g, &r, Mode::Reproducible);
        assert!(predicate(&i)["buildDefinition"]["externalParameters"].get("source").is_none());
        i.checkout = Some(crate::resolve::Checkout {
            source: "https://example.com/p.git".into(),
            origin: true,
            revision: "abc".into(),
            path: "sub/rockcraft.yaml".into(),
            dirty: true,
        });
        let s = &predicate(&i)["buildDefinition"]["externalParameters"]["source"];
        assert_eq!(s["uri"], "https://example.com/p.git");
        assert_eq!(s["digest"]["gitCommit"], "abc");
        assert_eq!(s["path"], "sub/rockcraft.yaml");
        assert_eq!(s["dirty"], true);
        assert_eq!(s["remote"], "origin");
    }
}
