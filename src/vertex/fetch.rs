//! Fetch vertices: a source fetched host-side (`sources::fetch`: the local
//! dir in place, or an archive, file or clone into a temp dir, downloads
//! cached in the store) and packed as one layer under the op's prefix.

use strata_frontend_api::graph::{FetchOp, OUT, Owner};

use super::Context;
use crate::layer::IdMode;
use crate::sources::{self, Downloads, FetchRequest};
use crate::worker::Outputs;

pub fn run(ctx: &Context<'_>, id: &str, op: &FetchOp, note: &dyn Fn(String)) -> crate::Result<Outputs> {
    let work = ctx.temp_dir("fetch-")?;
    let dest = work.path().join("src");
    let downloads = Downloads::in_store(ctx.store);
    let req = FetchRequest {
        part: &op.part,
        source: &op.source,
        project_dir: &ctx.project_dir,
        dest: &dest,
        downloads: &downloads,
        cancel: &ctx.cancel,
    };
    let fetched = sources::fetch(&req, &mut |line| note(format!("{id}: {line}")))?;
    if op.check_subdir {
        sources::check_subdir(&op.part, &op.source, &fetched.dir)?;
    }
    // A local source is the project's own dir: packed in place, never written.
    let ids = match op.owner {
        Owner::Root => IdMode::Root,
        Owner::AsFound => IdMode::AsFound,
    };
    let layer = ctx.write_dir(&fetched.dir, &op.prefix, ids)?;
    if let Some(identity) = fetched.identity {
        note(format!("{id}: source {identity}"));
    }
    Ok(Outputs::from([(OUT.to_string(), layer)]))
}
