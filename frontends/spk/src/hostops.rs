//! The spk frontend's host operations, run by strata over file listings:
//!
//! | op | input | output |
//! |---|---|---|
//! | [`LOCAL_SOURCE`] | a local source as fetched | the files rsync would copy (excludes, `.gitignore`s) |
//! | [`PACKAGE`] | what a build wrote, the build environment | one tree per component, after spk's purge and validation |

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use strata_frontend_api::graph::HostOp;
use strata_frontend_api::tree::{Entry, EntryKind, Tree};
use strata_frontend_api::{HostOpError, HostResult, HostTree};

use crate::filter::{Pattern, Rules};

pub const LOCAL_SOURCE: &str = "spk.local-source";
pub const PACKAGE: &str = "spk.package";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalSource {
    pub exclude: Vec<String>,
    pub filter: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentParams {
    pub name: String,
    pub files: Vec<String>,
    pub remaining: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleParams {
    /// `allow`, `deny` or `require`.
    pub mode: String,
    pub rule: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    /// `name/version/DIGEST`, for messages.
    pub ident: String,
    /// `spfs/spk/pkg/<n>/<v>/src`: purged.
    pub src_dir: String,
    /// `spfs/spk/pkg/<n>/<v>/<DIGEST>`: in every component.
    pub meta_dir: String,
    pub components: Vec<ComponentParams>,
    /// The user's rules, after spk's defaults.
    pub rules: Vec<RuleParams>,
}

/// Runs `op`.
pub fn run(op: &HostOp, inputs: &[HostTree<'_>]) -> Result<Vec<HostResult>, HostOpError> {
    let bad = |e: serde_json::Error| HostOpError::new(format!("{}: bad parameters: {e}", op.name));
    match op.name.as_str() {
        LOCAL_SOURCE => {
            let p: LocalSource = serde_json::from_value(op.params.clone()).map_err(bad)?;
            let input = inputs.first().ok_or_else(|| HostOpError::new("spk.local-source needs its source"))?;
            Ok(vec![HostResult { tree: local_source(&p, input)?, data: BTreeMap::new() }])
        }
        PACKAGE => {
            let p: Package = serde_json::from_value(op.params.clone()).map_err(bad)?;
            let (Some(built), Some(env)) = (inputs.first(), inputs.get(1)) else {
                return Err(HostOpError::new("spk.package needs the build's changes and its environment"));
            };
            let trees = package(&p, built.tree, env.tree)?;
            Ok(trees.into_iter().map(|tree| HostResult { tree, data: BTreeMap::new() }).collect())
        }
        other => Err(HostOpError::new(format!("the spk frontend has no host op '{other}'"))),
    }
}

/// The files of a local source that rsync copies.
pub fn local_source(p: &LocalSource, input: &HostTree<'_>) -> Result<Tree, HostOpError> {
    let mut rules = Rules::default();
    let mut merge_names: Vec<String> = Vec::new();
    for f in &p.filter {
        let f = f.trim();
        if let Some(name) =
            f.strip_prefix(":- ").or_else(|| f.strip_prefix("dir-merge,- ")).or_else(|| f.strip_prefix(": "))
        {
            merge_names.push(name.trim().to_string());
        } else if let Some(pat) = f.strip_prefix("- ").or_else(|| f.strip_prefix("exclude ")) {
            rules.add("", [pat]);
        } else if let Some(pat) = f.strip_prefix("+ ").or_else(|| f.strip_prefix("include ")) {
            rules.add("", [format!("!{pat}")]);
        } else {
            return Err(HostOpError::new(format!(
                "local source filter '{f}' is not understood: strata reads ':- FILE' (per-directory merge), '- PATTERN' and '+ PATTERN'"
            )));
        }
    }
    // Per-directory merge files, shallowest first.
    let mut merges: Vec<&str> = input
        .tree
        .paths()
        .filter(|path| merge_names.iter().any(|n| path.rsplit('/').next() == Some(n.as_str())))
        .collect();
    merges.sort_by_key(|p| p.matches('/').count());
    for m in merges {
        let bytes = input.files.read(m).map_err(|e| HostOpError::new(format!("cannot read {m}: {e}")))?;
        let dir = m.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        rules.add(dir, String::from_utf8_lossy(&bytes).lines());
    }
    let excludes = Rules::new(&p.exclude);
    let mut out = Tree::new();
    let mut dropped: Vec<String> = Vec::new();
    for (path, entry) in input.tree.iter() {
        if dropped.iter().any(|d| path.starts_with(d.as_str()) && path.as_bytes().get(d.len()) == Some(&b'/')) {
            continue;
        }
        let is_dir = entry.is_dir();
        if excludes.matches(path, is_dir) == Some(true) || rules.matches(path, is_dir) == Some(true) {
            if is_dir {
                dropped.push(path.clone());
            }
            continue;
        }
        out.insert(path, entry.clone());
    }
    Ok(out)
}

fn whiteout_target(path: &str) -> Option<String> {
    let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
    let target = name.strip_prefix(".wh.")?;
    (target != ".wh..opq").then(|| if dir.is_empty() { target.to_string() } else { format!("{dir}/{target}") })
}

fn under(path: &str, dir: &str) -> bool {
    path == dir || path.strip_prefix(dir).is_some_and(|r| r.starts_with('/'))
}

/// The rule's verdict: spk's defaults, then the user's rules in order.
fn mode_of(rules: &[RuleParams], rule: &str, default: &str) -> String {
    let mut m = default.to_string();
    for r in rules.iter().filter(|r| r.rule == rule) {
        m = r.mode.clone();
    }
    m
}

/// spk's purge, output validation and split by component (reference §3.5
/// steps 8–9, §4, §5.3).
pub fn package(p: &Package, built: &Tree, env: &Tree) -> Result<Vec<Tree>, HostOpError> {
    // Purge: the source dir; whiteouts of nothing in the environment (the
    // source package's files); files rewritten unchanged.
    let mut kept = Tree::new();
    let mut altered: Vec<String> = Vec::new();
    let mut collected: Vec<String> = Vec::new();
    for (path, e) in built.iter() {
        if under(path, &p.src_dir) {
            continue;
        }
        if let Some(target) = whiteout_target(path) {
            if !env.lexists(&target) {
                continue;
            }
            altered.push(format!("{target} (removed)"));
        } else if !e.is_dir()
            && !under(path, &p.meta_dir)
            && let Some(old) = env.get(path)
        {
            if old.kind == e.kind && old.mode == e.mode {
                continue; // touched, unchanged
            }
            if !old.is_dir() {
                altered.push(format!("{path} (changed)"));
                collected.push(path.clone());
            }
        }
        kept.insert(path, e.clone());
    }
    let fail = |rule: &str, msg: &str, paths: &[String]| -> HostOpError {
        let list: Vec<&str> = paths.iter().take(10).map(String::as_str).collect();
        let more = if paths.len() > 10 { format!(" and {} more", paths.len() - 10) } else { String::new() };
        HostOpError::new(format!(
            "{}: {msg} ({rule}): {}{more}\n  help: change the build script, or add '- allow: {rule}' to build.validation.rules",
            p.ident,
            list.join(", ")
        ))
    };
    if !altered.is_empty() && mode_of(&p.rules, "AlterExistingFiles", "deny") == "deny" {
        return Err(fail("AlterExistingFiles", "Build must not alter files from other packages.", &altered));
    }
    if !collected.is_empty() && mode_of(&p.rules, "CollectExistingFiles", "deny") == "deny" {
        return Err(fail("CollectExistingFiles", "Build must not collect files from other packages.", &collected));
    }
    let payload: Vec<&str> =
        kept.iter().filter(|(path, e)| !e.is_dir() && !under(path, &p.meta_dir)).map(|(p, _)| p.as_str()).collect();
    if payload.is_empty() && mode_of(&p.rules, "EmptyPackage", "deny") == "deny" {
        return Err(HostOpError::new(format!(
            "{}: Builds must install at least one file in spfs (EmptyPackage): the build script wrote nothing under /spfs besides spk's metadata\n  help: install into $PREFIX (/spfs), or add '- allow: EmptyPackage' to build.validation.rules",
            p.ident
        )));
    }
    // Split: each component in order takes the paths its patterns match
    // (rooted at /spfs), with their parents; Remaining only what is left.
    let mut taken: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::new();
    for c in &p.components {
        let rules = Rules::new(&c.files);
        let mut tree = Tree::new();
        for (path, e) in kept.iter() {
            if under(path, &p.meta_dir) || e.is_dir() {
                continue;
            }
            let Some(rel) = path.strip_prefix("spfs/") else { continue };
            let real = whiteout_target(rel).unwrap_or_else(|| rel.to_string());
            if (c.remaining && taken.contains(path)) || !rules.matches_path_or_parent(&real, false) {
                continue;
            }
            add_with_parents(&mut tree, &kept, path, e);
        }
        for meta in ["spec.yaml", "options.json", "build.sh", &format!("{}.cmpt", c.name)] {
            let path = format!("{}/{meta}", p.meta_dir);
            if let Some(e) = kept.get(&path) {
                add_with_parents(&mut tree, &kept, &path, e);
            }
        }
        taken.extend(tree.iter().filter(|(_, e)| !e.is_dir()).map(|(p, _)| p.clone()));
        out.push(tree);
    }
    Ok(out)
}

fn add_with_parents(tree: &mut Tree, from: &Tree, path: &str, e: &Entry) {
    let mut dir = String::new();
    for comp in path.split('/').collect::<Vec<_>>().split_last().map(|(_, d)| d.to_vec()).unwrap_or_default() {
        if !dir.is_empty() {
            dir.push('/');
        }
        dir.push_str(comp);
        let entry = from.get(&dir).cloned().unwrap_or(Entry { kind: EntryKind::Dir, mode: 0o755, uid: 0, gid: 0 });
        tree.insert(&dir, entry);
    }
    tree.insert(path, e.clone());
}

/// Whether `p` parses as a pattern (for spec checks).
pub fn valid_pattern(p: &str) -> bool {
    Pattern::parse(p).is_some() || p.trim().is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Files(BTreeMap<String, Vec<u8>>);
    impl strata_frontend_api::ReadFile for Files {
        fn read(&self, path: &str) -> std::io::Result<Vec<u8>> {
            self.0.get(path).cloned().ok_or_else(|| std::io::Error::other("absent"))
        }
    }

    fn listing(t: &Tree) -> Vec<String> {
        t.iter().map(|(p, e)| if e.is_dir() { format!("{p}/") } else { p.clone() }).collect()
    }

    #[test]
    fn local_sources_drop_vcs_dirs_and_what_gitignores_name() {
        let tree = Tree::parse_listing(
            "d 755 .git\nf 644 .git/HEAD\nf 644 .gitignore\nf 644 main.c\nd 755 build\nf 644 build/x.o\nd 755 sub\nf 644 sub/.gitignore\nf 644 sub/gen.c\nf 644 sub/keep.c\n",
        )
        .unwrap();
        let files = Files(BTreeMap::from([
            (".gitignore".to_string(), b"build/\n".to_vec()),
            ("sub/.gitignore".to_string(), b"gen.c\n".to_vec()),
        ]));
        let p = LocalSource { exclude: vec![".git/".into(), ".svn/".into()], filter: vec![":- .gitignore".into()] };
        let out = local_source(&p, &HostTree { tree: &tree, files: &files }).unwrap();
        assert_eq!(listing(&out), [".gitignore", "main.c", "sub/", "sub/.gitignore", "sub/keep.c"]);
        // filter: [] keeps a real build/ dir (spk issue #24).
        let p = LocalSource { exclude: vec![], filter: vec![] };
        let out = local_source(&p, &HostTree { tree: &tree, files: &files }).unwrap();
        assert!(out.contains("build/x.o") && out.contains(".git/HEAD"));
    }

    fn params(components: &[(&str, &[&str], bool)], rules: &[(&str, &str)]) -> Package {
        Package {
            ident: "greet/1.0.0/ABCDEFGH".into(),
            src_dir: "spfs/spk/pkg/greet/1.0.0/src".into(),
            meta_dir: "spfs/spk/pkg/greet/1.0.0/ABCDEFGH".into(),
            components: components
                .iter()
                .map(|(n, f, r)| ComponentParams {
                    name: n.to_string(),
                    files: f.iter().map(|s| s.to_string()).collect(),
                    remaining: *r,
                })
                .collect(),
            rules: rules.iter().map(|(m, r)| RuleParams { mode: m.to_string(), rule: r.to_string() }).collect(),
        }
    }

    const BUILT: &str = "f 644 spfs/spk/pkg/greet/1.0.0/src/obj.o\n\
        f 644 spfs/spk/pkg/greet/1.0.0/ABCDEFGH/spec.yaml\n\
        f 644 spfs/spk/pkg/greet/1.0.0/ABCDEFGH/build.cmpt\n\
        f 644 spfs/spk/pkg/greet/1.0.0/ABCDEFGH/run.cmpt\n\
        f 644 spfs/spk/pkg/greet/1.0.0/ABCDEFGH/man.cmpt\n\
        f 755 spfs/bin/greet\nf 644 spfs/include/greet.h\nf 644 spfs/share/man/man1/greet.1\n";

    #[test]
    fn components_split_the_purged_build_and_each_carries_the_metadata() {
        let built = Tree::parse_listing(BUILT).unwrap();
        let p = params(
            &[("man", &["share/man/"], false), ("build", &["*"], false), ("run", &["/bin/", "/etc/"], false)],
            &[],
        );
        let out = package(&p, &built, &Tree::new()).unwrap();
        let files = |t: &Tree| t.iter().filter(|(_, e)| !e.is_dir()).map(|(p, _)| p.clone()).collect::<Vec<_>>();
        assert_eq!(
            files(&out[0]),
            [
                "spfs/share/man/man1/greet.1",
                "spfs/spk/pkg/greet/1.0.0/ABCDEFGH/man.cmpt",
                "spfs/spk/pkg/greet/1.0.0/ABCDEFGH/spec.yaml"
            ]
        );
        assert!(
            files(&out[1]).contains(&"spfs/include/greet.h".to_string())
                && files(&out[1]).contains(&"spfs/share/man/man1/greet.1".to_string()),
            "components overlap"
        );
        assert!(!files(&out[1]).iter().any(|f| f.contains("/src/")), "the source dir is purged");
        assert_eq!(files(&out[2])[0], "spfs/bin/greet");
        assert!(out[2].is_dir("spfs/bin") && out[2].is_dir("spfs"), "with parents");
        let p = params(&[("man", &["share/man/"], false), ("rest", &["*"], true)], &[]);
        let out = package(&p, &built, &Tree::new()).unwrap();
        assert!(!files(&out[1]).contains(&"spfs/share/man/man1/greet.1".to_string()), "Remaining skips what man took");
    }

    #[test]
    fn validation_follows_spks_default_rules_and_the_specs_overrides() {
        let built = Tree::parse_listing(BUILT).unwrap();
        let env = Tree::parse_listing("f 644 spfs/include/greet.h old\nf 755 spfs/bin/greet spfs/bin/greet\n").unwrap();
        let p = params(&[("run", &["*"], false)], &[]);
        let e = package(&p, &built, &env).unwrap_err();
        assert!(
            e.message.contains("Build must not alter files from other packages.")
                && e.message.contains("spfs/include/greet.h (changed)"),
            "{e}"
        );
        assert!(!e.message.contains("spfs/bin/greet"), "an identical rewrite is purged, not an alteration: {e}");
        let p =
            params(&[("run", &["*"], false)], &[("allow", "AlterExistingFiles"), ("allow", "CollectExistingFiles")]);
        let out = package(&p, &built, &env).unwrap();
        assert!(!out[0].contains("spfs/bin/greet") && out[0].contains("spfs/include/greet.h"));
        let empty = Tree::parse_listing("f 644 spfs/spk/pkg/greet/1.0.0/ABCDEFGH/spec.yaml\n").unwrap();
        let e = package(&params(&[("run", &["*"], false)], &[]), &empty, &Tree::new()).unwrap_err();
        assert!(e.message.contains("Builds must install at least one file in spfs"), "{e}");
        assert!(
            package(&params(&[("run", &["*"], false)], &[("allow", "EmptyPackage")]), &empty, &Tree::new()).is_ok()
        );
    }
}
