//! W1, W2, W3 and W6 of bench/WORKLOADS.md: whole builds, `strata build`
//! against `buildah bud --layers --isolation chroot` and docker's classic
//! builder (`DOCKER_BUILDKIT=0 docker build`), in the same run, from the
//! same inputs, on the same Debian base.
//!
//! ```text
//! cargo bench --bench build                        # W2 W1 W3 W6 (needs root, runc; peers if present)
//! cargo bench --bench build -- W2 W6               # a subset (or STRATA_BENCH_ONLY=W2,W6)
//! cargo bench --bench build -- W6R                 # W6 through BuildGrid (only when named)
//! cargo bench --bench build -- WA                  # what attestations add to hello-make
//! cargo bench --bench build -- WS                  # the spk examples against a Containerfile
//! cargo bench --bench build -- W9                  # Guix hello and m4, an edited last phase (only when named)
//! STRATA_BENCH_RUNS=3 cargo bench --bench build    # samples per figure (default 5, after one warm-up)
//! STRATA_BENCH_PEERS=buildah cargo bench --bench build   # which peers (default buildah,docker)
//! cargo bench --bench build -- --write-projects DIR      # only write the projects into DIR
//! ```
//!
//! - **W2 cold build** of the 5-step project: strata into a fresh store
//!   that holds only the base image (its blobs and its unpacked snapshot,
//!   as the peers have it), against both peers with `--no-cache`.
//! - **W1 cached rebuild**: the same project rebuilt with nothing changed,
//!   each tool with its own warm cache (store).
//! - **W3 incremental**: one file of one part changed, then rebuilt; once
//!   for a file of part `a` (the peers' first COPY) and once for part `b`
//!   (their last part). Prints the steps strata ran.
//! - **W6 many parts**: a generated project of 100 parts × 10 files
//!   (`common/project.rs`): `strata plan` time (n/a until the command
//!   exists), cold build and cached rebuild, against the peers building a
//!   Containerfile of 100 COPY+RUN pairs.
//! - **W6R remote**, only when asked for: W6 through a BuildGrid farm
//!   served by two and three `strata worker` bots, against the local runc
//!   worker (`build/remote.rs`).
//! - **WA attestations**: hello-make cold and cached, with `--sbom=false`
//!   and with the SBOMs and provenance strata attaches by default
//!   (`build/attest.rs`).
//! - **WS spk**: the two spk examples, a C library and a program using it
//!   from the store, cold and cached, against a multi-stage Containerfile
//!   doing the same compiles (`build/spk.rs`).
//! - **W9 Guix phases**, only when asked for: hello and m4 from the shared
//!   Guix definitions with a phase added at the end, cold, then rebuilt
//!   with that phase edited, against a Containerfile of one RUN per phase
//!   (`build/guix.rs`).
//!
//! strata and the peers alternate (one warm-up round, then the median of
//! `STRATA_BENCH_RUNS` rounds) so that machine noise hits all alike. A
//! strata build is the whole `strata build` process, release binary, runc
//! executor (the default), gzip layers; its stdout is timestamped line by
//! line to split the time into the lifecycle's phases. Every figure is
//! measured as the step cache would meet it — a fresh store for cold
//! builds, the same store for rebuilds — so nothing here changes when the
//! cache lands: the rebuild lines just drop.
//!
//! The base is `debian:bookworm` built from `images/debian-bookworm` into
//! `target/bench-data/build/base-store` (once; `STRATA_ROOTFS_CACHE`
//! defaults to CI's rootfs cache), imported into docker as
//! `strata-bench/debian:bookworm` (`strata image export`) and into a
//! private buildah storage under `target/bench-data/build/buildah`
//! (`skopeo copy`). Every image a peer builds here is named
//! `strata-bench/…` and removed at the end; the shared docker daemon keeps
//! only the base.
//!
//! The program prints figures; it never fails on them. It checks, once per
//! project, that strata's image holds the files the peers' images hold in
//! `/root/stage` (same paths, modes and bytes) and says so.

#[path = "build/attest.rs"]
mod attest;
#[path = "common/buildgrid.rs"]
mod buildgrid;
#[path = "build/guix.rs"]
mod guix;
#[path = "common/project.rs"]
mod project;
#[path = "build/remote.rs"]
mod remote;
#[path = "build/spk.rs"]
mod spk;
#[path = "common/tree.rs"]
mod tree;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sha2::{Digest as _, Sha256};
use strata::image::{Image, Platform};
use strata::store::Store;

const DEFAULT_RUNS: usize = 5;
/// The base every project here builds on (the craft frontend's default build-base).
const BASE_REF: &str = "debian:bookworm";
/// The same image in the peers' stores (and a second name for it in strata's).
const PEER_BASE: &str = "strata-bench/debian:bookworm";
const W6_PARTS: usize = 100;
const W6_FILES: usize = 10;
const W6_SEED: u64 = 0x5eed_0006;

fn main() {
    // `cargo bench` passes `--bench`; anything else is a test harness
    // probing this target (`cargo test --all-targets`): do nothing.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--write-projects") {
        // Only write the projects, to read or diff them.
        let dir = PathBuf::from(args.get(i + 1).expect("--write-projects DIR"));
        project::five_step(&dir.join("5step"));
        project::many_parts(&dir.join("w6"), W6_PARTS, W6_FILES, W6_SEED);
        println!("wrote {} and {}", dir.join("5step").display(), dir.join("w6").display());
        return;
    }
    let only = selection(&args);
    // SAFETY: no preconditions.
    if unsafe { libc::geteuid() } != 0 || !tool_ok("runc", &["--version"]) {
        println!("W1/W2/W3/W6 builds: skipped (needs root and runc)");
        return;
    }
    let runs = std::env::var("STRATA_BENCH_RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(DEFAULT_RUNS).max(1);
    let bench = Bench::setup(runs);

    let five = bench.work.path().join("5step");
    match std::env::var_os("STRATA_BENCH_5STEP") {
        Some(dir) => copy_project(Path::new(&dir), &five),
        None => project::five_step(&five),
    }
    let five = Project { dir: five, tag: "5step", what: "5-step project" };
    // W2's warm-up build leaves a store for W1 and W3 to rebuild in.
    let built = only.contains(&"W2").then(|| bench.cold("W2 cold build", &five, Goal::Ratio(0.5)));
    if only.contains(&"W1") || only.contains(&"W3") {
        let warm = bench.warm_up(&five, built);
        if only.contains(&"W1") {
            bench.rebuild("W1 cached rebuild", &five, &warm, None, Goal::Ratio(0.33));
        }
        if only.contains(&"W3") {
            for file in ["src/a/main.c", "src/b/f1.txt"] {
                bench.rebuild("W3 incremental", &five, &warm, Some(file), Goal::Ratio(0.5));
            }
        }
    }

    if only.contains(&"W6") {
        let dir = bench.work.path().join("w6");
        project::many_parts(&dir, W6_PARTS, W6_FILES, W6_SEED);
        let w6 = Project { dir, tag: "w6", what: "100 parts × 10 files" };
        let warm = bench.cold("W6 cold build", &w6, Goal::None);
        let warm = bench.warm_up(&w6, Some(warm));
        bench.plan(&w6, &warm);
        bench.rebuild("W6 cached rebuild", &w6, &warm, None, Goal::Seconds(0.1));
        bench.jobs("W6 cold build", &w6, &[1, 2], 0.6);
    }
    if only.contains(&"WA") {
        let dir = bench.work.path().join("hello-make");
        copy_project(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/hello-make"), &dir);
        attest::wa(&bench, &Project { dir, tag: "hello-make", what: "examples/hello-make" });
    }
    if only.contains(&"WS") {
        spk::ws(&bench);
    }
    if only.contains(&"W9") {
        guix::w9(&bench);
    }
    if only.contains(&"W6R") {
        let dir = bench.work.path().join("w6r");
        project::many_parts(&dir, W6_PARTS, W6_FILES, W6_SEED);
        remote::w6r(&bench, &Project { dir, tag: "w6r", what: "100 parts × 10 files" });
    }
}

/// The workloads asked for: `W1`… given as arguments or in
/// `STRATA_BENCH_ONLY` (comma- or space-separated); all but W6R (which
/// needs BuildGrid and minutes) and W9 (the network for apt, and tens of
/// minutes) when none are.
fn selection(args: &[String]) -> Vec<&'static str> {
    const ALL: [&str; 8] = ["W1", "W2", "W3", "W6", "W6R", "W9", "WA", "WS"];
    let env = std::env::var("STRATA_BENCH_ONLY").unwrap_or_default();
    let asked: Vec<String> = args
        .iter()
        .filter(|a| !a.starts_with('-'))
        .map(String::as_str)
        .chain(env.split([',', ' ']).filter(|s| !s.is_empty()))
        .map(str::to_uppercase)
        .collect();
    for a in &asked {
        if !ALL.contains(&a.as_str()) {
            eprintln!("build bench: unknown workload '{a}' (this bench has {})", ALL.join(", "));
            std::process::exit(2);
        }
    }
    ALL.into_iter()
        .filter(|w| if asked.is_empty() { !["W6R", "W9"].contains(w) } else { asked.iter().any(|a| a == w) })
        .collect()
}

/// A project dir: parts.yaml for strata, and the Containerfile doing the
/// same work, the peers' build context.
struct Project {
    dir: PathBuf,
    /// Names the images built from it: `strata-bench/<tag>:…`.
    tag: &'static str,
    what: &'static str,
}

enum Goal {
    None,
    /// strata / best peer.
    Ratio(f64),
    /// strata's own time, in seconds.
    Seconds(f64),
}

/// One timed run: wall seconds, and CPU seconds (user + sys) of the
/// process and its waited-for children where they do the work.
#[derive(Clone, Copy)]
struct Sample {
    wall: f64,
    cpu: Option<f64>,
}

/// Everything one run of the bench shares.
struct Bench {
    runs: usize,
    strata: PathBuf,
    /// A store holding only the base image and its snapshot: copied (hard
    /// links) for every store a build here starts from.
    template: PathBuf,
    peers: Vec<Peer>,
    /// This run's scratch space: projects, stores (on the template's file
    /// system, for the hard links).
    work: tempfile::TempDir,
    /// A word no earlier run wrote into a W3 edit, so that no peer's
    /// persistent cache already holds the edited file.
    nonce: u128,
}

/// A store dir, removed when dropped.
struct StoreDir(tempfile::TempDir);

impl StoreDir {
    fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Bench {
    fn setup(runs: usize) -> Bench {
        let strata = PathBuf::from(env!("CARGO_BIN_EXE_strata"));
        let data = tree::bench_dir().join("build");
        std::fs::create_dir_all(&data).unwrap();
        let template = data.join("base-store");
        let base = ensure_base(&strata, &template);
        let mut peers = Vec::new();
        let wanted = std::env::var("STRATA_BENCH_PEERS").unwrap_or_else(|_| "buildah,docker".into());
        for name in wanted.split([',', ' ']).filter(|s| !s.is_empty()) {
            let peer = match name {
                "buildah" => Peer::buildah(&data),
                "docker" => Peer::docker(),
                other => {
                    eprintln!("build bench: unknown peer '{other}' (buildah, docker)");
                    std::process::exit(2);
                }
            };
            match peer.and_then(|p| p.import_base(&strata, &template)) {
                Ok(p) => peers.push(p),
                Err(why) => println!("build benches: peer {name} left out: {why}"),
            }
        }
        let nonce = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
        let work = tempfile::Builder::new().prefix("run-").tempdir_in(&data).unwrap();
        println!(
            "build benches: median of {runs} after a warm-up; base {BASE_REF} {base}; peers: {}; {}",
            if peers.is_empty() {
                "none".into()
            } else {
                peers.iter().map(|p| p.name()).collect::<Vec<_>>().join(", ")
            },
            machine_load(),
        );
        Bench { runs, strata, template, peers, work, nonce }
    }

    /// A new store with the base image in it, unpacked, and nothing else.
    fn fresh_store(&self) -> StoreDir {
        let dir = tempfile::Builder::new().prefix("store-").tempdir_in(self.work.path()).unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("strata")).unwrap();
        // Blobs and snapshots are immutable once written: hard links.
        // index.json is rewritten by the build: a copy.
        run(Command::new("cp").arg("-al").arg(self.template.join("blobs")).arg(d));
        run(Command::new("cp").arg("-al").arg(self.template.join("strata/snapshots")).arg(d.join("strata")));
        for f in ["index.json", "oci-layout"] {
            std::fs::copy(self.template.join(f), d.join(f)).unwrap();
        }
        StoreDir(dir)
    }

    /// One `strata build` of `p` into `store`.
    fn strata_build(&self, store: &Path, p: &Project) -> StrataRun {
        self.strata_build_with(store, p, &[])
    }

    fn strata_build_with(&self, store: &Path, p: &Project, extra: &[&str]) -> StrataRun {
        let mut cmd = Command::new(&self.strata);
        cmd.arg("--store").arg(store).arg("build").arg(&p.dir).args(["-t", &format!("strata-bench/{}:latest", p.tag)]);
        cmd.args(extra);
        StrataRun::spawn(cmd)
    }

    /// Cold builds of `p` at each of `jobs` (fresh stores, alternating),
    /// with the ratio of the last to the first against `goal`.
    fn jobs(&self, what: &str, p: &Project, jobs: &[usize], goal: f64) {
        let mut walls: Vec<Vec<f64>> = vec![Vec::new(); jobs.len()];
        for round in 0..=self.runs {
            for (i, j) in jobs.iter().enumerate() {
                let store = self.fresh_store();
                let run = self.strata_build_with(store.path(), p, &["--jobs", &j.to_string()]);
                if round > 0 {
                    walls[i].push(run.sample.wall);
                }
            }
        }
        let medians: Vec<f64> = walls.iter().map(|w| median(w)).collect();
        let shown: Vec<String> = jobs.iter().zip(&medians).map(|(j, m)| format!("--jobs {j} {m:.2} s")).collect();
        let ratio = medians[medians.len() - 1] / medians[0];
        println!(
            "{what} ({}), strata: {}; ratio {ratio:.2} (goal ≤ {goal}: {})",
            p.what,
            shown.join(", "),
            met(ratio <= goal)
        );
    }

    /// Cold builds, strata and peers alternating; prints the figures, checks
    /// that all built the same files, and returns the store of strata's
    /// warm-up build (the warm store for the rebuilds).
    fn cold(&self, what: &str, p: &Project, goal: Goal) -> StoreDir {
        let tag = format!("strata-bench/{}:cold", p.tag);
        let mut strata = Vec::new();
        let mut phases = Vec::new();
        let mut peers: Vec<Vec<Sample>> = vec![Vec::new(); self.peers.len()];
        let mut kept = None;
        for round in 0..=self.runs {
            let store = self.fresh_store();
            let run = self.strata_build(store.path(), p);
            if round == 0 {
                kept = Some(store);
            } else {
                strata.push(run.sample);
                phases.push(run.phases());
            }
            for (i, peer) in self.peers.iter().enumerate() {
                if round > 0 {
                    peer.remove(&tag);
                }
                let s = peer.build(&p.dir, &tag, false);
                if round > 0 {
                    peers[i].push(s);
                }
            }
        }
        let kept = kept.unwrap();
        self.report(&format!("{what} ({})", p.what), &strata, &peers, &goal);
        println!("{what} strata phases: {}", Phases::median(&phases));
        self.check_same_files(what, p, kept.path(), &tag);
        for peer in &self.peers {
            peer.remove(&tag);
        }
        kept
    }

    /// A store and peer caches that have built `p` once, for rebuilds.
    fn warm_up(&self, p: &Project, store: Option<StoreDir>) -> StoreDir {
        let store = store.unwrap_or_else(|| {
            let s = self.fresh_store();
            self.strata_build(s.path(), p);
            s
        });
        let tag = format!("strata-bench/{}:warm", p.tag);
        for peer in &self.peers {
            peer.build(&p.dir, &tag, true);
        }
        store
    }

    /// Rebuilds with warm caches: nothing changed (W1, W6) or, with `edit`,
    /// one file of the project changed before each round (W3).
    fn rebuild(&self, what: &str, p: &Project, store: &StoreDir, edit: Option<&str>, goal: Goal) {
        let tag = format!("strata-bench/{}:warm", p.tag);
        let mut strata = Vec::new();
        let mut peers: Vec<Vec<Sample>> = vec![Vec::new(); self.peers.len()];
        let mut last = None;
        let mut phases = Vec::new();
        for round in 0..=self.runs {
            if let Some(file) = edit {
                let path = p.dir.join(file);
                let mut text = std::fs::read_to_string(&path).unwrap();
                writeln!(text, "/* edit {:x}-{round} */", self.nonce).unwrap();
                std::fs::write(&path, text).unwrap();
            }
            let run = self.strata_build(store.path(), p);
            for (i, peer) in self.peers.iter().enumerate() {
                let s = peer.build(&p.dir, &tag, true);
                if round > 0 {
                    peers[i].push(s);
                }
            }
            if round > 0 {
                strata.push(run.sample);
                phases.push(run.phases());
                last = Some(run);
            }
        }
        let title = match edit {
            Some(file) => format!("{what} ({}, {file} changed)", p.what),
            None => format!("{what} ({})", p.what),
        };
        self.report(&title, &strata, &peers, &goal);
        println!("{what} strata phases: {}", Phases::median(&phases));
        if let Some(run) = last {
            println!("{what} strata ran: {}", run.steps_summary());
        }
    }

    /// `strata plan` of `p` in its warm store, if strata has the command.
    fn plan(&self, p: &Project, store: &StoreDir) {
        let has_plan = Command::new(&self.strata)
            .args(["plan", "--help"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !has_plan {
            println!("W6 plan: n/a (no `strata plan`)");
            return;
        }
        let mut times = Vec::new();
        for round in 0..=self.runs {
            let t = Instant::now();
            let out = Command::new(&self.strata).arg("--store").arg(store.path()).arg("plan").arg(&p.dir).output();
            let wall = t.elapsed().as_secs_f64();
            match out {
                Ok(o) if o.status.success() => {}
                Ok(o) => {
                    let err = String::from_utf8_lossy(&o.stderr);
                    println!("W6 plan: `strata plan` failed ({}): {}", o.status, err.lines().next().unwrap_or(""));
                    return;
                }
                Err(e) => {
                    println!("W6 plan: cannot run strata: {e}");
                    return;
                }
            }
            if round > 0 {
                times.push(wall);
            }
        }
        let ms = median(&times) * 1000.0;
        println!("W6 plan ({}): strata {ms:.1} ms (goal ≤ 50 ms: {})", p.what, met(ms <= 50.0));
    }

    /// One line: strata's median, each peer's, the ratio to the best peer,
    /// the goal; then CPU medians where they were measured.
    fn report(&self, what: &str, strata: &[Sample], peers: &[Vec<Sample>], goal: &Goal) {
        let s = median(&strata.iter().map(|x| x.wall).collect::<Vec<_>>());
        let mut line = format!("{what}: strata {s:.3} s");
        let mut best: Option<(&str, f64)> = None;
        for (peer, samples) in self.peers.iter().zip(peers) {
            let t = median(&samples.iter().map(|x| x.wall).collect::<Vec<_>>());
            write!(line, ", {} {t:.3} s", peer.name()).unwrap();
            if best.is_none_or(|(_, b)| t < b) {
                best = Some((peer.name(), t));
            }
        }
        if let Some((name, b)) = best {
            write!(line, ", ratio {:.2}", s / b).unwrap();
            if self.peers.len() > 1 {
                write!(line, " to {name}").unwrap();
            }
        }
        match goal {
            Goal::None => {}
            Goal::Ratio(g) => {
                let verdict = best.map(|(_, b)| format!(": {}", met(s / b <= *g))).unwrap_or_default();
                write!(line, " (goal ≤ {g}{verdict})").unwrap();
            }
            Goal::Seconds(g) => write!(line, " (goal ≤ {g} s: {})", met(s <= *g)).unwrap(),
        }
        let cpu = |v: &[Sample]| {
            let c: Vec<f64> = v.iter().filter_map(|x| x.cpu).collect();
            (c.len() == v.len() && !c.is_empty()).then(|| median(&c))
        };
        let mut cpus = vec![format!("strata {:.2} s", cpu(strata).unwrap_or(f64::NAN))];
        for (peer, samples) in self.peers.iter().zip(peers) {
            if let Some(c) = cpu(samples) {
                cpus.push(format!("{} {c:.2} s", peer.name()));
            }
        }
        println!("{line}; cpu {}", cpus.join(", "));
    }

    /// Says whether strata's image (in `store`, from `p`) and each peer's
    /// image `tag` hold the same files: strata's at `/`, the peers' under
    /// `/root/stage`.
    fn check_same_files(&self, what: &str, p: &Project, store: &Path, tag: &str) {
        let ours = strata_image_files(store, &format!("strata-bench/{}:latest", p.tag));
        for peer in &self.peers {
            let theirs = match peer.stage_files(tag) {
                Ok(f) => f,
                Err(e) => {
                    println!("{what} check: cannot read {}'s image: {e}", peer.name());
                    continue;
                }
            };
            if ours == theirs {
                println!(
                    "{what} check: strata's image and {}'s /root/stage hold the same {} files (paths, modes, bytes)",
                    peer.name(),
                    ours.len()
                );
            } else {
                let diff: Vec<String> = ours
                    .iter()
                    .filter(|(k, v)| theirs.get(*k) != Some(v))
                    .map(|(k, v)| format!("{k} {v:?} vs {:?}", theirs.get(k)))
                    .chain(
                        theirs
                            .keys()
                            .filter(|k| !ours.contains_key(*k))
                            .map(|k| format!("{k}: only in {}", peer.name())),
                    )
                    .take(5)
                    .collect();
                println!(
                    "{what} check: MISMATCH between strata ({} files) and {} ({} files): {}",
                    ours.len(),
                    peer.name(),
                    theirs.len(),
                    diff.join("; ")
                );
            }
        }
    }
}

/// The peers' images go however the run ends, a panic included.
impl Drop for Bench {
    fn drop(&mut self) {
        for peer in &self.peers {
            peer.clean_up();
        }
    }
}

/// Builds the base image into the template store unless it is there, and
/// unpacks its snapshots. Returns its digest.
fn ensure_base(strata: &Path, template: &Path) -> String {
    ensure_image(strata, template, BASE_REF, "debian-bookworm", PEER_BASE)
}

/// Builds image `name` from `images/<recipe>` into the template store
/// unless it is there, names it `peer_name` too, and unpacks its
/// snapshots. Returns its digest.
fn ensure_image(strata: &Path, template: &Path, name: &str, recipe: &str, peer_name: &str) -> String {
    let store = Store::open(template).unwrap();
    if store.resolve(name).is_err() {
        let mut cmd = Command::new(strata);
        cmd.arg("--store").arg(template).args(["image", "build", &format!("images/{recipe}")]);
        cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
        if std::env::var_os("STRATA_ROOTFS_CACHE").is_none() {
            // CI's cache of root filesystem tarballs (.ci/build-base-images).
            let state = std::env::var_os("STRATA_CI_STATE").unwrap_or_else(|| "/var/tmp/strata-ci".into());
            let cache = Path::new(&state).join("rootfs-cache");
            if cache.is_dir() {
                cmd.env("STRATA_ROOTFS_CACHE", cache);
            }
        }
        eprintln!("building {name} from images/{recipe} into {} (once)...", template.display());
        run(&mut cmd);
    }
    let desc = store.resolve(name).unwrap();
    store.set_ref(peer_name, &desc).unwrap();
    let image = Image::load(&store, &desc, &Platform::host()).unwrap();
    for layer in strata::resolve::image_layers(&image) {
        strata::snapshot::snapshot(&store, &layer).unwrap();
    }
    desc.digest().to_string()
}

/// One `strata build` process: its time and its stdout, line by line with
/// the time each line came.
struct StrataRun {
    sample: Sample,
    lines: Vec<(Duration, String)>,
}

impl StrataRun {
    fn spawn(mut cmd: Command) -> StrataRun {
        let c0 = children_cpu();
        let start = Instant::now();
        let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        // The steps' logs go to stderr: keep them for an error message.
        let mut stderr = child.stderr.take().unwrap();
        let errs = std::thread::spawn(move || {
            let mut s = Vec::new();
            stderr.read_to_end(&mut s).ok();
            s
        });
        let mut lines = Vec::new();
        for line in BufReader::new(child.stdout.take().unwrap()).lines() {
            lines.push((start.elapsed(), line.unwrap()));
        }
        let status = child.wait().unwrap();
        let wall = start.elapsed().as_secs_f64();
        let cpu = children_cpu() - c0;
        let errs = errs.join().unwrap();
        if !status.success() {
            let tail: Vec<&str> = lines.iter().rev().take(10).map(|(_, l)| l.as_str()).collect();
            panic!(
                "{cmd:?} failed ({status}):\n{}\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
                String::from_utf8_lossy(&errs[errs.len().saturating_sub(4000)..])
            );
        }
        StrataRun { sample: Sample { wall, cpu: Some(cpu) }, lines }
    }

    /// The steps the build printed, each with how it was planned (`run`,
    /// `rerun`, `skip`, or whatever the step cache will print) and when it
    /// started and ended. `[pack]` counts as a step.
    fn steps(&self) -> Vec<Step> {
        let mut steps: Vec<Step> = Vec::new();
        for (t, line) in &self.lines {
            let Some((label, rest)) = line.strip_prefix('[').and_then(|l| l.split_once("] ")) else { continue };
            if !label.contains(':') && label != "pack" {
                continue; // `[pull] <base>`: the base image, not a step
            }
            match steps.iter_mut().find(|s| s.label == label) {
                Some(s) if rest.starts_with("done in ") => s.end = Some(*t),
                Some(_) => {} // layer lines, build-packages' lines
                None => {
                    let word = rest.split_whitespace().next().unwrap_or("");
                    let kind = if label == "pack" && rest == "the image" { "run" } else { word };
                    let end = rest.starts_with("done in ").then_some(*t);
                    steps.push(Step { label: label.to_string(), kind: kind.to_string(), start: *t, end });
                }
            }
        }
        steps
    }

    /// Which steps ran and which did not, e.g. `b:pull b:build (2 of 9
    /// steps); skip: a:pull ...`; by step kind when more than a dozen ran.
    fn steps_summary(&self) -> String {
        let steps = self.steps();
        let ran: Vec<&str> = steps.iter().filter(|s| s.ran()).map(|s| s.label.as_str()).collect();
        let mut out = if ran.len() > 12 {
            let mut kinds: Vec<(&str, usize)> = Vec::new();
            for label in &ran {
                let kind = label.rsplit(':').next().unwrap();
                match kinds.iter_mut().find(|(k, _)| *k == kind) {
                    Some((_, n)) => *n += 1,
                    None => kinds.push((kind, 1)),
                }
            }
            let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
            format!("{} of {} steps ({})", ran.len(), steps.len(), kinds.join(", "))
        } else {
            let names = if ran.is_empty() { "none".to_string() } else { ran.join(" ") };
            format!("{names} ({} of {} steps)", ran.len(), steps.len())
        };
        let mut others: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for s in steps.iter().filter(|s| !s.ran()) {
            others.entry(&s.kind).or_default().push(&s.label);
        }
        for (kind, labels) in others {
            if labels.len() > 12 {
                write!(out, "; {kind}: {} steps", labels.len()).unwrap();
            } else {
                write!(out, "; {kind}: {}", labels.join(" ")).unwrap();
            }
        }
        out
    }

    /// Splits the build's time: before the first step's line, each kind of
    /// step (from its start line to its `done` line; 0 for a step that only
    /// says `cached`), between the steps (cache look-ups, for one), after
    /// the last step (tagging, removing the work dir, exit).
    fn phases(&self) -> Phases {
        let steps = self.steps();
        let mut p = Phases::default();
        let first = steps.first().map_or(Duration::ZERO, |s| s.start);
        let last = steps.iter().map(|s| s.end.unwrap_or(s.start)).max().unwrap_or(first);
        p.add("before the first step", 0, first);
        let mut in_steps = Duration::ZERO;
        for s in &steps {
            let d = s.end.unwrap_or(s.start).saturating_sub(s.start);
            in_steps += d;
            let kind = s.label.rsplit(':').next().unwrap();
            p.add(kind, 1, d);
        }
        p.add("between steps", 0, (last - first).saturating_sub(in_steps));
        let wall = Duration::from_secs_f64(self.sample.wall);
        p.add("after the last step", 0, wall.saturating_sub(last));
        p
    }
}

struct Step {
    label: String,
    kind: String,
    start: Duration,
    end: Option<Duration>,
}

impl Step {
    fn ran(&self) -> bool {
        matches!(self.kind.as_str(), "run" | "rerun" | "update" | "reapply")
    }
}

/// Where a strata build's time went: named phases in the order first
/// seen, each with a step count and a total.
#[derive(Default, Clone)]
struct Phases(Vec<(String, usize, Duration)>);

impl Phases {
    fn add(&mut self, name: &str, steps: usize, d: Duration) {
        match self.0.iter_mut().find(|(n, _, _)| n == name) {
            Some((_, n, t)) => {
                *n += steps;
                *t += d;
            }
            None => self.0.push((name.to_string(), steps, d)),
        }
    }

    /// Each phase's median over several builds, as one line of text.
    fn median(all: &[Phases]) -> String {
        let Some(first) = all.first() else { return String::new() };
        let parts: Vec<String> = first
            .0
            .iter()
            .map(|(name, steps, _)| {
                let times: Vec<f64> = all
                    .iter()
                    .map(|p| p.0.iter().find(|(n, _, _)| n == name).map_or(0.0, |(_, _, t)| t.as_secs_f64()))
                    .collect();
                let ms = median(&times) * 1000.0;
                match steps {
                    0 | 1 => format!("{name} {ms:.0} ms"),
                    n => format!("{name} ({n} steps) {ms:.0} ms"),
                }
            })
            .collect();
        format!("{} (medians)", parts.join(", "))
    }
}

/// A peer builder and how to call it.
enum Peer {
    /// `buildah` with a storage of its own (`--root`, `--runroot`): the
    /// base imported there, nothing shared with other users of the host.
    Buildah { root: PathBuf, runroot: PathBuf },
    /// docker's classic builder on the host's daemon. The daemon is shared:
    /// every image a build here makes (each step's, every stage's) is
    /// recorded from its output and removed by id, never by a filter.
    Docker { base_id: String, built: RefCell<Vec<String>> },
}

impl Peer {
    fn buildah(data: &Path) -> Result<Peer, String> {
        if !tool_ok("buildah", &["--version"]) || !tool_ok("skopeo", &["--version"]) {
            return Err("needs buildah and skopeo".into());
        }
        let root = data.join("buildah/root");
        // The run root holds locks and mount state: on tmpfs, per store.
        let hash = hex::encode(Sha256::digest(root.as_os_str().as_encoded_bytes()));
        let runroot = PathBuf::from(format!("/run/strata-bench-buildah-{}", &hash[..12]));
        std::fs::create_dir_all(&root).map_err(|e| e.to_string())?;
        std::fs::create_dir_all(&runroot).map_err(|e| e.to_string())?;
        let peer = Peer::Buildah { root, runroot };
        // Leftovers of an interrupted run.
        let _ = peer.command(&["rm", "--all"]).output();
        Ok(peer)
    }

    fn docker() -> Result<Peer, String> {
        if !tool_ok("docker", &["version"]) {
            return Err("no docker daemon answers `docker version`".into());
        }
        Ok(Peer::Docker { base_id: String::new(), built: Default::default() })
    }

    fn name(&self) -> &'static str {
        match self {
            Peer::Buildah { .. } => "buildah",
            Peer::Docker { .. } => "docker",
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        match self {
            Peer::Buildah { root, runroot } => {
                let mut c = Command::new("buildah");
                c.arg("--root").arg(root).arg("--runroot").arg(runroot).args(["--storage-driver", "overlay"]);
                c.args(args);
                c
            }
            Peer::Docker { .. } => {
                let mut c = Command::new("docker");
                c.env("DOCKER_BUILDKIT", "0").args(args);
                c
            }
        }
    }

    /// Puts the base from strata's `template` store into the peer's store
    /// as [`PEER_BASE`].
    fn import_base(mut self, strata: &Path, template: &Path) -> Result<Peer, String> {
        self.import(strata, template, BASE_REF, PEER_BASE)?;
        if let Peer::Docker { base_id, .. } = &mut self {
            let out = Command::new("docker").args(["image", "inspect", "-f", "{{.Id}}", PEER_BASE]).output();
            let id = out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()).unwrap_or_default();
            *base_id = id.strip_prefix("sha256:").unwrap_or(&id).to_string();
            if base_id.len() < 12 {
                return Err(format!("`docker image inspect {PEER_BASE}` gave no id"));
            }
        }
        Ok(self)
    }

    /// Puts image `local` of strata's `template` store (which also names it
    /// `peer_name`) into the peer's store as `peer_name`.
    fn import(&self, strata: &Path, template: &Path, local: &str, peer_name: &str) -> Result<(), String> {
        let out = match self {
            Peer::Buildah { root, runroot } => Command::new("skopeo")
                .args(["copy", "--quiet"])
                .arg(format!("oci:{}:{local}", template.display()))
                .arg(format!(
                    "containers-storage:[overlay@{}+{}]localhost/{peer_name}",
                    root.display(),
                    runroot.display()
                ))
                .output(),
            Peer::Docker { .. } => Command::new(strata)
                .arg("--store")
                .arg(template)
                .args(["image", "export", peer_name, "docker-daemon:"])
                .output(),
        };
        match out {
            Ok(o) if o.status.success() => Ok(()),
            Ok(o) => Err(format!("importing {local} failed: {}", String::from_utf8_lossy(&o.stderr).trim())),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Builds the Containerfile in `ctx` as `tag`, with the peer's cache
    /// (`cached`) or `--no-cache`.
    fn build(&self, ctx: &Path, tag: &str, cached: bool) -> Sample {
        self.build_logged(ctx, tag, cached).0
    }

    /// [`Peer::build`], with the build's output (stdout, then stderr).
    fn build_logged(&self, ctx: &Path, tag: &str, cached: bool) -> (Sample, String) {
        let mut args = match self {
            Peer::Buildah { .. } => vec!["bud", "--layers", "--isolation", "chroot"],
            Peer::Docker { .. } => vec!["build"],
        };
        if !cached {
            args.push("--no-cache");
        }
        let base_arg = format!("BASE={PEER_BASE}");
        args.extend(["-f", "Containerfile", "--build-arg", &base_arg, "-t", tag, "."]);
        let mut cmd = self.command(&args);
        cmd.current_dir(ctx);
        // A failed build is tried once more: buildah's chroot isolation
        // now and then fails a RUN with "Close_Fd sealing memfd copy:
        // Device or resource busy" on this loaded machine.
        let mut attempt = 1;
        let (out, wall, cpu) = loop {
            let c0 = children_cpu();
            let t = Instant::now();
            let out = cmd.output().unwrap();
            let (wall, cpu) = (t.elapsed().as_secs_f64(), children_cpu() - c0);
            if out.status.success() {
                break (out, wall, cpu);
            }
            let why = format!("{cmd:?} failed ({}):\n{}\n{}", out.status, tail(&out.stdout), tail(&out.stderr));
            assert!(attempt == 1, "{why}");
            eprintln!("{why}\n{} build failed: trying once more", self.name());
            attempt += 1;
        };
        // buildah prints its steps on stderr, docker on stdout.
        let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let sample = match self {
            // buildah's RUN steps are its own children; docker's run in the daemon.
            Peer::Buildah { .. } => Sample { wall, cpu: Some(cpu) },
            Peer::Docker { base_id, built } => {
                // ` ---> 0123456789ab`: the image a step made or found in the cache.
                let stdout = String::from_utf8_lossy(&out.stdout);
                let ids = stdout.lines().filter_map(|l| l.strip_prefix(" ---> ")).filter(|id| {
                    id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit()) && !base_id.starts_with(id)
                });
                let mut built = built.borrow_mut();
                for id in ids {
                    if !built.iter().any(|b| b == id) {
                        built.push(id.to_string());
                    }
                }
                Sample { wall, cpu: None }
            }
        };
        (sample, log)
    }

    /// Removes image `tag` and the images only it used (cold builds, whose
    /// images no later build uses). Warm caches stay.
    fn remove(&self, tag: &str) {
        let _ = self.command(&["rmi", tag]).output();
        self.prune();
    }

    /// Removes the images of cold builds: buildah's nameless and childless
    /// images, repeatedly (each pass frees the parents of the last); docker's
    /// recorded images that no image or tag uses any more (`docker rmi`
    /// without -f refuses the others).
    fn prune(&self) {
        match self {
            Peer::Buildah { .. } => {
                for _ in 0..1000 {
                    let out = self.command(&["rmi", "--prune"]).output();
                    if !out.is_ok_and(|o| o.status.success() && !o.stdout.is_empty()) {
                        break;
                    }
                }
            }
            Peer::Docker { built, .. } => {
                let mut built = built.borrow_mut();
                let untagged: Vec<String> =
                    self.docker_images(&built).into_iter().filter(|(_, tags)| *tags == 0).map(|(id, _)| id).collect();
                if !untagged.is_empty() {
                    // Children before parents: the reverse of the order built.
                    let mut args = vec!["rmi"];
                    args.extend(untagged.iter().rev().map(String::as_str));
                    let _ = self.command(&args).output();
                }
                let left: Vec<String> = self.docker_images(&built).into_iter().map(|(id, _)| id).collect();
                built.retain(|id| left.contains(id));
            }
        }
    }

    /// Which of the images `ids` docker still has, each with its number of tags.
    fn docker_images(&self, ids: &[String]) -> Vec<(String, usize)> {
        if ids.is_empty() {
            return Vec::new();
        }
        let mut args = vec!["image", "inspect", "-f", "{{.Id}} {{len .RepoTags}}"];
        args.extend(ids.iter().map(String::as_str));
        // Exits 1 when some are gone; the others are still listed.
        let out = self.command(&args).output().map(|o| String::from_utf8_lossy(&o.stdout).to_string());
        let found: Vec<(String, usize)> = out
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let (id, tags) = l.split_once(' ')?;
                Some((id.trim_start_matches("sha256:").to_string(), tags.parse().ok()?))
            })
            .collect();
        ids.iter()
            .filter_map(|short| {
                found.iter().find(|(full, _)| full.starts_with(short.as_str())).map(|(_, t)| (short.clone(), *t))
            })
            .collect()
    }

    /// Every image built here, gone; the base stays.
    fn clean_up(&self) {
        if let Peer::Buildah { .. } = self {
            let _ = self.command(&["rm", "--all"]).output();
        }
        for tag in ["5step:warm", "5step:cold", "w6:warm", "w6:cold"] {
            let _ = self.command(&["rmi", &format!("strata-bench/{tag}")]).output();
        }
        self.prune();
    }

    /// The regular files under `/root/stage` of image `tag`.
    fn stage_files(&self, tag: &str) -> Result<Files, String> {
        let name = format!("strata-bench-check-{}", std::process::id());
        let text = |mut c: Command| -> Result<String, String> {
            let o = c.output().map_err(|e| e.to_string())?;
            if !o.status.success() {
                return Err(format!("{c:?}: {}", String::from_utf8_lossy(&o.stderr).trim()));
            }
            Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
        };
        match self {
            Peer::Buildah { .. } => {
                text(self.command(&["from", "--name", &name, tag]))?;
                let files =
                    text(self.command(&["mount", &name])).map(|mnt| dir_files(&Path::new(&mnt).join("root/stage")));
                let _ = self.command(&["umount", &name]).output();
                let _ = self.command(&["rm", &name]).output();
                files
            }
            Peer::Docker { .. } => {
                text(self.command(&["create", "--name", &name, tag]))?;
                let out = self.command(&["cp", &format!("{name}:/root/stage"), "-"]).output();
                let _ = self.command(&["rm", &name]).output();
                let out = out.map_err(|e| e.to_string())?;
                if !out.status.success() {
                    return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
                }
                // `docker cp` names the entries `stage/...`.
                Ok(tar_files(&out.stdout[..], Some("stage")))
            }
        }
    }
}

/// Regular files by path: (permission bits, sha256 of the bytes).
type Files = BTreeMap<String, (u32, String)>;

fn sha256_hex(r: impl Read) -> String {
    let mut h = Sha256::new();
    let mut r = r;
    std::io::copy(&mut r, &mut h).unwrap();
    hex::encode(h.finalize())
}

/// The regular files of a tar stream, paths relative to `strip` if given.
fn tar_files(r: impl Read, strip: Option<&str>) -> Files {
    let mut files = Files::new();
    let mut archive = tar::Archive::new(r);
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path().unwrap().to_string_lossy().trim_start_matches("./").to_string();
        let path = match strip {
            Some(prefix) => match Path::new(&path).strip_prefix(prefix) {
                Ok(p) => p.to_string_lossy().to_string(),
                Err(_) => continue,
            },
            None => path,
        };
        let mode = entry.header().mode().unwrap() & 0o7777;
        files.insert(path, (mode, sha256_hex(entry)));
    }
    files
}

/// The regular files under `dir`, relative to it.
fn dir_files(dir: &Path) -> Files {
    use std::os::unix::fs::PermissionsExt;
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(dir).unwrap().to_string_lossy().to_string();
            let mode = e.metadata().unwrap().permissions().mode() & 0o7777;
            (rel, (mode, sha256_hex(std::fs::File::open(e.path()).unwrap())))
        })
        .collect()
}

/// The regular files of strata's image `name` (a bare base: its layers are
/// the project's alone).
fn strata_image_files(store: &Path, name: &str) -> Files {
    let store = Store::open(store).unwrap();
    let image = Image::load_ref(&store, name, &Platform::host()).unwrap();
    let mut files = Files::new();
    for layer in strata::resolve::image_layers(&image) {
        let blob = BufReader::new(store.open_blob(&layer.digest).unwrap());
        let (_, tar) = strata::layer::decompress(blob).unwrap();
        files.extend(tar_files(tar, None));
    }
    files
}

/// Copies a project dir given by `STRATA_BENCH_5STEP`, writable (W3 edits it).
fn copy_project(from: &Path, to: &Path) {
    run(Command::new("cp").arg("-r").arg(from).arg(to));
    run(Command::new("chmod").arg("-R").arg("u+w").arg(to));
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn met(yes: bool) -> &'static str {
    if yes { "met" } else { "not met" }
}

/// CPU seconds (user + sys) of the waited-for children so far.
fn children_cpu() -> f64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid rusage to fill.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// The load average and CPU pressure now: these figures come from a shared machine.
fn machine_load() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    let pressure = std::fs::read_to_string("/proc/pressure/cpu").ok().and_then(|p| {
        let some = p.lines().next()?.split_whitespace().find_map(|f| f.strip_prefix("avg60="))?.to_string();
        Some(format!(", cpu pressure {some}% (avg60)"))
    });
    format!("load average {}{}", load.join(" "), pressure.unwrap_or_default())
}

fn tool_ok(tool: &str, args: &[&str]) -> bool {
    Command::new(tool).args(args).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

fn tail(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[bytes.len().saturating_sub(3000)..]).to_string()
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}
