//! Moving a part's files between trees: install → stage, stage → prime
//! (craft-parts' `migrate_files`), stage conflicts between parts
//! (`collisions.py`) and `permissions`.
//!
//! Where craft-parts crashes with "Failed to copy ...: no such file or
//! directory", these functions return a [`MigrateError`] that says which
//! path, which part, and what to change.

use strata_frontend_api::{Part, Permission};

use crate::fileset::{FilesetError, Selection, effective_prime, select};
use crate::glob::fnmatch;
use crate::tree::{Entry, EntryKind, Tree, parent};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MigrateError {
    #[error("part '{part}': {source}")]
    Fileset {
        part: String,
        #[source]
        source: FilesetError,
    },
    /// An explicit `stage` entry naming a path the part did not install.
    #[error(
        "part '{part}': the stage fileset names '{path}', which the part did not install; remove it from 'stage', or make the build install it"
    )]
    NotInstalled { part: String, path: String },
    /// prime selected a path of the install dir that is not in the stage:
    /// craft-parts crashes here (prime `['*', -x]` with a stage that left
    /// files out, an override-stage without `craftctl default`, ...).
    #[error(
        "part '{part}': prime selects '{path}', which is not in the stage (the part's stage step did not stage it); exclude it in 'prime' ('-{path}'), or write prime with excludes only so that it inherits the stage fileset"
    )]
    NotStaged { part: String, path: String },
    /// A directory would replace a file or symlink.
    #[error("part '{part}': cannot create directory '{path}' over a file")]
    NotADirectory { part: String, path: String },
}

/// Two parts stage the same path with different contents, types, symlink
/// targets or permissions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "parts '{part}' and '{other}' both stage {}, with different contents or permissions; stage it from one part only (a '-path' in the other's 'stage'), or organize it elsewhere{}",
    quoted(paths),
    usrmerge_hint.as_deref().map(|h| format!("; {h}")).unwrap_or_default()
)]
pub struct StageConflict {
    pub part: String,
    pub other: String,
    pub paths: Vec<String>,
    /// When one part has a usrmerged install dir and the other a real
    /// `bin/` (`lib/`, ...): which to give `enable-usrmerge`.
    pub usrmerge_hint: Option<String>,
}

/// The hint of a conflict on `paths` between `a` and `b` when one has a
/// usrmerge link (`bin -> usr/bin`) where the other has a directory: a
/// `dump` or `nil` part (or one with `disable-usrmerge`) next to usrmerged
/// parts, typically with stage-packages of a release that still ships
/// files in `/lib` (Debian 12).
fn usrmerge_hint(paths: &[String], (na, a): (&str, &Tree), (nb, b): (&str, &Tree)) -> Option<String> {
    let link = |t: &Tree, d: &str| {
        matches!(&t.get(d)?.kind, EntryKind::Symlink { target } if *target == format!("usr/{d}")).then_some(())
    };
    let dir = |t: &Tree, d: &str| t.is_real_dir(d);
    let d = paths.iter().find(|p| crate::usrmerge::MERGED_DIRS.contains(&p.as_str()))?;
    let (merged, plain) = if link(a, d).is_some() && dir(b, d) {
        (na, nb)
    } else if link(b, d).is_some() && dir(a, d) {
        (nb, na)
    } else {
        return None;
    };
    Some(format!(
        "part '{merged}' has a usrmerged install dir ('{d}' is a link to 'usr/{d}') and part '{plain}' has a '{d}' directory: \
         add 'build-attributes: [enable-usrmerge]' to '{plain}' so that its files go through the links too"
    ))
}

fn quoted(paths: &[String]) -> String {
    paths.iter().map(|p| format!("'{p}'")).collect::<Vec<_>>().join(", ")
}

/// What the stage step of `part` takes from its install tree.
pub fn stage_selection(name: &str, part: &Part, install: &Tree) -> Result<Selection, MigrateError> {
    select(&part.stage, install).map_err(|source| MigrateError::Fileset { part: name.to_string(), source })
}

/// What the prime step of `part` takes: selected in its *install* tree with
/// the effective prime fileset, copied from the stage.
pub fn prime_selection(name: &str, part: &Part, install: &Tree) -> Result<Selection, MigrateError> {
    let fs = effective_prime(part).map_err(|source| MigrateError::Fileset { part: name.to_string(), source })?;
    select(&fs, install).map_err(|source| MigrateError::Fileset { part: name.to_string(), source })
}

/// The default stage action of a part: its install tree, filtered, added to
/// `stage`. Returns what was migrated.
pub fn stage_part(name: &str, part: &Part, install: &Tree, stage: &mut Tree) -> Result<Selection, MigrateError> {
    let sel = stage_selection(name, part, install)?;
    migrate(&sel, install, stage, &[]).map_err(|m| match m {
        Missing::Path(path) => MigrateError::NotInstalled { part: name.to_string(), path },
        Missing::DirOverFile(path) => MigrateError::NotADirectory { part: name.to_string(), path },
    })
}

/// The default prime action of a part: what its prime fileset selects in
/// its install tree, copied from `stage` into `prime` with `permissions`.
pub fn prime_part(
    name: &str,
    part: &Part,
    install: &Tree,
    stage: &Tree,
    prime: &mut Tree,
) -> Result<Selection, MigrateError> {
    let sel = prime_selection(name, part, install)?;
    migrate(&sel, stage, prime, &part.permissions).map_err(|m| match m {
        Missing::Path(path) => MigrateError::NotStaged { part: name.to_string(), path },
        Missing::DirOverFile(path) => MigrateError::NotADirectory { part: name.to_string(), path },
    })
}

enum Missing {
    Path(String),
    DirOverFile(String),
}

/// `migrate_files`: directories first (created like their source, metadata
/// overwritten), then files; a symlink already at a file's destination is
/// left alone; `permissions` apply to what is copied.
fn migrate(sel: &Selection, from: &Tree, to: &mut Tree, permissions: &[Permission]) -> Result<Selection, Missing> {
    for dir in &sel.dirs {
        let Some(src) = from.get(dir) else { return Err(Missing::Path(dir.clone())) };
        match to.get(dir) {
            Some(e) if e.is_symlink() => continue,
            Some(e) if !e.is_dir() => return Err(Missing::DirOverFile(dir.clone())),
            _ => {}
        }
        to.mkdir_p(parent(dir), 0o755);
        let mut entry = Entry { kind: EntryKind::Dir, ..src.clone() };
        apply_permissions(dir, &mut entry, permissions);
        to.insert(dir, entry);
    }
    for file in &sel.files {
        let Some(src) = from.get(file) else { return Err(Missing::Path(file.clone())) };
        if to.is_symlink(file) {
            continue;
        }
        to.mkdir_p(parent(file), 0o755);
        let mut entry = src.clone();
        apply_permissions(file, &mut entry, permissions);
        to.insert(file, entry);
    }
    Ok(sel.clone())
}

/// Whether a `permissions` entry applies to `path` (fnmatch, `*` crossing `/`).
pub fn permission_applies(p: &Permission, path: &str) -> bool {
    p.path == "*" || fnmatch(path.trim_start_matches('/'), p.path.trim_start_matches('/'))
}

/// Applies every matching `permissions` entry, in order, to `entry`.
pub fn apply_permissions(path: &str, entry: &mut Entry, permissions: &[Permission]) {
    for p in permissions.iter().filter(|p| permission_applies(p, path)) {
        if let Some(mode) = p.mode {
            entry.mode = mode;
        }
        if let (Some(uid), Some(gid)) = (p.owner, p.group) {
            entry.uid = uid;
            entry.gid = gid;
        }
    }
}

/// craft-parts' stage-time fix of pkg-config files (`fix_pkg_config`): every
/// staged regular file whose name ends in `.pc` gets its `prefix=` line
/// pointed into the stage. A prefix under the part's install dir, under
/// `/root/stage` or under `/build/<name>/stage` loses that part first;
/// relocatable files (`prefix=${pcfiledir}...`) are left alone. The
/// lifecycle applies this to the staged copy (the install tree keeps the
/// original, and stage conflicts compare the originals).
pub fn fix_pkg_config(text: &str, install_dir: &str, stage_dir: &str) -> String {
    let mut out = String::with_capacity(text.len() + stage_dir.len());
    for line in text.split_inclusive('\n') {
        let body = line.strip_suffix('\n').unwrap_or(line);
        let relocatable = body
            .strip_prefix("prefix")
            .map(|r| r.trim_start_matches(' '))
            .and_then(|r| r.strip_prefix('='))
            .is_some_and(|r| r.trim_start_matches(' ').starts_with("${pcfiledir}"));
        match body.strip_prefix("prefix=") {
            Some(prefix) if !relocatable => {
                let trimmed = trim_build_stage(prefix)
                    .or_else(|| prefix.strip_prefix("/root/stage"))
                    .or_else(|| prefix.strip_prefix(install_dir))
                    .unwrap_or(prefix);
                out.push_str(&format!("prefix={stage_dir}{trimmed}\n"));
            }
            _ => out.push_str(line),
        }
    }
    out
}

/// `/build/<name>/stage<rest>` → `<rest>` (`<name>` of word characters,
/// `-`, `.` and spaces), as craft-parts' pattern.
fn trim_build_stage(prefix: &str) -> Option<&str> {
    let rest = prefix.strip_prefix("/build/")?;
    let slash = rest.find('/')?;
    let name = &rest[..slash];
    let ok = !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ' '));
    if !ok {
        return None;
    }
    rest[slash..].strip_prefix("/stage")
}

/// craft-parts' `check_for_stage_collisions`: parts in lifecycle order, each
/// with its install tree. Two parts may stage the same path only if both
/// are directories, or identical files or symlinks, with compatible
/// `permissions` (modes and owners of the files themselves are not
/// compared, as in craft-parts: the later part's copy wins).
pub fn check_stage_conflicts(parts: &[(&str, &Part, &Tree)]) -> Result<(), StageConflict> {
    let mut candidates: Vec<(&str, &Part, &Tree, Vec<String>)> = Vec::new();
    for (name, part, install) in parts {
        if part.stage.entries.is_empty() {
            continue;
        }
        let Ok(sel) = select(&part.stage, install) else { continue };
        let contents: Vec<String> = sel.all().into_iter().collect();
        for (other, other_part, other_install, other_contents) in &candidates {
            let conflicts: Vec<String> = contents
                .iter()
                .filter(|p| other_contents.binary_search(p).is_ok())
                .filter(|p| collide(install, other_install, p, &part.permissions, &other_part.permissions))
                .cloned()
                .collect();
            if !conflicts.is_empty() {
                let usrmerge_hint = usrmerge_hint(&conflicts, (name, install), (other, other_install));
                return Err(StageConflict {
                    part: name.to_string(),
                    other: other.to_string(),
                    paths: conflicts,
                    usrmerge_hint,
                });
            }
        }
        candidates.push((name, part, install, contents));
    }
    Ok(())
}

fn collide(a: &Tree, b: &Tree, path: &str, pa: &[Permission], pb: &[Permission]) -> bool {
    let (Some(ea), Some(eb)) = (a.get(path), b.get(path)) else { return false };
    match (&ea.kind, &eb.kind) {
        (EntryKind::Symlink { target: ta }, EntryKind::Symlink { target: tb }) => return ta != tb,
        (EntryKind::Symlink { .. }, _) | (_, EntryKind::Symlink { .. }) => return true,
        (EntryKind::Dir, EntryKind::Dir) => {}
        (EntryKind::Dir, _) | (_, EntryKind::Dir) => return true,
        (EntryKind::File { content: ca }, EntryKind::File { content: cb }) => {
            if ca != cb {
                return true;
            }
        }
    }
    !permissions_compatible(path, pa, pb)
}

/// craft-parts' `permissions_are_compatible` for the entries matching `path`.
fn permissions_compatible(path: &str, a: &[Permission], b: &[Permission]) -> bool {
    let a: Vec<&Permission> = a.iter().filter(|p| permission_applies(p, path)).collect();
    let b: Vec<&Permission> = b.iter().filter(|p| permission_applies(p, path)).collect();
    if a.is_empty() || b.is_empty() {
        return true;
    }
    let squash = |ps: &[&Permission]| {
        let mut out = (None, None, None);
        for p in ps {
            out.0 = p.owner.or(out.0);
            out.1 = p.group.or(out.1);
            out.2 = p.mode.or(out.2);
        }
        out
    };
    squash(&a) == squash(&b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::part_with_filesets;

    fn tree(listing: &str) -> Tree {
        Tree::parse_listing(listing).unwrap()
    }

    #[test]
    fn prime_star_of_an_unstaged_file_is_a_clear_error() {
        // The craft-parts crash (oracle: "Failed to copy '.../stage/lib/l1.a'").
        let part = part_with_filesets(&["-lib/*.a"], &["*", "-bin"]);
        let install = tree("f 644 lib/l1.a\nf 644 lib/l2.so\nf 755 bin/tool\n");
        let mut stage = Tree::new();
        stage_part("p", &part, &install, &mut stage).unwrap();
        assert!(!stage.contains("lib/l1.a"));
        let err = prime_part("p", &part, &install, &stage, &mut Tree::new()).unwrap_err();
        assert_eq!(err, MigrateError::NotStaged { part: "p".into(), path: "lib/l1.a".into() });
        assert!(err.to_string().contains("'-lib/l1.a'"), "{err}");
    }

    #[test]
    fn explicit_stage_entries_must_exist() {
        let part = part_with_filesets(&["a", "nonexistent"], &["*"]);
        let err = stage_part("p", &part, &tree("f 644 a/x\n"), &mut Tree::new()).unwrap_err();
        assert_eq!(err, MigrateError::NotInstalled { part: "p".into(), path: "nonexistent".into() });
    }

    #[test]
    fn permissions_apply_when_priming() {
        let mut part = part_with_filesets(&["*"], &["*"]);
        part.permissions = vec![
            Permission { path: "*".into(), owner: Some(1000), group: Some(1000), mode: None },
            Permission { path: "bin/*".into(), owner: None, group: None, mode: Some(0o750) },
        ];
        let install = tree("f 755 bin/tool\nf 644 etc/conf\n");
        let mut stage = Tree::new();
        stage_part("p", &part, &install, &mut stage).unwrap();
        let mut prime = Tree::new();
        prime_part("p", &part, &install, &stage, &mut prime).unwrap();
        let tool = prime.get("bin/tool").unwrap();
        assert_eq!((tool.mode, tool.uid, tool.gid), (0o750, 1000, 1000));
        assert_eq!(prime.get("etc/conf").unwrap().mode, 0o644);
        assert_eq!(stage.get("bin/tool").unwrap().uid, 0, "stage is untouched");
    }

    #[test]
    fn pkg_config_prefixes_point_into_the_stage() {
        let pc = "prefix=/usr\nlibdir=${prefix}/lib\nName: foo\n";
        assert_eq!(
            fix_pkg_config(pc, "/root/parts/p/install", "/root/stage"),
            "prefix=/root/stage/usr\nlibdir=${prefix}/lib\nName: foo\n"
        );
        let pc = "prefix=/root/parts/p/install/usr/local\n";
        assert_eq!(fix_pkg_config(pc, "/root/parts/p/install", "/root/stage"), "prefix=/root/stage/usr/local\n");
        assert_eq!(fix_pkg_config("prefix=/build/my-snap/stage/usr", "/x", "/root/stage"), "prefix=/root/stage/usr\n");
        let relocatable = "prefix = ${pcfiledir}/../..\n";
        assert_eq!(fix_pkg_config(relocatable, "/x", "/root/stage"), relocatable);
    }

    #[test]
    fn stage_conflicts_follow_craft_parts() {
        let p = part_with_filesets(&["*"], &["*"]);
        let a = tree("f 644 usr/share/doc/README same\nf 644 etc/x one\nl 777 lib/l -> a\n");
        let same = tree("f 600 usr/share/doc/README same\nl 777 lib/l -> a\n");
        assert!(check_stage_conflicts(&[("a", &p, &a), ("b", &p, &same)]).is_ok(), "identical content, modes ignored");
        let differs = tree("f 644 etc/x two\nl 777 lib/l -> b\n");
        let err = check_stage_conflicts(&[("a", &p, &a), ("b", &p, &differs)]).unwrap_err();
        assert_eq!((err.part.as_str(), err.other.as_str()), ("b", "a"));
        assert_eq!(err.paths, ["etc/x", "lib/l"]);
        let dir_vs_file = tree("f 644 etc\n");
        assert!(check_stage_conflicts(&[("a", &p, &a), ("b", &p, &dir_vs_file)]).is_err());
        let mut excluded = part_with_filesets(&["-etc"], &["*"]);
        excluded.stage = strata_frontend_api::Fileset::new(["-etc", "-lib"]);
        assert!(check_stage_conflicts(&[("a", &p, &a), ("b", &excluded, &differs)]).is_ok());
    }

    #[test]
    fn a_real_bin_next_to_a_usrmerged_part_conflicts_with_a_hint() {
        // craft-parts: a link and a directory at one path collide. A nil
        // part staging Debian 12 packages (lib/x86_64-linux-gnu/...) next
        // to a usrmerged go part is told what to do.
        let p = part_with_filesets(&["*"], &["*"]);
        let go = tree("l 777 bin -> usr/bin\nl 777 lib -> usr/lib\nf 755 usr/bin/go-hello x\n");
        let nil = tree("d 755 bin\nf 644 lib/x86_64-linux-gnu/libc.so.6 y\n");
        let err = check_stage_conflicts(&[("go-hello", &p, &go), ("base-files", &p, &nil)]).unwrap_err();
        assert_eq!(err.paths, ["bin", "lib"]);
        let message = err.to_string();
        assert!(
            message.ends_with(
                "; part 'go-hello' has a usrmerged install dir ('bin' is a link to 'usr/bin') and part 'base-files' has a 'bin' \
                 directory: add 'build-attributes: [enable-usrmerge]' to 'base-files' so that its files go through the links too"
            ),
            "{message}"
        );
        let other = tree("l 777 bin -> elsewhere\n");
        let err = check_stage_conflicts(&[("a", &p, &go), ("b", &p, &other)]).unwrap_err();
        assert_eq!(err.usrmerge_hint, None);
    }
}
