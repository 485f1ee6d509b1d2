//! The store's half of garbage collection: mark what given roots reach,
//! sweep every other blob, and empty the temp dir. Which descriptors are
//! roots is not the store's business: `crate::gc` gathers them from the
//! refs and from the store's tenants (step cache, downloads, snapshots),
//! marks them here and sweeps.
//!
//! Deleting needs an [`Exclusive`] hold on the gc lock (see `lock`): while
//! it is held no other strata process has the store open, so no blob is
//! written but not yet referenced, and nothing in `strata/tmp/` is in use —
//! whatever is there was left by an interrupted write or a killed build.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, Digest};

use super::{Store, StoreError, lock, walk};

/// The blobs a mark phase found reachable, each with the first descriptor
/// that named it (its media type tells a config from a layer).
#[derive(Debug, Default)]
pub struct Marks {
    live: HashMap<Digest, Descriptor>,
}

impl Marks {
    pub fn new() -> Marks {
        Marks::default()
    }

    pub fn contains(&self, digest: &Digest) -> bool {
        self.live.contains_key(digest)
    }

    pub fn len(&self) -> usize {
        self.live.len()
    }

    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// Every marked blob's descriptor, in no particular order.
    pub fn descriptors(&self) -> impl Iterator<Item = &Descriptor> {
        self.live.values()
    }
}

/// What [`Exclusive::sweep`] removed (or would remove, in a dry run).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    pub blobs_removed: usize,
    pub bytes_freed: u64,
}

/// What [`Exclusive::clean_temp`] removed (or would remove).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TempReport {
    /// Entries of `strata/tmp/` removed: temp files of interrupted blob
    /// writes, step and snapshot dirs of killed builds.
    pub removed: usize,
    /// Entries kept because something is still mounted below them.
    pub still_mounted: Vec<PathBuf>,
}

impl Store {
    /// Marks `roots` and every blob they reach (index → manifests → config
    /// and layers). A root that is absent is marked but not walked; a
    /// document that cannot be parsed keeps only itself (fsck reports it).
    pub fn mark(&self, marks: &mut Marks, roots: impl IntoIterator<Item = Descriptor>) {
        let mut stack: Vec<Descriptor> = roots.into_iter().collect();
        while let Some(d) = stack.pop() {
            if marks.live.contains_key(d.digest()) {
                continue;
            }
            let present = self.has_blob(d.digest());
            let kids = if present { walk::children(self, &d).unwrap_or_default() } else { Vec::new() };
            marks.live.insert(d.digest().clone(), d);
            stack.extend(kids);
        }
    }

    /// Takes the gc lock exclusively until the returned hold drops; waits
    /// (and says so) while other strata processes use the store.
    pub fn lock_exclusive(&self) -> Result<Exclusive<'_>, StoreError> {
        Ok(Exclusive { store: self, _guard: self.gc_guard.exclusive()? })
    }

    /// The exclusive gc lock if no other strata process has the store open
    /// now, without waiting: what cleaning up after a killed build takes.
    pub fn try_lock_exclusive(&self) -> Result<Option<Exclusive<'_>>, StoreError> {
        Ok(self.gc_guard.try_exclusive()?.map(|g| Exclusive { store: self, _guard: g }))
    }
}

/// Proof that no other strata process uses the store: what may delete.
pub struct Exclusive<'s> {
    store: &'s Store,
    _guard: lock::ExclusiveGc<'s>,
}

impl<'s> Exclusive<'s> {
    pub fn store(&self) -> &'s Store {
        self.store
    }

    /// Removes every blob `marks` lacks. Names under `blobs/sha256/` that
    /// are not digests are left alone (fsck reports them).
    pub fn sweep(&self, marks: &Marks, dry_run: bool) -> Result<SweepReport, StoreError> {
        let dir = self.store.root().join("blobs/sha256");
        let mut report = SweepReport::default();
        for entry in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let path = entry.map_err(io_err(&dir))?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
            let Ok(digest) = Digest::try_from(format!("sha256:{name}")) else { continue };
            if marks.contains(&digest) {
                continue;
            }
            report.blobs_removed += 1;
            report.bytes_freed += fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            if !dry_run {
                fs::remove_file(&path).map_err(io_err(&path))?;
            }
        }
        Ok(report)
    }

    /// Empties `strata/tmp/`. An entry with something still mounted below
    /// it is kept and listed: removing files through a mount would reach
    /// into whatever is mounted (unmount first: `snapshot::unmount_leftovers`).
    /// If the mount table cannot be read, directories are kept too.
    pub fn clean_temp(&self, dry_run: bool) -> Result<TempReport, StoreError> {
        let tmp = self.store.tmp_dir();
        let mounts = crate::mounts::mount_points_under(&tmp).ok();
        let canonical_tmp = fs::canonicalize(&tmp).unwrap_or_else(|_| tmp.clone());
        let mut report = TempReport::default();
        for entry in fs::read_dir(&tmp).map_err(io_err(&tmp))? {
            let entry = entry.map_err(io_err(&tmp))?;
            let path = entry.path();
            let is_dir = entry.file_type().map_err(io_err(&path))?.is_dir();
            let mounted = match &mounts {
                Some(m) => m.iter().any(|p| p.starts_with(canonical_tmp.join(entry.file_name()))),
                None => is_dir,
            };
            if mounted {
                report.still_mounted.push(path);
                continue;
            }
            report.removed += 1;
            if !dry_run {
                remove_all(&path).map_err(io_err(&path))?;
            }
        }
        report.still_mounted.sort();
        Ok(report)
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.to_owned(), source }
}

/// Removes `path` (a file, a symlink or a whole tree) whatever the modes
/// inside it: a tree a build left may hold directories without write or
/// search permission (a layer's `dr-xr-xr-x`), which stop a non-root
/// `remove_dir_all`; those get `u+rwx` and the removal is retried. Never
/// follows symlinks. A path that is already gone is not an error.
pub fn remove_all(path: &Path) -> io::Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.is_dir() {
        return fs::remove_file(path);
    }
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            open_up(path)?;
            fs::remove_dir_all(path)
        }
        r => r,
    }
}

/// `chmod u+rwx` on every directory of a tree, parents before children.
fn open_up(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::symlink_metadata(dir)?.permissions().mode();
    if mode & 0o700 != 0o700 {
        fs::set_permissions(dir, fs::Permissions::from_mode(mode | 0o700))?;
    }
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            open_up(&entry.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use oci_spec::image::MediaType;

    use super::*;

    /// A manifest referencing `config` and `layer`, stored (not named).
    fn tiny_image(s: &Store, tag: &[u8]) -> (Descriptor, Descriptor, Descriptor) {
        let config = s.put_bytes(MediaType::ImageConfig, &[b"{\"tag\":\"", tag, b"\"}"].concat()).unwrap();
        let layer = s.put_bytes(MediaType::ImageLayer, &[b"layer of ", tag].concat()).unwrap();
        let m = serde_json::json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config, "layers": [layer],
        });
        (s.put_json(MediaType::ImageManifest, &m).unwrap(), config, layer)
    }

    fn blob_count(s: &Store) -> usize {
        fs::read_dir(s.root().join("blobs/sha256")).unwrap().count()
    }

    #[test]
    fn mark_walks_index_manifest_config_and_layers_and_keeps_the_descriptors() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let (m, config, layer) = tiny_image(&s, b"a");
        let index = serde_json::json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [m],
        });
        let idx = s.put_json(MediaType::ImageIndex, &index).unwrap();
        let (other, ..) = tiny_image(&s, b"b");

        let mut marks = Marks::new();
        s.mark(&mut marks, [idx.clone()]);
        assert_eq!(marks.len(), 4, "index, manifest, config, layer");
        for d in [&idx, &m, &config, &layer] {
            assert!(marks.contains(d.digest()), "{}", d.digest());
        }
        assert!(!marks.contains(other.digest()));
        let config_marked = marks.descriptors().find(|d| d.digest() == config.digest()).unwrap();
        assert_eq!(config_marked.media_type(), &MediaType::ImageConfig);

        // Marking more roots adds to the same set; an absent root is marked, not walked.
        let absent = Descriptor::new(MediaType::ImageManifest, 2, crate::digest::sha256(b"{}"));
        s.mark(&mut marks, [other, absent.clone()]);
        assert_eq!(marks.len(), 8);
        assert!(marks.contains(absent.digest()));
    }

    #[test]
    fn sweep_removes_exactly_the_unmarked_blobs_and_a_dry_run_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let (kept, kept_config, kept_layer) = tiny_image(&s, b"kept");
        let (gone, ..) = tiny_image(&s, b"gone");
        fs::write(s.root().join("blobs/sha256/not-a-digest"), b"stray").unwrap();
        let mut marks = Marks::new();
        s.mark(&mut marks, [kept.clone()]);
        let gc = s.lock_exclusive().unwrap();

        let dry = gc.sweep(&marks, true).unwrap();
        assert_eq!(dry.blobs_removed, 3, "the other image's manifest, config and layer");
        assert_eq!(blob_count(&s), 7, "a dry run removes nothing");

        let wet = gc.sweep(&marks, false).unwrap();
        assert_eq!(wet, dry, "the dry run said what the real one does");
        assert!(wet.bytes_freed > 0);
        for d in [&kept, &kept_config, &kept_layer] {
            assert!(s.has_blob(d.digest()));
        }
        assert!(!s.has_blob(gone.digest()));
        assert!(s.root().join("blobs/sha256/not-a-digest").exists(), "not a blob name: fsck's business");
    }

    #[test]
    fn clean_temp_removes_interrupted_writes_and_trees_of_killed_builds() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let tmp = s.tmp_dir();
        fs::write(tmp.join("blob-interrupted"), b"half").unwrap();
        // A killed step's dir, with a read-only directory in its upper dir.
        let ro = tmp.join("step-x/upper/usr/lib");
        fs::create_dir_all(&ro).unwrap();
        fs::write(ro.join("f"), b"x").unwrap();
        fs::set_permissions(&ro, fs::Permissions::from_mode(0o555)).unwrap();
        fs::set_permissions(tmp.join("step-x/upper/usr"), fs::Permissions::from_mode(0o500)).unwrap();
        std::os::unix::fs::symlink("/etc", tmp.join("a-link")).unwrap();

        let gc = s.lock_exclusive().unwrap();
        let dry = gc.clean_temp(true).unwrap();
        assert_eq!(dry, TempReport { removed: 3, still_mounted: Vec::new() });
        assert_eq!(fs::read_dir(&tmp).unwrap().count(), 3);
        assert_eq!(gc.clean_temp(false).unwrap(), dry);
        assert_eq!(fs::read_dir(&tmp).unwrap().count(), 0);
        assert!(Path::new("/etc").is_dir(), "a symlink is removed, never followed");
    }

    #[test]
    fn clean_temp_keeps_what_is_still_mounted() {
        if !crate::testutil::need_root("mounting a tmpfs") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let target = s.tmp_dir().join("step-y/rootfs");
        fs::create_dir_all(&target).unwrap();
        let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
        let (src, tgt, fstype) = (c(Path::new("tmpfs")), c(&target), c(Path::new("tmpfs")));
        // SAFETY: valid NUL-terminated strings; the result is checked.
        let r = unsafe { libc::mount(src.as_ptr(), tgt.as_ptr(), fstype.as_ptr(), 0, std::ptr::null()) };
        assert_eq!(r, 0, "mount tmpfs: {}", io::Error::last_os_error());
        fs::write(target.join("inside-the-mount"), b"x").unwrap();
        fs::write(s.tmp_dir().join("blob-1"), b"half").unwrap();

        let report = s.lock_exclusive().unwrap().clean_temp(false).unwrap();
        let kept = target.join("inside-the-mount").exists();
        // SAFETY: as above.
        unsafe { libc::umount2(tgt.as_ptr(), libc::MNT_DETACH) };
        assert_eq!(report.removed, 1, "the temp file");
        assert_eq!(report.still_mounted, [s.tmp_dir().join("step-y")]);
        assert!(kept, "nothing was removed through the mount");
    }

    #[test]
    fn remove_all_takes_files_links_and_missing_paths() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        fs::write(&f, b"x").unwrap();
        remove_all(&f).unwrap();
        assert!(!f.exists());
        remove_all(&f).unwrap();
    }
}
