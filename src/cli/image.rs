//! `strata image ...`

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::layer::Compression;

#[derive(Debug, Args)]
pub struct ImageCommand {
    #[command(subcommand)]
    pub command: ImageSubcommand,
}

#[derive(Debug, Subcommand)]
pub enum ImageSubcommand {
    /// Build a base image from a recipe in images/ (mmdebstrap, busybox).
    ///
    /// The image is stored under the recipe's `name` (or --tag), ready to be
    /// used as `base:` or `build-base:` in a spec.
    #[command(
        after_help = "Example:\n  strata image build images/busybox\n  strata image build images/debian-bookworm --tag debian:bookworm"
    )]
    Build {
        /// A recipe directory (holding recipe.toml) or a recipe file.
        recipe: PathBuf,
        /// Store the image under this name instead of the recipe's.
        #[arg(short, long, value_name = "NAME")]
        tag: Option<String>,
        /// Layer compression.
        #[arg(long, default_value = "gzip", value_name = "none|gzip|zstd")]
        compression: Compression,
    },
    /// Import an image into the store.
    #[command(after_help = "Sources (skopeo's transport syntax):\n  \
        oci-archive:PATH[:REF]     a tar of an OCI image layout\n  \
        oci:DIR[:REF]              an OCI image layout directory\n  \
        docker-archive:PATH[:REF]  `docker save` output\n  \
        docker-daemon:IMAGE        an image in the running Docker daemon\n  \
        rootfs:PATH                a root-filesystem tarball, imported as one layer\n\n\
        Example:\n  strata image import oci-archive:debian.tar --tag debian:bookworm")]
    Import {
        /// Where the image comes from.
        source: String,
        /// The name it gets in the store (default: the source's own name).
        #[arg(short, long, value_name = "NAME")]
        tag: Option<String>,
        /// The platform to take from a multi-platform source (default: this host's).
        #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
        platform: Option<String>,
        /// Layer compression for rootfs: imports.
        #[arg(long, default_value = "gzip", value_name = "none|gzip|zstd")]
        compression: Compression,
    },
    /// Export an image from the store.
    #[command(after_help = "Destinations (skopeo's syntax, or BuildKit's --output syntax):\n  \
        oci-archive:PATH      type=oci,dest=PATH        a tar of an OCI image layout\n  \
        oci:DIR               type=oci-dir,dest=DIR     an OCI image layout directory\n  \
        docker-archive:PATH   type=docker,dest=PATH     for `docker load` / `podman load`\n  \
        docker-daemon:        type=docker-daemon        load into the running Docker daemon\n  \
        podman:               type=podman               load into Podman (its API socket)\n\n\
        Example:\n  strata image export busybox oci-archive:busybox.tar")]
    Export {
        /// The image name in the store.
        image: String,
        /// Where it goes.
        destination: String,
    },
    /// List the images in the store.
    #[command(alias = "list")]
    Ls {
        /// Print JSON, one object per image.
        #[arg(long)]
        json: bool,
    },
    /// Show an image's manifest and config.
    Inspect {
        image: String,
        /// Print the stored manifest and config JSON as they are.
        #[arg(long)]
        raw: bool,
        /// Platform to show for a multi-platform image.
        #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
        platform: Option<String>,
    },
    /// Remove image names from the store (their blobs go at the next `strata store gc`).
    #[command(alias = "remove")]
    Rm {
        #[arg(required = true)]
        images: Vec<String>,
    },
}
