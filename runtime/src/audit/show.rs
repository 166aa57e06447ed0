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
        true
    }
}

/// Hand every record of `r` that passes `filter` to `f`, in order, as (the line as written, its
/// parsed form), one at a time: a log of any size streams through. A line that is not JSON is
/// an error naming it; so is an error `f` returns.
pub fn for_each(
    r: impl BufRead,
    filter: &Filter,
    mut f: impl FnMut(String, Value) -> Result<(), String>,
) -> Result<(), String> {
    for (i, line) in r.lines().enumerate() {
        let line = line.map_err(|e| format!("line {}: {e}", i + 1))?;
        if line.is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(&line)
            .map_err(|e| format!("line {}: not a record: {e}", i + 1))?;
        if filter.matches(&v) {
            f(line, v)?;
        }
    }
    Ok(())
}

/// Read every record of `r` that passes `filter`, as (the line as written, its parsed form).
/// A line that is not JSON is an error naming it.
pub fn read(r: impl BufRead, filter: &Filter) -> Result<Vec<(String, Value)>, String> {
    let mut out = Vec::new();
    for_each(r, filter, |line, v| {
        out.push((line, v));
        Ok(())
    })?;
    Ok(out)
}

/// A table of `records` for a terminal: one line per record, calls separated by a blank line.
pub fn table(records: &[(String, Value)]) -> String {
    let mut rows: Vec<[String; 7]> = Vec::with_capacity(records.len() + 1);
    rows.push(["SEQ", "TIME", "CALL", "TOOL", "EVENT", "DECISION", "DETAIL"].map(String::from));
    let mut breaks = Vec::new();
    let mut last_call = String::new();
    for (_, r) in records {
        let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let n = |k: &str| r.get(k).and_then(Value::as_u64).unwrap_or(0);
        let call = s("call");
        if !last_call.is_empty() && call != last_call {
            breaks.push(rows.len());
        }
        last_call.clone_from(&call);
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
                detail.push_str(&format!(" -> {} ({} µs)", s("outcome"), n("us")));
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
            "start" => (
                "start".into(),
                String::new(),
                format!(
                    "{} input {} bytes sha256 {}",
                    s("action"),
                    n("input_size"),
                    short(&s("input_sha256"))
                ),
            ),
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
            "checkpoint" => (
                "checkpoint".into(),
                String::new(),
                format!("head {} signed by {}", short(&s("head")), s("key")),
            ),
            other => (other.to_string(), String::new(), String::new()),
        };
        let ts = s("ts");
        let time = ts.get(11..23).unwrap_or(&ts).to_string();
        rows.push([
            n("seq").to_string(),
            time,
            short(&call),
            s("tool"),
            event,
            decision,
            detail,
        ]);
    }
    let mut widths = [0usize; 6];
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r.iter()) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for (i, r) in rows.iter().enumerate() {
        if breaks.contains(&i) {
            out.push('\n');
        }
        for (w, c) in widths.iter().zip(r.iter()) {
            out.push_str(c);
            for _ in c.chars().count()..=*w {
                out.push(' ');
            }
        }
        out.push_str(&r[6]);
        out.truncate(out.trim_end().len());
        out.push('\n');
    }
    out
}

fn short(s: &str) -> String {
    s.chars().take(12).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_by_tool_call_prefix_and_decision() {
        let r: Value = serde_json::json!({"tool":"grep-files@1.0.0","call":"01ABC","kind":"host-call","decision":"deny"});
        let f = |tool: Option<&str>, call: Option<&str>, d: Option<&str>| Filter {
            tool: tool.map(Into::into),
            call: call.map(Into::into),
            decision: d.map(Into::into),
        };
        assert!(f(Some("grep-files"), None, None).matches(&r));
        assert!(f(Some("grep-files@1.0.0"), Some("01A"), Some("deny")).matches(&r));
        assert!(!f(Some("grep"), None, None).matches(&r));
        assert!(!f(None, Some("02"), None).matches(&r));
        assert!(!f(None, None, Some("allow")).matches(&r));
    }
}
