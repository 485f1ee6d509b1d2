//! Sigstore bundles v0.3 for keyed signing, as cosign v3 writes them: a
//! DSSE envelope of an in-toto statement, and as verification material
//! the public key's hint (no certificate; no transparency-log entry or
//! timestamp, as `--tlog-upload=false` gives).

use serde_json::{Value, json};

use super::keys::{PrivateKey, PublicKey};
use super::{SignError, dsse, keys};
use crate::attest::statement::MEDIA_TYPE as IN_TOTO;

pub const MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// A bundle of `statement` (the exact bytes signed) signed with `key`.
pub fn sign(key: &PrivateKey, statement: &[u8]) -> Value {
    json!({
        "mediaType": MEDIA_TYPE,
        "verificationMaterial": {
            "publicKey": { "hint": keys::hint(&key.public()) },
            "tlogEntries": [],
            "timestampVerificationData": {},
        },
        "dsseEnvelope": dsse::sign(key, IN_TOTO, statement),
    })
}

/// The statement bytes of `bundle` if `key` signed it.
pub fn verify(key: &PublicKey, bundle: &Value) -> Result<Vec<u8>, SignError> {
    if bundle["mediaType"] != MEDIA_TYPE {
        return Err(SignError::BadBundle(format!("media type {} is not {MEDIA_TYPE}", bundle["mediaType"])));
    }
    let hint = bundle["verificationMaterial"]["publicKey"]["hint"].as_str();
    if hint.is_some_and(|h| h != keys::hint(key)) {
        return Err(SignError::WrongSignature);
    }
    if bundle["dsseEnvelope"]["payloadType"] != IN_TOTO {
        return Err(SignError::BadBundle("the envelope does not hold an in-toto statement".into()));
    }
    dsse::verify(key, &bundle["dsseEnvelope"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_names_its_key_and_verifies_with_it_only() {
        for alg in [keys::Algorithm::EcdsaP256, keys::Algorithm::Ed25519] {
            let (key, other) = (super::super::testkey(alg), super::super::testkey(alg));
            let b = sign(&key, br#"{"_type":"https://in-toto.io/Statement/v1"}"#);
            assert_eq!(b["verificationMaterial"]["publicKey"]["hint"], keys::hint(&key.public()));
            assert!(verify(&key.public(), &b).is_ok());
            assert!(matches!(verify(&other.public(), &b), Err(SignError::WrongSignature)));
        }
    }
}
