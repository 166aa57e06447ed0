//! Fixtures for the capability tests: packages with a manifest and a policy of the test's own,
//! loopback servers that count what reaches them, and a stub resolver that counts queries.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use wasmgov::{LoadOptions, ResolveFuture, Resolver, Runtime, Tool};

use crate::support::{shared_state, tool};

/// Generous ceilings, so limits never get in the way of capability tests.
const LIMITS: &str = r#"
[limits]
fuel = 1_000_000_000_000
memory = "256 MiB"
timeout = "60s"
output = "64 MiB"
host-calls = 100_000_000
"#;

/// The principal the capability tests publish as.
pub const TEST_PUBLISHER: &str = "tests@example.com";

/// The signing key file of the capability tests' publisher, made once per run.
pub fn test_key() -> &'static Path {
    static KEY: OnceLock<std::path::PathBuf> = OnceLock::new();
    KEY.get_or_init(|| {
        let path = shared_state().join("caps-publisher-key");
        let (key, _) = wasmgov::signature::keygen(TEST_PUBLISHER).expect("keygen");
        wasmgov::signature::write_keypair(&key, &path).expect("write key");
        path
    })
}

/// allowed_signers trusting [`test_key`] for [`TEST_PUBLISHER`].
pub fn test_trust() -> wasmgov::trust::AllowedSigners {
    let public =
        std::fs::read_to_string(format!("{}.pub", test_key().display())).expect("public key");
    wasmgov::trust::AllowedSigners::parse(&format!(
        "{TEST_PUBLISHER} namespaces=\"{}\" {}",
        wasmgov::signature::NAMESPACE,
        public.trim()
    ))
    .expect("allowed_signers")
}

/// Sign `manifest` as the test publisher.
pub fn test_sign(manifest: &[u8]) -> String {
    let key = wasmgov::signature::load_private_key(test_key()).expect("load key");
    wasmgov::signature::sign(&key, manifest).expect("sign")
}

/// A runtime with `policy_extra` after generous limits, trusting the test publisher (who may
/// sign every tool name), and `resolver` (default: one that knows no name and counts queries).
/// Packages are signed ([`load_with`]), so they get what the policy provisions for them; unsigned
/// manifests are allowed too, and get least.
pub fn runtime_with(policy_extra: &str, resolver: Option<Arc<dyn Resolver>>) -> Runtime {
    let text = format!(
        "{LIMITS}\n{policy_extra}\n[[publishers]]\nprincipal = \"{TEST_PUBLISHER}\"\ntools = [\"*\"]\n"
    );
    let policy = wasmgov::policy::Policy::parse(text.as_bytes())
        .unwrap_or_else(|e| panic!("policy: {e}\n{text}"));
    // A ratchet of its own per runtime: tests reuse tool names with manifests of their own.
    static RUNTIMES: AtomicUsize = AtomicUsize::new(0);
    let state = shared_state().join(format!(
        "caps-state-{}",
        RUNTIMES.fetch_add(1, Ordering::SeqCst)
    ));
    let mut b = Runtime::builder()
        .policy(policy)
        .trust(test_trust())
        .state_dir(state)
        .allow_unsigned(true)
        .cache_dir(shared_state().join("lib-cache"));
    if let Some(r) = resolver {
        b = b.resolver(r);
    }
    b.build().expect("runtime")
}

/// The manifest of example tool `name` with `extra` tables appended.
pub fn manifest(name: &str, extra: &str) -> String {
    let bytes = std::fs::read(tool(name)).expect("read component");
    format!(
        "schema = 1\n\n[tool]\nname = \"{name}\"\nversion = \"1.0.0\"\npublisher = \"{TEST_PUBLISHER}\"\ndescription = \"capability test\"\nsequence = 1\n\n[component]\nsha256 = \"{}\"\nsize = {}\n{extra}",
        wasmgov::names::Sha256Digest::of(&bytes),
        bytes.len()
    )
}

/// Load example tool `name` with `manifest_extra` under `rt`, signed by the test publisher.
/// Each load is a new release (a higher `sequence`), so a runtime's ratchet accepts every
/// manifest a test loads, in order.
pub fn load_with(
    rt: &Runtime,
    name: &str,
    manifest_extra: &str,
    opts: &LoadOptions,
) -> Result<Tool, wasmgov::Error> {
    static SEQUENCE: AtomicUsize = AtomicUsize::new(1);
    let sequence = SEQUENCE.fetch_add(1, Ordering::SeqCst);
    let text = manifest(name, manifest_extra).replacen(
        "sequence = 1\n",
        &format!("sequence = {sequence}\n"),
        1,
    );
    let sig = test_sign(text.as_bytes());
    let bytes = std::fs::read(tool(name)).expect("read component");
    rt.load_package(text.as_bytes(), Some(sig.as_bytes()), &bytes, opts)
}

/// Load example tool `name` unsigned (as with `--allow-unsigned`) with `manifest_extra`.
pub fn load_unsigned(
    rt: &Runtime,
    name: &str,
    manifest_extra: &str,
    opts: &LoadOptions,
) -> Result<Tool, wasmgov::Error> {
    let bytes = std::fs::read(tool(name)).expect("read component");
    rt.load_package(
        manifest(name, manifest_extra).as_bytes(),
        None,
        &bytes,
        opts,
    )
}

/// Call a tool-world tool and parse its JSON result (panics on any error).
pub async fn call_json(t: &Tool, input: serde_json::Value) -> serde_json::Value {
    let out = t
        .run(input.to_string().as_bytes(), &Default::default())
        .await;
    let bytes = out.result.unwrap_or_else(|e| {
        panic!(
            "call failed: {e}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    serde_json::from_slice(&bytes).expect("tool returned JSON")
}

/// sha256 of a file's bytes, as hex (to prove a sentinel unchanged).
pub fn digest(p: &Path) -> String {
    wasmgov::names::Sha256Digest::of(&std::fs::read(p).expect("read sentinel")).to_string()
}

/// A resolver that answers from a table (each name: one answer per query, the last repeated)
/// and records every query. Names not in the table fail.
#[derive(Default)]
pub struct StubResolver {
    answers: HashMap<String, Vec<Vec<IpAddr>>>,
    queries: Mutex<Vec<String>>,
}

impl StubResolver {
    /// Answer `name` with `addrs` on every query.
    pub fn with(mut self, name: &str, addrs: &[&str]) -> Self {
        self.answers.insert(
            name.into(),
            vec![addrs.iter().map(|a| a.parse().expect("ip")).collect()],
        );
        self
    }

    /// Answer `name` with `first` on the first query and `then` afterwards (DNS rebinding).
    pub fn rebinding(mut self, name: &str, first: &[&str], then: &[&str]) -> Self {
        let p = |v: &[&str]| v.iter().map(|a| a.parse().expect("ip")).collect();
        self.answers.insert(name.into(), vec![p(first), p(then)]);
        self
    }

    /// Every name looked up so far.
    pub fn queries(&self) -> Vec<String> {
        self.queries.lock().expect("lock").clone()
    }
}

impl Resolver for StubResolver {
    fn resolve(&self, name: &str) -> ResolveFuture {
        let mut q = self.queries.lock().expect("lock");
        let n = q.iter().filter(|x| *x == name).count();
        q.push(name.to_string());
        let answer = self
            .answers
            .get(name)
            .map(|a| a[n.min(a.len() - 1)].clone());
        Box::pin(async move {
            answer.ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::NotFound, "stub: no such name")
            })
        })
    }
}

/// A request a [`Server`] received: the request line and headers, lower-cased names.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `GET /path HTTP/1.1`.
    pub line: String,
    /// Headers.
    pub headers: Vec<(String, String)>,
}

impl Seen {
    /// Header `name`'s value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Bytes of the `/large` answer: several outgoing-body chunks and hyper buffers.
pub const LARGE_BODY: usize = 300 * 1024;

/// An HTTP/1.1 server on 127.0.0.1 counting connections and recording requests. Paths:
/// `/large` → 200 with a [`LARGE_BODY`]-byte body,
/// `/redirect` → 302 to `http://169.254.169.254/latest/meta-data/`, `/big` → a `Content-Length`
/// of 1 GiB, `/stream` → an endless chunked body, `/slow` → no answer for 30 s, `/echo` → the
/// request's headers as `name: value` lines in the body and its `authorization` in the
/// `x-echo-authorization` header, `/echo-chunked` → `auth=` and the `authorization` value in
/// a chunked body whose two chunks split the value in the middle, anything else → 200 `hello`.
pub struct Server {
    /// Port.
    pub port: u16,
    connections: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    /// Start it on an ephemeral port.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().expect("addr").port();
        let connections = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (c, s) = (connections.clone(), seen.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                c.fetch_add(1, Ordering::SeqCst);
                let s = s.clone();
                std::thread::spawn(move || serve(stream, &s));
            }
        });
        Self {
            port,
            connections,
            seen,
        }
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Requests received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn serve(stream: TcpStream, seen: &Mutex<Vec<Seen>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut writer = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let line = line.trim_end().to_string();
        if line.is_empty() {
            continue;
        }
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len.min(1 << 20)];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let path = line.split(' ').nth(1).unwrap_or("/").to_string();
        seen.lock().expect("lock").push(Seen {
            line,
            headers: headers.clone(),
        });
        let ok = match path.as_str() {
            "/redirect" => writer.write_all(
                b"HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/latest/meta-data/\r\nContent-Length: 0\r\n\r\n",
            ),
            "/big" => writer.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\nxxxxxxxx",
            ),
            "/stream" => {
                let _ = writer.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
                let chunk = format!("{:x}\r\n{}\r\n", 64 * 1024, "y".repeat(64 * 1024));
                while writer.write_all(chunk.as_bytes()).is_ok() {}
                return;
            }
            "/slow" => {
                std::thread::sleep(Duration::from_secs(30));
                return;
            }
            "/echo" => {
                let body: String = headers.iter().map(|(k, v)| format!("{k}: {v}\n")).collect();
                let auth = seen_header(&headers, "authorization");
                writer.write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Echo-Authorization: {auth}\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                )
            }
            "/echo-chunked" => {
                let body = format!("auth={}", seen_header(&headers, "authorization"));
                let (a, b) = body.split_at(body.len() - body.len() / 3);
                let chunk = |c: &str| format!("{:x}\r\n{c}\r\n", c.len());
                let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
                // Two writes with a pause, so the client sees two frames.
                let _ = writer.write_all(format!("{head}{}", chunk(a)).as_bytes());
                let _ = writer.flush();
                std::thread::sleep(Duration::from_millis(50));
                writer.write_all(format!("{}0\r\n\r\n", chunk(b)).as_bytes())
            }
            "/large" => {
                let body = "z".repeat(LARGE_BODY);
                writer.write_all(
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {LARGE_BODY}\r\n\r\n{body}")
                        .as_bytes(),
                )
            }
            _ => writer.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello"),
        };
        if ok.is_err() {
            return;
        }
    }
}

fn seen_header(headers: &[(String, String)], name: &str) -> String {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// A raw TCP listener on 127.0.0.1 that counts connections and what they sent.
pub struct TcpCounter {
    /// Port.
    pub port: u16,
    count: Arc<AtomicUsize>,
}

impl TcpCounter {
    /// Start it.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let count = Arc::new(AtomicUsize::new(0));
        let c = count.clone();
        std::thread::spawn(move || {
            for s in listener.incoming() {
                if s.is_ok() {
                    c.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        Self { port, count }
    }

    /// Connections so far.
    pub fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}
