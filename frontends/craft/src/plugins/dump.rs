//! `dump`: copies the source (its `source-subdir`) into the install dir.

use strata_frontend_api::BuildPlan;

use super::{PluginDef, PluginError, PluginInput};

pub(super) const DEF: PluginDef = PluginDef {
    name: "dump",
    keys: &[],
    needs_source: true,
    out_of_source: false,
    build_attributes: &[],
    compiles_native: false,
    plan,
};

fn plan(input: &PluginInput<'_>) -> Result<BuildPlan, PluginError> {
    Ok(BuildPlan {
        build_commands: vec![format!("cp --archive --link --no-dereference . \"{}\"", input.dirs.install)],
        ..BuildPlan::default()
    })
}
