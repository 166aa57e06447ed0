//! `wasmgov serve` and `wasmgov token` as a user runs them: `--check`, refusals of unsafe or
//! absurd flags with their exit codes, token files, and SIGTERM draining the calls in flight.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{Fixture, Pkg};
use crate::support::{s, wasmgov};

#[test]
fn check_prints_what_would_be_served_and_why_not() {
    let f = Fixture::new("");
    f.package("text-stats", "text-stats", Pkg::default());
    let check = || {
        wasmgov()
            .args(f.serve_args())
            .arg("--check")
            .output()
            .unwrap()
    };
    let out = check();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("serve   text-stats"), "{text}");
    assert!(text.contains("1 served, 0 refused"), "{text}");

    f.package("unsigned", "unit-calc", Pkg::default());
    std::fs::remove_file(f.tools.join("unsigned.toml.sig")).unwrap();
    let out = check();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("refuse  unsigned") && text.contains("error[unsigned]"),
        "{text}"
    );

    // A package's file name is the publisher's text: its control characters are shown
    // escaped, never sent to the terminal.
    f.package("evil\u{1b}[2J", "unit-calc", Pkg::default());
    std::fs::remove_file(f.tools.join("evil\u{1b}[2J.toml.sig")).unwrap();
    let out = check();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains('\u{1b}'), "{text:?}");
    assert!(text.contains("refuse  evil\\u{1b}[2J"), "{text}");
}

#[test]
fn unsafe_or_absurd_serve_flags_are_refused_with_a_hint() {
    let f = Fixture::new("");
    let (tokens, lax) = (f.dir.path().join("tokens"), f.dir.path().join("lax-tokens"));
    std::fs::write(&lax, "").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&lax, std::fs::Permissions::from_mode(0o644)).unwrap();
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (vec!["--http", "0.0.0.0:0"], 2, "error[unauthenticated]"),
        (
            vec!["--http", "127.0.0.1:0", "--tokens", s(&lax)],
            2,
            "error[tokens]",
        ),
        (
            vec!["--http", "127.0.0.1:0", "--tokens", s(&tokens)],
            2,
            "error[tokens]",
        ),
        (vec!["--max-body", "1"], 2, "--max-body"),
        (vec!["--drain-timeout", "100000h"], 2, "--drain-timeout"),
        (vec!["--max-concurrent", "0"], 2, "error"),
        (vec!["--http", "not-an-address"], 2, "error"),
    ];
    for (extra, code, want) in cases {
        let out = wasmgov()
            .args(f.serve_args())
            .args(&extra)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{extra:?}: {err}");
        assert!(err.contains(want), "{extra:?}: {err}");
        assert!(out.stdout.is_empty(), "{extra:?}");
    }
    let out = wasmgov()
        .args(["serve", "--tools", s(&f.dir.path().join("missing"))])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn token_add_keeps_only_the_hash_in_a_private_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokens");
    let out = wasmgov()
        .args(["token", "add", "ci-bot", "--tokens", s(&file)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("wgv_") && token.len() > 60, "{token}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains(&token));
    assert!(text.starts_with("ci-bot sha256:"), "{text}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let t = wasmgov_serve::Tokens::load(&file).unwrap();
    assert_eq!(t.authenticate(&token).unwrap().subject.as_str(), "ci-bot");
    for bad in ["*", "has space", ""] {
        let out = wasmgov()
            .args(["token", "add", bad, "--tokens", s(&file)])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
    }
    // The library refuses it too, before touching the file.
    let any: wasmgov::policy::Subject = "*".parse().unwrap();
    let before = std::fs::read_to_string(&file).unwrap();
    assert!(matches!(
        wasmgov_serve::auth::add_token(&file, &any),
        Err(wasmgov_serve::auth::TokenError::WildcardSubject)
    ));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before);
}

#[test]
fn sigterm_lets_calls_in_flight_finish_then_exits() {
    let f = Fixture::new("");
    f.sleepy("2s");
    let bin = assert_cmd::cargo::cargo_bin("wasmgov");
    let mut child = Command::new(bin)
        .args(f.serve_args())
        .args(["--http", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let port = super::listening_port(&mut err);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let (head, body) = super::http::stateless(
        addr,
        "tools/call",
        Some("sleepy"),
        serde_json::json!({"name": "sleepy", "arguments": {}}),
        "",
    );
    let call = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "{head}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .unwrap();
        s.write_all(&body).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    });
    // Once the call has started, ask the server to stop.
    for _ in 0..400 {
        if std::fs::read_to_string(&f.audit)
            .unwrap_or_default()
            .contains("\"action\":\"call\"")
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    // SAFETY: kill(2) on our own child's pid with a valid signal number.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let answer = call.join().unwrap();
    // The call ran to its own end (its timeout), not cut off by the shutdown.
    assert!(
        answer.contains("error[limit-timeout]"),
        "answer: {answer:?}\naudit: {}",
        std::fs::read_to_string(&f.audit).unwrap_or_default()
    );
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let mut rest = String::new();
    let _ = err.read_to_string(&mut rest);
    assert!(rest.contains("draining 1 calls"), "{rest}");
}

#[test]
fn serve_observe_records_what_a_served_tool_would_need() {
    let f = Fixture::new("");
    f.package("grep", "grep-files", Pkg::default());
    let bin = assert_cmd::cargo::cargo_bin("wasmgov");
    let mut child = Command::new(bin)
        .args(f.serve_args())
        .arg("--observe")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let send = |stdin: &mut std::process::ChildStdin, v: serde_json::Value| {
        writeln!(stdin, "{v}").unwrap();
        stdin.flush().unwrap();
    };
    send(
        &mut stdin,
        serde_json::json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
            "protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}),
    );
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(line.contains("\"id\":1"), "{line}");
    send(
        &mut stdin,
        serde_json::json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
    );
    send(
        &mut stdin,
        serde_json::json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{
            "name":"grep","arguments":{"pattern":"x"}}}),
    );
    line.clear();
    out.read_line(&mut line).unwrap();
    assert!(
        line.contains("\"id\":2") && line.contains("isError"),
        "{line}"
    );
    drop(stdin);
    let _ = child.wait();
    let log = std::fs::read_to_string(&f.audit).unwrap();
    assert!(log.contains("\"observe\":true"), "{log}");
    assert!(log.contains("\"needs\":\"fs read /data\""), "{log}");
}
