//! Errors of the registry client.
//!
//! Every message names the registry (and the repository when there is one)
//! and never contains a credential: text that comes from the wire or from
//! oci-client goes through [`redact`] with the secrets of the session before
//! it lands in an error, and [`super::Credentials`] has no `Display` and a
//! redacted `Debug`.

use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum RegistryError {
    #[error("invalid image reference '{input}': {reason}")]
    BadReference { input: String, reason: String },

    /// 401: no credentials, or the registry refused the ones we sent.
    #[error("registry {registry} refused {who}{}{hint}", for_repository(repository))]
    Unauthorized { registry: String, repository: String, who: String, hint: String },

    /// 403: the credentials are fine but lack the permission.
    #[error("registry {registry} denied {who}{}: {message}", in_repository(repository))]
    Denied { registry: String, repository: String, who: String, message: String },

    #[error("{registry}/{repository}: not found while {what}{detail}")]
    NotFound { registry: String, repository: String, what: String, detail: String },

    /// The connection failed (refused, reset, timed out, TLS) on every attempt.
    #[error("cannot reach registry {registry} while {doing}: {message}{hint} (gave up after {attempts} attempt{s})", s = if *attempts == 1 { "" } else { "s" })]
    Unreachable { registry: String, doing: String, message: String, hint: String, attempts: u32 },

    /// A 5xx (or 429) on every attempt.
    #[error("registry {registry} failed while {doing}{}: {message} (gave up after {attempts} attempt{s})", in_repository(repository), s = if *attempts == 1 { "" } else { "s" })]
    Server { registry: String, repository: String, doing: String, status: Option<u16>, message: String, attempts: u32 },

    /// Any other refusal or protocol problem; not retried.
    #[error("registry {registry} rejected {doing}{}: {message}", in_repository(repository))]
    Rejected { registry: String, repository: String, doing: String, status: Option<u16>, message: String },

    /// `repository` is `registry/repository`.
    #[error("{repository}: digest mismatch while {what}: expected {expected}, found {found}")]
    DigestMismatch { repository: String, what: String, expected: String, found: String },

    #[error(
        "{registry}/{repository}: {digest} has media type '{media_type}', which strata cannot pull{}",
        schema1_hint(media_type)
    )]
    UnsupportedMediaType { registry: String, repository: String, digest: String, media_type: String },

    #[error("{reference} has no image for platform {platform} (it has: {available}); choose one with --platform")]
    NoSuchPlatform { reference: String, platform: String, available: String },

    #[error("cannot push to {reference}: {reason}")]
    BadDestination { reference: String, reason: String },

    #[error("credentials file {}: {message}", path.display())]
    AuthFile { path: PathBuf, message: String },

    #[error("credential helper docker-credential-{helper} failed for {registry}: {message}")]
    CredentialHelper { helper: String, registry: String, message: String },

    #[error("TLS certificates for {registry} in {}: {message}", path.display())]
    Certs { registry: String, path: PathBuf, message: String },

    #[error("{what}: {message}")]
    Invalid { what: String, message: String },

    #[error("registry record {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },

    #[error("cannot start the registry client's runtime: {0}")]
    Runtime(std::io::Error),

    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

fn schema1_hint(media_type: &str) -> &'static str {
    if media_type.contains("manifest.v1") {
        "; Docker schema 1 images must be converted first (e.g. pulled and pushed again by a current Docker)"
    } else {
        ""
    }
}

fn in_repository(r: &str) -> String {
    if r.is_empty() { String::new() } else { format!(" in repository {r}") }
}

fn for_repository(r: &str) -> String {
    if r.is_empty() { String::new() } else { format!(" for repository {r}") }
}

impl RegistryError {
    /// Whether this is an authentication failure (useful for `strata login`
    /// hints and for tests).
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, RegistryError::Unauthorized { .. })
    }
}

/// Replaces every occurrence of each secret in `text` with `***`, and cuts
/// query strings out of URLs (upload locations carry opaque state that only
/// makes messages long). Secrets shorter than 4 bytes are left alone: they
/// would redact half the message and guarding them is not meaningful.
pub(crate) fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_owned();
    for s in secrets {
        if s.len() >= 4 {
            out = out.replace(s.as_str(), "***");
        }
    }
    strip_url_queries(&out)
}

fn strip_url_queries(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_url = false;
    let mut skipping = false;
    for (i, c) in text.char_indices() {
        if !in_url && (text[i..].starts_with("http://") || text[i..].starts_with("https://")) {
            in_url = true;
        }
        let ends = c.is_whitespace() || matches!(c, ')' | '"' | '\'' | ',' | '>');
        if in_url && ends {
            in_url = false;
            skipping = false;
        }
        if in_url && c == '?' {
            skipping = true;
        }
        if !skipping {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_url_queries_are_cut() {
        let t = "error sending request for url (http://h:5000/v2/a/blobs/uploads/x?_state=abc&digest=sha256:1): pass=hunter22";
        assert_eq!(
            redact(t, &["hunter22".into(), "x".into()]),
            "error sending request for url (http://h:5000/v2/a/blobs/uploads/x): pass=***"
        );
    }
}
