//! The effective grant: what a tool may use, = manifest ∩ policy (∩ the operator's flags).
//!
//! A manifest that asks for more than the policy allows is refused whole, and the error lists
//! every field that is over. The command line can bind what the manifest declares (`--dir`,
//! `--env`, `--secret`), narrow a bind to read-only (`:read`) and lower limits, but never widen
//! what the signed manifest asks. What the policy provisions (binds, private ranges, secrets)
//! goes only to the tools its entry names, a secret only to the entry's exact host, and nothing
//! of it to an unsigned manifest. The host paths of one grant never nest or overlap. Host paths
//! are resolved (symlinks followed) before they are
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
use crate::policy::{Policy, PolicyError, ToolPattern, Violation, any_matches};

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
    /// The file the value is read from, if it comes from one (a path no bind may reach).
    pub fn file(&self) -> Option<&Path> {
        match self {
            Self::File(p) => Some(p),
            Self::Env(_) => None,
        }
    }

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
    /// The manifest is unsigned (`--allow-unsigned`): it gets least — no policy secret, no
    /// private range, no policy bind; only what the command line binds (`--dir`, `--env`).
    pub unsigned: bool,
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
            unsigned: false,
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
    /// The policy entry (`binds[0]`) or flag (`--dir /data`) that gave it.
    pub from: String,
    /// The policy marks the bind sensitive (watched by the `sensitive-read` rule).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub sensitive: bool,
}

/// A granted environment variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvGrant {
    /// The name.
    pub name: EnvVarName,
    /// The `--env` value; `None` means the host process's value, if it has one.
    #[serde(skip)]
    pub value: Option<String>,
    /// The policy entry (`env.vars[1]`) or flag (`--env LANG`) that gave it.
    pub from: String,
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
    /// The policy entry (`secrets.NAME`) or flag (`--secret NAME`) that gave it.
    pub from: String,
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
    /// Private/loopback/link-local ranges reachable (the policy's `[[net.private]]` entries
    /// that name this tool).
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

/// A grant with the policy entry behind each network part, and what the policy has but this
/// tool does not get: what `wasmgov explain` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// The effective grant.
    pub grant: Grant,
    /// For each `grant.net` pattern, the `[net] allow` entry that covers it (`net.allow[2]`).
    pub net_from: Vec<String>,
    /// For each `grant.cidrs` range, the entry that opened it (`net.private[1]`).
    pub cidrs_from: Vec<String>,
    /// What this tool would be refused although the policy provisions it, and why.
    pub withheld: Vec<String>,
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        render(self, None, f)
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        render(&self.grant, Some(self), f)?;
        if !self.withheld.is_empty() {
            write!(f, "\nnot granted:")?;
            for w in &self.withheld {
                write!(f, "\n  {w}")?;
            }
        }
        Ok(())
    }
}

fn render(g: &Grant, why: Option<&Explanation>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let from = |list: Option<&Vec<String>>, i: usize| {
        list.and_then(|l| l.get(i))
            .map_or_else(String::new, |s| format!(" (from {s})"))
    };
    let l = &g.limits;
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
    if g.fs.is_empty() {
        writeln!(f, "files: none")?;
    } else {
        writeln!(f, "files:")?;
        for b in &g.fs {
            let narrowed = if b.access == b.requested {
                String::new()
            } else {
                format!(", narrowed from {}", b.requested)
            };
            writeln!(
                f,
                "  {} -> {} ({}{narrowed}; from {})",
                b.guest,
                b.host.display(),
                b.access,
                b.from
            )?;
        }
    }
    if g.net.is_empty() {
        writeln!(f, "network: none")?;
    } else {
        writeln!(f, "network:")?;
        for (i, n) in g.net.iter().enumerate() {
            writeln!(f, "  {n}{}", from(why.map(|w| &w.net_from), i))?;
        }
        if g.cidrs.is_empty() {
            writeln!(f, "  private, loopback and link-local addresses: refused")?;
        } else {
            for (i, c) in g.cidrs.iter().enumerate() {
                writeln!(
                    f,
                    "  private range reachable: {c}{}",
                    from(why.map(|w| &w.cidrs_from), i)
                )?;
            }
        }
    }
    if g.env.is_empty() {
        writeln!(f, "env: none")?;
    } else {
        writeln!(f, "env:")?;
        for e in &g.env {
            let value = if e.value.is_some() {
                "value set with --env"
            } else {
                "value from the host environment"
            };
            writeln!(f, "  {} ({value}; from {})", e.name, e.from)?;
        }
    }
    if g.secrets.is_empty() {
        write!(f, "secrets: none")?;
    } else {
        write!(f, "secrets:")?;
        for s in &g.secrets {
            write!(
                f,
                "\n  {}: header {} \"{}\" on requests to {}; value from {} (from {})",
                s.name, s.header, s.format, s.host, s.source, s.from
            )?;
        }
    }
    Ok(())
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

fn show_tools(tools: &[ToolPattern]) -> String {
    let v: Vec<String> = tools.iter().map(|t| format!("\"{t}\"")).collect();
    format!("[{}]", v.join(", "))
}

impl Policy {
    /// The effective grant for `manifest` with no command-line inputs (publisher checked).
    pub fn grant(&self, manifest: &Manifest) -> Result<Grant, PolicyError> {
        self.grant_with(manifest, &GrantInputs::default())
    }

    /// The effective grant: manifest ∩ policy ∩ `inputs`, or every reason it is refused.
    pub fn grant_with(&self, m: &Manifest, inputs: &GrantInputs<'_>) -> Result<Grant, PolicyError> {
        self.explain_with(m, inputs).map(|e| e.grant)
    }

    /// [`Policy::grant_with`], with which policy entry gave each part and what is withheld.
    pub fn explain_with(
        &self,
        m: &Manifest,
        inputs: &GrantInputs<'_>,
    ) -> Result<Explanation, PolicyError> {
        let mut over = Vec::new();
        let mut v = |field: String, message: String| over.push(Violation { field, message });
        let mut withheld = Vec::new();
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
        let mut net_from = Vec::new();
        for (i, p) in m.net.allow.iter().enumerate() {
            match self.allow_entry_for(p) {
                Some(j) => net_from.push(format!("net.allow[{j}]")),
                None => v(
                    format!("net.allow[{i}]"),
                    format!("`{p}` is not covered by the policy's [net] allow"),
                ),
            }
        }
        // Private ranges: only those whose entry names this tool, and none for an unsigned one.
        let mut cidrs = Vec::new();
        let mut cidrs_from = Vec::new();
        for (i, r) in self.net.private.iter().enumerate() {
            let entry = format!("net.private[{i}] {}", r.cidr);
            if m.net.allow.is_empty() {
                continue;
            }
            if !any_matches(&r.tools, name) {
                withheld.push(format!("{entry}: only for tools {}", show_tools(&r.tools)));
            } else if inputs.unsigned {
                withheld.push(format!(
                    "{entry}: the manifest is unsigned, and an unsigned tool reaches no private range"
                ));
            } else if !cidrs.contains(&r.cidr) {
                cidrs.push(r.cidr);
                cidrs_from.push(format!("net.private[{i}]"));
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
            let from = if value.is_some() {
                format!("--env {var}")
            } else if let Some(j) = self.env_vars.iter().position(|e| e == var) {
                format!("env.vars[{j}]")
            } else {
                v(
                    format!("env.vars[{i}]"),
                    format!("`{var}` is not in the policy's [env] vars (nor given with --env)"),
                );
                continue;
            };
            env.push(EnvGrant {
                name: var.clone(),
                value,
                from,
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
        let mut fs: Vec<FsGrant> = Vec::new();
        let mut fs_fields: Vec<String> = Vec::new();
        for (i, req) in m.fs.iter().enumerate() {
            let field = format!("fs[{i}] ({})", req.guest);
            let (host, access, origin, from, sensitive) = if let Some(b) =
                inputs.binds.iter().find(|b| b.guest == req.guest)
            {
                let access = if b.read_only {
                    Access::Read
                } else {
                    req.access
                };
                (
                    b.host.clone(),
                    access,
                    BindOrigin::CommandLine,
                    format!("--dir {}", b.guest),
                    false,
                )
            } else if inputs.unsigned {
                v(
                    field,
                    format!(
                        "the manifest is unsigned, and an unsigned tool gets no policy bind; bind it on the command line (--dir {}=HOST) or sign the manifest",
                        req.guest
                    ),
                );
                continue;
            } else {
                match self.binds_for(name, &req.guest).as_slice() {
                    [] => {
                        let others: Vec<String> = self
                            .binds
                            .iter()
                            .enumerate()
                            .filter(|(_, b)| b.guest == req.guest)
                            .map(|(j, b)| {
                                format!("binds[{j}] is only for tools {}", show_tools(&b.tools))
                            })
                            .collect();
                        let also = if others.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", others.join("; "))
                        };
                        v(
                            field,
                            format!(
                                "no bind for `{name}`{also}: add a [[binds]] entry for `{}` with `tools` naming this tool to the policy, or pass --dir {}=HOST",
                                req.guest, req.guest
                            ),
                        );
                        continue;
                    }
                    [(j, b)] => {
                        if req.access == Access::ReadWrite && b.access == Access::Read {
                            v(
                                field.clone(),
                                format!(
                                    "asks read-write, but the policy binds it read-only (binds[{j}]); the bind may not widen read to read-write (pass --dir {}={}:read to run it read-only)",
                                    req.guest,
                                    b.host.display()
                                ),
                            );
                            continue;
                        }
                        (
                            b.host.clone(),
                            req.access.min(b.access),
                            BindOrigin::Policy,
                            format!("binds[{j}]"),
                            b.sensitive,
                        )
                    }
                    many => {
                        let list: Vec<String> =
                            many.iter().map(|(j, _)| format!("binds[{j}]")).collect();
                        v(
                            field,
                            format!(
                                "{} all bind `{}` for `{name}`: make their `tools` lists disjoint so one bind applies",
                                list.join(" and "),
                                req.guest
                            ),
                        );
                        continue;
                    }
                }
            };
            match check_host(&host, self.fs_roots.as_deref()) {
                Ok(resolved) => {
                    // One grant's host paths may not nest or overlap, either way: a read bind
                    // inside a read-write one would be writable through it, and the outer
                    // tool could swap the inner directory for a symlink.
                    if let Some(k) = fs.iter().position(|o| {
                        o.host.starts_with(&resolved) || resolved.starts_with(&o.host)
                    }) {
                        v(
                            field,
                            format!(
                                "host path {} ({from}) overlaps {} ({}) bound for {}: the host paths of one grant may not nest or overlap",
                                resolved.display(),
                                fs[k].host.display(),
                                fs[k].from,
                                fs_fields[k]
                            ),
                        );
                        continue;
                    }
                    fs_fields.push(field);
                    fs.push(FsGrant {
                        guest: req.guest.clone(),
                        host: resolved,
                        access,
                        requested: req.access,
                        origin,
                        from,
                        sensitive,
                    });
                }
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

        // Secrets: the policy's entry must name this tool, and the manifest must send the
        // secret to exactly the entry's host. An unsigned manifest gets none: its host and
        // header are nobody's word, so even a --secret value would go where the file says.
        let mut secrets = Vec::new();
        for (i, s) in m.secrets.iter().enumerate() {
            let field = format!("secrets[{i}] ({})", s.name);
            let cli = inputs
                .secrets
                .iter()
                .find(|(n, _)| n == s.name.as_str())
                .map(|(_, src)| src.clone());
            let entry = format!("secrets.{}", s.name);
            if inputs.unsigned {
                v(
                    field,
                    "the manifest is unsigned, and an unsigned tool gets no secret (from the policy or --secret): where a secret goes is only as trustworthy as the manifest that says so; sign the manifest".into(),
                );
                continue;
            }
            let (source, from) = match (cli, self.secrets.get(&s.name)) {
                (Some(src), _) => (src, format!("--secret {}", s.name)),
                (None, None) => {
                    v(
                        field,
                        format!(
                            "no source: add [secrets.{}] with `source`, `host = \"{}\"` and `tools = [\"{name}\"]` to the policy, or pass --secret {}=@FILE",
                            s.name, s.host, s.name
                        ),
                    );
                    continue;
                }
                (None, Some(rule)) if !any_matches(&rule.tools, name) => {
                    v(
                        field,
                        format!(
                            "[{entry}] is provisioned only for tools {}, not `{name}`",
                            show_tools(&rule.tools)
                        ),
                    );
                    continue;
                }
                (None, Some(rule)) if rule.host != s.host => {
                    v(
                        field,
                        format!(
                            "the manifest would send it to {}, but [{entry}] may go only to {}",
                            s.host, rule.host
                        ),
                    );
                    continue;
                }
                (None, Some(rule)) => (rule.source.clone(), entry),
            };
            secrets.push(SecretGrant {
                name: s.name.clone(),
                host: s.host.clone(),
                header: s.header.clone(),
                format: s.format.clone(),
                source,
                from,
            });
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
        Ok(Explanation {
            grant: Grant {
                limits,
                fs,
                net: m.net.allow.clone(),
                cidrs,
                env,
                secrets,
            },
            net_from,
            cidrs_from,
            withheld,
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
            "(read; from binds[0])",
            "https://api.weather.gov:443",
            "LANG (value from the host environment; from env.vars[0])",
            "WEATHER_TOKEN: header Authorization \"Bearer {}\"",
            "(from secrets.WEATHER_TOKEN)",
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
        let p = Policy::parse(b"[[binds]]\ntools = [\"*\"]\nguest = \"/data\"\nhost = \"/proc/self\"\naccess = \"read\"\n[[publishers]]\nprincipal = \"*\"\ntools = [\"*\"]\n[net]\nallow = [\"https://api.weather.gov\", \"https://*.example.com:8443\"]\n[env]\nvars = [\"LANG\"]\n[secrets.WEATHER_TOKEN]\nsource = \"env:X\"\nhost = \"https://api.weather.gov\"\ntools = [\"*\"]\n").unwrap();
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

    /// A manifest of mallory's `search-x` (an authorised publisher of `search-*`) with `extra`
    /// tables, asking for nothing of alice's by default.
    fn search_x(extra: &str) -> Manifest {
        let text = format!(
            "schema = 1\n[tool]\nname = \"search-x\"\nversion = \"1\"\npublisher = \"mallory@example.com\"\nsequence = 1\n[component]\nsha256 = \"{}\"\nsize = 9\n{extra}",
            crate::names::Sha256Digest::of(b"component")
        );
        Manifest::parse(text.as_bytes()).unwrap()
    }

    fn messages(e: PolicyError) -> Vec<String> {
        match e {
            PolicyError::Over { violations, .. } => {
                violations.iter().map(ToString::to_string).collect()
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn secret_is_never_granted_to_another_tool_or_sent_to_another_host() {
        let s = setup();
        // The review's reproduction: mallory's search-x claims alice's WEATHER_TOKEN for a host
        // of its own under the policy's wildcard.
        let claim = |host: &str| {
            search_x(&format!(
                "[net]\nallow = [\"{host}\"]\n[[secrets]]\nname = \"WEATHER_TOKEN\"\nhost = \"{host}\"\nheader = \"X-Api-Key\"\n"
            ))
        };
        for host in ["https://mallory.example.com", "https://api.weather.gov"] {
            let e = s.policy.grant(&claim(host)).unwrap_err();
            let m = messages(e);
            assert_eq!(m.len(), 1, "{m:?}");
            assert!(
                m[0].contains("secrets[0] (WEATHER_TOKEN)")
                    && m[0]
                        .contains("provisioned only for tools [\"fetch-weather\"], not `search-x`"),
                "{host}: {m:?}"
            );
        }
        // The right tool, but another host than the entry's: another scheme, port or name.
        for (allow, host) in [
            (
                "https://*.example.com:8443",
                "https://evil.example.com:8443",
            ),
            ("https://api.weather.gov", "https://api.weather.gov:8443"),
            ("https://api.weather.gov", "http://api.weather.gov"),
        ] {
            let policy = Policy::parse(
                design_policy(&std::fs::canonicalize(s.dir.path()).unwrap())
                    .replace(
                        "allow = [\"https://*.example.com\"",
                        "allow = [\"https://api.weather.gov:8443\", \"http://api.weather.gov\", \"https://*.example.com\"",
                    )
                    .as_bytes(),
            )
            .unwrap();
            let text = sample("")
                .replace(
                    "allow = [\"https://api.weather.gov\", \"https://*.example.com:8443\"]",
                    &format!("allow = [\"{allow}\", \"{host}\"]"),
                )
                .replace(
                    "name = \"WEATHER_TOKEN\"\nhost = \"https://api.weather.gov\"",
                    &format!("name = \"WEATHER_TOKEN\"\nhost = \"{host}\""),
                );
            let m = Manifest::parse(text.as_bytes()).unwrap();
            let e = policy.grant(&m).unwrap_err();
            let msgs = messages(e);
            assert!(
                msgs.iter()
                    .any(|v| v.contains("may go only to https://api.weather.gov:443")),
                "{host}: {msgs:?}"
            );
        }
        // The entry's host spelled with its default port is the same host.
        let text = sample("").replace(
            "name = \"WEATHER_TOKEN\"\nhost = \"https://api.weather.gov\"",
            "name = \"WEATHER_TOKEN\"\nhost = \"https://API.weather.gov:443\"",
        );
        let g = s
            .policy
            .grant(&Manifest::parse(text.as_bytes()).unwrap())
            .unwrap();
        assert_eq!(g.secrets[0].from, "secrets.WEATHER_TOKEN");
        // A glob that names mallory's tools gives mallory that entry, and only that one.
        let policy = Policy::parse(
            format!(
                "{}\n[secrets.SEARCH_KEY]\nsource = \"env:SEARCH_KEY\"\nhost = \"https://search.example.com\"\ntools = [\"search-*\"]\n",
                design_policy(&std::fs::canonicalize(s.dir.path()).unwrap())
            )
            .as_bytes(),
        )
        .unwrap();
        let both = search_x(
            "[net]\nallow = [\"https://search.example.com\", \"https://api.weather.gov\"]\n[[secrets]]\nname = \"SEARCH_KEY\"\nhost = \"https://search.example.com\"\nheader = \"X-Key\"\n[[secrets]]\nname = \"WEATHER_TOKEN\"\nhost = \"https://api.weather.gov\"\nheader = \"X-Key\"\n",
        );
        assert_eq!(
            violations(policy.grant(&both).unwrap_err()),
            vec!["secrets[1] (WEATHER_TOKEN)"]
        );
    }

    #[test]
    fn private_ranges_and_binds_go_only_to_the_tools_named() {
        let s = setup();
        let e = s
            .policy
            .explain_with(&manifest(""), &GrantInputs::default())
            .unwrap();
        assert_eq!(
            e.grant.cidrs,
            vec!["10.1.2.0/24".parse::<ipnet::IpNet>().unwrap()]
        );
        assert_eq!(e.cidrs_from, vec!["net.private[0]"]);
        assert_eq!(e.net_from, vec!["net.allow[2]", "net.allow[1]"]);
        assert!(e.withheld.iter().any(|w| w.contains("net.private[1] 10.9.0.0/16: only for tools [\"inventory-*\"]")), "{:?}", e.withheld);
        let text = e.to_string();
        for needle in [
            "https://api.weather.gov:443 (from net.allow[2])",
            "private range reachable: 10.1.2.0/24 (from net.private[0])",
            "not granted:\n  net.private[1] 10.9.0.0/16",
        ] {
            assert!(text.contains(needle), "{needle} not in\n{text}");
        }
        // mallory's tool with the same network gets no private range, and not alice's bind.
        let m = search_x("[net]\nallow = [\"https://api.weather.gov\"]\n");
        let g = s.policy.grant(&m).unwrap();
        assert!(g.cidrs.is_empty(), "{g:?}");
        let m = search_x("[[fs]]\nguest = \"/data\"\naccess = \"read\"\n");
        let msgs = messages(s.policy.grant(&m).unwrap_err());
        assert!(
            msgs[0].contains("binds[0] is only for tools [\"fetch-weather\"]"),
            "{msgs:?}"
        );
        // A tool with no network gets no range at all.
        let quiet = Manifest::parse(sample("").replace("allow = [\"https://api.weather.gov\", \"https://*.example.com:8443\"]", "allow = []").replace("[[secrets]]\nname = \"WEATHER_TOKEN\"\nhost = \"https://api.weather.gov\"\nheader = \"Authorization\"\nformat = \"Bearer {}\"\n", "").as_bytes()).unwrap();
        assert!(s.policy.grant(&quiet).unwrap().cidrs.is_empty());
        // Two binds whose globs both name the tool: refused, naming both.
        let root = std::fs::canonicalize(s.dir.path()).unwrap();
        let policy = Policy::parse(
            format!(
                "{}\n[[binds]]\ntools = [\"fetch-*\"]\nguest = \"/data\"\nhost = \"{}/out\"\naccess = \"read\"\n",
                design_policy(&root),
                root.display()
            )
            .as_bytes(),
        )
        .unwrap();
        let msgs = messages(policy.grant(&manifest("")).unwrap_err());
        assert!(
            msgs[0].contains("binds[0] and binds[1] all bind `/data`"),
            "{msgs:?}"
        );
    }

    #[test]
    fn host_paths_of_one_grant_may_not_nest_either_way() {
        let s = setup();
        let root = std::fs::canonicalize(s.dir.path()).unwrap();
        std::fs::create_dir(root.join("docs/inner")).unwrap();
        let two = manifest("\n[[fs]]\nguest = \"/work\"\naccess = \"read-write\"\n");
        for (work, needle) in [
            (root.join("docs/inner"), "inside"), // read-write bind inside the read bind
            (root.clone(), "outer"),             // read-write bind around the read bind
            (root.join("docs"), "same"),         // the very same directory twice
        ] {
            let bind: CliBind = format!("/work={}", work.display()).parse().unwrap();
            let e = s
                .policy
                .grant_with(
                    &two,
                    &GrantInputs {
                        binds: &[bind],
                        ..Default::default()
                    },
                )
                .unwrap_err();
            let msgs = messages(e);
            assert_eq!(msgs.len(), 1, "{needle}: {msgs:?}");
            assert!(
                msgs[0].starts_with("fs[1] (/work)")
                    && msgs[0].contains("(--dir /work) overlaps")
                    && msgs[0].contains("(binds[0]) bound for fs[0] (/data)")
                    && msgs[0].contains("may not nest or overlap"),
                "{needle}: {msgs:?}"
            );
        }
        // Through a symlink, compared after resolving.
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(root.join("docs"), root.join("alias")).unwrap();
            let bind: CliBind = format!("/work={}", root.join("alias/inner").display())
                .parse()
                .unwrap();
            let e = s
                .policy
                .grant_with(
                    &two,
                    &GrantInputs {
                        binds: &[bind],
                        ..Default::default()
                    },
                )
                .unwrap_err();
            assert!(messages(e)[0].contains("overlaps"));
        }
        // Both from the command line, and siblings are fine.
        let binds = [
            format!("/data={}", root.join("out").display())
                .parse::<CliBind>()
                .unwrap(),
            format!("/work={}", root.join("docs").display())
                .parse::<CliBind>()
                .unwrap(),
        ];
        let g = s
            .policy
            .grant_with(
                &two,
                &GrantInputs {
                    binds: &binds,
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(g.fs.len(), 2);
        let nested = [
            format!("/data={}", root.join("docs").display())
                .parse::<CliBind>()
                .unwrap(),
            format!("/work={}", root.join("docs/inner").display())
                .parse::<CliBind>()
                .unwrap(),
        ];
        assert!(
            s.policy
                .grant_with(
                    &two,
                    &GrantInputs {
                        binds: &nested,
                        ..Default::default()
                    }
                )
                .is_err()
        );
    }

    #[test]
    fn an_unsigned_manifest_gets_no_policy_secret_range_or_bind() {
        let s = setup();
        let unsigned = GrantInputs {
            check_publisher: false,
            unsigned: true,
            ..Default::default()
        };
        let e = s.policy.grant_with(&manifest(""), &unsigned).unwrap_err();
        assert_eq!(
            violations(e),
            vec!["fs[0] (/data)", "secrets[0] (WEATHER_TOKEN)"]
        );
        // --dir binds what the command line names; --secret is refused all the same, because
        // where the secret would go is written in the unsigned file.
        let binds = [format!("/data={}", s.dir.path().join("docs").display())
            .parse::<CliBind>()
            .unwrap()];
        let secrets = [(
            "WEATHER_TOKEN".to_owned(),
            SecretSource::Env("X".parse().unwrap()),
        )];
        let e = s
            .policy
            .grant_with(
                &manifest(""),
                &GrantInputs {
                    binds: &binds,
                    secrets: &secrets,
                    ..unsigned.clone()
                },
            )
            .unwrap_err();
        let msgs = messages(e);
        assert_eq!(msgs.len(), 1, "{msgs:?}");
        assert!(msgs[0].contains("unsigned tool gets no secret"), "{msgs:?}");
        let no_secret = Manifest::parse(sample("").replace("[[secrets]]\nname = \"WEATHER_TOKEN\"\nhost = \"https://api.weather.gov\"\nheader = \"Authorization\"\nformat = \"Bearer {}\"\n", "").as_bytes()).unwrap();
        let e = s
            .policy
            .explain_with(
                &no_secret,
                &GrantInputs {
                    binds: &binds,
                    ..unsigned
                },
            )
            .unwrap();
        assert_eq!(e.grant.fs[0].origin, BindOrigin::CommandLine);
        assert!(
            e.grant.cidrs.is_empty(),
            "no private range for an unsigned tool"
        );
        assert!(
            e.withheld
                .iter()
                .any(|w| w.contains("net.private[0]") && w.contains("unsigned")),
            "{:?}",
            e.withheld
        );
        // The same manifest, signed, gets the range.
        assert_eq!(
            s.policy
                .grant_with(
                    &no_secret,
                    &GrantInputs {
                        binds: &binds,
                        ..Default::default()
                    }
                )
                .unwrap()
                .cidrs
                .len(),
            1
        );
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
