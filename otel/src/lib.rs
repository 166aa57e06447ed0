//! OpenTelemetry export of a wasmgov audit log: each call as an OTLP span (its host calls,
//! limit hits and findings as span events) and every audit record as an OTLP log record, sent
//! over OTLP/HTTP (protobuf) to a collector.
//!
//! ```no_run
//! # fn f(audit: &wasmgov_runtime::Audit) -> Result<(), wasmgov_otel::OtelError> {
//! use std::sync::Arc;
//! let endpoint = "http://127.0.0.1:4318".parse()?;
//! let otlp = Arc::new(wasmgov_otel::OtlpExporter::start(wasmgov_otel::OtlpOptions::new(endpoint))?);
//! audit.observe(otlp.clone());
//! // … build the runtime with `audit`, run calls …
//! let stats = otlp.shutdown(std::time::Duration::from_secs(2));
//! # Ok(()) }
//! ```
//!
//! What it guards against:
//! - *telemetry taking the runtime down*: the hash-chained audit file stays the record of truth.
//!   The observer only copies an event into a bounded queue (or counts it as dropped when the
//!   queue is full); a background thread with its own tokio runtime does the batching and the
//!   HTTP. A dead, slow or hostile collector costs a call nothing and cannot fail it.
//! - *unbounded memory*: the queue, the batches, the table of calls whose `end` has not been
//!   seen (a process may die mid-call, or a log fail) and the events kept per span are all
//!   capped; what is cut is counted ([`ExportStats`]).
//! - *a one-shot process hanging at exit*: [`OtlpExporter::shutdown`] returns by its deadline
//!   whatever the collector does.
//!
//! Trace and span ids are derived from the call id (see [`ids`]), so a SIEM holding the audit
//! log can join a record to its span without the exporter's help.

#![deny(missing_docs)]

mod error;
mod exporter;
pub mod ids;
mod item;
mod mapping;
mod options;
mod spans;
mod worker;

pub use error::OtelError;
pub use exporter::{ExportStats, OtlpExporter};
pub use options::{Endpoint, OtlpOptions};
