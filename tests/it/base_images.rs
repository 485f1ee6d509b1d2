//! Base images from `images/` recipes are reproducible.

use crate::support::*;

#[test]
fn busybox_built_twice_into_two_stores_has_one_digest() {
    if !require("busybox-static", "test -x /bin/busybox") {
        return;
    }
    let (a, b) = (Strata::new(), Strata::new());
    assert_eq!(a.busybox(), b.busybox());
    assert_eq!(a.digest_of("busybox"), b.digest_of("busybox"));
}

#[test]
fn an_image_exported_twice_gives_identical_archives() {
    if !require("busybox-static", "test -x /bin/busybox") {
        return;
    }
    let s = Strata::new();
    s.busybox();
    for kind in ["oci-archive", "docker-archive"] {
        let (x, y) = (s.path(&format!("{kind}-1.tar")), s.path(&format!("{kind}-2.tar")));
        s.ok(&["image", "export", "busybox", &format!("{kind}:{}", x.display())]);
        s.ok(&["image", "export", "busybox", &format!("{kind}:{}", y.display())]);
        assert_eq!(file_digest(&x), file_digest(&y), "{kind} bytes are a function of the image");
    }
}

/// Two full mmdebstrap runs: slow (minutes), so it runs under CI or when
/// STRATA_SLOW_TESTS=1.
#[test]
fn debian_bookworm_minbase_is_bit_identical_across_builds() {
    if !crate::support::slow_tests("run two mmdebstrap builds") {
        return;
    }
    if !require("mmdebstrap", "mmdebstrap --version") {
        return;
    }
    let (a, b) = (Strata::new(), Strata::new());
    let da = last_digest(&a.ok(&["image", "build", "images/debian-bookworm"]));
    let db = last_digest(&b.ok(&["image", "build", "images/debian-bookworm"]));
    assert_eq!(da, db);
}
