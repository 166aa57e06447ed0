//! The tool manifest, schema 1: what a tool is, which bytes it is, and what it asks for.
//!
//! Parsing is strict and works on the exact buffer whose signature was checked: at most 64 KiB,
//! UTF-8 without BOM, `schema = 1`, no unknown fields, no duplicate keys, and every value
//! validated (names, digest, sizes, durations, network patterns, guest paths, env var names,
//! secret formats, the expiry). Errors name the field and the line.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::limits::LimitOverrides;
use crate::names::{Access, EnvVarName, GuestPath, Sha256Digest, ToolName};
use crate::net_pattern::NetPattern;
use crate::toml_doc::{DocError, Located, check_bytes};

/// The manifest schema version this crate reads.
pub const SCHEMA_VERSION: i64 = 1;
/// The largest manifest accepted, in bytes.
pub const MAX_MANIFEST_SIZE: usize = 64 * 1024;

/// A manifest that could not be read; names the field and line where known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed manifest: {0}")]
pub struct ManifestError(pub DocError);

impl ManifestError {
    /// Dotted path of the offending field, e.g. `tool.name`.
    pub fn field(&self) -> Option<&str> {
        self.0.field.as_deref()
    }
    /// 1-based line of the offending text.
    pub fn line(&self) -> Option<usize> {
        self.0.line
    }
    /// The error kind: always `malformed-manifest`.
    pub fn kind(&self) -> &'static str {
        "malformed-manifest"
    }
}

/// A parsed, validated manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "wasmgov manifest (schema 1)")]
pub struct Manifest {
    /// Always 1.
    #[schemars(range(min = 1, max = 1))]
    pub schema: i64,
    /// Who the tool is.
    pub tool: ToolInfo,
    /// Which bytes the tool is.
    pub component: ComponentPin,
    /// Per-call limits the tool asks for; the operator's policy is the ceiling.
    #[serde(default)]
    #[schemars(with = "LimitsSchema")]
    pub limits: LimitOverrides,
    /// Directories the tool asks for; the operator binds host paths to them.
    #[serde(default)]
    pub fs: Vec<FsRequest>,
    /// Hosts the tool asks to connect to.
    #[serde(default)]
    pub net: NetRequest,
    /// Environment variables the tool asks for.
    #[serde(default)]
    pub env: EnvRequest,
    /// Secrets the host injects into the tool's outgoing requests.
    #[serde(default)]
    pub secrets: Vec<SecretRequest>,
}

/// `[tool]`: identity and release of the tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolInfo {
    /// `[a-z0-9][a-z0-9-]*`, at most 64 characters; policy is keyed by it.
    pub name: ToolName,
    /// Release version (informational).
    pub version: String,
    /// Must match a principal of the signing key in `allowed_signers`.
    pub publisher: String,
    /// What the agent sees; signed, so it cannot change after review.
    #[serde(default)]
    pub description: String,
    /// Rises with every release; a lower one than seen before is refused.
    pub sequence: u64,
    /// After this instant (RFC 3339) the manifest is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub expires: Option<Timestamp>,
}

/// `[component]`: pins the exact component bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ComponentPin {
    /// SHA-256 of the component, 64 lowercase hex digits.
    pub sha256: Sha256Digest,
    /// Size of the component in bytes.
    pub size: u64,
}

/// `[[fs]]`: a directory the tool needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FsRequest {
    /// Path inside the sandbox.
    pub guest: GuestPath,
    /// `read` or `read-write`.
    pub access: Access,
    /// Why the tool needs it (shown to the operator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
}

/// `[net]`: hosts the tool may connect to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NetRequest {
    /// `scheme://host[:port]` patterns.
    #[serde(default)]
    pub allow: Vec<NetPattern>,
}

/// `[env]`: environment variables the tool may read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvRequest {
    /// Variable names.
    #[serde(default)]
    pub vars: Vec<EnvVarName>,
}

/// `[[secrets]]`: a value the host adds to requests to one host; the tool never sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretRequest {
    /// Secret name, `[A-Za-z_][A-Za-z0-9_]*`.
    pub name: EnvVarName,
    /// The one host (no wildcard) whose requests get the secret; must be in `[net] allow`.
    pub host: NetPattern,
    /// HTTP header that carries it, e.g. `Authorization`.
    pub header: String,
    /// Header value with `{}` where the secret goes, e.g. `Bearer {}`.
    #[serde(default = "default_format")]
    pub format: String,
}

fn default_format() -> String {
    "{}".to_owned()
}

/// An RFC 3339 instant, read from a TOML string or a TOML offset date-time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub OffsetDateTime);

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.format(&Rfc3339) {
            Ok(s) => f.write_str(&s),
            Err(_) => write!(f, "{}", self.0),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = match toml::Value::deserialize(d)? {
            toml::Value::String(s) => s,
            toml::Value::Datetime(dt) => dt.to_string(),
            other => {
                return Err(serde::de::Error::custom(format!(
                    "expected an RFC 3339 date-time like \"2027-06-01T00:00:00Z\", found a {}",
                    other.type_str()
                )));
            }
        };
        OffsetDateTime::parse(&text, &Rfc3339).map(Self).map_err(|e| {
            serde::de::Error::custom(format!(
                "invalid date-time `{text}`: {e}; expected RFC 3339 with an offset, like \"2027-06-01T00:00:00Z\""
            ))
        })
    }
}

/// JSON Schema stand-in for `[limits]` (the runtime type lives in `limits.rs`).
#[derive(schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[allow(dead_code)]
struct LimitsSchema {
    /// Fuel (roughly, wasm instructions).
    fuel: Option<u64>,
    /// Linear memory, e.g. "64 MiB", or bytes.
    memory: Option<SizeSchema>,
    /// Wall time, e.g. "10s".
    timeout: Option<String>,
    /// Result + stdout + stderr, e.g. "1 MiB", or bytes.
    output: Option<SizeSchema>,
    /// Number of host calls.
    host_calls: Option<u64>,
    /// What the host may hold for a call (HTTP fields and bodies, streams), e.g. "16 MiB".
    host_memory: Option<SizeSchema>,
    /// Bytes a call may add to its read-write binds, e.g. "64 MiB".
    write: Option<SizeSchema>,
    /// New files, directories and links a call may create in its read-write binds.
    files: Option<u64>,
}

/// A size: bytes, or a string with a unit.
#[derive(schemars::JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum SizeSchema {
    Bytes(u64),
    Text(String),
}

impl Manifest {
    /// Parse and validate the exact bytes (the buffer whose signature was verified).
    pub fn parse(bytes: &[u8]) -> Result<Self, ManifestError> {
        let text = check_bytes(bytes, MAX_MANIFEST_SIZE, "the manifest").map_err(ManifestError)?;
        let doc = Located::parse(text).map_err(ManifestError)?;
        match doc.value("schema").map(|v| v.get_ref()) {
            None => {
                return Err(ManifestError(DocError {
                    field: Some("schema".into()),
                    line: None,
                    message: "missing; a manifest starts with `schema = 1`".into(),
                }));
            }
            Some(v)
                if v.as_integer()
                    .and_then(|i| i64::from_str_radix(i.as_str(), i.radix()).ok())
                    == Some(SCHEMA_VERSION) => {}
            Some(_) => {
                return Err(ManifestError(doc.error_at(
                    "schema",
                    format!("unsupported schema; this wasmgov reads schema {SCHEMA_VERSION}"),
                )));
            }
        }
        let manifest: Manifest = doc.deserialize().map_err(ManifestError)?;
        manifest.validate(&doc).map_err(ManifestError)?;
        Ok(manifest)
    }

    /// Checks across fields and of values serde cannot express.
    fn validate(&self, doc: &Located<'_>) -> Result<(), DocError> {
        let t = &self.tool;
        text_field(doc, "tool.version", &t.version, 64, false)?;
        text_field(doc, "tool.publisher", &t.publisher, 256, false)?;
        if t.publisher
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, ',' | '*' | '?' | '!' | '"'))
        {
            return Err(doc.error_at(
                "tool.publisher",
                "must be a principal without whitespace, `,`, `*`, `?`, `!` or `\"`",
            ));
        }
        if t.description
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            return Err(doc.error_at("tool.description", "contains a control character"));
        }
        for (field, value) in [
            ("fuel", self.limits.fuel),
            ("memory", self.limits.memory.map(|m| m.0)),
            ("host-memory", self.limits.host_memory.map(|m| m.0)),
        ] {
            if value == Some(0) {
                return Err(doc.error_at(&format!("limits.{field}"), "must be above zero"));
            }
        }
        self.limits
            .check_ranges()
            .map_err(|(field, why)| doc.error_at(&format!("limits.{field}"), why))?;
        for (i, f) in self.fs.iter().enumerate() {
            if let Some(p) = &f.purpose {
                text_field(doc, &format!("fs[{i}].purpose"), p, 1024, true)?;
            }
            for (j, other) in self.fs.iter().enumerate().take(i) {
                if f.guest == other.guest {
                    return Err(doc.error_at(
                        &format!("fs[{i}].guest"),
                        format!("duplicate guest path `{}` (also fs[{j}])", f.guest),
                    ));
                }
                if f.guest.overlaps(&other.guest) {
                    return Err(doc.error_at(
                        &format!("fs[{i}].guest"),
                        format!(
                            "guest path `{}` overlaps fs[{j}] `{}`",
                            f.guest, other.guest
                        ),
                    ));
                }
            }
        }
        unique(doc, "net.allow", &self.net.allow)?;
        unique(doc, "env.vars", &self.env.vars)?;
        let mut names = BTreeSet::new();
        for (i, s) in self.secrets.iter().enumerate() {
            if !names.insert(&s.name) {
                return Err(doc.error_at(
                    &format!("secrets[{i}].name"),
                    format!("duplicate secret `{}`", s.name),
                ));
            }
            if s.host.is_wildcard() {
                return Err(doc.error_at(
                    &format!("secrets[{i}].host"),
                    "a secret goes to one host: no wildcard",
                ));
            }
            if !self.net.allow.iter().any(|p| p.covers(&s.host)) {
                return Err(doc.error_at(
                    &format!("secrets[{i}].host"),
                    format!("`{}` is not in [net] allow", s.host),
                ));
            }
            let header_ok = !s.header.is_empty()
                && s.header.len() <= 128
                && s.header
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if !header_ok {
                return Err(doc.error_at(
                    &format!("secrets[{i}].header"),
                    format!("`{}` is not an HTTP header name", s.header),
                ));
            }
            if s.format.matches("{}").count() != 1 {
                return Err(doc.error_at(
                    &format!("secrets[{i}].format"),
                    "must contain `{}` exactly once, where the secret goes",
                ));
            }
            if s.format.chars().any(|c| c.is_control()) || s.format.len() > 256 {
                return Err(doc.error_at(
                    &format!("secrets[{i}].format"),
                    "contains a control character or is longer than 256 bytes",
                ));
            }
        }
        Ok(())
    }

    /// `name@version`, as used in messages and audit records.
    pub fn tool_id(&self) -> String {
        format!("{}@{}", self.tool.name, self.tool.version)
    }

    /// Whether the manifest has expired at `now`.
    pub fn is_expired(&self, now: std::time::SystemTime) -> bool {
        self.tool
            .expires
            .is_some_and(|e| OffsetDateTime::from(now) > e.0)
    }

    /// The JSON Schema (draft 2020-12) of a manifest, pretty-printed.
    pub fn json_schema() -> String {
        let schema = schemars::schema_for!(Manifest);
        serde_json::to_string_pretty(&schema).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

fn text_field(
    doc: &Located<'_>,
    path: &str,
    value: &str,
    max: usize,
    newlines: bool,
) -> Result<(), DocError> {
    if value.trim().is_empty() {
        return Err(doc.error_at(path, "must not be empty"));
    }
    if value.len() > max {
        return Err(doc.error_at(path, format!("longer than {max} bytes")));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !(newlines && c == '\n'))
    {
        return Err(doc.error_at(path, "contains a control character"));
    }
    Ok(())
}

fn unique<T: PartialEq + fmt::Display>(
    doc: &Located<'_>,
    path: &str,
    items: &[T],
) -> Result<(), DocError> {
    for (i, a) in items.iter().enumerate() {
        if items[..i].contains(a) {
            return Err(doc.error_at(&format!("{path}[{i}]"), format!("duplicate entry `{a}`")));
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A complete manifest used across the crate's tests (component digest of `b"component"`).
    pub(crate) fn sample(extra: &str) -> String {
        format!(
            r#"schema = 1

[tool]
name = "fetch-weather"
version = "1.2.0"
publisher = "alice@example.com"
description = "Current weather for a city"
sequence = 7
expires = "2099-06-01T00:00:00Z"

[component]
sha256 = "{}"
size = 9

[limits]
fuel = 2_000_000_000
memory = "64 MiB"
timeout = "10s"
output = "1 MiB"
host-calls = 100_000

[[fs]]
guest = "/data"
access = "read"
purpose = "documents to summarise"

[net]
allow = ["https://api.weather.gov", "https://*.example.com:8443"]

[env]
vars = ["LANG"]

[[secrets]]
name = "WEATHER_TOKEN"
host = "https://api.weather.gov"
header = "Authorization"
format = "Bearer {{}}"
{extra}"#,
            Sha256Digest::of(b"component")
        )
    }

    fn parse(s: &str) -> Result<Manifest, ManifestError> {
        Manifest::parse(s.as_bytes())
    }

    #[test]
    fn the_design_example_parses() {
        let m = parse(&sample("")).unwrap();
        assert_eq!(m.tool.name.as_str(), "fetch-weather");
        assert_eq!(m.tool.sequence, 7);
        assert_eq!(m.limits.memory.unwrap().0, 64 << 20);
        assert_eq!(m.limits.host_calls, Some(100_000));
        assert_eq!(m.fs[0].access, Access::Read);
        assert_eq!(m.net.allow[1].to_string(), "https://*.example.com:8443");
        assert_eq!(m.secrets[0].format, "Bearer {}");
        assert_eq!(m.tool_id(), "fetch-weather@1.2.0");
        assert!(!m.is_expired(std::time::SystemTime::now()));
    }

    #[test]
    fn a_minimal_manifest_parses() {
        let m = parse(&format!(
            "schema = 1\n[tool]\nname = \"x\"\nversion = \"1\"\npublisher = \"a@b\"\nsequence = 1\n[component]\nsha256 = \"{}\"\nsize = 1\n",
            Sha256Digest::of(b"")
        ))
        .unwrap();
        assert!(m.fs.is_empty() && m.net.allow.is_empty() && m.tool.expires.is_none());
    }

    fn refuse(text: &str, field: &str, line: Option<usize>) {
        let e = parse(text).expect_err(text);
        assert_eq!(e.field(), Some(field), "{e}");
        if line.is_some() {
            assert_eq!(e.line(), line, "{e}");
        }
        assert_eq!(e.kind(), "malformed-manifest");
        assert!(e.to_string().contains(field), "{e}");
    }

    #[test]
    fn bad_values_name_their_field_and_line() {
        let s = sample("");
        refuse(&s.replace("fetch-weather", "Fetch"), "tool.name", Some(4));
        refuse(&s.replace("schema = 1", "schema = 2"), "schema", Some(1));
        refuse(
            &s.replace("size = 9", "size = -1"),
            "component.size",
            Some(13),
        );
        refuse(
            &s.replace("\"64 MiB\"", "\"lots\""),
            "limits.memory",
            Some(17),
        );
        refuse(
            &s.replace("\"10s\"", "\"soon\""),
            "limits.timeout",
            Some(18),
        );
        refuse(
            &s.replace(
                "https://api.weather.gov\", \"",
                "https://api.weather.gov/x\", \"",
            ),
            "net.allow[0]",
            Some(28),
        );
        refuse(
            &s.replace("\"/data\"", "\"/data/../etc\""),
            "fs[0].guest",
            Some(23),
        );
        refuse(&s.replace("\"LANG\"", "\"LA-NG\""), "env.vars[0]", Some(31));
        refuse(
            &s.replace("Bearer {{}}", "Bearer")
                .replace("Bearer {}", "Bearer"),
            "secrets[0].format",
            Some(37),
        );
        refuse(
            &s.replace("2099-06-01T00:00:00Z", "next year"),
            "tool.expires",
            Some(9),
        );
        refuse(
            &s.replace("access = \"read\"", "access = \"rw\""),
            "fs[0].access",
            Some(24),
        );
    }

    #[test]
    fn sha256_must_be_lowercase_hex() {
        let s = sample("");
        let d = Sha256Digest::of(b"component").to_string();
        refuse(
            &s.replace(&d, &d.to_uppercase()),
            "component.sha256",
            Some(12),
        );
        refuse(&s.replace(&d, &d[..63]), "component.sha256", Some(12));
    }

    #[test]
    fn unknown_and_duplicate_fields_are_refused() {
        let s = sample("");
        let e = parse(&s.replace("[net]", "[netwrok]")).unwrap_err();
        assert!(e.to_string().contains("netwrok"), "{e}");
        let e = parse(&s.replace("sequence = 7", "sequence = 7\nsequence = 8")).unwrap_err();
        assert_eq!(e.line(), Some(9), "{e}");
        let e = parse(&s.replace("sequence = 7", "sequence = 7\nowner = \"x\"")).unwrap_err();
        assert!(e.to_string().contains("owner"), "{e}");
    }

    #[test]
    fn cross_field_rules() {
        let s = sample("\n[[fs]]\nguest = \"/data\"\naccess = \"read-write\"\n");
        refuse(&s, "fs[1].guest", Some(40));
        let s = sample("\n[[fs]]\nguest = \"/data/sub\"\naccess = \"read\"\n");
        refuse(&s, "fs[1].guest", None);
        let s = sample("").replace(
            "host = \"https://api.weather.gov\"",
            "host = \"https://other.gov\"",
        );
        refuse(&s, "secrets[0].host", None);
        let s = sample("").replace(
            "host = \"https://api.weather.gov\"",
            "host = \"https://*.example.com:8443\"",
        );
        refuse(&s, "secrets[0].host", None);
        let s = sample("").replace("\"LANG\"", "\"LANG\", \"LANG\"");
        refuse(&s, "env.vars[1]", None);
        let s = sample("").replace("\"Authorization\"", "\"Auth orization\"");
        refuse(&s, "secrets[0].header", None);
    }

    #[test]
    fn bytes_are_checked_before_parsing() {
        let s = sample("");
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend_from_slice(s.as_bytes());
        assert!(
            Manifest::parse(&bom)
                .unwrap_err()
                .to_string()
                .contains("BOM")
        );
        let mut bad = s.clone().into_bytes();
        bad.extend_from_slice(b"# \xff\n");
        assert!(
            Manifest::parse(&bad)
                .unwrap_err()
                .to_string()
                .contains("UTF-8")
        );
        let big = format!("{s}#{}\n", "x".repeat(MAX_MANIFEST_SIZE));
        assert!(
            parse(&big)
                .unwrap_err()
                .to_string()
                .contains("over the limit")
        );
        assert!(
            parse(&s.replace("schema = 1\n", ""))
                .unwrap_err()
                .to_string()
                .contains("schema")
        );
    }

    #[test]
    fn crlf_and_comments_parse_the_same() {
        let s = sample("# a comment\n");
        let crlf = s.replace('\n', "\r\n");
        assert_eq!(parse(&s).unwrap(), parse(&crlf).unwrap());
    }

    #[test]
    fn expiry_in_the_past_is_seen() {
        let m = parse(&sample("").replace("2099-06-01T00:00:00Z", "2001-01-01T00:00:00Z")).unwrap();
        assert!(m.is_expired(std::time::SystemTime::now()));
        let m =
            parse(&sample("").replace("\"2099-06-01T00:00:00Z\"", "2099-06-01T00:00:00Z")).unwrap();
        assert!(!m.is_expired(std::time::SystemTime::now()));
    }

    #[test]
    fn json_schema_describes_the_manifest() {
        let schema: serde_json::Value = serde_json::from_str(&Manifest::json_schema()).unwrap();
        let props = &schema["properties"];
        for key in [
            "schema",
            "tool",
            "component",
            "limits",
            "fs",
            "net",
            "env",
            "secrets",
        ] {
            assert!(props.get(key).is_some(), "{key} missing from {schema}");
        }
        assert_eq!(schema["additionalProperties"], serde_json::json!(false));
    }
}
