//! Attestations end to end (docs/attestations.md): a small busybox-based
//! project whose one part lays down a dpkg database and a Python
//! distribution is built; its SBOMs and provenance are checked by
//! independent validators (spdx-tools, cyclonedx-python-lib,
//! in-toto-attestation, from `.ci/setup`'s venv) and read for what they
//! say; the image rebuilds to the same digest in another store and
//! `strata verify` says so, or names the file that changed; signatures
//! verify with strata and with `@sigstore/verify`, and a changed image, a
//! changed attestation and the wrong key are refused by both. The part
//! also lays down a DEP-5 copyright file, npm packages, and two ELF
//! binaries (the host's busybox with a Go build info section, and with a
//! `cargo auditable` list, added by objcopy) the SBOMs must list.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{Strata, last_digest, repo, require, text};

const SPEC: &str = "name: attest-demo\nversion: \"0.1\"\nsummary: attestations demo\nlicense: MIT\nbase: busybox:latest\nbuild-base: busybox:latest\nparts:\n  app:\n    plugin: dump\n    source: files\n";

pub(crate) fn validators() -> PathBuf {
    std::env::var_os("STRATA_VALIDATORS").map_or_else(|| PathBuf::from("/opt/strata-validators"), PathBuf::from)
}

/// Writes the project into `dir`: the spec, a dpkg status and a dist-info.
fn project(dir: &Path, status_extra: &str) {
    let write = |rel: &str, text: &str| {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write("rockcraft.yaml", SPEC);
    write(
        "files/var/lib/dpkg/status",
        &format!(
            "Package: greet-data\nStatus: install ok installed\nArchitecture: all\nMaintainer: Strata Tests <tests@example.invalid>\nVersion: 1.0-1\nDescription: test data{status_extra}\n"
        ),
    );
    write(
        "files/usr/share/doc/greet-data/copyright",
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: greet\n\nFiles: *\nCopyright: 2026 Strata Tests\nLicense: GPL-2+ or Artistic\n\nFiles: debian/*\nLicense: public-domain\n\nLicense: GPL-2+\n The GNU General Public License, version 2 or later.\n",
    );
    write(
        "files/usr/lib/node_modules/greet-js/package.json",
        r#"{"name":"greet-js","version":"2.0.0","license":"ISC"}"#,
    );
    write(
        "files/usr/lib/node_modules/greet-js/node_modules/@greet/words/package.json",
        r#"{"name":"@greet/words","version":"0.3.1","license":"MIT"}"#,
    );
    let modinfo = "path\texample.com/greet\nmod\texample.com/greet\t(devel)\t\ndep\tgolang.org/x/text\tv0.14.0\th1:ScX5w1eTa3QqT8oi6+ziP7dTV1S2+ALU0bI+0zXKWiQ=\n";
    elf_with_section(dir, "files/usr/bin/greet-go", ".go.buildinfo", &go_buildinfo("go1.19.8", modinfo));
    let deps = r#"{"packages":[{"name":"greet-rs","version":"0.1.0","source":"local","root":true,"dependencies":[1]},{"name":"itoa","version":"1.0.11","source":"crates.io"}]}"#;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut z, deps.as_bytes()).unwrap();
    elf_with_section(dir, "files/usr/bin/greet-rs", ".dep-v0", &z.finish().unwrap());
    write(
        "files/usr/lib/python3/dist-packages/greet-1.2.dist-info/METADATA",
        "Metadata-Version: 2.1\nName: greet\nVersion: 1.2\nLicense: MIT\n\nGreets.\n",
    );
}

/// A Go 1.18+ build info blob: magic, pointer size, flags (2: inline
/// strings), then at 32 the varint-prefixed Go version and module info
/// (between 16-byte sentinels), as the Go linker writes it.
fn go_buildinfo(version: &str, modinfo: &str) -> Vec<u8> {
    let mut b = b"\xff Go buildinf:".to_vec();
    b.extend([8, 2]);
    b.resize(32, 0);
    let info = [&[0x30; 16][..], modinfo.as_bytes(), &[0xf9; 16]].concat();
    for s in [version.as_bytes(), &info] {
        let mut n = s.len();
        while n >= 0x80 {
            b.push((n as u8) | 0x80);
            n >>= 7;
        }
        b.push(n as u8);
        b.extend(s);
    }
    b
}

/// Copies the host's busybox (an ELF) to `dest` with `section` added
/// holding `data`, as a Go or `cargo auditable` binary carries it.
fn elf_with_section(dir: &Path, dest: &str, section: &str, data: &[u8]) {
    let blob = dir.join(format!("{section}.bin"));
    std::fs::write(&blob, data).unwrap();
    let out = dir.join(dest);
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let busybox =
        String::from_utf8(Command::new("sh").args(["-c", "command -v busybox"]).output().unwrap().stdout).unwrap();
    let o = Command::new("objcopy")
        .arg(format!("--add-section={section}={}", blob.display()))
        .arg(format!("--set-section-flags={section}=alloc,readonly"))
        .args([busybox.trim(), out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "objcopy: {}", text(&o));
    std::fs::remove_file(blob).unwrap();
}

/// Runs the validator `kind` (spdx, cyclonedx, intoto) on `file`.
pub(crate) fn validate(kind: &str, file: &Path) -> (bool, String) {
    let out = Command::new(validators().join("bin/python"))
        .arg(repo().join("tests/it/validators/validate.py"))
        .args([kind, file.to_str().unwrap()])
        .output()
        .expect("run the validator");
    (out.status.success(), text(&out))
}

/// Verifies a bundle with `@sigstore/verify` (`check`: --subject or --payload-sha256).
fn sigstore_verify(bundle: &Path, key: &Path, check: &str, digest: &str) -> (bool, String) {
    let out = Command::new("node")
        .env("NODE_PATH", validators().join("node/node_modules"))
        .arg(repo().join("tests/it/validators/sigstore-verify.cjs"))
        .args([bundle.to_str().unwrap(), key.to_str().unwrap(), check, digest.trim_start_matches("sha256:")])
        .output()
        .expect("run node");
    (out.status.success(), text(&out))
}

fn write(s: &Strata, name: &str, text: &str) -> PathBuf {
    let p = s.path(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn sboms_and_provenance_validate_rebuild_bit_for_bit_and_sign() {
    if !require("root and runc", "test \"$(id -u)\" = 0 && runc --version")
        || !require("busybox-static", "busybox --help")
        || !require("objcopy (binutils)", "objcopy --version")
        || !require(
            "the attestation validators (.ci/setup)",
            &format!(
                "test -x {0}/bin/python && test -d {0}/node/node_modules/@sigstore/verify && node --version",
                validators().display()
            ),
        )
    {
        return;
    }
    let s = Strata::new();
    s.busybox();
    let dir = s.path("p");
    project(&dir, "");
    let p = dir.to_str().unwrap();
    let index = last_digest(&s.ok(&["build", p, "-t", "demo:1"]));

    // The attestations: three, each valid, saying what the image holds.
    let ls = s.ok(&["attest", "ls", "demo:1"]);
    for kind in ["spdx", "cyclonedx", "provenance"] {
        assert!(ls.contains(kind), "no {kind} in:\n{ls}");
        let statement =
            write(&s, &format!("{kind}.statement.json"), &s.ok(&["attest", "get", "demo:1", "--type", kind]));
        let (ok, out) = validate("intoto", &statement);
        assert!(ok, "{kind} is not a valid in-toto statement:\n{out}");
    }
    let spdx = write(&s, "spdx.json", &s.ok(&["attest", "get", "demo:1", "--type", "spdx", "--predicate"]));
    let (ok, out) = validate("spdx", &spdx);
    assert!(ok, "spdx-tools refuses the SPDX document:\n{out}");
    let cdx = write(&s, "cdx.json", &s.ok(&["attest", "get", "demo:1", "--type", "cyclonedx", "--predicate"]));
    let (ok, out) = validate("cyclonedx", &cdx);
    assert!(ok, "cyclonedx-python-lib refuses the BOM:\n{out}");

    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&spdx).unwrap()).unwrap();
    let rels = doc["relationships"].to_string();
    assert!(rels.contains(r#""relatedSpdxElement":"SPDXRef-Deb-greet-data-0","relationshipType":"CONTAINS","spdxElementId":"SPDXRef-Group-app""#), "the part does not contain its deb:\n{rels}");
    assert!(rels.contains(r#""relatedSpdxElement":"SPDXRef-PyPI-greet-0","relationshipType":"CONTAINS","spdxElementId":"SPDXRef-Group-app""#), "{rels}");
    assert_eq!(doc["creationInfo"]["created"], "1970-01-01T00:00:00Z", "times come from SOURCE_DATE_EPOCH");
    // The deb's licenses, from its DEP-5 copyright file, as SPDX identifiers.
    let deb = doc["packages"].as_array().unwrap().iter().find(|p| p["name"] == "greet-data").expect("the deb");
    assert_eq!(deb["licenseDeclared"], "(GPL-2.0-or-later OR Artistic-1.0) AND LicenseRef-public-domain", "{deb}");
    assert_eq!(deb["licenseComments"], "from /usr/share/doc/greet-data/copyright (DEP-5)");
    let extracted = &doc["hasExtractedLicensingInfos"];
    assert_eq!(extracted[0]["licenseId"], "LicenseRef-public-domain", "{extracted}");
    assert_eq!(extracted[0]["name"], "public-domain");
    // Language packages: npm's installed, Go's build info, cargo-auditable's list.
    let purls: Vec<&str> = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["externalRefs"][0]["referenceLocator"].as_str())
        .collect();
    for want in [
        "pkg:npm/greet-js@2.0.0",
        "pkg:npm/%40greet/words@0.3.1",
        "pkg:golang/stdlib@1.19.8",
        "pkg:golang/example.com/greet@%28devel%29",
        "pkg:golang/golang.org/x/text@v0.14.0",
        "pkg:cargo/greet-rs@0.1.0",
        "pkg:cargo/itoa@1.0.11",
        "pkg:pypi/greet@1.2",
    ] {
        assert!(purls.contains(&want), "no {want} in {purls:?}");
    }
    let words = doc["packages"].as_array().unwrap().iter().find(|p| p["name"] == "@greet/words").unwrap();
    assert_eq!(words["licenseDeclared"], "MIT");
    assert!(
        rels.contains(&format!(
            r#""relatedSpdxElement":"{}","relationshipType":"CONTAINS","spdxElementId":"SPDXRef-Group-app""#,
            words["SPDXID"].as_str().unwrap()
        )),
        "{rels}"
    );
    let bom: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&cdx).unwrap()).unwrap();
    let app = bom["components"].as_array().unwrap().iter().find(|c| c["bom-ref"] == "group:app").expect("the part");
    let step = serde_json::json!({ "name": "strata:step", "value": "prime" });
    assert!(app["components"][0]["properties"].as_array().unwrap().contains(&step), "{app}");
    let deb = app["components"].as_array().unwrap().iter().find(|c| c["name"] == "greet-data").expect("the deb");
    assert_eq!(deb["licenses"][0]["expression"], "(GPL-2.0-or-later OR Artistic-1.0) AND LicenseRef-public-domain");
    let prov: serde_json::Value =
        serde_json::from_str(&s.ok(&["attest", "get", "demo:1", "--type", "provenance", "--predicate"])).unwrap();
    let deps = prov["buildDefinition"]["resolvedDependencies"].to_string();
    assert!(
        deps.contains(&s.digest_of("busybox:latest").trim_start_matches("sha256:").to_string()),
        "the base is pinned by digest:\n{deps}"
    );

    // Determinism: another store builds the same index; verify reproduces it.
    let other = Strata::new();
    other.busybox();
    assert_eq!(last_digest(&other.ok(&["build", p, "-t", "demo:1"])), index, "two stores, two indexes");
    assert!(s.ok(&["verify", p, "--image", "demo:1"]).contains("reproduced bit for bit"));

    // The attestation manifest goes along on export.
    let out = s.path("oci");
    s.ok(&["build", p, "--output", &format!("type=oci-dir,dest={}", out.display())]);
    let blob =
        |d: &str| std::fs::read_to_string(out.join("blobs/sha256").join(d.trim_start_matches("sha256:"))).unwrap();
    let exported: serde_json::Value = serde_json::from_str(&blob(&index)).unwrap();
    assert_eq!(exported["manifests"][1]["annotations"]["vnd.docker.reference.type"], "attestation-manifest");

    // Signatures: strata and @sigstore/verify agree.
    let env_pass = [("STRATA_KEY_PASSPHRASE", "correct horse")];
    let keygen = |prefix: &Path| {
        let o =
            s.cmd().args(["key", "generate", "--output", prefix.to_str().unwrap()]).envs(env_pass).output().unwrap();
        assert!(o.status.success(), "{}", text(&o));
    };
    keygen(&s.path("good"));
    keygen(&s.path("evil"));
    let bundles = s.path("bundles");
    let o = s
        .cmd()
        .args([
            "sign",
            "demo:1",
            "--key",
            s.path("good.key").to_str().unwrap(),
            "--bundle-dir",
            bundles.to_str().unwrap(),
        ])
        .envs(env_pass)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let (good, evil) = (s.path("good.pub"), s.path("evil.pub"));
    s.ok(&["verify-signature", "demo:1", "--key", good.to_str().unwrap()]);
    let wrong = s.fails(&["verify-signature", "demo:1", "--key", evil.to_str().unwrap()]);
    assert!(wrong.contains("does not verify with this key"), "{wrong}");

    let manifest = s.ok(&["attest", "ls", "demo:1"]).lines().next().unwrap().trim_start_matches("image ").to_string();
    let image_bundle = bundles.join("image.sigstore.json");
    let (ok, out) = sigstore_verify(&image_bundle, &good, "--subject", &manifest);
    assert!(ok, "@sigstore/verify refuses the image bundle:\n{out}");
    assert!(!sigstore_verify(&image_bundle, &evil, "--subject", &manifest).0, "the wrong key is accepted");
    assert!(!sigstore_verify(&image_bundle, &good, "--subject", &"0".repeat(64)).0, "another image is accepted");
    let att_digest = ls.lines().find(|l| l.starts_with("spdx")).unwrap().split_whitespace().nth(2).unwrap().to_string();
    let spdx_bundle = bundles.join("spdx.sigstore.json");
    assert!(sigstore_verify(&spdx_bundle, &good, "--payload-sha256", &att_digest).0);
    let mut tampered: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&spdx_bundle).unwrap()).unwrap();
    tampered["dsseEnvelope"]["payload"] = serde_json::json!("e30=");
    let tampered_path = write(&s, "tampered.sigstore.json", &tampered.to_string());
    assert!(
        !sigstore_verify(&tampered_path, &good, "--payload-sha256", &att_digest).0,
        "a changed attestation is accepted"
    );

    // An Ed25519 key (no passphrase), in the other store: strata and
    // @sigstore/verify both verify its bundles.
    let ed = other.path("ed");
    other.ok(&["key", "generate", "--output", ed.to_str().unwrap(), "--algorithm", "ed25519"]);
    let ed_pub = other.path("ed.pub");
    assert!(std::fs::read_to_string(&ed_pub).unwrap().starts_with("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA"));
    let ed_bundles = other.path("ed-bundles");
    other.ok(&[
        "sign",
        "demo:1",
        "--key",
        other.path("ed.key").to_str().unwrap(),
        "--bundle-dir",
        ed_bundles.to_str().unwrap(),
    ]);
    other.ok(&["verify-signature", "demo:1", "--key", ed_pub.to_str().unwrap()]);
    let refused = other.fails(&["verify-signature", "demo:1", "--key", good.to_str().unwrap()]);
    assert!(refused.contains("does not verify with this key"), "{refused}");
    let (ok, out) = sigstore_verify(&ed_bundles.join("image.sigstore.json"), &ed_pub, "--subject", &manifest);
    assert!(ok, "@sigstore/verify refuses the Ed25519 image bundle:\n{out}");
    assert!(sigstore_verify(&ed_bundles.join("spdx.sigstore.json"), &ed_pub, "--payload-sha256", &att_digest).0);
    assert!(!sigstore_verify(&ed_bundles.join("image.sigstore.json"), &good, "--subject", &manifest).0);

    // A changed attestation (same image, provenance with run details).
    s.ok(&["build", p, "-t", "demo:1", "--provenance=full"]);
    let changed = s.fails(&["verify-signature", "demo:1", "--key", good.to_str().unwrap()]);
    assert!(changed.contains("the provenance attestation") && changed.contains("changed after signing"), "{changed}");
    // A changed image: the rebuild is not signed, and verify names the file.
    project(&dir, "\n more");
    s.ok(&["build", p, "-t", "demo:2"]);
    let unsigned = s.fails(&["verify-signature", "demo:2", "--key", good.to_str().unwrap()]);
    assert!(unsigned.contains("is not signed"), "{unsigned}");
    let differs = s.fails(&["verify", p, "--image", "demo:1", "--use-cache"]);
    assert!(differs.contains("var/lib/dpkg/status: contents"), "{differs}");
}

/// A spec in a subdirectory of a git work tree: one dumped file.
const VERIFY_SPEC: &str = "name: verify-demo\nversion: \"0.1\"\nsummary: verify from provenance\nlicense: MIT\nbase: busybox:latest\nbuild-base: busybox:latest\nparts:\n  app:\n    plugin: dump\n    source: files\n";

#[test]
fn verify_image_rebuilds_from_its_provenance_in_a_fresh_store() {
    if !require("root and runc", "test \"$(id -u)\" = 0 && runc --version")
        || !require("busybox-static", "busybox --help")
        || !require("git", "git --version")
    {
        return;
    }
    let s = Strata::new();
    s.busybox();
    let repo_dir = s.path("repo");
    let proj = repo_dir.join("proj");
    let write = |rel: &str, text: &str| {
        let p = proj.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    let git = |args: &str| {
        let o = Command::new("sh")
            .arg("-c")
            .arg(format!("git -c user.email=t@example.invalid -c user.name=t {args}"))
            .current_dir(&repo_dir)
            .output()
            .unwrap();
        assert!(o.status.success(), "git {args}: {}", text(&o));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    write("rockcraft.yaml", VERIFY_SPEC);
    write("files/etc/greeting", "hello\n");
    git("init -q");
    git("add -A");
    git("commit -q -m one");
    git(&format!("remote add origin {}", repo_dir.display()));
    let commit = git("rev-parse HEAD");
    let p = proj.to_str().unwrap();
    let index = last_digest(&s.ok(&["build", p, "-t", "v:1"]));

    // The provenance says where the project is, and stays valid in-toto.
    let statement = s.ok(&["attest", "get", "v:1", "--type", "provenance"]);
    let st: serde_json::Value = serde_json::from_str(&statement).unwrap();
    let src = &st["predicate"]["buildDefinition"]["externalParameters"]["source"];
    assert_eq!(src["uri"], repo_dir.to_str().unwrap(), "{src}");
    assert_eq!(src["digest"]["gitCommit"], commit.as_str());
    assert_eq!(src["path"], "proj/rockcraft.yaml");
    assert_eq!(src["dirty"], false);
    assert_eq!(src["remote"], "origin");
    if validators().join("bin/python").exists() {
        let (ok, out) = validate("intoto", &write_file(&s, "prov.json", &statement));
        assert!(ok, "the provenance is not a valid in-toto statement:\n{out}");
    }

    // `strata verify IMAGE`: a clone of the commit, rebuilt in a fresh store.
    let t = std::time::Instant::now();
    let out = s.ok(&["verify", "v:1"]);
    assert_eq!(out.trim(), format!("v:1: reproduced bit for bit ({index})"), "{out}");
    eprintln!("strata verify v:1 took {:?}", t.elapsed());
    // --project: a copy outside git is another image (its manifest has no
    // revision annotation), and the report says so.
    let copy = s.path("copy");
    assert!(Command::new("cp").arg("-r").arg(&proj).arg(&copy).status().unwrap().success());
    let differs = s.fails(&["verify", "v:1", "--project", copy.to_str().unwrap()]);
    assert!(
        differs.contains(&format!("annotations.org.opencontainers.image.revision: \"{commit}\" ≠ (absent)")),
        "{differs}"
    );

    // A work tree without an origin is cloned by its path; the rebuild
    // records that path too, and has no origin either (the annotations).
    git("remote remove origin");
    s.ok(&["build", p, "-t", "v:0"]);
    assert!(s.ok(&["verify", "v:0"]).contains("v:0: reproduced bit for bit"));
    git(&format!("remote add origin {}", repo_dir.display()));
    // The old form still works.
    assert!(s.ok(&["verify", p, "--image", "v:1"]).contains("reproduced bit for bit"));

    // A build from a dirty tree cannot be rebuilt from its commit: said so;
    // the work tree itself, given with --project, reproduces it.
    write("files/etc/greeting", "hello, world\n");
    s.ok(&["build", p, "-t", "v:2"]);
    let dirty = s.fails(&["verify", "v:2"]);
    assert!(dirty.contains("was built from a dirty work tree") && dirty.contains(&commit), "{dirty}");
    assert!(s.ok(&["verify", "v:2", "--project", p]).contains("v:2: reproduced bit for bit"));
    // ... and a changed one gives another image, the file named.
    write("files/etc/greeting", "hello again\n");
    let differs = s.fails(&["verify", "v:2", "--project", p]);
    assert!(differs.contains("etc/greeting: contents"), "{differs}");

    // A commit whose spec changed behind the provenance: the digests named.
    write("rockcraft.yaml", &VERIFY_SPEC.replace("summary: verify from provenance", "summary: changed"));
    git("commit -q -a -m two");
    let changed = s.fails(&["verify", "v:1", "--project", p]);
    assert!(changed.contains("but v:1's provenance records sha256"), "{changed}");
    assert!(changed.contains("proj/rockcraft.yaml has sha256"), "{changed}");

    // A clean tree whose checkout gives another spec (git's `ident`
    // expands `$Id$` on checkout): the clone's spec is refused by digest.
    write(".gitattributes", "rockcraft.yaml ident\n");
    write("rockcraft.yaml", &format!("# $Id$\n{VERIFY_SPEC}"));
    git("add -A");
    git("commit -q -m three");
    s.ok(&["build", p, "-t", "v:3"]);
    let st: serde_json::Value =
        serde_json::from_str(&s.ok(&["attest", "get", "v:3", "--type", "provenance", "--predicate"])).unwrap();
    assert_eq!(st["buildDefinition"]["externalParameters"]["source"]["dirty"], false);
    let ident = s.fails(&["verify", "v:3"]);
    assert!(ident.contains("it is not the spec the image was built from"), "{ident}");
}

fn write_file(s: &Strata, name: &str, text: &str) -> PathBuf {
    write(s, name, text)
}
