//! Image references as users type them: `debian`, `debian:bookworm`,
//! `user/app`, `localhost:5000/app`, `host:port/ns/name:tag@sha256:…`.
//!
//! The type is oci-spec's [`Reference`] (re-exported by oci-client), whose
//! parser is a port of Docker's `reference.ParseNormalizedNamed`: a first
//! component without a `.` or `:` that is not `localhost` is a Docker Hub
//! path, so `debian` is `docker.io/library/debian:latest`, `user/app` is
//! `docker.io/user/app:latest`, and `index.docker.io` is folded into
//! `docker.io`. A reference with neither tag nor digest gets `:latest`;
//! one with both keeps both (the digest is what gets pulled, the tag is
//! checked for movement — see `pull`).
//!
//! What this file adds: error messages that say what is wrong with the
//! input, acceptance of skopeo's `docker://` prefix, and small helpers
//! (loopback detection for the transport, display forms for messages).

pub use oci_client::Reference;

use super::RegistryError;

/// Parses and normalizes a registry reference.
pub fn parse_reference(input: &str) -> Result<Reference, RegistryError> {
    let bad = |reason: &str| RegistryError::BadReference { input: input.to_owned(), reason: reason.to_owned() };
    let s = input.trim();
    let s = s.strip_prefix("docker://").unwrap_or(s);
    if s.is_empty() {
        return Err(bad("it is empty"));
    }
    if s.contains("://") {
        return Err(bad("a reference has no URL scheme: write host[:port]/repository[:tag][@digest]"));
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("it contains whitespace"));
    }
    match Reference::try_from(s) {
        Ok(r) => Ok(r),
        Err(e) => {
            use oci_client::ParseError as P;
            let reason = match e {
                P::ReferenceInvalidFormat | P::NameContainsUppercase if has_uppercase_path(s) => {
                    "repository names must be lowercase".to_owned()
                }
                P::ReferenceInvalidFormat if s.split_once('@').is_some_and(|(_, d)| !valid_digest_shape(d)) => {
                    "the digest after '@' must be algorithm:hex, e.g. sha256: and 64 hex digits".to_owned()
                }
                P::ReferenceInvalidFormat if s.starts_with('[') => {
                    "IPv6 literal registry addresses are not supported; use a host name".to_owned()
                }
                P::ReferenceInvalidFormat => {
                    "expected [host[:port]/]repository[:tag][@algorithm:hex], with a lowercase repository of \
                     letters, digits and . _ - separators, and a tag of at most 128 letters, digits, . _ -"
                        .to_owned()
                }
                P::DigestInvalidLength => "the digest has the wrong length for its algorithm".to_owned(),
                P::DigestUnsupported => "unsupported digest algorithm (use sha256, sha384 or sha512)".to_owned(),
                other => other.to_string(),
            };
            Err(RegistryError::BadReference { input: input.to_owned(), reason })
        }
    }
}

/// `algorithm:hex` with at least 32 hex digits (what the grammar accepts).
fn valid_digest_shape(d: &str) -> bool {
    d.split_once(':')
        .is_some_and(|(alg, hex)| !alg.is_empty() && hex.len() >= 32 && hex.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Whether the path part (after a registry host, if any) has uppercase.
fn has_uppercase_path(s: &str) -> bool {
    let path = match s.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => rest,
        _ => s,
    };
    let name = path.split(['@']).next().unwrap_or(path);
    // A tag may have uppercase; only look before the tag's colon.
    let name = match name.rsplit_once(':') {
        Some((n, tag)) if !tag.contains('/') => n,
        _ => name,
    };
    name.chars().any(|c| c.is_ascii_uppercase())
}

/// `registry/repository`, the name messages use for a repository.
pub fn repository_name(r: &Reference) -> String {
    format!("{}/{}", r.registry(), r.repository())
}

/// The same repository with another tag.
pub fn with_tag(r: &Reference, tag: &str) -> Reference {
    Reference::with_tag(r.registry().to_owned(), r.repository().to_owned(), tag.to_owned())
}

/// The same repository at a digest (no tag).
pub fn with_digest(r: &Reference, digest: &str) -> Reference {
    Reference::with_digest(r.registry().to_owned(), r.repository().to_owned(), digest.to_owned())
}

/// Whether two references name the same repository of the same registry.
pub fn same_repository(a: &Reference, b: &Reference) -> bool {
    a.resolve_registry() == b.resolve_registry() && a.repository() == b.repository()
}

/// The host part of a `host[:port]` registry name.
pub fn host_of(registry: &str) -> &str {
    if let Some(rest) = registry.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    if registry.matches(':').count() > 1 {
        return registry; // a bare IPv6 address
    }
    match registry.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => registry,
    }
}

/// Whether `registry` (`host[:port]`) is this machine: `localhost`,
/// 127.0.0.0/8 or ::1. Docker treats these as insecure registries by
/// default; strata allows plain HTTP to them (see `transport`).
pub fn is_loopback(registry: &str) -> bool {
    let host = host_of(registry);
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn what_users_type_normalizes_like_docker() {
        // input, registry, repository, tag, digest
        type Row<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, Option<&'a str>);
        let table: &[Row] = &[
            ("busybox", "docker.io", "library/busybox", Some("latest"), None),
            ("debian:bookworm", "docker.io", "library/debian", Some("bookworm"), None),
            ("user/app", "docker.io", "user/app", Some("latest"), None),
            ("docker.io/debian", "docker.io", "library/debian", Some("latest"), None),
            ("index.docker.io/library/debian:12", "docker.io", "library/debian", Some("12"), None),
            ("docker://alpine:3.20", "docker.io", "library/alpine", Some("3.20"), None),
            ("localhost/app", "localhost", "app", Some("latest"), None),
            ("localhost:5000/app:v1", "localhost:5000", "app", Some("v1"), None),
            ("ghcr.io/org/tool:1.2.3-rc_1", "ghcr.io", "org/tool", Some("1.2.3-rc_1"), None),
            ("registry.example.com/a/b/c", "registry.example.com", "a/b/c", Some("latest"), None),
            ("test.com:5000", "docker.io", "library/test.com", Some("5000"), None),
            ("debian:Tag_With_Upper", "docker.io", "library/debian", Some("Tag_With_Upper"), None),
        ];
        for (input, registry, repo, tag, digest) in table {
            let r = parse_reference(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(
                (r.registry(), r.repository(), r.tag(), r.digest()),
                (*registry, *repo, *tag, *digest),
                "{input}"
            );
        }
        let full = format!("127.0.0.1:5000/ns/name:tag@{D}");
        let r = parse_reference(&full).unwrap();
        assert_eq!(
            (r.registry(), r.repository(), r.tag(), r.digest()),
            ("127.0.0.1:5000", "ns/name", Some("tag"), Some(D))
        );
        assert_eq!(r.to_string(), full);
        let r = parse_reference(&format!("alpine@{D}")).unwrap();
        assert_eq!((r.repository(), r.tag(), r.digest()), ("library/alpine", None, Some(D)));
        assert_eq!(r.resolve_registry(), "index.docker.io");
    }

    #[test]
    fn bad_references_say_why() {
        let short = format!("alpine@sha256:{}", &D[7..39]);
        let cases = [
            ("", "empty"),
            ("Upper/Case", "lowercase"),
            ("host:5000/MyApp:tag", "lowercase"),
            ("https://ghcr.io/a/b", "no URL scheme"),
            ("a b", "whitespace"),
            ("alpine@sha256:abcd", "64 hex digits"),
            (short.as_str(), "wrong length"),
            ("alpine:bad tag", "whitespace"),
            ("alpine:-bad", "expected"),
            ("[::1]:5000/app", "IPv6"),
        ];
        for (input, want) in cases {
            let e = parse_reference(input).expect_err(input).to_string();
            assert!(e.contains(want), "{input}: {e}");
            assert!(e.contains(&format!("'{input}'")), "{e}");
        }
    }

    #[test]
    fn loopback_registries() {
        for r in ["localhost", "localhost:5000", "127.0.0.1:5000", "127.1.2.3", "[::1]:5000", "::1"] {
            assert!(is_loopback(r), "{r}");
        }
        for r in ["docker.io", "10.0.0.1:5000", "localhost.example.com", "ghcr.io"] {
            assert!(!is_loopback(r), "{r}");
        }
    }
}
