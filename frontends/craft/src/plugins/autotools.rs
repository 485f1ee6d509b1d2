//! `autotools`: bootstrap when there is no `configure`, then
//! `./configure && make && make install`. craft-parts' build packages
//! leave out make (rockcraft's build instance has it); it comes with
//! strata's [`super::DEBIAN_TOOLCHAIN`].

use strata_frontend_api::BuildPlan;

use super::{KeyType, PluginDef, PluginError, PluginInput, key, strings};

pub(super) const DEF: PluginDef = PluginDef {
    name: "autotools",
    keys: &[key("autotools-configure-parameters", KeyType::List), key("autotools-bootstrap-parameters", KeyType::List)],
    needs_source: true,
    out_of_source: false,
    build_attributes: &[],
    compiles_native: true,
    plan,
};

fn plan(input: &PluginInput<'_>) -> Result<BuildPlan, PluginError> {
    let mut bootstrap = vec!["env".to_string(), "NOCONFIGURE=1".into(), "./bootstrap".into()];
    bootstrap.extend(input.list("autotools-bootstrap-parameters"));
    let mut configure = vec!["./configure".to_string()];
    configure.extend(input.list("autotools-configure-parameters"));
    let make = if input.disable_parallel { "make".to_string() } else { "make -j${CRAFT_PARALLEL_BUILD_COUNT}".into() };
    Ok(BuildPlan {
        build_commands: vec![
            "[ ! -f ./configure ] && [ -f ./autogen.sh ] && env NOCONFIGURE=1 ./autogen.sh".into(),
            format!("[ ! -f ./configure ] && [ -f ./bootstrap ] && {}", bootstrap.join(" ")),
            "[ ! -f ./configure ] && autoreconf --install".into(),
            configure.join(" "),
            make,
            format!("make install DESTDIR=\"{}\"", input.dirs.install),
        ],
        build_packages: strings(&["autoconf", "automake", "autopoint", "gcc", "libtool"]),
        ..BuildPlan::default()
    })
}
