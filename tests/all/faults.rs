//! Faults at the process level: `kill -9` of `wasmgov run` and of `wasmgov serve` while a call
//! is in the host, the audit disk filling mid-call (a real tmpfs), a corrupt compile cache, an
//! unsafe state directory or state file, and the wall clock stepping during a call
//! (libfaketime). Each test breaks a real `wasmgov` process and then checks what is left on
//! disk, and that the next process works (or refuses clearly).

use std::io::{BufReader, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};
use wasmgov::audit::verify::{VerifyOptions, VerifyReport, verify_file};

use crate::caps::test_key;
use crate::serve::{Fixture, Pkg};
use crate::support::s;

fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("wasmgov")
}

/// A `wasmgov` process isolated in the fixture's directory.
fn wasmgov(f: &Fixture) -> Command {
    let mut c = Command::new(bin());
    let home = f.dir.path();
    c.env("HOME", home)
        .env("XDG_STATE_HOME", home.join("xdg-state"))
        .env("XDG_CONFIG_HOME", home.join("xdg-config"))
        .env_remove("WASMGOV_LOG")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    c
}

/// `wasmgov run` of the fixture's package `stem` on `input`, under its trust, policy and state,
/// auditing to `audit`.
fn run_cmd(f: &Fixture, stem: &str, input: &str, audit: &Path) -> Command {
    let mut c = wasmgov(f);
    c.arg("run")
        .arg(f.tools.join(format!("{stem}.wasm")))
        .args(["--input", input])
        .args(["--state", s(&f.state), "--audit", s(audit)])
        .args(["--trust", s(&f.trust), "--policy", s(&f.policy)]);
    c
}

fn output(c: &mut Command) -> (i32, String, String) {
    let o: Output = c.output().expect("run wasmgov");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The whole records of a log (a line still being written is left out).
fn records(log: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let whole = text.rfind('\n').map_or("", |i| &text[..=i]);
    whole
        .lines()
        .map(|l| serde_json::from_str(l).expect("a record"))
        .collect()
}

/// Poll `what` every 20 ms until it returns something, for at most 60 s.
fn poll<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(Instant::now() < deadline, "waited 60 s for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Wait until `log` holds the `start` record of a call of `tool` (`name@version`) that is not
/// one of `seen`, and return it.
fn started(log: &Path, tool: &str, seen: &[String]) -> Value {
    poll(&format!("the start of a call of {tool}"), || {
        records(log).into_iter().find(|r| {
            r["kind"] == "start"
                && r["action"] == "call"
                && r["tool"] == tool
                && !seen.iter().any(|c| r["call"] == c.as_str())
        })
    })
}

/// SIGKILL `child` and check it died of it.
fn kill_9(child: &mut Child) {
    // SAFETY: kill(2) on our own child's pid with a valid signal number.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGKILL) }, 0);
    let status = child.wait().expect("wait");
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
}

/// `wasmgov audit verify LOG` (with `extra` flags): exit code and stdout.
fn verify_cli(f: &Fixture, log: &Path, extra: &[&str]) -> (i32, String) {
    let (code, out, err) = output(wasmgov(f).args(["audit", "verify", s(log)]).args(extra));
    assert!(err.is_empty() || code != 0, "{err}");
    (code, out)
}

fn verify(log: &Path) -> VerifyReport {
    verify_file(log, &VerifyOptions::default()).expect("read the log")
}

/// The ratchet's entry for tool `name` (keyed by name and publisher).
fn ratchet_entry(state: &Path, name: &str) -> Value {
    let text = std::fs::read_to_string(state.join("ratchet.json")).expect("ratchet.json");
    let v: Value = serde_json::from_str(&text).expect("the ratchet state is whole JSON");
    let tools = v["tools"].as_object().expect("tools");
    let (_, e) = tools
        .iter()
        .find(|(k, _)| k.split(' ').next() == Some(name) || k.starts_with(&format!("{name}@")))
        .unwrap_or_else(|| panic!("no ratchet entry for {name}: {text}"));
    e.clone()
}

/// What every crash test checks of a log a killed process left: it verifies (exit 0), names
/// exactly the calls `unfinished` with their tool, and the records after the last whole line
/// are none.
fn assert_verifies_naming(f: &Fixture, log: &Path, unfinished: &[(&str, &str)]) {
    let bytes = std::fs::read(log).expect("read log");
    assert_eq!(
        bytes.last(),
        Some(&b'\n'),
        "the log ends with a whole record"
    );
    let rep = verify(log);
    assert!(rep.ok(), "{rep:?}");
    let got: Vec<(&str, &str)> = rep
        .unfinished
        .iter()
        .map(|u| (u.call.as_str(), u.tool.as_str()))
        .collect();
    assert_eq!(got, unfinished, "{rep:?}");
    let (code, out) = verify_cli(f, log, &[]);
    assert_eq!(code, 0, "a crash is not tampering: {out}");
    assert!(out.starts_with("OK "), "{out}");
    for (u, (call, tool)) in rep.unfinished.iter().zip(unfinished) {
        let named = format!("{call} ({tool}, start at seq {})", u.seq);
        assert!(out.contains(&named), "verify names {named}: {out}");
    }
    if unfinished.is_empty() {
        assert!(!out.contains("no end record"), "{out}");
    } else {
        assert!(
            out.contains(&format!(
                "warning: {} calls have a start and no end record",
                unfinished.len()
            )),
            "{out}"
        );
    }
}

#[test]
fn kill_9_of_run_mid_call_leaves_a_log_that_verifies_and_names_the_call_and_the_next_run_continues_it()
 {
    let f = Fixture::new("");
    f.sleepy("60s");
    f.package("text-stats", "text-stats", Pkg::default());
    let mut child = run_cmd(&f, "sleepy", "{}", &f.audit)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    // The tool is blocked in its sleep, inside a host call.
    let start = started(&f.audit, "sleepy@1.0.1", &[]);
    let killed = start["call"].as_str().expect("call id").to_owned();
    kill_9(&mut child);

    assert_verifies_naming(&f, &f.audit, &[(&killed, "sleepy@1.0.1")]);
    let rs = records(&f.audit);
    assert_eq!(rs.last().expect("records")["call"], killed.as_str());
    assert!(rs.iter().all(|r| r["kind"] != "end"), "{rs:?}");
    // The ratchet recorded the release at load, before the call, and is whole.
    let entry = ratchet_entry(&f.state, "sleepy");
    assert_eq!(entry["sequence"], 1, "{entry}");
    let leftovers: Vec<_> = std::fs::read_dir(&f.state)
        .expect("state")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp."))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // The next runs work and extend the same chain.
    let head = rs.last().expect("head")["hash"].clone();
    let (code, _, err) = output(run_cmd(&f, "sleepy", "{}", &f.audit).args(["--timeout", "1s"]));
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("error[limit-timeout]"), "{err}");
    let (code, out, err) = output(&mut run_cmd(
        &f,
        "text-stats",
        r#"{"text":"after the crash"}"#,
        &f.audit,
    ));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).expect("json")["words"],
        3
    );
    let after = records(&f.audit);
    assert_eq!(after[rs.len()]["prev"], head, "the chain continues");
    assert_eq!(after[rs.len()]["seq"], rs.len() as u64);
    // The killed call stays the only unfinished one; the ratchet saw the same release again.
    assert_verifies_naming(&f, &f.audit, &[(&killed, "sleepy@1.0.1")]);
    assert_eq!(ratchet_entry(&f.state, "sleepy"), entry);
}

/// A `wasmgov serve --http 127.0.0.1:0` child of a fixture.
struct Served {
    child: Child,
    addr: std::net::SocketAddr,
}

impl Served {
    fn start(f: &Fixture) -> Self {
        let mut child = wasmgov(f)
            .args(f.serve_args())
            .args(["--http", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn serve");
        let mut err = BufReader::new(child.stderr.take().expect("stderr"));
        let port = crate::serve::listening_port(&mut err);
        // Keep draining stderr so the server never blocks on it.
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut err, &mut std::io::sink());
        });
        Self {
            child,
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }

    /// Send `tools/call` of `name`; returns a handle whose join gives the raw response.
    fn call(&self, name: &str, arguments: Value) -> std::thread::JoinHandle<String> {
        let (head, body) = crate::serve::http::stateless(
            self.addr,
            "tools/call",
            Some(name),
            json!({"name": name, "arguments": arguments}),
            "",
        );
        let addr = self.addr;
        std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(addr).expect("connect");
            write!(
                s,
                "{head}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .expect("send");
            s.write_all(&body).expect("send body");
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            out
        })
    }

    /// `tools/call` and the tool result.
    fn result(&self, name: &str, arguments: Value) -> Value {
        let raw = self.call(name, arguments).join().expect("join");
        let m = crate::serve::http::message(&raw);
        m.get("result")
            .cloned()
            .unwrap_or_else(|| panic!("no result: {m}"))
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const BURST: &str = "[[detect]]\nrule = \"deny-burst\"\nthreshold = 3\nwindow = \"60s\"\n\
                     action = \"quarantine\"\n";

fn denied_urls(n: usize) -> Value {
    let http: Vec<Value> = (0..n)
        .map(|i| json!({"url": format!("http://denied-{i}.example.com/")}))
        .collect();
    json!({ "http": http })
}

fn text_of(result: &Value) -> &str {
    result["content"][0]["text"].as_str().unwrap_or("")
}

#[test]
fn kill_9_of_serve_mid_call_keeps_the_quarantine_and_the_log_and_the_next_server_serves() {
    let f = Fixture::new(BURST);
    f.package("hostile-net", "hostile-net", Pkg::default());
    f.package("text-stats", "text-stats", Pkg::default());
    f.sleepy("60s");
    let first = Served::start(&f);
    // hostile-net is denied 4 times in one call: quarantined, on file in the state directory.
    let r = first.result("hostile-net", denied_urls(4));
    assert!(text_of(&r).contains("error[quarantined]"), "{r}");
    let quarantine = std::fs::read(f.state.join("quarantine.json")).expect("quarantine.json");
    // A call in flight over HTTP, blocked in the host.
    let pending = first.call("sleepy", json!({}));
    let start = started(&f.audit, "sleepy@1.0.1", &[]);
    let killed = start["call"].as_str().expect("call").to_owned();
    let mut first = first;
    kill_9(&mut first.child);
    let answer = pending.join().expect("join");
    assert!(
        !answer.contains("\"result\""),
        "a killed server answers nothing: {answer}"
    );

    assert_verifies_naming(&f, &f.audit, &[(&killed, "sleepy@1.0.1")]);
    assert_eq!(
        std::fs::read(f.state.join("quarantine.json")).expect("quarantine.json"),
        quarantine,
        "the quarantine list is as it was"
    );
    let (code, out, err) = output(
        wasmgov(&f)
            .args(["quarantine", "list", "--state"])
            .arg(&f.state),
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("hostile-net") && out.contains("deny-burst"),
        "{out}"
    );
    assert_eq!(ratchet_entry(&f.state, "sleepy")["sequence"], 1);

    // A new server on the same state and log: it serves, and the quarantine holds.
    let second = Served::start(&f);
    let r = second.result("text-stats", json!({"text": "served again"}));
    assert_ne!(r["isError"], true, "{r}");
    assert!(text_of(&r).contains("\"words\":2"), "{r}");
    // The quarantined tool is refused at load, so the new server does not serve it.
    let raw = second
        .call("hostile-net", denied_urls(1))
        .join()
        .expect("join");
    let m = crate::serve::http::message(&raw);
    assert_eq!(m["error"]["message"], "unknown tool: hostile-net", "{m}");
    // Stopped the orderly way, the new server leaves no call unfinished of its own.
    let mut second = second;
    // SAFETY: kill(2) on our own child's pid with a valid signal number.
    assert_eq!(
        unsafe { libc::kill(second.child.id() as i32, libc::SIGTERM) },
        0
    );
    assert_eq!(second.child.wait().expect("wait").code(), Some(0));
    assert_verifies_naming(&f, &f.audit, &[(&killed, "sleepy@1.0.1")]);
}

/// A tmpfs of a fixed size mounted on a fresh directory, unmounted when dropped. The tests run
/// as root (CI); otherwise through `sudo -n`. Neither available is a failure, not a skip.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        privileged(&[
            "mount",
            "-t",
            "tmpfs",
            "-o",
            &format!("size={size},mode=0700"),
            "tmpfs",
            s(dir.path()),
        ]);
        Self { dir }
    }

    /// Give it room.
    fn resize(&self, size: &str) {
        privileged(&[
            "mount",
            "-o",
            &format!("remount,size={size}"),
            s(self.dir.path()),
        ]);
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let p = s(self.dir.path()).to_owned();
        let mut c = if current_uid() == 0 {
            Command::new("umount")
        } else {
            let mut c = Command::new("sudo");
            c.args(["-n", "umount"]);
            c
        };
        // Lazy, so a process still holding a file in it cannot keep it mounted.
        let _ = c.args(["-l", &p]).status();
    }
}

fn current_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// Run `argv` as root: directly when this is root, else with `sudo -n`.
fn privileged(argv: &[&str]) {
    let mut c = if current_uid() == 0 {
        Command::new(argv[0])
    } else {
        let mut c = Command::new("sudo");
        c.args(["-n", argv[0]]);
        c
    };
    let out = c.args(&argv[1..]).output().unwrap_or_else(|e| {
        panic!("cannot run {argv:?}: {e}; this test needs root or passwordless sudo")
    });
    assert!(
        out.status.success(),
        "{argv:?} failed ({}): {}; this test needs root (it runs as root in CI) or passwordless \
         sudo, to mount a small tmpfs",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_audit_disk_filling_mid_call_stops_the_call_and_leaves_a_log_that_verifies() {
    let f = Fixture::new("");
    // Its 100,000 host calls (the default limit) would write ~30 MB of records.
    f.package("storm", "host-call-storm", Pkg::default());
    f.package("text-stats", "text-stats", Pkg::default());
    let disk = Tmpfs::mount("192k");
    let log = disk.path().join("audit.jsonl");
    let n = 200_000;
    let (code, out, err) = output(&mut run_cmd(
        &f,
        "storm",
        &format!(r#"{{"n":{n},"op":"log"}}"#),
        &log,
    ));
    // Failed closed: the audit error, its exit code, no result, no panic.
    assert_eq!(code, 6, "{err}");
    assert!(err.contains("error[audit]"), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.is_empty(), "no result without its records: {out}");
    // The tool stopped soon after the write failed: at most what was in flight to the writer
    // (docs/audit.md, "Fail closed") ran unrecorded.
    let ran = err.matches("[tool info] tick").count();
    let rs = records(&log);
    let on_disk = rs.iter().filter(|r| r["func"] == "log").count();
    eprintln!("host calls run: {ran}, recorded on the full disk: {on_disk}");
    assert!(ran < n / 10, "{ran} host calls ran");
    assert!(on_disk > 0 && ran >= on_disk);
    assert!(
        ran - on_disk <= (2 * 4 + 1) * 256,
        "{} ran unrecorded",
        ran - on_disk
    );
    // The writer cut its torn last record back: a chain that verifies, naming the call.
    let call = rs
        .iter()
        .find(|r| r["kind"] == "start")
        .expect("the start reached the disk")["call"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_verifies_naming(&f, &log, &[(&call, "storm@1.0.1")]);

    // While the disk is full, a run is refused before its tool runs, and the log is untouched.
    let before = std::fs::read(&log).expect("read");
    let (code, out, err) = output(&mut run_cmd(
        &f,
        "text-stats",
        r#"{"text":"no room"}"#,
        &log,
    ));
    assert_eq!(code, 6, "{err}");
    assert!(err.contains("error[audit]"), "{err}");
    assert!(out.is_empty(), "{out}");
    assert_eq!(std::fs::read(&log).expect("read"), before, "nothing torn");

    // With room again the same log is continued.
    disk.resize("64m");
    let (code, out, err) = output(&mut run_cmd(
        &f,
        "text-stats",
        r#"{"text":"room again"}"#,
        &log,
    ));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"words\":2"), "{out}");
    assert_verifies_naming(&f, &log, &[(&call, "storm@1.0.1")]);
    assert!(records(&log).len() > rs.len());
}

/// The compiled artifacts in a state directory's cache: `.cwasm` paths by name.
fn artifacts(state: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(state.join("cache"))
        .expect("cache dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .collect();
    v.sort();
    v
}

/// `wasmgov run COMPONENT` (no manifest) with the compile cache's debug log on stderr.
fn run_cached(f: &Fixture, name: &str, input: &str) -> (i32, String, String) {
    output(
        wasmgov(f)
            .arg("run")
            .arg(crate::support::tool(name))
            .args(["--input", input, "--state", s(&f.state)])
            .env("WASMGOV_LOG", "wasmgov_runtime::artifacts=debug"),
    )
}

fn sha256_file(p: &Path) -> String {
    wasmgov::component::sha256_hex(&std::fs::read(p).expect("read"))
}

#[test]
fn a_corrupt_compile_cache_is_detected_rebuilt_and_never_loaded_by_the_cli() {
    let f = Fixture::new("");
    let input = r#"{"text":"one two three"}"#;
    let words = |out: &str| serde_json::from_str::<Value>(out).expect("json")["words"].clone();
    let (code, out, err) = run_cached(&f, "text-stats", input);
    assert_eq!(code, 0, "{err}");
    assert_eq!(words(&out), 3);
    let (code, _, err) = run_cached(&f, "unit-calc", r#"{"value":1,"from":"km","to":"m"}"#);
    assert_eq!(code, 0, "{err}");
    let arts = artifacts(&f.state);
    assert_eq!(arts.len(), 2, "{arts:?}");
    let text_stats_sha = wasmgov::component::sha256_hex(
        &std::fs::read(crate::support::tool("text-stats")).expect("read"),
    );
    let (ours, theirs) = if s(&arts[0]).contains(&text_stats_sha) {
        (arts[0].clone(), arts[1].clone())
    } else {
        (arts[1].clone(), arts[0].clone())
    };
    let good = std::fs::read(&ours).expect("read");
    // A warm run maps it and logs no miss.
    let (code, _, err) = run_cached(&f, "text-stats", input);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("artifact not used"), "{err}");

    type Damage = fn(&Path, &Path);
    let damages: [(&str, Damage, &str); 4] = [
        (
            "a flipped byte in the middle",
            |p, _| {
                let mut b = std::fs::read(p).expect("read");
                let at = b.len() / 2;
                b[at] ^= 0xff;
                std::fs::write(p, b).expect("write");
            },
            "DigestMismatch",
        ),
        (
            "truncated to 0 bytes",
            |p, _| std::fs::write(p, b"").expect("write"),
            "DigestMismatch",
        ),
        (
            "another tool's artifact",
            |p, other| {
                std::fs::copy(other, p).expect("copy");
            },
            "DigestMismatch",
        ),
        (
            "another tool's artifact with its digest file",
            |p, other| {
                std::fs::copy(other, p).expect("copy");
                std::fs::copy(other.with_extension("sha256"), p.with_extension("sha256"))
                    .expect("copy digest");
            },
            "OtherName",
        ),
    ];
    for (what, damage, why) in damages {
        let ino = std::fs::metadata(&ours).expect("stat").ino();
        damage(&ours, &theirs);
        assert_ne!(std::fs::read(&ours).expect("read"), good, "{what}");
        let (code, out, err) = run_cached(&f, "text-stats", input);
        assert_eq!(code, 0, "{what}: {err}");
        assert_eq!(words(&out), 3, "{what}: the right tool ran");
        // Not loaded: refused before mapping, for the reason the damage gives.
        assert!(
            err.contains("artifact not used") && err.contains(why),
            "{what}: {err}"
        );
        // Rebuilt: the compiler's output again, in a new file, with a digest that matches.
        assert_eq!(std::fs::read(&ours).expect("read"), good, "{what}");
        assert_ne!(std::fs::metadata(&ours).expect("stat").ino(), ino, "{what}");
        let digest = std::fs::read_to_string(ours.with_extension("sha256")).expect("digest");
        assert!(digest.starts_with(&sha256_file(&ours)), "{what}: {digest}");
        // And used from then on.
        let (code, _, err) = run_cached(&f, "text-stats", input);
        assert_eq!(code, 0, "{err}");
        assert!(!err.contains("artifact not used"), "{what}: {err}");
    }
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[test]
fn an_unsafe_state_directory_or_state_file_is_refused_before_the_tool_runs() {
    let f = Fixture::new("");
    f.package("text-stats", "text-stats", Pkg::default());
    let input = r#"{"text":"state"}"#;
    // Audited into the state directory (the default), so a refusal must come before the log.
    let default_log = f.state.join("audit.jsonl");
    let run = || {
        output(
            wasmgov(&f)
                .arg("run")
                .arg(f.tools.join("text-stats.wasm"))
                .args(["--input", input, "--state", s(&f.state)])
                .args(["--trust", s(&f.trust), "--policy", s(&f.policy)]),
        )
    };
    let (code, _, err) = run();
    assert_eq!(code, 0, "{err}");
    let log = std::fs::read(&default_log).expect("log");

    for (mode, says) in [
        (0o777, "writable by group or others (mode 777)"),
        (0o770, "writable by group or others (mode 770)"),
        (
            0o000,
            "not readable, writable and searchable by its owner (mode 0)",
        ),
        (
            0o500,
            "not readable, writable and searchable by its owner (mode 500)",
        ),
    ] {
        chmod(&f.state, mode);
        let (code, out, err) = run();
        chmod(&f.state, 0o700);
        assert_eq!(code, 2, "mode {mode:o}: {err}");
        assert!(err.starts_with("error[io]: "), "{err}");
        assert!(err.contains(says), "mode {mode:o}: {err}");
        assert!(
            err.contains("refusing to trust it with compiled code or state"),
            "{err}"
        );
        assert!(out.is_empty());
        assert_eq!(
            std::fs::read(&default_log).expect("log"),
            log,
            "mode {mode:o}: nothing ran, nothing was logged"
        );
    }
    let (code, _, err) = run();
    assert_eq!(code, 0, "restored, it works again: {err}");

    // The ratchet's file: a symlink (to an identical copy) or writable by others is refused,
    // fail closed, before the tool runs.
    let ratchet = f.state.join("ratchet.json");
    let copy = f.dir.path().join("ratchet-copy.json");
    std::fs::copy(&ratchet, &copy).expect("copy");
    chmod(&copy, 0o600);
    std::fs::remove_file(&ratchet).expect("rm");
    std::os::unix::fs::symlink(&copy, &ratchet).expect("symlink");
    let (code, out, err) = run();
    assert_eq!(code, 3, "{err}");
    assert!(err.starts_with("error[ratchet-state]: "), "{err}");
    assert!(err.contains("a symbolic link"), "{err}");
    assert!(out.is_empty());
    std::fs::remove_file(&ratchet).expect("rm link");
    std::fs::copy(&copy, &ratchet).expect("restore");
    for mode in [0o666, 0o620, 0o602] {
        chmod(&ratchet, mode);
        let (code, _, err) = run();
        assert_eq!(code, 3, "{err}");
        assert!(
            err.contains(&format!("writable by group or others (mode {mode:o})")),
            "{err}"
        );
    }
    chmod(&ratchet, 0o600);
    // The ratchet's lock file as a symlink: not followed either.
    let lock = f.state.join("ratchet.lock");
    let elsewhere = f.dir.path().join("elsewhere.lock");
    std::fs::remove_file(&lock).expect("rm lock");
    std::os::unix::fs::symlink(&elsewhere, &lock).expect("symlink");
    let (code, _, err) = run();
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("a symbolic link"), "{err}");
    assert!(!elsewhere.exists(), "the link's target was not created");
    std::fs::remove_file(&lock).expect("rm link");

    // The quarantine list likewise (read at every load).
    let quarantine = f.state.join("quarantine.json");
    std::fs::write(&copy, "{\"v\":1,\"tools\":{}}\n").expect("write");
    std::os::unix::fs::symlink(&copy, &quarantine).expect("symlink");
    let (code, _, err) = run();
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("quarantine state"), "{err}");
    assert!(err.contains("a symbolic link"), "{err}");
    std::fs::remove_file(&quarantine).expect("rm link");

    let (code, out, err) = run();
    assert_eq!(code, 0, "everything restored: {err}");
    assert!(out.contains("\"words\":1"), "{out}");
}

/// libfaketime's preload library, installed by `scripts/setup` (Debian's `faketime`).
fn libfaketime() -> PathBuf {
    let found = std::fs::read_dir("/usr/lib")
        .expect("/usr/lib")
        .flatten()
        .map(|e| e.path().join("faketime/libfaketime.so.1"))
        .find(|p| p.exists());
    found.expect("libfaketime.so.1 is not installed: run scripts/setup (Debian package `faketime`)")
}

/// Run `c` under libfaketime reading its offset from `file` on every clock read; the monotonic
/// clock is left alone unless `fake_monotonic`.
fn faked(c: &mut Command, file: &Path, fake_monotonic: bool) {
    c.env("LD_PRELOAD", libfaketime())
        .env("FAKETIME_TIMESTAMP_FILE", file)
        .env("FAKETIME_NO_CACHE", "1")
        .env("FAKETIME_DISABLE_SHM", "1");
    if !fake_monotonic {
        c.env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
    }
}

/// Microseconds since the epoch of a record's RFC 3339 `ts` (`YYYY-MM-DDTHH:MM:SS.ffffffZ`).
fn micros(ts: &Value) -> i64 {
    wasmgov::audit::record::ts_micros(ts.as_str().expect("ts")).expect("an RFC 3339 UTC time")
}

const DAY_US: i64 = 86_400 * 1_000_000;

#[test]
fn wall_clock_steps_during_a_call_change_neither_its_limit_nor_its_records() {
    let f = Fixture::new("");
    f.sleepy("3s");
    let key = f.dir.path().join("audit-key");
    let (k, _) = wasmgov::signature::keygen("operator").expect("keygen");
    wasmgov::signature::write_keypair(&k, &key).expect("write key");
    let clock = f.dir.path().join("faketime.rc");
    let mut seen: Vec<String> = Vec::new();
    // A day back, then a year ahead: each written while the call is blocked in the host.
    for (step, step_us) in [("-1d", -DAY_US), ("+365d", 365 * DAY_US)] {
        std::fs::write(&clock, "+0\n").expect("clock");
        let mut c = run_cmd(&f, "sleepy", "{}", &f.audit);
        c.args(["--audit-key", s(&key)])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        faked(&mut c, &clock, false);
        let began = Instant::now();
        let mut child = c.spawn().expect("spawn");
        let start = started(&f.audit, "sleepy@1.0.1", &seen);
        let call = start["call"].as_str().expect("call").to_owned();
        std::fs::write(&clock, format!("{step}\n")).expect("step the clock");
        let mut err = String::new();
        child
            .stderr
            .take()
            .expect("stderr")
            .read_to_string(&mut err)
            .expect("read stderr");
        let status = child.wait().expect("wait");
        let took = began.elapsed();
        // The timeout ran on the monotonic clock: it fired, and not before its 3 s.
        assert_eq!(status.code(), Some(4), "{step}: {err}");
        assert!(err.contains("error[limit-timeout]"), "{step}: {err}");
        assert!(took >= Duration::from_secs(3), "{step}: {took:?}");
        let rs: Vec<Value> = records(&f.audit)
            .into_iter()
            .filter(|r| r["call"] == call.as_str())
            .collect();
        let end = rs.iter().find(|r| r["kind"] == "end").expect("end");
        let limit = rs.iter().find(|r| r["kind"] == "limit").expect("limit");
        assert_eq!(limit["which"], "timeout");
        let us = end["us"].as_u64().expect("a non-negative duration") as i64;
        assert!(us >= 3_000_000, "{step}: {end}");
        // The call's records are on one clock: in order, and `end - start` is its duration,
        // whichever way the wall clock went meanwhile.
        let call_records: Vec<&Value> = rs.iter().filter(|r| r["kind"] != "checkpoint").collect();
        for w in call_records.windows(2) {
            assert!(
                micros(&w[0]["ts"]) <= micros(&w[1]["ts"]),
                "{step}: {} then {}",
                w[0],
                w[1]
            );
        }
        for r in &rs {
            if let Some(u) = r.get("us") {
                assert!(u.is_u64(), "{step}: {r}");
            }
        }
        let span = micros(&end["ts"]) - micros(&start["ts"]);
        assert!(
            (span - us).abs() < 1_000_000,
            "{step}: span {span} µs, us {us}"
        );
        // The step did reach the process: the checkpoint after the call is stamped with the
        // wall clock as it is then.
        let checkpoint = rs
            .iter()
            .find(|r| r["kind"] == "checkpoint")
            .expect("checkpoint");
        let off = micros(&checkpoint["ts"]) - micros(&end["ts"]) - step_us;
        assert!(off.abs() < 3_600 * 1_000_000, "{step}: {checkpoint}");
        seen.push(call);
    }
    // Across calls the log's `ts` follows the wall clock (the second call's checkpoint is a
    // year ahead of what came after it); order is `seq`, and the log verifies, signed.
    let pubkey = format!("{}.pub", key.display());
    let (code, out) = verify_cli(&f, &f.audit, &["--key", &pubkey]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("checkpoints verified"), "{out}");
}

#[test]
fn manifest_expiry_is_judged_by_the_wall_clock_at_load() {
    let f = Fixture::new("");
    f.package("text-stats", "text-stats", Pkg::default());
    // Re-sign the release with an expiry 30 days from now.
    let toml = f.tools.join("text-stats.toml");
    let expires =
        wasmgov::audit::record::format_ts(SystemTime::now() + Duration::from_secs(30 * 86_400));
    let text = std::fs::read_to_string(&toml).expect("manifest").replacen(
        "sequence = 1\n",
        &format!("sequence = 1\nexpires = \"{expires}\"\n"),
        1,
    );
    let key = wasmgov::signature::load_private_key(test_key()).expect("key");
    let sig = wasmgov::signature::sign(&key, text.as_bytes()).expect("sign");
    std::fs::write(&toml, &text).expect("write");
    std::fs::write(f.tools.join("text-stats.toml.sig"), sig).expect("write sig");
    let clock = f.dir.path().join("faketime.rc");
    let run_at = |offset: &str| {
        std::fs::write(&clock, format!("{offset}\n")).expect("clock");
        let mut c = run_cmd(&f, "text-stats", r#"{"text":"when"}"#, &f.audit);
        faked(&mut c, &clock, false);
        output(&mut c)
    };
    let (code, _, err) = run_at("+0");
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run_at("+365d");
    assert_eq!(code, 3, "{err}");
    assert!(err.starts_with("error[manifest-expired]: "), "{err}");
    assert!(out.is_empty());
    // A day back is inside the window: it runs. The ratchet keys on `sequence`, not on time,
    // so no clock step rolls a release back or forward.
    let (code, _, err) = run_at("-1d");
    assert_eq!(code, 0, "{err}");
}
