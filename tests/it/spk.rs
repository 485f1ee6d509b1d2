//! The spk frontend end to end: `examples/spk-greet` built with the runc
//! executor (a sibling recipe as a requirement, two variants, components,
//! the image's environment) and run; spec errors as the user sees them.

use std::fs;

use crate::support::{Strata, require, require_docker, slow_tests, text};

/// A spec written into a temp dir; returns the dir and the spec's path.
fn spec_dir(files: &[(&str, &str)]) -> (tempfile::TempDir, String) {
    let d = tempfile::tempdir().unwrap();
    for (name, body) in files {
        fs::write(d.path().join(name), body).unwrap();
    }
    let first = d.path().join(files[0].0).to_string_lossy().into_owned();
    (d, first)
}

#[test]
fn spk_greet_builds_with_runc_and_runs() {
    if !require("root and runc", "test \"$(id -u)\" = 0 && runc --version")
        || !require("mmdebstrap", "mmdebstrap --version")
        || !require_docker()
    {
        return;
    }
    let s = Strata::new();
    s.base_image("debian-bookworm");
    let tag = format!("strata-it-spk-greet:{}", std::process::id());
    let started = std::time::Instant::now();
    let out = s.ok(&["build", "examples/spk-greet/greet.spk.yaml", "-t", &tag, "--output", "type=docker"]);
    eprintln!("examples/spk-greet: built in {:.0}s", started.elapsed().as_secs_f64());
    for v in ["greet:build:", "greet:package:", "libgreet:build:", "greet:source"] {
        assert!(out.contains(v), "no '{v}' in:\n{out}");
    }
    let run = |args: &[&str]| {
        let mut all = vec!["run", "--rm", &tag];
        all.extend(args);
        std::process::Command::new("docker").args(&all).output().expect("docker run")
    };
    let greet = run(&["greet"]);
    let ls_man = run(&["sh", "-c", "ls /spfs/share/man 2>&1; ls /spfs/etc/spfs/startup.d"]);
    let _ = std::process::Command::new("docker").args(["rmi", "-f", &tag]).output();
    assert!(greet.status.success(), "docker run {tag} greet:\n{}", text(&greet));
    assert_eq!(String::from_utf8_lossy(&greet.stdout), "hello strata from spk-greet 1.2.0 (libgreet 1.0.3)\n");
    let listing = String::from_utf8_lossy(&ls_man.stdout);
    assert!(listing.contains("No such file"), "the man component is not in the image:\n{listing}");
    assert!(listing.contains("spk_greet.sh") && listing.contains("spk_greet.csh"), "the startup files are:\n{listing}");

    // Two variants, two images in one index (skopeo reads it), each
    // annotated with its build; docker got the first.
    let raw = std::process::Command::new("skopeo")
        .args(["inspect", "--raw", &format!("oci:{}:{tag}", s.store().display())])
        .output()
        .expect("skopeo");
    let index: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap_or_else(|_| panic!("{}", text(&raw)));
    let variants: Vec<&serde_json::Value> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["annotations"]["dev.spk.build"].is_string())
        .collect();
    assert_eq!(variants.len(), 2, "{index}");
    assert!(variants[1]["annotations"]["dev.spk.options"].as_str().unwrap().contains("\"style\":\"loud\""));

    // The same image from a fresh store: every layer is reproducible.
    let fresh = Strata::new();
    fresh.base_image("debian-bookworm");
    let again = fresh.ok(&["build", "examples/spk-greet/greet.spk.yaml"]);
    assert_eq!(crate::support::last_digest(&out), crate::support::last_digest(&again), "two builds, two images");

    // The second variant and an option, from the cache of the first build.
    let out =
        s.ok(&["build", "examples/spk-greet/greet.spk.yaml", "-X", "variant=style=loud", "-X", "opt=greeting=hi"]);
    assert!(out.contains("greet:build:"), "{out}");
}

#[test]
fn a_malformed_spec_points_at_its_line_and_column() {
    let (_d, spec) = spec_dir(&[("bad.spk.yaml", "pkg: bad/1.0.0\nbuild:\n  script: [unclosed\n")]);
    let err = Strata::new().fails(&["plan", &spec]);
    assert!(err.contains("bad.spk.yaml:") && err.contains("invalid YAML"), "{err}");
    let (_d, spec) = spec_dir(&[("bad.spk.yaml", "pkg: bad/1.0.0\nbuild:\n  options:\n    - bar: 1\n")]);
    let err = Strata::new().fails(&["plan", &spec]);
    assert!(err.contains("bad.spk.yaml:4:7: an option has 'var:' or 'pkg:'"), "{err}");
}

#[test]
fn unknown_keys_warn_and_strict_refuses_them() {
    let body = "pkg: typo/1.0.0\napi: v0/package\nsources: []\nuild:\n  script: [true]\n";
    let (_d, spec) = spec_dir(&[("typo.spk.yaml", body)]);
    let s = Strata::new();
    let out = s.cmd().args(["plan", &spec]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("typo.spk.yaml:4:1: warning: unknown key 'uild'") && stderr.contains("did you mean 'build'"),
        "{stderr}"
    );
    let err = s.fails(&["plan", &spec, "-X", "strict"]);
    assert!(err.contains("typo.spk.yaml:4:1: unknown key 'uild'") && err.contains("strict mode"), "{err}");
}

#[test]
fn a_missing_requirement_is_named() {
    let body = "pkg: needy/1.0.0\nsources: []\nbuild:\n  options:\n    - pkg: gcc/6.3\n  script: [true]\n";
    let (_d, spec) = spec_dir(&[("needy.spk.yaml", body)]);
    let err = Strata::new().fails(&["plan", &spec]);
    assert!(err.contains("requires 'gcc/6.3', which cannot be satisfied"), "{err}");
    assert!(err.contains("--spk-provide gcc=DEBIAN-PKG"), "{err}");
    let err = Strata::new().fails(&["plan", &spec, "-X", "nosuch=1"]);
    assert!(err.contains("has no option 'nosuch'"), "{err}");
}

/// The conformance spec `bzip2.spk.yaml` (and its sibling stdfs; copies of
/// `shared/conformance/spk/` in `frontends/spk/tests/fixtures/conformance/`) built from
/// Debian's bzip2 1.0.8 `.orig` tarball, byte-identical to upstream's: the
/// spec's unreachable upstream URL and version are the only edits. gcc and
/// make come from the build base (`--spk-provide gcc=gcc`: the build checks
/// that Debian's gcc is installed and takes its version).
#[test]
fn spk_builds_the_bzip2_conformance_spec_from_debian_sources() {
    let conformance = crate::support::repo().join("frontends/spk/tests/fixtures/conformance");
    if !slow_tests("build the bzip2 spk conformance spec from Debian's sources") {
        return;
    }
    if !require("root and runc", "test \"$(id -u)\" = 0 && runc --version")
        || !require("mmdebstrap", "mmdebstrap --version")
        || !require_docker()
    {
        return;
    }
    // The Debian mirror the base images use.
    let recipe = fs::read_to_string(crate::support::repo().join("images/debian-bookworm/recipe.toml")).unwrap();
    let mirror = recipe.lines().find_map(|l| l.strip_prefix("mirror = ")).unwrap().trim_matches('"');
    let spec = fs::read_to_string(conformance.join("bzip2.spk.yaml")).unwrap();
    let tar = spec.lines().find_map(|l| l.trim().strip_prefix("- tar: ")).expect("bzip2's tar source").to_string();
    let spec = spec
        .replace(&tar, &format!("{mirror}/pool/main/b/bzip2/bzip2_1.0.8.orig.tar.gz"))
        .replace("bzip2/1.0.6", "bzip2/1.0.8")
        .replace("cd bzip2-1.0.6", "cd bzip2-1.0.8");
    let stdfs = fs::read_to_string(conformance.join("stdfs.spk.yaml")).unwrap();
    let (_d, path) = spec_dir(&[("bzip2.spk.yaml", &spec), ("stdfs.spk.yaml", &stdfs)]);
    let s = Strata::new();
    s.base_image("debian-bookworm");
    s.base_image("debian-bookworm-build");
    let tag = format!("strata-it-spk-bzip2:{}", std::process::id());
    let started = std::time::Instant::now();
    let out = s.ok(&[
        "build",
        &path,
        "--build-base",
        "debian:bookworm-build",
        "--spk-provide",
        "gcc=gcc",
        "-t",
        &tag,
        "--output",
        "type=docker",
    ]);
    eprintln!("bzip2.spk.yaml: built in {:.0}s", started.elapsed().as_secs_f64());
    assert!(out.contains("stdfs:build:") && out.contains("bzip2:package:"), "{out}");
    let run = std::process::Command::new("docker")
        .args(["run", "--rm", &tag, "sh", "-c", "echo round trip | bzip2 | bzip2 -d; echo $LD_LIBRARY_PATH"])
        .output()
        .expect("docker run");
    let _ = std::process::Command::new("docker").args(["rmi", "-f", &tag]).output();
    assert!(run.status.success(), "{}", text(&run));
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "round trip\n/spfs/lib\n",
        "bzip2 from /spfs/bin and stdfs's environment"
    );

    // Published, bzip2 is a dependency a fresh store resolves from the registry.
    let Some(reg) = crate::support::ci_registry() else { return };
    let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let repo = format!("registry://{reg}/strata-it/spk-bzip2-{n}");
    s.ok(&["spk", "publish", "bzip2/1.0.8", "--to", &repo]);
    s.ok(&["spk", "publish", "stdfs/1.1.0", "--to", &repo]);
    let user = "pkg: bzuser/1.0.0\napi: v0/package\nsources: []\nbuild:\n  auto_host_vars: None\n  options: [{pkg: bzip2/1.0}]\n  script:\n    - mkdir -p /spfs/share/bzuser\n    - echo packed by a dependency | bzip2 > /spfs/share/bzuser/note.bz2\ninstall:\n  requirements: [{pkg: bzip2/1.0}]\n";
    let (_u, user) = spec_dir(&[("bzuser.spk.yaml", user)]);
    let fresh = Strata::new();
    fresh.base_image("debian-bookworm");
    let out = fresh.ok(&["build", &user, "--spk-repo", &repo, "-t", &tag, "--output", "type=docker"]);
    assert!(out.contains("/bzip2@sha256:") && !out.contains("bzip2:build:"), "bzip2 is pulled, not built:\n{out}");
    let run = std::process::Command::new("docker")
        .args(["run", "--rm", &tag, "sh", "-c", "bzip2 -dc /spfs/share/bzuser/note.bz2 && bzip2 --help 2>&1 | head -1"])
        .output()
        .expect("docker run");
    let _ = std::process::Command::new("docker").args(["rmi", "-f", &tag]).output();
    assert!(run.status.success(), "{}", text(&run));
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        stdout.starts_with("packed by a dependency\nbzip2, a block-sorting file compressor.  Version 1.0.8"),
        "{stdout}"
    );
}

#[test]
fn spk_validation_refuses_empty_packages_and_altered_files() {
    if !require("root and runc", "test \"$(id -u)\" = 0 && runc --version")
        || !require("mmdebstrap", "mmdebstrap --version")
    {
        return;
    }
    let base = "sources: []\nbuild:\n  auto_host_vars: None\n";
    let (d, empty) = spec_dir(&[
        ("empty.spk.yaml", &format!("pkg: empty/1.0.0\n{base}  script: [echo nothing]\n")),
        ("lib.spk.yaml", &format!("pkg: lib/1.0.0\n{base}  script: [mkdir -p /spfs/lib, echo v1 > /spfs/lib/data]\n")),
        (
            "app.spk.yaml",
            &format!("pkg: app/1.0.0\n{base}  options: [{{pkg: lib}}]\n  script: [echo mine > /spfs/lib/data]\n"),
        ),
    ]);
    let s = Strata::new();
    s.base_image("debian-bookworm");
    let err = s.fails(&["build", &empty]);
    assert!(err.contains("empty/1.0.0/") && err.contains("Builds must install at least one file in spfs"), "{err}");
    let app = d.path().join("app.spk.yaml").to_string_lossy().into_owned();
    let err = s.fails(&["build", &app]);
    assert!(
        err.contains("Build must not alter files from other packages.") && err.contains("spfs/lib/data (changed)"),
        "{err}"
    );
    fs::write(
        d.path().join("app.spk.yaml"),
        format!("pkg: app/1.0.0\n{base}  options: [{{pkg: lib}}]\n  script: [echo mine > /spfs/lib/data]\n  validation:\n    rules:\n      - allow: AlterExistingFiles\n      - allow: CollectExistingFiles\n"),
    )
    .unwrap();
    s.ok(&["build", &app]);
}

/// A library with a test per stage, and one that fails for one variant.
const TESTED: &str = include_str!("../../frontends/spk/tests/fixtures/tested.spk.yaml");

/// `strata spk make-source|make-binary|test` and `build --test`, with
/// spk's flags: each target makes what its spk command makes, a test that
/// fails names itself, a passed test is cached, and `--spk-provide` checks
/// the Debian package it names.
#[test]
fn spk_targets_tests_and_flags() {
    if !require("root and runc", "test \"$(id -u)\" = 0 && runc --version")
        || !require("mmdebstrap", "mmdebstrap --version")
    {
        return;
    }
    let (_d, spec) = spec_dir(&[("tested.spk.yaml", TESTED)]);
    let s = Strata::new();
    s.base_image("debian-bookworm");

    let out = s.ok(&["spk", "make-source", &spec]);
    assert!(out.contains("tested:source: out sha256:"), "make-source prints the source package's layer:\n{out}");
    assert!(!out.contains("tested:build:"), "and builds nothing:\n{out}");

    let out = s.ok(&["spk", "make-binary", &spec]);
    let packages = out.lines().filter(|l| l.starts_with("tested:package:") && l.contains(": run sha256:")).count();
    assert_eq!(packages, 2, "each variant's components:\n{out}");

    // The sweet variant passes all its stages; the sour one fails its own test.
    let out = s.ok(&["spk", "test", &spec, "--variant", "flavor=sweet"]);
    let passed: Vec<&str> = out.lines().filter(|l| l.contains(":test:") && l.ends_with(": ok")).collect();
    assert_eq!(passed.len(), 3, "sources, build and install:\n{out}");
    let err = s.fails(&["spk", "test", &spec, "--stage", "install"]);
    assert!(err.contains(":test:install:3:") && err.contains("the sour variant fails its test"), "{err}");
    let again = s.ok(&["spk", "test", &spec, "--variant", "0", "--stage=install"]);
    assert!(again.contains("0 step(s) run"), "a passed test is cached:\n{again}");

    // `build --test` runs the install tests after the build.
    let err = s.fails(&["build", &spec, "--test"]);
    assert!(err.contains("the sour variant fails its test"), "{err}");
    let out = s.ok(&["build", &spec, "--variant", "0", "--test", "--new-variant", r#"{"flavor": "bitter"}"#]);
    let builds: std::collections::BTreeSet<&str> =
        out.split_whitespace().map(|w| w.trim_matches(['[', ']'])).filter(|w| w.starts_with("tested:build:")).collect();
    assert_eq!(builds.len(), 2, "--variant and --new-variant: two builds:\n{out}");

    // A requirement met by a Debian package of the build base.
    let app = "pkg: app/1.0.0\nsources: []\nbuild:\n  auto_host_vars: None\n  options: [{pkg: shell/>=5}]\n  script: ['echo \"$SPK_PKG_shell_VERSION\" > /spfs/version']\n";
    let (_a, app) = spec_dir(&[("app.spk.yaml", app)]);
    let out = s.ok(&["build", &app, "--spk-provide", "shell=bash", "-t", "app:1"]);
    assert!(out.contains("app:build:"), "{out}");
    let err = s.fails(&["build", &app, "--spk-provide", "shell=no-such-package"]);
    assert!(
        err.contains("spk package 'shell' is provided by the Debian package 'no-such-package' (--spk-provide)"),
        "{err}"
    );
    let err = s.fails(&["build", &app, "--package", "x"]);
    assert!(err.contains("no option 'package'") && err.contains("of the guix frontend"), "{err}");
    let err = s.fails(&["spk", "make-source", "examples/hello-make"]);
    assert!(err.contains("is a craft spec, not an spk one"), "{err}");

    // A source that writes under /spfs outside its src dir fails make-source as in spk;
    // what it writes elsewhere (a tool's cache in /root) is not kept, nor an error.
    let stray = "pkg: stray/1.0.0\nsources:\n  - script:\n      - echo kept > in.txt\n      - echo cache > /root/.cache\n      - echo no > /spfs/stray.txt\nbuild:\n  script: [true]\n";
    let (_s, stray) = spec_dir(&[("stray.spk.yaml", stray)]);
    let err = s.fails(&["spk", "make-source", &stray]);
    assert!(
        err.contains("Invalid source file path found: /spfs/stray.txt (a source may write only under /spfs/spk/pkg/stray/1.0.0/src)"),
        "{err}"
    );
    let fine = fs::read_to_string(&stray).unwrap().replace("      - echo no > /spfs/stray.txt\n", "");
    fs::write(&stray, fine).unwrap();
    assert!(s.ok(&["spk", "make-source", &stray]).contains("stray:source: out sha256:"));
}

/// `examples/spk-greet` split in two directories: the library alone, and
/// the program without its sibling recipe, so that the library can only
/// come from a package repository; and a copy of it whole (outside git, as
/// the other two, so no image carries a VCS revision).
fn split_greet() -> (tempfile::TempDir, String, String, String) {
    let d = tempfile::tempdir().unwrap();
    let ex = crate::support::repo().join("examples/spk-greet");
    let (lib, app, whole) = (d.path().join("lib"), d.path().join("app"), d.path().join("whole"));
    for dir in [lib.join("lib"), app.join("build"), whole.join("lib"), whole.join("build")] {
        fs::create_dir_all(dir).unwrap();
    }
    let lib_files = ["libgreet.spk.yaml", "lib/greet.sh"];
    let app_files = ["greet.spk.yaml", "greet.in", "greet.1", ".gitignore", "build/stale.txt"];
    for f in lib_files {
        fs::copy(ex.join(f), lib.join(f)).unwrap();
    }
    for f in app_files {
        fs::copy(ex.join(f), app.join(f)).unwrap();
    }
    for f in lib_files.iter().chain(&app_files) {
        fs::copy(ex.join(f), whole.join(f)).unwrap();
    }
    let path = |p: std::path::PathBuf| p.to_string_lossy().into_owned();
    (d, path(lib.join("libgreet.spk.yaml")), path(app.join("greet.spk.yaml")), path(whole.join("greet.spk.yaml")))
}

/// The store is the default package repository; `strata spk publish` puts
/// builds in a registry, from which a fresh store resolves them
/// (`--spk-repo`) into the same image.
#[test]
fn spk_packages_are_published_and_resolved_from_a_registry() {
    if !require("root and runc", "test \"$(id -u)\" = 0 && runc --version")
        || !require("mmdebstrap", "mmdebstrap --version")
    {
        return;
    }
    let Some(reg) = crate::support::ci_registry() else { return };
    let (_d, lib, app, whole) = split_greet();
    let s = Strata::new();
    s.base_image("debian-bookworm");

    // Without the library anywhere, the error says where strata looked.
    let err = s.fails(&["plan", &app]);
    assert!(
        err.contains("requires 'libgreet/1.0', which cannot be satisfied: no recipe for it in")
            && err.contains("no build of it in the store"),
        "{err}"
    );

    // make-binary stores the source package and the build in the store.
    let out = s.ok(&["spk", "make-binary", &lib]);
    assert!(out.contains("stored package spk/libgreet:1.0.3-3I42H3S6"), "{out}");
    let ls = s.ok(&["spk", "ls"]);
    assert!(ls.contains("libgreet/1.0.3/3I42H3S6  build, run  (the store)"), "{ls}");
    assert!(ls.contains("libgreet/1.0.3/src  src  (the store)"), "{ls}");

    // The program resolves it from the store: the same image as with the
    // sibling recipe (examples/spk-greet whole).
    let from_store = crate::support::last_digest(&s.ok(&["build", &app, "--sbom=false"]));
    let with_sibling = crate::support::last_digest(&s.ok(&["build", &whole, "--sbom=false"]));
    assert_eq!(from_store, with_sibling, "a published dependency gives the image its recipe gives");

    let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let repo = format!("registry://{reg}/strata-it/spk-{n}");
    let out = s.ok(&["spk", "publish", "libgreet/1.0.3", "--to", &repo]);
    assert!(out.contains(&format!("published {reg}/strata-it/spk-{n}/libgreet:1.0.3-3I42H3S6 sha256:")), "{out}");
    assert!(out.contains("libgreet:1.0.3-src"), "NAME/VERSION publishes the source package too:\n{out}");
    let err = s.fails(&["spk", "publish", "libgreet/9.9", "--to", &repo]);
    assert!(err.contains("the store has no package build libgreet/9.9 (it has: libgreet/1.0.3/3I42H3S6"), "{err}");

    // A fresh store: the library comes from the registry, the image is the same.
    let fresh = Strata::new();
    fresh.base_image("debian-bookworm");
    let ls = fresh.ok(&["spk", "ls", "libgreet", "--repo", &repo]);
    assert!(ls.contains(&format!("libgreet/1.0.3/3I42H3S6  build, run  ({repo})")), "{ls}");
    let out = fresh.ok(&["build", &app, "--sbom=false", "--spk-repo", &repo]);
    assert!(out.contains("pulled ") && out.contains("/libgreet@sha256:"), "{out}");
    assert_eq!(crate::support::last_digest(&out), from_store, "the same image from a fresh store");

    // A range no published build meets names the builds it saw.
    let needy = fs::read_to_string(&app).unwrap().replace("pkg: libgreet/1.0", "pkg: libgreet/2.0");
    fs::write(&app, needy).unwrap();
    let err = fresh.fails(&["plan", &app, "--spk-repo", &repo]);
    assert!(err.contains(&format!("hold only libgreet/1.0.3/3I42H3S6 ({repo})")), "{err}");
}

/// `examples/spk-libhello` and `examples/spk-hello`: a C library with two
/// variants and four components, stored in the store by `make-binary`; a
/// program that finds it there (no recipe beside it), links its `build`
/// component and ships only the `run` components; `-o debug=on` picks the
/// library's other build. Twice, from two stores: the same image.
#[test]
fn spk_examples_a_c_library_and_a_program_that_depends_on_it() {
    if !slow_tests("build examples/spk-libhello and examples/spk-hello") {
        return;
    }
    if !require("root and runc", "test \"$(id -u)\" = 0 && runc --version")
        || !require("mmdebstrap", "mmdebstrap --version")
        || !require_docker()
    {
        return;
    }
    let toolchain = ["--build-base", "debian:bookworm-build", "--spk-provide", "gcc=gcc,make"];
    let build_both = |s: &Strata, extra: &[&str]| -> String {
        s.base_image("debian-bookworm");
        s.base_image("debian-bookworm-build");
        let mut lib = vec!["spk", "make-binary", "examples/spk-libhello"];
        lib.extend(toolchain);
        let out = s.ok(&lib);
        let mut app = vec!["build", "examples/spk-hello"];
        app.extend(toolchain);
        app.extend(extra);
        format!("{out}{}", s.ok(&app))
    };
    let s = Strata::new();
    let tag = format!("strata-it-spk-hello:{}", std::process::id());
    let out = build_both(&s, &["-t", &tag, "--output", "type=docker"]);
    let ls = s.ok(&["spk", "ls", "libhello"]);
    let builds: Vec<&str> = ls.lines().filter(|l| l.contains("  build, docs, run  (the store)")).collect();
    assert_eq!(builds.len(), 2, "two variants, two builds, each with its components:\n{ls}");
    assert!(out.contains("stored package spk/libhello:1.0.0-src"), "and the source package:\n{out}");

    let run = |tag: &str, cmd: &str| {
        std::process::Command::new("docker").args(["run", "--rm", tag, "sh", "-c", cmd]).output().expect("docker run")
    };
    let hello = run(&tag, "hello");
    assert!(hello.status.success(), "{}", text(&hello));
    assert_eq!(
        String::from_utf8_lossy(&hello.stdout),
        "hello from spk-hello 1.0.0, built with libhello 1.0.0 (optimised)\n"
    );
    let files = run(&tag, "ls /spfs/lib; ls /spfs/include /spfs/share 2>&1");
    let files = String::from_utf8_lossy(&files.stdout);
    assert!(files.starts_with("libhello.so.1\n"), "only the run component of libhello:\n{files}");
    assert!(
        files.contains("'/spfs/include': No such file") && files.contains("'/spfs/share': No such file"),
        "{files}"
    );

    let debug_tag = format!("{tag}-debug");
    s.ok(&["build", "examples/spk-hello", "-o", "debug=on", "-t", &debug_tag, "--output", "type=docker"]
        .into_iter()
        .chain(toolchain)
        .collect::<Vec<_>>());
    let debug = run(&debug_tag, "hello");
    let _ = std::process::Command::new("docker").args(["rmi", "-f", &tag, &debug_tag]).output();
    assert_eq!(
        String::from_utf8_lossy(&debug.stdout),
        "hello from spk-hello 1.0.0, built with libhello 1.0.0 (debug)\n"
    );

    let again = build_both(&Strata::new(), &[]);
    assert_eq!(crate::support::last_digest(&out), crate::support::last_digest(&again), "two stores, one image");
}
