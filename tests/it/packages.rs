//! Debian packages in the lifecycle: `stage-packages` (fetched in the pull
//! step, unpacked into the part's install dir when it builds) and the
//! overlay step (`overlay-packages`, `overlay-script`, the `overlay`
//! fileset), built with runc on the Debian base and run with Docker. The
//! Debian ones are slow (apt against the mirror): CI, or STRATA_SLOW_TESTS=1.

use std::fs;
use std::path::{Path, PathBuf};

use crate::support::{Strata, last_digest, require, require_docker, sh, slow_tests};

fn require_runc() -> bool {
    require("root and runc", "test \"$(id -u)\" = 0 && runc --version")
}

/// A store with the Debian base, for the slow tests.
fn debian() -> Option<Strata> {
    if !slow_tests("build with the Debian base") {
        return None;
    }
    if !require_runc() || !require("mmdebstrap", "mmdebstrap --version") || !require_docker() {
        return None;
    }
    let s = Strata::new();
    s.ok(&["image", "build", "images/debian-bookworm"]);
    Some(s)
}

/// `rockcraft.yaml` = `spec` in a project dir beside the store.
fn project(s: &Strata, spec: &str) -> PathBuf {
    let dir = s.path("proj");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("rockcraft.yaml"), spec).unwrap();
    dir
}

/// The image digest of a build's `[pack] image <digest> (N steps run, M cached)` line.
fn image_digest(out: &str) -> String {
    let line = out.lines().find(|l| l.starts_with("[pack] image ")).unwrap_or_else(|| panic!("no image in:\n{out}"));
    last_digest(line.split(" (").next().unwrap())
}

/// Whether a build ran no step: everything came from the step cache.
fn ran_nothing(out: &str) -> bool {
    out.lines().any(|l| l.starts_with("[pack] image ") && l.contains("(0 steps run,"))
}

/// The vertices a build ran (`[v] run (why)`), in order.
fn ran(out: &str) -> Vec<&str> {
    out.lines()
        .filter(|l| l.starts_with('[') && l.contains("] run ("))
        .filter_map(|l| l.strip_prefix('[')?.split(']').next())
        .collect()
}

/// The digest of the layer a build reported as `[vertex] layer <output> <digest>`.
fn layer_digest(out: &str, vertex: &str, output: &str) -> String {
    let needle = format!("[{vertex}] layer {output} ");
    let line =
        out.lines().find(|l| l.starts_with(&needle)).unwrap_or_else(|| panic!("no layer {vertex} {output} in:\n{out}"));
    last_digest(line)
}

/// `tar t` of a layer blob in the store.
fn layer_listing(s: &Strata, digest: &str) -> Vec<String> {
    let blob = s.store().join("blobs/sha256").join(digest.trim_start_matches("sha256:"));
    sh(&format!("tar tzf '{}'", blob.display())).lines().map(str::to_string).collect()
}

struct Image(String);

impl Drop for Image {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker").args(["rmi", "-f", &self.0]).output();
    }
}

fn tag(name: &str) -> Image {
    Image(format!("strata-it-{name}:{}", std::process::id()))
}

fn docker_run(image: &Image, script: &str) -> String {
    sh(&format!("docker run --rm --entrypoint /bin/sh '{}' -c '{script}'", image.0))
}

const HELLO: &str = "name: hello-staged
version: '1.0'
base: bare
build-base: debian:bookworm
entrypoint: [/usr/bin/hello]
parts:
  hello:
    plugin: nil
    stage-packages: [hello]
";

/// rockcraft's own example: a bare image made of `stage-packages: [hello]`.
/// The pull step fetches hello and its whole dependency closure (libc6
/// included, as rockcraft stages it) into a layer of `.deb`s; the build
/// unpacks them; the image runs `/usr/bin/hello` and nothing else is in it.
/// Built twice in one store, the second build runs no step (the pull's
/// record brings back the `.deb` layer and the package list, the build's
/// the install tree) and names the same image.
#[test]
fn stage_packages_make_a_bare_image_that_runs_hello() {
    let Some(s) = debian() else { return };
    let dir = project(&s, HELLO);
    let image = tag("stage-packages");
    let out = s.ok(&["build", dir.to_str().unwrap(), "-t", &image.0, "--output", "type=docker"]);
    assert_eq!(sh(&format!("docker run --rm '{}'", image.0)), "Hello, world!\n");

    // The fetched .debs are a layer of their own, pool file names under
    // the part's stage_packages dir; their names and versions are logged.
    let debs = layer_listing(&s, &layer_digest(&out, "hello:pull:debs", "debs"));
    for p in ["hello_", "libc6_", "libgcc-s1_", "gcc-12-base_"] {
        assert!(
            debs.iter().any(|f| f.starts_with(&format!("root/parts/hello/stage_packages/{p}")) && f.ends_with(".deb")),
            "{p} in {debs:?}"
        );
    }
    let log = fs::read_to_string(s.store().join("strata/logs/hello:pull:stage-packages.log")).unwrap();
    assert!(log.contains("fetched ") && log.contains("gcc-12-base=") && log.contains(" hello=2.10"), "{log}");
    // Unpacked and normalised: libc6's absolute link to the loader stays
    // absolute (craft-parts leaves links to libc6's files alone).
    let install = layer_listing(&s, &layer_digest(&out, "hello:build:normalize", "out"));
    assert!(install.contains(&"root/parts/hello/install/usr/bin/hello".to_string()), "{install:?}");
    let rootfs = s.path("rootfs");
    fs::create_dir_all(&rootfs).unwrap();
    sh(&format!(
        "c=$(docker create '{}') && docker export \"$c\" | tar -x -C '{}'; docker rm \"$c\" >/dev/null",
        image.0,
        rootfs.display()
    ));
    let ld = fs::read_link(rootfs.join("lib64/ld-linux-x86-64.so.2")).unwrap();
    assert_eq!(ld, Path::new("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"));
    assert!(!rootfs.join("bin/sh").exists() && !rootfs.join("usr/bin/apt-get").exists(), "nothing but the packages");

    let again = s.ok(&["build", dir.to_str().unwrap(), "--progress", "plain"]);
    assert!(ran_nothing(&again), "everything cached:\n{again}");
    assert_eq!(image_digest(&again), image_digest(&out), "same packages, same image");

    // Without the cache the packages are fetched and unpacked again, to
    // the same bytes.
    let fresh = s.ok(&["build", dir.to_str().unwrap(), "--progress", "plain", "--no-cache"]);
    assert!(ran(&fresh).contains(&"hello:pull") && ran(&fresh).contains(&"hello:build"), "{fresh}");
    assert_eq!(layer_digest(&fresh, "hello:pull:debs", "debs"), layer_digest(&out, "hello:pull:debs", "debs"));
    assert_eq!(image_digest(&fresh), image_digest(&out), "fetched again, same image");
}

const OVERLAY: &str = r#"name: overlaid
version: '1.0'
base: debian:bookworm
build-base: debian:bookworm
parts:
  tools:
    plugin: nil
    overlay-packages: [hello]
    overlay-script: |
      craftctl default
      echo "from the overlay" > $CRAFT_OVERLAY/etc/overlay-note
      mkdir -p $CRAFT_OVERLAY/opt/scratch
      echo junk > $CRAFT_OVERLAY/opt/scratch/junk
      rm $CRAFT_OVERLAY/etc/issue.net
    overlay:
      - "*"
      - "-opt/scratch"
      - "-usr/share/doc"
  app:
    plugin: nil
    after: [tools]
    override-build: |
      cp $CRAFT_OVERLAY/etc/overlay-note $CRAFT_PART_INSTALL/seen-in-build
      $CRAFT_OVERLAY/usr/bin/hello -g "run from the overlay" > $CRAFT_PART_INSTALL/hello-in-build
  doc:
    plugin: nil
    override-build: |
      echo docs > $CRAFT_PART_INSTALL/doc.txt
"#;

/// The overlay step of a part changes the runtime base: overlay-packages
/// are installed with apt in a container of the base, then the
/// overlay-script runs there (`CRAFT_OVERLAY` is its root). What the
/// `overlay` fileset keeps becomes a layer between the base and the prime
/// — deletions included — and a part built after it sees the overlay at
/// `CRAFT_OVERLAY`. apt's lists, downloads and logs stay out, so two builds
/// give the same image. Built again in the same store nothing runs; an
/// edited overlay-script reruns the overlay, the builds that see it and
/// pack, not the build of `doc`, which does not see the overlay.
#[test]
fn overlay_packages_and_script_make_a_layer_below_the_prime() {
    let Some(s) = debian() else { return };
    let dir = project(&s, OVERLAY);
    let image = tag("overlay");
    let out = s.ok(&["build", dir.to_str().unwrap(), "-t", &image.0, "--output", "type=docker"]);

    let inspect = s.ok(&["image", "inspect", &image.0]);
    let v: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    let history: Vec<String> =
        v["history"].as_array().unwrap().iter().map(|h| h["created_by"].as_str().unwrap_or("").into()).collect();
    let overlay_at = history.iter().position(|h| h.contains("the overlay of part 'tools'")).expect("an overlay layer");
    let prime_at = history.iter().position(|h| h.contains("the prime of overlaid")).expect("a prime layer");
    assert!(overlay_at < prime_at, "{history:?}");

    let overlay = layer_listing(&s, &layer_digest(&out, "tools:overlay:filter", "out"));
    assert!(overlay.contains(&"usr/bin/hello".to_string()), "{overlay:?}");
    assert!(overlay.contains(&"etc/.wh.issue.net".to_string()), "the deletion is a whiteout: {overlay:?}");
    for gone in ["opt/scratch/junk", "usr/share/doc/hello/copyright", "var/log/dpkg.log", "var/lib/apt/lists/lock"] {
        assert!(!overlay.contains(&gone.to_string()), "{gone} in {overlay:?}");
    }

    let seen = docker_run(
        &image,
        "hello -g overlaid; cat /etc/overlay-note /seen-in-build /hello-in-build; \
         test ! -e /opt/scratch && test ! -e /etc/issue.net && test ! -e /usr/share/doc/hello && echo filtered",
    );
    assert_eq!(seen, "overlaid\nfrom the overlay\nfrom the overlay\nrun from the overlay\nfiltered\n");

    let again = s.ok(&["build", dir.to_str().unwrap(), "--progress", "plain"]);
    assert!(ran_nothing(&again), "everything cached:\n{again}");
    assert_eq!(image_digest(&again), image_digest(&out), "same overlay, same image");

    fs::write(dir.join("rockcraft.yaml"), OVERLAY.replace("from the overlay", "from the edited overlay")).unwrap();
    let plan = s.ok(&["plan", dir.to_str().unwrap(), "--progress", "plain"]);
    assert!(plan.contains("[tools:overlay] would run ("), "{plan}");
    assert!(plan.contains("[app:build] would run ("), "{plan}");
    assert!(plan.contains("[doc:build] cached"), "{plan}");
    let edited =
        s.ok(&["build", dir.to_str().unwrap(), "--progress", "plain", "-t", &image.0, "--output", "type=docker"]);
    let ran = ran(&edited);
    for v in ["tools:overlay", "tools:build", "app:build", "pack"] {
        assert!(ran.contains(&v), "{v} reruns: {ran:?}");
    }
    for v in ["tools:pull", "app:pull", "doc:pull", "doc:build", "doc:stage", "doc:prime"] {
        assert!(!ran.contains(&v), "{v} does not rerun: {ran:?}");
    }
    assert_ne!(layer_digest(&edited, "tools:overlay:filter", "out"), layer_digest(&out, "tools:overlay:filter", "out"));
    assert_eq!(docker_run(&image, "cat /etc/overlay-note /seen-in-build"), "from the edited overlay\n".repeat(2));
}

/// Over `base: bare` the overlay is rockcraft's empty directory: an
/// overlay-script writes into `CRAFT_OVERLAY` from the build base, and each
/// part's overlay sees the earlier parts' (here: deletes a file of one).
#[test]
fn an_overlay_script_writes_into_a_bare_base() {
    if !require_runc() || !slow_tests("build with the Debian base") || !require("mmdebstrap", "mmdebstrap --version") {
        return;
    }
    let s = Strata::new();
    s.ok(&["image", "build", "images/debian-bookworm"]);
    let dir = project(
        &s,
        "name: bare-overlay\nversion: '1'\nbase: bare\nbuild-base: debian:bookworm\nparts:\n  a:\n    plugin: nil\n    \
         overlay-script: |\n      mkdir $CRAFT_OVERLAY/etc\n      echo a > $CRAFT_OVERLAY/etc/a\n      echo x > $CRAFT_OVERLAY/etc/x\n  \
         b:\n    plugin: nil\n    overlay-script: |\n      cp $CRAFT_OVERLAY/etc/a $CRAFT_OVERLAY/etc/b\n      rm $CRAFT_OVERLAY/etc/x\n",
    );
    let out = s.ok(&["build", dir.to_str().unwrap()]);
    assert_eq!(layer_listing(&s, &layer_digest(&out, "a:overlay:filter", "out")), ["etc/", "etc/a", "etc/x"]);
    assert_eq!(layer_listing(&s, &layer_digest(&out, "b:overlay:filter", "out")), ["etc/", "etc/b", "etc/.wh.x"]);
}

/// stage-packages need apt in the build base; a busybox build base says so.
#[test]
fn stage_packages_without_apt_are_refused_clearly() {
    if !require_runc() {
        return;
    }
    let s = Strata::new();
    s.busybox();
    let dir = project(
        &s,
        "name: p\nbase: bare\nbuild-base: busybox:latest\nparts:\n  p:\n    plugin: nil\n    stage-packages: [hello]\n",
    );
    let err = s.fails(&["build", dir.to_str().unwrap()]);
    assert!(
        err.contains("part 'p': stage-packages need apt-get in the build base 'busybox:latest'")
            && err.contains("debian:bookworm"),
        "{err}"
    );
}

/// overlay-packages need a system to install into: with `--base bare` the
/// overlay step refuses them (the spec's own `base: bare` is refused when
/// it is read).
#[test]
fn overlay_packages_over_a_bare_base_are_refused() {
    if !require_runc() {
        return;
    }
    let s = Strata::new();
    s.busybox();
    let dir = project(
        &s,
        "name: p\nbase: debian:bookworm\nbuild-base: busybox:latest\nparts:\n  p:\n    plugin: nil\n    overlay-packages: [hello]\n",
    );
    let err = s.fails(&["build", dir.to_str().unwrap(), "--base", "bare"]);
    assert!(err.contains("part 'p' uses overlay-packages, but the base is bare"), "{err}");
}

/// A package apt does not know is named, not buried in apt's output.
#[test]
fn an_unknown_stage_package_is_named() {
    if !require_runc() || !slow_tests("build with the Debian base") || !require("mmdebstrap", "mmdebstrap --version") {
        return;
    }
    let s = Strata::new();
    s.ok(&["image", "build", "images/debian-bookworm"]);
    let dir = project(
        &s,
        "name: p\nbase: bare\nbuild-base: debian:bookworm\nparts:\n  p:\n    plugin: nil\n    stage-packages: [hello, no-such-package-strata]\n",
    );
    let err = s.fails(&["build", dir.to_str().unwrap()]);
    assert!(err.contains("part 'p': stage package 'no-such-package-strata' is not in the apt sources"), "{err}");
}
