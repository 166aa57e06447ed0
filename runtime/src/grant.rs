//! The effective grant: what a tool may use, = manifest ∩ policy (∩ the operator's flags).
//!
//! A manifest that asks for more than the policy allows is refused whole, and the error lists
//! every field that is over. The command line can bind what the manifest declares (`--dir`,
//! `--env`, `--secret`), narrow a bind to read-only (`:read`) and lower limits, but never widen
//! what the signed manifest asks. Host paths are resolved (symlinks followed) before they are
//! checked against `[fs] roots` and the protected paths (`/`, `/proc`, `/sys`, `/dev`), and the
//! resolved path is what the grant holds.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::limits::{LimitOverrides, Limits};
use crate::manifest::Manifest;
use crate::names::{Access, EnvVarName, GuestPath};
use crate::net_pattern::NetPattern;
use crate::policy::{Policy, PolicyError, Violation};

/// Host paths that may never be bound (nor anything under the last three).
pub const PROTECTED_PATHS: [&str; 4] = ["/", "/proc", "/sys", "/dev"];

/// Where a secret's value comes from. Never holds the value itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SecretSource {
    /// An environment variable of the wasmgov process (`env:NAME`).
    Env(EnvVarName),
    /// A file (`file:/run/secrets/x`, or `@/run/secrets/x` on the command line).
    File(PathBuf),
}

impl SecretSource {
    /// Read the value. Trailing newlines of a file are removed.
    pub fn read(&self) -> std::io::Result<String> {
        match self {
            Self::Env(name) => std::env::var(name.as_str()).map_err(|e| {
                std::io::Error::new(std::io::ErrorKind::NotFound, format!("env var {name}: {e}"))
            }),
            Self::File(path) => {
                let s = std::fs::read_to_string(path)?;
                Ok(s.trim_end_matches(['\n', '\r']).to_owned())
            }
        }
    }
}

impl FromStr for SecretSource {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(name) = s.strip_prefix("env:") {
            return name
                .parse()
                .map(Self::Env)
                .map_err(|e: crate::names::NameError| e.0);
        }
        let file = s.strip_prefix("file:").or_else(|| s.strip_prefix('@'));
        match file {
            Some(p) if Path::new(p).is_absolute() => Ok(Self::File(PathBuf::from(p))),
            Some(p) if !p.is_empty() => std::env::current_dir()
                .map(|d| Self::File(d.join(p)))
                .map_err(|e| format!("cannot resolve `{p}`: {e}")),
            _ => Err(format!(
                "invalid secret source `{s}`: expected `env:NAME`, `file:/absolute/path` or `@FILE`"
            )),
        }
    }
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env(n) => write!(f, "env:{n}"),
            Self::File(p) => write!(f, "file:{}", p.display()),
        }
    }
}

impl Serialize for SecretSource {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SecretSource {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct PolicySource(SecretSource);
        impl FromStr for PolicySource {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                if s.starts_with('@') {
                    return Err("write `file:/absolute/path` in a policy".into());
                }
                s.parse().map(Self)
            }
        }
        crate::names::deserialize_parsed(d, "env:NAME or file:/path").map(|p: PolicySource| p.0)
    }
}

/// A `--dir GUEST=HOST[:read]` flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliBind {
    /// The manifest's guest path.
    pub guest: GuestPath,
    /// The host directory (relative paths resolve against the current directory).
    pub host: PathBuf,
    /// `:read` was given: narrow a read-write request to read.
    pub read_only: bool,
}

impl FromStr for CliBind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let Some((guest, host)) = s.split_once('=') else {
            return Err(format!("invalid --dir `{s}`: expected GUEST=HOST[:read]"));
        };
        let guest: GuestPath = guest
            .parse()
            .map_err(|e: crate::names::NameError| format!("invalid --dir `{s}`: {}", e.0))?;
        let (host, read_only) = match host.strip_suffix(":read") {
            Some(h) => (h, true),
            None => (host, false),
        };
        if host.is_empty() {
            return Err(format!("invalid --dir `{s}`: empty host path"));
        }
        Ok(Self {
            guest,
            host: PathBuf::from(host),
            read_only,
        })
    }
}

/// The operator's run-time inputs to the grant.
#[derive(Debug, Clone)]
pub struct GrantInputs<'a> {
    /// Check that the manifest's publisher may sign its tool name (off for unsigned manifests).
    pub check_publisher: bool,
    /// `--dir` binds; they replace a policy bind of the same guest path.
    pub binds: &'a [CliBind],
    /// `--env NAME=VALUE` values, for vars the manifest declares.
    pub env_values: &'a [(String, String)],
    /// `--secret NAME=SOURCE` sources, for secrets the manifest declares.
    pub secrets: &'a [(String, SecretSource)],
    /// `--fuel`, `--memory`, `--timeout`, `--max-output`: lower limits for this call.
    pub narrow: LimitOverrides,
}

impl Default for GrantInputs<'_> {
    fn default() -> Self {
        Self {
            check_publisher: true,
            binds: &[],
            env_values: &[],
            secrets: &[],
            narrow: LimitOverrides::default(),
        }
    }
}

/// Where a bind came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BindOrigin {
    /// A `[[binds]]` entry of the policy.
    Policy,
    /// A `--dir` flag.
    CommandLine,
}

/// A granted directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FsGrant {
    /// Path inside the sandbox.
    pub guest: GuestPath,
    /// Resolved host directory.
    pub host: PathBuf,
    /// Granted access.
    pub access: Access,
    /// What the manifest asked for (differs from `access` when narrowed).
    pub requested: Access,
    /// Policy or command line.
    pub origin: BindOrigin,
}

/// A granted environment variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvGrant {
    /// The name.
    pub name: EnvVarName,
    /// The `--env` value; `None` means the host process's value, if it has one.
    #[serde(skip)]
    pub value: Option<String>,
}

/// A granted secret: injected by the host into requests to `host`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretGrant {
    /// Secret name.
    pub name: EnvVarName,
    /// The one host whose requests carry it.
    pub host: NetPattern,
    /// The header that carries it.
    pub header: String,
    /// Header value with `{}` for the secret.
    pub format: String,
    /// Where the value comes from.
    pub source: SecretSource,
}

/// Everything a tool may use in one call. Nothing outside it is reachable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Grant {
    /// Per-call limits.
    pub limits: Limits,
    /// Bound directories.
    pub fs: Vec<FsGrant>,
    /// Allowed `scheme://host:port` patterns.
    pub net: Vec<NetPattern>,
    /// Private/loopback/link-local ranges reachable (from the policy).
    pub cidrs: Vec<ipnet::IpNet>,
    /// Environment variables.
    pub env: Vec<EnvGrant>,
    /// Secrets injected into outgoing requests.
    pub secrets: Vec<SecretGrant>,
}

impl Grant {
    /// No capability at all, only compute under `limits` (a tool run without a manifest).
    pub fn pure_compute(limits: Limits) -> Self {
        Self {
            limits,
            fs: Vec::new(),
            net: Vec::new(),
            cidrs: Vec::new(),
            env: Vec::new(),
            secrets: Vec::new(),
        }
    }

    /// Whether the grant gives no capability beyond compute.
    pub fn is_pure_compute(&self) -> bool {
        self.fs.is_empty() && self.net.is_empty() && self.env.is_empty() && self.secrets.is_empty()
    }
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let l = &self.limits;
        writeln!(
            f,
            "limits: fuel {}, memory {}, timeout {}, output {}, host calls {}, host memory {}, \
             write {}, new files {}",
            l.fuel,
            crate::limits::ByteSize(l.memory),
            crate::limits::HumanDuration(l.timeout),
            crate::limits::ByteSize(l.output),
            l.host_calls,
            crate::limits::ByteSize(l.host_memory),
            crate::limits::ByteSize(l.write),
            l.files
        )?;
        if self.fs.is_empty() {
            writeln!(f, "files: none")?;
        } else {
            writeln!(f, "files:")?;
            for g in &self.fs {
                let by = match g.origin {
                    BindOrigin::Policy => "policy",
                    BindOrigin::CommandLine => "--dir",
                };
                let narrowed = if g.access == g.requested {
                    String::new()
                } else {
                    format!(", narrowed from {}", g.requested)
                };
                writeln!(
                    f,
                    "  {} -> {} ({}{narrowed}; bound by {by})",
                    g.guest,
                    g.host.display(),
                    g.access
                )?;
            }
        }
        if self.net.is_empty() {
            writeln!(f, "network: none")?;
        } else {
            writeln!(f, "network:")?;
            for n in &self.net {
                writeln!(f, "  {n}")?;
            }
            if self.cidrs.is_empty() {
                writeln!(f, "  private, loopback and link-local addresses: refused")?;
            } else {
                let c: Vec<String> = self.cidrs.iter().map(ToString::to_string).collect();
                writeln!(f, "  private addresses reachable: {}", c.join(", "))?;
            }
        }
        if self.env.is_empty() {
            writeln!(f, "env: none")?;
        } else {
            writeln!(f, "env:")?;
            for e in &self.env {
                let from = if e.value.is_some() {
                    "set with --env"
                } else {
                    "from the host environment"
                };
                writeln!(f, "  {} ({from})", e.name)?;
            }
        }
        if self.secrets.is_empty() {
            write!(f, "secrets: none")?;
        } else {
            write!(f, "secrets:")?;
            for s in &self.secrets {
                write!(
                    f,
                    "\n  {}: header {} \"{}\" on requests to {}; value from {}",
                    s.name, s.header, s.format, s.host, s.source
                )?;
            }
        }
        Ok(())
    }
}

/// (field, asked, ceiling, how to show a value) for one limit.
type LimitCheck = (&'static str, Option<u64>, u64, fn(u64) -> String);

/// Resolve `host` and check it against the protected paths and `roots`.
fn check_host(host: &Path, roots: Option<&[PathBuf]>) -> Result<PathBuf, String> {
    let resolved = std::fs::canonicalize(host)
        .map_err(|e| format!("host path {} cannot be used: {e}", host.display()))?;
    if !resolved.is_dir() {
        return Err(format!(
            "host path {} is not a directory",
            resolved.display()
        ));
    }
    for p in PROTECTED_PATHS {
        let protected = Path::new(p);
        let hit = if p == "/" {
            resolved == protected
        } else {
            resolved.starts_with(protected)
        };
        if hit {
            return Err(format!(
                "host path {} is protected ({p}) and may never be bound",
                resolved.display()
            ));
        }
    }
    if let Some(roots) = roots {
        let inside = roots.iter().any(|r| {
            let r = std::fs::canonicalize(r).unwrap_or_else(|_| r.clone());
            resolved.starts_with(r)
        });
        if !inside {
            let list: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
            return Err(format!(
                "host path {} is outside the policy's [fs] roots ({})",
                resolved.display(),
                list.join(", ")
            ));
        }
    }
    Ok(resolved)
}

impl Policy {
    /// The effective grant for `manifest` with no command-line inputs (publisher checked).
    pub fn grant(&self, manifest: &Manifest) -> Result<Grant, PolicyError> {
        self.grant_with(manifest, &GrantInputs::default())
    }

    /// The effective grant: manifest ∩ policy ∩ `inputs`, or every reason it is refused.
    pub fn grant_with(&self, m: &Manifest, inputs: &GrantInputs<'_>) -> Result<Grant, PolicyError> {
        let mut over = Vec::new();
        let mut v = |field: String, message: String| over.push(Violation { field, message });
        let name = &m.tool.name;

        if inputs.check_publisher && !self.publisher_may_sign(&m.tool.publisher, name) {
            v(
                "tool.publisher".into(),
                format!(
                    "`{}` may not sign the tool `{name}` (no matching [[publishers]] entry in the policy)",
                    m.tool.publisher
                ),
            );
        }

        // Limits: each asked value must be within the ceiling.
        let c = &self.limits;
        let ml = &m.limits;
        let checks: [LimitCheck; 8] = [
            ("fuel", ml.fuel, c.fuel, |x| x.to_string()),
            ("memory", ml.memory.map(|x| x.0), c.memory, |x| {
                crate::limits::ByteSize(x).to_string()
            }),
            (
                "timeout",
                ml.timeout
                    .map(|x| u64::try_from(x.0.as_millis()).unwrap_or(u64::MAX)),
                u64::try_from(c.timeout.as_millis()).unwrap_or(u64::MAX),
                |x| crate::limits::HumanDuration(std::time::Duration::from_millis(x)).to_string(),
            ),
            ("output", ml.output.map(|x| x.0), c.output, |x| {
                crate::limits::ByteSize(x).to_string()
            }),
            ("host-calls", ml.host_calls, c.host_calls, |x| x.to_string()),
            (
                "host-memory",
                ml.host_memory.map(|x| x.0),
                c.host_memory,
                |x| crate::limits::ByteSize(x).to_string(),
            ),
            ("write", ml.write.map(|x| x.0), c.write, |x| {
                crate::limits::ByteSize(x).to_string()
            }),
            ("files", ml.files, c.files, |x| x.to_string()),
        ];
        for (field, asked, ceiling, show) in checks {
            if let Some(a) = asked.filter(|&a| a > ceiling) {
                v(
                    format!("limits.{field}"),
                    format!(
                        "asks {}, the policy allows at most {}",
                        show(a),
                        show(ceiling)
                    ),
                );
            }
        }
        let limits = ml.or(*c).narrowed(&inputs.narrow);

        // Network.
        for (i, p) in m.net.allow.iter().enumerate() {
            if !self.net.allow.iter().any(|a| a.covers(p)) {
                v(
                    format!("net.allow[{i}]"),
                    format!("`{p}` is not covered by the policy's [net] allow"),
                );
            }
        }

        // Env vars.
        let mut env = Vec::new();
        for (i, var) in m.env.vars.iter().enumerate() {
            let value = inputs
                .env_values
                .iter()
                .find(|(n, _)| n == var.as_str())
                .map(|(_, val)| val.clone());
            if value.is_none() && !self.env_vars.contains(var) {
                v(
                    format!("env.vars[{i}]"),
                    format!("`{var}` is not in the policy's [env] vars (nor given with --env)"),
                );
            }
            env.push(EnvGrant {
                name: var.clone(),
                value,
            });
        }
        for (n, _) in inputs.env_values {
            if !m.env.vars.iter().any(|var| var.as_str() == n) {
                v(
                    format!("--env {n}"),
                    "the manifest does not declare this variable".into(),
                );
            }
        }

        // Files.
        let mut fs = Vec::new();
        for (i, req) in m.fs.iter().enumerate() {
            let field = format!("fs[{i}] ({})", req.guest);
            let (host, access, origin) = if let Some(b) =
                inputs.binds.iter().find(|b| b.guest == req.guest)
            {
                let access = if b.read_only {
                    Access::Read
                } else {
                    req.access
                };
                (b.host.clone(), access, BindOrigin::CommandLine)
            } else if let Some(b) = self.bind_for(name, &req.guest) {
                if req.access == Access::ReadWrite && b.access == Access::Read {
                    v(
                        field.clone(),
                        format!(
                            "asks read-write, but the policy binds it read-only; the bind may not widen read to read-write (pass --dir {}={}:read to run it read-only)",
                            req.guest,
                            b.host.display()
                        ),
                    );
                    continue;
                }
                (b.host.clone(), req.access.min(b.access), BindOrigin::Policy)
            } else {
                v(
                    field,
                    format!(
                        "no bind: add a [[binds]] entry for `{}` to the policy, or pass --dir {}=HOST",
                        req.guest, req.guest
                    ),
                );
                continue;
            };
            match check_host(&host, self.fs_roots.as_deref()) {
                Ok(resolved) => fs.push(FsGrant {
                    guest: req.guest.clone(),
                    host: resolved,
                    access,
                    requested: req.access,
                    origin,
                }),
                Err(why) => v(field, why),
            }
        }
        for b in inputs.binds {
            if !m.fs.iter().any(|r| r.guest == b.guest) {
                v(
                    format!("--dir {}", b.guest),
                    "the manifest does not declare this guest path".into(),
                );
            }
        }

        // Secrets.
        let mut secrets = Vec::new();
        for (i, s) in m.secrets.iter().enumerate() {
            let source = inputs
                .secrets
                .iter()
                .find(|(n, _)| n == s.name.as_str())
                .map(|(_, src)| src.clone())
                .or_else(|| self.secrets.get(&s.name).cloned());
            match source {
                Some(source) => secrets.push(SecretGrant {
                    name: s.name.clone(),
                    host: s.host.clone(),
                    header: s.header.clone(),
                    format: s.format.clone(),
                    source,
                }),
                None => v(
                    format!("secrets[{i}] ({})", s.name),
                    format!(
                        "no source: add `{} = \"env:VAR\"` to the policy's [secrets], or pass --secret {}=@FILE",
                        s.name, s.name
                    ),
                ),
            }
        }
        for (n, _) in inputs.secrets {
            if !m.secrets.iter().any(|s| s.name.as_str() == n) {
                v(
                    format!("--secret {n}"),
                    "the manifest does not declare this secret".into(),
                );
            }
        }

        if !over.is_empty() {
            return Err(PolicyError::Over {
                tool: m.tool_id(),
                violations: over,
            });
        }
        let cidrs = if m.net.allow.is_empty() {
            Vec::new()
        } else {
            self.net.cidrs.clone()
        };
        Ok(Grant {
            limits,
            fs,
            net: m.net.allow.clone(),
            cidrs,
            env,
            secrets,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::tests::sample;
    use crate::policy::tests::design_policy;

    struct Setup {
        dir: tempfile::TempDir,
        policy: Policy,
    }

    fn setup() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("docs")).unwrap();
        std::fs::create_dir(dir.path().join("out")).unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let policy = Policy::parse(design_policy(&root).as_bytes()).unwrap();
        Setup { dir, policy }
    }

    fn manifest(extra: &str) -> Manifest {
        Manifest::parse(sample(extra).as_bytes()).unwrap()
    }

    fn violations(e: PolicyError) -> Vec<String> {
        match e {
            PolicyError::Over { violations, .. } => {
                violations.iter().map(|v| v.field.clone()).collect()
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn the_design_examples_grant() {
        let s = setup();
        let g = s.policy.grant(&manifest("")).unwrap();
        assert_eq!(g.limits.fuel, 2_000_000_000);
        assert_eq!(g.fs[0].access, Access::Read);
        assert!(g.fs[0].host.ends_with("docs"));
        assert_eq!(g.net.len(), 2);
        assert_eq!(g.cidrs.len(), 1);
        assert_eq!(g.env[0].name.as_str(), "LANG");
        assert_eq!(g.secrets[0].source.to_string(), "env:WEATHER_TOKEN");
        let text = g.to_string();
        for needle in [
            "fuel 2000000000",
            "memory 64",
            "/data ->",
            "(read; bound by policy)",
            "https://api.weather.gov:443",
            "LANG (from the host environment)",
            "WEATHER_TOKEN: header Authorization \"Bearer {}\"",
        ] {
            assert!(text.contains(needle), "{needle} not in\n{text}");
        }
    }

    #[test]
    fn unset_manifest_limits_get_the_policy_values_and_flags_narrow() {
        let s = setup();
        let m =
            Manifest::parse(sample("").replace("fuel = 2_000_000_000\n", "").as_bytes()).unwrap();
        let narrow = LimitOverrides {
            memory: Some(crate::limits::ByteSize(1 << 20)),
            ..Default::default()
        };
        let g = s
            .policy
            .grant_with(
                &m,
                &GrantInputs {
                    narrow,
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(g.limits.fuel, 4_000_000_000);
        assert_eq!(g.limits.memory, 1 << 20);
    }

    #[test]
    fn every_over_field_is_listed_in_one_error() {
        let s = setup();
        let text = sample("\n[[fs]]\nguest = \"/nobind\"\naccess = \"read\"\n\n[[secrets]]\nname = \"OTHER\"\nhost = \"https://api.weather.gov\"\nheader = \"X-Key\"\n")
            .replace("fuel = 2_000_000_000", "fuel = 9_000_000_000")
            .replace("memory = \"64 MiB\"", "memory = \"1 GiB\"")
            .replace("timeout = \"10s\"", "timeout = \"1h\"")
            .replace("output = \"1 MiB\"", "output = \"1 GiB\"")
            .replace("host-calls = 100_000", "host-calls = 100_000_000")
            .replace("https://*.example.com:8443", "https://evil.org")
            .replace("vars = [\"LANG\"]", "vars = [\"LANG\", \"HOME\"]")
            .replace("publisher = \"alice@example.com\"", "publisher = \"mallory@example.com\"");
        let m = Manifest::parse(text.as_bytes()).unwrap();
        let e = s.policy.grant(&m).unwrap_err();
        assert_eq!(e.kind(), "policy");
        let msg = e.to_string();
        let fields = violations(e);
        for want in [
            "tool.publisher",
            "limits.fuel",
            "limits.memory",
            "limits.timeout",
            "limits.output",
            "limits.host-calls",
            "net.allow[1]",
            "env.vars[1]",
            "fs[1] (/nobind)",
            "secrets[1] (OTHER)",
        ] {
            assert!(
                fields.iter().any(|f| f == want),
                "{want} missing from {fields:?}"
            );
        }
        assert_eq!(fields.len(), 10, "{fields:?}");
        assert!(
            msg.contains("asks 9000000000, the policy allows at most 4000000000"),
            "{msg}"
        );
    }

    #[test]
    fn read_to_read_write_widening_is_refused() {
        let s = setup();
        let m = manifest("").clone();
        let text = sample("").replace("access = \"read\"", "access = \"read-write\"");
        let rw = Manifest::parse(text.as_bytes()).unwrap();
        let e = s.policy.grant(&rw).unwrap_err();
        assert!(
            e.to_string().contains("may not widen read to read-write"),
            "{e}"
        );
        assert_eq!(violations(e), vec!["fs[0] (/data)"]);
        // A read-write policy bind gives a read request only read.
        let policy = Policy::parse(
            design_policy(&std::fs::canonicalize(s.dir.path()).unwrap())
                .replace("access = \"read\"", "access = \"read-write\"")
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(policy.grant(&m).unwrap().fs[0].access, Access::Read);
        // The operator may narrow read-write to read on the command line.
        let bind: CliBind = format!("/data={}:read", s.dir.path().join("out").display())
            .parse()
            .unwrap();
        let g = s
            .policy
            .grant_with(
                &rw,
                &GrantInputs {
                    binds: &[bind],
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(
            (g.fs[0].access, g.fs[0].requested, g.fs[0].origin),
            (Access::Read, Access::ReadWrite, BindOrigin::CommandLine)
        );
        assert!(g.to_string().contains("narrowed from read-write"));
    }

    #[test]
    fn binds_outside_roots_and_protected_paths_are_refused() {
        let s = setup();
        let m = manifest("");
        let outside = tempfile::tempdir().unwrap();
        for (host, needle) in [
            (
                outside.path().display().to_string(),
                "outside the policy's [fs] roots",
            ),
            ("/".to_string(), "protected"),
            ("/proc".to_string(), "protected"),
            ("/sys/kernel".to_string(), "protected"),
            ("/dev".to_string(), "protected"),
            (
                s.dir.path().join("missing").display().to_string(),
                "cannot be used",
            ),
        ] {
            let bind: CliBind = format!("/data={host}").parse().unwrap();
            let e = s
                .policy
                .grant_with(
                    &m,
                    &GrantInputs {
                        binds: &[bind],
                        ..Default::default()
                    },
                )
                .unwrap_err();
            assert!(e.to_string().contains(needle), "{host}: {e}");
        }
        // A symlink inside the root that points out of it is caught after resolving.
        #[cfg(unix)]
        {
            let link = s.dir.path().join("link");
            std::os::unix::fs::symlink(outside.path(), &link).unwrap();
            let bind: CliBind = format!("/data={}", link.display()).parse().unwrap();
            let e = s
                .policy
                .grant_with(
                    &m,
                    &GrantInputs {
                        binds: &[bind],
                        ..Default::default()
                    },
                )
                .unwrap_err();
            assert!(e.to_string().contains("outside"), "{e}");
        }
        // Protected paths are refused even without roots.
        let p = Policy::parse(b"[[binds]]\nguest = \"/data\"\nhost = \"/proc/self\"\naccess = \"read\"\n[[publishers]]\nprincipal = \"*\"\ntools = [\"*\"]\n[net]\nallow = [\"https://api.weather.gov\", \"https://*.example.com:8443\"]\n[env]\nvars = [\"LANG\"]\n[secrets]\nWEATHER_TOKEN = \"env:X\"\n").unwrap();
        let e = p.grant(&m).unwrap_err();
        assert!(e.to_string().contains("protected"), "{e}");
    }

    #[test]
    fn command_line_inputs_bind_only_what_the_manifest_declares() {
        let s = setup();
        let m = manifest("");
        let binds = [format!("/other={}", s.dir.path().join("out").display())
            .parse::<CliBind>()
            .unwrap()];
        let env = [("TZ".to_owned(), "UTC".to_owned())];
        let secrets = [("NOPE".to_owned(), SecretSource::Env("X".parse().unwrap()))];
        let e = s
            .policy
            .grant_with(
                &m,
                &GrantInputs {
                    binds: &binds,
                    env_values: &env,
                    secrets: &secrets,
                    ..Default::default()
                },
            )
            .unwrap_err();
        assert_eq!(
            violations(e),
            vec!["--env TZ", "--dir /other", "--secret NOPE"]
        );
        // --env supplies a value for a declared var the policy does not list.
        let m2 = Manifest::parse(
            sample("")
                .replace("[\"LANG\"]", "[\"LANG\", \"MODE\"]")
                .as_bytes(),
        )
        .unwrap();
        let env = [("MODE".to_owned(), "fast".to_owned())];
        let g = s
            .policy
            .grant_with(
                &m2,
                &GrantInputs {
                    env_values: &env,
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(g.env[1].value.as_deref(), Some("fast"));
    }

    #[test]
    fn the_builtin_policy_grants_only_compute() {
        let m = Manifest::parse(
            format!(
                "schema = 1\n[tool]\nname = \"x\"\nversion = \"1\"\npublisher = \"a@b\"\nsequence = 1\n[component]\nsha256 = \"{}\"\nsize = 1\n",
                crate::names::Sha256Digest::of(b"")
            )
            .as_bytes(),
        )
        .unwrap();
        let p = Policy::builtin();
        assert_eq!(violations(p.grant(&m).unwrap_err()), vec!["tool.publisher"]);
        let g = p
            .grant_with(
                &m,
                &GrantInputs {
                    check_publisher: false,
                    ..Default::default()
                },
            )
            .unwrap();
        assert!(g.is_pure_compute());
        assert_eq!(g.limits, Limits::default());
        assert_eq!(g, Grant::pure_compute(Limits::default()));
    }

    #[test]
    fn cli_flags_parse() {
        let b: CliBind = "/data=/srv/x:read".parse().unwrap();
        assert!(b.read_only);
        assert_eq!(b.host, PathBuf::from("/srv/x"));
        assert!("/data".parse::<CliBind>().is_err());
        assert!("data=/x".parse::<CliBind>().is_err());
        assert!("/data=".parse::<CliBind>().is_err());
        assert_eq!(
            "env:TOKEN".parse::<SecretSource>().unwrap().to_string(),
            "env:TOKEN"
        );
        assert_eq!(
            "@/run/s".parse::<SecretSource>().unwrap(),
            SecretSource::File("/run/s".into())
        );
        assert!("vault:x".parse::<SecretSource>().is_err());
    }
}
