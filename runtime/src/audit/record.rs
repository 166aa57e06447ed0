//! The audit record: what each line of the log holds, how it is written and how it is hashed.
//!
//! A record is one JSON object on one line. Its hash is the SHA-256 of the exact bytes of the
//! line without its `hash` member: the writer serialises `{...,"prev":"P"`, hashes that text
//! followed by `}`, and appends `,"hash":"H"}`. There is no canonical form to get wrong: the
//! verifier hashes the bytes it reads. Every record names the previous record's hash in `prev`,
//! so editing, removing or reordering a line breaks the chain at that line.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::summary::ArgValue;

/// Schema version written in every record's `v`.
pub const SCHEMA_VERSION: u32 = 1;

/// `prev` of the first record of a log.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The member every line ends with, before the hash value.
pub(crate) const HASH_MEMBER: &str = ",\"hash\":\"";

/// What a record is about; the `kind` member and the fields that come with it.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Body {
    /// A tool was verified, compiled and is ready to be called.
    Load(Box<LoadInfo>),
    /// A call begins.
    Start {
        /// The load record's `call` id of this tool.
        #[serde(serialize_with = "arc_str")]
        load: Arc<str>,
        /// `call` or `describe`.
        action: &'static str,
        /// Who called (as the embedder said; grants nothing).
        #[serde(skip_serializing_if = "Option::is_none")]
        caller: Option<String>,
        /// Where the call came from, as the embedder said (`transport`, `mcp-request`,
        /// `subject`, `client`, …; grants nothing).
        #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
        context: std::collections::BTreeMap<String, String>,
        /// Size of the input in bytes (the input itself is never logged).
        input_size: u64,
        /// SHA-256 of the input, so an operator holding the input can prove which one it was.
        input_sha256: String,
        /// The limits of this call.
        limits: crate::limits::Limits,
    },
    /// A limit stopped the call.
    Limit {
        /// `fuel`, `memory`, `timeout`, `stack`, `output` or `host-calls`.
        which: String,
        /// The limit's value (its unit depends on `which`).
        limit: u64,
        /// What was used or asked for when the call stopped.
        used: u64,
    },
    /// A call ended.
    End {
        /// `ok` or the error kind (`tool-failed`, `limit-fuel`, `trap`, `audit`, …).
        outcome: String,
        /// The CLI exit code of this outcome.
        exit: i32,
        /// Fuel burned.
        fuel: u64,
        /// Peak linear memory, bytes.
        peak_memory: u64,
        /// Host calls made.
        host_calls: u64,
        /// Output charged (result + stdout + stderr + logs), bytes.
        output: u64,
        /// Wall time, microseconds.
        us: u64,
    },
    /// A detection rule fired on this call's (or this tool's) records.
    Finding {
        /// The rule's id: `deny-burst`, `internal-address`, `sensitive-read`, `secret-echo`,
        /// `rug-pull`, `deny-listed`, `repeated-limits`.
        rule: String,
        /// `low`, `medium`, `high` or `critical`.
        severity: String,
        /// What the runtime did: `alert`, `stop-call` or `quarantine`.
        action: String,
        /// One line for a human.
        message: String,
        /// The `seq` of the records that tripped the rule (the newest last).
        evidence: Vec<u64>,
        /// What the finding is about (an interface, a path, a host, a digest), when one thing.
        #[serde(skip_serializing_if = "Option::is_none")]
        subject: Option<String>,
        /// The quarantine key (`NAME PUBLISHER`) when the action quarantined the tool.
        #[serde(skip_serializing_if = "Option::is_none")]
        quarantined: Option<String>,
    },
    /// An operator released a quarantined tool (`wasmgov quarantine release`).
    Release {
        /// The quarantine key released (`NAME PUBLISHER`).
        key: String,
        /// Who released it (the local user).
        by: String,
        /// The rule that had quarantined it.
        rule: String,
    },
    /// The operator's signature over the chain head (the `prev` of this record).
    Checkpoint {
        /// The chain head this signs: the hash of the previous record.
        head: String,
        /// The signing key's `SHA256:` fingerprint.
        key: String,
        /// Ed25519 signature, base64 (see [`crate::audit::checkpoint`]).
        sig: String,
    },
}

/// The `load` record: who made the tool, what it may do.
#[derive(Debug, Clone, Serialize)]
pub struct LoadInfo {
    /// SHA-256 of the component bytes.
    pub component_sha256: String,
    /// Size of the component in bytes.
    pub component_size: u64,
    /// `tool` or `command`.
    pub world: &'static str,
    /// SHA-256 of the exact manifest bytes; absent for a component run without a manifest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest_sha256: Option<String>,
    /// The signer's key fingerprint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
    /// The signer's principals.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub principals: Vec<String>,
    /// True when a manifest ran without a signature (`--allow-unsigned`): nobody vouches for it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unsigned: bool,
    /// SHA-256 of the operator policy (of the built-in one when none was given).
    pub policy_sha256: String,
    /// Loaded in learning mode (`--observe`): refusals record what they would have needed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub observe: bool,
    /// The effective grant (secret values are never part of it).
    pub grant: serde_json::Value,
}

fn arc_str<S: serde::Serializer>(v: &Arc<str>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v)
}

/// Whether the host let a call do what it asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    /// The call was served (it may still have failed for an ordinary reason, e.g. not found).
    Allow,
    /// The grant refused it.
    Deny,
}

/// A record waiting for its place in the chain (the writer assigns `seq`, `prev` and `hash`).
#[derive(Debug, Clone)]
pub struct Pending {
    /// When it happened.
    pub ts: SystemTime,
    /// The call (or load) id.
    pub call: Arc<str>,
    /// `name@version`, or `component:<sha256 prefix>` for a tool without manifest.
    pub tool: Arc<str>,
    /// The kind-specific part.
    pub body: Body,
}

/// One import callsite: its interface and function as the JSON members every record of it
/// carries, ready to append.
#[derive(Debug)]
pub(crate) struct Site {
    /// `,"kind":"host-call","iface":…,"func":…`.
    json: Box<[u8]>,
    /// Why the host refuses every call of this function, whatever the grant.
    pub(crate) refused: Option<&'static str>,
    /// It only hands the tool an outcome an earlier call decided (a refused request's
    /// `future-incoming-response.get`): its error is not a second refusal.
    pub(crate) reports: bool,
    /// It is on host-api's [`SIDE_EFFECT_FREE`](wasmgov_host_api::SIDE_EFFECT_FREE) list: a
    /// run of identical calls of it may be one record with a count.
    pub(crate) repeats: bool,
    /// The interface, for observers.
    pub(crate) iface: Box<str>,
    /// The function, for observers.
    pub(crate) func: Box<str>,
}

impl Site {
    /// The site of `func` in `iface` (e.g. `wasi:filesystem/types`,
    /// `[method]descriptor.open-at`).
    pub(crate) fn new(iface: &str, func: &str) -> Self {
        let mut json = b",\"kind\":\"host-call\",\"iface\":".to_vec();
        push_json_str(&mut json, iface);
        json.extend_from_slice(b",\"func\":");
        push_json_str(&mut json, func);
        let refused = wasmgov_host_api::net::ALWAYS_REFUSED
            .iter()
            .find(|(i, f, _)| *i == iface && *f == func)
            .map(|(_, _, why)| *why);
        let reports = wasmgov_host_api::net::REPORTS_ONLY
            .iter()
            .any(|(i, f)| *i == iface && *f == func);
        let repeats = wasmgov_host_api::SIDE_EFFECT_FREE
            .iter()
            .any(|(i, f)| *i == iface && *f == func);
        Self {
            json: json.into(),
            refused,
            reports,
            repeats,
            iface: iface.into(),
            func: func.into(),
        }
    }
}

/// Which call a batch of host calls belongs to, and the clock they are timed against.
#[derive(Debug)]
pub(crate) struct CallHead {
    /// `,"call":…,"tool":…`.
    ids_json: Box<[u8]>,
    /// The tool's label, for observers.
    pub(crate) tool: Box<str>,
    /// The call's id, for observers.
    pub(crate) call: Box<str>,
    /// Microseconds since the epoch at `inst`.
    base_us: u64,
    inst: Instant,
}

impl CallHead {
    pub(crate) fn new(call: &str, tool: &str) -> Self {
        let mut ids = b",\"call\":".to_vec();
        push_json_str(&mut ids, call);
        ids.extend_from_slice(b",\"tool\":");
        push_json_str(&mut ids, tool);
        let base_us = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        Self {
            ids_json: ids.into(),
            tool: tool.into(),
            call: call.into(),
            base_us,
            inst: Instant::now(),
        }
    }

    /// The call's clock now, as a wall time: the wall clock when the call began plus the
    /// monotonic time since. Every record of a call is timed by this one clock, so a step of
    /// the wall clock during the call (NTP, an operator's `date -s`) cannot put a call's records
    /// out of order or make its `end` precede its `start`.
    pub(crate) fn now(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_micros(self.micros(Instant::now()))
    }

    /// The call's clock reading `at`, in microseconds since the epoch.
    pub(crate) fn micros(&self, at: Instant) -> u64 {
        let since = at.saturating_duration_since(self.inst).as_micros();
        self.base_us
            .saturating_add(u64::try_from(since).unwrap_or(u64::MAX))
    }
}

/// One host call, as the call path records it: no formatting, no hashing, no allocation for a
/// call without arguments. The writer turns it into a `host-call` record.
#[derive(Debug)]
pub(crate) struct HostCallItem {
    pub(crate) site: &'static Site,
    /// When the call began.
    pub(crate) at: Instant,
    /// Duration in microseconds.
    pub(crate) us: u64,
    /// Short argument summary: paths, hosts, sizes.
    pub(crate) args: Vec<(&'static str, ArgValue)>,
    pub(crate) decision: Decision,
    /// `ok`, an error code such as `not-permitted`, `trap`, `cancelled`, or `elided` when the
    /// result holds data the log must not see.
    pub(crate) outcome: Cow<'static, str>,
    /// Why the host denied it, when the host said so.
    pub(crate) reason: Option<String>,
    /// Host calls this item stands for: 1, or the length of a run of identical calls of a
    /// side-effect-free site (see [`HostCallItem::absorb`]); `us` is then their total.
    pub(crate) count: u64,
    /// When the last call of the run began (`at` for a single call).
    pub(crate) last: Instant,
}

impl HostCallItem {
    /// Count `next` into this item if it repeats it, and say whether it did. It repeats it only
    /// when both are calls of the same callsite (so the same interface and function), that site
    /// is on the side-effect-free list, both were allowed, had the same outcome, and carry no
    /// arguments and no reason: a record then loses nothing but the individual timestamps and
    /// durations. Anything else (a denial, a path, a size, a mutation) keeps its own record.
    /// The caller only offers the newest item not yet handed to the writer, so a run never
    /// spans another record or a batch already sent.
    #[inline]
    pub(crate) fn absorb(&mut self, next: &HostCallItem) -> bool {
        let same = std::ptr::eq(self.site, next.site)
            && next.site.repeats
            && self.decision == Decision::Allow
            && next.decision == Decision::Allow
            && self.args.is_empty()
            && next.args.is_empty()
            && self.reason.is_none()
            && next.reason.is_none()
            && self.outcome == next.outcome;
        if same {
            self.count = self.count.saturating_add(next.count);
            self.last = self.last.max(next.last);
            self.us = self.us.saturating_add(next.us);
        }
        same
    }

    /// Whether detection acts on this record (a denial, or an open under a sensitive bind), so
    /// it should reach the log's observers soon.
    pub(crate) fn watched(&self) -> bool {
        self.decision == Decision::Deny || self.args.iter().any(|(k, _)| *k == "sensitive")
    }
}

/// Host calls of one call, in the order they were made.
#[derive(Debug)]
pub(crate) struct HostBatch {
    pub(crate) head: Arc<CallHead>,
    pub(crate) items: Vec<HostCallItem>,
}

/// The `YYYY-MM-DDTHH:MM:SS.` of the last second formatted: host calls come thousands a second.
#[derive(Debug, Default)]
pub(crate) struct TsCache {
    secs: Option<u64>,
    prefix: Vec<u8>,
}

impl TsCache {
    fn push(&mut self, out: &mut Vec<u8>, micros: u64) {
        let secs = micros / 1_000_000;
        if self.secs != Some(secs) {
            self.prefix.clear();
            let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs);
            push_ts(&mut self.prefix, t);
            self.prefix.truncate(self.prefix.len().saturating_sub(8)); // `.uuuuuuZ`
            self.secs = Some(secs);
        }
        out.extend_from_slice(&self.prefix);
        out.push(b'.');
        push_digits(out, micros % 1_000_000, 6);
        out.push(b'Z');
    }
}

/// A JSON string literal of `s`.
fn push_json_str(out: &mut Vec<u8>, s: &str) {
    let plain = s
        .bytes()
        .all(|b| b >= 0x20 && b != b'"' && b != b'\\' && b < 0x7f);
    if plain {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // Writing to a Vec cannot fail; serde_json escapes control characters and quotes.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

/// Append the `host-call` record of `item` at `seq` after `prev` (with a trailing newline) and
/// return its hash. The same bytes `write_line` would produce for it, written by hand: this is
/// the one record kind a tool can make a hundred thousand of.
pub(crate) fn write_host_call(
    out: &mut Vec<u8>,
    ts: &mut TsCache,
    head: &CallHead,
    item: &HostCallItem,
    seq: u64,
    prev: &Hex64,
) -> Hex64 {
    let start = out.len();
    open_line(out, seq);
    ts.push(out, head.micros(item.at));
    out.push(b'"');
    out.extend_from_slice(&head.ids_json);
    out.extend_from_slice(&item.site.json);
    if !item.args.is_empty() {
        out.extend_from_slice(b",\"args\":{");
        for (i, (k, v)) in item.args.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_json_str(out, k);
            out.push(b':');
            match v {
                ArgValue::Text(t) => push_json_str(out, t),
                ArgValue::Size { bytes, more } => {
                    out.extend_from_slice(if *more { b"\"<more than " } else { b"\"<" });
                    push_digits(out, *bytes as u64, 1);
                    out.extend_from_slice(b" bytes>\"");
                }
            }
        }
        out.push(b'}');
    }
    out.extend_from_slice(match item.decision {
        Decision::Allow => b",\"decision\":\"allow\"",
        Decision::Deny => b",\"decision\":\"deny\"",
    });
    out.extend_from_slice(b",\"outcome\":");
    push_json_str(out, &item.outcome);
    if let Some(r) = &item.reason {
        out.extend_from_slice(b",\"reason\":");
        push_json_str(out, r);
    }
    // A run of identical calls: how many, and when the last began (`ts` is the first's).
    if item.count > 1 {
        out.extend_from_slice(b",\"count\":");
        push_digits(out, item.count, 1);
        out.extend_from_slice(b",\"ts_last\":\"");
        ts.push(out, head.micros(item.last));
        out.push(b'"');
    }
    out.extend_from_slice(b",\"us\":");
    push_digits(out, item.us, 1);
    seal_line(out, start, prev)
}

/// RFC 3339 UTC with microseconds, e.g. `2026-11-25T20:51:03.123456Z`.
pub fn format_ts(t: SystemTime) -> String {
    let mut out = Vec::with_capacity(27);
    push_ts(&mut out, t);
    String::from_utf8(out).unwrap_or_default()
}

/// A record's `ts` (the [`format_ts`] form: RFC 3339 in UTC, `Z`) as microseconds since the
/// Unix epoch; anything else, an offset other than `Z` included, is no time.
pub fn ts_micros(ts: &str) -> Option<i64> {
    if !ts.ends_with('Z') {
        return None;
    }
    let t = time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000).ok()
}

fn push_ts(out: &mut Vec<u8>, t: SystemTime) {
    let dt = time::OffsetDateTime::from(t);
    push_digits(out, u64::from(dt.year().unsigned_abs()), 4);
    out.push(b'-');
    push_digits(out, u64::from(u8::from(dt.month())), 2);
    out.push(b'-');
    push_digits(out, u64::from(dt.day()), 2);
    out.push(b'T');
    push_digits(out, u64::from(dt.hour()), 2);
    out.push(b':');
    push_digits(out, u64::from(dt.minute()), 2);
    out.push(b':');
    push_digits(out, u64::from(dt.second()), 2);
    out.push(b'.');
    push_digits(out, u64::from(dt.microsecond()), 6);
    out.push(b'Z');
}

/// `v` in decimal, zero-padded to `width` digits.
fn push_digits(out: &mut Vec<u8>, mut v: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut i = buf.len();
    while v > 0 || buf.len() - i < width {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out.extend_from_slice(&buf[i..]);
}

/// A SHA-256 as 64 lowercase hex digits.
pub(crate) type Hex64 = [u8; 64];

/// `prev` of the first record, as bytes.
pub(crate) const GENESIS_HEX: Hex64 = [b'0'; 64];

fn hex64(d: &[u8]) -> Hex64 {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 64];
    for (i, b) in d.iter().take(32).enumerate() {
        out[2 * i] = DIGITS[(b >> 4) as usize];
        out[2 * i + 1] = DIGITS[(b & 15) as usize];
    }
    out
}

/// The text of a [`Hex64`].
pub(crate) fn hex_str(h: &Hex64) -> &str {
    // Only ever built from hex digits.
    std::str::from_utf8(h).unwrap_or("")
}

/// `s`, cut to 256 bytes at a character boundary.
pub(crate) fn cap_text(s: &str) -> String {
    let mut cut = s.len().min(256);
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s[..cut].to_string()
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex_str(&hex64(&Sha256::digest(bytes))).to_string()
}

/// The hash of a record whose line, without the hash member, is `unhashed` (which starts with
/// `{` and does not end with `}`).
pub(crate) fn record_hash(unhashed: &[u8]) -> Hex64 {
    let mut h = Sha256::new();
    h.update(unhashed);
    h.update(b"}");
    hex64(&h.finalize())
}

/// Append the line of `p` at `seq` after `prev` to `out` (with a trailing newline) and return
/// its hash.
pub(crate) fn write_line(
    out: &mut Vec<u8>,
    p: &Pending,
    seq: u64,
    prev: &Hex64,
) -> Result<Hex64, serde_json::Error> {
    let start = out.len();
    open_line(out, seq);
    push_ts(out, p.ts);
    out.extend_from_slice(b"\",\"call\":");
    serde_json::to_writer(&mut *out, &*p.call)?;
    out.extend_from_slice(b",\"tool\":");
    serde_json::to_writer(&mut *out, &*p.tool)?;
    // The body serialises as `{"kind":…,…}`: splice its members in.
    let body_at = out.len();
    serde_json::to_writer(&mut *out, &p.body)?;
    out[body_at] = b',';
    out.pop(); // its closing brace
    Ok(seal_line(out, start, prev))
}

/// Begin a record line: `{"v":…,"seq":…,"ts":"` (the caller writes the time).
fn open_line(out: &mut Vec<u8>, seq: u64) {
    out.extend_from_slice(b"{\"v\":");
    push_digits(out, u64::from(SCHEMA_VERSION), 1);
    out.extend_from_slice(b",\"seq\":");
    push_digits(out, seq, 1);
    out.extend_from_slice(b",\"ts\":\"");
}

/// End the record line that begins at `out[start]`: append `prev`, hash the line so far (closed
/// with `}`), append the hash member and the newline. Returns the hash.
fn seal_line(out: &mut Vec<u8>, start: usize, prev: &Hex64) -> Hex64 {
    out.extend_from_slice(b",\"prev\":\"");
    out.extend_from_slice(prev);
    out.push(b'"');
    let hash = record_hash(&out[start..]);
    out.extend_from_slice(HASH_MEMBER.as_bytes());
    out.extend_from_slice(&hash);
    out.extend_from_slice(b"\"}\n");
    hash
}

/// The longest line a reader of the log accepts, newline included. The writer's records are far
/// below it (the largest, a `load`, holds a manifest and a policy of at most 64 KiB each, escaped),
/// so a longer line is not a record; reading stops there, and a hostile file cannot make a
/// reader hold more than this.
pub const MAX_LINE: usize = 4 << 20;

/// Read one line of a log into `buf` (cleared first), at most [`MAX_LINE`] bytes: returns the
/// bytes read (0 at the end). A line that is cut by the cap has no trailing newline and is
/// exactly `MAX_LINE + 1` bytes long.
pub fn read_line_capped(
    r: &mut impl std::io::BufRead,
    buf: &mut Vec<u8>,
) -> std::io::Result<usize> {
    use std::io::{BufRead, Read};
    buf.clear();
    r.by_ref().take(MAX_LINE as u64 + 1).read_until(b'\n', buf)
}

/// Split a line into (the bytes that were hashed, without the closing brace; the stored hash).
/// `None` when the line does not end with a well-formed hash member.
pub(crate) fn split_hash(line: &[u8]) -> Option<(&[u8], &str)> {
    let body = line.strip_suffix(b"\"}")?;
    if body.len() < 64 + HASH_MEMBER.len() {
        return None;
    }
    let (rest, hash) = body.split_at(body.len() - 64);
    let rest = rest.strip_suffix(HASH_MEMBER.as_bytes())?;
    let hash = std::str::from_utf8(hash).ok()?;
    if !hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    Some((rest, hash))
}

/// A new call id: 26 characters of Crockford base32 (48 bits of milliseconds, 80 random bits),
/// sortable by time like a ULID.
pub fn new_call_id() -> Arc<str> {
    use rand_core::RngCore;
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let mut rnd = [0u8; 10];
    rand_core::OsRng.fill_bytes(&mut rnd);
    let mut r: u128 = 0;
    for b in rnd {
        r = (r << 8) | u128::from(b);
    }
    let v = ((ms & ((1 << 48) - 1)) << 80) | r;
    let mut s = String::with_capacity(26);
    for i in (0..26).rev() {
        s.push(ALPHABET[((v >> (i * 5)) & 31) as usize] as char);
    }
    Arc::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(body: Body) -> Pending {
        Pending {
            ts: SystemTime::UNIX_EPOCH,
            call: "C1".into(),
            tool: "t@1".into(),
            body,
        }
    }

    #[test]
    fn a_line_hashes_to_what_it_says_and_parses_as_json() {
        let mut out = Vec::new();
        let p = pending(Body::Limit {
            which: "fuel".into(),
            limit: 10,
            used: 11,
        });
        let h = write_line(&mut out, &p, 7, &GENESIS_HEX).unwrap();
        let h = hex_str(&h).to_string();
        let line = out.strip_suffix(b"\n").unwrap();
        let v: serde_json::Value = serde_json::from_slice(line).unwrap();
        assert_eq!(v["seq"], 7);
        assert_eq!(v["kind"], "limit");
        assert_eq!(v["hash"], h.as_str());
        assert_eq!(v["ts"], "1970-01-01T00:00:00.000000Z");
        let (unhashed, stored) = split_hash(line).unwrap();
        assert_eq!(stored, h);
        assert_eq!(hex_str(&record_hash(unhashed)), h);
    }

    #[test]
    fn a_host_call_line_is_json_with_a_hash_over_its_bytes() {
        static SITE: std::sync::LazyLock<Site> = std::sync::LazyLock::new(|| {
            Site::new("wasi:filesystem/types", "[method]descriptor.open-at")
        });
        let head = CallHead::new("C\"1", "t@1");
        let at = head.inst + std::time::Duration::from_micros(1_500_000);
        let item = HostCallItem {
            site: &SITE,
            at,
            us: 4,
            args: vec![
                ("path", ArgValue::Text("a\n\"b\"".into())),
                (
                    "message",
                    ArgValue::Size {
                        bytes: 12,
                        more: true,
                    },
                ),
            ],
            decision: Decision::Deny,
            outcome: "not-permitted".into(),
            reason: Some("outside the grant".into()),
            count: 1,
            last: at,
        };
        let mut out = Vec::new();
        let mut ts = TsCache::default();
        let h = write_host_call(&mut out, &mut ts, &head, &item, 3, &GENESIS_HEX);
        let line = out.strip_suffix(b"\n").unwrap();
        let v: serde_json::Value = serde_json::from_slice(line).unwrap();
        assert_eq!(v["seq"], 3);
        assert_eq!(v["call"], "C\"1");
        assert_eq!(v["kind"], "host-call");
        assert_eq!(v["func"], "[method]descriptor.open-at");
        assert_eq!(v["args"]["path"], "a\n\"b\"");
        assert_eq!(v["args"]["message"], "<more than 12 bytes>");
        assert_eq!(v["decision"], "deny");
        assert_eq!(v["reason"], "outside the grant");
        assert_eq!(v["us"], 4);
        assert!(v.get("count").is_none() && v.get("ts_last").is_none());
        let want_ts = format_ts(
            SystemTime::UNIX_EPOCH + std::time::Duration::from_micros(head.base_us + 1_500_000),
        );
        assert_eq!(v["ts"], want_ts.as_str());
        let (unhashed, stored) = split_hash(line).unwrap();
        assert_eq!(stored, hex_str(&h));
        assert_eq!(record_hash(unhashed), h);
        // The cached second is reused and still right a second later.
        out.clear();
        let later = HostCallItem {
            at: item.at + std::time::Duration::from_micros(1_000_001),
            ..item
        };
        write_host_call(&mut out, &mut ts, &head, &later, 4, &h);
        let v: serde_json::Value =
            serde_json::from_slice(out.strip_suffix(b"\n").unwrap()).unwrap();
        let want_ts = format_ts(
            SystemTime::UNIX_EPOCH + std::time::Duration::from_micros(head.base_us + 2_500_001),
        );
        assert_eq!(v["ts"], want_ts.as_str());
    }

    static CLOCK: std::sync::LazyLock<Site> =
        std::sync::LazyLock::new(|| Site::new("wasi:clocks/monotonic-clock", "now"));
    static STAT: std::sync::LazyLock<Site> = std::sync::LazyLock::new(|| {
        Site::new("wasi:filesystem/types", "[method]descriptor.stat-at")
    });

    fn item(site: &'static Site, at: Instant) -> HostCallItem {
        HostCallItem {
            site,
            at,
            us: 2,
            args: Vec::new(),
            decision: Decision::Allow,
            outcome: "ok".into(),
            reason: None,
            count: 1,
            last: at,
        }
    }

    #[test]
    fn only_identical_allowed_argumentless_calls_of_a_listed_site_are_counted_together() {
        let t0 = Instant::now();
        let later = t0 + std::time::Duration::from_micros(7);
        let mut run = item(&CLOCK, t0);
        assert!(run.absorb(&item(&CLOCK, later)));
        assert_eq!((run.count, run.us, run.last), (2, 4, later));
        // Not on the list: a filesystem call never aggregates, even without arguments.
        let mut stat = item(&STAT, t0);
        assert!(!stat.absorb(&item(&STAT, later)));
        // Another site, another outcome, a denial, an argument or a reason breaks the run.
        let other = Site::new("wasi:clocks/wall-clock", "now");
        let other: &'static Site = Box::leak(Box::new(other));
        assert!(!run.absorb(&item(other, later)));
        assert!(!run.absorb(&HostCallItem {
            outcome: "trap".into(),
            ..item(&CLOCK, later)
        }));
        assert!(!run.absorb(&HostCallItem {
            decision: Decision::Deny,
            ..item(&CLOCK, later)
        }));
        assert!(!run.absorb(&HostCallItem {
            args: vec![("len", ArgValue::Text("8".into()))],
            ..item(&CLOCK, later)
        }));
        assert!(!run.absorb(&HostCallItem {
            reason: Some("no".into()),
            ..item(&CLOCK, later)
        }));
        assert_eq!(run.count, 2, "nothing that broke the run was counted");
        // get-random-bytes carries a size: not on the list.
        let bytes = Site::new("wasi:random/random", "get-random-bytes");
        assert!(!bytes.repeats);
        assert!(Site::new("wasi:random/random", "get-random-u64").repeats);
    }

    #[test]
    fn a_run_record_carries_its_count_last_timestamp_and_total_duration() {
        let head = CallHead::new("C1", "t@1");
        let at = head.inst + std::time::Duration::from_micros(10);
        let mut run = item(&CLOCK, at);
        for i in 1..=4u64 {
            let at = head.inst + std::time::Duration::from_micros(10 + 100 * i);
            assert!(run.absorb(&item(&CLOCK, at)));
        }
        let mut out = Vec::new();
        let h = write_host_call(
            &mut out,
            &mut TsCache::default(),
            &head,
            &run,
            0,
            &GENESIS_HEX,
        );
        let line = out.strip_suffix(b"\n").unwrap();
        let v: serde_json::Value = serde_json::from_slice(line).unwrap();
        assert_eq!(v["count"], 5);
        assert_eq!(v["us"], 10);
        let ts = |us| {
            format_ts(SystemTime::UNIX_EPOCH + std::time::Duration::from_micros(head.base_us + us))
        };
        assert_eq!(v["ts"], ts(10).as_str());
        assert_eq!(v["ts_last"], ts(410).as_str());
        let (unhashed, _) = split_hash(line).unwrap();
        assert_eq!(record_hash(unhashed), h);
    }

    #[test]
    fn call_ids_are_26_crockford_characters_and_differ() {
        let a = new_call_id();
        let b = new_call_id();
        assert_eq!(a.len(), 26);
        assert_ne!(a, b);
    }
}
