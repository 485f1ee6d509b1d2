//! W9: Guix phases. GNU hello and GNU m4 from the shared Guix definitions
//! (`/work/shared/conformance/guix`), each copied with one phase added at
//! the end (`stamp`, after `compress-documentation`, writing
//! `share/w9/stamp` into `out`), built by `strata build FILE.scm` with its
//! sources from a local cache (`-X source-cache=DIR`: Debian's orig
//! tarballs, byte-identical to upstream's, fetched once into
//! `target/bench-data/guix-sources`). Build and runtime base
//! `debian:bookworm`, strata's defaults.
//!
//! The peers build a Containerfile per package doing the same work, one
//! RUN per phase group: the Debian packages strata's `packages` step
//! installs (and /bin/sh made bash, as there), the tarball unpacked in the same build directory, the
//! definition's own phases (m4's `disable-test` and `configure-shell`),
//! configure with gnu-build-system's flags, `make -j2`, `make check -j2`,
//! `make install`, strip and compress the documentation, the stamp; then
//! the image on the runtime base with its CA certificates (as strata's
//! `runtime` step) and the store directory copied in.
//!
//! Cold: a fresh store per package (the two would share their `packages`
//! step) and `--no-cache`. The cold builds take minutes (m4's
//! test suite), so they are `STRATA_BENCH_W9_COLD` rounds (default 1)
//! without a warm-up: the last one leaves the warm store and the peers'
//! caches for the rebuilds. Edited-phase rebuild: the stamp phase's body
//! changed (new text each round, never built before), in the warm store
//! and caches; the goal is ≤ 0.2 of the best peer. Prints what strata ran
//! and which of the peers' steps came from their caches.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Bench, Goal, Phases, Project, Sample, StrataRun, run, sha256_hex, strata_image_files, tree};

/// A package of the workload: its definition, its source, and what the
/// peers' Containerfile does for the definition's own phases.
struct Def {
    name: &'static str,
    version: &'static str,
    scm: &'static str,
    /// Debian's pool path of the orig tarball, and its sha256.
    pool: &'static str,
    sha256: &'static str,
    /// Inserts the stamp phase (`{STAMP}`) into the definition.
    add_phase: fn(&str) -> String,
    /// The definition's own phases before configure, as RUN lines.
    own_phases: &'static [&'static str],
}

static DEFS: [Def; 2] = [
    Def {
        name: "hello",
        version: "2.12.3",
        scm: "/work/shared/conformance/guix/hello.scm",
        pool: "debian/pool/main/h/hello/hello_2.12.3.orig.tar.gz",
        sha256: "0d5f60154382fee10b114a1c34e785d8b1f492073ae2d3a6f7b147687b366aa0",
        add_phase: |scm| {
            scm.replace(
                "(build-system gnu-build-system)",
                "(build-system gnu-build-system)\n    (arguments\n     (list #:phases\n      \
                 #~(modify-phases %standard-phases\n        {STAMP})))",
            )
        },
        own_phases: &[],
    },
    Def {
        name: "m4",
        version: "1.4.19",
        scm: "/work/shared/conformance/guix/corpus/m4.scm",
        pool: "debian/pool/main/m/m4/m4_1.4.19.orig.tar.xz",
        sha256: "63aede5c6d33b6d9b13511cd0be2cac046f2e70fd0a07aa9573a04a82783af96",
        add_phase: |scm| {
            scm.replace("(add-after 'unpack 'configure-shell", "{STAMP}\n        (add-after 'unpack 'configure-shell")
        },
        // Guix runs its add-after 'unpack phases last added first.
        own_phases: &[
            "RUN sed -i 's|\"/bin/sh\"|\"/bin/sh\"|' lib/config.hin",
            "RUN sed -i 's/4 5 6/4 6/' tests/test-execute.sh",
        ],
    },
];

/// The phase added at the end; `{TEXT}` is what the edit changes.
const STAMP: &str = r#"(add-after 'compress-documentation 'stamp
          (lambda* (#:key outputs #:allow-other-keys)
            (let ((dir (string-append (assoc-ref outputs "out") "/share/w9")))
              (mkdir-p dir)
              (call-with-output-file (string-append dir "/stamp")
                (lambda (port) (display "{TEXT}\n" port))))))"#;

/// The peers' Containerfile; `{...}` filled in per package.
const CONTAINERFILE: &str = r#"ARG BASE
FROM ${BASE} AS build
ENV DEBIAN_FRONTEND=noninteractive
RUN set -e; apt-get update; apt-get install -y --no-install-recommends {PACKAGES}; rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin; mkdir -p /gnu/store; ln -sf bash /bin/sh
COPY {TARBALL} /tmp/sources/
WORKDIR /tmp/guix-build-{NAME}-{VERSION}.drv-0
RUN tar xf /tmp/sources/{TARBALL}
WORKDIR /tmp/guix-build-{NAME}-{VERSION}.drv-0/{NAME}-{VERSION}
{OWN}
RUN ./configure CONFIG_SHELL=/usr/bin/bash SHELL=/usr/bin/bash --prefix={PREFIX} --enable-fast-install --build=x86_64-unknown-linux-gnu
RUN make -j2 --max-load=2
RUN make check -j2 --max-load=2
RUN make install
RUN set -e; find {PREFIX}/bin -type f -exec strip --strip-debug {} +; rm -f {PREFIX}/share/info/dir; find {PREFIX}/share/man {PREFIX}/share/info -type f ! -name '*.gz' -exec gzip -9n {} +
RUN mkdir -p {PREFIX}/share/w9 && printf '%s\n' '{TEXT}' > {PREFIX}/share/w9/stamp

FROM ${BASE}
RUN set -e; export DEBIAN_FRONTEND=noninteractive; apt-get update; apt-get install -y --no-install-recommends ca-certificates; rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
COPY --from=build {PREFIX} {PREFIX}
ENV PATH={PREFIX}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
"#;

/// What strata's `packages` step installs for gnu-build-system
/// (`frontends/guix/src/debian.rs`, `base_packages`).
const PACKAGES: &str = "guile-3.0 build-essential file xz-utils bzip2 gzip zstd patch gawk unzip";

/// One package's project: the edited definition, and the peers' context.
struct Guix {
    def: &'static Def,
    p: Project,
    scm: PathBuf,
    tarball: String,
}

impl Guix {
    /// Writes the definition and the Containerfile with the stamp text `text`.
    fn write(&self, text: &str) {
        let scm = std::fs::read_to_string(self.def.scm).unwrap();
        let edited = (self.def.add_phase)(&scm);
        assert_ne!(edited, scm, "{}: the anchor of the added phase is gone", self.def.scm);
        std::fs::write(&self.scm, edited.replace("{STAMP}", &STAMP.replace("{TEXT}", text))).unwrap();
        let prefix = format!("/gnu/store/{}-{}-{}", "0".repeat(32), self.def.name, self.def.version);
        let file = CONTAINERFILE
            .replace("{PACKAGES}", PACKAGES)
            .replace("{TARBALL}", &self.tarball)
            .replace("{NAME}", self.def.name)
            .replace("{VERSION}", self.def.version)
            .replace("{OWN}", &self.def.own_phases.join("\n"))
            .replace("{PREFIX}", &prefix)
            .replace("{TEXT}", text);
        std::fs::write(self.p.dir.join("Containerfile"), file).unwrap();
    }

    fn image(&self) -> String {
        format!("strata-bench/{}:latest", self.p.tag)
    }

    fn strata(&self, bench: &Bench, store: &Path, cache: &Path) -> StrataRun {
        let mut cmd = Command::new(&bench.strata);
        cmd.arg("--store").arg(store).arg("build").arg(&self.scm);
        cmd.args(["-X", &format!("source-cache={}", cache.display()), "--progress", "plain", "-t", &self.image()]);
        StrataRun::spawn(cmd)
    }
}

pub(super) fn w9(bench: &Bench) {
    let cache = sources();
    let mut projects = Vec::new();
    for def in &DEFS {
        let dir = bench.work.path().join(format!("guix-{}", def.name));
        std::fs::create_dir_all(&dir).unwrap();
        let tarball = Path::new(def.pool).file_name().unwrap().to_string_lossy().to_string();
        // The peers' build context holds the tarball.
        std::fs::copy(cache.join(&tarball), dir.join(&tarball)).unwrap();
        let tag: &'static str = Box::leak(format!("guix-{}", def.name).into_boxed_str());
        let scm = dir.join(format!("{}.scm", def.name));
        let g = Guix { def, p: Project { dir, tag, what: def.name }, scm, tarball };
        g.write("w9 stamp");
        projects.push(g);
    }

    // Cold builds.
    let cold_runs: usize = std::env::var("STRATA_BENCH_W9_COLD").ok().and_then(|r| r.parse().ok()).unwrap_or(1).max(1);
    let n = projects.len();
    let mut cold: Vec<Vec<Sample>> = vec![Vec::new(); n];
    let mut peers_cold: Vec<Vec<Vec<Sample>>> = vec![vec![Vec::new(); bench.peers.len()]; n];
    let mut warm = Vec::new();
    let mut last_cold = Vec::new();
    for round in 0..cold_runs {
        warm.clear();
        last_cold.clear();
        for (k, g) in projects.iter().enumerate() {
            // A store per package: the two would share their packages step.
            let store = bench.fresh_store();
            let r = g.strata(bench, store.path(), &cache);
            warm.push(store);
            cold[k].push(r.sample);
            last_cold.push(r);
            for (i, peer) in bench.peers.iter().enumerate() {
                let tag = format!("strata-bench/{}:cold", g.p.tag);
                if round > 0 {
                    // The last round's images go; the first round's of
                    // the other package would go with them (docker).
                    peer.remove(&tag);
                }
                peers_cold[k][i].push(peer.build(&g.p.dir, &tag, false));
            }
        }
    }
    for (k, g) in projects.iter().enumerate() {
        bench.report(&format!("W9 cold build ({})", g.p.what), &cold[k], &peers_cold[k], &Goal::None);
        println!("W9 cold {} strata ran: {}", g.p.what, last_cold[k].steps_summary());
        let phases = [last_cold[k].phases()];
        println!("W9 cold {} strata phases: {}", g.p.what, Phases::median(&phases));
    }
    if n > 1 {
        let both: Vec<Sample> = (0..cold_runs).map(|r| total(&cold, r)).collect();
        let peers_both: Vec<Vec<Sample>> = (0..bench.peers.len())
            .map(|i| {
                (0..cold_runs)
                    .map(|r| total(&peers_cold.iter().map(|p| p[i].clone()).collect::<Vec<_>>()[..], r))
                    .collect()
            })
            .collect();
        bench.report("W9 cold build (hello + m4)", &both, &peers_both, &Goal::None);
    }

    // The peers' warm caches: their cold builds' layers, reused whole.
    for g in &projects {
        for peer in &bench.peers {
            let out = peer.build_logged(&g.p.dir, &format!("strata-bench/{}:warm", g.p.tag), true).1;
            println!("W9 {} warm-up: {}", g.p.what, cache_summary(peer.name(), &out));
        }
    }

    // Edited-phase rebuilds: the stamp's text changes every round.
    let mut rebuilt: Vec<Vec<Sample>> = vec![Vec::new(); n];
    let mut peers_rebuilt: Vec<Vec<Vec<Sample>>> = vec![vec![Vec::new(); bench.peers.len()]; n];
    let mut phases: Vec<Vec<Phases>> = vec![Vec::new(); n];
    let mut last_runs: Vec<Option<StrataRun>> = (0..n).map(|_| None).collect();
    let mut peer_logs: Vec<Vec<String>> = vec![vec![String::new(); bench.peers.len()]; n];
    for round in 0..=bench.runs {
        let text = format!("w9 stamp {:x}-{round}", bench.nonce);
        for (k, g) in projects.iter().enumerate() {
            g.write(&text);
            let r = g.strata(bench, warm[k].path(), &cache);
            for (i, peer) in bench.peers.iter().enumerate() {
                let (s, out) = peer.build_logged(&g.p.dir, &format!("strata-bench/{}:warm", g.p.tag), true);
                if round > 0 {
                    peers_rebuilt[k][i].push(s);
                    peer_logs[k][i] = out;
                }
            }
            if round > 0 {
                rebuilt[k].push(r.sample);
                phases[k].push(r.phases());
                last_runs[k] = Some(r);
            }
        }
    }
    for (k, g) in projects.iter().enumerate() {
        bench.report(
            &format!("W9 edited-phase rebuild ({}, stamp changed)", g.p.what),
            &rebuilt[k],
            &peers_rebuilt[k],
            &Goal::Ratio(0.2),
        );
        if let Some(r) = &last_runs[k] {
            println!("W9 {} strata ran: {}", g.p.what, r.steps_summary());
        }
        println!("W9 {} rebuild strata phases: {}", g.p.what, Phases::median(&phases[k]));
        for (i, peer) in bench.peers.iter().enumerate() {
            println!("W9 {} {}", g.p.what, cache_summary(peer.name(), &peer_logs[k][i]));
        }
    }
    if n > 1 {
        let both: Vec<Sample> = (0..bench.runs).map(|r| total(&rebuilt, r)).collect();
        let peers_both: Vec<Vec<Sample>> = (0..bench.peers.len())
            .map(|i| {
                (0..bench.runs)
                    .map(|r| total(&peers_rebuilt.iter().map(|p| p[i].clone()).collect::<Vec<_>>()[..], r))
                    .collect()
            })
            .collect();
        bench.report("W9 edited-phase rebuild (hello + m4)", &both, &peers_both, &Goal::Ratio(0.2));
    }

    // The last edit is in strata's images.
    let want = sha256_hex(format!("w9 stamp {:x}-{}\n", bench.nonce, bench.runs).as_bytes());
    for (g, store) in projects.iter().zip(&warm) {
        let files = strata_image_files(store.path(), &g.image());
        let stamp = files.iter().find(|(path, _)| path.ends_with("/share/w9/stamp")).map(|(_, (_, sha))| sha);
        let bin =
            files.keys().any(|path| path.ends_with(&format!("-{}-{}/bin/{}", g.def.name, g.def.version, g.def.name)));
        println!(
            "W9 check: strata's {} image has bin/{} and the last edit's stamp: {}",
            g.p.what,
            g.def.name,
            if bin && stamp == Some(&want) { "yes" } else { "NO" }
        );
    }
    for g in &projects {
        for peer in &bench.peers {
            peer.remove(&format!("strata-bench/{}:warm", g.p.tag));
            peer.remove(&format!("strata-bench/{}:cold", g.p.tag));
        }
    }
}

/// Round `round` of every package's samples, as one sample.
fn total(v: &[Vec<Sample>], round: usize) -> Sample {
    Sample { wall: v.iter().map(|s| s[round].wall).sum(), cpu: v.iter().map(|s| s[round].cpu).sum() }
}

/// The sources, verified, in `target/bench-data/guix-sources` (fetched
/// once from the Debian mirror).
fn sources() -> PathBuf {
    let cache = tree::bench_dir().join("guix-sources");
    std::fs::create_dir_all(&cache).unwrap();
    for def in &DEFS {
        let file = cache.join(Path::new(def.pool).file_name().unwrap());
        let ok = |f: &Path| std::fs::File::open(f).is_ok_and(|r| sha256_hex(r) == def.sha256);
        if !ok(&file) {
            let part = file.with_extension("part");
            let url = format!("http://deb.debian.org/{}", def.pool);
            eprintln!("fetching {url} into {} (once)...", cache.display());
            run(Command::new("curl").args(["-sSfL", "-o"]).arg(&part).arg(&url));
            std::fs::rename(&part, &file).unwrap();
            assert!(ok(&file), "{url}: not the sha256 {}", def.sha256);
        }
    }
    cache
}

/// Which of a peer build's steps came from its cache, from its output
/// (`[stage] STEP n/m: …` and `--> Using cache` for buildah; `Step n/m : …` and
/// ` ---> Using cache` for docker's classic builder).
fn cache_summary(peer: &str, out: &str) -> String {
    let mut steps: Vec<(String, bool)> = Vec::new();
    for line in out.lines() {
        // buildah names the stage of a multi-stage build: `[1/2] STEP 1/15: …`.
        let line = match line.strip_prefix('[').and_then(|l| l.split_once("] ")) {
            Some((stage, rest)) if stage.contains('/') => rest,
            _ => line,
        };
        if let Some(rest) = line.strip_prefix("STEP ").or_else(|| line.strip_prefix("Step ")) {
            let instr = rest.split_once(':').map_or(rest, |(_, i)| i).trim();
            steps.push((instr.chars().take(40).collect(), false));
        } else if line.contains("Using cache")
            && let Some(last) = steps.last_mut()
        {
            last.1 = true;
        }
    }
    let cached = steps.iter().filter(|s| s.1).count();
    let ran: Vec<&str> = steps
        .iter()
        .filter(|(instr, c)| !c && !instr.starts_with("FROM") && !instr.starts_with("ARG"))
        .map(|(i, _)| i.as_str())
        .collect();
    format!("{peer}: {cached} of {} steps from its cache; ran: {}", steps.len(), ran.join(" | "))
}
