//! Streaming an image archive (a tar, possibly gzip- or zstd-compressed) into
//! the store in one pass, without extracting it anywhere.
//!
//! `index.json` and `manifest.json` may come after the blobs they name (both
//! `docker save` and skopeo write blobs first), so every blob is spooled
//! into the store as it streams by, through a [`BlobWriter`] that hashes
//! while writing: a blob named `blobs/sha256/<hex>` must hash to that name,
//! and an entry shorter than its header is refused as truncated. The small
//! metadata files are kept in memory. Blobs the image turns out not to need
//! stay unreferenced in the store until `strata store gc`; a blob is never
//! visible half-written.
//!
//! [`BlobWriter`]: crate::store::BlobWriter

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use oci_spec::image::Digest;

use super::ImportError;
use crate::store::{Store, StoreError};

/// Metadata files larger than this are refused rather than read into memory.
const MAX_METADATA: u64 = 64 << 20;

/// Which archive format is being read, deciding what is spooled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// An OCI layout: only `blobs/<alg>/<hex>` are blobs.
    Oci,
    /// `docker save` output: any file may be a layer or config, named by path.
    Docker,
}

/// What an archive held once streamed.
#[derive(Debug, Default)]
pub struct Spooled {
    /// Files spooled into the store: archive path → (digest, size).
    pub blobs: BTreeMap<String, (Digest, u64)>,
    /// Top-level metadata files (`index.json`, `manifest.json`, …).
    pub metadata: BTreeMap<String, Vec<u8>>,
    /// Symlinks (legacy `docker save` links repeated layers): path → target.
    pub links: BTreeMap<String, String>,
}

impl Spooled {
    /// The blob at `entry`, following symlinks the way `docker load` does
    /// (targets relative to the link's directory).
    pub fn resolve(&self, archive: &Path, entry: &str, needed_by: &str) -> Result<(Digest, u64), ImportError> {
        let mut path = normalize(entry);
        for _ in 0..16 {
            if let Some(b) = self.blobs.get(&path) {
                return Ok(b.clone());
            }
            let Some(target) = self.links.get(&path) else {
                break;
            };
            let dir = path.rfind('/').map_or("", |i| &path[..i + 1]);
            path = normalize(&if target.starts_with('/') { target.clone() } else { format!("{dir}{target}") });
        }
        Err(ImportError::MissingEntry {
            path: archive.to_owned(),
            entry: entry.to_owned(),
            needed_by: needed_by.to_owned(),
        })
    }
}

/// `./a/../b//c/` → `b/c`: how entry names compare.
pub fn normalize(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out.join("/")
}

/// The digest a `blobs/<alg>/<hex>` path names, if it is one.
fn blob_name(path: &str) -> Option<Result<Digest, String>> {
    let rest = path.strip_prefix("blobs/")?;
    let (alg, hex) = rest.split_once('/')?;
    if hex.contains('/') {
        return None;
    }
    Some(Digest::try_from(format!("{alg}:{hex}")).map_err(|_| format!("{alg}:{hex}")))
}

fn is_metadata(flavor: Flavor, path: &str) -> bool {
    match flavor {
        Flavor::Oci => matches!(path, "index.json" | "oci-layout"),
        Flavor::Docker => matches!(path, "index.json" | "oci-layout" | "manifest.json" | "repositories"),
    }
}

/// Legacy per-layer v1 metadata (`<id>/json`, `<id>/VERSION`): not needed.
fn is_legacy_v1(path: &str) -> bool {
    path.rsplit_once('/').is_some_and(|(_, name)| name == "json" || name == "VERSION")
}

/// Opens an archive, undoing gzip or zstd compression if present.
pub fn open_archive(path: &Path) -> Result<Box<dyn Read>, ImportError> {
    let f = File::open(path).map_err(|e| ImportError::Io { path: path.to_owned(), source: e })?;
    let (_, r) = crate::layer::decompress(io::BufReader::with_capacity(1 << 20, f))
        .map_err(|e| ImportError::BadTar { path: path.to_owned(), source: e })?;
    Ok(r)
}

/// Streams the archive at `path` into `store`.
pub fn spool(store: &Store, path: &Path, flavor: Flavor) -> Result<Spooled, ImportError> {
    let bad_tar = |e: io::Error| ImportError::BadTar { path: path.to_owned(), source: e };
    let mut archive = tar::Archive::new(open_archive(path)?);
    let mut out = Spooled::default();
    for entry in archive.entries().map_err(bad_tar)? {
        let mut entry = entry.map_err(bad_tar)?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let name = normalize(&raw);
        let kind = entry.header().entry_type();
        if kind.is_symlink() {
            if let Some(t) = entry.link_name_bytes() {
                out.links.insert(name, String::from_utf8_lossy(&t).into_owned());
            }
            continue;
        }
        if !kind.is_file() || name.is_empty() {
            continue;
        }
        let size = entry.size();
        if is_metadata(flavor, &name) {
            if size > MAX_METADATA {
                return Err(ImportError::BadFile {
                    path: path.to_owned(),
                    file: name,
                    reason: format!("{size} bytes is too large for a metadata file"),
                });
            }
            let mut buf = Vec::with_capacity(size as usize);
            entry.read_to_end(&mut buf).map_err(bad_tar)?;
            check_length(path, &raw, size, buf.len() as u64)?;
            out.metadata.insert(name, buf);
            continue;
        }
        let expected = match blob_name(&name) {
            Some(Ok(d)) if crate::digest::is_supported(&d) => Some(d),
            // Another algorithm: skipped here; if the image needs the blob,
            // the walk over its descriptors says so.
            Some(Ok(_)) | Some(Err(_)) => {
                drain(path, &raw, &mut entry, size)?;
                continue;
            }
            None if flavor == Flavor::Oci || is_legacy_v1(&name) => {
                drain(path, &raw, &mut entry, size)?;
                continue;
            }
            None => None,
        };
        if let Some(d) = &expected
            && store.has_blob(d)
        {
            drain(path, &raw, &mut entry, size)?;
            out.blobs.insert(name, (d.clone(), size));
            continue;
        }
        let mut w = store.blob_writer()?;
        io::copy(&mut entry, &mut w).map_err(bad_tar)?;
        check_length(path, &raw, size, w.count())?;
        let blob = w.commit(expected.as_ref()).map_err(|e| match e {
            StoreError::DigestMismatch { expected, found } => {
                ImportError::CorruptBlob { path: path.to_owned(), expected, found }
            }
            e => e.into(),
        })?;
        out.blobs.insert(name, blob);
    }
    Ok(out)
}

fn drain(path: &Path, raw: &str, entry: &mut impl Read, size: u64) -> Result<(), ImportError> {
    let n = io::copy(entry, &mut io::sink()).map_err(|e| ImportError::BadTar { path: path.to_owned(), source: e })?;
    check_length(path, raw, size, n)
}

fn check_length(path: &Path, entry: &str, expected: u64, found: u64) -> Result<(), ImportError> {
    if found != expected {
        return Err(ImportError::Truncated { path: PathBuf::from(path), entry: entry.to_owned(), expected, found });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_normalize() {
        assert_eq!(normalize("./blobs/sha256/ab"), "blobs/sha256/ab");
        assert_eq!(normalize("a/../b//c/"), "b/c");
        assert_eq!(normalize("/index.json"), "index.json");
    }

    #[test]
    fn blob_names_parse() {
        let hex = "a".repeat(64);
        assert!(matches!(blob_name(&format!("blobs/sha256/{hex}")), Some(Ok(_))));
        assert!(matches!(blob_name("blobs/sha256/xyz"), Some(Err(_))));
        assert!(blob_name("index.json").is_none());
        assert!(blob_name("blobs/sha256/a/b").is_none());
    }
}
