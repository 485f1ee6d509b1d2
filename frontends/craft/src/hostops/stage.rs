//! `craft.stage`: a part's default stage — [`crate::migrate::stage_part`]
//! of its install tree, with the staged `.pc` files' `prefix=` pointed into
//! the stage ([`crate::migrate::fix_pkg_config`]). The result is what this
//! part adds to the stage (`root/stage`, or, for `override-stage`, the
//! migration the step's `craftctl default` copies).
//!
//! `craft.stage-conflicts`: craft-parts' stage conflict check
//! ([`crate::migrate::check_stage_conflicts`]) over every part's organized
//! install tree, in lifecycle order: one vertex of its own with no output,
//! so a part's stage is keyed by its own install tree only, and an edit in
//! one part reruns the check, not the other parts' stages.

use serde::{Deserialize, Serialize};
use strata_frontend_api::{Fileset, HostOpError, HostResult, HostTree, Part, Permission};

use crate::dirs::STAGE_DIR;
use crate::migrate::{check_stage_conflicts, fix_pkg_config, stage_part};
use crate::tree::{Entry, EntryKind, Tree};

use super::{content_id, read};

/// What a part's stage depends on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stage {
    pub this: Staging,
    /// `CRAFT_PART_INSTALL` of the part (what `.pc` prefixes lose).
    pub install_dir: String,
}

/// The parts whose stages must not conflict, in lifecycle order; their
/// install trees are the inputs, in the same order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageConflicts {
    pub parts: Vec<Staging>,
}

/// The keys of a part that staging and the conflict check read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Staging {
    pub part: String,
    pub stage: Fileset,
    pub permissions: Vec<Permission>,
}

impl Staging {
    pub fn of(name: &str, part: &Part) -> Staging {
        Staging { part: name.to_string(), stage: part.stage.clone(), permissions: part.permissions.clone() }
    }
}

/// A part with only the keys migration reads (the functions of
/// [`crate::migrate`] take whole parts).
pub(super) fn part_with(stage: Fileset, prime: Fileset, permissions: Vec<Permission>) -> Part {
    Part { stage, prime, permissions, ..Part::default() }
}

/// Fails naming the first two parts that would stage different things at one path.
pub fn conflicts(p: &StageConflicts, inputs: &[HostTree<'_>]) -> Result<(), HostOpError> {
    if inputs.len() != p.parts.len() {
        let n = (p.parts.len(), inputs.len());
        let message = format!("host op '{}': expected {} input trees, got {}", super::STAGE_CONFLICTS, n.0, n.1);
        return Err(HostOpError::new(message));
    }
    let parts: Vec<Part> =
        p.parts.iter().map(|s| part_with(s.stage.clone(), Fileset::all(), s.permissions.clone())).collect();
    let built: Vec<(&str, &Part, &Tree)> =
        p.parts.iter().zip(&parts).zip(inputs).map(|((s, part), t)| (s.part.as_str(), part, t.tree)).collect();
    check_stage_conflicts(&built).map_err(HostOpError::new)
}

pub fn run(p: &Stage, inputs: &[HostTree<'_>]) -> Result<HostResult, HostOpError> {
    let [own] = inputs else {
        let message = format!("host op '{}': expected 1 input tree, got {}", super::STAGE, inputs.len());
        return Err(HostOpError::new(message));
    };
    let this = part_with(p.this.stage.clone(), Fileset::all(), p.this.permissions.clone());
    let mut stage = Tree::new();
    let sel = stage_part(&p.this.part, &this, own.tree, &mut stage).map_err(HostOpError::new)?;
    let mut out = HostResult::default();
    for rel in sel.files.iter().filter(|f| f.ends_with(".pc")) {
        let Some(entry) = stage.get(rel).filter(|e| matches!(e.kind, EntryKind::File { .. })).cloned() else {
            continue;
        };
        let Ok(text) = String::from_utf8(read(own, rel)?) else { continue };
        let fixed = fix_pkg_config(&text, &p.install_dir, STAGE_DIR);
        if fixed != text {
            let id = content_id(fixed.as_bytes());
            stage.insert(rel, Entry { kind: EntryKind::File { content: id.clone() }, ..entry });
            out.data.insert(id, fixed.into_bytes());
        }
    }
    out.tree = stage;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hostops::testing::Files;

    fn staging(part: &str, stage: &[&str]) -> Staging {
        Staging { part: part.into(), stage: Fileset::new(stage.iter().copied()), permissions: vec![] }
    }

    #[test]
    fn stage_selects_and_points_pc_files_into_the_stage() {
        let install = Files::listing(
            "f 755 bin/tool x\nf 644 usr/lib/pkgconfig/foo.pc prefix=/root/parts/p/install/usr\\nName: foo\\n\nf 644 share/doc/README r\n",
        );
        let p = Stage { this: staging("p", &["*", "-share"]), install_dir: "/root/parts/p/install".into() };
        let out = run(&p, &[install.host()]).unwrap();
        assert_eq!(
            out.tree.paths().collect::<Vec<_>>(),
            ["bin", "bin/tool", "usr", "usr/lib", "usr/lib/pkgconfig", "usr/lib/pkgconfig/foo.pc"]
        );
        assert_eq!(out.tree.get("bin/tool"), install.tree.get("bin/tool"), "copied files keep their content id");
        let EntryKind::File { content } = &out.tree.get("usr/lib/pkgconfig/foo.pc").unwrap().kind else { panic!() };
        assert_eq!(out.data[content], b"prefix=/root/stage/usr\nName: foo\n", "the new bytes come with the result");
        assert_eq!(*content, content_id(b"prefix=/root/stage/usr\nName: foo\n"));
    }

    #[test]
    fn parts_that_stage_different_files_at_one_path_conflict() {
        let a = Files::listing("f 644 etc/x one\n");
        let b = Files::listing("f 644 etc/x two\n");
        let p = StageConflicts { parts: vec![staging("a", &["*"]), staging("b", &["*"])] };
        let err = conflicts(&p, &[a.host(), b.host()]).unwrap_err();
        assert!(err.message.contains("'a'") && err.message.contains("'b'"), "{}", err.message);
        assert!(err.message.contains("both stage 'etc/x'"), "{}", err.message);
        let excluded = StageConflicts { parts: vec![staging("a", &["-etc"]), staging("b", &["*"])] };
        assert!(conflicts(&excluded, &[a.host(), b.host()]).is_ok(), "what a part does not stage does not conflict");
        assert!(conflicts(&p, &[a.host()]).is_err(), "one input tree per part");
    }
}
