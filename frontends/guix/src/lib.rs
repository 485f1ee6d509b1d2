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
//! | build systems: phase lists, keywords, `modify-phases` | [`phases`] |
//! | origins: mirrors, hashes, the source cache | [`sources`] |
//! | Guix inputs → Debian packages | [`debian`] |
//! | the phase file of the build-side protocol | [`phasefile`] |
//! | the embedded build-side Scheme | [`scheme`] |
//! | vertices and the image | [`lower`] |
//! | host ops: the NAR check of git checkouts | [`hostops`] |
//! | the `Frontend` itself: options, package choice | [`frontend`] |

pub mod base32;
pub mod datum;
pub mod debian;
pub mod eval;
pub mod frontend;
pub mod hostops;
pub mod lower;
pub mod nar;
pub mod phasefile;
pub mod phases;
pub mod reader;
pub mod scheme;
pub mod sources;

pub use frontend::GuixFrontend;
