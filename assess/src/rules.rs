//! The assessment's rules: stable ids, what each means, and its default severity.

use serde::Serialize;

/// How bad a finding is, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; nothing to fix.
    Info,
    /// A hygiene gap.
    Low,
    /// A real reach a reviewer should accept knowingly.
    Medium,
    /// A reach or defect that should block trust until fixed or accepted.
    High,
    /// The package or runtime must not be used as it is.
    Critical,
}

impl Severity {
    /// Its name, as `--fail-on` takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }

    /// SARIF's `level` for it.
    pub fn sarif_level(self) -> &'static str {
        match self {
            Self::Info => "note",
            Self::Low => "note",
            Self::Medium => "warning",
            Self::High | Self::Critical => "error",
        }
    }

    /// The `security-severity` score code-scanning UIs sort by (CVSS-like, 0–10).
    pub fn score(self) -> &'static str {
        match self {
            Self::Info => "0.0",
            Self::Low => "3.0",
            Self::Medium => "5.5",
            Self::High => "8.0",
            Self::Critical => "9.5",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "info" => Ok(Self::Info),
            "low" => Ok(Self::Low),
            "medium" => Ok(Self::Medium),
            "high" => Ok(Self::High),
            "critical" => Ok(Self::Critical),
            _ => Err(format!(
                "unknown severity `{s}`: expected info, low, medium, high or critical"
            )),
        }
    }
}

/// One rule.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// Stable id (`reach-exfiltration`); never renamed once released.
    pub id: &'static str,
    /// Which part of the assessment it belongs to.
    pub group: &'static str,
    /// One line: what it finds.
    pub summary: &'static str,
    /// What to do about it, in general.
    pub help: &'static str,
    /// The severity it usually has (a finding may be raised or lowered by what it found).
    pub severity: Severity,
}

macro_rules! rule {
    ($id:literal, $group:literal, $sev:ident, $summary:literal, $help:literal) => {
        Rule {
            id: $id,
            group: $group,
            summary: $summary,
            help: $help,
            severity: Severity::$sev,
        }
    };
}

/// Every rule, in report order.
pub const RULES: &[Rule] = &[
    rule!(
        "reach-exfiltration",
        "reach",
        Medium,
        "A hostile build could send what it can read (files, environment) to a host it may reach.",
        "Grant either the data or the egress, not both; otherwise narrow the binds and the [net] allow list to exactly what the tool needs."
    ),
    rule!(
        "reach-destructive",
        "reach",
        Medium,
        "A read-write bind: a hostile build could overwrite or delete everything under it.",
        "Bind read-only (`access = \"read\"`, or `--dir GUEST=HOST:read`) unless the tool must write; bind a dedicated directory, never one holding other data."
    ),
    rule!(
        "reach-secret-reuse",
        "reach",
        Medium,
        "A secret is attached to every request the tool sends to its host: a hostile build can use the credential for any method and path there.",
        "Give the tool a credential scoped at its issuer to what the tool does (read-only, one resource), and rotate it if the tool is ever distrusted."
    ),
    rule!(
        "reach-secret-wildcard",
        "reach",
        High,
        "A tool that holds a secret may also send to wildcard hosts: what the credential fetches can leave through any of them.",
        "Name exact hosts in [net] allow for a tool that holds a secret (the secret itself always goes to one exact host)."
    ),
    rule!(
        "reach-private-network",
        "reach",
        Medium,
        "The tool may connect to a private, loopback or link-local range ([[net.private]]).",
        "Provision the narrowest range (one /32 or /128) for the one tool that needs it."
    ),
    rule!(
        "overgrant-not-imported",
        "over-grant",
        Low,
        "A capability is granted that the component cannot use: it does not import the interface.",
        "Remove it from the manifest (and the policy's provisioning for this tool)."
    ),
    rule!(
        "overgrant-unused",
        "over-grant",
        Low,
        "A capability was granted but not used by any call the audit log recorded.",
        "If the recorded calls are representative, remove it; `wasmgov suggest` derives the minimal grant from an observed run."
    ),
    rule!(
        "hygiene-refused",
        "hygiene",
        High,
        "The runtime would refuse the package as it stands (signature, trust, pin, expiry or policy).",
        "Fix what the refusal names; `wasmgov verify` and `wasmgov explain` show the details."
    ),
    rule!(
        "hygiene-unsigned",
        "hygiene",
        High,
        "The package is not signed: it runs only with --allow-unsigned, under nobody's name.",
        "Sign the manifest (`wasmgov sign`) with a key in the operator's allowed_signers."
    ),
    rule!(
        "hygiene-no-expiry",
        "hygiene",
        Low,
        "The manifest has no `expires`: a leaked or superseded release stays valid forever.",
        "Set `[tool] expires` and re-release before it passes."
    ),
    rule!(
        "hygiene-key-no-valid-before",
        "hygiene",
        Low,
        "The signing key's allowed_signers entry has no `valid-before`: a stolen key signs forever.",
        "Add valid-before=\"YYYYMMDD\" to the key's allowed_signers line and rotate keys before it."
    ),
    rule!(
        "hygiene-broad-publisher-glob",
        "hygiene",
        Low,
        "A [[publishers]] rule lets this publisher sign more tool names than it ships.",
        "List the publisher's tool names in `tools` instead of a glob."
    ),
    rule!(
        "hygiene-limit-at-ceiling",
        "hygiene",
        Low,
        "The tool runs at the policy's ceiling for some limits: the manifest does not say what it needs.",
        "Set each limit in the manifest's [limits] near what the tool uses (the audit log's end records show fuel, memory and output)."
    ),
    rule!(
        "hygiene-outdated-sdk",
        "hygiene",
        Medium,
        "The component was built against an older wasmgov:tool interface than this runtime's.",
        "Rebuild the tool with the current wasmgov-sdk."
    ),
    rule!(
        "vuln-runtime-advisory",
        "known-vulnerable",
        High,
        "The wasmtime this wasmgov was built with is affected by a published advisory.",
        "Upgrade wasmgov to a release built with a patched wasmtime."
    ),
    rule!(
        "vuln-denied-component",
        "known-vulnerable",
        Critical,
        "The component's digest is on the operator's deny list.",
        "Remove the package; the runtime refuses to load it."
    ),
];

/// The rule with `id`.
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_kebab_case() {
        let mut seen = std::collections::HashSet::new();
        for r in RULES {
            assert!(seen.insert(r.id), "duplicate {}", r.id);
            assert!(r.id.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'));
        }
    }

    #[test]
    fn severities_order_and_parse() {
        assert!(Severity::Critical > Severity::High && Severity::Low > Severity::Info);
        assert_eq!("HIGH".parse::<Severity>(), Ok(Severity::High));
        assert!("severe".parse::<Severity>().is_err());
    }
}
