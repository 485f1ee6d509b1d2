//! Part sources: one part's `source` fetched host-side into a plain
//! directory, which the pull step packs as its `root/parts/<p>/src` layer
//! (DESIGN.md §4). Behaviour follows craft-parts 2.37.2's
//! `craft_parts/sources/`; `docs/craft-differences.md` lists where strata
//! differs.
//!
//! | `source-type` | fetched how | the directory | identity |
//! |---|---|---|---|
//! | local | — | the project's directory itself (read, never written) | none |
//! | tar | downloaded or read from the project; checksum verified | extracted, common leading directory stripped ([`tarball`]) | `sha256:<hex>` of the archive |
//! | zip | the same | extracted as it is ([`zip_archive`]) | the same |
//! | deb | the same | the package's `data.tar` extracted ([`deb`]) | the same |
//! | file | the same | the file under its base name ([`plain_file`]) | the same |
//! | git | `git clone` ([`git`]) | the work tree with `.git` | the commit checked out |
//!
//! A location with a URL scheme (`http:`, `https:`) is downloaded through
//! the store's [`Downloads`] cache; anything else is a path relative to the
//! project directory. A `source-checksum` ([`Checksum`]) is verified before
//! anything is extracted; a mismatch keeps nothing. Extraction refuses
//! entries that would land outside the directory (`extract.rs`).
//!
//! Where to start: [`fetch`] and [`Fetched`]; [`check_subdir`] for
//! `source-subdir`.

mod cache;
mod checksum;
pub mod deb;
mod error;
mod extract;
pub mod git;
mod http;
pub mod plain_file;
pub mod tarball;
pub mod zip_archive;

#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod testutil;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use strata_frontend_api::{Source, SourceKind};

pub use cache::{DownloadEntry, DownloadFile, Downloads, Obtained};
pub use checksum::{Algorithm, Checksum, Sums};
pub use error::SourceError;
use error::io_err;

use crate::executor::Cancel;

/// A fetched source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The source tree: what the pull step packs (or, with `override-pull`,
    /// mounts read-only for `craftctl default` to copy). For a local source
    /// it is the project's own directory; treat it as read-only.
    pub dir: PathBuf,
    /// What the tree's content is a function of, for the step cache: the
    /// archive's or file's `sha256:<hex>`, or the git commit checked out
    /// (40 hex digits). `None` for a local source, whose content is the
    /// directory itself (hash the tree).
    pub identity: Option<String>,
}

/// What to fetch, and where.
#[derive(Debug, Clone, Copy)]
pub struct FetchRequest<'a> {
    pub part: &'a str,
    pub source: &'a Source,
    /// The project directory: relative locations are relative to it.
    pub project_dir: &'a Path,
    /// Where a non-local source is put; replaced if it exists. Its parent
    /// should be on the same filesystem as the store (a build's work dir).
    pub dest: &'a Path,
    pub downloads: &'a Downloads,
    pub cancel: &'a Cancel,
}

/// Fetches one part's source. `progress` gets one line per notable event
/// (a download, a cache hit, the commit checked out).
pub fn fetch(req: &FetchRequest<'_>, progress: &mut dyn FnMut(String)) -> Result<Fetched, SourceError> {
    let s = req.source;
    match s.kind {
        SourceKind::Local => {
            let dir = host_path(&s.location, req.project_dir);
            if !dir.is_dir() {
                return Err(SourceError::NotADirectory { part: req.part.into(), path: dir });
            }
            Ok(Fetched { dir, identity: None })
        }
        SourceKind::Git => {
            remove_if_present(req.dest)?;
            if let Some(parent) = req.dest.parent() {
                fs::create_dir_all(parent).map_err(io_err(parent))?;
            }
            progress(format!("git clone {}", git::url_of(&s.location, req.project_dir)));
            let commit = git::clone(req.part, s, req.project_dir, req.dest, req.cancel)?;
            set_dir_mode(req.dest)?;
            progress(format!("commit {commit}"));
            Ok(Fetched { dir: req.dest.to_path_buf(), identity: Some(commit) })
        }
        SourceKind::Tar | SourceKind::Zip | SourceKind::Deb | SourceKind::File => fetch_file(req, progress),
    }
}

/// The file-based kinds: obtain the file (verified), then unpack or copy it.
fn fetch_file(req: &FetchRequest<'_>, progress: &mut dyn FnMut(String)) -> Result<Fetched, SourceError> {
    let s = req.source;
    let checksum = checksum::parse_for(req.part, s.checksum.as_deref())?;
    let is_url = url_scheme(&s.location).is_some();
    // A bad file name is found before any download.
    let file_name = match s.kind {
        SourceKind::File => Some(plain_file::file_name(req.part, &s.location, is_url)?),
        _ => None,
    };
    let obtained = obtain(req, checksum.as_ref(), progress)?;
    remove_if_present(req.dest)?;
    fs::create_dir_all(req.dest).map_err(io_err(req.dest))?;
    set_dir_mode(req.dest)?;
    let dest = req.dest;
    match (s.kind, file_name) {
        (SourceKind::File, Some(name)) => plain_file::copy_into(&obtained.path, dest, &name, !is_url)?,
        (SourceKind::Zip, _) => zip_archive::extract_file(&obtained.path, dest)?,
        (SourceKind::Deb, _) => deb::extract_file(&obtained.path, dest)?,
        _ => tarball::extract_file(&obtained.path, dest)?,
    }
    Ok(Fetched { dir: dest.to_path_buf(), identity: Some(obtained.sums.sha256.to_string()) })
}

/// The source file, on local disk and verified: downloaded (or found in
/// the download cache) for a URL, else read in place from the project.
fn obtain(
    req: &FetchRequest<'_>,
    checksum: Option<&Checksum>,
    progress: &mut dyn FnMut(String),
) -> Result<Obtained, SourceError> {
    let location = &req.source.location;
    let part = req.part;
    if let Some(scheme) = url_scheme(location) {
        if !matches!(scheme.as_str(), "http" | "https") || !http::supported(location) {
            return Err(SourceError::UnsupportedScheme { part: part.into(), url: location.clone() });
        }
        let got = req.downloads.get(part, location, checksum, req.cancel)?;
        let how = if got.cached { "from the download cache" } else { "downloaded" };
        progress(format!("{location} {how} ({} bytes, {})", got.sums.size, got.sums.sha256));
        return Ok(got);
    }
    let path = host_path(location, req.project_dir);
    if !path.is_file() {
        return Err(SourceError::NotFound { part: part.into(), path });
    }
    let sums = checksum::hash_file(&path, checksum)?;
    if let Some(c) = checksum {
        c.verify(part, location, &sums)?;
    }
    Ok(Obtained { path, sums, cached: false })
}

/// Where a location that is not a URL is on the host: relative to the
/// project directory (frontends make locations in their container's view
/// of the project relative before they fetch them).
pub fn host_path(location: &str, project_dir: &Path) -> PathBuf {
    project_dir.join(location)
}

/// The scheme of a location, as Python's `urlparse` finds it (craft-parts'
/// `url_utils.is_url`): letters, digits, `+-.` before the first `:`,
/// starting with a letter. Lowercased.
pub fn url_scheme(location: &str) -> Option<String> {
    let (head, _) = location.split_once(':')?;
    let mut chars = head.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_ok = head.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    (first_ok && rest_ok).then(|| head.to_ascii_lowercase())
}

/// Checks that `source-subdir` names a directory of the fetched tree `dir`
/// (symlinks followed only while they stay inside it).
pub fn check_subdir(part: &str, source: &Source, dir: &Path) -> Result<(), SourceError> {
    let Some(sub) = source.subdir.as_deref() else { return Ok(()) };
    let missing =
        || SourceError::MissingSubdir { part: part.into(), subdir: sub.into(), location: source.location.clone() };
    let root = fs::canonicalize(dir).map_err(io_err(dir))?;
    match fs::canonicalize(root.join(sub)) {
        Ok(p) if p.starts_with(&root) && p.is_dir() => Ok(()),
        _ => Err(missing()),
    }
}

fn remove_if_present(dir: &Path) -> Result<(), SourceError> {
    match fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(dir).map_err(io_err(dir)),
        Ok(_) => fs::remove_file(dir).map_err(io_err(dir)),
        Err(_) => Ok(()),
    }
}

/// The source directory is the layer's `src` dir: 0755 whatever the umask.
fn set_dir_mode(dir: &Path) -> Result<(), SourceError> {
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).map_err(io_err(dir))
}
