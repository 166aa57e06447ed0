//! `audit show`: read a log's records, filter them, and lay them out for people.
//!
//! Reading never trusts the log: unparsable lines are reported, not skipped silently, and
//! nothing is printed that the record does not hold. Run `audit verify` to know whether the
//! records are genuine.

use std::io::BufRead;

use serde_json::Value;

/// Which records to show.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Tool name (`name` or `name@version`).
    pub tool: Option<String>,
    /// Call id, or a prefix of it.
    pub call: Option<String>,
    /// Only host calls with this decision (`allow` or `deny`).
    pub decision: Option<String>,
    /// Only records of this kind.
    pub kind: Option<String>,
}

impl Filter {
    /// Whether `r` passes.
    pub fn matches(&self, r: &Value) -> bool {
        let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("");
        if let Some(t) = &self.tool {
            let tool = s("tool");
            if tool != t && tool.split('@').next() != Some(t.as_str()) {
                return false;
            }
        }
        if let Some(c) = &self.call
            && !s("call").starts_with(c.as_str())
        {
            return false;
        }
        if let Some(d) = &self.decision
            && (s("kind") != "host-call" || s("decision") != d)
        {
            return false;
        }
        if let Some(k) = &self.kind
            && s("kind") != k
        {
            return false;
        }
        true
    }
}

/// Hand every record of `r` that passes `filter` to `f`, in order, as (the line as written, its
/// parsed form), one at a time: a log of any size streams through. A line that is not JSON is
/// an error naming it; so is an error `f` returns.
pub fn for_each(
    mut r: impl BufRead,
    filter: &Filter,
    mut f: impl FnMut(String, Value) -> Result<(), String>,
) -> Result<(), String> {
    let mut buf = Vec::new();
    for i in 1u64.. {
        let n = super::record::read_line_capped(&mut r, &mut buf)
            .map_err(|e| format!("line {i}: {e}"))?;
        if n == 0 {
            break;
        }
        if buf.len() > super::record::MAX_LINE {
            return Err(format!(
                "line {i}: longer than {} MiB: not a record",
                super::record::MAX_LINE >> 20
            ));
        }
        let text = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        let line = String::from_utf8(text.to_vec())
            .map_err(|_| format!("line {i}: not UTF-8: not a record"))?;
        if line.is_empty() {
            continue;
        }
        let v: Value =
            serde_json::from_str(&line).map_err(|e| format!("line {i}: not a record: {e}"))?;
        if filter.matches(&v) {
            f(line, v)?;
        }
    }
    Ok(())
}

/// The column titles.
const HEADER: [&str; 7] = ["SEQ", "TIME", "CALL", "TOOL", "EVENT", "DECISION", "DETAIL"];

/// One record as a table row: its call id and its seven cells.
pub fn row(r: &Value) -> (String, [String; 7]) {
    let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let n = |k: &str| r.get(k).and_then(Value::as_u64).unwrap_or(0);
    let call = s("call");
    let kind = s("kind");
    let (event, decision, detail) = match kind.as_str() {
        "host-call" => {
            let args = r
                .get("args")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("?")))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            let mut detail = format!("{} {}", s("func"), args).trim().to_string();
            // A run of identical calls as one record:
            // `now ×1000 -> ok (812 µs in all, last 20:51:03.125)`.
            match r.get("count").and_then(Value::as_u64) {
                Some(c) if c > 1 => {
                    let last = s("ts_last");
                    detail.push_str(&format!(
                        " ×{c} -> {} ({} µs in all, last {})",
                        s("outcome"),
                        n("us"),
                        last.get(11..23).unwrap_or(&last)
                    ))
                }
                _ => detail.push_str(&format!(" -> {} ({} µs)", s("outcome"), n("us"))),
            }
            if let Some(reason) = r.get("reason").and_then(Value::as_str) {
                detail.push_str(&format!(" [{reason}]"));
            }
            (s("iface"), s("decision"), detail)
        }
        "load" => {
            let mut d = format!("component {}", short(&s("component_sha256")));
            match r.get("signer").and_then(Value::as_str) {
                Some(fp) => d.push_str(&format!(", signed by {fp}")),
                None if r.get("unsigned").and_then(Value::as_bool) == Some(true) => {
                    d.push_str(", UNSIGNED manifest (--allow-unsigned)")
                }
                None if r.get("manifest_sha256").is_none() => d.push_str(", no manifest"),
                None => {}
            }
            d.push_str(&format!(", policy {}", short(&s("policy_sha256"))));
            ("load".into(), String::new(), d)
        }
        "start" => {
            let mut d = format!(
                "{} input {} bytes sha256 {}",
                s("action"),
                n("input_size"),
                short(&s("input_sha256"))
            );
            if let Some(c) = r.get("caller").and_then(Value::as_str) {
                d.push_str(&format!(", caller {c}"));
            }
            // Where it came from: `via stdio mcp-request 7 client claude/1.0 …`.
            if let Some(ctx) = r.get("context").and_then(Value::as_object) {
                let mut via = Vec::new();
                if let Some(t) = ctx.get("transport").and_then(Value::as_str) {
                    via.push(t.to_owned());
                }
                for (k, v) in ctx {
                    if k != "transport" {
                        via.push(format!("{k} {}", v.as_str().unwrap_or_default()));
                    }
                }
                d.push_str(&format!(", via {}", via.join(" ")));
            }
            ("start".into(), String::new(), d)
        }
        "limit" => (
            "limit".into(),
            String::new(),
            format!("{}: limit {}, used {}", s("which"), n("limit"), n("used")),
        ),
        "end" => (
            "end".into(),
            String::new(),
            format!(
                "{} (exit {}) fuel {} memory {} host calls {} output {} in {} µs",
                s("outcome"),
                r.get("exit").and_then(Value::as_i64).unwrap_or(0),
                n("fuel"),
                n("peak_memory"),
                n("host_calls"),
                n("output"),
                n("us")
            ),
        ),
        "finding" => {
            let evidence: Vec<String> = r
                .get("evidence")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_u64)
                        .map(|n| n.to_string())
                        .collect()
                })
                .unwrap_or_default();
            let mut d = format!(
                "{} {} -> {}: {}",
                s("severity"),
                s("rule"),
                s("action"),
                s("message")
            );
            if !evidence.is_empty() {
                d.push_str(&format!(" (evidence seq {})", evidence.join(",")));
            }
            if let Some(q) = r.get("quarantined").and_then(Value::as_str) {
                d.push_str(&format!("; quarantined `{q}`"));
            }
            ("finding".into(), String::new(), d)
        }
        "release" => (
            "release".into(),
            String::new(),
            format!(
                "`{}` released by {} (quarantined by {})",
                s("key"),
                s("by"),
                s("rule")
            ),
        ),
        "checkpoint" => (
            "checkpoint".into(),
            String::new(),
            format!("head {} signed by {}", short(&s("head")), s("key")),
        ),
        other => (other.to_string(), String::new(), String::new()),
    };
    let ts = s("ts");
    let time = ts.get(11..23).unwrap_or(&ts).to_string();
    let cells = [
        n("seq").to_string(),
        time,
        short(&call),
        s("tool"),
        event,
        decision,
        detail,
    ]
    .map(|c| printable(&c));
    (call, cells)
}

/// `s` with every control character written as an escape (`\u{1b}`, `\n`): a path a tool
/// opened or a client name an MCP client sent is shown, never interpreted by the terminal.
pub fn printable(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_owned();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Lays rows out in columns once their widths are known (`fit` every row first, then `line`
/// each), with a blank line between calls. Two passes over a log, so a log of any size
/// streams through.
#[derive(Debug, Clone)]
pub struct Layout {
    widths: [usize; 6],
    last_call: Option<String>,
}

impl Default for Layout {
    fn default() -> Self {
        let mut widths = [0; 6];
        for (w, h) in widths.iter_mut().zip(HEADER) {
            *w = h.chars().count();
        }
        Self {
            widths,
            last_call: None,
        }
    }
}

impl Layout {
    /// Widen the columns to hold `cells`.
    pub fn fit(&mut self, cells: &[String; 7]) {
        for (w, c) in self.widths.iter_mut().zip(cells.iter()) {
            *w = (*w).max(c.chars().count());
        }
    }

    /// The title line.
    pub fn header(&self) -> String {
        self.cells(&HEADER.map(String::from))
    }

    /// The line of a row of call `call` (after a blank line when the call changed).
    pub fn line(&mut self, call: &str, cells: &[String; 7]) -> String {
        let brk = self.last_call.as_deref().is_some_and(|l| l != call);
        self.last_call = Some(call.to_string());
        let line = self.cells(cells);
        if brk { format!("\n{line}") } else { line }
    }

    fn cells(&self, cells: &[String; 7]) -> String {
        let mut out = String::new();
        for (w, c) in self.widths.iter().zip(cells.iter()) {
            out.push_str(c);
            for _ in c.chars().count()..=*w {
                out.push(' ');
            }
        }
        out.push_str(&cells[6]);
        out.truncate(out.trim_end().len());
        out.push('\n');
        out
    }
}

/// A table of `records` for a terminal: one line per record, calls separated by a blank line.
pub fn table(records: &[(String, Value)]) -> String {
    let rows: Vec<(String, [String; 7])> = records.iter().map(|(_, r)| row(r)).collect();
    let mut layout = Layout::default();
    for (_, cells) in &rows {
        layout.fit(cells);
    }
    let mut out = layout.header();
    for (call, cells) in &rows {
        out.push_str(&layout.line(call, cells));
    }
    out
}

fn short(s: &str) -> String {
    s.chars().take(12).collect()
}

#[cfg(test)]
mod printable_tests {
    use super::*;

    #[test]
    fn control_characters_from_tools_and_clients_are_shown_escaped() {
        let r = serde_json::json!({
            "seq": 1, "ts": "2026-12-02T00:00:00.000000Z", "call": "01ABC", "kind": "host-call",
            "tool": "t@1", "iface": "wasi:filesystem/types", "func": "open-at",
            "args": {"path": "a\u{1b}[2J\nb"}, "decision": "allow", "outcome": "ok", "us": 1
        });
        let (_, cells) = row(&r);
        assert!(cells[6].contains("a\\u{1b}[2J\\nb"), "{}", cells[6]);
        assert!(!cells.iter().any(|c| c.chars().any(char::is_control)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_aligns_columns_and_separates_calls() {
        let rec = |seq: u64, call: &str, kind: &str| {
            let v = serde_json::json!({"seq": seq, "ts": "2026-11-26T02:52:03.977123Z",
                "call": call, "tool": "t@1", "kind": kind, "iface": "wasi:clocks/monotonic-clock",
                "func": "now", "decision": "allow", "outcome": "ok", "us": 1});
            (v.to_string(), v)
        };
        let t = table(&[
            rec(0, "A", "start"),
            rec(1, "A", "host-call"),
            rec(2, "B", "start"),
        ]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 5, "{t}");
        assert!(lines[0].starts_with("SEQ TIME"), "{t}");
        assert_eq!(lines[3], "", "a blank line between calls: {t}");
        // Every row's EVENT column starts where the header's does.
        let at = lines[0].find("EVENT").unwrap_or(0);
        assert_eq!(lines[2].find("wasi:clocks"), Some(at), "{t}");
        assert!(lines[2].ends_with("now -> ok (1 µs)"), "{t}");
    }

    #[test]
    fn a_run_of_identical_calls_shows_its_count_total_and_last_time() {
        let r = serde_json::json!({"seq": 3, "ts": "2026-12-02T00:00:00.000100Z",
            "call": "A", "tool": "t@1", "kind": "host-call", "iface": "wasi:clocks/monotonic-clock",
            "func": "now", "decision": "allow", "outcome": "ok", "count": 1000,
            "ts_last": "2026-12-02T00:00:01.250100Z", "us": 812});
        let (_, cells) = row(&r);
        assert_eq!(
            cells[6],
            "now ×1000 -> ok (812 µs in all, last 00:00:01.250)"
        );
    }

    #[test]
    fn filters_by_tool_call_prefix_and_decision() {
        let r: Value = serde_json::json!({"tool":"grep-files@1.0.0","call":"01ABC","kind":"host-call","decision":"deny"});
        let f = |tool: Option<&str>, call: Option<&str>, d: Option<&str>| Filter {
            tool: tool.map(Into::into),
            call: call.map(Into::into),
            decision: d.map(Into::into),
            kind: None,
        };
        assert!(f(Some("grep-files"), None, None).matches(&r));
        assert!(f(Some("grep-files@1.0.0"), Some("01A"), Some("deny")).matches(&r));
        assert!(!f(Some("grep"), None, None).matches(&r));
        assert!(!f(None, Some("02"), None).matches(&r));
        assert!(!f(None, None, Some("allow")).matches(&r));
    }
}
