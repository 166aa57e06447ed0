//! What of a host call's arguments and result may enter the log, read from the `Debug` text
//! `bindgen!` traces.
//!
//! `bindgen!` already prints lists (byte buffers, env lists, header values) as `"..."`. Strings
//! are printed in full, so only arguments that name *where* a call goes (paths, host names) are
//! kept; every other string is reduced to its length, and a query string is cut from a URL
//! path. Results are never logged, only their outcome.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Longest argument summary kept.
pub(crate) const MAX_ARG: usize = 256;
/// Most debug text read of one argument (strings longer than this are summarised as "at least").
pub(crate) const MAX_ARG_DEBUG: usize = 4096;
/// Most debug text read of a result: enough to find the first error code.
pub(crate) const MAX_RESULT: usize = 512;

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
pub(crate) const DENIALS: &[&str] = &[
    "not-permitted",
    "access",
    "access-denied",
    "read-only",
    "http-request-denied",
];

/// One argument as the log shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgValue {
    /// Kept text: a path, a host, a number, an enum case.
    Text(String),
    /// A string that carries content: only its size is logged (`more` when it was longer than
    /// what was read of it).
    Size {
        /// Bytes of the string.
        bytes: usize,
        /// The string was longer than this.
        more: bool,
    },
}

impl std::fmt::Display for ArgValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Text(t) => f.write_str(t),
            Self::Size { bytes, more: false } => write!(f, "<{bytes} bytes>"),
            Self::Size { bytes, more: true } => write!(f, "<more than {bytes} bytes>"),
        }
    }
}

/// `format!("{value:?}")` into `out` (cleared first), stopping after `limit` bytes or the first
/// newline: a host error's debug text may carry a backtrace that is slow to resolve and says
/// nothing the log needs.
pub fn bounded_debug_into(out: &mut String, value: &dyn std::fmt::Debug, limit: usize) {
    struct Bounded<'a> {
        s: &'a mut String,
        limit: usize,
    }
    impl std::fmt::Write for Bounded<'_> {
        fn write_str(&mut self, part: &str) -> std::fmt::Result {
            let room = self.limit.saturating_sub(self.s.len());
            let stop = part.bytes().position(|b| b == b'\n').unwrap_or(part.len());
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
    out.clear();
    let _ = write!(Bounded { s: out, limit }, "{value:?}");
}

/// [`bounded_debug_into`] a new string.
pub fn bounded_debug(value: &dyn std::fmt::Debug, limit: usize) -> String {
    let mut s = String::new();
    bounded_debug_into(&mut s, value, limit);
    s
}

/// The summary of one argument from its debug text, or `None` when it says nothing worth
/// logging.
pub fn summarize(name: &str, debug: &str) -> Option<ArgValue> {
    // Lists were elided by bindgen; resource handles mean nothing outside the call.
    let inner = debug.strip_prefix("Some(").unwrap_or(debug);
    if debug == "\"...\"" || inner.starts_with("Resource") {
        return None;
    }
    let Some(quoted) = inner.strip_prefix('"') else {
        return Some(ArgValue::Text(cap(debug).into_owned()));
    };
    // A string; without its closing quote it was longer than we read.
    let (text, whole) = match quoted.strip_suffix("\")").or(quoted.strip_suffix('"')) {
        Some(t) => (t, true),
        None => (quoted, false),
    };
    if !LOCATION_ARGS.contains(&name) {
        return Some(ArgValue::Size {
            bytes: unescaped_len(text),
            more: !whole,
        });
    }
    let text: Cow<'_, str> = if name == "path_with_query" {
        match text.split_once('?') {
            Some((p, _)) => format!("{p}?<query>").into(),
            None => text.into(),
        }
    } else {
        text.into()
    };
    let capped = cap(&text);
    Some(ArgValue::Text(if whole {
        capped.into_owned()
    } else {
        format!("{capped}…")
    }))
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

/// `s`, cut to [`MAX_ARG`] bytes at a character boundary (with `…` when cut).
pub(crate) fn cap(s: &str) -> Cow<'_, str> {
    if s.len() <= MAX_ARG {
        return s.into();
    }
    let mut cut = MAX_ARG;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &s[..cut]).into()
}

/// `ok`, `elided` (the result holds data), or the name of the first error in the debug text of
/// a result: `Ok(Err(NotPermitted))` → `not-permitted`, and wasmtime-wasi's trappable errors
/// `Err(not-permitted (error 31))` → `not-permitted`. A host failure that is not an error code
/// (it traps the tool) is `trap`.
pub fn outcome_of(debug: &str) -> Cow<'static, str> {
    if debug == "\"...\"" {
        return "elided".into();
    }
    // A byte scan: this runs for every host call, and most results hold no `E` at all.
    let Some(at) = (0..debug.len())
        .find(|&i| debug.as_bytes()[i] == b'E' && debug.as_bytes()[i..].starts_with(b"Err("))
    else {
        return "ok".into();
    };
    let rest = &debug[at + 4..];
    // A WIT `result<_>` with no error payload (`outgoing-request.body`, `set-authority`, …):
    // the function said no, nothing trapped.
    if rest.starts_with("())") {
        return "err".into();
    }
    // wasmtime-wasi's `TrappableError` prints the code's Display: `not-permitted (error 31)`.
    let kebab_len = rest
        .bytes()
        .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        .count();
    if kebab_len > 0 && rest[kebab_len..].starts_with(" (error ") {
        return rest[..kebab_len].to_string().into();
    }
    let ident_len = rest
        .bytes()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b':')
        .count();
    let ident = &rest[..ident_len];
    let last = ident.rsplit("::").next().unwrap_or("");
    let after = &rest[ident_len..];
    // `Err(ErrorCode::Foo)`, `Err(Foo)`, `Err(Foo(..))` name a code.
    // A trappable error's `Debug` (`wasmtime::Error`) adds its backtrace on new lines after the
    // code when RUST_BACKTRACE is set, and the text is cut at the first line break: the code is
    // still the code.
    let is_code = last.starts_with(|c: char| c.is_ascii_uppercase())
        && (after.is_empty() || after.starts_with(')') || after.starts_with('('))
        && last != "Error";
    if is_code {
        kebab(last).into()
    } else {
        "trap".into()
    }
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
        assert_eq!(outcome_of("Ok(Err(()))"), "err", "a refusal without a code");
        assert_eq!(
            outcome_of("Err(HeaderError::Forbidden"),
            "forbidden",
            "a backtrace does not hide the code"
        );
    }

    #[test]
    fn only_location_strings_are_kept() {
        let text = |s: &str| Some(ArgValue::Text(s.into()));
        assert_eq!(summarize("path", "\"a/b.txt\""), text("a/b.txt"));
        assert_eq!(
            summarize("message", "\"sk-live-secret\""),
            Some(ArgValue::Size {
                bytes: 14,
                more: false
            })
        );
        assert_eq!(
            summarize("path_with_query", "Some(\"/v1?token=abc\")"),
            text("/v1?<query>")
        );
        assert_eq!(summarize("contents", "\"...\""), None);
        assert_eq!(summarize("len", "4096"), text("4096"));
        let more = summarize("value", "\"sk-live-0123456789").map(|v| v.to_string());
        assert_eq!(more.as_deref(), Some("<more than 18 bytes>"));
    }

    #[test]
    fn debug_text_stops_at_the_limit_and_the_first_newline() {
        assert_eq!(bounded_debug(&"abcdef", 4), "\"abc");
        let mut s = String::from("old");
        bounded_debug_into(&mut s, &format_args!("one\ntwo"), 100);
        assert_eq!(s, "one");
    }
}
