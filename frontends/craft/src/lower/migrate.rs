//! The stage and prime steps: host ops over install trees, or, for
//! `override-stage` / `override-prime`, an exec op with the default
//! migration mounted for `craftctl default`.
//!
//! | vertex | op | inputs | yields |
//! |---|---|---|---|
//! | `<p>:stage` | [`hostops::STAGE`] | own organized install tree, then those of the parts before it (lifecycle order: the conflict check) | `root/stage`: what the part adds |
//! | `<p>:stage:migration` → `<p>:stage` | the same host op at the root → exec over build base + own install + the stage of the parts before it (lifecycle order), the migration read-only at [`MIGRATION_DIR`] | | `root/stage` |
//! | `<p>:prime` | [`hostops::PRIME`] | install tree, own stage | `root/prime` |
//! | `<p>:prime:migration` → `<p>:prime` | the same at the root → exec over build base + own install + the stage of the parts up to and including it + the prime of the parts before it | | `root/prime` |
//!
//! Today's lifecycle gave an override the stage (and prime) of the parts
//! staged so far in this run; here it is the parts before it in lifecycle
//! order, so its key does not depend on run order
//! (`docs/craft-differences.md`).

use strata_frontend_api::Step;
use strata_frontend_api::graph::{
    Capture, ExecOp, HostInput, HostOutput, LayerRef, Mount, MountSource, OUT, Op, Vertex,
};

use crate::dirs::MIGRATION_DIR;
use crate::hostops::{self, prime::Prime, stage::Stage, stage::StageConflicts, stage::Staging};

use super::{Lowering, part_path};

impl Lowering<'_> {
    pub(super) fn stage(&mut self, part: &str) {
        let p = &self.project.parts[part];
        let earlier: Vec<String> = self.before(part).to_vec();
        let install_dir = crate::env::part_dirs(part, p).install;
        let params = Stage { this: Staging::of(part, p), install_dir: install_dir.clone() };
        let install = part_path(part, "install");
        let inputs = vec![HostInput { layers: vec![self.install(part)], path: install.clone() }];
        let id = format!("{part}:stage");
        if self.script(part, Step::Stage).is_none() {
            let outputs = vec![HostOutput { name: OUT.into(), prefix: "root/stage".into() }];
            let op = hostops::host_op(hostops::STAGE, &params, inputs, outputs);
            self.push(id, part, Step::Stage, format!("stage {part}"), Op::Host(op));
            return;
        }
        let migration = format!("{id}:migration");
        let outputs = vec![HostOutput { name: OUT.into(), prefix: String::new() }];
        let op = hostops::host_op(hostops::STAGE, &params, inputs, outputs);
        self.push(migration.clone(), part, Step::Stage, format!("the default stage of {part}"), Op::Host(op));
        let mut rootfs = vec![self.build_base(), self.install(part)];
        rootfs.extend(earlier.iter().map(|e| self.stage_out(e)));
        self.override_step(&id, part, Step::Stage, rootfs, LayerRef::output(&migration, OUT), "root/stage");
    }

    /// The stage conflict check over every part (a project of one part has
    /// none): `stage:conflicts`, a vertex with no output that every build
    /// runs, so the parts' stages need not read each other's install trees.
    pub(super) fn stage_conflicts(&mut self) {
        if self.order.len() < 2 {
            return;
        }
        let parts: Vec<Staging> = self.order.iter().map(|p| Staging::of(p, &self.project.parts[p])).collect();
        let inputs = self
            .order
            .iter()
            .map(|p| HostInput { layers: vec![self.install(p)], path: part_path(p, "install") })
            .collect();
        let op = hostops::host_op(hostops::STAGE_CONFLICTS, &StageConflicts { parts }, inputs, vec![]);
        let mut v = Vertex::new("stage:conflicts", None, Step::Stage.name(), Op::Host(op));
        v.description = "check that no two parts stage different files at one path".into();
        self.graph.push(v);
    }

    pub(super) fn prime(&mut self, part: &str) {
        let mut params = Prime::of(part, &self.project.parts[part]);
        params.python_shebang_dirs = crate::plugins::python::v2_shebang_dirs(self.project, part);
        let inputs = vec![
            HostInput { layers: vec![self.install(part)], path: part_path(part, "install") },
            HostInput { layers: vec![self.stage_out(part)], path: "root/stage".into() },
        ];
        let id = format!("{part}:prime");
        if self.script(part, Step::Prime).is_none() {
            let outputs = vec![HostOutput { name: OUT.into(), prefix: "root/prime".into() }];
            let op = hostops::host_op(hostops::PRIME, &params, inputs, outputs);
            self.push(id, part, Step::Prime, format!("prime {part}"), Op::Host(op));
            return;
        };
        let migration = format!("{id}:migration");
        let outputs = vec![HostOutput { name: OUT.into(), prefix: String::new() }];
        let op = hostops::host_op(hostops::PRIME, &params, inputs, outputs);
        self.push(migration.clone(), part, Step::Prime, format!("the default prime of {part}"), Op::Host(op));
        let earlier: Vec<String> = self.before(part).to_vec();
        let mut rootfs = vec![self.build_base(), self.install(part)];
        rootfs.extend(earlier.iter().map(|e| self.stage_out(e)));
        rootfs.push(self.stage_out(part));
        rootfs.extend(earlier.iter().map(|e| self.prime_out(e)));
        self.override_step(&id, part, Step::Prime, rootfs, LayerRef::output(&migration, OUT), "root/prime");
    }

    /// `override-stage` / `override-prime`: the script over `rootfs`, the
    /// default migration at [`MIGRATION_DIR`], capturing `target`.
    fn override_step(
        &mut self,
        id: &str,
        part: &str,
        step: Step,
        rootfs: Vec<LayerRef>,
        migration: LayerRef,
        target: &str,
    ) {
        let script = self.script(part, step).expect("an override runs a script");
        let op = ExecOp {
            rootfs,
            mounts: vec![Mount {
                destination: MIGRATION_DIR.into(),
                source: MountSource::Layers(vec![migration]),
                read_only: true,
                capture: None,
            }],
            capture: vec![Capture::under(OUT, [target])],
            ..Default::default()
        };
        let op = self.script_op(id, part, script, op);
        self.push(id.to_string(), part, step, format!("{} {part}", step.name()), Op::Exec(op));
    }
}
