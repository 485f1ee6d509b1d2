//! Lowering specs in a temp dir and reading the graph back.

use std::path::{Path, PathBuf};

use strata_frontend_api::graph::{BuildGraph, LayerRef, MountSource, Op};
use strata_frontend_api::{Frontend, LowerOptions};

use crate::SpkFrontend;

struct Dir(PathBuf);

impl Dir {
    fn new(files: &[(&str, &str)]) -> Dir {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let d = std::env::temp_dir().join(format!("strata-spk-lower-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        for (name, text) in files {
            std::fs::write(d.join(name), text).unwrap();
        }
        Dir(d)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn lower(spec: &Path, x: &[&str]) -> Result<BuildGraph, strata_frontend_api::FrontendError> {
    lower_for(spec, None, x)
}

/// Lowers for one of the frontend's targets (`make-source`…).
fn lower_for(spec: &Path, target: Option<&str>, x: &[&str]) -> Result<BuildGraph, strata_frontend_api::FrontendError> {
    let opts = LowerOptions {
        frontend_options: x.iter().map(|a| strata_frontend_api::parse_frontend_option(a).unwrap()).collect(),
        target: target.map(str::to_string),
        ..LowerOptions { arch: "amd64".into(), ..LowerOptions::host(2) }
    };
    SpkFrontend.lower(spec, &opts)
}

fn ids(g: &BuildGraph) -> Vec<&str> {
    g.vertices.iter().map(|v| v.id.as_str()).collect()
}

const GREET: &str = "pkg: greet/1.0.0\napi: v0/package\nsources:\n  - path: ./\n  - script: echo generated > gen.txt\n\
build:\n  auto_host_vars: None\n  options:\n    - var: color/red\n  script:\n    - make install PREFIX=$PREFIX\n\
install:\n  environment:\n    - prepend: PATH\n      value: /spfs/bin\n  components:\n    - name: man\n      files: [share/man/]\n";

#[test]
fn a_package_is_a_source_package_a_build_per_variant_and_its_components() {
    let d = Dir::new(&[("greet.spk.yaml", GREET)]);
    let g = lower(&d.path("greet.spk.yaml"), &[]).unwrap();
    let digest = crate::variants::build_digest(&[("color".to_string(), "red".to_string())].into(), &[]);
    assert_eq!(
        ids(&g),
        [
            "greet:source:fetch:0".to_string(),
            "greet:source:local:0".into(),
            "greet:source:run:1".into(),
            "greet:source".into(),
            format!("greet:build:{digest}"),
            format!("greet:package:{digest}"),
        ]
    );
    let build = g.vertex(&format!("greet:build:{digest}")).unwrap();
    let Op::Exec(e) = &build.op else { panic!() };
    assert_eq!(e.rootfs, [LayerRef::image("debian:bookworm"), LayerRef::output("greet:source", "out")]);
    assert_eq!(e.argv, ["/bin/bash", "/.spk/run.sh"]);
    assert!(
        e.env.contains(&("SPK_OPT_color".into(), "red".into())) && e.env.contains(&("PREFIX".into(), "/spfs".into()))
    );
    assert!(e.env.contains(&("SPK_PKG".into(), format!("greet/1.0.0/{digest}"))));
    let Op::Host(p) = &g.vertex(&format!("greet:package:{digest}")).unwrap().op else { panic!() };
    assert_eq!(p.outputs.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(), ["man", "build", "run"]);
    let image = g.image.clone().unwrap();
    assert_eq!(image.layers.len(), 1);
    assert_eq!(image.layers[0].layer, LayerRef::output(&format!("greet:package:{digest}"), "run"));
    assert!(image.config.env[0].1.starts_with("/spfs/bin:"), "{:?}", image.config.env);
    let Op::Host(local) = &g.vertex("greet:source:local:0").unwrap().op else { panic!() };
    assert_eq!(local.outputs[0].prefix, "spfs/spk/pkg/greet/1.0.0/src");
}

#[test]
fn every_variant_is_built_and_x_options_select_and_override() {
    let spec = "pkg: vv/1.0.0\nsources: []\nbuild:\n  auto_host_vars: None\n  options: [{var: color}]\n  variants:\n    - {color: red}\n    - {color: blue}\n  script: [touch /spfs/x]\n";
    let d = Dir::new(&[("v.spk.yaml", spec)]);
    let builds = |g: &BuildGraph| g.vertices.iter().filter(|v| v.step == "build").count();
    assert_eq!(builds(&lower(&d.path("v.spk.yaml"), &[]).unwrap()), 2);
    assert_eq!(builds(&lower(&d.path("v.spk.yaml"), &["variant=1"]).unwrap()), 1);
    assert_eq!(builds(&lower(&d.path("v.spk.yaml"), &["opt=color=green"]).unwrap()), 1, "-o collapses the variants");
    let e = lower(&d.path("v.spk.yaml"), &["variant=7"]).unwrap_err();
    assert!(e.to_string().contains("--variant 7"), "{e}");
}

#[test]
fn build_requirements_come_from_sibling_recipes_built_first() {
    let lib = "pkg: libgreet/1.2.0\nsources: []\nbuild:\n  auto_host_vars: None\n  script: [mkdir -p /spfs/lib, touch /spfs/lib/libgreet.a]\n";
    let lib_old = "pkg: libgreet/0.9.0\nsources: []\nbuild:\n  auto_host_vars: None\n  script: [true]\n";
    let app = "pkg: app/1.0.0\nsources: []\nbuild:\n  auto_host_vars: None\n  options:\n    - pkg: libgreet/1.1\n  script: [true]\ninstall:\n  requirements:\n    - pkg: libgreet\n";
    let d = Dir::new(&[("libgreet.spk.yaml", lib), ("libgreet-old.spk.yaml", lib_old), ("app.spk.yaml", app)]);
    let g = lower(&d.path("app.spk.yaml"), &[]).unwrap();
    let lib_pkg =
        ids(&g).into_iter().find(|i| i.starts_with("libgreet:package:")).expect("libgreet is built").to_string();
    let app_build = g.vertices.iter().find(|v| v.id.starts_with("app:build:")).unwrap();
    assert!(app_build.dependencies().contains(&lib_pkg.as_str()), "built first: {:?}", app_build.dependencies());
    let Op::Exec(e) = &app_build.op else { panic!() };
    assert_eq!(e.rootfs[1], LayerRef::output(&lib_pkg, "build"), "a build requirement brings its build component");
    assert!(e.env.iter().any(|(k, v)| k == "SPK_PKG_libgreet_VERSION" && v == "1.2.0"), "the newest version in range");
    let image = g.image.unwrap();
    assert_eq!(
        image.layers.iter().map(|l| l.layer.clone()).collect::<Vec<_>>()[1],
        LayerRef::output(&lib_pkg, "run"),
        "runtime closure"
    );
}

#[test]
fn a_requirement_nothing_satisfies_is_an_error_naming_it() {
    let app = "pkg: app/1.0.0\nsources: []\nbuild:\n  options:\n    - pkg: gcc/6.3\n  script: [true]\n";
    let d = Dir::new(&[("app.spk.yaml", app)]);
    let e = lower(&d.path("app.spk.yaml"), &[]).unwrap_err();
    assert!(e.to_string().contains("requires 'gcc/6.3', which cannot be satisfied: no recipe for it"), "{e}");
    assert!(e.hint.as_deref().unwrap().contains("--spk-provide gcc=DEBIAN-PKG"));
    assert!(lower(&d.path("app.spk.yaml"), &["host-pkg=gcc"]).is_ok(), "the build base provides it");
}

#[test]
fn locate_takes_a_spec_or_a_directory_with_exactly_one() {
    let d = Dir::new(&[("a.spk.yaml", "pkg: aa/1\n")]);
    assert_eq!(SpkFrontend.locate(&d.0), Some(d.path("a.spk.yaml")));
    std::fs::write(d.path("b.spk.yaml"), "pkg: bb/1\n").unwrap();
    assert_eq!(SpkFrontend.locate(&d.0), None, "two specs: name one");
    assert_eq!(SpkFrontend.locate(&d.path("b.spk.yaml")), Some(d.path("b.spk.yaml")));
}

#[test]
fn the_conformance_specs_lower_with_their_sibling_recipes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/spk");
    if !dir.is_dir() {
        eprintln!("skipped: no {}", dir.display());
        return;
    }
    // What a Debian build base would provide; stdfs, bzip2, openssl and zlib
    // come from the sibling recipes.
    let host = "host-pkg=gcc,cmake,binutils,libffi,ncurses,python,wheel";
    for name in ["zlib", "bzip2", "openssl", "python3", "pip", "stdfs"] {
        let g = lower(&dir.join(format!("{name}.spk.yaml")), &[host]).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(g.vertices.iter().any(|v| v.step == "build"), "{name}: {:?}", ids(&g));
        assert!(g.image.is_some());
    }
    let g = lower(&dir.join("python3.spk.yaml"), &[host]).unwrap();
    let needs = |dep: &str| g.vertices.iter().any(|v| v.id.starts_with(&format!("{dep}:package:")));
    assert!(needs("zlib") && needs("openssl") && needs("bzip2") && needs("stdfs"), "{:?}", ids(&g));
    let Op::Fetch(git) = &g.vertex("python:source:git:0").unwrap().op else { panic!("{:?}", ids(&g)) };
    assert_eq!(git.source.branch.as_deref(), Some("v3.7.3"), "the templated ref");
    let g = lower(&dir.join("zlib.spk.yaml"), &[host]).unwrap();
    let builds: Vec<&str> = ids(&g).into_iter().filter(|i| i.contains(":build:")).collect();
    assert_eq!(builds.len(), 3, "zlib for gcc 4.8 and 6.3, and its build requirement stdfs: {builds:?}");
}

#[test]
fn a_platform_is_a_package_of_requirements_with_no_files() {
    let platform = "platform: vfx-base/2024.1\napi: v0/platform\nrequirements:\n  - libgreet/1.0\n  - add: stdfs\n  - remove: stdfs\n";
    let lib = "pkg: libgreet/1.0.0\nsources: []\nbuild:\n  auto_host_vars: None\n  script: [touch /spfs/x]\n";
    let d = Dir::new(&[("platform.spk.yaml", platform), ("libgreet.spk.yaml", lib)]);
    let g = lower(&d.path("platform.spk.yaml"), &[]).unwrap();
    assert!(!ids(&g).iter().any(|i| i.starts_with("vfx-base:source")), "no sources: {:?}", ids(&g));
    let Op::Host(p) = &g.vertices.iter().find(|v| v.id.starts_with("vfx-base:package:")).unwrap().op else { panic!() };
    assert!(p.params["rules"][0]["rule"] == "EmptyPackage", "{}", p.params);
    // IfAlreadyPresent: the requirement constrains, it does not pull libgreet into the image.
    assert_eq!(g.image.unwrap().layers.len(), 1);
}

#[test]
fn secrets_go_to_the_source_scripts_and_the_build_script() {
    let d = Dir::new(&[("greet.spk.yaml", GREET)]);
    let opts = LowerOptions {
        secrets: vec!["token".into()],
        ..LowerOptions { arch: "amd64".into(), ..LowerOptions::host(2) }
    };
    let g = SpkFrontend.lower(&d.path("greet.spk.yaml"), &opts).unwrap();
    let asking: Vec<(&str, &str)> = g
        .vertices
        .iter()
        .filter_map(|v| match &v.op {
            Op::Exec(e) if e.secrets == ["token"] => Some((v.step.as_str(), v.id.as_str())),
            Op::Exec(e) => panic!("{} asks for {:?}", v.id, e.secrets),
            _ => None,
        })
        .collect();
    // The script source and the build both see it.
    assert!(asking.iter().any(|(s, _)| *s == "source"), "{asking:?}");
    assert!(asking.iter().any(|(s, _)| *s == "build"), "{asking:?}");
}

/// A package with a test for each stage and one for a variant only.
const TESTED: &str = include_str!("../../tests/fixtures/tested.spk.yaml");

#[test]
fn each_target_holds_what_its_spk_command_makes() {
    let d = Dir::new(&[("t.spk.yaml", TESTED)]);
    let spec = d.path("t.spk.yaml");
    let steps = |g: &BuildGraph| g.vertices.iter().map(|v| v.step.clone()).collect::<Vec<_>>();

    let source = lower_for(&spec, Some("make-source"), &[]).unwrap();
    assert!(source.image.is_none(), "make-source makes no image");
    assert_eq!(ids(&source), ["tested:source:run:0", "tested:source"]);

    let binary = lower_for(&spec, Some("make-binary"), &[]).unwrap();
    assert!(binary.image.is_none());
    assert_eq!(steps(&binary).iter().filter(|s| *s == "package").count(), 2, "every variant");
    assert!(!steps(&binary).contains(&"test".to_string()));

    let whole = lower(&spec, &[]).unwrap();
    assert!(whole.image.is_some() && !steps(&whole).contains(&"test".to_string()), "spk build runs no tests");

    let tests = lower_for(&spec, Some("test"), &[]).unwrap();
    let test_ids: Vec<&str> = ids(&tests).into_iter().filter(|i| i.contains(":test:")).collect();
    assert_eq!(test_ids.len(), 2 * 3 + 1, "three stages for each variant, and the sour variant's own test");
    assert_eq!(test_ids.iter().filter(|i| i.contains(":test:install:3:")).count(), 1, "the selector picks one");

    let install_only = lower_for(&spec, Some("test"), &["stage=install", "variant=flavor=sweet"]).unwrap();
    assert_eq!(ids(&install_only).into_iter().filter(|i| i.contains(":test:")).count(), 1);

    let built_and_tested = lower(&spec, &["test", "variant=0"]).unwrap();
    let t: Vec<&str> = ids(&built_and_tested).into_iter().filter(|i| i.contains(":test:")).collect();
    assert!(built_and_tested.image.is_some());
    assert_eq!(t.len(), 1, "--test runs the install tests after the build: {t:?}");
}

#[test]
fn tests_see_their_stages_environment() {
    let d = Dir::new(&[("t.spk.yaml", TESTED)]);
    let g = lower_for(&d.path("t.spk.yaml"), Some("test"), &["variant=0"]).unwrap();
    let exec = |stage: &str| {
        let v = g.vertices.iter().find(|v| v.id.contains(&format!(":test:{stage}:"))).unwrap();
        let Op::Exec(e) = &v.op else { panic!() };
        (e.clone(), v.dependencies().iter().map(|s| s.to_string()).collect::<Vec<_>>())
    };
    let (sources, deps) = exec("sources");
    assert_eq!(deps, ["tested:source"], "a sources test reads the source package alone");
    assert!(sources.capture.is_empty() && sources.env.contains(&("SPK_OPT_flavor".into(), "sweet".into())));
    assert!(!sources.env.iter().any(|(k, _)| k == "SPK_PKG"), "no SPK_PKG_* of the package (reference §3.6)");
    let (build, _) = exec("build");
    assert!(!build.env.iter().any(|(k, _)| k == "SPK_PKG_VERSION"));
    let (install, deps) = exec("install");
    assert!(deps.iter().any(|d| d.starts_with("tested:package:")), "an install test reads the built package: {deps:?}");
    assert!(install.env.iter().any(|(k, v)| k == "SPK_PKG_VERSION" && v == "1.0.0"));
    let Some(MountSource::Dir { files, .. }) = install.mounts.first().map(|m| &m.source) else { panic!() };
    let run = String::from_utf8_lossy(&files[0].contents).into_owned();
    assert!(run.contains("cd '/spfs/spk/pkg/tested/1.0.0/src'") && run.contains("bash -ex /.spk/test.sh"), "{run}");
}

#[test]
fn a_new_variant_replaces_the_specs_and_json_selects() {
    let d = Dir::new(&[("t.spk.yaml", TESTED)]);
    let builds = |x: &[&str]| {
        let g = lower_for(&d.path("t.spk.yaml"), Some("make-binary"), x).unwrap();
        g.vertices.iter().filter(|v| v.step == "build").map(|v| v.id.clone()).collect::<Vec<_>>()
    };
    let bitter = crate::variants::build_digest(&[("flavor".to_string(), "bitter".to_string())].into(), &[]);
    assert_eq!(builds(&["new-variant={\"flavor\": \"bitter\"}"]), [format!("tested:build:{bitter}")]);
    assert_eq!(builds(&["variant={\"flavor\": \"sour\"}"]), builds(&["variant=1"]));
    assert_eq!(builds(&["variant=0", "new-variant={\"flavor\": \"bitter\"}"]).len(), 2, "both, with --variant");
    let e = lower_for(&d.path("t.spk.yaml"), Some("make-binary"), &["new-variant=[1]"]).unwrap_err();
    assert!(e.to_string().contains("JSON object"), "{e}");
}

#[test]
fn a_provided_package_is_checked_and_versioned_from_dpkg() {
    let app =
        "pkg: app/1.0.0\nsources: []\nbuild:\n  auto_host_vars: None\n  options: [{pkg: gcc/>=9}]\n  script: [true]\n";
    let d = Dir::new(&[("app.spk.yaml", app)]);
    let e = lower(&d.path("app.spk.yaml"), &[]).unwrap_err();
    assert!(e.to_string().contains("'gcc/>=9'") && e.hint.as_deref().unwrap_or("").contains("--spk-provide"), "{e:?}");
    let g = lower(&d.path("app.spk.yaml"), &["spk-provide=gcc=gcc,g++"]).unwrap();
    let v = g.vertices.iter().find(|v| v.step == "build").unwrap();
    let Op::Exec(e) = &v.op else { panic!() };
    let Some(MountSource::Dir { files, .. }) = e.mounts.first().map(|m| &m.source) else { panic!() };
    let run = String::from_utf8_lossy(&files[0].contents).into_owned();
    assert!(run.contains("dpkg-query -W -f='${db:Status-Status} ${Version}' 'gcc'"), "{run}");
    assert!(run.contains("'g++'") && run.contains("export SPK_PKG_gcc='gcc/'\"$v/debian\""), "{run}");
    assert!(lower(&d.path("app.spk.yaml"), &["spk-provide=gcc"]).is_err(), "NAME=DEBIAN-PKG");
}

#[test]
fn several_variants_make_one_image_each_and_each_build_is_declared_a_package() {
    let spec = "pkg: vv/1.0.0\napi: v0/package\nsources: []\nbuild:\n  auto_host_vars: None\n  variants:\n    - {style: plain}\n    - {style: loud}\n  script: [true]\n";
    let d = Dir::new(&[("vv.spk.yaml", spec)]);
    let g = lower(&d.path("vv.spk.yaml"), &[]).unwrap();
    assert_eq!(g.image_variants.len(), 2, "one image per variant");
    let builds: Vec<&str> = g.image_variants.iter().map(|a| a["dev.spk.build"].as_str()).collect();
    assert!(g.image_variants[1]["dev.spk.options"].contains("\"style\":\"loud\""), "{:?}", g.image_variants);
    let ident = |g: &BuildGraph| g.image.as_ref().unwrap().config.labels["dev.spk.ident"].clone();
    assert_eq!(ident(&g), format!("vv/1.0.0/{}", builds[0]), "the image is the first variant's");

    let opts =
        LowerOptions { image_variant: Some(1), ..LowerOptions { arch: "amd64".into(), ..LowerOptions::host(2) } };
    let second = SpkFrontend.lower(&d.path("vv.spk.yaml"), &opts).unwrap();
    assert_eq!(ident(&second), format!("vv/1.0.0/{}", builds[1]), "image_variant picks another");
    assert_eq!(second.vertices, g.vertices, "and changes nothing else");

    // The builds are packages for the store (no sources: no source package).
    let packages: Vec<String> = g.packages.iter().map(|p| format!("{}/{}/{}", p.name, p.version, p.build)).collect();
    assert_eq!(packages, [format!("vv/1.0.0/{}", builds[0]), format!("vv/1.0.0/{}", builds[1])]);
    assert!(g.packages[0].annotations.contains_key(crate::repo::RECORD));

    let one = lower(&d.path("vv.spk.yaml"), &["variant=1"]).unwrap();
    assert!(one.image_variants.is_empty(), "one variant selected: one image");
}

#[test]
fn from_build_env_pins_install_requirements_to_the_build_environment() {
    let lib = "pkg: base-lib/1.2.3\napi: v0/package\nsources: []\nbuild:\n  auto_host_vars: None\n  script: [true]\n";
    let app = "pkg: app/1.0.0\napi: v0/package\nsources: []\nbuild:\n  auto_host_vars: None\n  options: [{pkg: base-lib}]\n  script: [true]\ninstall:\n  requirements:\n    - pkg: base-lib\n      fromBuildEnv: x.x\n    - pkg: absent\n      fromBuildEnv: true\n      ifPresentInBuildEnv: true\n";
    let d = Dir::new(&[("app.spk.yaml", app), ("base-lib.spk.yaml", lib)]);
    let g = lower(&d.path("app.spk.yaml"), &[]).unwrap();
    let app_pkg = g.packages.iter().find(|p| p.name == "app" && p.build != "src").unwrap();
    let record: crate::repo::Record = serde_json::from_str(&app_pkg.annotations[crate::repo::RECORD]).unwrap();
    let run = record.components.iter().find(|c| c.name == "run").unwrap();
    let reqs: Vec<(&str, &str)> = run.requirements.iter().map(|r| (r.pkg.as_str(), r.range.as_str())).collect();
    assert_eq!(reqs, [("base-lib", "1.2")], "pinned to the build's 1.2.3 by x.x; the absent one dropped");

    let strict = app.replace("      ifPresentInBuildEnv: true\n", "");
    let d = Dir::new(&[("app.spk.yaml", &strict), ("base-lib.spk.yaml", lib)]);
    let err = lower(&d.path("app.spk.yaml"), &[]).unwrap_err();
    assert!(err.to_string().contains("the install requirement on 'absent' is fromBuildEnv"), "{err}");

    let both = app.replace("    - pkg: base-lib\n      fromBuildEnv", "    - pkg: base-lib/1.0\n      fromBuildEnv");
    let d = Dir::new(&[("app.spk.yaml", &both), ("base-lib.spk.yaml", lib)]);
    let err = lower(&d.path("app.spk.yaml"), &[]).unwrap_err();
    assert!(err.to_string().contains("has both a version (1.0) and fromBuildEnv"), "{err}");
}
