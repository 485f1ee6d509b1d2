//! A dry run of the lifecycle on file listings: dump (or a given install
//! tree) → organize → stage → prime, with craft-parts' filesets, organize
//! rules and stage conflict checks — no containers, no disk.
//!
//! Scriptlets are not run: a part with `override-build` (or a plugin other
//! than dump and nil) needs its install tree given, and `override-stage`
//! and `override-prime` are taken to call `craftctl default` (files they
//! write themselves are not in the result, just as they are not tracked by
//! craft-parts).
//!
//! What remains to make this the conformance dry run of the lowered graph
//! ([`crate::lower`]): a fake worker that answers each exec op of a dump or
//! nil part with its source tree under the capture's paths, and a runner
//! that walks the graph in order, feeding the host ops ([`crate::hostops`]:
//! organize, stage, prime) the trees of the outputs they name. The host ops
//! are the functions this module already calls (`organize`, `stage_part`,
//! `prime_part`, `check_stage_conflicts`), so the results agree; the
//! graph walk waits for the solver's `Worker` trait (src/solver) to land.

use std::collections::BTreeMap;

use strata_frontend_api::Project;

use crate::migrate::{MigrateError, StageConflict, check_stage_conflicts, prime_part, stage_part};
use crate::order::{OrderError, order};
use crate::organize::{OrganizeError, Organized, organize};
use crate::tree::{Tree, is_within};

/// What a part starts from in a simulation.
#[derive(Debug, Clone)]
pub enum PartInput {
    /// The tree its pull step fetches (dump and nil parts).
    Source(Tree),
    /// The install tree its build produces, before organize.
    Install(Tree),
}

/// The trees a simulated lifecycle ends with.
#[derive(Debug, Clone, Default)]
pub struct Simulation {
    /// Each part's install tree after organize.
    pub install: BTreeMap<String, Tree>,
    pub organized: BTreeMap<String, Organized>,
    pub stage: Tree,
    pub prime: Tree,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimulateError {
    #[error(transparent)]
    Order(#[from] OrderError),
    #[error(transparent)]
    Organize(#[from] OrganizeError),
    #[error(transparent)]
    Migrate(#[from] MigrateError),
    #[error(transparent)]
    Conflict(#[from] StageConflict),
    #[error("part '{part}': {reason}")]
    NeedsInstall { part: String, reason: String },
}

/// Runs pull (dump), build, organize, stage and prime over trees.
pub fn simulate(project: &Project, inputs: &BTreeMap<String, PartInput>) -> Result<Simulation, SimulateError> {
    let order = order(project)?;
    let mut sim = Simulation::default();
    for name in &order {
        let part = &project.parts[name];
        let mut install = match inputs.get(name) {
            Some(PartInput::Install(t)) => t.clone(),
            Some(PartInput::Source(src)) if part.scriptlets.override_build.is_none() && part.plugin == "dump" => {
                let sub = part.source.as_ref().and_then(|s| s.subdir.clone()).unwrap_or_default();
                subtree(src, &sub)
            }
            None if part.scriptlets.override_build.is_none() && part.plugin == "nil" => Tree::new(),
            Some(PartInput::Source(_)) if part.scriptlets.override_build.is_none() && part.plugin == "nil" => {
                Tree::new()
            }
            _ => {
                return Err(SimulateError::NeedsInstall {
                    part: name.clone(),
                    reason: format!(
                        "its build ({}) cannot be simulated; give its install tree",
                        if part.scriptlets.override_build.is_some() {
                            "override-build".to_string()
                        } else {
                            format!("the {} plugin", part.plugin)
                        }
                    ),
                });
            }
        };
        let organized = organize(name, &mut install, &part.organize)?;
        sim.organized.insert(name.clone(), organized);
        sim.install.insert(name.clone(), install);
    }
    let staged: Vec<(&str, &strata_frontend_api::Part, &Tree)> =
        order.iter().map(|n| (n.as_str(), &project.parts[n], &sim.install[n])).collect();
    check_stage_conflicts(&staged)?;
    let mut stage = Tree::new();
    for (name, part, install) in &staged {
        stage_part(name, part, install, &mut stage)?;
    }
    let mut prime = Tree::new();
    for (name, part, install) in &staged {
        prime_part(name, part, install, &stage, &mut prime)?;
    }
    sim.stage = stage;
    sim.prime = prime;
    Ok(sim)
}

/// The part of `tree` under `dir`, re-rooted (`dir` empty: all of it).
pub fn subtree(tree: &Tree, dir: &str) -> Tree {
    if dir.is_empty() {
        return tree.clone();
    }
    let mut out = Tree::new();
    for (p, e) in tree.iter() {
        if is_within(p, dir) && p != dir {
            out.insert(&p[dir.len() + 1..], e.clone());
        }
    }
    out
}
