//! The operator policy (`policy.toml`): ceilings, who may publish which tools, ratchet floors,
//! and what the operator provisions (binds, private address ranges, secrets).
//!
//! Everything provisioned names the tools it is for (`tools`, globs over tool names, required and
//! non-empty): a deployment serves many tools from many publishers, and one tool must never
//! receive what was provisioned for another. A secret also names the one exact host its value may
//! be sent to, and a manifest's `[[secrets]] host` must equal it. The pre-wave-2 global forms
//! (`[secrets] NAME = "env:X"`, `[net] cidrs`, `[[binds]] tool`) are refused with the new form as
//! the hint, rather than read with a meaning the operator did not intend.
//!
//! Read as strictly as a manifest (64 KiB, no BOM, UTF-8, no unknown fields or duplicate keys,
//! every value validated; errors name field and line). `[limits]` are both the ceilings a manifest
//! may not exceed and the values a manifest gets when it names none; a limit the policy does not
//! set is the built-in default (`limits.rs`).
//!
//! Without a policy file the [built-in policy](Policy::builtin) applies: the default limits as
//! ceilings (deliberately not larger: a manifest that wants more needs an operator's policy), no
//! publishers (so no signed manifest is accepted until the operator names who may publish what),
//! no network, no env vars, no binds, no secrets.
//!
//! The effective grant (manifest ∩ policy) is computed in [`crate::grant`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::grant::SecretSource;
use crate::limits::{LimitOverrides, Limits};
use crate::manifest::Manifest;
use crate::names::{Access, EnvVarName, GuestPath, NameError, Sha256Digest, ToolName};
use crate::net_pattern::NetPattern;
use crate::pattern::wildcard_match;
use crate::ratchet::RatchetError;
use crate::toml_doc::{DocError, Located, check_bytes};

/// The largest policy file accepted, in bytes.
pub const MAX_POLICY_SIZE: usize = 64 * 1024;

/// The built-in policy, as the TOML text it is equivalent to (its digest is the policy digest).
pub const BUILTIN_POLICY_TOML: &str = "# wasmgov built-in policy: used when no policy.toml exists.\n\
# Default limits are the ceilings; no publisher, network, env var, bind or secret is allowed.\n\
[limits]\n\
fuel = 2_000_000_000\n\
memory = \"64 MiB\"\n\
timeout = \"10s\"\n\
output = \"1 MiB\"\n\
host-calls = 100_000\n";

/// One item of the policy that a manifest (or the command line) asks more than.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Violation {
    /// The manifest field (e.g. `limits.fuel`, `net.allow[0]`, `fs[1]`) or flag (`--dir /x`).
    pub field: String,
    /// What is over, in words.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// A policy that could not be read, or a manifest it refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The policy file is malformed.
    #[error("malformed policy{}: {error}", path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
    Malformed {
        /// The file, when known.
        path: Option<PathBuf>,
        /// Where and what.
        error: DocError,
        /// A fix specific to this error (else the generic one).
        hint: Option<String>,
    },
    /// The policy file could not be read.
    #[error("cannot read policy {}: {message}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        message: String,
    },
    /// The manifest asks for more than the policy allows; every over field is listed.
    #[error("policy refuses `{tool}`: it asks for more than the policy allows:{}", violations.iter().map(|v| format!("\n  - {v}")).collect::<String>())]
    Over {
        /// `name@version` of the tool.
        tool: String,
        /// Every field that is over.
        violations: Vec<Violation>,
    },
}

impl PolicyError {
    /// The error kind: `policy` for a refusal, `malformed-policy` for a bad policy file.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Over { .. } => "policy",
            Self::Malformed { .. } | Self::Io { .. } => "malformed-policy",
        }
    }

    /// What the operator can do next.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Self::Over { .. } => "run `wasmgov explain MANIFEST` to see the grant; raise the policy (policy.toml) only if you accept what the tool asks for".into(),
            Self::Malformed { hint: Some(h), .. } => h.clone(),
            Self::Malformed { .. } | Self::Io { .. } => "fix policy.toml (see manifests/ for an example), or pass --policy FILE".into(),
        })
    }
}

/// `[[publishers]]`: a principal and the tool names it may sign.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublisherRule {
    /// The principal (as in allowed_signers and the manifest's `publisher`); `*`/`?` wildcards allowed.
    pub principal: String,
    /// Tool name patterns, e.g. `fetch-weather`, `search-*`.
    pub tools: Vec<ToolPattern>,
}

/// A tool name pattern: tool name characters plus `*` and `?`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolPattern(String);

impl ToolPattern {
    /// Whether `name` matches.
    pub fn matches(&self, name: &ToolName) -> bool {
        wildcard_match(&self.0, name.as_str())
    }

    /// Whether the tool name `name` (as text) matches.
    pub fn matches_text(&self, name: &str) -> bool {
        wildcard_match(&self.0, name)
    }
}

impl fmt::Display for ToolPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ToolPattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::names::deserialize_parsed(d, "tool name pattern")
    }
}

impl std::str::FromStr for ToolPattern {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-*?".contains(&b));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!(
                "invalid tool pattern `{s}`: expected a-z, 0-9, `-`, `*` and `?`"
            ))
        }
    }
}

/// `[net]` of the policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetPolicy {
    /// Ceiling for manifests' `[net] allow`.
    pub allow: Vec<NetPattern>,
    /// `[[net.private]]`: loopback, private or link-local ranges, each open only to the tools it
    /// names (all other such addresses are refused).
    pub private: Vec<PrivateRange>,
}

/// `[[net.private]]`: a range of internal addresses and the tools that may reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateRange {
    /// The range, e.g. `10.1.2.0/24` (no host bits set).
    pub cidr: ipnet::IpNet,
    /// Tool name patterns; only these tools may reach the range.
    pub tools: Vec<ToolPattern>,
}

/// `[[binds]]`: a guest path bound to a host directory, for the tools named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindRule {
    /// Tool name patterns this bind is for (`["*"]` only if the operator means every tool).
    pub tools: Vec<ToolPattern>,
    /// The manifest's guest path.
    pub guest: GuestPath,
    /// The host directory (absolute).
    pub host: PathBuf,
    /// The most access the bind gives; a manifest asking more is refused.
    pub access: Access,
    /// `sensitive = true`: what lies under it is watched by the `sensitive-read` detection rule
    /// (a tool opening a file there it never opened before raises a finding).
    pub sensitive: bool,
}

/// `[secrets.NAME]`: where a secret's value comes from, the one host it may be sent to, and the
/// tools it is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRule {
    /// Where the value comes from (`env:VAR` or `file:/absolute/path`).
    pub source: SecretSource,
    /// The exact `scheme://host:port` (no wildcard) whose requests may carry it; a manifest's
    /// `[[secrets]] host` must equal it.
    pub host: NetPattern,
    /// Tool name patterns this secret is for.
    pub tools: Vec<ToolPattern>,
}

/// `[[min-sequence]]`: the lowest `sequence` of a tool this policy accepts (a ratchet floor that
/// replicas sharing no state get from their config).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinSequence {
    /// The tool name (exact).
    pub tool: ToolName,
    /// Manifests of `tool` with a lower sequence are refused as rollback.
    pub sequence: u64,
}

/// `[[callers]]`: which authenticated callers (a bearer token's subject) may list and call which
/// tools of a server. With no `[[callers]]` entry, every authenticated caller may call every
/// served tool; with any, a caller may call only what an entry names for it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallerRule {
    /// Subjects (exact, or `*` for every authenticated caller).
    pub subjects: Vec<Subject>,
    /// Tool name patterns these subjects may call.
    pub tools: Vec<ToolPattern>,
}

/// A caller's subject: 1–128 bytes of `A-Z a-z 0-9 . _ @ + : / -`, or `*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subject(String);

impl<'de> Deserialize<'de> for Subject {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::names::deserialize_parsed(d, "subject")
    }
}

impl Subject {
    /// The subject as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Subject {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let ok = s == "*"
            || (!s.is_empty()
                && s.len() <= 128
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._@+:/-".contains(&b)));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!(
                "invalid subject `{s}`: expected 1-128 of A-Z a-z 0-9 . _ @ + : / - (or `*`)"
            ))
        }
    }
}

/// Whether any of `patterns` matches `name`.
pub fn any_matches(patterns: &[ToolPattern], name: &ToolName) -> bool {
    patterns.iter().any(|p| p.matches(name))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NetFile {
    #[serde(default)]
    allow: Vec<NetPattern>,
    #[serde(default)]
    private: Vec<PrivateFile>,
    /// The pre-wave-2 global list; refused with a hint.
    #[serde(default)]
    cidrs: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrivateFile {
    cidr: ipnet::IpNet,
    #[serde(default)]
    tools: Option<Vec<ToolPattern>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BindFile {
    /// The pre-wave-2 single optional tool; refused with a hint.
    #[serde(default)]
    tool: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    tools: Option<Vec<ToolPattern>>,
    guest: GuestPath,
    host: PathBuf,
    access: Access,
    #[serde(default)]
    sensitive: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretTable {
    #[serde(default)]
    source: Option<SecretSource>,
    #[serde(default)]
    host: Option<NetPattern>,
    #[serde(default)]
    tools: Option<Vec<ToolPattern>>,
}

/// A `[secrets]` entry as written: the pre-wave-2 `NAME = "env:X"` string, or a table.
#[derive(Debug)]
enum SecretFile {
    Old,
    Table(SecretTable),
}

impl<'de> Deserialize<'de> for SecretFile {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = SecretFile;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table with source, host and tools")
            }
            fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<SecretFile, E> {
                Ok(SecretFile::Old)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<SecretFile, A::Error> {
                SecretTable::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(SecretFile::Table)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvPolicy {
    #[serde(default)]
    vars: Vec<EnvVarName>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FsPolicy {
    #[serde(default)]
    roots: Option<Vec<PathBuf>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    limits: LimitOverrides,
    #[serde(default)]
    publishers: Vec<PublisherRule>,
    #[serde(default, rename = "min-sequence")]
    min_sequence: Vec<MinSequence>,
    #[serde(default)]
    net: NetFile,
    #[serde(default)]
    env: EnvPolicy,
    #[serde(default)]
    fs: FsPolicy,
    #[serde(default)]
    binds: Vec<BindFile>,
    #[serde(default)]
    secrets: BTreeMap<String, SecretFile>,
    #[serde(default)]
    callers: Vec<CallerRule>,
    #[serde(default)]
    detect: Vec<crate::detect::rules::DetectFile>,
}

/// A parsed, validated operator policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Ceilings, and the values used where a manifest sets none.
    pub limits: Limits,
    /// Who may sign which tool names.
    pub publishers: Vec<PublisherRule>,
    /// Ratchet floors per tool name.
    pub min_sequence: Vec<MinSequence>,
    /// Network ceiling and the private ranges provisioned per tool.
    pub net: NetPolicy,
    /// Env vars a manifest may ask for.
    pub env_vars: Vec<EnvVarName>,
    /// When set, host paths outside these may not be bound.
    pub fs_roots: Option<Vec<PathBuf>>,
    /// Guest path → host directory binds, each for the tools it names.
    pub binds: Vec<BindRule>,
    /// Secrets: source, host and tools, by name.
    pub secrets: BTreeMap<EnvVarName, SecretRule>,
    /// Which authenticated callers of a server may call which tools.
    pub callers: Vec<CallerRule>,
    /// The detection rules: built-in defaults with the `[[detect]]` entries applied.
    pub detect: crate::detect::DetectPolicy,
    digest: Sha256Digest,
    path: Option<PathBuf>,
    builtin: bool,
}

/// A malformed policy, with a hint when the fix is specific (an old form, a missing `tools`).
struct Bad {
    error: DocError,
    hint: Option<String>,
}

impl From<DocError> for Bad {
    fn from(error: DocError) -> Self {
        Self { error, hint: None }
    }
}

fn bad_with(error: DocError, hint: impl Into<String>) -> Bad {
    Bad {
        error,
        hint: Some(hint.into()),
    }
}

/// `tools` of a provisioned entry: required and non-empty, so nothing is open to every tool
/// unless the operator writes `["*"]`.
fn required_tools(
    doc: &Located<'_>,
    field: &str,
    what: &str,
    tools: Option<Vec<ToolPattern>>,
) -> Result<Vec<ToolPattern>, Bad> {
    match tools {
        Some(t) if !t.is_empty() => Ok(t),
        Some(_) => Err(bad_with(
            doc.error_at(&format!("{field}.tools"), format!("{what} names no tool")),
            "list the tools it is for, e.g. `tools = [\"fetch-weather\"]`; `tools = [\"*\"]` gives it to every tool",
        )),
        None => Err(bad_with(
            doc.error_at(
                field,
                format!("{what} has no `tools`: everything provisioned names the tools it is for"),
            ),
            "add e.g. `tools = [\"fetch-weather\"]` (globs over tool names); `tools = [\"*\"]` gives it to every tool",
        )),
    }
}

impl Policy {
    /// The policy used when no policy file exists (see the module docs).
    pub fn builtin() -> Self {
        Self {
            limits: Limits::default(),
            publishers: Vec::new(),
            min_sequence: Vec::new(),
            net: NetPolicy::default(),
            env_vars: Vec::new(),
            fs_roots: None,
            binds: Vec::new(),
            secrets: BTreeMap::new(),
            callers: Vec::new(),
            detect: crate::detect::DetectPolicy::default(),
            digest: Sha256Digest::of(BUILTIN_POLICY_TOML.as_bytes()),
            path: None,
            builtin: true,
        }
    }

    /// Read and parse a policy file.
    pub fn load(path: &Path) -> Result<Self, PolicyError> {
        let bytes = std::fs::read(path).map_err(|e| PolicyError::Io {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let mut p = Self::parse(&bytes).map_err(|e| match e {
            PolicyError::Malformed { error, hint, .. } => PolicyError::Malformed {
                path: Some(path.to_owned()),
                error,
                hint,
            },
            other => other,
        })?;
        p.path = Some(path.to_owned());
        Ok(p)
    }

    /// Parse the exact bytes of a policy file.
    pub fn parse(bytes: &[u8]) -> Result<Self, PolicyError> {
        let bad = |error| PolicyError::Malformed {
            path: None,
            error,
            hint: None,
        };
        let text = check_bytes(bytes, MAX_POLICY_SIZE, "the policy").map_err(bad)?;
        let doc = Located::parse(text).map_err(bad)?;
        let file: PolicyFile = doc.deserialize().map_err(bad)?;
        Self::from_file(file, &doc, Sha256Digest::of(bytes)).map_err(|b| PolicyError::Malformed {
            path: None,
            error: b.error,
            hint: b.hint,
        })
    }

    fn from_file(f: PolicyFile, doc: &Located<'_>, digest: Sha256Digest) -> Result<Self, Bad> {
        for (i, p) in f.publishers.iter().enumerate() {
            if p.principal.is_empty()
                || p.principal
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == ',')
            {
                return Err(doc
                    .error_at(
                        &format!("publishers[{i}].principal"),
                        "must be a principal without whitespace or `,`",
                    )
                    .into());
            }
        }
        f.limits
            .check_ranges()
            .map_err(|(field, why)| doc.error_at(&format!("limits.{field}"), why))?;
        for (i, m) in f.min_sequence.iter().enumerate() {
            if f.min_sequence[..i].iter().any(|o| o.tool == m.tool) {
                return Err(doc
                    .error_at(
                        &format!("min-sequence[{i}].tool"),
                        format!("a second floor for `{}`", m.tool),
                    )
                    .into());
            }
        }
        if f.net.cidrs.is_some() {
            return Err(bad_with(
                doc.error_at(
                    "net.cidrs",
                    "the global `cidrs` list is gone: each private range now names the tools that may reach it",
                ),
                "write one [[net.private]] table per range, with `cidr = \"10.1.2.0/24\"` and `tools = [\"inventory-*\"]` (the tools that may reach it)",
            ));
        }
        let mut private = Vec::new();
        for (i, r) in f.net.private.into_iter().enumerate() {
            let field = format!("net.private[{i}]");
            if r.cidr != r.cidr.trunc() {
                return Err(doc
                    .error_at(
                        &format!("{field}.cidr"),
                        format!(
                            "`{}` has host bits set; write the network, `{}`",
                            r.cidr,
                            r.cidr.trunc()
                        ),
                    )
                    .into());
            }
            let tools = required_tools(doc, &field, "a private range", r.tools)?;
            private.push(PrivateRange {
                cidr: r.cidr,
                tools,
            });
        }
        if let Some(roots) = &f.fs.roots {
            for (i, r) in roots.iter().enumerate() {
                if !r.is_absolute() {
                    return Err(doc
                        .error_at(&format!("fs.roots[{i}]"), "must be an absolute path")
                        .into());
                }
            }
        }
        let mut binds: Vec<BindRule> = Vec::new();
        for (i, b) in f.binds.into_iter().enumerate() {
            let field = format!("binds[{i}]");
            if b.tool.is_some() {
                return Err(bad_with(
                    doc.error_at(
                        &format!("{field}.tool"),
                        "`tool` is gone: a bind names the tools it is for in `tools`",
                    ),
                    "write `tools = [\"grep-files\"]` (globs over tool names) instead of `tool = \"grep-files\"`",
                ));
            }
            if !b.host.is_absolute() {
                return Err(doc
                    .error_at(&format!("{field}.host"), "must be an absolute path")
                    .into());
            }
            let tools = required_tools(doc, &field, "a bind", b.tools)?;
            if binds.iter().any(|o| o.tools == tools && o.guest == b.guest) {
                return Err(doc
                    .error_at(
                        &format!("{field}.guest"),
                        format!("duplicate bind for guest path `{}`", b.guest),
                    )
                    .into());
            }
            // A read-write bind holding another bind's directory lets its tool rename that
            // directory and plant a symlink in its place, which the other tool's next load
            // (another process, another replica) would follow. Refused across all entries,
            // whoever they are for: one grant's nesting check cannot see another tool's.
            if let Some((j, _)) = binds.iter().enumerate().find(|(_, o)| {
                (o.access == Access::ReadWrite && strictly_inside(&b.host, &o.host))
                    || (b.access == Access::ReadWrite && strictly_inside(&o.host, &b.host))
            }) {
                return Err(bad_with(
                    doc.error_at(
                        &format!("{field}.host"),
                        format!(
                            "`{}` and binds[{j}] nest, and the outer one is read-write: its tool \
                             could replace the inner directory with a symlink",
                            b.host.display()
                        ),
                    ),
                    "bind directories side by side, not one inside a read-write other",
                ));
            }
            binds.push(BindRule {
                tools,
                guest: b.guest,
                host: b.host,
                access: b.access,
                sensitive: b.sensitive,
            });
        }
        let mut secrets = BTreeMap::new();
        for (name, entry) in f.secrets {
            let field = format!("secrets.{name}");
            let key: EnvVarName = name
                .parse()
                .map_err(|e: NameError| doc.error_at(&field, e.0))?;
            let t = match entry {
                SecretFile::Old => {
                    return Err(bad_with(
                        doc.error_at(
                            &field,
                            "`NAME = \"SOURCE\"` is the old form: a secret now names its source, the one host it may go to, and the tools it is for",
                        ),
                        format!(
                            "write `[secrets.{name}]` with `source = \"env:{name}\"`, `host = \"https://api.example.com\"` and `tools = [\"TOOL\"]`"
                        ),
                    ));
                }
                SecretFile::Table(t) => t,
            };
            let Some(source) = t.source else {
                return Err(bad_with(
                    doc.error_at(&field, "a secret has no `source`"),
                    "add `source = \"env:VAR\"` or `source = \"file:/run/secrets/NAME\"`",
                ));
            };
            let Some(host) = t.host else {
                return Err(bad_with(
                    doc.error_at(
                        &field,
                        "a secret has no `host`: it must name the one host its value may be sent to",
                    ),
                    "add `host = \"https://api.example.com\"` (exact scheme://host[:port], no wildcard)",
                ));
            };
            if host.is_wildcard() {
                return Err(bad_with(
                    doc.error_at(
                        &format!("{field}.host"),
                        format!("`{host}` is a wildcard: a secret goes to one exact host"),
                    ),
                    "name the one host, e.g. `host = \"https://api.example.com\"`",
                ));
            }
            let tools = required_tools(doc, &field, "a secret", t.tools)?;
            secrets.insert(
                key,
                SecretRule {
                    source,
                    host,
                    tools,
                },
            );
        }
        let detect =
            crate::detect::rules::from_entries(f.detect).map_err(|(field, msg, hint)| {
                let e = doc.error_at(&field, msg);
                match hint {
                    Some(h) => bad_with(e, h),
                    None => e.into(),
                }
            })?;
        Ok(Self {
            limits: f.limits.or(Limits::default()),
            publishers: f.publishers,
            min_sequence: f.min_sequence,
            net: NetPolicy {
                allow: f.net.allow,
                private,
            },
            env_vars: f.env.vars,
            fs_roots: f.fs.roots,
            binds,
            secrets,
            callers: f.callers,
            detect,
            digest,
            path: None,
            builtin: false,
        })
    }

    /// SHA-256 of the policy file's bytes (of [`BUILTIN_POLICY_TOML`] for the built-in policy).
    pub fn digest(&self) -> &Sha256Digest {
        &self.digest
    }

    /// The file this policy came from, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Whether this is the built-in policy.
    pub fn is_builtin(&self) -> bool {
        self.builtin
    }

    /// Whether `principal` may sign manifests for the tool `name`.
    pub fn publisher_may_sign(&self, principal: &str, name: &ToolName) -> bool {
        self.publishers.iter().any(|p| {
            wildcard_match(&p.principal, principal) && p.tools.iter().any(|t| t.matches(name))
        })
    }

    /// Every `[[binds]]` entry (with its index) for `guest` whose `tools` match `tool`.
    pub fn binds_for(&self, tool: &ToolName, guest: &GuestPath) -> Vec<(usize, &BindRule)> {
        self.binds
            .iter()
            .enumerate()
            .filter(|(_, b)| &b.guest == guest && any_matches(&b.tools, tool))
            .collect()
    }

    /// Every `[[net.private]]` entry (with its index) open to `tool`.
    pub fn private_for(&self, tool: &ToolName) -> Vec<(usize, &PrivateRange)> {
        self.net
            .private
            .iter()
            .enumerate()
            .filter(|(_, r)| any_matches(&r.tools, tool))
            .collect()
    }

    /// The index of the first `[net] allow` entry that covers `p`.
    pub fn allow_entry_for(&self, p: &NetPattern) -> Option<usize> {
        self.net.allow.iter().position(|a| a.covers(p))
    }

    /// Whether an authenticated caller with `subject` may call `tool` (`[[callers]]`).
    pub fn may_call(&self, subject: &str, tool: &ToolName) -> bool {
        self.callers.is_empty()
            || self.callers.iter().any(|c| {
                c.subjects.iter().any(|s| s.0 == "*" || s.0 == subject)
                    && any_matches(&c.tools, tool)
            })
    }

    /// The `[[min-sequence]]` floor for `tool`, with its index.
    pub fn min_sequence_for(&self, tool: &ToolName) -> Option<(usize, u64)> {
        self.min_sequence
            .iter()
            .position(|m| &m.tool == tool)
            .map(|i| (i, self.min_sequence[i].sequence))
    }

    /// Refuse `m` as rollback if its sequence is below the policy's floor for its tool.
    pub fn check_min_sequence(&self, m: &Manifest) -> Result<(), RatchetError> {
        match self.min_sequence_for(&m.tool.name) {
            Some((i, floor)) if m.tool.sequence < floor => Err(RatchetError::Rollback {
                tool: m.tool.name.to_string(),
                sequence: m.tool.sequence,
                seen: floor,
                origin: format!(
                    "the floor set by min-sequence[{i}] of {}",
                    self.path().map_or_else(
                        || "the policy".to_owned(),
                        |p| format!("policy {}", p.display())
                    )
                ),
            }),
            _ => Ok(()),
        }
    }
}

/// Whether `inner` is a directory strictly below `outer`, as written and, where both exist, as
/// resolved (so a symlinked spelling does not hide the nesting).
fn strictly_inside(inner: &Path, outer: &Path) -> bool {
    let lexical = |p: &Path| -> PathBuf {
        let mut out = PathBuf::new();
        for c in p.components() {
            match c {
                std::path::Component::ParentDir => {
                    out.pop();
                }
                std::path::Component::CurDir => {}
                c => out.push(c),
            }
        }
        out
    };
    let below = |i: &Path, o: &Path| i != o && i.starts_with(o);
    if below(&lexical(inner), &lexical(outer)) {
        return true;
    }
    match (std::fs::canonicalize(inner), std::fs::canonicalize(outer)) {
        (Ok(i), Ok(o)) => below(&i, &o),
        _ => false,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The DESIGN.md example policy with `root` as the fs root and binds under it.
    pub(crate) fn design_policy(root: &Path) -> String {
        format!(
            r#"[limits]
fuel = 4_000_000_000
memory = "128 MiB"
timeout = "30s"
output = "4 MiB"
host-calls = 1_000_000

[[publishers]]
principal = "alice@example.com"
tools = ["fetch-weather", "search-*"]

[[publishers]]
principal = "mallory@example.com"
tools = ["search-*"]

[[min-sequence]]
tool = "fetch-weather"
sequence = 7

[net]
allow = ["https://*.example.com", "https://*.example.com:8443", "https://api.weather.gov"]

[[net.private]]
cidr = "10.1.2.0/24"
tools = ["fetch-weather"]

[[net.private]]
cidr = "10.9.0.0/16"
tools = ["inventory-*"]

[env]
vars = ["LANG", "TZ"]

[fs]
roots = ["{root}"]

[[binds]]
tools = ["fetch-weather"]
guest = "/data"
host = "{root}/docs"
access = "read"

[secrets.WEATHER_TOKEN]
source = "env:WEATHER_TOKEN"
host = "https://api.weather.gov"
tools = ["fetch-weather"]
"#,
            root = root.display()
        )
    }

    #[test]
    fn the_design_example_parses() {
        let p = Policy::parse(design_policy(Path::new("/srv/agent")).as_bytes()).unwrap();
        assert_eq!(p.limits.memory, 128 << 20);
        assert_eq!(p.limits.host_calls, 1_000_000);
        let name = |s: &str| s.parse::<ToolName>().unwrap();
        assert!(p.publisher_may_sign("alice@example.com", &name("search-web")));
        assert!(!p.publisher_may_sign("alice@example.com", &name("evil")));
        assert!(!p.publisher_may_sign("bob@example.com", &name("search-web")));
        assert_eq!(p.net.private[0].cidr.to_string(), "10.1.2.0/24");
        assert_eq!(p.private_for(&name("fetch-weather")).len(), 1);
        assert_eq!(p.private_for(&name("inventory-db"))[0].0, 1);
        assert!(p.private_for(&name("search-x")).is_empty());
        let data = "/data".parse().unwrap();
        assert_eq!(p.binds_for(&name("fetch-weather"), &data).len(), 1);
        assert!(p.binds_for(&name("other"), &data).is_empty());
        assert_eq!(p.min_sequence_for(&name("fetch-weather")), Some((0, 7)));
        let s = &p.secrets[&"WEATHER_TOKEN".parse().unwrap()];
        assert_eq!(s.host.to_string(), "https://api.weather.gov:443");
        assert_eq!(p.digest().as_str().len(), 64);
        assert!(!p.is_builtin());
    }

    /// The error of a bad policy: (field, message, hint).
    fn refusal(text: &str) -> (Option<String>, String, String) {
        match Policy::parse(text.as_bytes()).unwrap_err() {
            e @ PolicyError::Malformed { .. } => {
                let hint = e.hint().unwrap_or_default();
                let PolicyError::Malformed { error, .. } = e else {
                    unreachable!()
                };
                assert!(error.line.is_some(), "{error}");
                (error.field, error.message, hint)
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn old_global_forms_are_refused_with_the_new_form_as_hint() {
        let (field, msg, hint) = refusal("[secrets]\nWEATHER_TOKEN = \"env:WEATHER_TOKEN\"\n");
        assert_eq!(field.as_deref(), Some("secrets.WEATHER_TOKEN"));
        assert!(msg.contains("old form"), "{msg}");
        assert!(
            hint.contains("[secrets.WEATHER_TOKEN]") && hint.contains("tools"),
            "{hint}"
        );
        let (field, _, hint) = refusal("[net]\ncidrs = [\"10.0.0.0/8\"]\n");
        assert_eq!(field.as_deref(), Some("net.cidrs"));
        assert!(hint.contains("[[net.private]]"), "{hint}");
        let (field, _, hint) = refusal(
            "[[binds]]\ntool = \"grep-files\"\nguest = \"/data\"\nhost = \"/srv\"\naccess = \"read\"\n",
        );
        assert_eq!(field.as_deref(), Some("binds[0].tool"));
        assert!(hint.contains("tools = [\"grep-files\"]"), "{hint}");
    }

    #[test]
    fn nothing_is_provisioned_without_naming_its_tools() {
        let root = Path::new("/srv/agent");
        let good = design_policy(root);
        for (bad, field) in [
            // A bind, a private range, a secret: no tools at all, or an empty list.
            (
                good.replace("tools = [\"fetch-weather\"]\nguest", "guest"),
                "binds[0]",
            ),
            (
                good.replace("tools = [\"fetch-weather\"]\nguest", "tools = []\nguest"),
                "binds[0].tools",
            ),
            (
                good.replace(
                    "cidr = \"10.1.2.0/24\"\ntools = [\"fetch-weather\"]",
                    "cidr = \"10.1.2.0/24\"",
                ),
                "net.private[0]",
            ),
            (
                good.replace(
                    "host = \"https://api.weather.gov\"\ntools = [\"fetch-weather\"]",
                    "host = \"https://api.weather.gov\"",
                ),
                "secrets.WEATHER_TOKEN",
            ),
            (
                good.replace(
                    "host = \"https://api.weather.gov\"\ntools = [\"fetch-weather\"]",
                    "host = \"https://api.weather.gov\"\ntools = []",
                ),
                "secrets.WEATHER_TOKEN.tools",
            ),
            // A secret with no host, a wildcard host, no source.
            (
                good.replace("host = \"https://api.weather.gov\"\ntools", "tools"),
                "secrets.WEATHER_TOKEN",
            ),
            (
                good.replace(
                    "host = \"https://api.weather.gov\"\ntools",
                    "host = \"https://*.weather.gov\"\ntools",
                ),
                "secrets.WEATHER_TOKEN.host",
            ),
            (
                good.replace("source = \"env:WEATHER_TOKEN\"\n", ""),
                "secrets.WEATHER_TOKEN",
            ),
        ] {
            let (f, msg, hint) = refusal(&bad);
            assert_eq!(f.as_deref(), Some(field), "{msg}\n{bad}");
            assert!(
                !hint.contains("see manifests/"),
                "a specific hint for {field}: {hint}"
            );
        }
        // `["*"]` is the operator's explicit choice, and allowed.
        let all = Policy::parse(
            good.replace(
                "tools = [\"fetch-weather\"]\nguest",
                "tools = [\"*\"]\nguest",
            )
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(
            all.binds_for(&"anything".parse().unwrap(), &"/data".parse().unwrap())
                .len(),
            1
        );
    }

    #[test]
    fn builtin_equals_its_documented_text() {
        let parsed = Policy::parse(BUILTIN_POLICY_TOML.as_bytes()).unwrap();
        let builtin = Policy::builtin();
        assert_eq!(parsed.limits, builtin.limits);
        assert_eq!(parsed.digest(), builtin.digest());
        assert!(
            builtin.publishers.is_empty()
                && builtin.binds.is_empty()
                && builtin.net.allow.is_empty()
        );
        assert!(builtin.is_builtin());
    }

    #[test]
    fn unset_limits_fall_back_to_defaults() {
        let p = Policy::parse(b"[limits]\nfuel = 5\n").unwrap();
        assert_eq!(p.limits.fuel, 5);
        assert_eq!(p.limits.memory, Limits::default().memory);
    }

    #[test]
    fn strict_like_a_manifest() {
        let root = Path::new("/srv/agent");
        let good = design_policy(root);
        for (bad, field) in [
            (good.replace("[net]", "[netwrok]"), None),
            (
                good.replace("10.1.2.0/24", "10.1.2.3/24"),
                Some("net.private[0].cidr"),
            ),
            (
                good.replace("10.1.2.0/24", "ten"),
                Some("net.private[0].cidr"),
            ),
            (
                good.replace("\"30s\"", "\"18446744073709551615s\""),
                Some("limits.timeout"),
            ),
            (
                good.replace("\"128 MiB\"", "\"17 GiB\""),
                Some("limits.memory"),
            ),
            (
                format!("{good}\n[[min-sequence]]\ntool = \"fetch-weather\"\nsequence = 9\n"),
                Some("min-sequence[1].tool"),
            ),
            (
                good.replace(
                    "source = \"env:WEATHER_TOKEN\"",
                    "source = \"env:WEATHER_TOKEN\"\nheader = \"X\"",
                ),
                Some("secrets.WEATHER_TOKEN.header"),
            ),
            (
                good.replace("host = \"/srv/agent/docs\"", "host = \"docs\""),
                Some("binds[0].host"),
            ),
            (
                good.replace("\"search-*\"", "\"Search\""),
                Some("publishers[0].tools[1]"),
            ),
            (
                good.replace("env:WEATHER_TOKEN", "vault:x"),
                Some("secrets.WEATHER_TOKEN.source"),
            ),
            (
                good.replace("[secrets.WEATHER_TOKEN]", "[secrets.WEATHER-TOKEN]"),
                Some("secrets.WEATHER-TOKEN"),
            ),
            (
                good.replace("\"30s\"", "\"forever\""),
                Some("limits.timeout"),
            ),
            (
                format!(
                    "{good}\n[[binds]]\ntools = [\"fetch-weather\"]\nguest = \"/data\"\nhost = \"/srv/agent/x\"\naccess = \"read\"\n"
                ),
                Some("binds[1].guest"),
            ),
        ] {
            let e = Policy::parse(bad.as_bytes()).unwrap_err();
            assert_eq!(e.kind(), "malformed-policy", "{e}");
            if let (Some(field), PolicyError::Malformed { error, .. }) = (field, &e) {
                assert_eq!(error.field.as_deref(), Some(field), "{e}");
                assert!(error.line.is_some(), "{e}");
            }
        }
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend_from_slice(good.as_bytes());
        assert!(Policy::parse(&bom).is_err());
    }

    #[test]
    fn a_read_write_bind_may_not_hold_another_tools_bind() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        std::fs::create_dir_all(root.join("docs")).unwrap();
        std::os::unix::fs::symlink(root.join("docs"), d.path().join("alias")).unwrap();
        let bind = |tool: &str, guest: &str, host: &Path, access: &str| {
            format!(
                "[[binds]]\ntools = [\"{tool}\"]\nguest = \"{guest}\"\nhost = \"{}\"\naccess = \"{access}\"\n",
                host.display()
            )
        };
        let docs = root.join("docs");
        let alias = d.path().join("alias");
        for (first, second) in [
            // The review's layout, with the two binds given to two different tools.
            (
                bind("writer", "/work", &root, "read-write"),
                bind("reader", "/docs", &docs, "read"),
            ),
            // Either order.
            (
                bind("reader", "/docs", &docs, "read"),
                bind("writer", "/work", &root, "read-write"),
            ),
            // A symlinked spelling of the inner directory.
            (
                bind("writer", "/work", &root, "read-write"),
                bind("reader", "/docs", &alias, "read"),
            ),
            // `..` in the spelling.
            (
                bind("writer", "/work", &root, "read-write"),
                bind("reader", "/docs", &root.join("x/../docs"), "read"),
            ),
        ] {
            let e = Policy::parse(format!("{first}{second}").as_bytes()).unwrap_err();
            assert!(e.to_string().contains("nest"), "{e}");
        }
        // Side by side, or a read-only outer bind, is fine.
        let other = d.path().join("other");
        std::fs::create_dir_all(&other).unwrap();
        for ok in [
            format!(
                "{}{}",
                bind("writer", "/work", &other, "read-write"),
                bind("reader", "/docs", &docs, "read")
            ),
            format!(
                "{}{}",
                bind("a", "/all", &root, "read"),
                bind("b", "/docs", &docs, "read")
            ),
        ] {
            Policy::parse(ok.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{ok}"));
        }
    }
}
