//! Lowering small projects: the vertices, edges and captures a project
//! gets, read as documentation of [`super`].

use std::path::Path;

use strata_frontend_api::graph::{BuildGraph, Capture, ExecOp, LayerRef, MountSource, OUT, Op};

use crate::dirs::{CRAFTCTL_DIR, MIGRATION_DIR};
use crate::env::{BuildInfo, expand_globals};
use crate::{CraftFrontend, hostops};

fn lower(yaml: &str) -> BuildGraph {
    let project = CraftFrontend.load_str(yaml, Path::new("/project"), "rockcraft.yaml").unwrap();
    let info = BuildInfo { arch_build_on: "amd64".into(), arch_build_for: "amd64".into(), parallel_build_count: 2 };
    super::lower(&expand_globals(&project, &info), &info, CraftFrontend::id()).unwrap()
}

const HEAD: &str = "name: t\nversion: '1.0'\nbase: ubuntu@24.04\nbuild-base: ubuntu:24.04\n";

fn ids(g: &BuildGraph) -> Vec<&str> {
    g.vertices.iter().map(|v| v.id.as_str()).collect()
}

fn exec<'a>(g: &'a BuildGraph, id: &str) -> &'a ExecOp {
    match &g.vertex(id).unwrap_or_else(|| panic!("no vertex {id}")).op {
        Op::Exec(e) => e,
        other => panic!("{id} is a {} op", other.kind()),
    }
}

fn out(v: &str) -> LayerRef {
    LayerRef::output(v, OUT)
}

#[test]
fn a_part_sees_exactly_the_stage_of_the_parts_it_comes_after() {
    let g = lower(&format!(
        "{HEAD}parts:\n  app:\n    plugin: nil\n    after: [lib]\n  lib:\n    plugin: nil\n  other:\n    plugin: nil\n"
    ));
    assert_eq!(
        ids(&g),
        [
            "lib:pull",
            "app:pull",
            "other:pull",
            "lib:build",
            "lib:build:organize",
            "lib:stage",
            "app:build",
            "app:build:organize",
            "other:build",
            "other:build:organize",
            "app:stage",
            "other:stage",
            "lib:prime",
            "app:prime",
            "other:prime",
            "stage:conflicts",
            "pack:prune",
            "pack:prime",
        ],
        "plan order (lifecycle order within a step): lib is staged before app builds"
    );
    let build = exec(&g, "app:build");
    assert_eq!(build.rootfs, [LayerRef::image("ubuntu:24.04"), out("app:pull"), out("lib:stage")]);
    assert_eq!(build.capture, [Capture::under(OUT, ["root/parts/app/build", "root/parts/app/install"])]);
    assert_eq!(g.vertex("app:build").unwrap().group.as_deref(), Some("app"));
    assert_eq!(g.vertex("app:build:organize").unwrap().step, "build");
    assert_eq!(g.vertex("app:build:organize").unwrap().dependencies(), ["app:build"]);
    // A part's stage reads its own install tree; the conflict check, every
    // part's, in lifecycle order.
    let Op::Host(stage) = &g.vertex("other:stage").unwrap().op else { panic!() };
    assert_eq!(stage.name, hostops::STAGE);
    assert_eq!(g.vertex("other:stage").unwrap().dependencies(), ["other:build:organize"]);
    let conflicts = g.vertex("stage:conflicts").unwrap();
    assert_eq!(conflicts.dependencies(), ["lib:build:organize", "app:build:organize", "other:build:organize"]);
    assert!(conflicts.outputs().is_empty());
    assert_eq!(g.vertex("lib:prime").unwrap().dependencies(), ["lib:build:organize", "lib:stage"]);
}

#[test]
fn parts_with_the_same_build_packages_get_equal_ops() {
    let g = lower(&format!(
        "{HEAD}parts:\n  a:\n    plugin: nil\n    build-packages: [make, gcc]\n  b:\n    plugin: nil\n    build-packages: [gcc, make]\n"
    ));
    let (a, b) = (&g.vertex("a:build-packages").unwrap().op, &g.vertex("b:build-packages").unwrap().op);
    assert_eq!(a, b, "one key: the solver runs it once");
    let capture = &exec(&g, "a:build-packages").capture;
    assert!(capture[0].paths.is_empty(), "every change is kept...");
    assert!(
        !capture[0].keeps("var/log/dpkg.log") && !capture[0].keeps("var/cache/apt/pkgcache.bin"),
        "...but apt's logs"
    );
    assert!(capture[0].keeps("usr/bin/gcc"));
    assert_eq!(exec(&g, "a:build").rootfs[1], out("a:build-packages"));
}

#[test]
fn the_project_variables_flow_through_the_adopt_info_parts_scripts() {
    let g = lower(&format!(
        "{HEAD}adopt-info: a\nparts:\n  a:\n    plugin: nil\n    override-pull: craftctl set version=2\n  b:\n    plugin: nil\n"
    ));
    let craftctl = |id: &str| {
        let m = exec(&g, id).mounts.iter().find(|m| m.destination == CRAFTCTL_DIR).unwrap();
        let MountSource::Dir { seed, files } = &m.source else { panic!() };
        (seed.clone(), files.iter().any(|f| f.path == "vars/version"), m.capture.clone())
    };
    // a's pull runs first: no seed, the initial variables as files; it captures them.
    assert_eq!(craftctl("a:pull"), (vec![], true, Some(Capture::under("vars", ["vars", "set"]))));
    // b's build comes after a's build in plan order, and is seeded with its vars.
    let vars = |v: &str| LayerRef::output(v, "vars");
    assert_eq!(craftctl("a:build"), (vec![vars("a:pull")], false, Some(Capture::under("vars", ["vars", "set"]))));
    assert_eq!(craftctl("b:build"), (vec![vars("a:build")], false, None), "only the adopt-info part captures");
    let version = g.image.as_ref().unwrap().version.clone().unwrap();
    assert_eq!(version.default.as_deref(), Some("1.0"));
    assert_eq!(version.file, Some((vars("a:build"), "vars/version".to_string())));
}

#[test]
fn override_stage_runs_over_the_stage_of_the_parts_before_it() {
    let g = lower(&format!(
        "{HEAD}parts:\n  a:\n    plugin: nil\n  b:\n    plugin: nil\n    override-stage: craftctl default\n"
    ));
    let Op::Host(migration) = &g.vertex("b:stage:migration").unwrap().op else { panic!() };
    assert_eq!(migration.outputs[0].prefix, "", "the migration is mounted, not staged");
    let stage = exec(&g, "b:stage");
    assert_eq!(stage.rootfs, [LayerRef::image("ubuntu:24.04"), out("b:build:organize"), out("a:stage")]);
    let m = stage.mounts.iter().find(|m| m.destination == MIGRATION_DIR).unwrap();
    assert_eq!((&m.source, m.read_only), (&MountSource::Layers(vec![out("b:stage:migration")]), true));
    assert_eq!(stage.capture, [Capture::under(OUT, ["root/stage"])]);
}

#[test]
fn the_image_is_the_overlays_then_the_relocated_primes() {
    let g = lower(&format!(
        "{HEAD}parts:\n  a:\n    plugin: nil\n    overlay-packages: [curl]\n  b:\n    plugin: nil\n    after: [a]\n"
    ));
    let image = g.image.as_ref().unwrap();
    assert_eq!(image.base.as_deref(), Some("ubuntu:24.04"));
    let layers: Vec<_> = image.layers.iter().map(|l| (l.layer.clone(), l.created_by.as_str())).collect();
    assert_eq!(
        layers,
        [
            (out("a:overlay:filter"), "strata build: the overlay of part 'a'"),
            (out("pack:prime"), "strata build: the prime of t"),
        ]
    );
    assert_eq!(image.layers[1].comment.as_deref(), Some("parts: a, b"));
    assert_eq!(image.config.labels["org.opencontainers.image.title"], "t");
    let Op::Layer(strata_frontend_api::graph::LayerOp::Relocate { inputs, from, links_of }) =
        &g.vertex("pack:prime").unwrap().op
    else {
        panic!()
    };
    let pruned = |p: &str| LayerRef::output("pack:prune", p);
    assert_eq!((inputs.clone(), from.as_str()), (vec![pruned("a"), pruned("b")], "root/prime"));
    assert_eq!(links_of, &[LayerRef::image("ubuntu:24.04")]);
    // The primes are pruned first against the base with the overlays over it.
    let Op::Host(prune) = &g.vertex("pack:prune").unwrap().op else { panic!() };
    assert_eq!(prune.name, hostops::PRUNE);
    let read: Vec<_> = prune.inputs.iter().map(|i| (i.layers.clone(), i.path.as_str())).collect();
    assert_eq!(
        read,
        [
            (vec![LayerRef::image("ubuntu:24.04")], ""),
            (vec![out("a:overlay:filter")], ""),
            (vec![out("a:prime")], "root/prime"),
            (vec![out("b:prime")], "root/prime"),
        ]
    );
    assert_eq!(prune.params, serde_json::json!({"parts": ["a", "b"], "overlays": 1}));
    assert!(prune.outputs.iter().all(|o| o.prefix == "root/prime"));
    // The overlay runs over the base, captures its changes less apt's logs,
    // and b (after a) sees it read-only at CRAFT_OVERLAY.
    let overlay = exec(&g, "a:overlay");
    assert_eq!(overlay.rootfs, [LayerRef::image("ubuntu:24.04")]);
    assert!(overlay.capture[0].drop.contains(&"var/log/dpkg.log".to_string()));
    let view = exec(&g, "b:build").mounts.iter().find(|m| m.destination == crate::dirs::OVERLAY_MOUNT_DIR).unwrap();
    assert_eq!(view.source, MountSource::Layers(vec![LayerRef::image("ubuntu:24.04"), out("a:overlay:filter")]));
}

#[test]
fn stage_packages_are_fetched_verified_unpacked_and_squashed_under_the_build() {
    let g = lower(&format!("{HEAD}parts:\n  a:\n    plugin: nil\n    stage-packages: [hello]\n"));
    assert_eq!(
        ids(&g),
        [
            "a:pull:stage-packages",
            "a:pull:debs",
            "a:pull",
            "a:build:unpack",
            "a:build:normalize",
            "a:build",
            "a:build:squash",
            "a:build:organize",
            "a:stage",
            "a:prime",
            "pack:prune",
            "pack:prime"
        ]
    );
    assert_eq!(exec(&g, "a:build").rootfs[2], out("a:build:normalize"));
    assert_eq!(g.vertex("a:build:organize").unwrap().dependencies(), ["a:build:squash"]);
    assert_eq!(exec(&g, "a:build:unpack").rootfs[1], LayerRef::output("a:pull:debs", "debs"));
    // The SBOM finds the unpacked packages through the metadata.
    let list = &g.metadata.groups["a"].unpacked_debs[0];
    assert_eq!(
        (list.vertex.as_str(), list.output.as_str(), list.path.as_str()),
        ("a:pull:debs", "list", "packages.json")
    );
    assert_eq!(list.by, "stage-packages");
}

#[test]
fn a_pull_script_runs_over_the_fetched_source_then_checks_the_subdir() {
    let g = lower(&format!(
        "{HEAD}parts:\n  a:\n    plugin: nil\n    source: https://example.com/src.tar.gz\n    source-subdir: c\n    override-pull: craftctl default\n"
    ));
    let Op::Fetch(f) = &g.vertex("a:pull:source").unwrap().op else { panic!() };
    assert_eq!((f.prefix.as_str(), f.check_subdir), ("", false));
    let pull = exec(&g, "a:pull");
    assert_eq!(pull.capture, [Capture::under(OUT, ["root/parts/a/src"])]);
    assert_eq!(g.vertex("a:pull:check-subdir").unwrap().dependencies(), ["a:pull"]);
    assert_eq!(pull.provide[0].path, "/bin/bash");
}

#[test]
fn sources_in_the_containers_view_of_the_project_are_fetched_from_the_project() {
    let g = lower(&format!(
        "{HEAD}parts:\n  web:\n    plugin: dump\n    source: $CRAFT_PROJECT_DIR/web\n    source-type: local\n  all:\n    plugin: dump\n    source: $CRAFT_PROJECT_DIR\n    source-type: local\n"
    ));
    let location = |id: &str| match &g.vertex(id).unwrap().op {
        Op::Fetch(f) => f.source.location.clone(),
        other => panic!("{id} is a {} op", other.kind()),
    };
    assert_eq!(location("web:pull"), "web");
    assert_eq!(location("all:pull"), ".");
}

#[test]
fn metadata_names_the_project_and_each_parts_source_as_the_spec_pins_it() {
    let g = lower(&format!(
        "{HEAD}license: GPL-3.0-or-later\nsummary: Greets\nparts:\n  hello:\n    plugin: nil\n    source: https://example.com/hello.tar.gz\n    source-checksum: sha256/2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881\n  lib:\n    plugin: nil\n    source: https://example.com/lib.git\n    source-commit: 0123abcd\n  tagged:\n    plugin: nil\n    source: https://example.com/t.git\n    source-tag: v1\n  conf:\n    plugin: dump\n    source: $CRAFT_PROJECT_DIR/conf\n    source-type: local\n  none:\n    plugin: nil\n"
    ));
    let project = g.metadata.project.as_ref().unwrap();
    assert_eq!(
        (project.name.as_str(), project.version.as_deref(), project.license.as_deref()),
        ("t", Some("1.0"), Some("GPL-3.0-or-later"))
    );
    assert_eq!(project.description.as_deref(), Some("Greets"));
    let source = |part: &str| g.metadata.groups[part].sources[0].clone();
    assert_eq!(
        (source("hello").kind.as_str(), source("hello").checksum.as_deref()),
        ("tar", Some("sha256/2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"))
    );
    assert_eq!(source("lib").commit.as_deref(), Some("0123abcd"));
    assert_eq!((source("tagged").commit, source("tagged").reference.as_deref()), (None, Some("v1")));
    assert_eq!((source("conf").kind.as_str(), source("conf").url.as_str()), ("local", "conf"));
    assert!(g.metadata.groups["none"].sources.is_empty());
}

#[test]
fn a_bare_base_has_nothing_to_prune() {
    let g = lower("name: t\nbase: bare\nbuild-base: debian:bookworm\nparts:\n  a:\n    plugin: nil\n");
    assert!(g.vertex("pack:prune").is_none());
    let Op::Layer(strata_frontend_api::graph::LayerOp::Relocate { inputs, .. }) = &g.vertex("pack:prime").unwrap().op
    else {
        panic!()
    };
    assert_eq!(inputs, &[out("a:prime")]);
}

#[test]
fn run_user_adds_a_layer_of_the_users_files_and_runs_the_image_as_its_uid() {
    let g = lower(&format!(
        "{HEAD}source-date-epoch: 1728000000\nrun-user: _daemon_\nparts:\n  a:\n    plugin: nil\n    overlay-script: 'true'\n  b:\n    plugin: nil\n"
    ));
    let Op::Host(user) = &g.vertex("pack:run-user").unwrap().op else { panic!() };
    assert_eq!(user.name, hostops::RUN_USER);
    let read: Vec<_> = user.inputs.iter().map(|i| (i.layers.clone(), i.path.as_str())).collect();
    let pruned = |p: &str| LayerRef::output("pack:prune", p);
    assert_eq!(
        read,
        [
            (vec![LayerRef::image("ubuntu:24.04")], "etc"),
            (vec![out("a:overlay:filter")], "etc"),
            (vec![pruned("a")], "root/prime/etc"),
            (vec![pruned("b")], "root/prime/etc"),
        ],
        "every layer below it, bottom to top"
    );
    assert_eq!(user.params, serde_json::json!({"user": "_daemon_", "uid": 584792, "base": true, "shadow_day": 20000}));
    let image = g.image.as_ref().unwrap();
    let top = image.layers.last().unwrap();
    assert_eq!(top.layer, out("pack:run-user"));
    assert_eq!(top.created_by, "strata build: add user _daemon_:584792 with group _daemon_:584792");
    assert_eq!(image.config.user.as_deref(), Some("584792"));
    assert_eq!(image.config.env, [("HOME".to_string(), "/var/lib/pebble/default".to_string())]);
    assert_eq!(image.config.working_dir.as_deref(), Some("/var/lib/pebble/default"));

    // The spec's own HOME and working-dir win; on bare there is no base to read.
    let g = lower(
        "name: t\nbase: bare\nbuild-base: debian:bookworm\nrun-user: _daemon_\nenvironment: {HOME: /srv}\nworking-dir: /srv\nparts:\n  a:\n    plugin: nil\n",
    );
    let Op::Host(user) = &g.vertex("pack:run-user").unwrap().op else { panic!() };
    assert_eq!(user.inputs.iter().map(|i| i.path.as_str()).collect::<Vec<_>>(), ["root/prime/etc"]);
    assert_eq!(user.params["base"], false);
    assert_eq!(user.params["shadow_day"], serde_json::Value::Null);
    let config = &g.image.as_ref().unwrap().config;
    assert_eq!(config.env, [("HOME".to_string(), "/srv".to_string())]);
    assert_eq!(config.working_dir.as_deref(), Some("/srv"));
    assert_eq!(config.user.as_deref(), Some("584792"));
    // Without run-user: no layer, no user.
    let g = lower(&format!("{HEAD}parts:\n  a:\n    plugin: nil\n"));
    assert!(g.vertex("pack:run-user").is_none());
    assert_eq!(g.image.unwrap().config.user, None);
}

#[test]
fn run_user_allows_rockcrafts_shared_users_only() {
    let load = |yaml: &str| CraftFrontend.load_str(yaml, Path::new("/project"), "rockcraft.yaml");
    let err = load(&format!("{HEAD}run-user: root\nparts:\n  a:\n    plugin: nil\n")).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("rockcraft.yaml:5:11: run-user 'root' is not allowed; the allowed values are: _daemon_"),
        "{text}"
    );
    let err = load(&format!("{HEAD}user: app\nrun-user: _daemon_\nparts:\n  a:\n    plugin: nil\n")).unwrap_err();
    assert!(err.to_string().contains("'run-user' and 'user' both set the image's user"), "{err}");
    let p = load(&format!("{HEAD}run-user: _daemon_\nparts:\n  a:\n    plugin: nil\n")).unwrap();
    assert_eq!(p.image.run_user.as_deref(), Some("_daemon_"));
    assert_eq!(p.image.user, None);
}
