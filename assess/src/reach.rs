//! Reach: the effective grant in plain words, and what a hostile build could do with it.

use wasmgov_runtime::names::Access;

use crate::package::Subject;
use crate::{Severity, ToolReport};

/// Fill in `report.reach` and the `reach-*` findings.
pub(crate) fn assess(report: &mut ToolReport, s: &Subject<'_>) {
    let g = s.grant;
    let tool = &report.tool;
    let mut reach = Vec::new();
    for b in &g.fs {
        let what = match b.access {
            Access::Read => "reads",
            Access::ReadWrite => "reads, writes and deletes",
        };
        let sensitive = if b.sensitive {
            " (marked sensitive)"
        } else {
            ""
        };
        reach.push(format!(
            "{what} everything under {} (seen as {}){sensitive}",
            b.host.display(),
            b.guest
        ));
    }
    for n in &g.net {
        reach.push(format!("sends requests to {n}"));
    }
    for c in &g.cidrs {
        reach.push(format!("connects to the private range {c}"));
    }
    for e in &g.env {
        reach.push(format!("reads the environment variable {}", e.name));
    }
    for sec in &g.secrets {
        reach.push(format!(
            "has the secret {} sent as its {} header on requests to {} (it never sees the value)",
            sec.name, sec.header, sec.host
        ));
    }
    if reach.is_empty() {
        reach.push("nothing: pure compute (its input and its output only)".into());
    }
    let l = &g.limits;
    reach.push(format!(
        "within: fuel {}, memory {}, timeout {}, output {} per call",
        l.fuel,
        wasmgov_runtime::limits::ByteSize(l.memory),
        wasmgov_runtime::limits::HumanDuration(l.timeout),
        wasmgov_runtime::limits::ByteSize(l.output),
    ));
    report.reach.extend(reach);

    // Exfiltration: data it can read plus somewhere to send it.
    let readable: Vec<String> =
        g.fs.iter()
            .map(|b| b.host.display().to_string())
            .chain(g.env.iter().map(|e| format!("${}", e.name)))
            .collect();
    let egress: Vec<String> = g
        .net
        .iter()
        .map(ToString::to_string)
        .chain(g.cidrs.iter().map(|c| c.to_string()))
        .collect();
    if !readable.is_empty() && !egress.is_empty() {
        let broad = g.net.iter().any(|n| n.is_wildcard()) || !g.cidrs.is_empty();
        let sensitive = g.fs.iter().any(|b| b.sensitive);
        let severity = if broad || sensitive {
            Severity::High
        } else {
            Severity::Medium
        };
        let why = match (sensitive, broad) {
            (true, _) => " (a sensitive bind)",
            (false, true) => " (to a wildcard or private destination)",
            _ => "",
        };
        report.findings.push(
            s.finding("reach-exfiltration", severity, "[net]").says(
                format!(
                    "{tool} can read {} and send it to {}{why}",
                    readable.join(", "),
                    egress.join(", ")
                ),
                "grant either the data or the egress, not both; otherwise narrow both to exactly what the tool needs",
            ),
        );
    }

    // Destruction: read-write binds.
    for b in g.fs.iter().filter(|b| b.access == Access::ReadWrite) {
        let severity = if b.sensitive {
            Severity::High
        } else {
            Severity::Medium
        };
        report.findings.push(
            s.finding("reach-destructive", severity, &format!("\"{}\"", b.guest))
                .says(
                    format!(
                        "{tool} can overwrite or delete everything under {} ({} bound read-write)",
                        b.host.display(),
                        b.guest
                    ),
                    "bind it read-only (`access = \"read\"` or `--dir GUEST=HOST:read`) unless the tool must write, and bind a directory that holds nothing else",
                ),
        );
    }

    // Secrets: the credential rides on every request to its host.
    for sec in &g.secrets {
        let needle = "[[secrets]]";
        // The secret itself only ever goes to its one exact host (the policy refuses a
        // wildcard there), but what it fetches can leave through any wildcard egress.
        let wild: Vec<String> = g
            .net
            .iter()
            .filter(|n| n.is_wildcard())
            .map(ToString::to_string)
            .collect();
        if !wild.is_empty() {
            report.findings.push(
                s.finding("reach-secret-wildcard", Severity::High, "[net]").says(
                    format!(
                        "{tool} holds the secret {} for {} and may also send to every host matching {}: what the credential fetches can leave through any of them",
                        sec.name,
                        sec.host,
                        wild.join(", ")
                    ),
                    "name exact hosts in [net] allow for a tool that holds a secret",
                ),
            );
        }
        report.findings.push(
            s.finding("reach-secret-reuse", Severity::Medium, needle).says(
                format!(
                    "{tool} can send any request (any method and path) to {} with the secret {} attached",
                    sec.host, sec.name
                ),
                "give the tool a credential scoped at its issuer to what the tool does (read-only, one resource)",
            ),
        );
    }

    // The internal network.
    for c in &g.cidrs {
        let single = c.prefix_len() == c.max_prefix_len();
        report.findings.push(
            s.finding(
                "reach-private-network",
                if single {
                    Severity::Low
                } else {
                    Severity::Medium
                },
                "[net]",
            )
            .says(
                format!("{tool} may connect to {c}, a private, loopback or link-local range"),
                "provision the narrowest range (one /32 or /128) for the one tool that needs it",
            ),
        );
    }
}
