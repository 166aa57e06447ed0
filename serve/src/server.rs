//! The MCP service: an rmcp [`ServerHandler`] over a [`Catalog`], with call slots, draining, and
//! the clients to tell when the tool list changes. It is transport-agnostic: `wasmgov serve`
//! runs it over stdio and streamable HTTP, an embedder over whatever it likes.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, ListToolsResult,
    PaginatedRequestParams, ProtocolVersion, ServerCapabilities, ServerConfig, SubscriptionFilter,
    Tool as McpTool,
};
use rmcp::service::{NotificationContext, Peer, RequestContext, SubscriptionContext};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use tokio::sync::{Notify, Semaphore, broadcast};
use wasmgov_runtime::Runtime;

use crate::auth::Caller;
use crate::catalog::Catalog;

/// How a server admits calls.
#[derive(Debug, Clone, Copy)]
pub struct ServerOptions {
    /// Calls that run at once.
    pub max_concurrent: usize,
    /// Calls that may wait for a slot; one more is answered at once with `error[busy]`.
    pub max_queued: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            max_concurrent: 16,
            max_queued: 64,
        }
    }
}

/// The MCP server of a catalog of governed tools. Cheap to clone (one shared state).
#[derive(Clone)]
pub struct Server {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) runtime: Runtime,
    catalog: RwLock<Arc<Catalog>>,
    pub(crate) slots: Arc<Semaphore>,
    pub(crate) options: ServerOptions,
    pub(crate) queued: AtomicUsize,
    in_flight: AtomicUsize,
    idle: Notify,
    draining: AtomicBool,
    peers: Mutex<Vec<Peer<RoleServer>>>,
    changed: broadcast::Sender<()>,
}

/// Counts a call in flight while it lives.
pub(crate) struct InFlight<'a>(&'a Inner);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl Server {
    /// A server of `catalog`'s tools, run by `runtime` (which holds the trust store, policy,
    /// ratchet and audit log they were loaded under).
    pub fn new(runtime: Runtime, catalog: Catalog, options: ServerOptions) -> Self {
        let options = ServerOptions {
            max_concurrent: options.max_concurrent.max(1),
            ..options
        };
        Self {
            inner: Arc::new(Inner {
                runtime,
                catalog: RwLock::new(Arc::new(catalog)),
                slots: Arc::new(Semaphore::new(options.max_concurrent)),
                options,
                queued: AtomicUsize::new(0),
                in_flight: AtomicUsize::new(0),
                idle: Notify::new(),
                draining: AtomicBool::new(false),
                peers: Mutex::new(Vec::new()),
                changed: broadcast::channel(16).0,
            }),
        }
    }

    /// The runtime calls run on.
    pub fn runtime(&self) -> &Runtime {
        &self.inner.runtime
    }

    /// The catalog served now. A call holds the catalog it started with, so it finishes on the
    /// version it started on whatever a reload does meanwhile.
    pub fn catalog(&self) -> Arc<Catalog> {
        match self.inner.catalog.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Serve `catalog` from now on; clients are told when the tools changed. Returns whether
    /// they did.
    pub fn replace_catalog(&self, catalog: Catalog) -> bool {
        let changed = !self.catalog().same_tools(&catalog);
        let catalog = Arc::new(catalog);
        match self.inner.catalog.write() {
            Ok(mut c) => *c = catalog,
            Err(poisoned) => *poisoned.into_inner() = catalog,
        }
        if changed {
            self.notify_list_changed();
        }
        changed
    }

    fn notify_list_changed(&self) {
        let _ = self.inner.changed.send(());
        let peers: Vec<Peer<RoleServer>> = match self.inner.peers.lock() {
            Ok(mut p) => {
                p.retain(|peer| !peer.is_transport_closed());
                p.clone()
            }
            Err(_) => Vec::new(),
        };
        for peer in peers {
            tokio::spawn(async move {
                if let Err(e) = peer.notify_tool_list_changed().await {
                    tracing::debug!("tools/list_changed not delivered: {e}");
                }
            });
        }
    }

    /// Stop admitting calls (each new one is answered `error[draining]`) and report not ready.
    pub fn start_draining(&self) {
        self.inner.draining.store(true, Ordering::Release);
    }

    /// Whether the server is draining.
    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::Acquire)
    }

    /// Whether the server should get traffic: not draining, and its audit log still written
    /// (a replica whose audit disk failed refuses every call, so a load balancer should skip
    /// it). `Err` says why not.
    pub fn readiness(&self) -> Result<(), &'static str> {
        if self.is_draining() {
            return Err("draining");
        }
        match self.inner.runtime.audit() {
            Some(a) if !a.is_healthy() => Err("the audit log cannot be written"),
            _ => Ok(()),
        }
    }

    /// Calls waiting for a slot.
    pub fn waiting(&self) -> usize {
        self.inner.queued.load(Ordering::Acquire)
    }

    /// Calls running or waiting for a slot.
    pub fn in_flight(&self) -> usize {
        self.inner.in_flight.load(Ordering::Acquire)
    }

    /// Wait until no call is in flight.
    pub async fn drained(&self) {
        loop {
            let idle = self.inner.idle.notified();
            if self.in_flight() == 0 {
                return;
            }
            idle.await;
        }
    }

    /// Count a call in flight until the guard is dropped; `None` while draining.
    pub(crate) fn enter(&self) -> Option<InFlight<'_>> {
        self.inner.in_flight.fetch_add(1, Ordering::AcqRel);
        let guard = InFlight(&self.inner);
        (!self.is_draining()).then_some(guard)
    }

    /// The tools `caller` may see and call (every served tool for the operator's own
    /// transports: stdio, unauthenticated loopback HTTP).
    pub fn visible_tools(&self, caller: Option<&Caller>) -> Vec<McpTool> {
        let catalog = self.catalog();
        catalog
            .served()
            .values()
            .filter(|s| self.may_call(caller, s.tool_name()))
            .map(|s| s.listing.tool.clone())
            .collect()
    }

    /// Whether `caller` may call a tool named `tool` under the policy's `[[callers]]`.
    pub(crate) fn may_call(
        &self,
        caller: Option<&Caller>,
        tool: &wasmgov_runtime::names::ToolName,
    ) -> bool {
        match caller {
            None => true,
            Some(c) => self
                .inner
                .runtime
                .policy()
                .may_call(c.subject.as_str(), tool),
        }
    }
}

/// The authenticated caller of a request, as the HTTP layer put it into the request's parts.
pub(crate) fn caller_of(cx: &RequestContext<RoleServer>) -> Option<Caller> {
    cx.extensions
        .get::<http::request::Parts>()
        .and_then(|p| p.extensions.get::<Caller>())
        .cloned()
}

impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        let caps = ServerCapabilities::builder()
            .enable_tools()
            .enable_tool_list_changed()
            .build();
        ServerConfig::new(caps)
            .with_server_info(Implementation::new("wasmgov", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Tools run by wasmgov: each is a signed WebAssembly component, each call a fresh \
                 sandbox with only the capabilities its manifest and the operator's policy grant. \
                 Errors, denials and limit hits are tool results with isError and an \
                 error[KIND] text.",
            )
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        const VERSIONS: &[ProtocolVersion] = &[
            ProtocolVersion::V_2025_06_18,
            ProtocolVersion::V_2025_11_25,
            ProtocolVersion::V_2026_07_28,
        ];
        Cow::Borrowed(VERSIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        cx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(
            self.visible_tools(caller_of(&cx).as_ref()),
        ))
    }

    // rmcp asks for a tool only to check `Mcp-Param-*` headers against `x-mcp-header` marks in
    // its input schema. It asks without the caller, so answering would tell a caller about a
    // tool `[[callers]]` hides from it; and a tool's schema must not make the transport refuse
    // requests. None: no such checks.
    fn get_tool(&self, _name: &str) -> Option<McpTool> {
        None
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        cx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        crate::call::call(self, request, cx).await
    }

    async fn on_initialized(&self, cx: NotificationContext<RoleServer>) {
        if let Ok(mut peers) = self.inner.peers.lock() {
            peers.retain(|p| !p.is_transport_closed());
            peers.push(cx.peer);
        }
    }

    fn accepted_subscription_filter(
        &self,
        _requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(SubscriptionFilter::builder().tools_list_changed().build())
    }

    async fn listen(&self, cx: SubscriptionContext) -> Result<(), ErrorData> {
        let mut changed = self.inner.changed.subscribe();
        loop {
            tokio::select! {
                () = cx.cancelled() => return Ok(()),
                r = changed.recv() => match r {
                    Ok(()) | Err(broadcast::error::RecvError::Lagged(_)) => {
                        if cx.sink().notify_tool_list_changed().await.is_err() {
                            return Ok(());
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return Ok(()),
                },
            }
        }
    }
}
