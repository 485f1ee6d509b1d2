//! What reading a tar stream may cost: bounded bytes, entries and header
//! sizes, so a hostile archive (a tar or zip bomb, a gigabyte PAX header,
//! millions of empty entries) is refused with an error instead of filling
//! the disk or the memory.
//!
//! [`TarGuard`] sits between a decompressor and `tar::Archive`. It follows
//! the tar block structure as the bytes go by (a 512-byte header, then the
//! entry's data rounded up to 512 bytes; PAX `size` records and GNU sparse
//! extension blocks included) and fails the read, before tar-rs buffers
//! anything, when:
//!
//! - the stream (or, for GNU sparse files, what the entries expand to)
//!   grows past [`Limits::max_size`] (default [`DEFAULT_MAX_SIZE`],
//!   `STRATA_MAX_UNPACK_SIZE`, e.g. `200GB`);
//! - it holds more than [`Limits::max_entries`] entries (default
//!   [`DEFAULT_MAX_ENTRIES`], `STRATA_MAX_UNPACK_ENTRIES`);
//! - an extension header (PAX `x`/`g`, GNU long name `L`/`K`), which tar-rs
//!   reads whole into memory, is larger than [`MAX_HEADER`].
//!
//! Every layer and archive strata reads goes through it:
//! [`decompress`](super::decompress) wraps its output (layers, images,
//! the tar stream the part sources are extracted through), and the part
//! sources wrap the tar and deb streams they scan.
//!
//! The error is an `io::Error` whose inner error is a [`LimitExceeded`],
//! so it arrives in whatever "malformed archive" error the reader has,
//! saying which limit and how to raise it.

use std::io::{self, Read};

/// Default of [`Limits::max_size`]: 64 GiB, above the largest layers seen
/// in practice (CUDA and ML images: ~20 GB unpacked).
pub const DEFAULT_MAX_SIZE: u64 = 64 << 30;
/// Default of [`Limits::max_entries`]: four million (a full Debian with
/// desktop is ~300k files).
pub const DEFAULT_MAX_ENTRIES: u64 = 4_000_000;
/// The largest extension header read: 1 MiB (a path is at most 4 KiB; PAX
/// records carry a few xattrs).
pub const MAX_HEADER: u64 = 1 << 20;

pub const SIZE_ENV: &str = "STRATA_MAX_UNPACK_SIZE";
pub const ENTRIES_ENV: &str = "STRATA_MAX_UNPACK_ENTRIES";

const BLOCK: u64 = 512;

/// The limits a [`TarGuard`] enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of the uncompressed stream, and of what sparse entries expand to.
    pub max_size: u64,
    /// Entries, extension headers not counted.
    pub max_entries: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_size: DEFAULT_MAX_SIZE, max_entries: DEFAULT_MAX_ENTRIES }
    }
}

impl Limits {
    /// The defaults, overridden by `STRATA_MAX_UNPACK_SIZE` (a size: `10GB`,
    /// `512MiB`, bytes) and `STRATA_MAX_UNPACK_ENTRIES` (a count).
    pub fn from_env() -> io::Result<Limits> {
        let mut l = Limits::default();
        let bad = |var: &str, v: &str, why: String| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("{var}={v:?} is not valid: {why}"))
        };
        if let Ok(v) = std::env::var(SIZE_ENV) {
            l.max_size = parse_size(&v).map_err(|why| bad(SIZE_ENV, &v, why))?;
        }
        if let Ok(v) = std::env::var(ENTRIES_ENV) {
            l.max_entries = v.trim().parse().map_err(|e| bad(ENTRIES_ENV, &v, format!("{e}")))?;
        }
        Ok(l)
    }
}

/// `10GB`, `512MiB`, `1000` → bytes (decimal and binary units).
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| "expected a size such as 10GB or 512MiB".to_string())?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "t" | "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        u => return Err(format!("unknown unit '{u}' (B, kB, MB, GB, TB, KiB, MiB, GiB, TiB)")),
    };
    n.checked_mul(mult).ok_or_else(|| "too large".to_string())
}

/// Which limit a stream went past.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitExceeded {
    #[error(
        "the archive unpacks to more than {limit} bytes, the limit (a tar or zip bomb?); if it is trusted, raise {SIZE_ENV}"
    )]
    Size { limit: u64 },
    #[error("the archive has more than {limit} entries, the limit; if it is trusted, raise {ENTRIES_ENV}")]
    Entries { limit: u64 },
    #[error("a tar extension header (type {kind:?}) of {size} bytes is larger than the limit of {MAX_HEADER} bytes")]
    Header { kind: char, size: u64 },
    #[error("a tar header has an invalid size field {field:?}")]
    BadSize { field: String },
}

impl From<LimitExceeded> for io::Error {
    fn from(e: LimitExceeded) -> io::Error {
        io::Error::other(e)
    }
}

/// Where the guard is in the tar block structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// Filling a 512-byte header.
    Header,
    /// Filling a GNU sparse extension block.
    SparseExt,
    /// Inside an entry's data (padded), `left` bytes to go.
    Data,
    /// Inside a PAX header's data, which is kept to find a `size` record.
    Pax,
    /// After the end-of-archive blocks: bytes are only counted.
    End,
}

/// A reader over an uncompressed tar stream enforcing [`Limits`].
pub struct TarGuard<R> {
    inner: R,
    limits: Limits,
    at: At,
    block: [u8; BLOCK as usize],
    fill: usize,
    /// Data bytes (padding included) left in the current entry.
    left: u64,
    /// A PAX local header's records, for its `size`.
    pax: Vec<u8>,
    pax_size: u64,
    /// The size the next entry's data has, from a PAX `size` record.
    next_size: Option<u64>,
    zero_blocks: u32,
    streamed: u64,
    expanded: u64,
    entries: u64,
    failed: Option<LimitExceeded>,
}

impl<R: Read> TarGuard<R> {
    pub fn new(inner: R, limits: Limits) -> TarGuard<R> {
        TarGuard {
            inner,
            limits,
            at: At::Header,
            block: [0; BLOCK as usize],
            fill: 0,
            left: 0,
            pax: Vec::new(),
            pax_size: 0,
            next_size: None,
            zero_blocks: 0,
            streamed: 0,
            expanded: 0,
            entries: 0,
            failed: None,
        }
    }

    /// Follows `bytes` through the block structure.
    fn track(&mut self, mut bytes: &[u8]) -> Result<(), LimitExceeded> {
        self.streamed += bytes.len() as u64;
        if self.streamed > self.limits.max_size {
            return Err(LimitExceeded::Size { limit: self.limits.max_size });
        }
        while !bytes.is_empty() {
            match self.at {
                At::End => return Ok(()),
                At::Data | At::Pax => {
                    let n = (self.left.min(bytes.len() as u64)) as usize;
                    if self.at == At::Pax {
                        let keep = (self.pax_size as usize).saturating_sub(self.pax.len()).min(n);
                        self.pax.extend_from_slice(&bytes[..keep]);
                    }
                    bytes = &bytes[n..];
                    self.left -= n as u64;
                    if self.left == 0 {
                        if self.at == At::Pax {
                            self.next_size = pax_size(&self.pax);
                            self.pax.clear();
                        }
                        self.at = At::Header;
                    }
                }
                At::Header | At::SparseExt => {
                    let n = (BLOCK as usize - self.fill).min(bytes.len());
                    self.block[self.fill..self.fill + n].copy_from_slice(&bytes[..n]);
                    self.fill += n;
                    bytes = &bytes[n..];
                    if self.fill == BLOCK as usize {
                        self.fill = 0;
                        if self.at == At::Header {
                            self.header()?;
                        } else if self.block[504] == 0 {
                            self.at = if self.left > 0 { At::Data } else { At::Header };
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// A full header block is in `self.block`.
    fn header(&mut self) -> Result<(), LimitExceeded> {
        let h = &self.block;
        if h.iter().all(|&b| b == 0) {
            self.zero_blocks += 1;
            if self.zero_blocks >= 2 {
                self.at = At::End;
            }
            return Ok(());
        }
        self.zero_blocks = 0;
        let kind = h[156];
        let size = octal_or_binary(&h[124..136])?;
        let extension = matches!(kind, b'x' | b'g' | b'L' | b'K');
        let size = if extension { size } else { self.next_size.take().unwrap_or(size) };
        if extension {
            if size > MAX_HEADER {
                return Err(LimitExceeded::Header { kind: kind as char, size });
            }
        } else {
            self.entries += 1;
            if self.entries > self.limits.max_entries {
                return Err(LimitExceeded::Entries { limit: self.limits.max_entries });
            }
            let expands_to = if kind == b'S' { octal_or_binary(&h[483..495])?.max(size) } else { size };
            self.expanded = self.expanded.saturating_add(expands_to);
            if self.expanded > self.limits.max_size {
                return Err(LimitExceeded::Size { limit: self.limits.max_size });
            }
        }
        // Entries without data (links, directories, devices) may still carry a
        // size field; tar-rs skips what the field says for every type.
        self.left = size.div_ceil(BLOCK).saturating_mul(BLOCK);
        self.at = if kind == b'S' && h[482] != 0 {
            At::SparseExt
        } else if self.left == 0 {
            At::Header
        } else if kind == b'x' {
            self.pax_size = size;
            At::Pax
        } else {
            At::Data
        };
        Ok(())
    }
}

impl<R: Read> Read for TarGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(e) = &self.failed {
            return Err(e.clone().into());
        }
        let n = self.inner.read(buf)?;
        if let Err(e) = self.track(&buf[..n]) {
            self.failed = Some(e.clone());
            return Err(e.into());
        }
        Ok(n)
    }
}

/// A tar numeric field: octal (NUL/space padded), or base-256 when its
/// first byte has the high bit (GNU).
fn octal_or_binary(field: &[u8]) -> Result<u64, LimitExceeded> {
    if field[0] & 0x80 != 0 {
        // tar-rs reads the last 8 bytes; anything above is out of u64.
        let mut v: u64 = 0;
        for (i, &b) in field.iter().enumerate() {
            let b = if i == 0 { b & 0x7f } else { b };
            if v > (u64::MAX >> 8) {
                return Ok(u64::MAX);
            }
            v = (v << 8) | u64::from(b);
        }
        return Ok(v);
    }
    let text: Vec<u8> = field.iter().copied().filter(|&b| b != 0 && b != b' ').collect();
    if text.is_empty() {
        return Ok(0);
    }
    std::str::from_utf8(&text)
        .ok()
        .and_then(|s| u64::from_str_radix(s, 8).ok())
        .ok_or_else(|| LimitExceeded::BadSize { field: String::from_utf8_lossy(field).into_owned() })
}

/// The `size` record of PAX header data (`LEN size=N\n` records).
fn pax_size(mut data: &[u8]) -> Option<u64> {
    let mut found = None;
    while !data.is_empty() {
        let sp = data.iter().position(|&b| b == b' ')?;
        let len: usize = std::str::from_utf8(&data[..sp]).ok()?.parse().ok()?;
        if len <= sp || len > data.len() {
            return found;
        }
        let record = &data[sp + 1..len];
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        if let Some(v) = record.strip_prefix(b"size=") {
            found = std::str::from_utf8(v).ok().and_then(|s| s.parse().ok());
        }
        data = &data[len..];
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        build(&mut b);
        b.into_inner().unwrap()
    }

    fn file(b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, data).unwrap();
    }

    fn read_all(bytes: &[u8], limits: Limits) -> io::Result<Vec<String>> {
        let mut a = tar::Archive::new(TarGuard::new(bytes, limits));
        let mut names = Vec::new();
        for e in a.entries()? {
            let mut e = e?;
            io::copy(&mut e, &mut io::sink())?;
            names.push(String::from_utf8_lossy(&e.path_bytes()).into_owned());
        }
        Ok(names)
    }

    fn limit_of(e: io::Error) -> LimitExceeded {
        let inner = e.into_inner().expect("an inner error");
        inner.downcast::<LimitExceeded>().map(|b| *b).expect("a LimitExceeded")
    }

    #[test]
    fn a_normal_archive_passes_untouched() {
        let long = "d/".repeat(80) + "file";
        let bytes = tar_of(|b| {
            file(b, "a", b"hello");
            file(b, &long, &[7u8; 1500]);
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            b.append_link(&mut h, "l", "a".repeat(200)).unwrap();
        });
        assert_eq!(read_all(&bytes, Limits::default()).unwrap(), ["a", long.as_str(), "l"]);
        let mut out = Vec::new();
        TarGuard::new(&bytes[..], Limits::default()).read_to_end(&mut out).unwrap();
        assert_eq!(out, bytes, "the bytes pass through unchanged");
    }

    #[test]
    fn too_many_bytes_or_entries_are_refused() {
        let bytes = tar_of(|b| {
            for i in 0..10 {
                file(b, &format!("f{i}"), &[0u8; 4096]);
            }
        });
        let e = read_all(&bytes, Limits { max_size: 20_000, ..Limits::default() }).unwrap_err();
        assert_eq!(limit_of(e), LimitExceeded::Size { limit: 20_000 });
        let e = read_all(&bytes, Limits { max_entries: 5, ..Limits::default() }).unwrap_err();
        assert_eq!(limit_of(e), LimitExceeded::Entries { limit: 5 });
        assert!(read_all(&bytes, Limits { max_size: 60_000, max_entries: 10 }).is_ok());
    }

    #[test]
    fn a_huge_pax_header_is_refused_before_it_is_read() {
        // A PAX header declaring 2 GiB of records: only its header block exists.
        let mut h = tar::Header::new_ustar();
        h.set_path("././@PaxHeader").unwrap();
        h.set_entry_type(tar::EntryType::XHeader);
        h.set_size(2 << 30);
        h.set_cksum();
        let e = read_all(h.as_bytes(), Limits::default()).unwrap_err();
        assert_eq!(limit_of(e), LimitExceeded::Header { kind: 'x', size: 2 << 30 });
    }

    #[test]
    fn a_pax_size_record_is_followed() {
        // A file whose PAX header gives its size: the guard must skip that
        // much data, or it would read file content as the next header.
        let bytes = tar_of(|b| {
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(0o644);
            h.set_size(0);
            let data = vec![b'x'; 3000];
            b.append_pax_extensions([("size", b"3000".as_slice())]).unwrap();
            h.set_path("big").unwrap();
            h.set_cksum();
            b.append(&h, &[][..]).unwrap();
            b.get_mut().extend_from_slice(&data);
            b.get_mut().extend_from_slice(&[0u8; 3072 - 3000]);
            file(b, "after", b"ok");
        });
        assert_eq!(read_all(&bytes, Limits::default()).unwrap(), ["big", "after"]);
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("10GB"), Ok(10_000_000_000));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert!(parse_size("lots").is_err());
        assert_eq!(octal_or_binary(b"0000644\0    "), Ok(0o644));
        assert_eq!(octal_or_binary(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]), Ok(256));
        assert!(octal_or_binary(b"12z\0").is_err());
        assert_eq!(pax_size(b"12 size=300\n20 path=aaaaaaaaaaa\n"), Some(300));
    }
}
