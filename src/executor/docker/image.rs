//! Step images: the daemon-side image made of exactly a step's input layers.
//!
//! The image is built in the store (`ImageBuilder::scratch` + the layers,
//! epoch 0, the label [`STEP_IMAGE_LABEL`]), so the same layers always give
//! the same config digest — the image ID both Docker and Podman report. The
//! daemon is asked for that ID first; only a miss exports a docker archive
//! and loads it (`export`'s daemon loader, which also checks the ID it
//! reports). Repeated steps over the same inputs therefore load nothing.
//!
//! Loaded images stay in the daemon as a cache, tagged
//! `strata-step:<first 24 hex digits of the config digest>` and labelled
//! [`STEP_IMAGE_LABEL`]; `DockerExecutor::prune` removes them. The config
//! and manifest blobs this writes into the store are referenced by no ref,
//! so `strata store gc` collects them (they are rebuilt, identically, on
//! demand).

use oci_spec::image::{Descriptor, Digest, ImageManifest};

use super::Session;
use crate::executor::ExecError;
use crate::export::{self, DaemonError, ExportError, ExportTarget};
use crate::image::{ImageBuilder, ImageSettings, NewLayer};
use crate::layer::LayerInfo;
use crate::store::Store;

/// Label on every step image; `prune` removes what carries it.
pub const STEP_IMAGE_LABEL: &str = "org.strata.step-image";

/// A step image as the store describes it.
pub(crate) struct StepImage {
    pub manifest: Descriptor,
    /// The config digest: the image ID in the daemon.
    pub id: Digest,
}

impl StepImage {
    /// The tag it is loaded under.
    pub fn tag(&self) -> String {
        format!("strata-step:{}", &self.id.digest()[..24])
    }
}

/// Writes the config and manifest of the image made of `layers` into `store`.
pub(crate) fn describe(
    store: &Store,
    layers: &[LayerInfo],
    backend: &'static str,
    step: &str,
) -> Result<StepImage, ExecError> {
    let settings =
        ImageSettings { labels: [(STEP_IMAGE_LABEL.to_owned(), "1".to_owned())].into(), ..Default::default() };
    let mut b = ImageBuilder::scratch(0).settings(settings);
    for info in layers {
        b = b.layer(NewLayer { info: info.clone(), created_by: "strata: step input".into(), comment: None });
    }
    let manifest = b.build(store).map_err(|e| ExecError::Backend {
        backend,
        step: step.to_owned(),
        message: format!("cannot describe the step's input image: {e}"),
    })?;
    let m: ImageManifest = store.read_json(manifest.digest())?;
    Ok(StepImage { id: m.config().digest().clone(), manifest })
}

/// Makes sure the daemon has `img`: asks for its ID, loads it on a miss.
pub(crate) fn ensure(session: &Session, store: &Store, img: &StepImage, step: &str) -> Result<(), ExecError> {
    let id = img.id.to_string();
    match session.block_on(session.docker.inspect_image(&id)) {
        Ok(_) => return Ok(()),
        Err(e) if super::is_not_found(&e) => {}
        Err(e) => return Err(session.api_error(step, "inspect the step image", &e)),
    }
    let target = ExportTarget::Daemon { kind: session.ep.kind, host: Some(session.ep.address.clone()) };
    export::export(store, &img.manifest, &img.tag(), &target).map_err(|e| match e {
        ExportError::Daemon(d) if matches!(*d, DaemonError::Unreachable { .. }) => {
            ExecError::Unavailable { backend: session.backend, reason: d.to_string() }
        }
        ExportError::Store(s) => ExecError::Store(s),
        e => ExecError::Backend {
            backend: session.backend,
            step: step.to_owned(),
            message: format!("cannot load the step's input layers as {}: {e}", img.tag()),
        },
    })?;
    Ok(())
}
