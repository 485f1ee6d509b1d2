//! The download cache: source archives fetched over HTTP, kept in the store
//! so a second build does not download them again.
//!
//! ```text
//! <store>/strata/downloads/sha256/<hex>   a downloaded file, named by its sha256 (read-only)
//! <store>/strata/downloads/urls/<hex>     "sha256:<hex>\n": what a (URL, source-checksum) gave;
//!                                         the name is sha256("<url>\n<algorithm>/<hex>")
//! <store>/strata/downloads/names/<name>   a file `strata source add` added, by name (a symlink
//!                                         into sha256/; its index entry's URL is `file:<name>`)
//! <store>/strata/tmp/download-*           downloads in progress
//! ```
//!
//! A download streams into a temp file while sha256 and the declared
//! checksum's algorithm hash it; only when the declared checksum matches is
//! it renamed into `sha256/` (a killed download leaves a stray temp file,
//! which `strata store gc` removes, never a wrong entry). A mismatch keeps
//! nothing.
//!
//! A `sha256/` checksum is also looked up by content: a file of that
//! sha256 serves any URL (one `strata source add` added, for builds
//! offline).
//!
//! Only a URL with a `source-checksum` is looked up: the checksum pins the
//! content, so the cached file is the right one whatever the server serves
//! today (it is hashed again before use; a damaged entry is downloaded
//! again). Without a checksum, as in craft-parts, every build downloads;
//! the file is still stored by its sha256, which is the source's identity.
//!
//! For `strata store gc` (`crate::gc`) the `urls/` entries are the roots of
//! the `sha256/` files: a file no entry names (a download without
//! `source-checksum`, never looked up again) goes at the next gc, and so
//! does an entry whose file is gone. An entry's mtime is its last use (set
//! when written and on every hit), which `--keep-storage` ranks it by.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use oci_spec::image::Digest;

use super::checksum::{Algorithm, Checksum, Hashes, Sums, hash_file};
use super::error::{SourceError, io_err};
use super::http::{self, HttpError};
use crate::executor::Cancel;
use crate::store::Store;

/// The download cache of one store.
#[derive(Debug, Clone)]
pub struct Downloads {
    root: PathBuf,
    tmp: PathBuf,
}

/// One entry of the URL index (`urls/<hex>`), as gc sees it.
#[derive(Debug, Clone)]
pub struct DownloadEntry {
    pub index: PathBuf,
    /// The file it names; `None` when the entry does not parse (it is
    /// never a hit, only garbage).
    pub sha256: Option<Digest>,
    /// Its last use: when it was written or last a cache hit.
    pub used: SystemTime,
}

/// One downloaded file (`sha256/<hex>`).
#[derive(Debug, Clone)]
pub struct DownloadFile {
    pub sha256: Digest,
    pub path: PathBuf,
    pub size: u64,
}

/// A source file on local disk, hashed.
#[derive(Debug, Clone)]
pub struct Obtained {
    pub path: PathBuf,
    pub sums: Sums,
    /// Whether it came from the cache (no network I/O).
    pub cached: bool,
}

impl Downloads {
    /// The cache in `store` (`strata/downloads`), with temp files in the
    /// store's `strata/tmp`.
    pub fn in_store(store: &Store) -> Downloads {
        Downloads { root: store.root().join("strata/downloads"), tmp: store.tmp_dir() }
    }

    fn blob_path(&self, sha256: &Digest) -> PathBuf {
        self.root.join("sha256").join(sha256.digest())
    }

    fn index_path(&self, url: &str, checksum: &Checksum) -> PathBuf {
        let key = crate::digest::sha256(format!("{url}\n{}", checksum.text()).as_bytes());
        self.root.join("urls").join(key.digest())
    }

    /// The file at `url`: from the cache when `checksum` is given and an
    /// earlier download of this URL had it, else downloaded, verified
    /// against `checksum` and stored.
    pub fn get(
        &self,
        part: &str,
        url: &str,
        checksum: Option<&Checksum>,
        cancel: &Cancel,
    ) -> Result<Obtained, SourceError> {
        if let Some(c) = checksum
            && let Some(hit) = self.lookup(url, c)?.map_or_else(|| self.by_content(url, c), |h| Ok(Some(h)))?
        {
            return Ok(hit);
        }
        let obtained = self.download(part, url, checksum, cancel)?;
        if let Some(c) = checksum {
            let index = self.index_path(url, c);
            let text = format!("{}\n", obtained.sums.sha256);
            self.write_atomic(&index, text.as_bytes())?;
        }
        Ok(obtained)
    }

    /// A cached file for (`url`, `checksum`) whose bytes still match both
    /// its name and the checksum.
    fn lookup(&self, url: &str, checksum: &Checksum) -> Result<Option<Obtained>, SourceError> {
        let index = self.index_path(url, checksum);
        let Ok(text) = fs::read_to_string(&index) else { return Ok(None) };
        let Ok(sha256) = text.trim().parse::<Digest>() else { return Ok(None) };
        let path = self.blob_path(&sha256);
        let sums = match hash_file(&path, Some(checksum)) {
            Ok(s) => s,
            Err(SourceError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        if sums.sha256 != sha256 || sums.declared.as_deref() != Some(checksum.hex.as_str()) {
            // Damaged (or replaced by hand): forget it and download again.
            let _ = fs::remove_file(&path);
            let _ = fs::remove_file(&index);
            return Ok(None);
        }
        // Used now (for gc's `--keep-storage`); best effort: a stale time
        // only makes the entry look older than it is.
        if let Ok(f) = fs::File::options().write(true).open(&index) {
            let _ = f.set_modified(SystemTime::now());
        }
        Ok(Some(Obtained { path, sums, cached: true }))
    }

    /// A file with a sha256 `checksum`'s content, whatever URL it came from
    /// (`strata source add`, another URL with the same file): a hit, from
    /// now on indexed under `url` too.
    fn by_content(&self, url: &str, checksum: &Checksum) -> Result<Option<Obtained>, SourceError> {
        if checksum.algorithm != Algorithm::Sha256 {
            return Ok(None);
        }
        let Ok(sha256) = Digest::try_from(format!("sha256:{}", checksum.hex)) else { return Ok(None) };
        let path = self.blob_path(&sha256);
        if !path.is_file() {
            return Ok(None);
        }
        self.write_atomic(&self.index_path(url, checksum), format!("{sha256}\n").as_bytes())?;
        self.lookup(url, checksum)
    }

    /// Adds a local file to the cache (`strata source add`): stored by its
    /// sha256, so a source with that `sha256/` checksum is served from it
    /// instead of downloading, and named by its file name under `names/`
    /// for frontends that look sources up by name (Guix's recursive
    /// origins). Returns its sha256.
    pub fn add(&self, file: &Path) -> Result<Digest, SourceError> {
        let name = file.file_name().and_then(|n| n.to_str()).filter(|n| !n.starts_with('.')).ok_or_else(|| {
            SourceError::Io {
                path: file.to_owned(),
                source: io::Error::new(io::ErrorKind::InvalidInput, "not a file name strata can keep"),
            }
        })?;
        let (tmp, mut out) = self.temp(None)?;
        let mut src = fs::File::open(file).map_err(io_err(file))?;
        io::copy(&mut src, &mut out).map_err(io_err(file))?;
        let sums = out.finish(&tmp)?;
        self.keep(tmp, &sums)?;
        // An index entry keeps it for gc, as a download's does.
        let checksum = Checksum { algorithm: Algorithm::Sha256, hex: sums.sha256.digest().to_string() };
        self.write_atomic(
            &self.index_path(&format!("file:{name}"), &checksum),
            format!("{}\n", sums.sha256).as_bytes(),
        )?;
        let link = self.names_dir().join(name);
        fs::create_dir_all(self.names_dir()).map_err(io_err(&self.names_dir()))?;
        let _ = fs::remove_file(&link);
        std::os::unix::fs::symlink(Path::new("../sha256").join(sums.sha256.digest()), &link).map_err(io_err(&link))?;
        Ok(sums.sha256)
    }

    /// The added files by name (`names/<file name>` → `../sha256/<hex>`).
    pub fn names_dir(&self) -> PathBuf {
        self.root.join("names")
    }

    /// The `names/` links, in no particular order.
    pub fn names(&self) -> Vec<PathBuf> {
        let Ok(rd) = fs::read_dir(self.names_dir()) else { return Vec::new() };
        rd.flatten().map(|e| e.path()).collect()
    }

    /// Every entry of the URL index, in no particular order.
    pub fn entries(&self) -> Vec<DownloadEntry> {
        let Ok(rd) = fs::read_dir(self.root.join("urls")) else { return Vec::new() };
        rd.flatten()
            .map(|e| {
                let index = e.path();
                let sha256 = fs::read_to_string(&index).ok().and_then(|t| t.trim().parse::<Digest>().ok());
                let used = e.metadata().and_then(|m| m.modified()).unwrap_or(SystemTime::UNIX_EPOCH);
                DownloadEntry { index, sha256, used }
            })
            .collect()
    }

    /// Every downloaded file, in no particular order. Names that are not
    /// sha256 digests are not ours and not listed.
    pub fn files(&self) -> Vec<DownloadFile> {
        let Ok(rd) = fs::read_dir(self.root.join("sha256")) else { return Vec::new() };
        rd.flatten()
            .filter_map(|e| {
                let sha256 = Digest::try_from(format!("sha256:{}", e.file_name().to_str()?)).ok()?;
                let size = e.metadata().ok()?.len();
                Some(DownloadFile { sha256, path: e.path(), size })
            })
            .collect()
    }

    /// Whether the file an entry names is there.
    pub fn has_file(&self, sha256: &Digest) -> bool {
        self.blob_path(sha256).is_file()
    }

    /// Removes an index entry or a downloaded file that gc dropped.
    pub fn remove(&self, path: &Path) -> io::Result<()> {
        match fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Downloads `url` into a temp file, verifies it, renames it into place.
    fn download(
        &self,
        part: &str,
        url: &str,
        checksum: Option<&Checksum>,
        cancel: &Cancel,
    ) -> Result<Obtained, SourceError> {
        let (tmp, mut out) = self.temp(checksum)?;
        http::get(url, &mut out, cancel).map_err(|e| match e {
            HttpError::Status(status) => SourceError::HttpStatus { part: part.into(), url: url.into(), status },
            HttpError::Transfer(message) => SourceError::Network { part: part.into(), url: url.into(), message },
            HttpError::Cancelled => SourceError::Cancelled { part: part.into(), location: url.into() },
        })?;
        let sums = out.finish(&tmp)?;
        if let Some(c) = checksum {
            c.verify(part, url, &sums)?;
        }
        let dest = self.keep(tmp, &sums)?;
        Ok(Obtained { path: dest, sums, cached: false })
    }

    /// A temp file in the store's temp dir, and a writer that fills and
    /// hashes it (also with `checksum`'s algorithm).
    fn temp(&self, checksum: Option<&Checksum>) -> Result<(tempfile::NamedTempFile, Tee), SourceError> {
        fs::create_dir_all(&self.tmp).map_err(io_err(&self.tmp))?;
        let tmp = tempfile::Builder::new().prefix("download-").tempfile_in(&self.tmp).map_err(io_err(&self.tmp))?;
        let file = tmp.as_file().try_clone().map_err(io_err(tmp.path()))?;
        Ok((tmp, Tee { file: io::BufWriter::new(file), hashes: Hashes::new(checksum) }))
    }

    /// Moves a filled temp file into `sha256/`, read-only, under its hash.
    fn keep(&self, tmp: tempfile::NamedTempFile, sums: &Sums) -> Result<PathBuf, SourceError> {
        let dest = self.blob_path(&sums.sha256);
        let parent = dest.parent().expect("under sha256/");
        fs::create_dir_all(parent).map_err(io_err(parent))?;
        tmp.as_file().sync_all().map_err(io_err(tmp.path()))?;
        tmp.as_file().set_permissions(fs::Permissions::from_mode(0o444)).map_err(io_err(tmp.path()))?;
        tmp.persist(&dest).map_err(|e| io_err(&dest)(e.error))?;
        Ok(dest)
    }

    fn write_atomic(&self, dest: &Path, bytes: &[u8]) -> Result<(), SourceError> {
        let parent = dest.parent().expect("under the cache root");
        fs::create_dir_all(parent).map_err(io_err(parent))?;
        let mut t = tempfile::NamedTempFile::new_in(&self.tmp).map_err(io_err(&self.tmp))?;
        t.write_all(bytes).map_err(io_err(t.path()))?;
        t.persist(dest).map_err(|e| io_err(dest)(e.error))?;
        Ok(())
    }
}

/// Writes to the temp file and the hashers at once.
struct Tee {
    file: io::BufWriter<fs::File>,
    hashes: Hashes,
}

impl Tee {
    /// Flushes the file; the sums of what was written.
    fn finish(self, tmp: &tempfile::NamedTempFile) -> Result<Sums, SourceError> {
        self.file.into_inner().map_err(|e| io_err(tmp.path())(e.into_error()))?;
        Ok(self.hashes.finish())
    }
}

impl Write for Tee {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hashes.write_all(&buf[..n])?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}
