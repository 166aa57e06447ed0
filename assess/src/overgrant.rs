//! Over-grant: capabilities granted that the component cannot use (no import of the interface)
//! or that the recorded calls never used.

use wasmgov_runtime::names::Access;

use crate::package::Subject;
use crate::usage::Usage;
use crate::{Severity, ToolReport};

/// Add the `overgrant-*` findings.
pub(crate) fn assess(report: &mut ToolReport, s: &Subject<'_>, usage: Option<&Usage>) {
    let g = s.grant;
    let tool = report.tool.clone();
    if let Some(i) = s.interfaces {
        let mut not_imported = |what: String, needle: &str, iface: &str| {
            report.findings.push(
                s.finding("overgrant-not-imported", Severity::Low, needle).says(
                    format!("{tool} is granted {what} but does not import {iface}, so it cannot use it"),
                    "remove it from the manifest (and the policy's provisioning for this tool)",
                ),
            );
        };
        if !g.fs.is_empty() && !i.imports("wasi:filesystem") {
            for b in &g.fs {
                not_imported(
                    format!("{} ({})", b.guest, b.access),
                    &format!("\"{}\"", b.guest),
                    "wasi:filesystem",
                );
            }
        }
        let http = i.imports("wasi:http/outgoing-handler");
        let sockets = i.imports("wasi:sockets");
        if !g.net.is_empty() && !http && !sockets {
            not_imported(
                format!("network access ({})", join(&g.net)),
                "[net]",
                "wasi:http/outgoing-handler or wasi:sockets",
            );
        }
        if !g.secrets.is_empty() && !http {
            for sec in &g.secrets {
                not_imported(
                    format!("the secret {}", sec.name),
                    "[[secrets]]",
                    "wasi:http/outgoing-handler (secrets ride only on HTTP requests)",
                );
            }
        }
        if !g.env.is_empty() && !i.imports("wasi:cli/environment") {
            let names: Vec<String> = g.env.iter().map(|e| e.name.to_string()).collect();
            not_imported(
                format!("environment variables ({})", names.join(", ")),
                "[env]",
                "wasi:cli/environment",
            );
        }
    }

    let Some(log) = usage else { return };
    let name = s.manifest.tool.name.as_str();
    let Some(u) = log.of(name).filter(|u| u.calls > 0) else {
        if !g.is_pure_compute() {
            report.findings.push(crate::Finding {
                rule: "overgrant-unused",
                severity: Severity::Info,
                message: format!(
                    "{} records no call of {name}: its use of the grant cannot be judged",
                    log.path.display()
                ),
                hint: "assess with the audit log of representative calls".into(),
                file: Some(log.path.clone()),
                line: None,
            });
        }
        return;
    };
    let calls = u.calls;
    let mut unused = |what: String, needle: &str, hint: &str| {
        report
            .findings
            .push(s.finding("overgrant-unused", Severity::Low, needle).says(
            format!(
                "{tool} is granted {what}, unused in the {calls} recorded call(s) of {name} in {}",
                log.path.display()
            ),
            hint,
        ));
    };
    let remove = "if the recorded calls are representative, remove it (`wasmgov suggest` derives the minimal grant)";
    if !g.fs.is_empty() {
        if u.fs_calls == 0 {
            for b in &g.fs {
                unused(
                    format!("{} ({})", b.guest, b.access),
                    &format!("\"{}\"", b.guest),
                    remove,
                );
            }
        } else {
            for b in g.fs.iter().filter(|b| b.sensitive) {
                let prefix = format!("{}/", b.guest.as_str().trim_end_matches('/'));
                let used = u
                    .sensitive_paths
                    .iter()
                    .any(|p| p == b.guest.as_str() || p.starts_with(&prefix));
                if !used {
                    unused(
                        format!("{} ({}, sensitive)", b.guest, b.access),
                        &format!("\"{}\"", b.guest),
                        remove,
                    );
                }
            }
        }
        if u.fs_writes == 0 {
            for b in g.fs.iter().filter(|b| b.access == Access::ReadWrite) {
                unused(
                    format!("write access to {} (only read)", b.guest),
                    &format!("\"{}\"", b.guest),
                    "grant `access = \"read\"` if the tool only reads",
                );
            }
        }
    }
    for n in &g.net {
        if !u.sent_to(n) {
            unused(format!("network access to {n}"), "[net]", remove);
        }
    }
    for c in &g.cidrs {
        if !u.connected.iter().any(|ip| c.contains(ip)) {
            unused(format!("the private range {c}"), "[net]", remove);
        }
    }
    if !g.env.is_empty() && u.env_reads == 0 {
        let names: Vec<String> = g.env.iter().map(|e| e.name.to_string()).collect();
        unused(
            format!("environment variables ({})", names.join(", ")),
            "[env]",
            remove,
        );
    }
    for sec in &g.secrets {
        if !u.secrets.contains(sec.name.as_str()) {
            unused(format!("the secret {}", sec.name), "[[secrets]]", remove);
        }
    }
}

fn join(v: &[wasmgov_runtime::net_pattern::NetPattern]) -> String {
    v.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
