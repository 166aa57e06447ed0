//! How an audit record reads in OpenTelemetry: the attributes of a call's span, the span events
//! of its host calls, limit hits and findings, and the log record every audit record becomes.
//! Pure functions of the records; the export thread puts the pieces together.
//!
//! Every attribute wasmgov adds is under `wasmgov.`; a log record carries the record's own
//! fields as `wasmgov.FIELD` (nested objects as maps), so a new field of a record kind reaches
//! the collector without a change here.

use std::time::SystemTime;

use opentelemetry::logs::{AnyValue, Severity};
use opentelemetry::trace::{Event as SpanEvent, SpanId, TraceId};
use opentelemetry::{Array, Key, KeyValue, StringValue, Value};
use wasmgov_runtime::audit::summary::ArgValue;
use wasmgov_runtime::audit::{Body, Decision};

use crate::ids::call_ids;
use crate::item::{HostCall, Item, Record};

/// An unsigned count as an OpenTelemetry integer (which is signed).
pub(crate) fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The tool's name of a label `name@version` (span names stay few across releases).
pub(crate) fn tool_name(label: &str) -> &str {
    label.split('@').next().unwrap_or(label)
}

/// `s` on one line: control characters (a path a tool chose may hold a newline) shown escaped.
fn one_line(s: &str) -> String {
    if s.chars().any(char::is_control) {
        s.escape_debug().to_string()
    } else {
        s.to_owned()
    }
}

fn decision_str(d: Decision) -> &'static str {
    match d {
        Decision::Allow => "allow",
        Decision::Deny => "deny",
    }
}

/// The record kind, as the log's `kind` member says it.
fn kind(body: &Body) -> &'static str {
    match body {
        Body::Load(_) => "load",
        Body::Start { .. } => "start",
        Body::Limit { .. } => "limit",
        Body::End { .. } => "end",
        Body::Finding { .. } => "finding",
        Body::Release { .. } => "release",
        Body::Checkpoint { .. } => "checkpoint",
    }
}

/// The log event name of a kind.
fn event_name(kind: &str) -> &'static str {
    match kind {
        "load" => "wasmgov.load",
        "start" => "wasmgov.start",
        "limit" => "wasmgov.limit",
        "end" => "wasmgov.end",
        "finding" => "wasmgov.finding",
        "release" => "wasmgov.release",
        "checkpoint" => "wasmgov.checkpoint",
        "host-call" => "wasmgov.host-call",
        _ => "wasmgov.audit-failure",
    }
}

/// The log severity of a finding's `severity`.
fn finding_severity(s: &str) -> (Severity, &'static str) {
    match s {
        "low" => (Severity::Info, "INFO"),
        "high" => (Severity::Error, "ERROR"),
        "critical" => (Severity::Fatal, "FATAL"),
        _ => (Severity::Warn, "WARN"),
    }
}

/// The attributes of a call's span from its `start` record.
pub(crate) fn start_attributes(r: &Record) -> Vec<KeyValue> {
    let mut a = vec![
        KeyValue::new("wasmgov.tool", r.tool.to_string()),
        KeyValue::new("wasmgov.call", r.call.to_string()),
        KeyValue::new("wasmgov.start_seq", int(r.seq)),
    ];
    if let Body::Start {
        load,
        action,
        caller,
        context,
        input_size,
        input_sha256,
        limits,
    } = &r.body
    {
        a.push(KeyValue::new("wasmgov.action", *action));
        a.push(KeyValue::new("wasmgov.load", load.to_string()));
        if let Some(c) = caller {
            a.push(KeyValue::new("wasmgov.caller", c.clone()));
        }
        for (k, v) in context {
            a.push(KeyValue::new(format!("wasmgov.context.{k}"), v.clone()));
        }
        a.push(KeyValue::new("wasmgov.input_size", int(*input_size)));
        a.push(KeyValue::new("wasmgov.input_sha256", input_sha256.clone()));
        if let Ok(serde_json::Value::Object(m)) = serde_json::to_value(limits) {
            for (k, v) in m {
                if let Some(v) = json_scalar(&v) {
                    a.push(KeyValue::new(format!("wasmgov.limits.{k}"), v));
                }
            }
        }
    }
    a
}

/// The attributes an `end` record adds to its call's span.
pub(crate) fn end_attributes(r: &Record) -> Vec<KeyValue> {
    let mut a = vec![KeyValue::new("wasmgov.end_seq", int(r.seq))];
    if let Body::End {
        outcome,
        exit,
        fuel,
        peak_memory,
        host_calls,
        output,
        us,
    } = &r.body
    {
        a.extend([
            KeyValue::new("wasmgov.outcome", outcome.clone()),
            KeyValue::new("wasmgov.exit", i64::from(*exit)),
            KeyValue::new("wasmgov.fuel", int(*fuel)),
            KeyValue::new("wasmgov.peak_memory", int(*peak_memory)),
            KeyValue::new("wasmgov.host_calls", int(*host_calls)),
            KeyValue::new("wasmgov.output", int(*output)),
            KeyValue::new("wasmgov.us", int(*us)),
        ]);
    }
    a
}

/// The span event of a host call.
pub(crate) fn host_call_event(h: &HostCall) -> SpanEvent {
    let mut a = vec![
        KeyValue::new("wasmgov.seq", int(h.seq)),
        KeyValue::new("wasmgov.iface", h.iface.to_string()),
        KeyValue::new("wasmgov.func", h.func.to_string()),
        KeyValue::new("wasmgov.decision", decision_str(h.decision)),
        KeyValue::new("wasmgov.outcome", h.outcome.to_string()),
        KeyValue::new("wasmgov.us", int(h.us)),
    ];
    if h.count > 1 {
        a.push(KeyValue::new("wasmgov.count", int(h.count)));
    }
    if let Some(r) = &h.reason {
        a.push(KeyValue::new("wasmgov.reason", r.to_string()));
    }
    for (k, v) in &h.args {
        a.push(KeyValue::new(format!("wasmgov.args.{k}"), v.to_string()));
    }
    SpanEvent::new("host-call", h.ts, a, 0)
}

/// The span event of a `limit` or `finding` record (`None` for other kinds).
pub(crate) fn record_event(r: &Record) -> Option<SpanEvent> {
    let seq = KeyValue::new("wasmgov.seq", int(r.seq));
    match &r.body {
        Body::Limit { which, limit, used } => Some(SpanEvent::new(
            "limit",
            r.ts,
            vec![
                seq,
                KeyValue::new("wasmgov.which", which.clone()),
                KeyValue::new("wasmgov.limit", int(*limit)),
                KeyValue::new("wasmgov.used", int(*used)),
            ],
            0,
        )),
        Body::Finding {
            rule,
            severity,
            action,
            message,
            evidence,
            subject,
            quarantined,
        } => {
            let mut a = vec![
                seq,
                KeyValue::new("wasmgov.rule", rule.clone()),
                KeyValue::new("wasmgov.severity", severity.clone()),
                KeyValue::new("wasmgov.action", action.clone()),
                KeyValue::new("wasmgov.message", message.clone()),
                KeyValue::new(
                    "wasmgov.evidence",
                    Value::Array(Array::I64(evidence.iter().map(|s| int(*s)).collect())),
                ),
            ];
            if let Some(s) = subject {
                a.push(KeyValue::new("wasmgov.subject", s.clone()));
            }
            if let Some(q) = quarantined {
                a.push(KeyValue::new("wasmgov.quarantined", q.clone()));
            }
            Some(SpanEvent::new("finding", r.ts, a, 0))
        }
        _ => None,
    }
}

/// A span attribute value of a JSON scalar.
fn json_scalar(v: &serde_json::Value) -> Option<Value> {
    match v {
        serde_json::Value::Bool(b) => Some(Value::Bool(*b)),
        serde_json::Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_u64().map(int))
            .map(Value::I64)
            .or_else(|| n.as_f64().map(Value::F64)),
        serde_json::Value::String(s) => Some(Value::String(StringValue::from(s.clone()))),
        _ => None,
    }
}

/// A log attribute value of any JSON value.
fn json_any(v: serde_json::Value) -> AnyValue {
    match v {
        serde_json::Value::Null => AnyValue::String("".into()),
        serde_json::Value::Bool(b) => AnyValue::Boolean(b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => AnyValue::Int(i),
            None => match n.as_u64() {
                Some(u) => AnyValue::Int(int(u)),
                None => AnyValue::Double(n.as_f64().unwrap_or(0.0)),
            },
        },
        serde_json::Value::String(s) => AnyValue::String(s.into()),
        serde_json::Value::Array(a) => {
            AnyValue::ListAny(Box::new(a.into_iter().map(json_any).collect()))
        }
        serde_json::Value::Object(m) => AnyValue::Map(Box::new(
            m.into_iter()
                .map(|(k, v)| (Key::from(k), json_any(v)))
                .collect(),
        )),
    }
}

/// What one log record says, before it becomes an SDK record.
#[derive(Debug)]
pub(crate) struct LogParts {
    pub(crate) ts: SystemTime,
    pub(crate) severity: Severity,
    pub(crate) severity_text: &'static str,
    pub(crate) event_name: &'static str,
    pub(crate) body: String,
    pub(crate) attributes: Vec<(Key, AnyValue)>,
    /// The call's trace and span, for the records that belong to a call.
    pub(crate) trace: Option<(TraceId, SpanId)>,
}

/// The log record of `item`.
pub(crate) fn log_of(item: &Item) -> LogParts {
    match item {
        Item::Record(r) => record_log(r),
        Item::HostCall(h) => host_call_log(h),
        Item::AuditFailed { at } => LogParts {
            ts: *at,
            severity: Severity::Error,
            severity_text: "ERROR",
            event_name: event_name("audit-failure"),
            body: "the audit log could not be written; calls stop".into(),
            attributes: vec![(Key::from("wasmgov.kind"), "audit-failure".into())],
            trace: None,
        },
    }
}

fn common(seq: u64, kind: &'static str, call: &str, tool: &str) -> Vec<(Key, AnyValue)> {
    vec![
        (Key::from("wasmgov.seq"), AnyValue::Int(int(seq))),
        (Key::from("wasmgov.kind"), kind.into()),
        (Key::from("wasmgov.call"), call.to_owned().into()),
        (Key::from("wasmgov.tool"), tool.to_owned().into()),
    ]
}

fn host_call_log(h: &HostCall) -> LogParts {
    let mut attributes = common(h.seq, "host-call", &h.call, &h.tool);
    attributes.extend([
        (Key::from("wasmgov.iface"), h.iface.to_string().into()),
        (Key::from("wasmgov.func"), h.func.to_string().into()),
        (
            Key::from("wasmgov.decision"),
            decision_str(h.decision).into(),
        ),
        (Key::from("wasmgov.outcome"), h.outcome.to_string().into()),
        (Key::from("wasmgov.us"), AnyValue::Int(int(h.us))),
    ]);
    if h.count > 1 {
        attributes.push((Key::from("wasmgov.count"), AnyValue::Int(int(h.count))));
        attributes.push((
            Key::from("wasmgov.ts_last"),
            wasmgov_runtime::audit::record::format_ts(h.ts_last).into(),
        ));
    }
    if let Some(r) = &h.reason {
        attributes.push((Key::from("wasmgov.reason"), r.to_string().into()));
    }
    if !h.args.is_empty() {
        let args = h
            .args
            .iter()
            .map(|(k, v)| (Key::from(*k), AnyValue::from(v.to_string())))
            .collect();
        attributes.push((Key::from("wasmgov.args"), AnyValue::Map(Box::new(args))));
    }
    let mut body = format!(
        "host-call {} {} {} {}",
        h.iface,
        h.func,
        decision_str(h.decision),
        h.outcome
    );
    if h.count > 1 {
        body.push_str(&format!(" ×{}", h.count));
    }
    for (k, v) in &h.args {
        let v = match v {
            ArgValue::Text(t) => one_line(t),
            other => other.to_string(),
        };
        body.push_str(&format!(" {k}={v}"));
    }
    if let Some(r) = &h.reason {
        body.push_str(&format!(" ({})", one_line(r)));
    }
    let (severity, severity_text) = match h.decision {
        Decision::Deny => (Severity::Warn, "WARN"),
        Decision::Allow => (Severity::Info, "INFO"),
    };
    LogParts {
        ts: h.ts,
        severity,
        severity_text,
        event_name: event_name("host-call"),
        body,
        attributes,
        trace: Some(call_ids(&h.call)),
    }
}

fn record_log(r: &Record) -> LogParts {
    let kind = kind(&r.body);
    let mut attributes = common(r.seq, kind, &r.call, &r.tool);
    if let Ok(serde_json::Value::Object(m)) = serde_json::to_value(&r.body) {
        for (k, v) in m {
            if k != "kind" {
                attributes.push((Key::from(format!("wasmgov.{k}")), json_any(v)));
            }
        }
    }
    let (severity, severity_text) = match &r.body {
        Body::Limit { .. } => (Severity::Warn, "WARN"),
        Body::Finding { severity, .. } => finding_severity(severity),
        _ => (Severity::Info, "INFO"),
    };
    // A load record's `call` is the load's own id, a release or checkpoint belongs to no call.
    let trace = match &r.body {
        Body::Start { .. } | Body::Limit { .. } | Body::End { .. } | Body::Finding { .. } => {
            Some(call_ids(&r.call))
        }
        Body::Load(_) | Body::Release { .. } | Body::Checkpoint { .. } => None,
    };
    LogParts {
        ts: r.ts,
        severity,
        severity_text,
        event_name: event_name(kind),
        body: summary(r),
        attributes,
        trace,
    }
}

/// One line for a human: the record kind and what matters of it.
fn summary(r: &Record) -> String {
    let tool = one_line(&r.tool);
    match &r.body {
        Body::Load(l) => {
            let signer = match (&l.signer, l.unsigned) {
                (Some(s), _) => format!("signed by {s}"),
                (None, true) => "UNSIGNED".to_owned(),
                (None, false) => "no manifest".to_owned(),
            };
            format!(
                "load {tool} {} component sha256:{} ({signer})",
                l.world, l.component_sha256
            )
        }
        Body::Start {
            action, input_size, ..
        } => format!("start {action} {tool} ({input_size} bytes in)"),
        Body::Limit { which, limit, used } => {
            format!("limit {which} stopped {tool}: {used} over {limit}")
        }
        Body::End {
            outcome,
            exit,
            fuel,
            host_calls,
            us,
            ..
        } => format!(
            "end {tool} {outcome} (exit {exit}, {us} us, fuel {fuel}, {host_calls} host calls)"
        ),
        Body::Finding {
            rule,
            severity,
            action,
            message,
            ..
        } => format!(
            "finding {rule} ({severity}, {action}) on {tool}: {}",
            one_line(message)
        ),
        Body::Release { key, by, rule } => format!(
            "release {} by {} (quarantined by {rule})",
            one_line(key),
            one_line(by)
        ),
        Body::Checkpoint { head, key, .. } => format!("checkpoint of head {head} by {key}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(body: Body) -> Record {
        Record {
            seq: 9,
            ts: SystemTime::UNIX_EPOCH,
            call: "C1".into(),
            tool: "t@1.0.0".into(),
            body,
        }
    }

    fn attr<'a>(p: &'a LogParts, k: &str) -> Option<&'a AnyValue> {
        p.attributes
            .iter()
            .find(|(key, _)| key.as_str() == k)
            .map(|(_, v)| v)
    }

    #[test]
    fn a_finding_logs_at_its_severity_with_its_evidence_and_joins_its_call() {
        let r = record(Body::Finding {
            rule: "deny-burst".into(),
            severity: "high".into(),
            action: "quarantine".into(),
            message: "10 denials\nin 1s".into(),
            evidence: vec![3, 4],
            subject: Some("wasi:filesystem/types".into()),
            quarantined: Some("t pub".into()),
        });
        let p = log_of(&Item::Record(r));
        assert_eq!(p.severity, Severity::Error);
        assert_eq!(p.event_name, "wasmgov.finding");
        assert!(!p.body.contains('\n'), "{}", p.body);
        assert_eq!(
            attr(&p, "wasmgov.rule"),
            Some(&AnyValue::from("deny-burst"))
        );
        assert_eq!(
            attr(&p, "wasmgov.evidence"),
            Some(&AnyValue::ListAny(Box::new(vec![
                AnyValue::Int(3),
                AnyValue::Int(4)
            ])))
        );
        assert_eq!(p.trace, Some(call_ids("C1")));
    }

    #[test]
    fn a_run_of_identical_calls_exports_its_count() {
        let h = |count| HostCall {
            seq: 4,
            ts: SystemTime::UNIX_EPOCH,
            call: "C1".into(),
            tool: "t@1.0.0".into(),
            iface: "wasi:clocks/monotonic-clock".into(),
            func: "now".into(),
            args: Vec::new(),
            decision: Decision::Allow,
            outcome: "ok".into(),
            reason: None,
            us: 812,
            count,
            ts_last: SystemTime::UNIX_EPOCH + std::time::Duration::from_micros(1_250_000),
        };
        let run = log_of(&Item::HostCall(h(1000)));
        assert_eq!(attr(&run, "wasmgov.count"), Some(&AnyValue::Int(1000)));
        assert_eq!(
            attr(&run, "wasmgov.ts_last"),
            Some(&AnyValue::from("1970-01-01T00:00:01.250000Z"))
        );
        assert!(run.body.contains("now allow ok ×1000"), "{}", run.body);
        let e = host_call_event(&h(1000));
        assert!(
            e.attributes
                .iter()
                .any(|kv| kv.key.as_str() == "wasmgov.count" && kv.value == Value::I64(1000))
        );
        // A single call has no count.
        let one = log_of(&Item::HostCall(h(1)));
        assert_eq!(attr(&one, "wasmgov.count"), None);
        assert!(
            host_call_event(&h(1))
                .attributes
                .iter()
                .all(|kv| kv.key.as_str() != "wasmgov.count")
        );
    }

    #[test]
    fn a_limit_is_a_warning_and_a_span_event() {
        let r = record(Body::Limit {
            which: "fuel".into(),
            limit: 10,
            used: 11,
        });
        let e = record_event(&r).expect("event");
        assert_eq!(e.name, "limit");
        assert_eq!(log_of(&Item::Record(r)).severity, Severity::Warn);
    }
}
