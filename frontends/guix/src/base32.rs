//! Nix's base32, in which Guix writes hashes (`(base32 "…")`): the alphabet
//! `0123456789abcdfghijklmnpqrsvwxyz`, the string read as a big-endian
//! numeral and stored as a little-endian integer (reference §5.3).

const ALPHABET: &[u8; 32] = b"0123456789abcdfghijklmnpqrsvwxyz";

/// Why a string is not Nix base32.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Base32Error {
    #[error("'{0}' is not a nix-base32 digit (the alphabet has no e, o, u or t)")]
    BadDigit(char),
    #[error("the hash does not fit in {0} bytes")]
    Overflow(usize),
}

/// The bytes a Nix base32 string stands for.
pub fn decode(s: &str) -> Result<Vec<u8>, Base32Error> {
    let len = s.len() * 5 / 8;
    let mut out = vec![0u8; len];
    for (n, c) in s.chars().rev().enumerate() {
        let v = ALPHABET.iter().position(|&a| a as char == c).ok_or(Base32Error::BadDigit(c))? as u16;
        let b = n * 5;
        let (i, j) = (b / 8, b % 8);
        let wide = v << j;
        if i < len {
            out[i] |= (wide & 0xff) as u8;
        } else if wide != 0 {
            return Err(Base32Error::Overflow(len));
        }
        let carry = (wide >> 8) as u8;
        if i + 1 < len {
            out[i + 1] |= carry;
        } else if carry != 0 {
            return Err(Base32Error::Overflow(len));
        }
    }
    Ok(out)
}

/// The Nix base32 string of `bytes`.
pub fn encode(bytes: &[u8]) -> String {
    let len = (bytes.len() * 8).div_ceil(5);
    let mut s = String::with_capacity(len);
    for n in (0..len).rev() {
        let b = n * 5;
        let (i, j) = (b / 8, b % 8);
        let lo = bytes[i] as u16 >> j;
        let hi = if i + 1 < bytes.len() { (bytes[i + 1] as u16) << (8 - j) } else { 0 };
        s.push(ALPHABET[((lo | hi) & 0x1f) as usize] as char);
    }
    s
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_s_hash_decodes_to_the_sha256_of_its_tarball() {
        let b = decode("183a6rxnhixiyykd7qis0y9g9cfqhpkk872a245y3zl28can0pqd").unwrap();
        assert_eq!(hex(&b), "0d5f60154382fee10b114a1c34e785d8b1f492073ae2d3a6f7b147687b366aa0");
    }

    #[test]
    fn encoding_is_the_inverse_of_decoding() {
        let s = "183a6rxnhixiyykd7qis0y9g9cfqhpkk872a245y3zl28can0pqd";
        assert_eq!(encode(&decode(s).unwrap()), s);
        let bytes: Vec<u8> = (0..20u8).map(|i| i.wrapping_mul(37)).collect();
        assert_eq!(decode(&encode(&bytes)).unwrap(), bytes);
        assert_eq!(encode(&bytes).len(), 32);
    }

    #[test]
    fn letters_outside_the_alphabet_are_refused() {
        assert_eq!(decode("0e"), Err(Base32Error::BadDigit('e')));
    }
}
