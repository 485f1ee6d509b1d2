//! in-toto Statement v1: a predicate about subjects named by digest. Every
//! attestation strata writes is one, its subject the image manifest.

use oci_spec::image::Digest;
use serde_json::{Value, json};

pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The media type of a statement as an OCI layer (BuildKit's, cosign's).
pub const MEDIA_TYPE: &str = "application/vnd.in-toto+json";
/// The layer annotation naming a statement's predicate type.
pub const PREDICATE_ANNOTATION: &str = "in-toto.io/predicate-type";

/// A statement that `predicate` (of `predicate_type`) holds of the image
/// `name` with manifest `digest`.
pub fn statement(name: &str, digest: &Digest, predicate_type: &str, predicate: Value) -> Value {
    json!({
        "_type": STATEMENT_TYPE,
        "subject": [{ "name": name, "digest": { digest.algorithm().as_ref(): digest.digest() } }],
        "predicateType": predicate_type,
        "predicate": predicate,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_subject_is_named_by_algorithm_and_hex() {
        let d: oci_spec::image::Digest = format!("sha256:{}", "a".repeat(64)).parse().unwrap();
        let s = super::statement("hello:1.0", &d, "https://slsa.dev/provenance/v1", serde_json::json!({}));
        assert_eq!(s["subject"][0]["digest"]["sha256"], "a".repeat(64));
        assert_eq!(s["_type"], super::STATEMENT_TYPE);
    }
}
