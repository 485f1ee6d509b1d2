//! The image: the runtime base, then the default variant's `run`
//! component and the `run` closure of its install requirements under
//! `/spfs`, with the environment their `install.environment` sets. With
//! several variants selected, strata makes one image per variant and an
//! index of them, each manifest annotated with [`variant_annotations`].
//!
//! spk applies the environment by sourcing the startup files (they are in
//! the layers too); an image has a static `Env`, so `set`, `append` and
//! `prepend` are applied here in order, over Debian's PATH for `PATH`.

use std::collections::{BTreeMap, BTreeSet};

use strata_frontend_api::FrontendError;
use strata_frontend_api::graph::{ImageConfig, ImageLayer, ImageSpec};

use super::{Built, Lowering};
use crate::spec::{EnvOp, Spec};

const DEBIAN_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The static environment of `ops` applied in order.
pub fn image_env(ops: &[&EnvOp]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = Vec::new();
    let current = |env: &Vec<(String, String)>, var: &str| -> Option<String> {
        env.iter()
            .find(|(k, _)| k == var)
            .map(|(_, v)| v.clone())
            .or_else(|| (var == "PATH").then(|| DEBIAN_PATH.to_string()))
    };
    let set = |env: &mut Vec<(String, String)>, var: &str, value: String| match env.iter_mut().find(|(k, _)| k == var) {
        Some(e) => e.1 = value,
        None => env.push((var.to_string(), value)),
    };
    for op in ops {
        match op {
            EnvOp::Set { var, value } => set(&mut env, var, value.clone()),
            EnvOp::Append { var, value, separator } => {
                let v = match current(&env, var) {
                    Some(c) if !c.is_empty() => format!("{c}{separator}{value}"),
                    _ => value.clone(),
                };
                set(&mut env, var, v);
            }
            EnvOp::Prepend { var, value, separator } => {
                let v = match current(&env, var) {
                    Some(c) if !c.is_empty() => format!("{value}{separator}{c}"),
                    _ => value.clone(),
                };
                set(&mut env, var, v);
            }
            EnvOp::Comment(_) | EnvOp::Priority(_) => {}
        }
    }
    env
}

/// Annotation: a variant image's build id.
pub const BUILD_ANNOTATION: &str = "dev.spk.build";
/// Annotation: a variant image's options, as JSON.
pub const OPTIONS_ANNOTATION: &str = "dev.spk.options";

/// The annotations of build `b`'s image in the index of variants.
pub fn variant_annotations(b: &Built) -> BTreeMap<String, String> {
    let values = b.build.as_ref().map(|e| e.values.clone()).unwrap_or_default();
    BTreeMap::from([
        ("dev.spk.ident".to_string(), b.ident.clone()),
        (BUILD_ANNOTATION.to_string(), b.digest.clone()),
        (OPTIONS_ANNOTATION.to_string(), serde_json::to_string(&values).expect("plain data")),
    ])
}

impl Lowering<'_> {
    pub(super) fn image(&mut self, spec: &Spec, root: &Built) -> Result<(), FrontendError> {
        let mut layers = Vec::new();
        let mut seen = BTreeSet::new();
        self.closure(root, &["run".to_string()], &mut layers, &mut seen)?;
        let mut names: Vec<String> = Vec::new();
        for (n, _) in &seen {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
        // Dependencies' environments first, the package's own last.
        names.retain(|n| *n != root.name);
        let mut ops: Vec<&EnvOp> =
            names.iter().filter_map(|n| self.built.get(n)).flat_map(|b| &b.environment).collect();
        ops.extend(&root.environment);
        let env = image_env(&ops);
        let layers = layers
            .into_iter()
            .map(|layer| ImageLayer {
                created_by: format!(
                    "strata build: spk component {}",
                    self.layer_names.get(&layer).cloned().unwrap_or_else(|| describe(&layer))
                ),
                layer,
                comment: None,
                omit_if_empty: false,
            })
            .collect();
        let mut labels = BTreeMap::new();
        let mut annotations = BTreeMap::new();
        let mut put = |k: &str, v: &str| {
            labels.insert(k.to_string(), v.to_string());
            annotations.insert(k.to_string(), v.to_string());
        };
        put("org.opencontainers.image.title", &spec.name);
        put("org.opencontainers.image.version", &spec.version.to_string());
        if let Some(d) = &spec.meta.description {
            put("org.opencontainers.image.description", d);
        }
        if let Some(h) = &spec.meta.homepage {
            put("org.opencontainers.image.url", h);
        }
        if let Some(l) = &spec.meta.license {
            put("org.opencontainers.image.licenses", l);
        }
        put("dev.spk.ident", &root.ident);
        for (k, v) in &spec.meta.labels {
            put(&format!("spk.label.{k}"), v);
        }
        self.graph.image = Some(ImageSpec {
            base: self.settings.base.clone(),
            layers,
            name: spec.name.clone(),
            config: ImageConfig { env, labels, ..Default::default() },
            annotations,
            version: None,
            vcs: true,
        });
        Ok(())
    }
}

fn describe(layer: &strata_frontend_api::graph::LayerRef) -> String {
    match layer {
        strata_frontend_api::graph::LayerRef::Output { vertex, output } => {
            format!("{}:{output}", vertex.split(':').next().unwrap_or(vertex))
        }
        strata_frontend_api::graph::LayerRef::Image { reference } => reference.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_ops_apply_in_order_over_debians_path() {
        let ops = [
            EnvOp::Prepend { var: "PATH".into(), value: "/spfs/bin".into(), separator: ":".into() },
            EnvOp::Set { var: "GREETING".into(), value: "hi".into() },
            EnvOp::Append { var: "GREETING".into(), value: "there".into(), separator: " ".into() },
            EnvOp::Append { var: "LD_LIBRARY_PATH".into(), value: "/spfs/lib".into(), separator: ":".into() },
        ];
        let env = image_env(&ops.iter().collect::<Vec<_>>());
        assert_eq!(env[0], ("PATH".into(), format!("/spfs/bin:{DEBIAN_PATH}")));
        assert_eq!(env[1], ("GREETING".into(), "hi there".into()));
        assert_eq!(env[2], ("LD_LIBRARY_PATH".into(), "/spfs/lib".into()), "no separator before nothing");
    }
}
