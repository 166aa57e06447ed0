//! What the export is told: where the collector is, who this replica is, and its bounds. The
//! collector URL is parsed once, here.

use std::time::Duration;

use crate::OtelError;

/// An OTLP/HTTP collector's base URL (`http://` or `https://`, a host, an optional port and
/// path prefix). Traces are posted to `BASE/v1/traces`, logs to `BASE/v1/logs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Without a trailing `/`.
    base: String,
}

impl Endpoint {
    /// The base URL, e.g. `http://127.0.0.1:4318`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Where traces are posted.
    pub fn traces(&self) -> String {
        format!("{}/v1/traces", self.base)
    }

    /// Where logs are posted.
    pub fn logs(&self) -> String {
        format!("{}/v1/logs", self.base)
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.base)
    }
}

impl std::str::FromStr for Endpoint {
    type Err = OtelError;

    fn from_str(url: &str) -> Result<Self, OtelError> {
        let bad = |reason: &str| OtelError::Endpoint {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let uri: http::Uri = url
            .parse()
            .map_err(|e: http::uri::InvalidUri| bad(&e.to_string()))?;
        match uri.scheme_str() {
            Some("http" | "https") => {}
            Some(_) => return Err(bad("the scheme must be http or https")),
            None => return Err(bad("it needs a scheme, http:// or https://")),
        }
        let Some(authority) = uri.authority() else {
            return Err(bad("it names no host"));
        };
        if authority.host().is_empty() {
            return Err(bad("it names no host"));
        }
        // Credentials in a URL end up in process listings and logs; the exporter reads
        // headers from OTEL_EXPORTER_OTLP_HEADERS instead.
        if authority.as_str().contains('@') {
            return Err(bad(
                "it must not carry credentials (set OTEL_EXPORTER_OTLP_HEADERS instead)",
            ));
        }
        if uri.query().is_some() {
            return Err(bad("it must not have a query"));
        }
        let path = uri.path().trim_end_matches('/');
        if path.ends_with("/v1/traces") || path.ends_with("/v1/logs") {
            return Err(bad(
                "give the base URL; /v1/traces and /v1/logs are appended to it",
            ));
        }
        let scheme = uri.scheme_str().unwrap_or("http");
        Ok(Self {
            base: format!("{scheme}://{authority}{path}"),
        })
    }
}

/// How to export: the collector, the resource attributes that name this replica, and bounds.
#[derive(Debug, Clone)]
pub struct OtlpOptions {
    /// The collector.
    pub endpoint: Endpoint,
    /// `service.instance.id`: which replica this is. `None`: the host name (a Kubernetes pod's
    /// name).
    pub replica: Option<String>,
    /// `service.version`. Default: this crate's version (the workspace's).
    pub service_version: String,
    /// More resource attributes (e.g. `deployment.environment.name`), after the built-in ones.
    pub resource: Vec<(String, String)>,
    /// Events that may wait for the export thread; beyond them events are dropped and counted.
    pub queue: usize,
    /// Deadline of each export request (connection, upload and answer).
    pub timeout: Duration,
    /// Most spans, or log records, in one request.
    pub batch: usize,
    /// How long a partly filled batch waits before it is sent.
    pub interval: Duration,
    /// Calls whose `start` was seen and `end` not yet; beyond them the oldest is sent as an
    /// incomplete span.
    pub max_open_calls: usize,
    /// Span events (host calls, limits, findings) kept per call; the rest are counted in the
    /// span's dropped-events count (every record still goes out as a log).
    pub max_events_per_span: usize,
}

impl OtlpOptions {
    /// Defaults for `endpoint`: replica = host name, queue 8192 events, 10 s per request,
    /// batches of 512 sent at least every second, 4096 open calls, 1024 events per span.
    pub fn new(endpoint: Endpoint) -> Self {
        Self {
            endpoint,
            replica: None,
            service_version: env!("CARGO_PKG_VERSION").to_owned(),
            resource: Vec::new(),
            queue: 8192,
            timeout: Duration::from_secs(10),
            batch: 512,
            interval: Duration::from_secs(1),
            max_open_calls: 4096,
            max_events_per_span: 1024,
        }
    }
}

/// This machine's host name: `/proc/sys/kernel/hostname`, else `/etc/hostname`, else
/// `$HOSTNAME`, else `unknown`.
pub(crate) fn hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| {
            let s = std::fs::read_to_string(p).ok()?;
            let s = s.trim();
            (!s.is_empty()).then(|| s.to_owned())
        })
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<String, String> {
        s.parse::<Endpoint>()
            .map(|e| e.traces())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn endpoints_are_http_or_https_base_urls() {
        assert_eq!(
            parse("http://127.0.0.1:4318").unwrap(),
            "http://127.0.0.1:4318/v1/traces"
        );
        assert_eq!(
            parse("https://otel.example/prefix/").unwrap(),
            "https://otel.example/prefix/v1/traces"
        );
        assert!(parse("ftp://x").unwrap_err().contains("http or https"));
        assert!(parse("127.0.0.1:4318").unwrap_err().contains("scheme"));
        assert!(parse("http://u:p@h:1").unwrap_err().contains("credentials"));
        assert!(parse("http://h/?a=1").unwrap_err().contains("query"));
        assert!(
            parse("http://h/v1/traces")
                .unwrap_err()
                .contains("base URL")
        );
        assert!(parse("not a url").is_err());
    }
}
