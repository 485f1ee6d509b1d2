//! # strata — an OCI image build backend
//!
//! A map of the crate; start reading where your question lives.
//!
//! | concept | module | start at |
//! |---|---|---|
//! | digests of streamed bytes | [`digest`] | [`digest::HashingWriter`] |
//! | layer bytes: deterministic tar, unpack, filter, squash | [`layer`] | `layer::write_tree`, `layer::unpack` |
//! | the local content-addressed store (an OCI image layout) | [`store`] | [`store::Store`] |
//! | canonical JSON for every blob strata writes | [`json`] | [`json::to_vec`] |
//! | image config, manifest, index, history | [`image`] | [`image::ImageBuilder`] |
//! | bringing images in: oci-archive, OCI dir, docker-archive, daemon, rootfs tar | [`import`] | [`import::ImportSource`] |
//! | sending images out: oci-archive, OCI dir, docker-archive, daemon load | [`export`] | [`export::ExportTarget`] |
//! | registries: references, pull, push, auth, login, artifacts | [`registry`] | [`registry::pull`], [`registry::push`] |
//! | base-image recipes (`images/`): mmdebstrap, busybox | [`recipe`] | [`recipe::Recipe`] |
//! | one entry function per user operation | [`ops`] | [`ops::image`], [`ops::store`] |
//! | command-line parsing (no logic) | [`cli`] | [`cli::Cli`] |
//! | the crate error | [`error`] | [`Error`] |
//!
//! Data flow (DESIGN.md §2): frontends produce a lifecycle IR; steps run in
//! containers; their changes become layers through [`layer`]; layers and images
//! live in the [`store`]; [`export`] sends images out.
//!
//! Not built yet (see the issue tracker): frontends beyond the IR crate,
//! the lifecycle, the solver and step cache, executors and snapshots.

pub mod cli;
pub mod digest;
pub mod error;
pub mod executor;
pub mod export;
pub mod image;
pub mod json;
pub mod import;
pub mod layer;
pub mod ops;
pub mod recipe;
pub mod registry;
pub mod snapshot;
pub mod store;

pub use error::{Error, Result};
