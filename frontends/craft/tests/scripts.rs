//! The scripts a step runs, `craftctl`, and the step environment — run on
//! the host with bash by moving the container paths (`/root/...`,
//! `/run/strata/...`) under a temporary directory. The after-scriptlets
//! case then produces, byte for byte, the VERSION file and the `version`
//! project variable craft-parts recorded.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use strata_frontend_api::{Project, Step};
use strata_frontend_craft::scripts::{DefaultInput, ProjectVars, StepRun, step_run};
use strata_frontend_craft::{BuildInfo, CraftFrontend, env::expand_globals};

fn load(case: &str) -> Project {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/conformance").join(case).join("parts.yaml");
    CraftFrontend.load(&path).unwrap()
}

fn info() -> BuildInfo {
    BuildInfo { arch_build_on: "amd64".into(), arch_build_for: "amd64".into(), parallel_build_count: 1 }
}

/// A scratch directory standing in for the container's `/`.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("strata-craft-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn path(&self, container_path: &str) -> PathBuf {
        self.0.join(container_path.trim_start_matches('/'))
    }

    /// Rewrites container paths to paths under the scratch directory.
    fn rewrite(&self, text: &str) -> String {
        let root = self.0.display();
        text.replace("/run/strata", &format!("{root}/run/strata")).replace("/root/", &format!("{root}/root/"))
    }

    fn write(&self, container_path: &str, contents: &str, mode: u32) {
        let p = self.path(container_path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, contents).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// Places a step's files and runs its entrypoint; returns the output.
    fn run(&self, run: &StepRun) -> std::process::Output {
        for (rel, f) in &run.files {
            self.write(&format!("/run/strata/{rel}"), &self.rewrite(&f.contents), f.mode);
        }
        let out = Command::new("/bin/sh")
            .arg(self.path("/run/strata/craftctl/entrypoint.sh"))
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", self.path("/root"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{} failed:\n{}", run.step, String::from_utf8_lossy(&out.stderr));
        out
    }

    fn read(&self, container_path: &str) -> String {
        std::fs::read_to_string(self.path(container_path)).unwrap()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn override_build_script_is_craft_parts_scriptlet_sh() {
    let project = expand_globals(&load("after-scriptlets"), &info());
    let vars = ProjectVars::new(&project);
    let run = step_run(&project, "a-app", Step::Build, &info(), &vars);
    assert!(run.in_container);
    assert_eq!(run.scriptlet, Some("override-build"));
    let step = &run.files["craftctl/step.sh"].contents;
    let scriptlet = project.parts["a-app"].scriptlets.override_build.clone().unwrap();
    assert_eq!(
        *step,
        format!(
            "#!/bin/bash\nset -euo pipefail\nsource /run/strata/craftctl/scriptlet-environment.sh\nset -x\n{scriptlet}\n"
        )
    );
    // craftctl default runs the plugin's build.sh (nil: no commands) in the build subdir.
    assert_eq!(
        run.files["craftctl/default"].contents,
        "#!/bin/bash\nset -euo pipefail\nsource /run/strata/craftctl/environment.sh\nset -x\n"
    );
    assert_eq!(run.files["craftctl/default.cwd"].contents, "/root/parts/a-app/build");
    let env = &run.files["craftctl/environment.sh"].contents;
    assert!(env.starts_with("# Environment\n## Application environment\n## Part environment\n"));
    assert!(env.contains("export CRAFT_STEP_NAME=\"BUILD\"\n"));
    assert!(env.ends_with(
        "## Plugin environment\n## User environment\nexport GREETING=\"hello\"\n\
         export APP_DIR=\"$CRAFT_PART_INSTALL/opt/app\"\nexport MSG=\"${GREETING} from ${CRAFT_PART_NAME}\"\n"
    ));
    // Steps without scriptlets or plugin commands are host-side only.
    let pull = step_run(&project, "z-lib", Step::Pull, &info(), &vars);
    assert!(!pull.in_container);
    let stage = step_run(&project, "z-lib", Step::Stage, &info(), &vars);
    assert!(!stage.in_container);
    let stage = step_run(&project, "a-app", Step::Stage, &info(), &vars);
    assert_eq!(stage.default_input, DefaultInput::Migration);
}

#[test]
fn make_build_runs_plugin_commands_in_the_build_subdir() {
    let project = expand_globals(&load("make-c"), &info());
    let run = step_run(&project, "hello", Step::Build, &info(), &ProjectVars::new(&project));
    assert_eq!(
        run.files["craftctl/step.sh"].contents,
        "#!/bin/bash\nset -euo pipefail\nsource /run/strata/craftctl/environment.sh\nset -x\n\
         make -j\"1\" PREFIX=/usr SUFFIX=craft\n\
         make -j\"1\" install PREFIX=/usr SUFFIX=craft DESTDIR=\"/root/parts/hello/install\"\n"
    );
    let entry = &run.files["craftctl/entrypoint.sh"].contents;
    assert!(
        entry.contains(
            "rm -rf \"/root/parts/hello/build\"\ncp -a \"/root/parts/hello/src\" \"/root/parts/hello/build\"\n"
        )
    );
    assert!(entry.ends_with("cd \"/root/parts/hello/build/c\"\nexec /bin/bash /run/strata/craftctl/step.sh\n"));
}

#[test]
fn every_generated_script_is_valid_shell() {
    for case in ["dump-filesets", "after-scriptlets", "make-c"] {
        let project = expand_globals(&load(case), &info());
        let vars = ProjectVars::new(&project);
        for part in project.parts.keys() {
            for step in Step::ALL {
                let run = step_run(&project, part, step, &info(), &vars);
                for (name, f) in &run.files {
                    if !(name.ends_with(".sh") || name == "craftctl/default" || name == "bin/craftctl") {
                        continue;
                    }
                    let shell = if name.ends_with("entrypoint.sh") || name == "bin/craftctl" { "sh" } else { "bash" };
                    let out = Command::new(shell).arg("-n").arg("-c").arg(&f.contents).output().unwrap();
                    assert!(
                        out.status.success(),
                        "{case}/{part}/{step}/{name}: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            }
        }
    }
}

#[test]
fn after_scriptlets_runs_like_craft_parts() {
    let project = expand_globals(&load("after-scriptlets"), &info());
    let case = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/conformance/after-scriptlets");
    let s = Scratch::new("after-scriptlets");
    // The project dir and what z-lib staged.
    s.write(
        "/root/project/lib/VERSION_SUFFIX",
        &std::fs::read_to_string(case.join("lib/VERSION_SUFFIX")).unwrap(),
        0o644,
    );
    s.write("/root/stage/usr/share/lib/message.txt", "hi from z-lib\n", 0o644);
    let mut vars = ProjectVars::new(&project);

    // build: craftctl default, the app, craftctl set version=...
    let build = step_run(&project, "a-app", Step::Build, &info(), &vars);
    s.run(&build);
    let app = s.path("/root/parts/a-app/install/opt/app/bin/app");
    assert_eq!(std::fs::metadata(&app).unwrap().permissions().mode() & 0o7777, 0o750);
    let app = std::fs::read_to_string(app).unwrap();
    assert_eq!(app, "#!/bin/sh\necho \"hello from a-app; lib says: hi from z-lib\"\n");
    assert_eq!(&sha256_prefix(app.as_bytes()), "3691b982b340d679", "the oracle's opt/app/bin/app");
    assert_eq!(s.read("/root/parts/a-app/install/opt/app/build-info.txt"), "step=BUILD jobs=1\n");
    read_back(&s, &mut vars);
    assert_eq!(vars.values["version"], "1.2.3-rc1", "expected-project-vars.txt");
    assert!(vars.set.contains("version"));

    // prime: craftctl default copies the migration, then VERSION from craftctl get.
    let prime = step_run(&project, "a-app", Step::Prime, &info(), &vars);
    assert_eq!(prime.default_input, DefaultInput::Migration);
    s.write("/run/strata/migration/opt/app/build-info.txt", "step=BUILD jobs=1\n", 0o644);
    s.run(&prime);
    let version = s.read("/root/prime/VERSION");
    assert_eq!(version, "1.2.3-rc1 hello step=PRIME\n");
    assert_eq!(&sha256_prefix(version.as_bytes()), "48c8cba2d069ee2a", "the oracle's VERSION");
    assert_eq!(s.read("/root/prime/opt/app/build-info.txt"), "step=BUILD jobs=1\n");
}

fn read_back(s: &Scratch, vars: &mut ProjectVars) {
    let dir = s.path("/run/strata/craftctl");
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for sub in ["vars", "set"] {
        if let Ok(entries) = std::fs::read_dir(dir.join(sub)) {
            for e in entries {
                let e = e.unwrap();
                files.insert(format!("{sub}/{}", e.file_name().to_string_lossy()), std::fs::read(e.path()).unwrap());
            }
        }
    }
    vars.read_back(files.iter().map(|(k, v)| (k.as_str(), v.as_slice())));
}

fn sha256_prefix(bytes: &[u8]) -> String {
    let out = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(bytes)?;
            c.wait_with_output()
        })
        .unwrap();
    String::from_utf8_lossy(&out.stdout)[..16].to_string()
}

/// Runs craftctl with a state directory and the given part.
fn craftctl(dir: &Path, part: &str, args: &[&str]) -> (bool, String, String) {
    let script = dir.join("craftctl.sh");
    std::fs::write(&script, strata_frontend_craft::scripts::CRAFTCTL_SH).unwrap();
    let out = Command::new("/bin/sh")
        .arg(&script)
        .args(args)
        .env("STRATA_CRAFTCTL_DIR", dir.join("state"))
        .env("STRATA_CRAFTCTL_SCRIPTLET", "override-build")
        .env("CRAFT_PART_NAME", part)
        .env("CRAFT_STEP_NAME", "BUILD")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn craftctl_sets_once_from_the_adopting_part_and_gets() {
    let s = Scratch::new("craftctl");
    let state = s.0.join("state");
    std::fs::create_dir_all(state.join("vars")).unwrap();
    std::fs::write(state.join("vars/version"), "").unwrap();
    std::fs::write(state.join("adopt-info"), "a-app").unwrap();

    let (ok, out, _) = craftctl(&s.0, "a-app", &["get", "version"]);
    assert!(ok && out.is_empty(), "an empty value prints nothing");
    let (ok, _, err) = craftctl(&s.0, "z-lib", &["set", "version=1"]);
    assert!(!ok);
    assert_eq!(
        err,
        "craftctl: 'override-build' in part 'z-lib' executed an invalid control API call: variable 'version' can only be set in part 'a-app'.\n"
    );
    let (ok, _, err) = craftctl(&s.0, "a-app", &["set", "version=1.2=3"]);
    assert!(ok, "{err}");
    assert_eq!(std::fs::read_to_string(state.join("vars/version")).unwrap(), "1.2=3", "split at the first '='");
    let (ok, out, _) = craftctl(&s.0, "a-app", &["get", "version"]);
    assert!(ok);
    assert_eq!(out, "1.2=3\n");
    let (ok, _, err) = craftctl(&s.0, "a-app", &["set", "version=2"]);
    assert!(!ok && err.contains("variable 'version' can be set only once"), "{err}");
    for (args, msg) in [
        (&["set", "version"][..], "invalid arguments to command 'set' (want key=value)"),
        (&["set", "1x=2"][..], "'1x' is not a valid variable name"),
        (&["get", "title"][..], "'title' not in project variables"),
        (&["get"][..], "invalid number of arguments to command 'get'"),
        (&["default", "x"][..], "invalid arguments to command 'default'"),
    ] {
        let (ok, _, err) = craftctl(&s.0, "a-app", args);
        assert!(!ok && err.contains(msg), "{args:?}: {err}");
    }

    // default runs the default action in its directory and passes its status on.
    std::fs::create_dir_all(s.0.join("work")).unwrap();
    std::fs::write(state.join("default"), "pwd > where\nexit 0\n").unwrap();
    std::fs::write(state.join("default.cwd"), s.0.join("work").to_str().unwrap()).unwrap();
    let (ok, _, err) = craftctl(&s.0, "a-app", &["default"]);
    assert!(ok, "{err}");
    assert!(std::fs::read_to_string(s.0.join("work/where")).unwrap().trim_end().ends_with("/work"));
    std::fs::write(state.join("default"), "exit 3\n").unwrap();
    assert!(!craftctl(&s.0, "a-app", &["default"]).0);
}

#[test]
fn the_environment_script_sources_cleanly() {
    let project = expand_globals(&load("after-scriptlets"), &info());
    let run = step_run(&project, "a-app", Step::Prime, &info(), &ProjectVars::new(&project));
    let env = &run.files["craftctl/environment.sh"].contents;
    let script = format!(
        "set -euo pipefail\n{env}\nprintf '%s|' \"$CRAFT_PART_NAME\" \"$CRAFT_STEP_NAME\" \"$CRAFT_STAGE\" \"$CRAFT_PROJECT_DIR\" \
         \"$CRAFT_ARCH_TRIPLET_BUILD_FOR\" \"$CRAFT_PARALLEL_BUILD_COUNT\" \"$MSG\" \"$APP_DIR\" \"${{CPPFLAGS-unset}}\""
    );
    let out = Command::new("bash").arg("-c").arg(&script).env_clear().env("PATH", "/usr/bin:/bin").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "a-app|PRIME|/root/stage|/root/project|x86_64-linux-gnu|1|hello from a-app|/root/parts/a-app/install/opt/app|unset|"
    );
}

#[test]
fn existing_install_and_stage_dirs_extend_paths_and_flags() {
    let project = expand_globals(&load("make-c"), &info());
    let run = step_run(&project, "hello", Step::Build, &info(), &ProjectVars::new(&project));
    let s = Scratch::new("env-dirs");
    for d in ["/root/stage/usr/bin", "/root/stage/usr/include", "/root/parts/hello/install/usr/lib/x86_64-linux-gnu"] {
        std::fs::create_dir_all(s.path(d)).unwrap();
    }
    let env = s.rewrite(&run.files["craftctl/environment.sh"].contents);
    let script = format!("set -euo pipefail\nCPPFLAGS=-O2\n{env}\nprintf '%s\\n' \"$PATH\" \"$CPPFLAGS\" \"$LDFLAGS\"");
    let out = Command::new("bash").arg("-c").arg(&script).env_clear().env("PATH", "/usr/bin:/bin").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let root = s.0.display();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "{root}/root/stage/usr/bin:/usr/bin:/bin\n-O2 -isystem {root}/root/stage/usr/include\n\
             -L{root}/root/parts/hello/install/usr/lib -L{root}/root/parts/hello/install/usr/lib/x86_64-linux-gnu\n"
        )
    );
}
