//! Embeds the build-side Scheme (`scheme/guix`, `scheme/strata`) and its
//! programs (`scheme/strata/bin`) in the crate: writes `$OUT_DIR/scheme_files.rs`, a list of (relative path,
//! bytes) pairs, so the phase vertices mount exactly the files of this
//! build.

use std::fs;
use std::path::{Path, PathBuf};

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    let mut entries: Vec<_> = fs::read_dir(dir).expect("read scheme dir").map(|e| e.expect("entry").path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(root, &p, out);
        } else if p.extension().is_some_and(|e| e == "scm") || p.parent().is_some_and(|d| d.ends_with("strata/bin")) {
            let rel = p.strip_prefix(root).expect("under root").to_string_lossy().replace('\\', "/");
            out.push((rel, p));
        }
    }
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("manifest dir")).join("scheme");
    let mut files = Vec::new();
    for sub in ["guix", "strata"] {
        walk(&root, &root.join(sub), &mut files);
        println!("cargo:rerun-if-changed=scheme/{sub}");
    }
    let mut code = String::from(
        "/// The embedded build-side files: (path under `scheme/`, contents).\npub static FILES: &[(&str, &[u8])] = &[\n",
    );
    for (rel, path) in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        code.push_str(&format!("    ({rel:?}, include_bytes!({:?})),\n", path.display().to_string()));
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("out dir")).join("scheme_files.rs");
    fs::write(out, code).expect("write scheme_files.rs");
}
