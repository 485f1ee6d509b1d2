//! `source-type: deb`: the file tree of a Debian package (its `data.tar.*`
//! member), extracted as `dpkg-deb --extract` does for craft-parts: names
//! as in the package (`./usr/bin/x` → `usr/bin/x`), modes kept, nothing
//! stripped, maintainer scripts and control files left out.
//!
//! A `.deb` is an `ar` archive: the magic `!<arch>\n`, then members, each a
//! 60-byte header (name 16, mtime 12, uid 6, gid 6, mode 8, size 10, the
//! bytes `` `\n ``) and its data padded to an even length. The first member
//! is `debian-binary`; `data.tar` is stored plain or compressed with gzip,
//! xz, zstd, bzip2 or lzma, as its name says.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use super::error::{SourceError, io_err};
use super::extract::{self, malformed};
use super::tarball::{Compression, add_entry};

const MAGIC: &[u8; 8] = b"!<arch>\n";
const HEADER_LEN: usize = 60;

/// One member of an ar archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    /// Where its data starts in the file.
    pub offset: u64,
    pub size: u64,
}

/// Lists the members of the ar archive in `r`.
pub fn members<R: Read + Seek>(r: &mut R) -> io::Result<Vec<Member>> {
    let invalid = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_owned());
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic).map_err(|_| invalid("too short for an ar archive"))?;
    if &magic != MAGIC {
        return Err(invalid("no ar archive magic (!<arch>)"));
    }
    let len = r.seek(SeekFrom::End(0))?;
    r.seek(SeekFrom::Start(MAGIC.len() as u64))?;
    let mut out = Vec::new();
    let mut offset = MAGIC.len() as u64;
    loop {
        let mut h = [0u8; HEADER_LEN];
        match read_full(r, &mut h)? {
            0 => return Ok(out),
            HEADER_LEN => {}
            _ => return Err(invalid("truncated member header")),
        }
        if &h[58..60] != b"`\n" {
            return Err(invalid("malformed member header"));
        }
        // GNU ar ends names with '/'; BSD-style long names do not occur in debs.
        let name = String::from_utf8_lossy(&h[..16]).trim_end().trim_end_matches('/').to_owned();
        let size: u64 = std::str::from_utf8(&h[48..58])
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| invalid("malformed member size"))?;
        offset += HEADER_LEN as u64;
        if size > len - offset {
            return Err(invalid(&format!(
                "member {name:?} claims {size} bytes, but only {} follow its header (truncated or forged)",
                len - offset
            )));
        }
        out.push(Member { name, offset, size });
        offset += size + size % 2;
        r.seek(SeekFrom::Start(offset))?;
    }
}

/// Reads until `buf` is full or the end; returns how much was read.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The compression of a `data.tar*` member, by its name.
fn data_compression(name: &str) -> Option<Compression> {
    match name.strip_prefix("data.tar")? {
        "" => Some(Compression::None),
        ".gz" => Some(Compression::Gzip),
        ".xz" => Some(Compression::Xz),
        ".zst" => Some(Compression::Zstd),
        ".bz2" => Some(Compression::Bzip2),
        ".lzma" => Some(Compression::Lzma),
        _ => None,
    }
}

/// Extracts the data of the package at `path` into `dest` (an existing
/// empty directory).
pub fn extract_file(path: &Path, dest: &Path) -> Result<(), SourceError> {
    let mut f = BufReader::new(File::open(path).map_err(io_err(path))?);
    let list = members(&mut f).map_err(|e| malformed(path, "deb", &e))?;
    if list.first().map(|m| m.name.as_str()) != Some("debian-binary") {
        return Err(malformed(path, "deb", &"the first member is not debian-binary"));
    }
    let (data, compression) = list
        .iter()
        .find_map(|m| data_compression(&m.name).map(|c| (m.clone(), c)))
        .ok_or_else(|| malformed(path, "deb", &"it has no data.tar member"))?;
    let open = || -> Result<Box<dyn Read + Send>, SourceError> {
        let mut f = File::open(path).map_err(io_err(path))?;
        f.seek(SeekFrom::Start(data.offset)).map_err(io_err(path))?;
        compression.decoder(BufReader::new(f).take(data.size)).map_err(|e| malformed(path, "deb", &e))
    };
    // Check every name before writing anything.
    let mut archive = tar::Archive::new(open()?);
    for entry in archive.entries().map_err(|e| malformed(path, "deb", &e))? {
        let entry = entry.map_err(|e| malformed(path, "deb", &e))?;
        extract::components(path, &entry.path_bytes())?;
    }
    extract::extract(path, dest, |sink| {
        let mut archive = tar::Archive::new(open()?);
        for entry in archive.entries().map_err(|e| malformed(path, "deb", &e))? {
            let mut entry = entry.map_err(|e| malformed(path, "deb", &e))?;
            add_entry(sink, &mut entry, &|comps| comps, 0)?;
        }
        Ok(())
    })
}
