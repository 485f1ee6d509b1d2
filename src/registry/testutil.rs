//! Test helpers: a real registry (Debian's `docker-registry`, i.e.
//! distribution 2.8) on a free loopback port, with or without htpasswd
//! auth or TLS; and images built in temp stores.
//!
//! A missing `docker-registry` (or `openssl`, for TLS) skips the test with
//! a printed reason — except under `CI=true`, where it fails (DESIGN.md §9).

use std::io::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::image::{Descriptor, MediaType};

use crate::image::{ImageBuilder, NewLayer};
use crate::layer::{Compression, LayerInfo};
use crate::store::Store;

/// A CA certificate for parsing tests (not used to sign anything).
pub(crate) fn ca_pem() -> String {
    "-----BEGIN CERTIFICATE-----
MIIBlDCCATmgAwIBAgIUWlwtHyeced4m/5q63Xan7P5IaigwCgYIKoZIzj0EAwIw
HjEcMBoGA1UEAwwTc3RyYXRhLXVuaXQtdGVzdC1jYTAgFw0yNjExMjAyMjI4MTFa
GA8yMTI2MTAyNzIyMjgxMVowHjEcMBoGA1UEAwwTc3RyYXRhLXVuaXQtdGVzdC1j
YTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABGEjfueoEUlyQFNuZnV16z8zty6E
Szvtfwl2g++HQijT8qxoLQLqPcN5PXwXvHQrmrQeuUaCnIg3Mr8jFIYn9X2jUzBR
MB0GA1UdDgQWBBSlthb41C3frIVjomt90QFmO38FyTAfBgNVHSMEGDAWgBSlthb4
1C3frIVjomt90QFmO38FyTAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0kA
MEYCIQCrGH1j5EkaLbBEUgrqB3p8SA87X7aob1J2qUtL5E4vMwIhALrFAzTbG/cD
dUxpdlTBdwS7H5Tj0lEJPE1JRsTWu+3H
-----END CERTIFICATE-----
"
    .to_owned()
}

pub(crate) use crate::testutil::need_tool as need;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    Open,
    Htpasswd,
    Tls,
}

/// A running `docker-registry serve`, killed on drop.
pub(crate) struct TestRegistry {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    pub dir: tempfile::TempDir,
    /// For `Flavor::Tls`: a certs.d root with `<addr>/ca.crt` in it.
    pub certs_d: Option<PathBuf>,
    child: Option<Child>,
    config: PathBuf,
}

pub(crate) const USER: &str = "strata-user";
pub(crate) const PASSWORD: &str = "correct-horse-battery";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A CA and a server certificate for 127.0.0.1, made with the openssl CLI.
fn make_tls(dir: &Path) {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    run(Command::new("openssl").current_dir(dir).args(["req", "-x509"]).args(ec).args([
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=strata-test-ca",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]));
    run(Command::new("openssl").current_dir(dir).arg("req").args(ec).args([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]));
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(Command::new("openssl").current_dir(dir).args([
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]));
}

impl TestRegistry {
    /// Starts a registry, or returns `None` (test skipped) if the tools are
    /// missing outside CI.
    pub(crate) fn start(flavor: Flavor) -> Option<TestRegistry> {
        Self::start_listening(flavor, "127.0.0.1")
    }

    /// Like [`TestRegistry::start`], listening on `host` (e.g. `0.0.0.0`);
    /// `addr` is still its loopback address.
    pub(crate) fn start_listening(flavor: Flavor, host: &str) -> Option<TestRegistry> {
        if !need("docker-registry") {
            return None;
        }
        if flavor == Flavor::Htpasswd && !need("htpasswd") {
            return None;
        }
        if flavor == Flavor::Tls && !need("openssl") {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let listen = format!("{host}:{port}");
        let mut extra = String::new();
        if flavor == Flavor::Htpasswd {
            let out = Command::new("htpasswd").args(["-Bbn", USER, PASSWORD]).output().unwrap();
            assert!(out.status.success());
            std::fs::write(dir.path().join("htpasswd"), out.stdout).unwrap();
            extra.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: strata-test\n    path: {}\n",
                dir.path().join("htpasswd").display()
            ));
        }
        let mut tls = String::new();
        let mut certs_d = None;
        if flavor == Flavor::Tls {
            make_tls(dir.path());
            tls = format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                dir.path().join("server.crt").display(),
                dir.path().join("server.key").display()
            );
            let d = dir.path().join("certs.d");
            std::fs::create_dir_all(d.join(&addr)).unwrap();
            std::fs::copy(dir.path().join("ca.crt"), d.join(&addr).join("ca.crt")).unwrap();
            certs_d = Some(d);
        }
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                 http:\n  addr: {listen}\n  secret: strata-test-secret\n{tls}{extra}",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let mut r = TestRegistry { addr, dir, certs_d, child: None, config };
        r.spawn();
        Some(r)
    }

    fn spawn(&mut self) {
        let log =
            std::fs::OpenOptions::new().create(true).append(true).open(self.dir.path().join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("docker-registry starts");
        self.child = Some(child);
        let addr: SocketAddr = self.addr.parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("docker-registry exited ({status}): {}", self.log());
            }
            assert!(Instant::now() < deadline, "docker-registry did not listen on {}: {}", self.addr, self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Kills the registry (SIGKILL: no graceful shutdown, like a crash).
    pub(crate) fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port with the same storage.
    pub(crate) fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Bytes of blob data the registry holds (its storage, uploads excluded).
    pub(crate) fn has_blob(&self, digest: &oci_spec::image::Digest) -> bool {
        let hex = digest.digest();
        self.dir.path().join("data/docker/registry/v2/blobs/sha256").join(&hex[..2]).join(hex).join("data").is_file()
    }

    /// An auth file with `user:password` for this registry.
    pub(crate) fn auth_file(&self, user: &str, password: &str) -> PathBuf {
        use base64::Engine as _;
        let p = self.dir.path().join(format!("auth-{user}.json"));
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let mut f = std::fs::File::create(&p).unwrap();
        write!(f, r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, self.addr).unwrap();
        p
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A non-loopback IPv4 address of this machine, if it has one.
pub(crate) fn lan_ip() -> Option<std::net::IpAddr> {
    // Connecting a UDP socket sends nothing; it only picks the interface.
    let sock = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    sock.connect("10.255.255.255:9").ok()?;
    let ip = sock.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// Registry options that see no credentials, certificates or settings of
/// the machine: only `auth_files` and the registry's certs.d (if any).
pub(crate) fn options(reg: Option<&TestRegistry>, auth_files: Vec<PathBuf>) -> crate::registry::RegistryOptions {
    let mut o = crate::registry::RegistryOptions::from_env();
    o.auth = crate::registry::AuthConfig::with_files(auth_files);
    o.auth.helper_dirs = Some(Vec::new());
    o.certs_dirs = reg.and_then(|r| r.certs_d.clone()).into_iter().collect();
    o.retry = crate::registry::RetryPolicy {
        attempts: 3,
        initial_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(400),
        max_retry_after: Duration::from_secs(2),
    };
    o.connect_timeout = Duration::from_secs(5);
    o.read_timeout = Duration::from_secs(20);
    o
}

/// A tar with one file of `size` pseudo-random (incompressible) bytes,
/// streamed into the store.
pub(crate) fn random_tar_layer(store: &Store, name: &str, size: u64, seed: u64) -> Descriptor {
    struct Rng(u64);
    impl std::io::Read for Rng {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            for chunk in buf.chunks_mut(8) {
                // xorshift64*
                self.0 ^= self.0 >> 12;
                self.0 ^= self.0 << 25;
                self.0 ^= self.0 >> 27;
                let v = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
                chunk.copy_from_slice(&v[..chunk.len()]);
            }
            Ok(buf.len())
        }
    }
    let w = store.blob_writer().unwrap();
    let mut t = tar::Builder::new(w);
    let mut h = tar::Header::new_ustar();
    h.set_path(name).unwrap();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_cksum();
    t.append(&h, std::io::Read::take(Rng(seed | 1), size)).unwrap();
    let w = t.into_inner().unwrap();
    let (digest, size) = w.commit(None).unwrap();
    Descriptor::new(MediaType::ImageLayer, size, digest)
}

/// An image of `layers` (uncompressed tars) built with `ImageBuilder`,
/// named `name` in the store.
pub(crate) fn image(store: &Store, name: &str, layers: &[Descriptor]) -> Descriptor {
    let mut b = ImageBuilder::scratch(0).platform("linux/amd64".parse().unwrap());
    for l in layers {
        b = b.layer(NewLayer {
            info: LayerInfo {
                digest: l.digest().clone(),
                diff_id: l.digest().clone(),
                size: l.size(),
                compression: Compression::None,
            },
            created_by: format!("test layer {}", l.digest()),
            comment: None,
        });
    }
    let d = b.build(store).unwrap();
    store.set_ref(name, &d).unwrap();
    d
}

/// A small image: two small layers.
pub(crate) fn small_image(store: &Store, name: &str, seed: u64) -> Descriptor {
    let a = random_tar_layer(store, "a.bin", 10_000, seed);
    let b = random_tar_layer(store, "b.bin", 20_000, seed + 1);
    image(store, name, &[a, b])
}

/// `skopeo inspect --raw` digest of a remote reference (sha256 of the raw
/// manifest, which is what skopeo reports as `Digest`).
pub(crate) fn skopeo_digest(reference: &str, extra: &[&str]) -> String {
    let out = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--format", "{{.Digest}}"])
        .args(extra)
        .arg(format!("docker://{reference}"))
        .output()
        .expect("skopeo runs");
    assert!(out.status.success(), "skopeo inspect {reference}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// What [`FlakyProxy`] does with one request.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Fault {
    /// Forward this one.
    Pass,
    /// Drop the connection with a TCP reset after reading the request.
    Reset,
    /// Answer with this status (and keep the connection).
    Status(u16),
    /// Forward, but cut the connection after this many bytes of the answer's body.
    Cut(usize),
}

/// An HTTP/1.1 proxy in front of a registry that applies `faults`, in
/// order, to the requests it sees (one fault per request; the `/v2/` pings
/// oci-client sends before requests are always forwarded, since their
/// answers are not checked), then forwards everything faithfully. Requests
/// are relayed one at a time per connection, bodies by `Content-Length`
/// (which is all oci-client sends). Stops accepting when dropped.
pub(crate) struct FlakyProxy {
    pub addr: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

fn read_head(r: &mut impl std::io::BufRead) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    loop {
        let mut line = Vec::new();
        if r.read_until(b'\n', &mut line).ok()? == 0 {
            return None;
        }
        head.extend_from_slice(&line);
        if line == b"\r\n" {
            return Some(head);
        }
    }
}

fn content_length(head: &[u8]) -> u64 {
    String::from_utf8_lossy(head)
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case("content-length").then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0)
}

fn reset(conn: &TcpStream) {
    use std::os::fd::AsRawFd as _;
    // SO_LINGER 0: close sends RST, like a dropped connection.
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: setsockopt on a socket we own, with a valid struct.
    unsafe {
        libc::setsockopt(
            conn.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

type Shared<T> = std::sync::Arc<std::sync::Mutex<T>>;

/// Sends a request upstream and reads the whole answer back.
fn forward(
    head: &[u8],
    body: &[u8],
    to_up: &mut TcpStream,
    from_up: &mut std::io::BufReader<TcpStream>,
) -> Option<(Vec<u8>, Vec<u8>)> {
    use std::io::Read as _;
    to_up.write_all(head).and_then(|_| to_up.write_all(body)).ok()?;
    let rhead = read_head(from_up)?;
    let status: u16 = String::from_utf8_lossy(&rhead).split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let no_body = head.starts_with(b"HEAD ") || status == 204 || status == 304;
    let mut rbody = vec![0u8; if no_body { 0 } else { content_length(&rhead) as usize }];
    from_up.read_exact(&mut rbody).ok()?;
    Some((rhead, rbody))
}

fn relay(
    conn: TcpStream,
    upstream: &str,
    faults: &Shared<std::collections::VecDeque<Fault>>,
    log: &Shared<Vec<String>>,
) {
    use std::io::{BufReader, Read as _};
    let Ok(up) = TcpStream::connect(upstream) else { return };
    let mut from_client = BufReader::new(conn.try_clone().unwrap());
    let mut to_client = conn;
    let mut from_up = BufReader::new(up.try_clone().unwrap());
    let mut to_up = up;
    while let Some(head) = read_head(&mut from_client) {
        let mut body = vec![0u8; content_length(&head) as usize];
        if from_client.read_exact(&mut body).is_err() {
            return;
        }
        let text = String::from_utf8_lossy(&head).to_string();
        let mut line = text.lines().next().unwrap_or("").to_owned();
        if let Some(range) = text.lines().find(|l| l.to_ascii_lowercase().starts_with("range:")) {
            line = format!("{line} [{range}]");
        }
        log.lock().unwrap().push(line);
        let ping = head.starts_with(b"GET /v2/ ");
        let fault = if ping { None } else { faults.lock().unwrap().pop_front() };
        match fault {
            Some(Fault::Reset) => {
                reset(&to_client);
                return;
            }
            Some(Fault::Status(code)) => {
                let msg = format!(
                    "HTTP/1.1 {code} Injected\r\nContent-Type: text/plain\r\nContent-Length: 8\r\n\r\ninjected"
                );
                if to_client.write_all(msg.as_bytes()).is_err() {
                    return;
                }
                continue;
            }
            Some(Fault::Pass | Fault::Cut(_)) | None => {}
        }
        let Some((rhead, rbody)) = forward(&head, &body, &mut to_up, &mut from_up) else { return };
        if let Some(Fault::Cut(n)) = fault {
            let _ = to_client.write_all(&rhead).and_then(|_| to_client.write_all(&rbody[..n.min(rbody.len())]));
            reset(&to_client);
            return;
        }
        if to_client.write_all(&rhead).and_then(|_| to_client.write_all(&rbody)).is_err() {
            return;
        }
    }
}

impl FlakyProxy {
    pub(crate) fn start(upstream: &str, faults: &[Fault]) -> FlakyProxy {
        use std::sync::atomic::Ordering;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let upstream = upstream.to_owned();
        let stopping = stop.clone();
        let faults = std::sync::Arc::new(std::sync::Mutex::new(faults.iter().copied().collect()));
        let log: Shared<Vec<String>> = Default::default();
        let log2 = log.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (upstream, faults, log) = (upstream.clone(), faults.clone(), log2.clone());
                std::thread::spawn(move || relay(conn, &upstream, &faults, &log));
            }
        });
        FlakyProxy { addr, stop, log }
    }

    /// Request lines seen so far (`PATCH /v2/... HTTP/1.1`).
    pub(crate) fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    pub(crate) fn saw(&self, prefix: &str) -> bool {
        self.requests().iter().any(|l| l.starts_with(prefix))
    }
}

impl Drop for FlakyProxy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(&self.addr);
    }
}

/// A registry front that demands bearer tokens, as Docker Hub, GHCR or
/// Harbor do: `GET /token` (HTTP Basic, `USER`/`PASSWORD`) hands out a
/// token; registry requests without it get 401 and a `Bearer` challenge;
/// with it they are forwarded (minus the header) to the real registry.
pub(crate) struct TokenProxy {
    pub addr: String,
    /// Token requests seen: (had valid credentials, query string).
    pub token_requests: Shared<Vec<(bool, String)>>,
}

const TOKEN: &str = "strata-test-token-0123456789";

fn token_relay(conn: TcpStream, upstream: &str, me: &str, seen: &Shared<Vec<(bool, String)>>) {
    use base64::Engine as _;
    use std::io::{BufReader, Read as _};
    let Ok(up) = TcpStream::connect(upstream) else { return };
    let mut from_client = BufReader::new(conn.try_clone().unwrap());
    let mut to_client = conn;
    let mut from_up = BufReader::new(up.try_clone().unwrap());
    let mut to_up = up;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    let answer = |to: &mut TcpStream, status: &str, extra: &str, body: &str| {
        let msg = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        to.write_all(msg.as_bytes()).is_ok()
    };
    while let Some(head) = read_head(&mut from_client) {
        let mut body = vec![0u8; content_length(&head) as usize];
        if from_client.read_exact(&mut body).is_err() {
            return;
        }
        let text = String::from_utf8_lossy(&head).to_string();
        let target = text.split(' ').nth(1).unwrap_or("").to_owned();
        let auth = text
            .lines()
            .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("authorization")))
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default();
        let ok = if let Some(query) = target.strip_prefix("/token") {
            let valid = auth == format!("Basic {basic}");
            seen.lock().unwrap().push((valid, query.to_owned()));
            if valid {
                answer(&mut to_client, "200 OK", "", &format!(r#"{{"token":"{TOKEN}","expires_in":300}}"#))
            } else {
                answer(&mut to_client, "401 Unauthorized", "", r#"{"details":"incorrect username or password"}"#)
            }
        } else if auth != format!("Bearer {TOKEN}") {
            let challenge = format!("WWW-Authenticate: Bearer realm=\"http://{me}/token\",service=\"strata-test\"\r\n");
            answer(
                &mut to_client,
                "401 Unauthorized",
                &challenge,
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
            )
        } else {
            let head: String = text
                .split_inclusive("\r\n")
                .filter(|l| !l.to_ascii_lowercase().starts_with("authorization:"))
                .collect();
            let Some((rhead, rbody)) = forward(head.as_bytes(), &body, &mut to_up, &mut from_up) else { return };
            to_client.write_all(&rhead).and_then(|_| to_client.write_all(&rbody)).is_ok()
        };
        if !ok {
            return;
        }
    }
}

impl TokenProxy {
    pub(crate) fn start(upstream: &str) -> TokenProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let token_requests: Shared<Vec<(bool, String)>> = Default::default();
        let (upstream, me, seen) = (upstream.to_owned(), addr.clone(), token_requests.clone());
        // Lives as long as the test process; each test uses its own port.
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (upstream, me, seen) = (upstream.clone(), me.clone(), seen.clone());
                std::thread::spawn(move || token_relay(conn, &upstream, &me, &seen));
            }
        });
        TokenProxy { addr, token_requests }
    }
}
