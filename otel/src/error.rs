//! The ways setting up or stopping the export can fail. Exporting itself never fails anything:
//! its failures are counted, not returned.

use std::time::Duration;

/// Why the OTLP export could not be set up, or did not finish.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OtelError {
    /// The collector URL is not one the export can use.
    #[error("`{url}` is not an OTLP/HTTP base URL: {reason}")]
    Endpoint {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The OpenTelemetry exporter refused its configuration (for example an
    /// `OTEL_EXPORTER_OTLP_*` environment variable it reads asks for something it cannot do).
    #[error("cannot set up the OTLP exporter: {0}")]
    Build(String),
    /// The background export thread could not be started.
    #[error("cannot start the OTLP export thread: {0}")]
    Thread(String),
    /// [`crate::OtlpExporter::shutdown`] gave up at its deadline; what was not sent by then is
    /// counted as dropped.
    #[error("the OTLP export did not finish within {0:?}")]
    FlushTimeout(Duration),
}

impl OtelError {
    /// What the operator can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Endpoint { .. } => Some(
                "give the collector's OTLP/HTTP base URL, e.g. http://127.0.0.1:4318 (traces go \
                 to /v1/traces, logs to /v1/logs under it)"
                    .into(),
            ),
            Self::Build(_) => {
                Some("check the OTEL_EXPORTER_OTLP_* environment variables, if any".into())
            }
            Self::Thread(_) => None,
            Self::FlushTimeout(_) => Some(
                "the collector is slow or unreachable; the audit log still holds every record"
                    .into(),
            ),
        }
    }
}
