//! The solver on toy graphs with a fake worker: no root, no containers.
//! Each test reads as a rule of the solver.

use std::time::Duration;

use strata_frontend_api::graph::*;
use strata_frontend_api::{FrontendError, HostOpError, HostResult, HostTree, LowerOptions};

use super::*;
use crate::progress::Event;
use crate::worker::FakeWorker;

/// A frontend that lowers nothing: the graphs are written by hand here.
struct Toy;

impl strata_frontend_api::Frontend for Toy {
    fn name(&self) -> &'static str {
        "toy"
    }
    fn semantics_version(&self) -> u32 {
        1
    }
    fn locate(&self, _: &std::path::Path) -> Option<PathBuf> {
        None
    }
    fn lower(&self, _: &std::path::Path, _: &LowerOptions) -> Result<BuildGraph, FrontendError> {
        Err(FrontendError::new("toy graphs are built by hand"))
    }
    fn run_host_op(&self, op: &HostOp, inputs: &[HostTree<'_>]) -> Result<Vec<HostResult>, HostOpError> {
        match op.name.as_str() {
            "toy.copy" => Ok(vec![HostResult { tree: inputs[0].tree.clone(), data: Default::default() }]),
            other => Err(HostOpError::new(format!("no host op {other}"))),
        }
    }
}

#[derive(Default)]
struct Recorded(Vec<Event>);

impl Progress for Recorded {
    fn event(&mut self, e: &Event) {
        self.0.push(e.clone());
    }
}

impl Recorded {
    /// `vertex status` for each step event, in order.
    fn steps(&self) -> Vec<String> {
        self.0
            .iter()
            .filter_map(|e| match e {
                Event::Step { vertex, status, .. } => {
                    let s = match status {
                        StepStatus::Running { .. } => "running",
                        StepStatus::Cached => "cached",
                        StepStatus::WouldRun { .. } => "would-run",
                        StepStatus::Done { .. } => "done",
                        StepStatus::Failed { .. } => "failed",
                    };
                    Some(format!("{vertex} {s}"))
                }
                _ => None,
            })
            .collect()
    }
}

/// An exec vertex over the `out` layers of `deps`, yielding `out`.
fn exec(id: &str, deps: &[&str], script: &str) -> Vertex {
    Vertex::new(
        id,
        id.split(':').next(),
        id.split(':').nth(1).unwrap_or("build"),
        Op::Exec(ExecOp {
            rootfs: deps.iter().map(|d| LayerRef::output(d, OUT)).collect(),
            argv: vec!["sh".into(), "-c".into(), script.into()],
            capture: vec![Capture::all(OUT)],
            ..Default::default()
        }),
    )
}

fn graph(vertices: Vec<Vertex>) -> BuildGraph {
    let mut g = BuildGraph::new(FrontendId { name: "toy".into(), semantics: 1 });
    g.vertices = vertices;
    g
}

struct Env {
    _dir: tempfile::TempDir,
    store: Store,
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    Env { _dir: dir, store }
}

fn options(jobs: usize) -> SolveOptions {
    SolveOptions {
        jobs,
        no_cache: false,
        no_cache_filter: vec![],
        cancel: Cancel::new(),
        compression: Compression::Gzip,
        project_id: "/toy/project.yaml".into(),
        project_dir: "/nonexistent".into(),
        shell_on_fail: false,
    }
}

fn solve(
    store: &Store,
    worker: Option<&dyn Worker>,
    g: &BuildGraph,
    opts: SolveOptions,
) -> (crate::Result<Solved>, Recorded) {
    let resolved = Resolved::default();
    let solver = Solver { store, frontend: &Toy, worker, graph: g, resolved: &resolved, remotes: &[], opts, epoch: 0 };
    let mut rec = Recorded::default();
    let r = solver.solve(&[], &mut rec);
    (r, rec)
}

#[test]
fn independent_vertices_run_at_once() {
    let e = env();
    let g = graph(vec![
        exec("a:build", &[], "a"),
        exec("b:build", &[], "b"),
        exec("c:build", &["a:build", "b:build"], "c"),
    ]);
    let slow = Duration::from_millis(300);
    let w = FakeWorker::new(&e.store).slow("a:build", slow).slow("b:build", slow);
    let (r, _) = solve(&e.store, Some(&w), &g, options(2));
    r.unwrap();
    assert_eq!(w.most_at_once(), 2, "a and b need nothing of each other");
    assert_eq!(w.jobs().last().map(String::as_str), Some("c:build"), "c waits for both");
}

#[test]
fn one_job_runs_at_a_time_with_jobs_1() {
    let e = env();
    let g = graph(vec![exec("a:build", &[], "a"), exec("b:build", &[], "b")]);
    let w = FakeWorker::new(&e.store).slow("a:build", Duration::from_millis(100));
    solve(&e.store, Some(&w), &g, options(1)).0.unwrap();
    assert_eq!(w.most_at_once(), 1);
}

#[test]
fn a_failing_vertex_cancels_the_running_ones_and_starts_no_more() {
    let e = env();
    let g = graph(vec![
        exec("slow:build", &[], "sleep"),
        exec("bad:build", &[], "false"),
        exec("after:build", &["bad:build"], "never"),
    ]);
    let w = FakeWorker::new(&e.store).slow("slow:build", Duration::from_secs(30)).failing("bad:build", 3);
    let started = Instant::now();
    let (r, rec) = solve(&e.store, Some(&w), &g, options(2));
    let err = r.unwrap_err();
    assert!(matches!(err, crate::Error::StepFailed(ref f) if f.exit_code == 3), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10), "the slow job was cancelled, not waited for");
    assert!(!w.jobs().contains(&"after:build".to_string()), "nothing starts after a failure");
    let steps = rec.steps();
    assert!(steps.contains(&"bad:build failed".to_string()), "{steps:?}");
    assert!(steps.contains(&"slow:build failed".to_string()), "the cancelled one says so: {steps:?}");
}

#[test]
fn ctrl_c_stops_the_build_like_a_failure() {
    let e = env();
    let g = graph(vec![exec("slow:build", &[], "sleep"), exec("next:build", &["slow:build"], "x")]);
    let w = FakeWorker::new(&e.store).slow("slow:build", Duration::from_secs(30));
    let opts = options(2);
    let cancel = opts.cancel.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        cancel.cancel();
    });
    let (r, _) = solve(&e.store, Some(&w), &g, opts);
    t.join().unwrap();
    assert!(matches!(r, Err(crate::Error::Exec(crate::executor::ExecError::Cancelled { .. }))), "{:?}", r.err());
    assert_eq!(w.jobs(), ["slow:build"]);
}

#[test]
fn outputs_are_the_same_at_any_jobs() {
    let g = graph(vec![
        exec("a:build", &[], "a"),
        exec("b:build", &[], "b"),
        exec("c:build", &["a:build"], "c"),
        exec("d:build", &["b:build", "c:build"], "d"),
    ]);
    let mut outputs = Vec::new();
    for jobs in [1, 4] {
        let e = env();
        let w = FakeWorker::new(&e.store);
        outputs.push(solve(&e.store, Some(&w), &g, options(jobs)).0.unwrap().outputs);
    }
    assert_eq!(outputs[0], outputs[1]);
}

#[test]
fn a_second_solve_takes_everything_from_the_cache() {
    let e = env();
    let g = graph(vec![exec("a:build", &[], "a"), exec("b:build", &["a:build"], "b")]);
    let w = FakeWorker::new(&e.store);
    let first = solve(&e.store, Some(&w), &g, options(2)).0.unwrap();
    let w2 = FakeWorker::new(&e.store);
    let (again, rec) = solve(&e.store, Some(&w2), &g, options(2));
    let again = again.unwrap();
    assert!(w2.jobs().is_empty(), "ran {:?}", w2.jobs());
    assert_eq!(again.cached, ["a:build", "b:build"]);
    assert_eq!(again.outputs, first.outputs);
    assert_eq!(rec.steps(), ["a:build cached", "b:build cached"]);
}

#[test]
fn a_changed_vertex_reruns_itself_and_what_reads_it_only() {
    let e = env();
    let w = FakeWorker::new(&e.store);
    let before = graph(vec![exec("a:build", &[], "a"), exec("b:build", &[], "b"), exec("c:build", &["a:build"], "c")]);
    solve(&e.store, Some(&w), &before, options(2)).0.unwrap();
    let after = graph(vec![exec("a:build", &[], "a2"), exec("b:build", &[], "b"), exec("c:build", &["a:build"], "c")]);
    let w2 = FakeWorker::new(&e.store);
    let (r, rec) = solve(&e.store, Some(&w2), &after, options(2));
    let solved = r.unwrap();
    assert_eq!(solved.ran, ["a:build", "c:build"]);
    assert_eq!(solved.cached, ["b:build"]);
    let why = rec.0.iter().find_map(|ev| match ev {
        Event::Step { vertex, status: StepStatus::Running { reason }, .. } if vertex == "c:build" => {
            Some(reason.clone())
        }
        _ => None,
    });
    assert!(why.unwrap().contains("layer:rootfs"), "c says its input layer changed");
}

#[test]
fn vertices_doing_the_same_work_run_once_and_share_the_layer() {
    let e = env();
    // Two parts, the same build-packages op: one job.
    let mut a = exec("a:build-packages", &[], "apt-get install gcc");
    let mut b = exec("b:build-packages", &[], "apt-get install gcc");
    a.step = "build".into();
    b.step = "build".into();
    let g = graph(vec![a, b]);
    let w = FakeWorker::new(&e.store).slow("a:build-packages", Duration::from_millis(100));
    let solved = solve(&e.store, Some(&w), &g, options(2)).0.unwrap();
    assert_eq!(w.jobs(), ["a:build-packages"]);
    assert_eq!(solved.outputs["a:build-packages"], solved.outputs["b:build-packages"]);
    assert_eq!(solved.cached, ["b:build-packages"]);
}

#[test]
fn a_cycle_is_refused_naming_its_vertices() {
    let e = env();
    let g =
        graph(vec![exec("a:build", &["b:build"], "a"), exec("b:build", &["a:build"], "b"), exec("c:build", &[], "c")]);
    let w = FakeWorker::new(&e.store);
    let err = solve(&e.store, Some(&w), &g, options(1)).0.unwrap_err();
    assert_eq!(err.to_string(), "the build graph has a cycle through a:build, b:build");
    assert!(w.jobs().is_empty(), "nothing runs before the graph is checked");
}

#[test]
fn a_reference_to_an_unknown_output_is_refused() {
    let e = env();
    let mut b = exec("b:build", &["a:build"], "b");
    let Op::Exec(op) = &mut b.op else { unreachable!() };
    op.rootfs = vec![LayerRef::output("a:build", "nope")];
    let g = graph(vec![exec("a:build", &[], "a"), b]);
    let err = solve(&e.store, Some(&FakeWorker::new(&e.store)), &g, options(1)).0.unwrap_err();
    assert_eq!(err.to_string(), "vertex 'b:build' reads output 'nope' of 'a:build', which that vertex does not yield");
}

#[test]
fn planning_runs_nothing_and_says_what_would_run_and_why() {
    let e = env();
    let g = graph(vec![exec("a:build", &[], "a"), exec("b:build", &["a:build"], "b"), exec("c:build", &[], "c")]);
    // c was built before; a and b not.
    solve(&e.store, Some(&FakeWorker::new(&e.store)), &graph(vec![exec("c:build", &[], "c")]), options(1)).0.unwrap();
    let (r, rec) = solve(&e.store, None, &g, options(2));
    let planned = r.unwrap();
    assert_eq!(planned.would_run, ["a:build", "b:build"]);
    assert_eq!(planned.cached, ["c:build"]);
    let reasons: Vec<String> = rec
        .0
        .iter()
        .filter_map(|ev| match ev {
            Event::Step { vertex, status: StepStatus::WouldRun { reason }, .. } => Some(format!("{vertex}: {reason}")),
            _ => None,
        })
        .collect();
    assert_eq!(reasons, ["a:build: not built before", "b:build: a:build would run"]);
}

#[test]
fn no_cache_filter_reruns_one_group_or_one_step() {
    let e = env();
    let g = graph(vec![exec("a:build", &[], "a"), exec("b:stage", &[], "b")]);
    solve(&e.store, Some(&FakeWorker::new(&e.store)), &g, options(1)).0.unwrap();
    for (filter, ran) in [("a", "a:build"), ("b:stage", "b:stage")] {
        let mut opts = options(1);
        opts.no_cache_filter = vec![filter.into()];
        let solved = solve(&e.store, Some(&FakeWorker::new(&e.store)), &g, opts).0.unwrap();
        assert_eq!(solved.ran, [ran], "--no-cache-filter {filter}");
    }
}

#[test]
fn targets_solve_only_what_they_read() {
    let e = env();
    let g = graph(vec![exec("a:build", &[], "a"), exec("b:build", &["a:build"], "b"), exec("c:build", &[], "c")]);
    let w = FakeWorker::new(&e.store);
    let resolved = Resolved::default();
    let solver = Solver {
        store: &e.store,
        frontend: &Toy,
        worker: Some(&w),
        graph: &g,
        resolved: &resolved,
        remotes: &[],
        opts: options(2),
        epoch: 0,
    };
    let solved = solver.solve(&["b:build".into()], &mut Recorded::default()).unwrap();
    assert_eq!(solved.ran, ["a:build", "b:build"]);
}

/// A worker with a farm's memory: a second fake's results answer
/// [`Worker::cached`] for the jobs the farm has seen.
struct Farmed<'s> {
    runs: FakeWorker<'s>,
    farm: FakeWorker<'s>,
    seen: Vec<&'static str>,
}

impl Worker for Farmed<'_> {
    fn name(&self) -> &str {
        "farmed"
    }
    fn exec(&self, job: &crate::worker::ExecJob<'_>, cancel: &Cancel) -> crate::Result<Outputs> {
        self.runs.exec(job, cancel)
    }
    fn cached(&self, job: &crate::worker::ExecJob<'_>) -> crate::Result<Option<Outputs>> {
        if !self.seen.contains(&job.vertex) {
            return Ok(None);
        }
        Ok(Some(job.op.outputs().into_iter().map(|o| (o.clone(), self.farm.layer_for(job, &o).unwrap())).collect()))
    }
}

#[test]
fn a_step_the_workers_farm_has_is_cached_and_not_run() {
    let e = env();
    let g = graph(vec![exec("a:build", &[], "a"), exec("b:build", &["a:build"], "b")]);
    let w = Farmed { runs: FakeWorker::new(&e.store), farm: FakeWorker::new(&e.store), seen: vec!["a:build"] };
    let (r, rec) = solve(&e.store, Some(&w), &g, options(2));
    let solved = r.unwrap();
    assert_eq!(w.runs.jobs(), vec!["b:build"], "a came from the farm");
    assert!(rec.steps().contains(&"a:build cached".to_string()), "{:?}", rec.steps());
    assert_eq!(solved.cached, vec!["a:build"]);
    // b ran over the layer the farm had for a.
    let a = &solved.outputs["a:build"][OUT];
    let plain = FakeWorker::new(&e.store);
    let (again, _) = solve(&e.store, Some(&plain), &g, SolveOptions { no_cache: true, ..options(2) });
    assert_eq!(&again.unwrap().outputs["a:build"][OUT], a, "the farm's layer is the one a run makes");
}
