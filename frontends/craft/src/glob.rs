//! Glob patterns as craft-parts sees them through Python: `fnmatch` for a
//! name, and `pathlib.Path.glob` (Python 3.11, the oracle's interpreter) for
//! a relative pattern over a [`Tree`].
//!
//! pathlib's rules, which differ from a shell's: `*` matches names that
//! start with a dot; `**` alone in a component matches a directory and all
//! directories below it (not descending into symlinked directories); a
//! component with `*`, `?` or `[` matches names in a directory, other
//! components must exist (following symlinks); a trailing `/` keeps
//! directories only; intermediate components follow symlinked directories.

use std::collections::BTreeSet;

use crate::tree::{Tree, join, normalize};

/// Python's `fnmatch.fnmatchcase`: `*`, `?`, `[seq]`, `[!seq]`; `*` also
/// matches `/` (use it on single names for path globbing).
pub fn fnmatch(name: &str, pattern: &str) -> bool {
    let n: Vec<char> = name.chars().collect();
    let p = tokenize(pattern);
    matches(&n, &p)
}

#[derive(Debug, Clone)]
enum Tok {
    Lit(char),
    Any,
    Star,
    Set { negate: bool, items: Vec<(char, char)> },
}

fn tokenize(pattern: &str) -> Vec<Tok> {
    let p: Vec<char> = pattern.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '*' => {
                if !matches!(out.last(), Some(Tok::Star)) {
                    out.push(Tok::Star);
                }
                i += 1;
            }
            '?' => {
                out.push(Tok::Any);
                i += 1;
            }
            '[' => {
                // Find the closing bracket as fnmatch.translate does.
                let mut j = i + 1;
                if j < p.len() && p[j] == '!' {
                    j += 1;
                }
                if j < p.len() && p[j] == ']' {
                    j += 1;
                }
                while j < p.len() && p[j] != ']' {
                    j += 1;
                }
                if j >= p.len() {
                    out.push(Tok::Lit('['));
                    i += 1;
                    continue;
                }
                let mut body = &p[i + 1..j];
                let negate = body.first() == Some(&'!');
                if negate {
                    body = &body[1..];
                }
                let mut items = Vec::new();
                let mut k = 0;
                while k < body.len() {
                    if k + 2 < body.len() && body[k + 1] == '-' {
                        if body[k] <= body[k + 2] {
                            items.push((body[k], body[k + 2]));
                        }
                        k += 3;
                    } else {
                        items.push((body[k], body[k]));
                        k += 1;
                    }
                }
                out.push(Tok::Set { negate, items });
                i = j + 1;
            }
            c => {
                out.push(Tok::Lit(c));
                i += 1;
            }
        }
    }
    out
}

fn matches(n: &[char], p: &[Tok]) -> bool {
    // Iterative matching with single-star backtracking.
    let (mut ni, mut pi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        let ok = match p.get(pi) {
            Some(Tok::Lit(c)) => *c == n[ni],
            Some(Tok::Any) => true,
            Some(Tok::Set { negate, items }) => items.iter().any(|(a, b)| (*a..=*b).contains(&n[ni])) != *negate,
            Some(Tok::Star) => {
                star = Some((pi, ni));
                pi += 1;
                continue;
            }
            None => false,
        };
        if ok {
            ni += 1;
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|t| matches!(t, Tok::Star))
}

fn is_wildcard(component: &str) -> bool {
    component.contains(['*', '?', '['])
}

/// `Path(root).glob(pattern)` over `tree`, relative to the tree root:
/// the matching paths, as written through any symlinked directories.
pub fn glob(tree: &Tree, pattern: &str) -> BTreeSet<String> {
    glob_from(tree, "", pattern)
}

/// `Path(root/base).glob(pattern)`: matches under `base`, as paths
/// relative to the tree root.
pub fn glob_from(tree: &Tree, base: &str, pattern: &str) -> BTreeSet<String> {
    let dir_only = pattern.ends_with('/');
    let comps: Vec<String> = normalize(pattern).split('/').filter(|c| !c.is_empty()).map(str::to_string).collect();
    let mut out = BTreeSet::new();
    if comps.is_empty() || (!base.is_empty() && !tree.is_dir(base)) {
        return out;
    }
    select(tree, base, &comps, dir_only, &mut out);
    out
}

fn select(tree: &Tree, at: &str, comps: &[String], dir_only: bool, out: &mut BTreeSet<String>) {
    let Some((comp, rest)) = comps.split_first() else {
        if !dir_only || tree.is_dir(at) {
            out.insert(at.to_string());
        }
        return;
    };
    let last = rest.is_empty();
    if comp == "**" {
        // The directory itself and every directory below, without entering
        // symlinked directories; as a last component, directories only.
        let mut dirs = vec![at.to_string()];
        let mut i = 0;
        while i < dirs.len() {
            let d = dirs[i].clone();
            for child in tree.children(&d) {
                let p = join(&d, &child);
                if tree.is_dir(&p) && !tree.is_symlink(&p) {
                    dirs.push(p);
                }
            }
            i += 1;
        }
        for d in dirs {
            if last {
                if !d.is_empty() || !at.is_empty() {
                    out.insert(d);
                }
            } else {
                select(tree, &d, rest, dir_only, out);
            }
        }
    } else if is_wildcard(comp) {
        for child in tree.children(at) {
            if !fnmatch(&child, comp) {
                continue;
            }
            let p = join(at, &child);
            if last || tree.is_dir(&p) {
                select(tree, &p, rest, dir_only, out);
            }
        }
    } else {
        let p = join(at, comp);
        let ok = if last { tree.exists(&p) } else { tree.is_dir(&p) };
        if ok {
            select(tree, &p, rest, dir_only, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> Tree {
        Tree::parse_listing(
            "f 644 .hidden\nf 644 a/.nested\nf 644 a/b/f.txt\nf 644 lib/l1.a\nf 644 lib/l2.so\n\
             d 755 emptydir\nf 644 .hid/x\nl 777 link -> lib\n",
        )
        .unwrap()
    }

    #[test]
    fn fnmatch_like_python() {
        assert!(fnmatch(".hidden", "*"));
        assert!(fnmatch("libfoo.a", "*.a"));
        assert!(!fnmatch("libfoo.so", "*.a"));
        assert!(fnmatch("a1", "a[0-9]"));
        assert!(fnmatch("ab", "a[!0-9]"));
        assert!(fnmatch("a[", "a["));
        assert!(fnmatch("usr/lib/x.so", "usr/*.so"), "fnmatch's * crosses /");
        assert!(fnmatch("abcabc", "*abc"));
        assert!(!fnmatch("ab", "a?c"));
    }

    #[test]
    fn star_matches_dotfiles_like_pathlib() {
        let t = tree();
        let all = glob(&t, "*");
        assert!(all.contains(".hidden") && all.contains(".hid") && all.contains("link"));
        assert_eq!(glob(&t, "*/*").len(), 7, "{:?}", glob(&t, "*/*"));
        assert!(glob(&t, "*/*").contains("link/l1.a"), "follows symlinked dirs");
    }

    #[test]
    fn literal_components_must_exist() {
        let t = tree();
        assert_eq!(glob(&t, "lib/*.a"), ["lib/l1.a".to_string()].into());
        assert!(glob(&t, "nope/*").is_empty());
        assert_eq!(glob(&t, "a/b"), ["a/b".to_string()].into());
        assert_eq!(glob(&t, "emptydir/"), ["emptydir".to_string()].into());
        assert!(glob(&t, ".hidden/").is_empty(), "trailing slash keeps directories");
    }

    #[test]
    fn double_star_walks_directories() {
        let t = tree();
        let g = glob(&t, "**/*.a");
        assert_eq!(g, ["lib/l1.a".to_string()].into(), "does not enter the symlinked dir");
        let dirs = glob(&t, "**");
        assert!(dirs.contains("a") && dirs.contains("a/b") && !dirs.contains("link"));
        assert_eq!(glob_from(&t, "a", "*"), ["a/.nested".to_string(), "a/b".to_string()].into());
    }
}
