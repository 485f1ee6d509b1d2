//! A layer stream written into the store as a blob: the one place that
//! turns "a producer wrote a layer into a blob writer" into a committed
//! blob and its [`LayerInfo`].
//!
//! It lives on the layer side, not the store side: the store is a leaf that
//! holds opaque blobs by digest and never learns what a layer, a diff_id or
//! a compression is; the layer module already owns [`LayerInfo`] and every
//! producer of layer streams. So `layer` imports `store` (its
//! [`BlobWriter`]), never the other way round.

use super::{Compression, LayerError, LayerInfo, Written};
use crate::store::{BlobWriter, Store};

/// Writes one layer blob into `store`. `produce` gets a fresh blob writer
/// and streams a layer into it — [`super::write_tree`], [`super::filter()`],
/// [`super::squash()`] or any other producer of strata's layer streams —
/// handing back what the producer returned. The blob is then committed under
/// the digest of its bytes (hashed while written) and described with the
/// producer's diff_id.
///
/// `compression` is the one the producer was told to use (its
/// `WriteOptions` / `OutputOptions`): it is recorded, not applied here.
/// Nothing is left in the store if `produce` fails (the temp file goes).
///
/// ```no_run
/// # use strata::layer::{self, Compression, WriteOptions};
/// # let store = strata::store::Store::open("/tmp/store").unwrap();
/// let opts = WriteOptions::new(Compression::Gzip, 0);
/// let info = layer::write_blob(&store, opts.compression, |w| layer::write_tree("tree".as_ref(), &opts, w))?;
/// # Ok::<(), strata::layer::LayerError>(())
/// ```
pub fn write_blob(
    store: &Store,
    compression: Compression,
    produce: impl FnOnce(BlobWriter) -> Result<Written<BlobWriter>, LayerError>,
) -> Result<LayerInfo, LayerError> {
    let written = produce(store.blob_writer()?)?;
    let (digest, size) = written.out.commit(None)?;
    Ok(LayerInfo { digest, diff_id: written.diff_id, size, compression })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::{IdMode, OutputOptions, WriteOptions, write_layer, write_tree};

    #[test]
    fn a_tree_written_as_a_blob_is_described_as_write_layer_describes_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("store")).unwrap();
        let tree = dir.path().join("tree");
        std::fs::create_dir_all(tree.join("etc")).unwrap();
        std::fs::write(tree.join("etc/motd"), b"hi\n").unwrap();
        for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let opts = WriteOptions { ids: IdMode::Root, ..WriteOptions::new(compression, 1_700_000_000) };
            let info = write_blob(&store, compression, |w| write_tree(&tree, &opts, w)).unwrap();
            assert_eq!(info, write_layer(&tree, &opts, std::io::sink()).unwrap(), "{compression:?}");
            assert_eq!(store.verify_blob(&info.digest).unwrap(), info.size);
        }
    }

    #[test]
    fn a_failing_producer_leaves_nothing_in_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("store")).unwrap();
        let opts = OutputOptions::new(Compression::Gzip, 0);
        let not_a_layer = crate::layer::LayerInput::sorted(&b"definitely not a tar stream"[..]);
        let err = write_blob(&store, opts.compression, |w| crate::layer::squash(vec![not_a_layer], &opts, w));
        assert!(err.is_err());
        assert_eq!(std::fs::read_dir(store.root().join("blobs/sha256")).unwrap().count(), 0);
        assert_eq!(std::fs::read_dir(store.tmp_dir()).unwrap().count(), 0, "the temp file went with the writer");
    }
}
