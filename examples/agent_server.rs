//! An agent server that embeds wasmgov: tool calls over JSON lines on a TCP socket.
//!
//! ```text
//! cargo run --example agent-server -- --tools tools-examples/target/wasm32-wasip2/release
//! # prints: listening on 127.0.0.1:PORT
//! printf '{"tool":"text_stats","input":{"text":"a b"}}\n' | nc 127.0.0.1 PORT
//! ```
//!
//! Each request line is `{"id"?: any, "tool": NAME, "input": JSON}` (NAME is the component's
//! file stem) or `{"reload": true}`; each answer line is `{"id", "ok": JSON}` or
//! `{"id", "error": {"kind", "message"}}`. One runtime serves every connection; each call runs
//! in a fresh sandbox; calls past the runtime's slots wait (back-pressure). `reload` rescans the
//! directory and swaps the tool table: calls in flight keep the tools they started with.
//!
//! Tools are loaded without manifests here (pure compute, default limits); a real server would
//! use `Runtime::load_package_files` with a policy and trust store.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

type Tools = Arc<RwLock<Arc<HashMap<String, wasmgov::Tool>>>>;

fn load_dir(rt: &wasmgov::Runtime, dir: &Path) -> anyhow::Result<HashMap<String, wasmgov::Tool>> {
    let mut tools = HashMap::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "wasm") {
            let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            let bytes = std::fs::read(&path)?;
            match rt.load_component(&bytes, wasmgov::Limits::default()) {
                Ok(t) => {
                    tools.insert(name.to_string(), t);
                }
                Err(e) => eprintln!("skipping {}: {e}", path.display()),
            }
        }
    }
    Ok(tools)
}

async fn answer(line: &str, rt: &wasmgov::Runtime, dir: &Path, tools: &Tools) -> Value {
    let req: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => return json!({"error": {"kind": "bad-request", "message": e.to_string()}}),
    };
    let id = req.get("id").cloned().unwrap_or(Value::Null);
    if req.get("reload").and_then(Value::as_bool) == Some(true) {
        return match load_dir(rt, dir) {
            Ok(fresh) => {
                let n = fresh.len();
                if let Ok(mut t) = tools.write() {
                    *t = Arc::new(fresh);
                }
                json!({"id": id, "ok": {"reloaded": n}})
            }
            Err(e) => json!({"id": id, "error": {"kind": "reload", "message": e.to_string()}}),
        };
    }
    let name = req.get("tool").and_then(Value::as_str).unwrap_or_default();
    let table = tools.read().map(|t| t.clone()).unwrap_or_default();
    let Some(tool) = table.get(name).cloned() else {
        return json!({"id": id, "error": {"kind": "unknown-tool", "message": name}});
    };
    let input = req.get("input").cloned().unwrap_or(Value::Null).to_string();
    match tool.call(&input).await {
        Ok(out) => match serde_json::from_slice::<Value>(&out) {
            Ok(v) => json!({"id": id, "ok": v}),
            Err(_) => json!({"id": id, "ok": String::from_utf8_lossy(&out)}),
        },
        Err(e) => json!({"id": id, "error": {"kind": e.kind(), "message": e.to_string()}}),
    }
}

async fn serve_conn(stream: TcpStream, rt: wasmgov::Runtime, dir: PathBuf, tools: Tools) {
    let (r, mut w) = stream.into_split();
    let mut lines = BufReader::new(r).lines();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Value>(64);
    let writer = tokio::spawn(async move {
        while let Some(v) = rx.recv().await {
            let mut buf = v.to_string().into_bytes();
            buf.push(b'\n');
            if w.write_all(&buf).await.is_err() {
                return;
            }
        }
    });
    // Requests on one connection run concurrently; answers carry the request's id.
    while let Ok(Some(line)) = lines.next_line().await {
        let (rt, dir, tools, tx) = (rt.clone(), dir.clone(), tools.clone(), tx.clone());
        tokio::spawn(async move {
            let v = answer(&line, &rt, &dir, &tools).await;
            let _ = tx.send(v).await;
        });
    }
    drop(tx);
    let _ = writer.await;
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut dir, mut listen) = (None, "127.0.0.1:0".to_string());
    while let Some(a) = args.next() {
        match a.as_str() {
            "--tools" => dir = args.next().map(PathBuf::from),
            "--listen" => listen = args.next().unwrap_or(listen),
            other => anyhow::bail!("unknown argument {other}; usage: --tools DIR [--listen ADDR]"),
        }
    }
    let dir = dir.ok_or_else(|| anyhow::anyhow!("usage: --tools DIR [--listen ADDR]"))?;
    let rt = wasmgov::Runtime::builder()
        .allocator(wasmgov::Allocator::Pooling { max_concurrent: 64 })
        .build()?;
    let tools: Tools = Arc::new(RwLock::new(Arc::new(load_dir(&rt, &dir)?)));
    let listener = TcpListener::bind(&listen).await?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(serve_conn(stream, rt.clone(), dir.clone(), tools.clone()));
    }
}
