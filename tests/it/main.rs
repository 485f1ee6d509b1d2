//! strata's integration tests: one test binary, each module a topic.
//!
//! These drive the real `strata` binary against real clients (skopeo, umoci,
//! docker, podman, a registry). A test that needs a component checks for it
//! with [`support::require`]: under `CI=true` a missing component fails the
//! test; on a developer machine it is skipped with a message. `.ci/test`
//! installs and starts everything, so under CI nothing is skipped.

mod support;

/// The BuildGrid farm and `strata worker` bots (shared with the W6R bench).
#[path = "../../benches/common/buildgrid.rs"]
mod buildgrid;
/// The registry fault proxy the library's tests use (one source for both).
#[allow(dead_code)]
#[path = "../../src/registry/faultproxy.rs"]
mod faultproxy;

mod attest;
mod base_images;
mod build;
mod cache;
mod containerd_executor;
mod craft_conformance;
mod crash;
mod docker_executor;
mod examples;
mod executor;
mod guix;
mod guix_corpus;
mod hostile;
mod limits;
mod packages;
mod real_clients;
mod refusals;
mod registry;
mod remote;
mod run_user;
mod secret;
mod signed_push;
mod spk;
mod store_cli;
mod usrmerge;
