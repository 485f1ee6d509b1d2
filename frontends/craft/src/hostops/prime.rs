//! `craft.prime`: a part's default prime — [`crate::migrate::prime_part`]:
//! what its (effective) prime fileset selects in its install tree, copied
//! from its own stage output, with `permissions` applied. The result is
//! what this part adds to the prime (`root/prime`, or the migration an
//! `override-prime` copies with `craftctl default`).

use serde::{Deserialize, Serialize};
use strata_frontend_api::{Fileset, HostOpError, HostResult, HostTree, Part, Permission};

use crate::migrate::prime_part;
use crate::tree::Tree;

use super::result;
use super::stage::part_with;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prime {
    pub part: String,
    /// The default prime fileset inherits the stage fileset's selection.
    pub stage: Fileset,
    pub prime: Fileset,
    pub permissions: Vec<Permission>,
}

impl Prime {
    pub fn of(name: &str, part: &Part) -> Prime {
        Prime {
            part: name.to_string(),
            stage: part.stage.clone(),
            prime: part.prime.clone(),
            permissions: part.permissions.clone(),
        }
    }
}

/// `install` is the organized install tree, `stage` the part's own stage
/// output (under `root/stage`).
pub fn run(p: &Prime, install: &HostTree<'_>, stage: &HostTree<'_>) -> Result<HostResult, HostOpError> {
    let part = part_with(p.stage.clone(), p.prime.clone(), p.permissions.clone());
    let mut prime = Tree::new();
    prime_part(&p.part, &part, install.tree, stage.tree, &mut prime).map_err(HostOpError::new)?;
    Ok(result(prime))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hostops::testing::Files;

    #[test]
    fn prime_copies_from_the_stage_with_permissions() {
        let install = Files::listing("f 755 bin/tool old\nf 644 usr/lib/foo.pc old\n");
        // The stage holds the fixed .pc file: prime copies the stage's bytes.
        let stage = Files::listing("f 755 bin/tool old\nf 644 usr/lib/foo.pc fixed\n");
        let p = Prime {
            part: "p".into(),
            stage: Fileset::all(),
            prime: Fileset::new(["-usr"]),
            permissions: vec![Permission {
                path: "bin/*".into(),
                owner: Some(1000),
                group: Some(1000),
                mode: Some(0o750),
            }],
        };
        let out = run(&p, &install.host(), &stage.host()).unwrap();
        assert_eq!(out.tree.paths().collect::<Vec<_>>(), ["bin", "bin/tool"]);
        let tool = out.tree.get("bin/tool").unwrap();
        assert_eq!((tool.mode, tool.uid, tool.gid), (0o750, 1000, 1000));
        let all = Prime { prime: Fileset::all(), permissions: vec![], ..p };
        let out = run(&all, &install.host(), &stage.host()).unwrap();
        assert_eq!(out.tree.get("usr/lib/foo.pc"), stage.tree.get("usr/lib/foo.pc"));
        let unstaged = Files::listing("f 755 bin/tool old\n");
        let err = run(&all, &install.host(), &unstaged.host()).unwrap_err();
        assert!(err.message.contains("which is not in the stage"), "{}", err.message);
    }
}
