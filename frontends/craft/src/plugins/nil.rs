//! `nil`: no build commands; the part is made of its other keys
//! (`stage-packages`, `override-build`, ...).

use strata_frontend_api::BuildPlan;

use super::{PluginDef, PluginError, PluginInput};

pub(super) const DEF: PluginDef = PluginDef {
    name: "nil",
    keys: &[],
    needs_source: false,
    out_of_source: false,
    build_attributes: &[],
    compiles_native: false,
    plan,
};

fn plan(_: &PluginInput<'_>) -> Result<BuildPlan, PluginError> {
    Ok(BuildPlan::default())
}
