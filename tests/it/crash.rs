//! Crash safety, measured (#14 item 1): strata is killed with SIGKILL at a
//! random moment of 50 operations — builds (during a step, while a layer is
//! written, while blobs are committed), `store gc --all` and pushes — and
//! after each kill the next command cleans up and says so, `store fsck` is
//! clean, nothing is mounted under the store, runc has no container left,
//! and the build gives the digest a never-killed build gave.
//!
//! The moments are drawn from a seeded generator (`STRATA_CRASH_SEED`
//! replays a run; `STRATA_CRASH_KILLS` changes the count) spread over each
//! operation's measured length. The test prints how many kills it made,
//! what each interrupted (from the `--progress json` stream) and how many
//! were survived: every one must be.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

fn require_runc() -> bool {
    require("root and runc", "test \"$(id -u)\" = 0 && runc --version")
}

/// xorshift64*: enough randomness to spread kills, and replayable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Three parts, two of them independent (so `--jobs 2` runs them at once),
/// each writing a few MB of text: long enough to be caught in the step, in
/// the layer writer and in the blob commit.
fn write_project(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let part = |name: &str, after: &str, n: u32| {
        format!(
            "  {name}:\n    plugin: nil\n{after}    override-build: |\n      \
             seq 1 {n} > $CRAFT_PART_INSTALL/{name}.txt\n      \
             seq 1 {n} | sed 's/$/ {name}/' > $CRAFT_PART_INSTALL/{name}-2.txt\n"
        )
    };
    let yaml = format!(
        "parts:\n{}{}{}",
        part("one", "", 200_000),
        part("two", "", 150_000),
        part("three", "    after: [one, two]\n", 100_000)
    );
    std::fs::write(dir.join("parts.yaml"), yaml).unwrap();
}

const BUILD: &[&str] = &["--base", "bare", "--build-base", "busybox:latest", "--tag", "crash:latest", "--jobs", "2"];

/// What one operation was doing when it was killed: the last progress event
/// it printed (`--progress json`), or where it stood before any.
fn interrupted_phase(stdout: &str, op: &str) -> String {
    let last = stdout.lines().rev().find_map(|l| serde_json::from_str::<serde_json::Value>(l).ok());
    let Some(ev) = last else {
        return if op == "build" { format!("{op}: resolving, before any step") } else { format!("{op}: mid-way") };
    };
    let kind = ev["event"].as_str().or_else(|| ev["type"].as_str()).unwrap_or("?");
    let status = ev["status"]["state"].as_str().or_else(|| ev["status"].as_str()).unwrap_or("");
    match (kind, status) {
        ("step", "running") => format!("{op}: during a step or its capture"),
        ("step", "done") | ("layer", _) => format!("{op}: writing layers and blobs"),
        ("step", s) => format!("{op}: after a step was {s}"),
        (k, _) => format!("{op}: after `{k}`"),
    }
}

/// Runs `strata args…` and SIGKILLs it after `after`; returns its stdout
/// and whether it was still running when the kill came.
fn run_and_kill(s: &Strata, args: &[&str], after: Duration) -> (String, bool) {
    let mut child = s.cmd().args(args).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("run strata");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        out
    });
    let deadline = Instant::now() + after;
    let mut killed = false;
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() >= deadline {
            child.kill().unwrap(); // SIGKILL
            killed = true;
            child.wait().unwrap();
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    (reader.join().unwrap(), killed)
}

/// What must hold after a kill and the command that follows it.
fn assert_clean(s: &Strata, what: &str) {
    let fsck = s.cmd().args(["store", "fsck"]).output().unwrap();
    assert!(fsck.status.success(), "{what}: fsck is not clean:\n{}", text(&fsck));
    let store = std::fs::canonicalize(s.store()).unwrap();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let left: Vec<&str> =
        mounts.lines().filter_map(|l| l.split(' ').nth(4)).filter(|p| Path::new(p).starts_with(&store)).collect();
    assert!(left.is_empty(), "{what}: still mounted under the store: {left:?}");
    let runc = Command::new("runc").arg("--root").arg(s.store().join("strata/runc")).args(["list", "-q"]).output();
    let containers = runc.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned()).unwrap_or_default();
    assert!(containers.is_empty(), "{what}: runc still has containers: {containers}");
}

fn build_digest(s: &Strata, project: &Path) -> (String, String) {
    let mut args = vec!["build", project.to_str().unwrap()];
    args.extend(BUILD);
    let out = s.cmd().args(&args).output().unwrap();
    assert!(out.status.success(), "the build after a kill failed:\n{}", text(&out));
    (s.digest_of("crash:latest"), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn fifty_sigkills_at_random_moments_leave_a_clean_store_and_the_same_digest() {
    if !require_runc() || !slow_tests("kill strata 50 times mid-build, mid-gc and mid-push (minutes)") {
        return;
    }
    let kills: usize = std::env::var("STRATA_CRASH_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    let seed: u64 = std::env::var("STRATA_CRASH_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x5747_A7A1);
    let registry = "127.0.0.1:5000";
    let push_too = require("the .ci/setup registry", &format!("curl -s -o /dev/null http://{registry}/v2/"));
    eprintln!("crash test: seed {seed} (STRATA_CRASH_SEED replays it), {kills} kills");
    let mut rng = Rng(seed | 1);

    let s = Strata::new();
    s.busybox();
    let project: PathBuf = s.path("proj");
    write_project(&project);
    let project_arg = project.to_str().unwrap().to_owned();

    // The reference: a build nothing interrupts, and how long each
    // operation takes, to spread the kills over.
    let (reference, _) = build_digest(&s, &project);
    s.ok(&["clean", "-p", project.to_str().unwrap()]);
    let t = Instant::now();
    build_digest(&s, &project);
    let build_time = t.elapsed();
    // gc as the kills meet it: after a `clean`, with the steps' layers to drop.
    s.ok(&["clean", "-p", project.to_str().unwrap()]);
    let t = Instant::now();
    s.ok(&["store", "gc", "--all"]);
    let gc_time = t.elapsed().max(Duration::from_millis(50));
    let repo = format!("{registry}/strata-it/crash-{}", std::process::id());
    let mut push_time = Duration::from_millis(200);
    if push_too {
        let t = Instant::now();
        s.ok(&["push", "crash:latest", &format!("{repo}-ref:latest")]);
        push_time = t.elapsed();
    }
    eprintln!("reference {reference}: build {build_time:?}, gc {gc_time:?}, push {push_time:?}");

    let mut phases: BTreeMap<String, usize> = BTreeMap::new();
    let (mut survived, mut cleanups, mut missed) = (0, 0, 0);
    for i in 0..kills {
        let what = match rng.below(10) {
            0..=5 => "build",
            6 | 7 => "gc",
            _ if push_too => "push",
            _ => "build",
        };
        let mut build_args = vec!["build", &project_arg, "--progress", "json"];
        build_args.extend(BUILD);
        // A repository of its own, so the push has blobs to upload.
        let tag = format!("{repo}-{i}:kill");
        let (args, span): (Vec<&str>, Duration) = match what {
            "build" => {
                // Forget the steps, so this build runs them all again.
                s.ok(&["clean", "-p", &project_arg]);
                (build_args, build_time)
            }
            "gc" => {
                s.ok(&["clean", "-p", &project_arg]);
                (vec!["store", "gc", "--all"], gc_time)
            }
            _ => (vec!["push", "crash:latest", &tag], push_time),
        };
        let after = Duration::from_micros(rng.below(span.as_micros() as u64));
        let (stdout, killed) = run_and_kill(&s, &args, after);
        if !killed {
            missed += 1;
        }
        let phase = if killed { interrupted_phase(&stdout, what) } else { format!("{what}: finished first") };
        *phases.entry(phase.clone()).or_default() += 1;

        // The next command cleans up (and says so), and gives the same image.
        let (digest, stderr) = build_digest(&s, &project);
        if stderr.contains("cleaned up after an interrupted strata") {
            cleanups += 1;
        }
        assert_eq!(digest, reference, "kill {i} ({phase}, after {after:?}) changed the digest");
        if what == "push" {
            let out = s.ok(&["push", "crash:latest", &tag]);
            assert!(out.contains(&s.tagged_digest("crash:latest")), "the push after a kill pushed our image: {out}");
        }
        assert_clean(&s, &format!("kill {i} ({phase})"));
        survived += 1;
    }
    eprintln!("crash test: what the kills interrupted:");
    for (phase, n) in &phases {
        eprintln!("  {n:3}  {phase}");
    }
    eprintln!(
        "kills survived: {survived}/{kills} ({cleanups} left something the next run cleaned up; \
         {missed} came after the operation had finished)"
    );
    assert_eq!(survived, kills);
    assert!(cleanups > 0, "at least one kill left debris to clean up; the recovery path ran");
}
