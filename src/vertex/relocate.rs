//! Packing a prime over a base whose top-level directories are symlinks
//! (Debian and Ubuntu's merged /usr: `bin -> usr/bin`, `lib -> usr/lib`):
//! a prime `bin/` laid over such a base as a plain directory would replace
//! the link and hide the base's `/usr/bin` from `/bin` (no `/bin/sh`). As
//! rockcraft does when it packs, such entries go through the base's link:
//! the prime's `bin/hello` is packed as `usr/bin/hello`.

use std::fs;
use std::path::Path;

use super::hostfs::{self, HostFsError};
use crate::layer::LayerInfo;
use crate::store::Store;

/// Where the base links a top-level name, if it is a symlink to a path
/// inside the root (`usr/bin`, or `/usr/bin`: absolute targets resolve in
/// the image's root). The topmost layer that has the name decides.
fn base_link(store: &Store, base: &[LayerInfo], name: &str) -> crate::Result<Option<String>> {
    for layer in base.iter().rev() {
        let snap = crate::snapshot::snapshot(store, layer)?;
        let path = snap.join(name);
        let Ok(meta) = fs::symlink_metadata(&path) else { continue };
        if !meta.file_type().is_symlink() {
            return Ok(None);
        }
        let target = fs::read_link(&path).map_err(|e| HostFsError { path: path.clone(), source: e })?;
        let t = target.to_string_lossy().trim_start_matches('/').trim_end_matches('/').to_string();
        let inside = !t.is_empty() && !t.split('/').any(|c| c == ".." || c == "." || c.is_empty());
        return Ok(inside.then_some(t));
    }
    Ok(None)
}

/// Moves the top-level directories of `prime` that the base has as links
/// to where the links point. Returns the names moved.
pub fn through_base_links(store: &Store, base: &[LayerInfo], prime: &Path) -> crate::Result<Vec<String>> {
    let mut moved = Vec::new();
    let Ok(rd) = fs::read_dir(prime) else { return Ok(moved) };
    let mut names: Vec<String> = rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    for name in names {
        let from = prime.join(&name);
        if !fs::symlink_metadata(&from).is_ok_and(|m| m.is_dir()) {
            continue;
        }
        let Some(target) = base_link(store, base, &name)? else { continue };
        hostfs::copy_over(&from, &prime.join(&target))?;
        fs::remove_dir_all(&from).map_err(|e| HostFsError { path: from.clone(), source: e })?;
        moved.push(format!("{name} -> {target}"));
    }
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::{self, Compression, WriteOptions};

    fn layer_of(store: &Store, dir: &Path) -> LayerInfo {
        let mut blob = store.blob_writer().unwrap();
        let opts = WriteOptions::new(Compression::Gzip, 0);
        let diff_id = layer::write_tree(dir, &opts, &mut blob).unwrap().diff_id;
        let (digest, size) = blob.commit(None).unwrap();
        LayerInfo { digest, diff_id, size, compression: Compression::Gzip }
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
        let base = vec![layer_of(&store, base.path())];

        let prime = tempfile::tempdir().unwrap();
        for d in ["bin", "abs", "opt/app"] {
            fs::create_dir_all(prime.path().join(d)).unwrap();
        }
        fs::write(prime.path().join("bin/hello"), "hi").unwrap();
        fs::write(prime.path().join("abs/x"), "x").unwrap();

        let moved = through_base_links(&store, &base, prime.path()).unwrap();
        assert_eq!(moved, ["abs -> etc", "bin -> usr/bin"], "absolute links resolve in the image's root");
        assert_eq!(fs::read_to_string(prime.path().join("usr/bin/hello")).unwrap(), "hi");
        assert!(!prime.path().join("bin").exists(), "the base's link stays a link");
        assert!(prime.path().join("etc/x").exists());
        assert!(prime.path().join("opt/app").is_dir(), "a real base dir is merged as usual");
    }
}
