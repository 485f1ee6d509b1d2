//! Resolve: pinning what a build graph depends on beyond its spec, before
//! anything is keyed (DESIGN.md §2). Lowering is pure; this is where the
//! world is looked at, once per build:
//!
//! | what | pinned to | how |
//! |---|---|---|
//! | every image a graph names (bases of exec ops, the image's base) | its manifest digest and layers | the store, pulling it when missing (or always with `--pull`); `strata plan` only says it would pull |
//! | a fetch vertex's local source | every entry (type, mode, link target, sha256) | the stat cache ([`crate::cache::source_listing`]); read-only when planning |
//! | a fetch vertex's other sources | a git commit (`git ls-remote` for branches and tags), an archive's sha256, a URL's checksum, or the URL | [`source_identity`] |
//! | the project's VCS state (image annotations) | origin and commit | [`vcs::git_info`] |

pub mod vcs;

use std::collections::BTreeMap;
use std::path::Path;

use oci_spec::image::Digest;
use strata_frontend_api::graph::{BuildGraph, LayerRef, Op};
use strata_frontend_api::{Source, SourceKind};

pub use vcs::{Checkout, GitInfo};

use crate::cache::sha256;
use crate::image::{Image, Platform};
use crate::layer::{Compression, LayerInfo};
use crate::progress::{Event, Progress};
use crate::store::Store;

/// How to resolve.
#[derive(Debug, Clone, Default)]
pub struct ResolveOptions {
    /// Pull every image from its registry even when the store has it.
    pub pull: bool,
    pub registry: crate::registry::RegistryOptions,
    /// `strata plan`: look, never write (no pull, no stat cache update).
    pub planning: bool,
}

/// An image a graph names.
#[derive(Debug, Clone)]
pub struct PinnedImage {
    /// `None` when planning and the image would be pulled first.
    pub image: Option<Image>,
}

impl PinnedImage {
    /// Its layers, bottom to top (none when it is not here yet).
    pub fn layers(&self) -> Vec<LayerInfo> {
        self.image.as_ref().map(image_layers).unwrap_or_default()
    }
}

/// What resolve pinned.
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    /// By reference as the graph writes it.
    pub images: BTreeMap<String, PinnedImage>,
    /// Key parts of each fetch vertex, by vertex id.
    pub pins: BTreeMap<String, Vec<(String, String)>>,
    /// The project's git origin and commit, when the image asks for them.
    pub vcs: Option<GitInfo>,
}

impl Resolved {
    /// The layers `r` stands for, if known now (an output's are the
    /// solver's to know: `None`).
    pub fn image_layers(&self, r: &LayerRef) -> Option<Vec<LayerInfo>> {
        match r {
            LayerRef::Image { reference } => {
                self.images.get(reference).and_then(|p| p.image.as_ref()).map(image_layers)
            }
            LayerRef::Output { .. } => None,
        }
    }
}

/// Every image reference `graph` names, in first-seen order.
pub fn image_references(graph: &BuildGraph) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    let mut add = |r: &str| {
        if !seen.iter().any(|s| s == r) {
            seen.push(r.to_string());
        }
    };
    for v in &graph.vertices {
        for r in v.op.inputs() {
            if let LayerRef::Image { reference } = r {
                add(reference);
            }
        }
    }
    if let Some(img) = &graph.image {
        if let Some(b) = &img.base {
            add(b);
        }
        for l in &img.layers {
            if let LayerRef::Image { reference } = &l.layer {
                add(reference);
            }
        }
    }
    seen
}

/// Pins what `graph` depends on (see the module docs).
pub fn resolve(
    store: &Store,
    graph: &BuildGraph,
    project_dir: &Path,
    opts: &ResolveOptions,
    progress: &mut dyn Progress,
) -> crate::Result<Resolved> {
    let mut resolved = Resolved::default();
    for name in image_references(graph) {
        let image = if opts.planning {
            match store.resolve(&name) {
                Ok(desc) => Some(Image::load(store, &desc, &Platform::host())?),
                Err(crate::store::StoreError::RefNotFound { .. }) => {
                    progress.event(&Event::Note { message: format!("would pull {name}: it is not in the store") });
                    None
                }
                Err(e) => return Err(e.into()),
            }
        } else {
            Some(load_image(store, &name, opts, progress)?)
        };
        resolved.images.insert(name, PinnedImage { image });
    }
    for v in &graph.vertices {
        if let Op::Fetch(f) = &v.op {
            resolved.pins.insert(v.id.clone(), source_pins(store, &f.part, &f.source, project_dir, opts.planning)?);
        }
    }
    if graph.image.as_ref().is_some_and(|i| i.vcs) {
        resolved.vcs = vcs::git_info(project_dir);
    }
    Ok(resolved)
}

/// A fetch's key parts: a local dir's every entry, else its identity.
fn source_pins(
    store: &Store,
    part: &str,
    source: &Source,
    project_dir: &Path,
    planning: bool,
) -> crate::Result<Vec<(String, String)>> {
    if source.kind != SourceKind::Local {
        return Ok(vec![("source:identity".into(), source_identity(source, project_dir))]);
    }
    let dir = crate::sources::host_path(&source.location, project_dir);
    if !dir.is_dir() {
        return Err(crate::sources::SourceError::NotADirectory { part: part.into(), path: dir }.into());
    }
    let io = |e| crate::vertex::hostfs::HostFsError { path: dir.clone(), source: e };
    let listing = if planning {
        crate::cache::source_listing_read_only(store, &dir).map_err(io)?
    } else {
        crate::cache::source_listing(store, &dir).map_err(io)?.0
    };
    Ok(listing.into_iter().map(|(p, v)| (format!("source:{p}"), v)).collect())
}

/// What a non-local source is before fetching it: a pinned git commit or
/// the one its branch/tag names now (`git ls-remote`); an archive in the
/// project by its sha256; a URL by its checksum (part of the source itself)
/// or, without one, by the URL alone — a download that changes behind an
/// unchanged URL needs `--no-cache-filter`.
pub fn source_identity(s: &Source, project_dir: &Path) -> String {
    if s.kind == SourceKind::Git {
        if let Some(c) = &s.commit {
            return format!("commit {c}");
        }
        let url = crate::sources::git::url_of(&s.location, project_dir);
        let want = s.tag.as_deref().or(s.branch.as_deref()).unwrap_or("HEAD");
        let out =
            std::process::Command::new("git").env("GIT_TERMINAL_PROMPT", "0").args(["ls-remote", &url, want]).output();
        return match out {
            Ok(o) if o.status.success() => {
                let text = String::from_utf8_lossy(&o.stdout);
                let first = text.split_whitespace().next().unwrap_or("").to_string();
                // An unknown ref fails in the fetch itself, with its message.
                if first.is_empty() { format!("unresolved {want}") } else { format!("commit {first}") }
            }
            _ => format!("unresolved {want} (git ls-remote failed)"),
        };
    }
    if crate::sources::url_scheme(&s.location).is_none() {
        let path = crate::sources::host_path(&s.location, project_dir);
        if let Ok(bytes) = std::fs::read(&path) {
            return sha256(&bytes);
        }
    }
    match &s.checksum {
        Some(c) => format!("checksum {c}"),
        None => format!("url {}", s.location),
    }
}

/// The layers of a stored image, bottom to top.
pub fn image_layers(image: &Image) -> Vec<LayerInfo> {
    image
        .layers()
        .filter_map(|(desc, diff_id)| {
            Some(LayerInfo {
                digest: desc.digest().clone(),
                diff_id: diff_id.parse::<Digest>().ok()?,
                size: desc.size(),
                compression: Compression::from_media_type(desc.media_type())?,
            })
        })
        .collect()
}

/// An image by name: from the store, pulling it from its registry first
/// when the store lacks it (or always, with `--pull`). References take
/// every form users type (`debian:bookworm` is Docker Hub's,
/// `host:5000/ns/img:tag@sha256:...` is pinned); a tag that moved since
/// the last pull is reported.
pub fn load_image(
    store: &Store,
    name: &str,
    opts: &ResolveOptions,
    progress: &mut dyn Progress,
) -> crate::Result<Image> {
    let local = store.resolve(name);
    let missing = matches!(local, Err(crate::store::StoreError::RefNotFound { .. }));
    if missing || opts.pull {
        let pulled = crate::registry::parse_reference(name).and_then(|r| {
            let po = crate::registry::PullOptions {
                registry: opts.registry.clone(),
                local_name: Some(name.to_owned()),
                ..Default::default()
            };
            crate::registry::pull(store, &r, Some(&Platform::host()), &po)
        });
        match pulled {
            Ok(rep) => {
                if let Some(m) = &rep.tag_moved {
                    progress.event(&Event::Note { message: m.to_string() });
                }
                progress.event(&Event::Note { message: format!("pulled {name} {}", rep.descriptor.digest()) });
            }
            Err(e) if missing => {
                return Err(ResolveError::ImageNotFound { name: name.to_owned(), pull_error: e.to_string() }.into());
            }
            Err(e) => return Err(e.into()),
        }
    }
    let desc = store.resolve(name)?;
    Ok(Image::load(store, &desc, &Platform::host())?)
}

/// What resolving can get wrong.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(
        "image '{name}' is not in the store and pulling it failed ({pull_error}); build it with `strata image build images/<recipe>` or check the reference"
    )]
    ImageNotFound { name: String, pull_error: String },
}
