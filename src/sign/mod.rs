//! Keyed signing of images and their attestations with Sigstore bundles
//! (docs/attestations.md).
//!
//! | job | module |
//! |---|---|
//! | ECDSA P-256 and Ed25519 keys: generate, PKCS#8 PEM (encrypted with a passphrase), hints | [`keys`] |
//! | DSSE envelopes: PAE, sign, verify | [`dsse`] |
//! | Sigstore bundle v0.3 around an envelope | [`bundle`] |
//! | bundles as OCI referrers of the image manifest, under the referrers tag | [`referrers`] |
//!
//! `strata sign` signs the image (an in-toto statement of predicate type
//! [`IMAGE_PREDICATE`] whose subject is the manifest digest, as cosign v3
//! does) and each attestation (its statement, the exact bytes in the
//! image). `strata verify-signature` accepts only if the image's bundle
//! verifies with the key and names this manifest, and every attestation
//! the image carries has a bundle of the key over exactly its bytes.

pub mod bundle;
pub mod dsse;
pub mod keys;
pub mod referrers;

use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, Digest};
use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::attest::{self, oci};
use crate::store::Store;

/// The predicate type of an image signature (cosign v3's).
pub const IMAGE_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";

/// What signing or verifying can fail on.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("key: {0}")]
    Key(String),
    #[error("{path} is not a usable key: {why}")]
    BadKey { path: PathBuf, why: String },
    #[error("not a valid Sigstore bundle: {0}")]
    BadBundle(String),
    #[error("the signature does not verify with this key")]
    WrongSignature,
    #[error("{image} ({digest}) is not signed: no bundle is attached to it (`strata sign {image} --key KEY`)")]
    Unsigned { image: String, digest: Digest },
    #[error("{image}: {what}")]
    Refused { image: String, what: String },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Attest(#[from] crate::attest::AttestError),
    #[error(transparent)]
    Oci(#[from] oci_spec::OciSpecError),
}

/// A fresh private key, for tests.
#[cfg(test)]
fn testkey(alg: keys::Algorithm) -> keys::PrivateKey {
    let dir = tempfile::tempdir().unwrap();
    let (private, _) = keys::generate(alg, None).unwrap();
    std::fs::write(dir.path().join("k"), private).unwrap();
    keys::load_private(&dir.path().join("k"), None).unwrap()
}

/// What was signed or verified: (what, digest) pairs.
#[derive(Debug, Default)]
pub struct Report {
    pub items: Vec<(String, Digest)>,
    /// The referrers tag the bundles are under.
    pub tag: String,
}

/// Signs `image` and its attestations with the private key at `key`;
/// writes each bundle to `bundle_dir` too when given.
pub fn sign(
    store: &Store,
    image: &str,
    key: &Path,
    passphrase: Option<&str>,
    bundle_dir: Option<&Path>,
) -> Result<Report, SignError> {
    let key = keys::load_private(key, passphrase)?;
    let (manifest, atts) = oci::read(store, &store.resolve(image)?)?;
    let subject = json!({
        "_type": attest::statement::STATEMENT_TYPE,
        "subject": [{ "name": image, "digest": { manifest.digest().algorithm().as_ref(): manifest.digest().digest() } }],
        "predicateType": IMAGE_PREDICATE,
        "predicate": {},
    });
    let image_statement = crate::json::to_vec(&subject).map_err(|e| SignError::BadBundle(e.to_string()))?;
    let mut bundles = vec![(IMAGE_PREDICATE.to_string(), bundle::sign(&key, &image_statement))];
    let mut report = Report { items: vec![("image".into(), manifest.digest().clone())], tag: String::new() };
    for a in &atts {
        let bytes = store.read_blob(a.layer.digest())?;
        bundles.push((a.predicate_type.clone(), bundle::sign(&key, &bytes)));
        report.items.push((attest::kind_of(&a.predicate_type).to_string(), a.layer.digest().clone()));
    }
    if let Some(dir) = bundle_dir {
        std::fs::create_dir_all(dir).map_err(|e| SignError::Io { path: dir.into(), source: e })?;
        for ((what, _), (_, b)) in report.items.iter().zip(&bundles) {
            let path = dir.join(format!("{what}.sigstore.json"));
            let text = serde_json::to_vec_pretty(b).expect("json");
            std::fs::write(&path, text).map_err(|e| SignError::Io { path, source: e })?;
        }
    }
    report.tag = referrers::tag(image, &manifest)?;
    referrers::attach(store, &report.tag, &manifest, &bundles)?;
    Ok(report)
}

/// Verifies `image`'s bundles with the public key at `key`.
pub fn verify(store: &Store, image: &str, key: &Path) -> Result<Report, SignError> {
    let key = keys::load_public(key)?;
    let (manifest, atts) = oci::read(store, &store.resolve(image)?)?;
    let tag = referrers::tag(image, &manifest)?;
    let found = referrers::list(store, &tag)?;
    let refused = |what: String| SignError::Refused { image: image.to_string(), what };
    // Several signers may have attached bundles (a pulled referrers index
    // keeps what others attached): one that verifies with the key is enough.
    let images: Vec<&Descriptor> = found.iter().filter(|(pt, _)| pt == IMAGE_PREDICATE).map(|(_, d)| d).collect();
    if images.is_empty() {
        return Err(SignError::Unsigned { image: image.into(), digest: manifest.digest().clone() });
    }
    let mut why = None;
    for artifact in images {
        let payload = match bundle::verify(&key, &referrers::bundle(store, artifact)?) {
            Ok(p) => p,
            Err(e) => {
                why.get_or_insert(format!("the image signature: {e}"));
                continue;
            }
        };
        let statement: serde_json::Value =
            serde_json::from_slice(&payload).map_err(|e| SignError::BadBundle(e.to_string()))?;
        let signed = statement["subject"][0]["digest"]["sha256"].as_str().unwrap_or_default();
        if signed == manifest.digest().digest() && statement["predicateType"] == IMAGE_PREDICATE {
            why = None;
            break;
        }
        // A bundle of the key over another image says more than a bundle of another key.
        why = Some(format!("the signature is of sha256:{signed}, not of this image {}", manifest.digest()));
    }
    if let Some(why) = why {
        return Err(refused(why));
    }
    let mut report = Report { items: vec![("image".into(), manifest.digest().clone())], tag };
    for a in &atts {
        let kind = attest::kind_of(&a.predicate_type).to_string();
        let candidates: Vec<&Descriptor> =
            found.iter().filter(|(pt, _)| *pt == a.predicate_type).map(|(_, d)| d).collect();
        if candidates.is_empty() {
            return Err(refused(format!("the {kind} attestation is not signed")));
        }
        let mut why = None;
        for artifact in candidates {
            match bundle::verify(&key, &referrers::bundle(store, artifact)?) {
                Err(e) => {
                    why.get_or_insert(format!("the {kind} attestation's signature: {e}"));
                }
                Ok(payload) => {
                    let got = hex::encode(Sha256::digest(&payload));
                    if got == a.layer.digest().digest() {
                        why = None;
                        break;
                    }
                    why = Some(format!(
                        "the {kind} attestation {} is not the one signed (sha256:{got}): it changed after signing",
                        a.layer.digest()
                    ));
                }
            }
        }
        if let Some(why) = why {
            return Err(refused(why));
        }
        report.items.push((kind, a.layer.digest().clone()));
    }
    Ok(report)
}
