//! What the calls an audit log recorded used, per tool name (every version of it).
//!
//! The log is read as it is, not verified: run `wasmgov audit verify` to know it is genuine. A
//! line that is not a record is an error, as in `audit show`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufReader;
use std::path::{Path, PathBuf};

use serde_json::Value;
use wasmgov_runtime::net_pattern::{NetPattern, Scheme};

use crate::AssessError;

/// One destination a request went to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dest {
    /// `http` or `https`.
    pub scheme: Scheme,
    /// Host name or address literal.
    pub host: String,
    /// Port.
    pub port: u16,
}

impl Dest {
    /// Parse `scheme://host[:port][/path…]` (the `dest` a record holds).
    pub fn parse(s: &str) -> Option<Self> {
        let (scheme, rest) = s.split_once("://")?;
        let scheme = match scheme {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            _ => return None,
        };
        let authority = rest.split(['/', '?']).next()?;
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']')?;
            let port = after.strip_prefix(':').map(str::parse).transpose().ok()?;
            (format!("[{h}]"), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p.parse().ok()?)),
                None => (authority.to_owned(), None),
            }
        };
        if host.is_empty() {
            return None;
        }
        let port = port.or_else(|| scheme.default_port())?;
        Some(Self {
            scheme,
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    /// Whether `p` allows it.
    pub fn allowed_by(&self, p: &NetPattern) -> bool {
        p.matches(self.scheme, &self.host, self.port)
    }
}

/// What one tool's recorded calls did.
#[derive(Debug, Clone, Default)]
pub struct ToolUsage {
    /// Calls started.
    pub calls: u64,
    /// Calls started in observe mode.
    pub observed_calls: u64,
    /// Host calls of `wasi:filesystem` (other than listing the preopens).
    pub fs_calls: u64,
    /// Of those, calls that write, create, rename or delete.
    pub fs_writes: u64,
    /// Guest paths opened under sensitive binds.
    pub sensitive_paths: BTreeSet<String>,
    /// Requests the grant allowed, by destination.
    pub requests: BTreeSet<Dest>,
    /// Addresses connections went to.
    pub connected: BTreeSet<std::net::IpAddr>,
    /// Calls that read the environment.
    pub env_reads: u64,
    /// Names of the secrets injected into requests.
    pub secrets: BTreeSet<String>,
    /// What refused calls would have needed (`needs` of deny records, or their destination),
    /// in order, without repeats.
    pub needs: Vec<String>,
}

impl ToolUsage {
    /// Whether a request the grant allowed matched `p`.
    pub fn sent_to(&self, p: &NetPattern) -> bool {
        self.requests.iter().any(|d| d.allowed_by(p))
    }
}

/// Usage of every tool in one log.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    /// The log read.
    pub path: PathBuf,
    /// By tool name (without version).
    pub tools: BTreeMap<String, ToolUsage>,
    /// `call` ids of loads made in observe mode.
    observed_loads: BTreeSet<String>,
}

/// `wasi:filesystem/types` functions that change the tree or a file.
const FS_WRITES: &[&str] = &[
    "[method]descriptor.write",
    "[method]descriptor.write-via-stream",
    "[method]descriptor.append-via-stream",
    "[method]descriptor.set-size",
    "[method]descriptor.set-times",
    "[method]descriptor.set-times-at",
    "[method]descriptor.create-directory-at",
    "[method]descriptor.unlink-file-at",
    "[method]descriptor.remove-directory-at",
    "[method]descriptor.rename-at",
    "[method]descriptor.symlink-at",
    "[method]descriptor.link-at",
];

impl Usage {
    /// Read `path`.
    pub fn read(path: &Path) -> Result<Self, AssessError> {
        let f = std::fs::File::open(path).map_err(|source| AssessError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut u = Usage {
            path: path.to_path_buf(),
            ..Usage::default()
        };
        let filter = wasmgov_runtime::audit::show::Filter::default();
        wasmgov_runtime::audit::show::for_each(BufReader::new(f), &filter, |_, r| {
            u.add(&r);
            Ok(())
        })
        .map_err(|why| AssessError::Audit {
            path: path.to_path_buf(),
            why,
        })?;
        Ok(u)
    }

    /// The usage of tool `name`, if the log has any call of it.
    pub fn of(&self, name: &str) -> Option<&ToolUsage> {
        self.tools.get(name)
    }

    fn add(&mut self, r: &Value) {
        let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("");
        let label = s("tool");
        let name = label.split('@').next().unwrap_or(label);
        if name.is_empty() || name.starts_with("component:") {
            return;
        }
        let t = self.tools.entry(name.to_owned()).or_default();
        let arg = |k: &str| {
            r.get("args")
                .and_then(|a| a.get(k))
                .and_then(Value::as_str)
                .unwrap_or("")
        };
        match s("kind") {
            "load" if r.get("observe").and_then(Value::as_bool) == Some(true) => {
                self.observed_loads.insert(s("call").to_owned());
            }
            "start" => {
                t.calls += 1;
                if self.observed_loads.contains(s("load")) {
                    t.observed_calls += 1;
                }
            }
            "host-call" => {
                let (iface, func) = (s("iface"), s("func"));
                let denied = s("decision") == "deny";
                let base = iface.split('@').next().unwrap_or(iface);
                if denied {
                    let need = match arg("needs") {
                        "" => Dest::parse(arg("dest"))
                            .map(|d| format!("net {}://{}:{}", d.scheme, d.host, d.port)),
                        n => Some(n.to_owned()),
                    };
                    if let Some(n) = need
                        && !t.needs.contains(&n)
                    {
                        t.needs.push(n);
                    }
                    return;
                }
                if base.starts_with("wasi:filesystem/") && func != "get-directories" {
                    t.fs_calls += 1;
                    let opens_for_write = func == "[method]descriptor.open-at"
                        && (arg("open_flags").contains("CREATE")
                            || arg("open_flags").contains("TRUNCATE")
                            || arg("flags").contains("WRITE"));
                    if FS_WRITES.contains(&func) || opens_for_write {
                        t.fs_writes += 1;
                    }
                    if !arg("sensitive").is_empty() {
                        t.sensitive_paths.insert(arg("sensitive").to_owned());
                    }
                }
                if base == "wasi:cli/environment" {
                    t.env_reads += 1;
                }
                if base == "wasi:http/outgoing-handler" {
                    if let Some(d) = Dest::parse(arg("dest")) {
                        t.requests.insert(d);
                    }
                    for n in arg("secrets").split(',').filter(|n| !n.is_empty()) {
                        t.secrets.insert(n.to_owned());
                    }
                }
                if let Ok(ip) = arg("connected").parse() {
                    t.connected.insert(ip);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_parse_as_records_hold_them() {
        let d = Dest::parse("http://127.0.0.1:8080/x?<query>").expect("dest");
        assert_eq!((d.host.as_str(), d.port), ("127.0.0.1", 8080));
        let d = Dest::parse("https://API.example.com/v1").expect("dest");
        assert_eq!((d.host.as_str(), d.port), ("api.example.com", 443));
        let d = Dest::parse("http://[::1]:81").expect("dest");
        assert_eq!((d.host.as_str(), d.port), ("[::1]", 81));
        assert!(Dest::parse("ftp://x").is_none());
        assert!(Dest::parse("http://:80").is_none());
        assert!(Dest::parse("http://h:99999").is_none());
    }
}
