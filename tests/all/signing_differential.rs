//! Differential test against the reference verifier: thousands of generated manifests, SSHSIG
//! signatures, `allowed_signers` files and revoked-key lists, each judged by
//! `ssh-keygen -Y verify` (OpenSSH) and by wasmgov's own decision (`package::verify`, the
//! function `wasmgov verify` calls), and a random sample also by the real `wasmgov verify` CLI.
//!
//! **Agreement.** On every case: wasmgov accepts ⇒ ssh-keygen accepts (wasmgov never accepts
//! what the reference refuses). Where ssh-keygen accepts and wasmgov refuses, the case must
//! carry one of the documented [`Class`]es below, wasmgov's error kind must be the one that class
//! predicts, and, where the class has a sound repair (the same trust file without the construct
//! wasmgov refuses, which ssh-keygen provably reads the same way), wasmgov must accept the
//! repaired file. Anything else fails the test with the case printed.
//!
//! **Replay.** Cases are a pure function of (seed, index, now). The seed and now are printed; run
//! `WASMGOV_DIFF_SEED=S WASMGOV_DIFF_NOW=T WASMGOV_DIFF_CASE=I cargo test --test all
//! signing_differential -- --nocapture` to judge one case and print its files.
//!
//! ssh-keygen runs with `TZ=UTC` and `-Overify-time`, so validity windows are judged at the same
//! instant by both sides whatever the machine's zone (wasmgov reads a time without `Z` as UTC).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ed25519_dalek::{Signer as _, SigningKey};
use sha2::{Digest, Sha256, Sha512};

use wasmgov::package::{VerifyOptions, verify};
use wasmgov::policy::Policy;
use wasmgov::trust::{AllowedSigners, RevokedKeys};

use crate::support::wasmgov;

const NAMESPACE: &str = "wasmgov-manifest-v1";
const DEFAULT_SEED: u64 = 0x005e_ed0f_d1ff;
const COMPONENT: &[u8] = b"the component bytes the manifest pins";
/// Anyone may publish any tool: the trust file alone decides, as it does for ssh-keygen.
const POLICY: &str = "[[publishers]]\nprincipal = \"*\"\ntools = [\"*\"]\n";
/// Parallel ssh-keygen workers.
const THREADS: usize = 4;
/// Cases judged by the real CLI as well.
const CLI_SAMPLE: usize = 64;

/// A documented way in which wasmgov is deliberately stricter than ssh-keygen: a case carrying
/// it may be refused by wasmgov (with one of `kinds`) while ssh-keygen accepts it.
struct Class {
    name: &'static str,
    kinds: &'static [&'static str],
    why: &'static str,
}

const CLASSES: &[Class] = &[
    Class {
        name: "no-namespaces",
        kinds: &[
            "namespace-mismatch",
            "key-expired",
            "key-not-yet-valid",
            "signer-not-authorized",
        ],
        why: "an allowed_signers line without namespaces= allows every namespace to ssh-keygen; \
              wasmgov requires it to name wasmgov-manifest-v1, so a line meant for git cannot sign manifests",
    },
    Class {
        name: "refused-line",
        kinds: &["trust-store"],
        why: "ssh-keygen skips a line whose principals do not match -I and stops at the first line that \
              accepts, so a malformed, cert-authority or otherwise unusable line elsewhere goes unread; \
              wasmgov refuses the whole file at load (a broken trust file is an operator error, not a detail)",
    },
    Class {
        name: "odd-time",
        kinds: &["trust-store"],
        why: "ssh-keygen's strptime/timegm normalise impossible dates (Feb 31, second 60) into real ones; \
              wasmgov refuses such a time, and the file with it",
    },
    Class {
        name: "unsupported-key",
        kinds: &["unsupported-key-type"],
        why: "ssh-keygen verifies RSA, ECDSA and DSA signatures; wasmgov accepts only Ed25519 (and sk-Ed25519) keys",
    },
    Class {
        name: "noncanonical-s",
        kinds: &["bad-signature"],
        why: "OpenSSH's Ed25519 accepts S+L (only the top 3 bits of S are checked); wasmgov uses \
              verify_strict, which refuses a non-canonical (malleated) signature",
    },
    Class {
        name: "armor",
        kinds: &["malformed-signature"],
        why: "ssh-keygen ignores anything after the END line and any whitespace inside the base64; \
              wasmgov reads only the armour ssh-keygen writes (70-column lines, nothing around it)",
    },
    Class {
        name: "sshsig-version",
        kinds: &["malformed-signature"],
        why: "OpenSSH refuses only SSHSIG versions above 1, so a version-0 blob verifies; wasmgov \
              requires version 1, the only one defined",
    },
    Class {
        name: "nul-terminated",
        kinds: &["namespace-mismatch", "malformed-signature"],
        why: "OpenSSH's sshbuf_get_cstring drops one trailing NUL, so a namespace `wasmgov-manifest-v1\\0` \
              or hash `sha512\\0` reads as without it; wasmgov compares the exact bytes",
    },
    Class {
        name: "krl",
        kinds: &["trust-store"],
        why: "ssh-keygen -r also reads binary KRLs; wasmgov's revoked-keys file is a list of public keys, \
              and a file it cannot read is refused, not treated as no revocations",
    },
];

fn class(name: &str) -> &'static Class {
    CLASSES
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("undocumented class {name}"))
}

// ---------------------------------------------------------------- PRNG

/// SplitMix64: small, seedable, good enough to pick test inputs.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// True with probability `pct`/100.
    fn chance(&mut self, pct: u64) -> bool {
        self.next() % 100 < pct
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for b in &mut out {
            *b = self.next() as u8;
        }
        out
    }
}

// ---------------------------------------------------------------- SSH wire format

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    put_u32(out, u32::try_from(s.len()).unwrap());
    out.extend_from_slice(s);
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn b64(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk.len();
        let v = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= n {
                out.push(char::from(B64[(v >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn unb64(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes() {
        let Some(v) = B64.iter().position(|&b| b == c) else {
            continue; // padding and line breaks
        };
        acc = (acc << 6) | u32::try_from(v).unwrap();
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// The armour `ssh-keygen -Y sign` writes: 70-column base64 between the two lines.
fn armor(blob: &[u8]) -> String {
    let body = b64(blob);
    let mut out = String::from("-----BEGIN SSH SIGNATURE-----\n");
    for line in body.as_bytes().chunks(70) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out.push_str("-----END SSH SIGNATURE-----\n");
    out
}

// ---------------------------------------------------------------- keys and signatures

const SK_ED25519: &str = "sk-ssh-ed25519@openssh.com";

enum KeyKind {
    Ed25519(SigningKey),
    /// A FIDO key's signature is plain Ed25519 over (sha256(application), flags, counter,
    /// sha256(data)); no authenticator is needed to make one here.
    SkEd25519(SigningKey, String),
    /// A key made by ssh-keygen; it signs with `ssh-keygen -Y sign`.
    External(PathBuf),
}

struct Key {
    kind: KeyKind,
    /// `TYPE BASE64`, as in allowed_signers.
    public: String,
    /// The public key blob (wire format).
    blob: Vec<u8>,
}

impl Key {
    fn ed25519(seed: [u8; 32]) -> Self {
        let sk = SigningKey::from_bytes(&seed);
        let mut blob = Vec::new();
        put_string(&mut blob, b"ssh-ed25519");
        put_string(&mut blob, sk.verifying_key().as_bytes());
        Self {
            public: format!("ssh-ed25519 {}", b64(&blob)),
            kind: KeyKind::Ed25519(sk),
            blob,
        }
    }

    fn sk_ed25519(seed: [u8; 32], application: &str) -> Self {
        let sk = SigningKey::from_bytes(&seed);
        let mut blob = Vec::new();
        put_string(&mut blob, SK_ED25519.as_bytes());
        put_string(&mut blob, sk.verifying_key().as_bytes());
        put_string(&mut blob, application.as_bytes());
        Self {
            public: format!("{SK_ED25519} {}", b64(&blob)),
            kind: KeyKind::SkEd25519(sk, application.to_owned()),
            blob,
        }
    }

    fn external(dir: &Path, kind: &str) -> Option<Self> {
        let path = dir.join(format!("ext-{kind}"));
        let mut c = Command::new("ssh-keygen");
        c.args(["-q", "-N", "", "-C", kind, "-t", kind]);
        if kind == "rsa" {
            c.args(["-b", "2048"]);
        }
        let ok = c.arg("-f").arg(&path).output().ok()?.status.success();
        if !ok {
            return None; // e.g. DSA compiled out
        }
        let text = std::fs::read_to_string(format!("{}.pub", path.display())).ok()?;
        let mut words = text.split_whitespace();
        let public = format!("{} {}", words.next()?, words.next()?);
        let blob = unb64(public.split(' ').nth(1)?);
        Some(Self {
            kind: KeyKind::External(path),
            public,
            blob,
        })
    }
}

/// How to sign.
#[derive(Clone)]
struct SigSpec {
    namespace: String,
    /// Written into the blob.
    reserved: Vec<u8>,
    /// Included in the signed data (OpenSSH always signs and verifies with an empty one).
    signed_reserved: Vec<u8>,
    hash: &'static str,
    sk_flags: u8,
    sk_counter: u32,
}

impl SigSpec {
    fn standard() -> Self {
        Self {
            namespace: NAMESPACE.into(),
            reserved: Vec::new(),
            signed_reserved: Vec::new(),
            hash: "sha512",
            sk_flags: 0x01,
            sk_counter: 1,
        }
    }
}

/// An SSHSIG blob and where its fields are, for structure-aware tampering.
struct Sshsig {
    blob: Vec<u8>,
    fields: Vec<(&'static str, std::ops::Range<usize>)>,
}

impl Sshsig {
    fn field(&self, name: &str) -> std::ops::Range<usize> {
        self.fields
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| panic!("no field {name}"))
    }
}

fn digest(hash: &str, msg: &[u8]) -> Vec<u8> {
    match hash {
        "sha256" => Sha256::digest(msg).to_vec(),
        _ => Sha512::digest(msg).to_vec(),
    }
}

/// Sign in-process (Ed25519 / sk-Ed25519) exactly as OpenSSH's sshsig.c lays it out.
fn sign_inline(key: &Key, msg: &[u8], spec: &SigSpec) -> Sshsig {
    let mut signed = b"SSHSIG".to_vec();
    put_string(&mut signed, spec.namespace.as_bytes());
    put_string(&mut signed, &spec.signed_reserved);
    put_string(&mut signed, spec.hash.as_bytes());
    put_string(&mut signed, &digest(spec.hash, msg));
    let mut sig = Vec::new();
    let mut sub = Vec::new();
    match &key.kind {
        KeyKind::Ed25519(sk) => {
            put_string(&mut sig, b"ssh-ed25519");
            sub.push(("sig_algo", 4..4 + 11));
            let s = sk.sign(&signed).to_bytes();
            sub.push(("sig_bytes", sig.len() + 4..sig.len() + 4 + 64));
            put_string(&mut sig, &s);
        }
        KeyKind::SkEd25519(sk, app) => {
            let mut m = Sha256::digest(app.as_bytes()).to_vec();
            m.push(spec.sk_flags);
            m.extend_from_slice(&spec.sk_counter.to_be_bytes());
            m.extend_from_slice(&Sha256::digest(&signed));
            put_string(&mut sig, SK_ED25519.as_bytes());
            sub.push(("sig_algo", 4..4 + SK_ED25519.len()));
            sub.push(("sig_bytes", sig.len() + 4..sig.len() + 4 + 64));
            put_string(&mut sig, &sk.sign(&m).to_bytes());
            sub.push(("sk_flags", sig.len()..sig.len() + 1));
            sig.push(spec.sk_flags);
            sub.push(("sk_counter", sig.len()..sig.len() + 4));
            put_u32(&mut sig, spec.sk_counter);
        }
        KeyKind::External(_) => unreachable!("external keys sign with ssh-keygen"),
    }
    let mut blob = b"SSHSIG".to_vec();
    let mut fields = vec![("magic", 0..6)];
    let mut field = |blob: &mut Vec<u8>, name, data: &[u8]| {
        let start = blob.len();
        put_string(blob, data);
        fields.push((name, start..blob.len()));
        start + 4
    };
    put_u32(&mut blob, 1);
    field(&mut blob, "publickey", &key.blob);
    field(&mut blob, "namespace", spec.namespace.as_bytes());
    field(&mut blob, "reserved", &spec.reserved);
    field(&mut blob, "hash_alg", spec.hash.as_bytes());
    let sig_at = field(&mut blob, "signature", &sig);
    for (name, r) in sub {
        fields.push((name, r.start + sig_at..r.end + sig_at));
    }
    fields.insert(1, ("version", 6..10));
    Sshsig { blob, fields }
}

/// Sign with `ssh-keygen -Y sign` (any key type it has).
fn sign_external(private: &Path, dir: &Path, msg: &[u8], namespace: &str) -> Vec<u8> {
    let file = dir.join("to-sign");
    std::fs::write(&file, msg).unwrap();
    let sig = dir.join("to-sign.sig");
    let _ = std::fs::remove_file(&sig);
    let out = Command::new("ssh-keygen")
        .args(["-q", "-Y", "sign", "-n", namespace, "-f"])
        .arg(private)
        .arg(&file)
        .output()
        .expect("ssh-keygen -Y sign");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(&sig).unwrap()
}

// ---------------------------------------------------------------- time

/// UTC calendar fields of Unix seconds.
fn civil(secs: i64) -> (i64, i64, i64, i64, i64, i64) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

fn ssh_time_z(secs: i64) -> String {
    let (y, mo, d, h, mi, s) = civil(secs);
    format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}Z")
}

const DAY: i64 = 86_400;
const OFFSETS: &[i64] = &[
    -20 * 365 * DAY,
    -400 * DAY,
    -2 * DAY,
    -3600,
    -61,
    -1,
    0,
    1,
    61,
    3600,
    2 * DAY,
    400 * DAY,
    20 * 365 * DAY,
];

/// Times ssh-keygen reads leniently or not at all; wasmgov refuses every one.
const ODD_TIMES: &[&str] = &[
    "20260231Z",
    "20250229",
    "20260101000060Z",
    "202601012400Z",
    "20261301Z",
    "20260100Z",
    "2026010Z",
    "19700101Z",
    "19691231Z",
    "2026-01-01",
    "20260101 Z",
    "2026010a",
    "",
    "Z",
    "UTC",
    "202601011",
    "+0260101",
];

/// A validity time: (text, the instant it means to both verifiers, or `None` if it is odd).
fn gen_time(r: &mut Rng, now: i64) -> (String, Option<i64>) {
    if r.chance(7) {
        return ((*r.pick(ODD_TIMES)).to_owned(), None);
    }
    let t = now + r.pick(OFFSETS);
    let (y, mo, d, h, mi, s) = civil(t);
    let (text, instant) = match r.below(3) {
        0 => (format!("{y:04}{mo:02}{d:02}"), t - t.rem_euclid(DAY)),
        1 => (
            format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}"),
            t - t.rem_euclid(60),
        ),
        _ => (format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}"), t),
    };
    let suffix = *r.pick(&["Z", "z", "", "UTC", "utc"]);
    (format!("{text}{suffix}"), Some(instant))
}

// ---------------------------------------------------------------- the case

#[derive(Clone)]
struct Case {
    family: &'static str,
    index: usize,
    manifest: Vec<u8>,
    sig: Vec<u8>,
    allowed: String,
    /// The same file with every construct wasmgov refuses repaired in a way ssh-keygen reads
    /// identically (`None` when no sound repair exists).
    repaired: Option<String>,
    revoked: Option<Vec<u8>>,
    principal: String,
    classes: Vec<&'static str>,
    /// Whether the verdict is the same for any clock within an hour of `now` (the CLI's clock).
    clock_stable: bool,
}

const PRINCIPALS: &[&str] = &[
    "alice@example.com",
    "bob@example.com",
    "tools@acme.example",
    "Alice@example.com",
    "alice@example.com.evil",
    "üser@example.com",
    "x",
    "dev-1_a.b@sub.example.org",
];

fn manifest(r: &mut Rng, publisher: &str) -> Vec<u8> {
    let mut m = String::new();
    if r.chance(20) {
        m.push_str("# generated manifest\n");
    }
    let _ = write!(
        m,
        "schema = 1\n\n[tool]\nname = \"diff-tool-{}\"\nversion = \"{}.{}.{}\"\npublisher = \"{publisher}\"\n",
        r.below(1000),
        r.below(10),
        r.below(10),
        r.below(10)
    );
    if r.chance(60) {
        let words = [
            "fetch",
            "the",
            "weather",
            "for",
            "a",
            "city",
            "ünïcödé",
            "\\\"q\\\"",
        ];
        let n = 1 + r.below(6);
        let d: Vec<&str> = (0..n).map(|_| *r.pick(&words)).collect();
        let _ = writeln!(m, "description = \"{}\"", d.join(" "));
    }
    let _ = writeln!(m, "sequence = {}", 1 + r.below(1_000_000));
    if r.chance(50) {
        m.push_str("expires = \"2099-06-01T00:00:00Z\"\n");
    }
    let _ = write!(
        m,
        "\n[component]\nsha256 = \"{}\"\nsize = {}\n",
        hex(&Sha256::digest(COMPONENT)),
        COMPONENT.len()
    );
    if r.chance(30) {
        m.push_str("\n[limits]\nfuel = 1_000_000\n");
    }
    m.into_bytes()
}

fn hex(b: &[u8]) -> String {
    b.iter().fold(String::new(), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

/// A principals pattern element derived from `p`: matching, wildcarded or not matching.
fn pattern_from(r: &mut Rng, p: &str) -> String {
    let chars: Vec<char> = p.chars().collect();
    match r.below(10) {
        0 => p.to_owned(),
        // `?` for the first character (one byte to OpenSSH, so not `ü`).
        9 => format!("?{}", chars[1..].iter().collect::<String>()),
        1 => "*".into(),
        2 => {
            // Replace some characters with `?`.
            let mut c = chars.clone();
            for _ in 0..=r.below(3) {
                let i = r.below(c.len());
                c[i] = '?';
            }
            c.into_iter().collect()
        }
        3 => {
            // Replace a run with `*`.
            let a = r.below(chars.len());
            let b = a + r.below(chars.len() - a + 1);
            let mut s: String = chars[..a].iter().collect();
            s.push('*');
            s.extend(&chars[b..]);
            s
        }
        4 => (*r.pick(PRINCIPALS)).to_owned(),
        5 => match p.split_once('@') {
            Some((_, d)) => format!("*@{d}"),
            None => format!("{p}*"),
        },
        6 => format!("{p}?"),
        7 => p.to_uppercase(),
        _ => (*r.pick(&["*@*", "*.com", "?*", "a*", "*e*", "**", "*?*"])).to_owned(),
    }
}

/// A principals field for the -I principal `p`: (as written, repaired, classes).
fn principals_field(r: &mut Rng, p: &str) -> (String, String, Vec<&'static str>) {
    let n = 1 + r.below(4);
    let mut written = Vec::new();
    let mut repaired = Vec::new();
    let mut classes = Vec::new();
    for _ in 0..n {
        let neg = r.chance(20);
        let el = format!("{}{}", if neg { "!" } else { "" }, pattern_from(r, p));
        written.push(el.clone());
        repaired.push(el);
    }
    if r.chance(6) {
        // An empty element matches only the empty string to ssh-keygen; wasmgov refuses it.
        let at = r.below(written.len() + 1);
        written.insert(at, if r.chance(50) { "" } else { "!" }.to_owned());
        classes.push("refused-line");
    }
    if r.chance(3) {
        // An element of 1023+ bytes makes OpenSSH's match_pattern_list give up on the line.
        let at = r.below(written.len() + 1);
        written.insert(at, "a".repeat(1100 + r.below(100)));
        classes.push("refused-line");
        return (written.join(","), String::new(), classes);
    }
    let mut text = written.join(",");
    let mut rep = repaired.join(",");
    if r.chance(15) || text.is_empty() {
        text = format!("\"{text}\"");
        rep = format!("\"{rep}\"");
    }
    (text, rep, classes)
}

const NAMESPACE_OPTIONS: &[&str] = &[
    NAMESPACE,
    NAMESPACE,
    "wasmgov-*",
    "wasmgov-manifest-v?",
    "*",
    "git",
    "file,git",
    "git,wasmgov-manifest-v1",
    "!wasmgov-manifest-v1,*",
    "*,!git",
    "WASMGOV-MANIFEST-V1",
    "wasmgov-manifest-v2",
    "wasmgov-manifest-v1,!wasmgov-*",
];

/// One allowed_signers line: (as written, repaired (`None` = drop), classes, window instants).
struct Line {
    text: String,
    repaired: Option<String>,
    classes: Vec<&'static str>,
    instants: Vec<i64>,
}

fn option_name(r: &mut Rng, name: &str) -> String {
    if r.chance(10) {
        name.to_uppercase()
    } else {
        name.to_owned()
    }
}

/// A well-formed-to-ssh-keygen line for `key` with generated principals and options.
fn entry_line(r: &mut Rng, p: &str, key: &str, now: i64) -> Line {
    let (principals, rep_principals, mut classes) = principals_field(r, p);
    let mut opts = Vec::new();
    let mut rep_opts = Vec::new();
    let mut instants = Vec::new();
    let mut drop = classes.contains(&"refused-line") && rep_principals.is_empty();
    if r.chance(85) {
        let ns = *r.pick(NAMESPACE_OPTIONS);
        let o = format!("{}=\"{ns}\"", option_name(r, "namespaces"));
        opts.push(o.clone());
        rep_opts.push(o);
    } else {
        classes.push("no-namespaces");
        rep_opts.push(format!("namespaces=\"{NAMESPACE}\""));
    }
    let mut times = [None, None];
    for (i, name) in ["valid-after", "valid-before"].into_iter().enumerate() {
        if r.chance(45) {
            let (t, instant) = gen_time(r, now);
            let o = format!("{}=\"{t}\"", option_name(r, name));
            opts.push(o.clone());
            rep_opts.push(o);
            match instant {
                Some(x) => {
                    instants.push(x);
                    times[i] = Some(x);
                }
                None => {
                    classes.push("odd-time");
                    drop = true;
                }
            }
        }
    }
    if let [Some(a), Some(b)] = times
        && b <= a
    {
        // Both refuse the line when they read it; ssh-keygen may never read it.
        classes.push("refused-line");
        drop = true;
    }
    if r.chance(4) {
        // cert-authority: the line can only vouch for certificates, never for a plain key.
        let at = r.below(opts.len() + 1);
        opts.insert(at, option_name(r, "cert-authority"));
        classes.push("refused-line");
        drop = true;
    }
    // Option order does not matter to either side.
    if opts.len() > 1 && r.chance(30) {
        opts.reverse();
        rep_opts.reverse();
    }
    let comment = if r.chance(40) {
        format!(" {}", r.pick(&["key-2026", "rotated key", "ci@build"]))
    } else {
        String::new()
    };
    let sep = if r.chance(10) { "\t" } else { " " };
    let lead = if r.chance(10) { "  " } else { "" };
    let compose = |pr: &str, o: &[String]| {
        if o.is_empty() {
            format!("{lead}{pr}{sep}{key}{comment}")
        } else {
            format!("{lead}{pr}{sep}{}{sep}{key}{comment}", o.join(","))
        }
    };
    Line {
        text: compose(&principals, &opts),
        repaired: (!drop).then(|| compose(&rep_principals, &rep_opts)),
        classes,
        instants,
    }
}

/// A line both refuse to read (when they read it).
fn malformed_line(r: &mut Rng, p: &str, key: &str) -> String {
    let ns = format!("namespaces=\"{NAMESPACE}\"");
    let pr = if r.chance(50) {
        p.to_owned()
    } else {
        "nobody@example.net".to_owned()
    };
    match r.below(11) {
        0 => pr,
        1 => format!("{pr} {ns}"),
        2 => format!("{pr} namespaces={NAMESPACE} {key}"),
        3 => format!("{pr} namespaces=\"{NAMESPACE} {key}"),
        4 => format!("{pr} verify-required {key}"),
        5 => format!("{pr} namespaces=\"a\",namespaces=\"{NAMESPACE}\" {key}"),
        6 => format!("{pr} valid-after=\"2026\" {key}"),
        7 => format!("{pr} ssh-ed25519 AAAAnotbase64!!"),
        8 => format!("{pr} {ns}, {key}"),
        9 => format!("{pr} namespaces=\"\" {key}"),
        _ => format!("{pr} {ns},valid-after=\"20300101Z\",valid-before=\"20200101Z\" {key}"),
    }
}

struct Keys {
    signer: Key,
    others: Vec<Key>,
    sk: Key,
    /// ssh-keygen made: (type name, key). Ed25519 first.
    external: Vec<(&'static str, Key)>,
    /// Binary KRLs revoking the signer, and another key.
    krl_signer: Vec<u8>,
    krl_other: Vec<u8>,
}

impl Keys {
    fn make(dir: &Path, seed: u64) -> Self {
        let mut r = Rng::new(seed ^ 0x6b65_7973);
        let signer = Key::ed25519(r.bytes());
        let others = (0..3).map(|_| Key::ed25519(r.bytes())).collect();
        let sk = Key::sk_ed25519(r.bytes(), "ssh:");
        let external = ["ed25519", "rsa", "ecdsa", "dsa"]
            .into_iter()
            .filter_map(|k| Key::external(dir, k).map(|key| (k, key)))
            .collect();
        let krl = |name: &str, public: &str| {
            let pubfile = dir.join(format!("{name}.pub"));
            std::fs::write(&pubfile, format!("{public}\n")).unwrap();
            let out = dir.join(format!("{name}.krl"));
            let st = Command::new("ssh-keygen")
                .args(["-q", "-k", "-f"])
                .arg(&out)
                .arg(&pubfile)
                .output()
                .expect("ssh-keygen -k");
            assert!(st.status.success(), "{st:?}");
            std::fs::read(out).unwrap()
        };
        let krl_signer = krl("krl-signer", &signer.public);
        let krl_other = krl("krl-other", &Key::ed25519(r.bytes()).public);
        Self {
            signer,
            others,
            sk,
            external,
            krl_signer,
            krl_other,
        }
    }
}

/// Families and how many cases each gets.
const FAMILIES: &[(&str, usize)] = &[
    ("good", 300),
    ("good-sk", 120),
    ("good-ssh-keygen", 80),
    ("unsupported-key", 120),
    ("tampered-manifest", 500),
    ("tampered-signature", 700),
    ("wrong-namespace", 150),
    ("principals", 300),
    ("trust-file", 1000),
    ("revoked", 250),
];

fn family_of(index: usize) -> &'static str {
    let mut i = index;
    for (name, n) in FAMILIES {
        if i < *n {
            return name;
        }
        i -= n;
    }
    unreachable!()
}

fn total_cases() -> usize {
    FAMILIES.iter().map(|(_, n)| n).sum()
}

/// A plain, good trust line for `key` and principal `p`.
fn good_line(p: &str, key: &Key) -> String {
    format!("{p} namespaces=\"{NAMESPACE}\" {}", key.public)
}

fn generate(keys: &Keys, seed: u64, now: i64, index: usize, scratch: &Path) -> Case {
    let mut r = Rng::new(seed ^ (index as u64).wrapping_mul(0x2545_f491_4f6c_dd1d));
    let family = family_of(index);
    let principal = (*r.pick(PRINCIPALS)).to_owned();
    let msg = manifest(&mut r, &principal);
    let mut case = Case {
        family,
        index,
        manifest: msg.clone(),
        sig: Vec::new(),
        allowed: good_line(&principal, &keys.signer),
        repaired: None,
        revoked: None,
        principal: principal.clone(),
        classes: Vec::new(),
        clock_stable: true,
    };
    let mut spec = SigSpec::standard();
    if r.chance(30) {
        spec.hash = "sha256";
    }
    match family {
        "good" => {
            if r.chance(20) {
                // Non-empty reserved field: OpenSSH ignores it (signs and verifies with an empty one).
                spec.reserved = r.bytes::<4>().to_vec();
            }
            case.sig = armor(&sign_inline(&keys.signer, &msg, &spec).blob).into_bytes();
        }
        "good-sk" => {
            spec.sk_flags = *r.pick(&[0x01, 0x05, 0x00, 0x04, 0xff]);
            spec.sk_counter = r.next() as u32;
            case.sig = armor(&sign_inline(&keys.sk, &msg, &spec).blob).into_bytes();
            case.allowed = good_line(&principal, &keys.sk);
        }
        "good-ssh-keygen" => {
            let (_, k) = &keys.external[0];
            let KeyKind::External(path) = &k.kind else {
                unreachable!()
            };
            case.sig = sign_external(path, scratch, &msg, NAMESPACE);
            case.allowed = good_line(&principal, k);
        }
        "unsupported-key" => {
            let (_, k) = &keys.external[1 + r.below(keys.external.len() - 1)];
            let KeyKind::External(path) = &k.kind else {
                unreachable!()
            };
            case.sig = sign_external(path, scratch, &msg, NAMESPACE);
            case.allowed = good_line(&principal, k);
            if r.chance(30) {
                case.allowed = format!("{}\n{}", case.allowed, good_line(&principal, &keys.signer));
            }
            case.classes.push("unsupported-key");
        }
        "tampered-manifest" => {
            case.sig = armor(&sign_inline(&keys.signer, &msg, &spec).blob).into_bytes();
            case.manifest = tamper_manifest(&mut r, &msg);
        }
        "tampered-signature" => {
            let key = if r.chance(20) { &keys.sk } else { &keys.signer };
            case.allowed = good_line(&principal, key);
            let (sig, classes) = tamper_signature(&mut r, key, &msg, &spec);
            case.sig = sig;
            case.classes.extend(classes);
        }
        "wrong-namespace" => {
            spec.namespace = (*r.pick(&[
                "git",
                "file",
                "wasmgov-manifest-v2",
                "wasmgov-manifest-v1 ",
                "Wasmgov-manifest-v1",
                "wasmgov-manifest-v",
                "wasmgov-manifest-v1\0",
                "",
            ]))
            .to_owned();
            if r.chance(30) {
                let (_, k) = &keys.external[0];
                let KeyKind::External(path) = &k.kind else {
                    unreachable!()
                };
                // ssh-keygen signs only well-formed namespaces.
                let ns = *r.pick(&["git", "file", "wasmgov-manifest-v2", "Wasmgov-manifest-v1"]);
                case.sig = sign_external(path, scratch, &msg, ns);
                case.allowed = good_line(&principal, k);
            } else {
                case.sig = armor(&sign_inline(&keys.signer, &msg, &spec).blob).into_bytes();
            }
            if r.chance(30) {
                // A trust line that would allow the signature's namespace too.
                case.allowed = case
                    .allowed
                    .replace(&format!("namespaces=\"{NAMESPACE}\""), "namespaces=\"*\"");
            }
        }
        "principals" => {
            // One usable line: only the principals pattern list decides.
            case.sig = armor(&sign_inline(&keys.signer, &msg, &spec).blob).into_bytes();
            let (written, repaired, classes) = principals_field(&mut r, &principal);
            let line = |p: &str| format!("{p} namespaces=\"{NAMESPACE}\" {}\n", keys.signer.public);
            case.allowed = line(&written);
            case.repaired = (!repaired.is_empty()).then(|| line(&repaired));
            case.classes = classes;
        }
        "trust-file" => {
            let key = if r.chance(15) { &keys.sk } else { &keys.signer };
            case.sig = armor(&sign_inline(key, &msg, &spec).blob).into_bytes();
            trust_file(&mut r, &mut case, keys, key, now);
        }
        "revoked" => {
            case.sig = armor(&sign_inline(&keys.signer, &msg, &spec).blob).into_bytes();
            if r.chance(30) {
                trust_file(&mut r, &mut case, keys, &keys.signer, now);
            }
            case.revoked = Some(revoked_file(&mut r, &mut case, keys));
        }
        _ => unreachable!(),
    }
    case
}

fn trust_file(r: &mut Rng, case: &mut Case, keys: &Keys, key: &Key, now: i64) {
    let p = case.principal.clone();
    let mut lines: Vec<Line> = Vec::new();
    let n = 1 + r.below(4);
    for _ in 0..n {
        match r.below(10) {
            0 => lines.push(Line {
                text: (*r.pick(&["# a comment", "", "   ", "\t# indented comment"])).to_owned(),
                repaired: Some(String::new()),
                classes: vec![],
                instants: vec![],
            }),
            1 => {
                // Another key (possibly an RSA one ssh-keygen made) for the same or other principals.
                let other = if r.chance(70) {
                    r.pick(&keys.others).public.clone()
                } else {
                    r.pick(&keys.external).1.public.clone()
                };
                lines.push(entry_line(r, &p, &other, now));
            }
            2 => {
                let bad = malformed_line(r, &p, &key.public);
                lines.push(Line {
                    text: bad,
                    repaired: None,
                    classes: vec!["refused-line"],
                    instants: vec![],
                });
            }
            _ => lines.push(entry_line(r, &p, &key.public, now)),
        }
    }
    // Order matters to ssh-keygen (first accepting line wins, an error stops it).
    for i in (1..lines.len()).rev() {
        let j = r.below(i + 1);
        lines.swap(i, j);
    }
    let eol = if r.chance(5) { "\r\n" } else { "\n" };
    let mut text = String::new();
    let mut repaired = String::new();
    let mut sound = true;
    for l in &lines {
        text.push_str(&l.text);
        text.push_str(eol);
        case.classes.extend(l.classes.iter().copied());
        for &t in &l.instants {
            if (t - now).abs() < 7200 {
                case.clock_stable = false;
            }
        }
        if l.classes.contains(&"odd-time") {
            sound = false;
        }
        if let Some(rep) = &l.repaired {
            repaired.push_str(rep);
            repaired.push_str(eol);
        }
    }
    if !r.chance(80) {
        text.pop(); // no final newline
    }
    case.allowed = text;
    case.repaired = sound.then_some(repaired);
    case.classes.sort_unstable();
    case.classes.dedup();
}

fn revoked_file(r: &mut Rng, case: &mut Case, keys: &Keys) -> Vec<u8> {
    let signer = &keys.signer.public;
    let other = &r.pick(&keys.others).public;
    let text = match r.below(10) {
        0 => String::new(),
        1 => "# nothing revoked\n\n".into(),
        2 => format!("{other}\n"),
        3 => format!("{signer}\n"),
        4 => format!("# stolen\n{other} old\n  {signer} alice-2025\n"),
        5 => format!("{signer} comment with spaces"),
        6 => format!("garbage line\n{signer}\n"),
        7 => format!("{other}\nnot a key\n"),
        // A binary KRL: wasmgov refuses the file, so no repair of the trust file can help.
        8 => {
            case.classes.push("krl");
            case.repaired = None;
            return keys.krl_other.clone();
        }
        _ => {
            case.classes.push("krl");
            case.repaired = None;
            return keys.krl_signer.clone();
        }
    };
    text.into_bytes()
}

fn tamper_manifest(r: &mut Rng, msg: &[u8]) -> Vec<u8> {
    loop {
        let mut m = msg.to_vec();
        match r.below(10) {
            0 | 1 => {
                let i = r.below(m.len());
                m[i] ^= 1 << r.below(8);
            }
            2 => m.push(*r.pick(b"\n \t#x")),
            3 => {
                let i = r.below(m.len());
                m.remove(i);
            }
            4 => {
                m.pop();
            }
            5 => {
                let i = r.below(m.len());
                m.insert(i, *r.pick(b" \t\n"));
            }
            6 => {
                m = String::from_utf8(m)
                    .unwrap()
                    .replace('\n', "\r\n")
                    .into_bytes();
            }
            7 => {
                let mut b = vec![0xef, 0xbb, 0xbf];
                b.extend_from_slice(&m);
                m = b;
            }
            8 => {
                // A semantic change an attacker wants: more fuel or a later sequence.
                let s = String::from_utf8(m).unwrap();
                m = s.replacen("sequence = ", "sequence = 9", 1).into_bytes();
            }
            _ => m.truncate(r.below(m.len())),
        }
        if m != msg {
            return m;
        }
    }
}

/// ed25519's group order L, little-endian.
const ED25519_L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

fn add_l(s: &mut [u8]) {
    let mut carry = 0u16;
    for (b, l) in s.iter_mut().zip(ED25519_L) {
        let v = u16::from(*b) + u16::from(l) + carry;
        *b = v as u8;
        carry = v >> 8;
    }
}

fn replace_field(blob: &[u8], range: std::ops::Range<usize>, data: &[u8]) -> Vec<u8> {
    let mut out = blob[..range.start].to_vec();
    put_string(&mut out, data);
    out.extend_from_slice(&blob[range.end..]);
    out
}

/// A tampered signature over `msg` by `key` (structure-aware), and the classes it carries.
fn tamper_signature(
    r: &mut Rng,
    key: &Key,
    msg: &[u8],
    spec: &SigSpec,
) -> (Vec<u8>, Vec<&'static str>) {
    let s = sign_inline(key, msg, spec);
    let blob = &s.blob;
    let flip = |r: &mut Rng, range: std::ops::Range<usize>| {
        let mut b = blob.clone();
        let i = range.start + r.below(range.len());
        b[i] ^= 1 << r.below(8);
        b
    };
    let fields: Vec<&str> = s.fields.iter().map(|(n, _)| *n).collect();
    let mut classes = Vec::new();
    let out = match r.below(14) {
        // A bit flip inside one named field (length prefixes included).
        0..=4 => {
            let name = *r.pick(&fields);
            flip(r, s.field(name))
        }
        5 => {
            let mut b = blob.clone();
            b[6..10].copy_from_slice(&r.pick(&[0u32, 2, 0x0100_0001]).to_be_bytes());
            b
        }
        6 => {
            let alg = *r.pick(&[
                "sha256", "sha512", "sha384", "SHA512", "sha1", "sha512\0", "sha256\0", "",
            ]);
            if alg.ends_with('\0') {
                classes.push("nul-terminated");
            }
            replace_field(blob, s.field("hash_alg"), alg.as_bytes())
        }
        7 => {
            let ns = *r.pick(&["git", "wasmgov-manifest-v2", "", "wasmgov-manifest-v1\0"]);
            if ns.ends_with('\0') {
                classes.push("nul-terminated");
            }
            replace_field(blob, s.field("namespace"), ns.as_bytes())
        }
        8 => {
            // Reserved: a value in the blob only (OpenSSH ignores it: must still verify), or one
            // also signed over (OpenSSH verifies with an empty one: must fail).
            let mut sp = spec.clone();
            sp.reserved = b"tag".to_vec();
            if r.chance(50) {
                sp.signed_reserved = sp.reserved.clone();
            }
            sign_inline(key, msg, &sp).blob
        }
        9 => {
            // Malleated Ed25519 signature: S + L.
            let mut b = blob.clone();
            let sig = s.field("sig_bytes");
            add_l(&mut b[sig.start + 32..sig.end]);
            return (armor(&b).into_bytes(), vec!["noncanonical-s"]);
        }
        10 => {
            // Trailing bytes after the blob, or a truncated blob.
            let mut b = blob.clone();
            if r.chance(50) {
                b.extend_from_slice(&r.bytes::<3>()[..1 + r.below(3)]);
            } else {
                b.truncate(r.below(b.len()));
            }
            b
        }
        11 => {
            // Another key's public key in the blob, same signature.
            let other = Key::ed25519(r.bytes());
            replace_field(blob, s.field("publickey"), &other.blob)
        }
        _ => {
            // Armour changes around a good blob.
            let text = armor(blob);
            let t = match r.below(10) {
                0 => text.replace('\n', "\r\n"),
                1 => format!(" {text}"),
                2 => format!("\n{text}"),
                3 => format!("{text}trailing text\n"),
                4 => text.trim_end().to_owned(),
                5 => text.replacen("SIGNATURE-----", "SIGNATUR-----", 1),
                6 => {
                    let body = b64(blob);
                    let mut t = String::from("-----BEGIN SSH SIGNATURE-----\n");
                    for l in body.as_bytes().chunks(64) {
                        t.push_str(std::str::from_utf8(l).unwrap());
                        t.push('\n');
                    }
                    t + "-----END SSH SIGNATURE-----\n"
                }
                7 => text.replacen("\n", "\n\n", 2),
                8 => format!("\u{feff}{text}"),
                _ => text.replace("-----END", "  \n-----END"),
            };
            return (t.into_bytes(), vec!["armor"]);
        }
    };
    if out
        .get(..10)
        .is_some_and(|h| h[..6] == *b"SSHSIG" && h[6..] == [0; 4])
    {
        classes.push("sshsig-version");
    }
    (armor(&out).into_bytes(), classes)
}

// ---------------------------------------------------------------- judges

struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn write(&self, case: &Case, allowed: &str) -> (PathBuf, PathBuf, Option<PathBuf>, PathBuf) {
        let a = self.dir.join("allowed_signers");
        let m = self.dir.join("tool.toml");
        let s = wasmgov::signature_path(&m);
        std::fs::write(&a, allowed).unwrap();
        std::fs::write(&m, &case.manifest).unwrap();
        std::fs::write(&s, &case.sig).unwrap();
        let rv = case.revoked.as_ref().map(|r| {
            let p = self.dir.join("revoked_keys");
            std::fs::write(&p, r).unwrap();
            p
        });
        (a, s, rv, m)
    }
}

/// `ssh-keygen -Y verify` at `now`: (accepted, its output).
fn ssh_verdict(scratch: &Scratch, case: &Case, now: i64) -> (bool, String) {
    let (a, s, rv, _) = scratch.write(case, &case.allowed);
    let mut c = Command::new("ssh-keygen");
    c.env("TZ", "UTC")
        .args(["-Y", "verify", "-n", NAMESPACE, "-I", &case.principal, "-f"])
        .arg(&a)
        .arg("-s")
        .arg(&s)
        .arg(format!("-Overify-time={}", ssh_time_z(now)));
    if let Some(rv) = rv {
        c.arg("-r").arg(rv);
    }
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ssh-keygen");
    // It may exit before reading the message (e.g. a malformed signature).
    let _ = child.stdin.take().unwrap().write_all(&case.manifest);
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// wasmgov's decision, in-process: `Ok(())` or the refusal's kind and message.
fn our_verdict(case: &Case, allowed: &str, now: i64) -> Result<(), (String, String)> {
    let policy = Policy::parse(POLICY.as_bytes()).expect("policy");
    let refuse = |e: wasmgov::RefusalError| (e.kind().to_owned(), e.to_string());
    let trust = AllowedSigners::parse(allowed).map_err(|e| refuse(e.into()))?;
    let revoked = match &case.revoked {
        // Read as the CLI reads the file: UTF-8 or refused.
        Some(bytes) => Some(
            std::str::from_utf8(bytes)
                .map_err(|_| {
                    (
                        "trust-store".to_owned(),
                        "revoked keys: not UTF-8".to_owned(),
                    )
                })
                .and_then(|t| RevokedKeys::parse(t).map_err(|e| refuse(e.into())))?,
        ),
        None => None,
    };
    let opts = VerifyOptions {
        trust: Some(&trust),
        revoked: revoked.as_ref(),
        now: UNIX_EPOCH + Duration::from_secs(u64::try_from(now).unwrap()),
        ..VerifyOptions::new(&policy)
    };
    verify(&case.manifest, Some(&case.sig), COMPONENT, &opts)
        .map(|_| ())
        .map_err(refuse)
}

/// The real `wasmgov verify`: `Ok(())` or the refusal's kind.
fn cli_verdict(scratch: &Scratch, case: &Case) -> Result<(), String> {
    let (a, _, rv, m) = scratch.write(case, &case.allowed);
    let policy = scratch.dir.join("policy.toml");
    std::fs::write(&policy, POLICY).unwrap();
    let component = scratch.dir.join("component.wasm");
    std::fs::write(&component, COMPONENT).unwrap();
    let config = scratch.dir.join("config");
    let mut c = wasmgov();
    c.env("XDG_CONFIG_HOME", &config)
        .arg("verify")
        .arg("--trust")
        .arg(&a)
        .arg("--policy")
        .arg(&policy)
        .arg("--tool")
        .arg(&component);
    if let Some(rv) = rv {
        c.arg("--revoked").arg(rv);
    }
    let out = c.arg(&m).output().expect("wasmgov verify");
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => Ok(()),
        Some(3) => Err(stderr
            .split_once("error[")
            .and_then(|(_, s)| s.split(']').next())
            .unwrap_or_else(|| panic!("no error[KIND] on stderr: {stderr}"))
            .to_owned()),
        other => panic!("wasmgov verify exited {other:?}: {stderr}"),
    }
}

#[derive(Default)]
struct Tally {
    cases: usize,
    both_accept: usize,
    both_refuse: usize,
    /// Strict (wasmgov refuses, ssh-keygen accepts) by class.
    strict: BTreeMap<&'static str, usize>,
}

fn describe(case: &Case, seed: u64, now: i64, ssh: &(bool, String), ours: &str) -> String {
    format!(
        "case {} ({}) seed {seed:#x} now {now}\n  replay: WASMGOV_DIFF_SEED={seed} WASMGOV_DIFF_NOW={now} WASMGOV_DIFF_CASE={}\n  principal: {}\n  classes: {:?}\n  allowed_signers:\n{}\n  repaired: {:?}\n  revoked: {:?}\n  signature:\n{}\n  manifest: {:?}\n  ssh-keygen: {} {}\n  wasmgov: {ours}\n",
        case.index,
        case.family,
        case.index,
        case.principal,
        case.classes,
        case.allowed,
        case.repaired,
        case.revoked
            .as_ref()
            .map(|r| String::from_utf8_lossy(r).into_owned()),
        String::from_utf8_lossy(&case.sig),
        String::from_utf8_lossy(&case.manifest),
        if ssh.0 { "accepts" } else { "refuses" },
        ssh.1.trim(),
    )
}

/// Judge one case; returns the strict class it fell into (if any), or a failure description.
fn judge(
    case: &Case,
    scratch: &Scratch,
    seed: u64,
    now: i64,
) -> Result<(bool, bool, Option<&'static str>), String> {
    let ssh = ssh_verdict(scratch, case, now);
    let ours = our_verdict(case, &case.allowed, now);
    let ours_text = match &ours {
        Ok(()) => "accepts".to_owned(),
        Err((k, m)) => format!("refuses: error[{k}]: {m}"),
    };
    let fail = |why: &str| {
        Err(format!(
            "{why}\n{}",
            describe(case, seed, now, &ssh, &ours_text)
        ))
    };
    match (&ours, ssh.0) {
        (Ok(()), true) => Ok((true, true, None)),
        (Err(_), false) => Ok((false, false, None)),
        (Ok(()), false) => fail("SECURITY: wasmgov accepts what ssh-keygen refuses"),
        (Err((kind, _)), true) => {
            let Some(c) = case
                .classes
                .iter()
                .map(|n| class(n))
                .find(|c| c.kinds.contains(&kind.as_str()))
            else {
                return fail(
                    "wasmgov refuses what ssh-keygen accepts, outside every documented class",
                );
            };
            if let Some(rep) = &case.repaired
                && let Err((k, m)) = our_verdict(case, rep, now)
            {
                return fail(&format!(
                    "wasmgov still refuses the repaired trust file ({c}): error[{k}]: {m}",
                    c = c.name
                ));
            }
            Ok((false, true, Some(c.name)))
        }
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        v.strip_prefix("0x")
            .map_or_else(|| v.parse(), |h| u64::from_str_radix(h, 16))
            .unwrap_or_else(|e| panic!("{name}={v}: {e}"))
    })
}

#[test]
fn verdicts_agree_with_ssh_keygen() {
    let started = std::time::Instant::now();
    let seed = env_u64("WASMGOV_DIFF_SEED").unwrap_or(DEFAULT_SEED);
    let real_now = i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap();
    let now = env_u64("WASMGOV_DIFF_NOW").map_or(real_now, |n| i64::try_from(n).unwrap());
    let only = env_u64("WASMGOV_DIFF_CASE").map(|c| usize::try_from(c).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let keys = Keys::make(dir.path(), seed);
    assert!(
        keys.external.len() >= 3 && keys.external[0].0 == "ed25519",
        "ssh-keygen must make ed25519, rsa and ecdsa keys"
    );
    let total = total_cases();
    eprintln!(
        "signing_differential: seed {seed:#x}, now {now} ({}), {total} cases, ssh-keygen key types {:?}",
        ssh_time_z(now),
        keys.external.iter().map(|(k, _)| *k).collect::<Vec<_>>()
    );
    // The CLI sample: indices picked by the seed among cases whose verdict does not hinge on
    // the exact second (the CLI reads the real clock).
    let mut pick = Rng::new(seed ^ 0xc11);
    let cli_wanted: Vec<usize> = (0..CLI_SAMPLE * 3).map(|_| pick.below(total)).collect();

    let next = AtomicUsize::new(0);
    let tallies: Mutex<BTreeMap<&'static str, Tally>> = Mutex::new(BTreeMap::new());
    let failures: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let cli_checked = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let scratch = Scratch {
                dir: dir.path().join(format!("t{t}")),
            };
            std::fs::create_dir_all(&scratch.dir).unwrap();
            let (keys, next, tallies, failures, cli_wanted, cli_checked) =
                (&keys, &next, &tallies, &failures, &cli_wanted, &cli_checked);
            s.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    if only.is_some_and(|o| o != i) {
                        continue;
                    }
                    let case = generate(keys, seed, now, i, &scratch.dir);
                    let verdict = judge(&case, &scratch, seed, now);
                    if only.is_some() {
                        let ssh = ssh_verdict(&scratch, &case, now);
                        let ours = format!("{:?}", our_verdict(&case, &case.allowed, now));
                        eprintln!("{}", describe(&case, seed, now, &ssh, &ours));
                    }
                    let mut tl = tallies.lock().unwrap();
                    let tally = tl.entry(case.family).or_default();
                    tally.cases += 1;
                    match verdict {
                        Ok((true, true, _)) => tally.both_accept += 1,
                        Ok((false, false, _)) => tally.both_refuse += 1,
                        Ok((_, _, Some(c))) => *tally.strict.entry(c).or_default() += 1,
                        Ok(_) => unreachable!(),
                        Err(f) => failures.lock().unwrap().push(f),
                    }
                    drop(tl);
                    // The real CLI on a sample: it must decide as the library did.
                    let sampled = cli_wanted.contains(&i)
                        && case.clock_stable
                        && (now - real_now).abs() < 600
                        && cli_checked.load(Ordering::Relaxed) < CLI_SAMPLE;
                    if sampled || only.is_some() {
                        let lib = our_verdict(&case, &case.allowed, now).map_err(|(k, _)| k);
                        let cli = cli_verdict(&scratch, &case);
                        if lib != cli {
                            failures.lock().unwrap().push(format!(
                                "the CLI disagrees with the library: cli {cli:?}, library {lib:?}\n{}",
                                describe(&case, seed, now, &ssh_verdict(&scratch, &case, now), &format!("{lib:?}"))
                            ));
                        }
                        cli_checked.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });

    let tallies = tallies.into_inner().unwrap();
    let mut strict_total: BTreeMap<&str, usize> = BTreeMap::new();
    let mut sum = Tally::default();
    for (family, t) in &tallies {
        let strict: usize = t.strict.values().sum();
        eprintln!(
            "  {family:<20} {:>5} cases: {:>5} both accept, {:>5} both refuse, {:>4} wasmgov stricter {:?}",
            t.cases, t.both_accept, t.both_refuse, strict, t.strict
        );
        sum.cases += t.cases;
        sum.both_accept += t.both_accept;
        sum.both_refuse += t.both_refuse;
        for (c, n) in &t.strict {
            *strict_total.entry(c).or_default() += n;
        }
    }
    let failures = failures.into_inner().unwrap();
    eprintln!(
        "  {:<20} {:>5} cases: {:>5} both accept, {:>5} both refuse, {:>4} wasmgov stricter, {} failures; {} through the CLI; {:.1?}",
        "total",
        sum.cases,
        sum.both_accept,
        sum.both_refuse,
        strict_total.values().sum::<usize>(),
        failures.len(),
        cli_checked.load(Ordering::Relaxed),
        started.elapsed()
    );
    for (c, n) in &strict_total {
        eprintln!("  stricter by design, {c} ({n}): {}", class(c).why);
    }
    if let Some(first) = failures.first() {
        for f in failures.iter().take(5) {
            eprintln!("{f}");
        }
        for f in &failures {
            let mut lines = f.lines();
            let (why, case) = (lines.next().unwrap_or(""), lines.next().unwrap_or(""));
            let ours = f
                .lines()
                .find(|l| l.starts_with("  wasmgov:"))
                .unwrap_or("");
            eprintln!("FAILED {case}: {why} |{ours}");
        }
        panic!(
            "{} of {} cases failed; first:\n{first}",
            failures.len(),
            sum.cases
        );
    }
    if only.is_none() {
        assert_eq!(sum.cases, total);
        assert!(
            cli_checked.load(Ordering::Relaxed) >= 50 || (now - real_now).abs() >= 600,
            "too few cases through the CLI: {}",
            cli_checked.load(Ordering::Relaxed)
        );
        // Every family must exercise both verdicts where it can, or the generator is broken.
        for fam in [
            "good",
            "good-sk",
            "good-ssh-keygen",
            "trust-file",
            "revoked",
        ] {
            assert!(tallies[fam].both_accept > 0, "{fam}: nothing accepted");
        }
        for fam in ["principals", "trust-file", "revoked", "tampered-signature"] {
            assert!(tallies[fam].both_refuse > 0, "{fam}: nothing refused");
        }
    }
}
