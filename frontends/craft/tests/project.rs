//! A full rockcraft-style project file: every top-level key, every part key.
//! Its IR is plain data — it serializes canonically and round-trips — and
//! global variables expand as craft-parts expands them.

use std::path::Path;

use strata_frontend_api::{Base, IR_VERSION, OptionValue, Project, SourceKind, Step};
use strata_frontend_craft::sequencer::plan;
use strata_frontend_craft::{BuildInfo, CraftFrontend, env::expand_globals};

fn full() -> Project {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/projects/full/rockcraft.yaml");
    assert!(CraftFrontend.accepts(&path));
    CraftFrontend.load(&path).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_key_lands_in_the_ir() {
    let p = full();
    assert_eq!(p.ir_version, IR_VERSION);
    assert_eq!(p.name.as_deref(), Some("hello-web"));
    assert_eq!(p.version.as_deref(), Some("1.10"), "quoted: kept as written");
    assert_eq!(p.base, Base::Image("ubuntu:24.04".into()), "rockcraft's ubuntu@24.04 as an image");
    assert_eq!(p.build_base, "debian:bookworm");
    assert_eq!(p.source_date_epoch, Some(1_700_000_000));
    assert_eq!(p.platforms["amd64"].build_for, ["amd64"]);
    assert_eq!(p.platforms["arm64"].build_on, ["amd64", "arm64"]);
    assert_eq!(p.image.entrypoint.as_deref(), Some(&["/usr/bin/python3".to_string(), "/app/main.py".to_string()][..]));
    assert_eq!(p.image.environment[0], ("APP_HOME".to_string(), "/app".to_string()));
    assert_eq!(p.image.user.as_deref(), Some("584792"));
    assert_eq!(p.image.ports, ["8080/tcp", "9090/udp"]);

    let app = &p.parts["app"];
    assert!(app.disable_parallel, "YAML 1.1 'yes'");
    assert_eq!(app.plugin_options["python-packages"], OptionValue::List(vec!["flask".into()]));
    assert_eq!(app.organize[0], ("bin/*".to_string(), "usr/local/bin/".to_string()));
    assert_eq!(app.permissions[0].mode, Some(0o755));
    assert_eq!(app.permissions[1].path, "usr/lib/*/x.conf");
    // rockcraft picks its python plugin by the build base: Debian's gets
    // craft-parts' python v2 (and strata's pip for it).
    assert_eq!(app.build_plan.build_packages, ["g++", "gcc", "libc6-dev", "make", "python3-pip"]);
    let web = &p.parts["web"];
    assert_eq!(web.source.as_ref().unwrap().kind, SourceKind::Local);
    assert_eq!(web.overlay.entries, ["-usr/share/doc"]);
    let tarball = p.parts["tarball"].source.as_ref().unwrap();
    assert_eq!(tarball.kind, SourceKind::Tar);
    let repo = p.parts["repo"].source.as_ref().unwrap();
    assert_eq!((repo.kind, repo.tag.as_deref(), repo.depth), (SourceKind::Git, Some("v1.0.0"), 1));
    assert_eq!(p.parts["tools"].scriptlets.override_overlay.as_deref(), Some("echo in the overlay"));
}

#[test]
fn the_ir_serializes_canonically_and_round_trips() {
    let a = serde_json::to_string(&full()).unwrap();
    let b = serde_json::to_string(&full()).unwrap();
    assert_eq!(a, b, "same file, same bytes");
    let back: Project = serde_json::from_str(&a).unwrap();
    assert_eq!(back, full());
}

#[test]
fn globals_expand_like_craft_parts() {
    let info = BuildInfo { arch_build_on: "amd64".into(), arch_build_for: "arm64".into(), parallel_build_count: 4 };
    let p = expand_globals(&full(), &info);
    let app = &p.parts["app"];
    assert_eq!(app.build_environment[1], ("TRIPLET".to_string(), "aarch64-linux-gnu".to_string()));
    assert_eq!(
        p.parts["web"].scriptlets.overlay_script.as_deref(),
        Some("craftctl default\nrm -f //usr/share/doc\n"),
        "CRAFT_OVERLAY is the overlay container's root"
    );
    assert!(p.parts["tarball"].build_plan.build_commands[0].starts_with("make -j\"4\""));
    // Part variables are not globals: they stay for the shell.
    assert!(app.scriptlets.override_build.as_deref().unwrap().contains("craftctl set version"));
}

#[test]
fn projects_with_overlay_plan_the_overlay_step() {
    let actions = plan(&full(), Step::Build).unwrap();
    assert!(actions.iter().any(|a| a.step == Step::Overlay));
    // tarball and repo sort after app... but app waits for web.
    let order = strata_frontend_craft::order::order(&full()).unwrap();
    assert_eq!(order, ["web", "app", "repo", "tarball", "tools"]);
}

/// `CRAFT_OVERLAY` is `/` inside the overlay step over an image base (its
/// container's root is the overlay) and rockcraft's mount point
/// everywhere else: where a build that sees the overlay finds it, and
/// where an overlay-script of a bare project writes.
#[test]
fn craft_overlay_is_the_root_in_the_overlay_step_and_a_mount_elsewhere() {
    let spec = "name: o\nbase: debian:bookworm\nparts:\n  a:\n    plugin: nil\n    overlay-script: touch $CRAFT_OVERLAY/x\n    \
                override-build: ls ${CRAFT_OVERLAY}/x\n";
    let info = BuildInfo { arch_build_on: "amd64".into(), arch_build_for: "amd64".into(), parallel_build_count: 1 };
    let p = expand_globals(&CraftFrontend.load_str(spec, Path::new("/p"), "rockcraft.yaml").unwrap(), &info);
    let a = &p.parts["a"].scriptlets;
    assert_eq!(a.overlay_script.as_deref(), Some("touch //x"));
    assert_eq!(a.override_build.as_deref(), Some("ls /root/overlay/overlay/x"));
    let env = |step| strata_frontend_craft::env::step_environment(&p, "a", step, &info);
    assert!(env(Step::Overlay).contains("export CRAFT_OVERLAY=\"/\"\n"));
    assert!(env(Step::Build).contains("export CRAFT_OVERLAY=\"/root/overlay/overlay\"\n"));

    // Over a bare base the overlay step runs in the build base, with the
    // overlay mounted: an overlay-script may write there.
    let bare = spec.replace("debian:bookworm", "bare");
    let p = expand_globals(&CraftFrontend.load_str(&bare, Path::new("/p"), "rockcraft.yaml").unwrap(), &info);
    assert_eq!(p.parts["a"].scriptlets.overlay_script.as_deref(), Some("touch /root/overlay/overlay/x"));
    let err = CraftFrontend
        .load_str(&bare.replace("overlay-script", "override-overlay"), Path::new("/p"), "rockcraft.yaml")
        .unwrap_err();
    assert!(err.to_string().contains("part 'a' uses override-overlay, but the base is bare"), "{err}");
}
