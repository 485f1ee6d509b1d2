//! W7 (bench/WORKLOADS.md): the overhead of one build step.
//!
//! ```text
//! cargo bench --bench executor      # needs root and runc; says why it skips otherwise
//! ```
//!
//! A step running `true` over the busybox base image, end to end through an
//! executor — mount the snapshots, write the bundle, run, capture the (empty)
//! layer into the store, unmount and clean up — against a bare
//! `runc run` of the very same bundle over the very same overlay mount.
//! One warm-up each, then the median of [`RUNS`], the two interleaved so
//! that machine noise hits both alike. The goal is ≤ 1.5× bare runc. A
//! third line splits the executor's own stages (mount and bundle, runc,
//! unmount, capture and cleanup) to show where the overhead is.
//!
//! Another backend gets its line by passing itself to [`measure_executor`]
//! in `main` (see the comment there). The program prints figures; it never
//! fails on them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use strata::executor::containerd::ContainerdExecutor;
use strata::executor::docker::DockerExecutor;
use strata::executor::{Cancel, Executor, LogSink, RuncExecutor, StepSpec, Stream};
use strata::image::{Image, Platform};
use strata::layer::{Compression, LayerInfo, OutputOptions};
use strata::snapshot;
use strata::store::Store;

const RUNS: usize = 15;
const EPOCH: i64 = 1_700_000_000;

fn main() {
    // `cargo bench` passes `--bench`; anything else is a harness probing
    // this target (`cargo test --all-targets`): do nothing.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    // SAFETY: no preconditions.
    if unsafe { libc::geteuid() } != 0 || Command::new("runc").arg("--version").output().is_err() {
        println!("W7 step overhead: skipped (needs root and runc)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = busybox_store(&dir.path().join("store"));
    let layers = busybox_layers(&store);
    let step = StepSpec::new("w7", layers, vec!["true".into()]);
    let runc = RuncExecutor::new();
    println!("W7: snapshotter {}", runc.snapshot_mode(&store).unwrap());

    // The bare peer: `runc run` of one prepared bundle, over and over.
    let bundle = runc.prepare(&store, &step).unwrap();
    let root = RuncExecutor::runc_root(&store);
    std::fs::create_dir_all(&root).unwrap();
    let mut n = 0;
    let mut bare = || {
        n += 1;
        let t = Instant::now();
        let status = Command::new("runc")
            .arg("--root")
            .arg(&root)
            .args(["run", "--bundle"])
            .arg(bundle.dir())
            .arg(format!("{}-{n}", bundle.id()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "bare runc run failed");
        t.elapsed()
    };
    let strata = || run_once(&runc, &store, &step);
    // Warm-up, then interleaved runs.
    bare();
    strata();
    let (mut b, mut s) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        b.push(bare());
        s.push(strata());
    }
    drop(bundle);
    let (b, s) = (median(b), median(s));
    report("runc executor", s, b);
    phases(&runc, &store, &step);

    // Docker and Podman through their API sockets (the input image is loaded
    // once, in the warm-up; the layer is captured from the upper dir).
    for (what, exec) in [("docker executor", DockerExecutor::docker()), ("podman executor", DockerExecutor::podman())] {
        match exec.check() {
            Ok(()) => report(what, measure_executor(&exec, &store, &step), b),
            Err(e) => println!("W7 step overhead: {what} skipped: {e}"),
        }
    }

    // containerd through its API (chain and init snapshots made in the warm-up).
    match ContainerdExecutor::with_defaults().and_then(|e| e.ping().map(|()| e)) {
        Ok(exec) => report("containerd executor", measure_executor(&exec, &store, &step), b),
        Err(e) => println!("W7 step overhead: containerd executor skipped: {e}"),
    }
}

/// Median time of one step through `exec`, end to end, after a warm-up.
pub fn measure_executor(exec: &dyn Executor, store: &Store, step: &StepSpec) -> Duration {
    run_once(exec, store, step);
    median((0..RUNS).map(|_| run_once(exec, store, step)).collect())
}

/// One step: run, capture its layer, clean up (the changes' guard).
fn run_once(exec: &dyn Executor, store: &Store, step: &StepSpec) -> Duration {
    let t = Instant::now();
    let mut sink = NullLog(store.root().join("strata/logs/w7.log"));
    let execution = exec.run(store, step, &mut sink, &Cancel::new()).unwrap();
    assert_eq!(execution.exit_code, 0);
    let layer = snapshot::capture(store, execution.changes, &OutputOptions::new(Compression::Gzip, EPOCH)).unwrap();
    let elapsed = t.elapsed();
    assert!(layer.size > 0);
    elapsed
}

/// Where the runc executor's time goes: the same stages as
/// `RuncExecutor::run`, timed one by one (medians).
fn phases(runc: &RuncExecutor, store: &Store, step: &StepSpec) {
    let root = RuncExecutor::runc_root(store);
    let mut t: [Vec<Duration>; 4] = Default::default();
    for i in 0..RUNS {
        let mut lap = Instant::now();
        let mut next = |k: usize, t: &mut [Vec<Duration>; 4]| {
            t[k].push(lap.elapsed());
            lap = Instant::now();
        };
        let bundle = runc.prepare(store, step).unwrap();
        next(0, &mut t);
        let status = Command::new("runc")
            .arg("--root")
            .arg(&root)
            .args(["run", "--bundle"])
            .arg(bundle.dir())
            .arg(format!("{}-p{i}", bundle.id()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .unwrap()
            .status;
        assert!(status.success());
        next(1, &mut t);
        let changes = bundle.into_changes().unwrap();
        next(2, &mut t);
        let written = snapshot::capture(store, changes, &OutputOptions::new(Compression::Gzip, EPOCH)).unwrap();
        next(3, &mut t);
        assert!(written.size > 0);
    }
    let ms = |v: &Vec<Duration>| median(v.clone()).as_secs_f64() * 1000.0;
    println!(
        "W7 phases (median ms): mount + bundle {:.1}, runc run {:.1}, unmount {:.1}, capture + cleanup {:.1}",
        ms(&t[0]),
        ms(&t[1]),
        ms(&t[2]),
        ms(&t[3]),
    );
}

fn report(what: &str, strata: Duration, bare: Duration) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "W7 step overhead: {what} {:.1} ms, bare runc run {:.1} ms, ratio {:.2} (goal <= 1.5)",
        ms(strata),
        ms(bare),
        ms(strata) / ms(bare)
    );
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// A sink that keeps nothing: `true` prints nothing anyway.
struct NullLog(PathBuf);

impl LogSink for NullLog {
    fn write(&mut self, _: Stream, _: &[u8]) {}
    fn path(&self) -> &Path {
        &self.0
    }
}

fn busybox_store(root: &Path) -> Store {
    let status = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["image", "build", "images/busybox", "--store"])
        .arg(root)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "building the busybox image failed");
    Store::open(root).unwrap()
}

fn busybox_layers(store: &Store) -> Vec<LayerInfo> {
    let image = Image::load_ref(store, "busybox:latest", &Platform::host()).unwrap();
    image
        .layers()
        .map(|(desc, diff_id)| LayerInfo {
            digest: desc.digest().clone(),
            diff_id: diff_id.parse().unwrap(),
            size: desc.size(),
            compression: Compression::from_media_type(desc.media_type()).unwrap(),
        })
        .collect()
}
