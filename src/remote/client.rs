//! Where the farm is and how to talk to it: `grpc://HOST:PORT` or
//! `grpcs://HOST:PORT` (TLS, the system's roots or a given CA), an
//! instance name, and a bearer token read from a file. [`Farm`] holds the
//! channel and wraps the action cache, execution and operations calls; the
//! CAS calls are in [`super::cas`].

use std::path::PathBuf;
use std::time::Duration;

use tonic::transport::{Channel, ClientTlsConfig};

pub use bazel_remote_apis::build::bazel::remote::execution::v2 as pb;
pub use bazel_remote_apis::google::bytestream as bs;
pub use bazel_remote_apis::google::longrunning as lro;
use pb::action_cache_client::ActionCacheClient;
use pb::execution_client::ExecutionClient;

use super::{RemoteError, Result};
use crate::executor::Cancel;

/// Where a farm is, as the user gave it (`--remote`, `--remote-instance`,
/// `--remote-ca`, `--remote-token-file`).
#[derive(Debug, Clone, Default)]
pub struct Endpoint {
    pub url: String,
    pub instance: String,
    /// A PEM CA bundle for `grpcs://` (default: the system's roots).
    pub ca: Option<PathBuf>,
    /// A file holding a bearer token sent with every call.
    pub token_file: Option<PathBuf>,
}

/// A connection to a farm.
#[derive(Clone)]
pub struct Farm {
    pub(crate) channel: Channel,
    pub instance: String,
    pub url: String,
    token: Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
}

impl Endpoint {
    /// `http(s)://HOST:PORT` for tonic, and whether TLS is on.
    fn uri(&self) -> Result<(String, bool)> {
        let bad = |why: &str| RemoteError::BadUrl { url: self.url.clone(), why: why.into() };
        let (tls, rest) = if let Some(r) = self.url.strip_prefix("grpcs://") {
            (true, r)
        } else if let Some(r) = self.url.strip_prefix("grpc://") {
            (false, r)
        } else {
            return Err(bad("unknown scheme"));
        };
        let rest = rest.trim_end_matches('/');
        let Some((host, port)) = rest.rsplit_once(':') else { return Err(bad("no port")) };
        if host.is_empty() || rest.contains('/') || port.parse::<u16>().is_err() {
            return Err(bad("not HOST:PORT"));
        }
        Ok((format!("{}://{rest}", if tls { "https" } else { "http" }), tls))
    }

    /// Opens a channel on `rt` (lazily: the first call connects).
    pub fn connect(&self, rt: &tokio::runtime::Runtime) -> Result<Farm> {
        let _in = rt.enter();
        let (uri, tls) = self.uri()?;
        let connect = |source| RemoteError::Connect { url: self.url.clone(), source };
        let mut ep = tonic::transport::Endpoint::from_shared(uri)
            .map_err(connect)?
            .connect_timeout(Duration::from_secs(10))
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_while_idle(true);
        if tls {
            let mut cfg = ClientTlsConfig::new();
            cfg = match &self.ca {
                Some(p) => {
                    let pem = std::fs::read(p).map_err(|source| RemoteError::ReadFile {
                        what: "the farm's CA",
                        path: p.clone(),
                        source,
                    })?;
                    cfg.ca_certificate(tonic::transport::Certificate::from_pem(pem))
                }
                None => cfg.with_native_roots(),
            };
            ep = ep.tls_config(cfg).map_err(connect)?;
        }
        let token = match &self.token_file {
            Some(p) => {
                let read = |source| RemoteError::ReadFile { what: "the farm's token", path: p.clone(), source };
                let t = std::fs::read_to_string(p).map_err(read)?;
                let v = format!("Bearer {}", t.trim()).parse().map_err(|_| RemoteError::ReadFile {
                    what: "the farm's token",
                    path: p.clone(),
                    source: std::io::Error::new(std::io::ErrorKind::InvalidData, "not a printable token"),
                })?;
                Some(v)
            }
            None => None,
        };
        Ok(Farm { channel: ep.connect_lazy(), instance: self.instance.clone(), url: self.url.clone(), token })
    }
}

/// A current-thread-free runtime for blocking callers (the solver's job
/// threads share it).
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().map_err(RemoteError::Runtime)
}

impl Farm {
    /// `msg` with the bearer token attached.
    pub(crate) fn req<T>(&self, msg: T) -> tonic::Request<T> {
        let mut r = tonic::Request::new(msg);
        if let Some(t) = &self.token {
            r.metadata_mut().insert("authorization", t.clone());
        }
        r
    }

    /// Runs `call` again while the farm says it is busy
    /// (`RESOURCE_EXHAUSTED`, `UNAVAILABLE`: BuildGrid's concurrent-RPC
    /// limit, a restarting server), backing off up to ~30 s in all.
    pub(crate) async fn retry<T, F, Fut>(&self, mut call: F) -> std::result::Result<T, tonic::Status>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = std::result::Result<T, tonic::Status>>,
    {
        let mut wait = Duration::from_millis(50);
        let mut waited = Duration::ZERO;
        loop {
            match call().await {
                Err(s)
                    if matches!(s.code(), tonic::Code::ResourceExhausted | tonic::Code::Unavailable)
                        && waited < Duration::from_secs(30) =>
                {
                    tokio::time::sleep(wait).await;
                    waited += wait;
                    wait = (wait * 2).min(Duration::from_secs(2));
                }
                r => return r,
            }
        }
    }

    pub(crate) fn rpc_err(&self, call: &'static str) -> impl FnOnce(tonic::Status) -> RemoteError + '_ {
        move |status| RemoteError::Rpc { url: self.url.clone(), call, status: Box::new(status) }
    }

    /// The action cache's result for `action`, if it has one.
    pub async fn get_action_result(&self, action: &pb::Digest) -> Result<Option<pb::ActionResult>> {
        let ac = ActionCacheClient::new(self.channel.clone()).max_decoding_message_size(64 << 20);
        let req = pb::GetActionResultRequest {
            instance_name: self.instance.clone(),
            action_digest: Some(action.clone()),
            ..Default::default()
        };
        match self
            .retry(|| {
                let (mut c, r) = (ac.clone(), self.req(req.clone()));
                async move { c.get_action_result(r).await }
            })
            .await
        {
            Ok(r) => Ok(Some(r.into_inner())),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) => Err(self.rpc_err("GetActionResult")(s)),
        }
    }

    /// Runs `action` on the farm and waits for its response; `cancel`
    /// cancels the operation. The farm's own cache is consulted too.
    pub async fn execute(&self, step: &str, action: &pb::Digest, cancel: &Cancel) -> Result<pb::ExecuteResponse> {
        let ex = ExecutionClient::new(self.channel.clone()).max_decoding_message_size(64 << 20);
        let req = pb::ExecuteRequest {
            instance_name: self.instance.clone(),
            skip_cache_lookup: false,
            action_digest: Some(action.clone()),
            ..Default::default()
        };
        let mut stream = self
            .retry(|| {
                let (mut c, r) = (ex.clone(), self.req(req.clone()));
                async move { c.execute(r).await }
            })
            .await
            .map_err(self.rpc_err("Execute"))?
            .into_inner();
        let mut name = String::new();
        loop {
            let next = tokio::select! {
                m = stream.message() => m,
                () = cancelled(cancel) => {
                    if !name.is_empty() {
                        self.cancel_operation(&name).await;
                    }
                    return Err(RemoteError::Cancelled { step: step.into() });
                }
            };
            match next {
                Ok(Some(op)) => {
                    name = op.name.clone();
                    if op.done {
                        return self.response(step, op);
                    }
                }
                // The stream ended or broke before the operation was done: wait on it by name.
                Ok(None) | Err(_) if !name.is_empty() => {
                    let req = pb::WaitExecutionRequest { name: name.clone() };
                    stream = self
                        .retry(|| {
                            let (mut c, r) = (ex.clone(), self.req(req.clone()));
                            async move { c.wait_execution(r).await }
                        })
                        .await
                        .map_err(self.rpc_err("WaitExecution"))?
                        .into_inner();
                }
                Ok(None) => {
                    return Err(RemoteError::BadResult { step: step.into(), what: "no operation".into() });
                }
                Err(s) => return Err(self.rpc_err("Execute")(s)),
            }
        }
    }

    fn response(&self, step: &str, op: lro::Operation) -> Result<pb::ExecuteResponse> {
        use prost::Message as _;
        match op.result {
            Some(lro::operation::Result::Response(any)) => {
                let r = pb::ExecuteResponse::decode(any.value.as_slice()).map_err(|e| RemoteError::BadResult {
                    step: step.into(),
                    what: format!("an undecodable ExecuteResponse: {e}"),
                })?;
                if let Some(s) = &r.status
                    && s.code != 0
                {
                    return Err(RemoteError::Execution { step: step.into(), code: s.code, message: s.message.clone() });
                }
                Ok(r)
            }
            Some(lro::operation::Result::Error(s)) => {
                Err(RemoteError::Execution { step: step.into(), code: s.code, message: s.message })
            }
            None => Err(RemoteError::BadResult { step: step.into(), what: "a done operation without result".into() }),
        }
    }

    async fn cancel_operation(&self, name: &str) {
        let mut ops = lro::operations_client::OperationsClient::new(self.channel.clone());
        let req = lro::CancelOperationRequest { name: name.to_string() };
        let _ = tokio::time::timeout(Duration::from_secs(5), ops.cancel_operation(self.req(req))).await;
    }
}

/// Resolves once `cancel` is set (polled: [`Cancel`] is a blocking flag).
pub async fn cancelled(cancel: &Cancel) {
    while !cancel.is_cancelled() {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(url: &str) -> Endpoint {
        Endpoint { url: url.into(), ..Default::default() }
    }

    #[test]
    fn grpc_and_grpcs_urls_become_http_and_https() {
        assert_eq!(ep("grpc://127.0.0.1:50051").uri().unwrap(), ("http://127.0.0.1:50051".into(), false));
        assert_eq!(ep("grpcs://farm.example:443/").uri().unwrap(), ("https://farm.example:443".into(), true));
    }

    #[test]
    fn other_urls_are_refused_with_the_expected_form() {
        for bad in ["http://h:1", "grpc://h", "grpc://:1", "grpc://h:x", "grpc://h:1/path"] {
            let e = ep(bad).uri().unwrap_err().to_string();
            assert!(e.contains("grpc://HOST:PORT") && e.contains(bad.trim_end_matches('/')), "{e}");
        }
    }
}
