//! Capture of every host call from the TRACE spans that `bindgen!` puts around each import.
//!
//! wasmtime-wasi, wasmtime-wasi-http and our own `wasmgov:tool/host` bindings are generated
//! with the `tracing` flag: every import call opens a span named `wit-bindgen import` (target =
//! the module path of the generated interface, e.g. `…::wasi::filesystem::types`), emits a
//! `call` event with the arguments and a `return` event with the result. Each such span becomes
//! one `host-call` record, except that a run of identical side-effect-free calls (a clock read
//! in a loop; see [`HostCallItem::absorb`]) becomes one record with a `count`.
//!
//! The exception: the clock and random reads host-api serves without a span
//! ([`wasmgov_host_api::quiet`]) are reported straight to the call's capture through the
//! sandbox ([`QuietRecorder`]) and go into the same batch, in the same order, as the same
//! records.
//!
//! How, cheaply: one process-wide [`Router`] subscriber does no span bookkeeping of its own.
//! While a call's future is polled (inside [`Captured`]) the router is the thread's default
//! dispatcher and a thread-local names the call's [`CallCapture`]; every span and event goes
//! straight to that call's state. A call runs one host call at a time, so the open import is
//! the one an event belongs to. What each callsite is (which interface and function, whether an
//! event is a `call`, a `return` or a host decision) is worked out once per callsite and
//! cached; a host call then costs two clock reads, a few uncontended locks and the `Debug` text
//! of its result (written into a reused buffer). Formatting and hashing happen on the writer
//! thread.
//!
//! What it guards against:
//! - *silent gaps*: the router is attached to the call's future, not installed as a global
//!   subscriber, so an embedder's own tracing setup can neither hide nor steal the spans. An
//!   import still open when the call ends is recorded as `cancelled`. A change of the span
//!   name, fields or targets in a wasmtime upgrade is caught by the golden test in
//!   `tests/all/audit.rs`.
//! - *leaks into the log*: see [`super::summary`]: only locations and sizes are kept.
//! - *unbounded memory*: host calls are handed to the writer in batches through a bounded
//!   channel; when the disk is slower than the tool, the tool waits (back-pressure, not loss).

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasherDefault, Hasher};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::Instant;

use tracing::field::{Field, Visit};
use tracing::span;
use tracing::subscriber::Interest;
use tracing::{Dispatch, Event, Metadata, Subscriber};

use wasmgov_host_api::quiet::{QuietCall, QuietRecorder};

use super::record::{CallHead, Decision, HostBatch, HostCallItem, Site};
use super::summary::{
    self, ArgValue, DENIALS, MAX_ARG_DEBUG, MAX_RESULT, bounded_debug_into, cap, outcome_of,
};
use super::writer::{BATCH, Health, Msg, Sender};

/// Least time between two early hand-overs of a call's host calls to the writer.
const URGENT_EVERY: std::time::Duration = std::time::Duration::from_millis(5);

/// Longest a run of identical calls (one record with a count) grows before it is handed to the
/// writer: a tool that does nothing but read the clock still reaches the log every so often,
/// so a crash loses no more of it than this.
const RUN_SPAN: std::time::Duration = std::time::Duration::from_millis(100);

/// The span name `bindgen!` gives every traced import (wasmtime 48).
pub const IMPORT_SPAN: &str = "wit-bindgen import";
/// Target of the decision events host-api emits inside an import (`decision`, `reason`, …).
pub const DECISION_TARGET: &str = wasmgov_host_api::http::DECISION_TARGET;
/// The span host-api wraps around work it hands to a spawned task on behalf of the import in
/// progress (an outgoing request's resolution and connect): what is decided inside it belongs
/// to that import's record.
pub const DECISION_SPAN: &str = wasmgov_host_api::http::DECISION_SPAN;

/// Module-path prefixes of the generated bindings whose spans are host calls.
pub const BINDING_TARGETS: &[&str] = &[
    "wasmtime_wasi::",
    "wasmtime_wasi_io::",
    "wasmtime_wasi_http::",
    "wasmgov_host_api::bindings::",
];

fn is_binding(target: &str) -> bool {
    BINDING_TARGETS.iter().any(|p| target.starts_with(p))
}

fn wanted(meta: &Metadata<'_>) -> bool {
    if meta.is_span() {
        (meta.name() == IMPORT_SPAN && is_binding(meta.target()))
            || (meta.name() == DECISION_SPAN && meta.target() == DECISION_TARGET)
    } else {
        meta.target() == DECISION_TARGET || is_binding(meta.target())
    }
}

/// What a callsite is; fixed per callsite, so worked out once.
#[derive(Clone, Copy)]
enum Kind {
    /// An import span.
    Import(&'static Site),
    /// A [`DECISION_SPAN`]: work done elsewhere for the import in progress.
    Link,
    /// The `call` event of an import; `args` when it carries arguments worth reading.
    Call { args: bool },
    /// The `return` event of an import.
    Return,
    /// A host-api decision event.
    Decision,
    /// Anything else (wasmtime-wasi's own diagnostics).
    Other,
}

/// Hashes a callsite's address.
#[derive(Default)]
struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_usize(&mut self, n: usize) {
        let h = (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = h ^ (h >> 29);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Every callsite seen, by the address of its static metadata. Grows once per callsite in the
/// binary (a few hundred at most); each import's [`Site`] is leaked once and lives as long as
/// its callsite, which is the whole process.
static CALLSITES: LazyLock<RwLock<HashMap<usize, Kind, BuildHasherDefault<AddrHasher>>>> =
    LazyLock::new(Default::default);

fn key(meta: &'static Metadata<'static>) -> usize {
    std::ptr::from_ref(meta) as usize
}

/// Slots of each thread's cache of recently seen callsites (a tool's loop of host calls
/// touches a handful: the import span, its `call` and `return` events).
const NEAR: usize = 16;

thread_local! {
    static NEAR_CALLSITES: [std::cell::Cell<(usize, Option<Kind>)>; NEAR] =
        const { [const { std::cell::Cell::new((0, None)) }; NEAR] };
}

fn slot(key: usize) -> usize {
    (key >> 4) % NEAR
}

fn cached(meta: &'static Metadata<'static>) -> Option<Kind> {
    let k = key(meta);
    let near = NEAR_CALLSITES.try_with(|c| {
        let (at, kind) = c[slot(k)].get();
        if at == k { kind } else { None }
    });
    if let Ok(Some(kind)) = near {
        return Some(kind);
    }
    let kind = CALLSITES.read().ok().and_then(|m| m.get(&k).copied())?;
    let _ = NEAR_CALLSITES.try_with(|c| c[slot(k)].set((k, Some(kind))));
    Some(kind)
}

fn remember(meta: &'static Metadata<'static>, kind: Kind) -> Kind {
    if let Ok(mut m) = CALLSITES.write() {
        return *m.entry(key(meta)).or_insert(kind);
    }
    kind
}

fn span_kind(attrs: &span::Attributes<'_>) -> Kind {
    let meta = attrs.metadata();
    if let Some(k) = cached(meta) {
        return k;
    }
    if meta.name() == DECISION_SPAN && meta.target() == DECISION_TARGET {
        return remember(meta, Kind::Link);
    }
    if meta.name() != IMPORT_SPAN {
        return remember(meta, Kind::Other);
    }
    let mut f = FunctionField(None);
    attrs.record(&mut f);
    let iface =
        summary::interface_of_target(meta.target()).unwrap_or_else(|| meta.target().to_string());
    let func = f.0.unwrap_or_default();
    let site: &'static Site = Box::leak(Box::new(Site::new(&iface, &func)));
    remember(meta, Kind::Import(site))
}

fn event_kind(event: &Event<'_>) -> Kind {
    let meta = event.metadata();
    if let Some(k) = cached(meta) {
        return k;
    }
    let kind = if !wanted(meta) {
        // Taken only to be passed on to the embedder's subscriber.
        Kind::Other
    } else if meta.target() == DECISION_TARGET {
        Kind::Decision
    } else if meta.target().contains("::bindings::") {
        // The message is a literal per callsite: `call` or `return`.
        let mut m = MessageField(None);
        event.record(&mut m);
        match m.0.as_deref() {
            Some("call") => Kind::Call {
                args: carries_arguments(meta),
            },
            Some("return") => Kind::Return,
            _ => Kind::Other,
        }
    } else {
        Kind::Other
    };
    remember(meta, kind)
}

/// Whether a `call` event has fields besides the resource it is called on (`self_`) and its
/// own message. An argument named `message` makes a second `message` field.
fn carries_arguments(meta: &Metadata<'_>) -> bool {
    let mut messages = 0;
    for f in meta.fields() {
        match f.name() {
            "self_" => {}
            "message" => messages += 1,
            _ => return true,
        }
    }
    messages > 1
}

/// Span id of a span opened outside any audited call (never a host call of a tool).
const OUTSIDE: u64 = u64::MAX;

/// Set in the id of a [`DECISION_SPAN`] (imports number their spans below it).
const LINK_BIT: u64 = 1 << 31;

/// The next number of a span of a call: never 0 (span ids are non-zero), never [`LINK_BIT`].
fn next_number(n: u32) -> u32 {
    (n.wrapping_add(1) & (LINK_BIT as u32 - 1)).max(1)
}

/// A live [`DECISION_SPAN`]: which call and import its work belongs to.
struct Link {
    capture: Arc<CallCapture>,
    import: u64,
    /// The embedder's dispatcher when the link was made, which still gets the events.
    outer: Option<Dispatch>,
    refs: usize,
}

/// Live decision spans by id. Touched once per outgoing request (and per poll of its task),
/// never on an ordinary host call.
static LINKS: LazyLock<Mutex<HashMap<u64, Link>>> = LazyLock::new(Default::default);

fn links() -> std::sync::MutexGuard<'static, HashMap<u64, Link>> {
    LINKS.lock().unwrap_or_else(|p| p.into_inner())
}

/// What a thread had before it entered a decision span.
struct Entered {
    id: u64,
    current: Option<Arc<CallCapture>>,
    outer: Option<Dispatch>,
    target: u64,
}

/// Numbers calls, so span ids of different calls never collide.
static CALLS: AtomicU64 = AtomicU64::new(1);

/// What one call collects.
pub(crate) struct CallCapture {
    pub(crate) call: Arc<str>,
    pub(crate) tool: Arc<str>,
    head: Arc<CallHead>,
    /// This call's number in the high half of its span ids.
    ids: u64,
    state: Mutex<State>,
    tx: Sender,
    health: Arc<Health>,
}

#[derive(Default)]
struct State {
    /// Imports begun and not yet closed (one, but for an import a call is cancelled in).
    open: Vec<Open>,
    /// Host calls not yet handed to the writer.
    done: Vec<HostCallItem>,
    /// Batches handed to the writer thread.
    sent: u64,
    /// When a batch was last handed over early for a record detection watches.
    urgent_at: Option<Instant>,
    /// A batch handed to the writer thread held a record detection watches.
    sent_watched: bool,
    next: u32,
    /// Reused for the `Debug` text of arguments and results.
    scratch: String,
}

/// An import in progress.
struct Open {
    id: u64,
    refs: usize,
    site: &'static Site,
    at: Instant,
    args: Vec<(&'static str, ArgValue)>,
    outcome: Option<Cow<'static, str>>,
    decision: Option<Decision>,
    reason: Option<String>,
    /// When it handed work to a decision span (about when it returned): its duration ends
    /// there, not when that work is done.
    until: Option<Instant>,
}

impl Open {
    /// The record of this import; without a `return` event it never returned (its future was
    /// dropped when the call was cancelled or timed out).
    fn finish(self) -> HostCallItem {
        let outcome = self.outcome.unwrap_or(Cow::Borrowed("cancelled"));
        let refused = self.site.refused;
        let decision = self.decision.unwrap_or_else(|| {
            if refused.is_some() || (!self.site.reports && DENIALS.contains(&&*outcome)) {
                Decision::Deny
            } else {
                Decision::Allow
            }
        });
        let reason = match (self.reason, refused) {
            (Some(r), _) => Some(r),
            (None, Some(why)) if decision == Decision::Deny => Some(why.to_string()),
            (None, _) => None,
        };
        HostCallItem {
            site: self.site,
            at: self.at,
            us: u64::try_from(
                self.until
                    .unwrap_or_else(Instant::now)
                    .saturating_duration_since(self.at)
                    .as_micros(),
            )
            .unwrap_or(u64::MAX),
            args: self.args,
            decision,
            outcome,
            reason,
            count: 1,
            last: self.at,
        }
    }
}

impl CallCapture {
    /// The call's clock now ([`CallHead::now`]): what its `start`, `limit` and `end` records
    /// are timed by, as its host calls are.
    pub(crate) fn now(&self) -> std::time::SystemTime {
        self.head.now()
    }

    pub(crate) fn new(call: Arc<str>, tool: Arc<str>, tx: Sender, health: Arc<Health>) -> Self {
        Self {
            head: Arc::new(CallHead::new(&call, &tool)),
            call,
            tool,
            ids: CALLS.fetch_add(1, Ordering::Relaxed) << 32,
            state: Mutex::new(State {
                done: Vec::with_capacity(BATCH),
                // Sized once: grown piecewise while formatting, it cost a realloc per piece.
                scratch: String::with_capacity(MAX_RESULT.max(MAX_ARG_DEBUG) + 4),
                ..State::default()
            }),
            tx,
            health,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep recording.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn open(&self, site: &'static Site) -> u64 {
        let at = Instant::now();
        let mut st = self.state();
        st.next = next_number(st.next);
        let id = self.ids | u64::from(st.next);
        st.open.push(Open {
            id,
            refs: 1,
            site,
            at,
            args: Vec::new(),
            outcome: None,
            decision: None,
            reason: None,
            until: None,
        });
        id
    }

    /// Open a decision span for the import in progress: it stays open (its record unwritten)
    /// until the span closes, and what is decided inside the span is filed under it.
    fn link(self: &Arc<Self>) -> Option<u64> {
        let (id, import) = {
            let mut st = self.state();
            st.next = next_number(st.next);
            let id = self.ids | LINK_BIT | u64::from(st.next);
            let open = st.open.last_mut()?;
            open.refs += 1;
            open.until.get_or_insert_with(Instant::now);
            (id, open.id)
        };
        links().insert(
            id,
            Link {
                capture: self.clone(),
                import,
                outer: with_outer(Dispatch::clone),
                refs: 1,
            },
        );
        Some(id)
    }

    fn retain(&self, id: u64) {
        if let Some(o) = self.state().open.iter_mut().find(|o| o.id == id) {
            o.refs += 1;
        }
    }

    /// Drop one reference to the import `id`; at the last, record it. Whether it closed.
    fn release(&self, id: u64) -> bool {
        let full = {
            let mut st = self.state();
            let Some(i) = st.open.iter().rposition(|o| o.id == id) else {
                return false;
            };
            st.open[i].refs -= 1;
            if st.open[i].refs > 0 {
                return false;
            }
            let item = st.open.remove(i).finish();
            match Self::add_done(&mut st, item) {
                Some(full) => full,
                None => return true,
            }
        };
        self.send(full);
        true
    }

    /// Add a finished host call to the batch being built, counted into the newest item when it
    /// repeats it; the batch, when it is due at the writer.
    fn add_done(st: &mut State, item: HostCallItem) -> Option<Vec<HostCallItem>> {
        let absorbed = st.done.last_mut().is_some_and(|prev| prev.absorb(&item));
        let long_run = absorbed
            && st
                .done
                .last()
                .is_some_and(|p| p.last.saturating_duration_since(p.at) >= RUN_SPAN);
        if absorbed && !long_run {
            return None;
        }
        let watched = !absorbed && item.watched();
        let urgent = watched && st.urgent_at.is_none_or(|t| t.elapsed() >= URGENT_EVERY);
        if !absorbed {
            st.done.push(item);
        }
        if st.done.len() < BATCH && !urgent && !long_run {
            return None;
        }
        if urgent {
            st.urgent_at = Some(Instant::now());
        }
        st.sent += 1;
        st.sent_watched |= watched || st.done.iter().any(HostCallItem::watched);
        Some(std::mem::replace(&mut st.done, Vec::with_capacity(BATCH)))
    }

    /// Hand a batch of host calls to the writer.
    fn send(&self, items: Vec<HostCallItem>) {
        let sent = self.tx.send(Msg::HostCalls(HostBatch {
            head: self.head.clone(),
            items,
        }));
        if sent.is_err() {
            self.health.fail("the audit writer stopped".into());
        }
    }

    fn event(&self, kind: Kind, event: &Event<'_>) {
        let mut st = self.state();
        let State { open, scratch, .. } = &mut *st;
        // Inside a decision span the event belongs to the span's import, which need not be
        // the newest one open.
        let target = match kind {
            Kind::Decision => TARGET.try_with(std::cell::Cell::get).unwrap_or(0),
            _ => 0,
        };
        let open = if target == 0 {
            open.last_mut()
        } else {
            open.iter_mut().rfind(|o| o.id == target)
        };
        let Some(open) = open else { return };
        match kind {
            Kind::Call { args: true } => event.record(&mut ArgFields {
                args: &mut open.args,
                scratch,
            }),
            Kind::Return => {
                let mut r = ResultField {
                    outcome: None,
                    scratch,
                };
                event.record(&mut r);
                open.outcome = Some(r.outcome.unwrap_or(Cow::Borrowed("ok")));
            }
            Kind::Decision => {
                let mut d = DecisionFields::default();
                event.record(&mut d);
                if let Some(dec) = d.decision {
                    open.decision = Some(dec);
                }
                if d.reason.is_some() {
                    open.reason = d.reason;
                }
                for (name, value) in [
                    ("dest", d.dest),
                    ("addrs", d.addrs),
                    ("connected", d.connected),
                    ("secrets", d.secrets),
                    ("sensitive", d.sensitive),
                    ("echoed", d.echoed),
                    ("needs", d.needs),
                ] {
                    if let Some(v) = value.filter(|v| !v.is_empty()) {
                        set_arg(&mut open.args, name, v);
                    }
                }
            }
            Kind::Call { args: false } | Kind::Import(_) | Kind::Link | Kind::Other => {}
        }
    }

    /// The host calls done so far, handed over as one more batch; `None` when there are none.
    /// Only once the call's future is gone: an import that returned but whose decision span
    /// is still held (a refused request's `handle`, the task behind it not yet dropped) is
    /// done too, since nothing it decides can reach the guest any more.
    pub(crate) fn take_done(&self) -> Option<HostBatch> {
        let mut st = self.state();
        let open = std::mem::take(&mut st.open);
        let (returned, waiting): (Vec<Open>, Vec<Open>) =
            open.into_iter().partition(|o| o.outcome.is_some());
        st.open = waiting;
        st.done.extend(returned.into_iter().map(Open::finish));
        if st.done.is_empty() {
            return None;
        }
        st.sent += 1;
        let items = std::mem::take(&mut st.done);
        Some(HostBatch {
            head: self.head.clone(),
            items,
        })
    }

    /// An empty batch, handed over behind the earlier ones: written once they are.
    pub(crate) fn take_empty(&self) -> HostBatch {
        self.state().sent += 1;
        HostBatch {
            head: self.head.clone(),
            items: Vec::new(),
        }
    }

    /// Whether a denial or a sensitive open may not have reached the log's observers yet:
    /// one not handed to the writer (recorded, or decided by an import still waiting on its
    /// decision span), or one handed to the writer thread earlier (written is not enough: the
    /// writer tells its observers after the write, still holding the log).
    pub(crate) fn pending_urgent(&self) -> bool {
        let st = self.state();
        st.sent_watched
            || st.done.iter().any(HostCallItem::watched)
            || st.open.iter().any(|o| {
                o.decision == Some(Decision::Deny) || o.args.iter().any(|(k, _)| *k == "sensitive")
            })
    }

    /// Everything not yet handed to the writer; an import still open is recorded as
    /// `cancelled`.
    pub(crate) fn take(&self) -> HostBatch {
        let mut st = self.state();
        let open = std::mem::take(&mut st.open);
        let mut items = std::mem::take(&mut st.done);
        items.extend(open.into_iter().map(Open::finish));
        HostBatch {
            head: self.head.clone(),
            items,
        }
    }
}

/// Set `name` in a record's arguments, replacing an earlier value (a record's keys are unique).
/// The sites of host-api's quiet calls, in [`QuietCall::index`] order: the same interface and
/// function names a traced call of them would have.
static QUIET_SITES: LazyLock<[Site; QuietCall::ALL.len()]> =
    LazyLock::new(|| QuietCall::ALL.map(|c| Site::new(c.interface(), c.function())));

/// A clock or random read served without a span (host-api's [`wasmgov_host_api::quiet`]): one
/// clock read and one uncontended lock, where a traced call costs a span, two events and the
/// result's `Debug` text. It is recorded as the span path would record it (allowed, `ok`, no
/// arguments), so a run of them is one record with a count.
impl QuietRecorder for CallCapture {
    fn record(&self, call: QuietCall) {
        let Some(site) = QUIET_SITES.get(call.index()) else {
            return;
        };
        let at = Instant::now();
        let item = HostCallItem {
            site,
            at,
            us: 0,
            args: Vec::new(),
            decision: Decision::Allow,
            outcome: Cow::Borrowed("ok"),
            reason: None,
            count: 1,
            last: at,
        };
        let full = Self::add_done(&mut self.state(), item);
        if let Some(items) = full {
            self.send(items);
        }
    }
}

fn set_arg(args: &mut Vec<(&'static str, ArgValue)>, name: &'static str, value: String) {
    match args.iter_mut().find(|(k, _)| *k == name) {
        Some(slot) => slot.1 = ArgValue::Text(value),
        None => args.push((name, ArgValue::Text(value))),
    }
}

thread_local! {
    /// The import that decision events on this thread belong to, while the thread polls a
    /// decision span's work (0: the newest import open).
    static TARGET: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    /// What the thread had before each decision span it is inside.
    static ENTERED: RefCell<Vec<Entered>> = const { RefCell::new(Vec::new()) };
    /// The call whose future this thread is polling.
    static CURRENT: RefCell<Option<Arc<CallCapture>>> = const { RefCell::new(None) };
    /// The dispatcher this thread had before the call's scope (an embedder's own subscriber),
    /// which still gets the events emitted during the call.
    static OUTER: RefCell<Option<Dispatch>> = const { RefCell::new(None) };
}

fn with_outer<R>(f: impl FnOnce(&Dispatch) -> R) -> Option<R> {
    OUTER
        .try_with(|o| o.borrow().as_ref().map(f))
        .ok()
        .flatten()
}

fn with_current<R>(f: impl FnOnce(&CallCapture) -> R) -> Option<R> {
    CURRENT
        .try_with(|c| c.borrow().as_deref().map(f))
        .ok()
        .flatten()
}

/// The subscriber every audited call's future runs under. Stateless: the state is the call's.
struct Router;

static DISPATCH: LazyLock<Dispatch> = LazyLock::new(|| Dispatch::new(Router));

/// A second registered dispatcher that never receives anything and wants what the router
/// wants. tracing caches each callsite's interest when the callsite is first hit; while only
/// one dispatcher is registered it asks *the hitting thread's default* instead of the
/// registered ones (tracing-core's `has_just_one`). A callsite first hit by an unaudited call
/// (whose default wants nothing) would then be cached as "never", and its spans would be
/// missing from every audited call after it. With two registered, the interest is always the
/// router's.
struct Twin;

static TWIN: LazyLock<Dispatch> = LazyLock::new(|| Dispatch::new(Twin));

impl Subscriber for Twin {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        Router.register_callsite(meta)
    }

    fn enabled(&self, _meta: &Metadata<'_>) -> bool {
        false
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::TRACE)
    }

    fn new_span(&self, _attrs: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(OUTSIDE)
    }

    fn record(&self, _span: &span::Id, _values: &span::Record<'_>) {}

    fn record_follows_from(&self, _span: &span::Id, _follows: &span::Id) {}

    fn event(&self, _event: &Event<'_>) {}

    fn enter(&self, _span: &span::Id) {}

    fn exit(&self, _span: &span::Id) {}
}

/// Register the router (and its twin) with tracing before any call runs, audited or not, so
/// no callsite's interest is ever worked out without it.
pub(crate) fn register_router() {
    LazyLock::force(&DISPATCH);
    LazyLock::force(&TWIN);
}

impl Subscriber for Router {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if wanted(meta) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        // An event the embedder's subscriber wants is taken too, to be passed on to it. Its
        // spans are not: they are the audit's (imports) or nobody's during the call.
        wanted(meta) || (meta.is_event() && with_outer(|o| o.enabled(meta)).unwrap_or(false))
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::TRACE)
    }

    fn new_span(&self, attrs: &span::Attributes<'_>) -> span::Id {
        let id = match span_kind(attrs) {
            Kind::Import(site) => with_current(|c| c.open(site)).unwrap_or(OUTSIDE),
            Kind::Link => CURRENT
                .try_with(|c| c.borrow().clone())
                .ok()
                .flatten()
                .and_then(|c| c.link())
                .unwrap_or(OUTSIDE),
            _ => OUTSIDE,
        };
        span::Id::from_u64(id)
    }

    fn record(&self, _span: &span::Id, _values: &span::Record<'_>) {}

    fn record_follows_from(&self, _span: &span::Id, _follows: &span::Id) {}

    fn event(&self, event: &Event<'_>) {
        let kind = event_kind(event);
        if !matches!(kind, Kind::Other | Kind::Call { args: false }) {
            with_current(|c| c.event(kind, event));
        }
        with_outer(|o| {
            if o.enabled(event.metadata()) {
                o.event(event);
            }
        });
    }

    fn enter(&self, span: &span::Id) {
        let id = span.into_u64();
        if is_link(id) {
            enter_link(id);
        }
    }

    fn exit(&self, span: &span::Id) {
        if is_link(span.into_u64()) {
            exit_link(span.into_u64());
        }
    }

    fn clone_span(&self, id: &span::Id) -> span::Id {
        let n = id.into_u64();
        if is_link(n) {
            if let Some(l) = links().get_mut(&n) {
                l.refs += 1;
            }
        } else if n != OUTSIDE {
            with_current(|c| c.retain(n));
        }
        id.clone()
    }

    fn try_close(&self, id: span::Id) -> bool {
        let n = id.into_u64();
        if is_link(n) {
            return close_link(n);
        }
        n != OUTSIDE && with_current(|c| c.release(n)).unwrap_or(false)
    }
}

fn is_link(id: u64) -> bool {
    id != OUTSIDE && id & LINK_BIT != 0
}

/// The thread starts polling a decision span's work: it works for the span's call and import
/// (which may run on any thread, outside the call's own future).
fn enter_link(id: u64) {
    let (capture, import, outer) = match links().get(&id) {
        Some(l) => (l.capture.clone(), l.import, l.outer.clone()),
        None => return,
    };
    let saved = Entered {
        id,
        current: CURRENT
            .try_with(|c| c.replace(Some(capture)))
            .ok()
            .flatten(),
        outer: OUTER.try_with(|o| o.replace(outer)).ok().flatten(),
        target: TARGET.try_with(|t| t.replace(import)).unwrap_or(0),
    };
    let _ = ENTERED.try_with(|e| e.borrow_mut().push(saved));
}

/// The thread stops polling a decision span's work: back to what it had.
fn exit_link(id: u64) {
    let popped = ENTERED.try_with(|e| {
        let mut e = e.borrow_mut();
        if e.last().is_some_and(|s| s.id == id) {
            e.pop()
        } else {
            None
        }
    });
    let Some(saved) = popped.ok().flatten() else {
        return;
    };
    let _ = CURRENT.try_with(|c| c.replace(saved.current));
    let _ = OUTER.try_with(|o| o.replace(saved.outer));
    let _ = TARGET.try_with(|t| t.set(saved.target));
}

/// Drop a reference to a decision span; at the last, its import may be recorded.
fn close_link(id: u64) -> bool {
    let done = {
        let mut l = links();
        let Some(link) = l.get_mut(&id) else {
            return false;
        };
        link.refs -= 1;
        if link.refs > 0 {
            return false;
        }
        l.remove(&id)
    };
    if let Some(link) = done {
        link.capture.release(link.import);
    }
    true
}

/// A call's future with its host calls captured: every poll (and the drop, which may end an
/// import) runs with the router as dispatcher and the call as the thread's current call.
pub(crate) struct Captured<F> {
    inner: Option<Pin<Box<F>>>,
    capture: Arc<CallCapture>,
}

impl<F> Captured<F> {
    pub(crate) fn new(inner: F, capture: Arc<CallCapture>) -> Self {
        Self {
            inner: Some(Box::pin(inner)),
            capture,
        }
    }
}

/// The current call and dispatcher of this thread while it works for one call.
struct Scope {
    prev: Option<Arc<CallCapture>>,
    prev_outer: Option<Dispatch>,
    _dispatch: tracing::dispatcher::DefaultGuard,
}

impl Scope {
    fn enter(capture: &Arc<CallCapture>) -> Self {
        // The embedder's dispatcher, if any: in a nested scope, the one the outer scope kept;
        // never the no-op one.
        let outer = tracing::dispatcher::get_default(|d| {
            if d.is::<Router>() {
                with_outer(Dispatch::clone)
            } else if d.is::<tracing::subscriber::NoSubscriber>() {
                None
            } else {
                Some(d.clone())
            }
        });
        let dispatch = tracing::dispatcher::set_default(&DISPATCH);
        let prev = CURRENT
            .try_with(|c| c.replace(Some(capture.clone())))
            .ok()
            .flatten();
        let prev_outer = OUTER.try_with(|o| o.replace(outer)).ok().flatten();
        Self {
            prev,
            prev_outer,
            _dispatch: dispatch,
        }
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        let prev = self.prev.take();
        let _ = CURRENT.try_with(|c| c.replace(prev));
        let prev_outer = self.prev_outer.take();
        let _ = OUTER.try_with(|o| o.replace(prev_outer));
    }
}

impl<F: Future> Future for Captured<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        let _scope = Scope::enter(&this.capture);
        let Some(f) = this.inner.as_mut() else {
            return Poll::Pending;
        };
        let r = f.as_mut().poll(cx);
        if r.is_ready() {
            // Drop it here, inside the call's scope: whatever it still holds (an import's
            // span) closes into this call's records.
            this.inner = None;
        }
        r
    }
}

impl<F> Drop for Captured<F> {
    fn drop(&mut self) {
        let _scope = Scope::enter(&self.capture);
        self.inner.take();
    }
}

/// Reads the span's `function` field.
struct FunctionField(Option<String>);

impl Visit for FunctionField {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "function" {
            self.0 = Some(value.to_string());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "function" {
            let s = format!("{value:?}");
            self.0 = Some(s.trim_matches('"').to_string());
        }
    }
}

/// Reads an event's own message (unquoted, unlike an argument named `message`).
struct MessageField(Option<String>);

impl Visit for MessageField {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let s = format!("{value:?}");
            if !s.starts_with('"') {
                self.0 = Some(s);
            }
        }
    }
}

/// Summarises the arguments of a `call` event.
struct ArgFields<'a> {
    args: &'a mut Vec<(&'static str, ArgValue)>,
    scratch: &'a mut String,
}

impl Visit for ArgFields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let name = field.name();
        if name == "self_" {
            return;
        }
        bounded_debug_into(self.scratch, value, MAX_ARG_DEBUG);
        // The event's own message is a field named `message` too, unquoted; an argument named
        // `message` (a string) is quoted.
        if name == "message" && !self.scratch.starts_with('"') {
            return;
        }
        if let Some(v) = summary::summarize(name, self.scratch) {
            self.args.push((name, v));
        }
    }
}

/// Reads the `result` field of a `return` event and reduces it to an outcome.
struct ResultField<'a> {
    outcome: Option<Cow<'static, str>>,
    scratch: &'a mut String,
}

impl Visit for ResultField<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "result" {
            bounded_debug_into(self.scratch, value, MAX_RESULT);
            self.outcome = Some(outcome_of(self.scratch));
        }
    }
}

/// Reads host-api's decision events.
#[derive(Default)]
struct DecisionFields {
    decision: Option<Decision>,
    reason: Option<String>,
    dest: Option<String>,
    addrs: Option<String>,
    connected: Option<String>,
    secrets: Option<String>,
    sensitive: Option<String>,
    echoed: Option<String>,
    needs: Option<String>,
}

impl Visit for DecisionFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field.name(), value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let s = format!("{value:?}");
        self.set(field.name(), s.trim_matches('"'));
    }
}

impl DecisionFields {
    fn set(&mut self, name: &str, value: &str) {
        match name {
            "decision" => {
                self.decision = match value {
                    "deny" => Some(Decision::Deny),
                    "allow" => Some(Decision::Allow),
                    _ => None,
                }
            }
            "reason" => self.reason = Some(cap(value).into_owned()),
            "dest" => self.dest = Some(cap(value).into_owned()),
            "addrs" => self.addrs = Some(cap(value).into_owned()),
            "connected" => self.connected = Some(cap(value).into_owned()),
            // Secret names, never values: host-api logs only the names of what it injected.
            "secrets" => self.secrets = Some(cap(value).into_owned()),
            // The guest path of a file opened under a bind the operator marked sensitive.
            "sensitive" => self.sensitive = Some(cap(value).into_owned()),
            // Names of the secrets a response echoed (and host-api masked), never values.
            "echoed" => self.echoed = Some(cap(value).into_owned()),
            // What a refused call would have needed (`fs read /data/x`, `net https://h:443`,
            // `private 10.0.0.5`): the grant it asked for, never data.
            "needs" => self.needs = Some(cap(value).into_owned()),
            "uri" => {
                let v = value
                    .split_once('?')
                    .map_or(value.to_string(), |(p, _)| format!("{p}?<query>"));
                self.dest = Some(cap(&v).into_owned());
            }
            _ => {}
        }
    }
}
