//! `wasmgov run`, `describe` and `inspect` through the real binary: every exit code of the CLI
//! contract reached by a real component, stdout carrying the result and nothing else.

use serde_json::Value;

use crate::support::{run, s, tool, wasmgov};

#[test]
fn text_stats_counts_words_and_lines() {
    let t = tool("text-stats");
    let (code, out, err) = run(&["run", s(&t), "--input", r#"{"text":"the cat\nthe dog\n"}"#]);
    assert_eq!(code, 0, "stderr: {err}");
    let v: Value = serde_json::from_str(&out).expect("stdout is exactly the JSON result");
    assert_eq!(v["lines"], 2);
    assert_eq!(v["words"], 4);
    assert_eq!(v["top_words"][0]["word"], "the");
    assert_eq!(v["top_words"][0]["count"], 2);
}

#[test]
fn json_query_reads_input_from_stdin() {
    let t = tool("json-query");
    let out = wasmgov()
        .args(["run", s(&t)])
        .write_stdin(r#"{"data":{"a":{"b":[10,20]}},"path":"a.b[1]"}"#)
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["found"], true);
    assert_eq!(v["value"], 20);
}

#[test]
fn unit_calc_converts_and_reads_input_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("in.json");
    std::fs::write(&f, r#"{"value": 100, "from": "C", "to": "F"}"#).expect("write");
    let (code, out, err) = run(&["run", s(&tool("unit-calc")), "--input-file", s(&f)]);
    assert_eq!(code, 0, "stderr: {err}");
    let v: Value = serde_json::from_str(&out).expect("json");
    assert!(
        (v["value"].as_f64().expect("number") - 212.0).abs() < 1e-9,
        "{v}"
    );
}

#[test]
fn invalid_input_is_the_tools_error_exit_1() {
    let (code, out, err) = run(&[
        "run",
        s(&tool("unit-calc")),
        "--input",
        r#"{"value":1,"from":"km","to":"kg"}"#,
    ]);
    assert_eq!(code, 1, "stderr: {err}");
    assert!(out.is_empty(), "no result on stdout: {out}");
    assert!(err.starts_with("error[tool-invalid-input]:"), "{err}");
    let (code, _, err) = run(&["run", s(&tool("text-stats")), "--input", "not json"]);
    assert_eq!(code, 1);
    assert!(err.contains("error[tool-invalid-input]"), "{err}");
}

#[test]
fn tool_failure_exits_1() {
    let (code, out, err) = run(&["run", s(&tool("tool-fails")), "--input", "{}"]);
    assert_eq!(code, 1, "stderr: {err}");
    assert!(out.is_empty());
    assert!(err.starts_with("error[tool-failed]:"), "{err}");
}

#[test]
fn command_tool_gets_input_on_stdin_and_result_is_its_stdout() {
    let out = wasmgov()
        .args(["run", s(&tool("csv-to-json"))])
        .write_stdin("name,qty\napple,3\n\"pear, ripe\",5\n")
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v[1]["name"], "pear, ripe");
    assert_eq!(v[0]["qty"], "3");
}

#[test]
fn command_tool_failure_exits_1_with_its_stderr() {
    let out = wasmgov()
        .args(["run", s(&tool("csv-to-json"))])
        .write_stdin("a,b\n\"unterminated\n")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "a failed command prints no result");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("error[tool-failed]"), "{err}");
}

#[test]
fn command_exit_code_is_reported() {
    // The fixture calls wasi:cli/exit.exit-with-code(3) after printing "partial".
    let (code, out, err) = run(&["run", s(&tool("hostile-cmd-exit"))]);
    assert_eq!(code, 1, "{err}");
    assert!(
        out.is_empty(),
        "partial output of a failed command is not a result: {out}"
    );
    assert!(
        err.contains("error[tool-failed]: the tool exited with status 3"),
        "{err}"
    );
}

#[test]
fn trap_exits_5() {
    let (code, out, err) = run(&["run", s(&tool("hostile-trap")), "--input", "{}"]);
    assert_eq!(code, 5, "{err}");
    assert!(out.is_empty());
    assert!(
        err.starts_with("error[trap]:") || err.contains("\nerror[trap]:"),
        "{err}"
    );
}

#[test]
fn tool_world_needs_input() {
    let (code, _, err) = run(&["run", s(&tool("text-stats"))]);
    // assert_cmd gives an empty, non-terminal stdin: the tool receives "" and rejects it.
    assert!(code == 1 || code == 2, "{err}");
}

#[test]
fn missing_file_is_usage_exit_2() {
    let (code, _, err) = run(&["run", "/nonexistent/tool.wasm", "--input", "{}"]);
    assert_eq!(code, 2);
    assert!(err.starts_with("error[usage]:"), "{err}");
    let (code, _, _) = run(&["run", "--no-such-flag"]);
    assert_eq!(code, 2);
}

#[test]
fn describe_prints_name_and_schemas() {
    let (code, out, err) = run(&["describe", s(&tool("text-stats")), "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["name"], "text-stats");
    assert!(!v["description"].as_str().unwrap_or("").is_empty());
    assert_eq!(v["input_schema"]["properties"]["text"]["type"], "string");
    let (code, out, _) = run(&["describe", s(&tool("text-stats"))]);
    assert_eq!(code, 0);
    assert!(out.contains("name:        text-stats"), "{out}");
}

#[test]
fn inspect_prints_digest_world_imports_exports() {
    let t = tool("csv-to-json");
    let bytes = std::fs::read(&t).expect("read");
    let (code, out, err) = run(&["inspect", s(&t), "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["sha256"], wasmgov::component::sha256_hex(&bytes));
    assert_eq!(v["size"], bytes.len() as u64);
    assert_eq!(v["world"], "command");
    assert!(
        v["exports"]
            .as_array()
            .expect("exports")
            .iter()
            .any(|e| e.as_str().unwrap_or("").starts_with("wasi:cli/run@0.2"))
    );
    let (_, out, _) = run(&["inspect", s(&tool("text-stats"))]);
    assert!(out.contains("world:   tool"), "{out}");
    assert!(out.contains("wasmgov:tool/tool@0.1.0"), "{out}");
}

#[test]
fn describe_shows_the_manifests_name_and_description_not_the_components() {
    // The agent must see what was reviewed: the manifest's words. The component's own claims
    // are shown beside them, only where they differ.
    let dir = tempfile::tempdir().expect("tempdir");
    let component = tool("text-stats");
    let manifest = dir.path().join("word-stats.toml");
    let text = std::fs::read_to_string(crate::support::root().join("manifests/text-stats.toml"))
        .expect("example manifest")
        .replace("name = \"text-stats\"", "name = \"word-stats\"")
        .replace(
            "description = \"Count lines,",
            "description = \"Reviewed words. Count lines,",
        );
    std::fs::write(&manifest, text).expect("write manifest");
    let (code, _, err) = run(&["pin", s(&manifest), s(&component)]);
    assert_eq!(code, 0, "{err}");
    let state = dir.path().join("state");
    let args = [
        "describe",
        s(&component),
        "--manifest",
        s(&manifest),
        "--allow-unsigned",
        "--state",
        s(&state),
        "--json",
    ];
    let (code, out, err) = run(&args);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["name"], "word-stats", "{v}");
    assert!(
        v["description"]
            .as_str()
            .is_some_and(|d| d.starts_with("Reviewed words.")),
        "{v}"
    );
    assert_eq!(v["guest_name"], "text-stats", "{v}");
    assert!(v["guest_description"].is_string(), "{v}");
    assert_eq!(v["input_schema"]["properties"]["text"]["type"], "string");

    // A manifest edited after pinning is refused: describe verifies as run does.
    let edited = std::fs::read_to_string(&manifest)
        .expect("read")
        .replace("size = ", "size = 1");
    std::fs::write(&manifest, edited).expect("write");
    let (code, out, err) = run(&args);
    assert_eq!(code, 3, "{out}{err}");
}

#[test]
fn a_state_or_cache_directory_others_can_write_is_refused() {
    // The compile cache is loaded as native code and the state holds the ratchet: a directory
    // another user owns or can write (itself, or through a non-sticky ancestor) is refused
    // before anything is read from it.
    use std::os::unix::fs::PermissionsExt;
    let t = tool("text-stats");
    let input = r#"{"text":"a"}"#;
    let dir = tempfile::tempdir().expect("tempdir");

    let open = dir.path().join("open");
    std::fs::create_dir(&open).expect("mkdir");
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let (code, _, err) = run(&["run", s(&t), "--state", s(&open), "--input", input]);
    assert_eq!(code, 2, "a world-writable state directory: {err}");
    assert!(err.contains("writable by group or others"), "{err}");

    let (code, _, err) = run(&[
        "run",
        s(&t),
        "--state",
        s(&open.join("inner")),
        "--input",
        input,
    ]);
    assert_eq!(code, 2, "under a world-writable, non-sticky parent: {err}");
    assert!(err.contains("no sticky bit"), "{err}");

    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).expect("chmod");
    let (code, _, err) = run(&[
        "run",
        s(&t),
        "--state",
        s(&open.join("mine")),
        "--input",
        input,
    ]);
    assert_eq!(
        code, 0,
        "a private directory under a sticky parent, like /tmp: {err}"
    );

    // The effective uid: the owner of a file this process creates.
    let probe = dir.path().join("probe");
    std::fs::write(&probe, b"").expect("probe");
    let me = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&probe).expect("stat"));
    if me == 0 {
        // As the review did: a cache directory handed to `nobody`.
        let foreign = dir.path().join("foreign");
        std::fs::create_dir_all(foreign.join("cache")).expect("mkdir");
        std::fs::set_permissions(&foreign, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        std::os::unix::fs::chown(foreign.join("cache"), Some(65534), Some(65534)).expect("chown");
        let (code, _, err) = run(&["run", s(&t), "--state", s(&foreign), "--input", input]);
        assert_eq!(code, 2, "a cache directory another user owns: {err}");
        assert!(err.contains("owned by uid 65534"), "{err}");
    }
}
