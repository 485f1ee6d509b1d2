//! `go`: `go mod download all`, `go generate ...`, `go install ./...` with
//! `GOBIN` in the install dir. The Go toolchain comes from `build-packages`
//! (`golang-go`) or a part named `go-deps`, as in craft-parts (no go-use
//! workspaces: strata has no `go-use` plugin). cgo's C compiler, which
//! craft-parts leaves to rockcraft's build instance, comes with strata's
//! [`super::DEBIAN_TOOLCHAIN`].

use strata_frontend_api::BuildPlan;

use super::{KeyType, PluginDef, PluginError, PluginInput, env, key, required};

pub(super) const DEF: PluginDef = PluginDef {
    name: "go",
    keys: &[key("go-buildtags", KeyType::List), key("go-generate", KeyType::List)],
    needs_source: true,
    out_of_source: false,
    build_attributes: &[],
    compiles_native: true,
    plan,
};

fn plan(input: &PluginInput<'_>) -> Result<BuildPlan, PluginError> {
    let tags = input.list("go-buildtags");
    let tags = if tags.is_empty() { String::new() } else { format!("-tags={}", tags.join(",")) };
    let mut commands = vec!["go mod download all".to_string()];
    commands.extend(input.list("go-generate").iter().map(|g| format!("go generate {g}")));
    commands.push(format!("go install -p \"${{CRAFT_PARALLEL_BUILD_COUNT}}\" {tags} ./..."));
    Ok(BuildPlan {
        build_commands: commands,
        environment: env(&[("GOBIN", format!("{}/bin", input.dirs.install))]),
        required_commands: vec![required("go", "version", "go-deps", "add 'golang-go' to build-packages")],
        ..BuildPlan::default()
    })
}
