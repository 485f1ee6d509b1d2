//! Registry credentials, found where users already keep them.
//!
//! Lookup order (the first file that yields credentials wins; missing files
//! are skipped, a file that is not valid JSON is an error naming it):
//!
//! 1. explicit credentials ([`AuthConfig::explicit`], e.g. `--creds`);
//! 2. `$REGISTRY_AUTH_FILE`, else `$XDG_RUNTIME_DIR/containers/auth.json`
//!    (podman, buildah and skopeo's primary file);
//! 3. `$XDG_CONFIG_HOME/containers/auth.json` (`~/.config/containers/…`);
//! 4. `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
//!
//! All of them have Docker's format, and within one file strata looks at
//! `credHelpers[host]` (runs `docker-credential-<name> get`), then
//! `credsStore` (the same, for every registry), then `auths`. `auths` keys
//! may be a host (`ghcr.io`, `127.0.0.1:5000`), a legacy URL
//! (`https://index.docker.io/v1/`), or — containers' extension — a host
//! with a namespace (`quay.io/org`), most specific first. A helper that
//! answers "credentials not found" makes strata fall through to `auths`.
//!
//! Entries give `auth` (base64 `user:password`), or `username`/`password`,
//! or `identitytoken` (sent as the password of user `<token>`; oci-client
//! has no OAuth refresh-token exchange, so registries that only accept
//! identity tokens through that exchange — ACR's — will refuse it), or
//! `registrytoken` (sent as a bearer token).
//!
//! `strata login` writes `auths` entries the way podman does, into
//! [`AuthConfig::login_file`]: `$REGISTRY_AUTH_FILE`, else
//! `$XDG_RUNTIME_DIR/containers/auth.json`, else (root without a runtime
//! dir) `/run/containers/0/auth.json`, else `~/.config/containers/auth.json`.
//! We chose podman's file over Docker's `config.json` because Docker users
//! usually have a `credsStore` there that strata should not bypass by
//! writing plaintext beside it, while podman, buildah and skopeo read the
//! file strata writes — and strata reads Docker's file anyway.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use oci_client::secrets::RegistryAuth;
use serde::Deserialize;

use super::RegistryError;

/// Credentials for one registry. `Debug` redacts the secret and there is no
/// `Display`, so they cannot end up in a message by accident.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    Basic {
        username: String,
        password: String,
    },
    /// A registry token sent as `Authorization: Bearer`.
    Bearer {
        token: String,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Basic { username, .. } => write!(f, "Basic({username:?}, <redacted>)"),
            Credentials::Bearer { .. } => write!(f, "Bearer(<redacted>)"),
        }
    }
}

impl Credentials {
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Self {
        Credentials::Basic { username: username.into(), password: password.into() }
    }

    pub fn username(&self) -> Option<&str> {
        match self {
            Credentials::Basic { username, .. } => Some(username),
            Credentials::Bearer { .. } => None,
        }
    }

    /// Strings that must never appear in output: the secret, and the
    /// base64 forms a registry might echo back.
    pub(crate) fn secrets(&self) -> Vec<String> {
        match self {
            Credentials::Basic { username, password } => vec![
                password.clone(),
                b64(&format!("{username}:{password}")),
                b64(&format!("{username}:{password}")).trim_end_matches('=').to_owned(),
            ],
            Credentials::Bearer { token } => vec![token.clone()],
        }
    }

    pub(crate) fn to_oci(&self) -> RegistryAuth {
        match self {
            Credentials::Basic { username, password } => RegistryAuth::Basic(username.clone(), password.clone()),
            Credentials::Bearer { token } => RegistryAuth::Bearer(token.clone()),
        }
    }
}

/// Credentials and where they came from (for messages: "user 'ci' from
/// /run/user/1000/containers/auth.json").
#[derive(Debug, Clone)]
pub struct FoundCredentials {
    pub credentials: Credentials,
    pub source: String,
}

/// Where credentials are looked up and where `login` writes.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Used for every registry when set.
    pub explicit: Option<Credentials>,
    /// Auth files in lookup order.
    pub files: Vec<PathBuf>,
    /// Where `docker-credential-*` helpers are searched; `None` is `$PATH`.
    pub helper_dirs: Option<Vec<PathBuf>>,
    /// The file `login` and `logout` edit.
    pub login_file: PathBuf,
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from)
}

fn home() -> PathBuf {
    env_path("HOME").unwrap_or_else(|| PathBuf::from("/root"))
}

impl AuthConfig {
    /// The lookup chain described in the module docs, from the environment.
    pub fn from_env() -> Self {
        let runtime = env_path("XDG_RUNTIME_DIR").map(|d| d.join("containers/auth.json"));
        let config_home = env_path("XDG_CONFIG_HOME").unwrap_or_else(|| home().join(".config"));
        let user_file = config_home.join("containers/auth.json");
        let primary = env_path("REGISTRY_AUTH_FILE").or_else(|| runtime.clone());
        let docker = env_path("DOCKER_CONFIG").unwrap_or_else(|| home().join(".docker")).join("config.json");
        let login_file = primary.clone().unwrap_or_else(|| {
            // SAFETY: geteuid has no preconditions.
            if unsafe { libc::geteuid() } == 0 {
                PathBuf::from("/run/containers/0/auth.json")
            } else {
                user_file.clone()
            }
        });
        let mut files: Vec<PathBuf> = Vec::new();
        for f in [Some(login_file.clone()), primary, Some(user_file), Some(docker)].into_iter().flatten() {
            if !files.contains(&f) {
                files.push(f);
            }
        }
        AuthConfig { explicit: None, files, helper_dirs: None, login_file }
    }

    /// Only these files (and helpers in `helper_dirs`), for tests and for
    /// `--authfile`.
    pub fn with_files(files: Vec<PathBuf>) -> Self {
        let login_file = files.first().cloned().unwrap_or_else(|| PathBuf::from("auth.json"));
        AuthConfig { explicit: None, files, helper_dirs: None, login_file }
    }

    /// The credentials for `repository` on `registry` (both as in a
    /// [`super::Reference`]: `docker.io`, `library/debian`), if any.
    pub fn lookup(&self, registry: &str, repository: &str) -> Result<Option<FoundCredentials>, RegistryError> {
        if let Some(c) = &self.explicit {
            return Ok(Some(FoundCredentials { credentials: c.clone(), source: "the command line".into() }));
        }
        for path in &self.files {
            let Some(file) = AuthFile::read(path)? else { continue };
            if let Some(found) = file.lookup(path, registry, repository, self.helper_dirs.as_deref())? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }
}

#[derive(Debug, Default, Deserialize)]
struct AuthFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
    registrytoken: Option<String>,
}

/// Docker Hub's many spellings, folded into the one references use.
fn canonical_host(host: &str) -> &str {
    match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => "docker.io",
        h => h,
    }
}

/// A key of `auths` or `credHelpers` in the form references use:
/// `https://index.docker.io/v1/` → `docker.io`, `http://h:5000/v2/` →
/// `h:5000`, `quay.io/org` → `quay.io/org`.
fn normalize_key(key: &str) -> String {
    if let Some((_, rest)) = key.split_once("://") {
        let host = rest.split('/').next().unwrap_or(rest);
        return canonical_host(host).to_owned();
    }
    let (host, path) = key.split_once('/').unwrap_or((key, ""));
    let host = canonical_host(host);
    if path.is_empty() { host.to_owned() } else { format!("{host}/{}", path.trim_end_matches('/')) }
}

/// The server name handed to credential helpers, as Docker does.
fn helper_server(registry: &str) -> String {
    if registry == "docker.io" { "https://index.docker.io/v1/".to_owned() } else { registry.to_owned() }
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

impl AuthFile {
    fn read(path: &Path) -> Result<Option<AuthFile>, RegistryError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => return Ok(None),
            Err(e) => return Err(RegistryError::AuthFile { path: path.to_owned(), message: e.to_string() }),
        };
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(Some(AuthFile::default()));
        }
        // serde_json's messages give line and column, never the content.
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| RegistryError::AuthFile { path: path.to_owned(), message: format!("not valid JSON: {e}") })
    }

    fn lookup(
        &self,
        path: &Path,
        registry: &str,
        repository: &str,
        helper_dirs: Option<&[PathBuf]>,
    ) -> Result<Option<FoundCredentials>, RegistryError> {
        let registry = canonical_host(registry);
        let helper = self
            .cred_helpers
            .iter()
            .find(|(k, _)| normalize_key(k) == registry)
            .map(|(_, v)| v)
            .or(self.creds_store.as_ref())
            .filter(|h| !h.is_empty());
        if let Some(helper) = helper
            && let Some(credentials) = run_helper(helper, registry, helper_dirs)?
        {
            return Ok(Some(FoundCredentials { credentials, source: format!("docker-credential-{helper}") }));
        }
        // Most specific key first: host/ns/name, host/ns, host.
        let mut scopes = vec![format!("{registry}/{repository}")];
        let mut r = repository;
        while let Some((parent, _)) = r.rsplit_once('/') {
            scopes.push(format!("{registry}/{parent}"));
            r = parent;
        }
        scopes.push(registry.to_owned());
        let entries: Vec<(String, &AuthEntry)> = self.auths.iter().map(|(k, v)| (normalize_key(k), v)).collect();
        for scope in &scopes {
            for (key, entry) in entries.iter().filter(|(k, _)| k == scope) {
                if let Some(credentials) = entry.credentials(path, key)? {
                    return Ok(Some(FoundCredentials { credentials, source: path.display().to_string() }));
                }
            }
        }
        Ok(None)
    }
}

impl AuthEntry {
    fn credentials(&self, path: &Path, key: &str) -> Result<Option<Credentials>, RegistryError> {
        if let Some(token) = self.registrytoken.as_ref().filter(|t| !t.is_empty()) {
            return Ok(Some(Credentials::Bearer { token: token.clone() }));
        }
        let (mut username, mut password) = (self.username.clone(), self.password.clone());
        if let Some(auth) = self.auth.as_ref().filter(|a| !a.is_empty()) {
            let bad = |why: &str| RegistryError::AuthFile {
                path: path.to_owned(),
                message: format!("the 'auth' of '{key}' is not {why}"),
            };
            let decoded =
                base64::engine::general_purpose::STANDARD.decode(auth.trim()).map_err(|_| bad("valid base64"))?;
            let decoded = String::from_utf8(decoded).map_err(|_| bad("UTF-8"))?;
            let (u, p) = decoded.split_once(':').ok_or_else(|| bad("base64 of user:password"))?;
            username = Some(u.to_owned());
            password = Some(p.to_owned());
        }
        if let Some(token) = self.identitytoken.as_ref().filter(|t| !t.is_empty()) {
            let username = username.filter(|u| !u.is_empty()).unwrap_or_else(|| "<token>".to_owned());
            return Ok(Some(Credentials::Basic { username, password: token.clone() }));
        }
        match (username, password) {
            (Some(u), Some(p)) if !u.is_empty() || !p.is_empty() => {
                Ok(Some(Credentials::Basic { username: u, password: p }))
            }
            _ => Ok(None),
        }
    }
}

fn find_helper(name: &str, dirs: Option<&[PathBuf]>) -> Option<PathBuf> {
    let exe = format!("docker-credential-{name}");
    let dirs: Vec<PathBuf> = match dirs {
        Some(d) => d.to_vec(),
        None => std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).collect(),
    };
    dirs.into_iter().map(|d| d.join(&exe)).find(|p| p.is_file())
}

#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// `docker-credential-<helper> get`, with the server name on stdin.
fn run_helper(helper: &str, registry: &str, dirs: Option<&[PathBuf]>) -> Result<Option<Credentials>, RegistryError> {
    let err = |message: String| RegistryError::CredentialHelper {
        helper: helper.to_owned(),
        registry: registry.to_owned(),
        message,
    };
    let exe = find_helper(helper, dirs)
        .ok_or_else(|| err(format!("docker-credential-{helper} is not on PATH (it is named in a credentials file)")))?;
    let mut child = Command::new(&exe)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| err(format!("cannot run {}: {e}", exe.display())))?;
    let server = helper_server(registry);
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading gives EPIPE; its exit status says more.
        let _ = stdin.write_all(server.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| err(e.to_string()))?;
    if !out.status.success() {
        let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
        if text.to_ascii_lowercase().contains("credentials not found") {
            return Ok(None);
        }
        // Error output of a failed helper holds no secret; keep it short anyway.
        let text: String = text.trim().chars().take(200).collect();
        return Err(err(format!("{} ({text})", out.status)));
    }
    let answer: HelperAnswer =
        serde_json::from_slice(&out.stdout).map_err(|e| err(format!("its answer is not the expected JSON: {e}")))?;
    if answer.username.is_empty() && answer.secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(Credentials::Basic { username: answer.username, password: answer.secret }))
}

/// Adds or replaces the `auths` entry of `registry` in `file`, keeping
/// everything else in it; creates the file (0600, directory 0700).
pub(crate) fn write_login(file: &Path, registry: &str, credentials: &Credentials) -> Result<(), RegistryError> {
    let entry = match credentials {
        Credentials::Basic { username, password } => {
            serde_json::json!({ "auth": b64(&format!("{username}:{password}")) })
        }
        Credentials::Bearer { token } => serde_json::json!({ "registrytoken": token }),
    };
    edit_auth_file(file, |auths| {
        auths.insert(registry.to_owned(), entry);
    })
}

/// Removes the `auths` entries of `registry` (any spelling) from `file`.
/// Returns whether there was one.
pub(crate) fn remove_login(file: &Path, registry: &str) -> Result<bool, RegistryError> {
    let mut removed = false;
    let canonical = normalize_key(registry);
    edit_auth_file(file, |auths| {
        let before = auths.len();
        auths.retain(|k, _| normalize_key(k) != canonical);
        removed = auths.len() != before;
    })?;
    Ok(removed)
}

fn edit_auth_file(
    file: &Path,
    edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
) -> Result<(), RegistryError> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let err = |message: String| RegistryError::AuthFile { path: file.to_owned(), message };
    let mut doc: serde_json::Value = match std::fs::read(file) {
        Ok(b) if b.iter().all(|c| c.is_ascii_whitespace()) => serde_json::json!({}),
        Ok(b) => serde_json::from_slice(&b).map_err(|e| err(format!("not valid JSON: {e}")))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::json!({}),
        Err(e) => return Err(err(e.to_string())),
    };
    let obj = doc.as_object_mut().ok_or_else(|| err("is not a JSON object".into()))?;
    let auths = obj.entry("auths").or_insert_with(|| serde_json::json!({}));
    let auths = auths.as_object_mut().ok_or_else(|| err("'auths' is not a JSON object".into()))?;
    edit(auths);
    let dir = file.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| err(e.to_string()))?;
    let mut bytes = serde_json::to_vec_pretty(&doc).map_err(|e| err(e.to_string()))?;
    bytes.push(b'\n');
    // Write beside the file and rename, so a crash never leaves half a file.
    let tmp = dir.join(format!(".{}.strata-tmp", file.file_name().and_then(|n| n.to_str()).unwrap_or("auth.json")));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, file)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        err(e.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn basic(found: Option<FoundCredentials>) -> (String, String, String) {
        match found.expect("credentials").credentials {
            Credentials::Basic { username, password } => (username, password, String::new()),
            Credentials::Bearer { token } => (String::new(), String::new(), token),
        }
    }

    /// A fake `docker-credential-test` that knows one registry.
    fn fake_helper(dir: &Path) {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join("docker-credential-test");
        std::fs::write(
            &p,
            "#!/bin/sh\n[ \"$1\" = get ] || exit 2\nread -r server || true\ncase \"$server\" in\n\
             helped.example.com) echo '{\"ServerURL\":\"helped.example.com\",\"Username\":\"helper-user\",\"Secret\":\"helper-secret\"}';;\n\
             https://index.docker.io/v1/) echo '{\"Username\":\"hub-user\",\"Secret\":\"hub-secret\"}';;\n\
             broken.example.com) echo 'keychain locked' >&2; exit 3;;\n\
             *) echo 'credentials not found in native keychain'; exit 1;;\nesac\n",
        )
        .unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn auths_in_all_their_spellings() {
        let dir = tempfile::tempdir().unwrap();
        let f = write(
            dir.path(),
            "config.json",
            &serde_json::json!({ "auths": {
                "https://index.docker.io/v1/": { "auth": b64("hubuser:hubpass") },
                "http://127.0.0.1:5000/v2/": { "auth": b64("local:pw:with:colons") },
                "quay.io": { "auth": b64("quay-any:x1") },
                "quay.io/org": { "auth": b64("quay-org:x2") },
                "ghcr.io": { "username": "u", "password": "p" },
                "tok.example.com": { "registrytoken": "bearer-tok" },
                "id.example.com": { "identitytoken": "refresh-tok" },
                "empty.example.com": {},
            }})
            .to_string(),
        );
        let cfg = AuthConfig::with_files(vec![dir.path().join("missing.json"), f]);
        let l = |r: &str, repo: &str| cfg.lookup(r, repo).unwrap();
        assert_eq!(basic(l("docker.io", "library/debian")).0, "hubuser");
        assert_eq!(basic(l("127.0.0.1:5000", "app")).1, "pw:with:colons");
        assert_eq!(basic(l("quay.io", "org/app")).0, "quay-org");
        assert_eq!(basic(l("quay.io", "other/app")).0, "quay-any");
        assert_eq!(basic(l("ghcr.io", "a/b")).1, "p");
        assert_eq!(basic(l("tok.example.com", "a")).2, "bearer-tok");
        assert_eq!(basic(l("id.example.com", "a")).0, "<token>");
        assert!(l("empty.example.com", "a").is_none());
        assert!(l("nowhere.example.com", "a").is_none());
        assert!(l("127.0.0.1:5001", "app").is_none(), "the port is part of the key");
    }

    #[test]
    fn cred_helpers_and_creds_store() {
        let dir = tempfile::tempdir().unwrap();
        fake_helper(dir.path());
        let f = write(
            dir.path(),
            "config.json",
            &serde_json::json!({
                "credHelpers": { "helped.example.com": "test", "broken.example.com": "test", "gone.example.com": "absent" },
                "credsStore": "test",
                "auths": { "fallback.example.com": { "auth": b64("file-user:file-pass") } },
            })
            .to_string(),
        );
        let mut cfg = AuthConfig::with_files(vec![f]);
        cfg.helper_dirs = Some(vec![dir.path().to_owned()]);
        let found = cfg.lookup("helped.example.com", "x").unwrap().unwrap();
        assert_eq!(found.source, "docker-credential-test");
        assert_eq!(found.credentials, Credentials::basic("helper-user", "helper-secret"));
        // credsStore answers for Docker Hub with Docker's server URL.
        assert_eq!(basic(cfg.lookup("docker.io", "library/x").unwrap()).0, "hub-user");
        // Not found in the store: the file's auths still count.
        assert_eq!(basic(cfg.lookup("fallback.example.com", "x").unwrap()).0, "file-user");
        let e = cfg.lookup("broken.example.com", "x").unwrap_err().to_string();
        assert!(e.contains("docker-credential-test") && e.contains("keychain locked"), "{e}");
        let e = cfg.lookup("gone.example.com", "x").unwrap_err().to_string();
        assert!(e.contains("docker-credential-absent is not on PATH"), "{e}");
    }

    #[test]
    fn the_first_file_with_credentials_wins_and_bad_json_names_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let a = write(dir.path(), "a.json", r#"{"auths":{"other.example.com":{"auth":"b3RoZXI6eA=="}}}"#);
        let b =
            write(dir.path(), "b.json", &format!(r#"{{"auths":{{"r.example.com":{{"auth":"{}"}}}}}}"#, b64("bee:pw")));
        let cfg = AuthConfig::with_files(vec![a.clone(), b]);
        assert_eq!(basic(cfg.lookup("r.example.com", "x").unwrap()).0, "bee");
        let bad = write(dir.path(), "bad.json", "{ not json");
        let e = AuthConfig::with_files(vec![bad.clone()]).lookup("r.example.com", "x").unwrap_err().to_string();
        assert!(e.contains(&bad.display().to_string()) && e.contains("not valid JSON"), "{e}");
        let bad_b64 = write(dir.path(), "b64.json", r#"{"auths":{"r.example.com":{"auth":"%%%"}}}"#);
        let e = AuthConfig::with_files(vec![bad_b64]).lookup("r.example.com", "x").unwrap_err().to_string();
        assert!(e.contains("not valid base64"), "{e}");
    }

    #[test]
    fn login_writes_podman_style_and_keeps_other_entries() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("sub/containers/auth.json");
        write_login(&f, "127.0.0.1:5000", &Credentials::basic("me", "secret-pw")).unwrap();
        write_login(&f, "ghcr.io", &Credentials::basic("other", "x")).unwrap();
        let cfg = AuthConfig::with_files(vec![f.clone()]);
        assert_eq!(basic(cfg.lookup("127.0.0.1:5000", "a").unwrap()).1, "secret-pw");
        assert_eq!(std::fs::metadata(&f).unwrap().permissions().mode() & 0o777, 0o600);
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
        assert_eq!(v["auths"]["127.0.0.1:5000"]["auth"], b64("me:secret-pw"));
        assert!(remove_login(&f, "http://127.0.0.1:5000").unwrap());
        assert!(cfg.lookup("127.0.0.1:5000", "a").unwrap().is_none());
        assert!(cfg.lookup("ghcr.io", "a").unwrap().is_some());
        assert!(!remove_login(&f, "127.0.0.1:5000").unwrap());
    }

    #[test]
    fn debug_output_has_no_secret() {
        let c = Credentials::basic("alice", "s3cret-value");
        let d = format!("{c:?} {:?}", FoundCredentials { credentials: c.clone(), source: "x".into() });
        assert!(!d.contains("s3cret"), "{d}");
        assert!(c.secrets().contains(&b64("alice:s3cret-value")));
    }
}
