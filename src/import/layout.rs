//! What OCI archives, OCI directories and Docker ≥ 25 archives share: picking
//! an image from `index.json`, and bringing in (or checking) every blob it
//! reaches, verified against its digest and descriptor size.

use std::collections::HashSet;
use std::fs::File;
use std::path::Path;

use oci_spec::image::{Descriptor, ImageIndex};

use super::ImportError;
use crate::export::ImageName;
use crate::image::Platform;
use crate::store::{self, Store, StoreError};

const REF_NAME: &str = "org.opencontainers.image.ref.name";
const CONTAINERD_NAME: &str = "io.containerd.image.name";

/// Parses an `index.json`.
pub fn parse_index(bytes: &[u8], path: &Path) -> Result<ImageIndex, ImportError> {
    serde_json::from_slice(bytes).map_err(|e| ImportError::BadFile {
        path: path.to_owned(),
        file: "index.json".into(),
        reason: e.to_string(),
    })
}

fn annotation<'a>(d: &'a Descriptor, key: &str) -> Option<&'a str> {
    d.annotations().as_ref()?.get(key).map(String::as_str)
}

/// Whether the index entry `d` is what the user called `reference`: its
/// `ref.name` (skopeo, umoci, strata's store), or its containerd name, in
/// full or familiar form (`busybox:latest` finds `docker.io/library/busybox:latest`).
fn names_match(d: &Descriptor, reference: &str) -> bool {
    let full = |s: &str| ImageName::parse(s).ok().map(|n| n.full());
    let wanted = full(reference);
    [annotation(d, REF_NAME), annotation(d, CONTAINERD_NAME)]
        .into_iter()
        .flatten()
        .any(|n| n == reference || (wanted.is_some() && full(n) == wanted))
}

fn describe(d: &Descriptor) -> String {
    annotation(d, REF_NAME)
        .or_else(|| annotation(d, CONTAINERD_NAME))
        .map(str::to_owned)
        .or_else(|| d.platform().as_ref().map(|p| format!("{}/{}", p.os(), p.architecture())))
        .unwrap_or_else(|| d.digest().to_string())
}

/// Picks the image `reference` names in `index` (any, if the index holds
/// just one). Several entries for one name are told apart by `platform`.
/// The descriptor comes back without the index's name annotations.
pub fn select(
    index: &ImageIndex,
    reference: Option<&str>,
    platform: &Platform,
    path: &Path,
    transport: &str,
) -> Result<Descriptor, ImportError> {
    let all = index.manifests();
    let available = || {
        let mut v: Vec<String> = all.iter().map(describe).collect();
        v.dedup();
        if v.is_empty() { "nothing".to_owned() } else { v.join(", ") }
    };
    let candidates: Vec<&Descriptor> = match reference {
        Some(r) => all.iter().filter(|d| names_match(d, r)).collect(),
        None => all.iter().collect(),
    };
    let chosen = match candidates[..] {
        [] => {
            return Err(ImportError::NoSuchImage {
                path: path.to_owned(),
                reference: reference.unwrap_or("").to_owned(),
                available: available(),
            });
        }
        [one] => one,
        _ if candidates.iter().all(|d| d.digest() == candidates[0].digest()) => candidates[0],
        _ => {
            let by_platform: Vec<&Descriptor> = candidates
                .iter()
                .copied()
                .filter(|d| d.platform().as_ref().is_some_and(|p| platform.matches(p)))
                .collect();
            match by_platform[..] {
                [one] => one,
                _ => {
                    let names = available();
                    let first = candidates.iter().find_map(|d| annotation(d, REF_NAME)).unwrap_or("REF");
                    return Err(ImportError::Ambiguous {
                        path: path.to_owned(),
                        count: candidates.len(),
                        available: names,
                        example: format!("{transport}:{}:{first}", path.display()),
                    });
                }
            }
        }
    };
    let mut d = Descriptor::new(chosen.media_type().clone(), chosen.size(), chosen.digest().clone());
    d.set_platform(chosen.platform().clone());
    Ok(d)
}

/// Makes sure every blob `root` reaches is in the store, verified: blobs
/// already spooled are checked for presence and size; others are copied
/// from `layout_dir` (an OCI layout directory), if given, with
/// [`Store::put_verified`]. Errors name `path` (the archive or directory).
pub fn ingest(store: &Store, root: &Descriptor, path: &Path, layout_dir: Option<&Path>) -> Result<(), ImportError> {
    let mut seen = HashSet::new();
    let mut stack = vec![(root.clone(), "index.json".to_owned())];
    while let Some((d, needed_by)) = stack.pop() {
        if !seen.insert(d.digest().clone()) {
            continue;
        }
        if !crate::digest::is_supported(d.digest()) {
            return Err(ImportError::UnsupportedDigest { path: path.to_owned(), digest: d.digest().to_string() });
        }
        if !store.has_blob(d.digest()) {
            let src = layout_dir
                .map(|dir| dir.join("blobs").join(d.digest().algorithm().as_ref()).join(d.digest().digest()))
                .filter(|p| p.is_file());
            match src {
                Some(src) => {
                    let f = File::open(&src).map_err(|e| ImportError::Io { path: src.clone(), source: e })?;
                    store.put_verified(f, d.digest()).map_err(|e| match e {
                        StoreError::DigestMismatch { expected, found } => {
                            ImportError::CorruptBlob { path: src.clone(), expected, found }
                        }
                        e => e.into(),
                    })?;
                }
                None if store::may_be_absent(&d) => continue,
                None => {
                    return Err(ImportError::MissingBlob {
                        path: path.to_owned(),
                        digest: d.digest().clone(),
                        needed_by,
                    });
                }
            }
        }
        let found = std::fs::metadata(store.blob_path(d.digest()))
            .map_err(|e| ImportError::Io { path: store.blob_path(d.digest()), source: e })?
            .len();
        if found != d.size() {
            return Err(ImportError::WrongSize {
                path: path.to_owned(),
                digest: d.digest().clone(),
                expected: d.size(),
                found,
            });
        }
        for kid in store::children(store, &d)? {
            stack.push((kid, d.digest().to_string()));
        }
    }
    Ok(())
}
