//! Host memory is charged to the call (R05, R06, review finding 2): a tool with no grant cannot
//! make the host hold more than its `host-memory` budget through any kind of object the host
//! keeps for it, the call ends as `limit-host-memory` (exit 4), the guest sees the interface's
//! own error where one exists, and a legitimate tool still moves bodies of many chunks.

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use wasmgov::{Audit, LoadOptions, Runtime};

use crate::audit::{load_unsigned, records, temp_log};
use crate::caps::{LARGE_BODY, Server, call_json, load_with, runtime_with};
use crate::support::{GENEROUS_POLICY, s, shared_state, tool};

/// Peak RSS (KiB) the CLI may reach for any hostile mode: the runtime itself plus a 16 MiB
/// budget, with room for a debug build. Unbounded, the modes below reach gigabytes.
const RSS_BOUND_KIB: u64 = 400 * 1024;

/// Run `wasmgov run hostile-host-memory.wasm` with `input` on stdin (no manifest: no grant at
/// all); return (exit code, stderr, peak RSS in KiB seen in /proc while it ran).
fn run_hostile(input: &str, extra: &[&str]) -> (i32, String, u64) {
    let wasm = tool("hostile-host-memory");
    // The same private environment `support::wasmgov` sets up, on a plain child process whose
    // /proc entry can be read while it runs.
    let home = shared_state();
    // Files, not pipes: the CLI prints what the tool wrote to stderr, and a pipe nobody reads
    // until the end would block it.
    let out_dir = tempfile::tempdir().expect("tempdir");
    let err_path = out_dir.path().join("stderr");
    let err_file = std::fs::File::create(&err_path).expect("stderr file");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_wasmgov"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("HOME", home)
        .env_remove("RUST_LOG")
        .arg("run")
        .arg(&wasm)
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(err_file)
        .spawn()
        .expect("spawn wasmgov");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_path)
            && let Some(kb) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak = peak.max(kb);
        }
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stderr = std::fs::read(&err_path).expect("read stderr");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stderr).into_owned(),
        peak,
    )
}

#[test]
fn a_tool_with_no_grant_cannot_make_the_host_hold_more_than_its_budget() {
    // Each kind of object the host keeps for a tool; unbounded, each of these held from
    // hundreds of megabytes (fields, paths) to gigabytes (bodies, authorities).
    for input in [
        "bodies 3000",
        "fields 9900",
        "paths 3000",
        "authority 100",
        "handles 5000",
        "requests 5000",
    ] {
        let (code, stderr, peak) = run_hostile(input, &[]);
        assert_eq!(code, 4, "{input}: exit {code}, stderr:\n{stderr}");
        assert!(
            stderr.contains("error[limit-host-memory]"),
            "{input}: {stderr}"
        );
        assert!(
            peak < RSS_BOUND_KIB,
            "{input}: peak RSS {peak} KiB is over {RSS_BOUND_KIB} KiB"
        );
    }
}

#[test]
fn captured_stderr_counts_against_host_memory() {
    // With an output cap far above the host-memory budget, the budget is what stops the flood.
    let policy = crate::support::generous_policy_file();
    let (code, stderr, peak) = run_hostile(
        "stderr 40000",
        &[
            "--policy",
            s(&policy),
            "--max-output",
            "64MiB",
            "--timeout",
            "60s",
        ],
    );
    assert_eq!(code, 4, "exit {code}, stderr:\n{}", tail(&stderr));
    assert!(
        stderr.contains("error[limit-host-memory]"),
        "{}",
        tail(&stderr)
    );
    assert!(peak < RSS_BOUND_KIB, "peak RSS {peak} KiB");
}

fn tail(s: &str) -> &str {
    let cut = s.len().saturating_sub(600);
    s.get(cut..).unwrap_or(s)
}

#[tokio::test]
async fn a_refused_host_allocation_is_the_interfaces_error_then_the_limit() {
    // The refused call itself returns the interface's error code (the tool can handle it); the
    // call is still reported as the host-memory limit.
    let (_dir, log) = temp_log();
    let policy = wasmgov::policy::Policy::parse(GENEROUS_POLICY.as_bytes()).expect("policy");
    let rt = Runtime::builder()
        .policy(policy)
        .allow_unsigned(true)
        .cache_dir(shared_state().join("lib-cache"))
        .audit(Audit::file(&log).expect("audit"))
        .build()
        .expect("runtime");
    let t = load_unsigned(&rt, "hostile-host-memory", "", &LoadOptions::default());
    for (input, func, outcome) in [
        ("fields 9900", "[method]fields.append", "forbidden"),
        ("bodies 3000", "[method]outgoing-request.body", "err"),
        (
            "paths 3000",
            "[method]outgoing-request.set-path-with-query",
            "err",
        ),
    ] {
        let out = t.run(input.as_bytes(), &Default::default()).await;
        match &out.result {
            Err(wasmgov::Error::Limit(l)) => {
                assert_eq!(l.kind, wasmgov::LimitKind::HostMemory, "{input}: {l:?}");
            }
            other => panic!("{input}: {other:?}"),
        }
        let rs = records(&log);
        let refused: Vec<&Value> = rs
            .iter()
            .filter(|r| r["kind"] == "host-call" && r["func"] == func)
            .filter(|r| r["outcome"] == outcome)
            .collect();
        assert!(
            !refused.is_empty(),
            "{input}: no {func} returned {outcome}: {:?}",
            rs.iter()
                .filter(|r| r["func"] == func)
                .map(|r| r["outcome"].to_string())
                .collect::<std::collections::BTreeSet<_>>()
        );
    }
}

#[tokio::test]
async fn a_legitimate_tool_still_sends_and_receives_bodies_of_many_chunks() {
    let server = Server::start();
    let allow = format!("[\"{}\"]", server.url());
    let policy = format!(
        "[net]\nallow = {allow}\n\n[[net.private]]\ncidr = \"127.0.0.1/32\"\ntools = [\"*\"]\n"
    );
    let rt = runtime_with(&policy, None);
    // A response of several hyper buffers and outgoing chunks, read whole.
    let t = load_with(
        &rt,
        "fetch-url",
        &format!("\n[net]\nallow = {allow}\n"),
        &LoadOptions::default(),
    )
    .expect("load fetch-url");
    for _ in 0..3 {
        let out = call_json(
            &t,
            json!({ "url": format!("{}/large", server.url()), "max_bytes": 1 << 20 }),
        )
        .await;
        assert_eq!(out["status"], 200, "{out}");
        assert_eq!(out["bytes"], LARGE_BODY, "{out}");
        assert_eq!(out["truncated"], false, "{out}");
    }
    // A request body of many 64 KiB chunks, sent whole.
    let t = load_with(
        &rt,
        "call-api",
        &format!("\n[net]\nallow = {allow}\n"),
        &LoadOptions::default(),
    )
    .expect("load call-api");
    let big = "b".repeat(400 * 1024);
    for _ in 0..2 {
        let out = call_json(
            &t,
            json!({ "base": server.url(), "path": "/upload", "method": "POST", "body": { "data": big } }),
        )
        .await;
        assert_eq!(out["status"], 200, "{out}");
    }
    let sent = server.seen();
    let lens: Vec<&str> = sent
        .iter()
        .filter(|r| r.line.starts_with("POST"))
        .filter_map(|r| r.header("content-length"))
        .collect();
    assert_eq!(lens.len(), 2, "{sent:?}");
    assert!(
        lens.iter()
            .all(|l| l.parse::<usize>().is_ok_and(|n| n > big.len())),
        "{lens:?}"
    );
}

#[tokio::test]
async fn requests_in_flight_are_capped_and_the_cap_is_the_host_memory_limit() {
    // Granted requests each hold a connection and its buffers until answered: past the cap the
    // tool gets `connection-limit-reached`, and the server sees no more than the cap.
    let server = Server::start();
    let allow = format!("[\"{}\"]", server.url());
    let rt = runtime_with(
        &format!(
            "[net]\nallow = {allow}\n\n[[net.private]]\ncidr = \"127.0.0.1/32\"\ntools = [\"*\"]\n"
        ),
        None,
    );
    let t = load_with(
        &rt,
        "hostile-host-memory",
        &format!("\n[net]\nallow = {allow}\n"),
        &LoadOptions::default(),
    )
    .expect("load");
    let input = format!("requests 60 127.0.0.1:{}", server.port);
    let out = t.run(input.as_bytes(), &Default::default()).await;
    match &out.result {
        Err(wasmgov::Error::Limit(l)) => {
            assert_eq!(l.kind, wasmgov::LimitKind::HostMemory, "{l:?}")
        }
        other => panic!("{other:?}"),
    }
    // Connections are made by tasks; give the last admitted ones a moment to arrive.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let n = server.connections();
    assert!(
        n <= wasmgov_host_api::http::MAX_IN_FLIGHT,
        "{n} connections for one call"
    );
}
