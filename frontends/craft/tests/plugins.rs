//! Each plugin's generated build commands, environment and build packages
//! against craft-parts 2.37.2's own output for the same options
//! (`tests/fixtures/plugins/golden.json`, made by `gen.py` from
//! `cases.json` with work dir `/root`, 7 parallel jobs, amd64).
//!
//! The differences the comparison allows are strata's deliberate ones
//! (docs/craft-differences.md), added to craft-parts' recorded output here
//! rather than written into it: Debian's compiler toolchain for the plugins
//! that compile native code ([`DEBIAN_TOOLCHAIN`]); for rust, Debian's
//! cargo/rustc instead of the rustup snap, or rustup's channel commands moved
//! from pull to the start of build; for craft-parts' python v2 (cases marked
//! `_python_v2`, planned as a rock on a Debian base), `python3-pip`.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;
use strata_frontend_api::BuildPlan;
use strata_frontend_craft::{BuildInfo, CraftFrontend, env::expand_globals};

/// What strata adds to craft-parts' build packages for a plugin that compiles
/// C or C++ on a Debian minbase (`build-essential` less `dpkg-dev`).
const DEBIAN_TOOLCHAIN: [&str; 4] = ["g++", "gcc", "libc6-dev", "make"];

/// The plugins that get [`DEBIAN_TOOLCHAIN`]: every one that builds, not
/// `dump` and `nil`.
const COMPILES_NATIVE: [&str; 8] = ["autotools", "cmake", "go", "make", "meson", "npm", "python", "rust"];

fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
}

/// The build plan strata makes for one case of cases.json (JSON is YAML),
/// in a `parts.yaml`: craft-parts' plugins (a `rockcraft.yaml` gets
/// rockcraft's python plugin, tested below).
fn strata_plan(spec: &Value) -> BuildPlan {
    strata_plan_in(spec, "parts.yaml", "")
}

fn strata_plan_in(spec: &Value, spec_file: &str, top: &str) -> BuildPlan {
    let yaml = format!("{top}parts:\n  p: {spec}\n");
    // A project dir where both `.` and `src` are directories.
    let dir = fixtures().join("conformance/dump-filesets");
    let project = CraftFrontend.load_str(&yaml, &dir, spec_file).unwrap_or_else(|e| panic!("{spec}: {e}"));
    let info = BuildInfo { arch_build_on: "amd64".into(), arch_build_for: "amd64".into(), parallel_build_count: 7 };
    expand_globals(&project, &info).parts["p"].build_plan.clone()
}

#[test]
fn plugins_generate_what_craft_parts_generates() {
    let cases: BTreeMap<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("plugins/cases.json")).unwrap()).unwrap();
    let golden: BTreeMap<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("plugins/golden.json")).unwrap()).unwrap();
    assert_eq!(cases.len(), golden.len());
    // Every plugin has a case, so each one's build packages are compared.
    let mut covered: Vec<&str> = cases.values().map(|c| c["plugin"].as_str().unwrap()).collect();
    covered.sort();
    covered.dedup();
    let mut known: Vec<&str> = strata_frontend_craft::plugins::PLUGINS.iter().map(|p| p.name).collect();
    known.sort();
    assert_eq!(covered, known, "cases.json has a case for every plugin");
    for (name, spec) in &cases {
        let want = &golden[name];
        // craft-parts' python v2: what a rock on a Debian base gets, with
        // strata's pip for it.
        let mut spec = spec.clone();
        let v2 = spec.as_object_mut().unwrap().remove("_python_v2").is_some();
        let plan = if v2 { strata_plan_in(&spec, "rockcraft.yaml", "base: debian@12\n") } else { strata_plan(&spec) };
        let plugin = spec["plugin"].as_str().unwrap();
        let channel = spec.get("rust-channel").and_then(Value::as_str);

        let mut commands = strings(&want["build"]);
        let mut packages = strings(&want["packages"]);
        if COMPILES_NATIVE.contains(&plugin) {
            packages.extend(DEBIAN_TOOLCHAIN.map(String::from));
        }
        if v2 {
            packages.push("python3-pip".into());
        }
        match plugin {
            "rust" => match channel {
                None => packages.extend(["cargo".to_string(), "rustc".to_string()]),
                Some("none") => {}
                Some(_) => {
                    packages.push("rustup".into());
                    commands.splice(0..0, strings(&want["pull"]));
                }
            },
            _ => assert_eq!(strings(&want["pull"]), Vec::<String>::new(), "{name}: pull commands"),
        }
        packages.sort();
        packages.dedup();
        assert_eq!(plan.build_commands, commands, "{name}: build commands");
        assert!(plan.pull_commands.is_empty(), "{name}");
        let env: BTreeMap<String, String> = plan.environment.iter().cloned().collect();
        let want_env: BTreeMap<String, String> = want["env"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect();
        assert_eq!(env, want_env, "{name}: environment");
        assert_eq!(plan.build_packages, packages, "{name}: build packages");
        assert_eq!(plan.out_of_source, want["out_of_source"].as_bool().unwrap(), "{name}: out of source");
    }
}

#[test]
fn plugin_environments_keep_craft_parts_order() {
    let plan = strata_plan(&serde_json::json!({"plugin": "python", "source": "."}));
    let keys: Vec<&str> = plan.environment.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["PATH", "PARTS_PYTHON_INTERPRETER", "PARTS_PYTHON_VENV_ARGS"]);
}

#[test]
fn plugins_name_the_commands_they_need() {
    let plan = strata_plan(&serde_json::json!({"plugin": "go", "source": "."}));
    assert_eq!(plan.required_commands[0].command, "go");
    assert_eq!(plan.required_commands[0].provided_by_part, "go-deps");
    let plan = strata_plan(&serde_json::json!({"plugin": "meson", "source": "."}));
    let cmds: Vec<&str> = plan.required_commands.iter().map(|r| r.command.as_str()).collect();
    assert_eq!(cmds, ["meson", "ninja"]);
    let plan = strata_plan(
        &serde_json::json!({"plugin": "npm", "source": ".", "npm-include-node": true, "npm-node-version": "20.12.2"}),
    );
    assert!(plan.required_commands.is_empty(), "node comes with the part");
    assert!(
        plan.build_commands[0].contains("https://nodejs.org/dist/v20.12.2/node-v20.12.2-linux-${NODE_ARCH}.tar.gz")
    );
    assert_eq!(plan.build_packages, ["curl", "g++", "gcc", "libc6-dev", "make"]);
    assert!(plan.environment.contains(&("PATH".to_string(), "${CRAFT_PART_INSTALL}/bin:${PATH}".to_string())));
}

#[test]
fn a_rock_on_ubuntu_24_04_or_older_gets_rockcrafts_python_plugin() {
    let spec: Value = serde_json::json!({"plugin": "python", "source": "src"});
    let craft = strata_plan(&spec).build_commands.join("\n");
    let rock = strata_plan_in(&spec, "rockcraft.yaml", "base: ubuntu@24.04\n").build_commands.join("\n");
    let bare =
        strata_plan_in(&spec, "rockcraft.yaml", "base: bare\nbuild-base: ubuntu@22.04\n").build_commands.join("\n");

    // craft-parts: `env` shebangs, the venv's python linked to the payload's or the system's.
    assert!(craft.contains("|#!/usr/bin/env ${PARTS_PYTHON_INTERPRETER}|"), "{craft}");
    assert!(craft.contains(r#"symlink_target="$(readlink -f "$(which "${PARTS_PYTHON_INTERPRETER}")")""#));
    assert!(!craft.contains("sitecustomize"));

    // rockcraft: /bin/python3 shebangs, no system interpreter, the links
    // removed over an image base, sitecustomize.py and no pyvenv.cfg.
    for plan in [&rock, &bare] {
        assert!(plan.contains("|#!/bin/${PARTS_PYTHON_INTERPRETER}|"), "{plan}");
        assert!(plan.contains("symlink_target=\"\"\n"), "the interpreter must come from the parts");
        assert!(plan.contains("cat << EOF > ${py_dir}/sitecustomize.py\n\n# sitecustomize added by Rockcraft."));
        assert!(plan.ends_with("rm ${CRAFT_PART_INSTALL}/pyvenv.cfg\n"), "{plan}");
        assert!(plan.contains("Absolute paths in"));
    }
    assert!(rock.contains("/bin/python*") && !rock.contains("ln -sf"), "{rock}");
    assert!(bare.contains("ln -sf \"${symlink_target}\"") && !bare.contains("/bin/python*"), "{bare}");
}

#[test]
fn a_rock_on_debian_gets_craft_parts_python_v2_and_no_constraints() {
    let spec: Value = serde_json::json!({"plugin": "python", "source": "src"});
    for top in ["base: debian@12\n", "base: bare\n", "base: ubuntu@26.04\n"] {
        let plan = strata_plan_in(&spec, "rockcraft.yaml", top);
        assert!(plan.environment.contains(&("PIP_USER".to_string(), "1".to_string())), "{top}");
        assert!(!plan.build_commands.join("\n").contains("venv"), "{top}");
    }
    let yaml = "base: debian@12\nparts:\n  p: {plugin: python, source: src, python-constraints: [c.txt]}\n";
    let dir = fixtures().join("conformance/dump-filesets");
    let err = CraftFrontend.load_str(yaml, &dir, "rockcraft.yaml").unwrap_err().to_string();
    assert!(err.contains("'python-constraints' is not a key of the python plugin rockcraft uses"), "{err}");
    assert!(CraftFrontend.load_str(yaml, &dir, "parts.yaml").is_ok(), "craft-parts' own plugin has the key");
}
