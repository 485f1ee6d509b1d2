//! The frontend's host ops: [`SYMLINKS`], a layer of the image's
//! `-X symlink=` links, [`ELF_FILES`], the outputs' ELF files that
//! shlibdeps reads, and [`VERIFY_NAR`], which checks a fetched
//! git checkout against its origin's NAR hash (Guix's recursive hash, over
//! the tree without `.git`) and yields that tree, `.git` left out, as Guix
//! has it in the store.

use serde_json::json;
use strata_frontend_api::graph::HostOp;
use strata_frontend_api::tree::{self, Entry, EntryKind, Tree};
use strata_frontend_api::{HostOpError, HostResult, HostTree, ReadFile};

use crate::{base32, nar};

/// `guix.verify-nar`: params `{ "expected": NIX32, "origin": "FILE:LINE:COL",
/// "strip_top": BOOL }` (`strip_top`: the tree is the input's one top
/// directory, as in a tarball).
pub const VERIFY_NAR: &str = "guix.verify-nar";

/// Its parameters.
pub fn verify_params(expected: &str, origin: &str, strip_top: bool) -> serde_json::Value {
    json!({ "expected": expected, "origin": origin, "strip_top": strip_top })
}

/// Reads the input's files below a top directory.
struct Under<'a> {
    top: String,
    files: &'a dyn ReadFile,
}

impl ReadFile for Under<'_> {
    fn read(&self, path: &str) -> std::io::Result<Vec<u8>> {
        self.files.read(&format!("{}/{path}", self.top))
    }
}

fn is_git(path: &str) -> bool {
    path.split('/').any(|c| c == ".git")
}

/// `guix.symlinks`: params `{ "links": [[PATH, TARGET], …] }`; yields a
/// tree of those symlinks (`-X symlink=/bin/hello=bin/hello`, as
/// `guix pack -S` makes them).
pub const SYMLINKS: &str = "guix.symlinks";

fn symlinks(op: &HostOp) -> Result<Vec<HostResult>, HostOpError> {
    let mut tree = Tree::new();
    for pair in op.params["links"].as_array().into_iter().flatten() {
        let (Some(path), Some(target)) = (pair[0].as_str(), pair[1].as_str()) else {
            return Err(HostOpError::new("guix.symlinks: bad parameters"));
        };
        tree.insert_with_parents(path.trim_start_matches('/'), Entry::symlink(target), 0o755);
    }
    Ok(vec![HostResult { tree, data: Default::default() }])
}

/// `guix.elf-files`: no params; yields the input's ELF files and symlinks
/// with their parent directories — what `strata/bin/shlibdeps` reads of the
/// outputs, so its key changes only when they do (a phase that edits a
/// manual page does not rerun it).
pub const ELF_FILES: &str = "guix.elf-files";

/// The first bytes of an ELF file.
const ELF_MAGIC: &[u8] = b"\x7fELF";

fn elf_files(inputs: &[HostTree<'_>]) -> Result<Vec<HostResult>, HostOpError> {
    let mut out = Tree::new();
    for input in inputs {
        for (path, entry) in input.tree.iter() {
            let keep = match &entry.kind {
                EntryKind::Symlink { .. } => true,
                EntryKind::File { .. } => input
                    .files
                    .read(path)
                    .map_err(|e| HostOpError::new(format!("guix.elf-files: reading {path}: {e}")))?
                    .starts_with(ELF_MAGIC),
                EntryKind::Dir => false,
            };
            if !keep {
                continue;
            }
            let mut dir = tree::parent(path);
            while !dir.is_empty() && !out.contains(dir) {
                out.insert(dir, input.tree.get(dir).cloned().unwrap_or_else(|| Entry::dir(0o755)));
                dir = tree::parent(dir);
            }
            out.insert(path, entry.clone());
        }
    }
    Ok(vec![HostResult { tree: out, data: Default::default() }])
}

/// Runs one of the frontend's host ops.
pub fn run(op: &HostOp, inputs: &[HostTree<'_>]) -> Result<Vec<HostResult>, HostOpError> {
    if op.name == SYMLINKS {
        return symlinks(op);
    }
    if op.name == ELF_FILES {
        return elf_files(inputs);
    }
    if op.name != VERIFY_NAR {
        return Err(HostOpError::new(format!("the guix frontend has no host op '{}'", op.name)));
    }
    let expected = op.params["expected"].as_str().unwrap_or_default();
    let origin = op.params["origin"].as_str().unwrap_or("the origin");
    let input = inputs.first().ok_or_else(|| HostOpError::new("guix.verify-nar: no input tree"))?;
    let (sub, under);
    let only_dir = match input.tree.children("").as_slice() {
        [one] if input.tree.is_real_dir(one) => Some(one.clone()),
        _ => None,
    };
    // strata's tar fetch already drops a tarball's one top directory; if it
    // is still there, the tree is below it.
    let (tree, files): (&Tree, &dyn ReadFile) =
        match only_dir.filter(|_| op.params["strip_top"].as_bool() == Some(true)) {
            Some(top) => {
                let mut t = Tree::new();
                for path in input.tree.descendants(&top) {
                    if let Some(e) = input.tree.get(&path) {
                        t.insert(&path[top.len() + 1..], e.clone());
                    }
                }
                sub = t;
                under = Under { top, files: input.files };
                (&sub, &under)
            }
            None => (input.tree, input.files),
        };
    let found = nar::hash_tree(tree, files, &is_git)
        .map_err(|e| HostOpError::new(format!("guix.verify-nar: reading the checkout: {e}")))?;
    let found = base32::encode(&found);
    if found != expected {
        return Err(HostOpError::new(format!(
            "{origin}: sha256 mismatch for the git checkout: expected {expected}, found {found} (NAR hash, .git left out)"
        )));
    }
    let mut out = Tree::new();
    for (path, entry) in tree.iter() {
        if !is_git(path) {
            out.insert(path, entry.clone());
        }
    }
    Ok(vec![HostResult { tree: out, data: Default::default() }])
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::Path;

    use super::*;

    struct Files<'a>(&'a Path);
    impl ReadFile for Files<'_> {
        fn read(&self, path: &str) -> std::io::Result<Vec<u8>> {
            fs::read(self.0.join(path))
        }
    }

    fn op(expected: &str, strip_top: bool) -> HostOp {
        HostOp {
            name: VERIFY_NAR.into(),
            params: verify_params(expected, "p.scm:3:4", strip_top),
            inputs: vec![],
            outputs: vec![],
        }
    }

    #[test]
    fn symlinks_are_a_tree_of_links_with_their_parents() {
        let op = HostOp {
            name: SYMLINKS.into(),
            params: json!({ "links": [["/usr/local/bin/hello", "/gnu/store/x-hello/bin/hello"]] }),
            inputs: vec![],
            outputs: vec![],
        };
        let t = &run(&op, &[]).unwrap()[0].tree;
        assert_eq!(t.paths().collect::<Vec<_>>(), ["usr", "usr/local", "usr/local/bin", "usr/local/bin/hello"]);
        assert!(t.is_symlink("usr/local/bin/hello"));
    }

    #[test]
    fn a_tarball_s_top_directory_is_checked_without_git_and_yielded_without_it() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("lz4-1.10.0/.git")).unwrap();
        fs::write(dir.path().join("lz4-1.10.0/README"), b"lz4").unwrap();
        fs::write(dir.path().join("lz4-1.10.0/.git/HEAD"), b"ref").unwrap();
        let clean = tempfile::tempdir().unwrap();
        fs::write(clean.path().join("README"), b"lz4").unwrap();
        let want = base32::encode(&nar::hash(clean.path()).unwrap());
        let tree =
            Tree::parse_listing("d 755 lz4-1.10.0\nf 644 lz4-1.10.0/README\nf 644 lz4-1.10.0/.git/HEAD\n").unwrap();
        let files = Files(dir.path());
        let input = [HostTree { tree: &tree, files: &files }];
        let out = run(&op(&want, true), &input).unwrap();
        assert_eq!(out[0].tree.paths().collect::<Vec<_>>(), ["README"]);
        let e = run(&op("0000000000000000000000000000000000000000000000000000", true), &input).unwrap_err();
        assert!(e.message.starts_with("p.scm:3:4: sha256 mismatch for the git checkout: expected 0000"), "{e}");
        assert!(e.message.contains(&format!("found {want}")), "{e}");
    }

    #[test]
    fn elf_files_keeps_elf_files_and_symlinks_with_their_parents_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        for d in ["x-hello/bin", "x-hello/lib", "x-hello/share/man/man1"] {
            fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        fs::write(dir.path().join("x-hello/bin/hello"), b"\x7fELF\x02\x01\x01 the rest").unwrap();
        fs::write(dir.path().join("x-hello/bin/hello-wrapper"), b"#!/bin/sh\nexec hello\n").unwrap();
        fs::write(dir.path().join("x-hello/lib/libhello.so.1.0"), b"\x7fELF\x02").unwrap();
        fs::write(dir.path().join("x-hello/share/man/man1/hello.1.gz"), b"\x1f\x8b").unwrap();
        let tree = Tree::parse_listing(
            "d 755 x-hello\nd 755 x-hello/bin\nf 755 x-hello/bin/hello\nf 755 x-hello/bin/hello-wrapper\n\
             d 700 x-hello/lib\nf 644 x-hello/lib/libhello.so.1.0\nl 777 x-hello/lib/libhello.so.1 -> libhello.so.1.0\n\
             d 755 x-hello/share\nd 755 x-hello/share/man\nd 755 x-hello/share/man/man1\n\
             f 644 x-hello/share/man/man1/hello.1.gz\n",
        )
        .unwrap();
        let files = Files(dir.path());
        let op = HostOp { name: ELF_FILES.into(), params: json!({}), inputs: vec![], outputs: vec![] };
        let out = run(&op, &[HostTree { tree: &tree, files: &files }]).unwrap();
        let t = &out[0].tree;
        assert_eq!(
            t.paths().collect::<Vec<_>>(),
            [
                "x-hello",
                "x-hello/bin",
                "x-hello/bin/hello",
                "x-hello/lib",
                "x-hello/lib/libhello.so.1",
                "x-hello/lib/libhello.so.1.0"
            ]
        );
        // Kept entries are the input's own, modes and content ids included.
        assert_eq!(t.get("x-hello/lib"), tree.get("x-hello/lib"));
        assert_eq!(t.get("x-hello/bin/hello"), tree.get("x-hello/bin/hello"));
    }
}
