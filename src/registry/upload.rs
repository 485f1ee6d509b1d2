//! One blob up to a registry, surviving faults: an upload that fails
//! halfway continues where the registry says it stands instead of starting
//! again, and a blob the registry turns out to have is not sent again.
//!
//! The OCI distribution spec's upload session: `POST .../blobs/uploads/`
//! opens it (202 and a `Location`); the bytes go as one streamed `PUT
//! <location>?digest=` (the default: fastest) or as `PATCH`es of
//! [`CHUNK`] bytes with `Content-Range`, closed by an empty `PUT
//! ?digest=`. After a failed request strata does not know how much
//! arrived, so before anything else it
//!
//! 1. asks `HEAD .../blobs/<digest>`: if the registry has the blob (the
//!    final `PUT` went through and only its answer was lost), it is done;
//! 2. asks `GET <location>`: the registry answers with the `Range` it holds
//!    and a fresh `Location`, and the upload continues from there, in
//!    chunks (so a second fault costs at most one chunk);
//! 3. if the registry no longer knows the upload (404, or 400
//!    `BLOB_UPLOAD_INVALID`: distribution 2.8 cancels an upload whose
//!    interrupted request delivered part of its body, since its upload
//!    state cannot describe that), a new one is opened and that blob — only
//!    that one — starts again.
//!
//! Attempts count failures in a row: a retry that moved the upload forward
//! starts the count again, so a long upload over a flaky link finishes,
//! while one that makes no progress ends after
//! [`super::RetryPolicy::attempts`] with an error naming the registry, the
//! blob and the last failure. The registry verifies the digest when the
//! upload is closed, so a corrupted upload is refused, never stored.

use std::path::PathBuf;

use bytes::Bytes;
use futures_util::StreamExt as _;
use reqwest::{Method, StatusCode, Url};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

use super::RegistryError;
use super::http::Failure;
use super::session::Session;

/// Bytes per `PATCH` of a chunked upload.
pub(crate) const CHUNK: u64 = 4 << 20;

/// What one blob's upload went through.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Uploaded {
    /// Bytes of the blob the registry accepted: its size, plus what an
    /// upload the registry dropped had already had.
    pub bytes_sent: u64,
    /// Times the upload continued at the registry's offset after a failure.
    pub resumed: u32,
    /// Times the registry had dropped the upload and it started again.
    pub restarted: u32,
    /// The registry had the blob after a failure: nothing more was sent.
    pub found_after_failure: bool,
}

/// An open upload session: where to send next and what the registry has.
struct Open {
    location: Url,
    offset: u64,
}

/// How a request's body is made.
pub(crate) struct Blob<'a> {
    pub path: PathBuf,
    pub digest: &'a str,
    pub size: u64,
    /// Called with the bytes the registry has confirmed (or, while one
    /// streamed request runs, the bytes sent so far).
    pub on_bytes: std::sync::Arc<dyn Fn(u64) + Send + Sync>,
}

/// Uploads `blob` (see the module docs); `chunked` sends `PATCH`es from
/// the start.
pub(crate) async fn upload(s: &Session<'_>, blob: &Blob<'_>, chunked: bool) -> Result<Uploaded, RegistryError> {
    let doing = format!("uploading blob {}", blob.digest);
    let mut st = Uploaded::default();
    let mut open: Option<Open> = None;
    // After a failure: the registry's state is unknown until asked.
    let mut unsure = false;
    let mut one_request = !chunked;
    let mut failures = 0u32;
    let mut confirmed_at_failure = 0u64;
    loop {
        let r = attempt(s, blob, &mut open, &mut unsure, one_request, &mut st).await;
        match r {
            Ok(()) => return Ok(st),
            Err(f) if one_request && wants_chunks(&f) => {
                // Refused as one request (a proxy's body limit, a registry
                // without monolithic uploads): send it in chunks.
                one_request = false;
                unsure = true;
            }
            Err(f) => {
                let now = open.as_ref().map_or(0, |o| o.offset);
                if now > confirmed_at_failure {
                    failures = 0;
                }
                confirmed_at_failure = now;
                failures += 1;
                s.after_failure(&doing, f, failures).await?;
                unsure = true;
                one_request = false;
            }
        }
    }
}

/// Whether a refusal of a one-request upload means "send it in chunks":
/// 413 (too large), 400/405/501 (not supported).
fn wants_chunks(f: &Failure) -> bool {
    matches!(f.status(), Some(400 | 405 | 413 | 501))
}

/// One try: find out where things stand if unsure, then send the rest.
async fn attempt(
    s: &Session<'_>,
    blob: &Blob<'_>,
    open: &mut Option<Open>,
    unsure: &mut bool,
    one_request: bool,
    st: &mut Uploaded,
) -> Result<(), Failure> {
    if *unsure {
        if s.has_blob(blob.digest).await? {
            st.found_after_failure = true;
            (blob.on_bytes)(blob.size);
            return Ok(());
        }
        if let Some(o) = open.as_mut() {
            match status(s, &o.location).await? {
                Some((location, offset)) => {
                    o.location = location;
                    o.offset = offset;
                    st.resumed += 1;
                }
                None => {
                    *open = None;
                    st.restarted += 1;
                }
            }
        }
        *unsure = false;
    }
    if open.is_none() {
        *open = Some(Open { location: begin(s).await?, offset: 0 });
    }
    let o = open.as_mut().expect("just opened");
    if one_request && o.offset == 0 {
        let url = with_digest(&o.location, blob.digest);
        let (path, size) = (blob.path.clone(), blob.size);
        let on_bytes = blob.on_bytes.clone();
        let r = s
            .send(Method::PUT, &url, true, |rb| {
                let on_bytes = on_bytes.clone();
                let mut sent = 0u64;
                let stream = file_stream(path.clone(), 0, size).inspect(move |b| {
                    if let Ok(b) = b {
                        sent += b.len() as u64;
                        on_bytes(sent);
                    }
                });
                let body = reqwest::Body::wrap_stream(stream);
                rb.header("Content-Type", "application/octet-stream").header("Content-Length", size).body(body)
            })
            .await?;
        if r.status() != StatusCode::CREATED {
            return Err(Failure::from_response(r).await);
        }
        st.bytes_sent += size;
        return Ok(());
    }
    while o.offset < blob.size {
        let n = CHUNK.min(blob.size - o.offset);
        let chunk = read_at(&blob.path, o.offset, n).await.map_err(|e| Failure::Status {
            code: 0,
            message: format!("reading {}: {e}", blob.path.display()),
            retry_after: None,
        })?;
        let (start, end) = (o.offset, o.offset + n - 1);
        let r = s
            .send(Method::PATCH, &o.location, false, |rb| {
                rb.header("Content-Type", "application/octet-stream")
                    .header("Content-Range", format!("{start}-{end}"))
                    .header("Content-Length", n)
                    .body(chunk.clone())
            })
            .await?;
        if r.status() != StatusCode::ACCEPTED {
            return Err(Failure::from_response(r).await);
        }
        st.bytes_sent += n;
        let location = location_of(s, &r)?;
        // The registry says how far it is; trust it over our count.
        let offset = range_end(&r).map_or(end + 1, |e| e + 1);
        o.location = location;
        o.offset = offset;
        (blob.on_bytes)(offset);
    }
    let url = with_digest(&o.location, blob.digest);
    let r = s.send(Method::PUT, &url, false, |rb| rb.header("Content-Length", 0)).await?;
    if r.status() != StatusCode::CREATED {
        return Err(Failure::from_response(r).await);
    }
    Ok(())
}

/// `POST .../blobs/uploads/`: a new upload's location.
async fn begin(s: &Session<'_>) -> Result<Url, Failure> {
    let r = s.send(Method::POST, &s.v2_url("blobs/uploads/"), false, |rb| rb.header("Content-Length", 0)).await?;
    if r.status() != StatusCode::ACCEPTED {
        return Err(Failure::from_response(r).await);
    }
    location_of(s, &r)
}

/// `GET <location>`: the upload's next location and offset, or `None` if
/// the registry dropped the upload.
async fn status(s: &Session<'_>, location: &Url) -> Result<Option<(Url, u64)>, Failure> {
    let r = s.send(Method::GET, location, false, |rb| rb).await?;
    match r.status() {
        StatusCode::NO_CONTENT | StatusCode::OK | StatusCode::ACCEPTED => {
            let next = location_of(s, &r).unwrap_or_else(|_| location.clone());
            Ok(Some((next, range_end(&r).map_or(0, |e| e + 1))))
        }
        StatusCode::NOT_FOUND | StatusCode::BAD_REQUEST => Ok(None),
        _ => Err(Failure::from_response(r).await),
    }
}

/// The answer's `Location`, made absolute.
fn location_of(s: &Session<'_>, r: &reqwest::Response) -> Result<Url, Failure> {
    let loc =
        r.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok()).ok_or_else(|| Failure::Status {
            code: r.status().as_u16(),
            message: "the registry's answer has no Location for the upload".into(),
            retry_after: None,
        })?;
    s.base_url().join(loc).map_err(|e| Failure::Status {
        code: r.status().as_u16(),
        message: format!("the upload Location '{loc}' is not a URL: {e}"),
        retry_after: None,
    })
}

/// The last byte the registry holds, from `Range: 0-N` (`0-0` with nothing
/// is read as nothing: distribution says `0-0` for an empty upload).
fn range_end(r: &reqwest::Response) -> Option<u64> {
    let v = r.headers().get(reqwest::header::RANGE)?.to_str().ok()?;
    let (start, end) = v.trim().trim_start_matches("bytes=").split_once('-')?;
    let (start, end): (u64, u64) = (start.parse().ok()?, end.parse().ok()?);
    (start == 0 && end > 0).then_some(end)
}

fn with_digest(location: &Url, digest: &str) -> Url {
    let mut u = location.clone();
    u.query_pairs_mut().append_pair("digest", digest);
    u
}

async fn read_at(path: &std::path::Path, offset: u64, n: u64) -> std::io::Result<Bytes> {
    let mut f = tokio::fs::File::open(path).await?;
    f.seek(std::io::SeekFrom::Start(offset)).await?;
    let mut buf = vec![0u8; n as usize];
    f.read_exact(&mut buf).await?;
    Ok(Bytes::from(buf))
}

/// `path` from `offset`, `len` bytes, in 1 MiB pieces.
fn file_stream(
    path: PathBuf,
    offset: u64,
    len: u64,
) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    futures_util::stream::try_unfold((None::<tokio::fs::File>, path, len), move |(file, path, left)| async move {
        if left == 0 {
            return Ok(None);
        }
        let mut f = match file {
            Some(f) => f,
            None => {
                let mut f = tokio::fs::File::open(&path).await?;
                f.seek(std::io::SeekFrom::Start(offset)).await?;
                f
            }
        };
        let mut buf = vec![0u8; (1u64 << 20).min(left) as usize];
        f.read_exact(&mut buf).await?;
        let n = buf.len() as u64;
        Ok(Some((Bytes::from(buf), (Some(f), path, left - n))))
    })
    .boxed()
}
