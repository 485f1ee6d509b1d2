//! The projects in `examples/`, end to end: each is built twice with runc,
//! into two stores, and must give the same image digest both times; the
//! first build is loaded into Docker, and `docker run` must print the
//! example's line. [`EXAMPLES`] is the one list of them.
//!
//! Slow (apt build-packages, compilers, PyPI): they run under CI or with
//! `STRATA_SLOW_TESTS=1`, as root with runc, mmdebstrap and Docker.

use std::fs;
use std::path::Path;

use crate::support::{Strata, last_digest, repo, require, require_docker, sh, slow_tests};

/// One directory of `examples/`.
struct Example {
    dir: &'static str,
    /// The recipes (`images/<recipe>`) of its `base` and `build-base`.
    recipes: &'static [&'static str],
    /// Whether its build downloads over https (PyPI): such builds need the
    /// host's local CAs, see [`build_base_with_local_cas`].
    fetches: bool,
    /// What `docker run` of its image prints.
    prints: &'static str,
}

const EXAMPLES: &[Example] = &[
    Example { dir: "hello-make", recipes: &["debian-bookworm"], fetches: false, prints: "hello from strata\n" },
    Example {
        dir: "hello-cmake",
        recipes: &["debian-bookworm"],
        fetches: false,
        prints: "hello from hello-cmake 1.0, built with cmake\n",
    },
    Example {
        dir: "hello-autotools",
        recipes: &["debian-bookworm"],
        fetches: false,
        prints: "hello from hello-autotools 1.0, built with autotools\n",
    },
    Example {
        dir: "hello-python",
        recipes: &["debian-bookworm", "debian-bookworm-python"],
        fetches: true,
        prints: "hello from hello-python, built with the python plugin in MMXXV\n",
    },
    Example {
        dir: "hello-go",
        recipes: &["debian-bookworm"],
        fetches: false,
        prints: "hello from hello-go, built with the go plugin\n",
    },
    Example {
        dir: "hello-rust",
        recipes: &["debian-bookworm"],
        fetches: false,
        prints: "hello from hello-rust 1.0.0, built with the rust plugin\n",
    },
    Example {
        dir: "hello-meson",
        recipes: &["debian-bookworm"],
        fetches: false,
        prints: "hello from hello-meson 1.0, built with meson\n",
    },
    Example {
        dir: "hello-npm",
        recipes: &["debian-bookworm"],
        fetches: false,
        prints: "hello from hello-npm 1.0.0, installed with npm on node 18\n",
    },
    Example {
        dir: "multi-part",
        recipes: &["debian-bookworm"],
        fetches: false,
        prints: "hello from multi-part (libgreet 1.0)\n",
    },
];

#[test]
fn every_example_is_in_the_list() {
    let mut on_disk: Vec<String> = fs::read_dir(repo().join("examples"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut listed: Vec<&str> = EXAMPLES.iter().map(|e| e.dir).collect();
    listed.sort();
    assert_eq!(on_disk, listed, "examples/ and EXAMPLES differ");
    let readme = fs::read_to_string(repo().join("examples/README.md")).unwrap();
    for e in EXAMPLES {
        assert!(readme.contains(&format!("`{}/`", e.dir)), "examples/README.md does not describe {}", e.dir);
    }
}

#[test]
fn hello_make() {
    builds_reproducibly_and_runs("hello-make");
}

#[test]
fn hello_cmake() {
    builds_reproducibly_and_runs("hello-cmake");
}

#[test]
fn hello_autotools() {
    builds_reproducibly_and_runs("hello-autotools");
}

#[test]
fn hello_python() {
    builds_reproducibly_and_runs("hello-python");
}

#[test]
fn hello_go() {
    builds_reproducibly_and_runs("hello-go");
}

#[test]
fn hello_rust() {
    builds_reproducibly_and_runs("hello-rust");
}

#[test]
fn hello_meson() {
    builds_reproducibly_and_runs("hello-meson");
}

#[test]
fn hello_npm() {
    builds_reproducibly_and_runs("hello-npm");
}

#[test]
fn multi_part() {
    builds_reproducibly_and_runs("multi-part");
}

/// Builds `examples/<dir>` into two fresh stores, checks that both give one
/// image digest, then runs the first in Docker.
fn builds_reproducibly_and_runs(dir: &str) {
    let example = EXAMPLES.iter().find(|e| e.dir == dir).expect("listed in EXAMPLES");
    if !slow_tests(&format!("build examples/{dir}")) {
        return;
    }
    if !require("root and runc", "test \"$(id -u)\" = 0 && runc --version")
        || !require("mmdebstrap", "mmdebstrap --version")
        || !require_docker()
    {
        return;
    }
    let tag = format!("strata-it-{dir}:{}", std::process::id());
    let (first, second) = (Strata::new(), Strata::new());
    let started = std::time::Instant::now();
    let out = build(&first, example, &["-t", &tag, "--output", "type=docker"]);
    eprintln!("examples/{dir}: built in {:.0}s", started.elapsed().as_secs_f64());
    for step in ["build] run", "stage] run", "prime] run", "[pack] done"] {
        assert!(out.contains(step), "no '{step}' in:\n{out}");
    }
    let inspect: serde_json::Value = serde_json::from_str(&first.ok(&["image", "inspect", &tag])).unwrap();
    assert_eq!(inspect["annotations"]["org.opencontainers.image.title"], dir, "the project's name titles the image");
    let again = build(&second, example, &[]);
    assert_eq!(last_digest(&out), last_digest(&again), "examples/{dir} built twice gave two images");

    let run = std::process::Command::new("docker").args(["run", "--rm", &tag]).output().expect("docker run");
    let _ = std::process::Command::new("docker").args(["rmi", "-f", &tag]).output();
    assert!(run.status.success(), "docker run {tag}:\n{}", crate::support::text(&run));
    assert_eq!(String::from_utf8_lossy(&run.stdout), example.prints);
}

/// `strata build examples/<dir>` in `s`, after its base images; returns stdout.
fn build(s: &Strata, example: &Example, args: &[&str]) -> String {
    for recipe in example.recipes {
        s.base_image(recipe);
    }
    let mut all = vec!["build".to_string(), format!("examples/{}", example.dir)];
    if example.fetches
        && let Some(base) = build_base_with_local_cas(s)
    {
        all.extend(["--build-base".into(), base]);
    }
    all.extend(args.iter().map(|a| a.to_string()));
    s.ok(&all.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Where Debian keeps locally added CA certificates (`update-ca-certificates`
/// adds every `*.crt` below it to `/etc/ssl/certs`).
const LOCAL_CAS: &str = "/usr/local/share/ca-certificates";

/// On a host that trusts CAs of its own (a TLS-inspecting proxy between it
/// and PyPI), a build base that trusts them too: `debian:bookworm` plus
/// those certificates in the same place, made by a one-part strata project.
/// The example's `ca-certificates` build package then adds them to the
/// bundle pip reads, as it would on the host. None on a host without local
/// CAs: the example builds as written.
fn build_base_with_local_cas(s: &Strata) -> Option<String> {
    let certs: Vec<String> =
        sh(&format!("find {LOCAL_CAS} -name '*.crt' 2>/dev/null || true")).lines().map(str::to_owned).collect();
    if certs.is_empty() {
        return None;
    }
    let project = s.path("local-cas");
    let into = project.join("certs").join(LOCAL_CAS.trim_start_matches('/'));
    fs::create_dir_all(&into).unwrap();
    for cert in &certs {
        let rel = Path::new(cert).strip_prefix(LOCAL_CAS).unwrap();
        fs::create_dir_all(into.join(rel).parent().unwrap()).unwrap();
        fs::copy(cert, into.join(rel)).unwrap();
    }
    fs::write(
        project.join("parts.yaml"),
        "base: debian:bookworm\nbuild-base: debian:bookworm\nparts:\n  local-cas:\n    plugin: dump\n    source: certs\n",
    )
    .unwrap();
    let name = "debian:bookworm-local-cas";
    s.ok(&["build", project.to_str().unwrap(), "-t", name]);
    Some(name.to_owned())
}
