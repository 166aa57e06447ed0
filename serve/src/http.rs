//! Streamable HTTP: the MCP endpoint at `/mcp`, `/healthz` and `/readyz`, behind the checks a
//! server reachable from a browser or a network needs.
//!
//! - Binds 127.0.0.1 unless told otherwise, and refuses any non-loopback address without bearer
//!   tokens.
//! - Every route checks `Host` against an allow-list and, when present, `Origin` (a page on
//!   another site, or a DNS name rebound to 127.0.0.1, cannot drive the server).
//! - `/mcp` needs a bearer token when tokens are configured (401 otherwise); the token's subject
//!   is the caller the policy's `[[callers]]` and the audit log see.
//! - Bodies are capped (413) and must keep arriving (408), headers are capped in count and size
//!   and must arrive within a deadline (slow-loris), connections are capped in number, legacy
//!   sessions are capped in number (503) and expire when idle.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

use crate::auth::Tokens;
use crate::error::ServeError;
use crate::server::Server;

/// How the HTTP transport listens and what it lets in.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Where to listen (port 0 picks a free one).
    pub addr: SocketAddr,
    /// Bearer tokens; required for a non-loopback `addr`.
    pub tokens: Option<Tokens>,
    /// `Host` values accepted besides the loopback names with the bound port (`name:port`).
    pub allowed_hosts: Vec<String>,
    /// `Origin` values accepted besides `http://` + the loopback names with the bound port.
    pub allowed_origins: Vec<String>,
    /// Most bytes of a request body.
    pub max_body: usize,
    /// Most legacy sessions open at once.
    pub max_sessions: usize,
    /// How long a legacy session may sit idle before it is closed.
    pub session_idle: Duration,
    /// How long a client may take to send a request's headers, and to send each part of its
    /// body.
    pub header_timeout: Duration,
    /// Most connections open at once; further clients wait in the listen backlog.
    pub max_connections: usize,
    /// Metrics served at `/metrics` (behind the same token check as `/mcp`); `None`: 404.
    pub metrics: Option<Arc<wasmgov_runtime::metrics::Metrics>>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8787)),
            tokens: None,
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            max_body: 4 * 1024 * 1024,
            max_sessions: 256,
            session_idle: Duration::from_secs(10 * 60),
            header_timeout: Duration::from_secs(10),
            max_connections: 1024,
            metrics: None,
        }
    }
}

/// Most request headers, and most bytes of a request's head.
const MAX_HEADERS: usize = 64;
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// How long shutdown waits for connections to close after the server stopped.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// A bound listener, ready to serve.
pub struct HttpListener {
    listener: tokio::net::TcpListener,
    options: HttpOptions,
    local: SocketAddr,
}

struct Guard {
    hosts: Vec<String>,
    origins: Vec<String>,
    tokens: Option<Tokens>,
    sessions: Arc<LocalSessionManager>,
    max_sessions: usize,
    server: Server,
    metrics: Option<Arc<wasmgov_runtime::metrics::Metrics>>,
}

/// A listening socket whose backlog holds `max_connections` clients: the kernel keeps a burst of
/// connections there while the acceptor is busy (std's and mio's default backlog of 128 makes
/// the kernel drop, then reset, every connection past the 128th not yet accepted). The kernel
/// caps it at `net.core.somaxconn`.
fn listen(addr: SocketAddr, max_connections: usize) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As std and mio do: a restarted server can bind again at once.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(u32::try_from(max_connections.max(128)).unwrap_or(u32::MAX))
}

impl HttpListener {
    /// Bind `options.addr`. A non-loopback address without tokens is refused.
    pub async fn bind(options: HttpOptions) -> Result<Self, ServeError> {
        if !options.addr.ip().is_loopback() && options.tokens.as_ref().is_none_or(Tokens::is_empty)
        {
            return Err(ServeError::Unauthenticated(options.addr));
        }
        let listener = listen(options.addr, options.max_connections)
            .map_err(|e| ServeError::Bind(options.addr, e))?;
        let local = listener
            .local_addr()
            .map_err(|e| ServeError::Bind(options.addr, e))?;
        Ok(Self {
            listener,
            options,
            local,
        })
    }

    /// The address listened on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Serve until `shutdown` is cancelled: then stop accepting, let each connection finish the
    /// response it is sending (so the answers of drained calls reach their clients), then end
    /// what is still open — session streams, calls not yet finished (they see their
    /// cancellation) — and return.
    pub async fn run(self, server: Server, shutdown: CancellationToken) -> Result<(), ServeError> {
        let port = self.local.port();
        let loopback = [
            "127.0.0.1".to_owned(),
            "localhost".to_owned(),
            "[::1]".to_owned(),
        ];
        let mut hosts: Vec<String> = loopback.iter().map(|h| format!("{h}:{port}")).collect();
        hosts.extend(
            self.options
                .allowed_hosts
                .iter()
                .map(|h| h.to_ascii_lowercase()),
        );
        let mut origins: Vec<String> = loopback
            .iter()
            .map(|h| format!("http://{h}:{port}"))
            .collect();
        origins.extend(
            self.options
                .allowed_origins
                .iter()
                .map(|o| o.to_ascii_lowercase()),
        );

        // Ends rmcp's streams and sessions; cancelled after connections had their grace.
        let streams = CancellationToken::new();
        let _streams_end = streams.clone().drop_guard();
        let mut sessions = LocalSessionManager::default();
        sessions.session_config.keep_alive = Some(self.options.session_idle);
        let sessions = Arc::new(sessions);
        let config = StreamableHttpServerConfig::default()
            .with_allowed_hosts(hosts.clone())
            .with_allowed_origins(origins.clone())
            .with_max_request_body_bytes(self.options.max_body)
            .with_cancellation_token(streams.clone());
        let factory = server.clone();
        let mcp = StreamableHttpService::new(move || Ok(factory.clone()), sessions.clone(), config);
        let guard = Arc::new(Guard {
            hosts,
            origins,
            tokens: self.options.tokens.clone(),
            sessions,
            max_sessions: self.options.max_sessions,
            server: server.clone(),
            metrics: self.options.metrics.clone(),
        });
        let app = axum::Router::new()
            .route_service("/mcp", mcp)
            .route("/metrics", get(metrics))
            .route_layer(middleware::from_fn_with_state(guard.clone(), authenticate))
            .route("/healthz", get(|| async { "ok\n" }))
            .route("/readyz", get(readyz))
            .with_state(guard.clone())
            .layer(middleware::from_fn_with_state(guard, check_host_and_origin))
            .layer(tower_http::limit::RequestBodyLimitLayer::new(
                self.options.max_body,
            ));

        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let connections = Arc::new(tokio::sync::Semaphore::new(
            self.options.max_connections.max(1),
        ));
        loop {
            // A connection slot first: past the cap, clients wait in the kernel's backlog.
            let slot = tokio::select! {
                s = connections.clone().acquire_owned() => match s {
                    Ok(s) => s,
                    Err(_) => break,
                },
                () = shutdown.cancelled() => break,
            };
            tokio::select! {
                accepted = self.listener.accept() => {
                    let stream = match accepted {
                        Ok((s, _)) => s,
                        Err(e) => {
                            // Out of fds and the like: back off instead of spinning.
                            tracing::warn!("accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    // An answer is several small writes (head, SSE event, end of body): without
                    // this, Nagle's algorithm holds each behind the client's delayed ACK.
                    if let Err(e) = stream.set_nodelay(true) {
                        tracing::debug!("TCP_NODELAY: {e}");
                    }
                    let svc = hyper_util::service::TowerToHyperService::new(app.clone());
                    let conn = hyper::server::conn::http1::Builder::new()
                        .timer(hyper_util::rt::TokioTimer::new())
                        .header_read_timeout(self.options.header_timeout)
                        .max_headers(MAX_HEADERS)
                        .max_buf_size(MAX_HEAD_BYTES)
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc);
                    let conn = graceful.watch(conn);
                    tokio::spawn(async move {
                        if let Err(e) = conn.await {
                            tracing::debug!("connection ended: {e}");
                        }
                        drop(slot);
                    });
                }
                () = shutdown.cancelled() => break,
            }
        }
        drop(self.listener);
        let closing = graceful.shutdown();
        tokio::pin!(closing);
        if tokio::time::timeout(CLOSE_GRACE, &mut closing)
            .await
            .is_err()
        {
            // Session streams (and anything else long-lived) stay open until told to end.
            streams.cancel();
            if tokio::time::timeout(CLOSE_GRACE, &mut closing)
                .await
                .is_err()
            {
                tracing::debug!("connections still open after {CLOSE_GRACE:?}; closing");
            }
        }
        Ok(())
    }
}

fn plain(status: StatusCode, text: &str) -> Response {
    (status, format!("{text}\n")).into_response()
}

async fn check_host_and_origin(State(g): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_ascii_lowercase);
    match host {
        None => return plain(StatusCode::BAD_REQUEST, "Bad Request: no Host header"),
        Some(h) if !g.hosts.contains(&h) => {
            return plain(
                StatusCode::FORBIDDEN,
                "Forbidden: Host header is not allowed (start the server with --allow-host)",
            );
        }
        Some(_) => {}
    }
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let ok = origin
            .to_str()
            .map(|o| g.origins.contains(&o.to_ascii_lowercase()))
            .unwrap_or(false);
        if !ok {
            return plain(
                StatusCode::FORBIDDEN,
                "Forbidden: Origin is not allowed (start the server with --allow-origin)",
            );
        }
    }
    next.run(req).await
}

async fn authenticate(State(g): State<Arc<Guard>>, mut req: Request, next: Next) -> Response {
    if let Some(tokens) = &g.tokens {
        let presented = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        match presented.and_then(|t| tokens.authenticate(t)) {
            Some(caller) => {
                req.extensions_mut().insert(caller);
            }
            None => {
                let mut r = plain(
                    StatusCode::UNAUTHORIZED,
                    "Unauthorized: a valid bearer token is required",
                );
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"wasmgov\""),
                );
                return r;
            }
        }
    }
    // A new legacy session (a POST with neither a session id nor a protocol version header:
    // an `initialize`) beyond the cap is refused before it is made.
    let opens_session = req.method() == http::Method::POST
        && !req.headers().contains_key("mcp-session-id")
        && !req.headers().contains_key("mcp-protocol-version");
    if opens_session && g.sessions.sessions.read().await.len() >= g.max_sessions {
        return plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service Unavailable: too many open sessions",
        );
    }
    next.run(req).await
}

async fn metrics(State(g): State<Arc<Guard>>) -> Response {
    match &g.metrics {
        Some(m) => {
            let mut r = m.encode_prometheus().into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            r
        }
        None => plain(StatusCode::NOT_FOUND, "Not Found: no metrics"),
    }
}

async fn readyz(State(g): State<Arc<Guard>>) -> Response {
    match g.server.readiness() {
        Ok(()) => plain(StatusCode::OK, "ready"),
        Err(why) => plain(StatusCode::SERVICE_UNAVAILABLE, why),
    }
}
