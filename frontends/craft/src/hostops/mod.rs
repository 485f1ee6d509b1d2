//! craft's host operations (DESIGN.md §2): the steps of its lifecycle that
//! are semantics over file listings, not processes — organize, stage (with
//! the stage conflicts and the pkg-config fix), prime (with `permissions`),
//! the overlay fileset, the `source-subdir` check, the empty source of a
//! part without one, and the stage-packages' verification and
//! normalisation. The lowering ([`crate::lower`]) writes them into the
//! graph as [`HostOp`]s; strata reads their inputs as trees and calls
//! [`run`] (through [`crate::CraftFrontend`]'s `run_host_op`).
//!
//! | op | params | inputs | outputs |
//! |---|---|---|---|
//! | [`EMPTY`] | `{}` | — | one empty tree |
//! | [`CHECK_SUBDIR`] | [`subdir::CheckSubdir`] | the pulled `src` | none: fails or passes |
//! | [`ORGANIZE`] | [`organize::Organize`] | the built install tree | the organized install tree |
//! | [`STAGE`] | [`stage::Stage`] | the part's organized install tree | what the part adds to the stage |
//! | [`STAGE_CONFLICTS`] | [`stage::StageConflicts`] | every part's organized install tree, lifecycle order | nothing: fails on a conflict |
//! | [`PRIME`] | [`prime::Prime`] | the install tree, the part's own stage | what the part adds to the prime |
//! | [`OVERLAY_FILTER`] | [`overlay::OverlayFilter`] | the overlay step's changes (whiteouts as `.wh.` names) | the changes the `overlay` fileset keeps |
//! | [`STAGE_PACKAGES`] | [`packages::VerifyDebs`] | what the fetch container wrote | the verified `.deb`s; their list |
//! | [`NORMALIZE`] | [`normalize::Normalize`] | the unpacked packages; what the unpack container gathered | the normalised install tree |
//! | [`PRUNE`] | [`prune::Prune`] | the runtime base, the overlay layers, every part's prime | every part's prime less the files the image below already has |
//! | [`RUN_USER`] | [`user::AddUser`] | the `etc` of the base, the overlays and the primes, bottom to top | `/etc/passwd`, `/etc/group` (`/etc/shadow`) with the user added |
//!
//! A file entry of a returned tree keeps the content id of the input file
//! it was copied from; new bytes (a rewritten `.pc` file) are returned in
//! [`HostResult::data`] under `sha256:<hex>` of the bytes, which is also
//! the entry's content id (so equal ids still mean equal bytes).

use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest as _, Sha256};
use strata_frontend_api::graph::{HostInput, HostOp, HostOutput};
use strata_frontend_api::{HostOpError, HostResult, HostTree};

use crate::tree::Tree;

pub mod normalize;
pub mod organize;
pub mod overlay;
pub mod packages;
pub mod prime;
pub mod prune;
pub mod stack;
pub mod stage;
pub mod subdir;
pub mod user;

pub const EMPTY: &str = "craft.empty";
pub const CHECK_SUBDIR: &str = "craft.check-subdir";
pub const ORGANIZE: &str = "craft.organize";
pub const STAGE: &str = "craft.stage";
pub const STAGE_CONFLICTS: &str = "craft.stage-conflicts";
pub const PRIME: &str = "craft.prime";
pub const OVERLAY_FILTER: &str = "craft.overlay-filter";
pub const STAGE_PACKAGES: &str = "craft.stage-packages";
pub const NORMALIZE: &str = "craft.normalize-stage-packages";
pub const PRUNE: &str = "craft.prune";
pub const RUN_USER: &str = "craft.run-user";

/// Runs the host op `op` over `inputs` (in the order of `op.inputs`).
pub fn run(op: &HostOp, inputs: &[HostTree<'_>]) -> Result<Vec<HostResult>, HostOpError> {
    match op.name.as_str() {
        EMPTY => Ok(vec![HostResult::default()]),
        CHECK_SUBDIR => subdir::run(&params(op)?, input(op, inputs, 0)?).map(|()| Vec::new()),
        ORGANIZE => organize::run(&params(op)?, input(op, inputs, 0)?).map(|r| vec![r]),
        STAGE => stage::run(&params(op)?, inputs).map(|r| vec![r]),
        STAGE_CONFLICTS => stage::conflicts(&params(op)?, inputs).map(|()| vec![]),
        PRIME => prime::run(&params(op)?, input(op, inputs, 0)?, input(op, inputs, 1)?).map(|r| vec![r]),
        OVERLAY_FILTER => overlay::run(&params(op)?, input(op, inputs, 0)?).map(|r| vec![r]),
        STAGE_PACKAGES => packages::run(&params(op)?, input(op, inputs, 0)?),
        NORMALIZE => normalize::run(&params(op)?, input(op, inputs, 0)?, input(op, inputs, 1)?).map(|r| vec![r]),
        PRUNE => prune::run(&params(op)?, inputs),
        RUN_USER => user::run(&params(op)?, inputs).map(|r| vec![r]),
        other => Err(HostOpError::new(format!("the craft frontend has no host op '{other}'"))),
    }
}

/// A host op of this frontend: `name` with `params` as JSON.
pub fn host_op(name: &str, params: &impl Serialize, inputs: Vec<HostInput>, outputs: Vec<HostOutput>) -> HostOp {
    let params = serde_json::to_value(params).expect("host op parameters are plain data");
    HostOp { name: name.to_string(), params, inputs, outputs }
}

fn params<T: DeserializeOwned>(op: &HostOp) -> Result<T, HostOpError> {
    serde_json::from_value(op.params.clone()).map_err(|e| {
        HostOpError::new(format!(
            "host op '{}': bad parameters ({e}); was the graph lowered by another version of strata?",
            op.name
        ))
    })
}

fn input<'a, 'b>(op: &HostOp, inputs: &'a [HostTree<'b>], i: usize) -> Result<&'a HostTree<'b>, HostOpError> {
    inputs.get(i).ok_or_else(|| {
        HostOpError::new(format!(
            "host op '{}': expected at least {} input trees, got {}",
            op.name,
            i + 1,
            inputs.len()
        ))
    })
}

/// A result holding `tree` and no new bytes.
fn result(tree: Tree) -> HostResult {
    HostResult { tree, data: Default::default() }
}

/// The content id of new bytes: `sha256:<hex>`, as strata names a file's
/// content when it reads a tree.
pub fn content_id(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut s = String::with_capacity(7 + 64);
    s.push_str("sha256:");
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Reads a file of an input tree, as an error that names it.
fn read(input: &HostTree<'_>, path: &str) -> Result<Vec<u8>, HostOpError> {
    input.files.read(path).map_err(|e| HostOpError::new(format!("cannot read '{path}' of an input tree: {e}")))
}

#[cfg(test)]
pub(crate) mod testing {
    //! Input trees for host op tests: a listing whose file contents are the
    //! listing's CONTENT words (their content ids are `sha256:` of them).
    use std::collections::BTreeMap;

    use strata_frontend_api::tree::{EntryKind, Tree};
    use strata_frontend_api::{HostTree, ReadFile};

    /// A tree and the bytes of its files.
    pub struct Files {
        pub tree: Tree,
        pub bytes: BTreeMap<String, Vec<u8>>,
    }

    impl ReadFile for Files {
        fn read(&self, path: &str) -> std::io::Result<Vec<u8>> {
            self.bytes.get(path).cloned().ok_or_else(|| std::io::Error::other(format!("no file {path}")))
        }
    }

    impl Files {
        /// `Tree::parse_listing` text; each file's bytes are its CONTENT
        /// word with `\n` for `\\n`, its content id their `sha256:`.
        pub fn listing(text: &str) -> Files {
            let mut tree = Tree::parse_listing(text).unwrap();
            let mut bytes = BTreeMap::new();
            let paths: Vec<String> = tree.paths().map(str::to_string).collect();
            for p in paths {
                let mut e = tree.get(&p).unwrap().clone();
                if let EntryKind::File { content } = &e.kind {
                    let b = content.replace("\\n", "\n").into_bytes();
                    e.kind = EntryKind::File { content: super::content_id(&b) };
                    bytes.insert(p.clone(), b);
                    tree.insert(&p, e);
                }
            }
            Files { tree, bytes }
        }

        pub fn host(&self) -> HostTree<'_> {
            HostTree { tree: &self.tree, files: self }
        }
    }
}
