//! Real clients accept what strata exports: skopeo, umoci, docker, podman.

use crate::support::*;

/// Builds busybox under a test-unique name and returns (strata, name, digest).
fn busybox_as(name: &str) -> (Strata, String) {
    let s = Strata::new();
    let out = s.ok(&["image", "build", "images/busybox", "--tag", name]);
    let digest = last_digest(&out);
    (s, digest)
}

#[test]
fn skopeo_inspects_and_copies_every_export_format_with_digests_kept() {
    if !require("skopeo", "skopeo --version") {
        return;
    }
    let (s, digest) = busybox_as("strata-test/skopeo:1");
    let oci_tar = s.path("img.oci.tar");
    let oci_dir = s.path("img-oci");
    let docker_tar = s.path("img.docker.tar");
    s.ok(&["image", "export", "strata-test/skopeo:1", &format!("oci-archive:{}", oci_tar.display())]);
    s.ok(&["image", "export", "strata-test/skopeo:1", &format!("type=oci-dir,dest={}", oci_dir.display())]);
    s.ok(&["image", "export", "strata-test/skopeo:1", &format!("type=docker,dest={}", docker_tar.display())]);

    for src in [
        format!("oci-archive:{}", oci_tar.display()),
        format!("oci:{}", oci_dir.display()),
        format!("oci:{}:strata-test/skopeo:1", s.store().display()),
    ] {
        let v: serde_json::Value = serde_json::from_str(&sh(&format!("skopeo inspect {src}"))).unwrap();
        assert_eq!(v["Digest"], digest, "skopeo sees the same manifest digest through {src}");
        let copy = s.path("copy");
        sh(&format!("rm -rf {0} && skopeo copy --quiet {src} oci:{0}:copied", copy.display()));
        let v: serde_json::Value =
            serde_json::from_str(&sh(&format!("skopeo inspect oci:{}:copied", copy.display()))).unwrap();
        assert_eq!(v["Digest"], digest, "skopeo copy from {src} keeps the manifest digest");
    }

    // docker-archive carries the config digest (the image ID) and the layers.
    let cfg: serde_json::Value =
        serde_json::from_str(&sh(&format!("skopeo inspect --config docker-archive:{}", docker_tar.display()))).unwrap();
    let ours: serde_json::Value = serde_json::from_str(&s.ok(&["image", "inspect", "strata-test/skopeo:1"])).unwrap();
    assert_eq!(
        cfg["rootfs"]["diff_ids"],
        serde_json::json!(ours["layers"].as_array().unwrap().iter().map(|l| l["diffId"].clone()).collect::<Vec<_>>())
    );
    sh(&format!(
        "skopeo copy --quiet docker-archive:{} oci:{}:from-docker",
        docker_tar.display(),
        s.path("copy2").display()
    ));
}

#[test]
fn umoci_unpacks_the_oci_layout() {
    if !require("umoci", "umoci --version") {
        return;
    }
    let (s, _) = busybox_as("strata-test/umoci:1");
    let dir = s.path("layout");
    s.ok(&["image", "export", "strata-test/umoci:1", &format!("oci:{}", dir.display())]);
    let bundle = s.path("bundle");
    // umoci looks the image up by the ref.name annotation (the tag).
    sh(&format!("umoci unpack --image {}:1 {}", dir.display(), bundle.display()));
    assert!(bundle.join("rootfs/bin/busybox").is_file(), "umoci unpacked the busybox binary");
    assert!(bundle.join("config.json").is_file());
}

#[test]
fn docker_loads_and_runs_the_docker_archive() {
    if !require_docker() {
        return;
    }
    let (s, digest) = busybox_as("strata-test/docker-archive:1");
    let tar = s.path("img.tar");
    s.ok(&["image", "export", "strata-test/docker-archive:1", &format!("docker-archive:{}", tar.display())]);
    let _ = sh("docker rmi -f strata-test/docker-archive:1 >/dev/null 2>&1 || true");
    let loaded = sh(&format!("docker load -i {}", tar.display()));
    assert!(loaded.contains("strata-test/docker-archive:1"), "docker load names the image: {loaded}");
    let hello = sh("docker run --rm strata-test/docker-archive:1 echo hello from strata");
    assert_eq!(hello.trim(), "hello from strata");
    let id = sh("docker image inspect --format '{{.Id}}' strata-test/docker-archive:1");
    let ours: serde_json::Value =
        serde_json::from_str(&s.ok(&["image", "inspect", "strata-test/docker-archive:1"])).unwrap();
    assert_eq!(id.trim(), ours["configDigest"], "docker's image ID is our config digest");
    assert_eq!(ours["digest"], digest);
}

#[test]
fn docker_daemon_load_then_run_and_import_back() {
    if !require_docker() {
        return;
    }
    let (s, _) = busybox_as("strata-test/daemon:1");
    let _ = sh("docker rmi -f strata-test/daemon:1 >/dev/null 2>&1 || true");
    s.ok(&["image", "export", "strata-test/daemon:1", "docker-daemon:"]);
    let out = sh("docker run --rm strata-test/daemon:1 sh -c 'echo $PATH'");
    assert!(out.contains("/bin"), "the image's PATH reaches the container: {out}");

    // And back: import from the daemon into a fresh store keeps the config.
    let fresh = Strata::new();
    fresh.ok(&["image", "import", "docker-daemon:strata-test/daemon:1", "--tag", "back:1"]);
    let a: serde_json::Value = serde_json::from_str(&s.ok(&["image", "inspect", "strata-test/daemon:1"])).unwrap();
    let b: serde_json::Value = serde_json::from_str(&fresh.ok(&["image", "inspect", "back:1"])).unwrap();
    assert_eq!(a["configDigest"], b["configDigest"]);
}

#[test]
fn podman_loads_docker_and_oci_archives() {
    if !require_podman() {
        return;
    }
    let (s, _) = busybox_as("strata-test/podman:1");
    let docker_tar = s.path("img.docker.tar");
    let oci_tar = s.path("img.oci.tar");
    s.ok(&["image", "export", "strata-test/podman:1", &format!("docker-archive:{}", docker_tar.display())]);
    s.ok(&["image", "export", "strata-test/podman:1", &format!("oci-archive:{}", oci_tar.display())]);
    let _ = sh("podman rmi -f strata-test/podman:1 >/dev/null 2>&1 || true");
    let out = sh(&format!("podman load -i {}", docker_tar.display()));
    assert!(out.contains("strata-test/podman:1"), "podman load names the image: {out}");
    sh(&format!("podman load -i {}", oci_tar.display()));
    let hello = sh("podman run --rm --net=none strata-test/podman:1 echo hi");
    assert_eq!(hello.trim(), "hi");
}

#[test]
fn podman_daemon_load_through_its_docker_api() {
    if !require(
        "podman's API socket",
        "test -S /run/podman/podman.sock && podman --url unix:///run/podman/podman.sock info",
    ) {
        return;
    }
    let (s, _) = busybox_as("strata-test/podman-api:1");
    let _ = sh("podman rmi -f strata-test/podman-api:1 >/dev/null 2>&1 || true");
    s.ok(&["image", "export", "strata-test/podman-api:1", "podman:"]);
    sh("podman image exists strata-test/podman-api:1");
}
