//! Signatures travel with the image (docs/attestations.md, "Signing"): a
//! built and signed image is pushed to the CI registry (Debian's
//! docker-registry: no referrers API, so the `sha256-<hex>` tag schema),
//! pulled into a fresh store, and `strata verify-signature` passes there;
//! the wrong key is refused, and so is an image whose referrers tag in the
//! registry was replaced by another image's bundles; pushing again merges
//! with what the registry's tag holds.

use std::path::Path;

use crate::support::{Strata, last_digest, require, sh};

const SPEC: &str = "name: signed-demo\nversion: \"0.1\"\nsummary: signed push demo\nlicense: MIT\nbase: busybox:latest\nbuild-base: busybox:latest\nparts:\n  app:\n    plugin: dump\n    source: files\n";

fn project(dir: &Path, greeting: &str) {
    std::fs::create_dir_all(dir.join("files/etc")).unwrap();
    std::fs::write(dir.join("rockcraft.yaml"), SPEC).unwrap();
    std::fs::write(dir.join("files/etc/greeting"), greeting).unwrap();
}

#[test]
fn a_signed_image_pushed_and_pulled_into_a_fresh_store_verifies_there() {
    if !require("root and runc", "test \"$(id -u)\" = 0 && runc --version") {
        return;
    }
    let Some(reg) = crate::support::ci_registry() else { return };
    let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let repo = format!("strata-it/signed-{n}");
    let dest = format!("{reg}/{repo}");

    let s = Strata::new();
    s.busybox();
    for (tag, greeting) in [("1", "hello"), ("2", "goodbye")] {
        let dir = s.path(&format!("p{tag}"));
        project(&dir, greeting);
        s.ok(&["build", dir.to_str().unwrap(), "-t", &format!("demo:{tag}")]);
    }
    let key = s.path("k");
    s.ok(&["key", "generate", "--output", key.to_str().unwrap()]);
    s.ok(&["key", "generate", "--output", s.path("evil").to_str().unwrap()]);
    let (private, public, evil) = (s.path("k.key"), s.path("k.pub"), s.path("evil.pub"));
    for image in ["demo:1", "demo:2"] {
        s.ok(&["sign", image, "--key", private.to_str().unwrap()]);
    }
    let pushed = s.ok(&["push", "demo:1", &format!("{dest}:1")]);
    // The image and its three attestations (SPDX, CycloneDX, provenance).
    assert!(pushed.contains("pushed 4 signature(s)"), "{pushed}");
    s.ok(&["push", "demo:2", &format!("{dest}:2")]);
    let m1 = s.digest_of("demo:1");
    let tag1 = format!("sha256-{}", m1.trim_start_matches("sha256:"));
    let listed = sh(&format!(
        "curl -sf -H 'Accept: application/vnd.oci.image.index.v1+json' http://{reg}/v2/{repo}/manifests/{tag1}"
    ));
    assert!(listed.contains("application/vnd.dev.sigstore.bundle.v0.3+json"), "{listed}");

    // A fresh store: the whole index (image and attestations), then the
    // image manifest alone.
    let fresh = Strata::new();
    let out = fresh.ok(&["pull", &format!("{dest}:1"), "--all-platforms", "--tag", "back:1"]);
    assert!(out.contains("pulled 4 signature(s)"), "{out}");
    let report = fresh.ok(&["verify-signature", "back:1", "--key", public.to_str().unwrap()]);
    for kind in ["image", "spdx", "cyclonedx", "provenance"] {
        assert!(report.contains(kind), "{kind} not verified:\n{report}");
    }
    let wrong = fresh.fails(&["verify-signature", "back:1", "--key", evil.to_str().unwrap()]);
    assert!(wrong.contains("does not verify with this key"), "{wrong}");
    let out = fresh.ok(&["pull", &format!("{dest}:1"), "--tag", "plain:1"]);
    assert_eq!(last_digest(&out), m1);
    fresh.ok(&["verify-signature", "plain:1", "--key", public.to_str().unwrap()]);

    // The registry's referrers tag of :1 replaced by :2's bundles: refused.
    let m2 = s.digest_of("demo:2");
    let tag2 = format!("sha256-{}", m2.trim_start_matches("sha256:"));
    sh(&format!(
        "curl -sf -H 'Accept: application/vnd.oci.image.index.v1+json' http://{reg}/v2/{repo}/manifests/{tag2} -o {0} && \
         curl -sf -X PUT -H 'Content-Type: application/vnd.oci.image.index.v1+json' --data-binary @{0} \
         http://{reg}/v2/{repo}/manifests/{tag1}",
        s.path("other-index.json").display()
    ));
    let victim = Strata::new();
    victim.ok(&["pull", &format!("{dest}:1"), "--all-platforms", "--tag", "back:1"]);
    let refused = victim.fails(&["verify-signature", "back:1", "--key", public.to_str().unwrap()]);
    assert!(refused.contains(&format!("not of this image {m1}")), "{refused}");

    // Pushing again merges with the tag: the entries only the registry
    // has (here :2's) stay, ours come back, and a fresh pull verifies.
    let again = s.ok(&["push", "demo:1", &format!("{dest}:1")]);
    assert!(again.contains("pushed 4 signature(s)"), "{again}");
    let merged: serde_json::Value = serde_json::from_str(&sh(&format!(
        "curl -sf -H 'Accept: application/vnd.oci.image.index.v1+json' http://{reg}/v2/{repo}/manifests/{tag1}"
    )))
    .unwrap();
    assert_eq!(merged["manifests"].as_array().unwrap().len(), 8, "{merged}");
    let third = Strata::new();
    let out = third.ok(&["pull", &format!("{dest}:1"), "--all-platforms", "--tag", "back:1"]);
    assert!(out.contains("pulled 8 signature(s)"), "{out}");
    third.ok(&["verify-signature", "back:1", "--key", public.to_str().unwrap()]);
}
