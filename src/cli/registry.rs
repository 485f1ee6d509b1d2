//! `strata pull|push|login|logout`: registry commands, docker-style.

use std::path::PathBuf;

use clap::Args;

/// Options every registry command takes.
#[derive(Debug, Args, Clone, Default)]
pub struct RegistryArgs {
    /// Talk plain HTTP (or unverified TLS) to this registry (host[:port]).
    /// Loopback registries are allowed plain HTTP without it. Repeatable.
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub insecure_registries: Vec<String>,
    /// Read credentials from this auth file (containers auth.json or docker
    /// config.json format) before the usual places.
    #[arg(long, env = "REGISTRY_AUTH_FILE", value_name = "FILE")]
    pub authfile: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  strata pull 127.0.0.1:5000/debian:bookworm\n  \
    strata pull registry.example.com/app:1.2@sha256:… --platform linux/arm64")]
pub struct PullArgs {
    /// What to pull: [HOST[:PORT]/]NAME[:TAG][@DIGEST] (Docker Hub by default).
    pub reference: String,
    /// Platform to take from a multi-platform image (default: this host's).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", conflicts_with = "all_platforms")]
    pub platform: Option<String>,
    /// Keep a multi-platform index whole, with every platform's blobs.
    #[arg(long)]
    pub all_platforms: bool,
    /// Name it gets in the store (default: the reference as typed).
    #[arg(short, long, value_name = "NAME")]
    pub tag: Option<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Debug, Args)]
#[command(after_help = "Example:\n  strata push busybox 127.0.0.1:5000/tools/busybox:1 127.0.0.1:5000/tools/busybox:latest")]
pub struct PushArgs {
    /// The image name in the store.
    pub image: String,
    /// Where to push it; several tags go in one push.
    #[arg(required = true, value_name = "DEST")]
    pub destinations: Vec<String>,
    /// Upload in chunks (PATCH) instead of one streamed request.
    #[arg(long)]
    pub chunked: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The registry (host[:port]); Docker Hub if omitted.
    pub registry: Option<String>,
    #[arg(short, long)]
    pub username: String,
    /// Read the password from standard input (the only way: never on the command line).
    #[arg(long, required = true)]
    pub password_stdin: bool,
    #[command(flatten)]
    pub registry_opts: RegistryArgs,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// The registry (host[:port]); Docker Hub if omitted.
    pub registry: Option<String>,
    #[command(flatten)]
    pub registry_opts: RegistryArgs,
}
