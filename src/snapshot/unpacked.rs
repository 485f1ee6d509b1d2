//! Layer blobs unpacked once into `<store>/strata/snapshots/<diff_id hex>/`.

use std::fs;
use std::io::BufReader;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use oci_spec::image::Digest;

use super::SnapshotError;
use crate::layer::{self, LayerInfo, UnpackOptions, WhiteoutMode};
use crate::store::Store;

/// Where every snapshot of `store` lives.
pub fn snapshots_root(store: &Store) -> PathBuf {
    store.root().join("strata/snapshots")
}

/// Where the snapshot of the layer with this diff_id lives (whether or not
/// it exists yet).
pub fn snapshot_dir(store: &Store, diff_id: &Digest) -> PathBuf {
    snapshots_root(store).join(diff_id.digest())
}

/// The snapshot of `layer`, unpacking the blob first if no process has yet.
///
/// The layer is unpacked into a temp dir under `<store>/strata/tmp/`
/// (same filesystem), its diff_id checked, and the dir renamed into place.
/// A process that loses the race to rename finds the winner's snapshot and
/// drops its own copy. Snapshots are never modified afterwards: they are
/// only ever used as overlay lower dirs or copied from.
pub fn snapshot(store: &Store, layer: &LayerInfo) -> Result<PathBuf, SnapshotError> {
    let dest = snapshot_dir(store, &layer.diff_id);
    if dest.is_dir() {
        return Ok(dest);
    }
    let root = snapshots_root(store);
    fs::create_dir_all(&root).map_err(SnapshotError::io(&root))?;
    let tmp_root = store.tmp_dir();
    let tmp =
        tempfile::Builder::new().prefix("snapshot-").tempdir_in(&tmp_root).map_err(SnapshotError::io(&tmp_root))?;
    // The snapshot root is the merged root's lowest directory: 0755 like any `/`.
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).map_err(SnapshotError::io(tmp.path()))?;
    let blob = store.open_blob(&layer.digest)?;
    let opts = UnpackOptions { whiteouts: WhiteoutMode::Overlay, ..UnpackOptions::default() };
    let stats = layer::unpack(BufReader::with_capacity(256 * 1024, blob), tmp.path(), &opts)?;
    if stats.diff_id != layer.diff_id {
        return Err(SnapshotError::DiffIdMismatch(Box::new(super::error::DiffIdMismatch {
            digest: layer.digest.clone(),
            expected: layer.diff_id.clone(),
            found: stats.diff_id,
        })));
    }
    publish(tmp, &dest)
}

/// Every snapshot of `store`: its layer's diff_id and its directory.
/// Entries whose name is not a sha256 hex digest are not snapshots and
/// not listed.
pub fn snapshots(store: &Store) -> Vec<(Digest, PathBuf)> {
    let Ok(rd) = fs::read_dir(snapshots_root(store)) else { return Vec::new() };
    rd.flatten()
        .filter_map(|e| {
            let diff_id = Digest::try_from(format!("sha256:{}", e.file_name().to_str()?)).ok()?;
            e.file_type().ok()?.is_dir().then(|| (diff_id, e.path()))
        })
        .collect()
}

/// Removes the snapshot at `dir` (one of [`snapshots`]). Only under the
/// exclusive gc lock, when no build can be using it as a lower dir. It is
/// renamed into the temp dir first and deleted there, so a gc killed
/// halfway never leaves half a snapshot for a later build to mount: what
/// is left is a temp dir the next gc removes.
pub fn remove_snapshot(gc: &crate::store::Exclusive<'_>, dir: &Path) -> Result<(), SnapshotError> {
    let tmp_root = gc.store().tmp_dir();
    let doomed = tempfile::Builder::new()
        .prefix("removing-snapshot-")
        .tempdir_in(&tmp_root)
        .map_err(SnapshotError::io(&tmp_root))?
        .keep();
    let target = doomed.join("snapshot");
    fs::rename(dir, &target).map_err(SnapshotError::io(dir))?;
    crate::store::remove_all(&doomed).map_err(SnapshotError::io(&doomed))
}

/// Unmounts whatever is still mounted under the store's temp dir: the
/// overlays (and FUSE daemons) of builds that were killed before they could
/// unmount. Only under the exclusive gc lock, when no live build has
/// anything mounted there. Returns the mount points that could not be
/// unmounted (e.g. without the privileges it took to mount them).
pub fn unmount_leftovers(gc: &crate::store::Exclusive<'_>) -> Vec<(PathBuf, std::io::Error)> {
    let Ok(points) = crate::mounts::mount_points_under(&gc.store().tmp_dir()) else { return Vec::new() };
    // Deepest first: a rootfs with mounts inside it comes after them.
    points.into_iter().filter_map(|p| super::mount::unmount(&p).err().map(|e| (p, e))).collect()
}

/// Renames the finished `tmp` to `dest`; if another process got there
/// first, keeps theirs.
fn publish(tmp: tempfile::TempDir, dest: &Path) -> Result<PathBuf, SnapshotError> {
    match rename_noreplace(tmp.path(), dest) {
        Ok(()) => {
            // Now owned by `dest`: nothing left for the guard to remove.
            let _ = tmp.keep();
            Ok(dest.to_owned())
        }
        Err(_) if dest.is_dir() => Ok(dest.to_owned()),
        Err(e) => Err(SnapshotError::Io { path: dest.to_owned(), source: e }),
    }
}

/// `rename(2)` that fails instead of replacing an existing (empty) directory.
fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(std::io::Error::other);
    let (f, t) = (c(from)?, c(to)?);
    // SAFETY: two valid NUL-terminated paths.
    let r = unsafe { libc::renameat2(libc::AT_FDCWD, f.as_ptr(), libc::AT_FDCWD, t.as_ptr(), libc::RENAME_NOREPLACE) };
    if r == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::{Compression, IdMode, WriteOptions, write_blob, write_tree};

    fn store_with_layer(dir: &Path) -> (Store, LayerInfo) {
        let store = Store::open(dir.join("store")).unwrap();
        let tree = dir.join("tree");
        fs::create_dir_all(tree.join("etc")).unwrap();
        fs::write(tree.join("etc/hello"), b"hi\n").unwrap();
        let opts = WriteOptions { ids: IdMode::Root, ..WriteOptions::new(Compression::Gzip, 1_700_000_000) };
        let info = write_blob(&store, opts.compression, |w| write_tree(&tree, &opts, w)).unwrap();
        (store, info)
    }

    #[test]
    fn a_layer_is_unpacked_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let (store, info) = store_with_layer(dir.path());
        let snap = snapshot(&store, &info).unwrap();
        assert_eq!(snap, snapshot_dir(&store, &info.diff_id));
        assert_eq!(fs::read(snap.join("etc/hello")).unwrap(), b"hi\n");
        assert_eq!(fs::metadata(&snap).unwrap().permissions().mode() & 0o7777, 0o755);
        // Reused: a marker placed in it survives the second call.
        fs::write(snap.join("marker"), b"").unwrap();
        assert_eq!(snapshot(&store, &info).unwrap(), snap);
        assert!(snap.join("marker").exists());
        assert_eq!(fs::read_dir(store.tmp_dir()).unwrap().count(), 0, "no temp dirs left");
    }

    #[test]
    fn racing_creators_agree_and_leave_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let (store, info) = store_with_layer(dir.path());
        let store = &store;
        let info = &info;
        let got: Vec<PathBuf> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4).map(|_| s.spawn(move || snapshot(store, info).unwrap())).collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(got.iter().all(|p| p == &got[0]));
        assert_eq!(fs::read(got[0].join("etc/hello")).unwrap(), b"hi\n");
        assert_eq!(fs::read_dir(store.tmp_dir()).unwrap().count(), 0);
        assert_eq!(fs::read_dir(snapshots_root(store)).unwrap().count(), 1);
    }

    #[test]
    fn a_publish_that_loses_the_race_keeps_the_winner() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("dest");
        fs::create_dir(&dest).unwrap();
        fs::write(dest.join("winner"), b"").unwrap();
        let tmp = tempfile::tempdir_in(dir.path()).unwrap();
        fs::write(tmp.path().join("loser"), b"").unwrap();
        let tmp_path = tmp.path().to_owned();
        assert_eq!(publish(tmp, &dest).unwrap(), dest);
        assert!(dest.join("winner").exists() && !dest.join("loser").exists());
        assert!(!tmp_path.exists(), "the loser's copy is removed");
    }

    #[test]
    fn a_wrong_diff_id_is_refused_and_nothing_is_published() {
        let dir = tempfile::tempdir().unwrap();
        let (store, mut info) = store_with_layer(dir.path());
        info.diff_id = crate::digest::sha256(b"something else");
        let err = snapshot(&store, &info).unwrap_err();
        assert!(matches!(err, SnapshotError::DiffIdMismatch(_)), "{err}");
        assert!(!snapshot_dir(&store, &info.diff_id).exists());
        assert_eq!(fs::read_dir(store.tmp_dir()).unwrap().count(), 0);
    }
}
