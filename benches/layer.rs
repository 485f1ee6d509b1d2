//! W4 and W8 (bench/WORKLOADS.md) for the layer writer alone.
//!
//! ```text
//! cargo bench --bench layer                          # W4 (runs only with --bench, as cargo bench passes)
//! STRATA_BENCH_W8=1 cargo bench --bench layer        # W4 + W8 (writes 2 GB of test data)
//! STRATA_BENCH_GZIP_SWEEP=1 cargo bench --bench layer  # also: every gzip level, ratio and time
//! STRATA_BENCH_ONLY=zstd cargo bench --bench layer     # only the W4 lines naming zstd (or gzip, none)
//! ```
//!
//! W4 packs a generated ~200 MB tree (many small files, some large ones;
//! text-like, binary-like and incompressible content, seeded) with strata's
//! writer, gzip and zstd, against `tar -cf - DIR | gzip -6` and
//! `tar -cf - DIR | zstd -3 -T2` run in the same process, one warm-up then
//! the median of 5. strata's time includes both digests (diff_id and the
//! compressed blob's), which the peers do not compute.
//!
//! W8 packs a 2 GB tree in a child process and reports its peak RSS
//! (`getrusage(RUSAGE_CHILDREN)`) and the time per GB next to W4's.
//!
//! Test trees are generated once into `target/bench-data/` and reused.
//! The program prints figures; it never fails on them.

use std::fs;
use std::io::{self, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use strata::layer::{Compression, IdMode, WriteOptions, write_layer};

#[path = "common/tree.rs"]
mod tree;

use tree::{bench_dir, count_files, ensure_tree, tree_bytes};

const RUNS: usize = 5;
const EPOCH: i64 = 1_700_000_000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` passes `--bench`. Anything else is a test harness
    // probing this target (`cargo test --all-targets`, nextest's `--list`):
    // there are no tests here, so say nothing and do nothing.
    if !args.iter().any(|a| a == "--bench" || a == "--pack-child") {
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--pack-child") {
        // W8's child: pack the tree given, then report its own peak RSS
        // (VmHWM belongs to this exec's address space, unlike ru_maxrss,
        // which Linux carries over from the parent across fork and exec).
        let compression: Compression = args[i + 2].parse().unwrap();
        pack(Path::new(&args[i + 1]), compression);
        let status = fs::read_to_string("/proc/self/status").unwrap();
        let hwm = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        println!("{}", hwm.split_whitespace().nth(1).unwrap());
        return;
    }
    let data = bench_dir();
    let w4 = data.join("w4");
    ensure_tree(&w4, 200 << 20, 10_000, 0x5eed_0004);
    let w4_bytes = tree_bytes(&w4);
    println!("W4 tree: {} files, {:.0} MiB at {}", count_files(&w4), w4_bytes as f64 / 1048576.0, w4.display());

    let gz = compare(
        "W4 gzip",
        || pack(&w4, Compression::Gzip),
        "tar|gzip -6",
        &format!("tar -C {} -cf - . | gzip -6 > /dev/null", q(&w4)),
        0.66,
    );
    let zs = compare(
        "W4 zstd",
        || pack(&w4, Compression::Zstd),
        "tar|zstd -3 -T2",
        &format!("tar -C {} -cf - . | zstd -q -3 -T2 > /dev/null", q(&w4)),
        1.25,
    );
    // GNU tar skips reading files when writing to /dev/null itself: pipe it.
    compare(
        "W4 none",
        || pack(&w4, Compression::None),
        "tar -c",
        &format!("tar -C {} -cf - . | cat > /dev/null", q(&w4)),
        f64::NAN,
    );
    println!(
        "W4 sizes: strata gzip {} MiB (gzip -6: {} MiB), strata zstd {} MiB (zstd -3: {} MiB)",
        mib(packed_size(&w4, Compression::Gzip)),
        mib(shell_size(&format!("tar -C {} -cf - . | gzip -6", q(&w4)))),
        mib(packed_size(&w4, Compression::Zstd)),
        mib(shell_size(&format!("tar -C {} -cf - . | zstd -q -3 -T2", q(&w4)))),
    );

    if std::env::var("STRATA_BENCH_GZIP_SWEEP").is_ok() {
        gzip_sweep(&w4);
    }

    if std::env::var("STRATA_BENCH_W8").as_deref() == Ok("1") {
        let w8 = data.join("w8");
        ensure_tree(&w8, 2 << 30, 20_000, 0x5eed_0008);
        let gb = tree_bytes(&w8) as f64 / (1u64 << 30) as f64;
        // What just reading the tree costs here (it may not fit the page cache).
        let t = Instant::now();
        shell(&format!("tar -C {} -cf - . | cat > /dev/null", q(&w8)));
        println!("W8 read baseline (tar -c | cat): {:.2} s/GiB", t.elapsed().as_secs_f64() / gb);
        for (compression, w4_time) in [(Compression::Zstd, zs), (Compression::Gzip, gz)] {
            let (elapsed, max_rss_kib) = run_child(&w8, compression);
            println!(
                "W8 {compression:?}: {gb:.2} GiB in {:.2} s = {:.2} s/GiB (W4: {:.2} s/GiB); peak RSS {} MiB (goal ≤ 150)",
                elapsed.as_secs_f64(),
                elapsed.as_secs_f64() / gb,
                w4_time.as_secs_f64() / (w4_bytes as f64 / (1u64 << 30) as f64),
                max_rss_kib / 1024,
            );
        }
    } else {
        println!("W8 skipped (set STRATA_BENCH_W8=1; it writes 2 GB under target/bench-data)");
    }
}

fn opts(compression: Compression) -> WriteOptions {
    WriteOptions { ids: IdMode::AsFound, ..WriteOptions::new(compression, EPOCH) }
}

fn pack(root: &Path, compression: Compression) {
    write_layer(root, &opts(compression), io::sink()).unwrap();
}

fn packed_size(root: &Path, compression: Compression) -> u64 {
    write_layer(root, &opts(compression), io::sink()).unwrap().size
}

fn q(p: &Path) -> String {
    format!("'{}'", p.display())
}

fn shell(cmd: &str) {
    let st = Command::new("sh").args(["-c", &format!("set -e; {cmd}")]).status().unwrap();
    assert!(st.success(), "{cmd} failed");
}

fn shell_size(cmd: &str) -> u64 {
    let out = Command::new("sh").args(["-c", &format!("{cmd} | wc -c")]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// CPU seconds (user + sys) used so far by this process and by its waited-for children.
fn cpu_seconds() -> (f64, f64) {
    let get = |who| {
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `ru` is a valid rusage to fill.
        unsafe { libc::getrusage(who, &mut ru) };
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        tv(ru.ru_utime) + tv(ru.ru_stime)
    };
    (get(libc::RUSAGE_SELF), get(libc::RUSAGE_CHILDREN))
}

/// Runs strata and the peer alternately (one warm-up each, then [`RUNS`]
/// rounds, so background load hits both alike) and prints the medians of
/// wall time and of CPU time. Returns strata's median wall time.
fn compare(what: &str, mut strata: impl FnMut(), peer: &str, peer_cmd: &str, goal: f64) -> Duration {
    if std::env::var("STRATA_BENCH_ONLY").is_ok_and(|only| !what.contains(&only)) {
        return Duration::ZERO;
    }
    strata();
    shell(peer_cmd);
    let (mut s_wall, mut s_cpu, mut p_wall, mut p_cpu) = (vec![], vec![], vec![], vec![]);
    for _ in 0..RUNS {
        let (c0, _) = cpu_seconds();
        let t = Instant::now();
        strata();
        s_wall.push(t.elapsed().as_secs_f64());
        s_cpu.push(cpu_seconds().0 - c0);
        let (_, c0) = cpu_seconds();
        let t = Instant::now();
        shell(peer_cmd);
        p_wall.push(t.elapsed().as_secs_f64());
        p_cpu.push(cpu_seconds().1 - c0);
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[RUNS / 2]
    };
    let (sw, sc, pw, pc) = (med(&mut s_wall), med(&mut s_cpu), med(&mut p_wall), med(&mut p_cpu));
    let goal = if goal.is_nan() { String::new() } else { format!(" (goal ≤ {goal})") };
    println!(
        "{what}: strata {sw:.3} s, {peer} {pw:.3} s, ratio {:.2}{goal}; cpu strata {sc:.2} s, peer {pc:.2} s, ratio {:.2}",
        sw / pw,
        sc / pc
    );
    Duration::from_secs_f64(sw)
}

fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / 1048576.0)
}

/// Packs `root` in a child process; returns its wall time and peak RSS in KiB.
fn run_child(root: &Path, compression: Compression) -> (Duration, u64) {
    let start = Instant::now();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--pack-child", root.to_str().unwrap(), &format!("{compression:?}").to_lowercase()])
        .output()
        .unwrap();
    let elapsed = start.elapsed();
    assert!(out.status.success(), "W8 child failed: {}", String::from_utf8_lossy(&out.stderr));
    (elapsed, String::from_utf8_lossy(&out.stdout).trim().parse().unwrap())
}

/// Time and size of each gzip level over W4's tar stream (zlib-rs, as strata uses it).
fn gzip_sweep(root: &Path) {
    let mut tar = Vec::new();
    write_layer(root, &opts(Compression::None), &mut tar).unwrap();
    println!("gzip levels over W4's {} MiB tar stream (zlib-rs, one thread):", mib(tar.len() as u64));
    for level in 1..=9 {
        let t = Instant::now();
        let mut e = flate2::write::GzEncoder::new(CountingSink(0), flate2::Compression::new(level));
        for chunk in tar.chunks(128 << 10) {
            e.write_all(chunk).unwrap();
        }
        let size = e.finish().unwrap().0;
        println!("  level {level}: {:.3} s, {} MiB", t.elapsed().as_secs_f64(), mib(size));
    }
    let t = Instant::now();
    let size = shell_size(&format!("tar -C {} -cf - . | gzip -6", q(root)));
    println!("  gzip -6 (with tar): {:.3} s, {} MiB", t.elapsed().as_secs_f64(), mib(size));
}

struct CountingSink(u64);

impl Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
