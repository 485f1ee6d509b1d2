//! The crate error: one enum gathering each module's typed error, so `main`
//! can print any failure with its context and callers can still match on it.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Layer(#[from] crate::layer::LayerError),
    #[error(transparent)]
    Attest(#[from] crate::attest::AttestError),
    #[error(transparent)]
    Sign(#[from] crate::sign::SignError),
    #[error(transparent)]
    Verify(#[from] crate::ops::attest::VerifyError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
    #[error(transparent)]
    Image(#[from] crate::image::ImageError),
    #[error(transparent)]
    Import(#[from] crate::import::ImportError),
    #[error(transparent)]
    Export(#[from] crate::export::ExportError),
    #[error(transparent)]
    Exec(#[from] crate::executor::ExecError),
    #[error(transparent)]
    Secret(#[from] crate::worker::secrets::SecretError),
    #[error(transparent)]
    StepFailed(#[from] crate::executor::StepFailed),
    #[error(transparent)]
    Snapshot(#[from] crate::snapshot::SnapshotError),
    #[error(transparent)]
    Build(#[from] crate::build::BuildError),
    #[error(transparent)]
    Package(#[from] crate::packages::PackageError),
    #[error(transparent)]
    Source(#[from] crate::sources::SourceError),
    #[error(transparent)]
    Recipe(#[from] crate::recipe::RecipeError),
    #[error(transparent)]
    HostFs(#[from] crate::vertex::hostfs::HostFsError),
    #[error(transparent)]
    Frontend(#[from] strata_frontend_api::FrontendError),
    #[error(transparent)]
    HostOp(#[from] strata_frontend_api::HostOpError),
    #[error(transparent)]
    Solve(#[from] crate::solver::SolveError),
    #[error(transparent)]
    Resolve(#[from] crate::resolve::ResolveError),
    #[error(transparent)]
    Gc(#[from] crate::gc::GcError),
    #[error(transparent)]
    Pack(#[from] crate::vertex::relocate::PackConflict),
    #[error(transparent)]
    Remote(#[from] crate::remote::RemoteError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
