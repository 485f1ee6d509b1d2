//! The solver: walks a build graph, keys each vertex from its declared
//! inputs, takes what the step cache has, and runs the rest in parallel
//! (DESIGN.md §2, §6).
//!
//! ```text
//!   ready queue (graph order) ──▶ key ──▶ cache hit? ──yes──▶ outputs known, dependents may be ready
//!                                  │          │no
//!                                  │          ▼
//!                                  │   same key running? ──yes──▶ wait for it (one run, two vertices)
//!                                  │          │no
//!                                  │          ▼
//!                                  │   a job thread: vertex::run ──▶ Worker / fetch / layer op / host op
//!                                  ▼          │
//!                        main thread ◀────────┘ results and notes over a channel
//! ```
//!
//! The main thread owns every piece of state and the progress output; jobs
//! (at most `--jobs` at once, scoped threads) get their inputs by value and
//! send back their outputs (cargo's job queue). Keys read only resolved
//! input layers and pins, so the image is the same at any `--jobs`.
//!
//! A failing vertex cancels the running ones (their executors stop the
//! processes and unmount everything), no further job starts, and the first
//! error is returned once every job has ended; Ctrl-C (the caller's
//! [`Cancel`]) does the same.
//!
//! Planning (`strata plan`) runs the same walk with no worker: a vertex
//! whose key is known and cached is "cached", any other "would run" with
//! its reason, and its dependents "would run" because of it. Planning never
//! writes: records are peeked, not touched.

pub mod keys;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Instant;

use oci_spec::image::Descriptor;
use strata_frontend_api::Frontend;
use strata_frontend_api::graph::{BuildGraph, LayerRef, Op, Vertex};

use crate::cache::remote::RemoteCache;
use crate::cache::{Key, KeyParts, MissReason, Record, StepCache};
use crate::executor::Cancel;
use crate::layer::{Compression, LayerInfo};
use crate::progress::{Event, Progress, StepStatus};
use crate::resolve::Resolved;
use crate::store::Store;
use crate::worker::{Outputs, Worker};

pub use keys::KeyBase;

/// The vertex id of the image assembly.
pub const PACK: &str = "pack";

/// What is wrong with a graph (a frontend bug, or a spec the frontend let through).
#[derive(Debug, thiserror::Error)]
pub enum SolveError {
    #[error("vertex '{vertex}' reads output '{output}' of '{from}', which {why}")]
    UnknownInput { vertex: String, from: String, output: String, why: &'static str },
    #[error("the build graph has a cycle through {}", vertices.join(", "))]
    Cycle { vertices: Vec<String> },
    #[error("two vertices are named '{vertex}'")]
    DuplicateVertex { vertex: String },
    #[error("no vertex '{vertex}' in the build graph")]
    UnknownTarget { vertex: String },
}

/// How to solve.
#[derive(Debug, Clone)]
pub struct SolveOptions {
    /// Jobs at once (at least 1).
    pub jobs: usize,
    /// Run every vertex, ignoring (but still filling) the cache.
    pub no_cache: bool,
    /// Run these groups' vertices (`GROUP`, or `GROUP:STEP`) even when cached.
    pub no_cache_filter: Vec<String>,
    pub cancel: Cancel,
    pub compression: Compression,
    /// Whose last builds explain misses (the spec file's canonical path).
    pub project_id: String,
    /// What `MountSource::Project` mounts and local sources are relative to.
    pub project_dir: PathBuf,
    /// Open a shell over a failed exec vertex's inputs before giving up.
    pub shell_on_fail: bool,
}

/// What a solve produced.
#[derive(Debug, Default)]
pub struct Solved {
    /// Every solved vertex's outputs, by vertex id.
    pub outputs: BTreeMap<String, Outputs>,
    /// Vertices that ran, in the order they ended.
    pub ran: Vec<String>,
    /// Vertices taken from the cache (or from another vertex with their key).
    pub cached: Vec<String>,
    /// Planning: the vertices that would run.
    pub would_run: Vec<String>,
    /// Every record used or made (what `--cache-to` exports).
    pub records: Vec<(Key, Record)>,
    /// The image, when the graph has one and it was assembled or cached.
    pub image: Option<Descriptor>,
}

/// Everything a solve reads.
pub struct Solver<'a> {
    pub store: &'a Store,
    pub frontend: &'a dyn Frontend,
    /// `None` when planning: nothing may run.
    pub worker: Option<&'a dyn Worker>,
    pub graph: &'a BuildGraph,
    pub resolved: &'a Resolved,
    pub remotes: &'a [RemoteCache],
    pub opts: SolveOptions,
    /// `SOURCE_DATE_EPOCH`, resolved.
    pub epoch: i64,
}

/// Where a vertex is in the walk.
#[derive(Debug, Clone, PartialEq)]
enum State {
    Waiting,
    Running,
    /// Waiting for the vertex of this index, which runs the same key.
    Merged(usize),
    Done,
    /// Planning: it would run.
    Unknown(String),
}

/// A job's report.
enum Msg {
    Note(String),
    Done { index: usize, result: Box<crate::Result<Yield>>, seconds: f64 },
}

/// What a job yielded: a vertex's layers, or the image.
#[derive(Debug, Default)]
struct Yield {
    outputs: Outputs,
    manifest: Option<Descriptor>,
}

/// One vertex to solve: a graph vertex, or the image assembly.
struct Node<'g> {
    id: String,
    group: Option<String>,
    step: String,
    kind: NodeKind<'g>,
    /// Indices of the nodes whose outputs it reads.
    deps: Vec<usize>,
}

enum NodeKind<'g> {
    Vertex(&'g Vertex),
    Image,
}

impl<'a> Solver<'a> {
    /// Solves `targets` (vertex ids; every vertex and the image when empty)
    /// and what they depend on.
    pub fn solve(&self, targets: &[String], progress: &mut dyn Progress) -> crate::Result<Solved> {
        let nodes = self.nodes(targets)?;
        Walk::new(self, nodes).run(progress)
    }

    /// The nodes to solve, in graph order, each after what it reads.
    fn nodes(&self, targets: &[String]) -> Result<Vec<Node<'a>>, SolveError> {
        let graph = self.graph;
        let mut index: HashMap<&str, usize> = HashMap::new();
        for (i, v) in graph.vertices.iter().enumerate() {
            if index.insert(v.id.as_str(), i).is_some() {
                return Err(SolveError::DuplicateVertex { vertex: v.id.clone() });
            }
        }
        let dep_of = |vertex: &str, r: &LayerRef| -> Result<Option<usize>, SolveError> {
            let LayerRef::Output { vertex: from, output } = r else { return Ok(None) };
            let Some(&i) = index.get(from.as_str()) else {
                return Err(SolveError::UnknownInput {
                    vertex: vertex.into(),
                    from: from.clone(),
                    output: output.clone(),
                    why: "is not in the graph",
                });
            };
            if !graph.vertices[i].outputs().contains(output) {
                return Err(SolveError::UnknownInput {
                    vertex: vertex.into(),
                    from: from.clone(),
                    output: output.clone(),
                    why: "that vertex does not yield",
                });
            }
            Ok(Some(i))
        };
        let mut deps: Vec<Vec<usize>> = Vec::new();
        for v in &graph.vertices {
            let mut d = Vec::new();
            for r in v.op.inputs() {
                if let Some(i) = dep_of(&v.id, r)?
                    && !d.contains(&i)
                {
                    d.push(i);
                }
            }
            deps.push(d);
        }
        let mut image_deps = Vec::new();
        if let Some(img) = &graph.image {
            let mut refs: Vec<&LayerRef> = img.layers.iter().map(|l| &l.layer).collect();
            refs.extend(img.version.iter().filter_map(|v| v.file.as_ref().map(|(r, _)| r)));
            for r in refs {
                if let Some(i) = dep_of(PACK, r)?
                    && !image_deps.contains(&i)
                {
                    image_deps.push(i);
                }
            }
        }
        // Which vertices to solve: the targets and what they read.
        let mut wanted = vec![false; graph.vertices.len()];
        let mut want_image = targets.is_empty() && graph.image.is_some();
        let mut todo: Vec<usize> = Vec::new();
        if targets.is_empty() {
            todo.extend(0..graph.vertices.len());
        }
        for t in targets {
            match index.get(t.as_str()) {
                Some(&i) => todo.push(i),
                None if t == PACK && graph.image.is_some() => want_image = true,
                None => return Err(SolveError::UnknownTarget { vertex: t.clone() }),
            }
        }
        if want_image {
            todo.extend(&image_deps);
        }
        while let Some(i) = todo.pop() {
            if !std::mem::replace(&mut wanted[i], true) {
                todo.extend(&deps[i]);
            }
        }
        // Kahn's algorithm over the wanted vertices: a cycle leaves
        // vertices behind. Linear in vertices + edges, so a long chain
        // (a Guix package's phases) costs no more than a wide graph.
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); graph.vertices.len()];
        let mut pending: Vec<usize> = vec![0; graph.vertices.len()];
        for i in (0..graph.vertices.len()).filter(|i| wanted[*i]) {
            pending[i] = deps[i].len();
            for &d in &deps[i] {
                dependents[d].push(i);
            }
        }
        let mut order: Vec<usize> = Vec::new();
        let mut placed = vec![false; graph.vertices.len()];
        let mut free: Vec<usize> = (0..graph.vertices.len()).filter(|i| wanted[*i] && pending[*i] == 0).collect();
        while let Some(i) = free.pop() {
            placed[i] = true;
            order.push(i);
            for &j in &dependents[i] {
                pending[j] -= 1;
                if pending[j] == 0 {
                    free.push(j);
                }
            }
        }
        let left: Vec<String> = (0..graph.vertices.len())
            .filter(|i| wanted[*i] && !placed[*i])
            .map(|i| graph.vertices[i].id.clone())
            .collect();
        if !left.is_empty() {
            return Err(SolveError::Cycle { vertices: left });
        }
        // Keep graph order among the placed (a user reads them in it).
        order.sort_unstable();
        let position: HashMap<usize, usize> = order.iter().enumerate().map(|(n, i)| (*i, n)).collect();
        let mut nodes: Vec<Node<'a>> = order
            .iter()
            .map(|&i| {
                let v = &graph.vertices[i];
                Node {
                    id: v.id.clone(),
                    group: v.group.clone(),
                    step: v.step.clone(),
                    kind: NodeKind::Vertex(v),
                    deps: deps[i].iter().map(|d| position[d]).collect(),
                }
            })
            .collect();
        if want_image {
            nodes.push(Node {
                id: PACK.into(),
                group: None,
                step: PACK.into(),
                kind: NodeKind::Image,
                deps: image_deps.iter().map(|d| position[d]).collect(),
            });
        }
        Ok(nodes)
    }

    /// The base every key of this build shares.
    fn key_base(&self) -> KeyBase {
        KeyBase { frontend: self.graph.frontend.clone(), compression: self.opts.compression, epoch: self.epoch }
    }

    /// Whether the user asked to run this node whatever the cache holds.
    fn forced(&self, node: &Node<'_>) -> Option<String> {
        if self.opts.no_cache {
            return Some("--no-cache".into());
        }
        let group = node.group.as_deref().unwrap_or(node.id.as_str());
        self.opts
            .no_cache_filter
            .iter()
            .find(|f| *f == group || **f == format!("{group}:{}", node.step) || **f == node.id)
            .map(|f| format!("--no-cache-filter {f}"))
    }
}

/// One walk over the nodes: all mutable state of a solve.
struct Walk<'s, 'a> {
    solver: &'s Solver<'a>,
    nodes: Vec<Node<'a>>,
    state: Vec<State>,
    /// Each node's inputs once known, in its op's input order.
    keys: Vec<Option<(Key, KeyParts)>>,
    cache: StepCache<'a>,
    /// Keys being run, by the node running them.
    running_keys: HashMap<Key, usize>,
    running: usize,
    /// Per node, how many of its inputs are not settled yet; at 0 it is
    /// queued (cargo's job queue: no rescans).
    pending: Vec<usize>,
    /// Per node, the nodes that read it.
    dependents: Vec<Vec<usize>>,
    /// Nodes whose inputs are settled, to key (and run) in this order.
    ready: VecDeque<usize>,
    /// Per running node, the nodes that wait for it with the same key.
    merged: HashMap<usize, Vec<usize>>,
    solved: Solved,
    started: Vec<Option<Instant>>,
    /// How many nodes have been reported (progress counter).
    shown: usize,
    failure: Option<(usize, crate::Error)>,
}

impl<'s, 'a> Walk<'s, 'a> {
    fn new(solver: &'s Solver<'a>, nodes: Vec<Node<'a>>) -> Self {
        let n = nodes.len();
        let mut dependents = vec![Vec::new(); n];
        for (i, node) in nodes.iter().enumerate() {
            for &d in &node.deps {
                dependents[d].push(i);
            }
        }
        let pending: Vec<usize> = nodes.iter().map(|node| node.deps.len()).collect();
        let ready = (0..n).filter(|i| pending[*i] == 0).collect();
        Walk {
            solver,
            nodes,
            state: vec![State::Waiting; n],
            keys: vec![None; n],
            cache: StepCache::new(solver.store),
            running_keys: HashMap::new(),
            running: 0,
            pending,
            dependents,
            ready,
            merged: HashMap::new(),
            solved: Solved::default(),
            started: vec![None; n],
            shown: 0,
            failure: None,
        }
    }

    fn planning(&self) -> bool {
        self.solver.worker.is_none()
    }

    fn event(&mut self, progress: &mut dyn Progress, i: usize, status: StepStatus) {
        let first = matches!(status, StepStatus::Running { .. } | StepStatus::Cached | StepStatus::WouldRun { .. });
        if first {
            self.shown += 1;
        }
        progress.event(&Event::Step { vertex: self.nodes[i].id.clone(), index: self.shown, status });
    }

    fn run(mut self, progress: &mut dyn Progress) -> crate::Result<Solved> {
        progress.event(&Event::Plan { steps: self.nodes.len() });
        let jobs = self.solver.opts.jobs.max(1);
        let cancel = self.solver.opts.cancel.clone();
        let (tx, rx) = mpsc::channel::<Msg>();
        std::thread::scope(|scope| -> crate::Result<()> {
            loop {
                let stopping = self.failure.is_some() || cancel.is_cancelled();
                while !stopping && self.running < jobs {
                    let Some(i) = self.ready.pop_front() else { break };
                    if let Some(job) = self.start(i, progress)? {
                        self.running += 1;
                        self.started[i] = Some(Instant::now());
                        let tx = tx.clone();
                        scope.spawn(move || {
                            let t = Instant::now();
                            let notes = tx.clone();
                            let result = job.run(&|m| {
                                let _ = notes.send(Msg::Note(m));
                            });
                            let seconds = t.elapsed().as_secs_f64();
                            let _ = tx.send(Msg::Done { index: i, result: Box::new(result), seconds });
                        });
                    }
                }
                if self.running == 0 {
                    // Nothing running: settling without a job may have
                    // readied more (loop), or the walk is over.
                    if !stopping && !self.ready.is_empty() {
                        continue;
                    }
                    break;
                }
                match rx.recv().expect("a job always reports before its thread ends") {
                    Msg::Note(message) => progress.event(&Event::Note { message }),
                    Msg::Done { index, result, seconds } => {
                        self.running -= 1;
                        self.finish(index, *result, seconds, progress)?;
                    }
                }
            }
            Ok(())
        })?;
        // Drain notes sent after the last result.
        while let Ok(Msg::Note(message)) = rx.try_recv() {
            progress.event(&Event::Note { message });
        }
        if let Some((i, e)) = self.failure.take() {
            self.maybe_shell(i, progress);
            return Err(e);
        }
        if cancel.is_cancelled() {
            let step =
                self.nodes.iter().zip(&self.state).find(|(_, s)| **s == State::Waiting).map(|(n, _)| n.id.clone());
            return Err(crate::executor::ExecError::Cancelled { step: step.unwrap_or_else(|| "build".into()) }.into());
        }
        Ok(self.solved)
    }

    /// Node `i`'s outputs are known (done) or known to be unknown
    /// (planning): the nodes that read it and wait for nothing else are
    /// queued, in graph order.
    fn settled(&mut self, i: usize) {
        let mut newly: Vec<usize> = Vec::new();
        for &j in &self.dependents[i] {
            self.pending[j] -= 1;
            if self.pending[j] == 0 && self.state[j] == State::Waiting {
                newly.push(j);
            }
        }
        newly.sort_unstable();
        self.ready.extend(newly);
    }

    /// The layers of each of node `i`'s inputs, in its op's input order;
    /// `Err(why)` when one is not known (planning).
    fn input_layers(&self, i: usize) -> Result<Vec<Vec<LayerInfo>>, String> {
        let refs: Vec<&LayerRef> = match &self.nodes[i].kind {
            NodeKind::Vertex(v) => v.op.inputs(),
            NodeKind::Image => {
                let img = self.solver.graph.image.as_ref().expect("an image node has an image");
                let mut refs: Vec<&LayerRef> = img.layers.iter().map(|l| &l.layer).collect();
                refs.extend(img.version.iter().filter_map(|v| v.file.as_ref().map(|(r, _)| r)));
                refs
            }
        };
        refs.into_iter().map(|r| self.layers_of(r)).collect()
    }

    fn layers_of(&self, r: &LayerRef) -> Result<Vec<LayerInfo>, String> {
        match r {
            LayerRef::Image { reference } => {
                self.solver.resolved.image_layers(r).ok_or_else(|| format!("image {reference} would be pulled"))
            }
            LayerRef::Output { vertex, output } => match self.solved.outputs.get(vertex) {
                Some(outs) => Ok(outs.get(output).cloned().into_iter().collect()),
                None => Err(format!("{vertex} would run")),
            },
        }
    }

    /// The vertex and output of this build that yielded the layer with
    /// `diff_id`, for miss reasons.
    fn producer_of(&self, diff_id: &str) -> Option<String> {
        self.solved.outputs.iter().find_map(|(vertex, outs)| {
            outs.iter().find(|(_, l)| l.diff_id.to_string() == diff_id).map(|(role, _)| format!("{vertex} ({role})"))
        })
    }

    /// Keys node `i` and takes its result from the cache if it can; else
    /// returns the job that runs it (`None`: settled without a job).
    fn start(&mut self, i: usize, progress: &mut dyn Progress) -> crate::Result<Option<Job<'a>>> {
        let inputs = match self.input_layers(i) {
            Ok(l) => l,
            Err(why) => {
                self.would_run(i, why, progress);
                return Ok(None);
            }
        };
        let parts = self.key_parts(i, &inputs);
        let key = parts.key();
        let forced = self.solver.forced(&self.nodes[i]);
        if forced.is_none()
            && let Some(rec) = self.lookup(&key, progress)
            && self.complete(i, &rec)
        {
            self.take(i, &key, &parts, rec, progress);
            return Ok(None);
        }
        if forced.is_none()
            && !self.planning()
            && let Some(outputs) = self.elsewhere(i, &inputs, progress)
        {
            let rec = Record {
                vertex: self.nodes[i].id.clone(),
                layers: outputs.into_iter().collect(),
                vars: None,
                manifest: None,
                data: BTreeMap::new(),
            };
            if let Err(e) = self.cache.put(&key, &rec) {
                progress.event(&Event::Note { message: format!("cannot record a step the farm had: {e}") });
            }
            self.take(i, &key, &parts, rec, progress);
            return Ok(None);
        }
        let reason = match forced {
            Some(by) => MissReason::Forced { by },
            None => {
                let last = self.cache.last_inputs(&self.solver.opts.project_id, &self.nodes[i].id);
                MissReason::between(last.as_ref(), &parts).naming_layers(|diff_id| self.producer_of(diff_id))
            }
        };
        if self.planning() {
            self.would_run(i, reason.to_string(), progress);
            return Ok(None);
        }
        if let Some(&runner) = self.running_keys.get(&key) {
            // Another vertex does the same work right now: wait for it.
            self.state[i] = State::Merged(runner);
            self.merged.entry(runner).or_default().push(i);
            self.keys[i] = Some((key, parts));
            return Ok(None);
        }
        self.running_keys.insert(key.clone(), i);
        self.keys[i] = Some((key, parts));
        self.state[i] = State::Running;
        self.event(progress, i, StepStatus::Running { reason: reason.to_string() });
        Ok(Some(self.job(i, inputs)))
    }

    fn key_parts(&self, i: usize, inputs: &[Vec<LayerInfo>]) -> KeyParts {
        let base = self.solver.key_base();
        match &self.nodes[i].kind {
            NodeKind::Vertex(v) => {
                let pins = self.solver.resolved.pins.get(&v.id).map(Vec::as_slice).unwrap_or(&[]);
                keys::vertex_key(&base, &v.op, inputs, pins)
            }
            NodeKind::Image => {
                let spec = self.solver.graph.image.as_ref().expect("an image node has an image");
                let base_image = spec
                    .base
                    .as_ref()
                    .and_then(|b| self.solver.resolved.images.get(b))
                    .and_then(|p| p.image.as_ref())
                    .map(|img| img.descriptor.clone());
                keys::image_key(&base, spec, base_image.as_ref(), inputs, self.solver.resolved.vcs.as_ref())
            }
        }
    }

    /// Whether a record has everything node `i` yields.
    fn complete(&self, i: usize, rec: &Record) -> bool {
        match &self.nodes[i].kind {
            NodeKind::Vertex(v) => v.outputs().iter().all(|o| rec.layer(o).is_some()),
            NodeKind::Image => rec.manifest.is_some(),
        }
    }

    /// The local record of `key`, or one a `--cache-from` registry has
    /// (fetched into the store first). A registry that fails is a miss.
    /// Planning only reads: records are not marked used and a registry's
    /// record is taken from its index, its blobs left where they are.
    fn lookup(&mut self, key: &Key, progress: &mut dyn Progress) -> Option<Record> {
        let remotes = self.solver.remotes;
        if self.planning() {
            return self.cache.peek(key).or_else(|| remotes.iter().find_map(|r| r.record(key)));
        }
        if let Some(rec) = self.cache.get(key) {
            return Some(rec);
        }
        for remote in remotes {
            match remote.fetch(self.solver.store, key) {
                Ok(Some(rec)) => {
                    if let Err(e) = self.cache.put(key, &rec) {
                        let message = format!("cannot record a step fetched from the cache: {e}");
                        progress.event(&Event::Note { message });
                    }
                    return self.cache.get(key);
                }
                Ok(None) => {}
                Err(e) => {
                    progress.event(&Event::Note { message: format!("cache lookup failed, running the step: {e}") })
                }
            }
        }
        None
    }

    /// What the worker's farm already made of exec node `i`
    /// ([`Worker::cached`]); a lookup that fails is a miss.
    fn elsewhere(&self, i: usize, inputs: &[Vec<LayerInfo>], progress: &mut dyn Progress) -> Option<Outputs> {
        let (Some(worker), NodeKind::Vertex(v)) = (self.solver.worker, &self.nodes[i].kind) else { return None };
        let Op::Exec(op) = &v.op else { return None };
        let ctx = self.job(i, inputs.to_vec()).ctx;
        let job = crate::vertex::exec_job(&ctx, &v.id, op, inputs);
        match worker.cached(&job) {
            Ok(o) => o.filter(|o| v.outputs().iter().all(|name| o.contains_key(name))),
            Err(e) => {
                progress
                    .event(&Event::Note { message: format!("{}: farm cache lookup failed, running it: {e}", v.id) });
                None
            }
        }
    }

    /// Node `i`'s results from a record.
    fn take(&mut self, i: usize, key: &Key, parts: &KeyParts, rec: Record, progress: &mut dyn Progress) {
        let id = self.nodes[i].id.clone();
        if !self.planning() {
            self.cache.remember(&self.solver.opts.project_id, &id, parts);
        }
        self.settle(i, &rec);
        self.solved.records.push((key.clone(), rec));
        self.solved.cached.push(id);
        self.event(progress, i, StepStatus::Cached);
    }

    /// Records node `i`'s outputs as known.
    fn settle(&mut self, i: usize, rec: &Record) {
        let outputs: Outputs = rec.layers.iter().cloned().collect();
        if let NodeKind::Image = self.nodes[i].kind {
            self.solved.image = rec.manifest.clone();
        }
        self.solved.outputs.insert(self.nodes[i].id.clone(), outputs);
        self.state[i] = State::Done;
        self.settled(i);
    }

    fn would_run(&mut self, i: usize, reason: String, progress: &mut dyn Progress) {
        self.state[i] = State::Unknown(reason.clone());
        self.settled(i);
        self.solved.would_run.push(self.nodes[i].id.clone());
        self.event(progress, i, StepStatus::WouldRun { reason });
    }

    /// A job's result: record it, or remember the first failure and stop.
    fn finish(
        &mut self,
        i: usize,
        result: crate::Result<Yield>,
        seconds: f64,
        progress: &mut dyn Progress,
    ) -> crate::Result<()> {
        let (key, parts) = self.keys[i].clone().expect("a running node was keyed");
        self.running_keys.remove(&key);
        let made = match result {
            Ok(y) => y,
            Err(e) => {
                self.event(progress, i, StepStatus::Failed { error: e.to_string() });
                self.state[i] = State::Waiting;
                if self.failure.is_none() {
                    // Stop the others: their executors clean up and report.
                    self.solver.opts.cancel.cancel();
                    self.failure = Some((i, e));
                }
                return Ok(());
            }
        };
        let id = self.nodes[i].id.clone();
        for (role, l) in &made.outputs {
            progress.event(&Event::Layer { vertex: id.clone(), role: role.clone(), digest: l.digest.to_string() });
        }
        let rec = Record {
            vertex: id.clone(),
            layers: made.outputs.into_iter().collect(),
            vars: None,
            manifest: made.manifest,
            data: BTreeMap::new(),
        };
        self.cache.put(&key, &rec)?;
        self.cache.remember(&self.solver.opts.project_id, &id, &parts);
        self.settle(i, &rec);
        self.solved.records.push((key.clone(), rec.clone()));
        self.solved.ran.push(id);
        self.event(progress, i, StepStatus::Done { seconds });
        // Vertices that waited for this key take the same record.
        for j in self.merged.remove(&i).unwrap_or_default() {
            let (k, p) = self.keys[j].clone().expect("a merged node was keyed");
            self.take(j, &k, &p, rec.clone(), progress);
        }
        Ok(())
    }

    /// The job that runs node `i` over `inputs`.
    fn job(&self, i: usize, inputs: Vec<Vec<LayerInfo>>) -> Job<'a> {
        let s = self.solver;
        Job {
            ctx: crate::vertex::Context {
                store: s.store,
                frontend: s.frontend,
                worker: s.worker,
                project_dir: s.opts.project_dir.clone(),
                compression: s.opts.compression,
                epoch: s.epoch,
                cancel: s.opts.cancel.clone(),
                resolved: s.resolved,
                graph: s.graph,
            },
            what: match &self.nodes[i].kind {
                NodeKind::Vertex(v) => What::Vertex(v),
                NodeKind::Image => What::Image(s.graph.image.as_ref().expect("an image node has an image")),
            },
            inputs,
        }
    }

    /// `--shell-on-fail`: a shell over the failed exec vertex's inputs.
    fn maybe_shell(&self, i: usize, progress: &mut dyn Progress) {
        let s = self.solver;
        let (true, Some(worker), NodeKind::Vertex(v)) = (s.opts.shell_on_fail, s.worker, &self.nodes[i].kind) else {
            return;
        };
        let Op::Exec(op) = &v.op else { return };
        let Ok(inputs) = self.input_layers(i) else { return };
        let ctx = self.job(i, inputs.clone()).ctx;
        let job = crate::vertex::exec_job(&ctx, &v.id, op, &inputs);
        let message = format!("{} failed: opening a shell over its inputs (exit to end the build)", v.id);
        progress.event(&Event::Note { message });
        let (argv, _) = s.frontend.shell_command(v.group.as_deref().unwrap_or(""), &v.step, &[]);
        if let Err(e) = worker.shell(&job, argv) {
            progress.event(&Event::Note { message: format!("no shell: {e}") });
        }
    }
}

/// What a job runs.
enum What<'a> {
    Vertex(&'a Vertex),
    Image(&'a strata_frontend_api::graph::ImageSpec),
}

/// One vertex's run, handed to a job thread.
struct Job<'a> {
    ctx: crate::vertex::Context<'a>,
    what: What<'a>,
    inputs: Vec<Vec<LayerInfo>>,
}

impl Job<'_> {
    fn run(&self, note: &dyn Fn(String)) -> crate::Result<Yield> {
        match &self.what {
            What::Vertex(v) => {
                let outputs = crate::vertex::run(&self.ctx, v, &self.inputs, note)?;
                Ok(Yield { outputs, manifest: None })
            }
            What::Image(spec) => {
                crate::vertex::fetch_inputs(&self.ctx, &self.inputs)?;
                let manifest = crate::vertex::image::assemble(&self.ctx, spec, &self.inputs)?;
                Ok(Yield { outputs: Outputs::new(), manifest: Some(manifest) })
            }
        }
    }
}

#[cfg(test)]
mod tests;
