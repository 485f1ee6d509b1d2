//! The seccomp filter every runc and containerd step runs under: the
//! syscalls Docker's default profile refuses to a container with Docker's
//! default capabilities, refused the same way (`EPERM`), and everything else
//! allowed.
//!
//! Docker writes its profile as an allow-list of ~350 syscalls, with more
//! allowed per capability; with the capabilities a step has
//! ([`super::spec::DEFAULT_CAPABILITIES`]) that comes to "all but these".
//! strata writes the complement, grouped below by why each is refused, so a
//! reader can see what a step cannot do; a syscall the kernel adds later is
//! allowed (Docker's refuses it until its list catches up — the reason
//! `clone3` is `ENOSYS` there, which strata copies so glibc falls back to
//! `clone`, where the namespace flags are checked).
//!
//! The Docker and Podman executors get their daemon's own default profile.
//! `--security-opt seccomp=unconfined` turns the filter off, as with
//! `docker run`. The filter is in no cache key: a step that runs under it
//! writes the same bytes without it.

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArgBuilder, LinuxSeccompBuilder, LinuxSeccompOperator,
    LinuxSyscall, LinuxSyscallBuilder,
};

/// Whether steps run under strata's seccomp filter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Seccomp {
    /// [`profile`]: Docker's default refusals.
    #[default]
    Default,
    /// No filter (`--security-opt seccomp=unconfined`).
    Unconfined,
}

/// The refused syscalls, by reason. Names the kernel of an architecture
/// does not have are skipped by the runtime.
pub const REFUSED: &[(&str, &[&str])] = &[
    (
        "loading kernel code",
        &[
            "init_module",
            "finit_module",
            "delete_module",
            "create_module",
            "query_module",
            "get_kernel_syms",
            "kexec_load",
            "kexec_file_load",
            "bpf",
        ],
    ),
    ("rebooting, swap and accounting", &["reboot", "swapon", "swapoff", "acct"]),
    (
        "mounting (CAP_SYS_ADMIN)",
        &[
            "mount",
            "umount",
            "umount2",
            "pivot_root",
            "fsopen",
            "fsconfig",
            "fsmount",
            "fspick",
            "move_mount",
            "open_tree",
            "mount_setattr",
        ],
    ),
    ("entering or making namespaces (CAP_SYS_ADMIN)", &["setns", "unshare"]),
    ("the system clock (CAP_SYS_TIME)", &["settimeofday", "stime", "clock_settime", "clock_settime64"]),
    ("the kernel keyring, not namespaced", &["keyctl", "add_key", "request_key"]),
    (
        "kernel observation and tracing of others (CAP_PERFMON, CAP_SYSLOG, CAP_SYS_PTRACE)",
        &["perf_event_open", "lookup_dcookie", "syslog", "kcmp"],
    ),
    ("file handles that escape a chroot (CAP_DAC_READ_SEARCH)", &["open_by_handle_at"]),
    ("raw I/O ports (CAP_SYS_RAWIO)", &["iopl", "ioperm"]),
    ("userfaultfd, a staple of kernel exploits", &["userfaultfd"]),
    ("io_uring, refused by Docker since 25.0", &["io_uring_setup", "io_uring_enter", "io_uring_register"]),
    (
        "obsolete or unsafe interfaces",
        &[
            "uselib",
            "ustat",
            "sysfs",
            "_sysctl",
            "nfsservctl",
            "vm86",
            "vm86old",
            "quotactl",
            "quotactl_fd",
            "vhangup",
            "fanotify_init",
        ],
    ),
];

/// `clone(2)` flags that make a namespace: refused, as Docker refuses them
/// without CAP_SYS_ADMIN.
pub const NAMESPACE_FLAGS: &[(&str, u64)] = &[
    ("CLONE_NEWNS", 0x0002_0000),
    ("CLONE_NEWCGROUP", 0x0200_0000),
    ("CLONE_NEWUTS", 0x0400_0000),
    ("CLONE_NEWIPC", 0x0800_0000),
    ("CLONE_NEWUSER", 0x1000_0000),
    ("CLONE_NEWPID", 0x2000_0000),
    ("CLONE_NEWNET", 0x4000_0000),
];

const EPERM: u32 = 1;
const ENOSYS: u32 = 38;

/// The filter as runtime-spec data, for the host's architecture.
pub fn profile() -> LinuxSeccomp {
    let refuse = |names: Vec<String>, errno: u32| -> LinuxSyscall {
        LinuxSyscallBuilder::default()
            .names(names)
            .action(LinuxSeccompAction::ScmpActErrno)
            .errno_ret(errno)
            .build()
            .expect("syscall rule fields are set")
    };
    let mut rules: Vec<LinuxSyscall> =
        REFUSED.iter().map(|(_, names)| refuse(names.iter().map(|s| s.to_string()).collect(), EPERM)).collect();
    rules.push(refuse(vec!["clone3".into()], ENOSYS));
    // One rule per flag: the conditions of one rule are and-ed, rules or-ed.
    for (_, flag) in NAMESPACE_FLAGS {
        let arg = LinuxSeccompArgBuilder::default()
            .index(0usize)
            .value(*flag)
            .value_two(*flag)
            .op(LinuxSeccompOperator::ScmpCmpMaskedEq)
            .build()
            .expect("arg fields are set");
        let mut rule = refuse(vec!["clone".into()], EPERM);
        rule.set_args(Some(vec![arg]));
        rules.push(rule);
    }
    LinuxSeccompBuilder::default()
        .default_action(LinuxSeccompAction::ScmpActAllow)
        .architectures(architectures())
        .syscalls(rules)
        .build()
        .expect("seccomp fields are set")
}

/// The host's architecture and the 32-bit ones its kernel also runs, so a
/// 32-bit syscall cannot go around the filter.
fn architectures() -> Vec<Arch> {
    match std::env::consts::ARCH {
        "x86_64" => vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32],
        "aarch64" => vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm],
        _ => vec![Arch::ScmpArchNative],
    }
}

/// Parses one `--security-opt` value; only `seccomp=unconfined` is known.
pub fn parse_security_opt(s: &str) -> Result<Seccomp, String> {
    match s {
        "seccomp=unconfined" => Ok(Seccomp::Unconfined),
        "seccomp=default" => Ok(Seccomp::Default),
        other if other.starts_with("seccomp=") => Err(format!(
            "`{other}`: strata has its own default profile and `unconfined`; a profile file is not supported"
        )),
        other => Err(format!("unknown security option `{other}` (known: seccomp=unconfined)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_allows_by_default_and_refuses_the_dangerous_calls_with_eperm() {
        let p = serde_json::to_value(profile()).unwrap();
        assert_eq!(p["defaultAction"], "SCMP_ACT_ALLOW");
        let rules = p["syscalls"].as_array().unwrap();
        let refused = |name: &str| rules.iter().find(|r| r["names"].as_array().unwrap().iter().any(|n| n == name));
        for name in ["mount", "unshare", "setns", "keyctl", "bpf", "init_module", "open_by_handle_at"] {
            let rule = refused(name).unwrap_or_else(|| panic!("{name} is refused"));
            assert_eq!(rule["action"], "SCMP_ACT_ERRNO");
            assert_eq!(rule["errnoRet"], 1, "{name}: EPERM");
        }
        assert_eq!(refused("clone3").unwrap()["errnoRet"], 38, "ENOSYS, so glibc falls back to clone");
        assert!(refused("read").is_none() && refused("chroot").is_none() && refused("ptrace").is_none());
    }

    #[test]
    fn clone_is_refused_only_with_a_namespace_flag() {
        let p = serde_json::to_value(profile()).unwrap();
        let clones: Vec<_> = p["syscalls"].as_array().unwrap().iter().filter(|r| r["names"][0] == "clone").collect();
        assert_eq!(clones.len(), NAMESPACE_FLAGS.len());
        for (rule, (_, flag)) in clones.iter().zip(NAMESPACE_FLAGS) {
            let arg = &rule["args"][0];
            assert_eq!((arg["index"].as_u64(), arg["op"].as_str()), (Some(0), Some("SCMP_CMP_MASKED_EQ")));
            assert_eq!((arg["value"].as_u64(), arg["valueTwo"].as_u64()), (Some(*flag), Some(*flag)));
        }
    }

    #[test]
    fn security_opts_are_docker_spelled_and_unknown_ones_refused() {
        assert_eq!(parse_security_opt("seccomp=unconfined"), Ok(Seccomp::Unconfined));
        assert!(parse_security_opt("seccomp=/etc/profile.json").unwrap_err().contains("not supported"));
        assert!(parse_security_opt("apparmor=unconfined").unwrap_err().contains("unknown security option"));
    }
}
