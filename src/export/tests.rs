//! Round trips through every export format that needs no daemon: export,
//! import into a fresh store, compare digests; and the archives' bytes.

use std::io::Read;

use oci_spec::image::{Descriptor, Digest, ImageIndex, MediaType};

use super::{ExportTarget, export};
use crate::digest::sha256;
use crate::image::{Image, ImageBuilder, ImageSettings, NewLayer, Platform};
use crate::import::{ImportOptions, ImportSource, import};
use crate::layer::{Compression, LayerInfo};
use crate::store::Store;

/// A layer tar holding `files` (mode 0644, mtime 0, root-owned).
pub(crate) fn layer_tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_path(path).unwrap();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap()
}

pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(1));
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// Stores a layer holding `files`, compressed as asked.
pub(crate) fn put_layer(store: &Store, files: &[(&str, &[u8])], compression: Compression) -> NewLayer {
    let tar = layer_tar(files);
    let diff_id = sha256(&tar);
    let blob = match compression {
        Compression::None => tar,
        Compression::Gzip => gzip(&tar),
        Compression::Zstd => zstd::encode_all(&tar[..], 3).unwrap(),
    };
    let d = store.put_bytes(compression.media_type(), &blob).unwrap();
    NewLayer {
        info: LayerInfo { digest: d.digest().clone(), diff_id, size: d.size(), compression },
        created_by: "test".into(),
        comment: None,
    }
}

/// A two-layer image created at `epoch`.
pub(crate) fn tiny_image(store: &Store, epoch: i64, compression: Compression) -> Descriptor {
    let settings = ImageSettings { cmd: Some(vec!["/hello".into()]), ..Default::default() };
    ImageBuilder::scratch(epoch)
        .layer(put_layer(store, &[("hello", b"hello\n")], compression))
        .layer(put_layer(store, &[("etc/motd", b"strata\n")], compression))
        .settings(settings)
        .build(store)
        .unwrap()
}

pub(crate) fn new_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    (dir, s)
}

/// (path, type, mode, uid, gid, mtime, uname) of a tar entry.
type EntryInfo = (String, char, u32, u64, u64, u64, Vec<u8>);

fn tar_entries(bytes: &[u8]) -> Vec<EntryInfo> {
    let mut a = tar::Archive::new(bytes);
    a.entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let h = e.header();
            (
                String::from_utf8(e.path_bytes().into_owned()).unwrap(),
                h.entry_type().as_byte() as char,
                h.mode().unwrap(),
                h.uid().unwrap(),
                h.gid().unwrap(),
                h.mtime().unwrap(),
                h.username_bytes().unwrap_or_default().to_vec(),
            )
        })
        .collect()
}

fn read_entry(bytes: &[u8], name: &str) -> Vec<u8> {
    let mut a = tar::Archive::new(bytes);
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path_bytes().as_ref() == name.as_bytes() {
            let mut v = Vec::new();
            e.read_to_end(&mut v).unwrap();
            return v;
        }
    }
    panic!("no {name} in the archive")
}

const EPOCH: i64 = 1_700_000_000;

#[test]
fn oci_archive_round_trip_keeps_the_manifest_digest() {
    let (_d, s) = new_store();
    let desc = tiny_image(&s, EPOCH, Compression::Gzip);
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("img.tar");
    let r = export(&s, &desc, "busybox", &ExportTarget::OciArchive(path.clone())).unwrap();
    assert_eq!(&r.digest, desc.digest());
    assert_eq!(r.blobs, 4, "manifest, config and two layers: {r:?}");

    let bytes = std::fs::read(&path).unwrap();
    let index: ImageIndex = serde_json::from_slice(&read_entry(&bytes, "index.json")).unwrap();
    let ann = index.manifests()[0].annotations().clone().unwrap();
    assert_eq!(ann["org.opencontainers.image.ref.name"], "latest");
    assert_eq!(ann["io.containerd.image.name"], "docker.io/library/busybox:latest");
    assert_eq!(read_entry(&bytes, "oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#);

    for reference in [None, Some("latest"), Some("busybox"), Some("docker.io/library/busybox:latest")] {
        let (_d2, s2) = new_store();
        let src = ImportSource::OciArchive { path: path.clone(), reference: reference.map(Into::into) };
        let got = import(&s2, &src, &ImportOptions::default()).unwrap();
        assert_eq!(got.digest(), desc.digest(), "{reference:?}");
        s2.set_ref("busybox", &got).unwrap();
        assert!(s2.fsck().unwrap().is_clean());
    }
}

#[test]
fn archives_are_deterministic_and_normalized() {
    let (_d, s) = new_store();
    let (_d2, s2) = new_store();
    let desc = tiny_image(&s, EPOCH, Compression::Gzip);
    assert_eq!(tiny_image(&s2, EPOCH, Compression::Gzip).digest(), desc.digest());
    let out = tempfile::tempdir().unwrap();
    for (i, mk) in [ExportTarget::OciArchive as fn(_) -> _, ExportTarget::DockerArchive].into_iter().enumerate() {
        let a = out.path().join(format!("{i}-a.tar"));
        let b = out.path().join(format!("{i}-b.tar"));
        export(&s, &desc, "busybox:latest", &mk(a.clone())).unwrap();
        export(&s2, &desc, "busybox:latest", &mk(b.clone())).unwrap();
        let (a, b) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
        assert!(a == b, "two exports of one image differ ({i})");

        let entries = tar_entries(&a);
        let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted, "entries are sorted");
        assert_eq!(&names[..2], ["blobs/", "blobs/sha256/"]);
        for (path, kind, mode, uid, gid, mtime, uname) in &entries {
            assert_eq!((*uid, *gid, *mtime), (0, 0, EPOCH as u64), "{path}");
            assert!(uname.is_empty(), "{path} has no user name");
            match kind {
                '5' => assert_eq!(*mode, 0o755, "{path}"),
                '0' => assert_eq!(*mode, 0o644, "{path}"),
                k => panic!("{path}: unexpected entry type {k}"),
            }
        }
    }
}

#[test]
fn oci_dir_round_trip_and_other_images_stay() {
    let (_d, s) = new_store();
    let a = tiny_image(&s, EPOCH, Compression::Gzip);
    let b = tiny_image(&s, 0, Compression::None);
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("layout");
    export(&s, &a, "app:1", &ExportTarget::OciDir(dir.clone())).unwrap();
    export(&s, &b, "app:2", &ExportTarget::OciDir(dir.clone())).unwrap();
    // Re-exporting a tag replaces its entry; it does not add one.
    export(&s, &a, "app:2", &ExportTarget::OciDir(dir.clone())).unwrap();
    export(&s, &b, "app:2", &ExportTarget::OciDir(dir.clone())).unwrap();
    let index: ImageIndex = serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let tags: Vec<_> = index
        .manifests()
        .iter()
        .map(|m| m.annotations().as_ref().unwrap()["org.opencontainers.image.ref.name"].clone())
        .collect();
    assert_eq!(tags, ["1", "2"]);

    for (tag, want) in [("1", &a), ("2", &b)] {
        let (_d2, s2) = new_store();
        let src = ImportSource::OciDir { path: dir.clone(), reference: Some(tag.into()) };
        assert_eq!(import(&s2, &src, &ImportOptions::default()).unwrap().digest(), want.digest());
    }
    let src = ImportSource::OciDir { path: dir.clone(), reference: None };
    let e = import(&new_store().1, &src, &ImportOptions::default()).unwrap_err().to_string();
    assert!(e.contains("holds 2 images") && e.contains("oci:"), "{e}");
}

#[test]
fn an_oci_dir_holding_something_else_is_refused() {
    let (_d, s) = new_store();
    let a = tiny_image(&s, EPOCH, Compression::Gzip);
    let out = tempfile::tempdir().unwrap();
    std::fs::write(out.path().join("precious.txt"), b"x").unwrap();
    let e = export(&s, &a, "app", &ExportTarget::OciDir(out.path().to_owned())).unwrap_err().to_string();
    assert!(e.contains("not an OCI image layout"), "{e}");
}

fn diff_ids(s: &Store, d: &Descriptor) -> (Digest, Vec<String>) {
    let img = Image::load(s, d, &Platform::host()).unwrap();
    (img.manifest.config().digest().clone(), img.config.rootfs().diff_ids().clone())
}

#[test]
fn docker_archive_round_trip_keeps_manifest_config_and_diff_ids() {
    for compression in [Compression::Gzip, Compression::None] {
        let (_d, s) = new_store();
        let desc = tiny_image(&s, EPOCH, compression);
        let out = tempfile::tempdir().unwrap();
        let path = out.path().join("docker.tar");
        let r = export(&s, &desc, "busybox:1.36", &ExportTarget::DockerArchive(path.clone())).unwrap();
        let (config, ids) = diff_ids(&s, &desc);
        assert_eq!(r.config.as_ref(), Some(&config));

        let bytes = std::fs::read(&path).unwrap();
        let m: serde_json::Value = serde_json::from_slice(&read_entry(&bytes, "manifest.json")).unwrap();
        assert_eq!(m[0]["Config"], format!("blobs/sha256/{}", config.digest()));
        assert_eq!(m[0]["RepoTags"], serde_json::json!(["busybox:1.36"]));
        assert_eq!(m[0]["Layers"].as_array().unwrap().len(), 2);
        let repos: serde_json::Value = serde_json::from_slice(&read_entry(&bytes, "repositories")).unwrap();
        assert!(repos["busybox"]["1.36"].is_string());

        let (_d2, s2) = new_store();
        let src = ImportSource::DockerArchive { path: path.clone(), reference: Some("busybox:1.36".into()) };
        let got = import(&s2, &src, &ImportOptions::default()).unwrap();
        assert_eq!(got.digest(), desc.digest(), "the OCI part keeps the manifest");
        assert_eq!(diff_ids(&s2, &got), (config.clone(), ids.clone()));

        // An older loader sees only manifest.json: config and diff_ids survive.
        let legacy = out.path().join("legacy.tar");
        std::fs::write(&legacy, without(&bytes, &["index.json", "oci-layout"])).unwrap();
        let (_d3, s3) = new_store();
        let src = ImportSource::DockerArchive { path: legacy, reference: None };
        let got = import(&s3, &src, &ImportOptions::default()).unwrap();
        assert_eq!(diff_ids(&s3, &got), (config, ids));
        let img = Image::load(&s3, &got, &Platform::host()).unwrap();
        let orig = Image::load(&s, &desc, &Platform::host()).unwrap();
        let layers = |i: &Image| {
            i.manifest.layers().iter().map(|l| (l.digest().clone(), l.media_type().clone())).collect::<Vec<_>>()
        };
        assert_eq!(layers(&img), layers(&orig), "layer bytes and media types are kept");
        s3.set_ref("x", &got).unwrap();
        assert!(s3.fsck().unwrap().is_clean());
    }
}

/// A copy of a tar without the named entries.
pub(crate) fn without(bytes: &[u8], drop: &[&str]) -> Vec<u8> {
    let mut a = tar::Archive::new(bytes);
    let mut b = tar::Builder::new(Vec::new());
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let name = String::from_utf8(e.path_bytes().into_owned()).unwrap();
        if drop.contains(&name.as_str()) {
            continue;
        }
        let h = e.header().clone();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        b.append(&h, &data[..]).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn a_multi_platform_index_goes_whole_into_oci_and_host_only_into_docker() {
    let (_d, s) = new_store();
    let host = tiny_image(&s, EPOCH, Compression::Gzip);
    let other_platform = Platform { os: "linux".into(), architecture: "s390x".into(), variant: None };
    let other = ImageBuilder::scratch(EPOCH)
        .platform(other_platform)
        .layer(put_layer(&s, &[("other", b"s390x")], Compression::Gzip))
        .build(&s)
        .unwrap();
    let index = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [host, other],
    });
    let idx = s.put_json(MediaType::ImageIndex, &index).unwrap();
    let out = tempfile::tempdir().unwrap();

    let oci = out.path().join("oci.tar");
    let r = export(&s, &idx, "multi", &ExportTarget::OciArchive(oci.clone())).unwrap();
    assert_eq!(r.blobs, 1 + 2 * 2 + 3, "index, two manifests and configs, three layers");
    let (_d2, s2) = new_store();
    let got = import(&s2, &ImportSource::OciArchive { path: oci, reference: None }, &ImportOptions::default()).unwrap();
    assert_eq!(got.digest(), idx.digest());
    assert_eq!(got.media_type(), &MediaType::ImageIndex);

    let docker = out.path().join("docker.tar");
    let r = export(&s, &idx, "multi", &ExportTarget::DockerArchive(docker.clone())).unwrap();
    assert_eq!(&r.digest, host.digest());
    let (_d3, s3) = new_store();
    let got =
        import(&s3, &ImportSource::DockerArchive { path: docker, reference: None }, &ImportOptions::default()).unwrap();
    assert_eq!(got.digest(), host.digest());
}

#[test]
fn exporting_an_image_with_a_missing_blob_names_it() {
    let (_d, s) = new_store();
    let desc = tiny_image(&s, EPOCH, Compression::Gzip);
    let img = Image::load(&s, &desc, &Platform::host()).unwrap();
    let layer = img.manifest.layers()[1].digest().clone();
    std::fs::remove_file(s.blob_path(&layer)).unwrap();
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("x.tar");
    let e = export(&s, &desc, "x", &ExportTarget::OciArchive(path.clone())).unwrap_err().to_string();
    assert!(e.contains(&layer.to_string()) && e.contains("not in the store"), "{e}");
    assert!(!path.exists(), "no partial archive is left");
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0, "no temp file is left");
}
