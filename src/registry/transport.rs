//! How strata talks to a registry: HTTPS with the system roots plus the CA
//! certificates of `certs.d`, plain HTTP only where Docker allows it.
//!
//! - **Scheme.** HTTPS always, except for loopback registries (`localhost`,
//!   127.0.0.0/8, ::1) and those named with `--insecure-registry`
//!   ([`RegistryOptions::insecure_registries`]): for them strata probes
//!   `https://HOST/v2/` first and falls back to `http://` when the server
//!   does not speak TLS — Docker's rule for insecure registries. A loopback
//!   registry that does speak TLS is still verified; only an explicitly
//!   insecure registry also skips certificate verification (as Docker
//!   does). The probe's answer is remembered for the life of the process.
//! - **CA certificates** follow the containers/Docker convention: every
//!   `*.crt` in `<dir>/<host:port>/` of each of
//!   [`RegistryOptions::certs_dirs`] (default `~/.config/containers/certs.d`,
//!   `/etc/containers/certs.d`, `/etc/docker/certs.d`) is trusted for that
//!   registry, on top of the system roots. Client certificates
//!   (`*.cert`/`*.key`) are *not* supported: oci-client has no way to set
//!   a TLS identity. When a handshake fails and such a pair exists, the
//!   error says so.
//!
//! Hand-written here because oci-client only takes a fixed protocol and a
//! list of roots per client; the certs.d lookup, the probe and the
//! per-registry choice are strata's.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};

use super::{AuthConfig, RegistryError, RegistryEvent, reference};

/// Called with every [`RegistryEvent`] of a pull or push.
pub type Progress = Arc<dyn Fn(&RegistryEvent) + Send + Sync>;

/// Retries with exponential backoff: attempt `n` (from 1) waits
/// `initial_delay * 2^(n-1)`, at most `max_delay`, before attempt `n+1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, including the first (1 = no retries).
    pub attempts: u32,
    pub initial_delay: Duration,
    pub max_delay: Duration,
    /// The longest `Retry-After` strata waits out: a registry that asks for
    /// more is retried after this long instead (and the error, if it comes
    /// to that, says what it asked for).
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            initial_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    pub(crate) fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.saturating_sub(1)).unwrap_or(u32::MAX);
        self.initial_delay.saturating_mul(factor).min(self.max_delay)
    }

    /// The wait before attempt `attempt + 1`: what the registry asked for
    /// with `Retry-After` (at most [`RetryPolicy::max_retry_after`]), else
    /// the backoff.
    pub(crate) fn wait(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        match retry_after {
            Some(ra) => ra.min(self.max_retry_after),
            None => self.delay(attempt),
        }
    }
}

/// Everything about reaching registries that is not specific to pull or push.
#[derive(Clone)]
pub struct RegistryOptions {
    pub auth: AuthConfig,
    /// `host[:port]` (or `host`, for every port) of registries that may be
    /// reached over plain HTTP or with unverified certificates.
    pub insecure_registries: Vec<String>,
    /// `certs.d`-style directories, searched in order; every match counts.
    pub certs_dirs: Vec<PathBuf>,
    pub retry: RetryPolicy,
    /// Blobs transferred at once.
    pub max_concurrent: usize,
    pub connect_timeout: Duration,
    /// Longest wait for an answer, or between two reads of a download.
    /// Streamed uploads are exempt (see `Transport::oci_client`).
    pub read_timeout: Duration,
    pub progress: Option<Progress>,
}

impl std::fmt::Debug for RegistryOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryOptions")
            .field("auth", &self.auth)
            .field("insecure_registries", &self.insecure_registries)
            .field("certs_dirs", &self.certs_dirs)
            .field("retry", &self.retry)
            .field("max_concurrent", &self.max_concurrent)
            .finish_non_exhaustive()
    }
}

impl Default for RegistryOptions {
    fn default() -> Self {
        Self::from_env()
    }
}

impl RegistryOptions {
    /// Credentials and certificate directories from the environment and
    /// the conventional places (see [`AuthConfig::from_env`]).
    pub fn from_env() -> Self {
        let config_home = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
        let mut certs_dirs: Vec<PathBuf> = config_home.map(|c| c.join("containers/certs.d")).into_iter().collect();
        certs_dirs.push("/etc/containers/certs.d".into());
        certs_dirs.push("/etc/docker/certs.d".into());
        RegistryOptions {
            auth: AuthConfig::from_env(),
            insecure_registries: Vec::new(),
            certs_dirs,
            retry: RetryPolicy::default(),
            max_concurrent: 4,
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(120),
            progress: None,
        }
    }

    pub(crate) fn emit(&self, e: RegistryEvent) {
        if let Some(p) = &self.progress {
            p(&e);
        }
    }

    /// Whether `registry` was named insecure (with or without its port).
    pub fn is_insecure(&self, registry: &str) -> bool {
        let host = reference::host_of(registry);
        self.insecure_registries.iter().any(|i| {
            let i = i.trim().trim_start_matches("http://").trim_start_matches("https://").trim_end_matches('/');
            i == registry || (!i.contains(':') && i == host)
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    Https,
    Http,
}

/// CA certificates and client-certificate files found for one registry.
#[derive(Debug, Default, Clone)]
pub(crate) struct CertsFor {
    /// (file, PEM bytes), each file possibly a bundle.
    pub roots: Vec<(PathBuf, Vec<u8>)>,
    /// A `*.cert` file, which strata cannot use (see the module docs).
    pub client_cert: Option<PathBuf>,
}

/// Reads `<dir>/<registry>/*.crt` of every dir; checks each is PEM.
pub(crate) fn certs_for(registry: &str, dirs: &[PathBuf]) -> Result<CertsFor, RegistryError> {
    let mut out = CertsFor::default();
    for dir in dirs {
        let d = dir.join(registry);
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        files.sort();
        for f in files {
            match f.extension().and_then(|e| e.to_str()) {
                Some("crt") => {
                    let bytes = std::fs::read(&f).map_err(|e| certs_err(registry, &f, e.to_string()))?;
                    let n = oci_client_pem_count(&bytes);
                    if n == 0 {
                        return Err(certs_err(registry, &f, "no PEM certificate in it".into()));
                    }
                    out.roots.push((f, bytes));
                }
                Some("cert") if out.client_cert.is_none() => out.client_cert = Some(f),
                _ => {}
            }
        }
    }
    Ok(out)
}

fn certs_err(registry: &str, path: &Path, message: String) -> RegistryError {
    RegistryError::Certs { registry: registry.to_owned(), path: path.to_owned(), message }
}

/// Counts well-formed PEM certificates (as reqwest will parse them).
fn oci_client_pem_count(bytes: &[u8]) -> usize {
    reqwest::Certificate::from_pem_bundle(bytes).map(|v| v.len()).unwrap_or(0)
}

/// How to reach one registry: the scheme and the TLS settings.
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    /// `host[:port]` requests go to (`index.docker.io` for `docker.io`).
    pub host: String,
    pub scheme: Scheme,
    pub certs: CertsFor,
    pub skip_verify: bool,
}

fn scheme_cache() -> &'static Mutex<HashMap<String, Scheme>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Scheme>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// Installs rustls' ring provider once per process (reqwest is built
/// without a default provider, to keep aws-lc's C build out of strata).
/// Every HTTPS client of strata calls it first (`sources::http` too).
pub(crate) fn crypto_provider() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        // Err means another part of the process installed one first: fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

impl Transport {
    /// Decides how to reach `host` (`Reference::resolve_registry`),
    /// probing loopback and insecure registries (see the module docs).
    pub(crate) async fn resolve(host: &str, opts: &RegistryOptions) -> Result<Transport, RegistryError> {
        crypto_provider();
        let certs = certs_for(host, &opts.certs_dirs)?;
        let insecure = opts.is_insecure(host);
        let mut t = Transport { host: host.to_owned(), scheme: Scheme::Https, certs, skip_verify: insecure };
        if !(insecure || reference::is_loopback(host)) {
            return Ok(t);
        }
        if let Some(s) = scheme_cache().lock().unwrap().get(host) {
            t.scheme = *s;
            return Ok(t);
        }
        t.scheme = t.probe(opts).await?;
        scheme_cache().lock().unwrap().insert(host.to_owned(), t.scheme);
        Ok(t)
    }

    async fn probe(&self, opts: &RegistryOptions) -> Result<Scheme, RegistryError> {
        let https = Transport { scheme: Scheme::Https, ..self.clone() };
        let client = https.http_client(opts)?;
        let err = match client.get(https.url("/v2/")).timeout(opts.connect_timeout).send().await {
            Ok(_) => return Ok(Scheme::Https),
            Err(e) => e,
        };
        if is_certificate_error(&err) && !self.skip_verify {
            return Err(self.unreachable("connecting", &err, 1));
        }
        let http = Transport { scheme: Scheme::Http, ..self.clone() };
        match http.http_client(opts)?.get(http.url("/v2/")).timeout(opts.connect_timeout).send().await {
            // Go's TLS servers answer plain HTTP with 400 "Client sent an
            // HTTP request to an HTTPS server": the https error is the real one.
            Ok(r) if r.status() == reqwest::StatusCode::BAD_REQUEST => Err(self.unreachable("connecting", &err, 1)),
            Ok(_) => Ok(Scheme::Http),
            Err(e) => Err(http.unreachable("connecting", &e, 1)),
        }
    }

    /// Tells the probe's cache how `host` is reached (tests that put a
    /// proxy in front of a registry do not want the probe's requests).
    #[cfg(test)]
    pub(crate) fn remember_scheme(host: &str, https: bool) {
        scheme_cache().lock().unwrap().insert(host.to_owned(), if https { Scheme::Https } else { Scheme::Http });
    }

    pub(crate) fn url(&self, path: &str) -> String {
        let s = match self.scheme {
            Scheme::Https => "https",
            Scheme::Http => "http",
        };
        format!("{s}://{}{path}", self.host)
    }

    fn roots(&self) -> Vec<Certificate> {
        self.certs
            .roots
            .iter()
            .map(|(_, pem)| Certificate { encoding: CertificateEncoding::Pem, data: pem.clone() })
            .collect()
    }

    /// The oci-client client for this registry. No platform resolver: strata
    /// picks platforms itself (see `pull`).
    pub(crate) fn oci_client(
        &self,
        opts: &RegistryOptions,
        monolithic: bool,
    ) -> Result<oci_client::Client, RegistryError> {
        let mut config = ClientConfig {
            use_monolithic_push: monolithic,
            protocol: match self.scheme {
                Scheme::Https => ClientProtocol::Https,
                Scheme::Http => ClientProtocol::Http,
            },
            accept_invalid_certificates: self.skip_verify,
            extra_root_certificates: self.roots(),
            platform_resolver: None,
            max_concurrent_upload: opts.max_concurrent.max(1),
            max_concurrent_download: opts.max_concurrent.max(1),
            connect_timeout: Some(opts.connect_timeout),
            // reqwest's read timeout runs from sending the request to the
            // answer's head, so it would cut off a long streamed upload: the
            // client for those has none and relies on TCP keepalive (dead
            // peers are noticed within a minute). Chunks are 4 MiB and keep it.
            read_timeout: (!monolithic).then_some(opts.read_timeout),
            user_agent: concat!("strata/", env!("CARGO_PKG_VERSION")),
            ..Default::default()
        };
        if !reference::is_loopback(&self.host) {
            let env = |names: &[&str]| names.iter().find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()));
            config.https_proxy = env(&["https_proxy", "HTTPS_PROXY"]);
            config.http_proxy = env(&["http_proxy", "HTTP_PROXY"]);
            config.no_proxy = env(&["no_proxy", "NO_PROXY"]);
        }
        // `Client::new` would fall back to a default client on error, silently
        // dropping our CA certificates; `try_from` does not.
        oci_client::Client::try_from(config).map_err(|e| RegistryError::Invalid {
            what: format!("client for registry {}", self.host),
            message: e.to_string(),
        })
    }

    /// A plain HTTP client with the same TLS settings, for what oci-client
    /// has no call for (the scheme probe, `login`'s check).
    pub(crate) fn http_client(&self, opts: &RegistryOptions) -> Result<reqwest::Client, RegistryError> {
        self.http_client_with(opts, Some(opts.read_timeout))
    }

    /// The client for strata's own blob requests (`http`): like
    /// [`Transport::http_client`], with `read_timeout` (none for streamed
    /// uploads, see [`Transport::oci_client`]) and the same proxy rule as
    /// oci-client's (environment proxies, never for loopback registries).
    pub(crate) fn blob_client(
        &self,
        opts: &RegistryOptions,
        read_timeout: Option<Duration>,
    ) -> Result<reqwest::Client, RegistryError> {
        self.http_client_with(opts, read_timeout)
    }

    fn http_client_with(
        &self,
        opts: &RegistryOptions,
        read_timeout: Option<Duration>,
    ) -> Result<reqwest::Client, RegistryError> {
        let mut roots = Vec::new();
        for (path, pem) in &self.certs.roots {
            roots.extend(
                reqwest::Certificate::from_pem_bundle(pem).map_err(|e| certs_err(&self.host, path, e.to_string()))?,
            );
        }
        let mut b = reqwest::Client::builder()
            .user_agent(concat!("strata/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(opts.connect_timeout)
            .tls_danger_accept_invalid_certs(self.skip_verify)
            .tls_certs_merge(roots);
        if let Some(t) = read_timeout {
            b = b.read_timeout(t);
        }
        if reference::is_loopback(&self.host) {
            b = b.no_proxy();
        }
        b.build().map_err(|e| RegistryError::Invalid {
            what: format!("client for registry {}", self.host),
            message: e.to_string(),
        })
    }

    /// The error for a request that never got an HTTP answer, with a hint
    /// for TLS trouble.
    pub(crate) fn unreachable(
        &self,
        doing: &str,
        e: &(dyn std::error::Error + 'static),
        attempts: u32,
    ) -> RegistryError {
        let message = error_chain(e);
        let mut hint = String::new();
        if is_certificate_error(e) {
            hint = format!(
                "; to trust a private CA, put its certificate in /etc/containers/certs.d/{}/ca.crt \
                 (or /etc/docker/certs.d/), or name the registry with --insecure-registry",
                self.host
            );
        } else if is_tls_error(e) && !reference::is_loopback(&self.host) && !self.skip_verify {
            hint = format!("; if {} serves plain HTTP, name it with --insecure-registry {}", self.host, self.host);
        }
        if let Some(cert) = &self.certs.client_cert
            && is_tls_error(e)
        {
            hint.push_str(&format!(
                "; note: strata cannot present the client certificate {} (client certificates are not supported)",
                cert.display()
            ));
        }
        RegistryError::Unreachable { registry: self.host.clone(), doing: doing.to_owned(), message, hint, attempts }
    }
}

/// `a: b: c` from an error and its sources, without repeats (reqwest and
/// hyper often repeat their cause in their own message).
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let s = err.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = err.source();
    }
    parts.join(": ")
}

fn chain_any(e: &(dyn std::error::Error + 'static), f: &dyn Fn(&(dyn std::error::Error + 'static)) -> bool) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if f(err) {
            return true;
        }
        // `io::Error::source` skips the error it wraps (it returns that
        // error's source): look at the wrapped one too.
        if let Some(inner) = err.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref())
            && chain_any(inner, f)
        {
            return true;
        }
        cur = err.source();
    }
    false
}

pub(crate) fn is_certificate_error(e: &(dyn std::error::Error + 'static)) -> bool {
    chain_any(e, &|err| {
        if let Some(r) = err.downcast_ref::<rustls::Error>() {
            return matches!(r, rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented);
        }
        err.to_string().contains("invalid peer certificate")
    })
}

pub(crate) fn is_tls_error(e: &(dyn std::error::Error + 'static)) -> bool {
    chain_any(e, &|err| err.downcast_ref::<rustls::Error>().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBdzCCAR2gAwIBAgIUJ8p8bYx9yk2c0o0zY3B1m3w6xHAwCgYIKoZIzj0EAwIw
ETEPMA0GA1UEAwwGdGVzdGNhMB4XDTI0MDEwMTAwMDAwMFoXDTM0MDEwMTAwMDAw
MFowETEPMA0GA1UEAwwGdGVzdGNhMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE
-----END CERTIFICATE-----
";

    #[test]
    fn certs_d_lookup_takes_crt_files_of_the_registry_from_every_dir() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let ca = crate::registry::testutil::ca_pem();
        std::fs::create_dir_all(a.path().join("reg.example.com:5002")).unwrap();
        std::fs::write(a.path().join("reg.example.com:5002/ca.crt"), &ca).unwrap();
        std::fs::write(a.path().join("reg.example.com:5002/client.cert"), "x").unwrap();
        std::fs::write(a.path().join("reg.example.com:5002/client.key"), "x").unwrap();
        std::fs::create_dir_all(b.path().join("reg.example.com:5002")).unwrap();
        std::fs::write(b.path().join("reg.example.com:5002/other.crt"), &ca).unwrap();
        std::fs::write(b.path().join("reg.example.com:5002/README"), "not a cert").unwrap();
        std::fs::create_dir_all(b.path().join("reg.example.com")).unwrap();
        std::fs::write(b.path().join("reg.example.com/wrong-port.crt"), &ca).unwrap();
        let dirs = [a.path().to_owned(), b.path().join("missing"), b.path().to_owned()];
        let c = certs_for("reg.example.com:5002", &dirs).unwrap();
        let names: Vec<_> = c.roots.iter().map(|(p, _)| p.file_name().unwrap().to_str().unwrap().to_owned()).collect();
        assert_eq!(names, ["ca.crt", "other.crt"]);
        assert!(c.client_cert.is_some());
        assert!(certs_for("elsewhere:1", &dirs).unwrap().roots.is_empty());

        std::fs::write(b.path().join("reg.example.com/broken.crt"), PEM.replace("BEGIN", "BEGUN")).unwrap();
        let e = certs_for("reg.example.com", &dirs).unwrap_err().to_string();
        assert!(e.contains("broken.crt") && e.contains("no PEM certificate"), "{e}");
    }

    #[test]
    fn insecure_registries_match_with_or_without_port() {
        let mut o = RegistryOptions::from_env();
        o.insecure_registries = vec!["reg.lan".into(), "other.lan:5000".into(), "http://third.lan:80/".into()];
        assert!(o.is_insecure("reg.lan:443"));
        assert!(o.is_insecure("reg.lan"));
        assert!(o.is_insecure("other.lan:5000"));
        assert!(!o.is_insecure("other.lan:5001"));
        assert!(o.is_insecure("third.lan:80"));
        assert!(!o.is_insecure("docker.io"));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy {
            attempts: 9,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            ..Default::default()
        };
        let d: Vec<_> = (1..=6).map(|a| p.delay(a).as_millis()).collect();
        assert_eq!(d, [100, 200, 400, 800, 1000, 1000]);
    }
}
