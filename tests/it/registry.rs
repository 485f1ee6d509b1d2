//! Publishing through a real registry (Debian's docker-registry, started by
//! `.ci/setup`): plain HTTP on :5000, htpasswd on :5001, TLS on :5002.

use crate::support::*;

const PLAIN: &str = "127.0.0.1:5000";
const AUTH: &str = "127.0.0.1:5001";
const TLS: &str = "127.0.0.1:5002";

fn registry_up(addr: &str) -> bool {
    require(
        &format!("the .ci/setup registry at {addr}"),
        &format!("curl -sk -o /dev/null https://{addr}/v2/ || curl -s -o /dev/null http://{addr}/v2/"),
    )
}

/// A unique repository per test run, so reruns never see old pushes.
fn repo_name(what: &str) -> String {
    let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("strata-it/{what}-{n}")
}

#[test]
fn push_then_docker_pull_and_skopeo_inspect_see_our_digest() {
    if !registry_up(PLAIN) || !require("skopeo", "skopeo --version") || !require_docker() {
        return;
    }
    let s = Strata::new();
    let digest = s.busybox();
    let dest = format!("{PLAIN}/{}", repo_name("push"));
    let out = s.ok(&["push", "busybox", &format!("{dest}:1"), &format!("{dest}:latest")]);
    assert!(out.contains(&format!("{dest}:1@{digest}")), "the pushed digest is the local one: {out}");

    let v: serde_json::Value =
        serde_json::from_str(&sh(&format!("skopeo inspect --tls-verify=false docker://{dest}:latest"))).unwrap();
    assert_eq!(v["Digest"], digest.as_str());
    sh(&format!("docker pull -q {dest}:1"));
    let repo_digests = sh(&format!("docker image inspect --format '{{{{json .RepoDigests}}}}' {dest}:1"));
    assert!(repo_digests.contains(&digest), "docker pulled our manifest: {repo_digests}");
    assert_eq!(sh(&format!("docker run --rm {dest}:1 echo pulled")).trim(), "pulled");

    let again = s.ok(&["push", "busybox", &format!("{dest}:1")]);
    assert!(again.starts_with("0 blob(s) uploaded"), "an unchanged re-push uploads nothing: {again}");

    let fresh = Strata::new();
    let pulled = fresh.ok(&["pull", &format!("{dest}:1"), "--tag", "back:1"]);
    assert_eq!(last_digest(&pulled), digest);
    assert!(fresh.ok(&["store", "fsck"]).contains(": ok"));
}

#[test]
fn an_htpasswd_registry_needs_the_right_credentials() {
    if !registry_up(AUTH) {
        return;
    }
    let state = std::env::var("STRATA_CI_STATE").unwrap_or_else(|_| "/var/tmp/strata-ci".into());
    let password = std::fs::read_to_string(format!("{state}/registry-auth/password")).unwrap();
    let s = Strata::new();
    s.busybox();
    let dest = format!("{AUTH}/{}:1", repo_name("auth"));

    // No credentials at all: refused, naming the registry.
    let authfile = s.path("auth.json");
    let err = s
        .cmd()
        .args(["push", "busybox", &dest, "--authfile"])
        .arg(&authfile)
        .env("REGISTRY_AUTH_FILE", &authfile)
        .env("DOCKER_CONFIG", s.path("no-docker-config"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&err.stderr);
    assert!(!err.status.success() && stderr.contains(AUTH), "{stderr}");

    // Wrong password: login refuses, and never echoes what it was given.
    let mut login = s.cmd();
    login.args(["login", AUTH, "-u", "strata", "--password-stdin", "--authfile"]).arg(&authfile);
    let wrong = run_with_stdin(login, "not-the-password-123");
    assert!(!wrong.status.success());
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(stderr.contains(AUTH) && !stderr.contains("not-the-password-123"), "{stderr}");

    // Right password: login saves it, and push uses it.
    let mut login = s.cmd();
    login.args(["login", AUTH, "-u", "strata", "--password-stdin", "--authfile"]).arg(&authfile);
    let ok = run_with_stdin(login, password.trim());
    assert!(ok.status.success(), "{}", text(&ok));
    s.ok(&["push", "busybox", &dest, "--authfile", authfile.to_str().unwrap()]);
}

#[test]
fn a_tls_registry_with_a_ca_in_certs_d_is_verified() {
    if !registry_up(TLS) || !require("the CA in certs.d", &format!("test -f /etc/containers/certs.d/{TLS}/ca.crt")) {
        return;
    }
    let s = Strata::new();
    let digest = s.busybox();
    let dest = format!("{TLS}/{}:1", repo_name("tls"));
    let out = s.ok(&["push", "busybox", &dest]);
    assert!(out.contains(&digest), "{out}");
    let v: serde_json::Value = serde_json::from_str(&sh(&format!("skopeo inspect docker://{dest}"))).unwrap();
    assert_eq!(v["Digest"], digest.as_str());
}

fn run_with_stdin(mut cmd: std::process::Command, input: &str) -> std::process::Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn artifacts_are_pushed_and_attached_to_an_image() {
    if !registry_up(PLAIN) || !require("skopeo", "skopeo --version") {
        return;
    }
    let s = Strata::new();
    s.busybox();
    let repo = format!("{PLAIN}/{}", repo_name("artifact"));
    let sbom = s.path("sbom.json");
    std::fs::write(&sbom, br#"{"spdxVersion":"SPDX-2.3"}"#).unwrap();

    // A standalone artifact under a tag: skopeo sees its artifactType.
    let file_arg = format!("{}:application/spdx+json", sbom.display());
    s.ok(&["artifact", "push", &format!("{repo}:sbom"), "--type", "application/vnd.example.sbom", &file_arg]);
    let raw: serde_json::Value =
        serde_json::from_str(&sh(&format!("skopeo inspect --raw --tls-verify=false docker://{repo}:sbom"))).unwrap();
    assert_eq!(raw["artifactType"], "application/vnd.example.sbom");
    assert_eq!(raw["layers"][0]["mediaType"], "application/spdx+json");

    // Attached to an image: listed among its referrers, filterable by type.
    s.ok(&["push", "busybox", &format!("{repo}:1")]);
    let out = s.ok(&["artifact", "attach", &format!("{repo}:1"), "--type", "application/vnd.example.sbom", &file_arg]);
    assert!(out.starts_with("attached sha256:"), "{out}");
    let attached = out.split_whitespace().nth(1).unwrap().to_owned();
    let ls = s.ok(&["artifact", "ls", &format!("{repo}:1")]);
    assert!(ls.contains(&attached) && ls.contains("application/vnd.example.sbom"), "{ls}");
    let none = s.ok(&["artifact", "ls", &format!("{repo}:1"), "--type", "application/other"]);
    assert!(none.trim().is_empty(), "{none}");
}

/// #14 item 4: a registry password is used and never written anywhere but
/// the credentials file: not in the store (blobs, layers, cache records,
/// snapshots), not in step logs, not in progress output (json or plain),
/// neither as itself nor as the Basic auth header it becomes.
#[test]
fn a_registry_password_appears_nowhere_but_the_credentials_file() {
    use base64::Engine;
    if !registry_up(AUTH) || !require("root and runc", "test \"$(id -u)\" = 0 && runc --version") {
        return;
    }
    let state = std::env::var("STRATA_CI_STATE").unwrap_or_else(|_| "/var/tmp/strata-ci".into());
    let password = std::fs::read_to_string(format!("{state}/registry-auth/password")).unwrap().trim().to_owned();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("strata:{password}"));
    let s = Strata::new();
    s.busybox();
    let authfile = s.path("auth.json");
    let mut login = s.cmd();
    login.args(["login", AUTH, "-u", "strata", "--password-stdin", "--authfile"]).arg(&authfile);
    let ok = run_with_stdin(login, &password);
    assert!(ok.status.success(), "{}", text(&ok));

    let project = s.path("proj");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("parts.yaml"),
        "parts:\n  p:\n    plugin: nil\n    override-build: |\n      env | sort\n      echo hi > $CRAFT_PART_INSTALL/hi\n",
    )
    .unwrap();
    let repo = repo_name("canary");
    let auth = ["--authfile", authfile.to_str().unwrap()];
    let mut outputs = Vec::new();
    for progress in ["json", "plain"] {
        let mut args = vec!["build", project.to_str().unwrap(), "--base", "bare", "--build-base", "busybox:latest"];
        let tag = format!("{AUTH}/{repo}:{progress}");
        let cache = format!("registry://{AUTH}/{repo}-cache");
        args.extend(["-t", &tag, "--push", "--cache-to", &cache, "--no-cache", "--progress", progress]);
        args.extend(auth);
        let out = s.cmd().args(&args).output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
        outputs.push(text(&out));
    }
    // And a pull from the cache into another store.
    let other = Strata::new();
    other.busybox();
    let args = ["build", project.to_str().unwrap(), "--base", "bare", "--build-base", "busybox:latest"];
    let cache = format!("registry://{AUTH}/{repo}-cache");
    let out = other.cmd().args(args).args(["--cache-from", &cache]).args(auth).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    outputs.push(text(&out));

    let beside_store = authfile.parent().unwrap();
    assert_eq!(
        crate::support::files_holding(beside_store, basic.as_bytes(), std::path::Path::new("")),
        std::slice::from_ref(&authfile),
        "the search finds the one file that holds the credentials, so it would find a leak"
    );
    let mut found = Vec::new();
    for needle in [password.as_bytes(), basic.as_bytes()] {
        for s in [&s, &other] {
            found.extend(crate::support::files_holding(&s.store(), needle, &authfile));
        }
        for (i, o) in outputs.iter().enumerate() {
            if o.as_bytes().windows(needle.len()).any(|w| w == needle) {
                found.push(format!("output of run {i}").into());
            }
        }
    }
    eprintln!("canary: searched both stores and {} outputs; found in {} places", outputs.len(), found.len());
    assert!(found.is_empty(), "the password leaked into: {found:?}");
}

/// `strata push` and `strata pull` through a proxy that breaks requests in
/// front of the .ci/setup registry: the digests are those of a fault-free
/// run, and a registry that keeps failing gets an error naming it, the
/// blob and what happened.
#[test]
fn push_and_pull_survive_registry_faults_and_a_spent_budget_is_named() {
    use crate::faultproxy::{Fault, FaultProxy, When, on};
    if !registry_up(PLAIN) {
        return;
    }
    let s = Strata::new();
    let digest = s.busybox();
    let proxy = FaultProxy::start(
        PLAIN,
        vec![
            on("HEAD", "/v2/*/blobs/*", When::Nth(1), Fault::status(500)),
            on("POST", "/v2/*/blobs/uploads/", When::Nth(2), Fault::retry_after(503, 1)),
            on("PATCH", "/v2/*/blobs/uploads/*", When::Nth(2), Fault::Reset),
            on("PUT", "/v2/*/blobs/uploads/*", When::Nth(1), Fault::LoseAnswer),
            on("PUT", "/v2/*/manifests/*", When::Nth(1), Fault::status(502)),
        ],
    );
    let dest = format!("{}/{}", proxy.addr, repo_name("faults"));
    let out = s.ok(&["push", "busybox", &format!("{dest}:1"), "--chunked"]);
    assert!(out.contains(&format!("{dest}:1@{digest}")), "{out}");
    let mut injected = proxy.injected().len();
    assert_eq!(injected, 5, "{:#?}", proxy.injected());

    let fresh = Strata::new();
    proxy.set_plan(vec![
        on("GET", "/v2/*/manifests/*", When::Nth(1), Fault::Reset),
        on("GET", "/v2/*/blobs/*", When::Nth(1), Fault::Truncate(1000)),
        on("GET", "/v2/*/blobs/*", When::Nth(2), Fault::retry_after(429, 1)),
        on("GET", "/v2/*/blobs/*", When::Nth(3), Fault::Corrupt(10)),
        on("GET", "/v2/*/blobs/*", When::Nth(4), Fault::status(503)),
    ]);
    let pulled = fresh.ok(&["pull", &format!("{dest}:1"), "--tag", "back:1"]);
    assert_eq!(last_digest(&pulled), digest);
    assert!(fresh.ok(&["store", "fsck"]).contains(": ok"));
    injected = proxy.injected().len();
    assert_eq!(injected, 10, "{:#?}", proxy.injected());
    println!("faults survived (strata push and pull): {injected}/{injected}");

    // Every blob request fails: the default budget (5 attempts), then a
    // clear error.
    let third = Strata::new();
    proxy.set_plan(vec![on("GET", "/v2/*/blobs/*", When::Every, Fault::status(503))]);
    let err = third.fails(&["pull", &format!("{dest}:1")]);
    eprintln!("503 on every blob request: {err}");
    for part in [proxy.addr.as_str(), "fetching blob sha256:", "503", "gave up after 5 attempts"] {
        assert!(err.contains(part), "'{part}' missing from: {err}");
    }
    assert!(third.ok(&["store", "fsck"]).contains(": ok"));
}
