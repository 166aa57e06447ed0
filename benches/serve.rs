//! `tools/call` through `wasmgov serve` against a direct library call of the same tool, in the
//! same run: what the MCP protocol and its transports add to a governed call.
//!
//! Groups (`mcp_call`):
//! - `direct`: `Tool::run` in this process, the same runtime settings the server uses (pooling,
//!   audit to a file without fsync).
//! - `stdio`: a `wasmgov serve` process (session of 2025-11-25 over its stdin/stdout pipes): one
//!   request line written, one response line read.
//! - `http`: the same server over streamable HTTP (2026-07-28, stateless), one keep-alive
//!   connection: one POST, its SSE answer read to the end of the chunked body.
//! - `pipe_floor`: the same request line through `cat` (a process that only echoes it): what two
//!   pipe hops and two process wake-ups cost on this machine, the floor under `stdio`.
//!
//! Prerequisites: `scripts/build-tools` and `cargo build --release` (the bench runs
//! `target/release/wasmgov`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use criterion::{Criterion, criterion_group, criterion_main};

const INPUT: &str = r#"{"text":"hello"}"#;
const PUBLISHER: &str = "bench@example.com";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bin() -> PathBuf {
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from);
    target.join("release/wasmgov")
}

/// A signed text-stats package, a trust store and a policy in `dir`.
fn setup(dir: &Path) {
    let tools = dir.join("tools");
    std::fs::create_dir_all(&tools).unwrap();
    let wasm =
        std::fs::read(root().join("tools-examples/target/wasm32-wasip2/release/text_stats.wasm"))
            .expect("text_stats.wasm: run scripts/build-tools");
    let (key, public) = wasmgov::signature::keygen(PUBLISHER).unwrap();
    let manifest = format!(
        "schema = 1\n\n[tool]\nname = \"text-stats\"\nversion = \"1.0.0\"\npublisher = \"{PUBLISHER}\"\n\
         description = \"bench\"\nsequence = 1\n\n[component]\nsha256 = \"{}\"\nsize = {}\n",
        wasmgov::names::Sha256Digest::of(&wasm),
        wasm.len()
    );
    std::fs::write(tools.join("text-stats.wasm"), &wasm).unwrap();
    std::fs::write(tools.join("text-stats.toml"), &manifest).unwrap();
    std::fs::write(
        tools.join("text-stats.toml.sig"),
        wasmgov::signature::sign(&key, manifest.as_bytes()).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.join("allowed_signers"),
        format!(
            "{PUBLISHER} namespaces=\"{}\" {}\n",
            wasmgov::signature::NAMESPACE,
            public.to_openssh().unwrap()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("policy.toml"),
        format!("[[publishers]]\nprincipal = \"{PUBLISHER}\"\ntools = [\"*\"]\n"),
    )
    .unwrap();
}

fn serve(dir: &Path, extra: &[&str]) -> Child {
    let p = |n: &str| dir.join(n).display().to_string();
    Command::new(bin())
        .args([
            "serve",
            "--tools",
            &p("tools"),
            "--trust",
            &p("allowed_signers"),
        ])
        .args(["--policy", &p("policy.toml"), "--state", &p("state")])
        .args(["--audit", &p("serve-audit.jsonl"), "--audit-fsync", "false"])
        .args(extra)
        .env("WASMGOV_LOG", "error")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}; run cargo build --release", bin().display()))
}

fn direct(c: &mut Criterion, dir: &Path, rt: &tokio::runtime::Runtime) {
    let policy = wasmgov::policy::Policy::load(&dir.join("policy.toml")).unwrap();
    let trust = wasmgov::trust::AllowedSigners::load(&dir.join("allowed_signers")).unwrap();
    let audit = wasmgov::Audit::open(
        dir.join("direct-audit.jsonl"),
        wasmgov::AuditOptions {
            checkpoint_key: None,
            fsync: false,
        },
    )
    .unwrap();
    let runtime = wasmgov::Runtime::builder()
        .allocator(wasmgov::Allocator::Pooling { max_concurrent: 16 })
        .policy(policy)
        .trust(trust)
        .state_dir(dir.join("direct-state"))
        .audit(audit)
        .build()
        .unwrap();
    let tools = dir.join("tools");
    let tool = runtime
        .load_package_files(
            &tools.join("text-stats.toml"),
            &tools.join("text-stats.wasm"),
            &wasmgov::LoadOptions::default(),
        )
        .unwrap();
    c.bench_function("mcp_call/direct", |b| {
        b.iter(|| {
            rt.block_on(async {
                let out = tool.run(INPUT.as_bytes(), &Default::default()).await;
                assert!(out.result.is_ok());
            })
        })
    });
}

fn stdio(c: &mut Criterion, dir: &Path) {
    let mut child = serve(dir, &[]);
    let mut w = child.stdin.take().unwrap();
    let mut r = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    writeln!(
        w,
        r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"protocolVersion":"2025-11-25","capabilities":{{}},"clientInfo":{{"name":"bench","version":"0"}}}}}}"#
    )
    .unwrap();
    r.read_line(&mut line).unwrap();
    assert!(line.contains("2025-11-25"), "{line}");
    writeln!(
        w,
        r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#
    )
    .unwrap();
    let mut id = 0u64;
    c.bench_function("mcp_call/stdio", |b| {
        b.iter(|| {
            id += 1;
            writeln!(
                w,
                r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"text-stats","arguments":{INPUT}}}}}"#
            )
            .unwrap();
            w.flush().unwrap();
            line.clear();
            r.read_line(&mut line).unwrap();
            assert!(line.contains("\"isError\":false"), "{line}");
        })
    });
    drop(w);
    let _ = child.wait();
}

/// Read one HTTP/1.1 response with a chunked body; return the body.
fn read_response(r: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    let mut chunked = false;
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
        if line
            .to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
        {
            chunked = true;
        }
    }
    assert!(chunked, "expected a chunked (SSE) answer");
    let mut body = String::new();
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        let size = usize::from_str_radix(line.trim(), 16).unwrap();
        let mut chunk = vec![0; size + 2];
        r.read_exact(&mut chunk).unwrap();
        if size == 0 {
            return body;
        }
        body.push_str(&String::from_utf8_lossy(&chunk[..size]));
    }
}

fn http(c: &mut Criterion, dir: &Path) {
    let mut child = serve(dir, &["--http", "127.0.0.1:0"]);
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let port: u16 = loop {
        line.clear();
        assert!(err.read_line(&mut line).unwrap() > 0, "server exited");
        if let Some(rest) = line
            .trim()
            .strip_prefix("wasmgov serve: listening on http://127.0.0.1:")
        {
            break rest.trim_end_matches("/mcp").parse().unwrap();
        }
    };
    let conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.set_nodelay(true).unwrap();
    let mut w = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"text-stats","arguments":{INPUT},"_meta":{{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{{}}}}}}}}"#
    );
    let request = format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2026-07-28\r\n\
         Mcp-Method: tools/call\r\nMcp-Name: text-stats\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    c.bench_function("mcp_call/http", |b| {
        b.iter(|| {
            w.write_all(request.as_bytes()).unwrap();
            let answer = read_response(&mut r);
            assert!(answer.contains("\"isError\":false"), "{answer}");
        })
    });
    let _ = child.kill();
    let _ = child.wait();
}

fn pipe_floor(c: &mut Criterion) {
    let mut child = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("cat");
    let mut w = child.stdin.take().unwrap();
    let mut r = BufReader::new(child.stdout.take().unwrap());
    let request = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"text-stats","arguments":{INPUT}}}}}"#
    );
    let mut line = String::new();
    c.bench_function("mcp_call/pipe_floor", |b| {
        b.iter(|| {
            writeln!(w, "{request}").unwrap();
            w.flush().unwrap();
            line.clear();
            r.read_line(&mut line).unwrap();
        })
    });
    drop(w);
    let _ = child.wait();
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    direct(c, dir.path(), &rt);
    stdio(c, dir.path());
    pipe_floor(c);
    http(c, dir.path());
}

criterion_group!(serve_benches, benches);
criterion_main!(serve_benches);
