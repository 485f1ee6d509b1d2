//! Where an import comes from, in skopeo's transport syntax:
//! `oci-archive:PATH[:REF]`, `oci:PATH[:REF]`, `docker-archive:PATH[:REF]`,
//! `docker-daemon:IMAGE`, and `rootfs:PATH` for a plain root-filesystem
//! tarball (compressed or not). As in skopeo, `PATH:REF` splits at the first
//! colon, so paths containing ':' cannot be named this way.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use super::ImportError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportSource {
    /// A tar of an OCI image layout; `reference` picks an image by its
    /// `org.opencontainers.image.ref.name` (or `io.containerd.image.name`).
    OciArchive { path: PathBuf, reference: Option<String> },
    /// An OCI image layout directory.
    OciDir { path: PathBuf, reference: Option<String> },
    /// `docker save` output (legacy or Docker ≥ 25); `reference` picks an
    /// image by one of its `RepoTags`.
    DockerArchive { path: PathBuf, reference: Option<String> },
    /// An image in a running Docker (or Podman) daemon, through `docker save`.
    DockerDaemon { image: String, host: Option<String> },
    /// A root filesystem tarball, made into a one-layer image.
    RootfsTar { path: PathBuf },
}

impl ImportSource {
    /// The name the image would naturally get: the reference or image given
    /// in the source, if any.
    pub fn default_name(&self) -> Option<String> {
        match self {
            ImportSource::OciArchive { reference, .. }
            | ImportSource::OciDir { reference, .. }
            | ImportSource::DockerArchive { reference, .. } => reference.clone(),
            ImportSource::DockerDaemon { image, .. } => Some(image.clone()),
            ImportSource::RootfsTar { .. } => None,
        }
    }
}

impl fmt::Display for ImportSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let with_ref = |f: &mut fmt::Formatter<'_>, t: &str, p: &PathBuf, r: &Option<String>| {
            write!(f, "{t}:{}", p.display())?;
            match r {
                Some(r) => write!(f, ":{r}"),
                None => Ok(()),
            }
        };
        match self {
            ImportSource::OciArchive { path, reference } => with_ref(f, "oci-archive", path, reference),
            ImportSource::OciDir { path, reference } => with_ref(f, "oci", path, reference),
            ImportSource::DockerArchive { path, reference } => with_ref(f, "docker-archive", path, reference),
            ImportSource::DockerDaemon { image, .. } => write!(f, "docker-daemon:{image}"),
            ImportSource::RootfsTar { path } => write!(f, "rootfs:{}", path.display()),
        }
    }
}

const EXAMPLES: &str = "expected oci-archive:PATH[:REF], oci:PATH[:REF], docker-archive:PATH[:REF], \
                        docker-daemon:IMAGE or rootfs:PATH";

impl FromStr for ImportSource {
    type Err = ImportError;

    fn from_str(s: &str) -> Result<Self, ImportError> {
        let bad = |reason: String| ImportError::BadSource { input: s.to_owned(), reason };
        let Some((transport, rest)) = s.split_once(':') else {
            let reason = if s.trim().is_empty() { "it is empty".to_owned() } else { "no transport given".to_owned() };
            return Err(bad(format!("{reason}; {EXAMPLES}")));
        };
        let path_ref = |rest: &str| -> Result<(PathBuf, Option<String>), ImportError> {
            let (path, reference) = match rest.split_once(':') {
                Some((p, r)) => (p, Some(r)),
                None => (rest, None),
            };
            if path.is_empty() {
                return Err(bad(format!("{transport}: needs a path, e.g. {transport}:image.tar")));
            }
            if reference == Some("") {
                return Err(bad("the reference after the path is empty; drop the trailing ':'".into()));
            }
            Ok((PathBuf::from(path), reference.map(str::to_owned)))
        };
        match transport {
            "oci-archive" => path_ref(rest).map(|(path, reference)| ImportSource::OciArchive { path, reference }),
            "oci" => path_ref(rest).map(|(path, reference)| ImportSource::OciDir { path, reference }),
            "docker-archive" => path_ref(rest).map(|(path, reference)| ImportSource::DockerArchive { path, reference }),
            "docker-daemon" => {
                if rest.is_empty() {
                    return Err(bad("docker-daemon: needs an image, e.g. docker-daemon:busybox:latest".into()));
                }
                Ok(ImportSource::DockerDaemon { image: rest.to_owned(), host: None })
            }
            "rootfs" => {
                if rest.is_empty() {
                    return Err(bad("rootfs: needs a path, e.g. rootfs:rootfs.tar.gz".into()));
                }
                Ok(ImportSource::RootfsTar { path: PathBuf::from(rest) })
            }
            "docker" => Err(bad(
                "pulling from a registry is `strata pull`; for an image in the local daemon use docker-daemon:IMAGE"
                    .into(),
            )),
            other => Err(bad(format!("unknown transport '{other}'; {EXAMPLES}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> ImportSource {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn skopeo_transports() {
        assert_eq!(ok("oci-archive:img.tar"), ImportSource::OciArchive { path: "img.tar".into(), reference: None });
        assert_eq!(
            ok("oci-archive:/x/img.tar:latest"),
            ImportSource::OciArchive { path: "/x/img.tar".into(), reference: Some("latest".into()) }
        );
        assert_eq!(ok("oci:layout:v1"), ImportSource::OciDir { path: "layout".into(), reference: Some("v1".into()) });
        assert_eq!(
            ok("docker-archive:save.tar:busybox:latest"),
            ImportSource::DockerArchive { path: "save.tar".into(), reference: Some("busybox:latest".into()) }
        );
        assert_eq!(
            ok("docker-daemon:busybox:1.36"),
            ImportSource::DockerDaemon { image: "busybox:1.36".into(), host: None }
        );
        assert_eq!(ok("rootfs:root.tar.gz"), ImportSource::RootfsTar { path: "root.tar.gz".into() });
    }

    #[test]
    fn display_round_trips() {
        for s in ["oci-archive:a.tar:v1", "oci:d", "docker-archive:b.tar:x:y", "docker-daemon:busybox", "rootfs:r.tar"]
        {
            assert_eq!(ok(s).to_string(), s);
        }
    }

    #[test]
    fn default_names() {
        assert_eq!(ok("docker-archive:b.tar:busybox:1").default_name().as_deref(), Some("busybox:1"));
        assert_eq!(ok("oci:d").default_name(), None);
        assert_eq!(ok("rootfs:r.tar").default_name(), None);
    }

    #[test]
    fn invalid_sources_say_what_is_wrong() {
        for (input, says) in [
            ("", "empty"),
            ("img.tar", "no transport"),
            ("zip:a.zip", "unknown transport 'zip'"),
            ("oci-archive:", "needs a path"),
            ("oci::latest", "needs a path"),
            ("oci-archive:a.tar:", "reference after the path is empty"),
            ("docker-daemon:", "needs an image"),
            ("rootfs:", "needs a path"),
            ("docker://busybox", "strata pull"),
        ] {
            let e = input.parse::<ImportSource>().unwrap_err().to_string();
            assert!(e.contains(says), "{input:?}: {e}");
            assert!(e.contains(&format!("'{input}'")), "the message names the input: {e}");
        }
    }
}
