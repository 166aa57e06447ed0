//! Supply-chain threats T01–T15 (threats.md, C.1), each driven through the `wasmgov` binary the
//! way an operator meets it: a publisher signs a manifest, the operator trusts keys in an
//! OpenSSH `allowed_signers` file and runs the tool under a policy.
//!
//! Every refusal is checked for exit code 3, its exact `error[KIND]`, the fingerprint or field it
//! names, and that nothing of the tool ran (stdout empty; ratchet or compile cache untouched
//! where that is the point). OpenSSH's `ssh-keygen -Y verify` is the reference verifier: where a
//! case is about the signature or the trust file, it must refuse too.
//!
//! There is no injectable clock in the CLI, so time windows use `valid-after`/`valid-before` in
//! the past or the far future and manifests whose `expires` has passed.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{s, tool, wasmgov};

const PUBLISHER: &str = "publisher@tools.example";
const NAMESPACE: &str = "wasmgov-manifest-v1";
const INPUT: &str = r#"{"text":"the cat and the dog"}"#;

/// Limits far above what the tools need, and `PUBLISHER` allowed to sign the example tools.
const POLICY: &str = r#"
[limits]
fuel = 100_000_000_000
memory = "1 GiB"
timeout = "120s"
output = "64 MiB"
host-calls = 10_000_000

[[publishers]]
principal = "publisher@tools.example"
tools = ["text-stats", "json-query", "not-wasm"]
"#;

/// What `wasmgov` (or `ssh-keygen`) did.
#[derive(Debug)]
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn of(out: std::process::Output) -> Self {
        Self {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Refused before running, as `kind`: exit 3, the kind first on stderr, a hint, no output.
    /// Returns stderr for the checks specific to the case.
    #[track_caller]
    fn refused(&self, kind: &str) -> &str {
        assert_eq!(self.code, 3, "expected a refusal, got {self:#?}");
        assert!(
            self.stderr.starts_with(&format!("error[{kind}]: ")),
            "expected error[{kind}], got:\n{}",
            self.stderr
        );
        assert!(self.stderr.contains("\n  hint: "), "{}", self.stderr);
        assert!(
            self.stdout.is_empty(),
            "the tool must not run: {}",
            self.stdout
        );
        &self.stderr
    }

    #[track_caller]
    fn ran(&self) -> serde_json::Value {
        assert_eq!(self.code, 0, "expected the tool to run: {self:#?}");
        serde_json::from_str(&self.stdout).expect("the tool's JSON result")
    }
}

/// Make an Ed25519 key with OpenSSH.
fn ssh_keygen(dir: &Path, name: &str, kind: &str) -> PathBuf {
    let key = dir.join(name);
    let mut c = Command::new("ssh-keygen");
    c.args(["-q", "-N", "", "-C", name, "-t", kind]);
    if kind == "rsa" {
        c.args(["-b", "2048"]);
    }
    let st = c.arg("-f").arg(&key).status().expect("run ssh-keygen");
    assert!(st.success(), "ssh-keygen -t {kind} failed");
    key
}

/// `SHA256:…` as `ssh-keygen -lf` prints it.
fn fingerprint(key: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(pub_path(key))
        .output()
        .expect("ssh-keygen -lf");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    text.split_whitespace()
        .nth(1)
        .expect("fingerprint field")
        .to_owned()
}

fn pub_path(key: &Path) -> PathBuf {
    PathBuf::from(format!("{}.pub", key.display()))
}

fn public_key(key: &Path) -> String {
    std::fs::read_to_string(pub_path(key))
        .expect("read public key")
        .trim()
        .to_owned()
}

fn sig_path(manifest: &Path) -> PathBuf {
    wasmgov::signature_path(manifest)
}

/// `ssh-keygen -Y sign -n NAMESPACE` over the manifest's bytes, replacing any old signature.
fn ssh_sign_ns(key: &Path, manifest: &Path, namespace: &str) {
    let _ = std::fs::remove_file(sig_path(manifest));
    let st = Command::new("ssh-keygen")
        .args(["-q", "-Y", "sign", "-n", namespace, "-f"])
        .arg(key)
        .arg(manifest)
        .status()
        .expect("ssh-keygen -Y sign");
    assert!(st.success(), "ssh-keygen -Y sign failed");
}

fn ssh_sign(key: &Path, manifest: &Path) {
    ssh_sign_ns(key, manifest, NAMESPACE);
}

/// `wasmgov sign --key KEY MANIFEST`.
fn wasmgov_sign(key: &Path, manifest: &Path) {
    let out = Out::of(
        wasmgov()
            .args(["sign", "--key", s(key), s(manifest)])
            .output()
            .expect("wasmgov sign"),
    );
    assert_eq!(out.code, 0, "wasmgov sign: {out:#?}");
}

/// The reference verifier: does `ssh-keygen -Y verify` accept this manifest for `principal`?
fn ssh_verify(trust: &Path, revoked: Option<&Path>, principal: &str, manifest: &Path) -> bool {
    let mut c = Command::new("ssh-keygen");
    c.args(["-Y", "verify", "-n", NAMESPACE, "-I", principal, "-f"])
        .arg(trust)
        .arg("-s")
        .arg(sig_path(manifest));
    if let Some(r) = revoked {
        c.arg("-r").arg(r);
    }
    let out = c
        .stdin(std::fs::File::open(manifest).expect("open manifest"))
        .output()
        .expect("ssh-keygen -Y verify");
    out.status.success()
}

/// The SSHSIG blob inside a `.sig` (its PEM body, base64-decoded by coreutils).
fn sig_blob(sig: &Path) -> Vec<u8> {
    let pem = std::fs::read_to_string(sig).expect("read sig");
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let out = assert_cmd::Command::new("base64")
        .arg("-d")
        .write_stdin(body)
        .output()
        .expect("base64 -d");
    assert!(out.status.success());
    out.stdout
}

/// Write `blob` back as an SSH SIGNATURE PEM.
fn write_sig_blob(sig: &Path, blob: &[u8]) {
    let out = assert_cmd::Command::new("base64")
        .arg("-w70")
        .write_stdin(blob.to_vec())
        .output()
        .expect("base64");
    let body = String::from_utf8(out.stdout).expect("base64 text");
    std::fs::write(
        sig,
        format!("-----BEGIN SSH SIGNATURE-----\n{body}-----END SSH SIGNATURE-----\n"),
    )
    .expect("write sig");
}

fn replace_bytes(hay: &mut [u8], from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len());
    let at = hay
        .windows(from.len())
        .position(|w| w == from)
        .expect("bytes to replace");
    hay[at..at + to.len()].copy_from_slice(to);
}

/// A manifest for `name` by `PUBLISHER`; `extra` is appended (tables) and the pin is filled in
/// by `wasmgov pin` from `component`.
fn manifest_text(name: &str, sequence: u64, extra: &str) -> String {
    format!(
        r#"schema = 1

[tool]
name = "{name}"
version = "1.0.0"
publisher = "{PUBLISHER}"
description = "Counts words and lines"
sequence = {sequence}

[component]
sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
size = 0

[limits]
fuel = 1_000_000_000
memory = "32 MiB"
timeout = "10s"
{extra}"#
    )
}

/// One operator and one publisher, in a temporary directory.
struct Fixture {
    dir: tempfile::TempDir,
    /// The publisher's Ed25519 key, trusted for `PUBLISHER`.
    key: PathBuf,
    trust: PathBuf,
    policy: PathBuf,
    state: PathBuf,
}

impl Fixture {
    /// The publisher's key made by `ssh-keygen`.
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = ssh_keygen(dir.path(), "publisher", "ed25519");
        Self::with_key(dir, key)
    }

    /// The publisher's key made by `wasmgov keygen`.
    fn with_wasmgov_key() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = dir.path().join("publisher");
        let out = Out::of(
            wasmgov()
                .args(["keygen", "-f", s(&key), "-C", PUBLISHER])
                .output()
                .expect("wasmgov keygen"),
        );
        assert_eq!(out.code, 0, "{out:#?}");
        assert!(out.stdout.contains(&fingerprint(&key)), "{}", out.stdout);
        Self::with_key(dir, key)
    }

    fn with_key(dir: tempfile::TempDir, key: PathBuf) -> Self {
        let fx = Self {
            trust: dir.path().join("allowed_signers"),
            policy: dir.path().join("policy.toml"),
            state: dir.path().join("state"),
            key,
            dir,
        };
        fx.trust_key(&fx.key, PUBLISHER, "");
        std::fs::write(&fx.policy, POLICY).expect("write policy");
        fx
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn fp(&self) -> String {
        fingerprint(&self.key)
    }

    /// Replace allowed_signers with one line trusting `key` for `principal`, with `options`
    /// added after `namespaces=`.
    fn trust_key(&self, key: &Path, principal: &str, options: &str) {
        let line = format!(
            "{principal} namespaces=\"{NAMESPACE}\"{options} {}\n",
            public_key(key)
        );
        std::fs::write(&self.trust, line).expect("write allowed_signers");
    }

    /// Write a manifest for the example tool `name` at `file`, pinned to its built component.
    fn manifest(&self, file: &str, name: &str, sequence: u64, extra: &str) -> PathBuf {
        self.manifest_for(file, name, &tool(name), sequence, extra)
    }

    /// Write a manifest named `name`, pinned to `component` with `wasmgov pin`.
    fn manifest_for(
        &self,
        file: &str,
        name: &str,
        component: &Path,
        sequence: u64,
        extra: &str,
    ) -> PathBuf {
        let m = self.path(file);
        std::fs::write(&m, manifest_text(name, sequence, extra)).expect("write manifest");
        let out = Out::of(
            wasmgov()
                .args(["pin", s(&m), s(component)])
                .output()
                .expect("wasmgov pin"),
        );
        assert_eq!(out.code, 0, "wasmgov pin: {out:#?}");
        m
    }

    /// A text-stats manifest signed by the trusted key with `ssh-keygen`.
    fn signed(&self, file: &str, sequence: u64) -> PathBuf {
        let m = self.manifest(file, "text-stats", sequence, "");
        ssh_sign(&self.key, &m);
        m
    }

    /// `wasmgov run COMPONENT --manifest M` under this operator's trust, policy and state.
    fn run_with(&self, component: &Path, manifest: &Path, extra: &[&str]) -> Out {
        let mut c = wasmgov();
        c.args(["run", s(component), "--manifest", s(manifest)])
            .args(["--trust", s(&self.trust), "--policy", s(&self.policy)])
            .args(["--state", s(&self.state), "--input", INPUT])
            .args(extra);
        Out::of(c.output().expect("wasmgov run"))
    }

    fn run(&self, manifest: &Path) -> Out {
        self.run_with(&tool("text-stats"), manifest, &[])
    }

    /// `wasmgov verify MANIFEST --tool COMPONENT` under this operator's trust and policy.
    fn verify_with(&self, manifest: &Path, component: &Path, extra: &[&str]) -> Out {
        let mut c = wasmgov();
        c.args(["verify", s(manifest), "--tool", s(component)])
            .args(["--trust", s(&self.trust), "--policy", s(&self.policy)])
            .args(extra);
        Out::of(c.output().expect("wasmgov verify"))
    }

    fn verify(&self, manifest: &Path) -> Out {
        self.verify_with(manifest, &tool("text-stats"), &[])
    }

    /// Does `ssh-keygen -Y verify` accept the manifest for `PUBLISHER` under this trust file?
    fn ssh_accepts(&self, manifest: &Path) -> bool {
        ssh_verify(&self.trust, None, PUBLISHER, manifest)
    }

    /// The sequence and manifest digest the ratchet holds for `tool` of [`PUBLISHER`] (from any
    /// key), if any.
    fn ratchet(&self, tool: &str) -> Option<(u64, String)> {
        let text = std::fs::read_to_string(self.state.join("ratchet.json")).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).expect("ratchet.json is JSON");
        let e = &v["tools"][wasmgov::ratchet::entry_key(tool, PUBLISHER)];
        Some((
            e["sequence"].as_u64()?,
            e["manifest_sha256"].as_str()?.to_owned(),
        ))
    }

    /// Compiled artifacts in the compile cache (the artifact store writes one `.cwasm` per
    /// compiled component).
    fn compiled_artifacts(&self) -> usize {
        let Ok(rd) = std::fs::read_dir(self.state.join("cache")) else {
            return 0;
        };
        rd.flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
            .count()
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    wasmgov::component::sha256_hex(bytes)
}

// ---------------------------------------------------------------------------------------------
// The accepted path, and interop with OpenSSH both ways.

#[test]
fn manifest_signed_by_ssh_keygen_verifies_and_runs() {
    let fx = Fixture::new();
    let m = fx.signed("text-stats.toml", 1);
    assert!(fx.ssh_accepts(&m));

    let v = fx.verify(&m);
    assert_eq!(v.code, 0, "{v:#?}");
    assert!(v.stdout.contains(&fx.fp()), "{}", v.stdout);
    assert!(v.stdout.contains(PUBLISHER), "{}", v.stdout);

    let out = fx.run(&m).ran();
    assert_eq!(out["words"], 5);
    assert_eq!(fx.ratchet("text-stats").map(|r| r.0), Some(1));
}

#[test]
fn manifest_signed_by_wasmgov_verifies_with_ssh_keygen_and_runs() {
    let fx = Fixture::with_wasmgov_key();
    let m = fx.manifest("text-stats.toml", "text-stats", 1, "");
    wasmgov_sign(&fx.key, &m);
    assert!(
        fx.ssh_accepts(&m),
        "ssh-keygen -Y verify refused a wasmgov signature"
    );
    assert_eq!(fx.verify(&m).code, 0);
    assert_eq!(fx.run(&m).ran()["words"], 5);
}

/// Every tampering of a signed package, for signatures made by either signer: wasmgov and
/// `ssh-keygen -Y verify` both refuse, and wasmgov names the same kind each time.
#[test]
fn every_tampered_case_is_refused_by_both_wasmgov_and_ssh_keygen() {
    type Tamper = fn(&Fixture, &Path) -> Option<PathBuf>;
    let cases: &[(&str, &str, Tamper)] = &[
        ("one byte of the manifest", "bad-signature", |_, m| {
            edit(m, |t| t.replace("Counts words", "Counts wordz"));
            None
        }),
        ("a comment appended", "bad-signature", |_, m| {
            edit(m, |t| t + "# harmless?\n");
            None
        }),
        ("CRLF line endings", "bad-signature", |_, m| {
            edit(m, |t| t.replace('\n', "\r\n"));
            None
        }),
        ("a BOM prepended", "bad-signature", |_, m| {
            edit(m, |t| format!("\u{feff}{t}"));
            None
        }),
        (
            "the signature of another manifest",
            "bad-signature",
            |fx, m| {
                let other = fx.signed("other.toml", 2);
                std::fs::copy(sig_path(&other), sig_path(m)).expect("copy sig");
                None
            },
        ),
        ("a truncated signature", "malformed-signature", |_, m| {
            let sig = std::fs::read(sig_path(m)).expect("sig");
            std::fs::write(sig_path(m), &sig[..sig.len() / 2]).expect("write");
            None
        }),
        (
            "garbage base64 in the signature",
            "malformed-signature",
            |_, m| {
                std::fs::write(
                sig_path(m),
                "-----BEGIN SSH SIGNATURE-----\n%%%not*base64%%%\n-----END SSH SIGNATURE-----\n",
            )
            .expect("write");
                None
            },
        ),
        (
            "signed in the `git` namespace",
            "namespace-mismatch",
            |fx, m| {
                ssh_sign_ns(&fx.key, m, "git");
                None
            },
        ),
        ("signed by an untrusted key", "unknown-signer", |fx, m| {
            let other = ssh_keygen(fx.dir.path(), "stranger", "ed25519");
            ssh_sign(&other, m);
            None
        }),
        ("the key is revoked", "revoked-key", |fx, _| {
            let revoked = fx.path("revoked_keys");
            std::fs::write(&revoked, public_key(&fx.key) + "\n").expect("write");
            Some(revoked)
        }),
        ("the key's validity ended", "key-expired", |fx, _| {
            fx.trust_key(&fx.key, PUBLISHER, ",valid-before=\"20200101\"");
            None
        }),
        ("the key is not valid yet", "key-not-yet-valid", |fx, _| {
            fx.trust_key(&fx.key, PUBLISHER, ",valid-after=\"20990101\"");
            None
        }),
        (
            "trusted for another principal",
            "signer-not-authorized",
            |fx, _| {
                fx.trust_key(&fx.key, "mallory@evil.example", "");
                None
            },
        ),
    ];
    for wasmgov_signs in [false, true] {
        for (what, kind, tamper) in cases {
            let fx = if wasmgov_signs {
                Fixture::with_wasmgov_key()
            } else {
                Fixture::new()
            };
            let m = fx.manifest("text-stats.toml", "text-stats", 1, "");
            if wasmgov_signs {
                wasmgov_sign(&fx.key, &m);
            } else {
                ssh_sign(&fx.key, &m);
            }
            assert!(fx.ssh_accepts(&m), "{what}: the untampered case must pass");
            let revoked = tamper(&fx, &m);
            let mut extra = vec![];
            if let Some(r) = &revoked {
                extra = vec!["--revoked", s(r)];
            }
            let signer = if wasmgov_signs {
                "wasmgov sign"
            } else {
                "ssh-keygen -Y sign"
            };
            let ours = fx.verify_with(&m, &tool("text-stats"), &extra);
            assert_eq!(
                ours.code, 3,
                "{signer}, {what}: wasmgov accepted: {ours:#?}"
            );
            assert!(
                ours.stderr.starts_with(&format!("error[{kind}]")),
                "{signer}, {what}: expected {kind}, got {}",
                ours.stderr
            );
            fx.run_with(&tool("text-stats"), &m, &extra).refused(kind);
            assert!(
                !ssh_verify(&fx.trust, revoked.as_deref(), PUBLISHER, &m),
                "{signer}, {what}: ssh-keygen -Y verify accepted what wasmgov refused"
            );
        }
    }
}

fn edit(path: &Path, f: impl FnOnce(String) -> String) {
    let text = std::fs::read_to_string(path).expect("read");
    std::fs::write(path, f(text)).expect("write");
}

// ---------------------------------------------------------------------------------------------
// T01: the component is changed after signing.

#[test]
fn t01_component_with_one_flipped_byte_is_refused_before_compile() {
    let fx = Fixture::new();
    let m = fx.signed("text-stats.toml", 1);
    let mut bytes = std::fs::read(tool("text-stats")).expect("read");
    let pinned = sha256_hex(&bytes);
    // A byte deep in the code, not the header: the size stays the same.
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    let evil = fx.path("text_stats.wasm");
    std::fs::write(&evil, &bytes).expect("write");

    let out = fx.run_with(&evil, &m, &[]);
    let err = out.refused("digest-mismatch");
    assert!(err.contains(&pinned), "names the pinned sha256: {err}");
    assert!(err.contains(&sha256_hex(&bytes)), "names the actual: {err}");
    assert_eq!(fx.compiled_artifacts(), 0, "nothing may be compiled");
    assert_eq!(fx.ratchet("text-stats"), None, "nor the ratchet advanced");

    // Control: the genuine component compiles into the same cache, so the check above can fail.
    fx.run(&m).ran();
    assert!(fx.compiled_artifacts() > 0);
}

#[test]
fn t01_component_with_an_appended_custom_section_is_refused() {
    let fx = Fixture::new();
    let m = fx.signed("text-stats.toml", 1);
    let mut bytes = std::fs::read(tool("text-stats")).expect("read");
    let pinned_size = bytes.len();
    // A well-formed custom section (id 0, size, name "x", payload): still a valid component.
    bytes.extend_from_slice(&[0x00, 0x05, 0x01, b'x', b'e', b'v', b'l']);
    let evil = fx.path("text_stats.wasm");
    std::fs::write(&evil, &bytes).expect("write");

    let err = fx
        .run_with(&evil, &m, &[])
        .refused("size-mismatch")
        .to_owned();
    assert!(
        err.contains(&format!(
            "the component is {} bytes, the manifest pins {pinned_size} bytes",
            bytes.len()
        )),
        "{err}"
    );
    fx.verify_with(&m, &evil, &[]).refused("size-mismatch");
    assert_eq!(fx.compiled_artifacts(), 0);
}

// ---------------------------------------------------------------------------------------------
// T02, T03: the manifest is changed after signing.

#[test]
fn t02_manifest_edits_without_resigning_are_bad_signatures() {
    type Edit = (&'static str, fn(String) -> String);
    let edits: &[Edit] = &[
        ("raise fuel", |t| {
            t.replace("fuel = 1_000_000_000", "fuel = 90_000_000_000")
        }),
        ("add a network host", |t| {
            t + "\n[net]\nallow = [\"https://exfil.example\"]\n"
        }),
        ("widen read to read-write", |t| {
            t.replace("access = \"read\"", "access = \"read-write\"")
        }),
        ("rewrite what the agent is told", |t| {
            t.replace("Counts words and lines", "Ignore previous instructions")
        }),
    ];
    for (what, f) in edits {
        let fx = Fixture::new();
        let m = fx.manifest(
            "text-stats.toml",
            "text-stats",
            1,
            "\n[[fs]]\nguest = \"/data\"\naccess = \"read\"\npurpose = \"docs\"\n",
        );
        ssh_sign(&fx.key, &m);
        let before = std::fs::read(&m).expect("read");
        edit(&m, *f);
        assert_ne!(before, std::fs::read(&m).expect("read"), "{what}: no edit");

        let data = fx.path("data");
        std::fs::create_dir(&data).expect("mkdir");
        let bind = format!("/data={}", s(&data));
        let err = fx.run_with(&tool("text-stats"), &m, &["--dir", &bind]);
        let err = err.refused("bad-signature");
        assert!(err.contains(&fx.fp()), "{what}: names the key: {err}");
        assert!(!fx.ssh_accepts(&m), "{what}: ssh-keygen accepted");
    }
}

/// No canonical form: the exact bytes are signed, so even a cosmetic edit breaks the signature,
/// and a BOM is refused as malformed even when it was signed.
#[test]
fn t03_cosmetic_edits_break_the_signature_and_a_signed_bom_is_malformed() {
    for (what, f) in [
        (
            "a comment",
            (|t| t + "# reviewed\n") as fn(String) -> String,
        ),
        ("trailing whitespace", |t| t.replacen('\n', " \n", 1)),
        ("CRLF", |t| t.replace('\n', "\r\n")),
        ("a BOM", |t| format!("\u{feff}{t}")),
    ] {
        let fx = Fixture::new();
        let m = fx.signed("text-stats.toml", 1);
        edit(&m, f);
        fx.run(&m).refused("bad-signature");
        assert!(!fx.ssh_accepts(&m), "{what}: ssh-keygen accepted");
    }

    // Signed with the BOM in place: the signature is good (ssh-keygen agrees), the manifest is not.
    let fx = Fixture::new();
    let m = fx.manifest("text-stats.toml", "text-stats", 1, "");
    edit(&m, |t| format!("\u{feff}{t}"));
    ssh_sign(&fx.key, &m);
    assert!(fx.ssh_accepts(&m));
    let err = fx.run(&m);
    assert!(
        err.refused("malformed-manifest")
            .contains("byte order mark")
    );
    // And `wasmgov sign` refuses to sign what no verifier would accept.
    let out = Out::of(
        wasmgov()
            .args(["sign", "--key", s(&fx.key), s(&m)])
            .output()
            .expect("wasmgov sign"),
    );
    out.refused("malformed-manifest");
}

// ---------------------------------------------------------------------------------------------
// T04, T05: who signed.

#[test]
fn t04_valid_signature_by_a_key_not_in_allowed_signers_is_unknown_signer() {
    let fx = Fixture::new();
    let m = fx.manifest("text-stats.toml", "text-stats", 1, "");
    let stranger = ssh_keygen(fx.dir.path(), "stranger", "ed25519");
    ssh_sign(&stranger, &m);
    let err = fx.run(&m);
    let err = err.refused("unknown-signer");
    assert!(err.contains(&fingerprint(&stranger)), "{err}");
    assert!(!err.contains(&fx.fp()), "{err}");
    assert!(!fx.ssh_accepts(&m));
}

#[test]
fn t05_revocation_beats_allowed_signers() {
    let fx = Fixture::new();
    let m = fx.signed("text-stats.toml", 1);
    let revoked = fx.path("revoked_keys");
    std::fs::write(&revoked, public_key(&fx.key) + "\n").expect("write");
    // Still listed in allowed_signers, and the signature itself is good.
    assert!(fx.ssh_accepts(&m));

    let out = fx.run_with(&tool("text-stats"), &m, &["--revoked", s(&revoked)]);
    assert!(out.refused("revoked-key").contains(&fx.fp()));
    fx.verify_with(&m, &tool("text-stats"), &["--revoked", s(&revoked)])
        .refused("revoked-key");
    assert!(!ssh_verify(&fx.trust, Some(&revoked), PUBLISHER, &m));
    assert_eq!(fx.ratchet("text-stats"), None);
}

// ---------------------------------------------------------------------------------------------
// T06: time. (The manifest schema has no `issued-at`, so there is no "from the future" case.)

#[test]
fn t06_key_past_its_valid_before_is_expired() {
    let fx = Fixture::new();
    let m = fx.signed("text-stats.toml", 1);
    fx.trust_key(&fx.key, PUBLISHER, ",valid-before=\"20200101\"");
    let out = fx.run(&m);
    let err = out.refused("key-expired");
    assert!(err.contains(&fx.fp()), "{err}");
    assert!(err.contains("valid-before 2020-01-01T00:00:00Z"), "{err}");
    assert!(!fx.ssh_accepts(&m));
}

#[test]
fn t06_key_before_its_valid_after_is_not_yet_valid() {
    let fx = Fixture::new();
    let m = fx.signed("text-stats.toml", 1);
    fx.trust_key(&fx.key, PUBLISHER, ",valid-after=\"20990101\"");
    let out = fx.run(&m);
    let err = out.refused("key-not-yet-valid");
    assert!(err.contains(&fx.fp()), "{err}");
    assert!(err.contains("valid-after 2099-01-01T00:00:00Z"), "{err}");
    assert!(!fx.ssh_accepts(&m));
}

#[test]
fn t06_key_inside_its_window_is_accepted() {
    let fx = Fixture::new();
    let m = fx.signed("text-stats.toml", 1);
    fx.trust_key(
        &fx.key,
        PUBLISHER,
        ",valid-after=\"20200101\",valid-before=\"20990101\"",
    );
    assert!(fx.ssh_accepts(&m));
    fx.run(&m).ran();
}

#[test]
fn t06_manifest_past_its_expires_is_refused() {
    let fx = Fixture::new();
    let m = fx.manifest("text-stats.toml", "text-stats", 1, "");
    edit(&m, |t| {
        t.replace(
            "sequence = 1\n",
            "sequence = 1\nexpires = \"2021-06-01T00:00:00Z\"\n",
        )
    });
    ssh_sign(&fx.key, &m);
    // The signature is fine; expiry is a manifest field only wasmgov reads.
    assert!(fx.ssh_accepts(&m));
    let out = fx.run(&m);
    let err = out.refused("manifest-expired");
    assert!(err.contains("text-stats@1.0.0"), "{err}");
    assert!(err.contains("2021-06-01T00:00:00Z"), "{err}");

    edit(&m, |t| t.replace("2021-06-01", "2099-06-01"));
    ssh_sign(&fx.key, &m);
    fx.run(&m).ran();
}

// ---------------------------------------------------------------------------------------------
// T07: cross-protocol and algorithm confusion.

#[test]
fn t07_trusted_key_signing_in_another_namespace_is_refused() {
    for ns in ["git", "file"] {
        let fx = Fixture::new();
        let m = fx.manifest("text-stats.toml", "text-stats", 1, "");
        ssh_sign_ns(&fx.key, &m, ns);
        let out = fx.run(&m);
        let err = out.refused("namespace-mismatch");
        assert!(err.contains(&format!("namespace `{ns}`")), "{err}");
        assert!(err.contains(&fx.fp()), "{err}");
        assert!(!fx.ssh_accepts(&m), "{ns}");
    }
}

/// The namespace is inside the signed data: relabelling a signature made for another
/// namespace does not make it a manifest signature.
#[test]
fn t07_relabelled_namespace_does_not_verify() {
    let fx = Fixture::new();
    let m = fx.manifest("text-stats.toml", "text-stats", 1, "");
    ssh_sign_ns(&fx.key, &m, "wasmgov-manifest-v2");
    let mut blob = sig_blob(&sig_path(&m));
    replace_bytes(&mut blob, b"wasmgov-manifest-v2", b"wasmgov-manifest-v1");
    write_sig_blob(&sig_path(&m), &blob);

    assert!(fx.run(&m).refused("bad-signature").contains(&fx.fp()));
    assert!(!fx.ssh_accepts(&m));
}

#[test]
fn t07_unsupported_sshsig_version_is_malformed() {
    let fx = Fixture::new();
    let m = fx.signed("text-stats.toml", 1);
    let mut blob = sig_blob(&sig_path(&m));
    // "SSHSIG" then the version as a big-endian u32.
    assert_eq!(&blob[..10], b"SSHSIG\0\0\0\x01");
    blob[9] = 2;
    write_sig_blob(&sig_path(&m), &blob);
    let out = fx.run(&m);
    assert!(out.refused("malformed-signature").contains("version"));
    assert!(!fx.ssh_accepts(&m));
}

/// Only Ed25519 signs manifests, even when the operator listed an RSA or ECDSA key. Here wasmgov
/// is deliberately stricter than OpenSSH, which accepts those keys.
#[test]
fn t07_rsa_and_ecdsa_keys_are_unsupported_even_when_trusted() {
    for kind in ["rsa", "ecdsa"] {
        let fx = Fixture::new();
        let key = ssh_keygen(fx.dir.path(), kind, kind);
        fx.trust_key(&key, PUBLISHER, "");
        let m = fx.manifest("text-stats.toml", "text-stats", 1, "");
        ssh_sign(&key, &m);
        assert!(fx.ssh_accepts(&m), "{kind}: OpenSSH accepts it");
        let out = fx.run(&m);
        let err = out.refused("unsupported-key-type");
        assert!(err.contains(&fingerprint(&key)), "{err}");
        assert!(err.contains("only ssh-ed25519"), "{err}");
    }
}

// ---------------------------------------------------------------------------------------------
// T08: the key is trusted, but not for this publisher or this tool.

#[test]
fn t08_trusted_key_of_another_principal_may_not_sign_for_the_publisher() {
    let fx = Fixture::new();
    let m = fx.signed("text-stats.toml", 1);
    fx.trust_key(&fx.key, "mallory@evil.example", "");
    let out = fx.run(&m);
    let err = out.refused("signer-not-authorized");
    assert!(err.contains(&fx.fp()), "{err}");
    assert!(err.contains(&format!("publisher `{PUBLISHER}`")), "{err}");
    assert!(err.contains("mallory@evil.example"), "{err}");
    assert!(!fx.ssh_accepts(&m));
}

#[test]
fn t08_publisher_may_only_sign_the_tool_names_the_policy_gives_it() {
    let fx = Fixture::new();
    let m = fx.signed("text-stats.toml", 1);
    std::fs::write(
        &fx.policy,
        format!("[[publishers]]\nprincipal = \"{PUBLISHER}\"\ntools = [\"json-*\"]\n"),
    )
    .expect("write policy");
    let out = fx.run(&m);
    let err = out.refused("signer-not-authorized");
    assert!(
        err.contains(&format!(
            "the policy does not let `{PUBLISHER}` sign the tool `text-stats`"
        )),
        "{err}"
    );
    assert!(err.contains(&fx.fp()), "{err}");
    // The signature and the principal are fine: this is the operator's policy speaking.
    assert!(fx.ssh_accepts(&m));
}

// ---------------------------------------------------------------------------------------------
// T09, T10: the ratchet, and swaps.

#[test]
fn t09_older_release_after_a_newer_one_is_rollback_and_the_ratchet_stays() {
    let fx = Fixture::new();
    let new = fx.signed("new.toml", 7);
    let old = fx.signed("old.toml", 5);
    fx.run(&new).ran();
    let after_new = fx.ratchet("text-stats").expect("ratchet entry");
    assert_eq!(after_new.0, 7);

    let out = fx.run(&old);
    let err = out.refused("rollback");
    assert!(err.contains("sequence 5"), "{err}");
    assert!(err.contains("sequence 7"), "{err}");
    assert!(err.contains(&fx.fp()), "{err}");
    assert_eq!(fx.ratchet("text-stats"), Some(after_new));
    // It is a valid signature; only the ratchet knows it is old.
    assert!(fx.ssh_accepts(&old));
    assert_eq!(
        fx.verify(&old).code,
        0,
        "verify does not consult the ratchet"
    );
}

/// Finding 3: during a key rotation both keys are trusted; an old release the old key signed is
/// still older than what the new key published, and a same-sequence manifest is equivocation
/// whoever signed it.
#[test]
fn t09_rollback_across_rotated_keys_is_refused() {
    let fx = Fixture::new();
    let rotated = ssh_keygen(fx.dir.path(), "rotated", "ed25519");
    std::fs::write(
        &fx.trust,
        format!(
            "{PUBLISHER} namespaces=\"{NAMESPACE}\" {}\n{PUBLISHER} namespaces=\"{NAMESPACE}\" {}\n",
            public_key(&fx.key),
            public_key(&rotated)
        ),
    )
    .expect("write allowed_signers");
    let v5 = fx.signed("v5.toml", 5);
    let v3 = fx.signed("v3.toml", 3);
    fx.run(&v5).ran();
    let v7 = fx.manifest("v7.toml", "text-stats", 7, "");
    ssh_sign(&rotated, &v7);
    fx.run(&v7).ran();
    let after = fx.ratchet("text-stats").expect("ratchet entry");
    assert_eq!(after.0, 7);
    // The old key's releases, 5 (seen before) and 3 (never seen), are both rollback now.
    for old in [&v5, &v3] {
        let out = fx.run(old);
        let err = out.refused("rollback");
        assert!(err.contains("older than sequence 7"), "{err}");
        assert!(
            err.contains(&fingerprint(&rotated)),
            "names who signed 7: {err}"
        );
    }
    // Sequence 7 again with other bytes, from the old key: equivocation.
    let other7 = fx.manifest("other7.toml", "text-stats", 7, "");
    edit(&other7, |t| {
        t.replace("Counts words and lines", "Counts words")
    });
    ssh_sign(&fx.key, &other7);
    let err = fx.run(&other7).refused("equivocation").to_owned();
    assert!(err.contains(&after.1), "{err}");
    assert_eq!(fx.ratchet("text-stats"), Some(after));
}

/// The policy's `[[min-sequence]]` floor refuses older releases on a replica with no state.
#[test]
fn t09_policy_min_sequence_is_a_floor_without_state() {
    let fx = Fixture::new();
    std::fs::write(
        &fx.policy,
        format!("{POLICY}\n[[min-sequence]]\ntool = \"text-stats\"\nsequence = 6\n"),
    )
    .expect("policy");
    let v5 = fx.signed("v5.toml", 5);
    let out = fx.run(&v5);
    let err = out.refused("rollback");
    assert!(
        err.contains(
            "sequence 5 is older than sequence 6, the floor set by min-sequence[0] of policy"
        ),
        "{err}"
    );
    assert!(err.contains(s(&fx.policy)), "names the policy file: {err}");
    assert_eq!(fx.ratchet("text-stats"), None, "the ratchet did not move");
    // verify and explain see the floor too; the floor itself runs.
    assert_eq!(fx.verify(&v5).code, 3);
    let ex = Out::of(
        wasmgov()
            .args(["explain", s(&v5), "--policy", s(&fx.policy)])
            .output()
            .expect("explain"),
    );
    assert!(ex.stderr.contains("error[rollback]"), "{ex:?}");
    let v6 = fx.signed("v6.toml", 6);
    fx.run(&v6).ran();
}

#[test]
fn t10_same_sequence_with_other_bytes_is_equivocation() {
    let fx = Fixture::new();
    let first = fx.signed("first.toml", 7);
    fx.run(&first).ran();
    let accepted = fx.ratchet("text-stats").expect("ratchet entry");
    assert_eq!(
        accepted.1,
        sha256_hex(&std::fs::read(&first).expect("read"))
    );

    let second = fx.manifest("second.toml", "text-stats", 7, "");
    edit(&second, |t| {
        t.replace("Counts words and lines", "Counts words")
    });
    ssh_sign(&fx.key, &second);
    let out = fx.run(&second);
    let err = out.refused("equivocation");
    assert!(
        err.contains(&accepted.1),
        "names the accepted digest: {err}"
    );
    let second_digest = sha256_hex(&std::fs::read(&second).expect("read"));
    assert!(err.contains(&second_digest), "names the new digest: {err}");
    assert_eq!(fx.ratchet("text-stats"), Some(accepted));
}

/// Signing the same bytes again is not equivocation: the ratchet keys on the manifest's sha256,
/// not on the signature. (Ed25519 is deterministic, so `wasmgov sign` reproduces ssh-keygen's
/// signature exactly; a SHA-256 SSHSIG over the same bytes is a different signature.)
#[test]
fn t10_re_signing_identical_bytes_is_not_equivocation() {
    let fx = Fixture::new();
    let m = fx.signed("text-stats.toml", 3);
    fx.run(&m).ran();
    let first_sig = std::fs::read(sig_path(&m)).expect("sig");

    wasmgov_sign(&fx.key, &m);
    assert_eq!(first_sig, std::fs::read(sig_path(&m)).expect("sig"));
    fx.run(&m).ran();

    let _ = std::fs::remove_file(sig_path(&m));
    let st = Command::new("ssh-keygen")
        .args([
            "-q",
            "-Y",
            "sign",
            "-n",
            NAMESPACE,
            "-O",
            "hashalg=sha256",
            "-f",
        ])
        .arg(&fx.key)
        .arg(&m)
        .status()
        .expect("ssh-keygen -Y sign");
    assert!(st.success());
    assert_ne!(first_sig, std::fs::read(sig_path(&m)).expect("sig"));
    fx.run(&m).ran();
    assert_eq!(fx.ratchet("text-stats").map(|r| r.0), Some(3));
}

#[test]
fn t10_manifest_of_one_tool_with_the_component_of_another_is_refused() {
    let fx = Fixture::new();
    let m = fx.signed("text-stats.toml", 1);
    let other = tool("json-query");
    let (a, b) = (
        std::fs::metadata(tool("text-stats")).expect("meta").len(),
        std::fs::metadata(&other).expect("meta").len(),
    );
    assert_ne!(a, b, "the swap is caught by size first");
    let out = fx.run_with(&other, &m, &[]);
    assert!(out.refused("size-mismatch").contains(&format!(
        "the component is {b} bytes, the manifest pins {a} bytes"
    )));
    assert_eq!(fx.compiled_artifacts(), 0);
}

/// Tool A's package installed under B's file names: the identity is the signed `name`, so the
/// policy and the ratchet see `text-stats`, whatever the files are called.
#[test]
fn t10_package_installed_under_another_name_keeps_its_signed_name() {
    let fx = Fixture::new();
    let m = fx.signed("text-stats.toml", 1);
    // json_query.wasm + json_query.toml beside it: the convention `run` follows.
    let wasm = fx.path("json_query.wasm");
    std::fs::copy(tool("text-stats"), &wasm).expect("copy");
    std::fs::copy(&m, fx.path("json_query.toml")).expect("copy");
    std::fs::copy(sig_path(&m), fx.path("json_query.toml.sig")).expect("copy");
    let run_beside = || {
        let mut c = wasmgov();
        c.args(["run", s(&wasm), "--input", INPUT])
            .args(["--trust", s(&fx.trust), "--policy", s(&fx.policy)])
            .args(["--state", s(&fx.state)]);
        Out::of(c.output().expect("wasmgov run"))
    };

    // A policy that lets the publisher sign json-query only.
    std::fs::write(
        &fx.policy,
        format!("[[publishers]]\nprincipal = \"{PUBLISHER}\"\ntools = [\"json-query\"]\n"),
    )
    .expect("write policy");
    let out = run_beside();
    assert!(
        out.refused("signer-not-authorized")
            .contains("`text-stats`")
    );

    // Under the usual policy it runs, and the ratchet records it as text-stats.
    std::fs::write(&fx.policy, POLICY).expect("write policy");
    assert_eq!(run_beside().ran()["words"], 5);
    assert_eq!(fx.ratchet("text-stats").map(|r| r.0), Some(1));
    assert_eq!(fx.ratchet("json-query"), None);
}

// ---------------------------------------------------------------------------------------------
// T11: more than the operator allows.

#[test]
fn t11_manifest_asking_more_than_the_policy_is_refused_whole_naming_every_field() {
    let fx = Fixture::new();
    let docs = fx.path("docs");
    std::fs::create_dir(&docs).expect("mkdir");
    std::fs::write(
        &fx.policy,
        format!(
            r#"
[limits]
fuel = 2_000_000_000
memory = "64 MiB"

[[publishers]]
principal = "{PUBLISHER}"
tools = ["text-stats"]

[net]
allow = ["https://api.example.com"]

[env]
vars = ["LANG"]

[[binds]]
tools = ["text-stats"]
guest = "/data"
host = "{}"
access = "read"
"#,
            s(&docs)
        ),
    )
    .expect("write policy");
    let m = fx.manifest(
        "text-stats.toml",
        "text-stats",
        1,
        r#"
[[fs]]
guest = "/data"
access = "read-write"
purpose = "documents"

[[fs]]
guest = "/home"
access = "read"
purpose = "not in the operator's map"

[net]
allow = ["https://*.evil.example", "https://api.example.com"]

[env]
vars = ["AWS_SECRET_ACCESS_KEY"]

[[secrets]]
name = "API_TOKEN"
host = "https://api.example.com"
header = "Authorization"
format = "Bearer {}"
"#,
    );
    edit(&m, |t| {
        t.replace("fuel = 1_000_000_000", "fuel = 9_000_000_000")
            .replace("memory = \"32 MiB\"", "memory = \"1 GiB\"")
    });
    ssh_sign(&fx.key, &m);

    let out = fx.run(&m);
    let err = out.refused("policy");
    for field in [
        "limits.fuel: asks 9000000000, the policy allows at most 2000000000",
        "limits.memory: asks 1.0 GiB, the policy allows at most 64.0 MiB",
        "fs[0] (/data): asks read-write, but the policy binds it read-only",
        "fs[1] (/home): no bind",
        "net.allow[0]: `https://*.evil.example:443` is not covered",
        "env.vars[0]: `AWS_SECRET_ACCESS_KEY` is not in the policy's [env] vars",
        "secrets[0] (API_TOKEN): no source",
    ] {
        assert!(
            err.contains(&format!("  - {field}")),
            "missing `{field}`:\n{err}"
        );
    }
    // What is within the policy is not listed.
    assert!(!err.contains("net.allow[1]"), "{err}");
    assert_eq!(fx.ratchet("text-stats"), None);
    assert_eq!(fx.compiled_artifacts(), 0);

    // `explain` gives the same verdict without a signature or state.
    let ex = Out::of(
        wasmgov()
            .args(["explain", s(&m), "--policy", s(&fx.policy)])
            .output()
            .expect("explain"),
    );
    assert_eq!(ex.stderr, out.stderr);
}

// ---------------------------------------------------------------------------------------------
// T12: malformed input is refused by kind, never a panic. (Exact texts: tests/ui.)

#[test]
fn t12_malformed_manifests_are_refused_even_when_validly_signed() {
    fn append(mut m: Vec<u8>, tail: &[u8]) -> Vec<u8> {
        m.extend_from_slice(tail);
        m
    }
    type Case = (&'static str, fn(Vec<u8>) -> Vec<u8>, &'static str);
    let cases: &[Case] = &[
        (
            "unknown field",
            |m| append(m, b"\n[netwrok]\nallow = []\n"),
            "unknown field `netwrok`",
        ),
        (
            "duplicate key",
            |m| append(m, b"\n[limits]\nfuel = 1\n"),
            "duplicate key",
        ),
        (
            "over 64 KiB",
            |m| append(m, format!("# {}\n", "x".repeat(70_000)).as_bytes()),
            "over the limit of 65536 bytes",
        ),
        (
            "invalid UTF-8",
            |m| append(m, b"# \xff\xfe\n"),
            "not valid UTF-8",
        ),
    ];
    for (what, f, needle) in cases {
        let fx = Fixture::new();
        let m = fx.manifest("text-stats.toml", "text-stats", 1, "");
        std::fs::write(&m, f(std::fs::read(&m).expect("read"))).expect("write");
        ssh_sign(&fx.key, &m);
        assert!(fx.ssh_accepts(&m), "{what}: the signature itself is good");
        let out = fx.run(&m);
        assert!(
            out.refused("malformed-manifest").contains(needle),
            "{what}: {}",
            out.stderr
        );
    }
}

#[test]
fn t12_malformed_signatures_are_refused() {
    let fx = Fixture::new();
    let m = fx.signed("text-stats.toml", 1);
    let good = std::fs::read_to_string(sig_path(&m)).expect("sig");
    for (what, sig, needle) in [
        (
            "truncated PEM",
            good[..good.len() / 2].to_owned(),
            "truncated",
        ),
        (
            "garbage base64",
            "-----BEGIN SSH SIGNATURE-----\nU1NIU0lH!!!!\n-----END SSH SIGNATURE-----\n".to_owned(),
            "Base64",
        ),
        ("empty file", String::new(), "empty"),
        (
            "a public key instead",
            public_key(&fx.key),
            "not a signature file",
        ),
    ] {
        std::fs::write(sig_path(&m), sig).expect("write");
        let out = fx.run(&m);
        assert!(
            out.refused("malformed-signature").contains(needle),
            "{what}: {}",
            out.stderr
        );
        assert!(!fx.ssh_accepts(&m), "{what}");
    }
}

// ---------------------------------------------------------------------------------------------
// T13, T14, T15: the component itself, pinned and signed, is not one the host runs.

/// A signed manifest pinning `bytes` as the component of `name`, and the path of those bytes.
fn signed_component(fx: &Fixture, name: &str, bytes: &[u8]) -> (PathBuf, PathBuf) {
    let wasm = fx.path(&format!("{name}.wasm"));
    std::fs::write(&wasm, bytes).expect("write component");
    let m = fx.manifest_for(&format!("{name}.toml"), name, &wasm, 1, "");
    ssh_sign(&fx.key, &m);
    (m, wasm)
}

#[test]
fn t13_malformed_wasm_under_a_valid_pin_is_refused() {
    let good = std::fs::read(tool("text-stats")).expect("read");
    // A component header, then a section claiming to be 4 GiB long.
    let huge_section = b"\0asm\x0d\0\x01\0\x01\xff\xff\xff\xff\x0f".to_vec();
    let mut bad_type = good.clone();
    bad_type[8] = 0x7f; // the first section's id
    for (what, bytes, kind) in [
        ("bad magic", b"\x7fELF\x02\x01\x01\0".to_vec(), "not-wasm"),
        (
            "truncated",
            good[..good.len() / 3].to_vec(),
            "invalid-component",
        ),
        ("huge declared section", huge_section, "invalid-component"),
        ("unknown section id", bad_type, "invalid-component"),
    ] {
        let fx = Fixture::new();
        let (m, wasm) = signed_component(&fx, "not-wasm", &bytes);
        let started = std::time::Instant::now();
        let out = fx.run_with(&wasm, &m, &[]);
        out.refused(kind);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "{what}: took {:?}",
            started.elapsed()
        );
        // The package checks passed, so it is the wasm check that refused.
        assert_eq!(fx.verify_with(&m, &wasm, &[]).code, 0, "{what}");
    }
}

/// A small deterministic fuzz corpus (byte flips across the whole component): each load ends in
/// a result or a refusal, never a panic, in bounded time.
#[test]
fn t13_fuzzed_components_never_panic() {
    let good = std::fs::read(tool("json-query")).expect("read");
    let rt = crate::support::runtime();
    let mut seed: u64 = 0x5eed_1e55_0000_0013;
    let mut next = move || {
        // xorshift64*
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        seed.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let mut refused = 0;
    for _ in 0..24 {
        let mut bytes = good.clone();
        for _ in 0..1 + next() % 4 {
            let at = (next() as usize) % bytes.len();
            bytes[at] = next() as u8;
        }
        if next() % 4 == 0 {
            bytes.truncate((next() as usize) % bytes.len());
        }
        let started = std::time::Instant::now();
        if rt
            .load_component(&bytes, wasmgov::Limits::default())
            .is_err()
        {
            refused += 1;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(60));
    }
    assert!(refused > 0, "the corpus must contain refusals");
}

#[test]
fn t14_core_module_under_a_valid_pin_is_not_a_component() {
    let fx = Fixture::new();
    let module = wat::parse_str("(module (func (export \"_start\")))").expect("wat");
    assert_eq!(&module[..8], b"\0asm\x01\0\0\0");
    let (m, wasm) = signed_component(&fx, "not-wasm", &module);
    let out = fx.run_with(&wasm, &m, &[]);
    assert!(
        out.refused("not-a-component")
            .contains("core WebAssembly module")
    );
    assert_eq!(fx.compiled_artifacts(), 0);
}

/// Imports the host does not know are refused at load, all of them named, never stubbed with
/// traps. (By DESIGN.md the host links every WASI 0.2 interface and decides each call by the
/// grant, so a WASI import without a grant loads and its calls are denied: see the fs and net
/// tests.)
#[test]
fn t15_unknown_imports_are_refused_before_instantiation_all_named() {
    let fx = Fixture::new();
    let c = wat::parse_str(
        r#"(component
            (import "evil:host/exec@1.0.0" (instance (export "run" (func))))
            (import "acme:kernel/ptrace@0.1.0" (instance))
        )"#,
    )
    .expect("wat");
    let (m, wasm) = signed_component(&fx, "not-wasm", &c);
    let out = fx.run_with(&wasm, &m, &[]);
    let err = out.refused("unsupported-imports");
    assert!(err.contains("evil:host/exec@1.0.0"), "{err}");
    assert!(err.contains("acme:kernel/ptrace@0.1.0"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Unsigned manifests.

#[test]
fn unsigned_manifest_is_refused_unless_the_operator_allows_it_loudly() {
    let fx = Fixture::new();
    let m = fx.manifest("text-stats.toml", "text-stats", 1, "");
    let out = fx.run(&m);
    let err = out.refused("unsigned");
    assert!(
        err.contains(s(&sig_path(&m))),
        "names the missing .sig: {err}"
    );
    fx.verify(&m).refused("unsigned");

    let out = fx.run_with(&tool("text-stats"), &m, &["--allow-unsigned"]);
    assert_eq!(out.ran()["words"], 5);
    assert!(out.stderr.contains("UNSIGNED"), "{}", out.stderr);
}
