//! `craft.overlay-filter`: a part's overlay changes filtered by its
//! `overlay` fileset (craft-parts' `migratable_filesets` over the layer,
//! then `_apply_file_filter`): what the fileset selects is kept, and
//! deletions from the base (whiteouts, `.wh.<name>` in the input tree) and
//! opaque directories (`.wh..wh..opq`) are kept unless the fileset filters
//! their directory out. The files apt and dpkg write with the time in them
//! never reach this op: the overlay step's capture drops them
//! ([`crate::lower::overlay::UNCAPTURED`]).

use serde::{Deserialize, Serialize};
use strata_frontend_api::{Fileset, HostOpError, HostResult, HostTree};

use crate::fileset::select;
use crate::migrate::MigrateError;
use crate::tree::{Tree, file_name, parent};

use super::result;

/// The OCI whiteout prefix and opaque marker.
pub(crate) const WHITEOUT: &str = ".wh.";
pub(crate) const OPAQUE: &str = ".wh..wh..opq";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverlayFilter {
    pub part: String,
    pub overlay: Fileset,
}

pub fn run(p: &OverlayFilter, changes: &HostTree<'_>) -> Result<HostResult, HostOpError> {
    let is_whiteout = |path: &str| file_name(path).starts_with(WHITEOUT);
    let mut plain = Tree::new();
    for (path, e) in changes.tree.iter().filter(|(path, _)| !is_whiteout(path)) {
        plain.insert(path, e.clone());
    }
    let sel = select(&p.overlay, &plain)
        .map_err(|source| HostOpError::new(MigrateError::Fileset { part: p.part.clone(), source }))?;
    let mut kept = Tree::new();
    for (path, e) in changes.tree.iter() {
        let dir = parent(path);
        let keep = if file_name(path) == OPAQUE {
            sel.dirs.contains(dir)
        } else if is_whiteout(path) {
            dir.is_empty() || sel.dirs.contains(dir)
        } else if e.is_dir() {
            sel.dirs.contains(path.as_str())
        } else {
            sel.files.contains(path.as_str())
        };
        if keep {
            kept.insert(path, e.clone());
        }
    }
    Ok(result(kept))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hostops::testing::Files;

    #[test]
    fn the_fileset_keeps_files_and_the_deletions_in_kept_directories() {
        let changes = Files::listing(
            "f 644 etc/app.conf a\nf 0 etc/.wh.motd\nd 755 var/lib/x\nf 0 var/lib/x/.wh..wh..opq\nf 644 var/lib/x/state s\nf 0 .wh.srv\n",
        );
        let p = OverlayFilter { part: "p".into(), overlay: Fileset::new(["*", "-var"]) };
        let out = run(&p, &changes.host()).unwrap();
        assert_eq!(out.tree.paths().collect::<Vec<_>>(), [".wh.srv", "etc", "etc/.wh.motd", "etc/app.conf"]);
        let all = OverlayFilter { part: "p".into(), overlay: Fileset::all() };
        assert_eq!(run(&all, &changes.host()).unwrap().tree, changes.tree, "'*' keeps every change");
    }
}
