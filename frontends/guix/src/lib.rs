//! # strata's Guix frontend: package definitions → the build graph
//!
//! `strata build FILE.scm` reads a Guix package definition and lowers it to
//! a [`strata_frontend_api::graph::BuildGraph`]: the origin fetched and
//! verified, the build system's phases after `modify-phases` each a vertex
//! running strata's build-side Scheme (`scheme/`, see its PROTOCOL.md)
//! under Guile, each output its own layer, and an image.
//!
//! | concept | module |
//! |---|---|
//! | Scheme data with line and column | [`datum`] |
//! | the reader: text → data | [`reader`] |
//! | nix-base32, NAR hashes | [`base32`], [`nar`] |
//! | the package-level evaluator: definitions → package records | [`eval`] |

pub mod base32;
pub mod datum;
pub mod eval;
pub mod nar;
pub mod reader;
