//! What the store remembers about registries, under `<store>/strata/pulls/`:
//!
//! ```text
//! refs/<percent-encoded registry/repository:tag>.json   last digest a tag resolved to
//! sources/<hex>                                        repositories a blob is known to be in
//! ```
//!
//! The ref records let `pull` report a tag that moved since the last pull
//! (so a build that used `debian:bookworm` can say its base changed). The
//! source lists let `push` mount a blob from another repository of the
//! same registry instead of uploading it. Both are hints: a lost or stale
//! record costs a message or an upload, never correctness, so they are
//! written atomically but without locks.

use std::path::PathBuf;

use oci_spec::image::Digest;
use serde::{Deserialize, Serialize};

use super::{Reference, RegistryError};
use crate::store::Store;

/// The last resolution of a tag, as `pull` recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRecord {
    /// `registry/repository:tag`.
    pub reference: String,
    /// What the tag pointed to (an index or a manifest).
    pub digest: String,
    /// The manifest strata used from it (differs from `digest` for an index).
    pub manifest: String,
    /// The platform chosen from an index, if one was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
}

const MAX_SOURCES: usize = 8;

fn dir(store: &Store) -> PathBuf {
    store.root().join("strata/pulls")
}

/// Percent-encodes what a file name cannot hold; references are ASCII.
fn encode(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The key a tag's record is stored under: `registry/repository:tag`.
pub(crate) fn tag_key(r: &Reference) -> Option<String> {
    r.tag().map(|t| format!("{}/{}:{t}", r.registry(), r.repository()))
}

fn io(path: PathBuf) -> impl FnOnce(std::io::Error) -> RegistryError {
    move |source| RegistryError::Io { path, source }
}

fn write(store: &Store, path: PathBuf, bytes: &[u8]) -> Result<(), RegistryError> {
    let parent = path.parent().expect("record paths have a parent").to_owned();
    std::fs::create_dir_all(&parent).map_err(io(parent))?;
    crate::store::write_atomic(&store.root().join("strata/tmp"), &path, bytes)?;
    Ok(())
}

/// The last recorded resolution of `r`'s tag, if any.
pub fn last_pull(store: &Store, r: &Reference) -> Option<PullRecord> {
    let key = tag_key(r)?;
    let bytes = std::fs::read(dir(store).join("refs").join(format!("{}.json", encode(&key)))).ok()?;
    serde_json::from_slice(&bytes).ok()
}

pub(crate) fn record_pull(store: &Store, rec: &PullRecord) -> Result<(), RegistryError> {
    let path = dir(store).join("refs").join(format!("{}.json", encode(&rec.reference)));
    let bytes = crate::json::to_vec(rec)
        .map_err(|e| RegistryError::Invalid { what: "pull record".into(), message: e.to_string() })?;
    write(store, path, &bytes)
}

/// Repositories (`registry/repository`) `digest` is known to be in, most
/// recent first.
pub fn blob_sources(store: &Store, digest: &Digest) -> Vec<String> {
    let path = dir(store).join("sources").join(digest.digest());
    std::fs::read_to_string(path)
        .map(|s| s.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Notes that each of `digests` is in `repository` (`registry/repository`).
pub(crate) fn add_blob_sources<'a>(
    store: &Store,
    digests: impl IntoIterator<Item = &'a Digest>,
    repository: &str,
) -> Result<(), RegistryError> {
    for d in digests {
        let mut list = blob_sources(store, d);
        if list.first().map(String::as_str) == Some(repository) {
            continue;
        }
        list.retain(|r| r != repository);
        list.insert(0, repository.to_owned());
        list.truncate(MAX_SOURCES);
        let path = dir(store).join("sources").join(d.digest());
        write(store, path, (list.join("\n") + "\n").as_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::parse_reference;

    #[test]
    fn records_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let r = parse_reference("127.0.0.1:5000/ns/app:v1").unwrap();
        assert!(last_pull(&s, &r).is_none());
        let rec = PullRecord {
            reference: tag_key(&r).unwrap(),
            digest: "sha256:aa".into(),
            manifest: "sha256:bb".into(),
            platform: Some("linux/amd64".into()),
        };
        record_pull(&s, &rec).unwrap();
        assert_eq!(last_pull(&s, &r), Some(rec));
        assert!(dir.path().join("strata/pulls/refs/127.0.0.1%3A5000%2Fns%2Fapp%3Av1.json").is_file());

        let d = crate::digest::sha256(b"x");
        add_blob_sources(&s, [&d], "r/a").unwrap();
        add_blob_sources(&s, [&d], "r/b").unwrap();
        add_blob_sources(&s, [&d], "r/a").unwrap();
        assert_eq!(blob_sources(&s, &d), ["r/a", "r/b"]);
    }
}
