//! strata's own requests to a registry, for what oci-client cannot do with
//! a fault in the middle: blob downloads that resume with a range request
//! and uploads that resume at the offset the registry confirms (see
//! `pull` and `upload`). Requests carry the session's credentials (the
//! bearer token oci-client obtained, or HTTP Basic) only when they go to
//! the registry itself, a 401 gets one fresh token, and a failed answer is
//! read into a [`Failure`] that keeps its `Retry-After`.

use std::time::{Duration, SystemTime};

use oci_client::RegistryOperation;
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};

use super::session::Session;
use super::transport::Scheme;

/// Why one attempt at a request failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// From an oci-client call.
    Oci(OciDistributionError),
    /// An answer that was not the one expected.
    Status { code: u16, message: String, retry_after: Option<Duration> },
    /// No answer, or one cut short (refused, reset, timed out).
    Connection(reqwest::Error),
    /// Bytes that do not hash to the digest they were asked for.
    Corrupt { expected: String, found: String },
    /// An answer that ended early without an error from the connection.
    Cut(String),
}

impl From<OciDistributionError> for Failure {
    fn from(e: OciDistributionError) -> Self {
        Failure::Oci(e)
    }
}

impl From<reqwest::Error> for Failure {
    fn from(e: reqwest::Error) -> Self {
        match e.status() {
            Some(s) => Failure::Status { code: s.as_u16(), message: e.to_string(), retry_after: None },
            None => Failure::Connection(e),
        }
    }
}

impl Failure {
    pub(crate) fn retry_after(&self) -> Option<Duration> {
        match self {
            Failure::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub(crate) fn status(&self) -> Option<u16> {
        match self {
            Failure::Status { code, .. } => Some(*code),
            Failure::Oci(OciDistributionError::ServerError { code, .. }) => Some(*code),
            _ => None,
        }
    }

    /// A failed answer: its status, `Retry-After` and (the start of) its body.
    pub(crate) async fn from_response(r: Response) -> Failure {
        let code = r.status().as_u16();
        let retry_after =
            r.headers().get(reqwest::header::RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(parse_retry_after);
        let text = r.text().await.unwrap_or_default();
        let message = envelope_text(&text).unwrap_or_else(|| text.trim().chars().take(300).collect());
        let reason = StatusCode::from_u16(code).ok().and_then(|s| s.canonical_reason()).unwrap_or("");
        let message =
            if message.is_empty() { format!("{code} {reason}") } else { format!("{code} {reason}: {message}") };
        Failure::Status { code, message, retry_after }
    }
}

/// `CODE: message; ...` from a distribution-spec error body (any code,
/// not only those oci-client knows).
fn envelope_text(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let parts: Vec<String> = v
        .get("errors")?
        .as_array()?
        .iter()
        .map(|e| {
            let code = e.get("code").and_then(|c| c.as_str()).unwrap_or("");
            let msg = e.get("message").and_then(|m| m.as_str()).unwrap_or("");
            if msg.is_empty() { code.to_owned() } else { format!("{code}: {msg}") }
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// `Retry-After`: seconds, or an HTTP date.
pub(crate) fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
}

impl Session<'_> {
    /// `scheme://host` of the registry.
    pub(crate) fn base_url(&self) -> Url {
        let scheme = match self.transport.scheme {
            Scheme::Https => "https",
            Scheme::Http => "http",
        };
        Url::parse(&format!("{scheme}://{}/", self.transport.host)).expect("a registry host makes a URL")
    }

    /// `/v2/<repository>/<rest>` on the registry.
    pub(crate) fn v2_url(&self, rest: &str) -> Url {
        self.base_url().join(&format!("v2/{}/{rest}", self.repository())).expect("a registry path makes a URL")
    }

    /// Whether credentials may go with a request to `url`: only to the
    /// registry itself (never to a redirect target or a foreign URL).
    fn same_origin(&self, url: &Url) -> bool {
        let base = self.base_url();
        url.scheme() == base.scheme()
            && url.host_str() == base.host_str()
            && url.port_or_known_default() == base.port_or_known_default()
    }

    fn authorize(&self, url: &Url, rb: RequestBuilder) -> RequestBuilder {
        if !self.same_origin(url) {
            return rb;
        }
        if let Some(t) = self.token.lock().expect("token lock").clone() {
            return rb.bearer_auth(t);
        }
        match &self.auth {
            RegistryAuth::Basic(u, p) => rb.basic_auth(u, Some(p)),
            RegistryAuth::Bearer(t) => rb.bearer_auth(t),
            RegistryAuth::Anonymous => rb,
        }
    }

    /// Sends the request `build` makes for `url` with the session's
    /// credentials; on a 401 once more with a fresh token. Returns any
    /// answer; connection failures are [`Failure::Connection`].
    pub(crate) async fn send(
        &self,
        method: Method,
        url: &Url,
        streaming: bool,
        build: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response, Failure> {
        let client = self.blob_http(streaming).map_err(|e| Failure::Status {
            code: 0,
            message: e.to_string(),
            retry_after: None,
        })?;
        let mut refreshed = false;
        loop {
            let rb = self.authorize(url, client.request(method.clone(), url.clone()));
            let r = build(rb).send().await?;
            if r.status() == StatusCode::UNAUTHORIZED && !refreshed && self.same_origin(url) {
                refreshed = true;
                // An expired token: ask for a new one.
                let op = if method == Method::GET || method == Method::HEAD {
                    RegistryOperation::Pull
                } else {
                    RegistryOperation::Push
                };
                if let Ok(Some(t)) = self.client.auth(&self.reference, &self.auth, op).await {
                    *self.token.lock().expect("token lock") = Some(t);
                    continue;
                }
            }
            return Ok(r);
        }
    }

    /// HEAD on the blob: whether the registry has it.
    pub(crate) async fn has_blob(&self, digest: &str) -> Result<bool, Failure> {
        let r = self.send(Method::HEAD, &self.v2_url(&format!("blobs/{digest}")), false, |rb| rb).await?;
        match r.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(Failure::from_response(r).await),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        let soon = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
        let d = parse_retry_after(&soon).unwrap();
        assert!(d > Duration::from_secs(25) && d <= Duration::from_secs(30), "{d:?}");
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon"), None);
    }
}
