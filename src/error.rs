//! The crate error: one enum gathering each module's typed error, so `main`
//! can print any failure with its context and callers can still match on it.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    // LAYER-PENDING Layer(#[from] crate::layer::LayerError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Image(#[from] crate::image::ImageError),
    #[error(transparent)]
    Import(#[from] crate::import::ImportError),
    #[error(transparent)]
    Export(#[from] crate::export::ExportError),
    #[error(transparent)]
    Recipe(#[from] crate::recipe::RecipeError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
