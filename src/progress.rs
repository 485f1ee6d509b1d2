//! What a build tells its user, as [`Event`]s, and the renderers
//! `--progress=plain|tty|json` picks (`auto`: tty on a terminal, else plain).
//!
//! - **plain**: one line per event, stable, for logs and tests:
//!   `[hello:build] run (source:main.c changed: sha256:… → sha256:…)`,
//!   `[hello:build] done in 1.2s`, `[hello:build] cached`.
//! - **tty**: the same lines, with a step counter and colours, and below
//!   them one line per step running now (redrawn on every event), so
//!   steps running at once (`--jobs`) can be followed; step logs are not
//!   echoed then (they stay in the store, and a failure shows their tail).
//! - **json**: one JSON object per line (`{"event":"step","vertex":...}`),
//!   for CI systems; every line parses on its own.
//!
//! Step logs are not events: executors write them (prefixed) to stderr.

use std::io::{IsTerminal, Write};

use serde::Serialize;

/// How to show progress (`--progress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ProgressMode {
    #[default]
    Auto,
    Tty,
    Plain,
    Json,
}

/// What happened to a step.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum StepStatus {
    /// It runs; `reason` says why it was not cached.
    Running { reason: String },
    /// Its cached result was used; nothing ran.
    Cached,
    /// `strata plan`: it would run, and why.
    WouldRun { reason: String },
    /// It ran.
    Done { seconds: f64 },
    /// It failed.
    Failed { error: String },
}

/// One thing worth telling.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Event {
    /// How many steps this build considers.
    Plan { steps: usize },
    /// A step's status changed. `index` counts from 1.
    Step {
        vertex: String,
        index: usize,
        #[serde(flatten)]
        status: StepStatus,
    },
    /// A step wrote a layer.
    Layer { vertex: String, role: String, digest: String },
    /// A remark (a base image pulled, a tag that moved).
    Note { message: String },
    /// The image is built.
    Image { digest: String, cached_steps: usize, run_steps: usize },
}

/// Where events go.
pub trait Progress {
    fn event(&mut self, event: &Event);
}

/// What `mode` means here: `auto` is tty on a terminal, else plain.
pub fn resolve(mode: ProgressMode) -> ProgressMode {
    match mode {
        ProgressMode::Auto if std::io::stdout().is_terminal() => ProgressMode::Tty,
        ProgressMode::Auto => ProgressMode::Plain,
        m => m,
    }
}

/// A renderer for `mode`, writing to `out` (`auto` looks at stdout).
pub fn renderer<'a>(mode: ProgressMode, out: &'a mut dyn Write) -> Box<dyn Progress + 'a> {
    match resolve(mode) {
        ProgressMode::Json => Box::new(Json { out }),
        m => Box::new(Lines { out, tty: m == ProgressMode::Tty, steps: 0, running: Vec::new(), drawn: 0 }),
    }
}

/// The plain and tty renderers.
struct Lines<'a> {
    out: &'a mut dyn Write,
    tty: bool,
    steps: usize,
    /// tty: the steps running now, and since when.
    running: Vec<(String, std::time::Instant)>,
    /// tty: how many status lines are below the last event line.
    drawn: usize,
}

impl Lines<'_> {
    /// tty: keeps the set of running steps and redraws their lines.
    fn status(&mut self, event: &Event) {
        if let Event::Step { vertex, status, .. } = event {
            self.running.retain(|(v, _)| v != vertex);
            if matches!(status, StepStatus::Running { .. }) {
                self.running.push((vertex.clone(), std::time::Instant::now()));
            }
        }
        for (v, since) in &self.running {
            let line = format!("  {} [{v}] {:.1}s", self.paint("1;34", "running"), since.elapsed().as_secs_f64());
            writeln!(self.out, "{line}").ok();
        }
        self.drawn = self.running.len();
    }
}

impl Lines<'_> {
    fn paint(&self, colour: &str, s: &str) -> String {
        if self.tty { format!("\x1b[{colour}m{s}\x1b[0m") } else { s.to_string() }
    }
}

impl Progress for Lines<'_> {
    fn event(&mut self, event: &Event) {
        let line = match event {
            Event::Plan { steps } => {
                self.steps = *steps;
                return;
            }
            Event::Step { vertex, index, status } => {
                let counter =
                    if self.tty && self.steps > 0 { format!("{index}/{} ", self.steps) } else { String::new() };
                let what = match status {
                    StepStatus::Running { reason } => format!("{} ({reason})", self.paint("1;34", "run")),
                    StepStatus::WouldRun { reason } => format!("{} ({reason})", self.paint("1;33", "would run")),
                    StepStatus::Cached => self.paint("32", "cached"),
                    StepStatus::Done { seconds } => format!("done in {seconds:.1}s"),
                    StepStatus::Failed { error } => format!("{}: {error}", self.paint("1;31", "failed")),
                };
                format!("{counter}[{vertex}] {what}")
            }
            Event::Layer { vertex, role, digest } => format!("[{vertex}] layer {role} {digest}"),
            Event::Note { message } => format!("note: {message}"),
            Event::Image { digest, cached_steps, run_steps } => {
                format!("[pack] image {digest} ({run_steps} steps run, {cached_steps} cached)")
            }
        };
        if self.tty {
            // Up over the status lines and clear them; the event line takes
            // their place and they are drawn again below it.
            for _ in 0..self.drawn {
                write!(self.out, "\x1b[1A\x1b[2K").ok();
            }
        }
        writeln!(self.out, "{line}").ok();
        if self.tty {
            self.status(event);
        }
        self.out.flush().ok();
    }
}

struct Json<'a> {
    out: &'a mut dyn Write,
}

impl Progress for Json<'_> {
    fn event(&mut self, event: &Event) {
        if let Ok(line) = serde_json::to_string(event) {
            writeln!(self.out, "{line}").ok();
            self.out.flush().ok();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(mode: ProgressMode, events: &[Event]) -> String {
        let mut buf = Vec::new();
        {
            let mut r = renderer(mode, &mut buf);
            for e in events {
                r.event(e);
            }
        }
        String::from_utf8(buf).unwrap()
    }

    fn events() -> Vec<Event> {
        vec![
            Event::Plan { steps: 2 },
            Event::Step {
                vertex: "hello:build".into(),
                index: 1,
                status: StepStatus::Running { reason: "not built before".into() },
            },
            Event::Step { vertex: "hello:build".into(), index: 1, status: StepStatus::Done { seconds: 1.25 } },
            Event::Step { vertex: "hello:stage".into(), index: 2, status: StepStatus::Cached },
        ]
    }

    #[test]
    fn plain_progress_is_one_stable_line_per_event() {
        assert_eq!(
            render(ProgressMode::Plain, &events()),
            "[hello:build] run (not built before)\n[hello:build] done in 1.2s\n[hello:stage] cached\n"
        );
    }

    #[test]
    fn json_progress_is_one_parseable_object_per_line() {
        let out = render(ProgressMode::Json, &events());
        let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0], serde_json::json!({"event": "plan", "steps": 2}));
        assert_eq!(
            lines[1],
            serde_json::json!({"event": "step", "vertex": "hello:build", "index": 1, "status": "running", "reason": "not built before"})
        );
        assert_eq!(lines[3]["status"], "cached");
    }

    #[test]
    fn tty_progress_counts_steps_and_colours_statuses() {
        let out = render(ProgressMode::Tty, &events());
        assert!(out.starts_with("1/2 [hello:build] \x1b[1;34mrun\x1b[0m"), "{out:?}");
    }

    #[test]
    fn tty_progress_keeps_a_line_per_running_step_below_the_events() {
        let run = |v: &str| Event::Step {
            vertex: v.into(),
            index: 1,
            status: StepStatus::Running { reason: "not built before".into() },
        };
        let done = |v: &str| Event::Step { vertex: v.into(), index: 1, status: StepStatus::Done { seconds: 1.0 } };
        let out = render(ProgressMode::Tty, &[run("a:build"), run("b:build"), done("a:build")]);
        let status = |v: &str| format!("  \x1b[1;34mrunning\x1b[0m [{v}] 0.0s\n");
        let up = "\x1b[1A\x1b[2K";
        // After the last event: only b is still running.
        assert!(out.ends_with(&format!("[a:build] done in 1.0s\n{}", status("b:build"))), "{out:?}");
        // Before it, both were shown, and were cleared for it.
        assert!(out.contains(&format!("{}{}{up}{up}", status("a:build"), status("b:build"))), "{out:?}");
    }
}
