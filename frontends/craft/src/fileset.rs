//! Filesets (`stage`, `prime`, `overlay`): which paths of a tree a step
//! migrates, by craft-parts' rules (`executor/filesets.py`).
//!
//! - An entry is included; `-entry` excluded; `\-entry` includes a path
//!   that starts with `-`. No includes means `*`.
//! - An include with `*` is a pathlib glob ([`crate::glob`]); without `*`
//!   it is taken literally (`?` and `[` too), whether or not it exists.
//! - The top-level dot-entry rule: a glob include that does not start with
//!   `.` drops the top-level hidden entries it would match (`*` does not
//!   select `.git` or `.hidden`; `.hidden` or `.*` does).
//! - An included directory brings everything under it; an excluded
//!   directory removes everything under it. Excludes are always globs.
//! - Parent directories of selected files are selected too; paths reached
//!   through symlinked directories are reported by their real path.
//! - prime inherits stage ([`effective_prime`]): a prime of `*` alone, or of
//!   excludes only, is merged with the part's stage fileset. A prime of
//!   `['*', -x]` is *not* merged: it selects from the part's install dir
//!   whatever stage left out, which craft-parts then fails to copy (strata
//!   reports it, see [`crate::migrate`]).

use std::collections::BTreeSet;

use strata_frontend_api::{Fileset, Part};

use crate::glob::{glob, glob_from};
use crate::tree::{Tree, is_within, normalize, parent};

/// What a fileset selects in a tree: files (and symlinks) and directories.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub files: BTreeSet<String>,
    pub dirs: BTreeSet<String>,
}

impl Selection {
    /// Every selected path.
    pub fn all(&self) -> BTreeSet<String> {
        self.files.union(&self.dirs).cloned().collect()
    }

    pub fn contains(&self, path: &str) -> bool {
        self.files.contains(path) || self.dirs.contains(path)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilesetError {
    /// An include that excludes what the stage fileset includes (craft-parts'
    /// `FilesetConflict`).
    #[error("the {name} fileset includes {paths:?}, which the stage fileset excludes; remove them from one of the two")]
    Conflict { name: String, paths: Vec<String> },
    /// A selected path lies under a symlink that points out of the tree.
    #[error(
        "'{path}' is reached through a symlink that points outside the directory; remove that symlink or exclude '{path}'"
    )]
    OutsideTree { path: String },
}

/// craft-parts' `Fileset.combine` and the prime rule of `_builtin_prime`:
/// the fileset prime actually uses for `part`.
pub fn effective_prime(part: &Part) -> Result<Fileset, FilesetError> {
    let prime = &part.prime;
    let includes = prime.includes();
    if !(prime.is_all() || includes.is_empty()) {
        return Ok(prime.clone());
    }
    let mut entries: BTreeSet<String> = prime.entries.iter().cloned().collect();
    let mut combine = entries.remove("*");
    let stage_excludes: BTreeSet<&str> = part.stage.excludes().into_iter().collect();
    let mine: BTreeSet<&str> = entries.iter().filter(|e| !e.starts_with('-')).map(String::as_str).collect();
    let conflict: Vec<String> = stage_excludes.intersection(&mine).map(|s| s.to_string()).collect();
    if !conflict.is_empty() {
        return Err(FilesetError::Conflict { name: "prime".into(), paths: conflict });
    }
    if !entries.is_empty() && entries.iter().all(|e| e.starts_with('-')) {
        combine = true;
    }
    if combine {
        entries.extend(part.stage.entries.iter().cloned());
    }
    Ok(Fileset { entries: entries.into_iter().collect() })
}

/// craft-parts' `migratable_filesets`: the files and directories of `tree`
/// that `fileset` selects.
pub fn select(fileset: &Fileset, tree: &Tree) -> Result<Selection, FilesetError> {
    let mut includes: Vec<&str> = fileset.includes();
    if includes.is_empty() {
        includes.push("*");
    }
    let excludes = fileset.excludes();

    let mut include: BTreeSet<String> = BTreeSet::new();
    for inc in &includes {
        if inc.contains('*') {
            include.extend(glob(tree, inc));
            if !inc.starts_with('.') {
                for hidden in glob(tree, &format!(".{inc}")) {
                    include.remove(&hidden);
                    for below in glob_from(tree, &hidden, inc) {
                        include.remove(&below);
                    }
                }
            }
        } else {
            let p = normalize(inc);
            if !p.is_empty() {
                include.insert(p);
            }
        }
    }
    // Expand included directories so that an exclude like '*/*.so' still
    // applies to files under an include like 'lib'.
    let include_dirs: Vec<String> = include.iter().filter(|p| tree.is_dir(p) && !tree.is_symlink(p)).cloned().collect();
    for d in include_dirs {
        let real = tree.resolve(&d).unwrap_or_else(|| d.clone());
        for below in tree.descendants(&real) {
            include.insert(format!("{d}{}", &below[real.len()..]));
        }
    }

    let mut exclude: BTreeSet<String> = BTreeSet::new();
    for exc in &excludes {
        exclude.extend(glob(tree, exc));
    }
    let exclude_dirs: Vec<&String> = exclude.iter().filter(|p| tree.is_dir(p)).collect();

    let mut files: BTreeSet<String> = include.difference(&exclude).cloned().collect();
    files.retain(|f| !exclude_dirs.iter().any(|d| is_within(f, d)));

    let mut dirs: BTreeSet<String> = files.iter().filter(|p| tree.is_dir(p) && !tree.is_symlink(p)).cloned().collect();
    files.retain(|f| !dirs.contains(f));

    let resolve = |p: &str| tree.resolve_parent(p).ok_or_else(|| FilesetError::OutsideTree { path: p.to_string() });
    for f in &files {
        let mut d = parent(&resolve(f)?).to_string();
        while !d.is_empty() {
            dirs.insert(d.clone());
            d = parent(&d).to_string();
        }
    }
    let dirs = dirs.iter().map(|d| resolve(d)).collect::<Result<BTreeSet<_>, _>>()?;
    let files = files.iter().map(|f| resolve(f)).collect::<Result<BTreeSet<_>, _>>()?;
    Ok(Selection { files, dirs })
}

/// Whether `path` of `tree` is selected by `fileset` (a convenience over
/// [`select`]; selection depends on the whole tree, so prefer `select`
/// for many paths).
pub fn matches(fileset: &Fileset, tree: &Tree, path: &str) -> Result<bool, FilesetError> {
    Ok(select(fileset, tree)?.contains(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::part_with_filesets;

    fn install() -> Tree {
        Tree::parse_listing(
            "f 644 .top\nf 644 .hid/x\nf 644 a/.nested\nf 644 a/b/f.txt\nf 644 lib/l1.a\nf 644 lib/l2.so\n\
             f 755 bin/tool\nd 755 emptydir\n",
        )
        .unwrap()
    }

    fn sel(entries: &[&str]) -> BTreeSet<String> {
        select(&Fileset::new(entries.iter().copied()), &install()).unwrap().all()
    }

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn star_skips_top_level_hidden_entries_only() {
        // Oracle run (craft-parts 2.37.2): default stage of this tree.
        assert_eq!(
            sel(&["*"]),
            set(&["a", "a/.nested", "a/b", "a/b/f.txt", "bin", "bin/tool", "emptydir", "lib", "lib/l1.a", "lib/l2.so"])
        );
        assert!(sel(&[".top"]).contains(".top"));
        assert!(sel(&[".*"]).contains(".hid/x"));
    }

    #[test]
    fn excluded_directories_take_their_contents() {
        // Oracle run: stage ['*/*', '-a/b'] primes a/.nested, bin/tool, lib/*.
        assert_eq!(sel(&["*/*", "-a/b"]), set(&["a", "a/.nested", "bin", "bin/tool", "lib", "lib/l1.a", "lib/l2.so"]));
        assert_eq!(sel(&["-lib/*.a", "-a"]), set(&["bin", "bin/tool", "emptydir", "lib", "lib/l2.so"]));
    }

    #[test]
    fn literal_includes_need_not_exist() {
        let s = select(&Fileset::new(["a/b", "nonexistent"]), &install()).unwrap();
        assert!(s.files.contains("nonexistent"), "craft-parts fails later, when copying it");
        assert_eq!(s.dirs, set(&["a", "a/b"]), "parents of selected files come along");
        assert!(s.files.contains("a/b/f.txt"));
    }

    #[test]
    fn prime_inherits_stage_when_star_or_only_excludes() {
        let p = part_with_filesets(&["usr", "-usr/lib/*.a"], &["-include"]);
        let e = effective_prime(&p).unwrap();
        assert_eq!(e.entries, ["-include", "-usr/lib/*.a", "usr"]);
        let p = part_with_filesets(&["usr", "-usr/lib/*.a"], &["*"]);
        assert_eq!(effective_prime(&p).unwrap().entries, ["-usr/lib/*.a", "usr"]);
        let p = part_with_filesets(&["-usr/lib/*.a"], &["*", "-bin"]);
        assert_eq!(effective_prime(&p).unwrap().entries, ["*", "-bin"], "['*', -x] is not merged");
        let p = part_with_filesets(&["*"], &["usr/bin"]);
        assert_eq!(effective_prime(&p).unwrap().entries, ["usr/bin"]);
    }

    #[test]
    fn symlinked_parents_resolve_to_real_paths() {
        let t = Tree::parse_listing("f 644 usr/lib/x.so\nl 777 lib -> usr/lib\n").unwrap();
        let s = select(&Fileset::new(["lib/*"]), &t).unwrap();
        assert_eq!(s.files, set(&["usr/lib/x.so"]));
        assert_eq!(s.dirs, set(&["usr", "usr/lib"]));
    }
}
