//! The step cache through `strata build` and `strata plan`: a rebuild runs
//! only what changed, says why, survives gc and SIGKILL, and two builds can
//! share one store. Needs root and runc; the steps run on busybox.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::support::{Strata, last_digest, require, text};

fn require_runc() -> bool {
    require("root and runc", "test \"$(id -u)\" = 0 && runc --version")
}

/// Three parts: `lib` stages a header and a note it excludes from the
/// stage; `app` is `after: [lib]` and copies lib's staged header into its
/// install; `doc` is on its own. Each has a local source dir.
const PROJECT: &str = r#"
name: cachetest
version: "1.0"
base: bare
build-base: busybox:latest
parts:
  lib:
    plugin: dump
    source: lib
    stage: [include, -NOTES]
  app:
    plugin: nil
    source: app
    after: [lib]
    override-build: |
      mkdir -p $CRAFT_PART_INSTALL/bin
      cp $CRAFT_PART_SRC/app.sh $CRAFT_PART_INSTALL/bin/app
      cp $CRAFT_STAGE/include/lib.h $CRAFT_PART_INSTALL/bin/lib.h
      if [ -e $CRAFT_PROJECT_DIR/slow ]; then sleep 60; fi
  doc:
    plugin: dump
    source: doc
"#;

struct Project {
    s: Strata,
    dir: PathBuf,
}

impl Project {
    fn new() -> Project {
        let s = Strata::new();
        s.busybox();
        let dir = s.path("proj");
        for (path, body) in [
            ("lib/include/lib.h", "#define LIB 1\n"),
            ("lib/NOTES", "not staged\n"),
            ("app/app.sh", "echo app\n"),
            ("doc/README", "docs\n"),
        ] {
            write(&dir.join(path), body);
        }
        write(&dir.join("parts.yaml"), PROJECT);
        Project { s, dir }
    }

    fn build(&self, extra: &[&str]) -> Build {
        let mut args = vec!["build", self.dir.to_str().unwrap(), "--progress", "json"];
        args.extend_from_slice(extra);
        Build(self.s.ok(&args))
    }

    fn plan(&self) -> Build {
        Build(self.s.ok(&["plan", self.dir.to_str().unwrap(), "--progress", "json"]))
    }

    fn edit(&self, path: &str, body: &str) {
        write(&self.dir.join(path), body);
    }
}

fn write(path: &Path, body: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, body).unwrap();
}

/// A build's output: its JSON progress events, one a line, then the digest.
struct Build(String);

/// The step a vertex belongs to: `lib:build:organize` is part of
/// `lib:build`, `pack:prime` of `pack`.
fn step_of(vertex: &str) -> String {
    if vertex == "stage:conflicts" {
        return vertex.into();
    }
    let mut parts = vertex.split(':');
    match (parts.next(), parts.next()) {
        (Some("pack"), _) | (Some(_), None) => "pack".into(),
        (Some(part), Some(step)) => format!("{part}:{step}"),
        _ => vertex.into(),
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

impl Build {
    /// `(vertex, status, reason)` of every step event, in order.
    fn events(&self) -> Vec<(String, String, String)> {
        self.0
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|e| e["event"] == "step")
            .map(|e| {
                let field = |k: &str| e[k].as_str().unwrap_or_default().to_string();
                (field("vertex"), field("status"), field("reason"))
            })
            .collect()
    }

    /// The steps with a vertex in `status`, in order of the first.
    fn steps_with(&self, status: &str) -> Vec<String> {
        let mut steps: Vec<String> = Vec::new();
        for (v, st, _) in self.events() {
            let step = step_of(&v);
            if st == status && !steps.contains(&step) {
                steps.push(step);
            }
        }
        steps
    }

    /// The steps that ran (a vertex of theirs ran), in name order: steps
    /// that need nothing of each other start in any order (`--jobs`).
    fn ran(&self) -> Vec<String> {
        sorted(self.steps_with("running"))
    }

    fn would_run(&self) -> Vec<String> {
        sorted(self.steps_with("wouldrun"))
    }

    /// The steps taken whole from the cache (no vertex of theirs ran).
    fn cached(&self) -> Vec<String> {
        let ran = self.ran();
        self.steps_with("cached").into_iter().filter(|s| !ran.contains(s)).collect()
    }

    /// Why `step` ran (or would run): its own vertex's reason, else the
    /// first of its vertices'.
    fn reason(&self, step: &str) -> String {
        let runs = |st: &str| st == "running" || st == "wouldrun";
        let events = self.events();
        let own = events.iter().find(|(v, st, _)| v == step && runs(st));
        let any = || events.iter().find(|(v, st, _)| step_of(v) == step && runs(st));
        own.or_else(any).map(|(_, _, r)| r.clone()).unwrap_or_default()
    }

    fn digest(&self) -> String {
        last_digest(&self.0)
    }
}

/// Steps as a user reads them: 3 parts × (pull, build, stage, prime), the
/// stage conflict check and pack.
const ALL_STEPS: usize = 14;
/// Vertices of the graph (each with its cache record, its progress events):
/// 3 parts × (pull, build, build:organize, stage, prime), `stage:conflicts`,
/// `pack:prime` and the image (`pack`).
const ALL_VERTICES: usize = 18;

#[test]
fn a_rebuild_with_nothing_changed_runs_no_step() {
    if !require_runc() {
        return;
    }
    let p = Project::new();
    let first = p.build(&[]);
    assert_eq!(first.ran().len(), ALL_STEPS, "{}", first.0);
    assert_eq!(first.reason("lib:pull"), "not built before");

    let again = p.build(&[]);
    assert_eq!(again.ran(), Vec::<&str>::new(), "{}", again.0);
    assert_eq!(again.cached().len(), ALL_STEPS, "{}", again.0);
    assert_eq!(again.digest(), first.digest(), "the cached build names the same image");
    assert!(again.0.contains(&format!("\"cached_steps\":{ALL_VERTICES},\"run_steps\":0")), "{}", again.0);
}

#[test]
fn editing_one_file_reruns_exactly_that_parts_steps_and_says_why() {
    if !require_runc() {
        return;
    }
    let p = Project::new();
    let first = p.build(&[]);

    p.edit("doc/README", "better docs\n");
    let plan = p.plan();
    // doc's install changes, so the stage conflict check runs again too.
    assert_eq!(
        plan.would_run(),
        ["doc:build", "doc:prime", "doc:pull", "doc:stage", "pack", "stage:conflicts"],
        "{}",
        plan.0
    );
    assert!(plan.reason("doc:pull").starts_with("source:README changed: file 0644 sha256:"), "{}", plan.0);
    assert_eq!(plan.reason("doc:build"), "doc:pull would run");

    let second = p.build(&[]);
    assert_eq!(
        second.ran(),
        ["doc:build", "doc:prime", "doc:pull", "doc:stage", "pack", "stage:conflicts"],
        "{}",
        second.0
    );
    assert!(
        second.reason("doc:build").starts_with("layer:rootfs[1] from doc:pull (out) changed"),
        "its pull layer: {}",
        second.0
    );
    assert_ne!(second.digest(), first.digest());
    assert_eq!(p.plan().would_run(), Vec::<&str>::new(), "planning after the build: all cached");
}

#[test]
fn a_dependency_reruns_its_dependents_only_when_its_stage_really_changed() {
    if !require_runc() {
        return;
    }
    let p = Project::new();
    p.build(&[]);

    // NOTES is installed but not staged: lib's stage layer stays the same,
    // so app (after: lib) is not rebuilt.
    p.edit("lib/NOTES", "still not staged\n");
    let b = p.build(&[]);
    // lib's install changed: the conflict check over every install runs again.
    assert_eq!(b.ran(), ["lib:build", "lib:prime", "lib:pull", "lib:stage", "stage:conflicts"], "{}", b.0);
    assert!(b.cached().contains(&"app:build".to_string()) && b.cached().contains(&"pack".to_string()), "{}", b.0);

    // The staged header changes: app's build sees it and reruns.
    p.edit("lib/include/lib.h", "#define LIB 2\n");
    let b = p.build(&[]);
    let ran = b.ran();
    for v in ["lib:pull", "lib:build", "lib:stage", "app:build", "app:stage", "app:prime", "pack"] {
        assert!(ran.contains(&v.to_string()), "{v} should run: {}", b.0);
    }
    // Its root filesystem's third layer (build base, pull, lib's stage)
    // changed, and the reason names the vertex that made it.
    assert!(b.reason("app:build").starts_with("layer:rootfs[2] from lib:stage (out) changed"), "{}", b.0);
    assert!(!ran.iter().any(|v| v.starts_with("doc:")), "doc is not after lib: {}", b.0);
}

#[test]
fn no_cache_and_no_cache_filter_force_steps_to_run() {
    if !require_runc() {
        return;
    }
    let p = Project::new();
    let first = p.build(&[]);
    let b = p.build(&["--no-cache-filter", "doc"]);
    assert_eq!(b.ran(), ["doc:build", "doc:prime", "doc:pull", "doc:stage"], "{}", b.0);
    assert_eq!(b.reason("doc:pull"), "--no-cache-filter doc");
    assert_eq!(b.digest(), first.digest(), "same inputs, same image");
    let b = p.build(&["--no-cache-filter", "app:build"]);
    assert_eq!(b.ran(), ["app:build"], "{}", b.0);
    let b = p.build(&["--no-cache"]);
    assert_eq!(b.ran().len(), ALL_STEPS, "{}", b.0);
    assert_eq!(b.digest(), first.digest());
}

#[test]
fn gc_keeps_the_cache_and_keep_storage_trims_it() {
    if !require_runc() {
        return;
    }
    let p = Project::new();
    let first = p.build(&[]);
    p.s.ok(&["store", "gc"]);
    assert!(p.s.ok(&["store", "fsck"]).contains("ok"), "gc left a whole store");
    let b = p.build(&[]);
    assert_eq!(b.ran(), Vec::<&str>::new(), "gc kept every cached layer: {}", b.0);

    let out = p.s.ok(&["store", "gc", "--keep-storage", "0"]);
    assert!(out.contains(&format!("removed {} cache record(s)", ALL_VERTICES)), "{out}");
    let b = p.build(&[]);
    assert_eq!(b.ran().len(), ALL_STEPS, "{}", b.0);
    assert_eq!(b.reason("lib:pull"), "its cache entry was removed");
    assert_eq!(b.digest(), first.digest());
}

#[test]
fn json_progress_is_one_event_per_line() {
    if !require_runc() {
        return;
    }
    let p = Project::new();
    p.build(&[]);
    let out = p.s.ok(&["build", p.dir.to_str().unwrap(), "--progress", "json"]);
    let events: Vec<serde_json::Value> = out
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(events[0], serde_json::json!({"event": "plan", "steps": ALL_VERTICES}));
    let cached = events.iter().filter(|e| e["status"] == "cached").count();
    assert_eq!(cached, ALL_VERTICES);
    let image = events.iter().find(|e| e["event"] == "image").expect("an image event");
    assert_eq!(image["run_steps"], 0);
}

#[test]
fn sigkill_mid_build_leaves_a_store_that_passes_fsck_and_builds_next_time() {
    if !require_runc() {
        return;
    }
    let p = Project::new();
    write(&p.dir.join("slow"), "");
    let mut child =
        p.s.cmd()
            .args(["build", p.dir.to_str().unwrap(), "--progress", "plain"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
    // Wait until app's build (which sleeps) has started, then kill -9.
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        if std::io::BufRead::read_line(&mut stdout, &mut line).unwrap() == 0 {
            panic!("the build ended before app:build started:\n{seen}");
        }
        seen.push_str(&line);
        if line.starts_with("[app:build] run") {
            break;
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    child.kill().unwrap();
    child.wait().unwrap();
    // The step's container may outlive strata; it is not strata's store's concern.
    let _ = Command::new("sh").arg("-c").arg("pkill -f 'sleep 60' || true").status();

    let fsck = p.s.cmd().args(["store", "fsck"]).output().unwrap();
    assert!(fsck.status.success(), "fsck after SIGKILL:\n{}", text(&fsck));
    fs::remove_file(p.dir.join("slow")).unwrap();
    let b = p.build(&[]);
    assert!(b.cached().contains(&"lib:build".to_string()), "steps finished before the kill are cached: {}", b.0);
    assert!(b.ran().contains(&"app:build".to_string()), "{}", b.0);
}

#[test]
fn two_builds_at_once_on_one_store_both_succeed() {
    if !require_runc() {
        return;
    }
    let p = Project::new();
    // A second, different project beside the first.
    let other = p.s.path("other");
    write(&other.join("parts.yaml"), &PROJECT.replace("name: cachetest", "name: other"));
    for (path, body) in
        [("lib/include/lib.h", "x\n"), ("lib/NOTES", "n\n"), ("app/app.sh", "a\n"), ("doc/README", "d\n")]
    {
        write(&other.join(path), body);
    }
    let spawn = |dir: &Path| p.s.cmd().args(["build", dir.to_str().unwrap(), "--progress", "plain"]).output().unwrap();
    let (a, b, c) = std::thread::scope(|sc| {
        let a = sc.spawn(|| spawn(&p.dir));
        let b = sc.spawn(|| spawn(&p.dir));
        let c = sc.spawn(|| spawn(&other));
        (a.join().unwrap(), b.join().unwrap(), c.join().unwrap())
    });
    for o in [&a, &b, &c] {
        assert!(o.status.success(), "{}", text(o));
    }
    let digest = |o: &std::process::Output| last_digest(&String::from_utf8_lossy(&o.stdout));
    assert_eq!(digest(&a), digest(&b), "the same project built twice at once: one image");
    assert_ne!(digest(&a), digest(&c));
    let fsck = p.s.cmd().args(["store", "fsck"]).output().unwrap();
    assert!(fsck.status.success(), "{}", text(&fsck));
    assert_eq!(p.build(&[]).ran(), Vec::<&str>::new());
}

#[test]
fn a_fresh_store_with_a_warm_registry_cache_runs_no_step() {
    if !require_runc() || !require("the .ci/setup registry", "curl -sf http://127.0.0.1:5000/v2/") {
        return;
    }
    let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let cache = format!("registry://127.0.0.1:5000/strata-it/cache-{n}");
    let warm = Project::new();
    let first = warm.build(&["--cache-to", &cache]);
    assert!(first.0.contains(&format!("exported {ALL_VERTICES} cached step(s)")), "{}", first.0);

    // Another machine: an empty store (the same busybox base, built from
    // its recipe) and a copy of the project somewhere else.
    let fresh = Project::new();
    let b = fresh.build(&["--cache-from", &cache]);
    assert_eq!(b.ran(), Vec::<&str>::new(), "{}", b.0);
    assert_eq!(b.digest(), first.digest());
    let fsck = fresh.s.cmd().args(["store", "fsck"]).output().unwrap();
    assert!(fsck.status.success(), "fetched blobs are whole: {}", text(&fsck));

    // A miss does not end the lookups: only the edited part runs.
    let third = Project::new();
    third.edit("doc/README", "other docs\n");
    let b = third.build(&["--cache-from", &cache]);
    assert_eq!(b.ran(), ["doc:build", "doc:prime", "doc:pull", "doc:stage", "pack", "stage:conflicts"], "{}", b.0);

    // An unreachable cache is a note, not a failure.
    let fourth = Project::new();
    let b = fourth.build(&["--cache-from", "registry://127.0.0.1:9/nowhere"]);
    assert!(b.0.contains(r#""message":"cache registry://127.0.0.1:9/nowhere not used"#), "{}", b.0);
    assert_eq!(b.ran().len(), ALL_STEPS);
}

#[test]
fn step_commands_run_up_to_a_step_and_clean_forgets_parts() {
    if !require_runc() {
        return;
    }
    let p = Project::new();
    let dir = p.dir.to_str().unwrap();
    let staged = Build(p.s.ok(&["stage", "--project", dir, "lib", "--progress", "json"]));
    assert_eq!(staged.ran(), ["lib:build", "lib:pull", "lib:stage"], "{}", staged.0);
    let built = Build(p.s.ok(&["step", "build", "--project", dir, "app", "--progress", "json"]));
    assert_eq!(built.ran(), ["app:build", "app:pull"], "lib's steps are reused: {}", built.0);
    assert!(built.cached().contains(&"lib:stage".to_string()), "{}", built.0);

    let all = p.build(&[]);
    assert!(
        all.cached().contains(&"lib:stage".to_string()) && all.cached().contains(&"app:build".to_string()),
        "{}",
        all.0
    );
    assert!(all.ran().contains(&"doc:pull".to_string()), "{}", all.0);

    assert_eq!(p.s.ok(&["clean", "--project", dir, "doc"]).trim(), "forgot 5 cached step(s)");
    let again = p.build(&[]);
    assert_eq!(again.ran(), ["doc:build", "doc:prime", "doc:pull", "doc:stage"], "{}", again.0);
    assert_eq!(again.digest(), all.digest(), "the same inputs give the same image");

    let err = p.s.fails(&["stage", "--project", dir, "nope"]);
    assert!(err.contains("no part 'nope' in the project (its parts: app, doc, lib)"), "{err}");
}

#[test]
fn a_shell_opens_in_a_parts_state_after_a_step() {
    if !require_runc() {
        return;
    }
    let p = Project::new();
    let dir = p.dir.to_str().unwrap();
    let shell = |step: &str, cmd: &[&str]| {
        let mut args = vec!["shell", "-p", dir, "--part", "app", "--step", step, "--progress", "plain", "--"];
        args.extend_from_slice(cmd);
        p.s.cmd().args(&args).stdin(Stdio::null()).output().unwrap()
    };
    let out = shell("build", &["cat", "/root/parts/app/install/bin/app"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "echo app\n", "the build's install tree is there");
    let out = shell("build", &["sh", "-c", "echo $CRAFT_PART_NAME; test -e /root/stage/include/lib.h; exit 3"]);
    assert_eq!(out.status.code(), Some(3), "the command's exit code: {}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "app\n", "with the step's environment");
}

#[test]
fn shell_on_fail_opens_a_shell_over_the_failed_steps_inputs() {
    if !require_runc() {
        return;
    }
    let p = Project::new();
    p.edit("parts.yaml", &PROJECT.replace("if [ -e $CRAFT_PROJECT_DIR/slow ]; then sleep 60; fi", "exit 7"));
    let mut child =
        p.s.cmd()
            .args(["build", p.dir.to_str().unwrap(), "--progress", "plain", "--shell-on-fail"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
    // What a user would type into the shell.
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"echo in-shell $CRAFT_PART_NAME; ls /run/strata/craftctl | grep -c build\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "the build still fails");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("note: app:build failed: opening a shell"), "{stdout}");
    assert!(stdout.contains("in-shell app"), "the shell ran with the step's environment: {stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("exit code 7"), "{}", text(&out));
}

/// Every file under `dir` with its size: what a command changed there.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .map(|e| format!("{} {}", e.path().display(), e.metadata().map(|m| m.len()).unwrap_or(0)))
        .collect();
    v.sort();
    v
}

#[test]
fn plan_says_it_would_pull_an_absent_base_and_changes_nothing_in_the_store() {
    if !require_runc() {
        return;
    }
    let p = Project::new();
    p.edit(
        "parts.yaml",
        &PROJECT.replace("build-base: busybox:latest", "build-base: 127.0.0.1:5000/strata-it/absent:1"),
    );
    let before = listing(&p.s.store());
    let plan = p.plan();
    assert!(plan.0.contains("would pull 127.0.0.1:5000/strata-it/absent:1"), "{}", plan.0);
    assert!(plan.would_run().contains(&"lib:build".to_string()), "{}", plan.0);
    assert!(plan.reason("lib:build").contains("would be pulled"), "{}", plan.0);
    assert_eq!(listing(&p.s.store()), before, "plan wrote to the store");
}

#[test]
fn the_image_is_the_same_at_any_jobs() {
    if !require_runc() {
        return;
    }
    let one = Project::new();
    let four = Project::new();
    let a = one.build(&["--jobs", "1"]);
    let b = four.build(&["--jobs", "4"]);
    assert_eq!(a.digest(), b.digest(), "--jobs 1:\n{}\n--jobs 4:\n{}", a.0, b.0);
}
