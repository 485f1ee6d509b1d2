//! `oci-archive:PATH[:REF]`: a tar of an OCI image layout (skopeo, BuildKit's
//! `type=oci`, `strata export`). Streamed once: blobs are spooled into the
//! store as they come (verified against their names), then `index.json`
//! picks the image and every blob it reaches is checked to be present.
//! An index is kept whole, so a multi-platform image stays one.

use std::path::Path;

use oci_spec::image::Descriptor;

use super::spool::{self, Flavor};
use super::{ImportError, ImportOptions, layout};
use crate::store::Store;

pub fn import(
    store: &Store,
    path: &Path,
    reference: Option<&str>,
    opts: &ImportOptions,
) -> Result<Descriptor, ImportError> {
    let spooled = spool::spool(store, path, Flavor::Oci)?;
    let index = spooled.metadata.get("index.json").ok_or_else(|| ImportError::MissingFile {
        path: path.to_owned(),
        file: "index.json".into(),
        what: "an OCI archive (or it is truncated)",
    })?;
    let index = layout::parse_index(index, path)?;
    let desc = layout::select(&index, reference, &opts.platform, path, "oci-archive")?;
    layout::ingest(store, &desc, path, None)?;
    Ok(desc)
}
