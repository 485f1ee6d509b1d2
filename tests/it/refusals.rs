//! Bad input is refused with a clear error, and the store loses nothing.

use std::path::Path;

use crate::support::*;

/// Writes a tar at `path` with the entries python's tarfile makes from `spec`
/// (a python list of (name, type, target) tuples).
fn evil_tar(path: &Path, spec: &str) {
    let py = format!(
        r#"
import io, tarfile
with tarfile.open("{}", "w", format=tarfile.PAX_FORMAT) as t:
    for name, kind, target in {spec}:
        i = tarfile.TarInfo(name)
        if kind == "file":
            data = b"pwned\n"; i.size = len(data); t.addfile(i, io.BytesIO(data))
        elif kind == "dir":
            i.type = tarfile.DIRTYPE; i.mode = 0o755; t.addfile(i)
        elif kind == "symlink":
            i.type = tarfile.SYMTYPE; i.linkname = target; t.addfile(i)
        elif kind == "hardlink":
            i.type = tarfile.LNKTYPE; i.linkname = target; t.addfile(i)
"#,
        path.display()
    );
    sh(&format!("python3 -c '{}'", py.replace('\'', "'\\''")));
}

fn assert_store_untouched(s: &Strata) {
    let ls = s.ok(&["image", "ls", "--json"]);
    assert!(ls.trim().is_empty(), "no image was added: {ls}");
    let fsck = s.ok(&["store", "fsck"]);
    assert!(fsck.contains(": ok"), "{fsck}");
}

#[test]
fn a_rootfs_tar_with_dotdot_entries_is_refused_naming_the_entry() {
    let s = Strata::new();
    let tar = s.path("evil.tar");
    evil_tar(&tar, r#"[("etc", "dir", ""), ("etc/../../evil", "file", "")]"#);
    let err = s.fails(&["image", "import", &format!("rootfs:{}", tar.display()), "--tag", "evil"]);
    assert!(err.contains("etc/../../evil"), "the error names the entry: {err}");
    assert_store_untouched(&s);
}

#[test]
fn a_rootfs_tar_writing_through_an_absolute_symlink_is_refused() {
    let s = Strata::new();
    let tar = s.path("evil.tar");
    evil_tar(&tar, r#"[("escape", "symlink", "/"), ("escape/etc/cron.d/evil", "file", "")]"#);
    let err = s.fails(&["image", "import", &format!("rootfs:{}", tar.display()), "--tag", "evil"]);
    assert!(err.contains("escape/etc/cron.d/evil"), "the error names the entry: {err}");
    assert_store_untouched(&s);
}

#[test]
fn a_hard_link_out_of_the_tree_is_refused() {
    let s = Strata::new();
    let tar = s.path("evil.tar");
    evil_tar(&tar, r#"[("passwd", "hardlink", "../../etc/passwd")]"#);
    let err = s.fails(&["image", "import", &format!("rootfs:{}", tar.display()), "--tag", "evil"]);
    assert!(err.contains("passwd"), "the error names the entry: {err}");
    assert_store_untouched(&s);
}

/// Rewrites `archive`, flipping one byte in the middle of the largest member.
fn corrupt_largest_member(archive: &Path) -> String {
    let py = format!(
        r#"
import tarfile, io
src = "{0}"
with tarfile.open(src) as t:
    members = [(m, t.extractfile(m).read() if m.isfile() else None) for m in t.getmembers()]
big = max((m for m, d in members if d is not None), key=lambda m: m.size)
with tarfile.open(src, "w", format=tarfile.PAX_FORMAT) as t:
    for m, d in members:
        if m is big:
            d = bytearray(d); d[len(d)//2] ^= 0xff; d = bytes(d)
        t.addfile(m, io.BytesIO(d) if d is not None else None)
print(big.name)
"#,
        archive.display()
    );
    sh(&format!("python3 -c '{}'", py.replace('\'', "'\\''"))).trim().to_owned()
}

#[test]
fn a_corrupted_blob_in_an_oci_archive_is_refused() {
    if !require("busybox-static", "test -x /bin/busybox") {
        return;
    }
    let src = Strata::new();
    src.busybox();
    let tar = src.path("img.tar");
    src.ok(&["image", "export", "busybox", &format!("oci-archive:{}", tar.display())]);
    let member = corrupt_largest_member(&tar);
    let hex = member.rsplit('/').next().unwrap().to_owned();

    let s = Strata::new();
    let err = s.fails(&["image", "import", &format!("oci-archive:{}", tar.display()), "--tag", "bad"]);
    assert!(err.contains(&hex), "the error names the corrupted blob {hex}: {err}");
    assert!(!s.store().join("blobs/sha256").join(&hex).exists(), "the bad blob never lands");
    assert_store_untouched(&s);
}

#[test]
fn a_truncated_oci_archive_is_refused() {
    if !require("busybox-static", "test -x /bin/busybox") {
        return;
    }
    let src = Strata::new();
    src.busybox();
    let tar = src.path("img.tar");
    src.ok(&["image", "export", "busybox", &format!("oci-archive:{}", tar.display())]);
    let len = std::fs::metadata(&tar).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&tar).unwrap().set_len(len / 2).unwrap();

    let s = Strata::new();
    let err = s.fails(&["image", "import", &format!("oci-archive:{}", tar.display()), "--tag", "bad"]);
    assert!(!err.trim().is_empty());
    assert_store_untouched(&s);
}

#[test]
fn a_frontend_option_the_frontend_does_not_know_is_refused_before_anything_runs() {
    let s = Strata::new();
    let project = s.path("proj");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(project.join("parts.yaml"), "parts:\n  a:\n    plugin: nil\n").unwrap();
    let err = s.fails(&["plan", project.to_str().unwrap(), "-X", "variant=1"]);
    assert!(err.contains("the craft frontend takes no -X options (got 'variant')"), "{err}");
    let err = s.fails(&["build", project.to_str().unwrap(), "-X", "=1"]);
    assert!(err.contains("is not KEY=VALUE"), "{err}");
    assert_store_untouched(&s);
}
