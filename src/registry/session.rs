//! One repository of one registry, ready for requests: the transport, the
//! credentials, an oci-client client, and the two things oci-client does
//! not do — retrying with backoff, and turning its errors into
//! [`RegistryError`]s that name the registry and repository and carry no
//! secret.
//!
//! What is retried: connection failures (refused, reset, timed out, cut
//! mid-body), 5xx, 408 and 429 answers, and digest mismatches of a
//! transfer. What is not: 4xx answers (auth, not found, invalid), which
//! retrying cannot fix. Between attempts strata waits what the registry
//! asked for with `Retry-After` (at most
//! [`RetryPolicy::max_retry_after`](super::RetryPolicy)) — on its own blob
//! requests (`http`); oci-client's calls (manifests, auth) do not show the
//! header, so those back off exponentially. When the attempts run out, the
//! error names the registry, what was being done (the blob's digest for a
//! blob) and the last failure.

use std::future::Future;

use oci_client::errors::{DigestError, OciDistributionError, OciEnvelope, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Reference, RegistryOperation};

use super::auth::FoundCredentials;
use super::error::redact;
use super::http::Failure;
use super::transport::{Transport, error_chain};
use super::{RegistryError, RegistryEvent, RegistryOptions};

pub(crate) struct Session<'o> {
    pub client: oci_client::Client,
    pub auth: RegistryAuth,
    /// The repository (its tag or digest does not matter here).
    pub reference: Reference,
    pub transport: Transport,
    pub found: Option<FoundCredentials>,
    pub opts: &'o RegistryOptions,
    secrets: Vec<String>,
    /// The bearer token oci-client got for this repository (see `http`).
    pub(crate) token: std::sync::Mutex<Option<String>>,
    /// reqwest clients for strata's own blob requests: with and without a
    /// read timeout.
    blob_clients: [std::sync::OnceLock<reqwest::Client>; 2],
}

/// What a failed request tells us.
enum Kind {
    Unauthorized,
    Denied(String),
    NotFound(String),
    /// No HTTP answer at all.
    Connection,
    Server(Option<u16>, String),
    Digest,
    Other(Option<u16>, String),
}

fn envelope_text(env: &OciEnvelope) -> String {
    env.errors
        .iter()
        .map(|e| {
            let code =
                serde_json::to_value(&e.code).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            if e.message.is_empty() { code } else { format!("{code}: {}", e.message) }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn classify(e: &OciDistributionError) -> Kind {
    use OciDistributionError as E;
    let by_status = |code: u16, text: String| match code {
        401 => Kind::Unauthorized,
        403 => Kind::Denied(text),
        404 => Kind::NotFound(text),
        408 | 429 | 500..=599 => Kind::Server(Some(code), text),
        _ => Kind::Other(Some(code), text),
    };
    match e {
        E::UnauthorizedError { .. } | E::AuthenticationFailure(_) => Kind::Unauthorized,
        E::RequestError(r) => match r.status() {
            Some(s) => by_status(s.as_u16(), s.to_string()),
            None => Kind::Connection,
        },
        E::ServerError { code, message, .. } => {
            let text = serde_json::from_str::<OciEnvelope>(message)
                .map(|env| envelope_text(&env))
                .unwrap_or_else(|_| message.trim().chars().take(300).collect());
            by_status(*code, text)
        }
        E::RegistryError { envelope, .. } => {
            let text = envelope_text(envelope);
            let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
            if codes.contains(&&OciErrorCode::Unauthorized) {
                Kind::Unauthorized
            } else if codes.contains(&&OciErrorCode::Denied) {
                Kind::Denied(text)
            } else if codes.contains(&&OciErrorCode::Toomanyrequests) {
                Kind::Server(Some(429), text)
            } else if codes.iter().any(|c| matches!(c, OciErrorCode::Other(o) if o == "UNAVAILABLE" || o == "UNKNOWN"))
            {
                // oci-client keeps the envelope but not the status: these
                // are distribution's codes for 503 and 500.
                Kind::Server(None, text)
            } else if codes.iter().any(|c| {
                matches!(
                    c,
                    OciErrorCode::ManifestUnknown
                        | OciErrorCode::NameUnknown
                        | OciErrorCode::BlobUnknown
                        | OciErrorCode::NotFound
                )
            }) {
                Kind::NotFound(text)
            } else {
                Kind::Other(None, text)
            }
        }
        E::ImageManifestNotFoundError(m) => Kind::NotFound(m.clone()),
        E::DigestError(_) => Kind::Digest,
        E::IoError(_) => Kind::Connection,
        other => Kind::Other(None, other.to_string()),
    }
}

fn retryable_failure(f: &Failure) -> bool {
    match f {
        Failure::Oci(e) => retryable(e),
        Failure::Status { code, .. } => matches!(code, 408 | 429 | 500..=599),
        Failure::Connection(e) => !super::transport::is_certificate_error(e),
        Failure::Corrupt { .. } | Failure::Cut(_) => true,
    }
}

fn retryable(e: &OciDistributionError) -> bool {
    // A certificate the client does not trust stays untrusted.
    if let OciDistributionError::RequestError(r) = e
        && super::transport::is_certificate_error(r)
    {
        return false;
    }
    matches!(classify(e), Kind::Connection | Kind::Server(..) | Kind::Digest)
}

impl<'o> Session<'o> {
    /// Resolves the transport, finds credentials and authenticates for `op`
    /// (oci-client authenticates lazily and drops token errors on the floor;
    /// doing it up front gives a clear error at the start instead of a bare
    /// 401 halfway through a push).
    pub(crate) async fn open(
        reference: &Reference,
        op: RegistryOperation,
        opts: &'o RegistryOptions,
    ) -> Result<Session<'o>, RegistryError> {
        let host = reference.resolve_registry().to_owned();
        let mut attempt = 0;
        let transport = loop {
            attempt += 1;
            match Transport::resolve(&host, opts).await {
                Err(RegistryError::Unreachable { message, .. })
                    if attempt < opts.retry.attempts && !message.contains("certificate") =>
                {
                    let delay = opts.retry.delay(attempt);
                    opts.emit(RegistryEvent::Retrying {
                        registry: host.clone(),
                        doing: "connecting".into(),
                        attempt,
                        delay,
                        error: message,
                    });
                    tokio::time::sleep(delay).await;
                }
                Err(RegistryError::Unreachable { registry, doing, message, hint, .. }) => {
                    return Err(RegistryError::Unreachable { registry, doing, message, hint, attempts: attempt });
                }
                r => break r?,
            }
        };
        let found = opts.auth.lookup(reference.registry(), reference.repository())?;
        let auth = found.as_ref().map(|f| f.credentials.to_oci()).unwrap_or(RegistryAuth::Anonymous);
        let secrets = found.as_ref().map(|f| f.credentials.secrets()).unwrap_or_default();
        let client = transport.oci_client(opts, false)?;
        let s = Session {
            client,
            auth,
            reference: reference.clone(),
            transport,
            found,
            opts,
            secrets,
            token: Default::default(),
            blob_clients: Default::default(),
        };
        let token = s.retry("authenticating", || s.client.auth(&s.reference, &s.auth, op)).await?;
        *s.token.lock().expect("token lock") = token;
        Ok(s)
    }

    /// Who the registry sees: for messages.
    pub(crate) fn who(&self) -> String {
        match &self.found {
            Some(f) => match f.credentials.username() {
                Some(u) => format!("the credentials of user '{u}' (from {})", f.source),
                None => format!("the token from {}", f.source),
            },
            None => "anonymous access".to_owned(),
        }
    }

    pub(crate) fn registry(&self) -> &str {
        self.reference.registry()
    }

    pub(crate) fn repository(&self) -> &str {
        self.reference.repository()
    }

    /// Turns an oci-client error into a [`RegistryError`] about `doing`.
    pub(crate) fn error(&self, doing: &str, e: OciDistributionError, attempts: u32) -> RegistryError {
        let registry = self.registry().to_owned();
        let repository = self.repository().to_owned();
        let clean = |s: String| redact(&s, &self.secrets);
        match classify(&e) {
            Kind::Unauthorized => {
                let hint = match &self.found {
                    None => {
                        format!(" (no credentials for {registry} were found); log in with `strata login {registry}`")
                    }
                    Some(_) => format!(" while {doing}; check them with `strata login {registry}`"),
                };
                RegistryError::Unauthorized { registry, repository, who: self.who(), hint }
            }
            Kind::Denied(m) => RegistryError::Denied {
                registry,
                repository,
                who: self.who(),
                message: format!("{doing}: {}", clean(m)),
            },
            Kind::NotFound(m) => {
                let detail = if m.is_empty() { String::new() } else { format!(" ({})", clean(m)) };
                RegistryError::NotFound { registry, repository, what: doing.to_owned(), detail }
            }
            Kind::Connection => {
                let mut u = self.transport.unreachable(doing, &e, attempts);
                if let RegistryError::Unreachable { message, hint, registry: r, .. } = &mut u {
                    *message = clean(std::mem::take(message));
                    *hint = clean(std::mem::take(hint));
                    *r = registry;
                }
                u
            }
            Kind::Server(status, m) => RegistryError::Server {
                registry,
                repository,
                doing: doing.to_owned(),
                status,
                message: clean(m),
                attempts,
            },
            Kind::Digest => {
                let (expected, found) = match &e {
                    OciDistributionError::DigestError(DigestError::VerificationError { expected, actual }) => {
                        (expected.clone(), actual.clone())
                    }
                    other => ("(see the cause)".to_owned(), clean(error_chain(other))),
                };
                RegistryError::DigestMismatch {
                    repository: format!("{registry}/{repository}"),
                    what: doing.to_owned(),
                    expected,
                    found,
                }
            }
            Kind::Other(status, m) => {
                RegistryError::Rejected { registry, repository, doing: doing.to_owned(), status, message: clean(m) }
            }
        }
    }

    /// Runs `f` until it succeeds, fails for good, or the attempts run out.
    /// Waits between attempts as the registry asked (`Retry-After`, on
    /// strata's own requests) or with backoff.
    pub(crate) async fn retry<T, E, Fut>(&self, doing: &str, mut f: impl FnMut() -> Fut) -> Result<T, RegistryError>
    where
        E: Into<Failure>,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match f().await.map_err(Into::into) {
                Ok(v) => return Ok(v),
                Err(e) => self.after_failure(doing, e, attempt).await?,
            }
        }
    }

    /// After attempt `attempt` at `doing` failed with `e`: the error if it
    /// is final (not retryable, or the attempts are used up), else waits
    /// (emitting [`RegistryEvent::Retrying`]) and returns `Ok`.
    pub(crate) async fn after_failure(&self, doing: &str, e: Failure, attempt: u32) -> Result<(), RegistryError> {
        let policy = self.opts.retry;
        if !retryable_failure(&e) || attempt >= policy.attempts.max(1) {
            return Err(self.failure_error(doing, e, attempt));
        }
        let delay = policy.wait(attempt, e.retry_after());
        self.opts.emit(RegistryEvent::Retrying {
            registry: self.registry().to_owned(),
            doing: doing.to_owned(),
            attempt,
            delay,
            error: redact(&failure_text(&e), &self.secrets),
        });
        tokio::time::sleep(delay).await;
        Ok(())
    }

    /// Turns a [`Failure`] into a [`RegistryError`] about `doing`.
    pub(crate) fn failure_error(&self, doing: &str, e: Failure, attempts: u32) -> RegistryError {
        let asked = e.retry_after().filter(|ra| *ra > self.opts.retry.max_retry_after).map(|ra| {
            format!(
                "; it asked to be retried after {} s, longer than strata waits ({} s)",
                ra.as_secs(),
                self.opts.retry.max_retry_after.as_secs()
            )
        });
        let mut err = match e {
            Failure::Oci(e) => self.error(doing, e, attempts),
            Failure::Connection(e) => {
                let mut u = self.transport.unreachable(doing, &e, attempts);
                if let RegistryError::Unreachable { message, hint, registry, .. } = &mut u {
                    *message = redact(message, &self.secrets);
                    *hint = redact(hint, &self.secrets);
                    *registry = self.registry().to_owned();
                }
                u
            }
            Failure::Corrupt { expected, found } => RegistryError::DigestMismatch {
                repository: format!("{}/{}", self.registry(), self.repository()),
                what: format!("{doing} (on {attempts} attempt{})", if attempts == 1 { "" } else { "s" }),
                expected,
                found,
            },
            Failure::Cut(message) => RegistryError::Server {
                registry: self.registry().to_owned(),
                repository: self.repository().to_owned(),
                doing: doing.to_owned(),
                status: None,
                message: redact(&message, &self.secrets),
                attempts,
            },
            Failure::Status { code, message, .. } => {
                let synthetic = OciDistributionError::ServerError { code, url: String::new(), message };
                self.error(doing, synthetic, attempts)
            }
        };
        if let (Some(asked), RegistryError::Server { message, .. }) = (asked, &mut err) {
            message.push_str(&asked);
        }
        err
    }

    /// The reqwest client for blob requests (`streaming`: no read timeout).
    pub(crate) fn blob_http(&self, streaming: bool) -> Result<&reqwest::Client, RegistryError> {
        let slot = &self.blob_clients[usize::from(streaming)];
        if let Some(c) = slot.get() {
            return Ok(c);
        }
        let c = self.transport.blob_client(self.opts, (!streaming).then_some(self.opts.read_timeout))?;
        Ok(slot.get_or_init(|| c))
    }

    /// Whether an error from a request is one a retry could fix.
    pub(crate) fn is_retryable(e: &OciDistributionError) -> bool {
        retryable(e)
    }
}

/// A failure for a `Retrying` event: the error chain, without secrets yet.
fn failure_text(e: &Failure) -> String {
    match e {
        Failure::Oci(e) => error_chain(e),
        Failure::Connection(e) => error_chain(e),
        Failure::Status { message, .. } => message.clone(),
        Failure::Corrupt { expected, found } => format!("corrupt: expected {expected}, got {found}"),
        Failure::Cut(m) => m.clone(),
    }
}
