//! The image (today's `pack`): the runtime base, every part's overlay
//! layer in lifecycle order, then one layer of every part's prime laid over
//! each other (lifecycle order, later wins) and moved through the base's
//! top-level links (merged /usr: the prime's `bin/x` lands in `usr/bin/x`):
//! the vertex `pack:prime`, a [`LayerOp::Relocate`]. The config, labels,
//! title and history lines are those today's lifecycle writes; the version
//! is the project variable `version` as the adopt-info part left it
//! (its last `vars` layer), else the spec's.
//!
//! Over a base image, the primes first go through `pack:prune`
//! ([`hostops::PRUNE`], rockcraft's `prune_prime_files`): the files the
//! base (with the overlays over it) already has, byte for byte and with the
//! same owner and mode, are not packed again. Its outputs, one per part
//! and named after it, are what `pack:prime` relocates. On `base: bare`
//! there is nothing to prune and the primes go straight to `pack:prime`.
//!
//! With `run-user` (rockcraft's shared `_daemon_`), `pack:run-user`
//! ([`hostops::RUN_USER`]) makes one more layer on top: the image's
//! `/etc/passwd`, `/etc/group` (and `/etc/shadow`) with the user added, and
//! its home, `/var/lib/pebble/default`, mode 0777. The config's `User` is
//! its uid, as rockcraft sets it; its `HOME` (in `Env`) and working
//! directory are that home unless the spec's `environment` or
//! `working-dir` say otherwise — what pebble gives the user's commands in a
//! rock (rockcraft's run-user-minimal test checks both), here without pebble.

use std::collections::BTreeMap;

use strata_frontend_api::graph::{
    HostInput, HostOutput, ImageConfig, ImageLayer, ImageSpec, LayerOp, LayerRef, OUT, Op, ValueFrom, Vertex,
};

use super::Lowering;
use crate::hostops::{self, prune::Prune, user::AddUser};

/// The image's title label and annotation.
pub const TITLE: &str = "org.opencontainers.image.title";

impl Lowering<'_> {
    pub(super) fn image(&mut self) {
        let project = self.project;
        let name = project.name.clone().unwrap_or_else(|| "strata-build".into());
        let title = project.title.clone().unwrap_or_else(|| name.clone());
        let mut layers = Vec::new();
        for part in &self.order {
            if let Some(layer) = self.overlay_out(part) {
                let created_by = format!("strata build: the overlay of part '{part}'");
                layers.push(ImageLayer { layer, created_by, comment: None, omit_if_empty: false });
            }
        }
        let primes = self.pruned_primes();
        let relocate = LayerOp::Relocate {
            inputs: primes.clone(),
            from: "root/prime".into(),
            links_of: self.base().into_iter().collect(),
        };
        let mut pack = Vertex::new("pack:prime", None, "pack", Op::Layer(relocate));
        pack.description = format!("pack the prime of {name}");
        self.graph.push(pack);
        layers.push(ImageLayer {
            layer: LayerRef::output("pack:prime", OUT),
            created_by: format!("strata build: the prime of {name}"),
            comment: Some(format!("parts: {}", project.parts.keys().cloned().collect::<Vec<_>>().join(", "))),
            omit_if_empty: false,
        });
        let s = &project.image;
        // The base's own title label would describe the base.
        let mut labels = s.labels.clone();
        labels.entry(TITLE.into()).or_insert_with(|| title.clone());
        let mut config = ImageConfig {
            entrypoint: s.entrypoint.clone(),
            cmd: s.cmd.clone(),
            env: s.environment.clone(),
            labels,
            user: s.user.clone(),
            working_dir: s.working_dir.clone(),
            ports: s.ports.clone(),
        };
        if let Some(user) = &s.run_user {
            layers.push(self.run_user(user, &primes, &mut config));
        }
        let file = self.vars().map(|v| (v.clone(), "vars/version".to_string()));
        let version =
            (project.version.is_some() || file.is_some()).then(|| ValueFrom { default: project.version.clone(), file });
        self.graph.image = Some(ImageSpec {
            base: match &project.base {
                strata_frontend_api::Base::Bare => None,
                strata_frontend_api::Base::Image(r) => Some(r.clone()),
            },
            layers,
            name,
            config,
            annotations: BTreeMap::from([(TITLE.to_string(), title)]),
            version,
            vcs: true,
        });
    }
}

impl Lowering<'_> {
    /// The layers `pack:prime` relocates: `pack:prune`'s outputs over a
    /// base image, the parts' primes on `bare`.
    fn pruned_primes(&mut self) -> Vec<LayerRef> {
        let Some(base) = self.base() else { return self.order.iter().map(|p| self.prime_out(p)).collect() };
        let overlays = self.overlays_before_image();
        let mut inputs = vec![HostInput { layers: vec![base], path: String::new() }];
        inputs.extend(overlays.iter().map(|o| HostInput { layers: vec![o.clone()], path: String::new() }));
        inputs.extend(
            self.order.iter().map(|p| HostInput { layers: vec![self.prime_out(p)], path: "root/prime".into() }),
        );
        let outputs = self.order.iter().map(|p| HostOutput { name: p.clone(), prefix: "root/prime".into() }).collect();
        let params = Prune { parts: self.order.clone(), overlays: overlays.len() };
        let op = hostops::host_op(hostops::PRUNE, &params, inputs, outputs);
        let mut v = Vertex::new("pack:prune", None, "pack", Op::Host(op));
        v.description = "leave out the primed files the base already has".into();
        self.graph.push(v);
        self.order.iter().map(|p| LayerRef::output("pack:prune", p)).collect()
    }

    /// Every part's overlay layer, in lifecycle order.
    fn overlays_before_image(&self) -> Vec<LayerRef> {
        self.order.iter().filter_map(|p| self.overlay_out(p)).collect()
    }

    /// `pack:run-user` over the `etc` of every layer below it, and the
    /// config that runs the image as `user`.
    fn run_user(&mut self, user: &str, primes: &[LayerRef], config: &mut ImageConfig) -> ImageLayer {
        let uid = hostops::user::uid_of(user).expect("the parser allows shared users only");
        let mut inputs: Vec<HostInput> = Vec::new();
        if let Some(base) = self.base() {
            inputs.push(HostInput { layers: vec![base], path: "etc".into() });
        }
        inputs.extend(
            self.overlays_before_image().into_iter().map(|o| HostInput { layers: vec![o], path: "etc".into() }),
        );
        inputs.extend(primes.iter().map(|p| HostInput { layers: vec![p.clone()], path: "root/prime/etc".into() }));
        let params = AddUser {
            user: user.to_string(),
            uid,
            base: self.base().is_some(),
            shadow_day: self.project.source_date_epoch.filter(|e| *e >= 0).map(|e| e / 86400),
        };
        let outputs = vec![HostOutput { name: OUT.into(), prefix: String::new() }];
        let op = hostops::host_op(hostops::RUN_USER, &params, inputs, outputs);
        let mut v = Vertex::new("pack:run-user", None, "pack", Op::Host(op));
        v.description = format!("add the user {user}:{uid}");
        self.graph.push(v);
        config.user = Some(uid.to_string());
        if !config.env.iter().any(|(k, _)| k == "HOME") {
            config.env.push(("HOME".into(), hostops::user::HOME.into()));
        }
        config.working_dir.get_or_insert_with(|| hostops::user::HOME.into());
        ImageLayer {
            layer: LayerRef::output("pack:run-user", OUT),
            created_by: format!("strata build: add user {user}:{uid} with group {user}:{uid}"),
            comment: Some(format!("run-user: {user}")),
            omit_if_empty: false,
        }
    }
}
