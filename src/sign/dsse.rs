//! DSSE (Dead Simple Signing Envelope) v1: a payload and its type, signed
//! over their pre-authentication encoding (PAE), as Sigstore bundles carry
//! in-toto statements.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::SignError;
use super::keys::{PrivateKey, PublicKey};

/// `DSSEv1 <len> <type> <len> <payload>`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!("DSSEv1 {} {} {} ", payload_type.len(), payload_type, payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out
}

/// The envelope of `payload`, signed with `key` (ECDSA P-256 with SHA-256
/// as DER, or Ed25519's 64 bytes).
pub fn sign(key: &PrivateKey, payload_type: &str, payload: &[u8]) -> Value {
    let sig = key.sign(&pae(payload_type, payload));
    json!({
        "payload": STANDARD.encode(payload),
        "payloadType": payload_type,
        "signatures": [{ "sig": STANDARD.encode(sig), "keyid": "" }],
    })
}

/// The payload of `envelope` if one of its signatures is `key`'s.
pub fn verify(key: &PublicKey, envelope: &Value) -> Result<Vec<u8>, SignError> {
    let bad = |why: &str| SignError::BadBundle(why.to_string());
    let payload = STANDARD
        .decode(envelope["payload"].as_str().ok_or_else(|| bad("no payload"))?)
        .map_err(|_| bad("payload is not base64"))?;
    let payload_type = envelope["payloadType"].as_str().ok_or_else(|| bad("no payloadType"))?;
    let message = pae(payload_type, &payload);
    let sigs = envelope["signatures"].as_array().ok_or_else(|| bad("no signatures"))?;
    for s in sigs {
        let Some(Ok(bytes)) = s["sig"].as_str().map(|b| STANDARD.decode(b)) else { continue };
        if key.verify(&message, &bytes) {
            return Ok(payload);
        }
    }
    Err(SignError::WrongSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_is_the_dsse_encoding() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
    }

    #[test]
    fn a_signed_envelope_verifies_with_its_key_only() {
        use super::super::keys::Algorithm;
        for alg in [Algorithm::EcdsaP256, Algorithm::Ed25519] {
            let (key, other) = (super::super::testkey(alg), super::super::testkey(alg));
            let env = sign(&key, "application/vnd.in-toto+json", b"{}");
            assert_eq!(verify(&key.public(), &env).unwrap(), b"{}");
            assert!(matches!(verify(&other.public(), &env), Err(SignError::WrongSignature)));
            let mut changed = env.clone();
            changed["payload"] = json!(STANDARD.encode(b"{\"x\":1}"));
            assert!(matches!(verify(&key.public(), &changed), Err(SignError::WrongSignature)));
        }
    }
}
