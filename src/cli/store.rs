//! `strata store ...`

use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub struct StoreCommand {
    #[command(subcommand)]
    pub command: StoreSubcommand,
}

#[derive(Debug, Subcommand)]
pub enum StoreSubcommand {
    /// Verify every blob's digest and that every image is complete.
    ///
    /// Exits non-zero if anything is wrong, listing each problem.
    Fsck,
    /// Remove blobs no image name reaches, and leftovers of interrupted writes.
    Gc {
        /// Say what would be removed, remove nothing.
        #[arg(long)]
        dry_run: bool,
        /// Keep at most this much step cache (e.g. 10GB, 512MiB), dropping
        /// the least recently used entries first. Images named by a ref are
        /// always kept and do not count.
        #[arg(long, value_name = "SIZE", value_parser = crate::ops::store::parse_size)]
        keep_storage: Option<u64>,
    },
    /// Print where the store is.
    Path,
}
