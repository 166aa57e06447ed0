//! The rollback ratchet: per (tool name, signing key) the highest `sequence` accepted and the
//! SHA-256 of that manifest.
//!
//! A lower sequence is a rollback, the same sequence with other bytes is equivocation; both are
//! refused and leave the state unchanged. The state is `ratchet.json` in the state directory. It
//! is written atomically (a temp file in the same directory, fsync, rename, fsync of the
//! directory), read and written under an exclusive advisory lock on `ratchet.lock` so concurrent
//! processes serialise, and a corrupt file is an error (fail closed); a missing file is empty.
//! Temp files left by a crash are never read, and are removed under the lock.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::names::Sha256Digest;
use crate::package::Verified;

const STATE_FILE: &str = "ratchet.json";
const LOCK_FILE: &str = "ratchet.lock";
const TEMP_PREFIX: &str = ".ratchet.json.tmp.";
const MAX_STATE_SIZE: u64 = 64 * 1024 * 1024;

/// Why the ratchet refused a manifest or could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RatchetError {
    /// The sequence is lower than one already accepted from this key.
    #[error(
        "rollback: `{tool}` sequence {sequence} is older than sequence {seen} already accepted from key {fingerprint}"
    )]
    Rollback {
        /// Tool name.
        tool: String,
        /// Signing key fingerprint.
        fingerprint: String,
        /// The sequence presented.
        sequence: u64,
        /// The highest sequence accepted.
        seen: u64,
    },
    /// The same sequence was accepted before with different manifest bytes.
    #[error(
        "equivocation: `{tool}` sequence {sequence} from key {fingerprint} was accepted before as manifest sha256 {seen_sha256}, now it is {sha256}"
    )]
    Equivocation {
        /// Tool name.
        tool: String,
        /// Signing key fingerprint.
        fingerprint: String,
        /// The sequence.
        sequence: u64,
        /// SHA-256 of the manifest accepted before.
        seen_sha256: String,
        /// SHA-256 of the manifest presented.
        sha256: String,
    },
    /// The state could not be read or written, or is corrupt.
    #[error("ratchet state {}: {message}", path.display())]
    State {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

impl RatchetError {
    /// The error kind: `rollback`, `equivocation` or `ratchet-state`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Rollback { .. } => "rollback",
            Self::Equivocation { .. } => "equivocation",
            Self::State { .. } => "ratchet-state",
        }
    }

    /// What the operator can do next.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Self::Rollback { .. } => "this is an older release than one already run; get the current manifest from the publisher".into(),
            Self::Equivocation { .. } => "two different manifests carry the same sequence: report it to the publisher; their key may be compromised".into(),
            Self::State { path, .. } => format!(
                "wasmgov will not guess: inspect or restore {} (deleting it forgets every sequence seen)",
                path.display()
            ),
        })
    }
}

/// What the ratchet remembers for one (tool, key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The highest sequence accepted.
    pub sequence: u64,
    /// SHA-256 of the manifest accepted with it.
    pub manifest_sha256: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct State {
    v: u32,
    /// tool name → key fingerprint → entry.
    tools: BTreeMap<String, BTreeMap<String, Entry>>,
}

/// What a successful check did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Advance {
    /// First manifest seen for this tool and key.
    First,
    /// A newer sequence; the state moved forward from `from`.
    Newer {
        /// The previous highest sequence.
        from: u64,
    },
    /// The same manifest as before; nothing changed.
    Same,
    /// Unsigned manifest: the ratchet does not apply.
    Unsigned,
}

/// The ratchet state in one directory.
#[derive(Debug, Clone)]
pub struct Ratchet {
    dir: PathBuf,
}

struct Lock {
    _file: File,
}

fn state_err(path: &Path, message: impl std::fmt::Display) -> RatchetError {
    RatchetError::State {
        path: path.to_owned(),
        message: message.to_string(),
    }
}

impl Ratchet {
    /// Use `dir` (created with mode 0700 if missing) for `ratchet.json`.
    pub fn open(dir: &Path) -> Result<Self, RatchetError> {
        let mut b = fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(dir)
            .map_err(|e| state_err(dir, format!("cannot create directory: {e}")))?;
        Ok(Self {
            dir: dir.to_owned(),
        })
    }

    /// The state file's path.
    pub fn path(&self) -> PathBuf {
        self.dir.join(STATE_FILE)
    }

    fn lock(&self) -> Result<Lock, RatchetError> {
        let path = self.dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| state_err(&path, e))?;
        file.lock()
            .map_err(|e| state_err(&path, format!("cannot lock: {e}")))?;
        Ok(Lock { _file: file })
    }

    fn load(&self) -> Result<State, RatchetError> {
        let path = self.path();
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(State {
                    v: 1,
                    tools: BTreeMap::new(),
                });
            }
            Err(e) => return Err(state_err(&path, e)),
        };
        if bytes.len() as u64 > MAX_STATE_SIZE {
            return Err(state_err(&path, "corrupt: too large"));
        }
        let state: State = serde_json::from_slice(&bytes)
            .map_err(|e| state_err(&path, format!("corrupt: {e}")))?;
        if state.v != 1 {
            return Err(state_err(&path, format!("unsupported version {}", state.v)));
        }
        Ok(state)
    }

    fn store(&self, state: &State) -> Result<(), RatchetError> {
        let path = self.path();
        let json = serde_json::to_vec_pretty(state).map_err(|e| state_err(&path, e))?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let tmp = self
            .dir
            .join(format!("{TEMP_PREFIX}{}.{nanos}", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
            f.write_all(&json)?;
            f.write_all(b"\n")?;
            f.sync_all()?;
            fs::rename(&tmp, &path)?;
            File::open(&self.dir)?.sync_all()
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&tmp);
            state_err(&path, format!("cannot write: {e}"))
        })
    }

    fn remove_stale_temps(&self) {
        if let Ok(rd) = fs::read_dir(&self.dir) {
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
    }

    /// What is remembered for (`tool`, `fingerprint`).
    pub fn get(&self, tool: &str, fingerprint: &str) -> Result<Option<Entry>, RatchetError> {
        let _lock = self.lock()?;
        Ok(self
            .load()?
            .tools
            .get(tool)
            .and_then(|t| t.get(fingerprint))
            .cloned())
    }

    /// Check a signed manifest against the state and, if accepted, record it; atomic and locked.
    pub fn check_and_advance(&self, verified: &Verified) -> Result<Advance, RatchetError> {
        match &verified.signer {
            None => Ok(Advance::Unsigned),
            Some(s) => self.check_and_advance_raw(
                verified.manifest.tool.name.as_str(),
                &s.fingerprint,
                verified.manifest.tool.sequence,
                &verified.manifest_sha256,
            ),
        }
    }

    /// [`Ratchet::check_and_advance`] on plain values.
    pub fn check_and_advance_raw(
        &self,
        tool: &str,
        fingerprint: &str,
        sequence: u64,
        manifest_sha256: &Sha256Digest,
    ) -> Result<Advance, RatchetError> {
        let _lock = self.lock()?;
        let mut state = self.load()?;
        self.remove_stale_temps();
        let entry = state.tools.get(tool).and_then(|t| t.get(fingerprint));
        let advance = match entry {
            Some(e) if sequence < e.sequence => {
                return Err(RatchetError::Rollback {
                    tool: tool.to_owned(),
                    fingerprint: fingerprint.to_owned(),
                    sequence,
                    seen: e.sequence,
                });
            }
            Some(e) if sequence == e.sequence && e.manifest_sha256 != manifest_sha256.as_str() => {
                return Err(RatchetError::Equivocation {
                    tool: tool.to_owned(),
                    fingerprint: fingerprint.to_owned(),
                    sequence,
                    seen_sha256: e.manifest_sha256.clone(),
                    sha256: manifest_sha256.to_string(),
                });
            }
            Some(e) if sequence == e.sequence => return Ok(Advance::Same),
            Some(e) => Advance::Newer { from: e.sequence },
            None => Advance::First,
        };
        state.tools.entry(tool.to_owned()).or_default().insert(
            fingerprint.to_owned(),
            Entry {
                sequence,
                manifest_sha256: manifest_sha256.to_string(),
            },
        );
        self.store(&state)?;
        Ok(advance)
    }

    /// Drop every entry of a key (after it is revoked); returns how many were dropped.
    pub fn forget_key(&self, fingerprint: &str) -> Result<usize, RatchetError> {
        let _lock = self.lock()?;
        let mut state = self.load()?;
        let mut n = 0;
        for t in state.tools.values_mut() {
            n += usize::from(t.remove(fingerprint).is_some());
        }
        state.tools.retain(|_, t| !t.is_empty());
        if n > 0 {
            self.store(&state)?;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Sha256Digest {
        Sha256Digest::of(s.as_bytes())
    }

    #[test]
    fn rollback_and_equivocation_are_refused_and_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let r = Ratchet::open(&dir.path().join("state")).unwrap();
        assert_eq!(
            r.check_and_advance_raw("t", "SHA256:k", 5, &d("a"))
                .unwrap(),
            Advance::First
        );
        assert_eq!(
            r.check_and_advance_raw("t", "SHA256:k", 7, &d("b"))
                .unwrap(),
            Advance::Newer { from: 5 }
        );
        assert_eq!(
            r.check_and_advance_raw("t", "SHA256:k", 7, &d("b"))
                .unwrap(),
            Advance::Same
        );
        let e = r
            .check_and_advance_raw("t", "SHA256:k", 5, &d("a"))
            .unwrap_err();
        assert_eq!(e.kind(), "rollback");
        assert!(
            e.to_string().contains("sequence 5") && e.to_string().contains("SHA256:k"),
            "{e}"
        );
        let e = r
            .check_and_advance_raw("t", "SHA256:k", 7, &d("c"))
            .unwrap_err();
        assert_eq!(e.kind(), "equivocation");
        assert_eq!(
            r.get("t", "SHA256:k").unwrap().unwrap(),
            Entry {
                sequence: 7,
                manifest_sha256: d("b").to_string()
            }
        );
        // Another key and another tool have their own ratchets.
        assert_eq!(
            r.check_and_advance_raw("t", "SHA256:other", 1, &d("x"))
                .unwrap(),
            Advance::First
        );
        assert_eq!(
            r.check_and_advance_raw("u", "SHA256:k", 1, &d("x"))
                .unwrap(),
            Advance::First
        );
        // State persists across opens.
        let r2 = Ratchet::open(&dir.path().join("state")).unwrap();
        assert_eq!(r2.get("t", "SHA256:k").unwrap().unwrap().sequence, 7);
        assert_eq!(r2.forget_key("SHA256:k").unwrap(), 2);
        assert_eq!(
            r2.check_and_advance_raw("t", "SHA256:k", 1, &d("z"))
                .unwrap(),
            Advance::First
        );
    }

    #[test]
    fn corrupt_state_fails_closed_and_missing_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let r = Ratchet::open(dir.path()).unwrap();
        assert_eq!(r.get("t", "k").unwrap(), None);
        for bad in [
            "",
            "{",
            "[]",
            "{\"v\":1,\"tools\":{},\"x\":1}",
            "{\"v\":2,\"tools\":{}}",
        ] {
            fs::write(r.path(), bad).unwrap();
            let e = r.check_and_advance_raw("t", "k", 1, &d("a")).unwrap_err();
            assert_eq!(e.kind(), "ratchet-state", "{bad}");
            assert_eq!(fs::read_to_string(r.path()).unwrap(), bad, "unchanged");
        }
    }

    #[test]
    fn a_leftover_temp_file_does_not_corrupt_state() {
        let dir = tempfile::tempdir().unwrap();
        let r = Ratchet::open(dir.path()).unwrap();
        r.check_and_advance_raw("t", "k", 3, &d("a")).unwrap();
        // A crash between writing the temp file and renaming it leaves a half-written temp file.
        let stale = dir.path().join(format!("{TEMP_PREFIX}999.1"));
        fs::write(&stale, "{\"v\":1,\"tools\":{\"t\":{\"k\":{\"sequ").unwrap();
        assert_eq!(r.get("t", "k").unwrap().unwrap().sequence, 3);
        assert_eq!(
            r.check_and_advance_raw("t", "k", 4, &d("b")).unwrap(),
            Advance::Newer { from: 3 }
        );
        assert!(!stale.exists(), "stale temp removed under the lock");
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names.iter().all(|n| !n.starts_with(TEMP_PREFIX)),
            "{names:?}"
        );
    }

    #[test]
    fn concurrent_advances_serialise() {
        let dir = tempfile::tempdir().unwrap();
        let threads: Vec<_> = (1..=16u64)
            .map(|i| {
                let path = dir.path().to_owned();
                std::thread::spawn(move || {
                    let r = Ratchet::open(&path).unwrap();
                    r.check_and_advance_raw("t", "k", i, &d(&i.to_string()))
                        .map(|_| ())
                        .map_err(|e| e.kind())
                })
            })
            .collect();
        for t in threads {
            let res = t.join().unwrap();
            assert!(res.is_ok() || res == Err("rollback"), "{res:?}");
        }
        let r = Ratchet::open(dir.path()).unwrap();
        assert_eq!(r.get("t", "k").unwrap().unwrap().sequence, 16);
    }
}
