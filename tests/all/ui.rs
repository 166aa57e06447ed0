//! Error text is user interface: every bad manifest, policy, allowed_signers file and signature
//! in `tests/ui/` must produce exactly the stderr in the `.stderr` file beside it (the Spin
//! manifest UI tests, for wasmgov). `WASMGOV_BLESS=1 cargo test --test all ui` rewrites the
//! snapshots; review the diff before committing it.
//!
//! Which command runs depends on the folder (see `tests/ui/README.md`); every case must be
//! refused with exit code 3 and print nothing on stdout.

use std::path::{Path, PathBuf};

use crate::support::{root, s, wasmgov};

/// The fixed part of each command, by folder. `CASE` is the case file, `TMP` a fresh directory
/// holding `ui-tool.wasm` (not a component) beside `ui-tool.toml` (a copy of `manifest.toml`).
fn command(folder: &str) -> &'static [&'static str] {
    match folder {
        "manifest" => &["explain", "CASE", "--policy", "policy.toml"],
        "policy" => &["explain", "manifest.toml", "--policy", "CASE"],
        // manifest.toml.sig is a good signature by the key in trusted_signers.
        "allowed_signers" => &[
            "verify",
            "manifest.toml",
            "--tool",
            "TMP/ui-tool.wasm",
            "--trust",
            "CASE",
            "--policy",
            "policy.toml",
        ],
        // The case is installed as TMP/ui-tool.toml.sig; `run` finds the manifest beside the tool.
        "signature" => &[
            "run",
            "TMP/ui-tool.wasm",
            "--trust",
            "trusted_signers",
            "--policy",
            "policy.toml",
            "--state",
            "TMP/state",
            "--input",
            "{}",
        ],
        other => panic!("tests/ui/{other}: no command for this folder"),
    }
}

const FOLDERS: &[&str] = &["manifest", "policy", "allowed_signers", "signature"];

fn ui_dir() -> PathBuf {
    root().join("tests/ui")
}

fn snapshot_of(case: &Path) -> PathBuf {
    let name = case
        .file_name()
        .and_then(|n| n.to_str())
        .expect("file name");
    let stem = name.rsplit_once('.').map_or(name, |(stem, _)| stem);
    case.with_file_name(format!("{stem}.stderr"))
}

/// Case files of `folder`, sorted; snapshots are not cases.
fn cases(folder: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(ui_dir().join(folder))
        .expect("read tests/ui folder")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_none_or(|e| e != "stderr"))
        .collect();
    v.sort();
    v
}

/// Run one case and return its stderr with the temporary directory written as `$TMP`.
fn run_case(folder: &str, case: &Path) -> String {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ui = ui_dir();
    std::fs::write(tmp.path().join("ui-tool.wasm"), b"not a component").expect("write");
    std::fs::copy(ui.join("manifest.toml"), tmp.path().join("ui-tool.toml")).expect("copy");
    if folder == "signature" {
        std::fs::copy(case, tmp.path().join("ui-tool.toml.sig")).expect("copy");
    }
    let rel = case.strip_prefix(&ui).expect("case under tests/ui");
    let args: Vec<String> = command(folder)
        .iter()
        .map(|a| a.replace("CASE", s(rel)).replace("TMP", s(tmp.path())))
        .collect();
    let out = wasmgov()
        .current_dir(&ui)
        .args(&args)
        .output()
        .expect("run wasmgov");
    let stderr = String::from_utf8_lossy(&out.stderr).replace(s(tmp.path()), "$TMP");
    assert_eq!(
        out.status.code(),
        Some(3),
        "tests/ui/{}: `wasmgov {}` must be refused (exit 3):\n{stderr}",
        s(rel),
        args.join(" ")
    );
    assert!(
        out.stdout.is_empty(),
        "tests/ui/{}: printed on stdout: {}",
        s(rel),
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

#[test]
fn error_text_matches_the_snapshots() {
    let bless = std::env::var_os("WASMGOV_BLESS").is_some_and(|v| v == "1");
    let mut failures = Vec::new();
    let mut count = 0;
    for folder in FOLDERS {
        for case in cases(folder) {
            count += 1;
            let actual = run_case(folder, &case);
            let snap = snapshot_of(&case);
            let rel = case.strip_prefix(ui_dir()).expect("under tests/ui");
            if bless {
                std::fs::write(&snap, &actual).expect("write snapshot");
                continue;
            }
            match std::fs::read_to_string(&snap) {
                Ok(expected) if expected == actual => {}
                Ok(expected) => failures.push(format!(
                    "tests/ui/{}:\n--- expected\n{expected}--- actual\n{actual}",
                    s(rel)
                )),
                Err(_) => failures.push(format!(
                    "tests/ui/{}: no snapshot {}; actual:\n{actual}",
                    s(rel),
                    snap.display()
                )),
            }
        }
    }
    assert!(count >= 30, "only {count} UI cases found");
    assert!(
        failures.is_empty(),
        "{} of {count} UI snapshots differ (WASMGOV_BLESS=1 rewrites them):\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A snapshot without its case would silently test nothing.
#[test]
fn every_snapshot_has_a_case() {
    for folder in FOLDERS {
        let cases = cases(folder);
        for e in std::fs::read_dir(ui_dir().join(folder)).expect("read folder") {
            let p = e.expect("entry").path();
            if p.extension().is_some_and(|x| x == "stderr") {
                assert!(
                    cases.iter().any(|c| snapshot_of(c) == p),
                    "{} has no case file",
                    p.display()
                );
            }
        }
    }
}

/// The fixtures the cases are measured against are themselves good: the manifest explains
/// under the policy, and its signature verifies with OpenSSH under trusted_signers.
#[test]
fn ui_fixtures_are_good() {
    let ui = ui_dir();
    let out = wasmgov()
        .current_dir(&ui)
        .args(["explain", "manifest.toml", "--policy", "policy.toml"])
        .output()
        .expect("explain");
    assert!(out.status.success(), "{out:?}");
    let st = std::process::Command::new("ssh-keygen")
        .current_dir(&ui)
        .args(["-Y", "verify", "-f", "trusted_signers", "-I"])
        .args(["ui@wasmgov.example", "-n", "wasmgov-manifest-v1"])
        .args(["-s", "manifest.toml.sig"])
        .stdin(std::fs::File::open(ui.join("manifest.toml")).expect("open"))
        .output()
        .expect("ssh-keygen");
    assert!(st.status.success(), "{st:?}");
}
