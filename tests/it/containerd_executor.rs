//! The containerd executor on the conformance table of `executor.rs`: every
//! case run through containerd, checked by the same `run_case`, its layer
//! compared with the runc executor's (same digest), and nothing left behind
//! in the store (`assert_clean`) or in containerd (no container, task,
//! lease or active snapshot of the step, as `ctr` lists them).
//!
//! Needs root, runc and containerd at /run/containerd/containerd.sock
//! (`.ci/setup` starts it). The executor's own tests (whiteouts, exit
//! codes, cleanup on errors, the Diff service capture, prune) live beside
//! it in `src/executor/containerd/tests.rs`.

use std::process::Command;

use strata::executor::RuncExecutor;
use strata::executor::containerd::{ContainerdConfig, ContainerdExecutor};

use crate::executor::{Env, assert_clean, case, run_case};
use crate::support::require;

/// Chain and init snapshots stay here between runs (the executor's cache).
const NAMESPACE: &str = "strata-conformance";

fn require_containerd() -> bool {
    require(
        "root, runc and a running containerd",
        "test \"$(id -u)\" = 0 && runc --version && ctr --address /run/containerd/containerd.sock version",
    )
}

/// What containerd still has of a step named `step` run by this process:
/// the executor names everything `strata-<step>-<pid>-…`.
fn leftovers(step: &str) -> Vec<String> {
    let mut slug = String::new();
    for c in step.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let prefix = format!("strata-{}-{}-", slug.trim_end_matches('-'), std::process::id());
    let mut out = Vec::new();
    for what in ["containers ls -q", "tasks ls", "leases ls -q", "snapshots ls"] {
        let o = Command::new("sh").arg("-c").arg(format!("ctr -n {NAMESPACE} {what}")).output().unwrap();
        assert!(o.status.success(), "ctr {what}: {}", String::from_utf8_lossy(&o.stderr));
        out.extend(
            String::from_utf8_lossy(&o.stdout).lines().filter(|l| l.contains(&prefix)).map(|l| format!("{what}: {l}")),
        );
    }
    out
}

fn containerd_case(name: &str) {
    if !require_containerd() {
        return;
    }
    let case = case(name);
    let exec = ContainerdExecutor::new(ContainerdConfig { namespace: NAMESPACE.into(), ..Default::default() })
        .expect("the containerd executor");
    let env = Env::new();
    let step = (case.step)(&env).name;
    let ours = run_case(&exec, &env, &case);
    eprintln!("{name}: containerd took {:?}", ours.elapsed);
    assert_clean(&env, &format!("{name} (containerd)"));
    assert_eq!(leftovers(&step), Vec::<String>::new(), "{name}: left in containerd namespace {NAMESPACE}");
    let runc_env = Env::new();
    let runc = run_case(&RuncExecutor::new(), &runc_env, &case);
    assert_eq!(ours.layer, runc.layer, "{name}: the containerd executor's layer is not the runc executor's");
}

macro_rules! containerd_cases {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                containerd_case(stringify!($name));
            }
        )*
    };
}

crate::executor::for_each_case!(containerd_cases);
