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
    /// Remove blobs no image name or cached step reaches, downloads no
    /// source-checksum pins, snapshots of layers that go, and what
    /// interrupted writes and killed builds left.
    Gc {
        /// Say what would be removed, remove nothing (and ask no daemon).
        #[arg(long)]
        dry_run: bool,
        /// Keep at most this much step cache and downloaded sources (e.g.
        /// 10GB, 512MiB), dropping the least recently used entries first.
        /// Images named by a ref are always kept and do not count.
        #[arg(long, value_name = "SIZE", value_parser = crate::ops::store::parse_size)]
        keep_storage: Option<u64>,
        /// Also remove every unpacked snapshot, and what strata left in
        /// Docker, Podman and containerd: step images, containers of killed
        /// builds, containerd leases and snapshots (namespace
        /// $CONTAINERD_NAMESPACE, default strata). Only strata's own, known by
        /// the labels and names strata gives them.
        #[arg(long)]
        all: bool,
    },
    /// Print where the store is.
    Path,
}

/// `strata source ...`: the store's source files.
#[derive(Debug, Args)]
pub struct SourceCommand {
    #[command(subcommand)]
    pub command: SourceSubcommand,
}

#[derive(Debug, Subcommand)]
pub enum SourceSubcommand {
    /// Add local files to the store's download cache, for builds offline: a
    /// source whose `sha256` checksum a file has is served from it instead
    /// of being downloaded (craft `source-checksum`, Guix origins), and Guix
    /// looks a recursive origin's tarball up among them by name.
    Add {
        /// The files (archives, tarballs, patches …).
        #[arg(value_name = "FILE", required = true)]
        files: Vec<std::path::PathBuf>,
    },
    /// List the added files: name and sha256.
    Ls,
}
