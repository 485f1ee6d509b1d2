//! Layer vertices: operations strata owns over layer streams — filter,
//! squash, and relocate (a subtree moved to the root and through a base
//! image's top-level links, as pack needs: [`super::relocate`]). Nothing is
//! unpacked.

use std::io::BufReader;
use std::path::Path;

use strata_frontend_api::graph::{LayerOp, LayerRef, OUT};

use super::Context;
use crate::layer::{self, IdMode, LayerInfo, LayerInput, OutputOptions};
use crate::store::Store;
use crate::worker::Outputs;

pub fn run(ctx: &Context<'_>, op: &LayerOp, inputs: &[Vec<LayerInfo>]) -> crate::Result<Outputs> {
    let layer = match op {
        LayerOp::Filter { paths, .. } => {
            let input = inputs.iter().flatten().next().cloned();
            match input {
                Some(l) => filter(ctx.store, &ctx.output_opts(), &l, &|p: &str| paths.iter().any(|d| under(p, d)))?,
                None => empty(ctx)?,
            }
        }
        LayerOp::Squash { .. } => {
            let all: Vec<&LayerInfo> = inputs.iter().flatten().collect();
            match all.as_slice() {
                [] => empty(ctx)?,
                [one] => (*one).clone(),
                _ => squash(ctx.store, &ctx.output_opts(), &all)?,
            }
        }
        LayerOp::Relocate { inputs: refs, from, .. } => {
            let (layers, links_of) = inputs.split_at(refs.len());
            // Each input named by its vertex's group (a craft part), for
            // conflicts; a project-wide vertex's output other than `out` by
            // its own name (craft's `pack:prune` names each part's pruned
            // prime after the part).
            let name = |r: &LayerRef| match r {
                LayerRef::Output { vertex, output } => {
                    let v = ctx.graph.vertex(vertex);
                    match v.and_then(|v| v.group.clone()) {
                        Some(group) => group,
                        None if output != OUT => output.clone(),
                        None => vertex.clone(),
                    }
                }
                LayerRef::Image { reference } => reference.clone(),
            };
            let named: Vec<(String, LayerInfo)> =
                refs.iter().zip(layers).flat_map(|(r, ls)| ls.iter().map(move |l| (name(r), l.clone()))).collect();
            super::relocate::relocated(ctx.store, &named, from, &links_of.concat(), &ctx.output_opts())?
        }
    };
    Ok(Outputs::from([(OUT.to_string(), layer)]))
}

/// Whether `path` is `dir` or below it (`dir` empty: everything).
pub fn under(path: &str, dir: &str) -> bool {
    let path = path.trim_end_matches('/');
    dir.is_empty() || path == dir || path.strip_prefix(dir).is_some_and(|r| r.starts_with('/'))
}

/// The entries of `input` whose path `keep` accepts, as a new layer.
pub fn filter(
    store: &Store,
    opts: &OutputOptions,
    input: &LayerInfo,
    keep: &dyn Fn(&str) -> bool,
) -> crate::Result<LayerInfo> {
    let blob = store.open_blob(&input.digest)?;
    let pred = |p: &Path, _k: &layer::Kind| keep(&p.to_string_lossy());
    let input = LayerInput::sorted(BufReader::new(blob));
    Ok(layer::write_blob(store, opts.compression, |w| layer::filter(input, &pred, opts, w))?)
}

/// `layers` laid over each other (later wins) as one layer.
pub fn squash(store: &Store, opts: &OutputOptions, layers: &[&LayerInfo]) -> crate::Result<LayerInfo> {
    let mut inputs = Vec::new();
    for l in layers {
        inputs.push(LayerInput::sorted(BufReader::new(store.open_blob(&l.digest)?)));
    }
    Ok(layer::write_blob(store, opts.compression, |w| layer::squash(inputs, opts, w))?)
}

fn empty(ctx: &Context<'_>) -> crate::Result<LayerInfo> {
    let dir = ctx.temp_dir("empty-")?;
    ctx.write_dir(dir.path(), "", IdMode::AsFound)
}
