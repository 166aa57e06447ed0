//! The operator policy (`policy.toml`): ceilings, who may publish which tools, and the binds.
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
use crate::names::{Access, EnvVarName, GuestPath, NameError, Sha256Digest, ToolName};
use crate::net_pattern::NetPattern;
use crate::pattern::wildcard_match;
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
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetPolicy {
    /// Ceiling for manifests' `[net] allow`.
    #[serde(default)]
    pub allow: Vec<NetPattern>,
    /// Private, loopback or link-local ranges tools may reach (all others of those are refused).
    #[serde(default)]
    pub cidrs: Vec<ipnet::IpNet>,
}

/// `[[binds]]`: a guest path bound to a host directory.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindRule {
    /// Only for this tool; a bind without `tool` applies to every tool.
    #[serde(default)]
    pub tool: Option<ToolName>,
    /// The manifest's guest path.
    pub guest: GuestPath,
    /// The host directory (absolute).
    pub host: PathBuf,
    /// The most access the bind gives; a manifest asking more is refused.
    pub access: Access,
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
    #[serde(default)]
    net: NetPolicy,
    #[serde(default)]
    env: EnvPolicy,
    #[serde(default)]
    fs: FsPolicy,
    #[serde(default)]
    binds: Vec<BindRule>,
    #[serde(default)]
    secrets: BTreeMap<String, SecretSource>,
}

/// A parsed, validated operator policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Ceilings, and the values used where a manifest sets none.
    pub limits: Limits,
    /// Who may sign which tool names.
    pub publishers: Vec<PublisherRule>,
    /// Network ceiling and reachable private ranges.
    pub net: NetPolicy,
    /// Env vars a manifest may ask for.
    pub env_vars: Vec<EnvVarName>,
    /// When set, host paths outside these may not be bound.
    pub fs_roots: Option<Vec<PathBuf>>,
    /// Guest path → host directory binds.
    pub binds: Vec<BindRule>,
    /// Where declared secrets' values come from.
    pub secrets: BTreeMap<EnvVarName, SecretSource>,
    digest: Sha256Digest,
    path: Option<PathBuf>,
    builtin: bool,
}

impl Policy {
    /// The policy used when no policy file exists (see the module docs).
    pub fn builtin() -> Self {
        Self {
            limits: Limits::default(),
            publishers: Vec::new(),
            net: NetPolicy::default(),
            env_vars: Vec::new(),
            fs_roots: None,
            binds: Vec::new(),
            secrets: BTreeMap::new(),
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
            PolicyError::Malformed { error, .. } => PolicyError::Malformed {
                path: Some(path.to_owned()),
                error,
            },
            other => other,
        })?;
        p.path = Some(path.to_owned());
        Ok(p)
    }

    /// Parse the exact bytes of a policy file.
    pub fn parse(bytes: &[u8]) -> Result<Self, PolicyError> {
        let bad = |error| PolicyError::Malformed { path: None, error };
        let text = check_bytes(bytes, MAX_POLICY_SIZE, "the policy").map_err(bad)?;
        let doc = Located::parse(text).map_err(bad)?;
        let file: PolicyFile = doc.deserialize().map_err(bad)?;
        Self::from_file(file, &doc, Sha256Digest::of(bytes)).map_err(bad)
    }

    fn from_file(f: PolicyFile, doc: &Located<'_>, digest: Sha256Digest) -> Result<Self, DocError> {
        for (i, p) in f.publishers.iter().enumerate() {
            if p.principal.is_empty()
                || p.principal
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == ',')
            {
                return Err(doc.error_at(
                    &format!("publishers[{i}].principal"),
                    "must be a principal without whitespace or `,`",
                ));
            }
        }
        for (i, c) in f.net.cidrs.iter().enumerate() {
            if *c != c.trunc() {
                return Err(doc.error_at(
                    &format!("net.cidrs[{i}]"),
                    format!(
                        "`{c}` has host bits set; write the network, `{}`",
                        c.trunc()
                    ),
                ));
            }
        }
        if let Some(roots) = &f.fs.roots {
            for (i, r) in roots.iter().enumerate() {
                if !r.is_absolute() {
                    return Err(doc.error_at(&format!("fs.roots[{i}]"), "must be an absolute path"));
                }
            }
        }
        for (i, b) in f.binds.iter().enumerate() {
            if !b.host.is_absolute() {
                return Err(doc.error_at(&format!("binds[{i}].host"), "must be an absolute path"));
            }
            if f.binds[..i]
                .iter()
                .any(|o| o.tool == b.tool && o.guest == b.guest)
            {
                return Err(doc.error_at(
                    &format!("binds[{i}].guest"),
                    format!("duplicate bind for guest path `{}`", b.guest),
                ));
            }
        }
        let mut secrets = BTreeMap::new();
        for (name, source) in f.secrets {
            let key: EnvVarName = name
                .parse()
                .map_err(|e: NameError| doc.error_at(&format!("secrets.{name}"), e.0))?;
            secrets.insert(key, source);
        }
        Ok(Self {
            limits: f.limits.or(Limits::default()),
            publishers: f.publishers,
            net: f.net,
            env_vars: f.env.vars,
            fs_roots: f.fs.roots,
            binds: f.binds,
            secrets,
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

    /// The bind for `guest` of tool `tool`: a tool-specific bind wins over a general one.
    pub fn bind_for(&self, tool: &ToolName, guest: &GuestPath) -> Option<&BindRule> {
        self.binds
            .iter()
            .find(|b| b.tool.as_ref() == Some(tool) && &b.guest == guest)
            .or_else(|| {
                self.binds
                    .iter()
                    .find(|b| b.tool.is_none() && &b.guest == guest)
            })
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

[net]
allow = ["https://*.example.com", "https://*.example.com:8443", "https://api.weather.gov"]
cidrs = ["10.1.2.0/24"]

[env]
vars = ["LANG", "TZ"]

[fs]
roots = ["{root}"]

[[binds]]
tool = "fetch-weather"
guest = "/data"
host = "{root}/docs"
access = "read"

[secrets]
WEATHER_TOKEN = "env:WEATHER_TOKEN"
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
        assert_eq!(p.net.cidrs[0].to_string(), "10.1.2.0/24");
        assert!(
            p.bind_for(&name("fetch-weather"), &"/data".parse().unwrap())
                .is_some()
        );
        assert!(
            p.bind_for(&name("other"), &"/data".parse().unwrap())
                .is_none()
        );
        assert_eq!(p.digest().as_str().len(), 64);
        assert!(!p.is_builtin());
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
                Some("net.cidrs[0]"),
            ),
            (good.replace("10.1.2.0/24", "ten"), Some("net.cidrs[0]")),
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
                Some("secrets.WEATHER_TOKEN"),
            ),
            (
                good.replace("WEATHER_TOKEN =", "WEATHER-TOKEN ="),
                Some("secrets.WEATHER-TOKEN"),
            ),
            (
                good.replace("\"30s\"", "\"forever\""),
                Some("limits.timeout"),
            ),
            (
                format!(
                    "{good}\n[[binds]]\ntool = \"fetch-weather\"\nguest = \"/data\"\nhost = \"/srv/agent/x\"\naccess = \"read\"\n"
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
}
