//! Signing keys: ECDSA P-256 (cosign's default) or Ed25519, the private
//! key as PKCS#8 PEM — encrypted (PBES2: scrypt, AES-256-CBC) when a
//! passphrase is given — and the public key as SubjectPublicKeyInfo PEM.
//! Which algorithm a key file holds is read from the file: `strata sign`
//! and `verify-signature` take either.

use std::path::Path;

use p256::ecdsa::{DerSignature, SigningKey as P256Signing, VerifyingKey as P256Verifying};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use sha2::{Digest as _, Sha256};
use signature::{Signer as _, Verifier as _};

use super::SignError;

/// The algorithms `strata key generate --algorithm` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Algorithm {
    /// ECDSA over NIST P-256 with SHA-256 (cosign's default).
    #[default]
    #[value(name = "ecdsa-p256")]
    EcdsaP256,
    /// Ed25519 (RFC 8032).
    Ed25519,
}

/// A private key of either algorithm.
pub enum PrivateKey {
    P256(P256Signing),
    Ed25519(ed25519_dalek::SigningKey),
}

/// A public key of either algorithm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    P256(P256Verifying),
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl PrivateKey {
    pub fn public(&self) -> PublicKey {
        match self {
            PrivateKey::P256(k) => PublicKey::P256(*k.verifying_key()),
            PrivateKey::Ed25519(k) => PublicKey::Ed25519(k.verifying_key()),
        }
    }

    /// The signature of `message`: DER ECDSA (SHA-256), or Ed25519's 64 bytes.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            PrivateKey::P256(k) => {
                let sig: DerSignature = k.sign(message);
                sig.as_bytes().to_vec()
            }
            PrivateKey::Ed25519(k) => k.sign(message).to_bytes().to_vec(),
        }
    }
}

impl PublicKey {
    /// Whether `sig` is this key's signature of `message`.
    pub fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
        match self {
            PublicKey::P256(k) => DerSignature::from_bytes(sig).is_ok_and(|s| k.verify(message, &s).is_ok()),
            PublicKey::Ed25519(k) => {
                ed25519_dalek::Signature::from_slice(sig).is_ok_and(|s| k.verify_strict(message, &s).is_ok())
            }
        }
    }

    /// SubjectPublicKeyInfo DER.
    fn der(&self) -> Vec<u8> {
        match self {
            PublicKey::P256(k) => k.to_public_key_der().expect("a P-256 key encodes").into_vec(),
            PublicKey::Ed25519(k) => k.to_public_key_der().expect("an Ed25519 key encodes").into_vec(),
        }
    }
}

/// Generates a key pair: `(private PEM, public PEM)`.
pub fn generate(algorithm: Algorithm, passphrase: Option<&str>) -> Result<(String, String), SignError> {
    let key = match algorithm {
        Algorithm::EcdsaP256 => PrivateKey::P256(
            <P256Signing as p256::elliptic_curve::Generate>::try_generate()
                .map_err(|e| SignError::Key(e.to_string()))?,
        ),
        Algorithm::Ed25519 => {
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed).map_err(|e| SignError::Key(e.to_string()))?;
            PrivateKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&seed))
        }
    };
    let key_err = |e: pkcs8::Error| SignError::Key(e.to_string());
    let private = match (&key, passphrase) {
        (PrivateKey::P256(k), Some(p)) => k.to_pkcs8_encrypted_pem(p, LineEnding::LF),
        (PrivateKey::P256(k), None) => k.to_pkcs8_pem(LineEnding::LF),
        (PrivateKey::Ed25519(k), Some(p)) => k.to_pkcs8_encrypted_pem(p, LineEnding::LF),
        (PrivateKey::Ed25519(k), None) => k.to_pkcs8_pem(LineEnding::LF),
    }
    .map_err(key_err)?;
    let public = match key.public() {
        PublicKey::P256(k) => k.to_public_key_pem(LineEnding::LF),
        PublicKey::Ed25519(k) => k.to_public_key_pem(LineEnding::LF),
    }
    .map_err(|e| SignError::Key(e.to_string()))?;
    Ok((private.to_string(), public))
}

/// Reads a private key of either algorithm; an encrypted one needs `passphrase`.
pub fn load_private(path: &Path, passphrase: Option<&str>) -> Result<PrivateKey, SignError> {
    let pem = read(path)?;
    let bad = |e: String| SignError::BadKey { path: path.to_path_buf(), why: e };
    let der = if pem.contains("ENCRYPTED PRIVATE KEY") {
        let p = passphrase.ok_or_else(|| bad("it is encrypted: set STRATA_KEY_PASSPHRASE".into()))?;
        let (_, doc) = pkcs8::Document::from_pem(&pem).map_err(|e| bad(e.to_string()))?;
        let info = pkcs8::EncryptedPrivateKeyInfoRef::try_from(doc.as_bytes()).map_err(|e| bad(e.to_string()))?;
        info.decrypt(p).map_err(|e| bad(format!("{e} (wrong passphrase?)")))?
    } else {
        pkcs8::SecretDocument::from_pkcs8_pem(&pem).map_err(|e| bad(e.to_string()))?
    };
    if let Ok(k) = P256Signing::from_pkcs8_der(der.as_bytes()) {
        return Ok(PrivateKey::P256(k));
    }
    ed25519_dalek::SigningKey::from_pkcs8_der(der.as_bytes())
        .map(PrivateKey::Ed25519)
        .map_err(|_| bad("neither an ECDSA P-256 nor an Ed25519 PKCS#8 key".into()))
}

/// Reads a public key of either algorithm.
pub fn load_public(path: &Path) -> Result<PublicKey, SignError> {
    let pem = read(path)?;
    if let Ok(k) = P256Verifying::from_public_key_pem(&pem) {
        return Ok(PublicKey::P256(k));
    }
    ed25519_dalek::VerifyingKey::from_public_key_pem(&pem).map(PublicKey::Ed25519).map_err(|e| SignError::BadKey {
        path: path.to_path_buf(),
        why: format!("neither an ECDSA P-256 nor an Ed25519 public key ({e})"),
    })
}

/// The key's hint as a bundle names it: base64 of the sha256 of its DER.
pub fn hint(key: &PublicKey) -> String {
    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, Sha256::digest(key.der()))
}

fn read(path: &Path) -> Result<String, SignError> {
    std::fs::read_to_string(path).map_err(|e| SignError::Io { path: path.to_path_buf(), source: e })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_reads_back_with_its_passphrase_only() {
        for alg in [Algorithm::EcdsaP256, Algorithm::Ed25519] {
            let dir = tempfile::tempdir().unwrap();
            let (private, public) = generate(alg, Some("s3cret")).unwrap();
            assert!(private.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
            let (kp, kpub) = (dir.path().join("k.key"), dir.path().join("k.pub"));
            std::fs::write(&kp, private).unwrap();
            std::fs::write(&kpub, public).unwrap();
            let key = load_private(&kp, Some("s3cret")).unwrap();
            assert_eq!(key.public(), load_public(&kpub).unwrap());
            assert_eq!(matches!(key, PrivateKey::Ed25519(_)), alg == Algorithm::Ed25519);
            assert!(load_private(&kp, Some("wrong")).is_err());
            assert!(load_private(&kp, None).err().unwrap().to_string().contains("STRATA_KEY_PASSPHRASE"));
        }
    }

    #[test]
    fn an_unencrypted_key_needs_no_passphrase_and_signs() {
        for alg in [Algorithm::EcdsaP256, Algorithm::Ed25519] {
            let dir = tempfile::tempdir().unwrap();
            let (private, public) = generate(alg, None).unwrap();
            assert!(private.starts_with("-----BEGIN PRIVATE KEY-----"));
            std::fs::write(dir.path().join("k"), private).unwrap();
            std::fs::write(dir.path().join("k.pub"), public).unwrap();
            let key = load_private(&dir.path().join("k"), None).unwrap();
            let sig = key.sign(b"message");
            let public = load_public(&dir.path().join("k.pub")).unwrap();
            assert!(public.verify(b"message", &sig));
            assert!(!public.verify(b"messages", &sig));
        }
    }

    #[test]
    fn an_ed25519_public_key_is_spki_pem() {
        let (_, public) = generate(Algorithm::Ed25519, None).unwrap();
        // SubjectPublicKeyInfo of id-Ed25519 (1.3.101.112): 44 bytes, `MCowBQYDK2VwAyEA…`.
        assert!(public.starts_with("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA"), "{public}");
    }
}
