//! The exporter handle: the audit-log observer that feeds the export thread, its counters, and
//! the bounded shutdown a one-shot process needs.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry::logs::LoggerProvider as _;
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_http::HttpClient;
use opentelemetry_http::hyper::HyperClient;
use opentelemetry_otlp::{Protocol, RetryPolicy, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::{LogExporter as _, SdkLoggerProvider};
use opentelemetry_sdk::trace::SpanExporter as _;
use prometheus_client::registry::Registry;
use tokio::sync::{mpsc, watch};
use wasmgov_runtime::audit::{Event, Observer};

use crate::item::Item;
use crate::options::hostname;
use crate::spans::OpenSpans;
use crate::worker::{Counters, DROP_GRACE, Worker};
use crate::{Endpoint, OtelError, OtlpOptions};

/// What the export has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportStats {
    /// Spans the collector accepted.
    pub spans_exported: u64,
    /// Log records the collector accepted.
    pub logs_exported: u64,
    /// Export requests that failed, were refused or timed out (what they carried is lost).
    pub export_failures: u64,
    /// Events never sent: the queue was full (or already shut down), or a shutdown's deadline
    /// came before they were.
    pub dropped: u64,
    /// Spans sent without their `end` (pushed out of the open-call table, or open at shutdown).
    pub incomplete_spans: u64,
}

/// Sends a wasmgov audit log's calls as OTLP spans and its records as OTLP logs, best effort.
/// Add it to an [`Audit`](wasmgov_runtime::Audit) with `audit.observe(Arc::new(exporter))`.
pub struct OtlpExporter {
    tx: mpsc::Sender<Item>,
    stop: watch::Sender<Option<Instant>>,
    done: Mutex<Option<std::sync::mpsc::Receiver<()>>>,
    counters: Arc<Counters>,
    endpoint: Endpoint,
}

impl std::fmt::Debug for OtlpExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpExporter")
            .field("endpoint", &self.endpoint)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// The resource every span and log carries: who is exporting.
fn resource(o: &OtlpOptions) -> Resource {
    let host = hostname();
    let replica = o.replica.clone().unwrap_or_else(|| host.clone());
    let mut attrs = vec![
        KeyValue::new("service.name", "wasmgov"),
        KeyValue::new("service.version", o.service_version.clone()),
        KeyValue::new("service.instance.id", replica),
        KeyValue::new("host.name", host),
        KeyValue::new("process.pid", i64::from(std::process::id())),
    ];
    attrs.extend(
        o.resource
            .iter()
            .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
    );
    Resource::builder_empty().with_attributes(attrs).build()
}

impl OtlpExporter {
    /// Set up the exporters and start the export thread. Nothing is sent until an event comes;
    /// a collector that is down is not an error here (its failures are counted).
    pub fn start(options: OtlpOptions) -> Result<Self, OtelError> {
        let build = |e: &dyn std::fmt::Display| OtelError::Build(e.to_string());
        // hyper 1 + rustls with ring, as the rest of wasmgov; plain http:// is allowed too.
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| build(&e))?
            .https_or_http()
            .enable_http1()
            .build();
        let client: Arc<dyn HttpClient> = Arc::new(HyperClient::new(https, options.timeout, None));
        // No retries: a retry holds the thread on one batch while newer events queue up; the
        // queue and the next batch are the retry.
        let mut span_out = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(options.endpoint.traces())
            .with_protocol(Protocol::HttpBinary)
            .with_timeout(options.timeout)
            .with_shared_http_client(client.clone())
            .with_retry_policy(RetryPolicy::disabled())
            .build()
            .map_err(|e| build(&e))?;
        let mut log_out = opentelemetry_otlp::LogExporter::builder()
            .with_http()
            .with_endpoint(options.endpoint.logs())
            .with_protocol(Protocol::HttpBinary)
            .with_timeout(options.timeout)
            .with_shared_http_client(client)
            .with_retry_policy(RetryPolicy::disabled())
            .build()
            .map_err(|e| build(&e))?;
        let resource = resource(&options);
        span_out.set_resource(&resource);
        log_out.set_resource(&resource);
        let scope = InstrumentationScope::builder("wasmgov")
            .with_version(env!("CARGO_PKG_VERSION"))
            .build();
        let provider = SdkLoggerProvider::builder().build();
        let logger = provider.logger_with_scope(scope.clone());

        let (tx, rx) = mpsc::channel(options.queue.max(1));
        let (stop_tx, stop) = watch::channel(None);
        let (done_tx, done) = std::sync::mpsc::channel();
        let counters = Arc::new(Counters::default());
        let worker = Worker {
            rx,
            stop,
            spans: OpenSpans::new(
                options.max_open_calls,
                options.max_events_per_span,
                scope.clone(),
            ),
            span_out,
            log_out,
            _provider: provider,
            logger,
            scope,
            counters: counters.clone(),
            batch: options.batch.max(1),
            interval: options.interval.max(Duration::from_millis(1)),
            timeout: options.timeout,
            endpoint: options.endpoint.to_string(),
            pending_spans: Vec::new(),
            pending_logs: Vec::new(),
            last_warn: None,
            suppressed: 0,
            seen_dropped: 0,
        };
        std::thread::Builder::new()
            .name("wasmgov-otel".into())
            .spawn(move || worker.run(done_tx))
            .map_err(|e| OtelError::Thread(e.to_string()))?;
        Ok(Self {
            tx,
            stop: stop_tx,
            done: Mutex::new(Some(done)),
            counters,
            endpoint: options.endpoint,
        })
    }

    /// The collector.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// What the export has done so far.
    pub fn stats(&self) -> ExportStats {
        ExportStats {
            spans_exported: self.counters.spans.load(Ordering::Relaxed),
            logs_exported: self.counters.logs.load(Ordering::Relaxed),
            export_failures: self.counters.failures.get(),
            dropped: self.counters.dropped.get(),
            incomplete_spans: self.counters.incomplete.load(Ordering::Relaxed),
        }
    }

    /// Register `otlp_export_failures` and `otlp_dropped` (counters; with the `wasmgov` prefix
    /// of [`wasmgov_runtime::metrics::Metrics`]' registry they read
    /// `wasmgov_otlp_export_failures_total` and `wasmgov_otlp_dropped_total`) into `registry`.
    pub fn register_metrics(&self, registry: &mut Registry) {
        registry.register(
            "otlp_export_failures",
            "OTLP export requests that failed or timed out (the audit log still has their records)",
            self.counters.failures.clone(),
        );
        registry.register(
            "otlp_dropped",
            "Audit events not exported over OTLP: the export queue was full, or shutdown came first",
            self.counters.dropped.clone(),
        );
    }

    /// Send what is queued and the calls still open (as incomplete spans), then stop. Returns
    /// by `timeout` whatever the collector does: what was not sent by then is counted as
    /// dropped and the thread is left to die with the process. Later events are dropped.
    pub fn shutdown(&self, timeout: Duration) -> Result<ExportStats, OtelError> {
        let deadline = Instant::now() + timeout;
        self.stop.send_if_modified(|d| {
            if d.is_none_or(|d| d > deadline) {
                *d = Some(deadline);
                true
            } else {
                false
            }
        });
        let done = self.done.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(done) = done {
            // The thread keeps to the deadline itself; the margin is for its last count.
            let margin = Duration::from_millis(100);
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                done.recv_timeout(timeout + margin)
            {
                return Err(OtelError::FlushTimeout(timeout));
            }
        }
        Ok(self.stats())
    }
}

impl Drop for OtlpExporter {
    fn drop(&mut self) {
        // Not waited for: a dropped exporter gives its thread a little time and lets go.
        let deadline = Instant::now() + DROP_GRACE;
        self.stop.send_if_modified(|d| {
            if d.is_none() {
                *d = Some(deadline);
                true
            } else {
                false
            }
        });
    }
}

impl Observer for OtlpExporter {
    fn observe(&self, event: &Event<'_>) {
        if !Item::wanted(event) {
            return;
        }
        // Reserve first: a full queue costs a count, not a copy of the record.
        match self.tx.try_reserve() {
            Ok(permit) => {
                if let Some(item) = Item::of(event) {
                    permit.send(item);
                }
            }
            Err(_) => {
                self.counters.dropped.inc();
            }
        }
    }
}
