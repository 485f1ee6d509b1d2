//! `craft.stage`: a part's default stage — craft-parts' stage conflict
//! check against the parts before it in lifecycle order
//! ([`crate::migrate::check_stage_conflicts`]), then
//! [`crate::migrate::stage_part`] of its install tree, with the staged
//! `.pc` files' `prefix=` pointed into the stage
//! ([`crate::migrate::fix_pkg_config`]). The result is what this part adds
//! to the stage (`root/stage`, or, for `override-stage`, the migration the
//! step's `craftctl default` copies).
//!
//! The conflict check reads the organized install trees of the parts
//! before this one in lifecycle order: every pair of parts is checked once,
//! when the later one stages, whatever order the steps run in.

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
    /// The parts before it in lifecycle order, whose install trees follow
    /// its own among the inputs.
    pub earlier: Vec<Staging>,
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
    Part {
        plugin: "nil".into(),
        plugin_options: Default::default(),
        build_plan: Default::default(),
        source: None,
        after: vec![],
        disable_parallel: false,
        build_packages: vec![],
        stage_packages: vec![],
        overlay_packages: vec![],
        overlay: Fileset::all(),
        build_environment: vec![],
        build_attributes: vec![],
        organize: vec![],
        stage,
        prime,
        scriptlets: Default::default(),
        permissions,
    }
}

pub fn run(p: &Stage, inputs: &[HostTree<'_>]) -> Result<HostResult, HostOpError> {
    if inputs.len() != p.earlier.len() + 1 {
        return Err(HostOpError::new(format!(
            "host op '{}': expected {} input trees, got {}",
            super::STAGE,
            p.earlier.len() + 1,
            inputs.len()
        )));
    }
    let own = &inputs[0];
    let this = part_with(p.this.stage.clone(), Fileset::all(), p.this.permissions.clone());
    for (other, tree) in p.earlier.iter().zip(&inputs[1..]) {
        let o = part_with(other.stage.clone(), Fileset::all(), other.permissions.clone());
        check_stage_conflicts(&[(other.part.as_str(), &o, tree.tree), (p.this.part.as_str(), &this, own.tree)])
            .map_err(HostOpError::new)?;
    }
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
        let p = Stage {
            this: staging("p", &["*", "-share"]),
            install_dir: "/root/parts/p/install".into(),
            earlier: vec![],
        };
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
    fn a_part_conflicts_with_the_parts_before_it_in_lifecycle_order() {
        let a = Files::listing("f 644 etc/x one\n");
        let b = Files::listing("f 644 etc/x two\n");
        let p = Stage {
            this: staging("b", &["*"]),
            install_dir: "/root/parts/b/install".into(),
            earlier: vec![staging("a", &["*"])],
        };
        let err = run(&p, &[b.host(), a.host()]).unwrap_err();
        assert!(err.message.starts_with("parts 'b' and 'a' both stage 'etc/x'"), "{}", err.message);
        let excluded = Stage { earlier: vec![staging("a", &["-etc"])], ..p.clone() };
        assert!(run(&excluded, &[b.host(), a.host()]).is_ok(), "what a part does not stage does not conflict");
        assert!(run(&p, &[b.host()]).is_err(), "one input tree per earlier part");
    }
}
