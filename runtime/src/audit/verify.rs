//! `audit verify`: check a log's hash chain and, with the operator's key, its checkpoints.
//!
//! What each kind of tampering looks like to the verifier:
//! - an edited record: its hash no longer matches its bytes;
//! - a removed record: the next record's `seq` skips, and its `prev` names a hash that is not
//!   the previous line's;
//! - reordered records: a `seq` out of order;
//! - a torn or cut last line: the line does not end with a hash;
//! - a whole file rewritten with fresh hashes: its checkpoints do not verify under the
//!   operator's key (or there are none);
//! - records cut off the end: invisible in the file alone, because the shorter file is a
//!   valid older log. Compare against a head kept elsewhere (`expect_head`, the
//!   `--head SEQ:HASH` flag): the last `seq` and `hash` that `verify` printed, or a checkpoint
//!   shipped off the machine.

use std::io::BufRead;
use std::path::Path;

use super::checkpoint::CheckpointVerifier;
use super::record::{self, GENESIS, SCHEMA_VERSION};

/// What to check besides the chain.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Check checkpoints with this key, and require at least one.
    pub key: Option<CheckpointVerifier>,
    /// The log must reach this record (`seq`, `hash`): a head remembered from an earlier
    /// verification or checkpoint. Catches records cut off the end.
    pub expect_head: Option<(u64, String)>,
}

/// The first thing wrong with a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The `seq` where the log stops being trustworthy (the one expected at that line).
    pub seq: u64,
    /// The line number (1-based), 0 when the problem is at the end of the file.
    pub line: usize,
    /// What is wrong.
    pub what: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            write!(f, "seq {}: {}", self.seq, self.what)
        } else {
            write!(f, "seq {} (line {}): {}", self.seq, self.line, self.what)
        }
    }
}

/// The result of a verification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Records checked (up to the first problem).
    pub records: u64,
    /// `start` records.
    pub calls: u64,
    /// Host calls the `host-call` records account for: each counts its `count` (a run of
    /// identical side-effect-free calls written as one record), or 1.
    pub host_calls: u64,
    /// Checkpoints verified under the given key (0 without a key).
    pub checkpoints: u64,
    /// Checkpoint records present but not verified, because no key was given: a forger who
    /// rewrites the file can write these too, so they vouch for nothing.
    pub unverified_checkpoints: u64,
    /// `load` records of unsigned manifests (`--allow-unsigned`).
    pub unsigned_loads: u64,
    /// The last good record: (`seq`, `hash`).
    pub head: Option<(u64, String)>,
    /// Records after the last checkpoint (with a key: not vouched for by a signature).
    pub after_last_checkpoint: u64,
    /// Calls with a `start` and no `end`, in the order they started: killed mid-call (the
    /// process died, the machine lost power, the disk filled), or still running while the log
    /// was read.
    pub unfinished: Vec<Unfinished>,
    /// The first problem, if any.
    pub problem: Option<Problem>,
}

/// A call whose `start` is in the log and whose `end` is not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfinished {
    /// The call id.
    pub call: String,
    /// The tool (`name@version`, or `component:…`).
    pub tool: String,
    /// The `seq` of its `start` record.
    pub seq: u64,
}

impl std::fmt::Display for Unfinished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}, start at seq {})",
            self.call, self.tool, self.seq
        )
    }
}

impl VerifyReport {
    /// Whether the log verified.
    pub fn ok(&self) -> bool {
        self.problem.is_none()
    }
}

/// Verify the log at `path`.
pub fn verify_file(path: &Path, opts: &VerifyOptions) -> std::io::Result<VerifyReport> {
    let f = std::fs::File::open(path)?;
    verify(std::io::BufReader::new(f), opts)
}

/// Verify a log read from `r`.
pub fn verify(mut r: impl BufRead, opts: &VerifyOptions) -> std::io::Result<VerifyReport> {
    #[derive(serde::Deserialize)]
    struct Common {
        v: u32,
        seq: u64,
        prev: String,
        kind: String,
        #[serde(default)]
        call: String,
        #[serde(default)]
        tool: String,
        #[serde(default)]
        unsigned: bool,
        #[serde(default)]
        head: Option<String>,
        #[serde(default)]
        key: Option<String>,
        #[serde(default)]
        sig: Option<String>,
        #[serde(default)]
        count: Option<serde_json::Value>,
    }
    let mut rep = VerifyReport::default();
    let mut prev_hash = GENESIS.to_string();
    let mut expected: u64 = 0;
    let mut line_no = 0usize;
    let mut buf = Vec::new();
    let mut reached_head = false;
    // Calls started and not yet ended, by id: the `seq` of the start (the order they started
    // in) and the tool.
    let mut open: std::collections::HashMap<String, (u64, String)> =
        std::collections::HashMap::new();
    loop {
        if record::read_line_capped(&mut r, &mut buf)? == 0 {
            break;
        }
        line_no += 1;
        let bad = |what: String| Problem {
            seq: expected,
            line: line_no,
            what,
        };
        if buf.len() > record::MAX_LINE {
            rep.problem = Some(bad(format!(
                "a line longer than {} MiB: not a record",
                record::MAX_LINE >> 20
            )));
            return Ok(rep);
        }
        let Some(line) = buf.strip_suffix(b"\n") else {
            rep.problem = Some(bad(
                "the last line is incomplete (torn write or truncation)".into(),
            ));
            break;
        };
        let Some((unhashed, stored)) = record::split_hash(line) else {
            rep.problem = Some(bad("the line does not end with a hash: not a record".into()));
            break;
        };
        let stored = stored.to_string();
        if record::hex_str(&record::record_hash(unhashed)) != stored {
            rep.problem = Some(bad(
                "the record's hash does not match its content (edited)".into()
            ));
            break;
        }
        let c: Common = match serde_json::from_slice(line) {
            Ok(c) => c,
            Err(e) => {
                rep.problem = Some(bad(format!("not an audit record: {e}")));
                break;
            }
        };
        if c.v != SCHEMA_VERSION {
            rep.problem = Some(bad(format!("unknown schema version {}", c.v)));
            break;
        }
        if c.seq != expected {
            let what = if c.seq > expected {
                format!(
                    "found seq {} where {expected} was expected: records {expected}..{} were removed",
                    c.seq,
                    c.seq - 1
                )
            } else {
                format!(
                    "found seq {} where {expected} was expected: records reordered or duplicated",
                    c.seq
                )
            };
            rep.problem = Some(bad(what));
            break;
        }
        if c.prev != prev_hash {
            rep.problem = Some(bad(
                "`prev` is not the hash of the previous record: the chain is broken here".into(),
            ));
            break;
        }
        match c.kind.as_str() {
            "host-call" => {
                // The writer writes `count` only for a run, so it is an integer of at least 2;
                // anything else is not a record it wrote (its hash may still have been forged).
                let n = match &c.count {
                    None => Some(1),
                    Some(v) => v.as_u64().filter(|n| *n >= 2),
                };
                let Some(n) = n else {
                    rep.problem = Some(bad(format!(
                        "`count` is {}, not a number of host calls of at least 2",
                        c.count
                            .as_ref()
                            .map(ToString::to_string)
                            .unwrap_or_default()
                    )));
                    break;
                };
                rep.host_calls = rep.host_calls.saturating_add(n);
            }
            "start" => {
                rep.calls += 1;
                open.insert(c.call.clone(), (c.seq, c.tool.clone()));
            }
            "end" => {
                open.remove(&c.call);
            }
            "load" if c.unsigned => rep.unsigned_loads += 1,
            "checkpoint" => {
                if let Some(k) = &opts.key {
                    let head = c.head.unwrap_or_default();
                    if head != prev_hash {
                        rep.problem =
                            Some(bad("the checkpoint's head is not the chain head".into()));
                        break;
                    }
                    if c.key.as_deref() != Some(k.fingerprint()) {
                        rep.problem = Some(bad(format!(
                            "checkpoint signed by {}, not by the given key {}",
                            c.key.unwrap_or_default(),
                            k.fingerprint()
                        )));
                        break;
                    }
                    if !k.verify(c.seq, &head, c.sig.as_deref().unwrap_or("")) {
                        rep.problem =
                            Some(bad("the checkpoint's signature does not verify".into()));
                        break;
                    }
                    rep.checkpoints += 1;
                } else {
                    rep.unverified_checkpoints += 1;
                }
                rep.after_last_checkpoint = 0;
            }
            _ => {}
        }
        if c.kind != "checkpoint" {
            rep.after_last_checkpoint += 1;
        }
        if let Some((s, h)) = &opts.expect_head
            && *s == c.seq
        {
            if *h != stored {
                rep.problem = Some(bad(format!(
                    "the record at seq {s} is not the expected head {h}"
                )));
                break;
            }
            reached_head = true;
        }
        rep.records += 1;
        rep.head = Some((c.seq, stored.clone()));
        prev_hash = stored;
        expected += 1;
    }
    rep.unfinished = open
        .into_iter()
        .map(|(call, (seq, tool))| Unfinished { call, tool, seq })
        .collect();
    rep.unfinished.sort_by_key(|u| u.seq);
    if rep.problem.is_some() {
        return Ok(rep);
    }
    if let Some((s, _)) = &opts.expect_head
        && !reached_head
    {
        rep.problem = Some(Problem {
            seq: expected,
            line: 0,
            what: format!(
                "the log ends before seq {s}, the expected head: records were cut off the end"
            ),
        });
        return Ok(rep);
    }
    if opts.key.is_some() && rep.checkpoints == 0 && rep.records > 0 {
        rep.problem = Some(Problem {
            seq: expected,
            line: 0,
            what: "no checkpoint in the log, so nothing vouches for it".into(),
        });
    }
    Ok(rep)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A line longer than any record, with no newline for gigabytes, is refused after the cap:
    /// the reader never holds more than `MAX_LINE` of it.
    #[test]
    fn an_endless_line_is_refused_at_the_cap_not_read_into_memory() {
        struct Endless(u64);
        impl std::io::Read for Endless {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = buf.len().min(usize::try_from(self.0).unwrap_or(usize::MAX));
                buf[..n].fill(b'x');
                self.0 -= n as u64;
                Ok(n)
            }
        }
        let src = std::io::BufReader::new(Endless(1 << 40));
        let rep = verify(src, &VerifyOptions::default()).unwrap();
        let p = rep.problem.expect("refused");
        assert_eq!((p.seq, p.line), (0, 1));
        assert!(p.what.contains("longer than 4 MiB"), "{}", p.what);
        let mut rows = 0;
        let shown = super::super::show::for_each(
            std::io::BufReader::new(Endless(1 << 40)),
            &Default::default(),
            |_, _| {
                rows += 1;
                Ok(())
            },
        );
        assert!(shown.unwrap_err().contains("longer than 4 MiB"));
        assert_eq!(rows, 0);
    }
}
