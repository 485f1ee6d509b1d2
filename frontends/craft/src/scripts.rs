//! What runs inside a step's container: the exact scripts craft-parts would
//! run (its `scriptlet.sh`, `build.sh` and environment scripts, see
//! `executor/step_handler.py`), the default action `craftctl default`
//! runs, `craftctl` itself, and the project variables it reads and writes.
//!
//! A [`StepRun`] is data for the lifecycle: the files to place under
//! [`RUN_DIR`](crate::dirs::RUN_DIR) (mounted into the container, outside `/root` so they never
//! land in a layer), the command to start, and what the host must do
//! around it. The scripts are byte-for-byte those of craft-parts with the
//! container paths, except that `craftctl` talks through files in
//! [`CRAFTCTL_DIR`] instead of a socket.

use std::collections::{BTreeMap, BTreeSet};

use strata_frontend_api::{Project, Step};

use crate::dirs::{CRAFTCTL_BIN, CRAFTCTL_DIR, FETCHED_SOURCE_DIR, MIGRATION_DIR, PRIME_DIR, STAGE_DIR};
use crate::env::{BuildInfo, overlay_dir, part_dirs, step_environment};
use crate::parse::uses_overlay;

/// craftctl, a POSIX sh script, to install at [`CRAFTCTL_BIN`].
pub const CRAFTCTL_SH: &str = include_str!("craftctl.sh");

/// The project variables `craftctl set/get` see. rockcraft's is `version`.
pub const PROJECT_VARIABLES: &[&str] = &["version"];

/// A file to place under [`RUN_DIR`](crate::dirs::RUN_DIR).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptFile {
    pub contents: String,
    pub mode: u32,
}

fn file(contents: impl Into<String>, mode: u32) -> ScriptFile {
    ScriptFile { contents: contents.into(), mode }
}

/// What `craftctl default` (or the step itself, without a scriptlet) needs
/// the lifecycle to provide in the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultInput {
    None,
    /// The part's fetched source, mounted read-only at [`FETCHED_SOURCE_DIR`].
    FetchedSource,
    /// The part's default stage or prime migration (computed host-side with
    /// [`crate::migrate::stage_part`] / [`crate::migrate::prime_part`]) as a
    /// tree mounted read-only at [`MIGRATION_DIR`].
    Migration,
}

/// One step of one part, as the lifecycle runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRun {
    pub part: String,
    pub step: Step,
    /// Whether the step runs a container. When it does not, the step is
    /// host-side only: fetch the source into `src` (pull), apply the stage
    /// or prime migration (stage, prime), nothing (overlay without content).
    pub in_container: bool,
    /// The command to start (`/bin/sh /run/strata/craftctl/entrypoint.sh`);
    /// it prepares directories, checks required commands, changes to the
    /// step's directory and runs the step script with bash.
    pub argv: Vec<String>,
    /// Files to create under [`RUN_DIR`](crate::dirs::RUN_DIR), by path relative to it.
    pub files: BTreeMap<String, ScriptFile>,
    /// What the default action copies from.
    pub default_input: DefaultInput,
    /// The scriptlet replacing the default action, by craft-parts' name
    /// (`override-build`), if any.
    pub scriptlet: Option<&'static str>,
}

/// The state of project variables across a lifecycle: what `craftctl get`
/// reads, what `craftctl set` wrote, and which part may write. Carry it
/// from step to step (and keep it with cached step results: craft-parts
/// restores a skipped step's variables).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectVars {
    pub adopt_info: Option<String>,
    pub values: BTreeMap<String, String>,
    /// Variables already set in this lifecycle (set once only).
    pub set: BTreeSet<String>,
}

impl ProjectVars {
    /// The variables at the start of a lifecycle: `version` from the spec.
    pub fn new(project: &Project) -> ProjectVars {
        let mut values: BTreeMap<String, String> =
            PROJECT_VARIABLES.iter().map(|v| (v.to_string(), String::new())).collect();
        values.insert("version".to_string(), project.version.clone().unwrap_or_default());
        ProjectVars { adopt_info: project.adopt_info.clone(), values, set: BTreeSet::new() }
    }

    /// The files of [`CRAFTCTL_DIR`] holding this state, relative to [`RUN_DIR`](crate::dirs::RUN_DIR).
    pub fn files(&self) -> BTreeMap<String, ScriptFile> {
        let mut out = BTreeMap::new();
        if let Some(a) = &self.adopt_info {
            out.insert("craftctl/adopt-info".to_string(), file(a.clone(), 0o644));
        }
        for (k, v) in &self.values {
            out.insert(format!("craftctl/vars/{k}"), file(v.clone(), 0o644));
        }
        for k in &self.set {
            out.insert(format!("craftctl/set/{k}"), file("", 0o644));
        }
        out
    }

    /// Reads the state back from the files of [`CRAFTCTL_DIR`] after a step
    /// (paths relative to [`CRAFTCTL_DIR`]: `vars/version`, `set/version`).
    pub fn read_back<'a>(&mut self, files: impl IntoIterator<Item = (&'a str, &'a [u8])>) {
        for (path, contents) in files {
            if let Some(name) = path.strip_prefix("vars/") {
                if self.values.contains_key(name) {
                    self.values.insert(name.to_string(), String::from_utf8_lossy(contents).into_owned());
                }
            } else if let Some(name) = path.strip_prefix("set/")
                && self.values.contains_key(name)
            {
                self.set.insert(name.to_string());
            }
        }
    }
}

/// craft-parts' `_create_and_run_script`: bash, strict mode, the
/// environment, tracing, then the commands.
pub fn bash_script(commands: &[String], environment: Option<&str>) -> String {
    let mut s = String::from("#!/bin/bash\nset -euo pipefail\n");
    if let Some(env) = environment {
        s.push_str(&format!("source {env}\n"));
    }
    s.push_str("set -x\n");
    for c in commands {
        s.push_str(c);
        s.push('\n');
    }
    s
}

/// craft-parts' `_run_overlay_scriptlet`: `override-overlay` runs in the
/// overlay root, where `craftctl` is a shell function that only knows
/// `default` (the plugin's overlay commands; none for strata's plugins).
pub fn overlay_scriptlet(scriptlet: &str, scriptlet_name: &str) -> String {
    format!(
        "#!/bin/bash\nset -euo pipefail\nset -x\n__craftctl_default() {{\n    :\n}}\nexport -f __craftctl_default\n\n\
         craftctl() {{\n    if [ \"$#\" -eq 1 ] && [ \"$1\" = \"default\" ]; then\n        __craftctl_default\n    else\n        \
         echo \"Error: craftctl ${{1-}} cannot be used in {scriptlet_name}\" >&2\n        return 1\n    fi\n}}\nexport -f craftctl\n{scriptlet}\n"
    )
}

/// The Debian packages a part's build step needs: the part's own
/// `build-packages` and its plugin's, sorted.
pub fn build_packages(project: &Project, part_name: &str) -> Vec<String> {
    let part = &project.parts[part_name];
    let mut p: BTreeSet<String> = part.build_packages.iter().cloned().collect();
    p.extend(part.build_plan.build_packages.iter().cloned());
    p.into_iter().collect()
}

/// The shell that installs Debian packages in a build or overlay container.
pub fn apt_install(packages: &[String]) -> String {
    if packages.is_empty() {
        return String::new();
    }
    format!(
        "export DEBIAN_FRONTEND=noninteractive\napt-get update\napt-get install -y --no-install-recommends {}\n",
        packages.join(" ")
    )
}

/// How the lifecycle runs `step` of `part_name`. `project` should have its
/// globals expanded ([`crate::env::expand_globals`]) with the same `info`.
pub fn step_run(project: &Project, part_name: &str, step: Step, info: &BuildInfo, vars: &ProjectVars) -> StepRun {
    let part = &project.parts[part_name];
    let dirs = part_dirs(part_name, part);
    let env_path = format!("{CRAFTCTL_DIR}/environment.sh");
    let scriptlet_env_path = format!("{CRAFTCTL_DIR}/scriptlet-environment.sh");
    let environment = step_environment(project, part_name, step, info);

    let mut files = BTreeMap::new();
    let mut prepare: Vec<String> = Vec::new();
    let mut validate = None;
    let mut default_input = DefaultInput::None;
    let mut scriptlet_name: Option<&'static str> = None;
    let mut default: Option<(String, String)> = None; // (script, cwd)
    let mut step_script: Option<(String, String)> = None; // (script, cwd)

    let scriptlet_wrapper = |text: &str| bash_script(&[text.to_string()], Some(&scriptlet_env_path));

    match step {
        Step::Pull => {
            let plan = &part.build_plan;
            if part.scriptlets.override_pull.is_some() || !plan.pull_commands.is_empty() {
                let mut d = String::from("#!/bin/bash\nset -euo pipefail\n");
                if part.source.is_some() {
                    default_input = DefaultInput::FetchedSource;
                    d.push_str(&format!("cp -a {FETCHED_SOURCE_DIR}/. \"{}/\"\n", dirs.src));
                }
                if !plan.pull_commands.is_empty() {
                    files.insert("craftctl/pull.sh".into(), file(bash_script(&plan.pull_commands, None), 0o755));
                    d.push_str(&format!("cd \"{}\"\n/bin/bash {CRAFTCTL_DIR}/pull.sh\n", dirs.src_work));
                }
                default = Some((d, dirs.src.clone()));
            }
            if let Some(s) = &part.scriptlets.override_pull {
                scriptlet_name = Some("override-pull");
                step_script = Some((scriptlet_wrapper(s), dirs.src.clone()));
            } else if let Some((d, cwd)) = &default {
                step_script = Some((d.clone(), cwd.clone()));
            }
        }
        Step::Overlay => {
            if uses_overlay(part) {
                // The overlay's root: the container's own over an image
                // base, the writable mount in a build-base container for
                // `base: bare` (craft-parts runs overlay-script in the
                // part's layer dir, the overlay's upper dir).
                let root = overlay_dir(project, Step::Overlay).to_string();
                prepare.push(apt_install(&part.overlay_packages));
                if let Some(s) = &part.scriptlets.override_overlay {
                    scriptlet_name = Some("override-overlay");
                    step_script = Some((overlay_scriptlet(s, "override-overlay"), root));
                } else if let Some(s) = &part.scriptlets.overlay_script {
                    scriptlet_name = Some("overlay-script");
                    default = Some(("#!/bin/bash\n:\n".into(), root.clone()));
                    step_script = Some((scriptlet_wrapper(s), root));
                } else {
                    step_script = Some(("#!/bin/bash\n:\n".into(), root));
                }
            }
        }
        Step::Build => {
            if !part.build_plan.out_of_source {
                prepare.push(format!("rm -rf \"{b}\"\ncp -a \"{s}\" \"{b}\"\n", b = dirs.build, s = dirs.src));
            }
            if crate::usrmerge::usrmerged(project, part_name) {
                prepare.push(crate::usrmerge::scaffold_script(&dirs.install));
            }
            if !part.build_plan.required_commands.is_empty() {
                validate = Some(validation_script(part_name, &part.build_plan.required_commands, &env_path));
            }
            let build = bash_script(&part.build_plan.build_commands, Some(&env_path));
            default = Some((build.clone(), dirs.build_work.clone()));
            if let Some(s) = &part.scriptlets.override_build {
                scriptlet_name = Some("override-build");
                step_script = Some((scriptlet_wrapper(s), dirs.build.clone()));
            } else {
                step_script = Some((build, dirs.build_work.clone()));
            }
        }
        Step::Stage | Step::Prime => {
            let (name, scriptlet, target) = if step == Step::Stage {
                ("override-stage", &part.scriptlets.override_stage, STAGE_DIR)
            } else {
                ("override-prime", &part.scriptlets.override_prime, PRIME_DIR)
            };
            if let Some(s) = scriptlet {
                scriptlet_name = Some(name);
                default_input = DefaultInput::Migration;
                default = Some((
                    format!("#!/bin/bash\nset -euo pipefail\ncp -a {MIGRATION_DIR}/. {target}/\n"),
                    target.into(),
                ));
                step_script = Some((scriptlet_wrapper(s), target.into()));
            }
        }
    }

    let Some((script, cwd)) = step_script else {
        return StepRun {
            part: part_name.into(),
            step,
            in_container: false,
            argv: vec![],
            files: BTreeMap::new(),
            default_input,
            scriptlet: None,
        };
    };

    files.insert("bin/craftctl".into(), file(CRAFTCTL_SH, 0o755));
    files.insert("craftctl/environment.sh".into(), file(environment.clone(), 0o644));
    if let Some(name) = scriptlet_name {
        let prefix = format!("export STRATA_CRAFTCTL_DIR={CRAFTCTL_DIR}\nexport STRATA_CRAFTCTL_SCRIPTLET={name}\n");
        files.insert("craftctl/scriptlet-environment.sh".into(), file(prefix + &environment, 0o644));
    }
    if let Some((d, dcwd)) = default {
        files.insert("craftctl/default".into(), file(d, 0o755));
        files.insert("craftctl/default.cwd".into(), file(dcwd, 0o644));
    }
    files.insert("craftctl/step.sh".into(), file(script, 0o755));
    if let Some(v) = &validate {
        files.insert("craftctl/validate.sh".into(), file(v.clone(), 0o755));
    }
    files.extend(vars.files());

    let mut entry = format!(
        "#!/bin/sh\n# strata: the {step} step of part '{part_name}' (generated by strata-frontend-craft)\nset -eu\n\
         export PATH=\"{bin}:${{PATH:-/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin}}\"\n\
         export HOME=\"${{HOME:-/root}}\"\nexport STRATA_CRAFTCTL_DIR={CRAFTCTL_DIR}\n",
        bin = CRAFTCTL_BIN.trim_end_matches("/craftctl"),
    );
    if let Some(epoch) = project.source_date_epoch {
        entry.push_str(&format!("export SOURCE_DATE_EPOCH={epoch}\n"));
    }
    entry.push_str(&format!(
        "mkdir -p \"{}\" \"{}\" \"{}\" {STAGE_DIR} {PRIME_DIR}\n",
        dirs.src, dirs.build, dirs.install
    ));
    for p in prepare.iter().filter(|p| !p.is_empty()) {
        entry.push_str(p);
    }
    if validate.is_some() {
        entry.push_str(&format!("/bin/bash {CRAFTCTL_DIR}/validate.sh\n"));
    }
    entry.push_str(&format!("cd \"{cwd}\"\nexec /bin/bash {CRAFTCTL_DIR}/step.sh\n"));
    files.insert("craftctl/entrypoint.sh".into(), file(entry, 0o755));

    StepRun {
        part: part_name.into(),
        step,
        in_container: true,
        argv: vec!["/bin/sh".into(), format!("{CRAFTCTL_DIR}/entrypoint.sh")],
        files,
        default_input,
        scriptlet: scriptlet_name,
    }
}

/// craft-parts' plugin environment validators as a script: each required
/// command must run in the build environment.
fn validation_script(part: &str, required: &[strata_frontend_api::RequiredCommand], env_path: &str) -> String {
    let mut s = format!("#!/bin/bash\nsource {env_path}\n");
    for r in required {
        s.push_str(&format!(
            "{cmd} {args} >/dev/null 2>&1 || {{\n    rc=$?\n    if [ \"$rc\" -eq 127 ]; then\n        \
             echo \"part '{part}': '{cmd}' not found in the build environment; {hint}, or add a part named '{dep}' to after:\" >&2\n    \
             else\n        echo \"part '{part}': '{cmd} {args}' failed with error code $rc\" >&2\n    fi\n    exit 1\n}}\n",
            cmd = r.command,
            args = r.args,
            hint = r.hint,
            dep = r.provided_by_part,
        ));
    }
    s
}
