//! The spk frontend: spk package specs (`*.spk.yaml`, `api: v0/package`
//! and `v0/platform`) lowered to strata's build graph. Semantics follow
//! spk 0.44 as `shared/reference/spk.md` reads it from spk's code;
//! `docs/spk-differences.md` lists where strata differs.
//!
//! | module | owns |
//! |---|---|
//! | [`template`] | Tera rendering with `opt`, `env` and spk's filters |
//! | [`yaml`] | YAML with positions; spk's number-to-string quirks |
//! | [`spec`] | the spec as data and its reader (unknown-key warnings) |
//! | [`version`] | versions and ranges |
//! | [`variants`] | options, variants, the build id |
//! | [`load`] | render + parse a file, strict mode |
//! | [`lower`] | the spec (and its dependencies) to a build graph |
//! | [`repo`] | published builds: the record a build leaves, choosing one for a request |

pub mod error;
pub mod filter;
mod frontend;
pub mod hostops;
pub mod load;
pub mod lower;
pub mod repo;
pub mod spec;
pub mod template;
pub mod variants;
pub mod version;
pub mod yaml;

pub use frontend::{NAME, SEMANTICS_VERSION, SpkFrontend};
