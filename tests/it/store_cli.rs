//! The store through the CLI: list, inspect, remove, fsck, gc.

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
