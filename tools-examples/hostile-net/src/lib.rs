//! `hostile-net`: tries the network destinations it is told to, over every transport a
//! component has (`wasi:http`, `wasi:sockets` TCP and UDP, listening, name lookups), and
//! reports what the host let through (N01–N06, E02, M02).
//!
//! Input: `{"http": [{"url", "headers": [[k, v]], "method", "show_headers"}],
//! "tcp": ["ip:port"], "udp": ["ip:port"], "listen": ["ip:port"], "lookup": ["name"]}` (all
//! optional). Output: `{"results": [{"kind", "target", "ok", "detail"}]}`; `ok` means the
//! operation succeeded (for HTTP: a response arrived, whose status and first bytes are in
//! `detail`, and with `show_headers` every response header after them: what a tool would learn
//! from a server that echoes its request, secrets included, E02).

use wasmgov_sdk::{Deserialize, JsonSchema, Serialize, ToolError};

/// One HTTP attempt.
#[derive(Deserialize, JsonSchema)]
struct HttpTry {
    url: String,
    #[serde(default)]
    headers: Vec<(String, String)>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    body: Option<String>,
    /// Append every response header to the detail.
    #[serde(default)]
    show_headers: bool,
}

/// What to try.
#[derive(Deserialize, JsonSchema, Default)]
#[serde(default)]
struct Input {
    http: Vec<HttpTry>,
    tcp: Vec<String>,
    udp: Vec<String>,
    listen: Vec<String>,
    lookup: Vec<String>,
}

/// One result.
#[derive(Serialize, JsonSchema)]
struct Tried {
    kind: String,
    target: String,
    ok: bool,
    detail: String,
}

/// All results.
#[derive(Serialize, JsonSchema)]
struct Output {
    results: Vec<Tried>,
}

fn hostile_net(input: Input) -> Result<Output, ToolError> {
    let mut results = Vec::new();
    let mut push = |kind: &str, target: &str, r: Result<String, String>| {
        let (ok, detail) = match r {
            Ok(d) => (true, d),
            Err(e) => (false, e),
        };
        results.push(Tried {
            kind: kind.into(),
            target: target.into(),
            ok,
            detail,
        });
    };
    for h in &input.http {
        let headers: Vec<(&str, &str)> = h
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let method = h.method.as_deref().unwrap_or("GET");
        let r = guest_net::request(
            method,
            &h.url,
            &headers,
            h.body.as_deref().map(str::as_bytes),
            4096,
            Some(5_000),
        )
        .map(|resp| {
            let mut d = format!(
                "{} location={} body={}",
                resp.status,
                resp.header("location").unwrap_or(""),
                String::from_utf8_lossy(&resp.body)
            );
            if h.show_headers {
                d.push_str(" headers=");
                for (k, v) in &resp.headers {
                    d.push_str(&format!("{k}: {v}\n"));
                }
            }
            d
        });
        push("http", &h.url, r);
    }
    for t in &input.tcp {
        push(
            "tcp",
            t,
            guest_net::tcp_connect(t, b"hello\n").map(|()| "connected".into()),
        );
    }
    for t in &input.udp {
        push(
            "udp",
            t,
            guest_net::udp_send(t, b"hello").map(|()| "sent".into()),
        );
    }
    for t in &input.listen {
        push(
            "listen",
            t,
            guest_net::tcp_listen(t).map(|()| "listening".into()),
        );
    }
    for n in &input.lookup {
        push("lookup", n, guest_net::resolve(n).map(|a| a.join(",")));
    }
    Ok(Output { results })
}

wasmgov_sdk::export_tool!(hostile_net);
