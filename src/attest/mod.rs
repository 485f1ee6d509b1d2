//! Proving what was built: SBOMs (SPDX 2.3 and CycloneDX 1.6) and SLSA
//! provenance v1, as in-toto statements about the image manifest, attached
//! to the image in an index the way BuildKit does (docs/attestations.md).
//!
//! | job | module |
//! |---|---|
//! | installed Debian packages from `var/lib/dpkg/status` | [`dpkg`] |
//! | Debian packages' licenses from DEP-5 `copyright` files | [`copyright`] |
//! | installed Python distributions from `*.dist-info/METADATA` | [`python`] |
//! | npm packages, Go build info, Cargo's embedded lists | [`lang`] |
//! | what the image holds, layer by layer, and who put it there | [`inventory`] |
//! | which declared licenses are SPDX expressions | [`license`] |
//! | the SPDX document | [`spdx`] |
//! | the CycloneDX BOM | [`cyclonedx`] |
//! | the SLSA provenance predicate | [`provenance`] |
//! | the in-toto statement around a predicate | [`statement`] |
//! | the attestation manifest and the index, written and read | [`oci`] |
//!
//! Determinism: every time in an attestation is the build's
//! `SOURCE_DATE_EPOCH`, identifiers are derived from the manifest digest,
//! JSON is canonical, and the wall clock and cache use enter the
//! provenance only with [`provenance::Mode::Full`]. So the same inputs give
//! the same index digest, as they give the same manifest digest.

pub mod cache;
pub mod copyright;
pub mod cyclonedx;
pub mod dpkg;
pub mod inventory;
pub mod lang;
pub mod layer_scan;
pub mod license;
pub mod oci;
pub mod provenance;
pub mod python;
pub mod spdx;
pub mod statement;
#[cfg(test)]
mod testdata;

use oci_spec::image::Descriptor;

/// The URI strata's build type and builder ids live under.
pub const STRATA_URI: &str = "https://example.invalid/strata";

/// What attaching or reading attestations can fail on.
#[derive(Debug, thiserror::Error)]
pub enum AttestError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Oci(#[from] oci_spec::OciSpecError),
    #[error("an attestation is not JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the index lists no image manifest besides its attestations")]
    NoImage,
    #[error("the attestation {digest} does not match its digest; run `strata store fsck`")]
    Corrupt { digest: oci_spec::image::Digest },
    #[error("{image} has no {kind} attestation (it has: {})", if have.is_empty() { "none; build it with --sbom".to_string() } else { have.join(", ") })]
    Missing { image: String, kind: String, have: Vec<String> },
}

/// Which attestations a build attaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttestOptions {
    /// SBOMs and provenance; `false`: the bare manifest (`--sbom=false`).
    pub enabled: bool,
    pub provenance: provenance::Mode,
}

impl Default for AttestOptions {
    fn default() -> AttestOptions {
        AttestOptions { enabled: true, provenance: provenance::Mode::Reproducible }
    }
}

/// The kinds `strata attest get --type` takes, and their predicate types.
pub const KINDS: &[(&str, &str)] = &[
    ("spdx", spdx::PREDICATE_TYPE),
    ("cyclonedx", cyclonedx::PREDICATE_TYPE),
    ("provenance", provenance::PREDICATE_TYPE),
];

/// The short name of a predicate type (`spdx`), or the type itself.
pub fn kind_of(predicate_type: &str) -> &str {
    KINDS.iter().find(|(_, t)| *t == predicate_type).map(|(k, _)| *k).unwrap_or(predicate_type)
}

/// Everything a build's attestations are made from.
pub struct Attest<'a> {
    pub inventory: inventory::Sources<'a>,
    pub provenance: provenance::Inputs<'a>,
    /// The image manifest, with its platform.
    pub manifest: &'a Descriptor,
}

/// Writes the SBOMs and provenance of a build and the index attaching
/// them to its manifest; returns the index's descriptor.
pub fn attach(a: &Attest<'_>) -> crate::Result<Descriptor> {
    let created = crate::image::rfc3339(a.provenance.epoch);
    let inv = inventory::inventory(&a.inventory)?;
    let name = &inv.name;
    let digest = a.manifest.digest();
    let statements = vec![
        (spdx::PREDICATE_TYPE.to_string(), spdx::document(&inv, &created)),
        (cyclonedx::PREDICATE_TYPE.to_string(), cyclonedx::document(&inv, &created)),
        (provenance::PREDICATE_TYPE.to_string(), provenance::predicate(&a.provenance)),
    ];
    let statements: Vec<(String, serde_json::Value)> =
        statements.into_iter().map(|(t, p)| (t.clone(), statement::statement(name, digest, &t, p))).collect();
    Ok(oci::attach(a.inventory.store, a.manifest, &statements)?)
}
