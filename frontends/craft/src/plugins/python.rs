//! `python`: a virtual environment in the install dir, `pip install` of
//! `python-packages`, `python-requirements` and the project itself, then
//! shebangs and the `python3` symlink pointed at the payload's interpreter
//! (or the system one). Text as craft-parts' `BasePythonPlugin`.
//!
//! Rock projects get rockcraft's python plugin instead ([`Flavour::Rockcraft`];
//! rockcraft's `plugins/python_plugin.py`, the one it registers for the
//! Ubuntu 20.04–24.04 bases, which a Debian base is taken as): the
//! interpreter must come from the parts (no system fallback), console
//! scripts start `#!/bin/python3`, the venv's `bin/python*` links are
//! removed unless the base is bare (the base's `/bin/python3` is the
//! payload's, through merged /usr), a `sitecustomize.py` beside the payload's
//! interpreter puts the venv's site-packages on `sys.path` however python
//! is called, and `pyvenv.cfg` (whose `home` is a build-time path) goes.

use strata_frontend_api::BuildPlan;

use super::{Flavour, KeyType, PluginDef, PluginError, PluginInput, env, key, py_repr, shlex_quote, strings};
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

    let rock = match input.flavour {
        Flavour::Rockcraft { bare } => Some(bare),
        Flavour::CraftParts => None,
    };
    let mut commands = Vec::new();
    if rock.is_some() {
        commands.push(ABSOLUTE_INTERPRETER_CHECK.to_string());
    }
    commands.extend([
        format!("\"${{PARTS_PYTHON_INTERPRETER}}\" -m venv ${{PARTS_PYTHON_VENV_ARGS}} \"{install}\""),
        format!("PARTS_PYTHON_VENV_INTERP_PATH=\"{install}/bin/${{PARTS_PYTHON_INTERPRETER}}\""),
    ]);
    if !packages.is_empty() {
        let packages: Vec<String> = packages.iter().map(|p| shlex_quote(p)).collect();
        commands.push(format!("{pip} install {constraints} -U {}", packages.join(" ")));
    }
    if !requirements.is_empty() {
        let requirements: Vec<String> = requirements.iter().map(|r| format!("-r {}", py_repr(r))).collect();
        commands.push(format!("{pip} install {constraints} -U {}", requirements.join(" ")));
    }
    commands.push(format!("[ -f setup.py ] || [ -f pyproject.toml ] && {pip} install {constraints} -U ."));
    let script_interpreter = if rock.is_some() {
        "#!/bin/${PARTS_PYTHON_INTERPRETER}"
    } else {
        "#!/usr/bin/env ${PARTS_PYTHON_INTERPRETER}"
    };
    commands.push(format!(
        "find \"{install}\" -type f -executable -print0 | xargs --no-run-if-empty -0 \\\n    \
         sed -i \"1 s|^#\\!${{PARTS_PYTHON_VENV_INTERP_PATH}}.*$|{script_interpreter}|\"\n"
    ));
    // rockcraft: the interpreter must be in the payload.
    let system_python = if rock.is_some() { "" } else { SYSTEM_PYTHON };
    commands.push(find_interpreter(install, system_python));
    match rock {
        Some(false) => {
            commands.push(format!("echo Removing python symlinks in {install}/bin"));
            commands.push(format!("rm \"{install}\"/bin/python*"));
        }
        _ => commands.push("ln -sf \"${symlink_target}\" \"${PARTS_PYTHON_VENV_INTERP_PATH}\"".into()),
    }
    if rock.is_some() {
        commands.push(SITECUSTOMIZE_HEAD.to_string());
        commands.push(SITECUSTOMIZE.to_string());
        commands.push(REMOVE_PYVENV_CFG.to_string());
    }

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

/// craft-parts' fallback when the payload has no interpreter: the build
/// environment's own.
const SYSTEM_PYTHON: &str = "$(readlink -f \"$(which \"${PARTS_PYTHON_INTERPRETER}\")\")";

/// rockcraft refuses an absolute `PARTS_PYTHON_INTERPRETER`.
const ABSOLUTE_INTERPRETER_CHECK: &str = r#"
# Detect whether PARTS_PYTHON_INTERPRETER is an absolute path
if [[ "${PARTS_PYTHON_INTERPRETER}" = /* ]]; then
    echo "Absolute paths in \"PARTS_PYTHON_INTERPRETER\" are not allowed: ${PARTS_PYTHON_INTERPRETER}"
    exit 1
fi
"#;

/// Opens the here-document [`SITECUSTOMIZE`] closes: the module goes
/// beside the payload's interpreter's standard library.
const SITECUSTOMIZE_HEAD: &str = r#"
# Add a sitecustomize.py to import our venv-generated location
py_version=$(basename $payload_python)
py_dir=${CRAFT_PART_INSTALL}/usr/lib/${py_version}/
mkdir -p ${py_dir}
cat << EOF > ${py_dir}/sitecustomize.py
"#;

/// The module (rockcraft's text) and the end of the here-document: the
/// venv's site-packages, before the base's dist-packages.
const SITECUSTOMIZE: &str = r#"# sitecustomize added by Rockcraft.
import site
import sys

major, minor = sys.version_info.major, sys.version_info.minor
site_dir = f"/lib/python{major}.{minor}/site-packages"
dist_dir = "/usr/lib/python3/dist-packages"

# Add the directory that contains the venv-installed packages.
site.addsitedir(site_dir)

if dist_dir in sys.path:
    # Make sure that this site-packages dir comes *before* the base-provided
    # dist-packages dir in sys.path.
    path = sys.path
    site_index = path.index(site_dir)
    dist_index = path.index(dist_dir)

    if dist_index < site_index:
        path[dist_index], path[site_index] = path[site_index], path[dist_index]

EOF"#;

/// The venv marker goes: sitecustomize does its job, however python is called.
const REMOVE_PYVENV_CFG: &str = r#"
# Remove pyvenv.cfg file in favor of sitecustomize.py
rm ${CRAFT_PART_INSTALL}/pyvenv.cfg
"#;

fn find_interpreter(install: &str, system_python: &str) -> String {
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
    symlink_target="{system_python}"
fi

if [ -z "$symlink_target" ]; then
    echo "No suitable Python interpreter found, giving up." >&2
    exit 1
fi

eval "${{opts_state}}"
"#
    )
}
