//! Package repositories: the package builds a graph declares
//! ([`strata_frontend_api::packages`]) stored as OCI indexes, looked up
//! while lowering, listed, and published to registries.
//!
//! | file | owns |
//! |---|---|
//! | `write` | a built [`PackageSpec`] into the store: one single-layer image per member, an index over them, the ref `<frontend>/<name>:<tag>` |
//! | `index` | [`StoreIndex`]: the [`PackageIndex`] lowering asks, over the store's refs and registries' tag lists |
//! | `publish` | `strata FRONTEND ls` and `strata FRONTEND publish NAME/VERSION[/BUILD] --to registry://HOST/REPO` |
//!
//! The layout is strata's (spk stores packages in spfs, which has no OCI
//! form): DESIGN.md §4 and docs/spk-differences.md describe it.
//!
//! [`PackageSpec`]: strata_frontend_api::packages::PackageSpec
//! [`PackageIndex`]: strata_frontend_api::packages::PackageIndex

mod index;
mod publish;
mod write;

pub use index::{StoreIndex, local_builds, registry_builds};
pub use publish::{Listed, PackageError, list, publish};
pub use write::{store_packages, store_ref};
