//! Metrics: what the audit log records, counted, in a text `promtool check metrics` accepts,
//! served at `/metrics` behind the same token as `/mcp`.

use std::process::{Command, Stdio};
use std::sync::Arc;

use serde_json::json;
use wasmgov::Runtime;
use wasmgov::metrics::Metrics;
use wasmgov_serve::Catalog;

use crate::serve::{Fixture, Pkg};

/// The fixture's runtime with metrics observing its audit log, and its catalog.
async fn metered(f: &Fixture) -> (Runtime, Arc<Metrics>, Catalog) {
    let rt = f.runtime();
    let metrics = Arc::new(Metrics::new());
    rt.audit().expect("audited").observe(metrics.clone());
    let catalog = f.catalog(&rt, None).await;
    (rt, metrics, catalog)
}

/// The value of the sample `name{labels}` in `text`.
fn sample(text: &str, name: &str, labels: &str) -> Option<f64> {
    let key = if labels.is_empty() {
        name.to_owned()
    } else {
        format!("{name}{{{labels}}}")
    };
    text.lines()
        .find_map(|l| l.strip_prefix(&key)?.strip_prefix(' ')?.parse().ok())
}

fn promtool_accepts(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (scripts/setup installs Debian's prometheus package)");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_calls_denials_limits_and_audit_writes_and_promtool_accepts_them() {
    let f = Fixture::new("");
    f.package("text-stats", "text-stats", Pkg::default());
    f.package("hostile-loop", "hostile-loop", Pkg::default());
    f.package("fetch-url", "fetch-url", Pkg::default());
    let (_rt, metrics, catalog) = metered(&f).await;
    let run = |name: &str, input: serde_json::Value| {
        let tool = catalog.get(name).expect("served").tool.clone();
        async move {
            tool.run(input.to_string().as_bytes(), &Default::default())
                .await
        }
    };
    for _ in 0..3 {
        assert!(
            run("text-stats", json!({"text": "a b"}))
                .await
                .result
                .is_ok()
        );
    }
    assert!(run("hostile-loop", json!({})).await.result.is_err());
    assert!(
        run("fetch-url", json!({"url": "http://127.0.0.1:9/"}))
            .await
            .result
            .is_err()
    );
    let text = metrics.encode_prometheus();
    assert!(
        metrics.encode().ends_with("# EOF\n"),
        "OpenMetrics for embedders"
    );
    let v = |name: &str, labels: &str| sample(&text, name, labels);
    // Three calls and the describe at load.
    assert_eq!(
        v("wasmgov_calls_total", "tool=\"text-stats\",outcome=\"ok\""),
        Some(4.0),
        "{text}"
    );
    assert_eq!(
        v(
            "wasmgov_calls_total",
            "tool=\"hostile-loop\",outcome=\"limit-fuel\""
        ),
        Some(1.0)
    );
    assert_eq!(
        v(
            "wasmgov_limit_hits_total",
            "tool=\"hostile-loop\",limit=\"fuel\""
        ),
        Some(1.0)
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("wasmgov_denials_total{tool=\"fetch-url\"")),
        "{text}"
    );
    assert_eq!(
        v("wasmgov_calls_in_flight", "tool=\"text-stats\""),
        Some(0.0)
    );
    assert_eq!(
        v("wasmgov_call_duration_seconds_count", "tool=\"text-stats\""),
        Some(4.0)
    );
    let records = f.records().len() as f64;
    assert_eq!(
        v("wasmgov_audit_records_total", ""),
        Some(records),
        "{text}"
    );
    assert_eq!(v("wasmgov_audit_failures_total", ""), Some(0.0));
    promtool_accepts(&text);
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_are_served_behind_the_token() {
    use crate::serve::http::{exchange, listen, loopback, stateless};
    let f = Fixture::new("");
    f.package("text-stats", "text-stats", Pkg::default());
    let (rt, metrics, catalog) = metered(&f).await;
    let server = wasmgov_serve::Server::new(rt, catalog, Default::default());
    let (token, line) = wasmgov_serve::auth::new_token(&"ops".parse().unwrap()).unwrap();
    let running = listen(
        server,
        wasmgov_serve::HttpOptions {
            addr: loopback(),
            tokens: Some(wasmgov_serve::Tokens::parse(&line).unwrap()),
            metrics: Some(metrics),
            ..Default::default()
        },
    )
    .await;
    let addr = running.addr;
    let (h, b) = stateless(
        addr,
        "tools/call",
        Some("text-stats"),
        json!({"name": "text-stats", "arguments": {"text": "x"}}),
        &format!("\r\nAuthorization: Bearer {token}"),
    );
    assert_eq!(exchange(addr, &h, &b).await.0, 200);
    let get = format!("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:{}", addr.port());
    assert_eq!(exchange(addr, &get, b"").await.0, 401);
    let (status, text) = exchange(
        addr,
        &format!("{get}\r\nAuthorization: Bearer {token}"),
        b"",
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    assert!(body.contains("wasmgov_calls_total"), "{text}");
    running.stop().await;
}
