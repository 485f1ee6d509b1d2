//! The `strata` binary: parse arguments, open the store, call `ops`, print
//! errors. The only place that uses `anyhow`.

use std::io::Write;
use std::process::ExitCode;

use strata::cli::{ArtifactSubcommand, Cli, Command, ImageSubcommand, SourceSubcommand, StoreSubcommand};
use strata::{ops, store::Store};

fn main() -> ExitCode {
    let cli = strata::cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            let _ = std::io::stdout().flush();
            eprintln!("error: {e}");
            let mut src = e.source();
            while let Some(s) = src {
                eprintln!("  caused by: {s}");
                src = s.source();
            }
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let root = cli.store.clone().unwrap_or_else(Store::default_root);
    let out = &mut std::io::stdout().lock();

    // Commands that do not touch the store: do not create one for them.
    match &cli.command {
        Command::Store(s) if matches!(s.command, StoreSubcommand::Path) => {
            writeln!(out, "{}", root.display())?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Key(k) => {
            ops::attest::key(&k.command, out)?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Login(a) => {
            ops::registry::login(a, out)?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Logout(a) => {
            ops::registry::logout(a, out)?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Artifact(a) if matches!(a.command, ArtifactSubcommand::Ls { .. }) => {
            ops::registry::artifact(None, &a.command, out)?;
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }

    let store = Store::open(&root)?;
    // fsck reports what is there and gc cleans up under a lock it waits for.
    if !matches!(&cli.command, Command::Store(_)) {
        let recovered = strata::recover::after_kill(&store)?;
        if !recovered.is_empty() {
            eprintln!("strata: {recovered}");
        }
    }
    match cli.command {
        Command::Image(i) => match i.command {
            ImageSubcommand::Build { recipe, tag, compression } => {
                ops::image::build(&store, &recipe, tag.as_deref(), compression, out)?;
            }
            ImageSubcommand::Import { source, tag, platform, compression } => {
                ops::image::import(&store, &source, tag.as_deref(), platform.as_deref(), compression, out)?;
            }
            ImageSubcommand::Export { image, destination } => ops::image::export(&store, &image, &destination, out)?,
            ImageSubcommand::Ls { json } => {
                ops::image::list(&store, json, out)?;
            }
            ImageSubcommand::Inspect { image, raw, platform } => {
                ops::image::inspect(&store, &image, raw, platform.as_deref(), out)?
            }
            ImageSubcommand::Rm { images } => ops::image::remove(&store, &images, out)?,
        },
        Command::Source(s) => match s.command {
            SourceSubcommand::Add { files } => ops::store::source_add(&store, &files, out)?,
            SourceSubcommand::Ls => ops::store::source_ls(&store, out)?,
        },
        Command::Store(s) => match s.command {
            StoreSubcommand::Fsck => {
                if !ops::store::fsck(&store, out)? {
                    return Ok(ExitCode::FAILURE);
                }
            }
            StoreSubcommand::Gc { dry_run, keep_storage, all } => {
                let opts = strata::gc::GcOptions { dry_run, keep_storage, all };
                ops::store::gc(&store, &opts, out)?
            }
            StoreSubcommand::Path => unreachable!("handled above"),
        },
        Command::Build(a) => {
            ops::build::build(&store, &a, out)?;
        }
        Command::Step { step, args } => ops::build::step(&store, &step, &args, out)?,
        Command::Overlay(a) => ops::build::step(&store, "overlay", &a, out)?,
        Command::Stage(a) => ops::build::step(&store, "stage", &a, out)?,
        Command::Prime(a) => ops::build::step(&store, "prime", &a, out)?,
        Command::Clean(a) => ops::build::clean(&store, &a, out)?,
        Command::Shell(a) => {
            let code = ops::build::shell(&store, &a, out)?;
            if code != 0 {
                std::process::exit(code);
            }
        }
        Command::Target(a) => ops::build::make(&store, &a, out)?,
        Command::PackageLs(a) => ops::packages::ls(&store, &a, out)?,
        Command::Publish(a) => ops::packages::publish(&store, &a, out)?,
        Command::Plan(mut a) => {
            a.dry_run = true;
            ops::build::build(&store, &a, out)?;
        }
        Command::Pull(a) => ops::registry::pull(&store, &a, out)?,
        Command::Push(a) => ops::registry::push(&store, &a, out)?,
        Command::Artifact(a) => ops::registry::artifact(Some(&store), &a.command, out)?,
        Command::Attest(a) => ops::attest::attest(&store, &a.command, out)?,
        Command::Verify(a) => ops::attest::verify(&store, &a, out)?,
        Command::Sign(a) => ops::attest::sign(&store, &a, out)?,
        Command::VerifySignature(a) => ops::attest::verify_signature(&store, &a, out)?,
        Command::Worker(a) => ops::remote::worker(&store, &a)?,
        Command::StepExec(a) => {
            let code = ops::remote::step_exec(&store, &a, out)?;
            if code != 0 {
                return Ok(ExitCode::from(code.clamp(1, 255) as u8));
            }
        }
        Command::Login(_) | Command::Logout(_) | Command::Key(_) => unreachable!("handled above"),
    }
    Ok(ExitCode::SUCCESS)
}
