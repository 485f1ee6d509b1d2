//! Refusals: corrupt, truncated and incomplete sources leave the store as it
//! was (nothing referenced, fsck clean); and the sources with no exporter
//! of ours (legacy docker archives, rootfs tarballs).

use std::path::Path;

use oci_spec::image::MediaType;
use serde_json::json;

use super::{ImportError, ImportOptions, ImportSource, import};
use crate::digest::sha256;
use crate::export::tests::{gzip, layer_tar, new_store, tiny_image, without};
use crate::export::{ExportTarget, export};
use crate::image::{Image, Platform};
use crate::layer::Compression;
use crate::store::Store;

fn oci_archive_of(s: &Store, dir: &Path) -> (std::path::PathBuf, oci_spec::image::Descriptor) {
    let desc = tiny_image(s, 1_700_000_000, Compression::Gzip);
    let path = dir.join("img.tar");
    export(s, &desc, "app:1", &ExportTarget::OciArchive(path.clone())).unwrap();
    (path, desc)
}

/// Nothing the failed import brought in is referenced, and the store is sound.
fn assert_untouched(s: &Store) {
    assert!(s.refs().unwrap().is_empty());
    let report = s.fsck().unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(std::fs::read_dir(s.root().join("strata/tmp")).unwrap().count(), 0, "no temp files left");
}

/// Flips one byte in the middle of the tar entry `name`.
fn corrupt_entry(bytes: &mut [u8], name: &str) {
    let mut a = tar::Archive::new(&bytes[..]);
    let (offset, size) = a
        .entries()
        .unwrap()
        .map(|e| e.unwrap())
        .find(|e| e.path_bytes().as_ref() == name.as_bytes())
        .map(|e| (e.raw_file_position(), e.size()))
        .unwrap();
    bytes[(offset + size / 2) as usize] ^= 0xff;
}

#[test]
fn a_corrupted_blob_in_an_oci_archive_is_refused_by_digest() {
    let out = tempfile::tempdir().unwrap();
    let (_d, s) = new_store();
    let (path, desc) = oci_archive_of(&s, out.path());
    let img = Image::load(&s, &desc, &Platform::host()).unwrap();
    let layer = img.manifest.layers()[0].digest().clone();
    let mut bytes = std::fs::read(&path).unwrap();
    corrupt_entry(&mut bytes, &format!("blobs/sha256/{}", layer.digest()));
    std::fs::write(&path, &bytes).unwrap();

    let (_d2, s2) = new_store();
    let e = import(&s2, &ImportSource::OciArchive { path: path.clone(), reference: None }, &ImportOptions::default())
        .unwrap_err();
    assert!(matches!(&e, ImportError::CorruptBlob { expected, .. } if *expected == layer), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains(&layer.to_string()) && msg.contains("corrupt") && msg.contains("img.tar"), "{msg}");
    assert!(!s2.has_blob(&layer));
    assert!(!s2.has_blob(desc.digest()));
    assert_untouched(&s2);
}

#[test]
fn a_corrupted_blob_in_an_oci_dir_is_refused_by_digest() {
    let out = tempfile::tempdir().unwrap();
    let (_d, s) = new_store();
    let desc = tiny_image(&s, 0, Compression::Gzip);
    let dir = out.path().join("layout");
    export(&s, &desc, "app", &ExportTarget::OciDir(dir.clone())).unwrap();
    let img = Image::load(&s, &desc, &Platform::host()).unwrap();
    let layer = img.manifest.layers()[1].digest().clone();
    let blob = dir.join("blobs/sha256").join(layer.digest());
    let mut bytes = std::fs::read(&blob).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&blob, bytes).unwrap();

    let (_d2, s2) = new_store();
    let e = import(&s2, &ImportSource::OciDir { path: dir, reference: None }, &ImportOptions::default()).unwrap_err();
    assert!(e.to_string().contains(&layer.to_string()), "{e}");
    assert!(!s2.has_blob(&layer));
    assert_untouched(&s2);
}

#[test]
fn a_truncated_archive_is_refused() {
    let out = tempfile::tempdir().unwrap();
    let (_d, s) = new_store();
    let (path, _) = oci_archive_of(&s, out.path());
    let bytes = std::fs::read(&path).unwrap();
    let cut = out.path().join("cut.tar");
    // Cuts inside an entry, on a block boundary and inside a header.
    for len in [bytes.len() / 2, bytes.len() / 2 / 512 * 512, bytes.len() / 3 / 512 * 512 + 100, 1000] {
        std::fs::write(&cut, &bytes[..len]).unwrap();
        let (_d2, s2) = new_store();
        let e =
            import(&s2, &ImportSource::OciArchive { path: cut.clone(), reference: None }, &ImportOptions::default())
                .unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("cut.tar"), "{len}: {msg}");
        assert!(
            matches!(
                e,
                ImportError::Truncated { .. }
                    | ImportError::BadTar { .. }
                    | ImportError::MissingBlob { .. }
                    | ImportError::MissingFile { .. }
            ),
            "{len}: {e:?}"
        );
        assert_untouched(&s2);
    }
    // A gzip-compressed archive cut short fails too.
    let gz = gzip(&bytes);
    std::fs::write(&cut, &gz[..gz.len() * 2 / 3]).unwrap();
    let (_d2, s2) = new_store();
    let e = import(&s2, &ImportSource::OciArchive { path: cut.clone(), reference: None }, &ImportOptions::default())
        .unwrap_err();
    assert!(e.to_string().contains("cut.tar"), "{e}");
    assert_untouched(&s2);
    // ... and whole, it imports.
    std::fs::write(&cut, &gz).unwrap();
    import(&s2, &ImportSource::OciArchive { path: cut, reference: None }, &ImportOptions::default()).unwrap();
}

#[test]
fn an_archive_without_a_blob_names_the_missing_digest() {
    let out = tempfile::tempdir().unwrap();
    let (_d, s) = new_store();
    let (path, desc) = oci_archive_of(&s, out.path());
    let img = Image::load(&s, &desc, &Platform::host()).unwrap();
    let config = img.manifest.config().digest().clone();
    let bytes = without(&std::fs::read(&path).unwrap(), &[&format!("blobs/sha256/{}", config.digest())]);
    std::fs::write(&path, bytes).unwrap();
    let (_d2, s2) = new_store();
    let e = import(&s2, &ImportSource::OciArchive { path, reference: None }, &ImportOptions::default()).unwrap_err();
    assert!(matches!(&e, ImportError::MissingBlob { digest, .. } if *digest == config), "{e:?}");
    assert!(e.to_string().contains(&config.to_string()), "{e}");
    assert_untouched(&s2);
}

#[test]
fn unknown_references_list_what_is_there() {
    let out = tempfile::tempdir().unwrap();
    let (_d, s) = new_store();
    let (path, _) = oci_archive_of(&s, out.path());
    let src = ImportSource::OciArchive { path, reference: Some("nope".into()) };
    let e = import(&new_store().1, &src, &ImportOptions::default()).unwrap_err().to_string();
    assert!(e.contains("no image named 'nope'") && e.contains("(it has: 1)"), "{e}");
    let not_a_tar = out.path().join("notes.txt");
    std::fs::write(&not_a_tar, b"hello, this is not a tar archive at all").unwrap();
    let src = ImportSource::OciArchive { path: not_a_tar, reference: None };
    let e = import(&new_store().1, &src, &ImportOptions::default()).unwrap_err().to_string();
    assert!(e.contains("notes.txt"), "{e}");
}

/// A legacy `docker save` archive, built by hand: `<id>/layer.tar`, a
/// symlinked duplicate layer, `<id>/json` and `VERSION`, config `<hex>.json`,
/// `manifest.json` last, uncompressed and gzip layers.
#[test]
fn a_legacy_docker_archive_keeps_config_digest_and_layer_bytes() {
    let l1 = layer_tar(&[("a", b"one")]);
    let l2 = gzip(&layer_tar(&[("b", b"two")]));
    let l2_diff = sha256(&layer_tar(&[("b", b"two")]));
    let config = json!({
        "architecture": "amd64", "os": "linux", "config": {"Cmd": ["/a"]},
        "rootfs": {"type": "layers", "diff_ids": [sha256(&l1).to_string(), l2_diff.to_string(), sha256(&l1).to_string()]},
    });
    let config = serde_json::to_vec_pretty(&config).unwrap();
    let cfg_hex = sha256(&config).digest().to_owned();
    let manifest = json!([{
        "Config": format!("{cfg_hex}.json"), "RepoTags": ["me/app:1", "me/app:latest"],
        "Layers": ["111/layer.tar", "222/layer.tar", "333/layer.tar"],
    }]);
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_path(path).unwrap();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, data).unwrap();
    };
    add("111/VERSION", b"1.0");
    add("111/json", b"{}");
    add("111/layer.tar", &l1);
    add("222/layer.tar", &l2);
    add(&format!("{cfg_hex}.json"), &config);
    add("manifest.json", &serde_json::to_vec(&manifest).unwrap());
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    b.append_link(&mut h, "333/layer.tar", "../111/layer.tar").unwrap();
    let bytes = b.into_inner().unwrap();
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("legacy.tar");
    std::fs::write(&path, &bytes).unwrap();

    for reference in [None, Some("me/app:1"), Some("docker.io/me/app:latest"), Some(&cfg_hex[..12])] {
        let (_d, s) = new_store();
        let src = ImportSource::DockerArchive { path: path.clone(), reference: reference.map(Into::into) };
        let desc = import(&s, &src, &ImportOptions::default()).unwrap();
        let img = Image::load(&s, &desc, &Platform::host()).unwrap();
        assert_eq!(img.manifest.config().digest().digest(), cfg_hex, "the image ID survives");
        assert_eq!(s.read_blob(img.manifest.config().digest()).unwrap(), config, "config bytes kept");
        let layers: Vec<_> =
            img.manifest.layers().iter().map(|l| (l.media_type().clone(), l.digest().clone())).collect();
        assert_eq!(
            layers,
            [
                (MediaType::ImageLayer, sha256(&l1)),
                (MediaType::ImageLayerGzip, sha256(&l2)),
                (MediaType::ImageLayer, sha256(&l1)),
            ]
        );
        s.set_ref("app", &desc).unwrap();
        assert!(s.fsck().unwrap().is_clean());
    }
    let src = ImportSource::DockerArchive { path: path.clone(), reference: Some("other:1".into()) };
    let e = import(&new_store().1, &src, &ImportOptions::default()).unwrap_err().to_string();
    assert!(e.contains("no image named 'other:1'") && e.contains("me/app:1 me/app:latest"), "{e}");
}

#[test]
fn a_docker_archive_layer_that_does_not_match_its_diff_id_is_refused() {
    let layer = layer_tar(&[("a", b"one")]);
    let config = json!({"architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [sha256(b"something else").to_string()]}});
    let config = serde_json::to_vec(&config).unwrap();
    let manifest = json!([{"Config": "c.json", "RepoTags": null, "Layers": ["l/layer.tar"]}]);
    let mut b = tar::Builder::new(Vec::new());
    for (p, d) in [
        ("l/layer.tar", &layer[..]),
        ("c.json", &config[..]),
        ("manifest.json", &serde_json::to_vec(&manifest).unwrap()[..]),
    ] {
        let mut h = tar::Header::new_ustar();
        h.set_path(p).unwrap();
        h.set_size(d.len() as u64);
        h.set_cksum();
        b.append(&h, d).unwrap();
    }
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("bad.tar");
    std::fs::write(&path, b.into_inner().unwrap()).unwrap();
    let (_d, s) = new_store();
    let e = import(&s, &ImportSource::DockerArchive { path, reference: None }, &ImportOptions::default()).unwrap_err();
    assert!(matches!(e, ImportError::DiffIdMismatch { .. }), "{e:?}");
    assert!(e.to_string().contains("l/layer.tar"), "{e}");
    assert_untouched(&s);
}

/// A root filesystem tarball with entries in the given order.
fn rootfs_tar(order: &[&str]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for name in order {
        let mut h = tar::Header::new_gnu();
        h.set_uid(if name.starts_with("etc") { 1000 } else { 0 });
        h.set_gid(0);
        if name.ends_with('/') {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
            h.set_path(name).unwrap();
            h.set_mtime(1_800_000_000);
            h.set_cksum();
            b.append(&h, &[][..]).unwrap();
        } else {
            let data = format!("content of {name}\n");
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(0o644);
            h.set_size(data.len() as u64);
            h.set_path(name).unwrap();
            h.set_mtime(1_800_000_000);
            h.set_username("someone").unwrap();
            h.set_cksum();
            b.append(&h, data.as_bytes()).unwrap();
        }
    }
    b.into_inner().unwrap()
}

#[test]
fn a_rootfs_tarball_imports_to_the_same_digest_anywhere() {
    let out = tempfile::tempdir().unwrap();
    let a = out.path().join("a.tar");
    let b = out.path().join("sub-b.tar.gz");
    std::fs::write(&a, rootfs_tar(&["./", "etc/", "etc/os-release", "bin/", "bin/sh"])).unwrap();
    std::fs::write(&b, gzip(&rootfs_tar(&["bin/", "bin/sh", "./", "etc/", "etc/os-release"]))).unwrap();
    let opts = ImportOptions {
        source_date_epoch: 1_700_000_000,
        settings: crate::image::ImageSettings { cmd: Some(vec!["/bin/sh".into()]), ..Default::default() },
        ..Default::default()
    };
    let digests: Vec<_> = [&a, &b, &a]
        .iter()
        .map(|p| {
            let (_d, s) = new_store();
            let desc = import(&s, &ImportSource::RootfsTar { path: (*p).clone() }, &opts).unwrap();
            let img = Image::load(&s, &desc, &Platform::host()).unwrap();
            assert_eq!(img.manifest.layers().len(), 1);
            assert_eq!(img.manifest.layers()[0].media_type(), &MediaType::ImageLayerGzip);
            assert_eq!(img.config.created().as_deref(), Some("2023-11-14T22:13:20Z"));
            desc.digest().clone()
        })
        .collect();
    assert_eq!(digests[0], digests[1], "entry order and compression of the tarball do not matter");
    assert_eq!(digests[0], digests[2]);

    let missing = out.path().join("missing.tar");
    let e = import(&new_store().1, &ImportSource::RootfsTar { path: missing }, &opts).unwrap_err().to_string();
    assert!(e.contains("missing.tar"), "{e}");
}
