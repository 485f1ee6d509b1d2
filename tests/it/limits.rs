//! Build steps cannot hurt the host: limits on memory, processes and time
//! (`--memory`, `--pids-limit`, `--step-timeout`) end a step that passes
//! them with a clear error, and a step sees neither the host's processes
//! nor its files. runc executor, busybox build base (seconds per test).

use std::fs;
use std::path::PathBuf;
use std::time::Instant;

use crate::support::{Strata, require};

fn require_runc() -> bool {
    require("root and runc", "test \"$(id -u)\" = 0 && runc --version")
}

/// A one-part project whose build runs `script`, in a fresh store with busybox.
fn project(script: &str) -> (Strata, PathBuf) {
    let s = Strata::new();
    s.busybox();
    let dir = s.path("proj");
    fs::create_dir_all(&dir).unwrap();
    let script: String = script.lines().map(|l| format!("      {l}\n")).collect();
    fs::write(dir.join("parts.yaml"), format!("parts:\n  p:\n    plugin: nil\n    override-build: |\n{script}"))
        .unwrap();
    (s, dir)
}

fn build(s: &Strata, dir: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["build", dir.to_str().unwrap(), "--base", "bare", "--build-base", "busybox:latest"];
    args.extend(extra);
    s.cmd().args(&args).output().expect("run strata")
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_step_past_its_timeout_is_killed_and_named() {
    if !require_runc() {
        return;
    }
    let (s, dir) = project("echo started\nsleep 120");
    let t = Instant::now();
    let out = build(&s, &dir, &["--step-timeout", "3s"]);
    assert!(!out.status.success());
    assert!(t.elapsed().as_secs() < 60, "killed at the timeout, not after the sleep");
    let err = stderr(&out);
    assert!(err.contains("step p:build timed out after 3s"), "{err}");
    assert!(!s.store().join("strata/tmp").read_dir().is_ok_and(|mut d| d.next().is_some()), "nothing left behind");
}

#[test]
fn a_fork_bomb_hits_the_pids_limit_instead_of_the_host() {
    if !require_runc() {
        return;
    }
    // 64 sleepers where 16 processes are allowed: forks fail with EAGAIN.
    let (s, dir) = project("i=0\nwhile [ $i -lt 64 ]; do sleep 30 & i=$((i+1)); done\nwait");
    let out = build(&s, &dir, &["--pids-limit", "16", "--step-timeout", "60s"]);
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("step p:build failed"), "{err}");
    let log = fs::read_to_string(s.store().join("strata/logs/p:build.log")).unwrap();
    assert!(log.contains("can't fork") || log.contains("Resource temporarily unavailable"), "{log}");
}

#[test]
fn a_step_over_its_memory_limit_is_killed() {
    if !require_runc() {
        return;
    }
    // sort holds its input in memory: one 256 MB line.
    let (s, dir) = project("head -c 268435456 /dev/zero | tr '\\0' a | sort >/dev/null\necho survived");
    let out = build(&s, &dir, &["--memory", "64MiB", "--step-timeout", "120s"]);
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("step p:build failed with exit code"), "{err}");
    assert!(!err.contains("survived"), "{err}");
    // The same step without the limit runs.
    let out = build(&s, &dir, &["--step-timeout", "120s"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_step_sees_its_own_processes_only_and_writes_only_into_its_root() {
    if !require_runc() {
        return;
    }
    let canary = format!("/tmp/strata-escape-canary-{}", std::process::id());
    let (s, dir) = project(&format!(
        "ls /proc | grep -c '^[0-9][0-9]*$' > $CRAFT_PART_INSTALL/procs\necho pwned > {canary}\necho pwned > /etc/host-write"
    ));
    let out = build(
        &s,
        &dir,
        &["--step-timeout", "60s", "--output", &format!("type=oci-dir,dest={}", s.path("oci").display())],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!std::path::Path::new(&canary).exists(), "the step's /tmp is not the host's");
    assert!(!std::path::Path::new("/etc/host-write").exists(), "the step's /etc is not the host's");
    // What the step counted is in the image: its own few processes.
    let oci = s.path("oci");
    let blob = |d: &str| oci.join("blobs/sha256").join(d.trim_start_matches("sha256:"));
    let manifest = crate::support::oci_dir_image_manifest(&oci);
    let layer = manifest["layers"].as_array().unwrap().last().unwrap()["digest"].as_str().unwrap().to_owned();
    let listing = crate::support::sh(&format!("tar -xzOf {} procs", blob(&layer).display()));
    let n: usize = listing.trim().parse().unwrap_or_else(|_| panic!("a count: {listing}"));
    let host = fs::read_dir("/proc")
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().parse::<u32>().is_ok())
        .count();
    assert!(n < 10 && n < host, "the step saw {n} processes, the host has {host}");
}

#[test]
fn seccomp_refuses_a_new_namespace_unless_the_build_says_unconfined() {
    if !require_runc() {
        return;
    }
    // A user namespace needs no capability: only the filter stops it.
    let (s, dir) = project("unshare -U true && echo made-a-namespace");
    let out = build(&s, &dir, &["--step-timeout", "60s"]);
    assert!(!out.status.success(), "unshare ran under the filter");
    let log = fs::read_to_string(s.store().join("strata/logs/p:build.log")).unwrap();
    assert!(log.contains("Operation not permitted") && !log.contains("made-a-namespace"), "{log}");

    let out = build(&s, &dir, &["--step-timeout", "60s", "--security-opt", "seccomp=unconfined"]);
    assert!(out.status.success(), "unconfined, the same step runs: {}", stderr(&out));

    let out = build(&s, &dir, &["--security-opt", "seccomp=/tmp/profile.json"]);
    assert!(stderr(&out).contains("a profile file is not supported"), "{}", stderr(&out));
}
