//! Streamable HTTP: what gets through to `/mcp` and what is refused before it: rebinding Host,
//! foreign Origin, missing or wrong token, oversized bodies, slow headers; callers see and call
//! only the tools the policy names for them; a 2026-07-28 client needs no session.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use wasmgov_serve::{HttpListener, HttpOptions, ServeError, Server, ServerOptions, Tokens};

use super::{Fixture, Pkg, error_text, server};

/// A raw HTTP/1.1 exchange: the status and the body.
pub async fn exchange(addr: SocketAddr, head: &str, body: &[u8]) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!(
        "{head}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    // The server may answer (413) and close before the whole body is sent.
    let _ = s.write_all(&bytes).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut out)).await;
    answer(&out)
}

/// A raw HTTP/1.1 answer as (its status, 0 when there is none; its text).
pub fn answer(out: &[u8]) -> (u16, String) {
    let text = String::from_utf8_lossy(out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// A 2026-07-28 (stateless) request's head and body.
pub fn stateless(
    addr: SocketAddr,
    method: &str,
    name: Option<&str>,
    params: Value,
    extra: &str,
) -> (String, Vec<u8>) {
    let mut params = params;
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "raw-http", "version": "0.0.1"},
    });
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params});
    let mut head = format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2026-07-28\r\n\
         Mcp-Method: {method}",
        addr.port()
    );
    if let Some(n) = name {
        head.push_str(&format!("\r\nMcp-Name: {n}"));
    }
    head.push_str(extra);
    (head, body.to_string().into_bytes())
}

/// The JSON-RPC message of an SSE (or JSON) response body.
pub fn message(text: &str) -> Value {
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    body.lines()
        .filter_map(|l| l.strip_prefix("data:").map(str::trim).or(Some(l.trim())))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v.get("jsonrpc").is_some())
        .unwrap_or_else(|| panic!("no JSON-RPC message in {text}"))
}

/// A server listening in a task of this test.
pub struct Running {
    pub addr: SocketAddr,
    shutdown: CancellationToken,
    done: tokio::task::JoinHandle<Result<(), ServeError>>,
}

impl Running {
    /// Shut the listener down; it must end cleanly.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.done.await.unwrap().unwrap();
    }
}

/// Bind `options` and serve `s` on it.
pub async fn listen(s: Server, options: HttpOptions) -> Running {
    let l = HttpListener::bind(options).await.expect("bind");
    let addr = l.local_addr();
    let shutdown = CancellationToken::new();
    let done = tokio::spawn(l.run(s, shutdown.clone()));
    Running {
        addr,
        shutdown,
        done,
    }
}

/// 127.0.0.1 on a free port.
pub fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

#[tokio::test(flavor = "multi_thread")]
async fn only_requests_with_an_allowed_host_origin_and_token_and_a_small_body_get_through() {
    let f = Fixture::new("");
    f.package("text-stats", "text-stats", Pkg::default());
    let (alice, alice_line) = wasmgov_serve::auth::new_token(&"alice".parse().unwrap()).unwrap();
    let tokens = Tokens::parse(&alice_line).unwrap();
    let s = server(&f, ServerOptions::default()).await;
    let r = listen(
        s.clone(),
        HttpOptions {
            addr: loopback(),
            tokens: Some(tokens),
            max_body: 64 * 1024,
            header_timeout: Duration::from_millis(500),
            ..HttpOptions::default()
        },
    )
    .await;
    let auth = format!("\r\nAuthorization: Bearer {alice}");
    let call = |extra: &str| {
        stateless(
            r.addr,
            "tools/call",
            Some("text-stats"),
            json!({"name": "text-stats", "arguments": {"text": "a b c"}}),
            extra,
        )
    };
    let (head, body) = call(&auth);
    let (status, text) = exchange(r.addr, &head, &body).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        message(&text)["result"]["structuredContent"]["words"],
        3,
        "{text}"
    );
    assert!(
        !text.to_ascii_lowercase().contains("mcp-session-id"),
        "{text}"
    );

    // The same request, each time with one thing wrong.
    let cases: Vec<(String, u16)> = vec![
        (
            head.replace(
                &format!("Host: 127.0.0.1:{}", r.addr.port()),
                "Host: evil.example",
            ),
            403,
        ),
        (
            head.replace(
                &format!("Host: 127.0.0.1:{}", r.addr.port()),
                "Host: 127.0.0.1:1",
            ),
            403,
        ),
        (format!("{head}\r\nOrigin: http://evil.example"), 403),
        (format!("{head}\r\nOrigin: null"), 403),
        (call("").0, 401),
        (call("\r\nAuthorization: Bearer wgv_0000").0, 401),
        (call(&format!("\r\nAuthorization: Basic {alice}")).0, 401),
    ];
    for (h, want) in cases {
        let (status, text) = exchange(r.addr, &h, &body).await;
        assert_eq!(status, want, "{h}\n{text}");
        if want == 401 {
            assert!(
                text.contains("WWW-Authenticate: Bearer")
                    || text.contains("www-authenticate: Bearer"),
                "{text}"
            );
        }
    }
    // An allowed Origin passes.
    let (status, _) = exchange(
        r.addr,
        &format!("{head}\r\nOrigin: http://localhost:{}", r.addr.port()),
        &body,
    )
    .await;
    assert_eq!(status, 200);
    // A body over the cap: 413, and no call was made.
    let starts = f.records().iter().filter(|r| r["action"] == "call").count();
    let big = vec![b' '; 65 * 1024];
    let mut padded = body.clone();
    padded.extend_from_slice(&big);
    let (status, text) = exchange(r.addr, &head, &padded).await;
    assert_eq!(status, 413, "{text}");
    assert_eq!(
        f.records().iter().filter(|r| r["action"] == "call").count(),
        starts
    );
    // Health needs no token, but an allowed Host.
    let port = r.addr.port();
    let (status, _) = exchange(
        r.addr,
        &format!("GET /healthz HTTP/1.1\r\nHost: localhost:{port}"),
        b"",
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = exchange(
        r.addr,
        "GET /healthz HTTP/1.1\r\nHost: rebound.example",
        b"",
    )
    .await;
    assert_eq!(status, 403);
    let ready = format!("GET /readyz HTTP/1.1\r\nHost: 127.0.0.1:{port}");
    assert_eq!(exchange(r.addr, &ready, b"").await.0, 200);
    // Headers that never finish: the connection is closed, no handler runs.
    let mut slow = tokio::net::TcpStream::connect(r.addr).await.unwrap();
    slow.write_all(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(20), slow.read_to_end(&mut buf)).await;
    assert!(
        closed.is_ok(),
        "a connection with unfinished headers was kept open"
    );
    // Draining: not ready, and calls are refused as tool results.
    s.start_draining();
    assert_eq!(exchange(r.addr, &ready, b"").await.0, 503);
    let (status, text) = exchange(r.addr, &head, &body).await;
    assert_eq!(status, 200);
    assert!(
        error_text(&message(&text)["result"]).starts_with("error[draining]"),
        "{text}"
    );
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_non_loopback_address_needs_tokens() {
    let e = HttpListener::bind(HttpOptions {
        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        ..HttpOptions::default()
    })
    .await
    .err()
    .expect("refused");
    assert!(matches!(e, ServeError::Unauthenticated(_)), "{e}");
    let empty = HttpListener::bind(HttpOptions {
        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        tokens: Some(Tokens::parse("# none yet\n").unwrap()),
        ..HttpOptions::default()
    })
    .await;
    assert!(matches!(empty, Err(ServeError::Unauthenticated(_))));
}

#[tokio::test(flavor = "multi_thread")]
async fn callers_list_and_call_only_the_tools_the_policy_names_for_them() {
    let f = Fixture::new(
        "[[callers]]\nsubjects = [\"ci-bot\"]\ntools = [\"text-*\"]\n\n\
         [[callers]]\nsubjects = [\"*\"]\ntools = [\"unit-calc\"]\n",
    );
    f.package("text-stats", "text-stats", Pkg::default());
    f.package("unit-calc", "unit-calc", Pkg::default());
    f.package("json-query", "json-query", Pkg::default());
    let (bot, bot_line) = wasmgov_serve::auth::new_token(&"ci-bot".parse().unwrap()).unwrap();
    let (eve, eve_line) = wasmgov_serve::auth::new_token(&"eve".parse().unwrap()).unwrap();
    let tokens = Tokens::parse(&format!("{bot_line}\n{eve_line}\n")).unwrap();
    let r = listen(
        server(&f, ServerOptions::default()).await,
        HttpOptions {
            addr: loopback(),
            tokens: Some(tokens),
            ..HttpOptions::default()
        },
    )
    .await;
    let list = |token: &str| {
        stateless(
            r.addr,
            "tools/list",
            None,
            json!({}),
            &format!("\r\nAuthorization: Bearer {token}"),
        )
    };
    let names = |v: Value| -> Vec<String> {
        v["result"]["tools"]
            .as_array()
            .unwrap_or_else(|| panic!("{v}"))
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let (h, b) = list(&bot);
    assert_eq!(
        names(message(&exchange(r.addr, &h, &b).await.1)),
        ["text-stats", "unit-calc"]
    );
    let (h, b) = list(&eve);
    assert_eq!(
        names(message(&exchange(r.addr, &h, &b).await.1)),
        ["unit-calc"]
    );
    let call = |token: &str| {
        stateless(
            r.addr,
            "tools/call",
            Some("text-stats"),
            json!({"name": "text-stats", "arguments": {"text": "x"}}),
            &format!("\r\nAuthorization: Bearer {token}"),
        )
    };
    // eve calling text-stats: as unknown to her as a tool that does not exist; nothing ran.
    let (h, b) = call(&eve);
    let m = message(&exchange(r.addr, &h, &b).await.1);
    assert_eq!(m["error"]["code"], -32602, "{m}");
    assert!(!f.records().iter().any(|r| r["action"] == "call"));
    // ci-bot's call is audited with its subject and the transport.
    let (h, b) = call(&bot);
    let m = message(&exchange(r.addr, &h, &b).await.1);
    assert_eq!(m["result"]["isError"], false, "{m}");
    let start = f
        .records()
        .into_iter()
        .find(|r| r["action"] == "call")
        .expect("start record");
    assert_eq!(start["caller"], "ci-bot");
    assert_eq!(start["context"]["subject"], "ci-bot");
    assert_eq!(start["context"]["transport"], "http");
    assert_eq!(start["context"]["protocol"], "2026-07-28");
    assert_eq!(start["context"]["client"], "raw-http/0.0.1");
    assert_eq!(start["context"]["mcp-request"], "7");
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_concurrent_calls_are_all_answered_and_audited_once() {
    raise_fd_limit(4096);
    let f = Fixture::new("");
    f.package("text-stats", "text-stats", Pkg::default());
    let r = listen(
        server(
            &f,
            ServerOptions {
                max_concurrent: 16,
                max_queued: 1000,
            },
        )
        .await,
        HttpOptions {
            addr: loopback(),
            ..HttpOptions::default()
        },
    )
    .await;
    let calls: Vec<_> = (0..1000)
        .map(|i| {
            let addr = r.addr;
            tokio::spawn(async move {
                let (h, b) = stateless(
                    addr,
                    "tools/call",
                    Some("text-stats"),
                    json!({"name": "text-stats", "arguments": {"text": format!("call {i}")}}),
                    "",
                );
                exchange(addr, &h, &b).await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for c in calls {
        answers.push(c.await.unwrap());
    }
    let bad: Vec<_> = answers
        .iter()
        .filter(|(status, _)| *status != 200)
        .collect();
    assert!(
        bad.is_empty(),
        "{} of 1000 failed, e.g. {:?}",
        bad.len(),
        bad.first()
    );
    let mut ok = 0;
    for (_, text) in answers {
        let m = message(&text);
        assert_eq!(m["result"]["isError"], false, "{m}");
        assert_eq!(m["result"]["structuredContent"]["words"], 2, "{m}");
        ok += 1;
    }
    assert_eq!(ok, 1000);
    let records = f.records();
    let starts: std::collections::BTreeSet<&str> = records
        .iter()
        .filter(|r| r["action"] == "call")
        .map(|r| r["call"].as_str().unwrap())
        .collect();
    let ends = records
        .iter()
        .filter(|r| r["kind"] == "end" && starts.contains(r["call"].as_str().unwrap()))
        .count();
    assert_eq!((starts.len(), ends), (1000, 1000));
    r.stop().await;
}

/// Raise the soft open-files limit to at least `n` (up to the hard limit): each call here holds a
/// client and a server socket.
pub fn raise_fd_limit(n: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit for getrlimit to fill and setrlimit to read.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < n {
            lim.rlim_cur = n.min(lim.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}
