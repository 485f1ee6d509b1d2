//! `craft.organize`: [`crate::organize::organize`] on the install tree the
//! build step left (stage-packages squashed under it), at the end of the
//! build step.

use serde::{Deserialize, Serialize};
use strata_frontend_api::{HostOpError, HostResult, HostTree};

use super::result;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organize {
    pub part: String,
    /// `from → to`, as in the spec.
    pub organize: Vec<(String, String)>,
}

pub fn run(p: &Organize, install: &HostTree<'_>) -> Result<HostResult, HostOpError> {
    let mut tree = install.tree.clone();
    crate::organize::organize(&p.part, &mut tree, &p.organize).map_err(HostOpError::new)?;
    Ok(result(tree))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hostops::testing::Files;

    #[test]
    fn organize_renames_and_keeps_contents() {
        let install = Files::listing("f 755 bin/hello.sh hi\n");
        let p = Organize { part: "p".into(), organize: vec![("bin/hello.sh".into(), "usr/bin/hello".into())] };
        let out = run(&p, &install.host()).unwrap();
        assert_eq!(out.tree.paths().collect::<Vec<_>>(), ["usr", "usr/bin", "usr/bin/hello"]);
        assert_eq!(out.tree.get("usr/bin/hello"), install.tree.get("bin/hello.sh"), "same content id, same mode");
        assert!(out.data.is_empty());
        let clash =
            Organize { part: "p".into(), organize: vec![("bin/*".into(), "x".into()), ("a".into(), "x".into())] };
        let two = Files::listing("f 644 bin/a\nf 644 bin/b\n");
        assert!(run(&clash, &two.host()).unwrap_err().message.contains("end it with a slash"));
    }
}
