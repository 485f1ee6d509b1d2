//! The image (today's `pack`): the runtime base, every part's overlay
//! layer in lifecycle order, then one layer of every part's prime laid over
//! each other (lifecycle order, later wins) and moved through the base's
//! top-level links (merged /usr: the prime's `bin/x` lands in `usr/bin/x`):
//! the vertex `pack:prime`, a [`LayerOp::Relocate`]. The config, labels,
//! title and history lines are those today's lifecycle writes; the version
//! is the project variable `version` as the adopt-info part left it
//! (its last `vars` layer), else the spec's.

use std::collections::BTreeMap;

use strata_frontend_api::graph::{ImageConfig, ImageLayer, ImageSpec, LayerOp, LayerRef, OUT, Op, ValueFrom, Vertex};

use super::Lowering;

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
                layers.push(ImageLayer { layer, created_by, comment: None });
            }
        }
        let relocate = LayerOp::Relocate {
            inputs: self.order.iter().map(|p| self.prime_out(p)).collect(),
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
        });
        let s = &project.image;
        // The base's own title label would describe the base.
        let mut labels = s.labels.clone();
        labels.entry(TITLE.into()).or_insert_with(|| title.clone());
        let config = ImageConfig {
            entrypoint: s.entrypoint.clone(),
            cmd: s.cmd.clone(),
            env: s.environment.clone(),
            labels,
            user: s.user.clone(),
            working_dir: s.working_dir.clone(),
            ports: s.ports.clone(),
        };
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
