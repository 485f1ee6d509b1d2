//! `source-checksum`: parsing `<algorithm>/<hex digest>` and hashing the
//! bytes of a source as they stream by.
//!
//! craft-parts hands the algorithm to Python's `hashlib`; strata accepts the
//! ones craft-parts documents and the frontend allows (md5, sha1, sha224,
//! sha256, sha384, sha512). Every source file is also hashed with sha256,
//! whatever the declared algorithm: that digest names it in the download
//! cache and is its identity for the step cache.
//!
//! Hex digits are compared case-insensitively (craft-parts compares the
//! text as written, so an uppercase digest never matches there).

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use oci_spec::image::Digest;
use sha2::Digest as _;
use sha2::digest::DynDigest;

use super::error::{SourceError, io_err};

/// A hash algorithm `source-checksum` may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl Algorithm {
    const ALL: [Algorithm; 6] =
        [Algorithm::Md5, Algorithm::Sha1, Algorithm::Sha224, Algorithm::Sha256, Algorithm::Sha384, Algorithm::Sha512];

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "md5",
            Algorithm::Sha1 => "sha1",
            Algorithm::Sha224 => "sha224",
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha384 => "sha384",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// Length of the digest in hex digits.
    pub fn hex_len(self) -> usize {
        self.hasher().output_size() * 2
    }

    fn hasher(self) -> Box<dyn DynDigest + Send> {
        match self {
            Algorithm::Md5 => Box::new(md5::Md5::new()),
            Algorithm::Sha1 => Box::new(sha1::Sha1::new()),
            Algorithm::Sha224 => Box::new(sha2::Sha224::new()),
            Algorithm::Sha256 => Box::new(sha2::Sha256::new()),
            Algorithm::Sha384 => Box::new(sha2::Sha384::new()),
            Algorithm::Sha512 => Box::new(sha2::Sha512::new()),
        }
    }
}

/// A parsed `source-checksum`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    pub algorithm: Algorithm,
    /// The expected digest, lowercase hex.
    pub hex: String,
}

impl Checksum {
    /// Parses `<algorithm>/<hex digest>`; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Checksum, String> {
        let (name, hex) = text.split_once('/').ok_or("it has no '/' between algorithm and digest")?;
        let algorithm = Algorithm::ALL
            .into_iter()
            .find(|a| a.name() == name)
            .ok_or_else(|| format!("unknown algorithm '{name}'"))?;
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("'{hex}' is not a hex digest"));
        }
        if hex.len() != algorithm.hex_len() {
            return Err(format!("a {name} digest has {} hex digits, not {}", algorithm.hex_len(), hex.len()));
        }
        Ok(Checksum { algorithm, hex: hex.to_ascii_lowercase() })
    }

    /// The canonical text, `algorithm/hex`.
    pub fn text(&self) -> String {
        format!("{}/{}", self.algorithm.name(), self.hex)
    }

    /// Checks the digests computed for a source against this checksum.
    pub fn verify(&self, part: &str, location: &str, actual: &Sums) -> Result<(), SourceError> {
        match &actual.declared {
            Some(hex) if *hex == self.hex => Ok(()),
            other => Err(SourceError::ChecksumMismatch {
                part: part.to_owned(),
                location: location.to_owned(),
                algorithm: self.algorithm.name(),
                expected: self.hex.clone(),
                actual: other.clone().unwrap_or_default(),
            }),
        }
    }
}

/// Parses a part's optional `source-checksum`.
pub fn parse_for(part: &str, checksum: Option<&str>) -> Result<Option<Checksum>, SourceError> {
    checksum
        .map(|c| {
            Checksum::parse(c).map_err(|reason| SourceError::InvalidChecksum {
                part: part.to_owned(),
                checksum: c.to_owned(),
                reason,
            })
        })
        .transpose()
}

/// The digests of a source file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sums {
    /// `sha256:<hex>` of the bytes.
    pub sha256: Digest,
    /// The declared algorithm's digest (lowercase hex), when one was declared.
    pub declared: Option<String>,
    pub size: u64,
}

/// A writer that hashes everything written with sha256 and, optionally,
/// the declared algorithm.
pub struct Hashes {
    sha256: sha2::Sha256,
    declared: Option<Box<dyn DynDigest + Send>>,
    size: u64,
}

impl Hashes {
    pub fn new(declared: Option<&Checksum>) -> Hashes {
        Hashes { sha256: sha2::Sha256::new(), declared: declared.map(|c| c.algorithm.hasher()), size: 0 }
    }

    pub fn finish(self) -> Sums {
        Sums {
            sha256: crate::digest::from_hasher(self.sha256),
            declared: self.declared.map(|h| hex::encode(h.finalize())),
            size: self.size,
        }
    }
}

impl Write for Hashes {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        sha2::Digest::update(&mut self.sha256, buf);
        if let Some(h) = &mut self.declared {
            h.update(buf);
        }
        self.size += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Hashes a file on disk.
pub fn hash_file(path: &Path, declared: Option<&Checksum>) -> Result<Sums, SourceError> {
    let mut f = File::open(path).map_err(io_err(path))?;
    hash_reader(&mut f, declared).map_err(io_err(path))
}

pub fn hash_reader(r: &mut dyn Read, declared: Option<&Checksum>) -> io::Result<Sums> {
    let mut h = Hashes::new(declared);
    io::copy(r, &mut h)?;
    Ok(h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sums(bytes: &[u8], c: &Checksum) -> Sums {
        hash_reader(&mut &bytes[..], Some(c)).unwrap()
    }

    #[test]
    fn every_algorithm_craft_parts_documents_is_computed() {
        // `printf hello | md5sum` and friends.
        let cases = [
            ("md5", "5d41402abc4b2a76b9719d911017c592"),
            ("sha1", "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"),
            ("sha224", "ea09ae9cc6768c50fcee903ed054556e5bfc8347907f12598aa24193"),
            ("sha256", "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"),
            (
                "sha384",
                "59e1748777448c69de6b800d7a33bbfb9ff1b463e44354c3553bcdb9c666fa90125a3c79f90397bdf5f6a13de828684f",
            ),
            (
                "sha512",
                "9b71d224bd62f3785d96d46ad3ea3d73319bfbc2890caadae2dff72519673ca72323c3d99ba5c11d7c7acc6e14b8c5da0c4663475c2e5c3adef46f73bcdec043",
            ),
        ];
        for (alg, hex) in cases {
            let c = Checksum::parse(&format!("{alg}/{hex}")).unwrap();
            let s = sums(b"hello", &c);
            assert_eq!(s.declared.as_deref(), Some(hex), "{alg}");
            c.verify("p", "hello.txt", &s).unwrap();
            assert_eq!(s.sha256.digest(), cases[3].1);
        }
    }

    #[test]
    fn uppercase_hex_is_accepted_and_compared_as_lowercase() {
        let c = Checksum::parse("md5/5D41402ABC4B2A76B9719D911017C592").unwrap();
        assert_eq!(c.text(), "md5/5d41402abc4b2a76b9719d911017c592");
        c.verify("p", "x", &sums(b"hello", &c)).unwrap();
    }

    #[test]
    fn a_mismatch_shows_expected_and_actual() {
        let c = Checksum::parse("md5/00000000000000000000000000000000").unwrap();
        let err = c.verify("files", "https://example.com/a.tar.gz", &sums(b"hello", &c)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "part 'files': checksum mismatch for https://example.com/a.tar.gz: expected md5/00000000000000000000000000000000, \
             got md5/5d41402abc4b2a76b9719d911017c592; make sure source-checksum matches the source"
        );
    }

    #[test]
    fn malformed_checksums_say_what_is_wrong() {
        assert_eq!(Checksum::parse("sha256:abc").unwrap_err(), "it has no '/' between algorithm and digest");
        assert_eq!(Checksum::parse("crc32/abcd").unwrap_err(), "unknown algorithm 'crc32'");
        assert_eq!(Checksum::parse("md5/xyz").unwrap_err(), "'xyz' is not a hex digest");
        assert_eq!(Checksum::parse("sha1/abc").unwrap_err(), "a sha1 digest has 40 hex digits, not 3");
        let err = parse_for("p", Some("sha1/abc")).unwrap_err().to_string();
        assert!(err.starts_with("part 'p': invalid source-checksum 'sha1/abc': a sha1 digest has 40"), "{err}");
    }
}
