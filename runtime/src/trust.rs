//! The trust store: an OpenSSH `allowed_signers` file and a revoked-keys list.
//!
//! `allowed_signers` lines are `PRINCIPALS [OPTIONS] KEYTYPE BASE64 [COMMENT]`, as
//! `ssh-keygen(1)` describes them. Principals are a comma-separated pattern list (`*`, `?`, `!`).
//! Options are `namespaces="…"`, `valid-after="…"` and `valid-before="…"` (times as
//! `YYYYMMDD[Z]` or `YYYYMMDDHHMM[SS][Z]`); `cert-authority` is refused as unsupported and any
//! other option is an error. wasmgov is stricter than `ssh-keygen`, never wider (the differential
//! test `tests/all/signing_differential.rs` checks thousands of cases against it): an entry may
//! sign manifests only if its `namespaces=` includes `wasmgov-manifest-v1` (no option means no);
//! a malformed line anywhere fails the whole file (as do `cert-authority`, an empty or overlong
//! pattern element, a repeated option, or `valid-before` not after `valid-after`); impossible
//! dates are refused rather than normalised; `?` matches one byte, as in OpenSSH; the revoked
//! list must be public keys (a binary KRL is refused, not read as empty); and a time without `Z`
//! is read as UTC (OpenSSH reads it as local time; write the `Z` so both agree).
//!
//! The revoked-keys file holds one public key per line; revocation beats any allow.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use ssh_key::PublicKey;
use ssh_key::public::KeyData;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

use crate::pattern::PatternList;
use crate::signature::{NAMESPACE, fingerprint, is_supported};

/// The largest trust file (allowed_signers, revoked keys) read, in bytes.
pub const MAX_TRUST_FILE_SIZE: usize = 1024 * 1024;

/// Why trust could not be established.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    /// The trust store is missing, unreadable, malformed or empty.
    #[error("trust store{}{}: {message}", path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default(), line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Store {
        /// The file, when known.
        path: Option<PathBuf>,
        /// The 1-based line, when known.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// The signing key is not in `allowed_signers`.
    #[error("unknown signer: key {fingerprint} is not in allowed_signers")]
    UnknownSigner {
        /// The key's fingerprint.
        fingerprint: String,
    },
    /// The signing key is in the revoked-keys list.
    #[error("revoked key: {fingerprint} is listed in the revoked keys")]
    Revoked {
        /// The key's fingerprint.
        fingerprint: String,
    },
    /// Every entry of the key ended before `now`.
    #[error(
        "key {fingerprint} expired: allowed_signers line {line} has valid-before {valid_before}"
    )]
    KeyExpired {
        /// The key's fingerprint.
        fingerprint: String,
        /// The entry's line.
        line: usize,
        /// The entry's end, RFC 3339.
        valid_before: String,
    },
    /// Every entry of the key starts after `now`.
    #[error(
        "key {fingerprint} is not valid yet: allowed_signers line {line} has valid-after {valid_after}"
    )]
    KeyNotYetValid {
        /// The key's fingerprint.
        fingerprint: String,
        /// The entry's line.
        line: usize,
        /// The entry's start, RFC 3339.
        valid_after: String,
    },
    /// The key's entries do not allow the wasmgov namespace.
    #[error(
        "key {fingerprint} may not sign manifests: allowed_signers line {line} must allow namespace `{NAMESPACE}` (it has {found})"
    )]
    NamespaceNotAllowed {
        /// The key's fingerprint.
        fingerprint: String,
        /// The entry's line.
        line: usize,
        /// The entry's namespaces option as written, or `no namespaces= option`.
        found: String,
    },
}

impl TrustError {
    /// The error kind for `error[KIND]` and audit records.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Store { .. } => "trust-store",
            Self::UnknownSigner { .. } => "unknown-signer",
            Self::Revoked { .. } => "revoked-key",
            Self::KeyExpired { .. } => "key-expired",
            Self::KeyNotYetValid { .. } => "key-not-yet-valid",
            Self::NamespaceNotAllowed { .. } => "namespace-mismatch",
        }
    }

    /// What the operator can do next.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Self::Store { .. } => "fix the file named above (format: ssh-keygen(1) ALLOWED SIGNERS), or pass --trust FILE / --revoked FILE".into(),
            Self::UnknownSigner { fingerprint } => format!(
                "if you trust this publisher, add a line `PRINCIPAL namespaces=\"{NAMESPACE}\" KEY` with the key of {fingerprint} to allowed_signers"
            ),
            Self::Revoked { .. } => "ask the publisher for a manifest signed with their new key".into(),
            Self::KeyExpired { .. } => "ask the publisher to re-sign with a current key, or extend valid-before in allowed_signers".into(),
            Self::KeyNotYetValid { .. } => "check the clock, or the entry's valid-after in allowed_signers".into(),
            Self::NamespaceNotAllowed { .. } => format!("add namespaces=\"{NAMESPACE}\" to the key's allowed_signers entry if it may sign manifests"),
        })
    }

    fn store(path: Option<&Path>, line: Option<usize>, message: impl Into<String>) -> Self {
        Self::Store {
            path: path.map(Path::to_owned),
            line,
            message: message.into(),
        }
    }
}

/// One `allowed_signers` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedSigner {
    /// 1-based line in the file.
    pub line: usize,
    /// Principals pattern list.
    pub principals: PatternList,
    /// `namespaces=` pattern list, if given.
    pub namespaces: Option<PatternList>,
    /// `valid-after=`, Unix seconds.
    pub valid_after: Option<i64>,
    /// `valid-before=`, Unix seconds.
    pub valid_before: Option<i64>,
    /// The key.
    pub key: PublicKey,
}

impl AllowedSigner {
    fn allows_namespace(&self) -> bool {
        self.namespaces
            .as_ref()
            .is_some_and(|n| n.matches(NAMESPACE))
    }
    fn window_error(&self, now: i64, fp: &str) -> Option<TrustError> {
        if let Some(after) = self.valid_after.filter(|&a| now < a) {
            return Some(TrustError::KeyNotYetValid {
                fingerprint: fp.to_owned(),
                line: self.line,
                valid_after: rfc3339(after),
            });
        }
        if let Some(before) = self.valid_before.filter(|&b| now > b) {
            return Some(TrustError::KeyExpired {
                fingerprint: fp.to_owned(),
                line: self.line,
                valid_before: rfc3339(before),
            });
        }
        None
    }
}

/// `secs` since the epoch as RFC 3339 UTC (the number itself when out of range).
pub(crate) fn rfc3339(secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| secs.to_string())
}

/// The key that signed, and the entries that make it trusted now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// `SHA256:…` fingerprint of the key.
    pub fingerprint: String,
    /// Key algorithm, e.g. `ssh-ed25519`.
    pub algorithm: String,
    /// The key.
    pub key: KeyData,
    /// The currently valid entries for this key: (line, principals).
    pub entries: Vec<(usize, PatternList)>,
}

impl Signer {
    /// Whether `principal` matches one of the key's valid entries (as `ssh-keygen -Y verify -I`).
    pub fn is_principal(&self, principal: &str) -> bool {
        self.entries.iter().any(|(_, p)| p.matches(principal))
    }

    /// The principal patterns of the valid entries, for messages.
    pub fn principals(&self) -> Vec<String> {
        self.entries.iter().map(|(_, p)| p.to_string()).collect()
    }
}

/// A parsed `allowed_signers` file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedSigners {
    /// The entries in file order.
    pub entries: Vec<AllowedSigner>,
    /// The file it came from, if any.
    pub path: Option<PathBuf>,
    /// Lines with a key type this build cannot decode (ECDSA, DSA): (line, algorithm).
    pub skipped: Vec<(usize, String)>,
}

/// OpenSSH key types this build does not decode. A line with one is still valid OpenSSH (the
/// file may be shared with git or sshd) and such a key can never sign a manifest (its
/// signatures are refused as `unsupported-key-type` before the trust store is consulted), so the
/// line is skipped instead of failing the whole file.
const UNDECODED_KEY_TYPES: &[&str] = &[
    "ssh-dss",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// `Some(type)` if `key_text` is `TYPE BASE64 …` with a type from [`UNDECODED_KEY_TYPES`].
fn undecoded_key_type(key_text: &str) -> Option<&str> {
    let mut words = key_text.split_ascii_whitespace();
    let (algo, blob) = (words.next()?, words.next()?);
    let base64 = |b: u8| b.is_ascii_alphanumeric() || b"+/=".contains(&b);
    (UNDECODED_KEY_TYPES.contains(&algo) && blob.bytes().all(base64)).then_some(algo)
}

fn read_capped(path: &Path) -> Result<String, TrustError> {
    let bytes = fs::read(path)
        .map_err(|e| TrustError::store(Some(path), None, format!("cannot read: {e}")))?;
    if bytes.len() > MAX_TRUST_FILE_SIZE {
        return Err(TrustError::store(
            Some(path),
            None,
            format!("over {MAX_TRUST_FILE_SIZE} bytes"),
        ));
    }
    String::from_utf8(bytes).map_err(|_| TrustError::store(Some(path), None, "not UTF-8"))
}

/// Split off one whitespace-delimited token that may contain `"…"` quoted parts.
fn split_token(s: &str) -> Result<(&str, &str), &'static str> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if !quoted && (c == ' ' || c == '\t') {
            return Ok((&s[..i], s[i..].trim_start_matches([' ', '\t'])));
        }
    }
    if quoted {
        Err("missing end quote")
    } else {
        Ok((s, ""))
    }
}

/// `"value"` at the start of `s` (with `\"` escapes); returns the value and the rest.
fn dequote(s: &str) -> Result<(String, &str), String> {
    let Some(body) = s.strip_prefix('"') else {
        return Err("missing start quote".into());
    };
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &body[i + 1..])),
            '\\' if body[i + 1..].starts_with('"') => {
                out.push('"');
                chars.next();
            }
            c => out.push(c),
        }
    }
    Err("missing end quote".into())
}

/// Parse an `ssh-keygen` time: `YYYYMMDD`, `YYYYMMDDHHMM` or `YYYYMMDDHHMMSS`, optional `Z`/`UTC`.
/// Returns Unix seconds; a time without a suffix is read as UTC.
pub fn parse_ssh_time(s: &str) -> Option<i64> {
    let upper = s.to_ascii_uppercase();
    let digits = upper
        .strip_suffix("UTC")
        .filter(|d| d.len() > 2)
        .or_else(|| upper.strip_suffix('Z'))
        .unwrap_or(&upper);
    if !digits.bytes().all(|b| b.is_ascii_digit()) || ![8, 12, 14].contains(&digits.len()) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| digits.get(r).and_then(|x| x.parse::<u32>().ok());
    let year = i32::try_from(num(0..4)?).ok()?;
    let month = Month::try_from(u8::try_from(num(4..6)?).ok()?).ok()?;
    let date = Date::from_calendar_date(year, month, u8::try_from(num(6..8)?).ok()?).ok()?;
    let (h, m, sec) = match digits.len() {
        8 => (0, 0, 0),
        12 => (num(8..10)?, num(10..12)?, 0),
        _ => (num(8..10)?, num(10..12)?, num(12..14)?),
    };
    let t = Time::from_hms(
        u8::try_from(h).ok()?,
        u8::try_from(m).ok()?,
        u8::try_from(sec).ok()?,
    )
    .ok()?;
    let secs = PrimitiveDateTime::new(date, t)
        .assume_utc()
        .unix_timestamp();
    (secs > 0).then_some(secs)
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

#[derive(Default)]
struct Options {
    namespaces: Option<PatternList>,
    valid_after: Option<i64>,
    valid_before: Option<i64>,
}

fn parse_options(mut s: &str) -> Result<Options, String> {
    let mut o = Options::default();
    while !s.is_empty() {
        let take = |name: &str| strip_prefix_ci(s, name);
        if take("cert-authority").is_some_and(|r| r.is_empty() || r.starts_with(',')) {
            return Err("cert-authority entries are not supported by wasmgov".into());
        } else if let Some(rest) = take("namespaces=") {
            if o.namespaces.is_some() {
                return Err("multiple \"namespaces\" clauses".into());
            }
            let (v, rest) = dequote(rest)?;
            o.namespaces = Some(PatternList::parse(&v).map_err(|e| format!("namespaces: {e}"))?);
            s = rest;
        } else if let Some(rest) = take("valid-after=") {
            if o.valid_after.is_some() {
                return Err("multiple \"valid-after\" clauses".into());
            }
            let (v, rest) = dequote(rest)?;
            o.valid_after =
                Some(parse_ssh_time(&v).ok_or(format!("invalid \"valid-after\" time `{v}`"))?);
            s = rest;
        } else if let Some(rest) = take("valid-before=") {
            if o.valid_before.is_some() {
                return Err("multiple \"valid-before\" clauses".into());
            }
            let (v, rest) = dequote(rest)?;
            o.valid_before =
                Some(parse_ssh_time(&v).ok_or(format!("invalid \"valid-before\" time `{v}`"))?);
            s = rest;
        } else {
            let name = s.split([',', '=']).next().unwrap_or(s);
            return Err(format!("unknown option `{name}`"));
        }
        if s.is_empty() {
            break;
        }
        s = s.strip_prefix(',').ok_or("unknown key option")?;
        if s.is_empty() {
            return Err("unexpected end of options".into());
        }
    }
    if let (Some(a), Some(b)) = (o.valid_after, o.valid_before)
        && b <= a
    {
        return Err("\"valid-before\" time is before \"valid-after\"".into());
    }
    Ok(o)
}

fn parse_key(s: &str) -> Option<PublicKey> {
    // A key line is `TYPE BASE64 [COMMENT]`; an option list never starts with a key type.
    let first = s.split([' ', '\t']).next()?;
    if first.contains('=') || first.contains('"') {
        return None;
    }
    PublicKey::from_openssh(s).ok()
}

impl AllowedSigners {
    /// Read and parse an `allowed_signers` file.
    pub fn load(path: &Path) -> Result<Self, TrustError> {
        let text = read_capped(path)?;
        let mut s = Self::parse(&text).map_err(|e| match e {
            TrustError::Store { line, message, .. } => TrustError::store(Some(path), line, message),
            other => other,
        })?;
        s.path = Some(path.to_owned());
        Ok(s)
    }

    /// Parse the text of an `allowed_signers` file. Any malformed line fails the whole file.
    pub fn parse(text: &str) -> Result<Self, TrustError> {
        let mut entries = Vec::new();
        let mut skipped = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line_no = i + 1;
            let err = |m: String| TrustError::store(None, Some(line_no), m);
            let line = raw.trim_matches([' ', '\t', '\r']);
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (principals, rest) = split_token(line).map_err(|m| err(m.into()))?;
            let principals = principals
                .strip_prefix('"')
                .and_then(|p| p.strip_suffix('"'))
                .unwrap_or(principals);
            if rest.is_empty() {
                return Err(err("missing key".into()));
            }
            let principals =
                PatternList::parse(principals).map_err(|e| err(format!("principals: {e}")))?;
            let first = rest.split([' ', '\t']).next().unwrap_or(rest);
            let looks_like_key = ["ssh-", "sk-", "ecdsa-"]
                .iter()
                .any(|p| first.starts_with(p));
            let (options, key) = match parse_key(rest) {
                Some(key) => (Options::default(), key),
                None if looks_like_key => {
                    if let Some(algo) = undecoded_key_type(rest) {
                        skipped.push((line_no, algo.to_owned()));
                        continue;
                    }
                    let e = PublicKey::from_openssh(rest)
                        .err()
                        .map_or_else(String::new, |e| e.to_string());
                    return Err(err(format!("invalid key `{first} …`: {e}")));
                }
                None => {
                    let (opts, key_text) = split_token(rest).map_err(|m| err(m.into()))?;
                    if key_text.is_empty() {
                        return Err(err("missing key".into()));
                    }
                    let options =
                        parse_options(opts).map_err(|m| err(format!("bad options: {m}")))?;
                    if let Some(algo) = undecoded_key_type(key_text) {
                        skipped.push((line_no, algo.to_owned()));
                        continue;
                    }
                    let key = PublicKey::from_openssh(key_text)
                        .map_err(|e| err(format!("invalid key: {e}")))?;
                    (options, key)
                }
            };
            entries.push(AllowedSigner {
                line: line_no,
                principals,
                namespaces: options.namespaces,
                valid_after: options.valid_after,
                valid_before: options.valid_before,
                key,
            });
        }
        Ok(Self {
            entries,
            path: None,
            skipped,
        })
    }

    /// Decide whether `key` (whose signature was already verified) may sign manifests at `now`.
    ///
    /// Order: revoked → known → namespace → validity window. The returned [`Signer`] lists the
    /// entries that are valid now; the publisher check ([`Signer::is_principal`]) comes after the
    /// manifest is parsed.
    pub fn authorize(
        &self,
        key: &KeyData,
        revoked: Option<&RevokedKeys>,
        now: SystemTime,
    ) -> Result<Signer, TrustError> {
        let fp = fingerprint(key);
        if revoked.is_some_and(|r| r.contains(key)) {
            return Err(TrustError::Revoked { fingerprint: fp });
        }
        if self.entries.is_empty() {
            return Err(TrustError::store(
                self.path.as_deref(),
                None,
                "no entries: no key may sign manifests",
            ));
        }
        let matching: Vec<&AllowedSigner> = self
            .entries
            .iter()
            .filter(|e| e.key.key_data() == key)
            .collect();
        let Some(first) = matching.first() else {
            return Err(TrustError::UnknownSigner { fingerprint: fp });
        };
        let in_namespace: Vec<&&AllowedSigner> =
            matching.iter().filter(|e| e.allows_namespace()).collect();
        let Some(ns_first) = in_namespace.first() else {
            return Err(TrustError::NamespaceNotAllowed {
                fingerprint: fp,
                line: first.line,
                found: first
                    .namespaces
                    .as_ref()
                    .map_or("no namespaces= option".to_owned(), |n| {
                        format!("namespaces=\"{n}\"")
                    }),
            });
        };
        let now_secs = match now.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(_) => 0,
        };
        let valid: Vec<(usize, PatternList)> = in_namespace
            .iter()
            .filter(|e| e.window_error(now_secs, &fp).is_none())
            .map(|e| (e.line, e.principals.clone()))
            .collect();
        if valid.is_empty() {
            // Report the first entry's window (all are outside theirs).
            return Err(ns_first
                .window_error(now_secs, &fp)
                .unwrap_or(TrustError::UnknownSigner { fingerprint: fp }));
        }
        Ok(Signer {
            fingerprint: fp,
            algorithm: key.algorithm().as_str().to_owned(),
            key: key.clone(),
            entries: valid,
        })
    }

    /// Entries whose key wasmgov cannot accept (not Ed25519), for warnings: (line, algorithm).
    pub fn unsupported_entries(&self) -> Vec<(usize, String)> {
        let mut all: Vec<_> = self
            .entries
            .iter()
            .filter(|e| !is_supported(&e.key.algorithm()))
            .map(|e| (e.line, e.key.algorithm().as_str().to_owned()))
            .chain(self.skipped.iter().cloned())
            .collect();
        all.sort();
        all
    }
}

/// A list of revoked public keys (one per line, `#` comments), as `ssh-keygen -Y verify -r` reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevokedKeys {
    keys: Vec<KeyData>,
}

impl RevokedKeys {
    /// Read and parse a revoked-keys file.
    pub fn load(path: &Path) -> Result<Self, TrustError> {
        let text = read_capped(path)?;
        Self::parse(&text).map_err(|e| match e {
            TrustError::Store { line, message, .. } => TrustError::store(Some(path), line, message),
            other => other,
        })
    }

    /// Parse the text of a revoked-keys file; a line that is not a public key fails the file.
    pub fn parse(text: &str) -> Result<Self, TrustError> {
        let mut keys = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim_matches([' ', '\t', '\r']);
            if line.is_empty() || line.starts_with('#') || undecoded_key_type(line).is_some() {
                // A key of a type this build cannot decode can never sign a manifest anyway.
                continue;
            }
            let key = PublicKey::from_openssh(line).map_err(|e| {
                TrustError::store(
                    None,
                    Some(i + 1),
                    format!("revoked keys: not a public key: {e}"),
                )
            })?;
            keys.push(key.key_data().clone());
        }
        Ok(Self { keys })
    }

    /// Whether `key` is revoked.
    pub fn contains(&self, key: &KeyData) -> bool {
        self.keys.iter().any(|k| k == key)
    }

    /// Number of revoked keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::ManifestSignature;
    use crate::signature::tests::{make_key, ssh_keygen, ssh_sign};
    use std::time::Duration;

    fn at(secs: i64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap())
    }

    fn pubkey(path: &Path) -> String {
        fs::read_to_string(format!("{}.pub", path.display()))
            .unwrap()
            .trim()
            .to_owned()
    }

    #[test]
    fn times_parse_like_ssh_keygen() {
        assert_eq!(parse_ssh_time("20260101Z"), Some(1_767_225_600));
        assert_eq!(parse_ssh_time("20260101"), Some(1_767_225_600));
        assert_eq!(parse_ssh_time("202601010000z"), Some(1_767_225_600));
        assert_eq!(parse_ssh_time("20260101000001UTC"), Some(1_767_225_601));
        for bad in [
            "2026010",
            "20261301Z",
            "20260132",
            "2026-01-01",
            "19700101Z",
            "",
            "Z",
            "202601011",
        ] {
            assert_eq!(parse_ssh_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn lines_parse_with_and_without_options() {
        let dir = tempfile::tempdir().unwrap();
        let k = pubkey(&make_key(dir.path(), "k", "ed25519"));
        let text = format!(
            "# comment\n\n  alice@example.com {k}\n\"bob@x,carol@y\" namespaces=\"git,wasmgov-*\",valid-after=\"20260101Z\",VALID-BEFORE=\"20270701\" {k} bob-2026\n*@corp.example,!eve@corp.example namespaces=\"{NAMESPACE}\" {k}\n"
        );
        let s = AllowedSigners::parse(&text).unwrap();
        assert_eq!(s.entries.len(), 3);
        assert_eq!(s.entries[0].line, 3);
        assert!(s.entries[0].namespaces.is_none());
        assert!(s.entries[1].principals.matches("carol@y"));
        assert!(s.entries[1].allows_namespace());
        assert_eq!(s.entries[1].valid_after, Some(1_767_225_600));
        assert!(s.entries[2].principals.matches("dan@corp.example"));
        assert!(!s.entries[2].principals.matches("eve@corp.example"));
    }

    #[test]
    fn malformed_lines_fail_the_file_with_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let k = pubkey(&make_key(dir.path(), "k", "ed25519"));
        for (bad, needle) in [
            (format!("a cert-authority {k}"), "cert-authority"),
            (format!("a verify-required {k}"), "unknown option"),
            (format!("a namespaces=wasmgov {k}"), "quote"),
            (format!("a namespaces=\"x {k}"), "quote"),
            (format!("a valid-after=\"2026\" {k}"), "valid-after"),
            (
                format!("a valid-after=\"20270101Z\",valid-before=\"20260101Z\" {k}"),
                "before",
            ),
            (
                format!("a namespaces=\"x\",namespaces=\"y\" {k}"),
                "multiple",
            ),
            (format!("a namespaces=\"x\", {k}"), "options"),
            ("a ssh-ed25519 AAAAnotbase64".to_string(), "key"),
            ("onlyprincipal".to_string(), "missing key"),
        ] {
            let text = format!("# ok\n{bad}\n");
            let e = AllowedSigners::parse(&text).unwrap_err();
            assert_eq!(e.kind(), "trust-store", "{bad}: {e}");
            assert!(e.to_string().contains("line 2"), "{bad}: {e}");
            assert!(e.to_string().contains(needle), "{bad}: {e}");
        }
    }

    struct Fixture {
        dir: tempfile::TempDir,
        key: PathBuf,
        sig: Vec<u8>,
        msg: Vec<u8>,
    }

    impl Fixture {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let key = make_key(dir.path(), "alice", "ed25519");
            let msg = b"schema = 1\n".to_vec();
            let sig = ssh_sign(dir.path(), &key, NAMESPACE, &msg);
            Self { dir, key, sig, msg }
        }
        /// Our verdict and ssh-keygen's for principal `alice@example.com` at `now` (Unix secs).
        fn both(
            &self,
            allowed: &str,
            revoked: &str,
            now: i64,
        ) -> (Result<Signer, TrustError>, bool) {
            let sig = ManifestSignature::parse(&self.sig).unwrap();
            sig.verify(&self.msg).unwrap();
            let ours = AllowedSigners::parse(allowed).and_then(|a| {
                let r = RevokedKeys::parse(revoked)?;
                let s = a.authorize(sig.public_key(), Some(&r), at(now))?;
                if s.is_principal("alice@example.com") {
                    Ok(s)
                } else {
                    Err(TrustError::UnknownSigner {
                        fingerprint: "not-a-principal".into(),
                    })
                }
            });
            let a = self.dir.path().join("allowed");
            let r = self.dir.path().join("revoked");
            let s = self.dir.path().join("m.sig");
            fs::write(&a, allowed).unwrap();
            fs::write(&r, revoked).unwrap();
            fs::write(&s, &self.sig).unwrap();
            let (theirs, _) = ssh_keygen(
                &[
                    "-Y",
                    "verify",
                    "-f",
                    a.to_str().unwrap(),
                    "-I",
                    "alice@example.com",
                    "-n",
                    NAMESPACE,
                    "-s",
                    s.to_str().unwrap(),
                    "-r",
                    r.to_str().unwrap(),
                    &format!("-Overify-time={}", ssh_time(now)),
                ],
                Some(&self.msg),
            );
            (ours, theirs)
        }
    }

    const NOW: i64 = 1_780_000_000; // 2026-05-28T20:26:40Z

    fn ssh_time(secs: i64) -> String {
        let t = OffsetDateTime::from_unix_timestamp(secs).unwrap();
        format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    }

    #[test]
    fn agrees_with_ssh_keygen_on_trust_cases() {
        let f = Fixture::new();
        let k = pubkey(&f.key);
        let other = pubkey(&make_key(f.dir.path(), "other", "ed25519"));
        let ns = format!("namespaces=\"{NAMESPACE}\"");
        // (allowed_signers, revoked, now, expected kind or "ok")
        let cases: Vec<(String, String, i64, &str)> = vec![
            (
                format!("alice@example.com {ns} {k}\n"),
                String::new(),
                NOW,
                "ok",
            ),
            (
                format!("*@example.com {ns} {k}\n"),
                String::new(),
                NOW,
                "ok",
            ),
            (
                format!("alice@example.co? {ns} {k}\n"),
                String::new(),
                NOW,
                "ok",
            ),
            (
                format!("*@example.com,!alice@example.com {ns} {k}\n"),
                String::new(),
                NOW,
                "unknown-signer",
            ),
            (
                format!("bob@example.com {ns} {k}\n"),
                String::new(),
                NOW,
                "unknown-signer",
            ),
            (
                format!("alice@example.com {ns} {other}\n"),
                String::new(),
                NOW,
                "unknown-signer",
            ),
            (
                format!("alice@example.com {ns} {k}\n"),
                format!("# revoked\n{k}\n"),
                NOW,
                "revoked-key",
            ),
            (
                format!("alice@example.com {ns},valid-after=\"20270101Z\" {k}\n"),
                String::new(),
                NOW,
                "key-not-yet-valid",
            ),
            (
                format!("alice@example.com {ns},valid-before=\"20260101Z\" {k}\n"),
                String::new(),
                NOW,
                "key-expired",
            ),
            (
                format!(
                    "alice@example.com {ns},valid-after=\"20260101Z\",valid-before=\"20270101Z\" {k}\n"
                ),
                String::new(),
                NOW,
                "ok",
            ),
            (
                format!(
                    "alice@example.com {ns},valid-before=\"20260528\" {k}\nalice@example.com {ns},valid-after=\"20260527\" {k}\n"
                ),
                String::new(),
                NOW,
                "ok",
            ),
            (
                format!("alice@example.com namespaces=\"git\" {k}\n"),
                String::new(),
                NOW,
                "namespace-mismatch",
            ),
            (
                format!("alice@example.com namespaces=\"wasmgov-*\" {k}\n"),
                String::new(),
                NOW,
                "ok",
            ),
        ];
        for (allowed, revoked, now, want) in cases {
            let (ours, theirs) = f.both(&allowed, &revoked, now);
            let got = ours.as_ref().map_or_else(|e| e.kind(), |_| "ok");
            assert_eq!(got, want, "{allowed} / {revoked}: {ours:?}");
            assert_eq!(
                theirs,
                want == "ok",
                "ssh-keygen disagrees on {allowed} / {revoked}"
            );
        }
        // Without namespaces= ssh-keygen accepts; wasmgov refuses by design.
        let (ours, theirs) = f.both(&format!("alice@example.com {k}\n"), "", NOW);
        assert_eq!(ours.unwrap_err().kind(), "namespace-mismatch");
        assert!(theirs);
    }

    #[test]
    fn revocation_beats_allow_and_messages_name_the_key() {
        let f = Fixture::new();
        let k = pubkey(&f.key);
        let (ours, _) = f.both(
            &format!("alice@example.com namespaces=\"{NAMESPACE}\" {k}\n"),
            &format!("{k}\n"),
            NOW,
        );
        let e = ours.unwrap_err();
        let fp = ManifestSignature::parse(&f.sig).unwrap().fingerprint();
        assert!(e.to_string().contains(&fp), "{e}");
        assert!(e.hint().is_some());
    }

    #[test]
    fn empty_or_missing_trust_is_a_store_error() {
        let f = Fixture::new();
        let sig = ManifestSignature::parse(&f.sig).unwrap();
        let e = AllowedSigners::parse("# nothing\n")
            .unwrap()
            .authorize(sig.public_key(), None, at(NOW))
            .unwrap_err();
        assert_eq!(e.kind(), "trust-store");
        let e = AllowedSigners::load(&f.dir.path().join("missing")).unwrap_err();
        assert_eq!(e.kind(), "trust-store");
        assert!(RevokedKeys::parse("garbage\n").is_err());
    }

    #[test]
    fn rsa_entries_load_but_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let k = pubkey(&make_key(dir.path(), "r", "rsa"));
        let s = AllowedSigners::parse(&format!("a namespaces=\"{NAMESPACE}\" {k}\n")).unwrap();
        assert_eq!(s.unsupported_entries(), vec![(1, "ssh-rsa".to_owned())]);
    }

    /// A file shared with git or sshd may hold ECDSA keys: they are skipped, not fatal.
    #[test]
    fn ecdsa_entries_are_skipped_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let ec = pubkey(&make_key(dir.path(), "e", "ecdsa"));
        let ed = pubkey(&make_key(dir.path(), "k", "ed25519"));
        let s = AllowedSigners::parse(&format!(
            "a namespaces=\"{NAMESPACE}\" {ec}\nb {ec}\nc namespaces=\"{NAMESPACE}\" {ed}\n"
        ))
        .unwrap();
        assert_eq!(s.entries.len(), 1);
        assert_eq!(s.entries[0].line, 3);
        let algo = "ecdsa-sha2-nistp256".to_owned();
        assert_eq!(s.unsupported_entries(), vec![(1, algo.clone()), (2, algo)]);
        assert_eq!(
            RevokedKeys::parse(&format!("{ec}\n{ed}\n")).unwrap().len(),
            1
        );
        // Options are still checked on such a line, and a garbage key is still an error.
        assert!(AllowedSigners::parse(&format!("a bogus {ec}\n")).is_err());
        assert!(AllowedSigners::parse("a ecdsa-sha2-nistp256 not*base64\n").is_err());
    }
}
