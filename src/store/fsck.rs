//! `strata store fsck`: every blob's bytes match its name, and everything a
//! ref reaches is present with the size its descriptor claims.

use std::collections::HashSet;
use std::fs;

use oci_spec::image::{Descriptor, Digest};

use super::{Store, StoreError, walk};

/// One thing wrong with a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsckProblem {
    /// A blob's content does not hash to its file name.
    Corrupt { digest: Digest, found: Digest },
    /// A blob a ref needs is absent.
    Missing { digest: Digest, needed_by: String },
    /// A blob's size differs from its descriptor.
    WrongSize { digest: Digest, expected: u64, found: u64 },
    /// A JSON document (manifest, index) that cannot be parsed.
    Unreadable { digest: Digest, reason: String },
    /// A file under blobs/ whose name is not a digest.
    StrayFile { path: std::path::PathBuf },
}

impl std::fmt::Display for FsckProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FsckProblem::Corrupt { digest, found } => write!(f, "corrupt blob {digest}: content hashes to {found}"),
            FsckProblem::Missing { digest, needed_by } => write!(f, "missing blob {digest}, needed by {needed_by}"),
            FsckProblem::WrongSize { digest, expected, found } => {
                write!(f, "blob {digest} has {found} bytes, its descriptor says {expected}")
            }
            FsckProblem::Unreadable { digest, reason } => write!(f, "unreadable document {digest}: {reason}"),
            FsckProblem::StrayFile { path } => write!(f, "stray file {}", path.display()),
        }
    }
}

#[derive(Debug, Default)]
pub struct FsckReport {
    pub blobs_checked: usize,
    pub refs_checked: usize,
    pub problems: Vec<FsckProblem>,
}

impl FsckReport {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

pub(super) fn run(store: &Store) -> Result<FsckReport, StoreError> {
    let mut report = FsckReport::default();
    let dir = store.root().join("blobs/sha256");
    let mut corrupt = HashSet::new();
    let entries = fs::read_dir(&dir).map_err(|e| StoreError::Io { path: dir.clone(), source: e })?;
    let mut names: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    names.sort();
    for path in names {
        let Some(digest) =
            path.file_name().and_then(|n| n.to_str()).and_then(|n| Digest::try_from(format!("sha256:{n}")).ok())
        else {
            report.problems.push(FsckProblem::StrayFile { path });
            continue;
        };
        report.blobs_checked += 1;
        match store.verify_blob(&digest) {
            Ok(_) => {}
            Err(StoreError::DigestMismatch { found, .. }) => {
                corrupt.insert(digest.clone());
                report.problems.push(FsckProblem::Corrupt { digest, found });
            }
            Err(e) => return Err(e),
        }
    }
    let mut seen = HashSet::new();
    for (name, desc) in store.refs()? {
        report.refs_checked += 1;
        check(store, &desc, &format!("ref {name}"), &corrupt, &mut seen, &mut report.problems);
    }
    Ok(report)
}

fn check(
    store: &Store,
    desc: &Descriptor,
    needed_by: &str,
    corrupt: &HashSet<Digest>,
    seen: &mut HashSet<Digest>,
    problems: &mut Vec<FsckProblem>,
) {
    let digest = desc.digest().clone();
    if !seen.insert(digest.clone()) {
        return;
    }
    let path = store.blob_path(&digest);
    let Ok(meta) = fs::metadata(&path) else {
        if !walk::may_be_absent(desc) {
            problems.push(FsckProblem::Missing { digest, needed_by: needed_by.to_owned() });
        }
        return;
    };
    if meta.len() != desc.size() {
        problems.push(FsckProblem::WrongSize { digest: digest.clone(), expected: desc.size(), found: meta.len() });
    }
    if corrupt.contains(&digest) {
        return;
    }
    match walk::children(store, desc) {
        Ok(kids) => {
            let by = format!("{needed_by} → {}", digest);
            for k in kids {
                check(store, &k, &by, corrupt, seen, problems);
            }
        }
        Err(e) => problems.push(FsckProblem::Unreadable { digest, reason: e.to_string() }),
    }
}

#[cfg(test)]
mod tests {
    use oci_spec::image::MediaType;

    use crate::store::{FsckProblem, Store};

    /// A manifest referencing `config` and `layer`, stored and named `app`.
    fn tiny_image(s: &Store) -> (oci_spec::image::Descriptor, oci_spec::image::Descriptor) {
        let config = s.put_bytes(MediaType::ImageConfig, b"{}").unwrap();
        let layer = s.put_bytes(MediaType::ImageLayer, b"layer bytes").unwrap();
        let m = serde_json::json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config, "layers": [layer],
        });
        let md = s.put_json(MediaType::ImageManifest, &m).unwrap();
        s.set_ref("app", &md).unwrap();
        (md, layer)
    }

    #[test]
    fn fsck_finds_a_corrupted_and_a_missing_blob() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let (_, layer) = tiny_image(&s);
        let path = s.blob_path(layer.digest());
        let mut perm = std::fs::metadata(&path).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perm.set_readonly(false);
        std::fs::set_permissions(&path, perm).unwrap();
        std::fs::write(&path, b"layer bytez").unwrap();
        let report = s.fsck().unwrap();
        assert!(
            matches!(&report.problems[..], [FsckProblem::Corrupt { digest, .. }] if digest == layer.digest()),
            "{:?}",
            report.problems
        );

        std::fs::remove_file(&path).unwrap();
        let report = s.fsck().unwrap();
        assert!(
            matches!(&report.problems[..], [FsckProblem::Missing { digest, .. }] if digest == layer.digest()),
            "{:?}",
            report.problems
        );
    }
}
