//! The frontend's host ops. One: [`VERIFY_NAR`], which checks a fetched
//! git checkout against its origin's NAR hash (Guix's recursive hash, over
//! the tree without `.git`) and yields that tree, `.git` left out, as Guix
//! has it in the store.

use serde_json::json;
use strata_frontend_api::graph::HostOp;
use strata_frontend_api::tree::Tree;
use strata_frontend_api::{HostOpError, HostResult, HostTree};

use crate::{base32, nar};

/// `guix.verify-nar`: params `{ "expected": NIX32, "origin": "FILE:LINE:COL" }`.
pub const VERIFY_NAR: &str = "guix.verify-nar";

/// Its parameters.
pub fn verify_params(expected: &str, origin: &str) -> serde_json::Value {
    json!({ "expected": expected, "origin": origin })
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
    let found = nar::hash_tree(input.tree, input.files, &is_git)
        .map_err(|e| HostOpError::new(format!("guix.verify-nar: reading the checkout: {e}")))?;
    let found = base32::encode(&found);
    if found != expected {
        return Err(HostOpError::new(format!(
            "{origin}: sha256 mismatch for the git checkout: expected {expected}, found {found} (NAR hash, .git left out)"
        )));
    }
    let mut tree = Tree::new();
    for (path, entry) in input.tree.iter() {
        if !is_git(path) {
            tree.insert(path, entry.clone());
        }
    }
    Ok(vec![HostResult { tree, data: Default::default() }])
}
