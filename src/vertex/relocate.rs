//! The image's own layer, made from the parts' prime layers, over a base
//! whose top-level directories may be symlinks (Debian and Ubuntu's merged
//! /usr: `bin -> usr/bin`, `lib -> usr/lib`).
//!
//! [`pack_layer`] streams every part's prime layer (`root/prime/...`,
//! lifecycle order, later over earlier) through
//! [`layer::squash_relocated`]: the `root/prime/` prefix is dropped and,
//! as rockcraft does when it packs, a prime directory the base has as a
//! link goes through the link — the prime's `bin/hello` is packed as
//! `usr/bin/hello`, since a plain `bin/` laid over the base would replace
//! the link and hide the base's `/usr/bin` from `/bin` (no `/bin/sh`).
//! Nothing is unpacked or copied; no file is hashed but by the layer
//! writer itself.
//!
//! A prime that holds both `bin/X` and `usr/bin/X` over such a base is
//! refused unless the two are the same ([`PackConflict`]): packing one over
//! the other silently broke images (a python venv's `bin/python3.11 ->
//! python3` replaced the interpreter at `usr/bin/python3.11`, leaving a
//! symlink loop). rockcraft refuses it too.

use std::collections::BTreeMap;
use std::fs;
use std::io::BufReader;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use crate::layer::relocate::{TopEntry, TopLevel, top_level, top_level_links};
use crate::layer::{self, LayerError, LayerInfo, LayerInput, OutputOptions, Relocation};
use crate::store::Store;

/// A prime holds two paths that pack would put in one place (through a
/// base link), and they differ.
#[derive(Debug, thiserror::Error)]
#[error(
    "conflicting paths pointing to '{path}': '{first}' (part '{first_part}') and '{second}' (part '{second_part}') differ, and the base image has {through}, which makes them one path in the image; prime only one of them, or make them identical"
)]
pub struct PackConflict {
    /// Where both would be packed (`usr/bin/X`).
    pub path: String,
    /// The paths in the prime, and the parts that primed them.
    pub first: String,
    pub first_part: String,
    pub second: String,
    pub second_part: String,
    /// The base's link that joins them (`bin -> usr/bin`).
    pub through: String,
}

/// The top-level symlinks of the base (`bin -> usr/bin`), the topmost layer
/// that has a name deciding, whiteouts respected. Each layer is read from
/// its snapshot when one is unpacked already (one directory listing), else
/// from its tar headers (streamed; nothing is unpacked or kept).
pub fn base_links(store: &Store, base: &[LayerInfo]) -> crate::Result<BTreeMap<Vec<u8>, Vec<u8>>> {
    let mut layers = Vec::with_capacity(base.len());
    for l in base {
        let snap = crate::snapshot::snapshot_dir(store, &l.diff_id);
        let top = match snapshot_top_level(&snap) {
            Some(top) => top,
            None => top_level(BufReader::with_capacity(256 * 1024, store.open_blob(&l.digest)?))?,
        };
        layers.push(top);
    }
    Ok(top_level_links(&layers))
}

/// The top level of an unpacked snapshot (overlay conventions: a char
/// device 0/0 is a whiteout, `*.overlay.opaque=y` an opaque root); `None`
/// when there is no snapshot or it cannot be read.
fn snapshot_top_level(dir: &Path) -> Option<TopLevel> {
    let rd = fs::read_dir(dir).ok()?;
    let opaque = ["trusted.overlay.opaque", "user.overlay.opaque"]
        .iter()
        .any(|x| xattr::get(dir, x).ok().flatten().as_deref() == Some(b"y"));
    let mut top = TopLevel { opaque, ..TopLevel::default() };
    for e in rd {
        let e = e.ok()?;
        let md = fs::symlink_metadata(e.path()).ok()?;
        let ft = md.file_type();
        let entry = if ft.is_symlink() {
            TopEntry::Symlink(fs::read_link(e.path()).ok()?.as_os_str().as_bytes().to_vec())
        } else if ft.is_char_device() && md.rdev() == 0 {
            TopEntry::Whiteout
        } else {
            TopEntry::Other
        };
        top.names.insert(e.file_name().as_bytes().to_vec(), entry);
    }
    Some(top)
}

/// Writes the image's layer into the store: the parts' prime layers
/// (`(part, layer)`, lifecycle order) squashed, `root/prime/` stripped,
/// through the links of `base` (its layers, bottom first).
pub fn pack_layer(
    store: &Store,
    primes: &[(String, LayerInfo)],
    base: &[LayerInfo],
    opts: &OutputOptions,
) -> crate::Result<LayerInfo> {
    relocated(store, primes, "root/prime", base, opts)
}

/// [`pack_layer`] for any subtree `from` (empty: the whole layers).
pub fn relocated(
    store: &Store,
    primes: &[(String, LayerInfo)],
    from: &str,
    base: &[LayerInfo],
    opts: &OutputOptions,
) -> crate::Result<LayerInfo> {
    let mut relocation = Relocation::new();
    if !from.is_empty() {
        relocation = relocation.strip_prefix(from);
    }
    let relocation = relocation.through_links(&base_links(store, base)?);
    let mut inputs = Vec::with_capacity(primes.len());
    for (_, l) in primes {
        inputs.push(LayerInput::sorted(BufReader::with_capacity(256 * 1024, store.open_blob(&l.digest)?)));
    }
    let mut blob = store.blob_writer()?;
    let diff_id = match layer::squash_relocated(inputs, &relocation, opts, &mut blob) {
        Ok(w) => w.diff_id,
        Err(LayerError::PathConflict { path, first, first_layer, second, second_layer, through }) => {
            let part = |i: usize| primes.get(i).map_or_else(String::new, |(p, _)| p.clone());
            let c = PackConflict {
                path,
                first,
                first_part: part(first_layer),
                second,
                second_part: part(second_layer),
                through,
            };
            return Err(c.into());
        }
        Err(e) => return Err(e.into()),
    };
    let (digest, size) = blob.commit(None)?;
    Ok(LayerInfo { digest, diff_id, size, compression: opts.compression })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::{Compression, WriteOptions};

    fn layer_of(store: &Store, dir: &Path, prefix: Option<&str>) -> LayerInfo {
        let mut blob = store.blob_writer().unwrap();
        let opts = WriteOptions { prefix: prefix.map(Into::into), ..WriteOptions::new(Compression::Gzip, 0) };
        let diff_id = layer::write_tree(dir, &opts, &mut blob).unwrap().diff_id;
        let (digest, size) = blob.commit(None).unwrap();
        LayerInfo { digest, diff_id, size, compression: Compression::Gzip }
    }

    /// The entry names of a layer, and the content of `file`.
    fn names(store: &Store, l: &LayerInfo, file: &str) -> (Vec<String>, String) {
        let blob = store.read_blob(&l.digest).unwrap();
        let (_, stream) = layer::decompress(&blob[..]).unwrap();
        let mut a = tar::Archive::new(stream);
        let (mut names, mut content) = (Vec::new(), String::new());
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            if name == file {
                std::io::Read::read_to_string(&mut e, &mut content).unwrap();
            }
            names.push(name);
        }
        (names, content)
    }

    #[test]
    fn a_primed_bin_goes_through_a_merged_usr_base_link() {
        let s = tempfile::tempdir().unwrap();
        let store = Store::open(s.path()).unwrap();
        let base = tempfile::tempdir().unwrap();
        fs::create_dir_all(base.path().join("usr/bin")).unwrap();
        std::os::unix::fs::symlink("usr/bin", base.path().join("bin")).unwrap();
        std::os::unix::fs::symlink("/etc", base.path().join("abs")).unwrap();
        fs::create_dir(base.path().join("opt")).unwrap();
        let base = vec![layer_of(&store, base.path(), None)];

        let prime = tempfile::tempdir().unwrap();
        for d in ["bin", "abs", "opt/app"] {
            fs::create_dir_all(prime.path().join(d)).unwrap();
        }
        fs::write(prime.path().join("bin/hello"), "hi").unwrap();
        fs::write(prime.path().join("abs/x"), "x").unwrap();
        let prime = layer_of(&store, prime.path(), Some("root/prime"));

        let links = base_links(&store, &base).unwrap();
        let shown: Vec<(&[u8], &[u8])> = links.iter().map(|(n, t)| (n.as_slice(), t.as_slice())).collect();
        assert_eq!(shown, [(&b"abs"[..], &b"/etc"[..]), (b"bin", b"usr/bin")], "read from the layer's tar headers");
        // The same from an unpacked snapshot.
        crate::snapshot::snapshot(&store, &base[0]).unwrap();
        assert_eq!(base_links(&store, &base).unwrap(), links);

        let opts = OutputOptions::new(Compression::Gzip, 0);
        let packed = pack_layer(&store, &[("p".into(), prime)], &base, &opts).unwrap();
        // Absolute links resolve in the image's root; the base's links stay
        // links; a real base dir is merged as usual.
        let (names, hello) = names(&store, &packed, "usr/bin/hello");
        assert_eq!(names, ["etc/", "etc/x", "opt/", "opt/app/", "usr/", "usr/bin/", "usr/bin/hello"]);
        assert_eq!(hello, "hi");
    }

    #[test]
    fn a_prime_with_both_bin_x_and_usr_bin_x_is_refused_naming_the_parts() {
        let s = tempfile::tempdir().unwrap();
        let store = Store::open(s.path()).unwrap();
        let base = tempfile::tempdir().unwrap();
        fs::create_dir_all(base.path().join("usr/bin")).unwrap();
        std::os::unix::fs::symlink("usr/bin", base.path().join("bin")).unwrap();
        let base = vec![layer_of(&store, base.path(), None)];
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        fs::create_dir_all(a.path().join("usr/bin")).unwrap();
        fs::write(a.path().join("usr/bin/python3.11"), "ELF").unwrap();
        fs::create_dir_all(b.path().join("bin")).unwrap();
        std::os::unix::fs::symlink("python3", b.path().join("bin/python3.11")).unwrap();
        let primes = [
            ("interpreter".to_string(), layer_of(&store, a.path(), Some("root/prime"))),
            ("venv".to_string(), layer_of(&store, b.path(), Some("root/prime"))),
        ];
        let err = pack_layer(&store, &primes, &base, &OutputOptions::new(Compression::Gzip, 0)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "conflicting paths pointing to 'usr/bin/python3.11': 'bin/python3.11' (part 'venv') and \
             'usr/bin/python3.11' (part 'interpreter') differ, and the base image has bin -> usr/bin, which makes \
             them one path in the image; prime only one of them, or make them identical"
        );
    }
}
