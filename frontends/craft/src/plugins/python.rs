//! `python`: a virtual environment in the install dir, `pip install` of
//! `python-packages`, `python-requirements` and the project itself, then
//! shebangs and the `python3` symlink pointed at the payload's interpreter
//! (or the system one). Text as craft-parts' `BasePythonPlugin`.
//!
//! Rock projects get the plugin rockcraft registers for their build base
//! ([`Flavour::Rockcraft`], rockcraft's `plugins/python_common.py`):
//!
//! - **Ubuntu 20.04–24.04** (`legacy`): rockcraft's own
//!   (`plugins/python_plugin.py`, over craft-parts' v1): the interpreter
//!   must come from the parts (no system fallback), console scripts start
//!   `#!/bin/python3`, the venv's `bin/python*` links are removed unless
//!   the base is bare (the base's `/bin/python3` is the payload's, through
//!   merged /usr), a `sitecustomize.py` beside the payload's interpreter
//!   puts the venv's site-packages on `sys.path` however python is called,
//!   and `pyvenv.cfg` (whose `home` is a build-time path) goes.
//! - **every other base**, Debian's included: craft-parts' python v2
//!   (`plugins/python_v2/python_plugin.py`, [`plan_v2`]): no venv; pip
//!   installs into the install dir as its user base (`PIP_USER`,
//!   `PYTHONUSERBASE`) for the payload's interpreter (`PIP_PYTHON`, the
//!   first `python3` on `PATH`, which must not be the build base's
//!   `/usr/bin` one), and a `sitecustomize.py` in `lib/python3.X` adds
//!   `site-packages` beside it. These bases are usrmerged
//!   ([`crate::usrmerge`]), so that is `usr/lib/python3.X/site-packages`
//!   and the scripts are in `usr/bin`. rockcraft then rewrites, after the
//!   prime step, the console scripts' shebangs from the build-time path
//!   of the interpreter to its path in the image
//!   (`_python_v2_shebang_fix`; strata's prime does it,
//!   [`crate::hostops::prime`]).

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
    if let Flavour::Rockcraft { legacy: false, .. } = input.flavour {
        return plan_v2(input);
    }
    let install = &input.dirs.install;
    let pip = format!("{install}/bin/pip");
    let constraints: Vec<String> =
        input.list("python-constraints").iter().map(|c| format!("-c {}", py_repr(c))).collect();
    let constraints = constraints.join(" ");
    let packages = input.list_or("python-packages", &["pip", "setuptools", "wheel"]);
    let requirements = input.list("python-requirements");

    let rock = match input.flavour {
        Flavour::Rockcraft { bare, .. } => Some(bare),
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

/// craft-parts' python v2 (the plugin rockcraft registers for bases newer
/// than Ubuntu 24.04): its keys are `python-requirements` and
/// `python-packages` (no `python-constraints`; `python-packages` defaults
/// to none), its build packages none — strata adds `python3-pip`, the
/// `pip` its commands run (rockcraft's build instance has it, a Debian
/// minbase does not; pip then runs itself with `PIP_PYTHON`).
pub fn plan_v2(input: &PluginInput<'_>) -> Result<BuildPlan, PluginError> {
    if input.options.contains_key("python-constraints") {
        return Err(PluginError::new(
            Some("python-constraints"),
            "'python-constraints' is not a key of the python plugin rockcraft uses for this base (craft-parts' python v2)",
            "write the constraints into a requirements file named in 'python-requirements', or build on ubuntu@24.04 or older",
        ));
    }
    let requirements: Vec<String> =
        input.list("python-requirements").iter().map(|r| format!("-r {}", shlex_quote(r))).collect();
    let packages: Vec<String> = input.list("python-packages").iter().map(|p| shlex_quote(p)).collect();
    Ok(BuildPlan {
        build_commands: vec![
            V2_PYTHON_CHECK.to_string(),
            format!("REQUIREMENTS=({})", requirements.join(" ")),
            format!("PACKAGES=({})", packages.join(" ")),
            V2_PROJECT.to_string(),
            r#"pip install "${REQUIREMENTS[@]}" "${PACKAGES[@]}""#.to_string(),
            V2_SITECUSTOMIZE.to_string(),
        ],
        environment: env(&[
            ("PIP_USER", "1".into()),
            ("PYTHONUSERBASE", input.dirs.install.clone()),
            ("PIP_BREAK_SYSTEM_PACKAGES", "1".into()),
            ("PIP_PYTHON", "$(which python3)".into()),
        ]),
        build_packages: strings(&["python3-pip"]),
        ..BuildPlan::default()
    })
}

/// The directories rockcraft strips from the start of `python3` shebangs
/// of what part `part_name` primes (`_python_v2_shebang_fix`): its install
/// dir and the stage, for a rock's python part built with v2; none
/// otherwise.
pub fn v2_shebang_dirs(project: &strata_frontend_api::Project, part_name: &str) -> Vec<String> {
    let part = &project.parts[part_name];
    let flavour = Flavour::of(&project.spec_file, &project.base, &project.build_base);
    if part.plugin != "python" || !matches!(flavour, Flavour::Rockcraft { legacy: false, .. }) {
        return Vec::new();
    }
    vec![crate::env::part_dirs(part_name, part).install, STAGE_DIR.to_string()]
}

/// v2 refuses the build environment's own interpreter.
const V2_PYTHON_CHECK: &str = r#"if [[ ${PIP_PYTHON} == /usr/bin/* ]]; then
  echo "Using the system Python interpreter is not supported." 1>&2
  exit 1
fi
"#;

/// v2 installs the project in the source when it is one.
const V2_PROJECT: &str = r#"if [ -f setup.py -o -f pyproject.toml ]; then
  PACKAGES+=(".")
fi
"#;

/// v2's sitecustomize: the payload's interpreter finds the user base's
/// `site-packages` beside its standard library.
const V2_SITECUSTOMIZE: &str = r#"# Add a sitecustomize
python_bin=${PIP_PYTHON}
python_dir=python$($python_bin -c "import sys; print(f'{sys.version_info.major}.{sys.version_info.minor}')")
mkdir -p ${CRAFT_PART_INSTALL}/lib/${python_dir}
cat > ${CRAFT_PART_INSTALL}/lib/${python_dir}/sitecustomize.py << EOF
import site
import sys
from pathlib import Path

# Add the directory that contains the pip-installed packages.
site_dir = Path(__file__).parent / "site-packages"
site.addsitedir(str(site_dir))
EOF
"#;

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
