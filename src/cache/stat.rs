//! A local source tree by content, cheaply when nothing changed.
//!
//! [`source_listing`] gives every entry of a directory as `path → value`
//! (`dir 0755`, `link -> target`, `file 0644 sha256:…`). A file's sha256 is
//! taken from the stat cache when its size, mtime, ctime, inode and device
//! are those recorded with it; otherwise the file is hashed. Like git's
//! index, an entry whose mtime is within [`RACY_SECS`] of the time it was
//! recorded is not trusted (the file could change again within the same
//! timestamp granularity) and is hashed next time too.
//!
//! The cache lives in `<store>/strata/cache/stat/<sha256 of the path>.json`,
//! written atomically; a lost or corrupt one only costs a rehash.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::store::Store;

/// Files modified this close (seconds) to being recorded are rehashed.
pub const RACY_SECS: i64 = 2;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Stat {
    size: u64,
    mtime_ns: i64,
    ctime_ns: i64,
    ino: u64,
    dev: u64,
    sha256: String,
}

impl Stat {
    fn of(meta: &fs::Metadata, sha256: String) -> Stat {
        Stat {
            size: meta.size(),
            mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
            ctime_ns: meta.ctime() * 1_000_000_000 + meta.ctime_nsec(),
            ino: meta.ino(),
            dev: meta.dev(),
            sha256,
        }
    }

    fn matches(&self, meta: &fs::Metadata) -> bool {
        let now = Stat::of(meta, String::new());
        (self.size, self.mtime_ns, self.ctime_ns, self.ino, self.dev)
            == (now.size, now.mtime_ns, now.ctime_ns, now.ino, now.dev)
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct StatCache {
    files: BTreeMap<String, Stat>,
}

/// What [`source_listing`] did, for tests and progress.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ListingStats {
    pub files: usize,
    /// Files whose bytes were read (not trusted from the stat cache).
    pub hashed: usize,
}

fn cache_path(store: &Store, root: &Path) -> PathBuf {
    let abs = fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let id = hex::encode(Sha256::digest(abs.as_os_str().as_encoded_bytes()));
    store.root().join("strata/cache/stat").join(format!("{id}.json"))
}

/// Every entry under `root` (not `root` itself), by relative path.
pub fn source_listing(store: &Store, root: &Path) -> io::Result<(BTreeMap<String, String>, ListingStats)> {
    listing(store, root, true)
}

/// [`source_listing`] without updating the stat cache (`strata plan`
/// writes nothing to the store).
pub fn source_listing_read_only(store: &Store, root: &Path) -> io::Result<BTreeMap<String, String>> {
    listing(store, root, false).map(|(l, _)| l)
}

fn listing(store: &Store, root: &Path, update: bool) -> io::Result<(BTreeMap<String, String>, ListingStats)> {
    let path = cache_path(store, root);
    let old: StatCache = fs::read(&path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
    let now_secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let mut new = StatCache::default();
    let mut listing = BTreeMap::new();
    let mut stats = ListingStats::default();
    for entry in walkdir::WalkDir::new(root).min_depth(1).sort_by_file_name().follow_links(false) {
        let entry = entry.map_err(|e| e.into_io_error().unwrap_or_else(|| io::Error::other("walk error")))?;
        let rel = entry.path().strip_prefix(root).expect("under root").to_string_lossy().into_owned();
        let meta = entry.path().symlink_metadata()?;
        let mode = meta.mode() & 0o7777;
        let ft = meta.file_type();
        let value = if ft.is_dir() {
            format!("dir {mode:04o}")
        } else if ft.is_symlink() {
            format!("link -> {}", fs::read_link(entry.path())?.to_string_lossy())
        } else if ft.is_file() {
            stats.files += 1;
            let sha = match old.files.get(&rel) {
                Some(s) if s.matches(&meta) => s.sha256.clone(),
                _ => {
                    stats.hashed += 1;
                    hash_file(entry.path())?
                }
            };
            if now_secs - meta.mtime() > RACY_SECS {
                new.files.insert(rel.clone(), Stat::of(&meta, sha.clone()));
            }
            format!("file {mode:04o} {sha}")
        } else {
            format!("special {mode:04o}")
        };
        listing.insert(rel, value);
    }
    if update && new.files != old.files {
        save(store, &path, &new);
    }
    Ok((listing, stats))
}

fn save(store: &Store, path: &Path, cache: &StatCache) {
    // Best effort: a cache we cannot write only costs a rehash next time.
    if let (Some(dir), Ok(bytes)) = (path.parent(), serde_json::to_vec(cache)) {
        let _ = fs::create_dir_all(dir);
        let _ = crate::store::write_atomic(&store.tmp_dir(), path, &bytes);
    }
}

fn hash_file(path: &Path) -> io::Result<String> {
    let mut f = fs::File::open(path)?;
    let mut h = Sha256::new();
    io::copy(&mut f, &mut h)?;
    Ok(format!("sha256:{}", hex::encode(h.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn age(path: &Path, secs: u64) {
        let t = SystemTime::now() - Duration::from_secs(secs);
        fs::File::options().write(true).open(path).unwrap().set_modified(t).unwrap();
    }

    #[test]
    fn unchanged_files_are_not_read_again_and_edits_are_seen() {
        let store_dir = tempfile::tempdir().unwrap();
        let store = Store::open(store_dir.path()).unwrap();
        let src = tempfile::tempdir().unwrap();
        fs::create_dir(src.path().join("src")).unwrap();
        fs::write(src.path().join("src/main.c"), "int main(){}").unwrap();
        fs::write(src.path().join("Makefile"), "all:").unwrap();
        std::os::unix::fs::symlink("src/main.c", src.path().join("link")).unwrap();
        for f in ["src/main.c", "Makefile"] {
            age(&src.path().join(f), 60);
        }

        let (first, s1) = source_listing(&store, src.path()).unwrap();
        assert_eq!(s1, ListingStats { files: 2, hashed: 2 });
        assert_eq!(first["link"], "link -> src/main.c");
        assert!(first["src/main.c"].starts_with("file 0644 sha256:"), "{first:?}");

        let (second, s2) = source_listing(&store, src.path()).unwrap();
        assert_eq!(second, first);
        assert_eq!(s2.hashed, 0, "nothing changed: nothing is read");

        fs::write(src.path().join("src/main.c"), "int main(){return 1;}").unwrap();
        let (third, s3) = source_listing(&store, src.path()).unwrap();
        assert_eq!(s3.hashed, 1, "only the edited file is read");
        assert_ne!(third["src/main.c"], first["src/main.c"]);
        assert_eq!(third["Makefile"], first["Makefile"]);
    }

    #[test]
    fn a_file_edited_just_now_is_hashed_every_time() {
        let store_dir = tempfile::tempdir().unwrap();
        let store = Store::open(store_dir.path()).unwrap();
        let src = tempfile::tempdir().unwrap();
        fs::write(src.path().join("fresh"), "a").unwrap();
        source_listing(&store, src.path()).unwrap();
        let (_, s) = source_listing(&store, src.path()).unwrap();
        assert_eq!(s.hashed, 1, "a racily clean file is not trusted");
    }
}
