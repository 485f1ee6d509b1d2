//! `meson`: `meson setup`, `ninja`, `ninja install` out of the source tree.
//! Like craft-parts it does not install meson or ninja: they come from
//! `build-packages` (`meson`, `ninja-build`) or a part named `meson-deps`.
//! The compiler craft-parts leaves to rockcraft's build instance comes with
//! strata's [`super::DEBIAN_TOOLCHAIN`].

use strata_frontend_api::BuildPlan;

use super::{KeyType, PluginDef, PluginError, PluginInput, key, required, shlex_quote};

pub(super) const DEF: PluginDef = PluginDef {
    name: "meson",
    keys: &[key("meson-parameters", KeyType::List)],
    needs_source: true,
    out_of_source: true,
    build_attributes: &[],
    compiles_native: true,
    plan,
};

fn plan(input: &PluginInput<'_>) -> Result<BuildPlan, PluginError> {
    let mut setup = vec!["meson".to_string(), "setup".into(), input.dirs.src_work.clone()];
    setup.extend(input.list("meson-parameters").iter().map(|p| shlex_quote(p)));
    Ok(BuildPlan {
        build_commands: vec![setup.join(" "), "ninja".into(), format!("DESTDIR={} ninja install", input.dirs.install)],
        required_commands: vec![
            required("meson", "--version", "meson-deps", "add 'meson' to build-packages"),
            required("ninja", "--version", "meson-deps", "add 'ninja-build' to build-packages"),
        ],
        ..BuildPlan::default()
    })
}
