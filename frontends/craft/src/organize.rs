//! `organize`: renaming paths of a part's install dir at the end of its
//! build step, by craft-parts' rules (`executor/organize.py`):
//!
//! - explicit keys first, then keys with `*`, each group by name;
//! - a key is a path of the install dir or a pathlib glob over it; a key
//!   matching nothing does nothing;
//! - a destination ending in `/` is a directory the matches move into
//!   (created if needed); without it, the destination is the new name, and
//!   two glob matches onto one name are an error ("end it with a slash");
//! - an explicit directory key moves (merges) the whole directory; a glob
//!   matching directories moves each into the destination;
//! - moving onto an existing file is an error.
//!
//! One deliberate difference (docs/craft-differences.md): craft-parts
//! leaves the directories that organize emptied (`bin/` after
//! `bin/hello.sh: usr/bin/hello`), and the default `stage: ['*']` then
//! stages and primes them as empty directories. strata removes directories
//! that organize emptied, unless something was organized into them or a
//! link of the install dir leads to them.

use std::collections::{BTreeMap, BTreeSet};

use crate::glob::glob_from;
use crate::tree::{Entry, EntryKind, Tree, file_name, is_within, join, normalize, parent};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrganizeError {
    #[error(
        "organize of part '{part}': several files match '{key}' and would all be named '{dest}'; if '{dest}' is meant to be a directory, end it with a slash ('{dest}/')"
    )]
    Ambiguous { part: String, key: String, dest: String },
    #[error(
        "organize of part '{part}': '{key}' would overwrite '{dest}', which already exists; organize it elsewhere or remove one of them"
    )]
    Exists { part: String, key: String, dest: String },
    #[error("organize of part '{part}': cannot move directory '{key}' onto '{dest}', which is not a directory")]
    NotADirectory { part: String, key: String, dest: String },
    #[error("organize of part '{part}': '{key}' leaves the install directory; organize paths inside it")]
    Outside { part: String, key: String },
}

/// What organize did: every moved path, old → new (directories moved
/// whole appear once, with their contents implied), and the directories it
/// removed because organize emptied them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Organized {
    pub moves: BTreeMap<String, String>,
    pub removed_empty_dirs: BTreeSet<String>,
}

/// The order craft-parts applies organize keys in: explicit keys, then
/// globs, each sorted by name.
pub fn key_order(mapping: &[(String, String)]) -> Vec<(String, String)> {
    let mut keys = mapping.to_vec();
    keys.sort_by(|a, b| (a.0.contains('*'), &a.0).cmp(&(b.0.contains('*'), &b.0)));
    keys
}

/// Applies `mapping` (from → to, as in the spec) to `install`.
pub fn organize(part: &str, install: &mut Tree, mapping: &[(String, String)]) -> Result<Organized, OrganizeError> {
    let before_nonempty: BTreeSet<String> =
        install.iter().filter(|(p, e)| e.is_dir() && !install.children(p).is_empty()).map(|(p, _)| p.clone()).collect();
    let mut out = Organized::default();
    let mut destinations: BTreeSet<String> = BTreeSet::new();

    for (key, value) in key_order(mapping) {
        let err_exists = |dest: &str| OrganizeError::Exists { part: part.into(), key: key.clone(), dest: dest.into() };
        let dest_string = value.trim_start_matches('/').to_string();
        let into_dir = dest_string.ends_with('/');
        let dst = normalize(&dest_string);
        if install.resolve_parent(&normalize(&key)).is_none() {
            return Err(OrganizeError::Outside { part: part.into(), key: key.clone() });
        }
        let is_glob = key.contains('*');
        let sources: Vec<String> = if is_glob {
            let comps: Vec<&str> = key.split('/').collect();
            let split = comps.iter().position(|c| c.contains('*')).unwrap_or(0);
            let base = normalize(&comps[..split].join("/"));
            glob_from(install, &base, &comps[split..].join("/")).into_iter().collect()
        } else {
            let k = normalize(&key);
            if install.lexists(&k) { vec![k] } else { Vec::new() }
        };

        let mut count = 0;
        for src in sources {
            count += 1;
            if !install.lexists(&src) {
                continue; // moved away by an earlier match of this key
            }
            // craft-parts organizes paths of the install dir, and the
            // filesystem follows the links on the way: a key below a
            // symlinked directory (`bin/x` in a usrmerged install, where
            // `bin -> usr/bin`) names what lies where the link leads. The
            // tree is edited there; messages and craft-parts' lexical
            // "same place" test keep the key's own path.
            let real = install.resolve_parent(&src).unwrap_or_else(|| src.clone());
            if install.is_real_dir(&real) {
                if !is_glob {
                    let real_dst = if install.is_symlink(&dst) {
                        install.resolve(&dst).unwrap_or(dst.clone())
                    } else {
                        dst.clone()
                    };
                    if real_dst == real {
                        continue;
                    }
                    merge_tree(install, &real, &real_dst).map_err(|d| OrganizeError::NotADirectory {
                        part: part.into(),
                        key: key.clone(),
                        dest: d,
                    })?;
                    out.moves.insert(src.clone(), real_dst.clone());
                    destinations.insert(real_dst);
                    continue;
                }
                if dst.is_empty() {
                    let real_dst = join(&dst, file_name(&src));
                    if install.lexists(&real_dst) && real_dst != real {
                        return Err(err_exists(&real_dst));
                    }
                    merge_tree(install, &real, &real_dst).map_err(|d| OrganizeError::NotADirectory {
                        part: part.into(),
                        key: key.clone(),
                        dest: d,
                    })?;
                    out.moves.insert(src.clone(), real_dst.clone());
                    destinations.insert(real_dst);
                    continue;
                }
            }
            // A file, a symlink, or a directory matched by a glob.
            let dst_is_file = install.exists(&dst) && !install.is_dir(&dst);
            if dst_is_file {
                if dst == src {
                    continue;
                }
                if count > 1 {
                    return Err(OrganizeError::Ambiguous {
                        part: part.into(),
                        key: key.clone(),
                        dest: dest_string.clone(),
                    });
                }
                return Err(err_exists(&dest_string));
            }
            let final_dst = if install.is_dir(&dst) {
                let inside = join(&install.resolve(&dst).unwrap_or(dst.clone()), file_name(&src));
                if install.resolve_parent(&inside) == install.resolve_parent(&src) {
                    continue;
                }
                if install.lexists(&inside) {
                    return Err(err_exists(&join(&dst, file_name(&src))));
                }
                inside
            } else if into_dir {
                install.mkdir_p(&dst, 0o755);
                join(&dst, file_name(&src))
            } else {
                install.mkdir_p(parent(&dst), 0o755);
                dst.clone()
            };
            move_path(install, &real, &final_dst);
            out.moves.insert(src.clone(), final_dst.clone());
            destinations.insert(final_dst);
        }
    }

    // Remove directories organize emptied, deepest first, keeping those
    // something was organized into (or their parents), and those a link
    // leads to (a usrmerged install's `usr/bin`, whose `bin -> usr/bin`
    // would otherwise dangle).
    let linked: BTreeSet<String> =
        install.iter().filter(|(_, e)| e.is_symlink()).filter_map(|(p, _)| install.resolve(p)).collect();
    loop {
        let emptied: Vec<String> = install
            .iter()
            .filter(|(p, e)| e.is_dir() && before_nonempty.contains(*p) && install.children(p).is_empty())
            .filter(|(p, _)| !destinations.iter().any(|d| is_within(d, p)) && !linked.contains(*p))
            .map(|(p, _)| p.clone())
            .collect();
        if emptied.is_empty() {
            break;
        }
        for p in emptied {
            install.remove_tree(&p);
            out.removed_empty_dirs.insert(p);
        }
    }
    Ok(out)
}

/// Moves `src` (and what is under it) to `dst`.
fn move_path(tree: &mut Tree, src: &str, dst: &str) {
    let moved: Vec<(String, Entry)> = tree
        .iter()
        .filter(|(p, _)| is_within(p, src))
        .map(|(p, e)| (format!("{dst}{}", &p[src.len()..]), e.clone()))
        .collect();
    tree.remove_tree(src);
    tree.mkdir_p(parent(dst), 0o755);
    for (p, e) in moved {
        tree.insert(&p, e);
    }
}

/// `link_or_copy_tree` then removal of `src`: merges directory `src` into
/// `dst` (files of `src` win), creating `dst` like `src`. Errors with the
/// path when `dst` exists and is not a directory.
fn merge_tree(tree: &mut Tree, src: &str, dst: &str) -> Result<(), String> {
    if tree.lexists(dst) && !tree.is_dir(dst) {
        return Err(dst.to_string());
    }
    let items: Vec<(String, Entry)> = tree
        .iter()
        .filter(|(p, _)| is_within(p, src))
        .map(|(p, e)| (format!("{dst}{}", &p[src.len()..]), e.clone()))
        .collect();
    tree.remove_tree(src);
    tree.mkdir_p(parent(dst), 0o755);
    for (p, e) in items {
        match (tree.get(&p).map(|x| x.kind.clone()), &e.kind) {
            (Some(EntryKind::Dir), EntryKind::Dir) => tree.insert(&p, e),
            _ => {
                tree.remove_tree(&p);
                tree.insert(&p, e);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    fn src_tree() -> Tree {
        Tree::parse_listing(
            "f 755 bin/hello.sh\nf 644 lib/libfoo.so.1\nl 777 lib/libfoo.so -> libfoo.so.1\nf 644 lib/libfoo.a\n\
             f 644 share/doc/README.md\nf 644 share/doc/CHANGELOG\nf 444 notes.txt\nf 600 etc/app.conf\n",
        )
        .unwrap()
    }

    #[test]
    fn the_dump_filesets_case() {
        let mut t = src_tree();
        let map = pairs(&[
            ("bin/hello.sh", "usr/bin/hello"),
            ("lib/*", "usr/lib/"),
            ("share", "usr/share"),
            ("notes.txt", "usr/share/doc/app/"),
        ]);
        let done = organize("files", &mut t, &map).unwrap();
        assert_eq!(done.moves["bin/hello.sh"], "usr/bin/hello");
        assert_eq!(done.moves["lib/libfoo.so"], "usr/lib/libfoo.so");
        assert_eq!(done.moves["share"], "usr/share");
        assert_eq!(done.moves["notes.txt"], "usr/share/doc/app/notes.txt");
        assert!(t.get("usr/lib/libfoo.so").unwrap().is_symlink());
        assert!(t.contains("usr/share/doc/CHANGELOG"));
        assert_eq!(done.removed_empty_dirs, ["bin".to_string(), "lib".to_string()].into());
        assert!(!t.contains("bin") && !t.contains("lib") && !t.contains("share"));
    }

    #[test]
    fn explicit_keys_go_first() {
        let order = key_order(&pairs(&[("*.txt", "docs/"), ("a.txt", "special.txt"), ("b", "c")]));
        let keys: Vec<&str> = order.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a.txt", "b", "*.txt"]);
        let mut t = Tree::parse_listing("f 644 a.txt\nf 644 b.txt\n").unwrap();
        organize("p", &mut t, &pairs(&[("*.txt", "docs/"), ("a.txt", "special.conf")])).unwrap();
        assert!(t.contains("special.conf") && t.contains("docs/b.txt") && !t.contains("docs/a.txt"));
        // The glob runs after the explicit key, over what it left behind:
        let mut t = Tree::parse_listing(
            "f 644 a.txt
",
        )
        .unwrap();
        organize("p", &mut t, &pairs(&[("*.txt", "docs/"), ("a.txt", "b.txt")])).unwrap();
        assert!(t.contains("docs/b.txt"));
    }

    #[test]
    fn several_matches_onto_one_name_are_ambiguous() {
        // Oracle: "multiple files to be organized into 'onefile'. If this is
        // supposed to be a directory, end it with a slash."
        let mut t = Tree::parse_listing("f 644 lib/l1.a\nf 644 lib/l2.so\n").unwrap();
        let err = organize("p", &mut t, &pairs(&[("lib/*", "onefile")])).unwrap_err();
        assert_eq!(err, OrganizeError::Ambiguous { part: "p".into(), key: "lib/*".into(), dest: "onefile".into() });
    }

    #[test]
    fn existing_destinations_are_errors() {
        let mut t = Tree::parse_listing("f 644 a\nf 644 b\n").unwrap();
        assert!(matches!(organize("p", &mut t, &pairs(&[("a", "b")])), Err(OrganizeError::Exists { .. })));
        let mut t = Tree::parse_listing("f 644 a\nf 644 d/a\n").unwrap();
        assert!(matches!(organize("p", &mut t, &pairs(&[("a", "d/")])), Err(OrganizeError::Exists { .. })));
    }

    #[test]
    fn glob_to_the_root_and_missing_keys() {
        // after-scriptlets' z-lib: '*': usr/share/lib/
        let mut t = Tree::parse_listing("f 644 message.txt\nf 644 VERSION_SUFFIX\n").unwrap();
        organize("z-lib", &mut t, &pairs(&[("*", "usr/share/lib/"), ("missing", "x")])).unwrap();
        let paths: Vec<&str> = t.paths().collect();
        assert_eq!(
            paths,
            ["usr", "usr/share", "usr/share/lib", "usr/share/lib/VERSION_SUFFIX", "usr/share/lib/message.txt"]
        );
    }

    #[test]
    fn keys_cannot_leave_the_install_dir() {
        let mut t = Tree::parse_listing("l 777 out -> /etc\n").unwrap();
        assert!(matches!(organize("p", &mut t, &pairs(&[("out/passwd", "x")])), Err(OrganizeError::Outside { .. })));
    }

    /// A usrmerged install dir (craft-parts' scaffolding): `bin`, `lib`,
    /// `sbin` are links into `usr/`.
    fn usrmerged(files: &str) -> Tree {
        let scaffold = "l 777 bin -> usr/bin\nl 777 lib -> usr/lib\nl 777 lib64 -> usr/lib64\nl 777 sbin -> usr/sbin\n\
                        d 755 usr\nd 755 usr/bin\nd 755 usr/lib\nd 755 usr/lib64\nd 755 usr/sbin\n";
        Tree::parse_listing(&format!("{scaffold}{files}")).unwrap()
    }

    #[test]
    fn keys_through_usrmerge_links_name_what_the_links_lead_to() {
        // Oracle (craft-parts 2.37.2, enable-usrmerge): "trying to organize
        // file 'bin/hello' to 'usr/bin/hello', but 'usr/bin/hello' already
        // exists" -- the same file, by its two names.
        let mut t = usrmerged("f 644 usr/bin/hello\n");
        let err = organize("p", &mut t, &pairs(&[("bin/hello", "usr/bin/hello")])).unwrap_err();
        assert_eq!(
            err,
            OrganizeError::Exists { part: "p".into(), key: "bin/hello".into(), dest: "usr/bin/hello".into() }
        );

        // Oracle: a file, a directory and a glob below the links move from
        // where the links lead.
        let mut t = usrmerged(
            "f 644 usr/bin/q\nd 755 usr/lib/sub\nf 644 usr/lib/sub/s\nd 755 usr/sbin/d\nf 644 usr/sbin/d/t\n",
        );
        let map = pairs(&[("bin/q", "usr/local/bin/q"), ("lib/sub", "opt/sub"), ("sbin/d/*", "etc/d/")]);
        organize("q", &mut t, &map).unwrap();
        for path in ["usr/local/bin/q", "opt/sub/s", "etc/d/t"] {
            assert!(t.get(path).is_some_and(|e| !e.is_dir()), "{path} in {:?}", t.paths().collect::<Vec<_>>());
        }
        for path in ["usr/bin/q", "usr/lib/sub", "usr/sbin/d/t"] {
            assert!(!t.lexists(path), "{path} moved away");
        }
        assert!(t.is_symlink("bin") && t.is_symlink("lib") && t.is_real_dir("usr/bin"), "the scaffolding stays");
    }
}
