//! `craft.check-subdir`: after an `override-pull`, the part's
//! `source-subdir` must be a directory of what the scriptlet left in `src`
//! (without one, the fetch itself checks it: [`strata_frontend_api::graph::FetchOp::check_subdir`]).

use serde::{Deserialize, Serialize};
use strata_frontend_api::{HostOpError, HostTree};

/// The parameters: whose source, which subdir, and the source's location
/// (for the message).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckSubdir {
    pub part: String,
    pub subdir: String,
    pub location: String,
}

/// Passes when `subdir` resolves, inside the tree, to a directory.
pub fn run(p: &CheckSubdir, src: &HostTree<'_>) -> Result<(), HostOpError> {
    if src.tree.resolve(&p.subdir).is_some_and(|r| r.is_empty() || src.tree.is_real_dir(&r)) {
        return Ok(());
    }
    Err(HostOpError::new(format!(
        "part '{}': source-subdir '{}' is not a directory in the source {}; check it against the source's layout (a tarball with a single top-level directory has it stripped)",
        p.part, p.subdir, p.location
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hostops::testing::Files;

    #[test]
    fn the_subdir_must_be_a_directory_inside_the_source() {
        let src = Files::listing("d 755 c\nl 777 link -> c\nl 777 out -> /etc\nf 644 file x\n");
        let check = |sub: &str| {
            run(&CheckSubdir { part: "p".into(), subdir: sub.into(), location: "hello.tar".into() }, &src.host())
        };
        assert!(check("c").is_ok());
        assert!(check("link").is_ok(), "a link to a directory inside the source");
        assert!(check("out").is_err(), "a link leaving the source");
        assert!(check("file").is_err());
        let err = check("missing").unwrap_err();
        assert!(
            err.message.starts_with("part 'p': source-subdir 'missing' is not a directory in the source hello.tar")
        );
    }
}
