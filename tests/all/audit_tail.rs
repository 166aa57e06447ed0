//! `wasmgov audit tail`: the last records, the same filters as `show`, and `--follow` through
//! appends, a record written in two pieces, rotation and truncation.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::support::{s, wasmgov};

fn record(seq: u64, tool: &str) -> String {
    format!(
        r#"{{"v":1,"seq":{seq},"ts":"2026-12-02T00:00:00.000000Z","call":"01CALL{seq:04}","tool":"{tool}@1.0.0","kind":"end","outcome":"ok","exit":0,"fuel":1,"peak_memory":0,"host_calls":0,"output":0,"us":1,"prev":"x","hash":"y"}}"#
    )
}

#[test]
fn tail_prints_the_last_matching_records() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let lines: Vec<String> = (0..20)
        .map(|i| record(i, if i % 2 == 0 { "even" } else { "odd" }))
        .collect();
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    let out = wasmgov()
        .args([
            "audit",
            "tail",
            s(&log),
            "-n",
            "3",
            "--json",
            "--tool",
            "odd",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let got: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
    assert_eq!(got, [&lines[15], &lines[17], &lines[19]]);
    let out = wasmgov()
        .args(["audit", "tail", s(&log), "-n", "2"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("SEQ"), "{text}");
    assert_eq!(
        text.lines().filter(|l| l.contains("@1.0.0")).count(),
        2,
        "{text}"
    );
    assert!(text.contains("01CALL0019"), "{text}");
    let out = wasmgov()
        .args(["audit", "tail", s(&dir.path().join("missing")), "-f"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// A line longer than any record is refused, in the first pass as while following, instead of
/// being read into memory whole.
#[test]
fn a_line_longer_than_any_record_is_refused_not_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let mut text = record(0, "t") + "\n";
    text.push_str(&"x".repeat(5 << 20));
    text.push('\n');
    std::fs::write(&log, text).unwrap();
    let out = wasmgov()
        .args(["audit", "tail", s(&log), "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("a line longer than 4194304 bytes"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn follow_sees_appends_split_writes_rotation_and_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    std::fs::write(&log, record(0, "a") + "\n").unwrap();
    let bin = assert_cmd::cargo::cargo_bin("wasmgov");
    let mut child = Command::new(bin)
        .args([
            "audit",
            "tail",
            s(&log),
            "-n",
            "1",
            "--follow",
            "--json",
            "--tool",
            "a",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let next = || {
        rx.recv_timeout(Duration::from_secs(20))
            .expect("a line within 20 s")
    };
    assert_eq!(next(), record(0, "a"));
    let append = |text: &str| {
        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        f.write_all(text.as_bytes()).unwrap();
    };
    // Appended, filtered.
    append(&(record(1, "b") + "\n" + &record(2, "a") + "\n"));
    assert_eq!(next(), record(2, "a"));
    // One record written in two pieces is printed once, whole.
    let r3 = record(3, "a");
    append(&r3[..40]);
    std::thread::sleep(Duration::from_millis(500));
    append(&(r3[40..].to_owned() + "\n"));
    assert_eq!(next(), r3);
    // Rotated: the path names a new file, read from its start.
    std::fs::rename(&log, dir.path().join("audit.jsonl.1")).unwrap();
    std::fs::write(&log, record(4, "a") + "\n").unwrap();
    assert_eq!(next(), record(4, "a"));
    // Truncated in place and written again.
    std::fs::write(&log, "").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    append(&(record(5, "a") + "\n"));
    assert_eq!(next(), record(5, "a"));
    child.kill().unwrap();
    let _ = child.wait();
    assert!(rx.try_recv().is_err(), "nothing else was printed");
}
