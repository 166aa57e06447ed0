//! Host calls reach the record of the call that made them: under concurrency, under an
//! embedder's own tracing setup, and when a call is stopped inside a host call (its timeout,
//! its cancel token, or its caller dropping the future); and a flood of them stays bounded.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};
use tracing::span;
use wasmgov::audit::verify::{VerifyOptions, verify_file};
use wasmgov::{AuditOptions, CallOptions, LoadOptions};

use crate::audit::{
    audited_runtime_env, calls, data_dir, host_calls_of, load_unsigned, records, run_ok, storm,
    temp_log,
};

fn clock_calls(rs: &[Value], call: &str) -> usize {
    host_calls_of(rs, call)
        .iter()
        .filter(|r| r["iface"] == "wasi:clocks/monotonic-clock" && r["func"] == "now")
        .map(crate::audit::count_of)
        .sum::<u64>() as usize
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_each_get_exactly_their_own_host_calls() {
    let (dir, log) = temp_log();
    let rt = audited_runtime_env(&log, AuditOptions::default());
    let t = storm(&rt, &data_dir(dir.path()));
    let mut tasks = Vec::new();
    for i in 0..8u64 {
        let t = t.clone();
        let n = 300 + 97 * i;
        tasks.push(tokio::spawn(async move {
            let opts = CallOptions {
                call_id: Some(format!("call-{i}")),
                ..Default::default()
            };
            let input = json!({"n": n, "op": "clock"}).to_string();
            let out = t.run(input.as_bytes(), &opts).await;
            assert!(out.result.is_ok(), "{:?}", out.result);
            (i, n)
        }));
    }
    let mut want = Vec::new();
    for task in tasks {
        want.push(task.await.expect("task"));
    }
    let rs = records(&log);
    assert_eq!(calls(&rs).len(), 8);
    for (i, n) in want {
        let id = format!("call-{i}");
        assert_eq!(
            clock_calls(&rs, &id),
            n as usize,
            "{id} made {n} clock calls"
        );
        // A call's records run start, host calls, end: none of its host calls is written
        // after its end or before its start.
        let mine: Vec<&Value> = rs.iter().filter(|r| r["call"] == id.as_str()).collect();
        assert_eq!(mine.first().map(|r| &r["kind"]), Some(&json!("start")));
        assert_eq!(mine.last().map(|r| &r["kind"]), Some(&json!("end")));
        let end = mine.last().expect("end");
        assert!(end["host_calls"].as_u64().is_some_and(|h| h >= n));
    }
    let rep = verify_file(&log, &VerifyOptions::default()).expect("verify");
    assert!(rep.ok(), "{rep:?}");
}

/// An embedder's subscriber that wants everything and counts the import spans it is handed.
struct Greedy {
    imports: Arc<AtomicUsize>,
    events: Arc<AtomicUsize>,
    next: AtomicUsize,
}

impl tracing::Subscriber for Greedy {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &span::Attributes<'_>) -> span::Id {
        if attrs.metadata().name() == "wit-bindgen import" {
            self.imports.fetch_add(1, Ordering::Relaxed);
        }
        span::Id::from_u64(self.next.fetch_add(1, Ordering::Relaxed) as u64 + 1)
    }
    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
    fn event(&self, _: &tracing::Event<'_>) {
        self.events.fetch_add(1, Ordering::Relaxed);
    }
    fn enter(&self, _: &span::Id) {}
    fn exit(&self, _: &span::Id) {}
}

#[test]
fn an_embedders_own_subscriber_keeps_its_events_and_cannot_hide_host_calls() {
    let (dir, log) = temp_log();
    let rt = audited_runtime_env(&log, AuditOptions::default());
    let t = storm(&rt, &data_dir(dir.path()));
    let imports = Arc::new(AtomicUsize::new(0));
    let events = Arc::new(AtomicUsize::new(0));
    let greedy = Greedy {
        imports: imports.clone(),
        events: events.clone(),
        next: AtomicUsize::new(0),
    };
    let _default = tracing::subscriber::set_default(greedy);
    let exec = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let before = events.load(Ordering::Relaxed);
    // Log lines go through traced imports (clock reads do not: host-api's `quiet` path).
    let out = exec.block_on(run_ok(&t, json!({"n": 50, "op": "log"})));
    assert_eq!(out["done"], 50);
    assert!(
        events.load(Ordering::Relaxed) >= before + 100,
        "the embedder still gets the events emitted during the call (a call and a return per import)"
    );
    let out = exec.block_on(run_ok(&t, json!({"n": 50, "op": "clock"})));
    assert_eq!(out["done"], 50);
    let rs = records(&log);
    let ids = calls(&rs);
    let logs = host_calls_of(&rs, &ids[0])
        .iter()
        .filter(|r| r["iface"] == "wasmgov:tool/host" && r["func"] == "log")
        .count();
    assert_eq!(logs, 50, "every log call is in the log");
    assert_eq!(
        clock_calls(&rs, &ids[1]),
        50,
        "every host call is in the log"
    );
    assert_eq!(
        imports.load(Ordering::Relaxed),
        0,
        "the audited call's imports went to the audit log, not to the embedder"
    );
    // After the call, the thread's default is the embedder's again.
    let before = events.load(Ordering::Relaxed);
    tracing::info!("after the call");
    assert_eq!(events.load(Ordering::Relaxed), before + 1);
}

#[tokio::test]
async fn a_call_stopped_inside_a_host_call_records_that_call_as_cancelled() {
    let (_dir, log) = temp_log();
    let rt = audited_runtime_env(&log, AuditOptions::default());
    let t = load_unsigned(&rt, "hostile-sleep", "", &LoadOptions::default());
    let mut opts = CallOptions::default();
    opts.limits.timeout = Some("300ms".parse().expect("duration"));
    let out = t.run(b"{}", &opts).await;
    assert!(out.result.is_err());
    let rs = records(&log);
    let ids = calls(&rs);
    let hc = host_calls_of(&rs, &ids[0]);
    let last = hc.last().expect("the sleep's host calls are recorded");
    assert_eq!(
        (last["iface"].as_str(), last["outcome"].as_str()),
        (Some("wasi:io/poll"), Some("cancelled")),
        "the host call the tool was blocked in: {hc:#?}"
    );
    let end = rs.last().expect("end");
    assert_eq!(end["kind"], "end");
    assert_eq!(end["outcome"], "limit-timeout");
    let rep = verify_file(&log, &VerifyOptions::default()).expect("verify");
    assert!(rep.ok(), "{rep:?}");
}

/// Once the `end` of call `id` is in the log (a call dropped by its caller is written without
/// anyone waiting for it): its last host call is the one it was blocked in, `cancelled`; it
/// runs from `start` to a `cancelled` end; the whole log verifies with no call left open.
async fn expect_ended_cancelled_in_a_host_call(log: &std::path::Path, id: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let rs = loop {
        let rs = records(log);
        if rs.iter().any(|r| r["call"] == id && r["kind"] == "end") {
            break rs;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no end record for {id}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let hc = host_calls_of(&rs, id);
    let last = hc.last().expect("the sleep's host calls are recorded");
    assert_eq!(last["outcome"], "cancelled", "{hc:#?}");
    let mine: Vec<&Value> = rs.iter().filter(|r| r["call"] == id).collect();
    assert_eq!(mine.first().map(|r| &r["kind"]), Some(&json!("start")));
    let end = mine.last().expect("end");
    assert_eq!(
        (&end["kind"], &end["outcome"]),
        (&json!("end"), &json!("cancelled"))
    );
    let rep = verify_file(log, &VerifyOptions::default()).expect("verify");
    assert!(rep.ok() && rep.unfinished.is_empty(), "{rep:?}");
}

#[tokio::test]
async fn a_call_cancelled_by_its_token_keeps_its_host_calls_and_an_end() {
    let (_dir, log) = temp_log();
    let rt = audited_runtime_env(&log, AuditOptions::default());
    let t = load_unsigned(&rt, "hostile-sleep", "", &LoadOptions::default());
    let token = wasmgov::CancelToken::new();
    let opts = CallOptions {
        cancel: Some(token.clone()),
        call_id: Some("cancelled-by-token".into()),
        ..Default::default()
    };
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        token.cancel();
    });
    let out = t.run(b"{}", &opts).await;
    canceller.await.expect("canceller");
    assert!(
        matches!(out.result, Err(wasmgov::Error::Cancelled)),
        "{:?}",
        out.result
    );
    expect_ended_cancelled_in_a_host_call(&log, "cancelled-by-token").await;
}

#[tokio::test]
async fn a_call_future_dropped_by_its_caller_keeps_its_host_calls_and_an_end() {
    let (_dir, log) = temp_log();
    let rt = audited_runtime_env(&log, AuditOptions::default());
    let t = load_unsigned(&rt, "hostile-sleep", "", &LoadOptions::default());
    let opts = CallOptions {
        call_id: Some("dropped-by-caller".into()),
        ..Default::default()
    };
    let gave_up =
        tokio::time::timeout(std::time::Duration::from_millis(200), t.run(b"{}", &opts)).await;
    assert!(gave_up.is_err(), "the sleeper cannot finish");
    expect_ended_cancelled_in_a_host_call(&log, "dropped-by-caller").await;
}

#[tokio::test]
async fn a_host_call_flood_is_cut_at_the_limit_and_its_records_stay_small() {
    // R07: a million calls with a 100 KB path each, against a limit of 2,000 host calls. The
    // log gets at most that many host-call records, each a few hundred bytes (paths are cut at
    // 256 bytes), then the limit and the end; the chain verifies.
    let (dir, log) = temp_log();
    let rt = audited_runtime_env(&log, AuditOptions::default());
    let t = storm(&rt, &data_dir(dir.path()));
    let mut opts = CallOptions::default();
    opts.limits.host_calls = Some(2_000);
    let path = format!("/data/{}", "a".repeat(100_000));
    let input = json!({"n": 1_000_000, "op": "stat", "path": path}).to_string();
    let out = t.run(input.as_bytes(), &opts).await;
    assert!(
        matches!(&out.result, Err(wasmgov::Error::Limit(l)) if l.kind == wasmgov::LimitKind::HostCalls),
        "{:?}",
        out.result
    );
    let rs = records(&log);
    let ids = calls(&rs);
    let hc = host_calls_of(&rs, &ids[0]);
    assert!(
        !hc.is_empty() && hc.len() <= 2_000,
        "{} host-call records",
        hc.len()
    );
    let longest = std::fs::read_to_string(&log)
        .expect("read")
        .lines()
        .filter(|l| l.contains("\"kind\":\"host-call\""))
        .map(str::len)
        .max()
        .unwrap_or(0);
    assert!(longest < 1_024, "a host-call record of {longest} bytes");
    assert!(
        hc.iter()
            .any(|r| r["args"]["path"].as_str().is_some_and(|p| p.ends_with('…'))),
        "the long path is recorded cut"
    );
    let limit = rs
        .iter()
        .find(|r| r["kind"] == "limit")
        .expect("limit record");
    assert_eq!(limit["which"], "host-calls");
    let rep = verify_file(&log, &VerifyOptions::default()).expect("verify");
    assert!(rep.ok(), "{rep:?}");
}
