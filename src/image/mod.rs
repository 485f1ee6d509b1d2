//! Images: config, manifest, index and history, built with the `oci-spec`
//! types and stored as canonical JSON.
//!
//! - `settings`: [`ImageSettings`], the user-facing config knobs (env,
//!   entrypoint, cmd, ...) and how they merge over a base image's config.
//! - `builder`: [`ImageBuilder`] — base image + new layers + settings →
//!   config and manifest blobs in the store, times from `SOURCE_DATE_EPOCH`.
//! - `load`: [`Image::load`] — a stored manifest (or an index, choosing a
//!   platform) read back and verified.
//! - `platform`: [`Platform`] — `os/arch[/variant]`, the host's by default.
//! - `variants`: [`variant_index`] — one index over a spec's variant images.

mod builder;
mod epoch;
mod error;
mod load;
mod platform;
mod settings;
mod variants;

pub use builder::{ImageBuilder, NewLayer};
pub use epoch::{DEFAULT_SOURCE_DATE_EPOCH, rfc3339, source_date_epoch};
pub use error::ImageError;
pub use load::Image;
pub use platform::Platform;
pub use settings::ImageSettings;
pub use variants::variant_index;
