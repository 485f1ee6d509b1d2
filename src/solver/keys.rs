//! The cache key of each vertex of a build graph: what is in it, by kind.
//!
//! A key is a [`KeyParts`]: named inputs, so a miss can say which one
//! changed. It reads the vertex's op and the layers its references resolve
//! to, and nothing else: not the vertex's id (two vertices doing the same
//! work share a key and a layer), not its position in the run, not what ran
//! before it (DESIGN.md §6). References inside an op are replaced by
//! `$input` before the op is hashed; the layers they stand for are keyed by
//! diff_id in the op's input order.
//!
//! | kind | in the key (besides `format`, `ir`, `frontend`, `compression`, `epoch`, `op`) | deliberately not |
//! |---|---|---|
//! | exec | `layer:rootfs`; `argv`; `env`; `cwd`; `user`; `network`; `capture`; per mount `mount:<dest>` (its kind, read-only, capture), `mount:<dest>:layers` (a `Layers` mount's or a `Dir` seed's layers), `mount:<dest>:file:<path>` (mode and sha256 of each file given as data); `provide:<path>` (mode and sha256); `secret:<id>` for each secret it asks for | the vertex id; a secret's contents; the project directory's contents (a `Project` mount is keyed by kind: sources a step depends on are fetched by fetch vertices); the network's answers (a step with `network: host` that downloads is as fresh as its key says: `--no-cache-filter` reruns it) |
//! | fetch | `fetch`: the op (source as written, prefix, owner, subdir check); `source:<path>` for each entry of a local source (type, mode, link target, sha256, via the stat cache) or `source:identity` (a git commit, an archive's sha256, a URL's checksum or the URL) as resolve pinned it | mtimes, owners and inode numbers of local files; the part's other keys |
//! | layer | `layer-op`: the op without its references; `layer:in` | — |
//! | host | `host-op`: the op's name, parameters and input paths; `layer:in` | the frontend's code beyond its semantics version |
//! | image | `image`: the image spec without its references; `base` (name and manifest digest, or `scratch`); `layer:in` (every layer on top of the base, then the version's source); `platform`; `vcs:source`, `vcs:revision` when the spec asks for VCS annotations | the build base, and every layer not in the image |
//!
//! [`TABLE`] is the same table as data; `keys_follow_the_table` holds the
//! code to it.

use oci_spec::image::Descriptor;
use serde::Serialize;
use strata_frontend_api::IR_VERSION;
use strata_frontend_api::graph::{ExecOp, FrontendId, MountSource, Op};

use crate::cache::{KeyParts, sha256};
use crate::layer::{Compression, LayerInfo};

/// Every key part name by kind (with `<dest>`/`<path>` for the variable
/// parts and without `[i]`/`.count` suffixes): the table above as data.
pub const TABLE: &[(&str, &[&str])] = &[
    (
        "exec",
        &[
            "argv",
            "capture",
            "cwd",
            "env",
            "layer:rootfs",
            "mount:<dest>",
            "mount:<dest>:file:<path>",
            "mount:<dest>:layers",
            "network",
            "provide:<path>",
            "secret:<id>",
            "user",
        ],
    ),
    ("fetch", &["fetch", "source:<path>", "source:identity"]),
    ("layer", &["layer-op", "layer:in"]),
    ("host", &["host-op", "layer:in"]),
    ("image", &["base", "image", "layer:in", "platform", "vcs:revision", "vcs:source"]),
];

/// The parts every key has.
pub const COMMON: &[&str] = &["compression", "epoch", "format", "frontend", "ir", "op"];

/// What every key of one build shares.
#[derive(Debug, Clone)]
pub struct KeyBase {
    pub frontend: FrontendId,
    pub compression: Compression,
    pub epoch: i64,
}

impl KeyBase {
    fn start(&self, kind: &str) -> KeyParts {
        let mut k = KeyParts::default();
        k.add("format", crate::cache::FORMAT_VERSION);
        k.add("ir", IR_VERSION.to_string());
        k.add("frontend", format!("{} {}", self.frontend.name, self.frontend.semantics));
        k.add("compression", format!("{:?}", self.compression).to_lowercase());
        k.add("epoch", self.epoch.to_string());
        k.add("op", kind);
        k
    }
}

/// The key of a vertex running `op` over `inputs` — the layers of each of
/// `op.inputs()`, in that order. `pins` are what resolve fixed for it (a
/// fetch's source listing or identity).
pub fn vertex_key(base: &KeyBase, op: &Op, inputs: &[Vec<LayerInfo>], pins: &[(String, String)]) -> KeyParts {
    let mut k = base.start(op.kind());
    match op {
        Op::Exec(e) => exec_parts(&mut k, e, inputs),
        Op::Fetch(f) => {
            k.add_json("fetch", &without_refs(f));
            for (name, value) in pins {
                k.add(name.clone(), value.clone());
            }
        }
        Op::Layer(l) => {
            k.add_json("layer-op", &without_refs(l));
            k.add_layers("layer:in", inputs.iter().flatten());
        }
        Op::Host(h) => {
            k.add_json("host-op", &without_refs(h));
            k.add_layers("layer:in", inputs.iter().flatten());
        }
    }
    k
}

/// The exec parts: each setting by name, so a miss names what changed.
fn exec_parts(k: &mut KeyParts, e: &ExecOp, inputs: &[Vec<LayerInfo>]) {
    let mut inputs = inputs.iter();
    let rootfs: Vec<&LayerInfo> = inputs.by_ref().take(e.rootfs.len()).flatten().collect();
    k.add_layers("layer:rootfs", rootfs);
    k.add_json("argv", &e.argv);
    k.add_json("env", &e.env);
    k.add_json("cwd", &e.cwd);
    k.add_json("user", &e.user);
    k.add_json("network", &e.network);
    k.add_json("capture", &e.capture);
    for m in &e.mounts {
        let dest = &m.destination;
        let (kind, refs, files) = match &m.source {
            MountSource::Project => ("project", 0, &[][..]),
            MountSource::Tmpfs => ("tmpfs", 0, &[][..]),
            MountSource::Layers(ls) => ("layers", ls.len(), &[][..]),
            MountSource::Dir { seed, files } => ("dir", seed.len(), files.as_slice()),
        };
        k.add_json(format!("mount:{dest}"), &(kind, m.read_only, &m.capture));
        if refs > 0 {
            let layers: Vec<&LayerInfo> = inputs.by_ref().take(refs).flatten().collect();
            k.add_layers(&format!("mount:{dest}:layers"), layers);
        }
        for f in files {
            k.add(format!("mount:{dest}:file:{}", f.path), format!("{:04o} {}", f.mode, sha256(&f.contents)));
        }
    }
    for p in &e.provide {
        k.add(format!("provide:{}", p.path), format!("{:04o} {}", p.file.mode, sha256(&p.file.contents)));
    }
    // That the step sees the secret, never what it holds.
    for id in &e.secrets {
        k.add(format!("secret:{id}"), "mounted");
    }
}

/// What the image assembly reads: the spec, its base, the layers, the
/// platform and the project's VCS state.
pub fn image_key(
    base: &KeyBase,
    spec: &strata_frontend_api::graph::ImageSpec,
    base_image: Option<&Descriptor>,
    inputs: &[Vec<LayerInfo>],
    vcs: Option<&crate::resolve::GitInfo>,
) -> KeyParts {
    let mut k = base.start("image");
    k.add_json("image", &without_refs(spec));
    match (&spec.base, base_image) {
        (Some(name), Some(d)) => k.add("base", format!("{name} {}", d.digest())),
        (Some(name), None) => k.add("base", name.clone()),
        (None, _) => k.add("base", "scratch"),
    }
    k.add_layers("layer:in", inputs.iter().flatten());
    k.add("platform", crate::image::Platform::host().to_string());
    if spec.vcs
        && let Some(git) = vcs
    {
        k.add("vcs:source", git.source.clone().unwrap_or_default());
        k.add("vcs:revision", git.revision.clone());
    }
    k
}

/// `value` as JSON with every layer reference replaced by `"$input"`: the
/// key reads what a reference resolves to, not which vertex made it.
fn without_refs<T: Serialize>(value: &T) -> serde_json::Value {
    fn strip(v: serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match v {
            Value::Object(map) => {
                let is_ref = map.len() == 1
                    && (map.get("output").is_some_and(|o| o.get("vertex").is_some() && o.get("output").is_some())
                        || map.get("image").is_some_and(|o| o.get("reference").is_some()));
                if is_ref {
                    return Value::String("$input".into());
                }
                Value::Object(map.into_iter().map(|(k, v)| (k, strip(v))).collect())
            }
            Value::Array(items) => Value::Array(items.into_iter().map(strip).collect()),
            other => other,
        }
    }
    strip(serde_json::to_value(value).expect("IR values serialize"))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use strata_frontend_api::Source;
    use strata_frontend_api::graph::*;

    use super::*;

    fn base() -> KeyBase {
        KeyBase { frontend: FrontendId { name: "toy".into(), semantics: 1 }, compression: Compression::Gzip, epoch: 0 }
    }

    fn layer(n: u8) -> LayerInfo {
        let d: oci_spec::image::Digest = format!("sha256:{}", hex::encode([n; 32])).parse().unwrap();
        LayerInfo { digest: d.clone(), diff_id: d, size: 1, compression: Compression::Gzip }
    }

    /// A key part's name as the table writes it.
    fn generic(name: &str) -> String {
        let name = name.split('[').next().unwrap().trim_end_matches(".count");
        let mut parts: Vec<&str> = name.splitn(4, ':').collect();
        match parts.first() {
            Some(&"mount") if parts.len() >= 2 => {
                parts[1] = "<dest>";
                if parts.len() == 4 {
                    parts[3] = "<path>";
                }
            }
            Some(&"provide") | Some(&"source") if parts.len() == 2 && parts[1] != "identity" => parts[1] = "<path>",
            Some(&"secret") if parts.len() == 2 => parts[1] = "<id>",
            _ => {}
        }
        parts.join(":")
    }

    fn names(k: &KeyParts) -> BTreeSet<String> {
        k.0.keys().map(|n| generic(n)).filter(|n| !COMMON.contains(&n.as_str())).collect()
    }

    fn table(kind: &str) -> BTreeSet<String> {
        TABLE.iter().find(|(k, _)| *k == kind).unwrap().1.iter().map(|s| s.to_string()).collect()
    }

    fn full_exec() -> Op {
        Op::Exec(ExecOp {
            rootfs: vec![LayerRef::image("base")],
            mounts: vec![
                Mount { destination: "/p".into(), source: MountSource::Project, read_only: true, capture: None },
                Mount {
                    destination: "/run".into(),
                    source: MountSource::Dir {
                        seed: vec![LayerRef::output("a", "vars")],
                        files: vec![FileData::new("x.sh", 0o755, "echo")],
                    },
                    read_only: false,
                    capture: Some(Capture::all("vars")),
                },
            ],
            argv: vec!["sh".into()],
            env: vec![("A".into(), "1".into())],
            cwd: Some("/".into()),
            user: None,
            network: Network::Host,
            capture: vec![Capture::all("out")],
            provide: vec![Provided { path: "/bin/bash".into(), file: FileData::new("bash", 0o755, "#!/bin/sh") }],
            secrets: vec!["token".into()],
        })
    }

    #[test]
    fn keys_follow_the_table() {
        let exec = vertex_key(&base(), &full_exec(), &[vec![layer(1), layer(2)], vec![layer(3)]], &[]);
        assert_eq!(names(&exec), table("exec"));

        let source = Source {
            kind: strata_frontend_api::SourceKind::Local,
            location: ".".into(),
            checksum: None,
            branch: None,
            tag: None,
            commit: None,
            depth: 0,
            submodules: None,
            subdir: None,
        };
        let fetch = Op::Fetch(FetchOp {
            part: "p".into(),
            source,
            prefix: "src".into(),
            owner: Owner::Root,
            check_subdir: true,
        });
        let pins = [("source:a.c".to_string(), "file".to_string()), ("source:identity".into(), "x".into())];
        assert_eq!(names(&vertex_key(&base(), &fetch, &[], &pins)), table("fetch"));

        let l = Op::Layer(LayerOp::Squash { inputs: vec![LayerRef::output("a", "out")] });
        assert_eq!(names(&vertex_key(&base(), &l, &[vec![layer(1)]], &[])), table("layer"));

        let h = Op::Host(HostOp {
            name: "toy.copy".into(),
            params: serde_json::json!({"a": 1}),
            inputs: vec![HostInput { layers: vec![LayerRef::output("a", "out")], path: "".into() }],
            outputs: vec![HostOutput { name: "out".into(), prefix: "".into() }],
        });
        assert_eq!(names(&vertex_key(&base(), &h, &[vec![layer(1)]], &[])), table("host"));

        let spec = ImageSpec {
            base: Some("debian".into()),
            layers: vec![],
            name: "x".into(),
            config: ImageConfig::default(),
            annotations: Default::default(),
            version: None,
            vcs: true,
        };
        let git = crate::resolve::GitInfo { source: Some("https://x".into()), revision: "abc".into() };
        let desc = oci_spec::image::DescriptorBuilder::default()
            .media_type(oci_spec::image::MediaType::ImageManifest)
            .digest(layer(9).digest)
            .size(1u64)
            .build()
            .unwrap();
        let image = image_key(&base(), &spec, Some(&desc), &[vec![layer(1)]], Some(&git));
        assert_eq!(names(&image), table("image"));
    }

    #[test]
    fn keys_read_what_references_resolve_to_not_which_vertex_made_them() {
        let a = Op::Layer(LayerOp::Squash { inputs: vec![LayerRef::output("one:build", "out")] });
        let b = Op::Layer(LayerOp::Squash { inputs: vec![LayerRef::output("two:build", "out")] });
        let same = vertex_key(&base(), &a, &[vec![layer(1)]], &[]);
        assert_eq!(same, vertex_key(&base(), &b, &[vec![layer(1)]], &[]), "same work, same key");
        assert_ne!(same, vertex_key(&base(), &a, &[vec![layer(2)]], &[]), "another input layer, another key");
    }

    #[test]
    fn the_frontend_and_its_semantics_version_are_in_every_key() {
        let op = full_exec();
        let inputs = [vec![layer(1)], vec![layer(3)]];
        let k1 = vertex_key(&base(), &op, &inputs, &[]);
        let mut newer = base();
        newer.frontend.semantics = 2;
        assert_ne!(k1.key(), vertex_key(&newer, &op, &inputs, &[]).key());
        assert_eq!(k1.0["ir"], IR_VERSION.to_string());
    }

    #[test]
    fn a_changed_script_is_named_in_the_key() {
        let inputs = [vec![layer(1)], vec![layer(3)]];
        let k1 = vertex_key(&base(), &full_exec(), &inputs, &[]);
        let Op::Exec(mut e) = full_exec() else { unreachable!() };
        let MountSource::Dir { files, .. } = &mut e.mounts[1].source else { unreachable!() };
        files[0].contents = b"echo changed".to_vec();
        let k2 = vertex_key(&base(), &Op::Exec(e), &inputs, &[]);
        let differ: Vec<&String> = k1.0.keys().filter(|n| k1.0.get(*n) != k2.0.get(*n)).collect();
        assert_eq!(differ, ["mount:/run:file:x.sh"]);
    }
}
