//! WS: the spk examples end to end. `examples/spk-libhello` (its first
//! variant: `strata spk make-binary --variant 0`, stored in the store) and
//! `examples/spk-hello`, which takes the library from the store (`strata
//! build`, SBOMs and provenance included as by default), on
//! `debian:bookworm-build` with the toolchain provided by Debian
//! (`--spk-provide`). The peers build a multi-stage Containerfile doing
//! the same compiles in the same directories: the library from its
//! sources, the program against it, and an image of the two on
//! `debian:bookworm`. Cold: fresh stores and `--no-cache`; cached: nothing
//! changed, each with its own warm cache (the goal: ≤ 0.33 of the best
//! peer, as W1's).

use std::path::Path;
use std::process::Command;

use super::{Bench, Goal, PEER_BASE, Project, Sample, StrataRun, copy_project, ensure_image, strata_image_files};

const BUILD_BASE: &str = "debian:bookworm-build";
const TOOLCHAIN: [&str; 4] = ["--build-base", BUILD_BASE, "--spk-provide", "gcc=gcc,make"];

/// What the peers build: the spk builds' work, stage by stage.
const CONTAINERFILE: &str = r#"ARG BASE
FROM ${BASE}-build AS lib
COPY lib/src /spfs/spk/pkg/libhello/1.0.0/src
WORKDIR /spfs/spk/pkg/libhello/1.0.0/src
RUN make CFLAGS=-O2 && make install PREFIX=/spfs

FROM lib AS app
COPY app /spfs/spk/pkg/hello/1.0.0/src
WORKDIR /spfs/spk/pkg/hello/1.0.0/src
RUN mkdir -p /spfs/bin && gcc -O2 -o /spfs/bin/hello main.c -I/spfs/include -L/spfs/lib -lhello -Wl,-rpath,/spfs/lib

FROM ${BASE}
COPY --from=lib /spfs/lib/libhello.so.1 /spfs/lib/libhello.so.1
COPY --from=app /spfs/bin/hello /spfs/bin/hello
ENV PATH=/spfs/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
"#;

pub(super) fn ws(bench: &Bench) {
    let peer_build_base = format!("{PEER_BASE}-build");
    ensure_image(&bench.strata, &bench.template, BUILD_BASE, "debian-bookworm-build", &peer_build_base);
    for peer in &bench.peers {
        if let Err(e) = peer.import(&bench.strata, &bench.template, BUILD_BASE, &peer_build_base) {
            println!("WS: skipped ({} lacks {BUILD_BASE}: {e})", peer.name());
            return;
        }
    }
    let dir = bench.work.path().join("spk");
    std::fs::create_dir_all(&dir).unwrap();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    copy_project(&examples.join("spk-libhello"), &dir.join("lib"));
    copy_project(&examples.join("spk-hello"), &dir.join("app"));
    std::fs::write(dir.join("Containerfile"), CONTAINERFILE).unwrap();
    let p = Project { dir, tag: "spk", what: "spk-libhello + spk-hello" };
    let tag = format!("strata-bench/{}:cold", p.tag);

    let mut cold = Vec::new();
    let mut peers_cold: Vec<Vec<Sample>> = vec![Vec::new(); bench.peers.len()];
    let mut warm = None;
    for round in 0..=bench.runs {
        let store = bench.fresh_store();
        let s = both(bench, store.path(), &p);
        if round == 0 {
            warm = Some(store);
        } else {
            cold.push(s);
        }
        for (i, peer) in bench.peers.iter().enumerate() {
            if round > 0 {
                peer.remove(&tag);
            }
            let s = peer.build(&p.dir, &tag, false);
            if round > 0 {
                peers_cold[i].push(s);
            }
        }
    }
    let warm = warm.expect("the warm-up store");
    let files = strata_image_files(warm.path(), &format!("strata-bench/{}:latest", p.tag));
    let has = |f: &str| files.contains_key(f);
    println!(
        "WS check: strata's image has spfs/bin/hello and spfs/lib/libhello.so.1: {}",
        if has("spfs/bin/hello") && has("spfs/lib/libhello.so.1") { "yes" } else { "NO" }
    );
    bench.report(&format!("WS cold build ({})", p.what), &cold, &peers_cold, &Goal::None);

    let warm_tag = format!("strata-bench/{}:warm", p.tag);
    for peer in &bench.peers {
        peer.remove(&tag);
        peer.build(&p.dir, &warm_tag, true);
    }
    let mut cached = Vec::new();
    let mut peers_cached: Vec<Vec<Sample>> = vec![Vec::new(); bench.peers.len()];
    for round in 0..=bench.runs {
        let s = both(bench, warm.path(), &p);
        for (i, peer) in bench.peers.iter().enumerate() {
            let t = peer.build(&p.dir, &warm_tag, true);
            if round > 0 {
                peers_cached[i].push(t);
            }
        }
        if round > 0 {
            cached.push(s);
        }
    }
    bench.report(&format!("WS cached rebuild ({})", p.what), &cached, &peers_cached, &Goal::Ratio(0.33));
    for peer in &bench.peers {
        peer.remove(&warm_tag);
    }
}

/// The library's make-binary then the program's build, as one sample.
fn both(bench: &Bench, store: &Path, p: &Project) -> Sample {
    let mut lib = Command::new(&bench.strata);
    lib.arg("--store").arg(store).args(["spk", "make-binary"]).arg(p.dir.join("lib"));
    lib.args(["--variant", "0"]).args(TOOLCHAIN);
    let lib = StrataRun::spawn(lib).sample;
    let mut app = Command::new(&bench.strata);
    app.arg("--store").arg(store).arg("build").arg(p.dir.join("app"));
    app.args(["-t", &format!("strata-bench/{}:latest", p.tag)]).args(TOOLCHAIN);
    let app = StrataRun::spawn(app).sample;
    Sample { wall: lib.wall + app.wall, cpu: lib.cpu.zip(app.cpu).map(|(a, b)| a + b) }
}
