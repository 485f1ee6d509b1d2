//! The frontend's host ops. One: [`VERIFY_NAR`], which checks a fetched
//! git checkout against its origin's NAR hash (Guix's recursive hash, over
//! the tree without `.git`) and yields that tree, `.git` left out, as Guix
//! has it in the store.

use serde_json::json;
use strata_frontend_api::graph::HostOp;
use strata_frontend_api::tree::Tree;
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

/// Runs one of the frontend's host ops.
pub fn run(op: &HostOp, inputs: &[HostTree<'_>]) -> Result<Vec<HostResult>, HostOpError> {
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
}
