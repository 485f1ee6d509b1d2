//! Against a real registry: Debian's `docker-registry` (distribution 2.8),
//! started per test on a free loopback port (see `testutil`), checked with
//! a real client (`skopeo`) where it matters.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use oci_spec::image::MediaType;

use super::testutil::{self, Flavor, PASSWORD, TestRegistry, USER};
use super::*;
use crate::store::Store;

fn store() -> (tempfile::TempDir, Store) {
    let d = tempfile::tempdir().unwrap();
    let s = Store::open(d.path()).unwrap();
    (d, s)
}

fn r(s: &str) -> Reference {
    parse_reference(s).unwrap()
}

fn push_opts(o: RegistryOptions) -> PushOptions {
    PushOptions { registry: o, verify: true, chunked: false }
}

fn pull_opts(o: RegistryOptions) -> PullOptions {
    PullOptions { registry: o, all_platforms: false, local_name: None, check_tag: true }
}

#[test]
fn push_is_seen_by_skopeo_then_nothing_is_reuploaded_then_mounts_and_pulls_verify() {
    let Some(reg) = TestRegistry::start(Flavor::Open) else { return };
    let (_d, s) = store();
    let img = testutil::small_image(&s, "app", 1);
    let o = push_opts(testutil::options(Some(&reg), vec![]));
    let a = &reg.addr;

    // Several tags in one push; the manifest digest is the local one.
    let rep = push(&s, &img, &[r(&format!("{a}/strata/app:v1")), r(&format!("{a}/strata/app:latest"))], &o).unwrap();
    assert_eq!((rep.blobs_uploaded, rep.blobs_present, rep.blobs_mounted), (3, 0, 0), "{rep:?}");
    assert_eq!(rep.manifests_pushed, 2);
    assert_eq!(rep.digest, *img.digest());
    assert_eq!(
        rep.pushed,
        [format!("{a}/strata/app:v1@{}", img.digest()), format!("{a}/strata/app:latest@{}", img.digest())]
    );
    if testutil::need("skopeo") {
        assert_eq!(testutil::skopeo_digest(&format!("{a}/strata/app:v1"), &[]), img.digest().to_string());
    }

    // Again: HEAD finds everything, nothing is uploaded.
    let rep = push(&s, &img, &[r(&format!("{a}/strata/app:v1"))], &o).unwrap();
    assert_eq!((rep.blobs_uploaded, rep.blobs_present, rep.bytes_uploaded), (0, 3, 0), "{rep:?}");

    // Another repository of the same registry: mounted, not uploaded.
    let rep = push(&s, &img, &[r(&format!("{a}/other/app:v1"))], &o).unwrap();
    assert_eq!((rep.blobs_uploaded, rep.blobs_mounted), (0, 3), "{rep:?}");

    // A fresh store pulls the same digest and verifies clean.
    let (_d2, s2) = store();
    let po = pull_opts(testutil::options(Some(&reg), vec![]));
    let p = pull(
        &s2,
        &r(&format!("{a}/strata/app:v1")),
        None,
        &PullOptions { local_name: Some("app".into()), ..po.clone() },
    )
    .unwrap();
    assert_eq!(p.descriptor.digest(), img.digest());
    assert_eq!((p.blobs_fetched, p.blobs_present, p.tag_moved.clone()), (3, 0, None), "{p:?}");
    assert_eq!(s2.resolve("app").unwrap().digest(), img.digest());
    let f = s2.fsck().unwrap();
    assert!(f.is_clean(), "{:?}", f.problems);
    let again = pull(&s2, &r(&format!("{a}/strata/app:v1")), None, &po).unwrap();
    assert_eq!((again.blobs_fetched, again.blobs_present), (0, 3));

    // The tag moves: the next pull says so; a pinned pull keeps the old
    // image (offline: it is complete locally) and says where the tag is now.
    let img2 = testutil::small_image(&s, "app2", 7);
    push(&s, &img2, &[r(&format!("{a}/strata/app:v1"))], &o).unwrap();
    let moved = pull(&s2, &r(&format!("{a}/strata/app:v1")), None, &po).unwrap();
    let m = moved.tag_moved.expect("the tag moved");
    assert_eq!((&m.previous, &m.current, m.pinned), (img.digest(), img2.digest(), false));
    assert!(m.to_string().contains("moved from"), "{m}");
    let pinned = pull(&s2, &r(&format!("{a}/strata/app:v1@{}", img.digest())), None, &po).unwrap();
    assert_eq!(pinned.descriptor.digest(), img.digest());
    assert_eq!(pinned.blobs_fetched, 0);
    let m = pinned.tag_moved.expect("the pinned tag points elsewhere");
    assert_eq!((&m.previous, &m.current, m.pinned), (img.digest(), img2.digest(), true));
    assert!(s2.fsck().unwrap().is_clean());
}

#[test]
fn a_multi_arch_index_is_pushed_whole_and_pulled_by_platform_or_whole() {
    let Some(reg) = TestRegistry::start(Flavor::Open) else { return };
    let (_d, s) = store();
    let amd = testutil::small_image(&s, "amd", 10);
    let arm = {
        let l = testutil::random_tar_layer(&s, "arm.bin", 5000, 20);
        let mut b = crate::image::ImageBuilder::scratch(0).platform("linux/arm64/v8".parse().unwrap());
        b = b.layer(crate::image::NewLayer {
            info: crate::layer::LayerInfo {
                digest: l.digest().clone(),
                diff_id: l.digest().clone(),
                size: l.size(),
                compression: crate::layer::Compression::None,
            },
            created_by: "arm".into(),
            comment: None,
        });
        b.build(&s).unwrap()
    };
    let amd_entry = {
        let mut d = amd.clone();
        d.set_platform(Some(serde_json::from_value(serde_json::json!({"os":"linux","architecture":"amd64"})).unwrap()));
        d
    };
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [amd_entry, arm],
    });
    let idx = s.put_json(MediaType::ImageIndex, &index).unwrap();
    let a = &reg.addr;
    let o = push_opts(testutil::options(Some(&reg), vec![]));
    let rep = push(&s, &idx, &[r(&format!("{a}/multi/app:1"))], &o).unwrap();
    assert_eq!(rep.digest, *idx.digest());
    assert_eq!(rep.manifests_pushed, 3, "two manifests by digest, the index by tag: {rep:?}");
    assert_eq!(rep.blobs_uploaded, 5, "two configs, three layers: {rep:?}");
    if testutil::need("skopeo") {
        let out = std::process::Command::new("skopeo")
            .args(["inspect", "--tls-verify=false", "--raw", &format!("docker://{a}/multi/app:1")])
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(crate::digest::sha256(&out.stdout), *idx.digest(), "the registry holds our exact index bytes");
    }

    let po = pull_opts(testutil::options(Some(&reg), vec![]));
    let (_d2, s2) = store();
    let arm64: crate::image::Platform = "linux/arm64".parse().unwrap();
    let p = pull(&s2, &r(&format!("{a}/multi/app:1")), Some(&arm64), &po).unwrap();
    assert_eq!(p.descriptor.digest(), arm.digest());
    assert_eq!(p.resolved, *idx.digest());
    assert!(!s2.has_blob(amd.digest()), "only the chosen platform is fetched");
    let e = pull(&s2, &r(&format!("{a}/multi/app:1")), Some(&"linux/ppc64le".parse().unwrap()), &po).unwrap_err();
    eprintln!("no such platform: {e}");
    assert!(e.to_string().contains("linux/amd64, linux/arm64/v8"), "{e}");

    let (_d3, s3) = store();
    let whole = PullOptions { all_platforms: true, local_name: Some("multi".into()), ..po };
    let p = pull(&s3, &r(&format!("{a}/multi/app:1")), None, &whole).unwrap();
    assert_eq!(p.descriptor.digest(), idx.digest());
    assert!(s3.has_blob(amd.digest()) && s3.has_blob(arm.digest()));
    assert!(s3.fsck().unwrap().is_clean());
    // And the whole index copies on to another repository unchanged.
    let rep = push(&s3, &p.descriptor, &[r(&format!("{a}/copy/app:1"))], &o).unwrap();
    assert_eq!((rep.digest.clone(), rep.blobs_uploaded, rep.blobs_mounted), (idx.digest().clone(), 0, 5));
}

#[test]
fn htpasswd_registry_wrong_or_missing_credentials_are_clear_and_never_leak() {
    let Some(reg) = TestRegistry::start(Flavor::Htpasswd) else { return };
    let (_d, s) = store();
    let img = testutil::small_image(&s, "app", 3);
    let a = &reg.addr;
    let dest = [r(&format!("{a}/private/app:v1"))];

    let e = push(&s, &img, &dest, &push_opts(testutil::options(Some(&reg), vec![]))).unwrap_err();
    let msg = e.to_string();
    eprintln!("no credentials: {msg}");
    assert!(e.is_unauthorized(), "{msg}");
    assert!(msg.contains(a.as_str()) && msg.contains("no credentials") && msg.contains("strata login"), "{msg}");

    let wrong_pw = "wrong-password-1234";
    let wrong = reg.auth_file(USER, wrong_pw);
    let e = push(&s, &img, &dest, &push_opts(testutil::options(Some(&reg), vec![wrong.clone()]))).unwrap_err();
    let msg = format!("{e} / {e:?}");
    eprintln!("wrong password: {e}");
    assert!(e.is_unauthorized(), "{msg}");
    assert!(msg.contains(a.as_str()) && msg.contains(USER) && msg.contains("private/app"), "{msg}");
    assert!(!msg.contains(wrong_pw), "the password leaked: {msg}");
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{wrong_pw}"));
    assert!(!msg.contains(&b64[..12]), "the basic auth header leaked: {msg}");
    let e = pull(&s, &dest[0], None, &pull_opts(testutil::options(Some(&reg), vec![wrong]))).unwrap_err();
    assert!(e.is_unauthorized() && !e.to_string().contains(wrong_pw), "{e}");

    // strata login: refuses wrong credentials, stores right ones where the
    // lookup finds them.
    let mut o = testutil::options(Some(&reg), vec![]);
    let login_file = reg.dir.path().join("login/auth.json");
    o.auth = AuthConfig::with_files(vec![login_file.clone()]);
    let e = login(a, &Credentials::basic(USER, wrong_pw), &o).unwrap_err();
    eprintln!("login with a wrong password: {e}");
    assert!(e.is_unauthorized() && !e.to_string().contains(wrong_pw), "{e}");
    assert!(!login_file.exists());
    assert_eq!(login(&format!("http://{a}/"), &Credentials::basic(USER, PASSWORD), &o).unwrap(), login_file);
    let rep = push(&s, &img, &dest, &push_opts(o.clone())).unwrap();
    assert_eq!(rep.blobs_uploaded, 3);
    let (_d2, s2) = store();
    assert_eq!(pull(&s2, &dest[0], None, &pull_opts(o.clone())).unwrap().descriptor.digest(), img.digest());
    if testutil::need("skopeo") {
        let creds = format!("--creds={USER}:{PASSWORD}");
        assert_eq!(testutil::skopeo_digest(&dest[0].to_string(), &[&creds]), img.digest().to_string());
    }
    assert!(logout(a, &o).unwrap());
    assert!(push(&s, &img, &dest, &push_opts(o)).unwrap_err().is_unauthorized());
}

#[test]
fn bearer_token_registry_token_dance_login_and_refusals() {
    let Some(reg) = TestRegistry::start(Flavor::Open) else { return };
    let proxy = testutil::TokenProxy::start(&reg.addr);
    transport::Transport::remember_scheme(&proxy.addr, false);
    let (_d, s) = store();
    let img = testutil::small_image(&s, "app", 17);
    let a = &proxy.addr;
    let dest = [r(&format!("{a}/bearer/app:v1"))];

    // Anonymous: the token service refuses, the error says to log in.
    let e = push(&s, &img, &dest, &push_opts(testutil::options(None, vec![]))).unwrap_err();
    eprintln!("bearer, anonymous: {e}");
    assert!(e.is_unauthorized() && e.to_string().contains("strata login"), "{e}");

    // Wrong password: refused by the token service, and not repeated.
    let wrong_pw = "not-the-password-42";
    let mut o = testutil::options(None, vec![]);
    o.auth = AuthConfig::with_files(vec![reg.dir.path().join("bearer-auth.json")]);
    let e = login(a, &Credentials::basic(USER, wrong_pw), &o).unwrap_err();
    assert!(e.is_unauthorized() && !format!("{e:?}").contains(wrong_pw), "{e}");
    std::fs::write(
        reg.dir.path().join("wrong.json"),
        format!(r#"{{"auths":{{"{a}":{{"username":"{USER}","password":"{wrong_pw}"}}}}}}"#),
    )
    .unwrap();
    let wrong = testutil::options(None, vec![reg.dir.path().join("wrong.json")]);
    let e = push(&s, &img, &dest, &push_opts(wrong)).unwrap_err();
    eprintln!("bearer, wrong password: {e}");
    assert!(e.is_unauthorized() && !format!("{e} {e:?}").contains(wrong_pw), "{e}");

    // Login through the token service, then push and pull with bearer tokens.
    login(a, &Credentials::basic(USER, PASSWORD), &o).unwrap();
    let rep = push(&s, &img, &dest, &push_opts(o.clone())).unwrap();
    assert_eq!((rep.blobs_uploaded, rep.digest.clone()), (3, img.digest().clone()));
    let (_d2, s2) = store();
    assert_eq!(pull(&s2, &dest[0], None, &pull_opts(o)).unwrap().descriptor.digest(), img.digest());
    let asked = proxy.token_requests.lock().unwrap().clone();
    assert!(
        asked.iter().any(|(ok, q)| *ok && q.contains("scope=repository%3Abearer%2Fapp%3Apull%2Cpush")),
        "{asked:#?}"
    );
    assert!(asked.iter().any(|(ok, q)| *ok && q.contains("service=strata-test")), "{asked:#?}");
}

#[test]
fn plain_http_only_for_loopback_or_insecure_registries() {
    let Some(ip) = testutil::lan_ip() else {
        assert!(!std::env::var("CI").is_ok_and(|v| v == "true"), "CI=true needs a non-loopback address for this test");
        eprintln!("skipped: this machine has no non-loopback address");
        return;
    };
    let Some(reg) = TestRegistry::start_listening(Flavor::Open, "0.0.0.0") else { return };
    let (_d, s) = store();
    let img = testutil::small_image(&s, "app", 19);
    let port = reg.addr.rsplit(':').next().unwrap();
    let lan = format!("{ip}:{port}");
    let dest = [r(&format!("{lan}/lan/app:v1"))];
    let mut o = testutil::options(None, vec![]);
    o.retry.attempts = 1;
    // Not loopback, not named insecure: HTTPS only, which this server lacks.
    let e = push(&s, &img, &dest, &push_opts(o.clone())).unwrap_err().to_string();
    eprintln!("plain HTTP registry on {lan}: {e}");
    assert!(e.contains(&lan) && e.contains(&format!("--insecure-registry {lan}")), "{e}");
    // Named insecure: the probe finds plain HTTP.
    o.insecure_registries = vec![ip.to_string()];
    let rep = push(&s, &img, &dest, &push_opts(o)).unwrap();
    assert_eq!(rep.digest, *img.digest());
}

#[test]
fn tls_registry_with_a_certs_d_ca() {
    let Some(reg) = TestRegistry::start(Flavor::Tls) else { return };
    let (_d, s) = store();
    let img = testutil::small_image(&s, "app", 5);
    let dest = [r(&format!("{}/tls/app:v1", reg.addr))];

    // Without the CA: a certificate error that says how to fix it.
    let mut bare = testutil::options(None, vec![]);
    bare.retry.attempts = 1;
    let e = push(&s, &img, &dest, &push_opts(bare.clone())).unwrap_err().to_string();
    eprintln!("unknown CA: {e}");
    assert!(e.contains(&reg.addr) && e.contains("certificate") && e.contains("certs.d"), "{e}");

    // With certs.d: verified TLS.
    let rep = push(&s, &img, &dest, &push_opts(testutil::options(Some(&reg), vec![]))).unwrap();
    assert_eq!((rep.blobs_uploaded, rep.digest.clone()), (3, img.digest().clone()));
    let (_d2, s2) = store();
    let p = pull(&s2, &dest[0], None, &pull_opts(testutil::options(Some(&reg), vec![]))).unwrap();
    assert_eq!(p.descriptor.digest(), img.digest());

    // --insecure-registry: TLS without verification, like Docker.
    let mut insecure = bare;
    insecure.insecure_registries = vec![reg.addr.clone()];
    let rep = push(&s, &img, &dest, &push_opts(insecure)).unwrap();
    assert_eq!(rep.blobs_present, 3);
}

#[test]
fn killing_the_registry_mid_upload_fails_clearly_and_the_next_push_resumes_per_blob() {
    let Some(mut reg) = TestRegistry::start(Flavor::Open) else { return };
    let (_d, s) = store();
    let small = testutil::random_tar_layer(&s, "small.bin", 100_000, 40);
    let big = testutil::random_tar_layer(&s, "big.bin", 48 << 20, 41);
    let img = testutil::image(&s, "big", &[small.clone(), big.clone()]);
    let dest = [r(&format!("{}/crash/app:v1", reg.addr))];

    let pid = reg.pid();
    let killed = Arc::new(AtomicBool::new(false));
    let retries = Arc::new(AtomicUsize::new(0));
    let mut o = testutil::options(Some(&reg), vec![]);
    o.max_concurrent = 1; // config, small, big: in that order
    o.progress = Some({
        let (killed, retries, big) = (killed.clone(), retries.clone(), big.digest().clone());
        Arc::new(move |e: &RegistryEvent| match e {
            RegistryEvent::BlobProgress { digest, done, .. }
                if *digest == big && *done >= 16 << 20 && !killed.swap(true, Ordering::SeqCst) =>
            {
                // SAFETY: plain kill(2) of the registry we started.
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            }
            RegistryEvent::Retrying { .. } => {
                retries.fetch_add(1, Ordering::SeqCst);
            }
            _ => {}
        })
    });
    let started = std::time::Instant::now();
    let e = push(&s, &img, &dest, &push_opts(o.clone())).unwrap_err();
    assert!(killed.load(Ordering::SeqCst), "the registry was killed mid-upload");
    let msg = e.to_string();
    eprintln!("registry killed: {msg}");
    assert!(matches!(e, RegistryError::Unreachable { .. }), "{msg}");
    assert!(msg.contains(&reg.addr) && msg.contains(&big.digest().to_string()) && msg.contains("3 attempts"), "{msg}");
    assert!(retries.load(Ordering::SeqCst) >= 2, "retried with backoff");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert!(reg.has_blob(small.digest()) && !reg.has_blob(big.digest()));

    reg.restart();
    o.progress = None;
    let rep = push(&s, &img, &dest, &push_opts(o)).unwrap();
    assert_eq!((rep.blobs_present, rep.blobs_uploaded, rep.bytes_uploaded), (2, 1, big.size()), "{rep:?}");
    if testutil::need("skopeo") {
        assert_eq!(testutil::skopeo_digest(&dest[0].to_string(), &[]), img.digest().to_string());
    }
}

#[test]
fn resets_and_5xx_are_retried_in_both_upload_modes() {
    let Some(reg) = TestRegistry::start(Flavor::Open) else { return };
    let (_d, s) = store();
    for (i, chunked) in [false, true].into_iter().enumerate() {
        let img = testutil::small_image(&s, "app", 9 + i as u64);
        // A proxy in front of the registry that breaks requests: resets and
        // 5xx, at the start (auth), on blob checks and uploads, on manifests.
        use testutil::Fault::{Reset, Status};
        let faults = [Reset, Status(503), Reset, Status(502), Status(503), Reset, Status(500), Reset, Status(503)];
        let proxy = testutil::FlakyProxy::start(&reg.addr, &faults);
        transport::Transport::remember_scheme(&proxy.addr, false);
        let retries = Arc::new(Mutex::new(Vec::new()));
        let mut o = testutil::options(None, vec![]);
        o.retry.attempts = 6;
        o.progress = Some({
            let retries = retries.clone();
            Arc::new(move |e: &RegistryEvent| {
                if let RegistryEvent::Retrying { error, .. } = e {
                    retries.lock().unwrap().push(error.clone());
                }
            })
        });
        let dest = [r(&format!("{}/flaky/app:v{i}", proxy.addr))];
        let rep = push(&s, &img, &dest, &PushOptions { chunked, ..push_opts(o) }).unwrap();
        assert_eq!(rep.digest, *img.digest());
        let seen = retries.lock().unwrap().clone();
        assert_eq!(seen.len(), faults.len(), "{seen:?}");
        assert!(seen.iter().any(|e| e.contains("reset")), "{seen:?}");
        assert!(seen.iter().any(|e| e.contains("503")), "{seen:?}");
        assert_eq!(proxy.saw("PATCH "), chunked, "{:?}", proxy.requests());
        if testutil::need("skopeo") {
            let direct = format!("{}/flaky/app:v{i}", reg.addr);
            assert_eq!(testutil::skopeo_digest(&direct, &[]), img.digest().to_string());
        }
    }
}

#[test]
fn a_download_cut_short_resumes_where_it_stopped() {
    let Some(reg) = TestRegistry::start(Flavor::Open) else { return };
    let (_d, s) = store();
    let small = testutil::random_tar_layer(&s, "small.bin", 1000, 30);
    let big = testutil::random_tar_layer(&s, "big.bin", 3 << 20, 31);
    let img = testutil::image(&s, "app", &[small, big.clone()]);
    push(&s, &img, &[r(&format!("{}/cut/app:v1", reg.addr))], &push_opts(testutil::options(Some(&reg), vec![])))
        .unwrap();
    use testutil::Fault::{Cut, Pass};
    // The manifest, the config, the small layer, then the big layer is cut
    // after 1 MiB.
    let proxy = testutil::FlakyProxy::start(&reg.addr, &[Pass, Pass, Pass, Cut(1 << 20)]);
    transport::Transport::remember_scheme(&proxy.addr, false);
    let mut o = testutil::options(None, vec![]);
    o.max_concurrent = 1;
    let (_d2, s2) = store();
    let p = pull(&s2, &r(&format!("{}/cut/app:v1", proxy.addr)), None, &pull_opts(o)).unwrap();
    assert_eq!((p.descriptor.digest(), p.blobs_fetched), (img.digest(), 3));
    assert!(s2.fsck().unwrap().is_clean());
    let log = proxy.requests();
    // The retry asked only for the rest (the reset loses what was in flight,
    // so the offset is at most what the proxy sent).
    let big_gets: Vec<&String> = log.iter().filter(|l| l.contains(&big.digest().to_string())).collect();
    let offset = |l: &str| l.rsplit("bytes=").next().and_then(|o| o.trim_end_matches("-]").parse::<u64>().ok());
    assert_eq!(big_gets.len(), 2, "{log:#?}");
    assert_eq!(offset(big_gets[0]), Some(0));
    assert!(offset(big_gets[1]).is_some_and(|o| o > 0 && o <= 1 << 20), "{log:#?}");
}

#[test]
fn a_registry_that_refuses_one_large_request_gets_chunks() {
    let Some(reg) = TestRegistry::start(Flavor::Open) else { return };
    let (_d, s) = store();
    let img = testutil::small_image(&s, "app", 21);
    use testutil::Fault::{Pass, Status};
    // HEAD, POST, then the streamed PUT is refused as too large.
    let proxy = testutil::FlakyProxy::start(&reg.addr, &[Pass, Pass, Status(413)]);
    transport::Transport::remember_scheme(&proxy.addr, false);
    let mut o = testutil::options(None, vec![]);
    o.max_concurrent = 1;
    let rep = push(&s, &img, &[r(&format!("{}/big/app:v1", proxy.addr))], &push_opts(o)).unwrap();
    assert_eq!((rep.blobs_uploaded, rep.digest.clone()), (3, img.digest().clone()));
    let log = proxy.requests();
    let refused = log.iter().position(|l| l.starts_with("PUT ") && l.contains("digest=")).unwrap();
    assert!(log[refused + 1..].iter().any(|l| l.starts_with("PATCH ")), "{log:#?}");
}

#[test]
fn artifacts_are_pushed_with_their_type_and_attached_through_the_tag_schema() {
    let Some(reg) = TestRegistry::start(Flavor::Open) else { return };
    let (d, s) = store();
    let img = testutil::small_image(&s, "app", 11);
    let a = &reg.addr;
    let o = push_opts(testutil::options(Some(&reg), vec![]));
    push(&s, &img, &[r(&format!("{a}/art/app:v1"))], &o).unwrap();

    // A standalone artifact.
    let sbom = d.path().join("sbom.spdx.json");
    std::fs::write(&sbom, br#"{"spdxVersion":"SPDX-2.3"}"#).unwrap();
    let spec = ArtifactSpec {
        artifact_type: "application/spdx+json".into(),
        files: vec![ArtifactFile { path: sbom.clone(), media_type: "application/spdx+json".into() }],
        ..Default::default()
    };
    let art = build_artifact(&s, &spec).unwrap();
    let rep = push(&s, &art, &[r(&format!("{a}/art/sbom:v1"))], &o).unwrap();
    assert_eq!(rep.digest, *art.digest());
    let raw: serde_json::Value = serde_json::from_slice(&s.read_blob(art.digest()).unwrap()).unwrap();
    assert_eq!(raw["artifactType"], "application/spdx+json");
    assert_eq!(raw["config"]["mediaType"], "application/vnd.oci.empty.v1+json");
    assert_eq!(raw["layers"][0]["annotations"]["org.opencontainers.image.title"], "sbom.spdx.json");

    // Attached to the image: distribution 2.8 has no referrers API, so the
    // tag schema is used; the listing finds both attachments.
    let subject = r(&format!("{a}/art/app:v1"));
    let at = attach(&s, &subject, &spec, &o).unwrap();
    assert!(at.used_tag_schema);
    assert_eq!(at.subject, *img.digest());
    let sig = ArtifactSpec { artifact_type: "application/vnd.example.signature".into(), ..Default::default() };
    attach(&s, &subject, &sig, &o).unwrap();
    let all = referrers(&subject, None, &o.registry).unwrap();
    assert_eq!(all.len(), 2, "{all:?}");
    let only = referrers(&subject, Some("application/spdx+json"), &o.registry).unwrap();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0].digest(), at.artifact.digest());
    if testutil::need("skopeo") {
        let tag = format!("{a}/art/app:sha256-{}", img.digest().digest());
        let out = std::process::Command::new("skopeo")
            .args(["inspect", "--tls-verify=false", "--raw", &format!("docker://{tag}")])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["manifests"].as_array().unwrap().len(), 2);
    }
}

#[test]
fn unreachable_registries_and_missing_images_name_what_failed() {
    let (_d, s) = store();
    let img = testutil::small_image(&s, "app", 13);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut o = testutil::options(None, vec![]);
    o.retry.attempts = 2;
    let e = push(&s, &img, &[r(&format!("127.0.0.1:{port}/x/y:1"))], &push_opts(o)).unwrap_err().to_string();
    eprintln!("nothing listening: {e}");
    assert!(e.contains(&format!("127.0.0.1:{port}")) && e.contains("2 attempts"), "{e}");

    let Some(reg) = TestRegistry::start(Flavor::Open) else { return };
    let e = pull(&s, &r(&format!("{}/no/such:tag", reg.addr)), None, &pull_opts(testutil::options(Some(&reg), vec![])))
        .unwrap_err();
    let msg = e.to_string();
    eprintln!("no such image: {msg}");
    assert!(matches!(e, RegistryError::NotFound { .. }), "{msg}");
    assert!(msg.contains(&format!("{}/no/such", reg.addr)), "{msg}");
}

/// The registries `.ci/setup` runs (plain :5000, htpasswd :5001, TLS :5002
/// with its CA in /etc/containers/certs.d), reached with the machine's own
/// settings: the default certs.d directories, the CI auth file.
#[test]
fn the_ci_registries_with_default_settings() {
    let state = std::env::var("STRATA_CI_STATE").unwrap_or_else(|_| "/var/tmp/strata-ci".into());
    let Ok(env) = std::fs::read_to_string(format!("{state}/env")) else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{state}/env is missing: run .ci/setup first");
        }
        eprintln!("skipped: no {state}/env (.ci/setup has not run)");
        return;
    };
    let var = |k: &str| {
        env.lines()
            .find_map(|l| l.strip_prefix("export ")?.strip_prefix(k)?.strip_prefix('=').map(str::to_owned))
            .unwrap_or_else(|| panic!("{k} not in {state}/env"))
    };
    let (_d, s) = store();
    let img = testutil::small_image(&s, "app", std::process::id() as u64);
    let repo = format!("strata-registry-tests/app:{}", std::process::id());
    let mut o = RegistryOptions::from_env();
    o.auth = AuthConfig::with_files(vec![var("STRATA_CI_REGISTRY_AUTH_FILE").into()]);
    o.auth.helper_dirs = Some(Vec::new());
    for reg in [var("STRATA_CI_REGISTRY"), var("STRATA_CI_REGISTRY_AUTH"), var("STRATA_CI_REGISTRY_TLS")] {
        let dest = r(&format!("{reg}/{repo}"));
        let rep = push(&s, &img, std::slice::from_ref(&dest), &push_opts(o.clone())).unwrap();
        assert_eq!(rep.digest, *img.digest(), "{reg}");
        let (_d2, s2) = store();
        let p = pull(&s2, &dest, None, &pull_opts(o.clone())).unwrap();
        assert_eq!(p.descriptor.digest(), img.digest(), "{reg}");
    }
}
