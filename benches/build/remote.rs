//! W6R: W6 (100 parts × 10 files) through a Remote Execution API farm —
//! BuildGrid 0.4.4 on loopback served by two, then three `strata worker`
//! bots (one lease each) — against the local runc worker, in the same run.
//!
//! - **local**: cold builds at `--jobs 2` (fresh stores) and cached
//!   rebuilds, median of `STRATA_BENCH_RUNS`;
//! - **remote, cold**: one build per farm size into a fresh store and a
//!   fresh farm (its own database and CAS), `--jobs 8`; the leases each
//!   worker ran;
//! - **remote, cached**: the same store again (the local step cache), and a
//!   fresh store on the warm farm (every step an action-cache hit, no
//!   worker runs anything).
//!
//! Each line gives the wall time, its ratio to the local cold build, and
//! what moved as strata reports it (`up N blob(s) (MB), down …`); every
//! build's image digest is compared with the local one. The farm shares
//! the machine's cores with the client and the workers, so a cold remote
//! build here measures the farm's overhead, not a farm's speed-up.

use std::path::Path;

use super::buildgrid::{Bot, Farm, unavailable};
use super::{Bench, Project, StrataRun, median};

pub(super) fn w6r(bench: &Bench, p: &Project) {
    if let Some(why) = unavailable() {
        println!("W6R: skipped ({why})");
        return;
    }
    let mut colds = Vec::new();
    let mut warm = None;
    let mut local_digest = String::new();
    for round in 0..=bench.runs {
        let store = bench.fresh_store();
        let run = bench.strata_build_with(store.path(), p, &["--jobs", "2"]);
        local_digest = digest(&run);
        if round == 0 {
            warm = Some(store);
        } else {
            colds.push(run.sample.wall);
        }
    }
    let warm = warm.unwrap();
    let cached: Vec<f64> = (0..bench.runs).map(|_| bench.strata_build(warm.path(), p).sample.wall).collect();
    let cold = median(&colds);
    println!(
        "W6R local runc ({}): cold (--jobs 2) {cold:.2} s, cached {:.2} s; image {local_digest}",
        p.what,
        median(&cached)
    );

    for workers in [2, 3] {
        let dir = tempfile::Builder::new().prefix("farm-").tempdir_in(bench.work.path()).unwrap();
        let farm = Farm::start(dir.path());
        let bots: Vec<Bot> = (1..=workers).map(|n| Bot::start(dir.path(), &format!("w{n}"), &farm.url)).collect();
        let remote = |store: &Path| bench.strata_build_with(store, p, &["--jobs", "8", "--remote", &farm.url]);
        let say = |what: &str, run: &StrataRun, extra: &str| {
            let same = if digest(run) == local_digest { "same image" } else { "OTHER IMAGE" };
            println!(
                "W6R --remote, {workers} workers, {what}: {:.2} s ({:.2}× local cold){extra}; {}; {same}",
                run.sample.wall,
                run.sample.wall / cold,
                moved(run),
            );
        };

        let store = bench.fresh_store();
        let run = remote(store.path());
        let leases: Vec<usize> = bots.iter().map(|b| b.ran().len()).collect();
        let shown: Vec<String> = leases.iter().map(usize::to_string).collect();
        say("cold", &run, &format!(", leases {}", shown.join("/")));
        say("same store again", &remote(store.path()), "");
        let fresh = bench.fresh_store();
        let run = remote(fresh.path());
        let ran_after: usize = bots.iter().map(|b| b.ran().len()).sum();
        let ran_before: usize = leases.iter().sum();
        say("fresh store, warm farm", &run, &format!(", {} step(s) run", ran_after - ran_before));
    }
}

/// The image digest a build printed last.
fn digest(run: &StrataRun) -> String {
    run.lines
        .iter()
        .rev()
        .flat_map(|(_, l)| l.split_whitespace().rev())
        .find(|w| w.starts_with("sha256:"))
        .unwrap_or("no digest printed")
        .to_string()
}

/// strata's own account of the traffic: `N step(s) run there, M from its
/// cache; up … down …`.
fn moved(run: &StrataRun) -> String {
    run.lines
        .iter()
        .find_map(|(_, l)| l.strip_prefix("remote ").and_then(|r| r.split_once(": ")).map(|(_, m)| m.to_string()))
        .unwrap_or_else(|| "no traffic line".into())
}
