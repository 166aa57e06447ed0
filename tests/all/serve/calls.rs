//! Calls: every failure of the tool is a tool result with `isError` and the CLI's words, a
//! cancelled call stops its guest and is audited so, the audit record says where the call came
//! from, and more calls than slots and queue are answered busy at once.

use serde_json::json;
use wasmgov_serve::ServerOptions;

use super::{Fixture, Pipe, Pkg, error_text, server, wait_for};

#[tokio::test(flavor = "multi_thread")]
async fn failures_are_tool_results_in_the_clis_words_never_protocol_errors() {
    let f = Fixture::new("");
    f.package("text-stats", "text-stats", Pkg::default());
    f.package("hostile-loop", "hostile-loop", Pkg::default());
    f.package("hostile-trap", "hostile-trap", Pkg::default());
    f.package(
        "hostile-membomb",
        "hostile-membomb",
        Pkg {
            extra: "\n[limits]\nmemory = \"16 MiB\"\n",
            ..Pkg::default()
        },
    );
    f.package("tool-fails", "tool-fails", Pkg::default());
    // No [net] grant: its request is denied by the host.
    f.package("fetch-url", "fetch-url", Pkg::default());
    let mut p = Pipe::session(server(&f, ServerOptions::default()).await, "2025-06-18").await;

    let ok = p.call("text-stats", json!({"text": "one two two"})).await;
    assert_eq!(ok["isError"], false, "{ok}");
    assert_eq!(ok["structuredContent"]["words"], 3);
    for (tool, input, kind) in [
        ("hostile-loop", json!({}), "limit-fuel"),
        ("hostile-trap", json!({}), "trap"),
        ("hostile-membomb", json!({}), "limit-memory"),
        ("tool-fails", json!({"reason": "nope"}), "tool-failed"),
        ("text-stats", json!({"wrong": 1}), "tool-invalid-input"),
        (
            "fetch-url",
            json!({"url": "http://127.0.0.1:9/"}),
            "tool-failed",
        ),
    ] {
        let r = p.call(tool, input).await;
        let text = error_text(&r);
        assert!(
            text.starts_with(&format!("error[{kind}]: ")),
            "{tool}: {text}"
        );
        assert_eq!(r["structuredContent"]["error"]["kind"], kind, "{r}");
    }
    // The denial is in the audit log as the host decided it.
    let denied = f.records().into_iter().any(|r| {
        r["kind"] == "host-call" && r["decision"] == "deny" && r["tool"] == "fetch-url@1.0.1"
    });
    assert!(denied, "no deny record for fetch-url");
    // The server is still serving after all of that.
    let again = p.call("text-stats", json!({"text": "x"})).await;
    assert_eq!(again["structuredContent"]["words"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_call_stops_the_guest_and_the_audit_says_where_it_came_from() {
    let f = Fixture::new("");
    f.sleepy("60s");
    let mut p = Pipe::session(server(&f, ServerOptions::default()).await, "2025-11-25").await;
    let id = p
        .start("tools/call", json!({"name": "sleepy", "arguments": {}}))
        .await;
    // Wait until the guest is blocked in its host call, then cancel.
    let started = wait_for(&f, |r| r["action"] == "call").await;
    p.send(
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                  "params": {"requestId": id, "reason": "user gave up"}}),
    )
    .await;
    let end = wait_for(&f, |r| r["kind"] == "end" && r["call"] == started["call"]).await;
    assert_eq!(end["outcome"], "cancelled", "{end}");
    assert_eq!(end["call"], started["call"]);
    let c = &started["context"];
    assert_eq!(c["transport"], "stdio");
    assert_eq!(c["mcp-request"], id.to_string());
    assert_eq!(c["mcp-tool"], "sleepy");
    assert_eq!(c["protocol"], "2025-11-25");
    assert_eq!(c["client"], "serve-tests/1.2.3");
    // The connection keeps working; the cancelled request gets no response.
    let r = p.request("tools/list", json!({})).await;
    assert!(r["result"]["tools"].is_array(), "{r}");
    assert!(!p.other.iter().any(|m| m.get("id") == Some(&json!(id))));
}

#[tokio::test(flavor = "multi_thread")]
async fn more_calls_than_slots_and_queue_are_answered_busy_at_once() {
    let f = Fixture::new("");
    f.sleepy("10s");
    f.package("text-stats", "text-stats", Pkg::default());
    let s = server(
        &f,
        ServerOptions {
            max_concurrent: 1,
            max_queued: 1,
        },
    )
    .await;
    let mut p = Pipe::session(s.clone(), "2025-06-18").await;
    let running = p
        .start("tools/call", json!({"name": "sleepy", "arguments": {}}))
        .await;
    wait_for(&f, |r| r["action"] == "call").await;
    // One waits in the queue; the next finds slot and queue full.
    let queued = p
        .start(
            "tools/call",
            json!({"name": "text-stats", "arguments": {"text": "q"}}),
        )
        .await;
    for _ in 0..6000 {
        if s.waiting() >= 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    assert_eq!(
        (s.waiting(), s.in_flight()),
        (1, 2),
        "the second call did not wait for the slot"
    );
    let busy = p
        .start(
            "tools/call",
            json!({"name": "text-stats", "arguments": {"text": "b"}}),
        )
        .await;
    // The busy answer comes before the sleeper (which holds the slot until its timeout) ends.
    let first = p.recv().await;
    assert_eq!(first["id"], busy, "{first}");
    assert!(
        error_text(&first["result"]).starts_with("error[busy]"),
        "{first}"
    );
    let r = p.response(running).await;
    assert!(error_text(&r["result"]).starts_with("error[limit-timeout]"));
    let r = p.response(queued).await;
    assert_eq!(r["result"]["structuredContent"]["words"], 1, "{r}");
}
