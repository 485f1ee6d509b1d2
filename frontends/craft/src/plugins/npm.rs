//! `npm`: `npm install -g --prefix <install>` of the project, optionally
//! with a downloaded Node.js (`npm-include-node`). Text as craft-parts'
//! `NpmPlugin`, except (docs/craft-differences.md):
//! - `npm-node-version` must be an exact version (`20.12.2`): craft-parts
//!   resolves `20`, `lts/iron` or `node` against nodejs.org while it
//!   *generates* the commands, which a pure frontend cannot do;
//! - the Node.js architecture is picked at build time from
//!   `CRAFT_ARCH_BUILD_ON` instead of being written into the command;
//! - the `self-contained` build attribute needs `npm-use` parts, which
//!   strata does not have.

use strata_frontend_api::BuildPlan;

use super::{KeyType, PluginDef, PluginError, PluginInput, env, key, required, strings};

pub(super) const DEF: PluginDef = PluginDef {
    name: "npm",
    keys: &[key("npm-include-node", KeyType::Bool), key("npm-node-version", KeyType::String)],
    needs_source: true,
    out_of_source: false,
    build_attributes: &[],
    compiles_native: true,
    plan,
};

fn exact_version(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn plan(input: &PluginInput<'_>) -> Result<BuildPlan, PluginError> {
    let include_node = input.flag("npm-include-node");
    let version = input.string("npm-node-version");
    if include_node && version.is_none() {
        return Err(PluginError::new(
            Some("npm-include-node"),
            "npm-node-version is required if npm-include-node is true",
            "add npm-node-version: <an exact version, e.g. 20.12.2>",
        ));
    }
    if version.is_some() && !include_node {
        return Err(PluginError::new(
            Some("npm-node-version"),
            "npm-node-version has no effect if npm-include-node is false",
            "set npm-include-node: true, or remove npm-node-version",
        ));
    }
    let mut commands = Vec::new();
    let mut environment = env(&[("NODE_ENV", "production".to_string()), ("NODE_USE_SYSTEM_CA", "1".to_string())]);
    let mut packages = strings(&["gcc"]);
    let mut required_commands = Vec::new();
    if let Some(version) = version {
        if !exact_version(version) {
            return Err(PluginError::new(
                Some("npm-node-version"),
                format!("npm-node-version '{version}' is not an exact version"),
                "give major.minor.patch (e.g. 20.12.2): strata does not look versions up on nodejs.org while planning",
            ));
        }
        packages.push("curl".into());
        environment.push(("PATH".into(), "${CRAFT_PART_INSTALL}/bin:${PATH}".into()));
        let cache = &input.dirs.cache;
        let tarball = format!("{cache}/node-v{version}-linux-${{NODE_ARCH}}.tar.gz");
        commands.push(format!(
            r#"case "${{CRAFT_ARCH_BUILD_ON}}" in
    amd64) NODE_ARCH=x64 ;;
    arm64) NODE_ARCH=arm64 ;;
    armhf) NODE_ARCH=armv7l ;;
    i386) NODE_ARCH=x86 ;;
    ppc64el) NODE_ARCH=ppc64le ;;
    s390x) NODE_ARCH=s390x ;;
    *) echo "no Node.js build for architecture ${{CRAFT_ARCH_BUILD_ON}}" >&2; exit 1 ;;
esac
if [ ! -f "{tarball}" ]; then
    mkdir -p "{cache}"
    curl --retry 5 -s "https://nodejs.org/dist/v{version}/SHASUMS256.txt" -o "{cache}"/SHASUMS256.txt
    curl --retry 5 -s "https://nodejs.org/dist/v{version}/node-v{version}-linux-${{NODE_ARCH}}.tar.gz" -o "{tarball}"
fi
pushd "{cache}"
sha256sum --ignore-missing --strict -c SHASUMS256.txt
popd
"#
        ));
        commands.push(format!(
            "tar -xzf \"{tarball}\" -C \"${{CRAFT_PART_INSTALL}}/\" \\\n    --no-same-owner --strip-components=1\n"
        ));
    } else {
        required_commands = vec![
            required("node", "--version", "npm-deps", "add 'nodejs' to build-packages"),
            required("npm", "--version", "npm-deps", "add 'npm' to build-packages"),
        ];
    }
    commands.push(
        r#"NPM_VERSION="$(npm --version)"
# use the new-style install command if npm >= 10.0.0
if ((${NPM_VERSION%%.*}>=10)); then
    npm install -g --prefix "${CRAFT_PART_INSTALL}" --install-links "${PWD}"
else
    npm install -g --prefix "${CRAFT_PART_INSTALL}" "$(npm pack . | tail -1)"
fi
"#
        .into(),
    );
    Ok(BuildPlan {
        build_commands: commands,
        environment,
        build_packages: packages,
        required_commands,
        ..BuildPlan::default()
    })
}
