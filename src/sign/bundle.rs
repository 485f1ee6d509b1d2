//! Sigstore bundles v0.3 for keyed signing, as cosign v3 writes them: a
//! DSSE envelope of an in-toto statement, and as verification material
//! the public key's hint (no certificate; no transparency-log entry or
//! timestamp, as `--tlog-upload=false` gives).

use p256::ecdsa::{SigningKey, VerifyingKey};
use serde_json::{Value, json};

use super::{SignError, dsse, keys};
use crate::attest::statement::MEDIA_TYPE as IN_TOTO;

pub const MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// A bundle of `statement` (the exact bytes signed) signed with `key`.
pub fn sign(key: &SigningKey, statement: &[u8]) -> Value {
    json!({
        "mediaType": MEDIA_TYPE,
        "verificationMaterial": {
            "publicKey": { "hint": keys::hint(key.verifying_key()) },
            "tlogEntries": [],
            "timestampVerificationData": {},
        },
        "dsseEnvelope": dsse::sign(key, IN_TOTO, statement),
    })
}

/// The statement bytes of `bundle` if `key` signed it.
pub fn verify(key: &VerifyingKey, bundle: &Value) -> Result<Vec<u8>, SignError> {
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
        let key = <SigningKey as p256::elliptic_curve::Generate>::try_generate().unwrap();
        let other = <SigningKey as p256::elliptic_curve::Generate>::try_generate().unwrap();
        let b = sign(&key, br#"{"_type":"https://in-toto.io/Statement/v1"}"#);
        assert_eq!(b["verificationMaterial"]["publicKey"]["hint"], keys::hint(key.verifying_key()));
        assert!(verify(key.verifying_key(), &b).is_ok());
        assert!(matches!(verify(other.verifying_key(), &b), Err(SignError::WrongSignature)));
    }
}
