//! `oci-archive:PATH`: the image's OCI layout as one tar. The manifest (or the
//! whole index, for a multi-platform image) keeps its bytes and digest.

use std::path::Path;

use oci_spec::image::Descriptor;

use super::archive::ArchiveEntries;
use super::layout::{self, OCI_LAYOUT};
use super::name::ImageName;
use super::{ExportError, ExportReport, ExportTarget};
use crate::store::Store;

/// The entries of an OCI layout holding `desc` under `name`, and how many blobs.
pub fn entries(store: &Store, desc: &Descriptor, name: &ImageName) -> Result<(ArchiveEntries, usize), ExportError> {
    let blobs = layout::closure(store, desc)?;
    let mut a = ArchiveEntries::new(layout::created_epoch(store, desc));
    a.bytes("oci-layout", OCI_LAYOUT.to_vec());
    a.bytes("index.json", layout::index_json(vec![layout::index_entry(desc, name)])?);
    for d in blobs.values() {
        a.blob(d.digest());
    }
    Ok((a, blobs.len()))
}

pub fn write(store: &Store, desc: &Descriptor, name: &ImageName, dest: &Path) -> Result<ExportReport, ExportError> {
    let (a, blobs) = entries(store, desc, name)?;
    let bytes = a.write_file(store, dest)?;
    Ok(ExportReport {
        target: ExportTarget::OciArchive(dest.to_owned()),
        digest: desc.digest().clone(),
        config: None,
        blobs,
        bytes,
        image_id: None,
    })
}
