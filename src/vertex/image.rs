//! The image vertex: a graph's [`ImageSpec`] assembled — the base (or
//! scratch), the layers on top with their history lines, the config, a
//! version read from a layer, annotations (and the project's VCS origin and
//! commit when asked) — into a manifest in the store.

use oci_spec::image::Descriptor;
use strata_frontend_api::graph::{ImageSpec, ValueFrom};

use super::Context;
use crate::image::{ImageBuilder, ImageSettings, NewLayer};
use crate::layer::LayerInfo;

const VERSION: &str = "org.opencontainers.image.version";

/// `inputs`: the layers of each of `spec.layers`, then (when the version
/// comes from a file) that file's layer.
pub fn assemble(ctx: &Context<'_>, spec: &ImageSpec, inputs: &[Vec<LayerInfo>]) -> crate::Result<Descriptor> {
    let mut builder = match &spec.base {
        None => ImageBuilder::scratch(ctx.epoch),
        Some(name) => {
            let pinned = ctx.resolved.images.get(name).and_then(|p| p.image.clone());
            let image = pinned.expect("resolve pinned every image before a build");
            ImageBuilder::from_base(image, Some(name.clone()), ctx.epoch)
        }
    };
    for (l, layers) in spec.layers.iter().zip(inputs) {
        for info in layers.iter().filter(|i| !(l.omit_if_empty && i.is_empty())) {
            builder = builder.layer(NewLayer {
                info: info.clone(),
                created_by: l.created_by.clone(),
                comment: l.comment.clone(),
            });
        }
    }
    let version = match &spec.version {
        Some(v) => value(ctx, v, inputs.get(spec.layers.len()))?,
        None => None,
    };
    let c = &spec.config;
    let mut labels = c.labels.clone();
    if let Some(v) = &version {
        labels.entry(VERSION.into()).or_insert_with(|| v.clone());
    }
    builder = builder.settings(ImageSettings {
        env: c.env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        entrypoint: c.entrypoint.clone(),
        cmd: c.cmd.clone(),
        working_dir: c.working_dir.clone(),
        user: c.user.clone(),
        labels,
        exposed_ports: c.ports.clone(),
        ..Default::default()
    });
    for (k, v) in &spec.annotations {
        builder = builder.annotation(k.clone(), v.clone());
    }
    if let Some(v) = version {
        builder = builder.annotation(VERSION, v);
    }
    if spec.vcs
        && let Some(git) = &ctx.resolved.vcs
    {
        if let Some(src) = &git.source {
            builder = builder.annotation("org.opencontainers.image.source", src.clone());
        }
        builder = builder.annotation("org.opencontainers.image.revision", git.revision.clone());
    }
    Ok(builder.build(ctx.store)?)
}

/// The file's contents when it is there and not empty, else the default.
fn value(ctx: &Context<'_>, v: &ValueFrom, layers: Option<&Vec<LayerInfo>>) -> crate::Result<Option<String>> {
    if let (Some((_, path)), Some(layers)) = (&v.file, layers) {
        for l in layers.iter().rev() {
            let snap = crate::snapshot::snapshot(ctx.store, l)?;
            if let Ok(bytes) = std::fs::read(snap.join(path)) {
                let s = String::from_utf8_lossy(&bytes).into_owned();
                if !s.is_empty() {
                    return Ok(Some(s));
                }
                break;
            }
        }
    }
    Ok(v.default.clone())
}
