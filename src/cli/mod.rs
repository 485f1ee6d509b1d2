//! Command-line parsing with clap: structs only, no logic ([`frontend`]
//! adds the frontends' flags and targets). Each subcommand
//! group has its own file; `main.rs` hands the parsed values to `ops`.

mod attest;
mod build;
mod frontend;
mod image;
mod registry;
mod remote;
mod store;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub use attest::{
    AttestCommand, AttestSubcommand, KeyCommand, KeySubcommand, SignArgs, VerifyArgs, VerifySignatureArgs,
};
pub use build::{BuildArgs, CleanArgs, ExecutorKind, LifecycleArgs, ShellArgs, StepArgs};
pub use frontend::{PackageLsArgs, PublishArgs, TargetArgs, command, parse};
pub use image::{ImageCommand, ImageSubcommand};
pub use registry::{
    ArtifactCommand, ArtifactFiles, ArtifactSubcommand, LoginArgs, LogoutArgs, PullArgs, PushArgs, RegistryArgs,
};
pub use remote::{FarmArgs, RemoteArgs, StepExecArgs, WorkerArgs};
pub use store::{SourceCommand, SourceSubcommand, StoreCommand, StoreSubcommand};

/// strata builds OCI images from craft-parts, spk and Guix specs,
/// one lifecycle step at a time, reproducibly.
#[derive(Debug, Parser)]
#[command(name = "strata", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// The store to use (an OCI image layout plus strata's cache).
    /// Default: $XDG_DATA_HOME/strata, or ~/.local/share/strata.
    #[arg(long, global = true, env = "STRATA_STORE", value_name = "DIR")]
    pub store: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build an image from a project (craft-parts YAML) with the runc executor.
    Build(BuildArgs),
    /// Show what `strata build` would do: each step cached, or why it would
    /// run (what changed, old → new). Runs nothing. Takes build's options.
    Plan(BuildArgs),
    /// Run the lifecycle up to one step (pull, overlay, build, stage, prime)
    /// for some parts; `strata pull` and `strata build` keep their docker
    /// meanings (a registry pull, a whole build), so their steps live here.
    Step {
        #[arg(value_name = "STEP", value_parser = ["pull", "overlay", "build", "stage", "prime"])]
        step: String,
        #[command(flatten)]
        args: StepArgs,
    },
    /// Run the lifecycle up to the overlay step (see `strata step`).
    Overlay(StepArgs),
    /// Run the lifecycle up to the stage step (see `strata step`).
    Stage(StepArgs),
    /// Run the lifecycle up to the prime step (see `strata step`).
    Prime(StepArgs),
    /// Forget parts' cached steps, so the next build runs them again.
    Clean(CleanArgs),
    /// Open a shell (or run a command) in a part's state after a step.
    Shell(ShellArgs),
    /// Build, import, export, list, inspect and remove images in the store.
    Image(ImageCommand),
    /// Check and clean the store.
    Store(StoreCommand),
    /// Add source files to the store for builds offline (`strata source add FILE…`).
    Source(SourceCommand),
    /// Pull an image from a registry into the store.
    Pull(PullArgs),
    /// Push an image from the store to one or more registry tags.
    Push(PushArgs),
    /// Save credentials for a registry (checked against it first).
    Login(LoginArgs),
    /// Remove saved credentials for a registry.
    Logout(LogoutArgs),
    /// Push and attach non-image payloads (OCI artifacts) in registries.
    Artifact(ArtifactCommand),
    /// List and print an image's SBOMs and provenance.
    Attest(AttestCommand),
    /// Generate signing keys.
    Key(KeyCommand),
    /// Sign an image and its attestations (Sigstore bundles, attached as referrers).
    Sign(SignArgs),
    /// Check an image's and its attestations' signatures against a public key.
    VerifySignature(VerifySignatureArgs),
    /// Rebuild a project and check that it gives the image bit for bit,
    /// explaining the first difference.
    Verify(VerifyArgs),
    /// Serve a Remote Execution API farm as a worker: take leases from its
    /// Bots service and run each step (`strata step-exec`) with runc. Needs root.
    Worker(WorkerArgs),
    /// Run one step from a remote Action's input root (what a farm's worker
    /// runs; see docs/remote-execution.md). Needs root and runc.
    StepExec(StepExecArgs),
    /// `strata FRONTEND TARGET`: a frontend's target (`strata spk
    /// make-source`), added to the command line from the frontend registry.
    #[command(skip)]
    Target(TargetArgs),
    /// `strata FRONTEND ls [NAME]` (a frontend with packages).
    #[command(skip)]
    PackageLs(PackageLsArgs),
    /// `strata FRONTEND publish NAME/VERSION[/BUILD] --to registry://HOST/REPO`.
    #[command(skip)]
    Publish(PublishArgs),
}

impl Command {
    /// The lifecycle options of a command that runs the lifecycle.
    pub fn lifecycle_mut(&mut self) -> Option<&mut LifecycleArgs> {
        match self {
            Command::Build(a) | Command::Plan(a) => Some(&mut a.lc),
            Command::Step { args, .. } => Some(&mut args.lc),
            Command::Overlay(a) | Command::Stage(a) | Command::Prime(a) => Some(&mut a.lc),
            Command::Shell(a) => Some(&mut a.lc),
            Command::Target(a) => Some(&mut a.lc),
            Command::Verify(a) => Some(&mut a.build.lc),
            _ => None,
        }
    }
}
