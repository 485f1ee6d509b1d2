//! `craft.prime`: a part's default prime — [`crate::migrate::prime_part`]:
//! what its (effective) prime fileset selects in its install tree, copied
//! from its own stage output, with `permissions` applied. The result is
//! what this part adds to the prime (`root/prime`, or the migration an
//! `override-prime` copies with `craftctl default`).
//!
//! For a rock's python part built with craft-parts' python v2, rockcraft's
//! post-prime fix (`_python_v2_shebang_fix`) is done here too: a primed
//! file whose first line is `#!<dir>/.../python3...`, `<dir>` the part's
//! install dir or the stage, has `<dir>` taken out of that line, so the
//! console scripts pip wrote for the build-time interpreter
//! (`#!/root/parts/p/install/usr/bin/python3`) start the image's
//! (`#!/usr/bin/python3`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use strata_frontend_api::{Fileset, HostOpError, HostResult, HostTree, Part, Permission};

use crate::migrate::prime_part;
use crate::tree::{Entry, EntryKind, Tree};

use super::stage::part_with;
use super::{content_id, read, result};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prime {
    pub part: String,
    /// The default prime fileset inherits the stage fileset's selection.
    pub stage: Fileset,
    pub prime: Fileset,
    pub permissions: Vec<Permission>,
    /// The directories taken out of primed `python3` shebangs
    /// ([`crate::plugins::python::v2_shebang_dirs`]); empty for every other
    /// part, which keeps the parameters (and keys) they always had.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub python_shebang_dirs: Vec<String>,
}

impl Prime {
    pub fn of(name: &str, part: &Part) -> Prime {
        Prime {
            part: name.to_string(),
            stage: part.stage.clone(),
            prime: part.prime.clone(),
            permissions: part.permissions.clone(),
            python_shebang_dirs: Vec::new(),
        }
    }
}

/// `install` is the organized install tree, `stage` the part's own stage
/// output (under `root/stage`).
pub fn run(p: &Prime, install: &HostTree<'_>, stage: &HostTree<'_>) -> Result<HostResult, HostOpError> {
    let part = part_with(p.stage.clone(), p.prime.clone(), p.permissions.clone());
    let mut prime = Tree::new();
    prime_part(&p.part, &part, install.tree, stage.tree, &mut prime).map_err(HostOpError::new)?;
    if p.python_shebang_dirs.is_empty() {
        return Ok(result(prime));
    }
    let mut data = BTreeMap::new();
    let files: Vec<(String, Entry)> = prime
        .iter()
        .filter(|(_, e)| matches!(e.kind, EntryKind::File { .. }))
        .map(|(p, e)| (p.clone(), e.clone()))
        .collect();
    for (path, entry) in files {
        let bytes = read(stage, &path)?;
        if let Some(new) = fix_python_shebang(&bytes, &p.python_shebang_dirs) {
            let id = content_id(&new);
            data.insert(id.clone(), new);
            prime.insert(&path, Entry { kind: EntryKind::File { content: id }, ..entry });
        }
    }
    Ok(HostResult { tree: prime, data })
}

/// rockcraft's `_python_v2_shebang_fix` on one file: when the first line
/// matches `#!<dir>/.*/python3.*$` for one of `dirs` (in order), every
/// `<dir>` in that line is taken out; other files (and lines that are not
/// text) are left alone.
pub fn fix_python_shebang(bytes: &[u8], dirs: &[String]) -> Option<Vec<u8>> {
    if !bytes.starts_with(b"#!") {
        return None;
    }
    let end = bytes.iter().position(|&b| b == b'\n').map_or(bytes.len(), |i| i + 1);
    let line = std::str::from_utf8(&bytes[..end]).ok()?;
    let text = line.strip_suffix('\n').unwrap_or(line);
    let dir = dirs.iter().find(|d| {
        text.strip_prefix("#!")
            .and_then(|t| t.strip_prefix(d.as_str()))
            .and_then(|t| t.strip_prefix('/'))
            .is_some_and(|rest| rest.contains("/python3"))
    })?;
    let mut out = line.replace(dir.as_str(), "").into_bytes();
    out.extend_from_slice(&bytes[end..]);
    Some(out)
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
            python_shebang_dirs: vec![],
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

    #[test]
    fn rockcraft_python_v2_shebangs_lose_the_build_time_dirs() {
        let dirs = vec!["/root/parts/p/install".to_string(), "/root/stage".to_string()];
        let fix = |text: &str| fix_python_shebang(text.as_bytes(), &dirs).map(|b| String::from_utf8(b).unwrap());
        assert_eq!(
            fix("#!/root/parts/p/install/usr/bin/python3\nimport x\n").unwrap(),
            "#!/usr/bin/python3\nimport x\n"
        );
        assert_eq!(fix("#!/root/stage/usr/bin/python3.11 -I\n").unwrap(), "#!/usr/bin/python3.11 -I\n");
        // rockcraft's regex: a directory, then `/python3` somewhere after it.
        assert_eq!(fix("#!/root/parts/p/install/python3\n"), None);
        assert_eq!(fix("#!/usr/bin/python3\n"), None);
        assert_eq!(fix("#!/root/parts/q/install/usr/bin/python3\n"), None, "another part's install dir");
        assert_eq!(fix("#!/bin/sh\n/root/stage/usr/bin/python3\n"), None);
        assert_eq!(fix("\x7fELF"), None);

        let install = Files::listing("f 755 usr/bin/hello x\nf 644 usr/lib/m.py y\n");
        let stage = Files::listing(
            "f 755 usr/bin/hello #!/root/parts/p/install/usr/bin/python3\\nrun()\nf 644 usr/lib/m.py pass\n",
        );
        let p = Prime {
            part: "p".into(),
            stage: Fileset::all(),
            prime: Fileset::all(),
            permissions: vec![],
            python_shebang_dirs: dirs.clone(),
        };
        let out = run(&p, &install.host(), &stage.host()).unwrap();
        let EntryKind::File { content } = &out.tree.get("usr/bin/hello").unwrap().kind else { panic!() };
        assert_eq!(out.data[content], b"#!/usr/bin/python3\nrun()");
        assert_eq!(out.tree.get("usr/bin/hello").unwrap().mode, 0o755);
        assert_eq!(out.tree.get("usr/lib/m.py"), stage.tree.get("usr/lib/m.py"));
        assert_eq!(out.data.len(), 1);
    }
}
