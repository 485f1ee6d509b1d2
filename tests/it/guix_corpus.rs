//! The Guix corpus (`conformance/guix/corpus`): fourteen real package
//! definitions, unchanged, each built from its real upstream source — the
//! Debian `.orig` file that `DEBIAN-ORIG.tsv` names, byte-identical to it
//! and checked against the definition's own hash (flat sha256, or the NAR
//! hash of a git checkout) — and each image checked by running the program
//! the package installs, or by reading a file it installs. The corpus holds
//! two graph edges (zip → bzip2, libmatroska → libebml), the gnu, cmake,
//! meson and copy build systems, and packages whose programs need Debian
//! libraries at run time (libsmf's smfsh needs GLib and readline).
//!
//! One store for all of them, as a user building the corpus would have; a
//! second, fresh store rebuilds one package at `--jobs 1` and must give the
//! same image digest.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::support::{Strata, require, require_docker, sh, slow_tests};

const CORPUS: &str = "/work/shared/conformance/guix/corpus";

/// What each image must do: a shell script run in it, and what its output
/// must hold.
const CHECKS: &[(&str, &str, &[&str])] = &[
    ("acct", "ac --version", &["GNU Accounting Utilities (release 6.6.4)"]),
    ("bzip2", "echo round trip | bzip2 | bzip2 -d; ls /gnu/store/*-bzip2-1.0.8-static/lib", &["round trip\nlibbz2.a"]),
    ("dtach", "dtach --help | head -n1", &["dtach - version 0.9"]),
    ("libdatrie", "trietool --version", &["0.2.13"]),
    ("libdrm", "ls /gnu/store/*-libdrm-2.4.124/lib", &["libdrm.so.2\n"]),
    ("libebml", "ls /gnu/store/*-libebml-1.4.5/lib", &["libebml.so.5\n"]),
    // The edge: libmatroska's library finds libebml's through its RUNPATH.
    ("libmatroska", "ldd /gnu/store/*-libmatroska-1.7.1/lib/libmatroska.so.7", &["-libebml-1.4.5/lib/libebml.so.5 ("]),
    (
        "libevent",
        "ls /gnu/store/*-libevent-2.1.12/lib; ls /gnu/store/*-libevent-2.1.12-bin/bin",
        &["libevent-2.1.so.7\n"],
    ),
    ("libsmf", "echo version | smfsh", &["libsmf version 1.3."]),
    ("lsix", "head -n1 \"$(command -v lsix)\"", &["#!/usr/bin/bash"]),
    ("lv2", "ls /gnu/store/*-lv2-1.18.10/lib/lv2/core.lv2", &["manifest.ttl"]),
    ("m4", "printf 'define(x, hello)x\\n' | m4", &["hello"]),
    ("qhull", "rbox c | qconvex s 2>&1", &["Convex hull of 8 points in 3-d"]),
    // A bzip2-compressed zip entry (method 12), read back with the bzip2
    // of zip's input (in the image as a layer, not on PATH): the entry's
    // data starts after the local header (30 bytes, the name, the extra).
    (
        "zip",
        "cd /tmp && yes round trip | head -n 1000 > f && zip -q -Z bzip2 a.zip f && \
         echo method $(od -An -tu2 -j8 -N2 a.zip) && \
         n=$(od -An -tu2 -j26 -N2 a.zip) && e=$(od -An -tu2 -j28 -N2 a.zip) && \
         dd if=a.zip bs=1 skip=$((30 + n + e)) 2>/dev/null | /gnu/store/*-bzip2-1.0.8/bin/bzip2 -dc 2>/dev/null | uniq -c; \
         ldd \"$(command -v zip)\"",
        &["method 12\n", "1000 round trip\n", "-bzip2-1.0.8/lib/../lib/libbz2.so.1.0 ("],
    ),
];

/// The corpus's Debian files, fetched once (`target/tmp/guix-sources`).
fn sources() -> PathBuf {
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("guix-sources");
    fs::create_dir_all(&cache).unwrap();
    let table = fs::read_to_string(Path::new(CORPUS).join("DEBIAN-ORIG.tsv")).unwrap();
    for row in table.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let cols: Vec<&str> = row.split('\t').collect();
        let (file, pool, kind, hex) = (cols[4], cols[5], cols[6], cols[7]);
        if kind == "sha256" {
            crate::guix::debian_orig(pool, hex);
        } else if !cache.join(file).is_file() {
            // A NAR hash is of the unpacked tree: strata checks it.
            crate::guix::debian_pool_fetch(pool, &cache.join(file));
        }
    }
    cache
}

#[test]
fn guix_corpus_builds_from_its_real_sources_and_each_image_works() {
    if !slow_tests("build the fourteen Guix corpus packages")
        || !require("root and runc", "test \"$(id -u)\" = 0 && runc --version")
        || !require("mmdebstrap", "mmdebstrap --version")
        || !require_docker()
        || !Path::new(CORPUS).is_dir()
    {
        return;
    }
    let cache = sources();
    let cache_opt = format!("source-cache={}", cache.display());
    let s = Strata::new();
    s.base_image("debian-bookworm");
    let tag = |name: &str| format!("strata-guix-corpus-{name}:{}", std::process::id());
    let mut failures = Vec::new();
    let mut digests = BTreeMap::new();
    // STRATA_GUIX_CORPUS=zip,m4 builds only those (while working on them).
    let only = std::env::var("STRATA_GUIX_CORPUS").unwrap_or_default();
    let only: Vec<&str> = only.split(',').filter(|n| !n.is_empty()).collect();
    let checks: Vec<_> = CHECKS.iter().filter(|(n, ..)| only.is_empty() || only.contains(n)).collect();
    for (name, script, expect) in &checks {
        let scm = format!("{CORPUS}/{name}.scm");
        let args = ["build", &scm, "-X", &cache_opt, "--sbom=false", "--progress", "plain"];
        let out = s.cmd().args(args).args(["-t", &tag(name), "--output", "type=docker"]).output().unwrap();
        let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        if !out.status.success() {
            let tail: Vec<&str> = log.lines().rev().take(25).collect();
            failures
                .push(format!("{name}: the build failed:\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n")));
            continue;
        }
        digests.insert(*name, s.digest_of(&tag(name)));
        let ran =
            sh(&format!("docker run --rm '{}' sh -c '{}' 2>&1 || true", tag(name), script.replace('\'', "'\\''")));
        if let Some(missing) = expect.iter().find(|e| !ran.contains(*e)) {
            failures.push(format!("{name}: `{script}` printed\n{ran}\nwithout {missing:?}"));
        }
        sh(&format!("docker rmi '{}' >/dev/null 2>&1 || true", tag(name)));
    }
    assert!(
        failures.is_empty(),
        "{} of {} corpus packages failed:\n\n{}",
        failures.len(),
        checks.len(),
        failures.join("\n\n")
    );
    if !digests.contains_key("dtach") {
        return;
    }

    // A fresh store, one job at a time, gives dtach the same digest.
    let again = Strata::new();
    again.base_image("debian-bookworm");
    let scm = format!("{CORPUS}/dtach.scm");
    again.ok(&["build", &scm, "-X", &cache_opt, "--sbom=false", "--jobs", "1", "-t", "dtach:again"]);
    assert_eq!(again.digest_of("dtach:again"), digests["dtach"], "dtach rebuilt in a fresh store");
}
