//! Issue #16: a rock on a Debian base is usrmerged, as rockcraft makes
//! every rock on a base newer than ubuntu@24.04. rockcraft's own
//! `usrmerged-install` spread test (`tests/fixtures/usrmerged-install`,
//! bases swapped) builds: a go part (usrmerged by default), a dump part
//! (not), a nil part with `enable-usrmerge`, `base-files` as a
//! stage-package and an overlay package stage together, and the image runs
//! what the spread test runs.
//!
//! Slow (apt, Go, the overlay): under CI or `STRATA_SLOW_TESTS=1`, as root
//! with runc, mmdebstrap and Docker.

use std::process::Command;

use crate::support::{Strata, repo, require, require_docker, slow_tests, text};

/// `docker run --rm --entrypoint ENTRYPOINT IMAGE ARGS...`: its stdout.
fn run(image: &str, entrypoint: &str, args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(["run", "--rm", "--entrypoint", entrypoint, image])
        .args(args)
        .output()
        .expect("docker run");
    assert!(out.status.success(), "docker run {entrypoint} {args:?}:\n{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn rockcrafts_usrmerged_install_project_builds_and_runs() {
    if !slow_tests("build tests/fixtures/usrmerged-install")
        || !require("root and runc", "test \"$(id -u)\" = 0 && runc --version")
        || !require("mmdebstrap", "mmdebstrap --version")
        || !require_docker()
    {
        return;
    }
    let s = Strata::new();
    s.base_image("debian-bookworm");
    let tag = format!("strata-it-usrmerged-install:{}", std::process::id());
    let project = repo().join("tests/fixtures/usrmerged-install");
    s.ok(&["build", project.to_str().unwrap(), "-t", &tag, "--output", "type=docker"]);

    // The spread test's checks, with docker's entrypoint instead of pebble.
    assert_eq!(run(&tag, "/usr/bin/go-hello", &[]), "hello world from go\n");
    assert_eq!(run(&tag, "/usr/bin/hello", &[]), "Hello, world!\n");
    assert_eq!(run(&tag, "/bin/ls", &["-1", "/etc/config/"]), "file.txt\n");
    assert_eq!(run(&tag, "/bin/cat", &["/usr/bin/usrmerged.txt"]), "usrmerged\n");
    // The go binary went into bin/, which is usr/bin; /bin is still the
    // base's link, and the image's top-level links are merged-/usr ones.
    assert_eq!(run(&tag, "/bin/readlink", &["/bin", "/lib", "/sbin"]), "usr/bin\nusr/lib\nusr/sbin\n");
    assert_eq!(run(&tag, "/bin/go-hello", &[]), "hello world from go\n");
    let _ = Command::new("docker").args(["rmi", "-f", &tag]).output();

    // Without enable-usrmerge, base-files' Debian 12 packages stage real
    // bin/, lib/ directories where the usrmerged parts stage links: the
    // conflict craft-parts reports, with what to do.
    let copy = s.path("no-enable-usrmerge");
    crate::support::sh(&format!("cp -a '{}' '{}'", project.display(), copy.display()));
    let spec = std::fs::read_to_string(copy.join("rockcraft.yaml")).unwrap();
    let spec =
        spec.replacen("    build-attributes:\n      - enable-usrmerge\n    stage-packages:", "    stage-packages:", 1);
    std::fs::write(copy.join("rockcraft.yaml"), spec).unwrap();
    let err = s.fails(&["build", copy.to_str().unwrap()]);
    assert!(
        err.contains(
            "and part 'base-files' has a 'bin' directory: add 'build-attributes: [enable-usrmerge]' to 'base-files'"
        ),
        "{err}"
    );
}
