//! `wasmgov serve`: signed packages served to MCP clients. The tests drive the server as a
//! client would, with JSON-RPC on a pipe (stdio's framing) or HTTP on 127.0.0.1; the official
//! Python and TypeScript clients are run against the CLI by `scripts/test-mcp`.

mod calls;
mod catalog;
mod cli;
pub mod http;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream};
use tokio_util::sync::CancellationToken;
use wasmgov::Runtime;
use wasmgov_serve::{Catalog, Server, ServerOptions};

use crate::caps::{TEST_PUBLISHER, test_key};
use crate::support::{s, shared_state, tool};

/// A second publisher, with a key of its own.
pub const OTHER_PUBLISHER: &str = "other@example.com";

fn other_key() -> &'static Path {
    static KEY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let path = shared_state().join("serve-other-key");
        let (key, _) = wasmgov::signature::keygen(OTHER_PUBLISHER).expect("keygen");
        wasmgov::signature::write_keypair(&key, &path).expect("write key");
        path
    })
}

/// allowed_signers text trusting both publishers for manifests.
pub fn trust_text() -> String {
    let line = |who: &str, key: &Path| {
        let public = std::fs::read_to_string(format!("{}.pub", key.display())).expect("pub");
        format!(
            "{who} namespaces=\"{}\" {}\n",
            wasmgov::signature::NAMESPACE,
            public.trim()
        )
    };
    line(TEST_PUBLISHER, test_key()) + &line(OTHER_PUBLISHER, other_key())
}

/// A policy: generous limits, both publishers may sign every name, and `extra`.
pub fn policy_text(extra: &str) -> String {
    format!(
        "[limits]\nfuel = 4_000_000_000\nmemory = \"128 MiB\"\ntimeout = \"60s\"\n\n\
         [[publishers]]\nprincipal = \"{TEST_PUBLISHER}\"\ntools = [\"*\"]\n\n\
         [[publishers]]\nprincipal = \"{OTHER_PUBLISHER}\"\ntools = [\"*\"]\n\n{extra}\n"
    )
}

/// A directory of packages and what serving it needs.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub tools: PathBuf,
    pub state: PathBuf,
    pub audit: PathBuf,
    pub trust: PathBuf,
    pub policy: PathBuf,
}

impl Fixture {
    pub fn new(policy_extra: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let tools = dir.path().join("tools");
        std::fs::create_dir(&tools).expect("mkdir");
        let state = dir.path().join("state");
        let trust = dir.path().join("allowed_signers");
        std::fs::write(&trust, trust_text()).expect("trust");
        let policy = dir.path().join("policy.toml");
        std::fs::write(&policy, policy_text(policy_extra)).expect("policy");
        let audit = dir.path().join("audit.jsonl");
        Self {
            dir,
            tools,
            state,
            audit,
            trust,
            policy,
        }
    }

    /// Write package `stem` of example component `component` as tool `name`, signed by
    /// `publisher`, with `extra` manifest tables.
    pub fn package(&self, stem: &str, component: &str, spec: Pkg<'_>) {
        let bytes = std::fs::read(tool(component)).expect("component");
        let text = format!(
            "schema = 1\n\n[tool]\nname = \"{}\"\nversion = \"1.0.{}\"\npublisher = \"{}\"\n\
             description = \"{}\"\nsequence = {}\n\n[component]\nsha256 = \"{}\"\nsize = {}\n{}",
            spec.name.unwrap_or(stem),
            spec.sequence,
            spec.publisher,
            spec.description,
            spec.sequence,
            wasmgov::names::Sha256Digest::of(&bytes),
            bytes.len(),
            spec.extra
        );
        let key = if spec.publisher == OTHER_PUBLISHER {
            other_key()
        } else {
            test_key()
        };
        let key = wasmgov::signature::load_private_key(key).expect("key");
        let sig = wasmgov::signature::sign(&key, text.as_bytes()).expect("sign");
        std::fs::write(self.tools.join(format!("{stem}.wasm")), &bytes).expect("wasm");
        std::fs::write(self.tools.join(format!("{stem}.toml")), &text).expect("toml");
        std::fs::write(self.tools.join(format!("{stem}.toml.sig")), sig).expect("sig");
    }

    /// Package `sleepy`: a tool that sleeps in a host call until its `timeout` (`"10s"`) ends it.
    pub fn sleepy(&self, timeout: &str) {
        self.package(
            "sleepy",
            "hostile-sleep",
            Pkg {
                extra: &format!("\n[limits]\ntimeout = \"{timeout}\"\n"),
                ..Pkg::default()
            },
        );
    }

    /// `wasmgov serve` flags for this fixture's packages, trust, policy, state and log.
    pub fn serve_args(&self) -> Vec<String> {
        [
            "serve",
            "--tools",
            s(&self.tools),
            "--trust",
            s(&self.trust),
            "--policy",
            s(&self.policy),
            "--state",
            s(&self.state),
            "--audit",
            s(&self.audit),
        ]
        .map(String::from)
        .to_vec()
    }

    /// A runtime under this fixture's trust and policy, auditing to `self.audit`.
    pub fn runtime(&self) -> Runtime {
        let policy = wasmgov::policy::Policy::load(&self.policy).expect("policy");
        let audit = wasmgov::Audit::open(
            &self.audit,
            // Durable, as `run` and `serve` are by default: a call's records (and what the log's
            // observers make of them) are in place when its result is returned.
            wasmgov::AuditOptions {
                checkpoint_key: None,
                fsync: true,
            },
        )
        .expect("audit");
        Runtime::builder()
            .policy(policy)
            .trust(wasmgov::trust::AllowedSigners::load(&self.trust).expect("trust"))
            .state_dir(&self.state)
            .cache_dir(shared_state().join("lib-cache"))
            .audit(audit)
            .build()
            .expect("runtime")
    }

    /// Scan the directory (as a server does at start, or at a reload after `previous`).
    pub async fn catalog(&self, rt: &Runtime, previous: Option<&Catalog>) -> Catalog {
        let handle = tokio::runtime::Handle::current();
        tokio::task::block_in_place(|| {
            Catalog::scan(rt, &self.tools, previous, &handle).expect("scan")
        })
    }

    /// The audit log's records.
    pub fn records(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.audit)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("record"))
            .collect()
    }
}

/// What a package says.
#[derive(Clone, Copy)]
pub struct Pkg<'a> {
    pub name: Option<&'a str>,
    pub publisher: &'a str,
    pub description: &'a str,
    pub sequence: u64,
    pub extra: &'a str,
}

impl Default for Pkg<'_> {
    fn default() -> Self {
        Self {
            name: None,
            publisher: TEST_PUBLISHER,
            description: "signed description",
            sequence: 1,
            extra: "",
        }
    }
}

/// The port a `wasmgov serve --http 127.0.0.1:0` child announces on its stderr `err`.
pub fn listening_port(err: &mut impl std::io::BufRead) -> u16 {
    let mut line = String::new();
    while err.read_line(&mut line).unwrap_or(0) > 0 {
        if let Some(rest) = line
            .trim()
            .strip_prefix("wasmgov serve: listening on http://127.0.0.1:")
            && let Ok(port) = rest.trim_end_matches("/mcp").parse::<u16>()
        {
            return port;
        }
        line.clear();
    }
    panic!("wasmgov serve printed no listening line");
}

/// A client end of an MCP connection served over a pipe (stdio's framing: one JSON message per
/// line).
pub struct Pipe {
    write: tokio::io::WriteHalf<DuplexStream>,
    read: BufReader<tokio::io::ReadHalf<DuplexStream>>,
    /// Messages read that were not the response being waited for.
    pub other: Vec<Value>,
    next_id: i64,
    /// Ends the server's side when the pipe is dropped.
    _shutdown: tokio_util::sync::DropGuard,
}

impl Pipe {
    /// Serve `server` on a new pipe and return its client end.
    pub fn open(server: Server) -> Self {
        let (client, serving) = tokio::io::duplex(1 << 20);
        let (r, w) = tokio::io::split(serving);
        let shutdown = CancellationToken::new();
        let ct = shutdown.clone();
        tokio::spawn(async move {
            let _ = wasmgov_serve::stdio::serve_stream(server, r, w, 4 << 20, ct).await;
        });
        let (read, write) = tokio::io::split(client);
        Self {
            write,
            read: BufReader::new(read),
            other: Vec::new(),
            next_id: 1,
            _shutdown: shutdown.drop_guard(),
        }
    }

    /// Open a pipe and do the session handshake of `version`.
    pub async fn session(server: Server, version: &str) -> Self {
        let mut p = Self::open(server);
        let r = p
            .request(
                "initialize",
                json!({"protocolVersion": version, "capabilities": {},
                       "clientInfo": {"name": "serve-tests", "version": "1.2.3"}}),
            )
            .await;
        assert_eq!(r["result"]["protocolVersion"], version, "{r}");
        p.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        p
    }

    pub async fn send(&mut self, msg: Value) {
        let mut line = msg.to_string();
        line.push('\n');
        self.write.write_all(line.as_bytes()).await.expect("write");
        self.write.flush().await.expect("flush");
    }

    /// The next message from the server.
    pub async fn recv(&mut self) -> Value {
        let mut line = String::new();
        let n = tokio::time::timeout(Duration::from_secs(60), self.read.read_line(&mut line))
            .await
            .expect("a message within 60 s")
            .expect("read");
        assert!(n > 0, "the server closed the pipe");
        serde_json::from_str(&line).expect("a JSON message")
    }

    /// Send a request; return its id without waiting.
    pub async fn start(&mut self, method: &str, params: Value) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        id
    }

    /// Wait for the response to `id` (or take it from what was read before), keeping other
    /// messages in `self.other`.
    pub async fn response(&mut self, id: i64) -> Value {
        let is_it = |m: &Value| m.get("id") == Some(&json!(id)) && m.get("method").is_none();
        if let Some(i) = self.other.iter().position(is_it) {
            return self.other.remove(i);
        }
        loop {
            let m = self.recv().await;
            if is_it(&m) {
                return m;
            }
            self.other.push(m);
        }
    }

    pub async fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.start(method, params).await;
        self.response(id).await
    }

    /// `tools/call` and its result (panics on a protocol error).
    pub async fn call(&mut self, name: &str, arguments: Value) -> Value {
        let r = self
            .request("tools/call", json!({"name": name, "arguments": arguments}))
            .await;
        r.get("result")
            .cloned()
            .unwrap_or_else(|| panic!("no result: {r}"))
    }

    /// `tools/list`: the tools by name.
    pub async fn tools(&mut self) -> serde_json::Map<String, Value> {
        let r = self.request("tools/list", json!({})).await;
        r["result"]["tools"]
            .as_array()
            .unwrap_or_else(|| panic!("no tools: {r}"))
            .iter()
            .map(|t| (t["name"].as_str().expect("name").to_owned(), t.clone()))
            .collect()
    }
}

/// A server of the fixture's directory as it is now.
pub async fn server(f: &Fixture, options: ServerOptions) -> Server {
    let rt = f.runtime();
    let catalog = f.catalog(&rt, None).await;
    Server::new(rt, catalog, options)
}

/// The error text of a tool result.
pub fn error_text(result: &Value) -> &str {
    assert_eq!(result["isError"], true, "not an error result: {result}");
    result["content"][0]["text"].as_str().expect("text")
}

/// Poll the fixture's audit log until a record matches (the guest runs on other threads).
pub async fn wait_for(f: &Fixture, want: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..600 {
        if let Some(r) = f.records().into_iter().find(&want) {
            return r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no such record within 30 s: {:?}", f.records());
}
