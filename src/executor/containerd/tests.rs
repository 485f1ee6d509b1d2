//! Unit tests of the pure parts, then integration tests against a real
//! containerd (root + `/run/containerd/containerd.sock`). Those check for it
//! like `tests/it/support.rs` does: under `CI=true` a missing containerd
//! fails the test, elsewhere the test is skipped with a message.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::*;
use crate::executor::{Network, RuncExecutor};
use crate::layer::{Compression, LayerInfo, OutputOptions};

// ------------------------------------------------------------------ pure parts

#[test]
fn chain_ids_follow_the_image_spec_and_match_containerds_unpacker() {
    // diff_ids of a three-layer image and the snapshot names containerd
    // 1.6 gave them (`docker save | ctr images import`, `ctr snapshots ls`).
    let diff_ids = [
        "sha256:c4e533f886b3493bfb3ca52154b6cc76b677d4806d657c84fd11546351048684",
        "sha256:4988c2926f4d0e01ce8b24673451a883b94db1216c6be9ee1c31195f28106bfd",
        "sha256:79aa16b35fb94fe68b9071c7e7d4dddd895c9479cc251c18c9ff3ed299de51e6",
    ];
    assert_eq!(
        chain_ids(&diff_ids),
        [
            "sha256:c4e533f886b3493bfb3ca52154b6cc76b677d4806d657c84fd11546351048684",
            "sha256:f442cada8a806d2ebd1d19d2209982e0e872ef9f922e66534a8600dd6f020afa",
            "sha256:93ca412da409a9799c0e5cc00968c6ee48535ec2a52dfb926df7d08316dc99e3",
        ]
    );
    assert!(chain_ids::<&str>(&[]).is_empty());
}

#[test]
fn the_spec_travels_under_containerds_type_url() {
    assert_eq!(SPEC_TYPE_URL, "types.containerd.io/opencontainers/runtime-spec/1/Spec");
}

#[test]
fn step_ids_are_valid_containerd_identifiers() {
    for name in ["hello:build", "", "::", "A very long part name with spaces and ünïcode, longer than anything"] {
        let id = step_id(name);
        assert!(is_identifier(&id), "{id:?}");
        assert!(is_identifier(&format!("{id}-extract-12")), "{id:?}");
    }
    assert!(step_id("hello:build").starts_with("strata-hello-build-"));
    assert_ne!(step_id("x"), step_id("x"));
    assert!(!is_identifier("a--b") && !is_identifier("-a") && !is_identifier("a b") && !is_identifier(""));
    assert!(ContainerdExecutor::new(ContainerdConfig { namespace: "no spaces".into(), ..Default::default() }).is_err());
}

#[test]
fn the_upper_dir_comes_from_the_snapshot_mounts() {
    let m = |t: &str, src: &str, opts: &[&str]| CtrMount {
        r#type: t.into(),
        source: src.into(),
        target: String::new(),
        options: opts.iter().map(|s| s.to_string()).collect(),
    };
    let overlay = m("overlay", "overlay", &["index=off", "workdir=/s/6/work", "upperdir=/s/6/fs", "lowerdir=/s/5/fs"]);
    assert_eq!(upper_dir(&[overlay]), Some(PathBuf::from("/s/6/fs")));
    assert_eq!(upper_dir(&[m("bind", "/s/5/fs", &["rw", "rbind"])]), Some(PathBuf::from("/s/5/fs")));
    assert_eq!(upper_dir(&[m("bind", "/s/5/fs", &["ro", "rbind"])]), None);
    assert_eq!(upper_dir(&[]), None);
}

#[test]
fn commands_that_cannot_run_get_dockers_exit_codes() {
    let nf = "failed to create shim task: OCI runtime create failed: runc create failed: unable to start container \
              process: exec: \"nope\": executable file not found in $PATH: unknown";
    assert_eq!(exec_failure_code(nf), Some(127));
    assert_eq!(exec_failure_code("exec: \"/etc\": is a directory"), Some(126));
    assert_eq!(exec_failure_code("cgroup: permission denied"), None);
}

#[test]
fn a_missing_socket_is_unavailable_naming_it_and_how_to_start_containerd() {
    let dir = tempfile::tempdir().unwrap();
    let address = dir.path().join("containerd.sock");
    let exec = ContainerdExecutor::new(ContainerdConfig { address: address.clone(), ..Default::default() }).unwrap();
    let err = exec.ping().unwrap_err();
    assert!(matches!(err, ExecError::Unavailable { backend: "containerd", .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&address.display().to_string()) && msg.contains("start it"), "{msg}");
    // A socket nobody listens on: refused, same error.
    let _l = std::os::unix::net::UnixListener::bind(&address).map(drop);
    let err = exec.ping().unwrap_err();
    assert!(matches!(err, ExecError::Unavailable { .. }), "{err:?}");
}

// ------------------------------------------------------------------ against containerd

const NS: &str = "strata-test";
const EPOCH: i64 = 1_700_000_000;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Whether `check` (a shell command) succeeds; under CI a failure panics.
#[must_use]
fn require(what: &str, check: &str) -> bool {
    let ok = Command::new("sh").arg("-c").arg(check).output().is_ok_and(|o| o.status.success());
    if !ok {
        assert!(!in_ci(), "{what} is required under CI=true but `{check}` failed; run .ci/setup");
        eprintln!("skipping: {what} is not available (`{check}` failed); .ci/setup starts it");
    }
    ok
}

fn require_containerd() -> bool {
    require("root and a running containerd", &format!("[ $(id -u) = 0 ] && ctr --address {DEFAULT_ADDRESS} version"))
}

/// A store with the busybox base image, built once per test run.
fn base() -> &'static (PathBuf, Vec<LayerInfo>) {
    static BASE: OnceLock<(PathBuf, Vec<LayerInfo>)> = OnceLock::new();
    BASE.get_or_init(|| {
        // A static is never dropped: the dir is named by pid, and each run
        // removes those of test processes that are gone.
        let tmp = std::env::temp_dir();
        for e in fs::read_dir(&tmp).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix("strata-containerd-test-")
                && !Path::new("/proc").join(pid).exists()
            {
                let _ = fs::remove_dir_all(e.path());
            }
        }
        let dir = tmp.join(format!("strata-containerd-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let store = Store::open(dir.join("store")).unwrap();
        let recipe = Path::new(env!("CARGO_MANIFEST_DIR")).join("images/busybox");
        let desc = crate::ops::image::build(&store, &recipe, None, Compression::Gzip, &mut std::io::sink()).unwrap();
        let image = crate::image::Image::load(&store, &desc, &crate::image::Platform::host()).unwrap();
        let layers = image
            .layers()
            .map(|(d, diff_id)| LayerInfo {
                digest: d.digest().clone(),
                diff_id: diff_id.parse().unwrap(),
                size: d.size(),
                compression: Compression::from_media_type(d.media_type()).unwrap(),
            })
            .collect();
        (dir.join("store"), layers)
    })
}

fn store() -> Store {
    Store::open(&base().0).unwrap()
}

fn executor() -> ContainerdExecutor {
    ContainerdExecutor::new(ContainerdConfig { namespace: NS.into(), ..Default::default() }).unwrap()
}

/// A step over busybox with a name unique to this test run.
fn step(test: &str, script: &str) -> StepSpec {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let mut s = StepSpec::new(
        format!("ctrtest {test} {nanos:x}"),
        base().1.clone(),
        vec!["sh".into(), "-c".into(), script.into()],
    );
    s.env.push(format!("SOURCE_DATE_EPOCH={EPOCH}"));
    s
}

/// A log sink that keeps everything in memory, and in a file.
struct Sink {
    path: PathBuf,
    _dir: tempfile::TempDir,
    chunks: Vec<(Stream, Vec<u8>)>,
}

impl Sink {
    fn new() -> Sink {
        let dir = tempfile::tempdir().unwrap();
        Sink { path: dir.path().join("step.log"), _dir: dir, chunks: Vec::new() }
    }

    fn text(&self, stream: Stream) -> String {
        let bytes: Vec<u8> = self.chunks.iter().filter(|c| c.0 == stream).flat_map(|c| c.1.clone()).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl LogSink for Sink {
    fn write(&mut self, stream: Stream, chunk: &[u8]) {
        self.chunks.push((stream, chunk.to_vec()));
        use std::io::Write;
        let mut f = fs::OpenOptions::new().create(true).append(true).open(&self.path).unwrap();
        f.write_all(chunk).unwrap();
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

fn sh(cmd: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    assert!(out.status.success(), "`{cmd}` failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every container, task, snapshot or lease in the test namespace whose
/// name has the step's id in it (as `ctr` lists them).
fn leftovers(step: &StepSpec) -> Vec<String> {
    let slug = step_id(&step.name);
    let slug = &slug[..slug.len() - 9]; // without the counter and time
    let slug = &slug[..slug.rfind('-').unwrap()];
    let mut out = Vec::new();
    for what in ["containers ls -q", "tasks ls", "snapshots ls", "leases ls -q"] {
        for line in sh(&format!("ctr -n {NS} {what}")).lines() {
            if line.contains(slug) {
                out.push(format!("{what}: {line}"));
            }
        }
    }
    out
}

fn run(exec: &dyn Executor, step: &StepSpec) -> (Result<Execution, ExecError>, Sink) {
    let mut sink = Sink::new();
    let r = exec.run(&store(), step, &mut sink, &Cancel::new());
    (r, sink)
}

fn layer_of(changes: Changes) -> LayerInfo {
    crate::snapshot::capture(&store(), changes, &OutputOptions::new(Compression::Gzip, EPOCH)).unwrap()
}

fn upper(e: &Execution) -> &Path {
    match &e.changes {
        Changes::UpperDir { path, .. } => path,
        Changes::DiffTar { .. } => panic!("expected an upper dir"),
    }
}

#[test]
fn echo_to_a_file_streams_the_log_and_captures_only_the_change() {
    if !require_containerd() {
        return;
    }
    let exec = executor();
    let s = step("echo", "echo hello; echo oops >&2; echo hi > /out.txt");
    let (r, sink) = run(&exec, &s);
    let e = r.unwrap();
    assert_eq!(e.exit_code, 0);
    assert_eq!(sink.text(Stream::Stdout), "hello\n");
    assert_eq!(sink.text(Stream::Stderr), "oops\n");
    assert_eq!(fs::read_to_string(&e.log).unwrap().lines().count(), 2);
    let up = upper(&e);
    assert_eq!(fs::read_to_string(up.join("out.txt")).unwrap(), "hi\n");
    // Mount points the runtime needed live in the init snapshot, not here.
    let names: Vec<String> = fs::read_dir(up).unwrap().map(|d| d.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(names, ["out.txt"], "the upper dir holds only the step's change");
    assert!(!leftovers(&s).is_empty(), "the active snapshot and lease live until the changes are captured");
    let layer = layer_of(e.changes);
    // (containerd deletes the snapshot's directory itself at its next GC.)
    assert_eq!(leftovers(&s), Vec::<String>::new(), "nothing of the step is left in containerd");
    assert!(store().has_blob(&layer.digest));
}

#[test]
fn deleting_from_the_base_leaves_a_whiteout() {
    if !require_containerd() {
        return;
    }
    let s = step("whiteout", "rm /etc/passwd");
    let (r, _) = run(&executor(), &s);
    let e = r.unwrap();
    assert_eq!(e.exit_code, 0);
    let md = fs::symlink_metadata(upper(&e).join("etc/passwd")).unwrap();
    assert!(md.file_type().is_char_device() && md.rdev() == 0, "a 0/0 char device: {md:?}");
    drop(e);
    assert_eq!(leftovers(&s), Vec::<String>::new());
}

#[test]
fn a_failing_command_reports_its_exit_code_and_log() {
    if !require_containerd() {
        return;
    }
    let s = step("fail", "echo before failing >&2; exit 3");
    let (r, sink) = run(&executor(), &s);
    let e = r.unwrap();
    assert_eq!(e.exit_code, 3);
    assert_eq!(sink.text(Stream::Stderr), "before failing\n");
    let err = e.success(&s.name).unwrap_err();
    assert!(err.to_string().contains("exit code 3") && err.tail.contains("before failing"), "{err}");
    assert_eq!(leftovers(&s), Vec::<String>::new());

    let mut s = step("notfound", "");
    s.argv = vec!["/no/such/command".into()];
    let (r, sink) = run(&executor(), &s);
    let e = r.unwrap();
    assert_eq!(e.exit_code, 127, "{}", sink.text(Stream::Stderr));
    assert!(sink.text(Stream::Stderr).contains("no such file"), "{}", sink.text(Stream::Stderr));
    drop(e);
    assert_eq!(leftovers(&s), Vec::<String>::new());
}

#[test]
fn a_timeout_kills_the_step_and_leaves_nothing_behind() {
    if !require_containerd() {
        return;
    }
    let mut s = step("timeout", "echo started; sleep 60");
    s.timeout = Some(Duration::from_secs(1));
    let t = Instant::now();
    let (r, sink) = run(&executor(), &s);
    let err = r.unwrap_err();
    assert!(matches!(err, ExecError::TimedOut { after, .. } if after == Duration::from_secs(1)), "{err:?}");
    assert!(t.elapsed() < Duration::from_secs(8), "took {:?}", t.elapsed());
    assert_eq!(sink.text(Stream::Stdout), "started\n");
    assert!(err.to_string().contains(&sink.path.display().to_string()));
    assert_eq!(leftovers(&s), Vec::<String>::new());
}

#[test]
fn cancelling_kills_the_step_and_leaves_nothing_behind() {
    if !require_containerd() {
        return;
    }
    let s = step("cancel", "sleep 60");
    let cancel = Cancel::new();
    let c2 = cancel.clone();
    let t = Instant::now();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        c2.cancel();
    });
    let mut sink = Sink::new();
    let err = executor().run(&store(), &s, &mut sink, &cancel).unwrap_err();
    killer.join().unwrap();
    assert!(matches!(err, ExecError::Cancelled { .. }), "{err:?}");
    assert!(t.elapsed() < Duration::from_secs(8), "took {:?}", t.elapsed());
    assert_eq!(leftovers(&s), Vec::<String>::new());
    // Cancelled before it starts: nothing is even created.
    let err = executor().run(&store(), &s, &mut sink, &cancel).unwrap_err();
    assert!(matches!(err, ExecError::Cancelled { .. }));
}

#[test]
fn layers_are_unpacked_once_into_labelled_chain_snapshots() {
    if !require_containerd() {
        return;
    }
    let exec = executor();
    let (r, _) = run(&exec, &step("chain", "true"));
    drop(r.unwrap());
    let diff_ids: Vec<String> = base().1.iter().map(|l| l.diff_id.to_string()).collect();
    let top = chain_ids(&diff_ids).pop().unwrap();
    let info = sh(&format!("ctr -n {NS} snapshots info {top}"));
    assert!(info.contains(CHAIN_LABEL) && info.contains("containerd.io/gc.root"), "{info}");
    // A second step reuses it (and the init snapshot): no new committed snapshots.
    let count = || sh(&format!("ctr -n {NS} snapshots ls")).lines().filter(|l| l.contains("Committed")).count();
    let before = count();
    let (r, _) = run(&exec, &step("chain again", "true"));
    drop(r.unwrap());
    assert_eq!(count(), before);
}

#[test]
fn errors_mid_step_leave_nothing_behind() {
    if !require_containerd() {
        return;
    }
    // containerd refuses the task: an unknown runtime shim.
    let bad_runtime = ContainerdExecutor::new(ContainerdConfig {
        namespace: NS.into(),
        runtime: "io.containerd.nope.v1".into(),
        ..Default::default()
    })
    .unwrap();
    let s = step("bad runtime", "true");
    let err = run(&bad_runtime, &s).0.unwrap_err();
    assert!(matches!(err, ExecError::Backend { backend: "containerd", .. }), "{err:?}");
    assert!(err.to_string().contains(&s.name), "{err}");
    assert_eq!(leftovers(&s), Vec::<String>::new());
    // runc refuses the container: a bind mount of a missing source.
    let mut s = step("bad mount", "true");
    s.mounts.push(crate::executor::Mount::Bind {
        source: "/nonexistent/strata-test".into(),
        destination: "/mnt/x".into(),
        read_only: true,
    });
    let err = run(&executor(), &s).0.unwrap_err();
    assert!(matches!(err, ExecError::Backend { .. }), "{err:?}");
    assert_eq!(leftovers(&s), Vec::<String>::new());
    // A layer strata's store does not have.
    let mut s = step("missing blob", "true");
    let mut missing = s.layers[0].clone();
    missing.diff_id = crate::digest::sha256(b"not a layer");
    missing.digest = crate::digest::sha256(b"not a blob");
    s.layers.push(missing);
    let err = run(&executor(), &s).0.unwrap_err();
    assert!(matches!(err, ExecError::Store(_)), "{err:?}");
    assert_eq!(leftovers(&s), Vec::<String>::new());
}

#[test]
fn steps_run_in_parallel_through_one_executor() {
    if !require_containerd() {
        return;
    }
    let exec = executor();
    let steps: Vec<StepSpec> =
        (0..4).map(|i| step(&format!("parallel {i}"), &format!("echo {i} > /n; sleep 0.3"))).collect();
    let t = Instant::now();
    let layers: Vec<LayerInfo> = std::thread::scope(|sc| {
        let handles: Vec<_> = steps.iter().map(|s| sc.spawn(|| layer_of(run(&exec, s).0.unwrap().changes))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(t.elapsed() < Duration::from_secs(4), "ran one at a time? {:?}", t.elapsed());
    let distinct: std::collections::HashSet<_> = layers.iter().map(|l| l.digest.clone()).collect();
    assert_eq!(distinct.len(), 4);
    for s in &steps {
        assert_eq!(leftovers(s), Vec::<String>::new());
    }
}

/// The runc backend's layer for `s`, if runc can run here.
fn runc_layer(s: &StepSpec) -> Option<(i32, LayerInfo)> {
    if !require("runc", "runc --version") {
        return None;
    }
    let (r, _) = run(&RuncExecutor::new(), s);
    let e = r.unwrap();
    Some((e.exit_code, layer_of(e.changes)))
}

#[test]
fn layers_match_the_runc_backend_byte_for_byte() {
    if !require_containerd() {
        return;
    }
    let exec = executor();
    let cases: [(&str, &str, &str, &str); 4] = [
        ("write", "0:0", "/", "mkdir -p /a/b && echo x > /a/b/f && ln -s f /a/b/l && ln /a/b/f /a/b/h"),
        (
            "delete",
            "0:0",
            "/",
            "rm -rf /etc/passwd /bin/ls && mkdir /etc2 && rm -rf /tmp && mkdir /tmp && touch /tmp/x",
        ),
        ("workdir", "1000:1000", "/root/parts/p/build", "echo built > out"),
        ("host network", "0:0", "/tmp", "chmod 4755 /bin/busybox; echo net > n"),
    ];
    for (name, user, cwd, script) in cases {
        let mut s = step(name, script);
        s.user = user.into();
        s.cwd = cwd.into();
        if name == "host network" {
            s.network = Network::Host;
        }
        let (r, sink) = run(&exec, &s);
        let e = r.unwrap();
        assert_eq!(e.exit_code, 0, "{name}: {}", sink.text(Stream::Stderr));
        let ours = layer_of(e.changes);
        if let Some((code, theirs)) = runc_layer(&s) {
            assert_eq!(code, 0);
            assert_eq!(ours.diff_id, theirs.diff_id, "{name}: same tar as the runc backend");
            assert_eq!(ours.digest, theirs.digest, "{name}: same blob as the runc backend");
        }
        assert_eq!(leftovers(&s), Vec::<String>::new());
    }
}

#[test]
fn the_diff_service_capture_gives_the_same_layer() {
    if !require_containerd() {
        return;
    }
    let via_upper = executor();
    let via_diff = ContainerdExecutor::new(ContainerdConfig {
        namespace: NS.into(),
        capture: Capture::DiffService,
        ..Default::default()
    })
    .unwrap();
    let s = step("diff service", "mkdir -p /x/y && echo z > /x/y/z && rm /etc/group && chmod 700 /tmp");
    let (r, _) = run(&via_diff, &s);
    let e = r.unwrap();
    assert!(matches!(e.changes, Changes::DiffTar { .. }));
    assert_eq!(leftovers(&s), Vec::<String>::new(), "the diff service path releases everything before returning");
    let from_diff = layer_of(e.changes);
    let (r, _) = run(&via_upper, &s);
    let from_upper = layer_of(r.unwrap().changes);
    assert_eq!(from_diff.digest, from_upper.digest);
}

#[test]
fn a_step_without_layers_runs_on_an_empty_root() {
    if !require_containerd() {
        return;
    }
    // Nothing to run in an empty root: the exec failure is the step's, 127.
    let mut s = step("empty", "");
    s.layers.clear();
    s.argv = vec!["/bin/sh".into()];
    let (r, _) = run(&executor(), &s);
    let e = r.unwrap();
    assert_eq!(e.exit_code, 127);
    drop(e);
    assert_eq!(leftovers(&s), Vec::<String>::new());
}

#[test]
fn prune_removes_unused_snapshots_in_its_namespace() {
    if !require_containerd() {
        return;
    }
    let ns = "strata-test-prune";
    let exec = ContainerdExecutor::new(ContainerdConfig { namespace: ns.into(), ..Default::default() }).unwrap();
    let (r, _) = run(&exec, &step("prune", "true"));
    drop(r.unwrap());
    assert!(sh(&format!("ctr -n {ns} snapshots ls")).lines().count() > 1);
    assert!(exec.prune().unwrap() >= 2, "the chain and the init snapshot");
    assert_eq!(sh(&format!("ctr -n {ns} snapshots ls")).lines().count(), 1, "only the header is left");
    remove_namespace(ns);
}

#[test]
fn prune_leftovers_removes_a_killed_steps_lease_snapshot_and_container_and_nothing_of_a_live_one() {
    if !require_containerd() {
        return;
    }
    let ns = "strata-test-leftovers";
    let exec = ContainerdExecutor::new(ContainerdConfig { namespace: ns.into(), ..Default::default() }).unwrap();
    let conn = exec.conn().unwrap();
    let host = crate::executor::owner().rsplit_once('/').unwrap().0.to_owned();
    let far = rfc3339(SystemTime::now() + Duration::from_secs(3600));
    let labels = |owner: &str| {
        HashMap::from([("containerd.io/gc.expire".to_owned(), far.clone()), (OWNER_LABEL.to_owned(), owner.to_owned())])
    };
    // What a step of a process that is gone leaves, made as `run` makes it:
    // its lease, its active snapshot and an extraction snapshot inside the
    // lease, its container.
    let dead = "strata-killed-step-4294967295-0-0000abcd";
    let dead_owner = format!("{host}/4294967295");
    // A step of this (live) process, and a lease without an owner (an older strata's).
    let live = step_id("live step");
    let unowned = "strata-unowned-1-0-0000abcd";
    exec.client
        .block_on(async {
            conn.create_lease(dead, labels(&dead_owner)).await?;
            let in_dead = conn.with_lease(dead);
            in_dead.prepare(dead, None).await?;
            in_dead.prepare(&format!("{dead}-extract-0"), None).await?;
            let spec = prost_types::Any { type_url: SPEC_TYPE_URL.to_owned(), value: b"{}".to_vec() };
            let container_labels = HashMap::from([
                (STEP_LABEL.to_owned(), "killed:step".to_owned()),
                (OWNER_LABEL.to_owned(), dead_owner),
            ]);
            in_dead.create_container(dead, DEFAULT_RUNTIME, spec, dead, container_labels).await?;
            conn.create_lease(&live, labels(&crate::executor::owner())).await?;
            conn.with_lease(&live).prepare(&live, None).await?;
            conn.create_lease(unowned, HashMap::from([("containerd.io/gc.expire".to_owned(), far.clone())])).await
        })
        .unwrap();

    let r = exec.prune_leftovers().unwrap();
    assert_eq!(r, LeftoverReport { containers: 1, leases: 1, snapshots: 2, in_use: 2 });
    let names = |what: &str| sh(&format!("ctr -n {ns} {what}"));
    assert!(!names("leases ls -q").contains(dead) && !names("snapshots ls").contains(dead));
    assert!(!names("containers ls -q").contains(dead));
    assert!(names("leases ls -q").contains(&live) && names("snapshots ls").contains(&live), "a live step's stay");
    assert!(names("leases ls -q").contains(unowned), "without an owner label nothing tells it is gone");
    assert_eq!(exec.prune_leftovers().unwrap(), LeftoverReport { in_use: 2, ..Default::default() });

    exec.client
        .block_on(async {
            conn.remove_snapshot(&live).await?;
            conn.delete_lease(&live).await?;
            conn.delete_lease(unowned).await
        })
        .unwrap();
    remove_namespace(ns);
}

#[test]
fn prune_leaves_the_snapshots_a_lease_holds() {
    if !require_containerd() {
        return;
    }
    let ns = "strata-test-prune-held";
    let exec = ContainerdExecutor::new(ContainerdConfig { namespace: ns.into(), ..Default::default() }).unwrap();
    let (r, _) = run(&exec, &step("prune-held", "true"));
    drop(r.unwrap());
    let conn = exec.conn().unwrap();
    // A step starting now holds the stack it builds on in its lease.
    let chain = chain_ids(&base().1.iter().map(|l| l.diff_id.to_string()).collect::<Vec<_>>());
    let top = chain.last().unwrap().clone();
    let lease = step_id("holder");
    let held = conn.with_lease(&lease);
    exec.client
        .block_on(async {
            conn.create_lease(&lease, HashMap::new()).await?;
            held.lease_add(&format!("snapshots/{}", conn.snapshotter), &top).await
        })
        .unwrap();
    exec.prune().unwrap();
    assert!(sh(&format!("ctr -n {ns} snapshots ls")).contains(&top), "held by a lease: kept");
    exec.client.block_on(conn.delete_lease(&lease)).unwrap();
    assert!(exec.prune().unwrap() >= 1);
    assert!(!sh(&format!("ctr -n {ns} snapshots ls")).contains(&top));
    remove_namespace(ns);
}

/// Removes a test namespace, retrying for a while: containerd collects the
/// content a deleted lease held in the background, and refuses to remove a
/// namespace that still has any.
fn remove_namespace(ns: &str) {
    for _ in 0..50 {
        if Command::new("ctr").args(["namespaces", "rm", ns]).output().is_ok_and(|o| o.status.success()) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
