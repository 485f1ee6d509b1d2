//! The OCI runtime spec every backend starts from, built with `oci-spec`'s
//! runtime types: [`runtime_spec`] for the container, [`etc_mounts`] for the
//! per-step `/etc/hosts` and `/etc/hostname`, and [`mount_points`] for what
//! the root filesystem must hold before the runtime mounts anything.
//!
//! What a step gets, as Docker gives a `docker run` (moby's
//! `oci/defaults.go`), so the same step behaves the same on every backend:
//!
//! - namespaces: pid, ipc, uts, mount, and network unless the step asks for
//!   the host's (then `/etc/resolv.conf` is the host's, bound read-only). No
//!   user namespace (steps run as real root, like Docker's default); no
//!   cgroup namespace (Docker's default on cgroup v1).
//! - `/proc`, `/dev` (tmpfs; the runtime creates the standard device
//!   nodes), `/dev/pts`, `/dev/shm`, `/dev/mqueue`, `/sys` read-only.
//! - Docker's default capabilities ([`DEFAULT_CAPABILITIES`]), masked paths
//!   ([`MASKED_PATHS`]) and read-only paths ([`READONLY_PATHS`]);
//!   `noNewPrivileges`; all devices denied in the device cgroup except the
//!   runtime's defaults.
//! - the step's memory (swap included) and pids limits in its cgroup when
//!   the build sets them (`--memory`, `--pids-limit`: [`super::Limits`]).
//! - `RLIMIT_NOFILE` at the caller's own hard limit (capped at 2^20): a step
//!   never asks for more than strata may grant without `CAP_SYS_RESOURCE`.
//! - the step's argv, env (plus `HOME` if it has none: `/root` for uid 0,
//!   else `/`, Docker's fallback), cwd, numeric `uid[:gid]` (gid 0 if
//!   omitted, as Docker does for a uid without a passwd entry; no
//!   supplementary groups), hostname, and bind/tmpfs mounts.
//!
//! - the seccomp filter of [`super::seccomp`] (Docker's default refusals),
//!   unless the build says `--security-opt seccomp=unconfined`.
//!
//! Not applied: AppArmor and SELinux labels.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    Capability, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxDeviceCgroupBuilder, LinuxMemoryBuilder,
    LinuxNamespaceBuilder, LinuxNamespaceType, LinuxPidsBuilder, LinuxResourcesBuilder, Mount as OciMount,
    MountBuilder, PosixRlimitBuilder, PosixRlimitType, ProcessBuilder, RootBuilder, Spec, SpecBuilder, UserBuilder,
};

use super::{ExecError, Mount, Network, StepSpec};
use crate::snapshot::MountPoint;

/// Docker's default capability set.
pub const DEFAULT_CAPABILITIES: [Capability; 14] = [
    Capability::AuditWrite,
    Capability::Chown,
    Capability::DacOverride,
    Capability::Fowner,
    Capability::Fsetid,
    Capability::Kill,
    Capability::Mknod,
    Capability::NetBindService,
    Capability::NetRaw,
    Capability::Setfcap,
    Capability::Setgid,
    Capability::Setpcap,
    Capability::Setuid,
    Capability::SysChroot,
];

/// Docker's default masked paths (bind-mounted over with /dev/null or an
/// empty read-only tmpfs).
pub const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Docker's default read-only paths.
pub const READONLY_PATHS: &[&str] = &["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// Highest `RLIMIT_NOFILE` a step gets (Docker's usual default).
const MAX_NOFILE: u64 = 1 << 20;

/// Parses a numeric `uid[:gid]`; the gid defaults to 0.
pub fn parse_user(user: &str) -> Result<(u32, u32), String> {
    let (uid, gid) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let num = |s: &str, what: &str| {
        s.parse::<u32>()
            .map_err(|_| format!("user '{user}': the {what} must be a number (strata does not resolve names)"))
    };
    Ok((num(uid, "uid")?, gid.map(|g| num(g, "gid")).transpose()?.unwrap_or(0)))
}

fn invalid(step: &StepSpec, reason: impl Into<String>) -> ExecError {
    ExecError::InvalidStep { step: step.name.clone(), reason: reason.into() }
}

fn mount(destination: &str, typ: &str, source: impl Into<PathBuf>, options: &[&str]) -> OciMount {
    MountBuilder::default()
        .destination(destination)
        .typ(typ)
        .source(source.into())
        .options(options.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .build()
        .expect("every mount field is set")
}

/// The caller's hard `RLIMIT_NOFILE`, capped at 2^20.
fn nofile_limit() -> u64 {
    let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: a valid out-pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return 1024;
    }
    r.rlim_max.min(MAX_NOFILE)
}

/// Checks what [`runtime_spec`] cannot express: a command, an absolute
/// working directory, `KEY=value` env entries, a numeric user, absolute
/// mount paths without `..`, and a network this spec can give.
pub fn validate(step: &StepSpec) -> Result<(), ExecError> {
    if step.argv.is_empty() {
        return Err(invalid(step, "the command is empty"));
    }
    if !step.cwd.starts_with('/') {
        return Err(invalid(step, format!("the working directory '{}' must be absolute", step.cwd)));
    }
    if let Some(bad) = step.env.iter().find(|e| !e.contains('=') || e.starts_with('=')) {
        return Err(invalid(step, format!("environment entry '{bad}' is not KEY=value")));
    }
    parse_user(&step.user).map_err(|e| invalid(step, e))?;
    for m in &step.mounts {
        let dest = match m {
            Mount::Bind { destination, .. } | Mount::Tmpfs { destination, .. } => destination,
        };
        if !dest.starts_with('/') || dest.split('/').any(|c| c == "..") {
            return Err(invalid(step, format!("mount destination '{dest}' must be absolute, without '..'")));
        }
        if let Mount::Bind { source, .. } = m
            && !source.is_absolute()
        {
            return Err(invalid(step, format!("bind source '{}' must be absolute", source.display())));
        }
    }
    if step.network == Network::Bridge {
        return Err(invalid(step, "a bridge network needs a backend that has one (docker); use none or host"));
    }
    Ok(())
}

/// [`validate`], then [`runtime_spec`].
pub fn try_runtime_spec(step: &StepSpec, rootfs: &Path) -> Result<Spec, ExecError> {
    validate(step)?;
    Ok(runtime_spec(step, rootfs))
}

/// The OCI runtime spec for `step` over the root filesystem at `rootfs`
/// (see the module docs for what it contains). Backends add their own
/// details (cgroups path, the per-step files of [`etc_mounts`]).
///
/// # Panics
///
/// If [`validate`] refuses `step` (a non-numeric user): call it first, or
/// use [`try_runtime_spec`]. A bridge network is given none (the caller's
/// own networking applies).
pub fn runtime_spec(step: &StepSpec, rootfs: &Path) -> Spec {
    let (uid, gid) = match parse_user(&step.user) {
        Ok(ids) => ids,
        Err(e) => panic!("runtime_spec on an unvalidated step {}: {e}", step.name),
    };
    let mut env = step.env.clone();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", if uid == 0 { "/root" } else { "/" }));
    }
    let caps: HashSet<Capability> = DEFAULT_CAPABILITIES.into_iter().collect();
    let capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(caps.clone())
        .effective(caps.clone())
        .permitted(caps)
        .inheritable(HashSet::new())
        .ambient(HashSet::new())
        .build()
        .expect("capability sets are set");
    let nofile = nofile_limit();
    let process = ProcessBuilder::default()
        .terminal(false)
        .user(UserBuilder::default().uid(uid).gid(gid).build().expect("ids are set"))
        .args(step.argv.clone())
        .env(env)
        .cwd(&step.cwd)
        .capabilities(capabilities)
        .rlimits(vec![
            PosixRlimitBuilder::default()
                .typ(PosixRlimitType::RlimitNofile)
                .hard(nofile)
                .soft(nofile)
                .build()
                .expect("limits are set"),
        ])
        .no_new_privileges(true)
        .build()
        .expect("process fields are set");

    let mut mounts = vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mount("/dev", "tmpfs", "tmpfs", &["nosuid", "strictatime", "mode=755", "size=65536k"]),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        ),
        mount("/dev/shm", "tmpfs", "shm", &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
        mount("/dev/mqueue", "mqueue", "mqueue", &["nosuid", "noexec", "nodev"]),
        mount("/sys", "sysfs", "sysfs", &["nosuid", "noexec", "nodev", "ro"]),
    ];
    for m in &step.mounts {
        mounts.push(match m {
            Mount::Bind { source, destination, read_only } => {
                mount(destination, "bind", source, &["rbind", "rprivate", if *read_only { "ro" } else { "rw" }])
            }
            Mount::Tmpfs { destination, size_bytes } => {
                let size = size_bytes.map(|s| format!("size={s}"));
                let mut opts = vec!["nosuid", "nodev", "mode=1777"];
                opts.extend(size.as_deref());
                mount(destination, "tmpfs", "tmpfs", &opts)
            }
        });
    }
    let mut namespaces =
        vec![LinuxNamespaceType::Pid, LinuxNamespaceType::Ipc, LinuxNamespaceType::Uts, LinuxNamespaceType::Mount];
    match step.network {
        Network::None => namespaces.push(LinuxNamespaceType::Network),
        Network::Host => {
            if Path::new("/etc/resolv.conf").exists() {
                mounts.push(mount("/etc/resolv.conf", "bind", "/etc/resolv.conf", &["rbind", "rprivate", "ro"]));
            }
        }
        Network::Bridge => {}
    }
    let namespaces: Vec<_> =
        namespaces.into_iter().map(|t| LinuxNamespaceBuilder::default().typ(t).build().expect("type is set")).collect();
    let mut resources = LinuxResourcesBuilder::default()
        .devices(vec![LinuxDeviceCgroupBuilder::default().allow(false).access("rwm").build().expect("rule is set")]);
    if let Some(bytes) = step.limits.memory {
        let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
        resources = resources
            .memory(LinuxMemoryBuilder::default().limit(bytes).swap(bytes).build().expect("memory limits are set"));
    }
    if let Some(n) = step.limits.pids {
        resources = resources.pids(LinuxPidsBuilder::default().limit(n).build().expect("the pids limit is set"));
    }
    let resources = resources.build().expect("resources are set");
    let linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .masked_paths(MASKED_PATHS.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .readonly_paths(READONLY_PATHS.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .resources(resources);
    let linux = match step.limits.seccomp {
        super::seccomp::Seccomp::Default => linux.seccomp(super::seccomp::profile()),
        super::seccomp::Seccomp::Unconfined => linux,
    };
    let linux = linux.build().expect("linux fields are set");
    SpecBuilder::default()
        .version("1.0.2")
        .root(RootBuilder::default().path(rootfs).readonly(false).build().expect("root is set"))
        .hostname(step.hostname.clone())
        .process(process)
        .mounts(mounts)
        .linux(linux)
        .build()
        .expect("spec fields are set")
}

/// Writes the step's `hosts` and `hostname` files into `dir` (its temp dir)
/// and returns the bind mounts that put them at `/etc/hosts` and
/// `/etc/hostname`, writable and thrown away with the step, as Docker does.
/// With the host network, `hosts` is a copy of the host's.
pub fn etc_mounts(dir: &Path, step: &StepSpec) -> io::Result<Vec<OciMount>> {
    let hosts = match step.network {
        Network::Host => fs::read_to_string("/etc/hosts").ok(),
        _ => None,
    }
    .unwrap_or_else(|| {
        format!("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{}\n", step.hostname)
    });
    fs::write(dir.join("hosts"), hosts)?;
    fs::write(dir.join("hostname"), format!("{}\n", step.hostname))?;
    Ok(vec![
        mount("/etc/hosts", "bind", dir.join("hosts"), &["rbind", "rprivate", "rw"]),
        mount("/etc/hostname", "bind", dir.join("hostname"), &["rbind", "rprivate", "rw"]),
    ])
}

/// The mount points `spec` needs in the root filesystem itself: every mount
/// destination not inside an earlier mount (`/dev/pts` lives in `/dev`'s
/// tmpfs), as a file for binds of files.
pub fn mount_points(spec: &Spec) -> Vec<MountPoint> {
    let mut seen: Vec<PathBuf> = Vec::new();
    let mut out = Vec::new();
    for m in spec.mounts().iter().flatten() {
        let dest = m.destination();
        let inside = seen.iter().any(|s| dest != s && dest.starts_with(s));
        seen.push(dest.clone());
        if inside || dest == Path::new("/") {
            continue;
        }
        let file = m.typ().as_deref() == Some("bind")
            && m.source().as_ref().is_some_and(|s| fs::metadata(s).is_ok_and(|md| !md.is_dir()));
        out.push(MountPoint { path: dest.clone(), file });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step() -> StepSpec {
        let mut s = StepSpec::new("t:build", Vec::new(), vec!["make".into()]);
        s.cwd = "/root/parts/t/build".into();
        s.user = "1000:1001".into();
        s
    }

    #[test]
    fn users_are_numeric_with_gid_0_by_default() {
        assert_eq!(parse_user("0").unwrap(), (0, 0));
        assert_eq!(parse_user("1000:100").unwrap(), (1000, 100));
        assert!(parse_user("nobody").unwrap_err().contains("must be a number"));
        assert!(parse_user("1:x").is_err());
    }

    #[test]
    fn the_spec_is_dockers_default_container() {
        let spec = try_runtime_spec(&step(), Path::new("/tmp/rootfs")).unwrap();
        let json = serde_json::to_value(&spec).unwrap();
        let p = &json["process"];
        assert_eq!(p["args"], serde_json::json!(["make"]));
        assert_eq!(p["cwd"], "/root/parts/t/build");
        assert_eq!(p["user"]["uid"], 1000);
        assert_eq!(p["user"]["gid"], 1001);
        assert_eq!(p["noNewPrivileges"], true);
        assert!(p["env"].as_array().unwrap().contains(&"HOME=/".into()));
        let mut caps: Vec<&str> =
            p["capabilities"]["bounding"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
        caps.sort();
        assert_eq!(caps.len(), 14);
        assert!(caps.contains(&"CAP_NET_RAW") && !caps.contains(&"CAP_SYS_ADMIN"));
        assert_eq!(p["capabilities"]["inheritable"], serde_json::json!([]));
        assert_eq!(p["capabilities"]["ambient"], serde_json::json!([]));
        assert_eq!(p["rlimits"][0]["type"], "RLIMIT_NOFILE");
        assert!(p["rlimits"][0]["hard"].as_u64().unwrap() <= nofile_limit());
        assert_eq!(json["root"]["path"], "/tmp/rootfs");
        assert_eq!(json["hostname"], "strata");
        let ns: Vec<&str> =
            json["linux"]["namespaces"].as_array().unwrap().iter().map(|n| n["type"].as_str().unwrap()).collect();
        assert_eq!(ns, ["pid", "ipc", "uts", "mount", "network"]);
        assert!(json["linux"]["maskedPaths"].as_array().unwrap().contains(&"/proc/kcore".into()));
        assert!(json["linux"]["readonlyPaths"].as_array().unwrap().contains(&"/proc/sys".into()));
        let sys = json["mounts"].as_array().unwrap().iter().find(|m| m["destination"] == "/sys").unwrap();
        assert!(sys["options"].as_array().unwrap().contains(&"ro".into()));
        assert_eq!(json["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ALLOW", "Docker's refusals, the rest allowed");
    }

    #[test]
    fn host_network_shares_the_netns_and_resolv_conf() {
        let mut s = step();
        s.network = Network::Host;
        let spec = runtime_spec(&s, Path::new("/r"));
        let ns = spec.linux().as_ref().unwrap().namespaces().as_ref().unwrap();
        assert!(!ns.iter().any(|n| n.typ() == LinuxNamespaceType::Network));
        if Path::new("/etc/resolv.conf").exists() {
            let m = spec.mounts().as_ref().unwrap().iter().find(|m| m.destination() == Path::new("/etc/resolv.conf"));
            assert!(m.unwrap().options().as_ref().unwrap().contains(&"ro".to_string()));
        }
        s.network = Network::Bridge;
        assert!(matches!(validate(&s), Err(ExecError::InvalidStep { .. })));
    }

    #[test]
    fn bad_steps_are_refused_naming_the_step() {
        let mut s = step();
        s.cwd = "relative".into();
        let err = validate(&s).unwrap_err();
        assert!(err.to_string().contains("t:build") && err.to_string().contains("relative"), "{err}");
        let mut s = step();
        s.mounts.push(Mount::Tmpfs { destination: "tmp".into(), size_bytes: None });
        assert!(validate(&s).is_err());
        let mut s = step();
        s.env.push("NOVALUE".into());
        assert!(validate(&s).is_err());
    }

    #[test]
    fn mount_points_skip_mounts_inside_other_mounts() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = step();
        s.mounts.push(Mount::Bind { source: dir.path().into(), destination: "/root/project".into(), read_only: true });
        s.mounts.push(Mount::Tmpfs { destination: "/tmp".into(), size_bytes: Some(1 << 20) });
        s.mounts.push(Mount::Tmpfs { destination: "/tmp/inner".into(), size_bytes: None });
        let mut spec = try_runtime_spec(&s, Path::new("/r")).unwrap();
        let mut mounts = spec.mounts().clone().unwrap();
        mounts.extend(etc_mounts(dir.path(), &s).unwrap());
        spec.set_mounts(Some(mounts));
        let points: Vec<(String, bool)> =
            mount_points(&spec).into_iter().map(|p| (p.path.display().to_string(), p.file)).collect();
        let expect = [
            ("/proc", false),
            ("/dev", false),
            ("/sys", false),
            ("/root/project", false),
            ("/tmp", false),
            ("/etc/hosts", true),
            ("/etc/hostname", true),
        ];
        assert_eq!(points, expect.map(|(p, f)| (p.to_string(), f)));
        assert!(fs::read_to_string(dir.path().join("hosts")).unwrap().contains("127.0.1.1\tstrata"));
    }
}
