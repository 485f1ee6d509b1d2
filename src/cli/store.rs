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
    },
    /// Print where the store is.
    Path,
}
