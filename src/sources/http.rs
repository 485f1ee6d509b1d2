//! Downloading one URL (http, https) into a writer.
//!
//! reqwest on rustls (the ring provider, as for registries), following
//! redirects, honouring `http_proxy`/`https_proxy`/`no_proxy`. The request
//! runs on a private single-threaded runtime (on a helper thread if the
//! caller is inside a runtime already) and checks the build's [`Cancel`]
//! while it waits for bytes, so Ctrl-C stops a download within a fraction of
//! a second.

use std::io::Write;
use std::time::Duration;

use crate::executor::Cancel;

/// Connecting may take this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// A server that sends nothing for this long has gone away.
const READ_TIMEOUT: Duration = Duration::from_secs(120);
/// How often a waiting download looks at the cancel flag.
const CANCEL_POLL: Duration = Duration::from_millis(200);

/// Why a download failed.
#[derive(Debug)]
pub enum HttpError {
    /// The server answered with a status other than 2xx.
    Status(u16),
    /// No answer, a broken connection or a failed write.
    Transfer(String),
    Cancelled,
}

/// Whether `url` is one [`get`] can fetch.
pub fn supported(url: &str) -> bool {
    reqwest::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
}

/// GETs `url`, writing the body to `to`. Returns the number of bytes.
pub fn get(url: &str, to: &mut (dyn Write + Send), cancel: &Cancel) -> Result<u64, HttpError> {
    crate::registry::install_crypto_provider();
    let mut run = move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| HttpError::Transfer(format!("cannot start a runtime: {e}")))?;
        rt.block_on(get_async(url, to, cancel))
    };
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::scope(|s| s.spawn(run).join()).unwrap_or_else(|p| std::panic::resume_unwind(p))
    } else {
        run()
    }
}

async fn get_async(url: &str, to: &mut (dyn Write + Send), cancel: &Cancel) -> Result<u64, HttpError> {
    let client = reqwest::Client::builder()
        .user_agent(concat!("strata/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .build()
        .map_err(|e| HttpError::Transfer(chain(&e)))?;
    let mut response =
        until_cancelled(cancel, client.get(url).send()).await?.map_err(|e| HttpError::Transfer(chain(&e)))?;
    if !response.status().is_success() {
        return Err(HttpError::Status(response.status().as_u16()));
    }
    let mut n = 0u64;
    while let Some(chunk) =
        until_cancelled(cancel, response.chunk()).await?.map_err(|e| HttpError::Transfer(chain(&e)))?
    {
        to.write_all(&chunk).map_err(|e| HttpError::Transfer(format!("cannot store the download: {e}")))?;
        n += chunk.len() as u64;
    }
    to.flush().map_err(|e| HttpError::Transfer(format!("cannot store the download: {e}")))?;
    Ok(n)
}

/// Runs `fut` unless the build is cancelled first.
async fn until_cancelled<T>(cancel: &Cancel, fut: impl Future<Output = T>) -> Result<T, HttpError> {
    let watch = async {
        while !cancel.is_cancelled() {
            tokio::time::sleep(CANCEL_POLL).await;
        }
    };
    tokio::select! {
        out = fut => Ok(out),
        () = watch => Err(HttpError::Cancelled),
    }
}

/// An error and its causes on one line (reqwest's own message is terse).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}
