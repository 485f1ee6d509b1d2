//! `strata build`: craft projects through the whole lifecycle with runc
//! (pull, build, stage, prime, pack), checked against craft-parts' recorded
//! prime trees (the conformance cases vendored in
//! `frontends/craft/tests/fixtures/conformance/`). Needs root and runc.

use std::fs;
use std::path::{Path, PathBuf};

use strata::layer::{UnpackOptions, unpack};
use strata_frontend_craft::tree::EntryKind;

use crate::support::{Strata, last_digest, repo, require};

fn require_runc() -> bool {
    require("root and runc", "test \"$(id -u)\" = 0 && runc --version")
}

/// A copy of a conformance case in a temp dir, with `prepare.sh` run.
fn case(name: &str, into: &Path) -> PathBuf {
    let from = repo().join("frontends/craft/tests/fixtures/conformance").join(name);
    let to = into.join(name);
    crate::support::sh(&format!("cp -a '{}' '{}'", from.display(), to.display()));
    if to.join("prepare.sh").exists() {
        crate::support::sh(&format!("sh '{}'", to.join("prepare.sh").display()));
    }
    to
}

/// The manifest of the one image in an OCI layout directory.
fn oci_dir_manifest(dir: &Path) -> serde_json::Value {
    crate::support::oci_dir_image_manifest(dir)
}

fn blob(dir: &Path, digest: &str) -> PathBuf {
    dir.join("blobs/sha256").join(digest.trim_start_matches("sha256:"))
}

/// Unpacks the image of an OCI layout directory with strata's layer reader.
fn unpack_oci_dir(dir: &Path, target: &Path) {
    fs::create_dir_all(target).unwrap();
    let manifest = oci_dir_manifest(dir);
    for layer in manifest["layers"].as_array().unwrap() {
        let f = fs::File::open(blob(dir, layer["digest"].as_str().unwrap())).unwrap();
        unpack(std::io::BufReader::new(f), target, &UnpackOptions::default()).unwrap();
    }
}

/// Unpacks the last layer of the image of an OCI layout directory: the
/// prime, when the image has a base below it.
fn unpack_last_layer(dir: &Path, target: &Path) {
    fs::create_dir_all(target).unwrap();
    let manifest = oci_dir_manifest(dir);
    let last = manifest["layers"].as_array().unwrap().last().expect("a layer");
    let f = fs::File::open(blob(dir, last["digest"].as_str().unwrap())).unwrap();
    unpack(std::io::BufReader::new(f), target, &UnpackOptions::default()).unwrap();
}

/// `ls -l`-style lines like the cases' `expected-prime.txt`, sorted.
fn prime_listing(root: &Path) -> Vec<String> {
    let (tree, _) = strata::vertex::hostfs::read_tree(root).unwrap();
    let mut lines: Vec<String> = tree.iter().map(|(p, e)| format!("{} prime/{p}", e.mode_string())).collect();
    lines.push("drwxr-xr-x prime".into());
    lines.sort();
    lines
}

/// Lines like the cases' `expected-prime-detail.txt`: mode, owner, path
/// and, for files, the first 16 hex digits of their sha256; sorted.
fn prime_detail(root: &Path) -> Vec<String> {
    let (tree, _) = strata::vertex::hostfs::read_tree(root).unwrap();
    let mut lines: Vec<String> = tree
        .iter()
        .map(|(p, e)| {
            let hash = match &e.kind {
                EntryKind::File { content } => format!(" {}", &content[.."sha256:".len() + 16]),
                _ => String::new(),
            };
            format!("{} {}:{} prime/{p}{hash}", e.mode_string(), e.uid, e.gid)
        })
        .collect();
    lines.push("drwxr-xr-x 0:0 prime".into());
    lines.sort();
    lines
}

fn expected_prime(case_dir: &Path) -> Vec<String> {
    expected_lines(case_dir, "expected-prime.txt")
}

/// The non-empty lines of a case's recording, sorted.
fn expected_lines(case_dir: &Path, file: &str) -> Vec<String> {
    let mut lines: Vec<String> = fs::read_to_string(case_dir.join(file))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

/// A project dir `proj` beside the store holding `parts.yaml` = `spec`.
fn project(s: &Strata, spec: &str) -> PathBuf {
    let dir = s.path("proj");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("parts.yaml"), spec).unwrap();
    dir
}

fn last_digest_of_line(line: &str) -> &str {
    line.split_whitespace().last().unwrap()
}

/// Builds `dump-filesets` on busybox into a fresh store; returns the
/// store, the case dir and the output of `strata build`.
fn build_dump_filesets(out: &str) -> (Strata, PathBuf, String) {
    let s = Strata::new();
    s.busybox();
    let dir = case("dump-filesets", s.dir.path());
    let dest = format!("type=oci-dir,dest={}", s.path(out).display());
    let stdout = s.ok(&[
        "build",
        dir.to_str().unwrap(),
        "--base",
        "bare",
        "--build-base",
        "busybox:latest",
        "-t",
        "dump:test",
        "--output",
        &dest,
    ]);
    (s, dir, stdout)
}

#[test]
fn dump_filesets_primes_what_craft_parts_primes() {
    if !require_runc() {
        return;
    }
    let (s, dir, stdout) = build_dump_filesets("oci");
    for step in ["[files:pull] run", "[files:build] run", "[files:stage] run", "[files:prime] run", "[pack] done in"] {
        assert!(stdout.contains(step), "no '{step}' in:\n{stdout}");
    }
    let digest = last_digest(&stdout);
    assert_eq!(s.tagged_digest("dump:test"), digest);
    // Every intermediate layer is a blob in the store.
    let layers: Vec<&str> = stdout.lines().filter(|l| l.contains("] layer ")).map(last_digest_of_line).collect();
    assert_eq!(layers.len(), 6, "pull, build, install, stage, prime, pack:\n{stdout}");
    for l in layers {
        assert!(s.store().join("blobs/sha256").join(l.trim_start_matches("sha256:")).is_file(), "{l}");
    }
    let root = s.path("rootfs");
    unpack_oci_dir(&s.path("oci"), &root);
    assert_eq!(prime_listing(&root), expected_prime(&dir));
    let manifest = oci_dir_manifest(&s.path("oci"));
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 1, "a bare base: the prime is the only layer");
    // The pulled source was packed host-side: nothing written into the project.
    assert!(!dir.join("parts").exists() && !dir.join("stage").exists() && !dir.join("prime").exists());
}

#[test]
fn the_same_project_gives_the_same_image_digest_in_two_stores() {
    if !require_runc() {
        return;
    }
    let (_a, _, out_a) = build_dump_filesets("oci");
    let (_b, _, out_b) = build_dump_filesets("oci");
    assert_eq!(last_digest(&out_a), last_digest(&out_b));
}

#[test]
fn a_failing_override_build_names_part_step_exit_code_and_log() {
    if !require_runc() {
        return;
    }
    let s = Strata::new();
    s.busybox();
    let dir = project(
        &s,
        "parts:\n  broken:\n    plugin: nil\n    override-build: |\n      echo about to fail\n      exit 3\n",
    );
    let err = s.fails(&["build", dir.to_str().unwrap(), "--base", "bare", "--build-base", "busybox:latest"]);
    assert!(err.contains("step broken:build failed with exit code 3"), "{err}");
    assert!(err.contains("about to fail"), "the log tail is shown: {err}");
    let log = s.store().join("strata/logs/broken:build.log");
    assert!(err.contains(&log.display().to_string()), "the full log's path is shown: {err}");
    assert!(fs::read_to_string(&log).unwrap().contains("about to fail"));
}

#[test]
fn a_missing_base_image_says_how_to_get_it() {
    // Images are resolved before any step runs, with or without runc.
    let s = Strata::new();
    let dir = project(&s, "parts:\n  p:\n    plugin: nil\n");
    let err =
        s.cmd().args(["build", dir.to_str().unwrap(), "--base", "bare", "--build-base", "nope:1"]).output().unwrap();
    let err = String::from_utf8_lossy(&err.stderr);
    assert!(err.contains("image 'nope:1' is not in the store") && err.contains("strata image build"), "{err}");
}

/// Needs bash in the build base: Debian, built with mmdebstrap, so it runs
/// under CI or with STRATA_SLOW_TESTS=1 (STRATA_ROOTFS_CACHE helps).
#[test]
fn after_scriptlets_runs_overrides_and_sets_the_version() {
    if !crate::support::slow_tests("build the Debian base") {
        return;
    }
    if !require_runc() || !require("mmdebstrap", "mmdebstrap --version") {
        return;
    }
    let s = Strata::new();
    s.base_image("debian-bookworm");
    let dir = case("after-scriptlets", s.dir.path());
    let dest = format!("type=oci-dir,dest={}", s.path("oci").display());
    let out =
        s.ok(&["build", dir.to_str().unwrap(), "--base", "bare", "--build-base", "debian:bookworm", "--output", &dest]);
    // z-lib is staged before a-app builds (after:), and each step runs once.
    let z_stage = out.find("[z-lib:stage] run").expect("z-lib staged");
    let a_build = out.find("[a-app:build] run").expect("a-app built");
    assert!(z_stage < a_build, "{out}");
    assert_eq!(out.matches("[z-lib:build] run").count(), 1, "{out}");
    let root = s.path("rootfs");
    unpack_oci_dir(&s.path("oci"), &root);
    assert_eq!(prime_listing(&root), expected_prime(&dir));
    assert_eq!(fs::read_to_string(root.join("VERSION")).unwrap(), "1.2.3-rc1 hello step=PRIME\n");
    let manifest = oci_dir_manifest(&s.path("oci"));
    assert_eq!(manifest["annotations"]["org.opencontainers.image.version"], "1.2.3-rc1");
}

/// A part that installs both `usr/bin/tool` and `bin/tool`, built over a
/// Debian base (merged /usr: `bin -> usr/bin`), in the project dir beside
/// the store; `bin` is `bin_tool`, a shell line in the install dir.
fn merged_usr_project(s: &Strata, bin_tool: &str) -> PathBuf {
    let spec = format!(
        "base: debian:bookworm\nbuild-base: debian:bookworm\nparts:\n  tools:\n    plugin: nil\n    override-build: |\n      \
         cd \"$CRAFT_PART_INSTALL\"\n      mkdir -p usr/bin bin\n      printf '#!/bin/sh\\necho tool\\n' > usr/bin/tool\n      \
         chmod 755 usr/bin/tool\n      {bin_tool}\n"
    );
    project(s, &spec)
}

/// Issue #16: the image's `/usr/bin/tool` is what both `bin/tool` and
/// `usr/bin/tool` of the prime pack to over a merged-/usr base. Packing
/// one over the other silently broke images (a venv's `bin/python3.11 ->
/// python3` over the interpreter: a symlink loop); like rockcraft, strata
/// refuses unless the two are the same, and then packs one.
#[test]
fn a_prime_with_bin_x_and_usr_bin_x_over_a_merged_usr_base_is_refused_unless_identical() {
    if !crate::support::slow_tests("build the Debian base") {
        return;
    }
    if !require_runc() || !require("mmdebstrap", "mmdebstrap --version") {
        return;
    }
    let s = Strata::new();
    s.base_image("debian-bookworm");
    let dir = merged_usr_project(&s, "ln -s tool bin/tool");
    let err = s.fails(&["build", dir.to_str().unwrap(), "-t", "merged-usr:conflict"]);
    assert!(
        err.contains(
            "conflicting paths pointing to 'usr/bin/tool': 'bin/tool' (part 'tools') and 'usr/bin/tool' (part 'tools') differ, \
             and the base image has bin -> usr/bin"
        ),
        "{err}"
    );
    assert!(!s.ok(&["image", "ls"]).contains("merged-usr"), "no image was tagged");

    // The same file in both places is one file in the image.
    let dir = merged_usr_project(&s, "cp -p usr/bin/tool bin/tool");
    let dest = format!("type=oci-dir,dest={}", s.path("oci").display());
    s.ok(&["build", dir.to_str().unwrap(), "-t", "merged-usr:same", "--output", &dest]);
    let prime = s.path("prime");
    unpack_last_layer(&s.path("oci"), &prime);
    assert_eq!(
        prime_listing(&prime),
        ["-rwxr-xr-x prime/usr/bin/tool", "drwxr-xr-x prime", "drwxr-xr-x prime/usr", "drwxr-xr-x prime/usr/bin"]
    );
    assert!(!prime.join("bin").exists(), "the base's bin link stays a link");
}

/// The make-c case (the make plugin, `source-subdir`, `make-parameters`, a
/// stage exclude and a prime of explicit includes) primes what craft-parts
/// primed: the same paths, modes, owners and man page. The binary's hash
/// depends on the compiler, so the binary is run instead: `hello.c` prints
/// `greeting()`, which `greet.c` makes from `SUFFIX=craft`.
#[test]
fn make_c_primes_what_craft_parts_primes_and_its_binary_runs() {
    if !crate::support::slow_tests("build the Debian base") {
        return;
    }
    if !require_runc() || !require("mmdebstrap", "mmdebstrap --version") || !crate::support::require_docker() {
        return;
    }
    let s = Strata::new();
    s.base_image("debian-bookworm");
    let dir = case("make-c", s.dir.path());
    // craft-parts ran on a host with a C toolchain; strata installs build
    // packages without recommends, so gcc needs libc6-dev listed
    // (docs/craft-differences.md).
    let spec = fs::read_to_string(dir.join("parts.yaml")).unwrap();
    let spec = spec.replacen("    plugin: make\n", "    plugin: make\n    build-packages: [libc6-dev]\n", 1);
    fs::write(dir.join("parts.yaml"), spec).unwrap();

    let tag = format!("strata-it-make-c:{}", std::process::id());
    let dest = format!("type=oci-dir,dest={}", s.path("oci").display());
    let base = "debian:bookworm";
    s.ok(&["build", dir.to_str().unwrap(), "--base", base, "--build-base", base, "-t", &tag, "--output", &dest]);
    let prime = s.path("prime");
    unpack_last_layer(&s.path("oci"), &prime);
    let without_binary_hash = |lines: Vec<String>| -> Vec<String> {
        let binary = " prime/usr/bin/hello sha256:";
        lines
            .into_iter()
            .map(|l| l.split_once(binary).map_or(l.clone(), |(head, _)| format!("{head}{binary}…")))
            .collect()
    };
    assert_eq!(
        without_binary_hash(prime_detail(&prime)),
        without_binary_hash(expected_lines(&dir, "expected-prime-detail.txt"))
    );

    s.ok(&["image", "export", &tag, "docker-daemon:"]);
    let run = std::process::Command::new("docker")
        .args(["run", "--rm", "--entrypoint", "/usr/bin/hello", &tag])
        .output()
        .expect("docker run");
    let _ = std::process::Command::new("docker").args(["rmi", "-f", &tag]).output();
    assert!(run.status.success(), "{}", crate::support::text(&run));
    assert_eq!(String::from_utf8_lossy(&run.stdout), "hello from make-c (craft)\n");
}

#[test]
fn override_pull_runs_over_the_fetched_source() {
    if !require_runc() {
        return;
    }
    let s = Strata::new();
    s.busybox();
    let dir = s.path("proj");
    fs::create_dir_all(dir.join("files")).unwrap();
    fs::write(dir.join("files/a.txt"), "a\n").unwrap();
    fs::write(
        dir.join("parts.yaml"),
        "parts:\n  p:\n    plugin: dump\n    source: files\n    override-pull: |\n      craftctl default\n      echo extra > extra.txt\n",
    )
    .unwrap();
    let dest = format!("type=oci-dir,dest={}", s.path("oci").display());
    s.ok(&["build", dir.to_str().unwrap(), "--base", "bare", "--build-base", "busybox:latest", "--output", &dest]);
    let root = s.path("rootfs");
    unpack_oci_dir(&s.path("oci"), &root);
    assert_eq!(fs::read_to_string(root.join("a.txt")).unwrap(), "a\n");
    assert_eq!(fs::read_to_string(root.join("extra.txt")).unwrap(), "extra\n");
    assert!(!dir.join("files/extra.txt").exists(), "the project's source is mounted read-only");
}

/// A downloaded source whose bytes do not match `source-checksum` stops the
/// build at its pull, showing both digests; nothing is cached or built.
#[test]
fn a_source_checksum_mismatch_stops_the_build_and_keeps_nothing() {
    if !require_runc() {
        return;
    }
    let s = Strata::new();
    s.busybox();
    let server = crate::support::HttpServer::serve("/x.tar.gz", b"not the release".to_vec());
    let wrong = "0".repeat(64);
    let spec =
        format!("parts:\n  p:\n    plugin: dump\n    source: {}\n    source-checksum: sha256/{wrong}\n", server.url);
    let dir = project(&s, &spec);
    let err = s.fails(&["build", dir.to_str().unwrap(), "--base", "bare", "--build-base", "busybox:latest"]);
    let actual = crate::support::sh("printf 'not the release' | sha256sum");
    let actual = actual.split_whitespace().next().unwrap();
    assert!(
        err.contains(&format!(
            "part 'p': checksum mismatch for {}: expected sha256/{wrong}, got sha256/{actual}",
            server.url
        )),
        "{err}"
    );
    let downloads = s.store().join("strata/downloads");
    assert!(!downloads.join("sha256").exists() || fs::read_dir(downloads.join("sha256")).unwrap().next().is_none());
    assert!(!s.store().join("strata/logs/p:build.log").exists(), "no step ran after the pull");
}

/// `build-base:` may name a registry image: a store that lacks it pulls it
/// (pinned by digest here); `--push` publishes the result to every `-t`.
#[test]
fn a_registry_build_base_is_pulled_and_the_image_pushed() {
    if !require_runc() || !require("the .ci/setup registry", "curl -sf http://127.0.0.1:5000/v2/") {
        return;
    }
    let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let base = format!("127.0.0.1:5000/strata-it/build-base-{n}:1");
    let publisher = Strata::new();
    let base_digest = publisher.busybox();
    publisher.ok(&["push", "busybox", &base]);

    let s = Strata::new(); // an empty store: the build base must come from the registry
    let dir = case("dump-filesets", s.dir.path());
    let pinned = format!("{base}@{base_digest}");
    let dest = format!("127.0.0.1:5000/strata-it/built-{n}:1");
    let out = s.ok(&["build", dir.to_str().unwrap(), "--base", "bare", "--build-base", &pinned, "-t", &dest, "--push"]);
    assert!(out.contains(&format!("note: pulled {pinned} {base_digest}")), "the build base was pulled: {out}");
    let digest = last_digest(&out);
    assert!(out.contains(&format!("pushed {dest}@{digest}")), "{out}");
    let v: serde_json::Value =
        serde_json::from_str(&crate::support::sh(&format!("skopeo inspect --tls-verify=false docker://{dest}")))
            .unwrap();
    assert_eq!(v["Digest"], digest.as_str());
}

/// DESIGN.md §7 at the level of a whole build: the dump-filesets case built
/// with runc, containerd, Docker and Podman gives one image digest.
#[test]
fn every_executor_builds_the_same_image() {
    if !require_runc() || !require_docker_and_friends() {
        return;
    }
    let digests: Vec<(String, String)> = ["runc", "containerd", "docker", "podman"]
        .into_iter()
        .map(|executor| {
            let s = Strata::new();
            s.busybox();
            let dir = case("dump-filesets", s.dir.path());
            let out = s.ok(&[
                "build",
                dir.to_str().unwrap(),
                "--base",
                "bare",
                "--build-base",
                "busybox:latest",
                "--executor",
                executor,
            ]);
            (executor.to_owned(), last_digest(&out))
        })
        .collect();
    for (executor, digest) in &digests[1..] {
        assert_eq!(digest, &digests[0].1, "{executor} and runc built different images: {digests:?}");
    }
}

fn require_docker_and_friends() -> bool {
    crate::support::require_docker()
        && require("containerd", "test -S /run/containerd/containerd.sock")
        && require("podman's API socket", "test -S /run/podman/podman.sock")
}

/// A part pulling a release tarball over HTTP (with source-checksum) and a
/// part pulling a git tag (with source-subdir), both with the dump plugin:
/// the tarball loses its top directory, the git part primes only its
/// subdir at the tag, and a second build takes the tarball from the
/// download cache without asking the server.
#[test]
fn tarball_over_http_and_git_tag_sources_are_pulled_and_primed() {
    if !require_runc() || !require("git", "git --version") {
        return;
    }
    let s = Strata::new();
    s.busybox();
    // The release tarball, made by GNU tar: site-1.0/{index.html,css/style.css}.
    let release = s.path("release");
    fs::create_dir_all(release.join("site-1.0/css")).unwrap();
    fs::write(release.join("site-1.0/index.html"), "<h1>hi</h1>\n").unwrap();
    fs::write(release.join("site-1.0/css/style.css"), "h1 {}\n").unwrap();
    let tgz = s.path("site-1.0.tar.gz");
    crate::support::sh(&format!("tar -C '{}' -czf '{}' site-1.0", release.display(), tgz.display()));
    let server = crate::support::HttpServer::serve("/dl/site-1.0.tar.gz", fs::read(&tgz).unwrap());
    let sha256 = crate::support::file_digest(&tgz);

    let spec = format!(
        "parts:\n  web:\n    plugin: dump\n    source: {}\n    source-checksum: {}\n  \
         tool:\n    plugin: dump\n    source: tool-repo\n    source-type: git\n    source-tag: v1\n    source-subdir: sub\n",
        server.url,
        sha256.replace(':', "/"),
    );
    let dir = project(&s, &spec);
    // The tool's repository, in the project: v1 is tagged, then main moves on.
    let git = |args: &str| {
        crate::support::sh(&format!(
            "cd '{}/tool-repo' && git -c user.name=t -c user.email=t@example.com -c init.defaultBranch=main {args}",
            dir.display()
        ))
    };
    fs::create_dir_all(dir.join("tool-repo/sub/bin")).unwrap();
    fs::write(dir.join("tool-repo/README"), "not primed: outside source-subdir\n").unwrap();
    fs::write(dir.join("tool-repo/sub/bin/tool"), "v1\n").unwrap();
    git("init -q");
    git("add -A");
    git("commit -q -m v1");
    git("tag v1");
    let v1 = git("rev-parse HEAD").trim().to_owned();
    fs::write(dir.join("tool-repo/sub/bin/tool"), "v2\n").unwrap();
    git("commit -q -am v2");

    let build = |out: &str, extra: &[&str]| {
        let dest = format!("type=oci-dir,dest={}", s.path(out).display());
        let mut args =
            vec!["build", dir.to_str().unwrap(), "--base", "bare", "--build-base", "busybox:latest", "--output", &dest];
        args.extend_from_slice(extra);
        s.ok(&args)
    };
    let stdout = build("oci", &[]);
    assert!(stdout.contains(&format!("note: web:pull: {} downloaded (", server.url)), "{stdout}");
    assert!(stdout.contains(&format!("note: tool:pull: commit {v1}")), "{stdout}");
    let root = s.path("rootfs");
    unpack_oci_dir(&s.path("oci"), &root);
    let mut listing: Vec<String> =
        prime_listing(&root).into_iter().map(|l| l.split_whitespace().last().unwrap().to_owned()).collect();
    listing.sort();
    assert_eq!(
        listing,
        ["prime", "prime/bin", "prime/bin/tool", "prime/css", "prime/css/style.css", "prime/index.html"]
    );
    assert_eq!(fs::read_to_string(root.join("bin/tool")).unwrap(), "v1\n");
    assert_eq!(fs::read_to_string(root.join("index.html")).unwrap(), "<h1>hi</h1>\n");
    assert_eq!(server.requests(), 1);

    let again = build("oci2", &[]);
    assert!(again.contains("[web:pull] cached"), "the step cache knows the checksummed tarball: {again}");
    let forced = build("oci3", &["--no-cache"]);
    assert!(forced.contains(&format!("note: web:pull: {} from the download cache", server.url)), "{forced}");
    assert_eq!(server.requests(), 1, "later builds do not download again");
    // The project was only read: no parts/, stage/ or prime/ appeared in it.
    assert!(!dir.join("parts").exists() && !dir.join("stage").exists() && !dir.join("prime").exists());
}

/// Steps with network access trust the build's CA bundle (`--build-ca`,
/// default the host's): it is mounted, found through `SSL_CERT_FILE` and
/// the like, and never captured into a layer. `--no-build-ca` gives none.
#[test]
fn build_steps_trust_the_build_ca_which_no_layer_keeps() {
    if !require_runc() {
        return;
    }
    let s = Strata::new();
    s.busybox();
    let dir = project(
        &s,
        "base: bare\nbuild-base: busybox:latest\nparts:\n  ca:\n    plugin: nil\n    override-build: |\n      \
         mkdir -p $CRAFT_PART_INSTALL/etc\n      cat \"${SSL_CERT_FILE:-/dev/null}\" > $CRAFT_PART_INSTALL/etc/seen-ca\n      \
         echo \"${PIP_CERT:-none} ${NODE_EXTRA_CA_CERTS:-none}\" > $CRAFT_PART_INSTALL/etc/vars\n",
    );
    let ca = s.path("proxy-ca.pem");
    fs::write(&ca, "-----BEGIN CERTIFICATE-----\nstrata-test-ca\n-----END CERTIFICATE-----\n").unwrap();
    let built = |extra: &[&str], out: &str| -> PathBuf {
        let dest = format!("type=oci-dir,dest={}", s.path(out).display());
        let mut args = vec!["build", dir.to_str().unwrap(), "--output", &dest, "--no-cache"];
        args.extend_from_slice(extra);
        s.ok(&args);
        let root = s.path(&format!("{out}-root"));
        unpack_last_layer(&s.path(out), &root);
        root
    };
    let with = built(&["--build-ca", ca.to_str().unwrap()], "with");
    assert_eq!(fs::read(with.join("etc/seen-ca")).unwrap(), fs::read(&ca).unwrap(), "the step read the bundle");
    let path = "/run/strata-ca/ca-certificates.crt";
    assert_eq!(fs::read_to_string(with.join("etc/vars")).unwrap().trim(), format!("{path} {path}"));
    let without = built(&["--no-build-ca"], "without");
    assert_eq!(fs::read(without.join("etc/seen-ca")).unwrap(), b"", "no bundle with --no-build-ca");
    // No layer of the store holds the bundle or its mount point.
    for entry in fs::read_dir(s.store().join("blobs/sha256")).unwrap() {
        let bytes = fs::read(entry.unwrap().path()).unwrap();
        let mut plain = Vec::new();
        if std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut plain).is_err() {
            continue; // not a gzip layer: a config, a manifest
        }
        let mut archive = tar::Archive::new(&plain[..]);
        let Ok(entries) = archive.entries() else { continue };
        for e in entries.flatten() {
            let path = e.path().unwrap().to_string_lossy().into_owned();
            assert!(!path.starts_with("run/strata-ca"), "a layer kept {path}");
        }
    }
}
