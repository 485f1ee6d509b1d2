//! `cmake`: configure out of the source tree, build, install with DESTDIR;
//! `CMAKE_PREFIX_PATH` points at the stage. The default `Unix Makefiles`
//! generator needs make, which craft-parts does not list (rockcraft's build
//! instance has it): it comes with strata's [`super::DEBIAN_TOOLCHAIN`].

use strata_frontend_api::BuildPlan;

use super::{KeyType, PluginDef, PluginError, PluginInput, env, key, strings};
use crate::dirs::STAGE_DIR;

pub(super) const DEF: PluginDef = PluginDef {
    name: "cmake",
    keys: &[key("cmake-parameters", KeyType::List), key("cmake-generator", KeyType::String)],
    needs_source: true,
    out_of_source: true,
    build_attributes: &[],
    compiles_native: true,
    plan,
};

fn plan(input: &PluginInput<'_>) -> Result<BuildPlan, PluginError> {
    let generator = input.string("cmake-generator").unwrap_or("Unix Makefiles");
    let mut configure =
        vec!["cmake".to_string(), format!("\"{}\"", input.dirs.src_work), "-G".into(), format!("\"{generator}\"")];
    configure.extend(input.list("cmake-parameters"));
    let mut packages = strings(&["gcc", "cmake"]);
    if generator == "Ninja" {
        packages.push("ninja-build".into());
    }
    Ok(BuildPlan {
        build_commands: vec![
            configure.join(" "),
            "cmake --build . -- -j${CRAFT_PARALLEL_BUILD_COUNT}".into(),
            format!("DESTDIR=\"{}\" cmake --build . --target install", input.dirs.install),
        ],
        environment: env(&[("CMAKE_PREFIX_PATH", STAGE_DIR.to_string())]),
        build_packages: packages,
        ..BuildPlan::default()
    })
}
