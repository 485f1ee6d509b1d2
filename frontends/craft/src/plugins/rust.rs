//! `rust`: `cargo install` each crate of `rust-path` into the install dir
//! (or build a virtual workspace and copy its binaries), with features, LTO
//! and extra cargo parameters. Text as craft-parts' `RustPlugin`.
//!
//! The toolchain differs (docs/craft-differences.md): craft-parts installs
//! the `rustup` snap unless the host has rust; strata's build containers
//! have no snapd, so
//! - without `rust-channel`, the plugin needs Debian's `cargo` and `rustc`
//!   (added to its build packages unless a `rust-deps` part provides them),
//!   which is craft-parts on a host that has rust;
//! - with `rust-channel: <channel>`, it needs the `rustup` package and runs
//!   craft-parts' pull commands (`rustup update/default <channel>`) at the
//!   start of the build step, because `~/.rustup` would not survive the
//!   pull step's layer (only `src` does);
//! - with `rust-channel: none`, cargo and rustc come from the user.

use strata_frontend_api::BuildPlan;

use super::{KeyType, PluginDef, PluginError, PluginInput, env, key, required, strings};

pub(super) const DEF: PluginDef = PluginDef {
    name: "rust",
    keys: &[
        key("rust-features", KeyType::UniqueList),
        key("rust-path", KeyType::UniqueList),
        key("rust-channel", KeyType::String),
        key("rust-use-global-lto", KeyType::Bool),
        key("rust-no-default-features", KeyType::Bool),
        key("rust-ignore-toolchain-file", KeyType::Bool),
        key("rust-cargo-parameters", KeyType::List),
        key("rust-inherit-ldflags", KeyType::Bool),
    ],
    needs_source: true,
    out_of_source: false,
    build_attributes: &[],
    compiles_native: true,
    plan,
};

/// craft-parts' `rust-channel` rule: stable|beta|nightly[-suffix], a
/// version `1.2[.3][-suffix]`, or `none`.
fn valid_channel(c: &str) -> bool {
    fn suffix_ok(s: &str) -> bool {
        s.is_empty()
            || s.strip_prefix('-')
                .is_some_and(|r| !r.is_empty() && r.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-'))
    }
    if c == "none" {
        return true;
    }
    for name in ["stable", "beta", "nightly"] {
        if let Some(rest) = c.strip_prefix(name) {
            return suffix_ok(rest);
        }
    }
    let (version, rest) = match c.find('-') {
        Some(i) => (&c[..i], &c[i..]),
        None => (c, ""),
    };
    let numbers: Vec<&str> = version.split('.').collect();
    (2..=3).contains(&numbers.len())
        && numbers.iter().all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        && suffix_ok(rest)
}

fn plan(input: &PluginInput<'_>) -> Result<BuildPlan, PluginError> {
    let channel = input.string("rust-channel");
    if let Some(c) = channel
        && !valid_channel(c)
    {
        return Err(PluginError::new(
            Some("rust-channel"),
            format!("invalid rust-channel '{c}'"),
            "use stable, beta, nightly (optionally with a -suffix), a version like 1.78 or 1.78.0, or none",
        ));
    }
    let features = input.list("rust-features");
    let mut config: Vec<String> = Vec::new();
    if !features.is_empty() {
        if features.iter().any(|f| f == "*") {
            if features.len() > 1 {
                return Err(PluginError::new(
                    Some("rust-features"),
                    "rust-features mixes the wildcard '*' with named features",
                    "give either [\"*\"] for all features or a list of feature names",
                ));
            }
            config.push("--all-features".into());
        } else {
            config.extend(["--features".to_string(), format!("'{}'", features.join(" "))]);
        }
    }
    if input.flag("rust-use-global-lto") {
        config.extend([
            "--config 'profile.release.lto = true'".to_string(),
            "--config 'profile.release.codegen-units = 1'".to_string(),
        ]);
    }
    if input.flag("rust-no-default-features") {
        config.push("--no-default-features".into());
    }
    config.extend(input.list("rust-cargo-parameters"));
    let config = config.join(" ");
    let install = &input.dirs.install;

    let mut commands = Vec::new();
    let rust_deps = input.has_after("rust-deps");
    let mut packages = strings(&["curl", "gcc", "git", "pkg-config", "findutils"]);
    let required_commands = match channel {
        Some("none") => vec![
            required("cargo", "--version", "rust-deps", "add 'cargo' to build-packages"),
            required("rustc", "--version", "rust-deps", "add 'rustc' to build-packages"),
        ],
        Some(c) => {
            packages.push("rustup".into());
            commands.push(format!("rustup update {c}"));
            commands.push(format!("rustup default {c}"));
            vec![required(
                "rustup",
                "dump-testament",
                "rust-deps",
                "use a build base that has rustup (Debian 13 has the 'rustup' package)",
            )]
        }
        None => {
            if !rust_deps {
                packages.extend(strings(&["cargo", "rustc"]));
            }
            vec![
                required("cargo", "--version", "rust-deps", "add 'cargo' to build-packages"),
                required("rustc", "--version", "rust-deps", "add 'rustc' to build-packages"),
            ]
        }
    };
    if input.flag("rust-inherit-ldflags") {
        commands.push(
            "if [ -n \"${LDFLAGS}\" ]; then\n    RUSTFLAGS=\"${RUSTFLAGS:-} -Clink-args=\"${LDFLAGS}\"\"\n    export RUSTFLAGS\nfi                    "
                .into(),
        );
    }
    for krate in input.list_or("rust-path", &["."]) {
        commands.push(format!(
            r#"if cargo read-manifest --manifest-path "{krate}"/Cargo.toml > /dev/null; then
    cargo install -f --locked --path "{krate}" --root "{install}" {config}
    # remove the installation metadata
    rm -f "{install}"/.crates{{.toml,2.json}}
else
    # virtual workspace is a bit tricky,
    # we need to build the whole workspace and then copy the binaries ourselves
    pushd "{krate}"
    cargo build --workspace --release {config}
    # install the final binaries
    find ./target/release -maxdepth 1 -executable -exec install -Dvm755 {{}} "{install}" ';'
    # remove proc_macro objects
    for i in "{install}"/*.so; do
        readelf --wide --dyn-syms "$i" | grep -q '__rustc_proc_macro_decls_[0-9a-f]*__' &&                         rm -fv "$i"
    done
    popd
fi                "#
        ));
    }
    let mut environment = env(&[("PATH", "${HOME}/.cargo/bin:${PATH}".to_string())]);
    if input.flag("rust-ignore-toolchain-file") {
        environment.push(("RUSTUP_TOOLCHAIN".into(), channel.unwrap_or("stable").to_string()));
    }
    Ok(BuildPlan {
        build_commands: commands,
        environment,
        build_packages: packages,
        required_commands,
        ..BuildPlan::default()
    })
}

#[cfg(test)]
mod tests {
    use super::valid_channel;

    #[test]
    fn channels_follow_craft_parts() {
        for ok in ["stable", "beta", "nightly", "nightly-2024-01-01", "1.78", "1.78.0", "1.78.0-x86_64", "none"] {
            assert!(valid_channel(ok), "{ok}");
        }
        for bad in ["latest", "1", "1.78.0.1", "stable-", "v1.78"] {
            assert!(!valid_channel(bad), "{bad}");
        }
    }
}
