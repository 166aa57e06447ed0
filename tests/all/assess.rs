//! `wasmgov assess`: each rule fires on a package made to trip it and stays quiet on a clean one;
//! bad inputs are usage errors; `--fail-on` sets the exit code. (The SARIF output is validated
//! against the official schema by `scripts/test-assess`.)

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::caps::{TEST_PUBLISHER, test_key};
use crate::support::{s, tool, wasmgov};

/// A directory of packages, a trust store whose key line has `valid-before`, and a policy.
struct Bench {
    dir: tempfile::TempDir,
    tools: PathBuf,
    trust: PathBuf,
    policy: PathBuf,
}

/// Limits below every ceiling of [`policy`].
const LIMITS: &str =
    "[limits]\nfuel = 1_000_000_000\nmemory = \"32 MiB\"\ntimeout = \"5s\"\noutput = \"64 KiB\"\n";

impl Bench {
    fn new(policy_extra: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let tools = dir.path().join("tools");
        std::fs::create_dir(&tools).expect("mkdir");
        let public = std::fs::read_to_string(format!("{}.pub", test_key().display())).expect("pub");
        let trust = dir.path().join("allowed_signers");
        std::fs::write(
            &trust,
            format!(
                "{TEST_PUBLISHER} namespaces=\"{}\",valid-before=\"20991231\" {}\n",
                wasmgov::signature::NAMESPACE,
                public.trim()
            ),
        )
        .expect("trust");
        let policy = dir.path().join("policy.toml");
        std::fs::write(
            &policy,
            format!(
                "[limits]\nfuel = 4_000_000_000\nmemory = \"128 MiB\"\ntimeout = \"60s\"\noutput = \"4 MiB\"\n\n\
                 [[publishers]]\nprincipal = \"{TEST_PUBLISHER}\"\ntools = [\"clean\", \"netty\", \"writer\", \"tampered\", \"old-sdk\", \"banned\", \"loose\", \"keyed\"]\n\n{policy_extra}\n"
            ),
        )
        .expect("policy");
        Self {
            dir,
            tools,
            trust,
            policy,
        }
    }

    /// Package `name` of example `component` (bytes passed through `patch`), with `tool_extra`
    /// in [tool] and `extra` after [component]; signed unless `unsigned`.
    fn package(&self, name: &str, component: &str, tool_extra: &str, extra: &str) -> Vec<u8> {
        let bytes = std::fs::read(tool(component)).expect("component");
        self.package_bytes(name, &bytes, tool_extra, extra)
    }

    fn package_bytes(&self, name: &str, bytes: &[u8], tool_extra: &str, extra: &str) -> Vec<u8> {
        let text = format!(
            "schema = 1\n\n[tool]\nname = \"{name}\"\nversion = \"1.0.0\"\npublisher = \"{TEST_PUBLISHER}\"\n\
             description = \"a test tool\"\nsequence = 1\n{tool_extra}\n[component]\nsha256 = \"{}\"\nsize = {}\n\n{extra}",
            wasmgov::names::Sha256Digest::of(bytes),
            bytes.len(),
        );
        let key = wasmgov::signature::load_private_key(test_key()).expect("key");
        let sig = wasmgov::signature::sign(&key, text.as_bytes()).expect("sign");
        std::fs::write(self.tools.join(format!("{name}.wasm")), bytes).expect("wasm");
        std::fs::write(self.tools.join(format!("{name}.toml")), &text).expect("toml");
        std::fs::write(self.tools.join(format!("{name}.toml.sig")), sig).expect("sig");
        bytes.to_vec()
    }

    /// `wasmgov assess --format json` of `paths` with `extra` flags: (exit code, report).
    fn assess(&self, paths: &[&Path], extra: &[&str]) -> (i32, Value) {
        let mut cmd = wasmgov();
        cmd.arg("assess")
            .args(paths)
            .args(["--trust", s(&self.trust), "--policy", s(&self.policy)])
            .args(["--format", "json"])
            .args(extra);
        let out = cmd.output().expect("run");
        let code = out.status.code().unwrap_or(-1);
        let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {}\nstderr: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (code, report)
    }

    fn pkg(&self, name: &str) -> PathBuf {
        self.tools.join(format!("{name}.wasm"))
    }
}

/// The rule ids of the report's one tool.
fn rules(report: &Value) -> Vec<String> {
    let tools = report["tools"].as_array().expect("tools");
    assert_eq!(tools.len(), 1, "{report:#}");
    tools[0]["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["rule"].as_str().expect("rule").to_owned())
        .collect()
}

const EXPIRES: &str = "expires = \"2099-01-01T00:00:00Z\"\n";

#[test]
fn a_clean_package_has_no_finding() {
    let b = Bench::new("");
    b.package("clean", "text-stats", EXPIRES, LIMITS);
    let (code, r) = b.assess(&[&b.pkg("clean")], &["--fail-on", "info"]);
    assert_eq!(rules(&r), Vec::<String>::new(), "{r:#}");
    assert_eq!(code, 0);
    assert_eq!(r["tools"][0]["accepted"], true);
    assert!(r["runtime"].as_array().expect("runtime").is_empty());
    let reach = r["tools"][0]["reach"][0].as_str().expect("reach");
    assert!(reach.contains("pure compute"), "{reach}");
}

#[test]
fn hygiene_rules_fire_on_what_they_name() {
    let b = Bench::new("");
    // No expiry, limits left at the ceiling.
    b.package("clean", "text-stats", "", "");
    let (_, r) = b.assess(&[&b.pkg("clean")], &[]);
    let found = rules(&r);
    assert!(found.contains(&"hygiene-no-expiry".to_owned()), "{found:?}");
    assert!(
        found.contains(&"hygiene-limit-at-ceiling".to_owned()),
        "{found:?}"
    );
    assert!(
        !found.contains(&"hygiene-key-no-valid-before".to_owned()),
        "{found:?}"
    );

    // A trust line without valid-before.
    let public = std::fs::read_to_string(format!("{}.pub", test_key().display())).expect("pub");
    std::fs::write(
        &b.trust,
        format!(
            "{TEST_PUBLISHER} namespaces=\"{}\" {}\n",
            wasmgov::signature::NAMESPACE,
            public.trim()
        ),
    )
    .expect("trust");
    b.package("clean", "text-stats", EXPIRES, LIMITS);
    let (_, r) = b.assess(&[&b.pkg("clean")], &[]);
    assert_eq!(rules(&r), ["hygiene-key-no-valid-before"], "{r:#}");
    assert_eq!(r["tools"][0]["findings"][0]["line"], 1);
}

#[test]
fn unsigned_tampered_and_bare_packages() {
    let b = Bench::new("");
    b.package("clean", "text-stats", EXPIRES, LIMITS);
    std::fs::remove_file(b.tools.join("clean.toml.sig")).expect("rm sig");
    let (code, r) = b.assess(&[&b.pkg("clean")], &["--fail-on", "high"]);
    assert_eq!(rules(&r), ["hygiene-unsigned"], "{r:#}");
    assert_eq!(r["tools"][0]["accepted"], false);
    assert_eq!(code, 1, "--fail-on high with a high finding exits 1");

    // One flipped byte in the component: the pin no longer matches.
    let mut bytes = b.package("tampered", "text-stats", EXPIRES, LIMITS);
    let at = bytes.len() - 10;
    bytes[at] ^= 1;
    std::fs::write(b.pkg("tampered"), &bytes).expect("write");
    let (code, r) = b.assess(&[&b.pkg("tampered")], &["--fail-on", "critical"]);
    let found = rules(&r);
    assert_eq!(found, ["hygiene-refused"], "{r:#}");
    let msg = r["tools"][0]["findings"][0]["message"]
        .as_str()
        .expect("msg");
    assert!(msg.contains("digest-mismatch"), "{msg}");
    assert_eq!(code, 0, "nothing critical");

    // A bare component: pure compute, nobody vouches for it.
    let bare = b.dir.path().join("bare.wasm");
    std::fs::copy(tool("text-stats"), &bare).expect("copy");
    let (_, r) = b.assess(&[&bare], &[]);
    assert_eq!(rules(&r), ["hygiene-unsigned"]);
    assert_eq!(r["tools"][0]["findings"][0]["severity"], "low");

    // Not a component at all.
    std::fs::write(&bare, b"\0asm\x01\0\0\0").expect("write");
    let (_, r) = b.assess(&[&bare], &[]);
    assert!(rules(&r).contains(&"hygiene-refused".to_owned()), "{r:#}");
}

#[test]
fn reach_of_files_network_and_private_ranges() {
    let notes = tempfile::tempdir().expect("notes");
    let b = Bench::new(&format!(
        "[net]\nallow = [\"http://127.0.0.1:9\", \"https://*.example.com\"]\n\n\
         [[net.private]]\ncidr = \"127.0.0.0/8\"\ntools = [\"writer\"]\n\n\
         [[binds]]\ntools = [\"writer\"]\nguest = \"/notes\"\nhost = \"{}\"\naccess = \"read-write\"\n",
        notes.path().display()
    ));
    b.package(
        "writer",
        "write-note",
        EXPIRES,
        &format!(
            "{LIMITS}\n[[fs]]\nguest = \"/notes\"\naccess = \"read-write\"\n\n[net]\nallow = [\"http://127.0.0.1:9\", \"https://*.example.com\"]\n"
        ),
    );
    let (_, r) = b.assess(&[&b.pkg("writer")], &[]);
    let found = rules(&r);
    for want in [
        "reach-exfiltration",
        "reach-destructive",
        "reach-private-network",
    ] {
        assert!(found.contains(&want.to_owned()), "{want}: {found:?}");
    }
    let f = &r["tools"][0]["findings"][0];
    assert_eq!(f["rule"], "reach-exfiltration");
    assert_eq!(f["severity"], "high", "wildcard egress and a private range");
    // write-note does not import wasi:http or wasi:sockets: the network grant is unusable.
    assert!(
        found.contains(&"overgrant-not-imported".to_owned()),
        "{found:?}"
    );
    let reach: Vec<&str> = r["tools"][0]["reach"]
        .as_array()
        .expect("reach")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        reach
            .iter()
            .any(|l| l.starts_with("reads, writes and deletes everything under")),
        "{reach:?}"
    );
    assert!(reach.iter().any(|l| l.contains("127.0.0.0/8")), "{reach:?}");
}

#[test]
fn secrets_are_reported_with_where_they_go() {
    // call-api holding API_TOKEN for api.example.com, allowed `allow` (a TOML array body).
    let keyed = |allow: &str| {
        let b = Bench::new(&format!(
            "[net]\nallow = [{allow}]\n\n\
             [secrets.API_TOKEN]\nsource = \"env:WASMGOV_TEST_UNSET\"\nhost = \"https://api.example.com\"\ntools = [\"keyed\"]\n"
        ));
        b.package(
            "keyed",
            "call-api",
            EXPIRES,
            &format!(
                "{LIMITS}\n[net]\nallow = [{allow}]\n\n[[secrets]]\nname = \"API_TOKEN\"\nhost = \"https://api.example.com\"\nheader = \"Authorization\"\nformat = \"Bearer {{}}\"\n"
            ),
        );
        let (_, r) = b.assess(&[&b.pkg("keyed")], &[]);
        rules(&r)
    };
    let found = keyed("\"https://api.example.com\"");
    assert!(
        found.contains(&"reach-secret-reuse".to_owned()),
        "{found:?}"
    );
    assert!(
        !found.contains(&"reach-secret-wildcard".to_owned()),
        "{found:?}"
    );
    assert!(
        !found.contains(&"reach-exfiltration".to_owned()),
        "nothing to read: {found:?}"
    );

    // Also allowed a wildcard: what the credential fetches can leave there.
    let found = keyed("\"https://api.example.com\", \"https://*.example.org\"");
    assert_eq!(found[0], "reach-secret-wildcard", "{found:?}");
}

#[test]
fn granted_but_unused_in_the_recorded_calls() {
    let b = Bench::new("[net]\nallow = [\"http://127.0.0.1:9\"]\n");
    b.package(
        "netty",
        "fetch-url",
        EXPIRES,
        &format!("{LIMITS}\n[net]\nallow = [\"http://127.0.0.1:9\"]\n"),
    );
    // No log: only what the component cannot use would be reported, and it imports wasi:http.
    let (_, r) = b.assess(&[&b.pkg("netty")], &[]);
    assert_eq!(rules(&r), Vec::<String>::new(), "{r:#}");

    // One recorded call that never sends a request (its input is invalid).
    let log = b.dir.path().join("audit.jsonl");
    let out = wasmgov()
        .args([
            "run",
            s(&b.pkg("netty")),
            "--trust",
            s(&b.trust),
            "--policy",
            s(&b.policy),
        ])
        .args([
            "--audit",
            s(&log),
            "--state",
            s(&b.dir.path().join("state")),
        ])
        .args(["--input", "{\"url\":\"not a url\"}"])
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, r) = b.assess(&[&b.pkg("netty")], &["--audit", s(&log)]);
    assert_eq!(rules(&r), ["overgrant-unused"], "{r:#}");
    let msg = r["tools"][0]["findings"][0]["message"]
        .as_str()
        .expect("msg");
    assert!(
        msg.contains("http://127.0.0.1:9") && msg.contains("1 recorded call"),
        "{msg}"
    );

    // A log with no call of the tool says so instead of judging.
    let other = b.dir.path().join("other.jsonl");
    std::fs::write(&other, "").expect("empty log");
    let (_, r) = b.assess(&[&b.pkg("netty")], &["--audit", s(&other)]);
    assert_eq!(r["tools"][0]["findings"][0]["severity"], "info", "{r:#}");
}

#[test]
fn outdated_interface_deny_list_and_broad_globs() {
    // The same component, its tool export renamed to an older wasmgov:tool (same length).
    let bytes = std::fs::read(tool("text-stats")).expect("component");
    let (from, to) = (b"wasmgov:tool/tool@0.1.0", b"wasmgov:tool/tool@0.0.9");
    let mut old = bytes.clone();
    let mut i = 0;
    while i + from.len() <= old.len() {
        if &old[i..i + from.len()] == from {
            old[i..i + from.len()].copy_from_slice(to);
        }
        i += 1;
    }
    assert_ne!(old, bytes, "the export name is in the component");
    let digest = wasmgov::names::Sha256Digest::of(&bytes).to_string();
    let b = Bench::new(&format!(
        "[[detect]]\nrule = \"deny-listed\"\ndigests = [\"{}\"]\n\n[[publishers]]\nprincipal = \"{TEST_PUBLISHER}\"\ntools = [\"lo*\"]\n",
        digest.trim_start_matches("sha256:")
    ));
    b.package_bytes("old-sdk", &old, EXPIRES, LIMITS);
    let (_, r) = b.assess(&[&b.pkg("old-sdk")], &[]);
    assert_eq!(rules(&r), ["hygiene-outdated-sdk"], "{r:#}");

    b.package_bytes("banned", &bytes, EXPIRES, LIMITS);
    let (code, r) = b.assess(&[&b.pkg("banned")], &["--fail-on", "critical"]);
    let found = rules(&r);
    assert_eq!(found[0], "vuln-denied-component", "{r:#}");
    assert_eq!(code, 1);

    b.package("loose", "json-query", EXPIRES, LIMITS);
    let (_, r) = b.assess(&[&b.pkg("loose")], &[]);
    assert_eq!(rules(&r), ["hygiene-broad-publisher-glob"], "{r:#}");
}

#[test]
fn bad_inputs_are_usage_errors() {
    let b = Bench::new("");
    let out = wasmgov()
        .args(["assess", s(&b.dir.path().join("missing.wasm"))])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error[usage]: cannot read"), "{err}");
    let out = wasmgov()
        .args(["assess", s(&b.tools)])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "an empty directory");
    b.package("clean", "text-stats", EXPIRES, LIMITS);
    let out = wasmgov()
        .args(["assess", s(&b.tools), "--fail-on", "severe"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let log = b.dir.path().join("junk.jsonl");
    std::fs::write(&log, "not json\n").expect("write");
    let out = wasmgov()
        .args(["assess", s(&b.tools), "--audit", s(&log)])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a record"));
}

#[test]
fn sarif_lists_every_rule_and_locates_findings() {
    let b = Bench::new("");
    b.package("clean", "text-stats", "", LIMITS);
    let out = wasmgov()
        .current_dir(b.dir.path())
        .args([
            "assess",
            "tools",
            "--format",
            "sarif",
            "--trust",
            s(&b.trust),
            "--policy",
            s(&b.policy),
        ])
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["version"], "2.1.0");
    let run = &v["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
    assert_eq!(rules.len(), wasmgov_assess::rules::RULES.len());
    let res = &run["results"][0];
    assert_eq!(res["ruleId"], "hygiene-no-expiry");
    let loc = &res["locations"][0]["physicalLocation"];
    assert_eq!(loc["artifactLocation"]["uri"], "tools/clean.toml");
    assert_eq!(loc["region"]["startLine"], 3);
}
