//! `source-type: zip`: a zip archive extracted as it is (no prefix is
//! stripped, as in craft-parts).
//!
//! Modes follow craft-parts: the Unix permission bits of an entry's external
//! attributes (`>> 16 & 0o777`) when they are not zero, else 0644 for files
//! and 0755 for directories (what Python's `zipfile` leaves with the usual
//! umask). Entries are stored, deflated, bzip2, lzma or zstd compressed.
//!
//! Unlike craft-parts, whose `zipfile` writes a symlink entry's target as
//! the content of a regular file, a symlink entry (Unix mode `S_IFLNK`)
//! becomes a symlink, as `unzip` makes it. mtimes are the entries' DOS
//! times read as UTC (craft-parts leaves the extraction time, which the
//! layer clamps to `SOURCE_DATE_EPOCH` anyway).

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use super::error::{SourceError, io_err};
use super::extract::{self, Kind, components, malformed};

/// The longest symlink target read (Linux's PATH_MAX).
const MAX_LINK: u64 = 4096;

/// Extracts the zip archive at `path` into `dest` (an existing empty directory).
pub fn extract_file(path: &Path, dest: &Path) -> Result<(), SourceError> {
    let mut zip = open(path)?;
    // Every name is checked before anything is written. A name twice is
    // refused: which copy wins differs between unzip, Python and Go (the
    // trick behind archives that look harmless to one tool and not another).
    // zip's reader keeps only the last entry of a name: compare with the
    // entry count the archive itself declares.
    if let Some(declared) = declared_entries(path)?
        && declared != zip.len() as u64
    {
        return Err(malformed(
            path,
            "zip",
            &format!(
                "its central directory lists {declared} entries but only {} distinct names: a name appears twice (tools disagree on which copy wins)",
                zip.len()
            ),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for i in 0..zip.len() {
        let f = zip.by_index_raw(i).map_err(|e| malformed(path, "zip", &e))?;
        let name = extract::join(&components(path, f.name_raw())?);
        if !name.is_empty() && !seen.insert(name) {
            return Err(SourceError::UnsafeEntry {
                archive: path.to_path_buf(),
                entry: String::from_utf8_lossy(f.name_raw()).into_owned(),
                why: "appears twice in the archive (tools disagree on which copy wins)",
            });
        }
    }
    extract::extract(path, dest, |sink| {
        for i in 0..zip.len() {
            let mut f = zip.by_index(i).map_err(|e| malformed(path, "zip", &e))?;
            let name = f.name().map_err(|e| malformed(path, "zip", &e))?.into_owned();
            let comps = components(path, name.as_bytes())?;
            let perms = (f.external_attributes() >> 16) & 0o777;
            let mtime = f.last_modified().map(dos_to_unix).unwrap_or(0);
            let (kind, mode) = if f.is_dir() {
                (Kind::Dir, if perms == 0 { 0o755 } else { perms })
            } else if f.is_symlink() {
                // A target is at most PATH_MAX: a longer one is a bomb, not a link.
                let mut target = Vec::new();
                (&mut f).take(MAX_LINK + 1).read_to_end(&mut target).map_err(|e| malformed(path, "zip", &e))?;
                if target.len() as u64 > MAX_LINK {
                    return Err(malformed(
                        path,
                        "zip",
                        &format!("symlink entry {name:?} has a target longer than {MAX_LINK} bytes"),
                    ));
                }
                (Kind::Symlink { target }, 0o777)
            } else {
                (Kind::File { size: f.size() }, if perms == 0 { 0o644 } else { perms })
            };
            sink.add(&comps, &kind, mode, mtime, &mut f).map_err(|e| malformed(path, "zip", &e))?;
        }
        Ok(())
    })
}

fn open(path: &Path) -> Result<zip::ZipArchive<io::BufReader<File>>, SourceError> {
    let f = File::open(path).map_err(io_err(path))?;
    zip::ZipArchive::new(io::BufReader::new(f)).map_err(|e| malformed(path, "zip", &e))
}

/// The entry count of the end-of-central-directory record, if there is
/// one without a zip64 extension (which the zip crate checks itself).
fn declared_entries(path: &Path) -> Result<Option<u64>, SourceError> {
    use std::io::{Seek, SeekFrom};
    let mut f = File::open(path).map_err(io_err(path))?;
    let len = f.seek(SeekFrom::End(0)).map_err(io_err(path))?;
    // The record is 22 bytes plus a comment of at most 65535.
    let tail_len = len.min(22 + 65_535);
    f.seek(SeekFrom::Start(len - tail_len)).map_err(io_err(path))?;
    let mut tail = Vec::new();
    f.read_to_end(&mut tail).map_err(io_err(path))?;
    let Some(at) = tail.windows(4).rposition(|w| w == b"PK\x05\x06") else { return Ok(None) };
    let Some(rec) = tail.get(at..at + 22) else { return Ok(None) };
    let total = u16::from_le_bytes([rec[10], rec[11]]);
    Ok(if total == u16::MAX { None } else { Some(u64::from(total)) })
}

/// A DOS date and time, read as UTC, in seconds since the epoch.
fn dos_to_unix(t: zip::DateTime) -> u64 {
    let days = days_from_civil(i64::from(t.year()), i64::from(t.month()), i64::from(t.day()));
    let secs = days * 86_400 + i64::from(t.hour()) * 3600 + i64::from(t.minute()) * 60 + i64::from(t.second());
    secs.max(0) as u64
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    use zip::write::SimpleFileOptions;

    use super::*;
    use crate::sources::testutil::listing;

    #[test]
    fn dos_times_are_read_as_utc() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        let t = zip::DateTime::from_date_and_time(2024, 2, 29, 12, 30, 58).unwrap();
        assert_eq!(dos_to_unix(t), 1_709_209_858);
    }

    fn zip_with(build: impl FnOnce(&mut zip::ZipWriter<io::Cursor<Vec<u8>>>)) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
        build(&mut w);
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn a_zip_is_extracted_with_its_modes_and_symlinks() {
        let bytes = zip_with(|w| {
            let o = SimpleFileOptions::default();
            w.add_directory("bin/", o.unix_permissions(0o750)).unwrap();
            w.start_file("bin/run", o.unix_permissions(0o755)).unwrap();
            w.write_all(b"#!/bin/sh\n").unwrap();
            w.start_file("README", o.compression_method(zip::CompressionMethod::Stored)).unwrap();
            w.write_all(b"read me").unwrap();
            w.add_symlink("bin/go", "run", o).unwrap();
        });
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.zip");
        std::fs::write(&path, bytes).unwrap();
        let dest = dir.path().join("out");
        std::fs::create_dir(&dest).unwrap();
        extract_file(&path, &dest).unwrap();
        assert_eq!(listing(&dest), ["README", "bin/", "bin/go", "bin/run"]);
        let mode = |p: &str| std::fs::symlink_metadata(dest.join(p)).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode("bin"), mode("bin/run"), mode("README")), (0o750, 0o755, 0o644));
        assert_eq!(std::fs::read_link(dest.join("bin/go")).unwrap(), Path::new("run"));
        assert_eq!(std::fs::read(dest.join("README")).unwrap(), b"read me");
    }

    #[test]
    fn a_zip_entry_climbing_out_is_refused_before_anything_is_written() {
        let bytes = zip_with(|w| {
            w.start_file("ok.txt", SimpleFileOptions::default()).unwrap();
            w.write_all(b"fine").unwrap();
            w.start_file("../../etc/evil", SimpleFileOptions::default()).unwrap();
            w.write_all(b"evil").unwrap();
        });
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("evil.zip");
        std::fs::write(&path, bytes).unwrap();
        let dest = dir.path().join("out");
        std::fs::create_dir(&dest).unwrap();
        let err = extract_file(&path, &dest).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{}: entry \"../../etc/evil\" has a '..' component; refusing to extract it", path.display())
        );
        assert!(listing(&dest).is_empty());
    }
}
