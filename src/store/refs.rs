//! Named refs: `index.json` of the OCI layout, one descriptor per name, the
//! name in the `org.opencontainers.image.ref.name` annotation (so
//! `skopeo inspect oci:STORE:NAME` finds it). Entries are kept sorted by name
//! so the file's bytes depend only on the set of refs.

use std::collections::HashMap;
use std::path::Path;

use oci_spec::image::{Descriptor, ImageIndex, ImageIndexBuilder, MediaType};

use super::{StoreError, lock::IndexLock, write_atomic};

pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Normalizes a user-typed local name: adds `:latest` when the name has
/// neither a tag nor a digest, and rejects what cannot be a name.
pub fn normalize_ref(name: &str) -> Result<String, StoreError> {
    let bad = |reason: &str| StoreError::BadRefName { name: name.to_owned(), reason: reason.to_owned() };
    if name.is_empty() {
        return Err(bad("it is empty"));
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("it contains whitespace or control characters"));
    }
    if name.starts_with(['/', ':', '@', '.', '-']) || name.ends_with([':', '@', '/']) {
        return Err(bad("it must start and end with a letter or digit"));
    }
    let last = name.rsplit('/').next().unwrap_or(name);
    if last.contains(':') || name.contains('@') { Ok(name.to_owned()) } else { Ok(format!("{name}:latest")) }
}

fn index_path(root: &Path) -> std::path::PathBuf {
    root.join("index.json")
}

pub(super) fn read_index(root: &Path) -> Result<ImageIndex, StoreError> {
    let path = index_path(root);
    let bytes = std::fs::read(&path).map_err(|e| StoreError::Io { path: path.clone(), source: e })?;
    serde_json::from_slice(&bytes).map_err(|e| StoreError::BadIndex { path, reason: e.to_string() })
}

pub(super) fn write_index(root: &Path, manifests: &[Descriptor]) -> Result<(), StoreError> {
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(manifests.to_vec())
        .build()
        .expect("index has all required fields");
    let bytes = crate::json::to_vec(&index).map_err(StoreError::Serialize)?;
    write_atomic(&root.join("strata/tmp"), &index_path(root), &bytes)
}

fn name_of(d: &Descriptor) -> Option<&str> {
    d.annotations().as_ref()?.get(REF_NAME).map(String::as_str)
}

pub(super) fn list(root: &Path) -> Result<Vec<(String, Descriptor)>, StoreError> {
    let mut out: Vec<_> =
        read_index(root)?.manifests().iter().filter_map(|d| Some((name_of(d)?.to_owned(), d.clone()))).collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

pub(super) fn resolve(root: &Path, name: &str) -> Result<Descriptor, StoreError> {
    let name = normalize_ref(name)?;
    list(root)?.into_iter().find(|(n, _)| *n == name).map(|(_, d)| d).ok_or(StoreError::RefNotFound { name })
}

pub(super) fn set(root: &Path, name: &str, desc: &Descriptor) -> Result<(), StoreError> {
    let name = normalize_ref(name)?;
    let _l = IndexLock::acquire(root)?;
    let mut manifests: Vec<Descriptor> =
        read_index(root)?.manifests().iter().filter(|d| name_of(d) != Some(&name)).cloned().collect();
    let mut d = desc.clone();
    let mut ann: HashMap<String, String> = d.annotations().clone().unwrap_or_default();
    ann.insert(REF_NAME.to_owned(), name);
    d.set_annotations(Some(ann));
    manifests.push(d);
    manifests.sort_by(|a, b| name_of(a).cmp(&name_of(b)));
    write_index(root, &manifests)
}

pub(super) fn remove(root: &Path, name: &str) -> Result<Descriptor, StoreError> {
    let name = normalize_ref(name)?;
    let _l = IndexLock::acquire(root)?;
    let mut manifests = read_index(root)?.manifests().clone();
    let pos = manifests
        .iter()
        .position(|d| name_of(d) == Some(&name))
        .ok_or_else(|| StoreError::RefNotFound { name: name.clone() })?;
    let removed = manifests.remove(pos);
    write_index(root, &manifests)?;
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn names_without_tag_get_latest() {
        assert_eq!(normalize_ref("busybox").unwrap(), "busybox:latest");
        assert_eq!(normalize_ref("debian:bookworm").unwrap(), "debian:bookworm");
        assert_eq!(normalize_ref("127.0.0.1:5000/x/y").unwrap(), "127.0.0.1:5000/x/y:latest");
        assert!(normalize_ref("").is_err());
        assert!(normalize_ref("a b").is_err());
    }

    #[test]
    fn set_resolve_list_remove() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let a = s.put_bytes(MediaType::ImageManifest, b"{}").unwrap();
        s.set_ref("zeta", &a).unwrap();
        s.set_ref("alpha:1", &a).unwrap();
        s.set_ref("zeta", &a).unwrap(); // replacing keeps one entry
        let names: Vec<_> = s.refs().unwrap().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["alpha:1", "zeta:latest"]);
        assert_eq!(s.resolve("zeta").unwrap().digest(), a.digest());
        s.remove_ref("zeta:latest").unwrap();
        assert!(matches!(s.resolve("zeta"), Err(StoreError::RefNotFound { .. })));
    }
}
