//! `python`: a virtual environment in the install dir, `pip install` of
//! `python-packages`, `python-requirements` and the project itself, then
//! shebangs and the `python3` symlink pointed at the payload's interpreter
//! (or the system one). Text as craft-parts' `BasePythonPlugin`.

use strata_frontend_api::BuildPlan;

use super::{KeyType, PluginDef, PluginError, PluginInput, env, key, py_repr, shlex_quote, strings};
use crate::dirs::STAGE_DIR;

pub(super) const DEF: PluginDef = PluginDef {
    name: "python",
    keys: &[
        key("python-requirements", KeyType::List),
        key("python-constraints", KeyType::List),
        key("python-packages", KeyType::List),
    ],
    needs_source: true,
    out_of_source: false,
    build_attributes: &[],
    compiles_native: true,
    plan,
};

fn plan(input: &PluginInput<'_>) -> Result<BuildPlan, PluginError> {
    let install = &input.dirs.install;
    let pip = format!("{install}/bin/pip");
    let constraints: Vec<String> =
        input.list("python-constraints").iter().map(|c| format!("-c {}", py_repr(c))).collect();
    let constraints = constraints.join(" ");
    let packages = input.list_or("python-packages", &["pip", "setuptools", "wheel"]);
    let requirements = input.list("python-requirements");

    let mut commands = vec![
        format!("\"${{PARTS_PYTHON_INTERPRETER}}\" -m venv ${{PARTS_PYTHON_VENV_ARGS}} \"{install}\""),
        format!("PARTS_PYTHON_VENV_INTERP_PATH=\"{install}/bin/${{PARTS_PYTHON_INTERPRETER}}\""),
    ];
    if !packages.is_empty() {
        let packages: Vec<String> = packages.iter().map(|p| shlex_quote(p)).collect();
        commands.push(format!("{pip} install {constraints} -U {}", packages.join(" ")));
    }
    if !requirements.is_empty() {
        let requirements: Vec<String> = requirements.iter().map(|r| format!("-r {}", py_repr(r))).collect();
        commands.push(format!("{pip} install {constraints} -U {}", requirements.join(" ")));
    }
    commands.push(format!("[ -f setup.py ] || [ -f pyproject.toml ] && {pip} install {constraints} -U ."));
    commands.push(format!(
        "find \"{install}\" -type f -executable -print0 | xargs --no-run-if-empty -0 \\\n    \
         sed -i \"1 s|^#\\!${{PARTS_PYTHON_VENV_INTERP_PATH}}.*$|#!/usr/bin/env ${{PARTS_PYTHON_INTERPRETER}}|\"\n"
    ));
    commands.push(find_interpreter(install));
    commands.push("ln -sf \"${symlink_target}\" \"${PARTS_PYTHON_VENV_INTERP_PATH}\"".into());

    Ok(BuildPlan {
        build_commands: commands,
        environment: env(&[
            ("PATH", format!("{install}/bin:${{PATH}}")),
            ("PARTS_PYTHON_INTERPRETER", "python3".into()),
            ("PARTS_PYTHON_VENV_ARGS", String::new()),
        ]),
        build_packages: strings(&["findutils", "python3-dev", "python3-venv"]),
        ..BuildPlan::default()
    })
}

fn find_interpreter(install: &str) -> String {
    format!(
        r#"# look for a provisioned python interpreter
opts_state="$(set +o|grep errexit)"
set +e
install_dir="{install}/usr/bin"
stage_dir="{STAGE_DIR}/usr/bin"

# look for the right Python version - if the venv was created with python3.10,
# look for python3.10
basename=$(basename $(readlink -f ${{PARTS_PYTHON_VENV_INTERP_PATH}}))
echo Looking for a Python interpreter called \"${{basename}}\" in the payload...
payload_python=$(find "$install_dir" "$stage_dir" -type f -executable -name "${{basename}}" -print -quit 2>/dev/null || true)

if [ -n "$payload_python" ]; then
    # We found a provisioned interpreter, use it.
    echo Found interpreter in payload: \"${{payload_python}}\"
    installed_python="${{payload_python##{install}}}"
    if [ "$installed_python" = "$payload_python" ]; then
        # Found a staged interpreter.
        symlink_target="..${{payload_python##{STAGE_DIR}}}"
    else
        # The interpreter was installed but not staged yet.
        symlink_target="..$installed_python"
    fi
else
    # Otherwise use what _get_system_python_interpreter() told us.
    echo "Python interpreter not found in payload." >&2
    symlink_target="$(readlink -f "$(which "${{PARTS_PYTHON_INTERPRETER}}")")"
fi

if [ -z "$symlink_target" ]; then
    echo "No suitable Python interpreter found, giving up." >&2
    exit 1
fi

eval "${{opts_state}}"
"#
    )
}
