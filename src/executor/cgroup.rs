//! Killing what is left in a step's cgroup: the processes of a container
//! whose strata (and `runc run`) were killed before runc could clean up,
//! found even when runc has no state for them (a kill between runc
//! creating the container and recording it).
//!
//! runc puts each step in the cgroup `/strata/<container id>` (see
//! [`super::RuncExecutor::prepare`]): `/sys/fs/cgroup/strata/<id>` on the
//! unified hierarchy (cgroup v2), `/sys/fs/cgroup/<controller>/strata/<id>`
//! for each controller on v1 and hybrid hosts.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const ROOT: &str = "/sys/fs/cgroup";

/// Every directory of the cgroup `/strata/<id>`, on v2 and on v1.
fn dirs(root: &Path, id: &str) -> Vec<PathBuf> {
    let mut out = vec![root.join("strata").join(id)];
    if let Ok(controllers) = std::fs::read_dir(root) {
        for c in controllers.flatten() {
            out.push(c.path().join("strata").join(id));
        }
    }
    out.retain(|d| d.join("cgroup.procs").is_file());
    out.sort();
    out.dedup();
    out
}

fn pids(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .map(|s| s.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// SIGKILLs every process in the cgroup `/strata/<id>` until it is empty
/// (a process may fork while we read the list), then removes the cgroup.
/// Returns how many processes were killed; 0 when there is no such cgroup.
pub fn kill_and_remove(id: &str) -> usize {
    kill_and_remove_under(Path::new(ROOT), id)
}

fn kill_and_remove_under(root: &Path, id: &str) -> usize {
    let dirs = dirs(root, id);
    let mut killed = std::collections::BTreeSet::new();
    let give_up = Instant::now() + Duration::from_secs(10);
    loop {
        let live: Vec<i32> = dirs.iter().flat_map(|d| pids(d)).collect();
        if live.is_empty() || Instant::now() > give_up {
            break;
        }
        for pid in live {
            // SAFETY: kill(2) with a pid read from the cgroup; no memory involved.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            killed.insert(pid);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // Deepest first: runc may have made sub-cgroups.
    for d in dirs.iter().rev() {
        let _ = std::fs::remove_dir(d);
    }
    killed.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_cgroup_on_v2_and_in_every_v1_controller() {
        let root = tempfile::tempdir().unwrap();
        for d in
            ["strata/strata-step-a", "pids/strata/strata-step-a", "memory/strata/strata-step-a", "pids/strata/other"]
        {
            std::fs::create_dir_all(root.path().join(d)).unwrap();
            std::fs::write(root.path().join(d).join("cgroup.procs"), "").unwrap();
        }
        let found = dirs(root.path(), "strata-step-a");
        let names: Vec<_> = found.iter().map(|d| d.strip_prefix(root.path()).unwrap().to_str().unwrap()).collect();
        assert_eq!(names, ["memory/strata/strata-step-a", "pids/strata/strata-step-a", "strata/strata-step-a"]);
        assert!(dirs(root.path(), "strata-step-b").is_empty());
        assert_eq!(kill_and_remove_under(root.path(), "strata-step-b"), 0, "no cgroup, nothing killed");
    }
}
