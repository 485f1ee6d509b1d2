//! The Guix frontend end to end: GNU hello (the shared conformance
//! definition, unchanged) built from its real upstream source with the
//! runc executor, and `hello` greeting in the image; the errors a user
//! sees for an unknown keyword, a `replace` of a missing phase and a hash
//! mismatch, each at its line and column; and the build side's own unit
//! tests (`frontends/guix/scheme/run-tests.sh --unit`).
//!
//! Sources come from the Debian mirror apt uses (Debian's `.orig` tarballs
//! are byte-identical to the upstream ones, `conformance/README.md`),
//! fetched once into `target/tmp/guix-sources` and given to strata with
//! `-X source-cache=DIR`, so the build itself is offline.

use std::fs;
use std::path::{Path, PathBuf};

use crate::support::{Strata, repo, require, require_docker, sh, slow_tests};

const HELLO_SCM: &str = "/work/shared/conformance/guix/hello.scm";
const HELLO_ORIG: (&str, &str) = (
    "debian/pool/main/h/hello/hello_2.12.3.orig.tar.gz",
    "0d5f60154382fee10b114a1c34e785d8b1f492073ae2d3a6f7b147687b366aa0",
);

/// The hello definition: the shared conformance file when present, else
/// the copy in the build side's fixtures.
fn hello_scm() -> PathBuf {
    let shared = PathBuf::from(HELLO_SCM);
    if shared.is_file() { shared } else { repo().join("frontends/guix/scheme/tests/fixtures/definitions/hello.scm") }
}

fn require_runc() -> bool {
    require("root and runc", "test \"$(id -u)\" = 0 && runc --version")
}

/// A Debian pool file, verified, in the test source cache; returns the cache dir.
pub fn debian_orig(pool_path: &str, sha256: &str) -> PathBuf {
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("guix-sources");
    fs::create_dir_all(&cache).unwrap();
    let file = cache.join(Path::new(pool_path).file_name().unwrap());
    let check = format!("echo '{sha256}  {}' | sha256sum -c --status", file.display());
    if sh(&format!("{check} && echo ok || true")).trim() != "ok" {
        debian_pool_fetch(pool_path, &file);
        sh(&check);
    }
    cache
}

/// Downloads `pool_path` (`debian/pool/…`) from the Debian mirror apt uses
/// to `file`.
pub fn debian_pool_fetch(pool_path: &str, file: &Path) {
    let mirror = sh(
        "{ grep -rhoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null || true; } \
         | head -n1 | sed -E 's/^(URIs:|deb) +//; s/ *$//; s#/$##; s#/debian$##'",
    );
    let mirror = if mirror.trim().is_empty() { "http://deb.debian.org".to_string() } else { mirror.trim().to_string() };
    sh(&format!("curl -sSfL -o '{0}.part' '{mirror}/{pool_path}' && mv '{0}.part' '{0}'", file.display()));
}

/// `text` as `p.scm` in a fresh directory of the store's.
fn definition(s: &Strata, text: &str) -> PathBuf {
    let dir = s.path("defs");
    fs::create_dir_all(&dir).unwrap();
    let f = dir.join("p.scm");
    fs::write(&f, text).unwrap();
    f
}

#[test]
fn guix_build_side_unit_tests_pass() {
    if !require("guile-3.0", "command -v guile-3.0") {
        return;
    }
    let out = std::process::Command::new(repo().join("frontends/guix/scheme/run-tests.sh"))
        .arg("--unit")
        .output()
        .expect("run run-tests.sh");
    assert!(out.status.success(), "run-tests.sh --unit failed:\n{}", crate::support::text(&out));
}

#[test]
fn guix_spec_errors_name_file_line_and_column() {
    let s = Strata::new();
    let hello = fs::read_to_string(hello_scm()).unwrap();
    let with_args = |args: &str| {
        hello.replace(
            "(build-system gnu-build-system)",
            &format!("(build-system gnu-build-system)\n    (arguments {args})"),
        )
    };
    let f = definition(&s, &with_args("(list #:test-targt \"check\")"));
    let err = s.fails(&["build", f.to_str().unwrap()]);
    assert!(err.contains("p.scm:13:22: unknown keyword #:test-targt for gnu-build-system"), "{err}");
    assert!(err.contains("did you mean #:test-target?"), "{err}");

    let f = definition(
        &s,
        &with_args("(list #:phases #~(modify-phases %standard-phases (replace 'instal (lambda _ #t))))"),
    );
    let err = s.fails(&["build", f.to_str().unwrap()]);
    assert!(
        err.contains("p.scm:13:65: modify-phases: replace 'instal: gnu-build-system has no phase 'instal'"),
        "{err}"
    );
    assert!(err.contains("the phases at this point are: separate-from-pid1"), "{err}");

    let cache = s.path("cache");
    fs::create_dir_all(&cache).unwrap();
    fs::write(cache.join("hello-2.12.3.tar.gz"), "not the tarball").unwrap();
    let f = definition(&s, &hello);
    let err = s.fails(&["build", f.to_str().unwrap(), "-X", &format!("source-cache={}", cache.display())]);
    assert!(err.contains("p.scm:11:"), "{err}");
    assert!(err.contains("expected 183a6rxnhixiyykd7qis0y9g9cfqhpkk872a245y3zl28can0pqd, found "), "{err}");
}

#[test]
fn guix_hello_builds_and_greets() {
    if !require_runc() || !require("mmdebstrap", "mmdebstrap --version") || !require_docker() {
        return;
    }
    let cache = debian_orig(HELLO_ORIG.0, HELLO_ORIG.1);
    let s = Strata::new();
    s.base_image("debian-bookworm");
    // Offline: the store has Debian's tarball, which is hello's by sha256
    // (the origin's URL is not reachable from here).
    let orig = cache.join("hello_2.12.3.orig.tar.gz");
    let added = s.ok(&["source", "add", orig.to_str().unwrap()]);
    assert_eq!(added, format!("sha256:{}  {}\n", HELLO_ORIG.1, orig.display()));
    assert_eq!(s.ok(&["source", "ls"]), format!("sha256:{}  hello_2.12.3.orig.tar.gz\n", HELLO_ORIG.1));
    let tag = format!("strata-guix-hello:{}", std::process::id());
    let out =
        s.ok(&["build", hello_scm().to_str().unwrap(), "--progress", "plain", "-t", &tag, "--output", "type=docker"]);
    assert!(out.contains("hello-2.12.3.tar.gz from the download cache"), "{out}");
    for phase in ["hello:setup", "hello:configure", "hello:install", "hello:output:out"] {
        assert!(out.contains(&format!("[{phase}]")), "no {phase} in:\n{out}");
    }
    assert_eq!(sh(&format!("docker run --rm '{tag}' hello")), "Hello, world!\n");
    let again = s.ok(&["build", hello_scm().to_str().unwrap(), "--progress", "plain"]);
    assert!(again.contains("(0 steps run,"), "a second build ran steps:\n{again}");

    // The state before a phase, as `guix build -K` keeps a failed build's
    // tree, from the cache: built and checked, nothing installed yet, in
    // the build directory with the phases' environment.
    let script = "pwd; test -x hello && echo built; ls /gnu/store/*-hello-2.12.3/bin 2>/dev/null | wc -l; echo $LC_ALL";
    let scm = hello_scm();
    let shell =
        ["shell", "-p", scm.to_str().unwrap(), "--package", "hello", "--phase", "install", "--", "sh", "-c", script];
    assert_eq!(s.ok(&shell), "/tmp/guix-build-hello-2.12.3.drv-0/hello-2.12.3\nbuilt\n0\nC.UTF-8\n");
    let err = s.fails(&["shell", "-p", scm.to_str().unwrap(), "--package", "hello", "--phase", "instal"]);
    assert!(err.contains("'hello' has no step 'instal'; its steps: packages, source, setup, unpack,"), "{err}");

    // A phase added at the end reruns only itself and what follows it.
    let hello = fs::read_to_string(hello_scm()).unwrap().replace(
        "(build-system gnu-build-system)",
        "(build-system gnu-build-system)\n    (arguments (list #:phases #~(modify-phases %standard-phases \
         (add-after 'compress-documentation 'greet (lambda _ (display \"greetings\\n\"))))))",
    );
    let f = definition(&s, &hello);
    let edited = s.ok(&["build", f.to_str().unwrap(), "--progress", "plain"]);
    let ran: Vec<&str> = edited
        .lines()
        .filter(|l| l.starts_with('[') && l.contains("] run ("))
        .filter_map(|l| l.strip_prefix('[')?.split(']').next())
        .collect();
    // The new phase changes no file of `out`, so its layer and the image
    // are the same as before: the image comes from the cache.
    assert_eq!(ran, ["hello:greet", "hello:output:out"], "{edited}");
    sh(&format!("docker rmi '{tag}' >/dev/null"));
}

/// A patch for hello 2.12.3 (ours): another greeting.
const GREETING_PATCH: &str = "--- a/src/hello.c
+++ b/src/hello.c
@@ -145,7 +145,7 @@
 #endif
 
   /* Having initialized gettext, get the default message. */
-  greeting_msg = _(\"Hello, world!\");
+  greeting_msg = _(\"Hello, patched world!\");
 
   /* Even exiting has subtleties.  On exit, if any writes failed, change
      the exit status.  The /dev/full device on GNU/Linux can be used for
";

#[test]
fn guix_origin_patches_then_the_snippet_are_applied_to_the_verified_source() {
    if !require_runc() || !require("mmdebstrap", "mmdebstrap --version") || !require_docker() {
        return;
    }
    let cache = debian_orig(HELLO_ORIG.0, HELLO_ORIG.1);
    let s = Strata::new();
    s.base_image("debian-bookworm");
    // The origin's hash is the unpatched tarball's, as in Guix; the patch
    // is found in the definition's patches/ directory; the snippet runs
    // after it, with (guix build utils), in the unpacked top directory.
    let hello = fs::read_to_string(hello_scm()).unwrap().replace(
        "(method url-fetch)",
        "(method url-fetch)\n              (patches (search-patches \"hello-greeting.patch\"))\n              \
         (snippet '(begin (delete-file \"TODO\") (substitute* \"src/hello.c\" ((\"patched world\") \"patched, snipped world\"))))",
    ).replace("(build-system gnu-build-system)", "(build-system gnu-build-system)\n    (arguments (list #:tests? #f))");
    let f = definition(&s, &hello);
    fs::create_dir_all(f.parent().unwrap().join("patches")).unwrap();
    fs::write(f.parent().unwrap().join("patches/hello-greeting.patch"), GREETING_PATCH).unwrap();
    let tag = format!("strata-guix-patched:{}", std::process::id());
    let cache_opt = format!("source-cache={}", cache.display());
    let args = ["build", f.to_str().unwrap(), "-X", &cache_opt, "--progress", "plain"];
    let out = s.ok(&[&args[..], &["-t", &tag, "--output", "type=docker"]].concat());
    assert!(out.contains("[hello:source:patch] run ("), "{out}");
    let log = fs::read_to_string(s.store().join("strata/logs/hello:source:patch.log")).unwrap();
    assert!(log.starts_with("applying 'hello-greeting.patch'...\npatching file src/hello.c\n"), "{log}");
    assert_eq!(sh(&format!("docker run --rm '{tag}' hello")), "Hello, patched, snipped world!\n");
    sh(&format!("docker rmi '{tag}' >/dev/null"));
    // The unpack phase got the repacked tarball, without the deleted file.
    let unpacked = s.ok(&[
        "shell",
        "-p",
        f.to_str().unwrap(),
        "-X",
        &cache_opt,
        "--package",
        "hello",
        "--phase",
        "configure",
        "--",
        "sh",
        "-c",
        "pwd; ls TODO 2>&1 || true",
    ]);
    assert!(unpacked.starts_with("/tmp/guix-build-hello-2.12.3.drv-0/hello-2.12.3\n"), "{unpacked}");
    assert!(unpacked.contains("No such file"), "{unpacked}");

    // A patch that is not there is an error at the field.
    fs::remove_file(f.parent().unwrap().join("patches/hello-greeting.patch")).unwrap();
    let err = s.fails(&args);
    assert!(err.contains("p.scm:7:15: patch 'hello-greeting.patch' not found (looked in "), "{err}");
}

#[test]
fn guix_git_origin_from_a_debian_tarball_is_checked_by_its_nar_hash() {
    if !require_runc() || !require("mmdebstrap", "mmdebstrap --version") || !require_docker() {
        return;
    }
    // lsix: git-fetch, copy-build-system; Debian's orig tarball unpacks to
    // the checkout whose NAR hash the definition gives.
    let cache = debian_orig(
        "debian/pool/main/l/lsix/lsix_1.9.1.orig.tar.xz",
        "caf04fe29eb12d5e7a60e71a83a0568d1df8eff806b195f40b91ca14ca01356f",
    );
    let s = Strata::new();
    s.base_image("debian-bookworm");
    let def = s.path("lsix");
    fs::create_dir_all(&def).unwrap();
    let scm = def.join("lsix.scm");
    fs::copy(repo().join("frontends/guix/scheme/tests/fixtures/definitions/lsix.scm"), &scm).unwrap();
    let tag = format!("strata-guix-lsix:{}", std::process::id());
    let cache_opt = format!("source-cache={}", cache.display());
    // imagemagick is mapped to nothing: the test checks the source, not lsix's runtime.
    let args = ["build", scm.to_str().unwrap(), "-X", &cache_opt, "-X", "debian=imagemagick=", "--progress", "plain"];
    let out = s.ok(&[&args[..], &["-t", &tag, "--output", "type=docker"]].concat());
    assert!(out.contains("[lsix:source:verify] done"), "{out}");
    assert_eq!(sh(&format!("docker run --rm '{tag}' sh -c 'head -c 11 $(command -v lsix)'")), "#!/usr/bin/");
    sh(&format!("docker rmi '{tag}' >/dev/null"));

    // The same tarball with another hash in the definition: the NAR check names both.
    fs::write(
        &scm,
        fs::read_to_string(&scm).unwrap().replace(
            "1w4wgnkvvirpgxy00jlpw7p1pcflnwy3rwk5zwh4pkk3igpcdi4s",
            "0w4wgnkvvirpgxy00jlpw7p1pcflnwy3rwk5zwh4pkk3igpcdi4s",
        ),
    )
    .unwrap();
    let err = s.fails(&args);
    assert!(err.contains("lsix.scm:13:17: sha256 mismatch for the git checkout: expected 0w4wgnkvvirpgxy00jlpw7p1pcflnwy3rwk5zwh4pkk3igpcdi4s, found 1w4wgnkvvirpgxy00jlpw7p1pcflnwy3rwk5zwh4pkk3igpcdi4s"), "{err}");
}

/// lz4: a git-fetch origin (Debian's orig tarball has the checkout's NAR
/// hash), outputs `out` and `static` as separate layers, custom phases; its
/// check phase takes many minutes, hence STRATA_SLOW_TESTS.
#[test]
fn guix_lz4_outputs_are_separate_layers_and_an_edited_phase_reruns_alone() {
    if !slow_tests("build lz4 from its Guix definition (its check phase is slow)")
        || !require_runc()
        || !require("mmdebstrap", "mmdebstrap --version")
        || !require_docker()
    {
        return;
    }
    let cache = debian_orig(
        "debian/pool/main/l/lz4/lz4_1.10.0.orig.tar.gz",
        "537512904744b35e232912055ccf8ec66d768639ff3abe5788d90d792ec5f48b",
    );
    let s = Strata::new();
    s.base_image("debian-bookworm");
    let def = s.path("lz4");
    fs::create_dir_all(&def).unwrap();
    let scm = def.join("lz4.scm");
    let text = fs::read_to_string("/work/shared/conformance/guix/lz4.scm").unwrap();
    fs::write(&scm, &text).unwrap();
    let cache_opt = format!("source-cache={}", cache.display());
    let tag = format!("strata-guix-lz4:{}", std::process::id());
    let out = s.ok(&[
        "build",
        scm.to_str().unwrap(),
        "-X",
        &cache_opt,
        "--progress",
        "plain",
        "-t",
        &tag,
        "--output",
        "type=docker",
    ]);
    let layer = |o: &str| {
        let needle = format!("[lz4:output:{o}] layer out ");
        out.lines()
            .find_map(|l| l.strip_prefix(&needle))
            .unwrap_or_else(|| panic!("no {needle} in:\n{out}"))
            .to_string()
    };
    assert_ne!(layer("out"), layer("static"));
    let run = |script: &str| sh(&format!("docker run --rm '{tag}' sh -c '{script}'"));
    assert_eq!(run("ls /gnu/store/*-lz4-1.10.0-static/lib/"), "liblz4.a\n");
    assert_eq!(run("ls /gnu/store/*-lz4-1.10.0/lib/liblz4.a 2>/dev/null || echo none"), "none\n");
    assert_eq!(run("echo round trip | lz4 | lz4 -d"), "round trip\n");
    sh(&format!("docker rmi '{tag}' >/dev/null"));

    // Editing the last custom phase reruns it and what follows, not configure or build.
    fs::write(
        &scm,
        text.replace("(mkdir-p (string-append static \"/lib\"))", "(mkdir-p (string-append static \"/lib/\"))"),
    )
    .unwrap();
    let edited = s.ok(&["build", scm.to_str().unwrap(), "-X", &cache_opt, "--progress", "plain"]);
    let ran: Vec<&str> = edited
        .lines()
        .filter(|l| l.starts_with('[') && l.contains("] run ("))
        .filter_map(|l| l.strip_prefix('[')?.split(']').next())
        .collect();
    assert_eq!(ran.first(), Some(&"lz4:move-static-library"), "{edited}");
    assert!(!ran.iter().any(|v| ["lz4:build", "lz4:check", "lz4:install"].contains(v)), "{ran:?}");
}
