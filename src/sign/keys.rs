//! Signing keys: ECDSA P-256 (cosign's default), the private key as
//! PKCS#8 PEM — encrypted (PBES2: scrypt, AES-256-CBC) when a passphrase
//! is given — and the public key as SubjectPublicKeyInfo PEM.

use std::path::Path;

use p256::ecdsa::{SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use sha2::{Digest as _, Sha256};

use super::SignError;

/// Generates a key pair: `(private PEM, public PEM)`.
pub fn generate(passphrase: Option<&str>) -> Result<(String, String), SignError> {
    let key =
        <SigningKey as p256::elliptic_curve::Generate>::try_generate().map_err(|e| SignError::Key(e.to_string()))?;
    let private = match passphrase {
        Some(p) => key.to_pkcs8_encrypted_pem(p, LineEnding::LF),
        None => key.to_pkcs8_pem(LineEnding::LF),
    }
    .map_err(|e| SignError::Key(e.to_string()))?;
    let public = key.verifying_key().to_public_key_pem(LineEnding::LF).map_err(|e| SignError::Key(e.to_string()))?;
    Ok((private.to_string(), public))
}

/// Reads a private key; an encrypted one needs `passphrase`.
pub fn load_private(path: &Path, passphrase: Option<&str>) -> Result<SigningKey, SignError> {
    let pem = read(path)?;
    let bad = |e: String| SignError::BadKey { path: path.to_path_buf(), why: e };
    if pem.contains("ENCRYPTED PRIVATE KEY") {
        let p = passphrase.ok_or_else(|| bad("it is encrypted: set STRATA_KEY_PASSPHRASE".into()))?;
        return SigningKey::from_pkcs8_encrypted_pem(&pem, p).map_err(|e| bad(format!("{e} (wrong passphrase?)")));
    }
    SigningKey::from_pkcs8_pem(&pem).map_err(|e| bad(e.to_string()))
}

/// Reads a public key.
pub fn load_public(path: &Path) -> Result<VerifyingKey, SignError> {
    let pem = read(path)?;
    VerifyingKey::from_public_key_pem(&pem)
        .map_err(|e| SignError::BadKey { path: path.to_path_buf(), why: e.to_string() })
}

/// The key's hint as a bundle names it: base64 of the sha256 of its DER.
pub fn hint(key: &VerifyingKey) -> String {
    let der = key.to_public_key_der().expect("a P-256 key encodes");
    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, Sha256::digest(der.as_bytes()))
}

fn read(path: &Path) -> Result<String, SignError> {
    std::fs::read_to_string(path).map_err(|e| SignError::Io { path: path.to_path_buf(), source: e })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_reads_back_with_its_passphrase_only() {
        let dir = tempfile::tempdir().unwrap();
        let (private, public) = generate(Some("s3cret")).unwrap();
        assert!(private.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
        let (kp, kpub) = (dir.path().join("k.key"), dir.path().join("k.pub"));
        std::fs::write(&kp, private).unwrap();
        std::fs::write(&kpub, public).unwrap();
        let key = load_private(&kp, Some("s3cret")).unwrap();
        assert_eq!(key.verifying_key(), &load_public(&kpub).unwrap());
        assert!(load_private(&kp, Some("wrong")).is_err());
        assert!(load_private(&kp, None).unwrap_err().to_string().contains("STRATA_KEY_PASSPHRASE"));
    }

    #[test]
    fn an_unencrypted_key_needs_no_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let (private, _) = generate(None).unwrap();
        assert!(private.starts_with("-----BEGIN PRIVATE KEY-----"));
        std::fs::write(dir.path().join("k"), private).unwrap();
        assert!(load_private(&dir.path().join("k"), None).is_ok());
    }
}
