//! What the frontends add to the command line, read from the frontend
//! registry at start-up so that `src/` names no frontend here either:
//!
//! - each frontend option with a [`Flag`] becomes that flag on every
//!   command that takes `-X` (`strata build FILE.spk.yaml --variant 1` is
//!   `-X variant=1`), listed under "Frontend options" in `--help`;
//! - each frontend's targets become `strata FRONTEND TARGET [FILE]`
//!   (`strata spk make-source`), parsed into [`TargetArgs`];
//! - a frontend with packages gets `strata FRONTEND ls [NAME]`
//!   ([`PackageLsArgs`]) and `strata FRONTEND publish NAME/VERSION[/BUILD]
//!   --to registry://HOST/REPO` ([`PublishArgs`]).
//!
//! The flags and `-X` keep their command-line order, so the last value of
//! an option given both ways wins, as with `-X` alone.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Arg, ArgAction, ArgMatches, Args, CommandFactory, FromArgMatches};
use strata_frontend_api::{Flag, FrontendOption};

use super::{Cli, Command, LifecycleArgs, RegistryArgs};
use crate::frontends::FRONTENDS;

/// `strata FRONTEND TARGET [SPEC_FILE|DIR]`.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// The spec file, or a directory holding one. Default: the current directory.
    #[arg(value_name = "SPEC_FILE|DIR", default_value = ".")]
    pub project: PathBuf,
    #[command(flatten)]
    pub lc: LifecycleArgs,
    /// The frontend whose target this is (`spk`).
    #[arg(skip)]
    pub frontend: String,
    /// The target (`make-source`).
    #[arg(skip)]
    pub target: String,
}

/// `strata FRONTEND ls [NAME]`: the package builds in the store (and the
/// registries given).
#[derive(Debug, Clone, Args)]
pub struct PackageLsArgs {
    /// A package name. Default: every package in the store.
    pub name: Option<String>,
    /// Also list what this registry repository has (repeatable; needs NAME).
    #[arg(long = "repo", value_name = "registry://HOST/REPO")]
    pub repos: Vec<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[arg(skip)]
    pub frontend: String,
}

/// `strata FRONTEND publish NAME/VERSION[/BUILD] --to registry://HOST/REPO`.
#[derive(Debug, Clone, Args)]
pub struct PublishArgs {
    /// Which builds: NAME/VERSION (every build of it, the source package too) or NAME/VERSION/BUILD.
    #[arg(value_name = "NAME/VERSION[/BUILD]")]
    pub package: String,
    /// The package repository to publish to.
    #[arg(long, value_name = "registry://HOST/REPO")]
    pub to: String,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[arg(skip)]
    pub frontend: String,
}

/// The id of the clap argument of a frontend flag (`frontend-flag:variant`),
/// made once per flag: clap wants `'static` ids.
fn arg_id(flag: &Flag) -> &'static str {
    static IDS: std::sync::OnceLock<BTreeMap<&'static str, &'static str>> = std::sync::OnceLock::new();
    let ids = IDS.get_or_init(|| {
        FRONTENDS
            .iter()
            .flat_map(|f| f.options().iter().filter_map(|o| o.flag))
            .map(|fl| (fl.long, &*Box::leak(format!("frontend-flag:{}", fl.long).into_boxed_str())))
            .collect()
    });
    ids[flag.long]
}

/// Every frontend flag once, with the option it sets and the frontends'
/// help lines. Panics if two frontends give one flag to options of
/// different names (a unit test checks the registry).
fn flags() -> Vec<(Flag, &'static FrontendOption, String)> {
    let mut by_long: BTreeMap<&str, (Flag, &'static FrontendOption, Vec<String>)> = BTreeMap::new();
    for f in FRONTENDS {
        for o in f.options() {
            let Some(flag) = o.flag else { continue };
            let entry = by_long.entry(flag.long).or_insert((flag, o, Vec::new()));
            assert_eq!(entry.1.name, o.name, "--{} names two frontend options", flag.long);
            entry.2.push(format!("{}: {}", f.name(), o.help));
        }
    }
    by_long.into_values().map(|(flag, o, help)| (flag, o, help.join("; "))).collect()
}

/// `cmd` with the frontend flags, if it takes `-X`.
fn with_flags(mut cmd: clap::Command) -> clap::Command {
    if !cmd.get_arguments().any(|a| a.get_id() == "frontend_opts") {
        return cmd;
    }
    for (flag, o, help) in flags() {
        let mut arg = Arg::new(arg_id(&flag)).long(flag.long).help(help).help_heading("Frontend options");
        if let Some(s) = flag.short {
            arg = arg.short(s);
        }
        arg = if o.value.is_empty() {
            arg.num_args(0..=1).default_missing_value("true").value_name("BOOL").require_equals(true)
        } else {
            arg.num_args(1).value_name(o.value)
        };
        cmd = cmd.arg(arg.action(ArgAction::Append));
    }
    cmd
}

/// strata's whole command line: the derived one, with the frontends'
/// flags and targets.
pub fn command() -> clap::Command {
    let mut cmd = Cli::command();
    let names: Vec<String> = cmd.get_subcommands().map(|c| c.get_name().to_string()).collect();
    for name in names {
        cmd = cmd.mut_subcommand(name, with_flags);
    }
    for f in FRONTENDS.iter().filter(|f| has_subcommands(**f)) {
        let mut sub = clap::Command::new(f.name())
            .about(format!("What the {} frontend makes besides a whole build", f.name()))
            .subcommand_required(true)
            .arg_required_else_help(true);
        for t in f.targets() {
            sub = sub.subcommand(with_flags(TargetArgs::augment_args(clap::Command::new(t.name)).about(t.help)));
        }
        if f.has_packages() {
            let ls = PackageLsArgs::augment_args(clap::Command::new("ls"))
                .about(format!("List the {} package builds in the store (and in registries)", f.name()));
            let publish = PublishArgs::augment_args(clap::Command::new("publish"))
                .about(format!("Publish {} package builds from the store to a registry", f.name()));
            sub = sub.subcommand(ls).subcommand(publish);
        }
        cmd = cmd.subcommand(sub);
    }
    cmd
}

/// Whether `f` has a subcommand of its own (targets, or packages).
fn has_subcommands(f: &dyn strata_frontend_api::Frontend) -> bool {
    !f.targets().is_empty() || f.has_packages()
}

/// Parses the process's arguments; prints help or an error and exits as
/// clap does.
pub fn parse() -> Cli {
    let matches = command().get_matches();
    from_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// The [`Cli`] of parsed `matches`.
pub fn from_matches(matches: &ArgMatches) -> Result<Cli, clap::Error> {
    if let Some((name, sub)) = matches.subcommand()
        && let Some(f) = FRONTENDS.iter().find(|f| f.name() == name && has_subcommands(**f))
    {
        let (target, m) = sub.subcommand().expect("a frontend's subcommand is required");
        let store = matches.get_one::<PathBuf>("store").cloned();
        if f.has_packages() && target == "ls" {
            let mut args = PackageLsArgs::from_arg_matches(m)?;
            args.frontend = f.name().to_string();
            return Ok(Cli { store, command: Command::PackageLs(args) });
        }
        if f.has_packages() && target == "publish" {
            let mut args = PublishArgs::from_arg_matches(m)?;
            args.frontend = f.name().to_string();
            return Ok(Cli { store, command: Command::Publish(args) });
        }
        let mut args = TargetArgs::from_arg_matches(m)?;
        args.frontend = f.name().to_string();
        args.target = target.to_string();
        args.lc.frontend_opts = frontend_options(m);
        return Ok(Cli { store, command: Command::Target(args) });
    }
    let mut cli = Cli::from_arg_matches(matches)?;
    if let Some((_, m)) = matches.subcommand()
        && let Some(lc) = cli.command.lifecycle_mut()
    {
        lc.frontend_opts = frontend_options(m);
    }
    Ok(cli)
}

/// `-X KEY=VALUE` and the frontend flags of one subcommand's matches, in
/// command-line order.
fn frontend_options(m: &ArgMatches) -> Vec<(String, String)> {
    let mut given: Vec<(usize, String, String)> = Vec::new();
    if let (Some(idx), Some(vals)) = (m.indices_of("frontend_opts"), m.get_many::<(String, String)>("frontend_opts")) {
        given.extend(idx.zip(vals).map(|(i, (k, v))| (i, k.clone(), v.clone())));
    }
    for (flag, o, _) in flags() {
        let id = arg_id(&flag);
        if let (Some(idx), Some(vals)) = (m.indices_of(id), m.get_many::<String>(id)) {
            given.extend(idx.zip(vals).map(|(i, v)| (i, o.name.to_string(), v.clone())));
        }
    }
    given.sort_by_key(|(i, _, _)| *i);
    given.into_iter().map(|(_, k, v)| (k, v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        let m = command().try_get_matches_from(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        from_matches(&m).unwrap()
    }

    fn opts(cli: &mut Cli) -> Vec<(String, String)> {
        cli.command.lifecycle_mut().map(|lc| lc.frontend_opts.clone()).unwrap_or_default()
    }

    #[test]
    fn the_command_line_is_well_formed() {
        command().debug_assert();
        flags(); // no flag names two options
    }

    #[test]
    fn frontend_flags_are_their_x_options_in_command_line_order() {
        let mut cli = parse(&[
            "strata",
            "build",
            "pkg.spk.yaml",
            "-o",
            "debug=on",
            "-X",
            "variant=0",
            "--variant",
            "python=3.11",
            "--no-host",
            "--new-variant",
            r#"{"debug": "off"}"#,
        ]);
        assert_eq!(
            opts(&mut cli),
            [
                ("opt".to_string(), "debug=on".to_string()),
                ("variant".into(), "0".into()),
                ("variant".into(), "python=3.11".into()),
                ("no-host".into(), "true".into()),
                ("new-variant".into(), r#"{"debug": "off"}"#.into()),
            ]
        );
        let mut cli = parse(&["strata", "plan", "x.scm", "--package", "hello", "--no-host=false"]);
        assert_eq!(opts(&mut cli), [("package".to_string(), "hello".to_string()), ("no-host".into(), "false".into())]);
    }

    #[test]
    fn a_frontend_target_is_its_own_subcommand() {
        let cli = parse(&["strata", "--store", "/tmp/s", "spk", "make-binary", "pkg.spk.yaml", "--variant", "1"]);
        assert_eq!(cli.store.as_deref(), Some(std::path::Path::new("/tmp/s")));
        let Command::Target(t) = cli.command else { panic!("not a target: {:?}", cli.command) };
        assert_eq!((t.frontend.as_str(), t.target.as_str()), ("spk", "make-binary"));
        assert_eq!(t.project, PathBuf::from("pkg.spk.yaml"));
        assert_eq!(t.lc.frontend_opts, [("variant".to_string(), "1".to_string())]);
        assert!(command().try_get_matches_from(["strata", "spk", "make-everything"]).is_err());
    }
}
