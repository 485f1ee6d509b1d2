//! `strata build`.

use std::path::PathBuf;

use clap::Args;

use crate::layer::Compression;
use crate::progress::ProgressMode;

/// The executors `strata build --executor` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExecutorKind {
    Runc,
    Docker,
    Podman,
    Containerd,
}

/// Build an image from a project file (rockcraft.yaml, strata.yaml, parts.yaml).
#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:\n  \
    strata build examples/hello-make -t hello:latest\n  \
    strata build parts.yaml --base bare --build-base busybox:latest --output type=oci-dir,dest=out\n  \
    strata build . --cache-to registry://127.0.0.1:5000/team/app")]
pub struct BuildArgs {
    /// The project file, or a directory holding one. Default: the current directory.
    #[arg(value_name = "PROJECT_FILE|DIR", default_value = ".")]
    pub project: PathBuf,
    /// Store the image under this name (repeatable). With --push, each name
    /// is also a registry reference to push to.
    #[arg(short, long = "tag", value_name = "NAME")]
    pub tags: Vec<String>,
    /// Push the image to every --tag after the build (only missing blobs go up).
    #[arg(long, requires = "tags")]
    pub push: bool,
    /// Also export the image (BuildKit's syntax: type=oci|oci-dir|docker,dest=PATH).
    #[arg(long, value_name = "type=TYPE,dest=PATH")]
    pub output: Option<String>,
    /// After the build, export every step it ran or reused (with their
    /// layers) to a registry cache, in the same syntax as --cache-from.
    #[arg(long, value_name = "registry://HOST/REPO")]
    pub cache_to: Option<String>,
    /// Print the plan (each step cached or why it would run) and run nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Attach SBOMs (SPDX 2.3, CycloneDX 1.6) and SLSA provenance to the
    /// image, in an index as BuildKit does; `--sbom=false`: the bare manifest.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true", value_name = "BOOL")]
    pub sbom: bool,
    /// What the provenance records: reproducible (only what the inputs fix,
    /// so the same build gives the same index digest) or full (also start
    /// and end times and cache hits, different at every run).
    #[arg(long, default_value = "reproducible", value_name = "reproducible|full")]
    pub provenance: crate::attest::provenance::Mode,
    #[command(flatten)]
    pub remote: super::RemoteArgs,
    #[command(flatten)]
    pub lc: LifecycleArgs,
}

/// `strata step STEP [PART...]` and its shortcuts `strata overlay|stage|prime`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    strata stage --project examples/multi-part lib\n  \
    strata step build --project . app")]
pub struct StepArgs {
    /// Run these parts (and what they need) up to the step; default: every part.
    #[arg(value_name = "PART")]
    pub parts: Vec<String>,
    /// The project file, or a directory holding one.
    #[arg(long, short = 'p', value_name = "PROJECT_FILE|DIR", default_value = ".")]
    pub project: PathBuf,
    #[command(flatten)]
    pub lc: LifecycleArgs,
}

/// `strata clean [PART...]`.
#[derive(Debug, Args)]
pub struct CleanArgs {
    /// Forget these parts' cached steps; default: every part's, and the image's.
    #[arg(value_name = "PART")]
    pub parts: Vec<String>,
    /// The project file, or a directory holding one.
    #[arg(long, short = 'p', value_name = "PROJECT_FILE|DIR", default_value = ".")]
    pub project: PathBuf,
}

/// What every command that runs the lifecycle takes.
#[derive(Debug, Clone, Args)]
pub struct LifecycleArgs {
    /// Pull base and build-base from their registries even if the store has
    /// them, reporting a tag that has moved (default: pull only missing ones).
    #[arg(long)]
    pub pull: bool,
    #[command(flatten)]
    pub registry: super::RegistryArgs,
    /// The image the steps run in, instead of the project's `build-base` (a store ref).
    #[arg(long, value_name = "IMAGE")]
    pub build_base: Option<String>,
    /// The runtime base, instead of the project's `base` (`bare` or a store ref).
    #[arg(long, value_name = "IMAGE")]
    pub base: Option<String>,
    /// What runs the steps: runc (default, no daemon), docker, podman or
    /// containerd. Every executor gives the same layers.
    #[arg(long, default_value = "runc", value_name = "runc|docker|podman|containerd")]
    pub executor: ExecutorKind,
    /// Layer compression.
    #[arg(long, default_value = "gzip", value_name = "none|gzip|zstd")]
    pub compression: Compression,
    /// Run every step, ignoring the step cache (results still go into it).
    #[arg(long)]
    pub no_cache: bool,
    /// Run this part's steps even when cached: PART, or PART:STEP for one
    /// step (repeatable, or comma-separated).
    #[arg(long, value_name = "PART[:STEP]", value_delimiter = ',')]
    pub no_cache_filter: Vec<String>,
    /// Import cached steps from a registry: registry://HOST/REPO[:TAG] (tag
    /// `cache` by default) or type=registry,ref=HOST/REPO[:TAG]. Repeatable.
    #[arg(long, value_name = "registry://HOST/REPO")]
    pub cache_from: Vec<String>,
    /// How to show progress: auto (tty on a terminal, else plain), tty,
    /// plain, or json (one event per line, for CI systems).
    #[arg(long, default_value = "auto", value_name = "auto|tty|plain|json")]
    pub progress: ProgressMode,
    /// When a step fails, open a shell over its inputs (with its scripts
    /// and environment) before giving up (runc executor).
    #[arg(long)]
    pub shell_on_fail: bool,
    /// How many steps may run at once (default: the machine's cores). The
    /// image is the same at any value.
    #[arg(long, short = 'j', default_value_t = 0, hide_default_value = true)]
    pub jobs: usize,
    /// CA certificates (a PEM bundle) that steps with network access trust,
    /// for networks behind a TLS-intercepting proxy; default: the host's
    /// bundle (/etc/ssl/certs/ca-certificates.crt) when there is one. It is
    /// mounted, never captured into a layer, and in no cache key.
    #[arg(long, value_name = "FILE", conflicts_with = "no_build_ca")]
    pub build_ca: Option<std::path::PathBuf>,
    /// Give steps no CA certificates of the host's.
    #[arg(long)]
    pub no_build_ca: bool,
    /// The most memory a step may use, swap included (e.g. 2GB, 512MiB);
    /// a step over it is killed. Default: no limit.
    #[arg(long, value_name = "SIZE", value_parser = crate::ops::store::parse_size)]
    pub memory: Option<u64>,
    /// The most processes and threads a step may have at once. Default: no limit.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(1..))]
    pub pids_limit: Option<i64>,
    /// Kill a step that runs longer and fail the build (e.g. 90s, 30m, 2h).
    /// Default: no limit.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub step_timeout: Option<std::time::Duration>,
    /// A build secret, as `docker buildx build --secret`: `id=ID,src=FILE`
    /// or `id=ID,env=VARIABLE` (repeatable). The steps that fetch and
    /// build read it at `/run/secrets/ID`; it reaches no layer, log or
    /// cache key, and a changed value does not rerun a step.
    #[arg(long = "secret", value_name = "id=ID,src=FILE", value_parser = crate::worker::secrets::parse_secret)]
    pub secrets: Vec<crate::worker::secrets::Secret>,
    /// Docker's `--security-opt`: `seccomp=unconfined` runs steps without
    /// strata's seccomp filter (Docker's default refusals: mount, unshare,
    /// keyctl, bpf, ...). The Docker and Podman executors apply their
    /// daemon's profile either way.
    #[arg(long, value_name = "OPT", value_parser = crate::executor::seccomp::parse_security_opt)]
    pub security_opt: Option<crate::executor::seccomp::Seccomp>,
    /// An option of the spec's frontend: KEY=VALUE, or KEY alone for a flag
    /// (repeatable; e.g. `-X variant=1` for spk, `-X package=hello` for
    /// Guix). An option the frontend does not know is refused, naming the
    /// ones it does.
    #[arg(short = 'X', long = "frontend-opt", value_name = "KEY[=VALUE]", value_parser = strata_frontend_api::parse_frontend_option)]
    pub frontend_opts: Vec<(String, String)>,
}

/// `strata shell --part P --step S [-- CMD...]`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    strata shell --part hello --step build\n  \
    strata shell -p examples/hello-make --part hello --step prime -- ls /root/prime")]
pub struct ShellArgs {
    /// The part whose state to enter; for a Guix file, `--package NAME`
    /// picks both the package and the part.
    #[arg(long)]
    pub part: Option<String>,
    /// After which step: pull, overlay, build, stage or prime (craft); a
    /// phase (Guix), or any step `strata plan` names for the part.
    #[arg(long, default_value = "build", conflicts_with = "phase")]
    pub step: String,
    /// Before which step: the state the step before it left, its
    /// environment and directory (Guix: a phase, as `guix build -K` keeps
    /// the failed build's tree; `--package hello --phase check`).
    #[arg(long, value_name = "PHASE")]
    pub phase: Option<String>,
    /// The project file, or a directory holding one.
    #[arg(long, short = 'p', value_name = "PROJECT_FILE|DIR", default_value = ".")]
    pub project: PathBuf,
    /// The command to run instead of an interactive shell.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
    #[command(flatten)]
    pub lc: LifecycleArgs,
}
