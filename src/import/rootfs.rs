//! `rootfs:PATH`: a plain root-filesystem tarball (gzip, zstd or none) made
//! into a one-layer image. The tarball is normalized through the layer
//! writer (a squash of one unsorted input: entries put in strata's order,
//! mtimes clamped to `SOURCE_DATE_EPOCH`, no user names, compression pinned)
//! and the image is built from scratch with the same epoch, so the same
//! tarball gives the same manifest digest in any store, on any machine,
//! whatever the tarball's entry order or the path it was imported from.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use oci_spec::image::Descriptor;

use super::{ImportError, ImportOptions};
use crate::image::{ImageBuilder, NewLayer};
use crate::layer::{self, LayerInput, OutputOptions};
use crate::store::Store;

/// The history line of the layer. Deliberately not the file name: two
/// imports of the same bytes from different paths must agree.
const CREATED_BY: &str = "strata image import rootfs";

pub fn import(store: &Store, path: &Path, opts: &ImportOptions) -> Result<Descriptor, ImportError> {
    let f = File::open(path).map_err(|e| ImportError::Io { path: path.to_owned(), source: e })?;
    let input = LayerInput::unsorted(BufReader::with_capacity(1 << 20, f));
    let out = OutputOptions::new(opts.compression, opts.source_date_epoch);
    let info = match layer::write_blob(store, opts.compression, |blob| layer::squash(vec![input], &out, blob)) {
        Ok(info) => info,
        Err(layer::LayerError::Store(e)) => return Err(e.into()),
        Err(e) => return Err(ImportError::Rootfs { path: path.to_owned(), source: e }),
    };
    let desc = ImageBuilder::scratch(opts.source_date_epoch)
        .platform(opts.platform.clone())
        .settings(opts.settings.clone())
        .layer(NewLayer { info, created_by: CREATED_BY.into(), comment: None })
        .build(store)?;
    Ok(desc)
}
