//! Image names as Docker spells them: `busybox` is `docker.io/library/busybox:latest`
//! in full and `busybox:latest` in the familiar form `docker images` shows.
//!
//! Exports need both: `manifest.json`'s `RepoTags` and `repositories` carry
//! the familiar form (what `docker save` writes), the OCI `index.json` carries
//! the full name in `io.containerd.image.name` and the tag alone in
//! `org.opencontainers.image.ref.name` (what skopeo and umoci look up).

use super::ExportError;

/// A parsed, normalized image name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageName {
    /// The registry host, `docker.io` when the name has none.
    pub domain: String,
    /// The repository path below the domain, `library/busybox`.
    pub path: String,
    /// The tag (`latest` when the name has neither tag nor digest).
    pub tag: Option<String>,
    /// The digest after `@`, if the name pins one.
    pub digest: Option<String>,
}

const DOCKER_HUB: &str = "docker.io";

impl ImageName {
    /// Parses `busybox`, `busybox:1.36`, `ghcr.io/o/r:tag`, `localhost:5000/x`,
    /// `name@sha256:…`; a name with neither tag nor digest gets `:latest`.
    pub fn parse(input: &str) -> Result<ImageName, ExportError> {
        let bad = |reason: &str| ExportError::BadName { name: input.to_owned(), reason: reason.to_owned() };
        let normalized = crate::store::normalize_ref(input)
            .map_err(|e| ExportError::BadName { name: input.to_owned(), reason: e.to_string() })?;
        let (rest, digest) = match normalized.split_once('@') {
            Some((r, d)) => {
                let ok = d.split_once(':').is_some_and(|(alg, hex)| {
                    !alg.is_empty() && hex.len() >= 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())
                });
                if !ok {
                    return Err(bad("the part after '@' must be a digest like sha256:<hex>"));
                }
                (r, Some(d.to_owned()))
            }
            None => (normalized.as_str(), None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (repo, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(rest[last_slash + i + 1..].to_owned())),
            None => (rest, None),
        };
        if let Some(t) = &tag {
            let ok = t.len() <= 128
                && t.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
                && !t.starts_with(['.', '-']);
            if !ok {
                return Err(bad("a tag is 1 to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'"));
            }
        }
        let comps: Vec<&str> = repo.split('/').collect();
        let first = comps[0];
        let has_domain = comps.len() > 1
            && (first.contains(['.', ':']) || first == "localhost" || first.bytes().any(|b| b.is_ascii_uppercase()));
        let (domain, path_comps) =
            if has_domain { (first.to_owned(), &comps[1..]) } else { (DOCKER_HUB.to_owned(), &comps[..]) };
        if has_domain && !domain.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:".contains(&b)) {
            return Err(bad("the registry host may hold only letters, digits, '.', '-' and a ':port'"));
        }
        for c in path_comps {
            let ok = !c.is_empty()
                && c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && c.as_bytes()[0].is_ascii_alphanumeric()
                && c.as_bytes()[c.len() - 1].is_ascii_alphanumeric();
            if !ok {
                return Err(bad(&format!(
                    "repository component '{c}' must be lowercase letters and digits, separated by '.', '_' or '-'"
                )));
            }
        }
        let mut path = path_comps.join("/");
        if domain == DOCKER_HUB && path_comps.len() == 1 {
            path = format!("library/{path}");
        }
        Ok(ImageName { domain, path, tag, digest })
    }

    /// The full repository, `docker.io/library/busybox`.
    pub fn full_repo(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The repository as `docker images` shows it, `busybox`.
    pub fn familiar_repo(&self) -> String {
        if self.domain == DOCKER_HUB {
            self.path.strip_prefix("library/").filter(|p| !p.contains('/')).unwrap_or(&self.path).to_owned()
        } else {
            self.full_repo()
        }
    }

    fn suffix(&self) -> String {
        let mut s = String::new();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }

    /// `docker.io/library/busybox:latest`: the `io.containerd.image.name` value.
    pub fn full(&self) -> String {
        format!("{}{}", self.full_repo(), self.suffix())
    }

    /// `busybox:latest`: the `RepoTags` entry, or `None` for a name without a
    /// tag (Docker loads such an image untagged).
    pub fn repo_tag(&self) -> Option<String> {
        self.tag.as_ref().map(|t| format!("{}:{t}", self.familiar_repo()))
    }
}

impl std::fmt::Display for ImageName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.familiar_repo(), self.suffix())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_names_get_library_and_latest() {
        let n = ImageName::parse("busybox").unwrap();
        assert_eq!(n.full(), "docker.io/library/busybox:latest");
        assert_eq!(n.repo_tag().as_deref(), Some("busybox:latest"));
        assert_eq!(n.tag.as_deref(), Some("latest"));
        let n = ImageName::parse("me/app:1.0").unwrap();
        assert_eq!(n.full(), "docker.io/me/app:1.0");
        assert_eq!(n.repo_tag().as_deref(), Some("me/app:1.0"));
    }

    #[test]
    fn registry_hosts_and_ports_are_kept() {
        let n = ImageName::parse("localhost:5000/x/y").unwrap();
        assert_eq!(n.full(), "localhost:5000/x/y:latest");
        assert_eq!(n.repo_tag().as_deref(), Some("localhost:5000/x/y:latest"));
        let n = ImageName::parse("ghcr.io/o/r:v2").unwrap();
        assert_eq!((n.domain.as_str(), n.path.as_str(), n.tag.as_deref()), ("ghcr.io", "o/r", Some("v2")));
    }

    #[test]
    fn digest_names_have_no_repo_tag() {
        let d = format!("sha256:{}", "a".repeat(64));
        let n = ImageName::parse(&format!("busybox@{d}")).unwrap();
        assert_eq!(n.repo_tag(), None);
        assert_eq!(n.full(), format!("docker.io/library/busybox@{d}"));
    }

    #[test]
    fn bad_names_say_why() {
        for (name, why) in [
            ("Busybox", "lowercase"),
            ("busybox:", "start and end"),
            ("a b", "whitespace"),
            ("busy//box", "repository component"),
            ("busybox@sha256:zz", "digest"),
            ("busybox:-x", "tag"),
        ] {
            let e = ImageName::parse(name).unwrap_err().to_string();
            assert!(e.contains(name) && e.contains(why), "{name}: {e}");
        }
    }
}
