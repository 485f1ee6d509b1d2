//! WA: what the attestations (the SBOMs and the provenance `strata build`
//! attaches by default) add to a build of `examples/hello-make`: cold
//! builds into fresh stores and cached rebuilds, each with `--sbom=false`
//! and with the default, alternating, median of `STRATA_BENCH_RUNS`.
//! The cached rebuild with attestations is what W1's goal (≤ 0.33 of the
//! best peer's cached rebuild) applies to; its peer figure is W1's.

use super::{Bench, Project, StoreDir, median};

/// The two ways of building: bare manifest, and with attestations.
const MODES: [(&str, &str); 2] = [("--sbom=false", "no attestations"), ("--sbom=true", "SBOMs + provenance")];

pub(super) fn wa(bench: &Bench, p: &Project) {
    let mut cold: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut warm: [Option<StoreDir>; 2] = [None, None];
    for round in 0..=bench.runs {
        for (i, (flag, _)) in MODES.iter().enumerate() {
            let store = bench.fresh_store();
            let run = bench.strata_build_with(store.path(), p, &[flag]);
            if round == 0 {
                warm[i] = Some(store);
            } else {
                cold[i].push(run.sample.wall);
            }
        }
    }
    let mut cached: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..bench.runs {
        for (i, (flag, _)) in MODES.iter().enumerate() {
            let store = warm[i].as_ref().expect("a warm store per mode");
            cached[i].push(bench.strata_build_with(store.path(), p, &[flag]).sample.wall);
        }
    }
    for (what, times) in [("cold", &cold), ("cached", &cached)] {
        let (bare, attested) = (median(&times[0]), median(&times[1]));
        println!(
            "WA {what} build ({}): {} {bare:.3} s, {} {attested:.3} s; the attestations add {:.3} s ({:+.0}%)",
            p.what,
            MODES[0].1,
            MODES[1].1,
            attested - bare,
            (attested / bare - 1.0) * 100.0
        );
    }
}
