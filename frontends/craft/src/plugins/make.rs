//! `make`: `make` then `make install DESTDIR=<install>`, with
//! `make-parameters` after the target. craft-parts 2.37.2 always passes
//! `-j<count>` here (`disable-parallel` only affects autotools).

use strata_frontend_api::BuildPlan;

use super::{KeyType, PluginDef, PluginError, PluginInput, key, strings};

pub(super) const DEF: PluginDef = PluginDef {
    name: "make",
    keys: &[key("make-parameters", KeyType::List)],
    needs_source: true,
    out_of_source: false,
    build_attributes: &[],
    compiles_native: true,
    plan,
};

fn make_command(input: &PluginInput<'_>, target: Option<&str>) -> String {
    let mut cmd = vec!["make".to_string(), "-j\"${CRAFT_PARALLEL_BUILD_COUNT}\"".to_string()];
    cmd.extend(target.map(str::to_string));
    cmd.extend(input.list("make-parameters"));
    cmd.join(" ")
}

fn plan(input: &PluginInput<'_>) -> Result<BuildPlan, PluginError> {
    Ok(BuildPlan {
        build_commands: vec![
            make_command(input, None),
            format!("{} DESTDIR=\"{}\"", make_command(input, Some("install")), input.dirs.install),
        ],
        build_packages: strings(&["gcc", "make"]),
        ..BuildPlan::default()
    })
}
