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

/// `strata verify IMAGE` (rebuild from the image's provenance in a fresh
/// store) or `strata verify PROJECT --image IMAGE` (rebuild the project in
/// this store): rebuild and compare bit for bit.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    strata verify hello-make:1.0\n  \
    strata verify hello-make:1.0 --project ~/src/hello-make --executor docker\n  \
    strata verify examples/hello-make --image hello-make:1.0")]
pub struct VerifyArgs {
    /// The image to check (a name in the store); the positional argument
    /// is then the project. Without it, the positional argument is the
    /// image, rebuilt from its provenance.
    #[arg(long, value_name = "NAME")]
    pub image: Option<String>,
    /// With IMAGE: the project to rebuild, instead of a clone of the git
    /// source and commit its provenance records.
    #[arg(long = "project", id = "project_dir", value_name = "DIR", conflicts_with = "image")]
    pub project_dir: Option<std::path::PathBuf>,
    /// Reuse cached steps instead of running every step again (PROJECT
    /// --image only: IMAGE rebuilds in an empty store).
    #[arg(long)]
    pub use_cache: bool,
    /// IMAGE, or the project and the build options the image was built
    /// with (with --image).
    #[command(flatten)]
    pub build: BuildArgs,
}

/// `strata key generate`: a signing key pair.
#[derive(Debug, Args)]
pub struct KeyCommand {
    #[command(subcommand)]
    pub command: KeySubcommand,
}

#[derive(Debug, Subcommand)]
pub enum KeySubcommand {
    /// Write a key pair (ECDSA P-256 or Ed25519): PREFIX.key (PKCS#8 PEM,
    /// encrypted when STRATA_KEY_PASSPHRASE is set) and PREFIX.pub.
    #[command(
        after_help = "Examples:\n  STRATA_KEY_PASSPHRASE=... strata key generate --output release\n  strata key generate --output ci --algorithm ed25519"
    )]
    Generate {
        /// Where the pair goes: PREFIX.key and PREFIX.pub (default: strata).
        #[arg(long, short = 'o', value_name = "PREFIX")]
        output: Option<std::path::PathBuf>,
        /// The same as --output, given as an argument.
        #[arg(value_name = "PREFIX", conflicts_with = "output")]
        prefix: Option<std::path::PathBuf>,
        /// The signature algorithm.
        #[arg(long, value_enum, default_value_t)]
        algorithm: crate::sign::keys::Algorithm,
    },
}

/// `strata sign IMAGE --key KEY`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  strata sign hello-make:1.0 --key release.key")]
pub struct SignArgs {
    /// A name in the store.
    pub image: String,
    /// The private key (PKCS#8 PEM; its passphrase in STRATA_KEY_PASSPHRASE).
    #[arg(long, value_name = "KEY")]
    pub key: std::path::PathBuf,
    /// Also write each bundle to DIR/<kind>.sigstore.json.
    #[arg(long, value_name = "DIR")]
    pub bundle_dir: Option<std::path::PathBuf>,
}

/// `strata verify-signature IMAGE --key KEY.pub`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  strata verify-signature hello-make:1.0 --key release.pub")]
pub struct VerifySignatureArgs {
    /// A name in the store.
    pub image: String,
    /// The public key (PEM).
    #[arg(long, value_name = "KEY.pub")]
    pub key: std::path::PathBuf,
}
