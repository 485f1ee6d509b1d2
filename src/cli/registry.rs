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
#[command(
    after_help = "Example:\n  strata push busybox 127.0.0.1:5000/tools/busybox:1 127.0.0.1:5000/tools/busybox:latest"
)]
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

/// `strata artifact push|attach|ls`: non-image payloads in registries.
#[derive(Debug, Args)]
pub struct ArtifactCommand {
    #[command(subcommand)]
    pub command: ArtifactSubcommand,
}

/// A file of an artifact: `PATH` or `PATH:MEDIA_TYPE`.
#[derive(Debug, Args, Clone)]
pub struct ArtifactFiles {
    /// The artifact's type, e.g. application/vnd.example.sbom+json.
    #[arg(long = "type", value_name = "MEDIA_TYPE")]
    pub artifact_type: String,
    /// Files to carry, one layer each: PATH or PATH:MEDIA_TYPE
    /// (default media type application/octet-stream).
    #[arg(required = true, value_name = "FILE[:MEDIA_TYPE]")]
    pub files: Vec<String>,
    /// Annotations on the artifact manifest, KEY=VALUE. Repeatable.
    #[arg(long = "annotation", value_name = "KEY=VALUE")]
    pub annotations: Vec<String>,
}

#[derive(Debug, clap::Subcommand)]
pub enum ArtifactSubcommand {
    /// Push files as an OCI artifact to a registry tag.
    #[command(
        after_help = "Example:\n  strata artifact push 127.0.0.1:5000/app/prime:1 --type application/vnd.strata.prime.v1+tar prime.tar"
    )]
    Push {
        /// Where the artifact goes: HOST/REPO:TAG.
        destination: String,
        #[command(flatten)]
        files: ArtifactFiles,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Attach files as an artifact to an image already in a registry
    /// (referrers API, or the referrers tag schema where the registry lacks it).
    #[command(
        after_help = "Example:\n  strata artifact attach 127.0.0.1:5000/app:1 --type application/spdx+json sbom.json"
    )]
    Attach {
        /// The image the artifact is about: HOST/REPO:TAG or @DIGEST.
        subject: String,
        #[command(flatten)]
        files: ArtifactFiles,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// List the artifacts attached to an image in a registry.
    Ls {
        subject: String,
        /// Only artifacts of this type.
        #[arg(long = "type", value_name = "MEDIA_TYPE")]
        artifact_type: Option<String>,
        #[command(flatten)]
        registry: RegistryArgs,
    },
}
