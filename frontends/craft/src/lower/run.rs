//! The scripts a step runs ([`crate::scripts::step_run`]) as mounts of its
//! exec op, and the project variables (`craftctl set/get`) as layers.
//!
//! | mount | source | writable |
//! |---|---|---|
//! | [`RUN_DIR`] | the run files outside `craftctl/` (`bin/craftctl`) | no |
//! | [`CRAFTCTL_DIR`] | the `craftctl/` files (scripts, environment, `adopt-info`), seeded with the variables | yes |
//! | [`PROJECT_DIR`] | the project | no |
//!
//! **Project variables.** Today's lifecycle carried them through the run
//! in run order. In the graph they are layers: every script-running step's
//! craftctl dir is seeded with the `vars` output of the adopt-info part's
//! nearest earlier script-running step in plan order (without one, the
//! initial `vars/` files are written instead), and the adopt-info part's
//! script-running steps capture `vars/` and `set/` of their craftctl dir as
//! their output `vars`. So a step reads the variables only through a
//! declared input, and the image's version is read from the last such
//! layer (`docs/craft-differences.md`, "Project variables").
//!
//! A build base without bash gets a `/bin/bash` that runs `/bin/sh`
//! ([`ExecOp::provide`]), as today's shim.

use strata_frontend_api::Step;
use strata_frontend_api::graph::{Capture, ExecOp, FileData, LayerRef, Mount, MountSource, Provided};

use crate::dirs::{CRAFTCTL_DIR, PROJECT_DIR, RUN_DIR};
use crate::scripts::{ProjectVars, step_run};

use super::Lowering;

/// The output of a script's craftctl dir holding the project variables.
pub const VARS: &str = "vars";

/// The stand-in for bash in build bases without it.
pub const BASH_SHIM: &str =
    "#!/bin/sh\n# strata: the build base has no bash; run the step with its sh\nexec /bin/sh \"$@\"\n";

/// What a step's script adds to its exec op.
pub(super) struct Script {
    pub argv: Vec<String>,
    pub mounts: Vec<Mount>,
}

impl Lowering<'_> {
    /// The script of `step` of `part`, if the step runs one, with the
    /// project variables as they stand before it in plan order.
    pub(super) fn script(&self, part: &str, step: Step) -> Option<Script> {
        let run = step_run(self.project, part, step, &self.info, &ProjectVars::new(self.project));
        if !run.in_container {
            return None;
        }
        let seeded = self.vars.is_some();
        let mut run_files = Vec::new();
        let mut craftctl_files = Vec::new();
        for (path, f) in &run.files {
            let data = |p: &str| FileData::new(p, f.mode, f.contents.as_bytes());
            match path.strip_prefix("craftctl/") {
                Some(rel) if seeded && (rel.starts_with("vars/") || rel.starts_with("set/")) => {}
                Some(rel) => craftctl_files.push(data(rel)),
                None => run_files.push(data(path)),
            }
        }
        let adopts = self.project.adopt_info.as_deref() == Some(part);
        let mounts = vec![
            Mount {
                destination: RUN_DIR.into(),
                source: MountSource::Dir { seed: vec![], files: run_files },
                read_only: true,
                capture: None,
            },
            Mount {
                destination: CRAFTCTL_DIR.into(),
                source: MountSource::Dir { seed: self.vars.iter().cloned().collect(), files: craftctl_files },
                read_only: false,
                capture: adopts.then(|| Capture::under(VARS, ["vars", "set"])),
            },
            Mount { destination: PROJECT_DIR.into(), source: MountSource::Project, read_only: true, capture: None },
        ];
        Some(Script { argv: run.argv, mounts })
    }

    /// An exec op running a step script, with the bash stand-in; the
    /// variables move on when `part` adopts them (call with the vertex id).
    pub(super) fn script_op(&mut self, id: &str, part: &str, script: Script, mut op: ExecOp) -> ExecOp {
        op.argv = script.argv;
        let mut mounts = script.mounts;
        mounts.append(&mut op.mounts);
        op.mounts = mounts;
        op.provide.push(Provided { path: "/bin/bash".into(), file: FileData::new("bash", 0o755, BASH_SHIM) });
        if self.project.adopt_info.as_deref() == Some(part) {
            self.vars = Some(LayerRef::output(id, VARS));
        }
        op
    }

    /// The latest layer of the project variables (what the image's version
    /// is read from).
    pub(super) fn vars(&self) -> Option<&LayerRef> {
        self.vars.as_ref()
    }
}
