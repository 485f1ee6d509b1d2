//! `oci:DIR[:REF]`: an OCI image layout directory. Only the blobs the chosen
//! image reaches are copied, each verified against its digest on the way in.

use std::path::Path;

use oci_spec::image::Descriptor;

use super::{ImportError, ImportOptions, layout};
use crate::store::Store;

pub fn import(
    store: &Store,
    dir: &Path,
    reference: Option<&str>,
    opts: &ImportOptions,
) -> Result<Descriptor, ImportError> {
    let index_path = dir.join("index.json");
    let bytes = std::fs::read(&index_path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            ImportError::MissingFile { path: dir.to_owned(), file: "index.json".into(), what: "an OCI image layout" }
        }
        _ => ImportError::Io { path: index_path.clone(), source: e },
    })?;
    let index = layout::parse_index(&bytes, dir)?;
    let desc = layout::select(&index, reference, &opts.platform, dir, "oci")?;
    layout::ingest(store, &desc, dir, Some(dir))?;
    Ok(desc)
}
