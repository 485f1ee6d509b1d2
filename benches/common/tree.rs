//! Benchmark test data shared by the benches: a seeded generator of file
//! trees that look like real build outputs (source-like text, object-like
//! and random binaries), the same bytes on every machine. Included with
//! `#[path = "common/tree.rs"] mod tree;`.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

/// Where generated bench data lives: `target/bench-data/`.
pub fn bench_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("bench-data")
}

/// A seeded xorshift generator: the same tree on every machine.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const WORDS: &[&str] = &[
    "the", "of", "and", "to", "in", "is", "fn", "let", "mut", "return", "if", "else", "for", "while", "struct", "impl",
    "pub", "use", "self", "match", "Some", "None", "Ok", "Err", "value", "error", "result", "buffer", "layer", "image",
    "config", "string", "length", "index", "count", "static", "const", "int", "char", "void", "include", "define",
    "unsigned", "size_t", "printf", "malloc", "free", "sizeof", "NULL", "true", "false", "class", "def", "import",
    "from", "lambda", "yield", "async", "await", "{", "}", "(", ");", "=", "==", "->",
];

/// Source-code-like text: words with a skewed distribution, indented lines.
pub fn text(rng: &mut Rng, len: usize, out: &mut Vec<u8>) {
    let end = out.len() + len;
    while out.len() < end {
        let indent = rng.below(4) as usize * 4;
        out.extend(std::iter::repeat_n(b' ', indent));
        for _ in 0..(3 + rng.below(9)) {
            // Squaring skews towards the first words, as in real text.
            let r = rng.below(WORDS.len() as u64);
            let w = WORDS[(r * r / WORDS.len() as u64) as usize];
            out.extend_from_slice(w.as_bytes());
            out.push(b' ');
            if rng.below(16) == 0 {
                out.extend_from_slice(format!("{}", rng.below(100_000)).as_bytes());
            }
        }
        out.push(b'\n');
    }
    out.truncate(end);
}

/// Object-code-like bytes: random runs and copies of earlier runs.
fn binary(rng: &mut Rng, len: usize, out: &mut Vec<u8>) {
    let start = out.len();
    let end = start + len;
    while out.len() < end {
        let run = 16 + rng.below(240) as usize;
        let have = out.len() - start;
        if have > 4096 && rng.below(3) != 0 {
            let from = start + rng.below((have - run.min(have)) as u64) as usize;
            for i in 0..run {
                let b = out[from + i];
                out.push(b);
            }
        } else {
            for _ in 0..run / 8 {
                out.extend_from_slice(&rng.next().to_le_bytes());
            }
        }
    }
    out.truncate(end);
}

fn random(rng: &mut Rng, len: usize, out: &mut Vec<u8>) {
    let end = out.len() + len;
    while out.len() < end {
        out.extend_from_slice(&rng.next().to_le_bytes());
    }
    out.truncate(end);
}

/// Generates (once) a tree of about `total` bytes: `small` files of
/// 100 B–32 KiB in nested directories (~35% of the bytes), the rest in large
/// files of 8–64 MiB (text-like, binary-like and a few incompressible).
pub fn ensure_tree(root: &Path, total: u64, small: usize, seed: u64) {
    let done = root.with_extension("complete");
    if done.exists() {
        return;
    }
    eprintln!("generating {} (once)...", root.display());
    let _ = fs::remove_dir_all(root);
    let mut rng = Rng(seed);
    let mut buf = Vec::new();
    let small_budget = total * 35 / 100;
    let mut written = 0u64;
    let mut i = 0;
    while i < small || written < small_budget {
        let dir = root.join(format!("src/m{:02}/d{:03}", i % 37, (i / 37) % 97));
        fs::create_dir_all(&dir).unwrap();
        // Log-uniform sizes, 100 B to 32 KiB.
        let size = (100.0 * (327.68f64).powf(rng.below(1000) as f64 / 1000.0)) as usize;
        buf.clear();
        if rng.below(5) == 0 {
            binary(&mut rng, size, &mut buf)
        } else {
            text(&mut rng, size, &mut buf)
        }
        fs::write(dir.join(format!("f{i:06}.{}", ["c", "rs", "py", "h", "o"][i % 5])), &buf).unwrap();
        written += size as u64;
        i += 1;
        if written >= small_budget && i >= small {
            break;
        }
    }
    let big = root.join("assets");
    fs::create_dir_all(&big).unwrap();
    let mut n = 0;
    while written < total {
        let size = ((8u64 << 20) + rng.below(56 << 20)).min(total - written) as usize;
        buf.clear();
        match n % 5 {
            0 | 3 => text(&mut rng, size, &mut buf),
            1 | 4 => binary(&mut rng, size, &mut buf),
            _ => random(&mut rng, size, &mut buf),
        }
        fs::write(big.join(format!("blob{n:03}.bin")), &buf).unwrap();
        written += size as u64;
        n += 1;
    }
    fs::write(&done, b"").unwrap();
}

pub fn tree_bytes(root: &Path) -> u64 {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

pub fn count_files(root: &Path) -> usize {
    walkdir::WalkDir::new(root).into_iter().filter_map(Result::ok).filter(|e| e.file_type().is_file()).count()
}
