//! `oci:DIR`: an OCI image layout directory. Blobs are added (each written
//! atomically, existing ones checked), then the image's entry in
//! `index.json` is added or replaces the entry with the same tag
//! (`org.opencontainers.image.ref.name`, the name skopeo and umoci look up);
//! other images in the directory stay. The `index.json` update happens under
//! an exclusive `flock` on the directory, so two exports to one directory
//! do not lose each other's entries.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use oci_spec::image::{Descriptor, Digest};
use serde_json::Value;

use super::archive::blob_path;
use super::layout::{self, OCI_LAYOUT, REF_NAME};
use super::name::ImageName;
use super::{ExportError, ExportReport, ExportTarget};
use crate::digest::HashingWriter;
use crate::store::Store;

pub fn write(store: &Store, desc: &Descriptor, name: &ImageName, dir: &Path) -> Result<ExportReport, ExportError> {
    let io_err = |path: &Path, e: io::Error| ExportError::Io { path: path.to_owned(), source: e };
    let blobs = layout::closure(store, desc)?;
    prepare(dir)?;
    let lock = File::open(dir).map_err(|e| io_err(dir, e))?;
    lock.lock().map_err(|e| io_err(dir, e))?;
    let mut bytes = 0;
    for d in blobs.values() {
        bytes += copy_blob(store, d.digest(), dir)?;
    }
    let index_path = dir.join("index.json");
    let old = match fs::read(&index_path) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_err(&index_path, e)),
    };
    let new = merge_index(old.as_deref(), layout::index_entry(desc, name), dir)?;
    write_atomic(dir, &index_path, &new)?;
    bytes += new.len() as u64;
    drop(lock);
    Ok(ExportReport {
        target: ExportTarget::OciDir(dir.to_owned()),
        digest: desc.digest().clone(),
        config: None,
        blobs: blobs.len(),
        bytes,
        image_id: None,
    })
}

/// Creates the layout if `dir` is new or empty; refuses a directory that
/// holds something else.
fn prepare(dir: &Path) -> Result<(), ExportError> {
    let io_err = |path: &Path, e: io::Error| ExportError::Io { path: path.to_owned(), source: e };
    let layout_file = dir.join("oci-layout");
    if dir.exists() {
        if !dir.is_dir() {
            return Err(ExportError::NotALayout { path: dir.to_owned() });
        }
        if !layout_file.exists() && fs::read_dir(dir).map_err(|e| io_err(dir, e))?.next().is_some() {
            return Err(ExportError::NotALayout { path: dir.to_owned() });
        }
    }
    fs::create_dir_all(dir.join("blobs/sha256")).map_err(|e| io_err(dir, e))?;
    if !layout_file.exists() {
        write_atomic(dir, &layout_file, OCI_LAYOUT)?;
    }
    Ok(())
}

/// Copies one blob in unless an intact copy is already there; returns the
/// bytes written.
fn copy_blob(store: &Store, d: &Digest, dir: &Path) -> Result<u64, ExportError> {
    let dest = dir.join(blob_path(d));
    let io_err = |e: io::Error| ExportError::Io { path: dest.clone(), source: e };
    if dest.is_file() {
        let mut r = crate::digest::HashingReader::new(File::open(&dest).map_err(io_err)?);
        io::copy(&mut r, &mut io::sink()).map_err(io_err)?;
        if &r.finish().1 == d {
            return Ok(0);
        }
        // A damaged copy from an earlier export: replace it below.
    }
    let parent = dest.parent().expect("blob paths have a parent");
    fs::create_dir_all(parent).map_err(io_err)?;
    let tmp = tempfile::Builder::new().prefix(".strata-blob-").tempfile_in(parent).map_err(io_err)?;
    let mut w = HashingWriter::new(io::BufWriter::with_capacity(256 * 1024, tmp));
    let src = store.blob_path(d);
    io::copy(&mut store.open_blob(d)?, &mut w).map_err(|e| ExportError::Io { path: src, source: e })?;
    let (buf, found, n) = w.finish();
    if &found != d {
        return Err(ExportError::CorruptBlob { expected: d.clone(), found });
    }
    let tmp = buf.into_inner().map_err(|e| io_err(e.into_error()))?;
    tmp.as_file().sync_all().map_err(io_err)?;
    set_mode(tmp.as_file(), 0o644).map_err(io_err)?;
    tmp.persist(&dest).map_err(|e| io_err(e.error))?;
    Ok(n)
}

/// `index.json` with `entry` added: an entry with the same tag is replaced
/// in place, everything else (other entries, unknown fields) is kept.
fn merge_index(old: Option<&[u8]>, entry: Value, dir: &Path) -> Result<Vec<u8>, ExportError> {
    let Some(old) = old else {
        return layout::index_json(vec![entry]);
    };
    let bad = |reason: String| ExportError::BadLayout { path: dir.join("index.json"), reason };
    let mut index: Value = serde_json::from_slice(old).map_err(|e| bad(e.to_string()))?;
    let manifests = index
        .get_mut("manifests")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| bad("it has no \"manifests\" array".into()))?;
    let tag_of = |v: &Value| v.pointer(&format!("/annotations/{}", REF_NAME.replace('/', "~1"))).cloned();
    let ours = tag_of(&entry);
    let same = |v: &Value| ours.is_some() && tag_of(v) == ours;
    match manifests.iter().position(same) {
        Some(i) => {
            manifests[i] = entry;
            let mut i = i + 1;
            while i < manifests.len() {
                if same(&manifests[i]) {
                    manifests.remove(i);
                } else {
                    i += 1;
                }
            }
        }
        None => manifests.push(entry),
    }
    Ok(crate::json::to_vec(&index)?)
}

fn write_atomic(dir: &Path, dest: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    let io_err = |e: io::Error| ExportError::Io { path: dest.to_owned(), source: e };
    let mut t = tempfile::Builder::new().prefix(".strata-").tempfile_in(dir).map_err(io_err)?;
    t.write_all(bytes).map_err(io_err)?;
    t.as_file().sync_all().map_err(io_err)?;
    set_mode(t.as_file(), 0o644).map_err(io_err)?;
    t.persist(dest).map_err(|e| io_err(e.error))?;
    Ok(())
}

fn set_mode(f: &File, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(std::fs::Permissions::from_mode(mode))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn merging_replaces_the_same_tag_and_keeps_the_rest() {
        let e = |tag: &str, d: &str| json!({"digest": d, "annotations": {REF_NAME: tag}});
        let old = layout::index_json(vec![e("a", "1"), e("b", "2")]).unwrap();
        let new = merge_index(Some(&old), e("a", "3"), Path::new("x")).unwrap();
        let v: Value = serde_json::from_slice(&new).unwrap();
        let digests: Vec<_> = v["manifests"].as_array().unwrap().iter().map(|m| m["digest"].clone()).collect();
        assert_eq!(digests, [json!("3"), json!("2")]);
        let new = merge_index(Some(&new), e("c", "4"), Path::new("x")).unwrap();
        let v: Value = serde_json::from_slice(&new).unwrap();
        assert_eq!(v["manifests"].as_array().unwrap().len(), 3);
    }
}
