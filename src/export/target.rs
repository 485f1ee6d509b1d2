//! Where an export goes, parsed from the two syntaxes users already know:
//! skopeo's transports (`oci-archive:PATH`, `oci:PATH`, `docker-archive:PATH`,
//! `docker-daemon:`, `podman:`) and BuildKit's `--output` (`type=oci,dest=PATH`,
//! `type=docker,dest=PATH`, `type=oci-dir,dest=PATH`, `type=docker` without a
//! dest — load into Docker, as `docker buildx` does — `type=docker-daemon`,
//! `type=podman`, each daemon with an optional `host=`).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use super::ExportError;

/// Which daemon speaks the Docker API at the other end of the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DaemonKind {
    Docker,
    Podman,
}

impl fmt::Display for DaemonKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DaemonKind::Docker => "docker",
            DaemonKind::Podman => "podman",
        })
    }
}

/// An export destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportTarget {
    /// A tar of an OCI image layout (`skopeo copy … oci-archive:PATH`).
    OciArchive(PathBuf),
    /// An OCI image layout directory; other images already in it are kept.
    OciDir(PathBuf),
    /// `docker save` output as Docker ≥ 25 writes it: an OCI layout plus
    /// `manifest.json` and `repositories` for older loaders.
    DockerArchive(PathBuf),
    /// `docker load` into a running daemon through its API socket.
    Daemon { kind: DaemonKind, host: Option<String> },
}

impl fmt::Display for ExportTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportTarget::OciArchive(p) => write!(f, "oci-archive:{}", p.display()),
            ExportTarget::OciDir(p) => write!(f, "oci:{}", p.display()),
            ExportTarget::DockerArchive(p) => write!(f, "docker-archive:{}", p.display()),
            // Without a host, skopeo's spelling; with one, BuildKit's (the
            // only syntax that can say it). Either parses back.
            ExportTarget::Daemon { kind: DaemonKind::Docker, host: None } => f.write_str("docker-daemon:"),
            ExportTarget::Daemon { kind: DaemonKind::Podman, host: None } => f.write_str("podman:"),
            ExportTarget::Daemon { kind: DaemonKind::Docker, host: Some(h) } => {
                write!(f, "type=docker-daemon,host={h}")
            }
            ExportTarget::Daemon { kind: DaemonKind::Podman, host: Some(h) } => write!(f, "type=podman,host={h}"),
        }
    }
}

const EXAMPLES: &str = "expected oci-archive:PATH, oci:PATH, docker-archive:PATH, docker-daemon:, podman:, \
     or BuildKit's type=oci|oci-dir|docker,dest=PATH, type=docker, type=docker-daemon, type=podman";

fn bad(input: &str, reason: impl Into<String>) -> ExportError {
    ExportError::BadTarget { input: input.to_owned(), reason: reason.into() }
}

impl FromStr for ExportTarget {
    type Err = ExportError;

    fn from_str(s: &str) -> Result<Self, ExportError> {
        if s.trim().is_empty() {
            return Err(bad(s, format!("it is empty; {EXAMPLES}")));
        }
        if s.starts_with("type=") {
            return parse_buildkit(s);
        }
        parse_skopeo(s)
    }
}

fn parse_skopeo(s: &str) -> Result<ExportTarget, ExportError> {
    let (transport, rest) = s.split_once(':').unwrap_or((s, ""));
    let path = |rest: &str| -> Result<PathBuf, ExportError> {
        if rest.is_empty() {
            return Err(bad(s, format!("{transport}: needs a path, e.g. {transport}:image.tar")));
        }
        // skopeo splits `PATH:REF` at the first colon; here the name being
        // exported gives the tag, so a second field would be silently ignored.
        if rest.contains(':') {
            return Err(bad(
                s,
                "a ':REF' after the path is not taken here (the image name gives the tag), \
                 and paths containing ':' are not supported, as in skopeo",
            ));
        }
        Ok(PathBuf::from(rest))
    };
    let daemon = |kind| {
        if rest.is_empty() {
            Ok(ExportTarget::Daemon { kind, host: None })
        } else {
            Err(bad(
                s,
                format!(
                    "nothing may follow '{transport}:' (the image is loaded under the name being exported; \
                     use type={kind},host=ADDR to pick a socket)"
                ),
            ))
        }
    };
    match transport {
        "oci-archive" => Ok(ExportTarget::OciArchive(path(rest)?)),
        "oci" => Ok(ExportTarget::OciDir(path(rest)?)),
        "docker-archive" => Ok(ExportTarget::DockerArchive(path(rest)?)),
        "docker-daemon" | "docker" => daemon(DaemonKind::Docker),
        "podman" => daemon(DaemonKind::Podman),
        "docker-registry" | "registry" => Err(bad(s, "pushing to a registry is `strata push`, not an export")),
        _ if !s.contains(':') => Err(bad(s, format!("no transport given; {EXAMPLES}"))),
        other => Err(bad(s, format!("unknown transport '{other}'; {EXAMPLES}"))),
    }
}

fn parse_buildkit(s: &str) -> Result<ExportTarget, ExportError> {
    let mut typ = None;
    let mut dest = None;
    let mut host = None;
    for field in s.split(',') {
        let (k, v) = field
            .split_once('=')
            .ok_or_else(|| bad(s, format!("'{field}' is not key=value; fields are type=, dest= and host=")))?;
        let slot = match k.trim() {
            "type" => &mut typ,
            "dest" => &mut dest,
            "host" => &mut host,
            other => {
                let hint = if other == "name" { "; the image name comes from the image being exported" } else { "" };
                return Err(bad(s, format!("unknown key '{other}' (accepted: type, dest, host){hint}")));
            }
        };
        if slot.is_some() {
            return Err(bad(s, format!("'{k}' is given twice")));
        }
        if v.is_empty() {
            return Err(bad(s, format!("'{k}=' has no value")));
        }
        *slot = Some(v.to_owned());
    }
    let typ = typ.expect("the input starts with type=");
    let need_dest =
        |dest: Option<String>| dest.map(PathBuf::from).ok_or_else(|| bad(s, format!("type={typ} needs dest=PATH")));
    let no = |what: &str, v: &Option<String>| match v {
        Some(_) => Err(bad(s, format!("type={typ} takes no {what}="))),
        None => Ok(()),
    };
    match typ.as_str() {
        "oci" => {
            no("host", &host)?;
            Ok(ExportTarget::OciArchive(need_dest(dest)?))
        }
        "oci-dir" => {
            no("host", &host)?;
            Ok(ExportTarget::OciDir(need_dest(dest)?))
        }
        "docker" if dest.is_some() => {
            no("host", &host)?;
            Ok(ExportTarget::DockerArchive(need_dest(dest)?))
        }
        "docker" | "docker-daemon" => {
            no("dest", &dest)?;
            Ok(ExportTarget::Daemon { kind: DaemonKind::Docker, host })
        }
        "podman" => {
            no("dest", &dest)?;
            Ok(ExportTarget::Daemon { kind: DaemonKind::Podman, host })
        }
        "local" | "tar" => Err(bad(
            s,
            format!("type={typ} writes a root filesystem, not an image; use type=oci-dir,dest=PATH for an OCI layout"),
        )),
        "image" | "registry" => Err(bad(s, "pushing to a registry is `strata push`, not an export")),
        other => Err(bad(s, format!("unknown type '{other}'; {EXAMPLES}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> ExportTarget {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn skopeo_syntax() {
        assert_eq!(ok("oci-archive:out.tar"), ExportTarget::OciArchive("out.tar".into()));
        assert_eq!(ok("oci:/tmp/layout"), ExportTarget::OciDir("/tmp/layout".into()));
        assert_eq!(ok("docker-archive:img.tar"), ExportTarget::DockerArchive("img.tar".into()));
        let docker = ExportTarget::Daemon { kind: DaemonKind::Docker, host: None };
        assert_eq!(ok("docker-daemon:"), docker);
        assert_eq!(ok("docker:"), docker);
        assert_eq!(ok("podman:"), ExportTarget::Daemon { kind: DaemonKind::Podman, host: None });
    }

    #[test]
    fn buildkit_syntax() {
        assert_eq!(ok("type=oci,dest=out.tar"), ExportTarget::OciArchive("out.tar".into()));
        assert_eq!(ok("type=oci-dir,dest=layout"), ExportTarget::OciDir("layout".into()));
        assert_eq!(ok("type=docker,dest=img.tar"), ExportTarget::DockerArchive("img.tar".into()));
        assert_eq!(ok("type=docker"), ExportTarget::Daemon { kind: DaemonKind::Docker, host: None });
        assert_eq!(
            ok("type=docker-daemon,host=unix:///run/d.sock"),
            ExportTarget::Daemon { kind: DaemonKind::Docker, host: Some("unix:///run/d.sock".into()) }
        );
        assert_eq!(ok("type=podman"), ExportTarget::Daemon { kind: DaemonKind::Podman, host: None });
    }

    #[test]
    fn display_round_trips_for_paths() {
        for s in [
            "oci-archive:a.tar",
            "oci:dir",
            "docker-archive:b.tar",
            "docker-daemon:",
            "podman:",
            "type=docker-daemon,host=unix:///d.sock",
            "type=podman,host=tcp://h:1",
        ] {
            assert_eq!(ok(s).to_string(), s);
        }
    }

    #[test]
    fn invalid_targets_say_what_is_wrong() {
        for (input, says) in [
            ("", "empty"),
            ("out.tar", "no transport"),
            ("zip:out.zip", "unknown transport 'zip'"),
            ("oci-archive:", "needs a path"),
            ("oci-archive:out.tar:latest", "':REF'"),
            ("docker-daemon:busybox", "nothing may follow"),
            ("type=oci", "needs dest=PATH"),
            ("type=oci,dest=a,dest=b", "twice"),
            ("type=docker,name=x", "unknown key 'name'"),
            ("type=local,dest=out", "root filesystem"),
            ("type=registry", "strata push"),
            ("type=podman,dest=x", "takes no dest="),
            ("type=oci,dest", "not key=value"),
            ("type=wat", "unknown type 'wat'"),
        ] {
            let e = input.parse::<ExportTarget>().unwrap_err().to_string();
            assert!(e.contains(says), "{input:?}: {e}");
            assert!(e.contains(&format!("'{input}'")), "the message names the input: {e}");
        }
    }
}
