//! One entry function per user operation. Each takes parsed arguments and an
//! open store, does the work through the library modules, and writes what
//! the user should see to `out`. No argument parsing here, no process exit.

pub mod attest;
pub mod build;
pub mod image;
pub mod packages;
pub mod registry;
pub mod remote;
pub mod store;
