//! The cache key of each lifecycle vertex: which inputs it names, as
//! documented in the table of [`crate::cache`]'s `key` module (keep both
//! in step), and which earlier vertices feed it (for `strata plan`, where an
//! input from a step that would run is not known yet).

use strata_frontend_api::Step;
use strata_frontend_craft::parse::uses_overlay;
use strata_frontend_craft::scripts::{apt_install, build_packages, step_run};
use strata_frontend_craft::sequencer::has_overlay_visibility;

use super::Lifecycle;
use crate::cache::{KeyParts, sha256, source_listing};
use crate::image::Platform;

impl Lifecycle<'_> {
    /// The vertices whose outputs are inputs of `part:step`.
    fn input_vertices(&self, part: &str, step: &str) -> Vec<String> {
        let def = self.project.parts.get(part);
        let overrides = |s: Step| {
            def.is_some_and(|p| match s {
                Step::Stage => p.scriptlets.override_stage.is_some(),
                Step::Prime => p.scriptlets.override_prime.is_some(),
                _ => false,
            })
        };
        let mut v = Vec::new();
        let overlays = |including| {
            self.overlay_parts_before(part, including).into_iter().map(|p| format!("{p}:overlay")).collect::<Vec<_>>()
        };
        match step {
            "overlay" => v.extend(overlays(false)),
            "build" => {
                v.push(format!("{part}:build-packages"));
                v.push(format!("{part}:pull"));
                v.extend(self.dependency_stage(part).into_iter().map(|(d, _)| format!("{d}:stage")));
                if has_overlay_visibility(&self.project, part) {
                    v.extend(overlays(true));
                }
            }
            "stage" => {
                v.push(format!("{part}:build"));
                if overrides(Step::Stage) {
                    v.extend(self.staged.iter().map(|p| format!("{p}:stage")));
                }
            }
            "prime" => {
                v.push(format!("{part}:build"));
                v.push(format!("{part}:stage"));
                if overrides(Step::Prime) {
                    v.extend(self.staged.iter().map(|p| format!("{p}:stage")));
                    v.extend(self.primed.iter().map(|p| format!("{p}:prime")));
                }
            }
            "pack" => {
                v.extend(self.overlay_layers_vertices());
                v.extend(self.order.iter().map(|p| format!("{p}:prime")));
            }
            _ => {}
        }
        v
    }

    /// Whether a step runs the part's scripts (which see the project variables).
    fn runs_scripts(&self, part: &str, step: &str) -> bool {
        let Some(p) = self.project.parts.get(part) else { return false };
        match step {
            "pull" => p.scriptlets.override_pull.is_some() || !p.build_plan.pull_commands.is_empty(),
            "overlay" => uses_overlay(p),
            "build" => true,
            "stage" => p.scriptlets.override_stage.is_some(),
            "prime" => p.scriptlets.override_prime.is_some(),
            _ => false,
        }
    }

    /// When planning: why `part:step`'s key cannot be known yet.
    pub(super) fn unknown_input(&self, _vertex: &str, part: &str, step: &str) -> Option<String> {
        if let Some(v) = self.input_vertices(part, step).into_iter().find(|v| self.unknown.contains(v)) {
            return Some(format!("{v} would run"));
        }
        if self.vars_unknown && self.runs_scripts(part, step) {
            let by = self.project.adopt_info.clone().unwrap_or_default();
            return Some(format!("the project variables '{by}' sets may change"));
        }
        None
    }

    /// The named inputs of `part:step` (`pack`: `part` is empty), or `None`
    /// when planning and one of them comes from a step that would run.
    pub(super) fn key_parts(&self, vertex: &str, part: &str, step: &str) -> crate::Result<Option<KeyParts>> {
        if self.unknown_input(vertex, part, step).is_some() {
            return Ok(None);
        }
        let mut k = KeyParts::new(vertex);
        k.add("compression", format!("{:?}", self.compression).to_lowercase());
        k.add("epoch", self.epoch.to_string());
        match step {
            "pull" => self.pull_inputs(&mut k, part)?,
            "overlay" => {
                let p = &self.project.parts[part];
                self.add_base(&mut k);
                if self.base.is_none() {
                    // bare: the step runs in the build base.
                    k.add_layers("layer:build-base", &self.build_base);
                }
                for o in self.overlay_parts_before(part, false) {
                    k.add_layers(&format!("layer:overlay of {o}"), self.parts.get(&o).and_then(|s| s.overlay.as_ref()));
                }
                k.add_json("overlay-packages", &p.overlay_packages);
                k.add_json("overlay", &p.overlay);
                self.add_run(&mut k, part, Step::Overlay);
            }
            "build-packages" => {
                let packages = build_packages(&self.project, part);
                k.add_layers("layer:build-base", &self.build_base);
                k.add_json("build-packages", &packages);
                k.add("apt-script", sha256(apt_install(&packages).as_bytes()));
            }
            "build" => {
                let p = &self.project.parts[part];
                let st = self.parts.get(part);
                k.add_layers("layer:build-base", &self.build_base);
                k.add_layers("layer:build-packages", st.and_then(|s| s.build_packages.as_ref()));
                k.add_layers("layer:pull", st.and_then(|s| s.pull.as_ref()));
                if let (Some(f), Some(script)) =
                    (st.and_then(|s| s.stage_packages.as_ref()), self.unpack_script_of(part))
                {
                    k.add_layers("layer:stage-packages", Some(&f.layer));
                    k.add("stage-packages:unpack-script", sha256(script.as_bytes()));
                }
                for (dep, l) in self.dependency_stage(part) {
                    k.add_layers(&format!("layer:stage of {dep}"), l.as_ref());
                }
                if has_overlay_visibility(&self.project, part) {
                    // The overlay it sees at CRAFT_OVERLAY.
                    self.add_base(&mut k);
                    for o in self.overlay_parts_before(part, true) {
                        let l = self.parts.get(&o).and_then(|s| s.overlay.as_ref());
                        k.add_layers(&format!("layer:overlay of {o}"), l);
                    }
                }
                self.add_run(&mut k, part, Step::Build);
                k.add_json("organize", &p.organize);
            }
            "stage" => {
                let p = &self.project.parts[part];
                k.add_layers("layer:install", self.parts.get(part).and_then(|s| s.install_layer.as_ref()));
                k.add_json("stage", &p.stage);
                k.add_json("permissions", &p.permissions);
                if p.scriptlets.override_stage.is_some() {
                    self.add_run(&mut k, part, Step::Stage);
                    k.add_layers("layer:build-base", &self.build_base);
                    k.add_layers("layer:staged", &self.staged_layers());
                }
            }
            "prime" => {
                let p = &self.project.parts[part];
                let st = self.parts.get(part);
                k.add_layers("layer:install", st.and_then(|s| s.install_layer.as_ref()));
                k.add_layers("layer:stage", st.and_then(|s| s.stage.as_ref()));
                k.add_json("stage", &p.stage);
                k.add_json("prime", &p.prime);
                k.add_json("permissions", &p.permissions);
                if p.scriptlets.override_prime.is_some() {
                    self.add_run(&mut k, part, Step::Prime);
                    k.add_layers("layer:build-base", &self.build_base);
                    k.add_layers("layer:staged", &self.staged_layers());
                    k.add_layers("layer:primed", &self.primed_layers());
                }
            }
            "pack" => self.pack_inputs(&mut k),
            other => unreachable!("no vertex kind {other}"),
        }
        Ok(Some(k))
    }

    fn pull_inputs(&self, k: &mut KeyParts, part: &str) -> crate::Result<()> {
        let p = &self.project.parts[part];
        k.add_json("source", &p.source);
        if let Some(dir) = self.local_source(part)? {
            let (listing, _) = source_listing(self.store, &dir).map_err(super::io_err(&dir))?;
            k.extend_prefixed("source", listing);
        } else if let Some(s) = &p.source {
            k.add("source:identity", self.remote_identity(s));
        }
        k.add_json("stage-packages", &p.stage_packages);
        if !p.stage_packages.is_empty() {
            // Resolved and fetched with the build base's apt sources.
            k.add_layers("layer:build-base", &self.build_base);
            k.add("stage-packages:fetch-script", sha256(self.fetch_script_of(part).as_bytes()));
        }
        if self.runs_scripts(part, "pull") {
            self.add_run(k, part, Step::Pull);
            k.add_layers("layer:build-base", &self.build_base);
        }
        Ok(())
    }

    fn remote_identity(&self, s: &strata_frontend_api::Source) -> String {
        crate::resolve::source_identity(s, &self.project.project_dir)
    }

    /// The runtime base: its name and manifest digest, or `bare`.
    fn add_base(&self, k: &mut KeyParts) {
        match &self.base {
            None => k.add("base", "bare"),
            Some((name, img)) => k.add("base", format!("{name} {}", img.digest())),
        }
    }

    /// `:overlay` vertices of every part with overlay content, in part order.
    fn overlay_layers_vertices(&self) -> Vec<String> {
        let with_overlay = |p: &&String| uses_overlay(&self.project.parts[p.as_str()]);
        self.order.iter().filter(with_overlay).map(|p| format!("{p}:overlay")).collect()
    }

    fn pack_inputs(&self, k: &mut KeyParts) {
        self.add_base(k);
        for (p, l) in self.overlay_layers() {
            k.add_layers(&format!("layer:overlay of {p}"), Some(&l));
        }
        for p in &self.order {
            k.add_layers(&format!("layer:prime of {p}"), self.parts.get(p).and_then(|s| s.prime.as_ref()));
        }
        let (name, title, version, settings) = self.image_meta();
        k.add("name", name);
        k.add("title", title);
        k.add_json("version", &version);
        k.add_json("settings", &settings);
        k.add_json("parts", &self.project.parts.keys().collect::<Vec<_>>());
        k.add("platform", Platform::host().to_string());
        if let Some(git) = self.git() {
            k.add("git:source", git.source.clone().unwrap_or_default());
            k.add("git:revision", git.revision.clone());
        }
    }

    /// Every file and the argv of the step's run dir, by name.
    fn add_run(&self, k: &mut KeyParts, part: &str, step: Step) {
        let run = step_run(&self.project, part, step, &self.info, &self.vars);
        for (path, f) in &run.files {
            k.add(format!("run:{path}"), format!("{:04o} {}", f.mode, sha256(f.contents.as_bytes())));
        }
        k.add_json("run:argv", &run.argv);
        let shim = if self.bash_shim.is_some() { "sh shim" } else { "bash" };
        k.add("run:shell", shim);
    }
}
