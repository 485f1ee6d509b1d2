//! gc, one root kind at a time: what each keeps and what goes, on a temp
//! store (no daemons: `prune_daemons` is not called here).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use oci_spec::image::{Descriptor, MediaType};

use super::*;
use crate::cache::{KeyParts, Record};
use crate::executor::Cancel;
use crate::image::{ImageBuilder, NewLayer};
use crate::layer::{Compression, IdMode, LayerInfo, WriteOptions, write_blob, write_tree};
use crate::sources::Checksum;
use crate::sources::testutil::HttpServer;

const EPOCH: i64 = 1_700_000_000;

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path().join("store")).unwrap();
    (dir, s)
}

fn gc(s: &Store) -> GcReport {
    run(s, &GcOptions::default()).unwrap()
}

fn gc_with(s: &Store, keep_storage: Option<u64>, all: bool) -> GcReport {
    run(s, &GcOptions { dry_run: false, keep_storage, all }).unwrap()
}

/// A real (uncompressed) layer holding `name` with `size` bytes.
fn layer(s: &Store, name: &str, size: usize) -> LayerInfo {
    let tree = tempfile::tempdir().unwrap();
    fs::write(tree.path().join(name), vec![b'x'; size]).unwrap();
    let opts = WriteOptions { ids: IdMode::Root, ..WriteOptions::new(Compression::None, EPOCH) };
    write_blob(s, opts.compression, |w| write_tree(tree.path(), &opts, w)).unwrap()
}

/// An image of `layers` built from scratch, stored (named only if asked).
fn image(s: &Store, layers: &[&LayerInfo], name: Option<&str>) -> Descriptor {
    let mut b = ImageBuilder::scratch(EPOCH);
    for l in layers {
        b = b.layer(NewLayer { info: (*l).clone(), created_by: "test".into(), comment: None });
    }
    let desc = b.build(s).unwrap();
    if let Some(n) = name {
        s.set_ref(n, &desc).unwrap();
    }
    desc
}

/// Stores a step-cache record of `layers` (and `manifest`), last used `age` ago.
fn record(s: &Store, vertex: &str, layers: &[&LayerInfo], manifest: Option<Descriptor>, age: Duration) -> PathBuf {
    let rec = Record {
        vertex: vertex.into(),
        layers: layers.iter().map(|l| ("build".to_string(), (*l).clone())).collect(),
        vars: None,
        manifest,
        data: Default::default(),
    };
    let key = KeyParts::new(vertex).key();
    let cache = StepCache::new(s);
    cache.put(&key, &rec).unwrap();
    let path = cache.records().into_iter().find(|r| r.record.vertex == vertex).unwrap().path;
    age_file(&path, age);
    path
}

fn age_file(path: &Path, age: Duration) {
    fs::File::options().write(true).open(path).unwrap().set_modified(SystemTime::now() - age).unwrap();
}

fn vertices(s: &Store) -> Vec<String> {
    let mut v: Vec<String> = StepCache::new(s).records().into_iter().map(|r| r.record.vertex).collect();
    v.sort();
    v
}

fn has_all(s: &Store, l: &LayerInfo) -> bool {
    s.has_blob(&l.digest)
}

// ------------------------------------------------------------ refs

#[test]
fn refs_keep_what_they_reach_and_the_rest_goes() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    let config = s.put_bytes(MediaType::ImageConfig, b"{}").unwrap();
    let layer = s.put_bytes(MediaType::ImageLayer, b"layer bytes").unwrap();
    let m = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config, "layers": [layer],
    });
    let md = s.put_json(MediaType::ImageManifest, &m).unwrap();
    s.set_ref("app", &md).unwrap();
    let orphan = s.put_bytes(MediaType::ImageLayer, b"nobody needs me").unwrap();
    std::fs::write(dir.path().join("strata/tmp/blob-interrupted"), b"half").unwrap();

    let r = gc(&s);
    assert_eq!((r.blobs_removed, r.temp_files_removed), (1, 1));
    assert!(!s.has_blob(orphan.digest()));
    assert!(s.has_blob(layer.digest()));
    assert!(s.has_blob(config.digest()) && s.has_blob(md.digest()));
    assert!(s.fsck().unwrap().is_clean());

    // Without the name, all three go.
    s.remove_ref("app").unwrap();
    assert_eq!(gc(&s).blobs_removed, 3);
    assert_eq!(fs::read_dir(s.root().join("blobs/sha256")).unwrap().count(), 0);
}

// ------------------------------------------------------------ step-cache records

#[test]
fn cache_records_keep_their_layers_and_their_images() {
    let (_d, s) = store();
    let built = layer(&s, "built", 10);
    let packed = layer(&s, "packed", 10);
    let img = image(&s, &[&packed], None);
    let orphan = layer(&s, "orphan", 10);
    record(&s, "p:build", &[&built], None, Duration::ZERO);
    record(&s, "pack", &[], Some(img.clone()), Duration::ZERO);
    // Not a record (another format): never a root, never removed.
    let alien = s.root().join("strata/cache/steps/alien.json");
    fs::write(&alien, b"{\"not\":\"a record\"}").unwrap();

    let r = gc(&s);
    assert_eq!((r.cache_records_removed, r.blobs_removed), (0, 1), "{r:?}");
    assert!(!has_all(&s, &orphan));
    assert!(has_all(&s, &built) && has_all(&s, &packed));
    assert_eq!(s.closure(&img).len(), 3, "manifest, config, layer");
    assert!(s.closure(&img).iter().all(|d| s.has_blob(d.digest())));
    assert_eq!(vertices(&s), ["p:build", "pack"]);
    assert!(alien.exists());
}

#[test]
fn keep_storage_drops_the_least_recently_used_records_first_and_refs_never_count() {
    let (_d, s) = store();
    let named = layer(&s, "named", 100_000);
    image(&s, &[&named], Some("base"));
    let new = layer(&s, "new", 3000);
    let mid = layer(&s, "mid", 3000);
    let old = layer(&s, "old-but-small", 10);
    // The newest also uses the named layer: it costs the record nothing.
    record(&s, "a:new", &[&new, &named], None, Duration::from_secs(10));
    record(&s, "b:mid", &[&mid], None, Duration::from_secs(100));
    record(&s, "c:old", &[&old], None, Duration::from_secs(1000));
    let (new_size, mid_size) = (new.size, mid.size);

    // Room for the newest only: the middle one does not fit, and the old
    // small one, which would, goes too (strict LRU).
    let r = gc_with(&s, Some(new_size + mid_size - 1), false);
    assert_eq!(r.cache_records_removed, 2, "{r:?}");
    assert_eq!(vertices(&s), ["a:new"]);
    assert!(has_all(&s, &new) && has_all(&s, &named));
    assert!(!has_all(&s, &mid) && !has_all(&s, &old));

    // Without a limit nothing more goes; with 0 every record does, never a named image.
    assert_eq!(gc(&s).cache_records_removed, 0);
    let r = gc_with(&s, Some(0), false);
    assert_eq!(r.cache_records_removed, 1);
    assert!(vertices(&s).is_empty());
    assert!(!has_all(&s, &new) && has_all(&s, &named));
    assert!(s.fsck().unwrap().is_clean());
}

#[test]
fn the_budget_counts_a_shared_blob_once_for_the_newest_holder() {
    let t = |secs| SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
    let blob = |n: &[u8]| Cost::Blob(crate::digest::sha256(n));
    let c = |who, used, path: &str, costs| Candidate { used, path: path.into(), who, costs };
    let candidates = vec![
        c(Who::Record(0), t(30), "r0", vec![(blob(b"shared"), 50), (blob(b"own0"), 10)]),
        c(Who::Record(1), t(20), "r1", vec![(blob(b"shared"), 50)]),
        c(Who::Download(0), t(10), "d0", vec![(Cost::Download(crate::digest::sha256(b"f")), 30)]),
    ];
    // r0 costs 60, r1 nothing more (shared is counted), d0 30: 90 in all.
    let (kept, dropped) = budget(candidates, Some(60));
    assert_eq!((kept, dropped), (vec![Who::Record(0), Who::Record(1)], vec![Who::Download(0)]));
}

// ------------------------------------------------------------ downloads

/// A download cache with: a pinned download (index entry + file), an
/// unpinned one (file only), and what each URL serves.
fn downloads_fixture(s: &Store, server: &HttpServer) -> (Downloads, PathBuf, PathBuf) {
    let d = Downloads::in_store(s);
    let pinned = b"pinned tarball".to_vec();
    let url = server.serve("/pinned.tar", pinned.clone());
    let sum = Checksum::parse(&format!("sha256/{}", crate::digest::sha256(&pinned).digest())).unwrap();
    let kept = d.get("p", &url, Some(&sum), &Cancel::new()).unwrap().path;
    let url = server.serve("/unpinned.tar", b"unpinned".to_vec());
    let unpinned = d.get("p", &url, None, &Cancel::new()).unwrap().path;
    (d, kept, unpinned)
}

#[test]
fn downloads_keep_what_the_index_names_and_drop_the_rest() {
    let (_d, s) = store();
    let server = HttpServer::start();
    let (d, kept, unpinned) = downloads_fixture(&s, &server);
    // An entry whose file is gone, and one that is not an entry at all.
    let urls = s.root().join("strata/downloads/urls");
    fs::write(urls.join("dangling"), format!("{}\n", crate::digest::sha256(b"deleted by hand"))).unwrap();
    fs::write(urls.join("garbage"), b"not a digest").unwrap();
    assert_eq!(d.entries().len(), 3);

    let r = gc(&s);
    assert_eq!((r.downloads_removed, r.download_entries_removed), (1, 2), "{r:?}");
    assert_eq!(r.download_bytes_freed, b"unpinned".len() as u64);
    assert!(kept.is_file(), "a pinned download stays");
    assert!(!unpinned.exists(), "no entry names it: it is never looked up again");
    assert_eq!(d.entries().len(), 1);
    // And the survivor is still a hit: no request to the server.
    let requests = server.requests();
    let pinned = b"pinned tarball";
    let sum = Checksum::parse(&format!("sha256/{}", crate::digest::sha256(pinned).digest())).unwrap();
    assert!(d.get("p", &server.url("/pinned.tar"), Some(&sum), &Cancel::new()).unwrap().cached);
    assert_eq!(server.requests(), requests);
}

#[test]
fn keep_storage_ranks_downloads_with_records_by_last_use() {
    let (_d, s) = store();
    let server = HttpServer::start();
    let (d, download, _) = downloads_fixture(&s, &server);
    let entry = d.entries().into_iter().next().unwrap().index;
    let built = layer(&s, "built", 2000);
    record(&s, "p:build", &[&built], None, Duration::from_secs(50));
    let download_size = fs::metadata(&download).unwrap().len();

    // The download was used last (just now): it fits, the older record does not.
    age_file(&entry, Duration::from_secs(5));
    let r = gc_with(&s, Some(download_size), false);
    assert_eq!((r.cache_records_removed, r.download_entries_removed, r.downloads_removed), (1, 0, 1), "{r:?}");
    assert!(download.is_file() && !has_all(&s, &built));

    // Now the record is newer (rebuilt), the download older: the download goes.
    let built = layer(&s, "built", 2000);
    record(&s, "p:build", &[&built], None, Duration::from_secs(1));
    age_file(&entry, Duration::from_secs(500));
    let r = gc_with(&s, Some(built.size), false);
    assert_eq!((r.cache_records_removed, r.download_entries_removed, r.downloads_removed), (0, 1, 1), "{r:?}");
    assert!(!download.exists() && has_all(&s, &built));
    assert!(d.entries().is_empty() && d.files().is_empty());
}

// ------------------------------------------------------------ snapshots

#[test]
fn snapshots_follow_their_layers_and_all_drops_every_one() {
    let (_d, s) = store();
    let in_image = layer(&s, "in-image", 10);
    let in_record = layer(&s, "in-record", 10);
    let orphan = layer(&s, "orphan", 10);
    image(&s, &[&in_image], Some("app"));
    record(&s, "p:build", &[&in_record], None, Duration::ZERO);
    for l in [&in_image, &in_record, &orphan] {
        crate::snapshot::snapshot(&s, l).unwrap();
    }
    let snap = |l: &LayerInfo| crate::snapshot::snapshot_dir(&s, &l.diff_id);

    let r = gc(&s);
    assert_eq!((r.snapshots_removed, r.blobs_removed), (1, 1), "{r:?}");
    assert!(snap(&in_image).is_dir(), "a named image's layer keeps its snapshot");
    assert!(snap(&in_record).is_dir(), "a cached step's layer keeps its snapshot");
    assert!(!snap(&orphan).exists());
    assert!(!r.snapshots_kept_mounted);

    let r = gc_with(&s, None, true);
    assert_eq!((r.snapshots_removed, r.blobs_removed), (2, 0), "--all drops snapshots, never blobs: {r:?}");
    assert!(crate::snapshot::snapshots(&s).is_empty());
    assert_eq!(fs::read_dir(s.tmp_dir()).unwrap().count(), 0, "removed through the temp dir, and gone");
    // They come back from the blobs.
    assert!(crate::snapshot::snapshot(&s, &in_image).unwrap().join("in-image").is_file());
}

// ------------------------------------------------------------ temp

#[test]
fn temp_leftovers_of_killed_builds_go() {
    let (_d, s) = store();
    let tmp = s.tmp_dir();
    fs::write(tmp.join("blob-x"), b"interrupted write").unwrap();
    fs::write(tmp.join("download-y"), b"interrupted download").unwrap();
    fs::create_dir_all(tmp.join("step-z/upper/etc")).unwrap();
    fs::create_dir_all(tmp.join("snapshot-w/usr")).unwrap();
    let r = gc(&s);
    assert_eq!(r.temp_files_removed, 4);
    assert!(r.temp_still_mounted.is_empty() && r.unmount_failures.is_empty());
    assert_eq!(fs::read_dir(&tmp).unwrap().count(), 0);
}

#[test]
fn a_killed_builds_overlay_is_unmounted_then_removed_with_its_snapshots() {
    if !crate::testutil::need_root("mounting an overlay") {
        return;
    }
    let (_d, s) = store();
    let base = layer(&s, "base", 10);
    let rootfs =
        crate::snapshot::Rootfs::mount(&s, std::slice::from_ref(&base), crate::snapshot::SnapshotMode::Overlay, &[])
            .unwrap();
    fs::write(rootfs.path().join("written-by-the-step"), b"x").unwrap();
    let root = rootfs.path().to_owned();
    // Killed: no Drop, nothing unmounted.
    std::mem::forget(rootfs);
    assert!(crate::mounts::mount_points_under(&s.tmp_dir()).unwrap().contains(&fs::canonicalize(&root).unwrap()));

    let dry = run(&s, &GcOptions { dry_run: true, ..Default::default() }).unwrap();
    assert_eq!(dry.temp_still_mounted.len(), 1, "a dry run unmounts nothing: {dry:?}");
    assert!(root.join("written-by-the-step").exists());

    let r = gc(&s);
    assert!(r.unmount_failures.is_empty() && r.temp_still_mounted.is_empty(), "{r:?}");
    assert_eq!((r.temp_files_removed, r.snapshots_removed, r.blobs_removed), (1, 1, 1), "{r:?}");
    assert!(crate::mounts::mount_points_under(s.root()).unwrap().is_empty());
    assert_eq!(fs::read_dir(s.tmp_dir()).unwrap().count(), 0);
    assert!(crate::snapshot::snapshots(&s).is_empty());
}

// ------------------------------------------------------------ dry run

#[test]
fn a_dry_run_counts_what_a_real_run_removes_and_removes_nothing() {
    let (_d, s) = store();
    let server = HttpServer::start();
    let (d, _, _) = downloads_fixture(&s, &server);
    let kept = layer(&s, "kept", 10);
    let old = layer(&s, "old", 10);
    record(&s, "a:new", &[&kept], None, Duration::from_secs(1));
    record(&s, "b:old", &[&old], None, Duration::from_secs(1000));
    for l in [&kept, &old] {
        crate::snapshot::snapshot(&s, l).unwrap();
    }
    fs::write(s.tmp_dir().join("blob-x"), b"half").unwrap();
    // Age the download entry past both records, so the budget drops it first.
    age_file(&d.entries()[0].index, Duration::from_secs(5000));
    let listing = |s: &Store| {
        let mut all: Vec<PathBuf> =
            walkdir::WalkDir::new(s.root()).into_iter().map(|e| e.unwrap().path().to_owned()).collect();
        all.sort();
        all
    };
    let before = listing(&s);
    let opts = GcOptions { dry_run: true, keep_storage: Some(kept.size), all: false };
    let dry = run(&s, &opts).unwrap();
    assert_eq!(listing(&s), before, "nothing removed");
    let wet = run(&s, &GcOptions { dry_run: false, ..opts }).unwrap();
    let counts = |r: &GcReport| {
        (
            r.cache_records_removed,
            r.blobs_removed,
            r.bytes_freed,
            r.downloads_removed,
            r.download_entries_removed,
            r.snapshots_removed,
            r.temp_files_removed,
        )
    };
    assert_eq!(counts(&dry), counts(&wet));
    assert_eq!(counts(&wet), (1, 1, old.size, 2, 1, 1, 1), "{wet:?}");
}
