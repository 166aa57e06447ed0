//! Hygiene: expiry, key validity, publisher globs, limits at the ceiling, the interface version.

use std::path::Path;

use wasmgov_runtime::names::Access;
use wasmgov_runtime::pattern::wildcard_match;

use crate::imports::{Interfaces, current_wasmgov_version};
use crate::package::Subject;
use crate::{Context, Finding, Severity, ToolReport};

/// Expiry, key validity and limits of one signed package.
pub(crate) fn assess(report: &mut ToolReport, s: &Subject<'_>, cx: &Context<'_>) {
    let tool = report.tool.clone();
    if s.signed && s.manifest.tool.expires.is_none() {
        report.findings.push(
            s.finding("hygiene-no-expiry", Severity::Low, "[tool]").says(
                format!("{tool}'s manifest has no `expires`: this release stays valid until the operator revokes its key"),
                "set `[tool] expires` (RFC 3339) and re-release before it passes",
            ),
        );
    }
    if let (Some(signer), Some(trust)) = (s.signer, cx.trust) {
        for (line, _) in &signer.entries {
            let Some(entry) = trust.entries.iter().find(|e| e.line == *line) else {
                continue;
            };
            if entry.valid_before.is_none() {
                report.findings.push(Finding {
                    rule: "hygiene-key-no-valid-before",
                    severity: Severity::Low,
                    message: format!(
                        "the key that signs {tool} ({}) has no valid-before in allowed_signers line {line}: if it is stolen, it signs forever",
                        signer.fingerprint
                    ),
                    hint: "add valid-before=\"YYYYMMDD\" to that line and rotate the key before it".into(),
                    file: trust.path.clone(),
                    line: Some(*line),
                });
            }
        }
    }
    // Limits the manifest leaves at (or sets to) the policy's ceiling.
    let (g, p) = (&s.grant.limits, &cx.policy.limits);
    let mut at = Vec::new();
    if g.fuel >= p.fuel {
        at.push("fuel");
    }
    if g.memory >= p.memory {
        at.push("memory");
    }
    if g.timeout >= p.timeout {
        at.push("timeout");
    }
    if g.output >= p.output {
        at.push("output");
    }
    if s.grant.fs.iter().any(|b| b.access == Access::ReadWrite) {
        if g.write >= p.write {
            at.push("write");
        }
        if g.files >= p.files {
            at.push("files");
        }
    }
    if !at.is_empty() {
        report.findings.push(
            s.finding("hygiene-limit-at-ceiling", Severity::Low, "[limits]").says(
                format!(
                    "{tool} runs at the policy's ceiling for {}: the manifest does not say what it needs",
                    at.join(", ")
                ),
                "set each limit in the manifest's [limits] near what the tool uses (the audit log's end records show fuel, memory and output)",
            ),
        );
    }
}

/// A component built against an older `wasmgov:tool` than this runtime serves.
pub(crate) fn sdk_version(report: &mut ToolReport, i: &Interfaces, component: &Path) {
    let current = current_wasmgov_version();
    for (name, v) in i.wasmgov_versions() {
        if v < current {
            report.findings.push(Finding {
                rule: "hygiene-outdated-sdk",
                severity: Severity::Medium,
                message: format!(
                    "{} uses {name}, older than this runtime's wasmgov:tool@{current}",
                    component.display()
                ),
                hint: "rebuild the tool with the current wasmgov-sdk".into(),
                file: Some(component.to_path_buf()),
                line: None,
            });
            break;
        }
    }
}

/// `[[publishers]]` rules whose tool globs reach past the names the publisher ships (among the
/// packages assessed together): broader still when the glob covers another publisher's tool.
pub(crate) fn publisher_globs(tools: &mut [ToolReport], cx: &Context<'_>) {
    let shipped: Vec<(String, String)> = tools
        .iter()
        .filter_map(|t| {
            let name = t.tool.split('@').next()?.to_owned();
            Some((t.publisher.clone()?, name))
        })
        .collect();
    let policy_text = cx
        .policy
        .path()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    for t in tools.iter_mut() {
        let (Some(publisher), Some(name)) = (t.publisher.clone(), t.tool.split('@').next()) else {
            continue;
        };
        if !t.accepted {
            continue;
        }
        for rule in &cx.policy.publishers {
            let principal_glob = rule.principal.contains(['*', '?']);
            if !wildcard_match(&rule.principal, &publisher) {
                continue;
            }
            let globs: Vec<String> = rule
                .tools
                .iter()
                .map(ToString::to_string)
                .filter(|g| g.contains(['*', '?']))
                .collect();
            if globs.is_empty() && !principal_glob {
                continue;
            }
            if !rule.tools.iter().any(|p| p.matches_text(name)) {
                continue;
            }
            let others: Vec<&str> = shipped
                .iter()
                .filter(|(p, n)| *p != publisher && rule.tools.iter().any(|g| g.matches_text(n)))
                .map(|(_, n)| n.as_str())
                .collect();
            let severity = if others.is_empty() {
                Severity::Low
            } else {
                Severity::Medium
            };
            let what = if principal_glob {
                format!("principal `{}`", rule.principal)
            } else {
                format!("tools {}", globs.join(", "))
            };
            let mut message = format!(
                "the policy's [[publishers]] rule for {what} lets `{publisher}` sign any matching tool name, not only {name}"
            );
            if !others.is_empty() {
                message.push_str(&format!(
                    " — including {} from other publishers",
                    others.join(", ")
                ));
            }
            t.findings.push(Finding {
                rule: "hygiene-broad-publisher-glob",
                severity,
                message,
                hint: "list the publisher's exact principal and tool names in the rule".into(),
                file: cx.policy.path().map(Path::to_path_buf),
                line: crate::line_of(&policy_text, &format!("\"{}\"", rule.principal)),
            });
        }
    }
}
