//! The same mix through the real `wasmgov serve` binary over streamable HTTP on 127.0.0.1: 1,000
//! concurrent stateless `tools/call` requests, each on its own connection.

use std::io::{BufReader, Read};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{
    Answer, CALLS, Case, LIBRARY_RSS_BOUND_KIB, Mix, SLOTS, calls_per_tool, check_answer,
    check_log, join_within_deadline, rss_high_water_mark_kib,
};
use crate::serve::http::{answer, message, raise_fd_limit};
use crate::serve::listening_port;

/// The server's RSS bound: the library run's (the same runtime, tools and slots), since the
/// HTTP side holds only the requests waiting for a slot (each under 1 KiB here) and their
/// connections.
const SERVE_RSS_BOUND_KIB: u64 = LIBRARY_RSS_BOUND_KIB;

/// A stateless (2026-07-28) `tools/call` of `case` with JSON-RPC id `id`, as one HTTP/1.1
/// exchange on a connection of its own; returns (status, response text).
async fn call(addr: SocketAddr, id: usize, case: &Case) -> (u16, String) {
    let body = json!({
        "jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {
            "name": case.tool,
            "arguments": case.input.arguments(),
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": "load", "version": "1"},
            },
        },
    })
    .to_string();
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2026-07-28\r\n\
         Mcp-Method: tools/call\r\nMcp-Name: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        addr.port(),
        case.tool,
        body.len()
    );
    let mut out = Vec::new();
    let sent = async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(head.as_bytes()).await?;
        s.write_all(body.as_bytes()).await?;
        s.read_to_end(&mut out).await
    };
    if let Err(e) = sent.await {
        return (0, format!("{e} (after {} bytes of answer)", out.len()));
    }
    answer(&out)
}

/// The answer a tool result carries: its structured content (or text) or its error.
fn answer_of(i: usize, m: &Value) -> Answer {
    assert_eq!(m["id"], i, "answer to another request: {m}");
    let r = &m["result"];
    let text = r["content"][0]["text"].as_str().unwrap_or("");
    if r["isError"] == true {
        let kind = r["structuredContent"]["error"]["kind"]
            .as_str()
            .unwrap_or_else(|| panic!("call {i}: error result without a kind: {m}"));
        assert!(
            text.starts_with(&format!("error[{kind}]: ")),
            "call {i}: error text does not name {kind}: {text}"
        );
        return Answer::Err(kind.to_owned(), text.to_owned());
    }
    assert_eq!(r["isError"], false, "call {i}: not a tool result: {m}");
    match r.get("structuredContent") {
        Some(v) => Answer::Ok(v.to_string().into_bytes()),
        None => Answer::Ok(text.as_bytes().to_vec()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_mixed_calls_through_wasmgov_serve_stay_bounded_and_audited() {
    // Each call holds a client and a server socket; the server inherits the limit.
    raise_fd_limit(4096);
    let mix = Mix::new();
    let f = &mix.f;
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("wasmgov"))
        .args(f.serve_args())
        .args(["--http", "127.0.0.1:0", "--max-concurrent"])
        .arg(SLOTS.to_string())
        .args(["--max-queued"])
        .arg(CALLS.to_string())
        .env_remove("RUST_LOG")
        .env_remove("WASMGOV_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start wasmgov serve");
    let pid = child.id().to_string();
    let mut err = BufReader::new(child.stderr.take().expect("stderr"));
    let port = tokio::task::block_in_place(|| listening_port(&mut err));
    // Keep reading the server's diagnostics so it never blocks on a full pipe.
    let diagnostics = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = err.read_to_string(&mut rest);
        rest
    });
    let addr = SocketAddr::from(([127, 0, 0, 1], port));

    let cases: Vec<Case> = (0..CALLS).map(|i| mix.case(i)).collect();
    let began = Instant::now();
    let tasks: Vec<_> = cases
        .iter()
        .enumerate()
        .map(|(i, case)| {
            let case = case.clone();
            tokio::spawn(async move { call(addr, i, &case).await })
        })
        .collect();
    let answers = join_within_deadline(tasks).await;
    let wall = began.elapsed();
    let failed: Vec<(usize, &String)> = answers
        .iter()
        .enumerate()
        .filter(|(_, (status, _))| *status != 200)
        .map(|(i, (_, text))| (i, text))
        .collect();
    if !failed.is_empty() {
        let exited = child.try_wait().expect("try_wait");
        let log = std::fs::read_to_string(&f.audit).unwrap_or_default();
        let started: Vec<usize> = failed
            .iter()
            .map(|(i, _)| *i)
            .filter(|i| log.contains(&format!("\"mcp-request\":\"{i}\"")))
            .collect();
        eprintln!(
            "failed calls that started in the server: {} {started:?}",
            started.len()
        );
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "{} of {CALLS} calls got no answer, e.g. {:?}\nserver (exit: {exited:?}): {}",
            failed.len(),
            &failed[..failed.len().min(3)],
            diagnostics.join().expect("stderr reader")
        );
    }
    for (i, (case, (_, text))) in cases.iter().zip(&answers).enumerate() {
        check_answer(i, case, &answer_of(i, &message(text)), false);
    }
    mix.assert_nothing_escaped();

    // Still up, and still right.
    let again = super::good_case(0, CALLS);
    let (status, text) = call(addr, CALLS, &again).await;
    assert_eq!(status, 200, "{text}");
    check_answer(CALLS, &again, &answer_of(CALLS, &message(&text)), false);
    let hwm = rss_high_water_mark_kib(&pid);

    // SAFETY: kill(2) on our own child's pid with a valid signal number.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let status = tokio::task::block_in_place(|| child.wait()).expect("wait");
    let diagnostics = diagnostics.join().expect("stderr reader");
    assert_eq!(status.code(), Some(0), "wasmgov serve: {diagnostics}");

    // The run's calls, the one after it, and the catalog's describe of each tool-world tool.
    let mut all = cases.clone();
    all.push(again);
    let commands = ["hostile-host-memory", "hostile-cmd-exit"];
    let summary = check_log(
        &f.audit,
        &all,
        |start| start["context"]["mcp-request"].as_str()?.parse().ok(),
        Mix::tools().count(),
        Mix::tools().filter(|t| !commands.contains(t)).count(),
    );
    assert!(
        hwm < SERVE_RSS_BOUND_KIB,
        "wasmgov serve: RSS high-water mark {hwm} KiB is over {SERVE_RSS_BOUND_KIB} KiB"
    );
    eprintln!(
        "load: wasmgov serve RSS high-water mark {hwm} KiB ({} MiB); {CALLS} calls in {:.1} s, \
         {SLOTS} at a time; {} audit records {:?}",
        hwm / 1024,
        wall.as_secs_f64(),
        summary.records,
        summary.kinds
    );
    eprintln!("load: calls per tool {:?}", calls_per_tool(&cases));
}
