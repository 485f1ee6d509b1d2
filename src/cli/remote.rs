//! Remote execution's command line: `build --remote`, `strata worker`,
//! `strata step-exec` (docs/remote-execution.md).

use std::path::PathBuf;

use clap::Args;

/// `strata build --remote grpc[s]://HOST:PORT`: where exec steps run.
#[derive(Debug, Clone, Default, Args)]
pub struct RemoteArgs {
    /// Run the exec steps on a Remote Execution API farm (BuildGrid,
    /// Buildbarn, ...) whose workers run `strata step-exec`; its action
    /// cache answers steps any machine ran. Host-side steps stay local.
    /// The image is the same as a local build's.
    #[arg(long, value_name = "grpc[s]://HOST:PORT")]
    pub remote: Option<String>,
    #[command(flatten)]
    pub farm: FarmArgs,
}

/// How to reach a farm, besides its address.
#[derive(Debug, Clone, Default, Args)]
pub struct FarmArgs {
    /// The farm's instance name.
    #[arg(long, value_name = "NAME", default_value = "")]
    pub remote_instance: String,
    /// A PEM CA bundle the farm's TLS certificate is checked against
    /// (grpcs://; default: the system's roots).
    #[arg(long, value_name = "FILE")]
    pub remote_ca: Option<PathBuf>,
    /// A file holding a bearer token to send with every call.
    #[arg(long, value_name = "FILE")]
    pub remote_token_file: Option<PathBuf>,
}

/// `strata worker --bots grpc[s]://HOST:PORT`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  strata --store /var/lib/strata-worker worker --bots grpc://farm:50051 --leases 2")]
pub struct WorkerArgs {
    /// The farm's Bots service (Remote Workers API, as BuildGrid serves it).
    #[arg(long, value_name = "grpc[s]://HOST:PORT")]
    pub bots: String,
    #[command(flatten)]
    pub farm: FarmArgs,
    /// How many leases (steps) to run at once.
    #[arg(long, alias = "max-leases", default_value_t = 1, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub leases: u32,
    /// The bot's id in the farm (default: HOST-PID).
    #[arg(long, value_name = "ID")]
    pub bot_id: Option<String>,
    /// Where leases are laid out (default: the store's tmp/bot).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
}

/// `strata step-exec [MANIFEST]`: what a farm's worker runs.
#[derive(Debug, Args)]
pub struct StepExecArgs {
    /// The step's manifest, in the Action's input root.
    #[arg(value_name = "MANIFEST", default_value = "step.json")]
    pub manifest: PathBuf,
}
