//! Capture of every host call from the TRACE spans that `bindgen!` puts around each import.
//!
//! wasmtime-wasi, wasmtime-wasi-http and our own `wasmgov:tool/host` bindings are generated
//! with the `tracing` flag: every import call opens a span named `wit-bindgen import` (target =
//! the module path of the generated interface, e.g. `…::wasi::filesystem::types`), emits a
//! `call` event with the arguments and a `return` event with the result. This layer turns each
//! such span into one `host-call` record.
//!
//! What it guards against:
//! - *silent gaps*: the layer is attached to the call's future with `WithSubscriber`, not as a
//!   global subscriber, so an embedder's own tracing setup can neither hide nor steal the
//!   spans. A change of the span name, fields or targets in a wasmtime upgrade is caught by the
//!   golden test in `tests/all/audit.rs`.
//! - *leaks into the log*: `bindgen!` already prints lists (byte buffers, env lists, header
//!   values) as `"..."`. Strings are printed in full, so only arguments that name *where* a call
//!   goes (paths, host names) are kept; every other string is reduced to its length, and a
//!   query string is cut from a URL path. Results are never logged, only their outcome.
//! - *unbounded memory*: records are handed to the writer in batches through a bounded channel;
//!   when the disk is slower than the tool, the tool waits.

use std::fmt::Write as _;
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use tracing::field::{Field, Visit};
use tracing::span;
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use super::record::{Args, Body, Decision, HostCall, Pending};
use super::writer::{BATCH, Msg};

/// The span name `bindgen!` gives every traced import (wasmtime 48).
pub const IMPORT_SPAN: &str = "wit-bindgen import";
/// The span wasmgov opens around one call; its extensions hold the call's [`CallCapture`].
pub const CALL_SPAN: &str = "wasmgov.call";
/// Target of the call span.
pub const CALL_TARGET: &str = "wasmgov::audit";
/// Target of the decision events host-api emits inside an import (`decision`, `reason`, …).
pub const DECISION_TARGET: &str = "wasmgov::net";

/// Module-path prefixes of the generated bindings whose spans are host calls.
pub const BINDING_TARGETS: &[&str] = &[
    "wasmtime_wasi::",
    "wasmtime_wasi_io::",
    "wasmtime_wasi_http::",
    "wasmgov_host_api::bindings::",
];

/// Longest argument summary kept.
const MAX_ARG: usize = 256;
/// Most debug text read of one argument (strings longer than this are summarised as "at least").
const MAX_ARG_DEBUG: usize = 4096;
/// Most debug text read of a result: enough to find the first error code.
const MAX_RESULT: usize = 512;

/// Strings kept verbatim: they say where a call goes, not what it carries.
const LOCATION_ARGS: &[&str] = &[
    "path",
    "old_path",
    "new_path",
    "name",
    "authority",
    "scheme",
    "method",
    "path_with_query",
];

/// Error codes that mean the grant refused the call.
const DENIALS: &[&str] = &[
    "not-permitted",
    "access",
    "access-denied",
    "read-only",
    "http-request-denied",
];

/// Map a binding's module path to its interface: `…::wasi::filesystem::types` →
/// `wasi:filesystem/types`; `…::wasi::cli::terminal_stdout` → `wasi:cli/terminal-stdout`.
pub fn interface_of_target(target: &str) -> Option<String> {
    let mut it = target.rsplit("::");
    let iface = it.next()?;
    let pkg = it.next()?;
    let ns = it.next()?;
    Some(format!(
        "{}:{}/{}",
        ns.replace('_', "-"),
        pkg.replace('_', "-"),
        iface.replace('_', "-")
    ))
}

fn is_binding(target: &str) -> bool {
    BINDING_TARGETS.iter().any(|p| target.starts_with(p))
}

fn wanted(meta: &Metadata<'_>) -> bool {
    if meta.is_span() {
        (meta.name() == IMPORT_SPAN && is_binding(meta.target()))
            || (meta.name() == CALL_SPAN && meta.target() == CALL_TARGET)
    } else {
        meta.target() == DECISION_TARGET || is_binding(meta.target())
    }
}

/// What one call collects; lives in the call span's extensions and in the runtime's hands.
pub(crate) struct CallCapture {
    pub(crate) call: Arc<str>,
    pub(crate) tool: Arc<str>,
    buf: Mutex<Vec<Pending>>,
    tx: SyncSender<Msg>,
}

impl CallCapture {
    pub(crate) fn new(call: Arc<str>, tool: Arc<str>, tx: SyncSender<Msg>) -> Self {
        Self {
            call,
            tool,
            buf: Mutex::new(Vec::with_capacity(BATCH)),
            tx,
        }
    }

    fn push(&self, p: Pending) {
        let full = {
            let Ok(mut buf) = self.buf.lock() else {
                return;
            };
            buf.push(p);
            if buf.len() < BATCH {
                return;
            }
            std::mem::replace(&mut *buf, Vec::with_capacity(BATCH))
        };
        // Blocks while the writer is behind: back-pressure, never loss. A send fails only when
        // the writer is gone, and then the sink is marked failed by the runtime.
        let _ = self.tx.send(Msg::Records(full));
    }

    /// Everything not yet handed to the writer.
    pub(crate) fn take(&self) -> Vec<Pending> {
        self.buf
            .lock()
            .map(|mut b| std::mem::take(&mut *b))
            .unwrap_or_default()
    }
}

/// The per-import state kept in the import span's extensions.
struct Open {
    iface: Arc<str>,
    func: Arc<str>,
    ts: SystemTime,
    t0: Instant,
    args: Args,
    outcome: Option<String>,
    decision: Option<Decision>,
    reason: Option<String>,
}

/// An import callsite's (interface, function).
type Names = (Arc<str>, Arc<str>);

/// The layer. One per [`super::Audit`]; its only state is a cache of each import callsite's
/// interface and function names (fixed per callsite), so a host call allocates no names.
#[derive(Default)]
pub(crate) struct AuditLayer {
    names: std::sync::RwLock<std::collections::HashMap<usize, Names>>,
}

impl AuditLayer {
    fn names(&self, attrs: &span::Attributes<'_>) -> (Arc<str>, Arc<str>) {
        let meta = attrs.metadata();
        let key = std::ptr::from_ref(meta) as usize;
        if let Some(n) = self.names.read().ok().and_then(|m| m.get(&key).cloned()) {
            return n;
        }
        let mut f = FunctionField(None);
        attrs.record(&mut f);
        let iface: Arc<str> = interface_of_target(meta.target())
            .unwrap_or_else(|| meta.target().to_string())
            .into();
        let n = (iface, Arc::from(f.0.unwrap_or_default()));
        if let Ok(mut m) = self.names.write() {
            m.insert(key, n.clone());
        }
        n
    }
}

impl<S> Layer<S> for AuditLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if wanted(meta) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, meta: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        wanted(meta)
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let meta = attrs.metadata();
        if meta.name() != IMPORT_SPAN {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let (iface, func) = self.names(attrs);
        span.extensions_mut().insert(Open {
            iface,
            func,
            ts: SystemTime::now(),
            t0: Instant::now(),
            args: Args::default(),
            outcome: None,
            decision: None,
            reason: None,
        });
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.event_span(event) else {
            return;
        };
        let meta = event.metadata();
        let mut ext = span.extensions_mut();
        let Some(open) = ext.get_mut::<Open>() else {
            return;
        };
        if meta.target() == DECISION_TARGET {
            let mut d = DecisionFields::default();
            event.record(&mut d);
            if let Some(dec) = d.decision {
                open.decision = Some(dec);
            }
            if d.reason.is_some() {
                open.reason = d.reason;
            }
            if let Some(dest) = d.dest {
                open.args.0.push(("dest", dest));
            }
            return;
        }
        if meta.fields().field("result").is_some() {
            let mut r = ResultField(None);
            event.record(&mut r);
            open.outcome = Some(r.0.unwrap_or_else(|| "ok".into()));
        } else {
            let mut a = ArgFields::default();
            event.record(&mut a);
            if a.is_call {
                open.args.0.extend(a.args);
            }
        }
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(open) = span.extensions_mut().remove::<Open>() else {
            return;
        };
        let Some(capture) = span
            .scope()
            .skip(1)
            .find_map(|s| s.extensions().get::<Arc<CallCapture>>().cloned())
        else {
            return;
        };
        let outcome = open.outcome.unwrap_or_else(|| "cancelled".into());
        let decision = open.decision.unwrap_or_else(|| {
            if DENIALS.contains(&outcome.as_str()) {
                Decision::Deny
            } else {
                Decision::Allow
            }
        });
        let us = u64::try_from(open.t0.elapsed().as_micros()).unwrap_or(u64::MAX);
        capture.push(Pending {
            ts: open.ts,
            call: capture.call.clone(),
            tool: capture.tool.clone(),
            body: Body::HostCall(Box::new(HostCall {
                iface: open.iface,
                func: open.func,
                args: open.args,
                decision,
                outcome,
                reason: open.reason,
                us,
            })),
        });
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

/// Summarises the arguments of a `call` event. Other events inside an import (wasmtime-wasi's
/// own debug messages) are not arguments and are ignored.
#[derive(Default)]
struct ArgFields {
    args: Vec<(&'static str, String)>,
    is_call: bool,
}

impl Visit for ArgFields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let name = field.name();
        if name == "self_" {
            return;
        }
        let s = bounded_debug(value, MAX_ARG_DEBUG);
        // The event's own message is a field named `message` too, unquoted; an argument named
        // `message` (a string) is quoted.
        if name == "message" && !s.starts_with('"') {
            self.is_call = s == "call";
            return;
        }
        if let Some(v) = summarize(name, &s) {
            self.args.push((name, v));
        }
    }
}

/// `format!("{value:?}")`, but stopping after `limit` bytes or the first newline: a host error's
/// debug text may carry a backtrace that is slow to resolve and says nothing the log needs.
pub fn bounded_debug(value: &dyn std::fmt::Debug, limit: usize) -> String {
    struct Bounded {
        s: String,
        limit: usize,
    }
    impl std::fmt::Write for Bounded {
        fn write_str(&mut self, part: &str) -> std::fmt::Result {
            let room = self.limit.saturating_sub(self.s.len());
            let stop = part.find('\n').unwrap_or(part.len());
            let mut take = stop.min(room);
            while !part.is_char_boundary(take) {
                take -= 1;
            }
            self.s.push_str(&part[..take]);
            if take < part.len() {
                return Err(std::fmt::Error);
            }
            Ok(())
        }
    }
    let mut b = Bounded {
        s: String::new(),
        limit,
    };
    let _ = write!(b, "{value:?}");
    b.s
}

/// The summary of one argument, or `None` when it says nothing worth logging.
pub fn summarize(name: &str, debug: &str) -> Option<String> {
    // Lists were elided by bindgen; resource handles mean nothing outside the call.
    let inner = debug.strip_prefix("Some(").unwrap_or(debug);
    if debug == "\"...\"" || inner.starts_with("Resource") {
        return None;
    }
    if let Some(quoted) = inner.strip_prefix('"') {
        // A string; without its closing quote it was longer than we read.
        let (text, whole) = match quoted.strip_suffix("\")").or(quoted.strip_suffix('"')) {
            Some(t) => (t, true),
            None => (quoted, false),
        };
        if !LOCATION_ARGS.contains(&name) {
            let more = if whole { "" } else { "more than " };
            return Some(format!("<{more}{} bytes>", unescaped_len(text)));
        }
        let text = if name == "path_with_query" {
            match text.split_once('?') {
                Some((p, _)) => format!("{p}?<query>"),
                None => text.to_string(),
            }
        } else {
            text.to_string()
        };
        return Some(if whole {
            cap(&text)
        } else {
            format!("{}…", cap(&text))
        });
    }
    Some(cap(debug))
}

/// Length of a Rust-debug-escaped string's content, near enough for a size summary.
fn unescaped_len(text: &str) -> usize {
    let mut n = 0;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('u') => {
                    for c in chars.by_ref() {
                        if c == '}' {
                            break;
                        }
                    }
                    n += 1;
                }
                _ => n += 1,
            }
        } else {
            n += c.len_utf8();
        }
    }
    n
}

fn cap(s: &str) -> String {
    if s.len() <= MAX_ARG {
        return s.to_string();
    }
    let mut cut = MAX_ARG;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &s[..cut])
}

/// Reads the `result` field of a `return` event and reduces it to an outcome.
struct ResultField(Option<String>);

impl Visit for ResultField {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "result" {
            self.0 = Some(outcome_of(&bounded_debug(value, MAX_RESULT)));
        }
    }
}

/// `ok`, `elided` (the result holds data), or the name of the first error in the debug text of
/// a result: `Ok(Err(NotPermitted))` → `not-permitted`, and wasmtime-wasi's trappable errors
/// `Err(not-permitted (error 31))` → `not-permitted`. A host failure that is not an error code
/// (it traps the tool) is `trap`.
pub fn outcome_of(debug: &str) -> String {
    if debug == "\"...\"" {
        return "elided".into();
    }
    let Some(at) = debug.find("Err(") else {
        return "ok".into();
    };
    let rest = &debug[at + 4..];
    // wasmtime-wasi's `TrappableError` prints the code's Display: `not-permitted (error 31)`.
    let kebab_code: String = rest
        .chars()
        .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
        .collect();
    if !kebab_code.is_empty() && rest[kebab_code.len()..].starts_with(" (error ") {
        return kebab_code;
    }
    let ident: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
        .collect();
    let last = ident.rsplit("::").next().unwrap_or("");
    let after = &rest[ident.len()..];
    // `Err(ErrorCode::Foo)`, `Err(Foo)`, `Err(Foo(..))` name a code.
    let is_code = last.starts_with(|c: char| c.is_ascii_uppercase())
        && (after.starts_with(')') || after.starts_with('('))
        && last != "Error";
    if is_code { kebab(last) } else { "trap".into() }
}

fn kebab(camel: &str) -> String {
    let mut s = String::with_capacity(camel.len() + 4);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                s.push('-');
            }
            s.push(c.to_ascii_lowercase());
        } else {
            s.push(c);
        }
    }
    s
}

/// Reads host-api's decision events.
#[derive(Default)]
struct DecisionFields {
    decision: Option<Decision>,
    reason: Option<String>,
    dest: Option<String>,
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
            "reason" => self.reason = Some(cap(value)),
            "dest" => self.dest = Some(cap(value)),
            "uri" => {
                let v = value
                    .split_once('?')
                    .map_or(value.to_string(), |(p, _)| format!("{p}?<query>"));
                self.dest = Some(cap(&v));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_map_to_full_interface_names() {
        assert_eq!(
            interface_of_target("wasmtime_wasi::p2::bindings::async_io::wasi::filesystem::types")
                .as_deref(),
            Some("wasi:filesystem/types")
        );
        assert_eq!(
            interface_of_target("wasmtime_wasi::p2::bindings::sync::wasi::cli::terminal_stdout")
                .as_deref(),
            Some("wasi:cli/terminal-stdout")
        );
        assert_eq!(
            interface_of_target("wasmgov_host_api::bindings::wasmgov::tool::host").as_deref(),
            Some("wasmgov:tool/host")
        );
    }

    #[test]
    fn outcomes_name_the_error_code() {
        assert_eq!(outcome_of("Ok(())"), "ok");
        assert_eq!(outcome_of("\"...\""), "elided");
        assert_eq!(outcome_of("Err(NotPermitted)"), "not-permitted");
        assert_eq!(
            outcome_of("Ok(Err(ErrorCode::AccessDenied))"),
            "access-denied"
        );
        assert_eq!(
            outcome_of("Some(Ok(Err(HttpRequestDenied)))"),
            "http-request-denied"
        );
        assert_eq!(
            outcome_of("Err(ConnectionRefused(Some(3)))"),
            "connection-refused"
        );
        assert_eq!(outcome_of("Err(host failed for some reason)"), "trap");
        assert_eq!(outcome_of("Err(not-permitted (error 31)"), "not-permitted");
        assert_eq!(outcome_of("Ok(Err(Closed))"), "closed");
    }

    #[test]
    fn only_location_strings_are_kept() {
        assert_eq!(summarize("path", "\"a/b.txt\"").as_deref(), Some("a/b.txt"));
        assert_eq!(
            summarize("message", "\"sk-live-secret\"").as_deref(),
            Some("<14 bytes>")
        );
        assert_eq!(
            summarize("path_with_query", "Some(\"/v1?token=abc\")").as_deref(),
            Some("/v1?<query>")
        );
        assert_eq!(summarize("contents", "\"...\""), None);
        assert_eq!(summarize("len", "4096").as_deref(), Some("4096"));
        assert_eq!(
            summarize("value", "\"sk-live-0123456789").as_deref(),
            Some("<more than 18 bytes>")
        );
    }
}
