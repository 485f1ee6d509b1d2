//! The build-side Scheme (`scheme/guix`, `scheme/strata`), embedded at
//! build time by `build.rs`, mounted read-only at `/strata/guix` in every
//! phase vertex (and so part of every phase's key).

include!(concat!(env!("OUT_DIR"), "/scheme_files.rs"));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_driver_and_every_build_system_are_embedded() {
        let names: Vec<&str> = FILES.iter().map(|(p, _)| *p).collect();
        for want in [
            "strata/run-phase.scm",
            "strata/phase.scm",
            "strata/build/utils.scm",
            "strata/build/gnu.scm",
            "guix/build/utils.scm",
        ] {
            assert!(names.contains(&want), "{want} not in {names:?}");
        }
        assert!(!names.iter().any(|n| n.starts_with("tests/")));
    }
}
