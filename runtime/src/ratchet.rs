//! The rollback ratchet: per tool name and publisher, whichever trusted key signed, the highest
//! `sequence` accepted and the SHA-256 of that manifest.
//!
//! A lower sequence is a rollback, the same sequence with other bytes is equivocation, whoever
//! signed either; both are refused and leave the state unchanged. Keying on the tool name and the
//! manifest's publisher, not the key, is what keeps key rotation safe: while an old and a new key
//! are both trusted, an old release signed by the old key is still older than what the new key
//! published. The publisher is part of the key because two publishers may ship tools of one name
//! (a server serves both, under names that say whose they are): one publisher's releases cannot
//! be another's rollback, and the manifest's publisher must be its signer's principal, so no
//! publisher can present a release as another's. An entry keyed on the bare tool name (written
//! before the publisher was part of the key) stays a floor for every publisher of that name. (The policy's
//! `[[min-sequence]]` adds a floor from config; [`crate::policy::Policy::check_min_sequence`].)
//!
//! The state is `ratchet.json` in the state directory. It is written atomically (a temp file in
//! the same directory, fsync, rename, fsync of the directory), read and written under an
//! exclusive advisory lock on `ratchet.lock` so concurrent processes serialise, and a corrupt
//! file is an error (fail closed); a missing file is empty. Temp files left by a crash are never
//! read, and are removed under the lock.
//!
//! Version 1 of the file kept one entry per (tool, key). It is read and migrated on the next
//! write: each tool keeps the highest sequence over its keys, so no floor is lost. Two keys that
//! both had that highest sequence with different bytes were an equivocation the old format let
//! through; the migrated entry then accepts neither manifest again (only a newer sequence).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::names::Sha256Digest;
use crate::package::Verified;

const STATE_FILE: &str = "ratchet.json";
const LOCK_FILE: &str = "ratchet.lock";
const TEMP_PREFIX: &str = ".ratchet.json.tmp.";
const MAX_STATE_SIZE: u64 = 64 * 1024 * 1024;
const VERSION: u32 = 2;

/// Why the ratchet refused a manifest or could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RatchetError {
    /// The sequence is lower than the floor: one already accepted, or the policy's.
    #[error("rollback: `{tool}` sequence {sequence} is older than sequence {seen}, {origin}")]
    Rollback {
        /// Tool name.
        tool: String,
        /// The sequence presented.
        sequence: u64,
        /// The floor.
        seen: u64,
        /// Where the floor comes from, in words (`already accepted (signed by key …)`, or the
        /// policy's `min-sequence` entry).
        origin: String,
    },
    /// The same sequence was accepted before with different manifest bytes.
    #[error(
        "equivocation: `{tool}` sequence {sequence} was accepted before as manifest sha256 {seen_sha256}, now it is {sha256} ({keys})"
    )]
    Equivocation {
        /// Tool name.
        tool: String,
        /// The sequence.
        sequence: u64,
        /// SHA-256 of the manifest accepted before.
        seen_sha256: String,
        /// SHA-256 of the manifest presented.
        sha256: String,
        /// Who signed each, in words (`accepted from key …, now signed by key …`).
        keys: String,
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
            Self::Rollback { .. } => "this is an older release than one already run (or than the policy's floor); get the current manifest from the publisher".into(),
            Self::Equivocation { .. } => "two different manifests carry the same sequence: report it to the publisher; their key may be compromised".into(),
            Self::State { path, .. } => format!(
                "wasmgov will not guess: inspect or restore {} (deleting it forgets every sequence seen)",
                path.display()
            ),
        })
    }
}

/// What the ratchet remembers for one tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The highest sequence accepted, from any key.
    pub sequence: u64,
    /// SHA-256 of the manifest accepted with it; `None` after migrating a version-1 state in
    /// which two keys signed different manifests with this sequence (neither is accepted again).
    pub manifest_sha256: Option<String>,
    /// Fingerprint of the key that signed it (of one of them, for a migrated conflict).
    pub key: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct State {
    v: u32,
    /// tool name → entry.
    tools: BTreeMap<String, Entry>,
}

/// Version 1: one entry per (tool, key).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StateV1 {
    #[allow(dead_code)]
    v: u32,
    tools: BTreeMap<String, BTreeMap<String, EntryV1>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryV1 {
    sequence: u64,
    manifest_sha256: String,
}

#[derive(Deserialize)]
struct VersionOnly {
    v: u32,
}

impl StateV1 {
    /// The highest sequence over each tool's keys; a tie with different bytes keeps no digest.
    fn migrate(self) -> State {
        let mut tools = BTreeMap::new();
        for (tool, keys) in self.tools {
            let mut best: Option<Entry> = None;
            for (key, e) in keys {
                best = Some(match best {
                    Some(b) if b.sequence > e.sequence => b,
                    Some(b) if b.sequence == e.sequence => Entry {
                        manifest_sha256: b.manifest_sha256.filter(|d| *d == e.manifest_sha256),
                        ..b
                    },
                    _ => Entry {
                        sequence: e.sequence,
                        manifest_sha256: Some(e.manifest_sha256),
                        key,
                    },
                });
            }
            if let Some(b) = best {
                tools.insert(tool, b);
            }
        }
        State { v: VERSION, tools }
    }
}

/// What a successful check did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Advance {
    /// First manifest seen for this tool.
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

    fn lock(&self) -> Result<crate::state_file::Lock, RatchetError> {
        crate::state_file::lock(&self.dir, LOCK_FILE)
            .map_err(|e| state_err(&self.dir.join(LOCK_FILE), format!("cannot lock: {e}")))
    }

    fn load(&self) -> Result<State, RatchetError> {
        let path = self.path();
        let bytes = match crate::state_file::read_capped(&path, MAX_STATE_SIZE) {
            Ok(Some(b)) => b,
            Ok(None) => {
                return Ok(State {
                    v: VERSION,
                    tools: BTreeMap::new(),
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                return Err(state_err(&path, "corrupt: too large"));
            }
            Err(e) => return Err(state_err(&path, e)),
        };
        let corrupt = |e: serde_json::Error| state_err(&path, format!("corrupt: {e}"));
        let version: VersionOnly = serde_json::from_slice(&bytes).map_err(corrupt)?;
        match version.v {
            1 => Ok(serde_json::from_slice::<StateV1>(&bytes)
                .map_err(corrupt)?
                .migrate()),
            VERSION => serde_json::from_slice(&bytes).map_err(corrupt),
            v => Err(state_err(&path, format!("unsupported version {v}"))),
        }
    }

    fn store(&self, state: &State) -> Result<(), RatchetError> {
        let path = self.path();
        let mut json = serde_json::to_vec_pretty(state).map_err(|e| state_err(&path, e))?;
        json.push(b'\n');
        crate::state_file::write_atomic(&self.dir, STATE_FILE, TEMP_PREFIX, &json)
            .map_err(|e| state_err(&path, format!("cannot write: {e}")))
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

    /// What is remembered for `tool`.
    pub fn get(&self, tool: &str) -> Result<Option<Entry>, RatchetError> {
        let _lock = self.lock()?;
        Ok(self.load()?.tools.get(tool).cloned())
    }

    /// Check a signed manifest against the state and, if accepted, record it; atomic and locked.
    pub fn check_and_advance(&self, verified: &Verified) -> Result<Advance, RatchetError> {
        match &verified.signer {
            None => Ok(Advance::Unsigned),
            Some(s) => {
                let tool = &verified.manifest.tool;
                self.advance(
                    &entry_key(tool.name.as_str(), &tool.publisher),
                    Some(tool.name.as_str()),
                    &s.fingerprint,
                    tool.sequence,
                    &verified.manifest_sha256,
                )
            }
        }
    }

    /// [`Ratchet::check_and_advance`] on plain values, keyed on `tool` alone.
    pub fn check_and_advance_raw(
        &self,
        tool: &str,
        fingerprint: &str,
        sequence: u64,
        manifest_sha256: &Sha256Digest,
    ) -> Result<Advance, RatchetError> {
        self.advance(tool, None, fingerprint, sequence, manifest_sha256)
    }

    /// Check `sequence` against the entry at `key` and, when given, the bare-name entry
    /// `floor` (older state: a floor for every publisher), then record it at `key`.
    fn advance(
        &self,
        tool: &str,
        floor: Option<&str>,
        fingerprint: &str,
        sequence: u64,
        manifest_sha256: &Sha256Digest,
    ) -> Result<Advance, RatchetError> {
        let _lock = self.lock()?;
        let mut state = self.load()?;
        self.remove_stale_temps();
        if let Some(e) = floor.and_then(|f| state.tools.get(f))
            && (sequence < e.sequence
                || (sequence == e.sequence
                    && e.manifest_sha256.as_deref() != Some(manifest_sha256.as_str())))
        {
            return Err(RatchetError::Rollback {
                tool: tool.to_owned(),
                sequence,
                seen: e.sequence,
                origin: format!(
                    "already accepted for this tool name before releases were kept per \
                     publisher (signed by key {})",
                    e.key
                ),
            });
        }
        let advance = match state.tools.get(tool) {
            Some(e) if sequence < e.sequence => {
                return Err(RatchetError::Rollback {
                    tool: tool.to_owned(),
                    sequence,
                    seen: e.sequence,
                    origin: format!("already accepted (signed by key {})", e.key),
                });
            }
            Some(e) if sequence == e.sequence => {
                return match &e.manifest_sha256 {
                    Some(d) if d == manifest_sha256.as_str() => Ok(Advance::Same),
                    seen => Err(RatchetError::Equivocation {
                        tool: tool.to_owned(),
                        sequence,
                        seen_sha256: seen.clone().unwrap_or_else(|| "(several)".into()),
                        sha256: manifest_sha256.to_string(),
                        keys: match seen {
                            Some(_) => format!(
                                "accepted from key {}, now signed by key {fingerprint}",
                                e.key
                            ),
                            None => format!(
                                "two keys signed different manifests with this sequence before the ratchet was per tool; now signed by key {fingerprint}"
                            ),
                        },
                    }),
                };
            }
            Some(e) => Advance::Newer { from: e.sequence },
            None => Advance::First,
        };
        state.v = VERSION;
        state.tools.insert(
            tool.to_owned(),
            Entry {
                sequence,
                manifest_sha256: Some(manifest_sha256.to_string()),
                key: fingerprint.to_owned(),
            },
        );
        self.store(&state)?;
        Ok(advance)
    }
}

/// The state's key of a tool: its name and publisher (a space never occurs in a tool name, so
/// it cannot meet a bare-name key).
pub fn entry_key(tool: &str, publisher: &str) -> String {
    format!("{tool} {publisher}")
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
            r.get("t").unwrap().unwrap(),
            Entry {
                sequence: 7,
                manifest_sha256: Some(d("b").to_string()),
                key: "SHA256:k".into(),
            }
        );
        // Another tool has its own ratchet.
        assert_eq!(
            r.check_and_advance_raw("u", "SHA256:k", 1, &d("x"))
                .unwrap(),
            Advance::First
        );
        // State persists across opens.
        let r2 = Ratchet::open(&dir.path().join("state")).unwrap();
        assert_eq!(r2.get("t").unwrap().unwrap().sequence, 7);
    }

    #[test]
    fn rollback_across_keys_is_refused_during_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let r = Ratchet::open(dir.path()).unwrap();
        r.check_and_advance_raw("t", "SHA256:old", 5, &d("five"))
            .unwrap();
        assert_eq!(
            r.check_and_advance_raw("t", "SHA256:new", 7, &d("seven"))
                .unwrap(),
            Advance::Newer { from: 5 }
        );
        // The old key is still trusted, and its release 5 (or a fresh 6) is still older than 7.
        for (seq, bytes) in [(5, "five"), (6, "six"), (3, "three")] {
            let e = r
                .check_and_advance_raw("t", "SHA256:old", seq, &d(bytes))
                .unwrap_err();
            assert_eq!(e.kind(), "rollback", "{seq}: {e}");
            assert!(e.to_string().contains("SHA256:new"), "{e}");
        }
        // Same sequence, other bytes, other key: equivocation whoever signed.
        let e = r
            .check_and_advance_raw("t", "SHA256:old", 7, &d("other seven"))
            .unwrap_err();
        assert_eq!(e.kind(), "equivocation", "{e}");
        // The identical bytes under the other key's signature are the same release.
        assert_eq!(
            r.check_and_advance_raw("t", "SHA256:old", 7, &d("seven"))
                .unwrap(),
            Advance::Same
        );
        assert_eq!(r.get("t").unwrap().unwrap().key, "SHA256:new");
    }

    #[test]
    fn a_version_1_state_migrates_to_the_highest_floor_per_tool() {
        let dir = tempfile::tempdir().unwrap();
        let r = Ratchet::open(dir.path()).unwrap();
        let v1 = serde_json::json!({"v": 1, "tools": {
            "t": {"SHA256:new": {"sequence": 7, "manifest_sha256": d("seven").to_string()},
                  "SHA256:old": {"sequence": 5, "manifest_sha256": d("five").to_string()}},
            "split": {"SHA256:a": {"sequence": 4, "manifest_sha256": d("a4").to_string()},
                      "SHA256:b": {"sequence": 4, "manifest_sha256": d("b4").to_string()}},
            "same": {"SHA256:a": {"sequence": 2, "manifest_sha256": d("s2").to_string()},
                     "SHA256:b": {"sequence": 2, "manifest_sha256": d("s2").to_string()}}
        }});
        fs::write(r.path(), v1.to_string()).unwrap();
        // The floor is the highest of the keys, read before anything is written.
        let e = r
            .check_and_advance_raw("t", "SHA256:old", 5, &d("five"))
            .unwrap_err();
        assert_eq!(e.kind(), "rollback", "{e}");
        assert_eq!(r.get("t").unwrap().unwrap().sequence, 7);
        // Two keys that signed different manifests as 4: neither runs again, nor a 4 of others.
        for b in ["a4", "b4", "c4"] {
            let e = r
                .check_and_advance_raw("split", "SHA256:a", 4, &d(b))
                .unwrap_err();
            assert_eq!(e.kind(), "equivocation", "{b}: {e}");
        }
        assert_eq!(
            r.check_and_advance_raw("same", "SHA256:b", 2, &d("s2"))
                .unwrap(),
            Advance::Same
        );
        // The first write stores version 2 with every floor kept.
        r.check_and_advance_raw("split", "SHA256:a", 5, &d("a5"))
            .unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(r.path()).unwrap()).unwrap();
        assert_eq!(v["v"], 2);
        assert_eq!(v["tools"]["t"]["sequence"], 7);
        assert_eq!(v["tools"]["same"]["sequence"], 2);
        assert_eq!(v["tools"]["split"]["sequence"], 5);
        let e = r
            .check_and_advance_raw("t", "SHA256:old", 6, &d("six"))
            .unwrap_err();
        assert_eq!(e.kind(), "rollback");
    }

    #[test]
    fn corrupt_state_fails_closed_and_missing_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let r = Ratchet::open(dir.path()).unwrap();
        assert_eq!(r.get("t").unwrap(), None);
        for bad in [
            "",
            "{",
            "[]",
            "{\"v\":2,\"tools\":{},\"x\":1}",
            "{\"v\":1,\"tools\":{},\"x\":1}",
            "{\"v\":1,\"tools\":{\"t\":{\"k\":{\"sequence\":\"7\"}}}}",
            "{\"v\":2,\"tools\":{\"t\":{\"k\":{}}}}",
            "{\"v\":3,\"tools\":{}}",
            "{\"tools\":{}}",
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
        fs::write(&stale, "{\"v\":2,\"tools\":{\"t\":{\"sequ").unwrap();
        assert_eq!(r.get("t").unwrap().unwrap().sequence, 3);
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
                    // Keys alternate, as during a rotation: the floor is still one per tool.
                    let key = if i % 2 == 0 { "even" } else { "odd" };
                    r.check_and_advance_raw("t", key, i, &d(&i.to_string()))
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
        assert_eq!(r.get("t").unwrap().unwrap().sequence, 16);
    }
}

#[cfg(test)]
mod publisher_tests {
    use super::*;

    fn d(s: &str) -> Sha256Digest {
        Sha256Digest::of(s.as_bytes())
    }

    #[test]
    fn two_publishers_of_one_name_keep_their_own_floors_and_a_bare_name_entry_binds_both() {
        let dir = tempfile::tempdir().unwrap();
        let r = Ratchet::open(&dir.path().join("state")).unwrap();
        let (a, b) = (entry_key("t", "a@x"), entry_key("t", "b@x"));
        assert_eq!(
            r.advance(&a, Some("t"), "SHA256:a", 9, &d("a9")).unwrap(),
            Advance::First
        );
        // b's first release at 1 is not a rollback of a's 9, and the same sequence with other
        // bytes is not an equivocation between publishers.
        assert_eq!(
            r.advance(&b, Some("t"), "SHA256:b", 1, &d("b1")).unwrap(),
            Advance::First
        );
        assert_eq!(
            r.advance(&b, Some("t"), "SHA256:b", 9, &d("b9")).unwrap(),
            Advance::Newer { from: 1 }
        );
        assert_eq!(
            r.advance(&a, Some("t"), "SHA256:a", 8, &d("a8"))
                .unwrap_err()
                .kind(),
            "rollback"
        );
        // A bare-name entry from older state is a floor for every publisher.
        r.check_and_advance_raw("u", "SHA256:old", 5, &d("u5"))
            .unwrap();
        let c = entry_key("u", "c@x");
        assert_eq!(
            r.advance(&c, Some("u"), "SHA256:c", 4, &d("c4"))
                .unwrap_err()
                .kind(),
            "rollback"
        );
        assert_eq!(
            r.advance(&c, Some("u"), "SHA256:c", 5, &d("other"))
                .unwrap_err()
                .kind(),
            "rollback"
        );
        assert_eq!(
            r.advance(&c, Some("u"), "SHA256:c", 5, &d("u5")).unwrap(),
            Advance::First
        );
    }
}
