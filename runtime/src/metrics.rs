//! Prometheus metrics of a runtime, built on the audit log's events (an
//! [`audit::Observer`](crate::audit::Observer)): what the log records, counted.
//!
//! ```no_run
//! # fn f(audit: wasmgov_runtime::Audit) {
//! let metrics = std::sync::Arc::new(wasmgov_runtime::metrics::Metrics::new());
//! audit.observe(metrics.clone());
//! // … build the runtime with `audit`, run calls …
//! let text = metrics.encode(); // the Prometheus/OpenMetrics text format, for a /metrics route
//! # }
//! ```
//!
//! Families (all prefixed `wasmgov_`): `calls_total{tool,outcome}`, `denials_total{tool,iface}`,
//! `limit_hits_total{tool,limit}`, `call_duration_seconds{tool}` and `call_host_calls{tool}`
//! (histograms), `calls_in_flight{tool}`, `audit_write_seconds` (histogram of each batch's
//! write), `audit_records_total`, `audit_failures_total`, `findings_total{tool,rule,severity,action}`. Tool labels are the tool's name
//! without its version, so a release does not start a new series.

use std::sync::Mutex;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::audit::Body;
use crate::audit::observe::{Event, Observer, RecordEvent};

type Labels = Vec<(&'static str, String)>;

fn duration_histogram() -> Histogram {
    // 100 µs .. ~105 s.
    Histogram::new(exponential_buckets(0.0001, 4.0, 11))
}

fn host_calls_histogram() -> Histogram {
    // 1 .. ~1,000,000.
    Histogram::new(exponential_buckets(1.0, 4.0, 11))
}

/// The metrics of one runtime (or of every runtime that shares the audit log it observes).
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    calls: Family<Labels, Counter>,
    denials: Family<Labels, Counter>,
    limits: Family<Labels, Counter>,
    duration: Family<Labels, Histogram, fn() -> Histogram>,
    host_calls: Family<Labels, Histogram, fn() -> Histogram>,
    in_flight: Family<Labels, Gauge>,
    audit_write: Histogram,
    audit_records: Counter,
    audit_failures: Counter,
    findings: Family<Labels, Counter>,
    /// Serialises encoding (the registry is read while counters move; that is fine, but one
    /// scrape at a time keeps the output consistent).
    scrape: Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The tool name of a label `name@version` (or `component:…` as it is).
fn tool_name(label: &str) -> String {
    label.split('@').next().unwrap_or(label).to_owned()
}

impl Metrics {
    /// Empty metrics, registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("wasmgov");
        let calls = Family::<Labels, Counter>::default();
        let denials = Family::<Labels, Counter>::default();
        let limits = Family::<Labels, Counter>::default();
        let duration = Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(
            duration_histogram,
        );
        let host_calls = Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(
            host_calls_histogram,
        );
        let in_flight = Family::<Labels, Gauge>::default();
        let audit_write = Histogram::new(exponential_buckets(0.00001, 4.0, 10));
        let audit_records = Counter::default();
        let audit_failures = Counter::default();
        let findings = Family::<Labels, Counter>::default();
        registry.register("calls", "Calls ended, by tool and outcome", calls.clone());
        registry.register(
            "denials",
            "Host calls the host refused, by tool and interface",
            denials.clone(),
        );
        registry.register(
            "limit_hits",
            "Calls stopped by a limit, by tool and limit",
            limits.clone(),
        );
        registry.register(
            "call_duration_seconds",
            "Wall time of each call, by tool",
            duration.clone(),
        );
        registry.register(
            "call_host_calls",
            "Host calls made by each call, by tool",
            host_calls.clone(),
        );
        registry.register(
            "calls_in_flight",
            "Calls started and not yet ended, by tool",
            in_flight.clone(),
        );
        registry.register(
            "audit_write_seconds",
            "Time to write each batch of audit records (with its fsync, when asked)",
            audit_write.clone(),
        );
        registry.register(
            "audit_records",
            "Audit records written",
            audit_records.clone(),
        );
        registry.register(
            "audit_failures",
            "Audit writes that failed (each stops the calls)",
            audit_failures.clone(),
        );
        registry.register(
            "findings",
            "Detection findings raised, by tool, rule, severity and action",
            findings.clone(),
        );
        Self {
            registry,
            findings,
            calls,
            denials,
            limits,
            duration,
            host_calls,
            in_flight,
            audit_write,
            audit_records,
            audit_failures,
            scrape: Mutex::new(()),
        }
    }

    /// The metrics in the Prometheus text (OpenMetrics) format.
    pub fn encode(&self) -> String {
        let _one = self.scrape.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }

    /// The metrics in the classic Prometheus text format (`text/plain; version=0.0.4`), the one
    /// every scraper and `promtool check metrics` read: OpenMetrics names a counter family
    /// without its `_total` suffix and ends with `# EOF`; this names it as its samples are named
    /// and has no end marker.
    pub fn encode_prometheus(&self) -> String {
        let open = self.encode();
        let mut counters = std::collections::HashSet::new();
        for l in open.lines() {
            if let Some(rest) = l.strip_prefix("# TYPE ")
                && let Some(name) = rest.strip_suffix(" counter")
            {
                counters.insert(name.to_owned());
            }
        }
        let mut out = String::with_capacity(open.len());
        for l in open.lines() {
            if l == "# EOF" || l.starts_with("# UNIT ") {
                continue;
            }
            let renamed = ["# HELP ", "# TYPE "].iter().find_map(|p| {
                let rest = l.strip_prefix(p)?;
                let (name, tail) = rest.split_once(' ')?;
                counters
                    .contains(name)
                    .then(|| format!("{p}{name}_total {tail}"))
            });
            out.push_str(renamed.as_deref().unwrap_or(l));
            out.push('\n');
        }
        out
    }

    /// The registry, to register more metrics beside these or to encode them with others.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The registry, to register more metrics beside these (an exporter's own counters, say)
    /// before the metrics are shared: whatever is registered here is encoded with them, under
    /// the same `wasmgov_` prefix.
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }
}

impl Observer for Metrics {
    fn observe(&self, event: &Event<'_>) {
        match event {
            Event::Record(r) => self.record(r),
            Event::HostCall(h) => {
                if h.denied() {
                    self.denials
                        .get_or_create(&vec![
                            ("tool", tool_name(h.tool)),
                            ("iface", h.iface.to_owned()),
                        ])
                        // Calls, not records (a denial is never one of a counted run).
                        .inc_by(h.count);
                }
            }
            Event::Written { records, latency } => {
                self.audit_records.inc_by(*records as u64);
                self.audit_write.observe(latency.as_secs_f64());
            }
            Event::Failed => {
                self.audit_failures.inc();
            }
        }
    }
}

impl Metrics {
    fn record(&self, r: &RecordEvent<'_>) {
        let tool = r.tool;
        match r.body {
            Body::Start { .. } => {
                self.in_flight
                    .get_or_create(&vec![("tool", tool_name(tool))])
                    .inc();
            }
            Body::Limit { which, .. } => {
                self.limits
                    .get_or_create(&vec![("tool", tool_name(tool)), ("limit", which.clone())])
                    .inc();
            }
            Body::End {
                outcome,
                us,
                host_calls,
                ..
            } => {
                let t = vec![("tool", tool_name(tool))];
                self.in_flight.get_or_create(&t).dec();
                self.duration.get_or_create(&t).observe(*us as f64 / 1e6);
                self.host_calls
                    .get_or_create(&t)
                    .observe(*host_calls as f64);
                self.calls
                    .get_or_create(&vec![
                        ("tool", tool_name(tool)),
                        ("outcome", outcome.clone()),
                    ])
                    .inc();
            }
            Body::Finding {
                rule,
                severity,
                action,
                ..
            } => {
                self.findings
                    .get_or_create(&vec![
                        ("tool", tool_name(tool)),
                        ("rule", rule.clone()),
                        ("severity", severity.clone()),
                        ("action", action.clone()),
                    ])
                    .inc();
            }
            Body::Load(_) | Body::Checkpoint { .. } | Body::Release { .. } => {}
        }
    }
}
