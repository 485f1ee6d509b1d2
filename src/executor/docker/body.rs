//! A [`StepSpec`] as a Docker API container definition.
//!
//! The step's process is exactly its argv (no entrypoint, no shell), with
//! its env, cwd, user and hostname; no TTY, stdin closed, stdout and stderr
//! attached (so they arrive multiplexed and are told apart). Mounts use the
//! `Mounts` API, which refuses a missing bind source instead of creating it
//! as `Binds` would. Every container carries [`STEP_LABEL`] with the step's
//! name, which is how `prune` and the tests find leftovers.
//!
//! Docker always puts `HOSTNAME` in the environment, and `PATH` and `HOME`
//! when the step's env does not set them (moby `CreateDaemonEnvironment`);
//! Podman adds `HOSTNAME`, `container=podman` and `HOME` likewise. Nothing
//! in the API turns that off, so a step that records its whole environment
//! sees those extra variables under these backends.

use std::collections::HashMap;

use bollard::models::{ContainerCreateBody, HostConfig, Mount as ApiMount, MountTmpfsOptions, MountType};

use crate::executor::{Mount, Network, StepSpec};

/// Label on every step container; its value is the step's name.
pub const STEP_LABEL: &str = "org.strata.step";
/// Label on step containers and temporary commits: `<hostname>/<pid>` of
/// the strata process that made them, so `prune` leaves a live process's
/// objects alone.
pub const OWNER_LABEL: &str = "org.strata.owner";

// The owner value and its liveness, shared with the containerd executor.
pub(crate) use crate::executor::{owner, owner_alive};

/// The container for `spec`, started from the image `image` (an ID).
pub(crate) fn container_body(spec: &StepSpec, image: &str) -> ContainerCreateBody {
    let network = match spec.network {
        Network::None => "none",
        Network::Host => "host",
        Network::Bridge => "bridge",
    };
    let mounts = spec
        .mounts
        .iter()
        .map(|m| match m {
            Mount::Bind { source, destination, read_only } => ApiMount {
                target: Some(destination.clone()),
                source: Some(source.to_string_lossy().into_owned()),
                typ: Some(MountType::BIND),
                read_only: Some(*read_only),
                ..Default::default()
            },
            Mount::Tmpfs { destination, size_bytes } => ApiMount {
                target: Some(destination.clone()),
                typ: Some(MountType::TMPFS),
                tmpfs_options: size_bytes.map(|s| MountTmpfsOptions {
                    size_bytes: Some(i64::try_from(s).unwrap_or(i64::MAX)),
                    ..Default::default()
                }),
                ..Default::default()
            },
        })
        .collect();
    ContainerCreateBody {
        image: Some(image.to_owned()),
        cmd: Some(spec.argv.clone()),
        env: Some(environment(spec)),
        working_dir: Some(spec.cwd.clone()),
        user: Some(spec.user.clone()),
        hostname: (!spec.hostname.is_empty()).then(|| spec.hostname.clone()),
        tty: Some(false),
        attach_stdin: Some(false),
        open_stdin: Some(false),
        stdin_once: Some(false),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        labels: Some(HashMap::from([(STEP_LABEL.to_owned(), spec.name.clone()), (OWNER_LABEL.to_owned(), owner())])),
        host_config: Some(HostConfig {
            network_mode: Some(network.to_owned()),
            mounts: Some(mounts),
            auto_remove: Some(false),
            init: Some(false),
            memory: spec.limits.memory.map(|b| i64::try_from(b).unwrap_or(i64::MAX)),
            memory_swap: spec.limits.memory.map(|b| i64::try_from(b).unwrap_or(i64::MAX)),
            pids_limit: spec.limits.pids,
            security_opt: (spec.limits.seccomp == crate::executor::seccomp::Seccomp::Unconfined)
                .then(|| vec!["seccomp=unconfined".to_owned()]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The step's environment as the runc backend gives it (its `HOME`
/// default included: `/root` for uid 0, else `/`), so the daemons' own
/// `HOME` rules — from the image's `/etc/passwd`, or Podman's generated
/// entry — do not apply.
fn environment(spec: &StepSpec) -> Vec<String> {
    let mut env = spec.env.clone();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        let root = crate::executor::spec::parse_user(&spec.user).is_ok_and(|(uid, _)| uid == 0);
        env.push(format!("HOME={}", if root { "/root" } else { "/" }));
    }
    env
}

/// A container name for `step`: readable in `docker ps`, unique per run.
pub(crate) fn container_name(step: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut clean: String = step
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') { c } else { '-' })
        .take(40)
        .collect();
    if clean.is_empty() {
        clean.push_str("step");
    }
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("strata-{clean}-{}-{n}-{nanos:08x}", std::process::id())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_step_maps_field_by_field() {
        let mut spec = StepSpec::new("hello:build", Vec::new(), vec!["sh".into(), "-c".into(), "true".into()]);
        spec.env.push("A=1".into());
        spec.cwd = "/root/project".into();
        spec.user = "1000:1000".into();
        spec.network = Network::Host;
        spec.timeout = Some(Duration::from_secs(5));
        spec.mounts = vec![
            Mount::Bind { source: "/src".into(), destination: "/root/project".into(), read_only: true },
            Mount::Tmpfs { destination: "/tmp".into(), size_bytes: Some(1 << 20) },
        ];
        let b = container_body(&spec, "sha256:abc");
        assert_eq!(b.image.as_deref(), Some("sha256:abc"));
        assert_eq!(b.cmd.as_deref(), Some(&spec.argv[..]));
        assert_eq!(b.entrypoint, None);
        assert_eq!(b.env.as_ref().unwrap()[1..], ["A=1", "HOME=/"]);
        assert_eq!(b.working_dir.as_deref(), Some("/root/project"));
        assert_eq!(b.user.as_deref(), Some("1000:1000"));
        assert_eq!(b.hostname.as_deref(), Some("strata"));
        assert_eq!(
            (b.tty, b.open_stdin, b.attach_stdout, b.attach_stderr),
            (Some(false), Some(false), Some(true), Some(true))
        );
        assert_eq!(b.labels.as_ref().unwrap()[STEP_LABEL], "hello:build");
        let hc = b.host_config.unwrap();
        assert_eq!(hc.network_mode.as_deref(), Some("host"));
        let m = hc.mounts.unwrap();
        assert_eq!(m[0].typ, Some(MountType::BIND));
        assert_eq!((m[0].source.as_deref(), m[0].read_only), (Some("/src"), Some(true)));
        assert_eq!(m[1].typ, Some(MountType::TMPFS));
        assert_eq!(m[1].tmpfs_options.as_ref().unwrap().size_bytes, Some(1 << 20));
    }

    #[test]
    fn owners_are_this_host_and_pid() {
        let me = owner();
        assert_eq!(owner_alive(&me), Some(true));
        assert!(me.ends_with(&format!("/{}", std::process::id())));
        let host = me.rsplit_once('/').unwrap().0;
        assert_eq!(owner_alive(&format!("{host}/4294967295")), Some(false));
        assert_eq!(owner_alive("elsewhere.invalid/1"), None);
    }

    #[test]
    fn container_names_are_valid_and_distinct() {
        let a = container_name("hello:build/π");
        let b = container_name("hello:build/π");
        assert_ne!(a, b);
        assert!(a.starts_with("strata-hello-build--"), "{a}");
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')), "{a}");
        assert!(container_name("").starts_with("strata-step-"));
    }
}
