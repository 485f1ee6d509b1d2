//! The action plan: which step of which part runs, in what order, and why
//! — craft-parts' `Sequencer`, without its on-disk state.
//!
//! The rule that shapes a plan: steps go one at a time across all parts in
//! part order (pull of every part, then build of every part, ...), and a
//! part's build or stage first brings the parts of its `after:` up to their
//! stage step, with the reason `required to build 'a-app'`. Steps that
//! already ran are listed as `skip (already ran)`.
//!
//! craft-parts also reruns steps that are dirty (their properties changed)
//! or outdated (their sources changed) by comparing state files; strata's
//! planner decides that with cache keys instead, so this sequencer only
//! knows which steps have run ([`Sequencer::mark_ran`]).

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};
use strata_frontend_api::{Action, ActionKind, Part, Project, Step};

use crate::order::{OrderError, order};
use crate::parse::uses_overlay;

/// Plans lifecycle actions for a project.
pub struct Sequencer<'a> {
    project: &'a Project,
    order: Vec<String>,
    overlay: bool,
    ran: BTreeSet<(String, Step)>,
    layer_hash: BTreeMap<String, Option<Vec<u8>>>,
    base_layer_hash: Vec<u8>,
    overlay_viewers: BTreeSet<String>,
    actions: Vec<Action>,
}

impl<'a> Sequencer<'a> {
    /// A sequencer for a project where nothing has run yet. The overlay step
    /// is planned only when a part uses it (craft-parts' overlay feature;
    /// see docs/craft-differences.md).
    pub fn new(project: &'a Project) -> Result<Sequencer<'a>, OrderError> {
        let overlay = project.parts.values().any(uses_overlay);
        Sequencer::with_overlay(project, overlay)
    }

    /// Like [`Sequencer::new`], with the overlay step forced on or off.
    pub fn with_overlay(project: &'a Project, overlay: bool) -> Result<Sequencer<'a>, OrderError> {
        let order = order(project)?;
        let mut viewers = BTreeSet::new();
        for name in &order {
            if overlay_visible(project, name, &mut BTreeSet::new()) {
                viewers.insert(name.clone());
            }
        }
        Ok(Sequencer {
            project,
            layer_hash: order.iter().map(|p| (p.clone(), None)).collect(),
            order,
            overlay,
            ran: BTreeSet::new(),
            base_layer_hash: Vec::new(),
            overlay_viewers: viewers,
            actions: Vec::new(),
        })
    }

    /// Records that a step has run (its results are cached), so plans list
    /// it as skipped. Marking a step marks the steps before it.
    pub fn mark_ran(&mut self, part: &str, step: Step) {
        for s in step.previous().iter().chain([&step]) {
            self.ran.insert((part.to_string(), *s));
        }
        if step >= Step::Overlay {
            let hash = self.compute_layer_hash(part);
            self.layer_hash.insert(part.to_string(), Some(hash));
        }
    }

    /// The parts in lifecycle order.
    pub fn part_order(&self) -> &[String] {
        &self.order
    }

    /// The actions to bring `parts` (all parts when empty) to `target`.
    /// Planning updates the sequencer's notion of what ran, as craft-parts'
    /// does, so a second plan after the first lists skips.
    pub fn plan(&mut self, target: Step, parts: &[&str]) -> Vec<Action> {
        self.plan_with(target, parts, false)
    }

    /// Like [`Sequencer::plan`]; `rerun` cleans and reruns the target step
    /// of the selected parts even when it ran.
    pub fn plan_with(&mut self, target: Step, parts: &[&str], rerun: bool) -> Vec<Action> {
        self.actions.clear();
        self.add_all(target, parts, None, rerun);
        std::mem::take(&mut self.actions)
    }

    fn steps_to(&self, target: Step) -> Vec<Step> {
        Step::ALL.into_iter().filter(|s| *s <= target && (self.overlay || *s != Step::Overlay)).collect()
    }

    fn add_all(&mut self, target: Step, parts: &[&str], reason: Option<&str>, rerun: bool) {
        let selected: Vec<String> =
            self.order.iter().filter(|p| parts.is_empty() || parts.contains(&p.as_str())).cloned().collect();
        for step in self.steps_to(target) {
            for part in &selected {
                self.add_step(step, target, part, reason, rerun);
            }
        }
    }

    fn add_step(&mut self, step: Step, target: Step, part: &str, reason: Option<&str>, rerun: bool) {
        if !self.has_run(part, step) {
            self.run_step(part, step, reason, false);
            return;
        }
        if step == target && rerun {
            self.rerun_step(part, step, Some(reason.unwrap_or("rerun step")));
            return;
        }
        if step == Step::Overlay {
            let current = self.compute_layer_hash(part);
            if self.layer_hash.get(part).cloned().flatten().as_ref() != Some(&current) {
                self.layer_hash.insert(part.to_string(), Some(current));
                self.push(part, Step::Overlay, ActionKind::Reapply, Some("previous layer changed"));
                return;
            }
        }
        self.push(part, step, ActionKind::Skip, Some("already ran"));
    }

    fn has_run(&self, part: &str, step: Step) -> bool {
        self.ran.contains(&(part.to_string(), step))
    }

    /// craft-parts' `should_step_run` without dirty/outdated checks.
    fn should_run(&self, part: &str, step: Step) -> bool {
        if !self.has_run(part, step) {
            return true;
        }
        match self.steps_to(step).iter().rev().nth(1) {
            Some(prev) => self.should_run(part, *prev),
            None => false,
        }
    }

    fn run_step(&mut self, part: &str, step: Step, reason: Option<&str>, rerun: bool) {
        // Dependencies: a part's build and stage need its `after:` parts staged.
        if step >= Step::Build {
            let prerequisite = if step <= Step::Stage { Step::Stage } else { step };
            let deps: Vec<String> = self.part(part).after.iter().filter(|d| self.order.contains(d)).cloned().collect();
            let deps: BTreeSet<String> = deps.into_iter().collect();
            for dep in self.order.clone().iter().filter(|p| deps.contains(*p)) {
                if self.should_run(dep, prerequisite) {
                    let why = format!("required to {} '{part}'", step.name());
                    self.add_all(prerequisite, &[dep.as_str()], Some(&why), false);
                }
            }
        }
        if step == Step::Overlay {
            let why = format!("required to overlay '{part}'");
            let hash = self.ensure_overlay_consistency(part, &why, true);
            self.layer_hash.insert(part.to_string(), Some(hash));
        } else if self.overlay
            && ((step == Step::Build && self.overlay_viewers.contains(part))
                || (step == Step::Stage && uses_overlay(self.part(part))))
        {
            let last = self.order.last().cloned().unwrap_or_default();
            let why = format!("required to {} '{part}'", step.name());
            self.ensure_overlay_consistency(&last, &why, false);
        }
        let kind = if rerun { ActionKind::Rerun } else { ActionKind::Run };
        self.push(part, step, kind, reason);
        self.ran.insert((part.to_string(), step));
    }

    fn rerun_step(&mut self, part: &str, step: Step, reason: Option<&str>) {
        if step != Step::Overlay {
            for s in [step].iter().chain(step.next()) {
                self.ran.remove(&(part.to_string(), *s));
            }
        }
        self.run_step(part, step, reason, true);
    }

    fn ensure_overlay_consistency(&mut self, top: &str, reason: &str, skip_last: bool) -> Vec<u8> {
        for part in self.order.clone() {
            let hash = self.compute_layer_hash(&part);
            if !(skip_last && part == top) && self.layer_hash.get(&part).cloned().flatten().as_ref() != Some(&hash) {
                self.add_all(Step::Overlay, &[part.as_str()], Some(reason), false);
                self.layer_hash.insert(part.clone(), Some(hash.clone()));
            }
            if part == top {
                return hash;
            }
        }
        Vec::new()
    }

    /// A digest over the overlay parameters of every part up to `part`
    /// (craft-parts' `LayerHash`; only equality matters here).
    fn compute_layer_hash(&self, part: &str) -> Vec<u8> {
        let i = self.order.iter().position(|p| p == part).unwrap_or(0);
        let previous =
            if i == 0 { Some(self.base_layer_hash.clone()) } else { self.layer_hash[&self.order[i - 1]].clone() };
        let p = self.part(part);
        let mut h = Sha256::new();
        if let Some(prev) = previous {
            h.update(&prev);
        }
        for e in &p.overlay_packages {
            h.update(e.as_bytes());
            h.update([0]);
        }
        h.update([1]);
        for e in &p.overlay.entries {
            h.update(e.as_bytes());
            h.update([0]);
        }
        h.update(p.scriptlets.overlay_script.as_deref().unwrap_or("").as_bytes());
        h.update([0]);
        h.update(p.scriptlets.override_overlay.as_deref().unwrap_or("").as_bytes());
        h.finalize().to_vec()
    }

    fn part(&self, name: &str) -> &'a Part {
        &self.project.parts[name]
    }

    fn push(&mut self, part: &str, step: Step, kind: ActionKind, reason: Option<&str>) {
        self.actions.push(Action { part: part.to_string(), step, kind, reason: reason.map(str::to_string) });
    }
}

/// craft-parts' `has_overlay_visibility`: a part sees the overlay if it or
/// a part it (transitively) comes after declares overlay content. Such a
/// part's build step has the overlay at `CRAFT_OVERLAY`.
pub fn has_overlay_visibility(project: &Project, part: &str) -> bool {
    overlay_visible(project, part, &mut BTreeSet::new())
}

fn overlay_visible(project: &Project, part: &str, seen: &mut BTreeSet<String>) -> bool {
    if !seen.insert(part.to_string()) {
        return false;
    }
    let Some(p) = project.parts.get(part) else { return false };
    uses_overlay(p) || p.after.iter().any(|d| overlay_visible(project, d, seen))
}

/// The actions a fresh project needs to reach `target` for all its parts.
pub fn plan(project: &Project, target: Step) -> Result<Vec<Action>, OrderError> {
    Ok(Sequencer::new(project)?.plan(target, &[]))
}
