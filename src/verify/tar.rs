//! The first entry at which two layers (tar, gzip or zstd) differ: its
//! path, and whether its name, type, mode, owner, mtime, link target or
//! contents differ.

use std::io::Read;

use sha2::{Digest as _, Sha256};

use crate::layer::Compression;

/// One tar entry, as compared.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    path: String,
    kind: u8,
    mode: u32,
    owner: (u64, u64),
    mtime: u64,
    link: Option<String>,
    size: u64,
    sha256: String,
}

/// What differs first, `None` when the entries are the same or either
/// blob is not a layer.
pub fn first_difference(a: &[u8], b: &[u8]) -> crate::Result<Option<String>> {
    let (Some(x), Some(y)) = (entries(a), entries(b)) else { return Ok(None) };
    for i in 0..x.len().max(y.len()) {
        match (x.get(i), y.get(i)) {
            (Some(ea), Some(eb)) if ea == eb => continue,
            (Some(ea), Some(eb)) if ea.path != eb.path => {
                return Ok(Some(format!("entry {i} is {} in one and {} in the other", ea.path, eb.path)));
            }
            (Some(ea), Some(eb)) => {
                let mut what = Vec::new();
                if ea.kind != eb.kind {
                    what.push(format!("type {} ≠ {}", ea.kind as char, eb.kind as char));
                }
                if ea.mode != eb.mode {
                    what.push(format!("mode {:o} ≠ {:o}", ea.mode, eb.mode));
                }
                if ea.owner != eb.owner {
                    what.push(format!("owner {:?} ≠ {:?}", ea.owner, eb.owner));
                }
                if ea.mtime != eb.mtime {
                    what.push(format!("mtime {} ≠ {}", ea.mtime, eb.mtime));
                }
                if ea.link != eb.link {
                    what.push(format!("link {:?} ≠ {:?}", ea.link, eb.link));
                }
                if ea.size != eb.size || ea.sha256 != eb.sha256 {
                    what.push(format!("contents ({} bytes ≠ {} bytes)", ea.size, eb.size));
                }
                return Ok(Some(format!("{}: {}", ea.path, what.join(", "))));
            }
            (Some(e), None) => return Ok(Some(format!("{} is only in the first", e.path))),
            (None, Some(e)) => return Ok(Some(format!("{} is only in the second", e.path))),
            (None, None) => unreachable!("i < the longer length"),
        }
    }
    Ok(Some("the same entries, archived differently (headers, padding or compression)".into()))
}

/// The entries of a layer blob, `None` if it is not a tar stream.
fn entries(blob: &[u8]) -> Option<Vec<Entry>> {
    let reader: Box<dyn Read + '_> = match Compression::sniff(blob) {
        Compression::Gzip => Box::new(flate2::read::GzDecoder::new(blob)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(blob).ok()?),
        Compression::None => Box::new(blob),
    };
    let mut archive = ::tar::Archive::new(reader);
    let mut out = Vec::new();
    for e in archive.entries().ok()? {
        let mut e = e.ok()?;
        let h = e.header().clone();
        let mut bytes = Vec::new();
        e.read_to_end(&mut bytes).ok()?;
        out.push(Entry {
            path: e.path().ok()?.to_string_lossy().into_owned(),
            kind: h.entry_type().as_byte(),
            // Unparsable numeric fields compare as 0, as tar readers take them.
            mode: h.mode().unwrap_or(0),
            owner: (h.uid().unwrap_or(0), h.gid().unwrap_or(0)),
            mtime: h.mtime().unwrap_or(0),
            link: e.link_name().ok().flatten().map(|l| l.to_string_lossy().into_owned()),
            size: bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(&bytes)),
        });
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(files: &[(&str, &[u8], u64)]) -> Vec<u8> {
        let mut b = ::tar::Builder::new(Vec::new());
        for (path, data, mtime) in files {
            let mut h = ::tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_mtime(*mtime);
            h.set_cksum();
            b.append_data(&mut h, path, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn the_first_differing_entry_says_what_differs() {
        let a = layer(&[("etc/a", b"same", 0), ("etc/b", b"one", 0)]);
        let b = layer(&[("etc/a", b"same", 0), ("etc/b", b"two!", 5)]);
        let d = first_difference(&a, &b).unwrap().unwrap();
        assert_eq!(d, "etc/b: mtime 0 ≠ 5, contents (3 bytes ≠ 4 bytes)");
    }

    #[test]
    fn an_extra_entry_is_named() {
        let a = layer(&[("x", b"", 0)]);
        let b = layer(&[("x", b"", 0), ("y", b"", 0)]);
        assert_eq!(first_difference(&a, &b).unwrap().unwrap(), "y is only in the second");
    }
}
