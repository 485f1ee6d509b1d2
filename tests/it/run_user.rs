//! rockcraft's `run-user: _daemon_` and its pruning of primed files the
//! base already has (`docs/rockcraft-spread-tests.md`, G2 and G3), built
//! for real: a rock on the Debian base whose part installs a copy of a
//! base file (pruned) and a file of its own (kept). The image runs as uid
//! 584792, its `/etc/passwd` and `/etc/group` are Debian's with `_daemon_`
//! appended, and its home is pebble's directory, mode 0777, as
//! rockcraft's run-user-minimal spread test checks.
//!
//! Slow (the Debian base): under CI or `STRATA_SLOW_TESTS=1`, as root with
//! runc and mmdebstrap.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use strata::layer::{UnpackOptions, unpack};

use crate::support::{Strata, oci_dir_image_manifest, require, slow_tests};

const SPEC: &str = "\
name: run-user-it
version: '1'
summary: s
description: d
base: debian:bookworm
build-base: debian:bookworm
platforms: {amd64: }
run-user: _daemon_
parts:
  p:
    plugin: nil
    override-build: |
      mkdir -p \"$CRAFT_PART_INSTALL/etc\"
      cp -p /etc/debian_version \"$CRAFT_PART_INSTALL/etc/\"
      echo mine > \"$CRAFT_PART_INSTALL/etc/run-user-it.txt\"
";

fn blob(oci: &Path, digest: &str) -> std::path::PathBuf {
    oci.join("blobs/sha256").join(digest.trim_start_matches("sha256:"))
}

fn unpack_layers(oci: &Path, layers: &[serde_json::Value], into: &Path) {
    fs::create_dir_all(into).unwrap();
    for l in layers {
        let f = fs::File::open(blob(oci, l["digest"].as_str().unwrap())).unwrap();
        unpack(std::io::BufReader::new(f), into, &UnpackOptions::default()).unwrap();
    }
}

#[test]
fn a_run_user_rock_runs_as_daemon_and_packs_no_copy_of_the_bases_files() {
    if !slow_tests("build a run-user rock on the Debian base")
        || !require("root and runc", "test \"$(id -u)\" = 0 && runc --version")
        || !require("mmdebstrap", "mmdebstrap --version")
    {
        return;
    }
    let s = Strata::new();
    s.base_image("debian-bookworm");
    let dir = s.path("proj");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("rockcraft.yaml"), SPEC).unwrap();
    let oci = s.path("oci");
    let out = s.ok(&["build", dir.to_str().unwrap(), "--output", &format!("type=oci-dir,dest={}", oci.display())]);
    assert!(out.contains("[pack:run-user] run"), "{out}");

    let manifest = oci_dir_image_manifest(&oci);
    let config: serde_json::Value =
        serde_json::from_slice(&fs::read(blob(&oci, manifest["config"]["digest"].as_str().unwrap())).unwrap()).unwrap();
    let c = &config["config"];
    assert_eq!(c["User"], "584792", "{config}");
    assert_eq!(c["WorkingDir"], "/var/lib/pebble/default", "{config}");
    assert!(c["Env"].as_array().unwrap().iter().any(|e| e == "HOME=/var/lib/pebble/default"), "{config}");

    // base, prime, run-user.
    let layers = manifest["layers"].as_array().unwrap().clone();
    assert_eq!(layers.len(), 3, "{manifest}");
    let root = s.path("rootfs");
    unpack_layers(&oci, &layers, &root);
    let passwd = fs::read_to_string(root.join("etc/passwd")).unwrap();
    assert!(passwd.starts_with("root:x:0:0:root:/root:/bin/bash\n"), "{passwd}");
    assert!(passwd.ends_with("\n_daemon_:x:584792:584792::/var/lib/pebble/default:/usr/bin/false\n"), "{passwd}");
    let group = fs::read_to_string(root.join("etc/group")).unwrap();
    assert!(group.starts_with("root:x:0:\n") && group.ends_with("\n_daemon_:x:584792:\n"), "{group}");
    let shadow = fs::read_to_string(root.join("etc/shadow")).unwrap();
    assert!(shadow.ends_with("\n_daemon_:!:::::::\n"), "{shadow}");
    let home = fs::metadata(root.join("var/lib/pebble/default")).unwrap();
    assert!(home.is_dir());
    assert_eq!(home.permissions().mode() & 0o7777, 0o777);

    // The prime layer has the part's own file, not its copy of the base's.
    let prime = s.path("prime");
    unpack_layers(&oci, &layers[1..2], &prime);
    assert_eq!(fs::read_to_string(prime.join("etc/run-user-it.txt")).unwrap(), "mine\n");
    assert!(!prime.join("etc/debian_version").exists(), "the base's file was packed again");
    assert!(root.join("etc/debian_version").is_file(), "the image still has it, from the base");

    // The user layer holds the account files and the home only.
    let user = s.path("user-layer");
    unpack_layers(&oci, &layers[2..], &user);
    let (tree, _) = strata::vertex::hostfs::read_tree(&user).unwrap();
    assert_eq!(
        tree.paths().collect::<Vec<_>>(),
        ["etc", "etc/group", "etc/passwd", "etc/shadow", "var", "var/lib", "var/lib/pebble", "var/lib/pebble/default"]
    );
}
