//! A loopback HTTP/1.1 proxy for tests that puts faults between strata and
//! a real registry, following a script.
//!
//! A [`Plan`] is a list of [`Rule`]s: a method, a path pattern (`*` matches
//! any run of characters, the query string is not part of the path) and
//! which occurrences of a matching request it hits (the 2nd, the first 3,
//! every one), with the [`Fault`] to apply: a TCP reset before the request
//! is forwarded, a stall, an answer of its own (500, 503, 429…, with or
//! without `Retry-After`), or a forwarded answer whose body is cut short,
//! corrupted or stalled halfway; or a request body cut short on its way to
//! the registry. Every request that matches no rule (or whose rule is used
//! up) is relayed faithfully. The proxy logs every request and every fault
//! it injected, so a test can count them and check what the client sent.
//!
//! It speaks plain HTTP only (a TLS handshake is reset, so strata's
//! HTTPS probe falls back to HTTP, as for a plain loopback registry). It
//! runs on its own tokio runtime on a background thread and stops when
//! dropped. Bodies are streamed, framed by `Content-Length` or chunked
//! transfer encoding (answers without either are read to the end).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does to a request a rule hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Reset the connection (RST) without forwarding the request.
    Reset,
    /// Wait this long, then forward (a client with a shorter timeout gives
    /// up first; then nothing is forwarded).
    Stall(Duration),
    /// Answer with this status without forwarding; `retry_after` in seconds.
    Status { code: u16, retry_after: Option<u64> },
    /// Forward; pass the first `n` bytes of the answer's body, then reset.
    Truncate(u64),
    /// Forward; after `n` bytes of the answer's body, stop sending (and
    /// keep the connection open) for `pause`, then reset.
    StallBody { after: u64, pause: Duration },
    /// Forward; flip the bits of the answer body's byte at offset `n`.
    Corrupt(u64),
    /// Forward only the first `n` bytes of the request's body, then reset
    /// both connections (an upload cut halfway: the registry saw part of it).
    CutRequest(u64),
    /// Forward the whole request, then reset instead of passing the answer
    /// on (the registry did it; the client never hears).
    LoseAnswer,
}

impl Fault {
    pub(crate) fn status(code: u16) -> Fault {
        Fault::Status { code, retry_after: None }
    }

    pub(crate) fn retry_after(code: u16, secs: u64) -> Fault {
        Fault::Status { code, retry_after: Some(secs) }
    }
}

/// Which of the matching requests a rule hits (counting from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum When {
    Nth(u32),
    /// The first `n`.
    First(u32),
    /// The `n`th and every one after it.
    From(u32),
    Every,
}

#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub method: String,
    pub path: String,
    pub when: When,
    pub fault: Fault,
}

/// A rule: `method` (`*` for any) and `path` pattern, the `n`th match.
pub(crate) fn on(method: &str, path: &str, when: When, fault: Fault) -> Rule {
    Rule { method: method.to_owned(), path: path.to_owned(), when, fault }
}

pub(crate) type Plan = Vec<Rule>;

/// One request the proxy saw.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    pub range: Option<String>,
    pub content_range: Option<String>,
    /// Request body bytes forwarded to the registry.
    pub forwarded: u64,
    /// The answer's status as the client got it (0: none).
    pub status: u16,
    pub fault: Option<Fault>,
}

impl Seen {
    pub(crate) fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
}

#[derive(Default)]
struct State {
    plan: Plan,
    hits: Vec<u32>,
    seen: Vec<Seen>,
}

type Shared = Arc<Mutex<State>>;

pub(crate) struct FaultProxy {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    state: Shared,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// `*` matches any run of characters; everything else literally.
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

impl State {
    /// The fault for a request, counting it against every rule it matches
    /// (the first rule that fires wins).
    fn fault_for(&mut self, method: &str, path: &str) -> Option<Fault> {
        let mut chosen = None;
        for (i, r) in self.plan.iter().enumerate() {
            if (r.method != "*" && r.method != method) || !glob(&r.path, path) {
                continue;
            }
            self.hits[i] += 1;
            let n = self.hits[i];
            let fires = match r.when {
                When::Nth(k) => n == k,
                When::First(k) => n <= k,
                When::From(k) => n >= k,
                When::Every => true,
            };
            if fires && chosen.is_none() {
                chosen = Some(r.fault);
            }
        }
        chosen
    }
}

impl FaultProxy {
    /// A proxy in front of `upstream` (`host:port`) applying `plan`.
    pub(crate) fn start(upstream: &str, plan: Plan) -> FaultProxy {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let addr = std_listener.local_addr().unwrap().to_string();
        let hits = vec![0; plan.len()];
        let state: Shared = Arc::new(Mutex::new(State { plan, hits, seen: Vec::new() }));
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let upstream = upstream.to_owned();
        let st = state.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = TcpListener::from_std(std_listener).unwrap();
                loop {
                    tokio::select! {
                        _ = &mut rx => break,
                        a = listener.accept() => {
                            let Ok((conn, _)) = a else { continue };
                            let (up, st) = (upstream.clone(), st.clone());
                            tokio::spawn(async move { let _ = relay(conn, &up, &st).await; });
                        }
                    }
                }
            });
            rt.shutdown_timeout(Duration::from_millis(100));
        });
        FaultProxy { addr, state, stop: Some(tx), thread: Some(thread) }
    }

    /// Every request so far, in the order they arrived (one still running
    /// shows what is known of it yet).
    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// The faults injected so far.
    pub(crate) fn injected(&self) -> Vec<(String, Fault)> {
        self.seen().into_iter().filter_map(|s| Some((format!("{} {}", s.method, s.path()), s.fault?))).collect()
    }

    /// Replaces the plan (and restarts the occurrence counts).
    pub(crate) fn set_plan(&self, plan: Plan) {
        let mut st = self.state.lock().unwrap();
        st.hits = vec![0; plan.len()];
        st.plan = plan;
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A request or answer head: the first line and the header lines.
struct Head {
    raw: Vec<u8>,
    first: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn framing(&self) -> Framing {
        if self.header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
            Framing::Chunked
        } else if let Some(n) = self.header("content-length").and_then(|v| v.trim().parse().ok()) {
            Framing::Length(n)
        } else {
            Framing::ToEnd
        }
    }
}

#[derive(Clone, Copy)]
enum Framing {
    Length(u64),
    Chunked,
    ToEnd,
}

async fn read_head<R: tokio::io::AsyncBufRead + Unpin>(r: &mut R) -> Option<Head> {
    let mut raw = Vec::new();
    loop {
        let n = r.read_until(b'\n', &mut raw).await.ok()?;
        if n == 0 {
            return None;
        }
        if raw.ends_with(b"\r\n\r\n") || raw == b"\r\n" {
            break;
        }
        if raw.len() > 64 << 10 {
            return None;
        }
    }
    let text = String::from_utf8_lossy(&raw).to_string();
    let mut lines = text.split("\r\n");
    let first = lines.next().unwrap_or("").to_owned();
    let headers =
        lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned())).collect();
    Some(Head { raw, first, headers })
}

/// What to do to a body on its way through, at byte offsets of its content.
#[derive(Default, Clone, Copy)]
struct BodyFault {
    cut_at: Option<u64>,
    corrupt_at: Option<u64>,
    stall: Option<(u64, Duration)>,
}

enum Copied {
    /// The whole body went through: its length.
    Done(u64),
    /// Stopped at a fault (cut or stall) after this many bytes.
    Cut(u64),
    /// Either side failed.
    Broken,
}

/// Copies a body framed by `framing` from `from` to `to`, applying `f` (for
/// chunked bodies the offsets count the chunk framing too).
async fn copy_body<R, W>(from: &mut R, to: &mut W, framing: Framing, f: BodyFault) -> Copied
where
    R: tokio::io::AsyncBufRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    let mut pos = 0u64;
    let mut buf = vec![0u8; 64 << 10];
    // Passes `data` on, applying the faults; false when a fault stops it.
    macro_rules! pass {
        ($data:expr) => {{
            let data: &mut [u8] = $data;
            let start = pos;
            let end = pos + data.len() as u64;
            if let Some(c) = f.corrupt_at
                && (start..end).contains(&c)
            {
                data[(c - start) as usize] ^= 0xff;
            }
            let stop = [f.cut_at, f.stall.map(|s| s.0)].into_iter().flatten().filter(|&k| k < end).min();
            let upto = stop.map_or(data.len(), |k| (k.max(start) - start) as usize);
            if to.write_all(&data[..upto]).await.is_err() {
                return Copied::Broken;
            }
            pos += upto as u64;
            if stop.is_some() {
                let _ = to.flush().await;
                if let Some((_, pause)) = f.stall {
                    tokio::time::sleep(pause).await;
                }
                return Copied::Cut(pos);
            }
        }};
    }
    match framing {
        Framing::Length(n) => {
            let mut left = n;
            while left > 0 {
                let want = buf.len().min(left as usize);
                let Ok(r) = from.read(&mut buf[..want]).await else { return Copied::Broken };
                if r == 0 {
                    return Copied::Broken;
                }
                left -= r as u64;
                pass!(&mut buf[..r]);
            }
        }
        Framing::ToEnd => loop {
            let Ok(r) = from.read(&mut buf).await else { return Copied::Broken };
            if r == 0 {
                break;
            }
            pass!(&mut buf[..r]);
        },
        Framing::Chunked => loop {
            let mut line = Vec::new();
            if from.read_until(b'\n', &mut line).await.unwrap_or(0) == 0 {
                return Copied::Broken;
            }
            let size = u64::from_str_radix(String::from_utf8_lossy(&line).trim().split(';').next().unwrap_or(""), 16);
            let Ok(size) = size else { return Copied::Broken };
            pass!(&mut line[..]);
            if size == 0 {
                // Trailers, up to the empty line.
                loop {
                    let mut t = Vec::new();
                    if from.read_until(b'\n', &mut t).await.unwrap_or(0) == 0 {
                        return Copied::Broken;
                    }
                    pass!(&mut t[..]);
                    if t == b"\r\n" {
                        break;
                    }
                }
                break;
            }
            let mut left = size + 2;
            while left > 0 {
                let want = buf.len().min(left as usize);
                let Ok(r) = from.read(&mut buf[..want]).await else { return Copied::Broken };
                if r == 0 {
                    return Copied::Broken;
                }
                left -= r as u64;
                pass!(&mut buf[..r]);
            }
        },
    }
    if to.flush().await.is_err() {
        return Copied::Broken;
    }
    Copied::Done(pos)
}

/// Closes `conn` with a TCP reset.
fn reset(conn: TcpStream) {
    // SO_LINGER 0 makes close send RST; it never blocks (tokio's warning is
    // about a non-zero linger time).
    #[allow(deprecated)]
    let _ = conn.set_linger(Some(Duration::ZERO));
    drop(conn);
}

async fn relay(client: TcpStream, upstream: &str, state: &Shared) -> std::io::Result<()> {
    // A TLS handshake (strata probes loopback registries for HTTPS first):
    // refused at once, as a plain HTTP registry's port would.
    let mut first = [0u8; 1];
    if client.peek(&mut first).await? == 1 && first[0] == 0x16 {
        reset(client);
        return Ok(());
    }
    let mut client = BufReader::new(client);
    let mut up: Option<BufReader<TcpStream>> = None;
    loop {
        let Some(head) = read_head(&mut client).await else { return Ok(()) };
        let mut words = head.first.split(' ');
        let method = words.next().unwrap_or("").to_owned();
        let target = words.next().unwrap_or("").to_owned();
        let path = target.split('?').next().unwrap_or("").to_owned();
        let fault = state.lock().unwrap().fault_for(&method, &path);
        let mut seen = Seen {
            method: method.clone(),
            target,
            range: head.header("range").map(str::to_owned),
            content_range: head.header("content-range").map(str::to_owned),
            forwarded: 0,
            status: 0,
            fault,
        };
        // Logged in the order requests arrive, completed when they end.
        let idx = {
            let mut st = state.lock().unwrap();
            st.seen.push(seen.clone());
            st.seen.len() - 1
        };
        let log = |seen: Seen| state.lock().unwrap().seen[idx] = seen;
        let req_framing = match head.framing() {
            Framing::ToEnd => Framing::Length(0),
            f => f,
        };
        match fault {
            Some(Fault::Reset) => {
                log(seen);
                reset(client.into_inner());
                return Ok(());
            }
            Some(Fault::Status { code, retry_after }) => {
                // Read (and drop) the body, then answer.
                if !matches!(
                    copy_body(&mut client, &mut tokio::io::sink(), req_framing, BodyFault::default()).await,
                    Copied::Done(_)
                ) {
                    log(seen);
                    return Ok(());
                }
                let body =
                    format!(r#"{{"errors":[{{"code":"UNAVAILABLE","message":"injected {code}","detail":null}}]}}"#);
                let ra = retry_after.map(|s| format!("Retry-After: {s}\r\n")).unwrap_or_default();
                let msg = format!(
                    "HTTP/1.1 {code} Injected\r\nContent-Type: application/json\r\n{ra}Content-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                seen.status = code;
                log(seen);
                client.get_mut().write_all(msg.as_bytes()).await?;
                continue;
            }
            Some(Fault::Stall(d)) => {
                tokio::time::sleep(d).await;
                // A client that gave up meanwhile has closed its end (only
                // visible for requests without a body: no data is due).
                if matches!(req_framing, Framing::Length(0)) {
                    let mut probe = [0u8; 1];
                    let peek = tokio::time::timeout(Duration::from_millis(5), client.get_mut().peek(&mut probe));
                    if matches!(peek.await, Ok(Ok(0) | Err(_))) {
                        log(seen);
                        return Ok(());
                    }
                }
            }
            _ => {}
        }
        if up.is_none() {
            up = Some(BufReader::new(TcpStream::connect(upstream).await?));
        }
        let u = up.as_mut().expect("connected");
        u.get_mut().write_all(&head.raw).await?;
        let cut = match fault {
            Some(Fault::CutRequest(n)) => BodyFault { cut_at: Some(n), ..Default::default() },
            _ => BodyFault::default(),
        };
        match copy_body(&mut client, u.get_mut(), req_framing, cut).await {
            Copied::Done(n) => seen.forwarded = n,
            Copied::Cut(n) => {
                seen.forwarded = n;
                log(seen);
                // Let the registry read what it got before the reset.
                tokio::time::sleep(Duration::from_millis(50)).await;
                reset(up.take().expect("connected").into_inner());
                reset(client.into_inner());
                return Ok(());
            }
            Copied::Broken => {
                log(seen);
                return Ok(());
            }
        }
        let u = up.as_mut().expect("connected");
        let Some(rhead) = read_head(u).await else {
            log(seen);
            return Ok(());
        };
        seen.status = rhead.first.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let no_body = method == "HEAD" || matches!(seen.status, 100..=199 | 204 | 304);
        let framing = if no_body { Framing::Length(0) } else { rhead.framing() };
        if fault == Some(Fault::LoseAnswer) {
            let _ = copy_body(u, &mut tokio::io::sink(), framing, BodyFault::default()).await;
            seen.status = 0;
            log(seen);
            reset(client.into_inner());
            return Ok(());
        }
        client.get_mut().write_all(&rhead.raw).await?;
        let bf = match fault {
            Some(Fault::Truncate(n)) => BodyFault { cut_at: Some(n), ..Default::default() },
            Some(Fault::StallBody { after, pause }) => BodyFault { stall: Some((after, pause)), ..Default::default() },
            Some(Fault::Corrupt(n)) => BodyFault { corrupt_at: Some(n), ..Default::default() },
            _ => BodyFault::default(),
        };
        let done = copy_body(u, client.get_mut(), framing, bf).await;
        log(seen);
        match done {
            Copied::Done(_) if !matches!(framing, Framing::ToEnd) => {}
            Copied::Done(_) => return Ok(()),
            Copied::Cut(_) | Copied::Broken => {
                if let Some(u) = up.take() {
                    reset(u.into_inner());
                }
                reset(client.into_inner());
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_patterns() {
        assert!(glob("/v2/*/blobs/uploads/*", "/v2/a/b/blobs/uploads/1234"));
        assert!(glob("/v2/*/blobs/sha256:*", "/v2/x/blobs/sha256:ab"));
        assert!(!glob("/v2/*/blobs/uploads/*", "/v2/a/manifests/v1"));
        assert!(glob("/v2/", "/v2/"));
        assert!(!glob("/v2/", "/v2/x"));
        assert!(glob("*", "anything"));
    }

    #[test]
    fn rules_fire_on_their_occurrences_and_the_first_firing_rule_wins() {
        let mut st = State {
            plan: vec![
                on("GET", "/v2/*/blobs/*", When::Nth(2), Fault::Reset),
                on("*", "/v2/*", When::First(1), Fault::status(503)),
            ],
            hits: vec![0, 0],
            seen: vec![],
        };
        assert_eq!(st.fault_for("GET", "/v2/a/blobs/x"), Some(Fault::status(503)));
        assert_eq!(st.fault_for("GET", "/v2/a/blobs/x"), Some(Fault::Reset));
        assert_eq!(st.fault_for("GET", "/v2/a/blobs/x"), None);
        assert_eq!(st.fault_for("PUT", "/v2/a/manifests/x"), None);
    }
}
