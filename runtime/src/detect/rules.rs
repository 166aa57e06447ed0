//! The detection rules an operator can tune: `[[detect]]` entries of the policy over built-in
//! defaults.
//!
//! Every rule is on by default. An entry names one rule and changes what it sets (`enabled`,
//! `action`, `severity`, `threshold`, `window`, `tools`, and `digests` for `deny-listed`);
//! anything else is refused, as is a value a rule does not use (a `threshold` on
//! `internal-address` would be silently ignored otherwise) and an absurd one.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

use crate::limits::HumanDuration;
use crate::policy::ToolPattern;

/// A detection rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RuleId {
    /// `threshold` denials of one capability by one tool within `window`.
    DenyBurst,
    /// A denied attempt at a loopback, private, link-local or metadata address, directly or by
    /// a name that resolves to one.
    InternalAddress,
    /// A tool opening a file under a bind marked `sensitive` that it never opened before.
    SensitiveRead,
    /// A secret's value came back in a response the tool received (it was masked).
    SecretEcho,
    /// A new signed release of a tool whose description or input schema changed.
    RugPull,
    /// A component whose digest is on the operator's deny list.
    DenyListed,
    /// `threshold` limit hits by one tool within `window`.
    RepeatedLimits,
}

impl RuleId {
    /// Every rule, in documentation order.
    pub const ALL: [RuleId; 7] = [
        Self::DenyBurst,
        Self::InternalAddress,
        Self::SensitiveRead,
        Self::SecretEcho,
        Self::RugPull,
        Self::DenyListed,
        Self::RepeatedLimits,
    ];

    /// The rule's id in the policy, the audit log and OCSF.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DenyBurst => "deny-burst",
            Self::InternalAddress => "internal-address",
            Self::SensitiveRead => "sensitive-read",
            Self::SecretEcho => "secret-echo",
            Self::RugPull => "rug-pull",
            Self::DenyListed => "deny-listed",
            Self::RepeatedLimits => "repeated-limits",
        }
    }

    /// Whether the rule counts events in a window (`threshold`, `window`).
    fn counts(self) -> bool {
        matches!(self, Self::DenyBurst | Self::RepeatedLimits)
    }

    /// Whether the rule fires while a call runs (so `stop-call` means something); the others
    /// fire when a tool is loaded or described.
    fn in_call(self) -> bool {
        !matches!(self, Self::RugPull | Self::DenyListed)
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RuleId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown detection rule `{s}`; the rules are {}",
                    Self::ALL.map(RuleId::as_str).join(", ")
                )
            })
    }
}

/// What the runtime does when a rule fires (it always writes the finding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    /// Record the finding; nothing else.
    Alert,
    /// Record it and stop the call that tripped it (`error[stopped]`).
    StopCall,
    /// Record it, stop the call and refuse the tool (`error[quarantined]`) until an operator
    /// runs `wasmgov quarantine release`.
    Quarantine,
}

impl Action {
    /// `alert`, `stop-call` or `quarantine`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Alert => "alert",
            Self::StopCall => "stop-call",
            Self::Quarantine => "quarantine",
        }
    }
}

impl FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "alert" => Ok(Self::Alert),
            "stop-call" => Ok(Self::StopCall),
            "quarantine" => Ok(Self::Quarantine),
            _ => Err(format!(
                "unknown action `{s}`; expected alert, stop-call or quarantine"
            )),
        }
    }
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Worth a look.
    Low,
    /// Likely misuse.
    Medium,
    /// Likely an attack.
    High,
    /// An attack on the operator's own list.
    Critical,
}

impl Severity {
    /// `low`, `medium`, `high` or `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }

    /// OCSF `severity_id` (2 low … 5 critical).
    pub fn ocsf_id(self) -> u8 {
        match self {
            Self::Low => 2,
            Self::Medium => 3,
            Self::High => 4,
            Self::Critical => 5,
        }
    }
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "low" => Ok(Self::Low),
            "medium" => Ok(Self::Medium),
            "high" => Ok(Self::High),
            "critical" => Ok(Self::Critical),
            _ => Err(format!(
                "unknown severity `{s}`; expected low, medium, high or critical"
            )),
        }
    }
}

/// One rule as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Which rule.
    pub id: RuleId,
    /// Off with `enabled = false`.
    pub enabled: bool,
    /// What happens when it fires.
    pub action: Action,
    /// The findings' severity.
    pub severity: Severity,
    /// Events within `window` that fire a counting rule.
    pub threshold: u32,
    /// The counting window.
    pub window: Duration,
    /// Tool name patterns the rule watches (every tool when empty).
    pub tools: Vec<ToolPattern>,
    /// `deny-listed`: lower-case hex SHA-256 digests of refused components.
    pub digests: Vec<String>,
}

impl Rule {
    /// The built-in setting of `id`. Every default only alerts (the deny list refuses by its
    /// nature): acting on a tool is the operator's choice, made per rule with `action`.
    pub fn default_for(id: RuleId) -> Self {
        let (action, severity, threshold, window) = match id {
            RuleId::DenyBurst => (Action::Alert, Severity::High, 20, 60),
            RuleId::InternalAddress => (Action::Alert, Severity::High, 1, 0),
            RuleId::SensitiveRead => (Action::Alert, Severity::Medium, 1, 0),
            RuleId::SecretEcho => (Action::Alert, Severity::High, 1, 0),
            RuleId::RugPull => (Action::Alert, Severity::High, 1, 0),
            RuleId::DenyListed => (Action::Alert, Severity::Critical, 1, 0),
            RuleId::RepeatedLimits => (Action::Alert, Severity::Medium, 5, 600),
        };
        Self {
            id,
            enabled: true,
            action,
            severity,
            threshold,
            window: Duration::from_secs(window),
            tools: Vec::new(),
            digests: Vec::new(),
        }
    }

    /// Whether the rule watches tool `name`.
    pub fn watches(&self, name: &str) -> bool {
        self.enabled && (self.tools.is_empty() || self.tools.iter().any(|p| p.matches_text(name)))
    }
}

/// Every rule's setting: the defaults with the policy's `[[detect]]` entries applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectPolicy {
    rules: Vec<Rule>,
}

impl Default for DetectPolicy {
    fn default() -> Self {
        Self {
            rules: RuleId::ALL.into_iter().map(Rule::default_for).collect(),
        }
    }
}

impl DetectPolicy {
    /// The setting of `id`.
    pub fn rule(&self, id: RuleId) -> &Rule {
        // `rules` always holds every rule, in `RuleId::ALL` order.
        &self.rules[id.index()]
    }

    /// Every rule, in documentation order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Whether component `sha256` (hex) is on the deny list.
    pub fn deny_listed(&self, sha256: &str) -> bool {
        let r = self.rule(RuleId::DenyListed);
        r.enabled && r.digests.iter().any(|d| d == sha256)
    }
}

/// A `[[detect]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DetectFile {
    rule: String,
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    threshold: Option<u64>,
    #[serde(default)]
    window: Option<HumanDuration>,
    #[serde(default)]
    tools: Option<Vec<ToolPattern>>,
    #[serde(default)]
    digests: Option<Vec<String>>,
}

/// Most events a counting rule may wait for.
const MAX_THRESHOLD: u64 = 100_000;
/// Longest counting window.
const MAX_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// Most digests on the deny list.
const MAX_DIGESTS: usize = 10_000;

/// Apply `entries` over the defaults. An error is (field under `detect[i]`, message, hint).
pub(crate) fn from_entries(
    entries: Vec<DetectFile>,
) -> Result<DetectPolicy, (String, String, Option<String>)> {
    let mut p = DetectPolicy::default();
    let mut seen: Vec<RuleId> = Vec::new();
    for (i, e) in entries.into_iter().enumerate() {
        let at = |f: &str| format!("detect[{i}].{f}");
        let id: RuleId = e.rule.parse().map_err(|m| (at("rule"), m, None))?;
        if seen.contains(&id) {
            return Err((
                at("rule"),
                format!("a second [[detect]] entry for `{id}`"),
                Some("set everything about one rule in one entry".into()),
            ));
        }
        seen.push(id);
        let r = &mut p.rules[id.index()];
        if let Some(en) = e.enabled {
            r.enabled = en;
        }
        if let Some(a) = e.action {
            let a: Action = a.parse().map_err(|m| (at("action"), m, None))?;
            if a == Action::StopCall && !id.in_call() {
                return Err((
                    at("action"),
                    format!("`{id}` fires when a tool is loaded, not during a call"),
                    Some("use `alert` or `quarantine`".into()),
                ));
            }
            r.action = a;
        }
        if let Some(s) = e.severity {
            r.severity = s.parse().map_err(|m| (at("severity"), m, None))?;
        }
        for (field, set) in [
            ("threshold", e.threshold.is_some()),
            ("window", e.window.is_some()),
        ] {
            if set && !id.counts() {
                return Err((
                    at(field),
                    format!("`{id}` fires on one event; it has no `{field}`"),
                    Some("`threshold` and `window` apply to deny-burst and repeated-limits".into()),
                ));
            }
        }
        if let Some(t) = e.threshold {
            if t == 0 || t > MAX_THRESHOLD {
                return Err((
                    at("threshold"),
                    format!("must be between 1 and {MAX_THRESHOLD}, not {t}"),
                    None,
                ));
            }
            r.threshold = t as u32;
        }
        if let Some(w) = e.window {
            if w.0 > MAX_WINDOW {
                return Err((at("window"), format!("must be at most 24h, not {w}"), None));
            }
            r.window = w.0;
        }
        if let Some(t) = e.tools {
            if t.is_empty() {
                return Err((
                    at("tools"),
                    "names no tool".into(),
                    Some("leave `tools` out to watch every tool, or set `enabled = false`".into()),
                ));
            }
            r.tools = t;
        }
        match (id, e.digests) {
            (RuleId::DenyListed, Some(d)) => {
                if d.len() > MAX_DIGESTS {
                    return Err((
                        at("digests"),
                        format!("more than {MAX_DIGESTS} digests"),
                        None,
                    ));
                }
                let mut out = Vec::with_capacity(d.len());
                for (j, s) in d.iter().enumerate() {
                    let hex = s.strip_prefix("sha256:").unwrap_or(s);
                    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Err((
                            format!("detect[{i}].digests[{j}]"),
                            format!("`{s}` is not a SHA-256 digest (64 hex digits)"),
                            Some("`wasmgov inspect TOOL.wasm` prints a component's sha256".into()),
                        ));
                    }
                    out.push(hex.to_ascii_lowercase());
                }
                r.digests = out;
            }
            (_, Some(_)) => {
                return Err((
                    at("digests"),
                    format!("`{id}` has no deny list"),
                    Some("digests belong to the `deny-listed` rule".into()),
                ));
            }
            (_, None) => {}
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<DetectPolicy, (String, String, Option<String>)> {
        #[derive(Deserialize)]
        struct F {
            detect: Vec<DetectFile>,
        }
        let f: F = toml::from_str(toml_text).expect("toml");
        from_entries(f.detect)
    }

    #[test]
    fn defaults_cover_every_rule_and_entries_override_them() {
        let d = DetectPolicy::default();
        assert_eq!(d.rules().len(), RuleId::ALL.len());
        assert_eq!(d.rule(RuleId::DenyBurst).threshold, 20);
        let p = parse(
            "[[detect]]\nrule = \"deny-burst\"\nthreshold = 3\nwindow = \"10s\"\naction = \"stop-call\"\n\
             [[detect]]\nrule = \"sensitive-read\"\nenabled = false\n",
        )
        .expect("valid");
        let b = p.rule(RuleId::DenyBurst);
        assert_eq!(
            (b.threshold, b.window, b.action),
            (3, Duration::from_secs(10), Action::StopCall)
        );
        assert!(!p.rule(RuleId::SensitiveRead).watches("anything"));
        assert!(p.rule(RuleId::SecretEcho).watches("anything"));
    }

    #[test]
    fn bad_entries_are_refused_with_the_field() {
        for (text, field) in [
            ("rule = \"nope\"", "detect[0].rule"),
            (
                "rule = \"deny-burst\"\nthreshold = 0",
                "detect[0].threshold",
            ),
            (
                "rule = \"deny-burst\"\nwindow = \"48h\"",
                "detect[0].window",
            ),
            (
                "rule = \"internal-address\"\nthreshold = 2",
                "detect[0].threshold",
            ),
            (
                "rule = \"rug-pull\"\naction = \"stop-call\"",
                "detect[0].action",
            ),
            (
                "rule = \"deny-burst\"\naction = \"ban\"",
                "detect[0].action",
            ),
            (
                "rule = \"deny-listed\"\ndigests = [\"abc\"]",
                "detect[0].digests[0]",
            ),
            ("rule = \"deny-burst\"\ndigests = []", "detect[0].digests"),
            ("rule = \"deny-burst\"\ntools = []", "detect[0].tools"),
        ] {
            let e = parse(&format!("[[detect]]\n{text}\n")).expect_err(text);
            assert_eq!(e.0, field, "{text}: {e:?}");
        }
        let e = parse("[[detect]]\nrule = \"deny-burst\"\n[[detect]]\nrule = \"deny-burst\"\n")
            .expect_err("duplicate");
        assert_eq!(e.0, "detect[1].rule");
    }

    #[test]
    fn deny_list_digests_are_normalised() {
        let d = "AB".repeat(32);
        let p = parse(&format!(
            "[[detect]]\nrule = \"deny-listed\"\ndigests = [\"sha256:{d}\"]\n"
        ))
        .expect("valid");
        assert!(p.deny_listed(&"ab".repeat(32)));
        assert!(!p.deny_listed(&"cd".repeat(32)));
    }
}
