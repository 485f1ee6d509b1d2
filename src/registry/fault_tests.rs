//! Registry faults (#14): strata against a real registry (distribution 2.8,
//! [`TestRegistry`]) behind the fault proxy ([`faultproxy`]), on pull,
//! push (both upload modes) and the remote step cache. Each scenario
//! scripts its faults, checks the result is exactly what a fault-free run
//! gives (the same digests, a clean store) and how strata got there (a
//! download resumed with a range request, an upload continued at the
//! registry's offset, no finished blob sent twice, nothing corrupt
//! committed), and prints how many of the faults it injected it survived.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oci_spec::image::Descriptor;

use super::faultproxy::{Fault, FaultProxy, Seen, When, on};
use super::testutil::{self, Flavor, TestRegistry};
use super::*;
use crate::store::Store;

const MIB: u64 = 1 << 20;

fn store() -> (tempfile::TempDir, Store) {
    let d = tempfile::tempdir().unwrap();
    let s = Store::open(d.path()).unwrap();
    (d, s)
}

/// A registry, a proxy in front of it, and options that reach the registry
/// through the proxy and record every `Retrying` event.
struct Rig {
    reg: TestRegistry,
    proxy: FaultProxy,
    retries: Arc<Mutex<Vec<(String, Duration, String)>>>,
}

impl Rig {
    fn start() -> Option<Rig> {
        let reg = TestRegistry::start(Flavor::Open)?;
        let proxy = FaultProxy::start(&reg.addr, vec![]);
        transport::Transport::remember_scheme(&proxy.addr, false);
        Some(Rig { reg, proxy, retries: Default::default() })
    }

    fn opts(&self) -> RegistryOptions {
        let mut o = testutil::options(None, vec![]);
        o.retry = RetryPolicy {
            attempts: 6,
            initial_delay: Duration::from_millis(50),
            max_delay: Duration::from_millis(200),
            max_retry_after: Duration::from_secs(3),
        };
        o.read_timeout = Duration::from_secs(2);
        o.max_concurrent = 1;
        let retries = self.retries.clone();
        o.progress = Some(Arc::new(move |e: &RegistryEvent| {
            if let RegistryEvent::Retrying { doing, delay, error, .. } = e {
                retries.lock().unwrap().push((doing.clone(), *delay, error.clone()));
            }
        }));
        o
    }

    fn via_proxy(&self, repo: &str) -> Reference {
        parse_reference(&format!("{}/{repo}", self.proxy.addr)).unwrap()
    }

    fn direct(&self, repo: &str) -> Reference {
        parse_reference(&format!("{}/{repo}", self.reg.addr)).unwrap()
    }

    /// The requests since the `before`th that had a fault injected.
    fn injected_since(&self, before: usize) -> Vec<Seen> {
        self.proxy.seen().into_iter().skip(before).filter(|s| s.fault.is_some()).collect()
    }
}

fn push_opts(o: RegistryOptions, chunked: bool) -> PushOptions {
    PushOptions { registry: o, verify: true, chunked }
}

fn pull_opts(o: RegistryOptions) -> PullOptions {
    PullOptions { registry: o, all_platforms: false, local_name: None, check_tag: false }
}

/// Temp files a store has left (a blob being written, never committed).
fn leftovers(s: &Store) -> Vec<String> {
    std::fs::read_dir(s.tmp_dir())
        .map(|rd| {
            rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect::<Vec<String>>()
        })
        .unwrap_or_default()
        .into_iter()
        .filter(|n| n.starts_with("blob-"))
        .collect()
}

fn offset(range: &Option<String>) -> Option<u64> {
    range.as_deref()?.strip_prefix("bytes=")?.trim_end_matches('-').parse().ok()
}

/// Pull: resets, stalls before and during the answer, 500/503/429 with
/// and without `Retry-After`, a truncated and a corrupted body.
fn pull_scenario(rig: &Rig) -> usize {
    let (_d, s) = store();
    let small = testutil::random_tar_layer(&s, "small.bin", 20_000, 60);
    let big = testutil::random_tar_layer(&s, "big.bin", 10 * MIB, 61);
    let img = testutil::image(&s, "app", &[small.clone(), big.clone()]);
    push(&s, &img, &[rig.direct("faults/pull:v1")], &push_opts(testutil::options(Some(&rig.reg), vec![]), false))
        .unwrap();
    let bigp = format!("/v2/*/blobs/{}", big.digest());
    let smallp = format!("/v2/*/blobs/{}", small.digest());
    rig.proxy.set_plan(vec![
        on("GET", "/v2/*/manifests/*", When::Nth(1), Fault::status(503)),
        on("GET", "/v2/*/manifests/*", When::Nth(2), Fault::retry_after(429, 1)),
        on("GET", &smallp, When::Nth(1), Fault::Reset),
        on("GET", &smallp, When::Nth(2), Fault::Stall(Duration::from_secs(3))),
        on("GET", &bigp, When::Nth(1), Fault::Truncate(3 * MIB)),
        on("GET", &bigp, When::Nth(2), Fault::StallBody { after: 2 * MIB, pause: Duration::from_secs(4) }),
        on("GET", &bigp, When::Nth(3), Fault::retry_after(503, 1)),
        on("GET", &bigp, When::Nth(4), Fault::Reset),
        on("GET", &bigp, When::Nth(5), Fault::status(500)),
        on("GET", &bigp, When::Nth(6), Fault::Corrupt(1000)),
    ]);
    let before = rig.proxy.seen().len();
    let (_d2, s2) = store();
    let p = pull(&s2, &rig.via_proxy("faults/pull:v1"), None, &pull_opts(rig.opts())).unwrap();
    assert_eq!(p.descriptor.digest(), img.digest());
    assert_eq!(p.blobs_fetched, 3);
    let f = s2.fsck().unwrap();
    assert!(f.is_clean(), "{:?}", f.problems);
    assert!(leftovers(&s2).is_empty(), "{:?}", leftovers(&s2));
    let injected = rig.injected_since(before);
    assert_eq!(injected.len(), 10, "{injected:#?}");

    let gets: Vec<Seen> =
        rig.proxy.seen().into_iter().skip(before).filter(|r| r.path().ends_with(&big.digest().to_string())).collect();
    let offsets: Vec<Option<u64>> = gets.iter().map(|g| offset(&g.range)).collect();
    eprintln!("big blob GETs: {offsets:?}");
    // After the cut and the stalled body: range requests from where it stopped.
    assert_eq!(offsets[0], Some(0));
    assert!(offsets[1].is_some_and(|o| o > 0 && o <= 3 * MIB), "{offsets:?}");
    assert!(offsets[2].is_some_and(|o| o > offsets[1].unwrap() && o <= offsets[1].unwrap() + 2 * MIB), "{offsets:?}");
    // The corrupted answer was thrown away whole: the last GET starts at 0.
    assert_eq!(*offsets.last().unwrap(), Some(0), "{offsets:?}");
    let retries = rig.retries.lock().unwrap().clone();
    assert!(
        retries
            .iter()
            .any(|(doing, delay, _)| doing.contains(&big.digest().to_string()) && *delay == Duration::from_secs(1)),
        "the Retry-After of the blob's 503 was honoured: {retries:#?}"
    );
    assert!(retries.iter().any(|(_, _, e)| e.contains("corrupt")), "{retries:#?}");
    injected.len()
}

/// Push in chunks: a chunk reset before it reached the registry, a 429
/// with `Retry-After` and a 500 on others, a failed status query, a lost
/// answer to the final PUT, a reset blob check, a 503 on the upload's
/// start, a 502 on the manifest.
fn chunked_push_scenario(rig: &Rig) -> usize {
    let (_d, s) = store();
    let small = testutil::random_tar_layer(&s, "small.bin", 30_000, 70);
    let big = testutil::random_tar_layer(&s, "big.bin", 13 * MIB, 71);
    let img = testutil::image(&s, "app", &[small.clone(), big.clone()]);
    // Requests in order (one blob at a time): config, small, big.
    rig.proxy.set_plan(vec![
        on("HEAD", "/v2/*/blobs/*", When::Nth(1), Fault::Reset),
        on("POST", "/v2/*/blobs/uploads/", When::Nth(1), Fault::status(503)),
        on("PATCH", "/v2/*/blobs/uploads/*", When::Nth(3), Fault::Reset),
        on("PATCH", "/v2/*/blobs/uploads/*", When::Nth(5), Fault::retry_after(429, 1)),
        on("PATCH", "/v2/*/blobs/uploads/*", When::Nth(7), Fault::status(500)),
        on("GET", "/v2/*/blobs/uploads/*", When::Nth(2), Fault::status(503)),
        on("PUT", "/v2/*/blobs/uploads/*", When::Nth(3), Fault::LoseAnswer),
        on("PUT", "/v2/*/manifests/*", When::Nth(1), Fault::status(502)),
    ]);
    let before = rig.proxy.seen().len();
    let rep = push(&s, &img, &[rig.via_proxy("faults/chunked:v1")], &push_opts(rig.opts(), true)).unwrap();
    assert_eq!(rep.digest, *img.digest());
    let injected = rig.injected_since(before);
    assert_eq!(injected.len(), 8, "{injected:#?}");
    eprintln!("chunked push: {rep:?}");
    let seen: Vec<Seen> = rig.proxy.seen().into_iter().skip(before).collect();
    // No byte of any blob went to the registry twice.
    let patched: u64 = seen.iter().filter(|r| r.method == "PATCH").map(|r| r.forwarded).sum();
    let config_size = img_config_size(&s, &img);
    assert_eq!(patched, config_size + small.size() + big.size(), "{seen:#?}");
    assert_eq!((rep.uploads_resumed, rep.uploads_restarted), (3, 0), "{rep:?}");
    assert_eq!(rep.bytes_sent, config_size + small.size() + big.size());
    // The lost answer: the registry had the blob, so it was done (a HEAD
    // after the failure, no new upload for it).
    let lost = seen.iter().position(|r| r.fault == Some(Fault::LoseAnswer)).unwrap();
    assert!(seen[lost + 1..].iter().any(|r| r.method == "HEAD" && r.path().ends_with(&big.digest().to_string())));
    assert!(!seen[lost + 1..].iter().any(|r| r.method == "POST" || r.method == "PATCH"), "{:#?}", &seen[lost..]);
    // The resumed chunks said where they start.
    let ranges: Vec<&str> =
        seen.iter().filter(|r| r.method == "PATCH").filter_map(|r| r.content_range.as_deref()).collect();
    eprintln!("PATCH ranges: {ranges:?}");
    check_direct(rig, "faults/chunked:v1", &img);
    injected.len()
}

/// Push as one request per blob (the default): an upload cut halfway
/// (distribution 2.8 then drops the upload: that blob starts again), a
/// stalled blob check, a 503 with `Retry-After` on an upload's start.
fn streamed_push_scenario(rig: &Rig) -> usize {
    let (_d, s) = store();
    let small = testutil::random_tar_layer(&s, "small.bin", 30_000, 80);
    let big = testutil::random_tar_layer(&s, "big.bin", 10 * MIB, 81);
    let img = testutil::image(&s, "app", &[small.clone(), big.clone()]);
    rig.proxy.set_plan(vec![
        on("HEAD", "/v2/*/blobs/*", When::Nth(2), Fault::Stall(Duration::from_secs(3))),
        on("POST", "/v2/*/blobs/uploads/", When::Nth(2), Fault::retry_after(503, 1)),
        on("PUT", "/v2/*/blobs/uploads/*", When::Nth(3), Fault::CutRequest(3 * MIB)),
    ]);
    let before = rig.proxy.seen().len();
    let rep = push(&s, &img, &[rig.via_proxy("faults/streamed:v1")], &push_opts(rig.opts(), false)).unwrap();
    assert_eq!(rep.digest, *img.digest());
    eprintln!("streamed push: {rep:?}");
    let injected = rig.injected_since(before);
    assert_eq!(injected.len(), 3, "{injected:#?}");
    // The cut upload continued or (distribution 2.8) started again; either
    // way only the big blob's bytes were sent again, and at most once more.
    assert_eq!(rep.uploads_resumed + rep.uploads_restarted, 1, "{rep:?}");
    let total = img_config_size(&s, &img) + small.size() + big.size();
    assert!(rep.bytes_sent >= total && rep.bytes_sent <= total + big.size(), "{rep:?}");
    check_direct(rig, "faults/streamed:v1", &img);
    injected.len()
}

/// The remote step cache: export and import through faults.
fn cache_scenario(rig: &Rig) -> usize {
    use crate::cache::{Key, Record, remote};
    let (_d, s) = store();
    let a = testutil::random_tar_layer(&s, "a.bin", 3 * MIB, 90);
    let b = testutil::random_tar_layer(&s, "b.bin", 200_000, 91);
    let layer = |d: &Descriptor| crate::layer::LayerInfo {
        digest: d.digest().clone(),
        diff_id: d.digest().clone(),
        size: d.size(),
        compression: crate::layer::Compression::None,
    };
    let rec = |vertex: &str, l: &Descriptor| Record {
        vertex: vertex.into(),
        layers: vec![("build".into(), layer(l))],
        vars: None,
        manifest: None,
        data: Default::default(),
    };
    let records = vec![(Key("1".repeat(64)), rec("hello:build", &a)), (Key("2".repeat(64)), rec("world:build", &b))];
    let cache_ref = rig.via_proxy("faults/cache:steps");
    rig.proxy.set_plan(vec![
        on("HEAD", "/v2/*/blobs/*", When::Nth(2), Fault::retry_after(429, 1)),
        on("PUT", "/v2/*/blobs/uploads/*", When::Nth(1), Fault::status(500)),
        on("PUT", "/v2/*/blobs/uploads/*", When::Nth(3), Fault::Reset),
        on("PUT", "/v2/*/manifests/*", When::Nth(1), Fault::Reset),
    ]);
    let before = rig.proxy.seen().len();
    let desc = remote::export(&s, &cache_ref, &records, &rig.opts()).unwrap();
    let mut injected = rig.injected_since(before).len();
    assert_eq!(injected, 4);

    let (_d2, s2) = store();
    let ap = format!("/v2/*/blobs/{}", a.digest());
    rig.proxy.set_plan(vec![
        on("GET", "/v2/*/manifests/*", When::Nth(1), Fault::status(503)),
        on("GET", "/v2/*/blobs/*", When::Nth(1), Fault::Truncate(40)),
        on("GET", &ap, When::Nth(1), Fault::Corrupt(7)),
        on("GET", &ap, When::Nth(2), Fault::Truncate(MIB)),
        on("GET", &ap, When::Nth(3), Fault::retry_after(503, 1)),
    ]);
    let before = rig.proxy.seen().len();
    let cache = remote::RemoteCache::open(&s2, cache_ref.clone(), rig.opts()).unwrap();
    assert_eq!(cache.len(), 2);
    let got = cache.fetch(&s2, &records[0].0).unwrap().expect("the record is in the remote cache");
    assert_eq!(got.vertex, "hello:build");
    assert!(s2.has_blob(a.digest()));
    assert!(s2.fsck().unwrap().is_clean());
    assert!(leftovers(&s2).is_empty());
    let more = rig.injected_since(before).len();
    assert_eq!(more, 5, "{:#?}", rig.injected_since(before));
    injected += more;
    // The exported artifact is what the registry holds.
    if testutil::need("skopeo") {
        let out = std::process::Command::new("skopeo")
            .args(["inspect", "--tls-verify=false", "--raw", &format!("docker://{}/faults/cache:steps", rig.reg.addr)])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(crate::digest::sha256(&out.stdout), *desc.digest());
    }
    injected
}

fn img_config_size(s: &Store, img: &Descriptor) -> u64 {
    let m: oci_spec::image::ImageManifest = s.read_json(img.digest()).unwrap();
    m.config().size()
}

/// The registry itself (no proxy) serves the pushed image whole.
fn check_direct(rig: &Rig, repo: &str, img: &Descriptor) {
    let (_d, fresh) = store();
    let p = pull(&fresh, &rig.direct(repo), None, &pull_opts(testutil::options(Some(&rig.reg), vec![]))).unwrap();
    assert_eq!(p.descriptor.digest(), img.digest());
    assert!(fresh.fsck().unwrap().is_clean());
}

#[test]
fn registry_faults_on_pull_push_and_the_remote_cache_are_survived() {
    let Some(rig) = Rig::start() else { return };
    let started = Instant::now();
    let mut survived = 0;
    for (name, run) in [
        ("pull", pull_scenario as fn(&Rig) -> usize),
        ("chunked push", chunked_push_scenario),
        ("streamed push", streamed_push_scenario),
        ("remote cache", cache_scenario),
    ] {
        let n = run(&rig);
        eprintln!("{name}: {n} faults survived");
        survived += n;
    }
    let injected = rig.proxy.injected().len();
    assert_eq!(survived, injected);
    println!("faults survived: {survived}/{injected} ({:.1} s)", started.elapsed().as_secs_f64());
}

#[test]
fn a_corrupt_blob_is_never_committed_and_the_error_names_registry_and_blob() {
    let Some(rig) = Rig::start() else { return };
    let (_d, s) = store();
    let big = testutil::random_tar_layer(&s, "big.bin", 2 * MIB, 100);
    let img = testutil::image(&s, "app", std::slice::from_ref(&big));
    push(&s, &img, &[rig.direct("faults/corrupt:v1")], &push_opts(testutil::options(Some(&rig.reg), vec![]), false))
        .unwrap();
    rig.proxy.set_plan(vec![on("GET", &format!("/v2/*/blobs/{}", big.digest()), When::Every, Fault::Corrupt(12345))]);
    let (_d2, s2) = store();
    let mut o = rig.opts();
    o.retry.attempts = 3;
    let e = pull(&s2, &rig.via_proxy("faults/corrupt:v1"), None, &pull_opts(o)).unwrap_err();
    let msg = e.to_string();
    eprintln!("always corrupt: {msg}");
    assert!(matches!(e, RegistryError::DigestMismatch { .. }), "{msg}");
    assert!(
        msg.contains(&rig.proxy.addr) && msg.contains(&big.digest().to_string()) && msg.contains("3 attempts"),
        "{msg}"
    );
    assert!(!s2.has_blob(big.digest()));
    assert!(leftovers(&s2).is_empty(), "{:?}", leftovers(&s2));
    assert!(s2.fsck().unwrap().is_clean());
    let n = rig.proxy.injected().len();
    assert_eq!(n, 3);
    println!("corrupt answers refused: {n}/{n}");
}

#[test]
fn a_spent_retry_budget_names_the_registry_the_blob_and_what_happened() {
    let Some(rig) = Rig::start() else { return };
    let (_d, s) = store();
    let small = testutil::random_tar_layer(&s, "small.bin", 30_000, 110);
    let big = testutil::random_tar_layer(&s, "big.bin", 9 * MIB, 111);
    let img = testutil::image(&s, "app", &[small.clone(), big.clone()]);
    push(&s, &img, &[rig.direct("faults/budget:v1")], &push_opts(testutil::options(Some(&rig.reg), vec![]), false))
        .unwrap();
    let bigp = format!("/v2/*/blobs/{}", big.digest());
    let mut o = rig.opts();
    o.retry.attempts = 3;

    // 503 with Retry-After on every try: waited out as asked, then an error.
    rig.proxy.set_plan(vec![on("GET", &bigp, When::Every, Fault::retry_after(503, 1))]);
    let (_d2, s2) = store();
    let t = Instant::now();
    let e = pull(&s2, &rig.via_proxy("faults/budget:v1"), None, &pull_opts(o.clone())).unwrap_err().to_string();
    eprintln!("503 every time: {e}");
    assert!(t.elapsed() >= Duration::from_secs(2), "two waits of the asked 1 s: {:?}", t.elapsed());
    for part in [rig.proxy.addr.as_str(), big.digest().as_ref(), "503", "gave up after 3 attempts"] {
        assert!(e.contains(part), "'{part}' missing from: {e}");
    }

    // A Retry-After past what strata waits: said so.
    rig.proxy.set_plan(vec![on("GET", &bigp, When::Every, Fault::retry_after(429, 100))]);
    let t = Instant::now();
    let e = pull(&s2, &rig.via_proxy("faults/budget:v1"), None, &pull_opts(o.clone())).unwrap_err().to_string();
    eprintln!("429 asking for 100 s: {e}");
    assert!(t.elapsed() < Duration::from_secs(30));
    assert!(e.contains("429") && e.contains("retried after 100 s") && e.contains(&big.digest().to_string()), "{e}");

    // A stalled registry: the timeout, named.
    rig.proxy.set_plan(vec![on("GET", &bigp, When::Every, Fault::Stall(Duration::from_secs(4)))]);
    let e = pull(&s2, &rig.via_proxy("faults/budget:v1"), None, &pull_opts(o.clone())).unwrap_err().to_string();
    eprintln!("stalled every time: {e}");
    assert!(e.contains(&rig.proxy.addr) && e.contains(&big.digest().to_string()) && e.contains("3 attempts"), "{e}");
    assert!(!s2.has_blob(big.digest()) && leftovers(&s2).is_empty());

    // A push whose big blob's chunks are always reset: an error naming it;
    // the next push (faults gone) sends only that blob.
    rig.proxy.set_plan(vec![on("PATCH", "/v2/*/blobs/uploads/*", When::Every, Fault::Reset)]);
    let dest = rig.via_proxy("faults/budget-push:v1");
    let e = push(&s, &img, std::slice::from_ref(&dest), &push_opts(o.clone(), true)).unwrap_err();
    let msg = e.to_string();
    eprintln!("chunks always reset: {msg}");
    assert!(matches!(e, RegistryError::Unreachable { .. }), "{msg}");
    assert!(msg.contains(&rig.proxy.addr) && msg.contains("uploading blob") && msg.contains("3 attempts"), "{msg}");
    rig.proxy.set_plan(vec![]);
    let rep = push(&s, &img, &[dest], &push_opts(o, true)).unwrap();
    assert_eq!(rep.digest, *img.digest());
    assert_eq!((rep.blobs_uploaded, rep.blobs_present), (3, 0), "nothing finished before: {rep:?}");
    let n = rig.proxy.injected().len();
    println!("retry budgets spent with a clear error: 4/4 ({n} faults injected)");
}

#[test]
fn a_push_interrupted_after_some_blobs_sends_only_the_rest() {
    let Some(rig) = Rig::start() else { return };
    let (_d, s) = store();
    let small = testutil::random_tar_layer(&s, "small.bin", 30_000, 120);
    let big = testutil::random_tar_layer(&s, "big.bin", 9 * MIB, 121);
    let img = testutil::image(&s, "app", &[small.clone(), big.clone()]);
    let dest = rig.via_proxy("faults/resume:v1");
    let mut o = rig.opts();
    o.retry.attempts = 2;
    // One blob at a time: config and small go up; every request of the big
    // blob's upload from then on is reset.
    rig.proxy.set_plan(vec![on("PUT", "/v2/*/blobs/uploads/*", When::From(3), Fault::Reset)]);
    let e = push(&s, &img, std::slice::from_ref(&dest), &push_opts(o.clone(), false)).unwrap_err().to_string();
    eprintln!("big blob's uploads reset: {e}");
    assert!(e.contains(&big.digest().to_string()) && e.contains(&rig.proxy.addr), "{e}");
    assert!(rig.reg.has_blob(small.digest()) && !rig.reg.has_blob(big.digest()));
    rig.proxy.set_plan(vec![]);
    let before = rig.proxy.seen().len();
    let rep = push(&s, &img, &[dest], &push_opts(o, false)).unwrap();
    assert_eq!((rep.blobs_present, rep.blobs_uploaded, rep.bytes_sent), (2, 1, big.size()), "{rep:?}");
    let seen: Vec<Seen> = rig.proxy.seen().into_iter().skip(before).collect();
    assert_eq!(seen.iter().filter(|r| r.method == "POST").count(), 1, "one upload, the big blob's: {seen:#?}");
    let n = rig.proxy.injected().len();
    println!("finished blobs sent again after {n} faults: 0 of 2");
}
