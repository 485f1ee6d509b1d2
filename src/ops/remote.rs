//! `strata worker` and `strata step-exec`: a farm's side of remote
//! execution ([`crate::remote`]); `build --remote`'s worker is made here too.

use std::io::Write;

use crate::cli::{FarmArgs, StepExecArgs, WorkerArgs};
use crate::executor::Cancel;
use crate::remote::bot::BotOptions;
use crate::remote::client::Endpoint;
use crate::store::Store;

/// The farm at `url` as the flags name it.
pub fn endpoint(url: &str, farm: &FarmArgs) -> Endpoint {
    Endpoint {
        url: url.to_string(),
        instance: farm.remote_instance.clone(),
        ca: farm.remote_ca.clone(),
        token_file: farm.remote_token_file.clone(),
    }
}

/// `strata step-exec`: returns the exit code.
pub fn step_exec(store: &Store, args: &StepExecArgs, out: &mut dyn Write) -> crate::Result<i32> {
    let cancel = Cancel::new();
    crate::remote::step_exec::cancel_on_signals(&cancel);
    crate::remote::step_exec::run(store, &args.manifest, &cancel, out)
}

/// `strata worker --bots URL`: serves until SIGTERM or Ctrl-C.
pub fn worker(store: &Store, args: &WorkerArgs) -> crate::Result<()> {
    let cancel = Cancel::new();
    crate::remote::step_exec::cancel_on_signals(&cancel);
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_else(|_| "host".into());
    let opts = BotOptions {
        endpoint: endpoint(&args.bots, &args.farm),
        leases: args.leases as usize,
        bot_id: args.bot_id.clone().unwrap_or_else(|| format!("{}-{}", host.trim(), std::process::id())),
        work_dir: args.work_dir.clone().unwrap_or_else(|| store.tmp_dir().join("bot")),
        strata: std::env::current_exe().map_err(|source| crate::remote::RemoteError::Io {
            what: "cannot find this binary",
            path: "/proc/self/exe".into(),
            source,
        })?,
    };
    crate::remote::bot::run(store, &opts, &cancel, Box::new(std::io::stderr()))
}
