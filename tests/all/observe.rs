//! Learning mode and `wasmgov suggest`: real runs of `grep-files` and `fetch-url` with empty
//! grants under `--observe`, the suggestion made from their audit log, and the suggested
//! manifest (re-signed) and policy additions then running the tools — and granting no more than
//! what was used. Observe mode itself grants nothing.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::caps::{Server, TEST_PUBLISHER, test_key};
use crate::support::{s, tool, wasmgov};

struct Lab {
    dir: tempfile::TempDir,
    trust: PathBuf,
    state: PathBuf,
}

impl Lab {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let public = std::fs::read_to_string(format!("{}.pub", test_key().display())).expect("pub");
        let trust = dir.path().join("allowed_signers");
        std::fs::write(
            &trust,
            format!(
                "{TEST_PUBLISHER} namespaces=\"{}\" {}\n",
                wasmgov::signature::NAMESPACE,
                public.trim()
            ),
        )
        .expect("trust");
        let state = dir.path().join("state");
        Self { dir, trust, state }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Write `policy.toml`: this publisher may sign `name`, plus `extra`.
    fn policy(&self, name: &str, extra: &str) -> PathBuf {
        let p = self.path("policy.toml");
        std::fs::write(
            &p,
            format!("[[publishers]]\nprincipal = \"{TEST_PUBLISHER}\"\ntools = [\"{name}\"]\n\n{extra}\n"),
        )
        .expect("policy");
        p
    }

    /// Package `name` of example `component` with manifest `text` (pinned here), signed.
    fn package(&self, name: &str, component: &str, text: &str) -> PathBuf {
        let bytes = std::fs::read(tool(component)).expect("component");
        let wasm = self.path(&format!("{name}.wasm"));
        std::fs::write(&wasm, &bytes).expect("wasm");
        self.sign(name, text);
        wasm
    }

    /// The example tool `name` under its own name with a manifest that asks for nothing, a
    /// policy that lets the test publisher sign it, and where its audit log goes:
    /// `(policy, wasm, log)`.
    fn empty_grant(&self, name: &str) -> (PathBuf, PathBuf, PathBuf) {
        let policy = self.policy(name, "");
        let wasm = self.package(name, name, &manifest(name, name, 1));
        (policy, wasm, self.path("audit.jsonl"))
    }

    fn sign(&self, name: &str, text: &str) {
        let key = wasmgov::signature::load_private_key(test_key()).expect("key");
        let sig = wasmgov::signature::sign(&key, text.as_bytes()).expect("sign");
        std::fs::write(self.path(&format!("{name}.toml")), text).expect("toml");
        std::fs::write(self.path(&format!("{name}.toml.sig")), sig).expect("sig");
    }

    fn run(&self, wasm: &Path, policy: &Path, log: &Path, extra: &[&str]) -> (i32, String, String) {
        let out = wasmgov()
            .args([
                "run",
                s(wasm),
                "--trust",
                s(&self.trust),
                "--policy",
                s(policy),
            ])
            .args(["--state", s(&self.state), "--audit", s(log)])
            .args(extra)
            .output()
            .expect("run");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn suggest(&self, log: &Path, name: &str) -> Value {
        let out = wasmgov()
            .args(["suggest", "--audit", s(log), name, "--json"])
            .args(["--manifest", s(&self.path(&format!("{name}.toml")))])
            .output()
            .expect("suggest");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("json")
    }
}

fn manifest(name: &str, component: &str, sequence: u64) -> String {
    let bytes = std::fs::read(tool(component)).expect("component");
    format!(
        "schema = 1\n\n[tool]\nname = \"{name}\"\nversion = \"1.0.0\"\npublisher = \"{TEST_PUBLISHER}\"\n\
         description = \"observed\"\nsequence = {sequence}\n\n[component]\nsha256 = \"{}\"\nsize = {}\n",
        wasmgov::names::Sha256Digest::of(&bytes),
        bytes.len()
    )
}

#[test]
fn grep_files_learns_one_read_only_directory_and_then_runs() {
    let lab = Lab::new();
    let docs = lab.path("docs");
    std::fs::create_dir_all(docs.join("sub")).expect("docs");
    std::fs::write(docs.join("a.txt"), "nothing\nneedle here\n").expect("a");
    std::fs::write(docs.join("sub/b.txt"), "another needle\n").expect("b");
    let (policy, wasm, log) = lab.empty_grant("grep-files");
    let input = ["--input", "{\"pattern\":\"needle\"}"];

    // Empty grant, observed: the tool is refused /data and says so; the log says what it needed.
    let (code, _, err) = lab.run(&wasm, &policy, &log, &[&input[..], &["--observe"]].concat());
    assert_eq!(code, 1, "{err}");
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(text.contains("\"needs\":\"fs read /data\""), "{text}");
    assert!(
        text.contains("\"observe\":true"),
        "the load says it was observed"
    );

    let sug = lab.suggest(&log, "grep-files");
    assert_eq!(sug["observed_calls"], 1);
    assert_eq!(
        sug["fs"],
        serde_json::json!([{"guest": "/data", "access": "read", "because": ["fs read /data"]}]),
        "one read-only directory, nothing wider: {sug:#}"
    );
    assert_eq!(sug["net"], serde_json::json!([]));
    let diff = sug["diff"].as_str().expect("diff");
    assert!(
        diff.contains("+guest = \"/data\"") && diff.contains("+sequence = 2"),
        "{diff}"
    );

    // The publisher re-signs the suggestion; the operator binds /data per call.
    lab.sign(
        "grep-files",
        sug["manifest_after"].as_str().expect("manifest"),
    );
    let dir = format!("/data={}:read", docs.display());
    let (code, out, err) = lab.run(
        &wasm,
        &policy,
        &log,
        &[&input[..], &["--dir", &dir]].concat(),
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).expect("result");
    assert_eq!(v["matches"].as_array().map(Vec::len), Some(2), "{v}");

    // The host's own files stay out of reach in observe mode: refused, not read.
    let (code, out, _) = lab.run(
        &wasm,
        &policy,
        &log,
        &[
            "--input",
            "{\"pattern\":\"root\",\"root\":\"/etc\"}",
            "--dir",
            &dir,
            "--observe",
        ],
    );
    assert_eq!(code, 1, "/etc stays out of reach, observed or not");
    assert!(!out.contains("root:"), "{out}");
    let again = lab.suggest(&log, "grep-files");
    assert_eq!(again["fs"][0]["guest"], "/data", "{again:#}");
    assert_eq!(
        again["fs"][1]["guest"], "/etc",
        "observed again: a new need is named, never granted"
    );
}

#[test]
fn fetch_url_learns_one_exact_origin_and_a_one_address_private_range() {
    let lab = Lab::new();
    let server = Server::start();
    let (policy, wasm, log) = lab.empty_grant("fetch-url");
    let input = format!("{{\"url\":\"{}/hello\"}}", server.url());
    let (code, _, err) = lab.run(&wasm, &policy, &log, &["--input", &input, "--observe"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        server.connections(),
        0,
        "observe mode connects nowhere it was not granted"
    );

    let sug = lab.suggest(&log, "fetch-url");
    let origin = server.url();
    assert_eq!(sug["net"], serde_json::json!([origin]), "{sug:#}");
    assert_eq!(sug["policy_net"], serde_json::json!([origin]));
    assert_eq!(sug["policy_private"], serde_json::json!(["127.0.0.1/32"]));
    assert_eq!(sug["fs"], serde_json::json!([]));

    // The operator's additions, the publisher's re-signed manifest: it runs.
    let policy = lab.policy(
        "fetch-url",
        &format!(
            "[net]\nallow = [\"{origin}\"]\n\n{}",
            sug["policy_additions"].as_str().expect("additions")
        ),
    );
    lab.sign(
        "fetch-url",
        sug["manifest_after"].as_str().expect("manifest"),
    );
    let ran = lab.path("ran.jsonl");
    let (code, out, err) = lab.run(&wasm, &policy, &ran, &["--input", &input]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("hello"), "{out}");
    // Its own log asks for nothing more and nothing less: no new release.
    let settled = lab.suggest(&ran, "fetch-url");
    assert_eq!(settled["diff"], "", "{settled:#}");
    assert_eq!(settled["net"], serde_json::json!([origin]));
    // No wider: another port of the same host is still refused.
    let other = format!(
        "{{\"url\":\"http://127.0.0.1:{}/hello\"}}",
        server.port.wrapping_add(1)
    );
    let (code, _, _) = lab.run(&wasm, &policy, &log, &["--input", &other]);
    assert_eq!(code, 1);
}

#[test]
fn observe_mode_grants_nothing() {
    let lab = Lab::new();
    let (policy, wasm, log) = lab.empty_grant("write-note");
    let (code, out, err) = lab.run(
        &wasm,
        &policy,
        &log,
        &[
            "--input",
            "{\"file\":\"x.txt\",\"text\":\"hi\"}",
            "--observe",
        ],
    );
    assert_ne!(code, 0, "{out}{err}");
    // Its observation root stays empty, and the need is recorded as a write.
    let root = lab.state.join("observe-root");
    assert_eq!(std::fs::read_dir(&root).expect("root").count(), 0);
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(
        text.contains("\"needs\":\"fs write /notes/x.txt\""),
        "{text}"
    );
    let sug = lab.suggest(&log, "write-note");
    assert_eq!(sug["fs"][0]["guest"], "/notes");
    assert_eq!(sug["fs"][0]["access"], "read-write");
}

#[test]
fn a_hostile_path_is_shown_escaped() {
    let lab = Lab::new();
    let (policy, wasm, log) = lab.empty_grant("grep-files");
    let input = "{\"pattern\":\"x\",\"root\":\"/evil\\u001b[2J\"}";
    let (code, _, _) = lab.run(&wasm, &policy, &log, &["--input", input, "--observe"]);
    assert_eq!(code, 1);
    let out = wasmgov()
        .args(["suggest", "--audit", s(&log), "grep-files"])
        .args(["--manifest", s(&lab.path("grep-files.toml"))])
        .output()
        .expect("suggest");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains('\u{1b}'), "{text}");
    assert!(text.contains("/evil\\u{1b}[2J"), "{text}");
}

#[test]
fn suggest_refuses_what_it_cannot_judge() {
    let lab = Lab::new();
    let log = lab.path("audit.jsonl");
    std::fs::write(&log, "").expect("log");
    let out = wasmgov()
        .args(["suggest", "--audit", s(&log), "grep-files"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("records no call of `grep-files`"));
    let out = wasmgov()
        .args(["suggest", "--audit", s(&lab.path("missing.jsonl")), "x"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
}
