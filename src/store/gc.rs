//! `strata store gc`: mark everything reachable from the refs and from the
//! step cache's records ([`crate::cache::roots`], which first drops least
//! recently used records over `--keep-storage`), sweep the rest, and remove
//! temp files left by interrupted writes and the unpacked-layer snapshots
//! (a cache, rebuilt from blobs on demand). Runs only under the exclusive gc
//! lock, so no other process is mid-write or mid-build.

use std::collections::HashSet;
use std::fs;

use oci_spec::image::Digest;

use super::{Store, StoreError, walk};

#[derive(Debug, Default)]
pub struct GcReport {
    /// Step-cache records dropped to fit `--keep-storage`.
    pub cache_records_removed: usize,
    pub blobs_removed: usize,
    pub bytes_freed: u64,
    pub temp_files_removed: usize,
}

pub(super) fn run(store: &Store, dry_run: bool, keep_storage: Option<u64>) -> Result<GcReport, StoreError> {
    let mut live = HashSet::new();
    let refs: Vec<_> = store.refs()?.into_iter().map(|(_, d)| d).collect();
    mark(store, refs, &mut live);
    let (layers, images, dropped) = crate::cache::roots(store, &live, keep_storage, dry_run)?;
    live.extend(layers);
    mark(store, images, &mut live);

    let mut report = GcReport { cache_records_removed: dropped, ..GcReport::default() };
    let dir = store.root().join("blobs/sha256");
    let io = |path: &std::path::Path, e| StoreError::Io { path: path.to_owned(), source: e };
    for entry in fs::read_dir(&dir).map_err(|e| io(&dir, e))? {
        let path = entry.map_err(|e| io(&dir, e))?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
        let Ok(digest) = Digest::try_from(format!("sha256:{name}")) else { continue };
        if live.contains(&digest) {
            continue;
        }
        report.blobs_removed += 1;
        report.bytes_freed += fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if !dry_run {
            fs::remove_file(&path).map_err(|e| io(&path, e))?;
        }
    }
    if !dry_run && !store_has_mounts(store) {
        // Nothing uses them (we hold the exclusive lock and no overlay of a
        // crashed build still mounts them): they come back from blobs.
        let snaps = store.root().join("strata/snapshots");
        if snaps.is_dir() {
            fs::remove_dir_all(&snaps).map_err(|e| io(&snaps, e))?;
        }
    }
    let tmp = store.tmp_dir();
    for entry in fs::read_dir(&tmp).map_err(|e| io(&tmp, e))? {
        let path = entry.map_err(|e| io(&tmp, e))?.path();
        report.temp_files_removed += 1;
        if !dry_run {
            let r = if path.is_dir() { fs::remove_dir_all(&path) } else { fs::remove_file(&path) };
            r.map_err(|e| io(&path, e))?;
        }
    }
    Ok(report)
}

/// Marks everything `roots` reach.
fn mark(store: &Store, roots: Vec<oci_spec::image::Descriptor>, live: &mut HashSet<Digest>) {
    let mut stack = roots;
    while let Some(d) = stack.pop() {
        if !live.insert(d.digest().clone()) || !store.has_blob(d.digest()) {
            continue;
        }
        // A referenced document we cannot parse keeps only itself alive; fsck reports it.
        stack.extend(walk::children(store, &d).unwrap_or_default());
    }
}

/// Whether anything is mounted under the store (an overlay a killed build
/// left behind): then its snapshots may be lower dirs and are kept.
fn store_has_mounts(store: &Store) -> bool {
    let root = fs::canonicalize(store.root()).unwrap_or_else(|_| store.root().to_path_buf());
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else { return true };
    let root = root.to_string_lossy();
    info.lines().any(|l| l.split(' ').nth(4).is_some_and(|m| m.starts_with(root.as_ref())))
}

#[cfg(test)]
mod tests {
    use oci_spec::image::MediaType;

    use crate::store::{FsckProblem, Store};

    /// A manifest referencing `config` and `layer`, stored and named `app`.
    fn tiny_image(s: &Store) -> (oci_spec::image::Descriptor, oci_spec::image::Descriptor) {
        let config = s.put_bytes(MediaType::ImageConfig, b"{}").unwrap();
        let layer = s.put_bytes(MediaType::ImageLayer, b"layer bytes").unwrap();
        let m = serde_json::json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config, "layers": [layer],
        });
        let md = s.put_json(MediaType::ImageManifest, &m).unwrap();
        s.set_ref("app", &md).unwrap();
        (md, layer)
    }

    #[test]
    fn gc_keeps_what_refs_reach_and_removes_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let (_, layer) = tiny_image(&s);
        let orphan = s.put_bytes(MediaType::ImageLayer, b"nobody needs me").unwrap();
        std::fs::write(dir.path().join("strata/tmp/blob-interrupted"), b"half").unwrap();

        let r = s.gc(false).unwrap();
        assert_eq!((r.blobs_removed, r.temp_files_removed), (1, 1));
        assert!(!s.has_blob(orphan.digest()));
        assert!(s.has_blob(layer.digest()));
        assert!(s.fsck().unwrap().is_clean());
    }

    #[test]
    fn fsck_finds_a_corrupted_and_a_missing_blob() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let (_, layer) = tiny_image(&s);
        let path = s.blob_path(layer.digest());
        let mut perm = std::fs::metadata(&path).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perm.set_readonly(false);
        std::fs::set_permissions(&path, perm).unwrap();
        std::fs::write(&path, b"layer bytez").unwrap();
        let report = s.fsck().unwrap();
        assert!(
            matches!(&report.problems[..], [FsckProblem::Corrupt { digest, .. }] if digest == layer.digest()),
            "{:?}",
            report.problems
        );

        std::fs::remove_file(&path).unwrap();
        let report = s.fsck().unwrap();
        assert!(
            matches!(&report.problems[..], [FsckProblem::Missing { digest, .. }] if digest == layer.digest()),
            "{:?}",
            report.problems
        );
    }
}
