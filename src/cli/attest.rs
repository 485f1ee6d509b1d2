//! `strata attest`, `strata key`, `strata sign`, `strata verify-signature`
//! and `strata verify`: reading attestations, signing, verifying.

use clap::{Args, Subcommand};

use super::BuildArgs;

/// `strata attest ls|get`: the SBOMs and provenance attached to an image.
#[derive(Debug, Args)]
pub struct AttestCommand {
    #[command(subcommand)]
    pub command: AttestSubcommand,
}

#[derive(Debug, Subcommand)]
pub enum AttestSubcommand {
    /// List an image's attestations: kind, predicate type, digest, size.
    #[command(after_help = "Example:\n  strata attest ls hello-make:1.0")]
    Ls {
        /// A name in the store.
        image: String,
    },
    /// Print one attestation's in-toto statement (JSON).
    #[command(after_help = "Example:\n  strata attest get hello-make:1.0 --type spdx | jq .predicate")]
    Get {
        /// A name in the store.
        image: String,
        /// spdx, cyclonedx or provenance (or a full predicate type URI).
        #[arg(long = "type", value_name = "spdx|cyclonedx|provenance")]
        kind: String,
        /// Print only the predicate (the SPDX or CycloneDX document itself).
        #[arg(long)]
        predicate: bool,
    },
}

/// `strata verify PROJECT --image IMAGE`: rebuild and compare bit for bit.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  strata verify examples/hello-make --image hello-make:1.0")]
pub struct VerifyArgs {
    /// The image to check (a name in the store).
    #[arg(long, value_name = "NAME")]
    pub image: String,
    /// Reuse cached steps instead of running every step again.
    #[arg(long)]
    pub use_cache: bool,
    /// The project and the build options the image was built with.
    #[command(flatten)]
    pub build: BuildArgs,
}
