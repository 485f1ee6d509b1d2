//! Shells into the lifecycle: `strata shell --part P --step S [-- CMD...]`
//! opens one in a container holding the part's state after that step (the
//! build base, its build-packages, its pull and fetched stage-packages, the
//! stage it sees, what the step made; the overlay at `CRAFT_OVERLAY` for
//! parts that see it; for the overlay step, the runtime base and the
//! overlays up to the part's), with the step's environment and scripts at
//! `/run/strata`; `--shell-on-fail` opens one over a failed step's inputs,
//! so its script can be rerun by hand (`bash /run/strata/craftctl/...`).
//! Changes made in a shell are discarded.

use strata_frontend_api::Step;
use strata_frontend_craft::dirs::{CRAFTCTL_DIR, PARTS_DIR, RUN_DIR};

use super::{BuildOptions, Lifecycle, LifecycleError};
use crate::executor::{Executor, StepSpec};
use crate::layer::LayerInfo;
use crate::progress::{Event, Progress};
use crate::store::Store;

/// The command a shell runs: `argv` (a login-ish shell if empty) after
/// sourcing the step's environment.
fn shell_argv(argv: &[String], has_bash: bool) -> Vec<String> {
    let shell = if has_bash { "/bin/bash" } else { "/bin/sh" };
    let mut v = vec![
        "/bin/sh".to_string(),
        "-c".into(),
        format!(". {CRAFTCTL_DIR}/environment.sh 2>/dev/null; exec \"$@\""),
        "strata-shell".into(),
    ];
    if argv.is_empty() {
        v.push(shell.into());
    } else {
        v.extend(argv.iter().cloned());
    }
    v
}

/// `strata shell`: runs the lifecycle up to `step` for `part` (from the
/// cache when it can), then `argv` (a shell if empty) in that state.
/// Returns the command's exit code.
#[allow(clippy::too_many_arguments)]
pub fn shell(
    store: &Store,
    executor: &dyn Executor,
    path: &std::path::Path,
    opts: &BuildOptions,
    part: &str,
    step: Step,
    argv: &[String],
    progress: &mut dyn Progress,
) -> crate::Result<i32> {
    let mut lc = Lifecycle::new(store, Some(executor), path, opts, progress)?;
    super::check_parts(&lc.project, &[part.to_string()])?;
    let actions = strata_frontend_craft::sequencer::Sequencer::new(&lc.project)
        .map_err(LifecycleError::from)?
        .plan(step, &[part]);
    lc.run_actions(&actions, 0)?;
    lc.open_shell(part, step, argv)
}

impl Lifecycle<'_> {
    /// The layers of `part`'s state after `step`, bottom to top.
    fn state_layers(&self, part: &str, step: Step) -> Vec<LayerInfo> {
        let st = self.parts.get(part);
        let get = |f: fn(&super::PartState) -> &Option<LayerInfo>| st.and_then(|s| f(s).clone());
        if step == Step::Overlay && self.base.is_some() {
            // The overlay step's own container: the runtime base and the
            // overlays up to the part's.
            let mut layers = self.base_layers();
            layers.extend(self.overlays_before(part, true));
            return layers;
        }
        let mut layers = self.build_base.clone();
        layers.extend(get(|s| &s.build_packages));
        layers.extend(get(|s| &s.pull));
        layers.extend(st.and_then(|s| s.stage_packages.as_ref()).map(|f| f.layer.clone()));
        if matches!(step, Step::Build | Step::Stage | Step::Prime) {
            layers.extend(self.dependency_stage(part).into_iter().filter_map(|(_, l)| l));
            layers.extend(get(|s| &s.built));
        }
        if matches!(step, Step::Stage | Step::Prime) {
            layers.extend(self.staged_layers());
        }
        if step == Step::Prime {
            layers.extend(self.primed_layers());
        }
        layers
    }

    fn open_shell(&mut self, part: &str, step: Step, argv: &[String]) -> crate::Result<i32> {
        let executor = self.executor.expect("a shell needs an executor");
        let (run_dir, _) = self.prepare_run(part, step)?;
        let label = format!("{part}:{}-shell", step.name());
        // The overlay at CRAFT_OVERLAY, as the part's build sees it.
        let view =
            if matches!(step, Step::Build | Step::Stage | Step::Prime) { self.overlay_view(part)? } else { None };
        let argv = shell_argv(argv, self.bash_shim.is_none());
        let extra = view.iter().map(|(_, m)| m.clone()).collect();
        let mut spec = self.step_spec(&label, self.state_layers(part, step), argv, Some(&run_dir), extra);
        spec.cwd =
            if step == Step::Pull { format!("{PARTS_DIR}/{part}/src") } else { format!("{PARTS_DIR}/{part}/build") };
        let code = executor.interactive(self.store, &spec)?;
        drop(view);
        Ok(code)
    }

    /// `--shell-on-fail`: a shell over the failed step's inputs, mounts and
    /// environment.
    pub(super) fn shell_after_failure(&mut self, failed: &StepSpec) {
        let Some(executor) = self.executor else { return };
        self.progress.event(&Event::Note {
            message: format!(
                "{} failed: opening a shell over its inputs (its scripts are in {RUN_DIR}; exit to end the build)",
                failed.name
            ),
        });
        let mut spec = failed.clone();
        spec.name = format!("{}-shell", failed.name);
        spec.argv = shell_argv(&[], self.bash_shim.is_none());
        spec.timeout = None;
        if let Err(e) = executor.interactive(self.store, &spec) {
            self.progress.event(&Event::Note { message: format!("no shell: {e}") });
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_shell_sources_the_step_environment_first() {
        let argv = super::shell_argv(&[], true);
        assert_eq!(argv[2], ". /run/strata/craftctl/environment.sh 2>/dev/null; exec \"$@\"");
        assert_eq!(argv.last().unwrap(), "/bin/bash");
        let argv = super::shell_argv(&["ls".into(), "-l".into()], false);
        assert_eq!(&argv[4..], ["ls", "-l"]);
    }
}
