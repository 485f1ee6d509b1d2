//! Build secrets (#14 item 4): `--secret id=ID,src=FILE|env=VAR` as
//! `docker buildx build` takes them. A step reads the secret at
//! `/run/secrets/ID`, read-only; the value reaches no layer, no blob, no
//! cache record, no log and no progress line, and a changed value does not
//! rerun a step (the key holds only the id). runc, busybox base, seconds.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use sha2::{Digest, Sha256};

use crate::support::{Strata, files_holding, require, text};

fn require_runc() -> bool {
    require("root and runc", "test \"$(id -u)\" = 0 && runc --version")
}

/// The step proves it read both secrets by writing their hashes into the
/// part's install dir, and that it could not write them.
const SCRIPT: &str = "\
test -r /run/secrets/token && test -r /run/secrets/npm
if echo overwritten > /run/secrets/token; then echo 'secret is writable'; exit 1; fi
sha256sum /run/secrets/token | cut -d' ' -f1 > $CRAFT_PART_INSTALL/token.sha
sha256sum /run/secrets/npm | cut -d' ' -f1 > $CRAFT_PART_INSTALL/npm.sha
echo read the secrets";

fn project(s: &Strata) -> PathBuf {
    s.busybox();
    let dir = s.path("proj");
    fs::create_dir_all(&dir).unwrap();
    let script: String = SCRIPT.lines().map(|l| format!("      {l}\n")).collect();
    fs::write(dir.join("parts.yaml"), format!("parts:\n  p:\n    plugin: nil\n    override-build: |\n{script}"))
        .unwrap();
    dir
}

/// Builds `dir` with the file secret `token` and the variable secret `npm`.
fn build(s: &Strata, dir: &Path, token_file: &Path, npm: &str) -> Output {
    let token = format!("id=token,src={}", token_file.display());
    let args = [
        "build",
        dir.to_str().unwrap(),
        "--base",
        "bare",
        "--build-base",
        "busybox:latest",
        "--compression",
        "none",
        "--progress",
        "plain",
        "--secret",
        &token,
        "--secret",
        "id=npm,env=STRATA_IT_NPM_TOKEN",
    ];
    s.cmd().args(args).env("STRATA_IT_NPM_TOKEN", npm).output().expect("run strata")
}

fn sha256_hex(b: &[u8]) -> String {
    Sha256::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn a_secret_is_read_by_the_step_and_found_nowhere_after() {
    if !require_runc() {
        return;
    }
    let s = Strata::new();
    let dir = project(&s);
    // The store's temp dir name is random: a value no other test writes.
    let canary = format!("canary-{}", s.dir.path().file_name().unwrap().to_string_lossy());
    let npm = format!("npm-{canary}");
    let token_file = s.path("token.txt");
    fs::write(&token_file, &canary).unwrap();

    let out = build(&s, &dir, &token_file, &npm);
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("read the secrets"), "{shown}");

    // The step read both: their hashes are in its (uncompressed) layer.
    for value in [&canary, &npm] {
        let hash = sha256_hex(value.as_bytes());
        assert!(!files_holding(&s.store(), hash.as_bytes(), Path::new("")).is_empty(), "no layer holds {hash}");
    }
    // And neither value is anywhere: blobs, snapshots, cache records,
    // logs (store/strata/logs), progress output.
    let mut found = Vec::new();
    for value in [&canary, &npm] {
        found.extend(files_holding(&s.store(), value.as_bytes(), &token_file));
        assert!(!shown.contains(value.as_str()), "the output shows a secret:\n{shown}");
    }
    eprintln!("canary: found in {} places", found.len());
    assert!(found.is_empty(), "a secret leaked into {found:?}");
    assert!(!s.store().join("strata/tmp").read_dir().is_ok_and(|mut d| d.next().is_some()), "tmp left behind");

    // A new token does not rerun the step: only the id is in its key.
    fs::write(&token_file, format!("rotated-{canary}")).unwrap();
    let again = build(&s, &dir, &token_file, &npm);
    let shown = text(&again);
    assert!(again.status.success(), "{shown}");
    assert!(shown.contains("[p:build] cached"), "{shown}");
}

#[test]
fn bad_secrets_are_refused_before_anything_runs() {
    let s = Strata::new();
    let dir = s.path("proj");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("parts.yaml"), "parts:\n  p:\n    plugin: nil\n").unwrap();
    let d = dir.to_str().unwrap();
    let err = s.fails(&["build", d, "--secret", "id=token,src=/nonexistent/token"]);
    assert!(err.contains("--secret token: the file /nonexistent/token does not exist"), "{err}");
    let err = s.fails(&["build", d, "--secret", "id=t,env=STRATA_IT_SURELY_UNSET"]);
    assert!(err.contains("STRATA_IT_SURELY_UNSET is not set"), "{err}");
    let f = s.path("t.txt");
    fs::write(&f, "x").unwrap();
    let one = format!("id=t,src={}", f.display());
    let err = s.fails(&["build", d, "--secret", &one, "--secret", &one]);
    assert!(err.contains("--secret t is given twice"), "{err}");
    let err = s.fails(&["build", d, "--secret", &one, "--remote", "grpc://127.0.0.1:1"]);
    assert!(err.contains("--secret cannot be used with --remote"), "{err}");
}
