//! A report as SARIF 2.1.0 (OASIS), the format code-scanning UIs import.
//!
//! One run; the driver lists every rule ([`crate::rules::RULES`]) with its help and a
//! `security-severity`; each finding is a result at its file and line (relative to `base` when
//! the file is under it, so the UI can link it).

use std::path::Path;

use serde_json::{Value, json};

use crate::rules::{RULES, rule};
use crate::{Finding, Report};

/// The schema this output validates against.
pub const SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// `report` as a SARIF log; file locations relative to `base` where they are under it.
pub fn to_sarif(report: &Report, base: &Path) -> Value {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "name": pascal(r.id),
                "shortDescription": { "text": r.summary },
                "fullDescription": { "text": r.summary },
                "help": { "text": r.help },
                "defaultConfiguration": { "level": r.severity.sarif_level() },
                "properties": {
                    "tags": ["security", r.group],
                    "security-severity": r.severity.score(),
                },
            })
        })
        .collect();
    let mut results = Vec::new();
    for f in &report.runtime {
        results.push(result(f, None, base));
    }
    for t in &report.tools {
        for f in &t.findings {
            results.push(result(f, Some(&t.tool), base));
        }
    }
    json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "wasmgov",
                    "semanticVersion": report.wasmgov,
                    "informationUri": "https://github.com/wasmgov/wasmgov",
                    "rules": rules,
                }
            },
            "results": results,
            "properties": {
                "wasmtime": report.wasmtime,
                "policy": report.policy,
            },
        }]
    })
}

fn result(f: &Finding, tool: Option<&str>, base: &Path) -> Value {
    let index = RULES.iter().position(|r| r.id == f.rule).unwrap_or(0);
    let mut r = json!({
        "ruleId": f.rule,
        "ruleIndex": index,
        "level": f.severity.sarif_level(),
        "message": { "text": format!("{} Fix: {}", f.message, f.hint) },
        "properties": {
            "severity": f.severity.as_str(),
            "security-severity": f.severity.score(),
        },
    });
    if let Some(t) = tool {
        r["properties"]["tool"] = json!(t);
    }
    if let Some(file) = &f.file {
        let segments = |p: &Path| {
            p.components()
                .filter_map(|c| match c {
                    std::path::Component::Normal(n) => Some(percent(&n.to_string_lossy())),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join("/")
        };
        let uri = match file.strip_prefix(base) {
            Ok(rel) if !base.as_os_str().is_empty() => segments(rel),
            _ if file.is_absolute() => format!("file:///{}", segments(file)),
            _ => segments(file),
        };
        let mut physical = json!({ "artifactLocation": { "uri": uri } });
        if let Some(line) = f.line {
            physical["region"] = json!({ "startLine": line });
        }
        r["locations"] = json!([{ "physicalLocation": physical }]);
    }
    // One stable identity per finding, so a UI can track it across runs.
    let key = format!("{}|{}|{}", f.rule, tool.unwrap_or(""), f.message);
    let digest = wasmgov_runtime::names::Sha256Digest::of(key.as_bytes()).to_string();
    r["partialFingerprints"] = json!({ "wasmgovFinding/v1": &digest[..32.min(digest.len())] });
    debug_assert!(rule(f.rule).is_some());
    r
}

/// `reach-exfiltration` → `ReachExfiltration`.
fn pascal(id: &str) -> String {
    id.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// Percent-encode what a URI path segment may not hold.
fn percent(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_and_escapes() {
        assert_eq!(super::pascal("reach-exfiltration"), "ReachExfiltration");
        assert_eq!(super::percent("a b.toml"), "a%20b.toml");
    }
}
