//! The `CRAFT_*` environment of a step and craft-parts' expansion of global
//! variables in part definitions (`executor/environment.py`), with the
//! container paths of DESIGN.md §4.
//!
//! [`step_environment`] writes the environment script a step sources, in
//! craft-parts' format and order: `## Part environment` (globals, then
//! `CRAFT_PART_*`, then `PATH`/`CPPFLAGS`/`LDFLAGS`/`PKG_CONFIG_PATH` for
//! the install and stage dirs that exist), `## Plugin environment` (build
//! only), `## User environment` (the part's `build-environment`, in every
//! step). craft-parts checks which directories exist while it writes the
//! script, just before the step; strata writes that check into the script,
//! which runs at the same moment, so the script is a pure function of the
//! project and the same on every machine.

use strata_frontend_api::{Base, Part, Project, Step};

use crate::dirs::{OVERLAY_DIR, OVERLAY_MOUNT_DIR, PRIME_DIR, PROJECT_DIR, PartDirs, STAGE_DIR};
use crate::parse::uses_overlay;
use crate::plugins;

/// The machine facts craft-parts takes from its host: architectures and
/// the parallel build count. Part of every step's definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInfo {
    /// Debian architecture of the build machine (`CRAFT_ARCH_BUILD_ON`).
    pub arch_build_on: String,
    /// Debian architecture built for (`CRAFT_ARCH_BUILD_FOR`).
    pub arch_build_for: String,
    /// `CRAFT_PARALLEL_BUILD_COUNT` (parts with `disable-parallel` still see
    /// it; only autotools honours that key, as in craft-parts 2.37.2).
    pub parallel_build_count: u32,
}

impl BuildInfo {
    /// Building on and for the machine this runs on.
    pub fn host(parallel_build_count: u32) -> BuildInfo {
        let arch = deb_arch(std::env::consts::ARCH).unwrap_or("amd64").to_string();
        BuildInfo { arch_build_on: arch.clone(), arch_build_for: arch, parallel_build_count }
    }
}

pub use strata_frontend_api::debian_arch as deb_arch;

/// craft-parts' `_DEB_TO_TRIPLET`.
pub fn arch_triplet(deb_arch: &str) -> Option<&'static str> {
    Some(match deb_arch {
        "amd64" => "x86_64-linux-gnu",
        "arm64" => "aarch64-linux-gnu",
        "armhf" => "arm-linux-gnueabihf",
        "i386" => "i386-linux-gnu",
        "powerpc" => "powerpc-linux-gnu",
        "ppc64el" => "powerpc64le-linux-gnu",
        "riscv64" => "riscv64-linux-gnu",
        "s390x" => "s390x-linux-gnu",
        _ => return None,
    })
}

/// Where `CRAFT_OVERLAY` points in `step`: [`OVERLAY_DIR`] (`/`) in the
/// overlay step over an image base, whose container root is the overlay;
/// [`OVERLAY_MOUNT_DIR`] everywhere else, where the lifecycle mounts it.
/// craft-parts has one value (its overlay mount point) for every step.
pub fn overlay_dir(project: &Project, step: Step) -> &'static str {
    if step == Step::Overlay && project.base != Base::Bare { OVERLAY_DIR } else { OVERLAY_MOUNT_DIR }
}

/// The project-wide variables (craft-parts' `_get_global_environment`), in
/// its order, as every step but the overlay step sees them
/// ([`part_environment`] has the overlay step's `CRAFT_OVERLAY`).
/// `CRAFT_OVERLAY` is set when a part of the project uses the overlay step.
pub fn global_environment(project: &Project, info: &BuildInfo) -> Vec<(String, String)> {
    let triplet_for = arch_triplet(&info.arch_build_for).unwrap_or_default();
    let triplet_on = arch_triplet(&info.arch_build_on).unwrap_or_default();
    let mut env: Vec<(&str, String)> = vec![
        ("CRAFT_ARCH_TRIPLET", triplet_for.into()),
        ("CRAFT_TARGET_ARCH", info.arch_build_for.clone()),
        ("CRAFT_ARCH_BUILD_ON", info.arch_build_on.clone()),
        ("CRAFT_ARCH_BUILD_FOR", info.arch_build_for.clone()),
        ("CRAFT_ARCH_TRIPLET_BUILD_ON", triplet_on.into()),
        ("CRAFT_ARCH_TRIPLET_BUILD_FOR", triplet_for.into()),
        ("CRAFT_PARALLEL_BUILD_COUNT", info.parallel_build_count.to_string()),
        ("CRAFT_PROJECT_DIR", PROJECT_DIR.into()),
        ("DEBIAN_FRONTEND", "noninteractive".into()),
    ];
    if project.parts.values().any(uses_overlay) {
        env.push(("CRAFT_OVERLAY", OVERLAY_MOUNT_DIR.into()));
    }
    env.push(("CRAFT_STAGE", STAGE_DIR.into()));
    env.push(("CRAFT_PRIME", PRIME_DIR.into()));
    if let Some(name) = &project.name {
        env.push(("CRAFT_PROJECT_NAME", name.clone()));
    }
    // craft-application (rockcraft) adds the version to every step's
    // environment; craft-parts alone (parts.yaml) does not.
    if application_project(project)
        && let Some(version) = &project.version
    {
        env.push(("CRAFT_PROJECT_VERSION", version.clone()));
    }
    env.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// Whether the project is read as craft-application reads a project
/// (`rockcraft.yaml`, `*.rockcraft.yaml`, `strata.yaml`): its version is a
/// project variable and every string of the project is expanded, not only
/// the parts'. A `parts.yaml` (or any other file with `parts:`) is
/// craft-parts' alone.
pub fn application_project(project: &Project) -> bool {
    crate::plugins::Flavour::is_rock(&project.spec_file) || project.spec_file == "strata.yaml"
}

/// A part's directories, with its plugin's out-of-source rule.
pub fn part_dirs(part_name: &str, part: &Part) -> PartDirs {
    let out_of_source = plugins::plugin(&part.plugin).is_some_and(|p| p.out_of_source);
    PartDirs::new(part_name, part.source.as_ref().and_then(|s| s.subdir.as_deref()), out_of_source)
}

/// The variables craft-parts computes for a part and step, before the
/// directory-dependent ones: globals, then `CRAFT_PART_*` and
/// `CRAFT_STEP_NAME` (upper case, `BUILD`, as craft-parts writes it).
pub fn part_environment(project: &Project, part_name: &str, step: Step, info: &BuildInfo) -> Vec<(String, String)> {
    let part = &project.parts[part_name];
    let dirs = part_dirs(part_name, part);
    let mut env = global_environment(project, info);
    for (k, v) in env.iter_mut() {
        if k == "CRAFT_OVERLAY" {
            *v = overlay_dir(project, step).to_string();
        }
    }
    env.extend([
        ("CRAFT_PART_NAME".to_string(), part_name.to_string()),
        ("CRAFT_STEP_NAME".to_string(), step.name().to_ascii_uppercase()),
        ("CRAFT_PART_SRC".to_string(), dirs.src.clone()),
        ("CRAFT_PART_SRC_WORK".to_string(), dirs.src_work.clone()),
        ("CRAFT_PART_BUILD".to_string(), dirs.build.clone()),
        ("CRAFT_PART_BUILD_WORK".to_string(), dirs.build_work.clone()),
        ("CRAFT_PART_INSTALL".to_string(), dirs.install.clone()),
    ]);
    env
}

/// The environment script of a step (craft-parts' `generate_step_environment`).
pub fn step_environment(project: &Project, part_name: &str, step: Step, info: &BuildInfo) -> String {
    let part = &project.parts[part_name];
    let dirs = part_dirs(part_name, part);
    let triplet = arch_triplet(&info.arch_build_for).unwrap_or_default();
    let mut s = String::new();
    s.push_str("# Environment\n## Application environment\n## Part environment\n");
    for (k, v) in part_environment(project, part_name, step, info) {
        s.push_str(&format!("export {k}=\"{v}\"\n"));
    }
    let roots = [dirs.install.as_str(), STAGE_DIR];
    let paths = |subs: &[String]| -> Vec<String> {
        roots.iter().flat_map(|r| subs.iter().map(move |sub| format!("{r}/{sub}"))).collect()
    };
    let t = triplet;
    let bin = paths(&["usr/sbin".into(), "usr/bin".into(), "sbin".into(), "bin".into()]);
    let include = paths(&["include".into(), "usr/include".into(), format!("include/{t}"), format!("usr/include/{t}")]);
    let lib = paths(&["lib".into(), "usr/lib".into(), format!("lib/{t}"), format!("usr/lib/{t}")]);
    let pkgconfig = paths(&[
        "lib/pkgconfig".into(),
        format!("lib/{t}/pkgconfig"),
        "usr/lib/pkgconfig".into(),
        format!("usr/lib/{t}/pkgconfig"),
        "usr/share/pkgconfig".into(),
        "usr/local/lib/pkgconfig".into(),
        format!("usr/local/lib/{t}/pkgconfig"),
        "usr/local/share/pkgconfig".into(),
    ]);
    s.push_str(&existing_dirs_block("__strata_bin", &bin, "", ":"));
    s.push_str("if [ -n \"$__strata_bin\" ]; then export PATH=\"$__strata_bin$PATH\"; fi\n");
    s.push_str(&existing_dirs_block("__strata_inc", &include, "-isystem ", " "));
    s.push_str("if [ -n \"$__strata_inc\" ]; then\n");
    for var in ["CPPFLAGS", "CFLAGS", "CXXFLAGS"] {
        s.push_str(&format!("    export {var}=\"${{{var}:+\"${var} \"}}${{__strata_inc% }}\"\n"));
    }
    s.push_str("fi\n");
    s.push_str(&existing_dirs_block("__strata_lib", &lib, "-L", " "));
    s.push_str("if [ -n \"$__strata_lib\" ]; then export LDFLAGS=\"${LDFLAGS:+\"$LDFLAGS \"}${__strata_lib% }\"; fi\n");
    s.push_str(&existing_dirs_block("__strata_pkg", &pkgconfig, "", ":"));
    s.push_str(
        "if [ -n \"$__strata_pkg\" ]; then export PKG_CONFIG_PATH=\"${PKG_CONFIG_PATH:+\"$PKG_CONFIG_PATH:\"}${__strata_pkg%:}\"; fi\n",
    );
    s.push_str("unset __strata_d __strata_bin __strata_inc __strata_lib __strata_pkg\n");
    s.push_str("## Plugin environment\n");
    if step == Step::Build {
        for (k, v) in &part.build_plan.environment {
            s.push_str(&format!("export {k}=\"{v}\"\n"));
        }
    }
    s.push_str("## User environment\n");
    for (k, v) in &part.build_environment {
        s.push_str(&format!("export {k}=\"{v}\"\n"));
    }
    s
}

/// Shell that collects the existing directories of `dirs` into `var`, each
/// prefixed and followed by `sep`.
fn existing_dirs_block(var: &str, dirs: &[String], prefix: &str, sep: &str) -> String {
    let mut s = format!("{var}=\"\"\nfor __strata_d in");
    for d in dirs {
        s.push_str(&format!(" \"{d}\""));
    }
    s.push_str(&format!(
        "; do\n    if [ -e \"$__strata_d\" ]; then {var}=\"${var}{prefix}$__strata_d{sep}\"; fi\ndone\n"
    ));
    s
}

/// craft-parts' `expand_environment`: replaces `$VAR` and `${VAR}` of the
/// global variables by their values in every string of every part
/// (scriptlets included), longest names first. Plugin commands refer to
/// `${CRAFT_PARALLEL_BUILD_COUNT}`, so after this they read as craft-parts
/// writes them (`make -j"4"`). Call it with the [`BuildInfo`] of the build
/// that will run the project. The overlay scriptlets get the overlay
/// step's `CRAFT_OVERLAY` ([`overlay_dir`]), everything else the other one.
pub fn expand_globals(project: &Project, info: &BuildInfo) -> Project {
    let replacements = |overlay: &str| {
        let mut r: Vec<(String, String)> = Vec::new();
        for (k, v) in global_environment(project, info) {
            let v = if k == "CRAFT_OVERLAY" { overlay.to_string() } else { v };
            r.push((format!("${k}"), v.clone()));
            r.push((format!("${{{k}}}"), v));
        }
        r.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
        r
    };
    let everywhere = replacements(overlay_dir(project, Step::Build));
    let in_overlay = replacements(overlay_dir(project, Step::Overlay));
    let replace = |replacements: &[(String, String)], s: &str| -> String {
        let mut out = s.to_string();
        for (k, v) in replacements {
            if out.contains(k.as_str()) {
                out = out.replace(k.as_str(), v);
            }
        }
        out
    };
    let rep = |s: &str| replace(&everywhere, s);
    let rep_overlay = |s: &str| replace(&in_overlay, s);
    let mut p = project.clone();
    for part in p.parts.values_mut() {
        expand_part(part, &rep, &rep_overlay);
    }
    if application_project(project) {
        // craft-application expands the whole project, the image's
        // settings included (`environment: {V: $CRAFT_PROJECT_VERSION}`).
        let img = &mut p.image;
        for list in [&mut img.entrypoint, &mut img.cmd].into_iter().flatten() {
            list.iter_mut().for_each(|s| *s = rep(s));
        }
        img.environment.iter_mut().for_each(|(_, v)| *v = rep(v));
        img.labels.values_mut().for_each(|v| *v = rep(v));
        for o in [&mut img.user, &mut img.working_dir].into_iter().flatten() {
            *o = rep(o);
        }
    }
    p
}

fn expand_part(part: &mut Part, rep: &dyn Fn(&str) -> String, rep_overlay: &dyn Fn(&str) -> String) {
    let list = |v: &mut Vec<String>| v.iter_mut().for_each(|s| *s = rep(s));
    let pairs = |v: &mut Vec<(String, String)>| {
        v.iter_mut().for_each(|(a, b)| {
            *a = rep(a);
            *b = rep(b);
        })
    };
    let opt = |o: &mut Option<String>| {
        if let Some(s) = o {
            *s = rep(s);
        }
    };
    part.plugin = rep(&part.plugin);
    for v in part.plugin_options.values_mut() {
        match v {
            strata_frontend_api::OptionValue::String(s) => *s = rep(s),
            strata_frontend_api::OptionValue::List(l) => list(l),
            strata_frontend_api::OptionValue::Bool(_) => {}
        }
    }
    let plan = &mut part.build_plan;
    list(&mut plan.pull_commands);
    list(&mut plan.build_commands);
    pairs(&mut plan.environment);
    list(&mut plan.build_packages);
    if let Some(src) = &mut part.source {
        src.location = rep(&src.location);
        opt(&mut src.checksum);
        opt(&mut src.branch);
        opt(&mut src.tag);
        opt(&mut src.commit);
        opt(&mut src.subdir);
        if let Some(subs) = &mut src.submodules {
            list(subs);
        }
    }
    list(&mut part.after);
    list(&mut part.build_packages);
    list(&mut part.stage_packages);
    list(&mut part.overlay_packages);
    list(&mut part.overlay.entries);
    pairs(&mut part.build_environment);
    list(&mut part.build_attributes);
    pairs(&mut part.organize);
    list(&mut part.stage.entries);
    list(&mut part.prime.entries);
    let s = &mut part.scriptlets;
    for o in [&mut s.override_pull, &mut s.override_build, &mut s.override_stage, &mut s.override_prime] {
        opt(o);
    }
    for text in [&mut s.overlay_script, &mut s.override_overlay].into_iter().flatten() {
        *text = rep_overlay(text);
    }
    for p in &mut part.permissions {
        p.path = rep(&p.path);
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::CraftFrontend;

    const PROJECT: &str = "name: vars\nversion: '1.2'\nbase: bare\nbuild-base: debian:bookworm\n\
        environment: {V: $CRAFT_PROJECT_VERSION, N: '${CRAFT_PROJECT_NAME}'}\n\
        parts:\n  p:\n    plugin: nil\n    override-build: echo $CRAFT_PROJECT_VERSION\n";

    fn expanded(spec_file: &str) -> (Project, Vec<(String, String)>) {
        let project = CraftFrontend.load_str(PROJECT, Path::new("/project"), spec_file).unwrap();
        let info = BuildInfo { arch_build_on: "amd64".into(), arch_build_for: "amd64".into(), parallel_build_count: 2 };
        let env = global_environment(&project, &info);
        (expand_globals(&project, &info), env)
    }

    #[test]
    fn a_rock_expands_project_variables_everywhere_as_craft_application_does() {
        let (p, env) = expanded("rockcraft.yaml");
        assert!(env.contains(&("CRAFT_PROJECT_VERSION".into(), "1.2".into())), "every step sees the version");
        assert_eq!(p.image.environment, [("V".to_string(), "1.2".to_string()), ("N".into(), "vars".into())]);
        assert_eq!(p.parts["p"].scriptlets.for_step(Step::Build), Some("echo 1.2"));
    }

    #[test]
    fn a_parts_yaml_keeps_craft_parts_globals() {
        let (p, env) = expanded("parts.yaml");
        assert!(!env.iter().any(|(k, _)| k == "CRAFT_PROJECT_VERSION"), "craft-parts has no version variable");
        assert_eq!(p.image.environment[0].1, "$CRAFT_PROJECT_VERSION", "only parts are expanded");
    }
}
