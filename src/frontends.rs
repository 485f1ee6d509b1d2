//! The frontend registry: which frontend reads a path. The only place
//! `src/` names a frontend crate (DESIGN.md §2); everything else sees
//! `&dyn Frontend` and the graph it lowers.

use std::path::{Path, PathBuf};

use strata_frontend_api::Frontend;

/// Every frontend strata has, in the order they are asked.
pub static FRONTENDS: &[&dyn Frontend] = &[&strata_frontend_craft::CraftFrontend, &strata_frontend_guix::GuixFrontend];

/// No frontend reads a path.
#[derive(Debug, thiserror::Error)]
#[error(
    "no spec file strata can read at {}: expected a craft project (rockcraft.yaml, strata.yaml, parts.yaml or a YAML file with a top-level 'parts:' key)",
    path.display()
)]
pub struct NoFrontend {
    pub path: PathBuf,
}

/// The frontend that reads `path` (a spec file, or a directory holding
/// one) and the spec file it would read.
pub fn detect(path: &Path) -> Result<(&'static dyn Frontend, PathBuf), NoFrontend> {
    FRONTENDS
        .iter()
        .find_map(|f| f.locate(path).map(|spec| (*f, spec)))
        .ok_or_else(|| NoFrontend { path: path.to_path_buf() })
}
