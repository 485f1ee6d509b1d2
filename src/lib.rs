//! # strata — an OCI image build backend
//!
//! A map of the crate; start reading where your question lives.
//!
//! | concept | module | start at |
//! |---|---|---|
//! | digests of streamed bytes | [`digest`] | [`digest::HashingWriter`] |
//! | layer bytes: deterministic tar, unpack, filter, squash, relocate (pack); a layer stream into the store | [`layer`] | `layer::write_tree`, `layer::unpack`, `layer::squash_relocated`, [`layer::write_blob`] |
//! | the local content-addressed store (an OCI image layout): blobs, refs, locks, fsck, mark and sweep; a leaf that imports no tenant | [`store`] | [`store::Store`], [`store::Store::mark`], [`store::Exclusive`] |
//! | cleaning up after a killed strata: containers, mounts, temp files | [`recover`] | [`recover::after_kill`] |
//! | `strata store gc`: roots from refs, step-cache records, downloads and snapshots, one LRU budget, then the store's sweep; `--all` prunes the daemons | [`gc`] | [`gc::run`], [`gc::prune_daemons`] |
//! | canonical JSON for every blob strata writes | [`json`] | [`json::to_vec`] |
//! | image config, manifest, index, history | [`image`] | [`image::ImageBuilder`] |
//! | bringing images in: oci-archive, OCI dir, docker-archive, daemon, rootfs tar | [`import`] | [`import::ImportSource`] |
//! | proving what was built: SPDX and CycloneDX SBOMs (Debian with DEP-5 licenses, Python, npm, Go, Cargo packages), SLSA provenance, attached as BuildKit does, reused by a rebuild that changed nothing, each layer scanned once | [`attest`] | [`attest::attach`], [`attest::oci`], [`attest::cache`], [`attest::layer_scan`] |
//! | keyed signing: P-256 and Ed25519 keys, DSSE, Sigstore bundles v0.3 attached as referrers | [`sign`] | [`sign::sign`], [`sign::verify`] |
//! | `strata verify`: where two images first differ (JSON field, tar entry) | [`verify`] | [`verify::first_difference`] |
//! | sending images out: oci-archive, OCI dir, docker-archive, daemon load | [`export`] | [`export::ExportTarget`] |
//! | registries: references, pull, push, auth, login, artifacts | [`registry`] | [`registry::pull`], [`registry::push`] |
//! | base-image recipes (`images/`): mmdebstrap, busybox | [`recipe`] | [`recipe::Recipe`] |
//! | running a step in a container: runc, Docker/Podman, containerd | [`executor`] | [`executor::Executor`], [`executor::RuncExecutor`] |
//! | snapshots: unpacked layers, a step's root filesystem, capturing its changes | [`snapshot`] | [`snapshot::Rootfs`], [`snapshot::capture`] |
//! | which frontend reads a path (the only import of frontend crates) | [`frontends`] | [`frontends::detect`] |
//! | one build end to end: lower, resolve, solve (`strata build`, `plan`, `step`, `shell`, `clean`) | [`build`] | [`build::build`] |
//! | pinning the world before keying: base digests, source listings, git commits | [`resolve`] | [`resolve::resolve`] |
//! | package repositories (spk): package builds stored as OCI indexes, looked up while lowering, `ls` and `publish` | [`packages`] | [`packages::store_packages`], [`packages::StoreIndex`], [`packages::publish`] |
//! | the graph walk: keys, cache protocol, ready queue, `--jobs`, cancellation | [`solver`] | [`solver::Solver::solve`], [`solver::keys`] |
//! | how each op kind runs: exec, fetch, layer ops, host ops, the image | [`vertex`] | [`vertex::run`] |
//! | running a process for the solver: local executors, a recording fake, a REAPI farm | [`worker`] | [`worker::Worker`], [`worker::LocalWorker`], [`worker::RemoteWorker`] |
//! | remote execution: REAPI client and CAS transfers, steps as Actions, `strata step-exec`, the `strata worker` bot | [`remote`] | [`remote::action`], [`remote::step_exec::run`], [`remote::bot::run`] |
//! | part sources: local dirs, tar/zip/deb/file (downloaded, checksummed, cached; `strata source add` files served by sha256), git | [`sources`] | [`sources::fetch`], [`sources::Downloads`] |
//! | the step cache: keys, records, why a step ran | [`cache`] | [`cache::StepCache`], [`cache::MissReason`] |
//! | what a build tells its user: plain, tty, json | [`progress`] | [`progress::Event`] |
//! | one entry function per user operation | [`ops`] | [`ops::image`], [`ops::store`] |
//! | command-line parsing (no logic), with the frontends' flags and targets from the registry | [`cli`] | [`cli::parse`], [`cli::Cli`] |
//! | what is mounted where (`/proc/self/mountinfo`) | [`mounts`] | [`mounts::mount_points_under`] |
//! | the crate error | [`error`] | [`Error`] |
//!
//! ## Follow one `strata build`
//!
//! `main` → [`ops::build`] → [`build::build`]: [`frontends::detect`] picks the
//! frontend of the path (craft: `frontends/craft`, spk: `frontends/spk`,
//! Guix: `frontends/guix`), which lowers the spec to a
//! [`strata_frontend_api::graph::BuildGraph`] — vertices (exec, fetch, layer
//! and host ops) and how the image is assembled. [`resolve::resolve`] pins
//! the images it names and its sources; [`solver::Solver::solve`] keys each
//! vertex from its declared inputs ([`solver::keys`]), takes hits from the
//! [`cache`], and runs the misses on `--jobs` threads through [`vertex::run`]:
//! exec ops go to a [`worker::Worker`] ([`worker::LocalWorker`]: an
//! [`executor`] over [`snapshot`]s, changes captured by [`layer`]), host ops
//! back to the frontend over file trees. The image vertex
//! ([`vertex::image`]) writes config and manifest into the [`store`];
//! [`attest`] adds SBOMs and provenance in an index around it;
//! [`export`] and [`registry`] send it out.
//! [`gc`] asks the store's tenants ([`cache`], [`sources`]' downloads,
//! [`snapshot`]) what they keep and sweeps the rest.
//!
//! With `--remote`, exec ops go to a [`worker::RemoteWorker`] instead:
//! Actions on a REAPI farm whose workers run [`remote::step_exec`] (the
//! local worker again), layers fetched back only when read locally.
//!
//! A frontend with packages (spk) also declares the package builds its
//! graph makes: after the solve, [`packages::store_packages`] stores each
//! as an OCI index in the store (the default package repository); while
//! lowering, the frontend looks its dependencies up through
//! [`packages::StoreIndex`] (the store, then `--spk-repo` registries).

// Errors carry data for the user (paths, digests, log tails) and are
// returned on cold paths around I/O; boxing them all to please
// `result_large_err` would cost readability for no measurable gain.
#![allow(clippy::result_large_err)]

pub mod attest;
pub mod build;
pub mod cache;
pub mod cli;
pub mod digest;
pub mod error;
pub mod executor;
pub mod export;
pub mod frontends;
pub mod gc;
pub mod image;
pub mod import;
pub mod json;
pub mod layer;
pub mod mounts;
pub mod ops;
pub mod packages;
pub mod progress;
pub mod recipe;
pub mod recover;
pub mod registry;
pub mod remote;
pub mod resolve;
pub mod sign;
pub mod snapshot;
pub mod solver;
pub mod sources;
pub mod store;
#[cfg(test)]
pub(crate) mod testutil;
pub mod verify;
pub mod vertex;
pub mod worker;

pub use error::{Error, Result};
