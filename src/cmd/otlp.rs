//! `--otlp URL`: OpenTelemetry export of `run` and `serve`, on the audit log's observer API.
//! Best effort: the hash-chained audit file is the record of truth, and nothing here may fail
//! or slow a call. At exit the export is given [`FLUSH_CAP`] to send what it holds, so a dead
//! or hanging collector cannot keep the process alive.

use std::sync::Arc;
use std::time::Duration;

use wasmgov_otel::{Endpoint, OtelError, OtlpExporter, OtlpOptions};

use crate::flags::OtlpFlags;
use crate::report::usage;

/// Longest a command waits at exit for the export to send what it holds.
pub(crate) const FLUSH_CAP: Duration = Duration::from_secs(2);

/// The exporter `--otlp` asks for (`None` without it). A URL that is not an OTLP/HTTP base
/// URL is a usage error.
pub(crate) fn start(f: &OtlpFlags) -> anyhow::Result<Option<Arc<OtlpExporter>>> {
    let Some(url) = &f.otlp else {
        return Ok(None);
    };
    let endpoint: Endpoint = url
        .parse()
        .map_err(|e: OtelError| usage(format!("--otlp: {e}"), e.hint()))?;
    if f.replica.as_deref().is_some_and(|r| r.trim().is_empty()) {
        return Err(usage("--replica is empty", None));
    }
    let mut options = OtlpOptions::new(endpoint);
    options.replica = f.replica.clone();
    options.service_version = env!("CARGO_PKG_VERSION").to_owned();
    match OtlpExporter::start(options) {
        Ok(x) => Ok(Some(Arc::new(x))),
        Err(e @ OtelError::Build(_)) => Err(usage(format!("--otlp: {e}"), e.hint())),
        Err(e) => Err(e.into()),
    }
}

/// Send what the export holds, for at most [`FLUSH_CAP`]; say on stderr what was lost.
pub(crate) fn finish(x: &OtlpExporter) {
    match x.shutdown(FLUSH_CAP) {
        Ok(s) if s.export_failures == 0 && s.dropped == 0 => {}
        Ok(s) => eprintln!(
            "warning: OTLP export to {}: {} failed request(s), {} event(s) dropped (the audit \
             log has every record)",
            x.endpoint(),
            s.export_failures,
            s.dropped
        ),
        Err(e) => eprintln!(
            "warning: OTLP export to {}: {e}; stopped waiting (the audit log has every record)",
            x.endpoint()
        ),
    }
}
