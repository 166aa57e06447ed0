//! The export thread: turns queued audit events into spans and log records, batches them and
//! posts them to the collector, on a tokio runtime of its own so that nothing it waits for is
//! waited for by a call.
//!
//! Every request is bounded by the request timeout; once a shutdown is asked for, by the
//! shutdown's deadline too. What the deadline leaves unsent is counted as dropped.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use opentelemetry::InstrumentationScope;
use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _};
use opentelemetry::trace::TraceFlags;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{
    LogBatch, LogExporter as _, SdkLogRecord, SdkLogger, SdkLoggerProvider,
};
use opentelemetry_sdk::trace::{SpanData, SpanExporter as _};
use prometheus_client::metrics::counter::Counter;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use wasmgov_runtime::audit::Body;

use crate::item::Item;
use crate::mapping;
use crate::spans::OpenSpans;

/// How long an exporter dropped without [`crate::OtlpExporter::shutdown`] lets its thread send
/// what it holds.
pub(crate) const DROP_GRACE: Duration = Duration::from_secs(2);

/// At most one warning this often (the rest are counted into the next one).
const WARN_EVERY: Duration = Duration::from_secs(30);

/// What the export has done, shared with the exporter handle.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Events not exported: the queue was full or closed, or a shutdown's deadline came first.
    pub(crate) dropped: Counter,
    /// Export requests that failed or timed out (their spans or logs are lost).
    pub(crate) failures: Counter,
    pub(crate) spans: AtomicU64,
    pub(crate) logs: AtomicU64,
    pub(crate) incomplete: AtomicU64,
}

/// How one request went.
enum Sent {
    Ok,
    Failed(String),
    /// The shutdown deadline came first.
    Deadline,
}

/// Which kind of data a request carried.
#[derive(Clone, Copy)]
enum Signal {
    Spans,
    Logs,
}

/// The export thread's state.
pub(crate) struct Worker {
    pub(crate) rx: mpsc::Receiver<Item>,
    pub(crate) stop: watch::Receiver<Option<std::time::Instant>>,
    pub(crate) spans: OpenSpans,
    pub(crate) span_out: opentelemetry_otlp::SpanExporter,
    pub(crate) log_out: opentelemetry_otlp::LogExporter,
    /// Only to make log records (the SDK has no public constructor for them); it has no
    /// processor, nothing is emitted through it.
    pub(crate) _provider: SdkLoggerProvider,
    pub(crate) logger: SdkLogger,
    pub(crate) scope: InstrumentationScope,
    pub(crate) counters: Arc<Counters>,
    pub(crate) batch: usize,
    pub(crate) interval: Duration,
    pub(crate) timeout: Duration,
    pub(crate) endpoint: String,
    pub(crate) pending_spans: Vec<SpanData>,
    pub(crate) pending_logs: Vec<SdkLogRecord>,
    pub(crate) last_warn: Option<Instant>,
    pub(crate) suppressed: u64,
    pub(crate) seen_dropped: u64,
}

/// `fut`, bounded by `timeout` and, once a shutdown is asked for (now or while it runs), by the
/// shutdown's deadline.
async fn bounded<F: Future<Output = OTelSdkResult>>(
    fut: F,
    timeout: Duration,
    stop: &mut watch::Receiver<Option<std::time::Instant>>,
) -> Sent {
    let fut = tokio::time::timeout(timeout, fut);
    tokio::pin!(fut);
    let mut deadline = stopping(stop);
    loop {
        let until = deadline;
        tokio::select! {
            biased;
            r = &mut fut => return match r {
                Ok(Ok(())) => Sent::Ok,
                Ok(Err(e)) => Sent::Failed(e.to_string()),
                Err(_) => Sent::Failed(format!("no answer within {timeout:?}")),
            },
            () = async {
                match until {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            } => return Sent::Deadline,
            r = stop.changed(), if deadline.is_none() => {
                deadline = Some(match r {
                    Ok(()) => stopping(stop).unwrap_or_else(Instant::now),
                    Err(_) => Instant::now() + DROP_GRACE,
                });
            }
        }
    }
}

/// The shutdown's deadline, once one is asked for.
fn stopping(stop: &watch::Receiver<Option<std::time::Instant>>) -> Option<Instant> {
    stop.borrow().map(Instant::from_std)
}

impl Worker {
    /// Run until shut down (or until every sender is gone), then signal `done`.
    pub(crate) fn run(mut self, done: std::sync::mpsc::Sender<()>) {
        match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => {
                rt.block_on(self.serve());
                // A connection task stuck on a dead collector is not waited for.
                rt.shutdown_background();
            }
            Err(e) => {
                tracing::warn!(target: "wasmgov_otel", "OTLP export disabled: cannot start its runtime: {e}");
            }
        }
        let _ = done.send(());
    }

    async fn serve(&mut self) {
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let deadline = loop {
            if let Some(d) = stopping(&self.stop) {
                break d;
            }
            tokio::select! {
                biased;
                r = self.stop.changed() => {
                    if r.is_err() && stopping(&self.stop).is_none() {
                        break Instant::now() + DROP_GRACE;
                    }
                }
                item = self.rx.recv() => match item {
                    Some(item) => {
                        self.take(item);
                        if self.full() {
                            self.send_all().await;
                        }
                    }
                    None => break Instant::now() + DROP_GRACE,
                },
                _ = tick.tick() => {
                    self.send_all().await;
                    self.warn_drops();
                }
            }
        };
        self.finish(deadline).await;
    }

    /// Shutting down: what is queued, then the calls still open, until `deadline`.
    async fn finish(&mut self, deadline: Instant) {
        // From now on the observer counts what it is given as dropped.
        self.rx.close();
        let mut in_time = true;
        while let Ok(item) = self.rx.try_recv() {
            self.take(item);
            if self.full() && !self.send_all().await {
                in_time = false;
                break;
            }
        }
        let open = self.spans.drain();
        self.counters
            .incomplete
            .fetch_add(open.len() as u64, Ordering::Relaxed);
        self.pending_spans.extend(open);
        if in_time && Instant::now() < deadline {
            self.send_all().await;
        }
        let mut left = (self.pending_spans.len() + self.pending_logs.len()) as u64;
        while self.rx.try_recv().is_ok() {
            left += 1;
        }
        self.pending_spans.clear();
        self.pending_logs.clear();
        self.counters.dropped.inc_by(left);
        self.warn_drops();
    }

    fn full(&self) -> bool {
        self.pending_spans.len() >= self.batch || self.pending_logs.len() >= self.batch
    }

    /// Every audit event is a log record; a call's records also build its span.
    fn take(&mut self, item: Item) {
        let log = self.log_record(mapping::log_of(&item));
        self.pending_logs.push(log);
        match &item {
            Item::Record(r) => match &r.body {
                Body::Start { .. } => {
                    if let Some(evicted) = self.spans.start(r) {
                        self.counters.incomplete.fetch_add(1, Ordering::Relaxed);
                        self.pending_spans.push(evicted);
                    }
                }
                Body::End { .. } => {
                    if let Some(span) = self.spans.end(r) {
                        self.pending_spans.push(span);
                    }
                }
                Body::Limit { .. } | Body::Finding { .. } => {
                    if let Some(e) = mapping::record_event(r) {
                        self.spans.event(&r.call, r.ts, || e);
                    }
                }
                Body::Load(_) | Body::Release { .. } | Body::Checkpoint { .. } => {}
            },
            Item::HostCall(h) => self
                .spans
                .event(&h.call, h.ts, || mapping::host_call_event(h)),
            Item::AuditFailed { .. } => {}
        }
    }

    fn log_record(&self, p: mapping::LogParts) -> SdkLogRecord {
        let mut rec = self.logger.create_log_record();
        rec.set_timestamp(p.ts);
        rec.set_observed_timestamp(SystemTime::now());
        rec.set_severity_number(p.severity);
        rec.set_severity_text(p.severity_text);
        rec.set_event_name(p.event_name);
        rec.set_body(AnyValue::String(p.body.into()));
        rec.add_attributes(p.attributes);
        if let Some((trace, span)) = p.trace {
            rec.set_trace_context(trace, span, Some(TraceFlags::SAMPLED));
        }
        rec
    }

    /// Send what is pending, a batch per request. `false` when the shutdown's deadline cut it
    /// short (what is left stays pending).
    async fn send_all(&mut self) -> bool {
        while !self.pending_spans.is_empty() {
            let n = self.pending_spans.len().min(self.batch.max(1));
            let batch: Vec<SpanData> = self.pending_spans.drain(..n).collect();
            let sent = bounded(self.span_out.export(batch), self.timeout, &mut self.stop).await;
            if !self.settle(sent, n as u64, Signal::Spans) {
                return false;
            }
        }
        while !self.pending_logs.is_empty() {
            let n = self.pending_logs.len().min(self.batch.max(1));
            let logs: Vec<SdkLogRecord> = self.pending_logs.drain(..n).collect();
            let refs: Vec<(&SdkLogRecord, &InstrumentationScope)> =
                logs.iter().map(|l| (l, &self.scope)).collect();
            let sent = bounded(
                self.log_out.export(LogBatch::new(&refs)),
                self.timeout,
                &mut self.stop,
            )
            .await;
            drop(refs);
            if !self.settle(sent, n as u64, Signal::Logs) {
                return false;
            }
        }
        true
    }

    /// Count a request's result; `false` for a cut-off by the deadline.
    fn settle(&mut self, sent: Sent, n: u64, signal: Signal) -> bool {
        match sent {
            Sent::Ok => {
                let exported = match signal {
                    Signal::Spans => &self.counters.spans,
                    Signal::Logs => &self.counters.logs,
                };
                exported.fetch_add(n, Ordering::Relaxed);
                true
            }
            Sent::Failed(why) => {
                self.counters.failures.inc();
                self.warn(|e| format!("OTLP export to {e} failed: {why}"));
                true
            }
            Sent::Deadline => {
                self.counters.failures.inc();
                self.counters.dropped.inc_by(n);
                false
            }
        }
    }

    fn warn_drops(&mut self) {
        let dropped = self.counters.dropped.get();
        if dropped > self.seen_dropped {
            let n = dropped - self.seen_dropped;
            self.seen_dropped = dropped;
            self.warn(|e| {
                format!("{n} audit events were not exported to {e} (queue full or shut down)")
            });
        }
    }

    /// A warning, at most one per [`WARN_EVERY`]; the audit log is unaffected, so it says so.
    fn warn(&mut self, message: impl FnOnce(&str) -> String) {
        let now = Instant::now();
        if self
            .last_warn
            .is_some_and(|t| now.duration_since(t) < WARN_EVERY)
        {
            self.suppressed += 1;
            return;
        }
        self.last_warn = Some(now);
        let more = std::mem::take(&mut self.suppressed);
        tracing::warn!(
            target: "wasmgov_otel",
            "{} ({more} similar warnings suppressed; the audit log has every record)",
            message(&self.endpoint)
        );
    }
}
