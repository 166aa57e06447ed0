//! Quarantine: tools a detection rule took out of service, kept in `quarantine.json` in the
//! state directory so it survives restarts and holds for every process sharing the directory.
//!
//! A quarantined tool is refused at load and at every call (`error[quarantined]`) until an
//! operator runs `wasmgov quarantine release`, which is written to the audit log.
//!
//! The key is the tool's name and publisher (as the ratchet keys them) for a signed tool, so
//! another publisher's tool of the same name is not taken down with it; `NAME unsigned` for an
//! unsigned manifest (so an unsigned look-alike cannot quarantine the signed tool it imitates);
//! `component:SHA256` for a component loaded without a manifest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::state_file;

const FILE: &str = "quarantine.json";
const LOCK: &str = "quarantine.lock";
const TEMP_PREFIX: &str = ".quarantine.tmp.";
const VERSION: u32 = 1;
/// Larger than any real quarantine list; a bigger file is refused as corrupt.
const MAX_SIZE: u64 = 8 * 1024 * 1024;

/// Why the quarantine state cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("quarantine state {}: {message}", path.display())]
pub struct QuarantineError {
    /// The file.
    pub path: PathBuf,
    /// What went wrong.
    pub message: String,
}

/// One quarantined tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The rule that quarantined it.
    pub rule: String,
    /// When (RFC 3339, UTC).
    pub since: String,
    /// The tool's label then (`name@version`).
    pub tool: String,
    /// The call that tripped the rule.
    pub call: String,
    /// The finding's message.
    pub message: String,
}

impl Entry {
    /// The `error[quarantined]` a load or call of the tool `key` gets.
    pub(crate) fn refusal(self, key: &str) -> crate::Error {
        crate::Error::Quarantined {
            key: key.to_owned(),
            rule: self.rule,
            since: self.since,
            message: self.message,
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    v: u32,
    #[serde(default)]
    tools: BTreeMap<String, Entry>,
}

/// The quarantine list of one state directory.
#[derive(Debug, Clone)]
pub struct Quarantine {
    dir: PathBuf,
}

impl Quarantine {
    /// The list kept in `dir` (which must exist).
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
        }
    }

    /// The file.
    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE)
    }

    fn err(&self, message: impl std::fmt::Display) -> QuarantineError {
        QuarantineError {
            path: self.path(),
            message: message.to_string(),
        }
    }

    fn load(&self) -> Result<State, QuarantineError> {
        let Some(bytes) =
            state_file::read_capped(&self.path(), MAX_SIZE).map_err(|e| self.err(e))?
        else {
            return Ok(State {
                v: VERSION,
                tools: BTreeMap::new(),
            });
        };
        let s: State =
            serde_json::from_slice(&bytes).map_err(|e| self.err(format!("corrupt: {e}")))?;
        if s.v != VERSION {
            return Err(self.err(format!("unsupported version {}", s.v)));
        }
        Ok(s)
    }

    fn store(&self, s: &State) -> Result<(), QuarantineError> {
        let mut json = serde_json::to_vec_pretty(s).map_err(|e| self.err(e))?;
        json.push(b'\n');
        state_file::write_atomic(&self.dir, FILE, TEMP_PREFIX, &json)
            .map_err(|e| self.err(format!("cannot write: {e}")))
    }

    /// Every quarantined tool, by key.
    pub fn list(&self) -> Result<BTreeMap<String, Entry>, QuarantineError> {
        let _l = state_file::lock(&self.dir, LOCK).map_err(|e| self.err(e))?;
        Ok(self.load()?.tools)
    }

    /// Quarantine `key` (an entry already there is kept: the first finding is the cause).
    pub fn add(&self, key: &str, entry: Entry) -> Result<(), QuarantineError> {
        let _l = state_file::lock(&self.dir, LOCK).map_err(|e| self.err(e))?;
        let mut s = self.load()?;
        if s.tools.contains_key(key) {
            return Ok(());
        }
        s.tools.insert(key.to_owned(), entry);
        self.store(&s)
    }

    /// Release what `selector` names: a key (`NAME PUBLISHER`, `NAME unsigned`,
    /// `component:SHA256`) exactly, or a tool name (every key of that name). Returns what was
    /// released.
    pub fn release(&self, selector: &str) -> Result<Vec<(String, Entry)>, QuarantineError> {
        let _l = state_file::lock(&self.dir, LOCK).map_err(|e| self.err(e))?;
        let mut s = self.load()?;
        let keys: Vec<String> = s
            .tools
            .keys()
            .filter(|k| {
                *k == selector || k.split_once(' ').is_some_and(|(name, _)| name == selector)
            })
            .cloned()
            .collect();
        let mut out = Vec::new();
        for k in keys {
            if let Some(e) = s.tools.remove(&k) {
                out.push((k, e));
            }
        }
        if !out.is_empty() {
            self.store(&s)?;
        }
        Ok(out)
    }

    /// The file's length and modification time, to notice another process's change cheaply.
    pub(crate) fn stamp(&self) -> Option<(u64, std::time::SystemTime)> {
        let m = std::fs::metadata(self.path()).ok()?;
        Some((m.len(), m.modified().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(rule: &str) -> Entry {
        Entry {
            rule: rule.into(),
            since: "2026-12-02T00:00:00Z".into(),
            tool: "t@1.0.0".into(),
            call: "01ABC".into(),
            message: "m".into(),
        }
    }

    #[test]
    fn add_list_release_by_key_and_by_name() {
        let d = tempfile::tempdir().expect("tmp");
        let q = Quarantine::new(d.path());
        assert!(q.list().expect("empty").is_empty());
        q.add("grep alice@example.com", entry("deny-burst"))
            .expect("add");
        q.add("grep bob@example.com", entry("internal-address"))
            .expect("add");
        q.add("grep alice@example.com", entry("later"))
            .expect("kept");
        q.add("other alice@example.com", entry("x")).expect("add");
        let l = q.list().expect("list");
        assert_eq!(l.len(), 3);
        assert_eq!(l["grep alice@example.com"].rule, "deny-burst");
        let r = q.release("grep bob@example.com").expect("release");
        assert_eq!(r.len(), 1);
        let r = q.release("grep").expect("release by name");
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].0, "grep alice@example.com");
        assert!(q.release("grep").expect("nothing").is_empty());
        assert_eq!(q.list().expect("list").len(), 1);
    }

    #[test]
    fn a_corrupt_file_is_an_error_not_an_empty_list() {
        let d = tempfile::tempdir().expect("tmp");
        std::fs::write(d.path().join(FILE), b"{not json").expect("write");
        let q = Quarantine::new(d.path());
        assert!(q.list().is_err());
        assert!(q.add("k", entry("r")).is_err());
    }
}
