//! `wasmgov suggest`: the smallest grant that covers what a tool's recorded calls used and what
//! its observed refusals would have needed — as a manifest diff for the publisher and policy
//! additions for the operator, for a human to review. Nothing is granted by it.
//!
//! From the log: the grant parts the calls used are kept (a bind the tool touched, an
//! allow-list pattern a request matched, the environment if it was read, an injected secret);
//! a read-write bind never written becomes read-only. Each refusal's `needs` adds the narrowest
//! entry that covers it: a file's directory (or a listed directory itself) as a `[[fs]]`
//! guest path, `scheme://host[:port]` exactly as requested, and a `[[net.private]]` range of
//! one address for an internal destination.
//!
//! What it cannot learn: which environment variables a tool looks for (WASI's
//! `get-environment` hands over the whole list, so an absent variable is not a request the
//! host sees), and the host directory behind a guest path (the operator chooses it).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use serde::Serialize;
use wasmgov_runtime::manifest::Manifest;
use wasmgov_runtime::names::Access;

use crate::usage::{Dest, Usage};

/// Why no suggestion could be made.
#[derive(Debug, thiserror::Error)]
pub enum SuggestError {
    /// The log has no call of the tool.
    #[error("{log} records no call of `{tool}`")]
    NoCalls {
        /// The tool name.
        tool: String,
        /// The log.
        log: String,
    },
    /// The manifest given is not one of this tool.
    #[error("the manifest is for `{found}`, not `{tool}`")]
    OtherTool {
        /// The tool asked about.
        tool: String,
        /// The manifest's tool.
        found: String,
    },
    /// The manifest text is not TOML this tool can edit.
    #[error("cannot edit the manifest: {0}")]
    Edit(String),
}

/// One filesystem entry of the suggested manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FsEntry {
    /// Guest path.
    pub guest: String,
    /// `read` or `read-write`.
    pub access: Access,
    /// Why: `kept` (granted and used) or the refusals it covers.
    pub because: Vec<String>,
}

/// The suggestion for one tool.
#[derive(Debug, Clone, Serialize)]
pub struct Suggestion {
    /// The tool name.
    pub tool: String,
    /// Recorded calls of it.
    pub calls: u64,
    /// Of those, made in observe mode.
    pub observed_calls: u64,
    /// The manifest's `[[fs]]`.
    pub fs: Vec<FsEntry>,
    /// The manifest's `[net] allow`.
    pub net: Vec<String>,
    /// The manifest's `[env] vars` (only ever kept or dropped).
    pub env: Vec<String>,
    /// The manifest's secrets kept (by name).
    pub secrets: Vec<String>,
    /// What the operator's policy must add: `[net] allow` patterns.
    pub policy_net: Vec<String>,
    /// … `[[net.private]]` ranges for this tool.
    pub policy_private: Vec<String>,
    /// What could not be learnt, or was left out, and why.
    pub notes: Vec<String>,
    /// The manifest as it was (when one was given).
    #[serde(skip)]
    pub manifest_before: Option<String>,
    /// The suggested manifest text (when one was given).
    pub manifest_after: Option<String>,
}

/// The directory a refused path calls for: a listed directory itself, else a file's directory
/// (a top-level name, whose parent would be `/`, itself). `None` for `/`.
fn mount_of(verb: &str, path: &str) -> Option<String> {
    let p = path.trim_end_matches('/');
    if p.is_empty() {
        return None;
    }
    if verb == "list" {
        return Some(p.to_owned());
    }
    match p.rsplit_once('/') {
        Some(("", _)) | None => Some(p.to_owned()),
        Some((parent, _)) => Some(parent.to_owned()),
    }
}

fn under(path: &str, dir: &str) -> bool {
    path == dir || path.starts_with(&format!("{}/", dir.trim_end_matches('/')))
}

/// Whether the host refuses `ip` unless a `[[net.private]]` opens it (the host's own rule).
fn internal(ip: IpAddr) -> bool {
    wasmgov_runtime::address_class(ip).is_some()
}

fn single(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => format!("{a}/32"),
        IpAddr::V6(a) => format!("{a}/128"),
    }
}

/// A request's narrowest allow-list pattern.
fn pattern_of(d: &Dest) -> String {
    if Some(d.port) == d.scheme.default_port() {
        format!("{}://{}", d.scheme, d.host)
    } else {
        format!("{}://{}:{}", d.scheme, d.host, d.port)
    }
}

/// The suggestion for `tool` from `usage`, against its current manifest if given.
pub fn suggest(
    usage: &Usage,
    tool: &str,
    manifest: Option<&str>,
) -> Result<Suggestion, SuggestError> {
    let u = usage
        .of(tool)
        .filter(|u| u.calls > 0)
        .ok_or_else(|| SuggestError::NoCalls {
            tool: tool.to_owned(),
            log: usage.path.display().to_string(),
        })?;
    let parsed = match manifest {
        Some(text) => {
            let m =
                Manifest::parse(text.as_bytes()).map_err(|e| SuggestError::Edit(e.to_string()))?;
            if m.tool.name.as_str() != tool {
                return Err(SuggestError::OtherTool {
                    tool: tool.to_owned(),
                    found: m.tool.name.to_string(),
                });
            }
            Some(m)
        }
        None => None,
    };
    let mut notes = Vec::new();
    if u.observed_calls == 0 {
        notes.push(
            "no recorded call ran in observe mode (--observe): paths outside the binds were not seen"
                .to_owned(),
        );
    }

    // Kept: what the current grant gave and the calls used.
    let mut fs: BTreeMap<String, FsEntry> = BTreeMap::new();
    let mut net: Vec<String> = Vec::new();
    let mut env = Vec::new();
    let mut secrets = Vec::new();
    if let Some(m) = &parsed {
        for f in &m.fs {
            if u.fs_calls == 0 {
                notes.push(format!(
                    "[[fs]] {} dropped: no recorded call used the filesystem",
                    f.guest
                ));
                continue;
            }
            let access = if f.access == Access::ReadWrite && u.fs_writes == 0 {
                notes.push(format!(
                    "[[fs]] {} narrowed to read: no recorded call wrote",
                    f.guest
                ));
                Access::Read
            } else {
                f.access
            };
            fs.insert(
                f.guest.to_string(),
                FsEntry {
                    guest: f.guest.to_string(),
                    access,
                    because: vec!["kept: the calls used the filesystem".into()],
                },
            );
        }
        for p in &m.net.allow {
            if u.sent_to(p) {
                net.push(p.to_string());
            } else {
                notes.push(format!(
                    "[net] allow {p} dropped: no recorded request went there"
                ));
            }
        }
        for v in &m.env.vars {
            if u.env_reads > 0 {
                env.push(v.to_string());
            } else {
                notes.push(format!(
                    "[env] {v} dropped: no recorded call read the environment"
                ));
            }
        }
        for s in &m.secrets {
            if u.secrets.contains(s.name.as_str()) {
                secrets.push(s.name.to_string());
            } else {
                notes.push(format!("secret {} dropped: it was never injected", s.name));
            }
        }
    }
    if !env.is_empty() || parsed.as_ref().is_none_or(|m| m.env.vars.is_empty()) {
        notes.push(
            "environment variables cannot be learnt: WASI hands a tool its whole environment, so a missing variable is not a request the host sees"
                .into(),
        );
    }

    // Added: what the refusals would have needed.
    let mut policy_net = Vec::new();
    let mut policy_private = Vec::new();
    for need in &u.needs {
        let (what, rest) = need.split_once(' ').unwrap_or((need.as_str(), ""));
        match what {
            "fs" => {
                let (verb, path) = rest.split_once(' ').unwrap_or(("read", rest));
                let Some(mount) = mount_of(verb, path) else {
                    notes.push(format!("`{need}` left out: `/` itself is never bound"));
                    continue;
                };
                let write = verb == "write";
                // Already covered by a kept or added entry: at most widen its access.
                if let Some(e) = fs.values_mut().find(|e| under(&mount, &e.guest)) {
                    if write && e.access == Access::Read {
                        e.access = Access::ReadWrite;
                    }
                    e.because.push(need.clone());
                    continue;
                }
                // A new entry absorbs the entries under it.
                let inner: Vec<String> = fs.keys().filter(|g| under(g, &mount)).cloned().collect();
                let mut because = vec![need.clone()];
                let mut access = if write {
                    Access::ReadWrite
                } else {
                    Access::Read
                };
                for g in inner {
                    if let Some(e) = fs.remove(&g) {
                        if e.access == Access::ReadWrite {
                            access = Access::ReadWrite;
                        }
                        because.extend(e.because);
                    }
                }
                fs.insert(
                    mount.clone(),
                    FsEntry {
                        guest: mount,
                        access,
                        because,
                    },
                );
            }
            "net" => {
                let Some(d) = Dest::parse(rest) else { continue };
                let p = pattern_of(&d);
                if !net.contains(&p) {
                    net.push(p.clone());
                    policy_net.push(p);
                }
                if let Ok(ip) = d.host.trim_matches(['[', ']']).parse::<IpAddr>()
                    && internal(ip)
                    && !policy_private.contains(&single(ip))
                {
                    policy_private.push(single(ip));
                }
            }
            "private" => {
                for a in rest.split(',') {
                    if let Ok(ip) = a.trim().parse::<IpAddr>() {
                        let c = single(ip);
                        if !policy_private.contains(&c) {
                            policy_private.push(c);
                        }
                    }
                }
            }
            _ => notes.push(format!("`{need}`: not understood, left out")),
        }
    }

    let fs: Vec<FsEntry> = fs.into_values().collect();
    let manifest_after = match (&parsed, manifest) {
        // Nothing to change: the same text, no new release.
        (Some(m), Some(text)) if unchanged(m, &fs, &net, &env, &secrets) => Some(text.to_owned()),
        (Some(m), Some(text)) => Some(edit_manifest(text, m, &fs, &net, &env, &secrets)?),
        _ => None,
    };
    Ok(Suggestion {
        tool: tool.to_owned(),
        calls: u.calls,
        observed_calls: u.observed_calls,
        fs,
        net,
        env,
        secrets,
        policy_net,
        policy_private,
        notes,
        manifest_before: manifest.map(str::to_owned),
        manifest_after,
    })
}

/// Whether the suggestion asks for exactly what `m` already does.
fn unchanged(
    m: &Manifest,
    fs: &[FsEntry],
    net: &[String],
    env: &[String],
    secrets: &[String],
) -> bool {
    let same_fs = m.fs.len() == fs.len()
        && m.fs.iter().all(|f| {
            fs.iter()
                .any(|e| e.guest == f.guest.as_str() && e.access == f.access)
        });
    let same_net =
        m.net.allow.len() == net.len() && m.net.allow.iter().all(|p| net.contains(&p.to_string()));
    let same_env = m.env.vars.len() == env.len();
    let same_secrets = m.secrets.len() == secrets.len();
    same_fs && same_net && same_env && same_secrets
}

/// `text` with its grant tables replaced by the suggestion and its sequence bumped (a changed
/// manifest is a new release: re-sign it).
fn edit_manifest(
    text: &str,
    m: &Manifest,
    fs: &[FsEntry],
    net: &[String],
    env: &[String],
    secrets: &[String],
) -> Result<String, SuggestError> {
    use toml_edit::{ArrayOfTables, DocumentMut, Item, Table, value};
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| SuggestError::Edit(e.to_string()))?;
    doc["tool"]["sequence"] =
        value(i64::try_from(m.tool.sequence.saturating_add(1)).unwrap_or(i64::MAX));
    doc.remove("fs");
    doc.remove("net");
    doc.remove("env");
    // Secrets that stay keep their table as written.
    if let Some(Item::ArrayOfTables(list)) = doc.get_mut("secrets") {
        list.retain(|t| {
            t.get("name")
                .and_then(|n| n.as_str())
                .is_some_and(|n| secrets.iter().any(|s| s == n))
        });
        if list.is_empty() {
            doc.remove("secrets");
        }
    }
    if !fs.is_empty() {
        let mut list = ArrayOfTables::new();
        for e in fs {
            let mut t = Table::new();
            t["guest"] = value(e.guest.as_str());
            t["access"] = value(e.access.as_str());
            list.push(t);
        }
        doc.insert("fs", Item::ArrayOfTables(list));
    }
    if !net.is_empty() {
        let mut t = Table::new();
        let mut a = toml_edit::Array::new();
        for p in net {
            a.push(p.as_str());
        }
        t["allow"] = value(a);
        doc.insert("net", Item::Table(t));
    }
    if !env.is_empty() {
        let mut t = Table::new();
        let mut a = toml_edit::Array::new();
        for v in env {
            a.push(v.as_str());
        }
        t["vars"] = value(a);
        doc.insert("env", Item::Table(t));
    }
    Ok(doc.to_string())
}

impl Suggestion {
    /// The manifest change as a unified diff (`None` without a manifest).
    pub fn diff(&self, name: &Path) -> Option<String> {
        let (before, after) = (
            self.manifest_before.as_deref()?,
            self.manifest_after.as_deref()?,
        );
        let d = similar::TextDiff::from_lines(before, after);
        Some(
            d.unified_diff()
                .context_radius(3)
                .header(
                    &name.display().to_string(),
                    &format!("{} (suggested)", name.display()),
                )
                .to_string(),
        )
    }

    /// The operator's side, as policy TOML with comments for what only a person can choose.
    pub fn policy_additions(&self) -> String {
        let mut out = String::new();
        if !self.policy_net.is_empty() {
            out.push_str("# [net] allow must also list (merge into the existing array):\n");
            for p in &self.policy_net {
                out.push_str(&format!("#   \"{p}\",\n"));
            }
        }
        for c in &self.policy_private {
            out.push_str(&format!(
                "[[net.private]]\ncidr = \"{c}\"\ntools = [\"{}\"]\n\n",
                self.tool
            ));
        }
        for e in &self.fs {
            out.push_str(&format!(
                "# {guest}: bind a host directory per call (--dir {guest}=HOST{ro}) or with\n\
                 # [[binds]] tools = [\"{tool}\"], guest = \"{guest}\", host = HOST, access = \"{access}\"\n",
                guest = e.guest,
                ro = if e.access == Access::Read { ":read" } else { "" },
                tool = self.tool,
                access = e.access,
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_are_the_narrowest_directory() {
        assert_eq!(
            mount_of("read", "/data/a/b.txt").as_deref(),
            Some("/data/a")
        );
        assert_eq!(mount_of("read", "/data").as_deref(), Some("/data"));
        assert_eq!(mount_of("list", "/data/a").as_deref(), Some("/data/a"));
        assert_eq!(mount_of("list", "/"), None);
        assert!(under("/data/a", "/data") && !under("/database", "/data"));
    }

    #[test]
    fn internal_addresses() {
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "169.254.169.254",
            "::1",
            "fd00::1",
            "fe80::1",
            "2001:db8::1",
        ] {
            assert!(internal(a.parse().expect("ip")), "{a}");
        }
        // 2001:db8::/32 is documentation space: the host refuses it like any reserved range.
        for a in ["8.8.8.8", "2606:4700::1111"] {
            assert!(!internal(a.parse().expect("ip")), "{a}");
        }
    }
}
