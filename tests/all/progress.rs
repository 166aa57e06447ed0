//! Long reads of big logs (`audit verify`, `show`, `report`) show a progress bar on a terminal,
//! and nothing extra when piped.

use std::process::Command;

use crate::support::{s, wasmgov};

/// A 20 MiB log of records (not a valid chain: `show` does not verify, and `verify` reads until
/// the first bad record, which is enough for a bar).
fn big_log(dir: &std::path::Path) -> std::path::PathBuf {
    let line = r#"{"v":1,"seq":0,"ts":"2026-12-02T00:00:00.000000Z","call":"01CALL","tool":"t@1.0.0","kind":"end","outcome":"ok","exit":0,"fuel":1,"peak_memory":0,"host_calls":0,"output":0,"us":1,"prev":"0000000000000000000000000000000000000000000000000000000000000000","hash":"x"}"#;
    let path = dir.join("big.jsonl");
    let n = 20 * 1024 * 1024 / (line.len() + 1) + 1;
    std::fs::write(&path, format!("{line}\n").repeat(n)).unwrap();
    path
}

#[test]
fn piped_output_gets_no_progress_and_a_terminal_gets_a_bar() {
    let dir = tempfile::tempdir().unwrap();
    let log = big_log(dir.path());
    for args in [
        vec!["audit", "show", s(&log)],
        vec!["audit", "verify", s(&log)],
    ] {
        let out = wasmgov().args(&args).output().unwrap();
        assert!(
            out.stderr.is_empty(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // `report` warns that this log does not verify, and says nothing else.
    let page = dir.path().join("report.html");
    let out = wasmgov()
        .args(["audit", "report", s(&log), "--html", s(&page)])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("warning: the chain does not verify"),
        "{err}"
    );
    assert!(!err.contains('\r') && !err.contains("reading ["), "{err}");
    // On a terminal (script(1) gives the command a pty for stdin, stdout and stderr).
    let bin = assert_cmd::cargo::cargo_bin("wasmgov");
    let cmd = format!("{} audit show {} > /dev/null", bin.display(), log.display());
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("XDG_STATE_HOME", dir.path())
        .output()
        .expect("script(1) from util-linux");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("reading [") && text.contains("MiB"),
        "{text:?}"
    );
    let cmd = format!(
        "{} audit report {} --html {}",
        bin.display(),
        log.display(),
        page.display()
    );
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("XDG_STATE_HOME", dir.path())
        .output()
        .expect("script(1) from util-linux");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("reading [") && text.contains("MiB"),
        "{text:?}"
    );
}
