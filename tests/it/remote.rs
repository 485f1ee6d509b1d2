//! Remote execution against a real farm: BuildGrid 0.4.4 (its CAS, action
//! cache, execution and Bots services, on PostgreSQL) on loopback, served
//! by two or three `strata worker` processes. Checks that a remote build
//! gives the local image digest, that steps spread over the workers, that
//! a fresh store building a project the farm has seen runs no step, and
//! that a worker killed mid-step has its lease run by another.
//!
//! The farm and the workers are `benches/common/buildgrid.rs` (shared with
//! the W6R bench): each test makes its own database. BuildGrid takes ~20 s
//! to start, so these are slow tests.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::buildgrid::{Bot, Farm, PG_SOCKET, bgd};
use crate::support::{Strata, last_digest, require, slow_tests, text};

fn ready() -> bool {
    slow_tests("run steps on a BuildGrid farm")
        && require("root and runc", "test \"$(id -u)\" = 0 && runc --version")
        && require("BuildGrid (.ci/setup installs it)", &format!("{} --help", bgd().display()))
        && require(
            "PostgreSQL on its local socket (.ci/setup starts it)",
            &format!("psql -h {PG_SOCKET} -d postgres -c 'select 1'"),
        )
}

fn project(dir: &Path, spec: &str) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join("parts.yaml"), spec).unwrap();
    dir.to_path_buf()
}

fn build(s: &Strata, proj: &Path, remote: Option<&str>) -> String {
    let mut args = vec!["build", proj.to_str().unwrap(), "--base", "bare", "--build-base", "busybox:latest"];
    args.extend(["--progress", "plain"]);
    if let Some(url) = remote {
        args.extend(["--remote", url]);
    }
    s.ok(&args)
}

/// Four independent parts, each a second long, so that three one-lease
/// workers share them.
const FOUR_PARTS: &str = "parts:
  p1:
    plugin: nil
    override-build: |
      sleep 1; echo one > $CRAFT_PART_INSTALL/one
  p2:
    plugin: nil
    override-build: |
      sleep 1; echo two > $CRAFT_PART_INSTALL/two
  p3:
    plugin: nil
    override-build: |
      sleep 1; mkdir -p $CRAFT_PART_INSTALL/usr/bin; echo three > $CRAFT_PART_INSTALL/usr/bin/three; chmod 755 $CRAFT_PART_INSTALL/usr/bin/three
  p4:
    plugin: nil
    after: [p1]
    override-build: |
      sleep 1; ln -s one $CRAFT_PART_INSTALL/four
";

#[test]
fn a_remote_build_gives_the_local_image_and_a_fresh_store_runs_no_step() {
    if !ready() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let proj = project(&tmp.path().join("proj"), FOUR_PARTS);
    let local = Strata::new();
    local.busybox();
    let local_digest = last_digest(&build(&local, &proj, None));

    let farm = Farm::start(tmp.path());
    let bots: Vec<Bot> = (1..=3).map(|n| Bot::start(tmp.path(), &format!("w{n}"), &farm.url)).collect();
    let client = Strata::new();
    client.busybox();
    let out = build(&client, &proj, Some(&farm.url));
    assert_eq!(last_digest(&out), local_digest, "a remote build gives the local image:\n{out}");
    assert!(out.contains("4 step(s) run there, 0 from its cache"), "{out}");
    let ran: Vec<Vec<String>> = bots.iter().map(Bot::ran).collect();
    let total: usize = ran.iter().map(Vec::len).sum();
    assert_eq!(total, 4, "each build step ran once on the farm: {ran:?}");
    assert!(ran.iter().filter(|r| !r.is_empty()).count() >= 2, "the steps spread over the workers: {ran:?}");
    // Only what the image needs came down; intermediate layers stay in the farm.
    let store_blobs = fs::read_dir(client.store().join("blobs/sha256")).unwrap().count();
    assert!(store_blobs > 0);

    // A fresh machine: an empty store (but the base) builds the same image
    // from the farm's action cache, and no worker runs anything.
    let fresh = Strata::new();
    fresh.busybox();
    let started = Instant::now();
    let again = build(&fresh, &proj, Some(&farm.url));
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(last_digest(&again), local_digest, "{again}");
    assert!(again.contains("0 step(s) run there, 4 from its cache"), "{again}");
    for p in ["p1", "p2", "p3", "p4"] {
        assert!(again.contains(&format!("[{p}:build] cached")), "the farm's hit shows as cached: {again}");
    }
    let after: usize = bots.iter().map(|b| b.ran().len()).sum();
    assert_eq!(after, 4, "no step ran again");
    eprintln!("fresh store, warm farm: {seconds:.1}s");
}

#[test]
fn a_worker_killed_mid_step_has_its_lease_run_by_another() {
    if !ready() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let proj = project(
        &tmp.path().join("proj"),
        "parts:\n  slow:\n    plugin: nil\n    override-build: |\n      sleep 8; echo done > $CRAFT_PART_INSTALL/slow\n",
    );
    let farm = Farm::start(tmp.path());
    let mut bots: Vec<Bot> = (1..=2).map(|n| Bot::start(tmp.path(), &format!("w{n}"), &farm.url)).collect();
    let client = Strata::new();
    client.busybox();
    let mut cmd = client.cmd();
    cmd.args(["build", proj.to_str().unwrap(), "--base", "bare", "--build-base", "busybox:latest"])
        .args(["--progress", "plain", "--remote", &farm.url])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let running = cmd.spawn().unwrap();
    let started = Instant::now();
    let victim = loop {
        if let Some(i) = bots.iter().position(|b| b.log().contains("running slow:build")) {
            break i;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no worker took the step");
        std::thread::sleep(Duration::from_millis(100));
    };
    std::thread::sleep(Duration::from_secs(2));
    bots[victim].kill();
    let out = running.wait_with_output().unwrap();
    assert!(out.status.success(), "the build survives its worker:\n{}", text(&out));
    let other = &bots[1 - victim];
    assert_eq!(other.ran(), vec!["slow:build".to_string()], "the other worker ran it:\n{}", other.log());
    assert!(bots[victim].ran().is_empty(), "{}", bots[victim].log());
    let local = Strata::new();
    local.busybox();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(last_digest(&stdout), last_digest(&build(&local, &proj, None)), "{stdout}");
}
