//! The conformance cases recorded with craft-parts 2.37.2
//! (`tests/fixtures/conformance/`): each parses and plans exactly the
//! actions craft-parts ran. That each primes exactly the paths, types,
//! modes and contents craft-parts primed is checked through the lowered
//! graph and strata's solver, with an emulating worker in place of
//! containers: `tests/it/craft_conformance.rs` at the repository root.

use std::path::{Path, PathBuf};

use strata_frontend_api::{Project, Step};
use strata_frontend_craft::CraftFrontend;
use strata_frontend_craft::sequencer::{Sequencer, plan};

fn case_dir(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/conformance").join(case)
}

fn load(case: &str) -> Project {
    CraftFrontend.load(&case_dir(case).join("parts.yaml")).unwrap_or_else(|e| panic!("{case}: {e}"))
}

fn read(case: &str, file: &str) -> String {
    std::fs::read_to_string(case_dir(case).join(file)).unwrap()
}

fn expected_lines(case: &str, file: &str) -> Vec<String> {
    read(case, file).lines().map(str::to_string).collect()
}

#[test]
fn the_cases_parse() {
    let p = load("dump-filesets");
    let files = &p.parts["files"];
    assert_eq!(files.plugin, "dump");
    assert_eq!(files.organize.len(), 4);
    assert_eq!(files.prime.entries, ["-include", "-etc/*.bak"]);
    assert_eq!(p.name, None, "a bare parts file has no project name");

    let p = load("after-scriptlets");
    assert_eq!(p.adopt_info.as_deref(), Some("a-app"));
    let app = &p.parts["a-app"];
    assert_eq!(app.after, ["z-lib"]);
    assert_eq!(
        app.build_environment,
        [
            ("GREETING".to_string(), "hello".to_string()),
            ("APP_DIR".to_string(), "$CRAFT_PART_INSTALL/opt/app".to_string()),
            ("MSG".to_string(), "${GREETING} from ${CRAFT_PART_NAME}".to_string()),
        ]
    );
    assert!(app.scriptlets.override_build.as_deref().unwrap().starts_with("craftctl default\n"));

    let p = load("make-c");
    let hello = &p.parts["hello"];
    assert_eq!(hello.source.as_ref().unwrap().subdir.as_deref(), Some("c"));
    assert_eq!(
        hello.build_plan.build_commands,
        [
            "make -j\"${CRAFT_PARALLEL_BUILD_COUNT}\" PREFIX=/usr SUFFIX=craft",
            "make -j\"${CRAFT_PARALLEL_BUILD_COUNT}\" install PREFIX=/usr SUFFIX=craft DESTDIR=\"/root/parts/hello/install\"",
        ]
    );
    // craft-parts' gcc and make, and Debian's rest of the toolchain
    // (plugins::DEBIAN_TOOLCHAIN): the case builds as it is, without
    // build-packages of its own.
    assert_eq!(hello.build_plan.build_packages, ["g++", "gcc", "libc6-dev", "make"]);
    assert!(hello.build_packages.is_empty());
}

#[test]
fn action_plans_match_craft_parts() {
    for case in ["dump-filesets", "after-scriptlets", "make-c", "usrmerge"] {
        let project = load(case);
        let actions: Vec<String> = plan(&project, Step::Prime).unwrap().iter().map(ToString::to_string).collect();
        assert_eq!(actions, expected_lines(case, "expected-actions.txt"), "{case}");
    }
}

#[test]
fn a_second_plan_skips_what_ran() {
    let project = load("after-scriptlets");
    let mut seq = Sequencer::new(&project).unwrap();
    seq.plan(Step::Prime, &[]);
    let again: Vec<String> = seq.plan(Step::Stage, &["a-app"]).iter().map(ToString::to_string).collect();
    assert_eq!(
        again,
        [
            "pull     skip    a-app (already ran)",
            "build    skip    a-app (already ran)",
            "stage    skip    a-app (already ran)",
        ]
    );
    // Building a-app alone on a fresh project brings z-lib up to stage first.
    let mut seq = Sequencer::new(&project).unwrap();
    let alone: Vec<String> = seq.plan(Step::Build, &["a-app"]).iter().map(ToString::to_string).collect();
    assert_eq!(
        alone,
        [
            "pull     run     a-app",
            "pull     run     z-lib (required to build 'a-app')",
            "build    run     z-lib (required to build 'a-app')",
            "stage    run     z-lib (required to build 'a-app')",
            "build    run     a-app",
        ]
    );
}

#[test]
fn project_vars_start_from_the_spec() {
    // expected-project-vars.txt: version "" (dump-filesets, make-c) and
    // "1.2.3-rc1" set by a-app's override-build (see tests/scripts.rs).
    for case in ["dump-filesets", "make-c"] {
        let vars = strata_frontend_craft::scripts::ProjectVars::new(&load(case));
        assert_eq!(vars.values["version"], "", "{case}");
        assert!(read(case, "expected-project-vars.txt").contains("\"version\": \"\""));
    }
}

fn sequencer_fixture(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sequencer").join(file)
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap().lines().map(str::to_string).collect()
}

#[test]
fn overlay_plans_match_craft_parts() {
    let project = CraftFrontend.load(&sequencer_fixture("overlay/parts.yaml")).unwrap();
    let cases: [(&str, Step, &[&str]); 3] = [
        ("expected-actions-prime.txt", Step::Prime, &[]),
        ("expected-actions-build-b-after.txt", Step::Build, &["b-after"]),
        ("expected-actions-stage-d-script.txt", Step::Stage, &["d-script"]),
    ];
    for (file, step, parts) in cases {
        let mut seq = Sequencer::new(&project).unwrap();
        let got: Vec<String> = seq.plan(step, parts).iter().map(ToString::to_string).collect();
        assert_eq!(got, lines(&sequencer_fixture(&format!("overlay/{file}"))), "{file}");
    }
    // With the overlay step forced on (rockcraft always enables it), a project
    // without overlay content plans an overlay action per part.
    let project = load("after-scriptlets");
    let got: Vec<String> = Sequencer::with_overlay(&project, true)
        .unwrap()
        .plan(Step::Prime, &[])
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(got, lines(&sequencer_fixture("after-scriptlets-overlay-on.txt")));
}
