//! OpenTelemetry export: each call reaches a real OTLP/HTTP receiver as a span with its host
//! calls as events, every audit record as a log, under a resource that names the replica — and
//! a collector that is down or never answers changes nothing about the call.
//!
//! The receiver is a small hyper server on 127.0.0.1 that decodes what it is sent with the
//! protocol's own types (`opentelemetry-proto`); no exporter is mocked.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message;
use serde_json::{Value, json};
use wasmgov::audit::record::sha256_hex;
use wasmgov_otel::{OtlpExporter, OtlpOptions};

use crate::serve::{Fixture, Pkg};
use crate::support::{s, tool, wasmgov};

/// An OTLP attribute value as JSON, for comparisons.
fn json_of(v: &AnyValue) -> Value {
    match &v.value {
        Some(any_value::Value::StringValue(s)) => json!(s),
        Some(any_value::Value::BoolValue(b)) => json!(b),
        Some(any_value::Value::IntValue(i)) => json!(i),
        Some(any_value::Value::DoubleValue(d)) => json!(d),
        Some(any_value::Value::ArrayValue(a)) => {
            Value::Array(a.values.iter().map(json_of).collect())
        }
        Some(any_value::Value::KvlistValue(m)) => attrs(&m.values).into_iter().collect(),
        Some(any_value::Value::BytesValue(b)) => json!(b),
        Some(_) | None => Value::Null,
    }
}

fn attrs(kvs: &[KeyValue]) -> serde_json::Map<String, Value> {
    kvs.iter()
        .map(|kv| {
            (
                kv.key.clone(),
                kv.value.as_ref().map_or(Value::Null, json_of),
            )
        })
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

/// A span as received.
#[derive(Debug, Clone)]
struct GotSpan {
    resource: serde_json::Map<String, Value>,
    name: String,
    trace_id: String,
    span_id: String,
    attrs: serde_json::Map<String, Value>,
    events: Vec<(String, serde_json::Map<String, Value>)>,
    /// 0 unset, 1 ok, 2 error.
    status: i32,
}

/// A log record as received.
#[derive(Debug, Clone)]
struct GotLog {
    resource: serde_json::Map<String, Value>,
    severity: String,
    body: String,
    trace_id: String,
    attrs: serde_json::Map<String, Value>,
}

impl GotLog {
    fn seq(&self) -> u64 {
        self.attrs["wasmgov.seq"].as_u64().expect("seq")
    }
}

#[derive(Default)]
struct Received {
    spans: Vec<GotSpan>,
    logs: Vec<GotLog>,
    /// Requests that were not OTLP/HTTP protobuf as the specification says.
    bad: Vec<String>,
}

/// A real OTLP/HTTP receiver on 127.0.0.1:0, on a thread and runtime of its own.
struct Receiver {
    addr: SocketAddr,
    got: Arc<Mutex<Received>>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Receiver {
    fn start() -> Self {
        let got = Arc::new(Mutex::new(Received::default()));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let g = got.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                addr_tx.send(listener.local_addr().expect("addr")).ok();
                let accept = async {
                    loop {
                        let Ok((stream, _)) = listener.accept().await else {
                            continue;
                        };
                        let g = g.clone();
                        tokio::spawn(async move {
                            let svc = hyper::service::service_fn(move |req| handle(g.clone(), req));
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                                .await;
                        });
                    }
                };
                tokio::select! {
                    () = accept => {}
                    _ = stopped => {}
                }
            });
        });
        let addr = addr_rx.recv().expect("receiver address");
        Self {
            addr,
            got,
            _stop: stop,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn spans(&self) -> Vec<GotSpan> {
        self.got.lock().unwrap().spans.clone()
    }

    fn logs(&self) -> Vec<GotLog> {
        self.got.lock().unwrap().logs.clone()
    }

    fn bad(&self) -> Vec<String> {
        self.got.lock().unwrap().bad.clone()
    }

    /// Wait (up to a generous minute) until `done` holds of what was received.
    fn wait_for(&self, what: &str, done: impl Fn(&Received) -> bool) {
        let until = Instant::now() + Duration::from_secs(60);
        while Instant::now() < until {
            if done(&self.got.lock().unwrap()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let g = self.got.lock().unwrap();
        panic!(
            "the receiver never got {what}: {} spans, {} logs, bad: {:?}",
            g.spans.len(),
            g.logs.len(),
            g.bad
        );
    }
}

async fn handle(
    got: Arc<Mutex<Received>>,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, hyper::Error> {
    let path = req.uri().path().to_owned();
    let ctype = req
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = req.into_body().collect().await?.to_bytes();
    let mut g = got.lock().unwrap();
    if ctype != "application/x-protobuf" {
        g.bad.push(format!("{path}: content-type {ctype:?}"));
    }
    let answer = match path.as_str() {
        "/v1/traces" => match ExportTraceServiceRequest::decode(body) {
            Ok(req) => {
                for rs in req.resource_spans {
                    let resource = attrs(&rs.resource.map(|r| r.attributes).unwrap_or_default());
                    for ss in rs.scope_spans {
                        for sp in ss.spans {
                            g.spans.push(GotSpan {
                                resource: resource.clone(),
                                name: sp.name,
                                trace_id: hex(&sp.trace_id),
                                span_id: hex(&sp.span_id),
                                attrs: attrs(&sp.attributes),
                                events: sp
                                    .events
                                    .iter()
                                    .map(|e| (e.name.clone(), attrs(&e.attributes)))
                                    .collect(),
                                status: sp.status.map_or(0, |s| s.code),
                            });
                        }
                    }
                }
                Some(ExportTraceServiceResponse::default().encode_to_vec())
            }
            Err(e) => {
                g.bad.push(format!("{path}: {e}"));
                None
            }
        },
        "/v1/logs" => match ExportLogsServiceRequest::decode(body) {
            Ok(req) => {
                for rl in req.resource_logs {
                    let resource = attrs(&rl.resource.map(|r| r.attributes).unwrap_or_default());
                    for sl in rl.scope_logs {
                        for l in sl.log_records {
                            g.logs.push(GotLog {
                                resource: resource.clone(),
                                severity: l.severity_text,
                                body: l
                                    .body
                                    .as_ref()
                                    .map(json_of)
                                    .and_then(|v| v.as_str().map(str::to_owned))
                                    .unwrap_or_default(),
                                trace_id: hex(&l.trace_id),
                                attrs: attrs(&l.attributes),
                            });
                        }
                    }
                }
                Some(ExportLogsServiceResponse::default().encode_to_vec())
            }
            Err(e) => {
                g.bad.push(format!("{path}: {e}"));
                None
            }
        },
        other => {
            g.bad.push(format!("unexpected path {other}"));
            None
        }
    };
    let resp = match answer {
        Some(bytes) => hyper::Response::builder()
            .header(hyper::header::CONTENT_TYPE, "application/x-protobuf")
            .body(Full::new(Bytes::from(bytes))),
        None => hyper::Response::builder()
            .status(400)
            .body(Full::new(Bytes::new())),
    };
    Ok(resp.expect("response"))
}

/// The trace id of call `call` as docs/monitoring.md says to compute it: the first 32 hex
/// digits of SHA-256 of the call id.
fn trace_of(call: &str) -> String {
    sha256_hex(call.as_bytes())[..32].to_owned()
}

/// An address on which nothing listens (connection refused).
fn dead_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

/// Accepts connections and never reads or answers them, until dropped.
struct Silent {
    addr: SocketAddr,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Silent {
    fn start() -> Self {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.set_nonblocking(true).expect("nonblocking");
        let addr = l.local_addr().expect("addr");
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stop.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            while !s.load(std::sync::atomic::Ordering::Relaxed) {
                match l.accept() {
                    Ok((c, _)) => held.push(c),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Self { addr, stop }
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

fn exporter(url: &str, replica: &str) -> Arc<OtlpExporter> {
    let mut o = OtlpOptions::new(url.parse().expect("endpoint"));
    o.replica = Some(replica.to_owned());
    o.interval = Duration::from_millis(50);
    Arc::new(OtlpExporter::start(o).expect("exporter"))
}

/// Each call started in `records`, by call id, with its `end` record.
fn calls(records: &[Value]) -> HashMap<String, Value> {
    records
        .iter()
        .filter(|r| r["kind"] == "end")
        .map(|r| (r["call"].as_str().unwrap().to_owned(), r.clone()))
        .collect()
}

/// Check that the receiver holds one span per call of `records`, each with the attributes and
/// outcome of its `end` record and its host calls as events whose seqs are the log's, and a log
/// record for every audit record; return the spans by call id.
fn assert_exported(rx: &Receiver, records: &[Value], replica: &str) -> HashMap<String, GotSpan> {
    assert!(rx.bad().is_empty(), "{:?}", rx.bad());
    let spans = rx.spans();
    let logs = rx.logs();
    let ends = calls(records);
    let mut by_call = HashMap::new();
    for (call, end) in &ends {
        let of_call: Vec<&GotSpan> = spans
            .iter()
            .filter(|s| s.attrs.get("wasmgov.call") == Some(&json!(call)))
            .collect();
        assert_eq!(of_call.len(), 1, "one span for call {call}: {spans:#?}");
        let sp = of_call[0].clone();
        assert_eq!(sp.trace_id, trace_of(call));
        assert_eq!(
            sp.span_id,
            sha256_hex(call.as_bytes())[32..48],
            "span id is the next 16 hex digits"
        );
        let tool = end["tool"].as_str().unwrap();
        assert_eq!(sp.attrs["wasmgov.tool"], json!(tool));
        let name = tool.split('@').next().unwrap();
        assert!(sp.name.ends_with(&format!(" {name}")), "{}", sp.name);
        for k in [
            "outcome",
            "exit",
            "fuel",
            "peak_memory",
            "host_calls",
            "output",
            "us",
        ] {
            assert_eq!(sp.attrs[&format!("wasmgov.{k}")], end[k], "{k} of {call}");
        }
        assert_eq!(sp.attrs["wasmgov.end_seq"], end["seq"]);
        let want_status = if end["outcome"] == "ok" { 0 } else { 2 };
        assert_eq!(sp.status, want_status, "status of {call}");
        // Host calls are events, one per record, with the record's seq (every call here makes
        // fewer than the per-span cap).
        let hc_seqs: BTreeSet<u64> = records
            .iter()
            .filter(|r| r["kind"] == "host-call" && r["call"] == json!(call))
            .map(|r| r["seq"].as_u64().unwrap())
            .collect();
        let ev_seqs: BTreeSet<u64> = sp
            .events
            .iter()
            .filter(|(n, _)| n == "host-call")
            .map(|(_, a)| a["wasmgov.seq"].as_u64().unwrap())
            .collect();
        assert_eq!(ev_seqs, hc_seqs, "host-call events of {call}");
        for r in records
            .iter()
            .filter(|r| r["kind"] == "host-call" && r["call"] == json!(call))
        {
            let (_, a) = sp
                .events
                .iter()
                .find(|(_, a)| a["wasmgov.seq"] == r["seq"])
                .unwrap();
            assert_eq!(a["wasmgov.func"], r["func"]);
            assert_eq!(a["wasmgov.iface"], r["iface"]);
            assert_eq!(a["wasmgov.decision"], r["decision"]);
            assert_eq!(a["wasmgov.outcome"], r["outcome"]);
        }
        assert_eq!(sp.resource["service.instance.id"], json!(replica));
        assert_eq!(sp.resource["service.name"], json!("wasmgov"));
        assert!(sp.resource.contains_key("service.version"));
        by_call.insert(call.clone(), sp);
    }
    let calls_with_start: BTreeSet<&str> = records
        .iter()
        .filter(|r| r["kind"] == "start")
        .map(|r| r["call"].as_str().unwrap())
        .collect();
    assert_eq!(calls_with_start.len(), ends.len(), "every call ended");
    assert_eq!(spans.len(), ends.len(), "no other spans: {spans:#?}");
    // One log per record, with the record's seq, kind, and the call's trace id.
    let log_seqs: Vec<u64> = {
        let mut v: Vec<u64> = logs.iter().map(GotLog::seq).collect();
        v.sort_unstable();
        v
    };
    let rec_seqs: Vec<u64> = records.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(log_seqs, rec_seqs, "a log record for every audit record");
    for r in records {
        let l = logs.iter().find(|l| l.seq() == r["seq"]).unwrap();
        assert_eq!(l.attrs["wasmgov.kind"], r["kind"]);
        assert_eq!(l.attrs["wasmgov.call"], r["call"]);
        assert_eq!(l.resource["service.instance.id"], json!(replica));
        assert!(!l.body.is_empty() && !l.body.contains('\n'), "{l:?}");
        let call = r["call"].as_str().unwrap();
        if r["kind"] != "load" {
            assert_eq!(l.trace_id, trace_of(call), "{l:?}");
        }
        let warn = r["decision"] == "deny" || r["kind"] == "limit";
        assert_eq!(l.severity == "WARN", warn, "severity of {r}: {l:?}");
    }
    by_call
}

#[tokio::test(flavor = "multi_thread")]
async fn library_exports_calls_as_spans_with_host_call_events_and_every_record_as_a_log() {
    let rx = Receiver::start();
    let f = Fixture::new("");
    f.package("text-stats", "text-stats", Pkg::default());
    f.package("fetch-url", "fetch-url", Pkg::default());
    f.package("hostile-loop", "hostile-loop", Pkg::default());
    let rt = f.runtime();
    let otlp = exporter(&rx.url(), "replica-a");
    rt.audit().expect("audited").observe(otlp.clone());
    let catalog = f.catalog(&rt, None).await;
    let run = |name: &str, input: Value| {
        let tool = catalog.get(name).expect("served").tool.clone();
        let opts = wasmgov::CallOptions {
            caller: Some("agent-7".into()),
            ..Default::default()
        };
        async move { tool.run(input.to_string().as_bytes(), &opts).await }
    };
    let ok = run("text-stats", json!({"text": "a b c"})).await;
    assert!(ok.result.is_ok());
    // Not granted: the host refuses the request.
    let denied = run("fetch-url", json!({"url": "http://127.0.0.1:9/"})).await;
    assert!(denied.result.is_err());
    let limited = run("hostile-loop", json!({})).await;
    assert!(matches!(limited.result, Err(wasmgov::Error::Limit(_))));
    let stats = tokio::task::spawn_blocking(move || otlp.shutdown(Duration::from_secs(30)))
        .await
        .unwrap()
        .expect("flushed");
    let records = f.records();
    let spans = assert_exported(&rx, &records, "replica-a");
    assert_eq!(stats.export_failures, 0, "{stats:?}");
    assert_eq!(stats.dropped, 0, "{stats:?}");
    assert_eq!(stats.logs_exported, records.len() as u64);
    assert_eq!(stats.spans_exported, spans.len() as u64);

    let of = |prefix: &str| {
        spans
            .values()
            .find(|s| {
                s.attrs["wasmgov.action"] == "call"
                    && s.attrs["wasmgov.tool"]
                        .as_str()
                        .unwrap()
                        .starts_with(prefix)
            })
            .unwrap()
            .clone()
    };
    let fetch = of("fetch-url@");
    assert!(
        fetch
            .events
            .iter()
            .any(|(n, a)| n == "host-call" && a["wasmgov.decision"] == "deny"),
        "{fetch:#?}"
    );
    let call = of("text-stats@");
    assert_eq!(call.attrs["wasmgov.caller"], json!("agent-7"));
    assert_eq!(call.attrs["wasmgov.action"], json!("call"));
    // The limit is an event on the call's span, pointing at its record.
    let looped = of("hostile-loop@");
    let limit = records
        .iter()
        .find(|r| r["kind"] == "limit" && r["tool"].as_str().unwrap().starts_with("hostile-loop"))
        .expect("limit record");
    let (_, ev) = looped
        .events
        .iter()
        .find(|(n, _)| n == "limit")
        .expect("limit event");
    assert_eq!(ev["wasmgov.seq"], limit["seq"]);
    assert_eq!(ev["wasmgov.which"], limit["which"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_collector_changes_no_result_and_its_failures_are_counted_in_metrics() {
    let f = Fixture::new("");
    f.package("text-stats", "text-stats", Pkg::default());
    let rt = f.runtime();
    let otlp = exporter(&format!("http://{}", dead_addr()), "replica-b");
    let mut metrics = wasmgov::metrics::Metrics::new();
    otlp.register_metrics(metrics.registry_mut());
    let metrics = Arc::new(metrics);
    rt.audit().expect("audited").observe(otlp.clone());
    rt.audit().expect("audited").observe(metrics.clone());
    let catalog = f.catalog(&rt, None).await;
    let tool = catalog.get("text-stats").expect("served").tool.clone();
    let input = br#"{"text": "one two two"}"#;
    let with = tool.run(input, &Default::default()).await;
    let plain = crate::support::load("text-stats", wasmgov::Limits::default())
        .run(input, &Default::default())
        .await;
    assert_eq!(
        with.result.as_ref().expect("ok"),
        plain.result.as_ref().expect("ok")
    );
    let x = otlp.clone();
    let stats = tokio::task::spawn_blocking(move || x.shutdown(Duration::from_secs(30)))
        .await
        .unwrap()
        .expect("shut down");
    assert!(stats.export_failures >= 1, "{stats:?}");
    assert_eq!(stats.spans_exported + stats.logs_exported, 0, "{stats:?}");
    let text = metrics.encode_prometheus();
    let failures = text
        .lines()
        .find_map(|l| l.strip_prefix("wasmgov_otlp_export_failures_total "))
        .and_then(|v| v.parse::<f64>().ok());
    assert_eq!(failures, Some(stats.export_failures as f64), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("wasmgov_otlp_dropped_total ")),
        "{text}"
    );
    assert!(
        text.contains("# TYPE wasmgov_otlp_export_failures_total counter"),
        "{text}"
    );
}

/// `wasmgov run` of an example tool with `args`; (exit code, stdout, stderr, audit records).
fn cli_run(name: &str, input: &str, extra: &[&str]) -> (i32, String, String, Vec<Value>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");
    let t = tool(name);
    let out = wasmgov()
        .args(["run", s(&t), "--input", input, "--audit", s(&audit)])
        .args(extra)
        .output()
        .expect("run wasmgov");
    let records = std::fs::read_to_string(&audit)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("record"))
        .collect();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        records,
    )
}

#[test]
fn cli_run_otlp_exports_the_call_and_names_the_replica() {
    let rx = Receiver::start();
    let url = rx.url();
    let input = r#"{"text":"a b"}"#;
    let (code, out, err, records) = cli_run(
        "text-stats",
        input,
        &["--otlp", &url, "--replica", "cli-replica"],
    );
    assert_eq!(code, 0, "{err}");
    let (_, plain, _, _) = cli_run("text-stats", input, &[]);
    assert_eq!(out, plain, "the result does not change");
    // `run` flushed before it exited: everything is there already.
    assert_exported(&rx, &records, "cli-replica");

    // A hostile call: the host refuses its request; same exit code, and the denial is exported.
    let rx = Receiver::start();
    let url = rx.url();
    let input = r#"{"url":"http://127.0.0.1:9/"}"#;
    let (code, _, err, records) = cli_run("fetch-url", input, &["--otlp", &url]);
    let (plain_code, _, _, _) = cli_run("fetch-url", input, &[]);
    assert_eq!(code, plain_code, "{err}");
    let spans = assert_exported(&rx, &records, &hostname_or_any(&rx));
    assert!(
        spans
            .values()
            .flat_map(|s| &s.events)
            .any(|(n, a)| n == "host-call" && a["wasmgov.decision"] == "deny"),
        "{spans:#?}"
    );
}

/// The replica a run without `--replica` reported (the host name), after checking it is one.
fn hostname_or_any(rx: &Receiver) -> String {
    let logs = rx.logs();
    let resource = &logs.first().expect("a log").resource;
    let name = resource["service.instance.id"]
        .as_str()
        .expect("a replica name")
        .to_owned();
    assert!(!name.is_empty());
    assert_eq!(resource["host.name"], json!(name));
    name
}

#[test]
fn cli_run_with_a_dead_or_silent_collector_returns_the_result_promptly() {
    let input = r#"{"text":"x y"}"#;
    // A baseline run, which also warms the compile cache.
    let started = Instant::now();
    let (code, plain, _, _) = cli_run("text-stats", input, &[]);
    let baseline = started.elapsed();
    assert_eq!(code, 0);

    let dead = format!("http://{}", dead_addr());
    let (code, out, err, _) = cli_run("text-stats", input, &["--otlp", &dead]);
    assert_eq!((code, &out), (0, &plain), "{err}");
    assert!(err.contains("warning: OTLP export"), "{err}");

    // Accepts and never answers: `run` waits at most its 2 s flush cap, far less than the 10 s
    // an export request may take.
    let silent = Silent::start();
    let started = Instant::now();
    let (code, out, err, _) = cli_run(
        "text-stats",
        input,
        &["--otlp", &format!("http://{}", silent.addr)],
    );
    let took = started.elapsed();
    assert_eq!((code, &out), (0, &plain), "{err}");
    assert!(
        took < baseline + Duration::from_secs(8),
        "run took {took:?} (baseline {baseline:?}) with a silent collector"
    );
}

#[test]
fn cli_refuses_an_otlp_url_it_cannot_use() {
    let t = tool("text-stats");
    for url in [
        "ftp://collector:4318",
        "127.0.0.1:4318",
        "http://u:p@h:4318",
    ] {
        let out = wasmgov()
            .args(["run", s(&t), "--input", "{}", "--otlp", url])
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{url}: {err}");
        assert!(err.starts_with("error[usage]: --otlp: "), "{err}");
        assert!(err.contains("hint: "), "{err}");
    }
}

#[test]
fn serve_otlp_exports_calls_and_shows_its_counters_on_metrics() {
    use std::io::{BufReader, Read, Write};
    let rx = Receiver::start();
    let f = Fixture::new("");
    f.package("text-stats", "text-stats", Pkg::default());
    let bin = assert_cmd::cargo::cargo_bin("wasmgov");
    let mut child = std::process::Command::new(bin)
        .args(f.serve_args())
        .args(["--http", "127.0.0.1:0", "--otlp"])
        .arg(rx.url())
        .args(["--replica", "serve-replica"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("serve");
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let addr = SocketAddr::from(([127, 0, 0, 1], crate::serve::listening_port(&mut err)));
    let send = |head: &str, body: &[u8]| {
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        write!(
            c,
            "{head}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .unwrap();
        c.write_all(body).unwrap();
        let mut out = String::new();
        let _ = c.read_to_string(&mut out);
        out
    };
    let (head, body) = crate::serve::http::stateless(
        addr,
        "tools/call",
        Some("text-stats"),
        json!({"name": "text-stats", "arguments": {"text": "p q"}}),
        "",
    );
    let answer = send(&head, &body);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    rx.wait_for("the call's span", |g| {
        g.spans.iter().any(|s| s.attrs["wasmgov.action"] == "call")
    });
    let metrics = send(
        &format!("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:{}", addr.port()),
        b"",
    );
    assert!(
        metrics.contains("\nwasmgov_otlp_export_failures_total 0\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("\nwasmgov_otlp_dropped_total 0\n"),
        "{metrics}"
    );
    // SAFETY: kill(2) on our own child's pid with a valid signal number.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let status = child.wait().expect("exit");
    assert!(status.success(), "{status:?}");
    let spans = rx.spans();
    let call = spans
        .iter()
        .find(|s| s.attrs["wasmgov.action"] == "call")
        .unwrap();
    assert_eq!(call.resource["service.instance.id"], json!("serve-replica"));
    assert_eq!(call.attrs["wasmgov.context.transport"], json!("http"));
    // Every record of the log reached the receiver by the time serve exited.
    let records = f.records();
    assert_exported(&rx, &records, "serve-replica");
}
