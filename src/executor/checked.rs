//! An executor whose backend is checked when the first step runs, not when
//! the build starts: a build whose steps are all cached never pays for the
//! probe (`runc --version` is ~12 ms of a 60 ms cached rebuild; a daemon
//! ping more), and works where the backend is absent; a build that runs a
//! step still fails before that step starts, with the backend's own error.

use std::sync::OnceLock;

use super::{Cancel, ExecError, Execution, Executor, LogSink, StepSpec};
use crate::store::Store;

/// `inner`, checked once by `check` before its first step.
pub struct CheckedOnFirstUse<E> {
    inner: E,
    check: fn(&E) -> Result<(), ExecError>,
    passed: OnceLock<()>,
}

impl<E: Executor> CheckedOnFirstUse<E> {
    pub fn new(inner: E, check: fn(&E) -> Result<(), ExecError>) -> Self {
        CheckedOnFirstUse { inner, check, passed: OnceLock::new() }
    }

    /// Runs the check unless it passed before (two steps starting at once
    /// may both run it; it has no side effects). A failed check is run
    /// again next time: the backend may have come up.
    fn ensure(&self) -> Result<(), ExecError> {
        if self.passed.get().is_none() {
            (self.check)(&self.inner)?;
            let _ = self.passed.set(());
        }
        Ok(())
    }
}

impl<E: Executor> Executor for CheckedOnFirstUse<E> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn run(
        &self,
        store: &Store,
        spec: &StepSpec,
        sink: &mut dyn LogSink,
        cancel: &Cancel,
    ) -> Result<Execution, ExecError> {
        self.ensure()?;
        self.inner.run(store, spec, sink, cancel)
    }

    fn interactive(&self, store: &Store, spec: &StepSpec) -> Result<i32, ExecError> {
        self.ensure()?;
        self.inner.interactive(store, spec)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// An executor that counts its checks and fails them while `down`.
    struct Probe {
        checks: AtomicUsize,
        down: bool,
    }

    impl Executor for Probe {
        fn name(&self) -> &'static str {
            "probe"
        }
        fn run(&self, _: &Store, spec: &StepSpec, _: &mut dyn LogSink, _: &Cancel) -> Result<Execution, ExecError> {
            Err(ExecError::InvalidStep { step: spec.name.clone(), reason: "ran".into() })
        }
    }

    fn check(p: &Probe) -> Result<(), ExecError> {
        p.checks.fetch_add(1, Ordering::SeqCst);
        if p.down { Err(ExecError::Unavailable { backend: "probe", reason: "down".into() }) } else { Ok(()) }
    }

    /// A log nobody reads.
    struct NoLog;

    impl LogSink for NoLog {
        fn write(&mut self, _: super::super::Stream, _: &[u8]) {}
        fn path(&self) -> &std::path::Path {
            std::path::Path::new("/dev/null")
        }
    }

    fn run(e: &CheckedOnFirstUse<Probe>, store: &Store) -> String {
        let spec = StepSpec::new("s", Vec::new(), vec!["true".into()]);
        e.run(store, &spec, &mut NoLog, &Cancel::new()).err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn nothing_is_checked_until_a_step_runs_and_then_only_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let e = CheckedOnFirstUse::new(Probe { checks: AtomicUsize::new(0), down: false }, check);
        assert_eq!(e.inner.checks.load(Ordering::SeqCst), 0, "making it checks nothing");
        assert!(run(&e, &store).contains("ran"));
        assert!(run(&e, &store).contains("ran"));
        assert_eq!(e.inner.checks.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn an_unreachable_backend_fails_the_step_before_it_runs() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let e = CheckedOnFirstUse::new(Probe { checks: AtomicUsize::new(0), down: true }, check);
        assert_eq!(run(&e, &store), "probe is not available: down");
        assert_eq!(run(&e, &store), "probe is not available: down", "checked again: it may have come up");
        assert_eq!(e.inner.checks.load(Ordering::SeqCst), 2);
    }
}
