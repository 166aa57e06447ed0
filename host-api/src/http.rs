//! Outgoing `wasi:http` requests, decided and carried out by the host.
//!
//! wasmtime-wasi-http's stock sender connects to whatever the request names, resolving it with
//! the OS. This module replaces it ([`HttpPolicy`] is the `WasiHttpHooks` of every call) and
//! guards against:
//!
//! - **Unlisted destinations** (N01, N02, N06): `scheme://host:port` must match a rule of the
//!   grant before anything else; a denied name is never looked up, a denied address never
//!   connected to.
//! - **SSRF to internal addresses and DNS rebinding** (N03, N04): the host resolves the name once
//!   through the grant's [`Resolver`](crate::net::Resolver), refuses the request if *any* answer
//!   is internal (see [`crate::net`]), and connects to an address it checked — the TCP connect
//!   takes that `SocketAddr`, not the name. TLS still verifies the certificate against the
//!   request's host name (SNI), so pinning the address does not weaken HTTPS.
//! - **Redirect laundering** (N05): redirects are never followed; the tool gets the 3xx and any
//!   next hop is a new request, checked again.
//! - **Slow or huge responses** (R02, R06): connect, first-byte and between-bytes timeouts are
//!   clamped to what is left of the call's wall time, and response bodies are capped (checked
//!   against `Content-Length` up front, and counted while streaming).
//! - **Secret exposure** (E02, M02): secrets are added here, host-side, only to requests whose
//!   destination matches the secret's own rule; the tool may not set those headers itself (nor
//!   `authorization` once any secret is bound), and log records name secrets, never values. A
//!   response to a request that carried secrets has every echo of their values masked, in its
//!   head and its body, before the guest reads it ([`crate::redact`]).
//!
//! - **Host memory** (R05, R06): outgoing bodies buffer at most [`BODY_BUFFER_CHUNKS`] + 1
//!   chunks of [`BODY_CHUNK_SIZE`]; at most [`MAX_IN_FLIGHT`] requests of a call are in flight
//!   (`error-code.connection-limit-reached` past that), each holding a reservation of
//!   [`IN_FLIGHT_HOST_BYTES`] of the call's host-memory budget for the connection's buffers
//!   until its response body and connection are gone. A request that carries secrets reserves
//!   [`mask_host_bytes`](crate::redact::mask_host_bytes) more, for masking its response.
//!
//! Every refusal reaches the tool as `error-code.HTTP-request-denied`, an ordinary error it can
//! handle, never a trap.
//!
//! What is decided after `handle` returned (the name's addresses, an internal-address refusal,
//! the address connected, the names of the secrets injected) happens in a task wasmtime-wasi-http
//! spawns. That task runs inside a [`DECISION_SPAN`] opened while `handle` was still running, so
//! the audit capture files those decisions in the record of the `handle` call that caused them.

use std::future::{Future, poll_fn};
use std::net::{IpAddr, SocketAddr};
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::uri::Scheme as UriScheme;
use http::{HeaderName, Request, Response};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tracing::instrument::{Instrument, WithSubscriber};
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{
    DEFAULT_FORBIDDEN_HEADERS, Error as HttpError, ForbiddenHeaderFilter, RequestOptions, WasiBody,
    WasiHttpHooks,
};

use crate::host_memory::{HostMemory, Reservation};
use crate::net::{self, Host, NetConfig, NetDenied, Scheme};
use crate::redact::{EchoLog, MaskedBody, Masker};
use crate::secrets::SecretBinding;

/// Bytes of one chunk of an outgoing body (what `check-write` offers at most).
pub const BODY_CHUNK_SIZE: usize = 64 * 1024;

/// Chunks an outgoing body buffers beyond the one being written.
pub const BODY_BUFFER_CHUNKS: usize = 1;

/// Most requests of one call in flight at once (each holds a connection and its buffers).
pub const MAX_IN_FLIGHT: usize = 16;

/// Most bytes hyper buffers for reading one response (head and body frames).
pub const RESPONSE_BUFFER: usize = 128 * 1024;

/// Host bytes reserved for each request in flight: hyper's read and write buffers, the frame
/// handed to the guest, the response head.
pub const IN_FLIGHT_HOST_BYTES: u64 = 2 * RESPONSE_BUFFER as u64 + 64 * 1024;

/// Name of the span that carries the decisions `send_request` makes after `handle` returned
/// (target [`DECISION_TARGET`]); the audit capture files what happens inside it under the import
/// that was running when it was opened.
pub const DECISION_SPAN: &str = "wasmgov decisions";

/// Target of host-api's decision events and of [`DECISION_SPAN`].
pub const DECISION_TARGET: &str = "wasmgov::net";

type IoFuture = Box<dyn Future<Output = Result<(), HttpError>> + Send>;
type SendFuture =
    Box<dyn Future<Output = Result<(Response<WasiBody>, IoFuture), HttpError>> + Send>;

/// The `wasi:http` hooks of one call: the grant's rules, secrets and deadline.
pub struct HttpPolicy {
    net: Arc<NetConfig>,
    secrets: Arc<[SecretBinding]>,
    deadline: Instant,
    max_body: u64,
    forbidden: ForbiddenHeaderFilter,
    memory: Arc<HostMemory>,
    in_flight: Arc<AtomicUsize>,
    /// Which secrets the call's responses echoed.
    echo: Arc<EchoLog>,
}

/// One request in flight: its slot under [`MAX_IN_FLIGHT`] and its host-memory reservation,
/// both returned when the last of the response body and the connection task lets go.
struct InFlight {
    count: Arc<AtomicUsize>,
    _reservation: Reservation,
}

impl InFlight {
    fn admit(
        count: &Arc<AtomicUsize>,
        memory: &Arc<HostMemory>,
        bytes: u64,
    ) -> Result<Arc<Self>, HttpError> {
        count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_IN_FLIGHT).then_some(n + 1)
            })
            .map_err(|_| HttpError::ConnectionLimitReached)?;
        let slot = Self {
            count: count.clone(),
            _reservation: match memory.reserve(bytes) {
                Ok(r) => r,
                Err(_) => {
                    count.fetch_sub(1, Ordering::AcqRel);
                    return Err(HttpError::ConnectionLimitReached);
                }
            },
        };
        Ok(Arc::new(slot))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::AcqRel);
    }
}

impl HttpPolicy {
    /// Hooks for a call that must end by `deadline`, with response bodies capped at `max_body`
    /// and what requests hold charged to `memory`.
    pub fn new(
        net: Arc<NetConfig>,
        secrets: Arc<[SecretBinding]>,
        deadline: Instant,
        max_body: u64,
        memory: Arc<HostMemory>,
    ) -> Self {
        let mut names: Vec<HeaderName> = DEFAULT_FORBIDDEN_HEADERS.to_vec();
        names.extend(crate::secrets::guest_forbidden_headers(&secrets));
        let forbidden: ForbiddenHeaderFilter = Arc::new(move |h| names.contains(h));
        let echo = Arc::new(EchoLog::new(&secrets));
        Self {
            net,
            secrets,
            deadline,
            max_body,
            forbidden,
            memory,
            in_flight: Arc::default(),
            echo,
        }
    }

    /// Names of the secrets a server echoed back to this call (and the host masked), sorted
    /// and deduplicated.
    pub fn secrets_echoed(&self) -> Vec<String> {
        self.echo.echoed()
    }

    /// The first, synchronous half of a request: parse and match the destination.
    fn decide(&self, req: &Request<WasiBody>) -> Result<Destination, NetDenied> {
        let dest = Destination::of_uri(req.uri())?;
        if !self.net.rules.iter().any(|r| dest.allowed_by(r)) {
            return Err(NetDenied::NotAllowed {
                scheme: dest.scheme,
                host: dest.host.to_string(),
                port: dest.port,
            });
        }
        Ok(dest)
    }

    fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

/// Where an outgoing request goes, read strictly from its URI (its addresses are not checked
/// yet). The one parse both the allow-list check and the connection use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// `http` or `https`.
    pub scheme: Scheme,
    /// The host, parsed by [`Host::parse`].
    pub host: Host,
    /// The port: the URI's, or the scheme's default.
    pub port: u16,
}

impl Destination {
    /// Read the destination of a request URI: scheme `http` or `https`, no user info, a host
    /// [`Host::parse`] accepts, the port defaulted by scheme.
    pub fn of_uri(uri: &http::Uri) -> Result<Self, NetDenied> {
        let scheme = match uri.scheme() {
            Some(s) if *s == UriScheme::HTTP => Scheme::Http,
            Some(s) if *s == UriScheme::HTTPS => Scheme::Https,
            other => {
                return Err(NetDenied::BadHost(format!(
                    "unsupported scheme {}",
                    other.map_or("(none)", |s| s.as_str())
                )));
            }
        };
        let authority = uri
            .authority()
            .ok_or_else(|| NetDenied::BadHost(String::new()))?;
        // User info would be forwarded nowhere, but refuse it: it is a classic way to make a
        // URL look like it goes somewhere it does not.
        if authority.as_str().contains('@') {
            return Err(NetDenied::BadHost(authority.to_string()));
        }
        let raw_host = authority.host();
        let host = Host::parse(raw_host).ok_or_else(|| NetDenied::BadHost(raw_host.into()))?;
        // The `http` crate reads a port it cannot parse (`t:'08`, `t:99999`) as no port at all,
        // which would default it; the URL standard refuses such an authority. Refuse it too: a
        // port is absent, or 1-5 digits that fit in 16 bits.
        let after_host = authority.as_str().get(raw_host.len()..).unwrap_or_default();
        let port = match after_host.strip_prefix(':') {
            None if after_host.is_empty() => match scheme {
                Scheme::Https => 443,
                _ => 80,
            },
            Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => p
                .parse::<u16>()
                .map_err(|_| NetDenied::BadHost(authority.to_string()))?,
            _ => return Err(NetDenied::BadHost(authority.to_string())),
        };
        Ok(Self { scheme, host, port })
    }

    /// Whether `rule` allows this destination.
    pub fn allowed_by(&self, rule: &net::NetRule) -> bool {
        rule.matches(self.scheme, &self.host, self.port)
    }
}

impl WasiHttpHooks for HttpPolicy {
    fn forbidden_header_filter(&mut self) -> ForbiddenHeaderFilter {
        self.forbidden.clone()
    }

    fn p2_outgoing_body_buffer_chunks(&mut self) -> usize {
        BODY_BUFFER_CHUNKS
    }

    fn p2_outgoing_body_chunk_size(&mut self) -> usize {
        BODY_CHUNK_SIZE
    }

    fn send_request(
        &mut self,
        mut request: Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: IoFuture,
    ) -> SendFuture {
        let method = request.method().clone();
        let dest = match self.decide(&request) {
            Ok(d) => d,
            Err(why) => {
                // What the grant would need to allow it (the audit record's `needs`).
                let needs = match &why {
                    NetDenied::NotAllowed { scheme, host, port } => {
                        format!("net {scheme}://{host}:{port}")
                    }
                    _ => String::new(),
                };
                tracing::info!(
                    target: "wasmgov::net",
                    iface = "wasi:http/outgoing-handler",
                    %method,
                    uri = %request.uri(),
                    decision = "deny",
                    reason = %why,
                    needs = %needs,
                    "http request"
                );
                return Box::new(std::future::ready(Err(HttpError::HttpRequestDenied)));
            }
        };
        let injected = crate::secrets::inject(
            &self.secrets,
            dest.scheme,
            &dest.host,
            dest.port,
            &mut request,
        );
        let masker = (!injected.is_empty())
            .then(|| Masker::new(&self.secrets, &injected, self.echo.clone()));
        let mask_bytes = masker
            .as_ref()
            .map_or(0, |m| crate::redact::mask_host_bytes(m.max_len()));
        // Past the allow-list, a request holds a connection and its buffers (and what masking
        // its response holds): admit it against the call's in-flight cap and host-memory
        // budget before anything is spawned.
        let slot = match InFlight::admit(
            &self.in_flight,
            &self.memory,
            IN_FLIGHT_HOST_BYTES + mask_bytes,
        ) {
            Ok(s) => s,
            Err(e) => {
                self.memory.refuse();
                tracing::info!(
                    target: "wasmgov::net",
                    iface = "wasi:http/outgoing-handler",
                    %method,
                    dest = %format_args!("{}://{}:{}", dest.scheme, dest.host, dest.port),
                    decision = "deny",
                    reason = %format_args!(
                        "host-memory limit: at most {MAX_IN_FLIGHT} requests in flight, \
                         {IN_FLIGHT_HOST_BYTES} bytes each"
                    ),
                    "http request"
                );
                return Box::new(std::future::ready(Err(e)));
            }
        };
        let injected: Vec<&str> = injected
            .iter()
            .filter_map(|&i| self.secrets.get(i).map(SecretBinding::name))
            .collect();
        let injected = injected.join(",");
        let remaining = self.remaining();
        let clamp = |asked: Option<Duration>| asked.map_or(remaining, |a| a.min(remaining));
        let o = options.unwrap_or_default();
        let timeouts = Timeouts {
            connect: clamp(o.connect_timeout),
            first_byte: clamp(o.first_byte_timeout),
            between_bytes: clamp(o.between_bytes_timeout),
        };
        let net = self.net.clone();
        let max_body = self.max_body;
        let fut = async move {
            let addrs = match resolve_and_check(&net, &dest, timeouts.connect).await {
                Ok(a) => a,
                Err(e) => {
                    // Refused for an internal address: the policy's [[net.private]] would
                    // need to name the addresses (empty for a lookup that failed).
                    let needs = if matches!(e.0, HttpError::HttpRequestDenied) && !e.2.is_empty() {
                        format!("private {}", Addrs(&e.2))
                    } else {
                        String::new()
                    };
                    tracing::info!(
                        target: "wasmgov::net",
                        iface = "wasi:http/outgoing-handler",
                        %method,
                        dest = %format_args!("{}://{}:{}", dest.scheme, dest.host, dest.port),
                        addrs = %Addrs(&e.2),
                        decision = "deny",
                        reason = %e.1,
                        needs = %needs,
                        "http request"
                    );
                    return Err(e.0);
                }
            };
            // Names only: a secret's value never leaves `secrets`.
            tracing::info!(
                target: "wasmgov::net",
                iface = "wasi:http/outgoing-handler",
                %method,
                dest = %format_args!("{}://{}:{}", dest.scheme, dest.host, dest.port),
                addrs = %Addrs(&addrs),
                secrets = %injected,
                decision = "allow",
                "http request"
            );
            send(request, &dest, &addrs, timeouts, max_body, slot, masker).await
        };
        // wasmtime-wasi-http spawns this future: run it inside a span opened now, while `handle`
        // is the import in progress, and under the dispatcher of now, so what it decides lands
        // in `handle`'s record.
        let span = tracing::info_span!(target: "wasmgov::net", "wasmgov decisions");
        if span.is_disabled() {
            // Nobody records decisions for this call: leave the task's dispatcher alone.
            return Box::new(fut);
        }
        Box::new(fut.instrument(span).with_current_subscriber())
    }
}

/// Addresses as `a,b,c` for the log.
struct Addrs<'a>(&'a [IpAddr]);

impl std::fmt::Display for Addrs<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, a) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{a}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
struct Timeouts {
    connect: Duration,
    first_byte: Duration,
    between_bytes: Duration,
}

/// Resolve the destination once and check every address. On refusal: the guest-visible error
/// and the reason for the log.
async fn resolve_and_check(
    net: &NetConfig,
    dest: &Destination,
    limit: Duration,
) -> Result<Vec<IpAddr>, (HttpError, String, Vec<IpAddr>)> {
    let addrs = match &dest.host {
        Host::Ip(ip) => vec![*ip],
        Host::Name(name) => match tokio::time::timeout(limit, net.resolver.resolve(name)).await {
            Err(_) => {
                return Err((
                    HttpError::DnsTimeout,
                    format!("resolving {name} timed out"),
                    Vec::new(),
                ));
            }
            Ok(Err(e)) => {
                return Err((
                    HttpError::DnsError {
                        rcode: Some("lookup failed".into()),
                        info_code: None,
                    },
                    format!("resolving {name} failed: {e}"),
                    Vec::new(),
                ));
            }
            Ok(Ok(a)) if a.is_empty() => {
                return Err((
                    HttpError::DestinationNotFound,
                    format!("{name} has no addresses"),
                    Vec::new(),
                ));
            }
            Ok(Ok(a)) => a,
        },
    };
    if let Err(why) = net::check_all(&net.addresses, &dest.host, &addrs) {
        return Err((HttpError::HttpRequestDenied, why.to_string(), addrs));
    }
    Ok(addrs)
}

trait Stream: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static> Stream for T {}

/// The TLS client configuration: the webpki roots, ring as the provider (stated explicitly so a
/// second provider elsewhere in the build cannot make the choice ambiguous).
fn tls_config() -> Result<Arc<rustls::ClientConfig>, HttpError> {
    static CONFIG: OnceLock<Option<Arc<rustls::ClientConfig>>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.into(),
            };
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .ok()
            .map(|b| Arc::new(b.with_root_certificates(roots).with_no_client_auth()))
        })
        .clone()
        .ok_or(HttpError::InternalError(Some("TLS is unavailable".into())))
}

/// Connect to a checked address, do TLS for `https`, and send the request over HTTP/1.1.
async fn send(
    mut request: Request<WasiBody>,
    dest: &Destination,
    addrs: &[IpAddr],
    t: Timeouts,
    max_body: u64,
    slot: Arc<InFlight>,
    masker: Option<Masker>,
) -> Result<(Response<WasiBody>, IoFuture), HttpError> {
    let connect = async {
        let mut last = None;
        for ip in addrs {
            let to = SocketAddr::new(*ip, dest.port);
            match TcpStream::connect(to).await {
                Ok(s) => {
                    tracing::info!(
                        target: "wasmgov::net",
                        iface = "wasi:http/outgoing-handler",
                        connected = %to,
                        "http connected"
                    );
                    return Ok(s);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(HttpError::Connect(last.unwrap_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, "no address")
        })))
    };
    let tcp = tokio::time::timeout(t.connect, connect)
        .await
        .map_err(|_| HttpError::ConnectionTimeout)??;
    let stream: Box<dyn Stream> = if dest.scheme == Scheme::Https {
        let name = match &dest.host {
            Host::Name(n) => rustls::pki_types::ServerName::try_from(n.clone())
                .map_err(HttpError::InvalidDnsNameError)?,
            Host::Ip(ip) => rustls::pki_types::ServerName::IpAddress((*ip).into()),
        };
        let tls = tokio_rustls::TlsConnector::from(tls_config()?);
        let s = tokio::time::timeout(t.connect, tls.connect(name, tcp))
            .await
            .map_err(|_| HttpError::ConnectionTimeout)?
            .map_err(HttpError::Tls)?;
        Box::new(s)
    } else {
        Box::new(tcp)
    };
    let (mut sender, conn) = tokio::time::timeout(
        t.connect,
        hyper::client::conn::http1::Builder::new()
            .max_buf_size(RESPONSE_BUFFER)
            .handshake(TokioIo::new(stream)),
    )
    .await
    .map_err(|_| HttpError::ConnectionTimeout)??;

    // The request line carries the origin form (path and query); the host goes in `Host`.
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    *request.uri_mut() = http::Uri::builder()
        .path_and_query(path)
        .build()
        .map_err(|_| HttpError::HttpRequestUriInvalid)?;

    let first_byte = t.first_byte;
    let response = async move {
        tokio::time::timeout(first_byte, sender.send_request(request))
            .await
            .map_err(|_| HttpError::ConnectionReadTimeout)?
            .map_err(HttpError::from)
    };
    // Drive the connection while waiting for the response head; hand the rest of it to the
    // caller as the I/O future.
    let mut response = pin!(response);
    let mut conn = Some(conn);
    let response = poll_fn(|cx| {
        if let Poll::Ready(r) = response.as_mut().poll(cx) {
            return Poll::Ready(r);
        }
        let Some(c) = conn.as_mut() else {
            return Poll::Pending;
        };
        let done = ready!(Pin::new(c).poll(cx));
        conn = None;
        match done {
            Ok(()) => response.as_mut().poll(cx),
            Err(e) => Poll::Ready(Err(HttpError::from(e))),
        }
    })
    .await?;

    if let Some(n) = response
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        && n > max_body
    {
        return Err(HttpError::HttpResponseBodySize(Some(n)));
    }
    let between = if t.between_bytes.is_zero() {
        Duration::from_nanos(1)
    } else {
        t.between_bytes
    };
    let body_slot = slot.clone();
    let (mut parts, incoming) = response.into_parts();
    let mut tick = tokio::time::interval(between);
    tick.reset();
    let capped = CappedBody {
        incoming,
        tick,
        left: max_body,
        cap: max_body,
        _slot: body_slot,
    };
    let body = match masker {
        // This runs inside the decision span: an echo in the head is filed under `handle`.
        Some(mut m) => {
            m.mask_headers(&mut parts.headers);
            if let Some(names) = m.take_fresh() {
                crate::redact::echo_event(&names);
            }
            // The masker's buffers are part of the slot's reservation.
            MaskedBody::new(capped, m).boxed_unsync()
        }
        None => capped.boxed_unsync(),
    };
    let response = Response::from_parts(parts, body);
    let io: IoFuture = Box::new(async move {
        let _slot = slot;
        match conn {
            Some(c) => c.await.map_err(HttpError::from),
            None => Ok(()),
        }
    });
    Ok((response, io))
}

/// A response body with a between-bytes timeout and a size cap.
struct CappedBody {
    incoming: hyper::body::Incoming,
    tick: tokio::time::Interval,
    left: u64,
    cap: u64,
    /// The request's in-flight slot, held until the body is gone.
    _slot: Arc<InFlight>,
}

impl Body for CappedBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        match Pin::new(&mut self.incoming).poll_frame(cx) {
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(if e.is_timeout() {
                HttpError::HttpResponseTimeout
            } else {
                HttpError::from(e)
            }))),
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let n = data.len() as u64;
                    if n > self.left {
                        self.left = 0;
                        return Poll::Ready(Some(Err(HttpError::HttpResponseBodySize(Some(
                            self.cap,
                        )))));
                    }
                    self.left -= n;
                }
                self.tick.reset();
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => {
                ready!(self.tick.poll_tick(cx));
                Poll::Ready(Some(Err(HttpError::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(uri: &str) -> Result<Destination, NetDenied> {
        Destination::of_uri(&uri.parse::<http::Uri>().expect("the http crate parses it"))
    }

    #[test]
    fn ports_are_absent_or_numbers_in_range() {
        assert_eq!(dest("http://t/").map(|d| d.port).ok(), Some(80));
        assert_eq!(dest("https://t/").map(|d| d.port).ok(), Some(443));
        assert_eq!(dest("http://t:8080/").map(|d| d.port).ok(), Some(8080));
        assert_eq!(dest("http://t:080/").map(|d| d.port).ok(), Some(80));
        assert_eq!(dest("http://[::1]:8443/").map(|d| d.port).ok(), Some(8443));
        // The `http` crate reads these ports as absent, which would have defaulted them to 80
        // (found by the net_allow fuzz target against the URL standard, which refuses them).
        for bad in [
            "http://t:'08/",
            "http://t:99999/",
            "http://t:65536/",
            "http://t:/",
            "http://t:8o/",
            "http://[::1]:x/",
        ] {
            assert!(
                matches!(dest(bad), Err(NetDenied::BadHost(_))),
                "{bad} should be refused"
            );
        }
    }
}
