//! The store through the CLI: list, inspect, remove, fsck, gc.

use std::process::Command;

use crate::support::*;

#[test]
fn fsck_reports_a_blob_corrupted_on_disk_and_fails() {
    if !require("busybox-static", "test -x /bin/busybox") {
        return;
    }
    let s = Strata::new();
    s.busybox();
    assert!(s.ok(&["store", "fsck"]).contains(": ok"));

    let v: serde_json::Value = serde_json::from_str(&s.ok(&["image", "inspect", "busybox"])).unwrap();
    let layer = v["layers"][0]["digest"].as_str().unwrap().trim_start_matches("sha256:").to_owned();
    let path = s.store().join("blobs/sha256").join(&layer);
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    sh(&format!("chmod u+w {}", path.display()));
    std::fs::write(&path, bytes).unwrap();

    let out = s.cmd().args(["store", "fsck"]).output().unwrap();
    assert!(!out.status.success(), "fsck exits non-zero on a corrupt store");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("corrupt blob sha256:{layer}")), "{stdout}");
}

#[test]
fn rm_then_gc_frees_the_blobs_and_keeps_the_store_clean() {
    if !require("busybox-static", "test -x /bin/busybox") {
        return;
    }
    let s = Strata::new();
    s.busybox();
    let ls = s.ok(&["image", "ls"]);
    assert!(ls.contains("busybox:latest"), "{ls}");
    s.ok(&["image", "rm", "busybox"]);
    let gc = s.ok(&["store", "gc"]);
    assert!(gc.starts_with("removed 0 cache record(s), 3 blob(s)"), "config, manifest and the layer go: {gc}");
    assert_eq!(std::fs::read_dir(s.store().join("blobs/sha256")).unwrap().count(), 0);
    assert!(s.ok(&["store", "fsck"]).contains(": ok"));
    let err = s.fails(&["image", "inspect", "busybox"]);
    assert!(err.contains("no image named 'busybox:latest'"), "{err}");
}

/// `strata store gc --all` after a build killed mid-step under each daemon
/// executor: the step's container (still running its command), its step
/// image, and in containerd its task, lease, active snapshot and the chain
/// snapshots the executor cached, all go; the store is left clean and its
/// temp dir empty. The containerd build and gc share a namespace of their
/// own (`CONTAINERD_NAMESPACE`, as `ctr` reads it), so nothing of other
/// tests is touched there; in Docker only what this test's build made is
/// looked at.
#[test]
fn gc_all_removes_what_killed_docker_and_containerd_builds_left() {
    if !require("busybox-static", "test -x /bin/busybox")
        || !crate::support::require_docker()
        || !require(
            "root and a running containerd",
            "test \"$(id -u)\" = 0 && ctr --address /run/containerd/containerd.sock version",
        )
    {
        return;
    }
    let s = Strata::new();
    s.busybox();
    let nonce = format!("{}-{}", std::process::id(), std::time::UNIX_EPOCH.elapsed().unwrap().as_nanos());
    let ns = format!("strata-it-gc-{}", std::process::id());
    // A source unique to this run, so the build step's input image is too.
    let dir = s.path("proj");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("src/nonce"), &nonce).unwrap();
    std::fs::write(
        dir.join("parts.yaml"),
        "parts:\n  slow:\n    plugin: nil\n    source: src\n    override-build: |\n      sleep 600\n",
    )
    .unwrap();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_owned();

    // Starts a build with `executor` and kills it (SIGKILL) once `running`
    // says its step is up; returns the killed process's pid.
    let killed_build = |executor: &str, running: &dyn Fn(u32) -> bool| -> u32 {
        let mut child = s
            .cmd()
            .args(["build", dir.to_str().unwrap(), "--base", "bare", "--build-base", "busybox:latest"])
            .args(["--executor", executor])
            .env("CONTAINERD_NAMESPACE", &ns)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id();
        let start = std::time::Instant::now();
        while !running(pid) {
            assert!(child.try_wait().unwrap().is_none(), "the {executor} build ended before its step ran");
            assert!(start.elapsed().as_secs() < 300, "the {executor} build's step did not start within 5 minutes");
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        pid
    };
    let docker_containers = |pid: u32, all: &str| {
        sh(&format!("docker ps -q {all} --filter label=org.strata.owner={host}/{pid}")).trim().to_owned()
    };
    let ctr = |what: &str| sh(&format!("ctr -n {ns} {what}"));

    let docker_pid = killed_build("docker", &|pid| !docker_containers(pid, "").is_empty());
    let container = docker_containers(docker_pid, "-a");
    let image = sh(&format!("docker inspect -f '{{{{.Image}}}}' {container}")).trim().to_owned();
    assert!(sh(&format!("docker inspect -f '{{{{.State.Running}}}}' {container}")).contains("true"));
    assert!(image.starts_with("sha256:"), "{image}");

    killed_build("containerd", &|_| ctr("tasks ls").contains("RUNNING"));
    assert!(ctr("leases ls -q").contains("strata-slow-build-"), "{}", ctr("leases ls -q"));
    assert!(ctr("containers ls -q").contains("strata-slow-build-"));
    assert!(ctr("snapshots ls").lines().count() > 2, "chain snapshots and the step's own");
    let tmp = s.store().join("strata/tmp");
    assert!(std::fs::read_dir(&tmp).unwrap().count() > 0, "the killed builds left temp dirs");

    let out = s.cmd().args(["store", "gc", "--all"]).env("CONTAINERD_NAMESPACE", &ns).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout.contains(&format!(
            "containerd (namespace {ns}): removed 1 step container(s), 1 lease(s), 1 active snapshot(s)"
        )),
        "{stdout}"
    );
    assert!(stdout.lines().any(|l| l.starts_with("docker (") && l.contains(": removed ")), "{stdout}");

    assert_eq!(docker_containers(docker_pid, "-a"), "", "the killed step's container is gone");
    let inspect = Command::new("docker").args(["image", "inspect", &image]).output().unwrap();
    assert!(!inspect.status.success(), "the step image {image} is gone");
    for what in ["tasks ls -q", "containers ls -q", "leases ls -q"] {
        assert_eq!(ctr(what).trim(), "", "ctr -n {ns} {what}");
    }
    assert_eq!(ctr("snapshots ls").lines().count(), 1, "only the header: {}", ctr("snapshots ls"));
    // containerd collects the leases' content in the background; the
    // namespace can go once it has.
    for _ in 0..50 {
        if Command::new("ctr").args(["namespaces", "rm", &ns]).output().is_ok_and(|o| o.status.success()) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0, "temp dirs of the killed builds are gone");
    assert!(s.ok(&["store", "fsck"]).contains(": ok"));
    assert!(s.ok(&["image", "ls"]).contains("busybox:latest"), "named images stay");
}
