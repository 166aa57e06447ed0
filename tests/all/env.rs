//! Environment threats (E01): a tool sees only the variables its grant names, with the
//! operator's values — never the host's environment (canaries set on the `wasmgov` process),
//! and no arguments or working directory.

use serde_json::{Value, json};

use crate::caps::{manifest, runtime_with};
use crate::support::{run, s, tool, wasmgov};

const CANARY: &str = "canary-77c1e0b5";

#[test]
fn host_environment_never_reaches_the_tool() {
    let dir = tempfile::tempdir().expect("tempdir");
    let m = dir.path().join("hostile-env.toml");
    std::fs::write(&m, manifest("hostile-env", "\n[env]\nvars = [\"LANG\"]\n")).expect("write");
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "[env]\nvars = [\"LANG\"]\n").expect("write");
    let input = json!({}).to_string();
    let out = wasmgov()
        .env("WASMGOV_CANARY", CANARY)
        .env("AWS_SECRET_ACCESS_KEY", CANARY)
        .env("LANG", "host-lang")
        .args([
            "run",
            s(&tool("hostile-env")),
            "--manifest",
            s(&m),
            "--policy",
            s(&policy),
            "--allow-unsigned",
            "--env",
            "LANG=C.UTF-8",
            "--input",
            &input,
        ])
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stdout.contains(CANARY), "{stdout}");
    assert!(!stderr.contains(CANARY), "{stderr}");
    let v: Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(v["env"], json!([["LANG", "C.UTF-8"]]), "{v}");
    assert_eq!(v["args"], json!([]), "{v}");
    assert_eq!(v["cwd"], Value::Null, "{v}");
    for f in v["files"].as_array().expect("files") {
        assert_eq!(f["found"], false, "{f}");
    }
}

#[test]
fn without_a_manifest_a_tool_has_no_environment_at_all() {
    let input = json!({}).to_string();
    let out = wasmgov()
        .env("WASMGOV_CANARY", CANARY)
        .args(["run", s(&tool("hostile-env")), "--input", &input])
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(v["env"], json!([]), "{v}");
    assert!(!stdout.contains(CANARY));
    let _ = run;
}

#[tokio::test]
async fn an_undeclared_variable_cannot_be_handed_in() {
    let rt = runtime_with("[env]\nvars = [\"LANG\"]\n", None);
    let opts = wasmgov::LoadOptions {
        env_values: vec![("AWS_SECRET_ACCESS_KEY".into(), CANARY.into())],
        ..Default::default()
    };
    let e = crate::caps::load_with(&rt, "hostile-env", "\n[env]\nvars = [\"LANG\"]\n", &opts)
        .expect_err("refused");
    assert!(e.to_string().contains("AWS_SECRET_ACCESS_KEY"), "{e}");
    assert_eq!(e.exit_code(), 3);
}
