//! What a tool can make the host hold, open, block on or write through its binds (review
//! 2026-12, findings 5, 8, 9, 10), driven by the `hostile-fs-res` fixture: binds are held from
//! load and a redirected one is refused, only regular files and directories open, the CLI exits
//! within its timeout plus a second whatever a host thread blocked on, writes and new inodes are
//! charged to a per-call quota, and one call holds at most the fd cap.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wasmgov::{AuditOptions, LoadOptions, Runtime, Tool};

use crate::audit::records;
use crate::caps::{load_with, manifest, runtime_with};
use crate::support::{run, s, shared_state, tool};

const TOOL: &str = "hostile-fs-res";

fn rw_manifest(guest: &str, limits: &str) -> String {
    format!("\n[[fs]]\nguest = \"{guest}\"\naccess = \"read-write\"\n{limits}")
}

fn bind(guest: &str, host: &Path, suffix: &str) -> LoadOptions {
    LoadOptions {
        binds: vec![
            format!("{guest}={}{suffix}", host.display())
                .parse()
                .expect("bind"),
        ],
        ..Default::default()
    }
}

/// A canonical temporary directory (binds are compared by their resolved path).
fn base() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().expect("tempdir");
    let p = std::fs::canonicalize(d.path()).expect("canonical");
    (d, p)
}

/// Run one mode; (the call's error kind or "ok", the tool's report from result or stderr).
async fn mode(t: &Tool, input: Value) -> (String, Value) {
    let out = t
        .run(input.to_string().as_bytes(), &Default::default())
        .await;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    match out.result {
        Ok(bytes) => ("ok".into(), serde_json::from_slice(&bytes).expect("JSON")),
        Err(e) => {
            // "hostile-fs-res MODE: done N error Some(\"quota\") DETAIL"
            let done = stderr
                .split("done ")
                .nth(1)
                .and_then(|r| r.split(' ').next())
                .and_then(|n| n.parse::<u64>().ok());
            let error = stderr
                .split("error Some(\"")
                .nth(1)
                .and_then(|r| r.split('"').next());
            (
                e.kind().to_string(),
                json!({"done": done, "error": error, "message": e.to_string(), "stderr": stderr}),
            )
        }
    }
}

/// A runtime under the generous policy that trusts the capability tests' publisher (so
/// [`load_with`]'s signed packages load), auditing to `log`.
fn audited_runtime(log: &Path) -> Runtime {
    let text = format!(
        "{}\n[[publishers]]\nprincipal = \"{}\"\ntools = [\"*\"]\n",
        crate::support::GENEROUS_POLICY,
        crate::caps::TEST_PUBLISHER
    );
    let policy = wasmgov::policy::Policy::parse(text.as_bytes()).expect("policy");
    Runtime::builder()
        .policy(policy)
        .trust(crate::caps::test_trust())
        .state_dir(log.with_extension("state"))
        .cache_dir(shared_state().join("lib-cache"))
        .audit(wasmgov::Audit::open(log, AuditOptions::default()).expect("audit"))
        .build()
        .expect("runtime")
}

// ---------------------------------------------------------------------------------------------
// Finding 5: binds are held from load; a redirected one is refused.

#[tokio::test]
async fn bind_redirected_after_load_is_refused() {
    let (_d, b) = base();
    let log = b.join("audit.jsonl");
    let root = b.join("root");
    let docs = root.join("docs");
    let evil = b.join("evil");
    for d in [&docs, &evil] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    std::fs::write(docs.join("report.txt"), "original").expect("write");
    std::fs::write(evil.join("report.txt"), "EVIL").expect("write");
    let rt = audited_runtime(&log);
    // Two tools of one runtime: a read-write one over `root`, a reader of `root/docs`.
    let writer = load_with(
        &rt,
        TOOL,
        &rw_manifest("/work", ""),
        &bind("/work", &root, ""),
    )
    .expect("load writer");
    let reader_manifest = "\n[[fs]]\nguest = \"/docs\"\naccess = \"read\"\n";
    let reader =
        load_with(&rt, TOOL, reader_manifest, &bind("/docs", &docs, ":read")).expect("load reader");
    let read = json!({"mode": "read", "dir": "/docs", "path": "report.txt"});
    let (kind, out) = mode(&reader, read.clone()).await;
    assert_eq!(
        (kind.as_str(), out["detail"].as_str()),
        ("ok", Some("original")),
        "{out}"
    );

    // 1. The review's redirect: docs renamed away, a symlink to another directory in its place.
    // A relative target, as in the review (the sandbox refuses absolute ones).
    let swap = json!({"mode": "swap", "dir": "/work", "path": "docs", "target": "../evil"});
    let (kind, out) = mode(&writer, swap).await;
    assert_eq!(
        (kind.as_str(), out["done"].as_u64()),
        ("ok", Some(1)),
        "{out}"
    );
    assert!(
        std::fs::symlink_metadata(&docs)
            .expect("lstat")
            .is_symlink()
    );
    let (kind, out) = mode(&reader, read.clone()).await;
    assert_eq!(kind, "bind", "the reader followed the swapped path: {out}");
    let msg = out["message"].as_str().unwrap_or_default();
    assert!(msg.contains("symlink"), "{msg}");
    assert!(!out.to_string().contains("EVIL"), "{out}");

    // 2. Replaced by another real directory.
    std::fs::remove_file(&docs).expect("unlink");
    std::fs::create_dir(&docs).expect("mkdir");
    std::fs::write(docs.join("report.txt"), "EVIL").expect("write");
    let (kind, out) = mode(&reader, read.clone()).await;
    assert_eq!(kind, "bind", "{out}");
    assert!(
        out["message"]
            .as_str()
            .unwrap_or_default()
            .contains("no longer names"),
        "{out}"
    );

    // 3. An ancestor swapped: root itself renamed and re-created, docs inside it again.
    std::fs::remove_dir_all(&docs).expect("rm");
    std::fs::rename(&root, b.join("root.old")).expect("rename");
    std::os::unix::fs::symlink(b.join("root.old"), &root).expect("symlink");
    let (kind, out) = mode(&reader, read.clone()).await;
    assert_eq!(kind, "bind", "an ancestor symlink was followed: {out}");

    // Each refusal is the call's own audit record: refused with exit 3, nothing read.
    let ends: Vec<Value> = records(&log)
        .into_iter()
        .filter(|r| r["kind"] == "end")
        .collect();
    let outcomes: Vec<(&str, i64)> = ends
        .iter()
        .map(|r| {
            (
                r["outcome"].as_str().unwrap_or_default(),
                r["exit"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [("ok", 0), ("ok", 0), ("bind", 3), ("bind", 3), ("bind", 3)],
        "{ends:?}"
    );

    // Control: loaded again, the reader binds what the path names now and still runs.
    std::fs::remove_file(&root).expect("unlink");
    std::fs::rename(b.join("root.old"), &root).expect("rename back");
    std::fs::create_dir_all(&docs).expect("mkdir");
    std::fs::write(docs.join("report.txt"), "again").expect("write");
    let reader =
        load_with(&rt, TOOL, reader_manifest, &bind("/docs", &docs, ":read")).expect("reload");
    let (kind, out) = mode(&reader, read).await;
    assert_eq!(
        (kind.as_str(), out["detail"].as_str()),
        ("ok", Some("again")),
        "{out}"
    );
}

/// Write `TOOL`'s manifest with `extra` next to a copy of its component; (wasm, manifest).
fn cli_package(dir: &Path, extra: &str) -> (PathBuf, PathBuf) {
    let wasm = dir.join("hostile_fs_res.wasm");
    std::fs::copy(tool(TOOL), &wasm).expect("copy");
    let m = dir.join("hostile_fs_res.toml");
    std::fs::write(&m, manifest(TOOL, extra)).expect("manifest");
    (wasm, m)
}

#[test]
fn bind_redirected_between_cli_runs_is_refused_by_the_roots() {
    let (_d, b) = base();
    let root = b.join("root");
    let docs = root.join("docs");
    std::fs::create_dir_all(&docs).expect("mkdir");
    std::fs::write(docs.join("report.txt"), "original").expect("write");
    let evil = b.join("evil");
    std::fs::create_dir(&evil).expect("mkdir");
    std::fs::write(evil.join("report.txt"), "EVIL").expect("write");
    let policy = b.join("policy.toml");
    std::fs::write(
        &policy,
        format!(
            "{}\n[fs]\nroots = [\"{}\"]\n",
            crate::support::GENEROUS_POLICY,
            root.display()
        ),
    )
    .expect("policy");
    let pkg = b.join("pkg");
    std::fs::create_dir(&pkg).expect("mkdir");
    let extra = "\n[[fs]]\nguest = \"/work\"\naccess = \"read-write\"\n\n[[fs]]\nguest = \"/docs\"\naccess = \"read\"\n";
    let (wasm, m) = cli_package(&pkg, extra);
    let cli = |input: Value| {
        run(&[
            "run",
            s(&wasm),
            "--manifest",
            s(&m),
            "--allow-unsigned",
            "--policy",
            s(&policy),
            "--dir",
            &format!("/work={}", root.join("work").display()),
            "--dir",
            &format!("/docs={}:read", docs.display()),
            "--input",
            &input.to_string(),
        ])
    };
    std::fs::create_dir(root.join("work")).expect("mkdir");
    let (code, out, err) = cli(json!({"mode": "read", "dir": "/docs", "path": "report.txt"}));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("original"), "{out}");
    // The tool cannot reach docs through /work here; the operator's own process swaps it, the
    // way a read-write tool of an overlapping bind did in the review.
    std::fs::rename(&docs, root.join("docs.old")).expect("rename");
    std::os::unix::fs::symlink(&evil, &docs).expect("symlink");
    let (code, out, err) = cli(json!({"mode": "read", "dir": "/docs", "path": "report.txt"}));
    assert_eq!(code, 3, "{out}{err}");
    assert!(err.contains("outside the policy's [fs] roots"), "{err}");
    assert!(!out.contains("EVIL") && !err.contains("EVIL"));
}

// ---------------------------------------------------------------------------------------------
// Finding 8: only regular files and directories open; no host call outlives the deadline.

fn mkfifo(p: &Path) {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    let r = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    assert_eq!(r, 0, "mkfifo {}", p.display());
}

#[tokio::test]
async fn fifo_in_a_bind_is_refused_and_the_cli_exits() {
    let (_d, b) = base();
    let w = b.join("w");
    std::fs::create_dir(&w).expect("mkdir");
    mkfifo(&w.join("fifo"));
    std::fs::write(w.join("file.txt"), "hello").expect("write");
    std::os::unix::fs::symlink("fifo", w.join("to-fifo")).expect("symlink");
    std::fs::hard_link(w.join("fifo"), w.join("fifo-link")).expect("link");
    let _sock = std::os::unix::net::UnixListener::bind(w.join("sock")).expect("socket");
    let rt = runtime_with("", None);
    let t = load_with(&rt, TOOL, &rw_manifest("/w", ""), &bind("/w", &w, "")).expect("load");
    // A FIFO by name, through a symlink, through a hard link; a socket. Each refused at once.
    for path in ["fifo", "to-fifo", "fifo-link", "sock"] {
        let start = Instant::now();
        let (kind, out) = mode(&t, json!({"mode": "read", "path": path})).await;
        assert_eq!(kind, "ok", "{path}: {out}");
        assert_eq!(out["error"], "not-permitted", "{path}: {out}");
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{path}: {:?}",
            start.elapsed()
        );
    }
    // Control: a regular file opens.
    let (_, out) = mode(&t, json!({"mode": "read", "path": "file.txt"})).await;
    assert_eq!(out["detail"], "hello", "{out}");

    // The CLI, the same FIFO: refused, and the process exits well within its timeout.
    let (wasm, m) = cli_package(&b, &rw_manifest("/w", ""));
    let start = Instant::now();
    let (code, out, err) = run(&[
        "run",
        s(&wasm),
        "--manifest",
        s(&m),
        "--allow-unsigned",
        "--dir",
        &format!("/w={}", w.display()),
        "--timeout",
        "2s",
        "--input",
        &json!({"mode": "read", "path": "fifo"}).to_string(),
    ]);
    let took = start.elapsed();
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("not-permitted"), "{out}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
}

/// Swap `x` between a regular file and a FIFO (atomic exchange) until `stop`.
fn swapper(dir: PathBuf, stop: std::sync::Arc<std::sync::atomic::AtomicBool>) {
    use std::sync::atomic::Ordering;
    let x = std::ffi::CString::new(dir.join("x").as_os_str().as_encoded_bytes()).expect("path");
    let y = std::ffi::CString::new(dir.join("y").as_os_str().as_encoded_bytes()).expect("path");
    while !stop.load(Ordering::Relaxed) {
        // SAFETY: both paths are valid NUL-terminated strings; renameat2 takes no ownership.
        let r = unsafe {
            libc::syscall(
                libc::SYS_renameat2,
                libc::AT_FDCWD,
                x.as_ptr(),
                libc::AT_FDCWD,
                y.as_ptr(),
                libc::RENAME_EXCHANGE,
            )
        };
        assert_eq!(r, 0, "renameat2: {}", std::io::Error::last_os_error());
    }
}

#[test]
fn cli_exits_within_its_timeout_when_a_host_thread_stays_blocked() {
    // The residual race of the type check: the path is a file at `stat-at` and a FIFO at
    // `open-at`, so the host thread blocks in open(2) with no writer, for good. The call must
    // end at its deadline and the process within a second of it.
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let (_d, b) = base();
    let w = b.join("w");
    std::fs::create_dir(&w).expect("mkdir");
    std::fs::write(w.join("x"), "file").expect("write");
    mkfifo(&w.join("y"));
    let (wasm, m) = cli_package(&b, &rw_manifest("/w", ""));
    // Compile once, so the runs below time the call and the exit, not the compiler.
    let warm = |n: u64| {
        run(&[
            "run",
            s(&wasm),
            "--manifest",
            s(&m),
            "--allow-unsigned",
            "--dir",
            &format!("/w={}", w.display()),
            "--input",
            &json!({"mode": "race-open", "path": "x", "n": n}).to_string(),
        ])
    };
    let (code, _, err) = warm(1);
    assert_eq!(code, 0, "{err}");
    let timeout = Duration::from_secs(2);
    let mut blocked = 0;
    let mut ran = Vec::new();
    for _ in 0..6 {
        let stop = Arc::new(AtomicBool::new(false));
        let sw = std::thread::spawn({
            let (w, stop) = (w.clone(), stop.clone());
            move || swapper(w, stop)
        });
        let start = Instant::now();
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("wasmgov"))
            .env("XDG_STATE_HOME", shared_state().join("state"))
            .env("XDG_CONFIG_HOME", shared_state().join("config"))
            .env_remove("RUST_LOG")
            .args([
                "run",
                s(&wasm),
                "--manifest",
                s(&m),
                "--allow-unsigned",
                "--dir",
                &format!("/w={}", w.display()),
                "--timeout",
                "2s",
                "--input",
                // Far fewer opens than 2 s allow: the call only times out if one blocked.
                &json!({"mode": "race-open", "path": "x", "n": 3000}).to_string(),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        let code = loop {
            if let Some(st) = child.try_wait().expect("wait") {
                break st.code();
            }
            if start.elapsed() > timeout + Duration::from_secs(10) {
                let _ = child.kill();
                let _ = child.wait();
                stop.store(true, Ordering::Relaxed);
                let _ = sw.join();
                panic!(
                    "wasmgov run still running {:?} after a 2 s timeout",
                    start.elapsed()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let took = start.elapsed();
        stop.store(true, Ordering::Relaxed);
        sw.join().expect("swapper");
        ran.push((code, took));
        assert!(
            took < timeout + Duration::from_secs(1),
            "exit after {took:?} with a 2 s timeout"
        );
        if code == Some(4) {
            blocked += 1;
            if blocked == 2 {
                break;
            }
        } else {
            assert_eq!(code, Some(0), "{ran:?}");
        }
    }
    eprintln!("race runs (exit code, time): {ran:?}");
    assert!(blocked > 0, "the race never blocked a host thread: {ran:?}");
}

// ---------------------------------------------------------------------------------------------
// Finding 9: a per-call write quota, bytes and inodes.

const QUOTA: &str = "\n[limits]\nwrite = \"1 MiB\"\nfiles = 10\n";
const MIB: u64 = 1 << 20;

#[tokio::test]
async fn write_quota_stops_stream_pwrite_and_set_size() {
    let (_d, b) = base();
    let w = b.join("w");
    std::fs::create_dir(&w).expect("mkdir");
    let log = b.join("audit.jsonl");
    let rt = audited_runtime(&log);
    let t = load_with(&rt, TOOL, &rw_manifest("/w", QUOTA), &bind("/w", &w, "")).expect("load");
    for (m, n) in [
        ("stream", 4 * MIB),
        ("append", 4 * MIB),
        ("check-write", 4 * MIB),
        ("pwrite", 4 * MIB),
        ("set-size", 1 << 40),
    ] {
        let file = format!("{m}.bin");
        let (kind, out) = mode(&t, json!({"mode": m, "path": file, "n": n})).await;
        assert_eq!(kind, "limit-write", "{m}: {out}");
        assert_eq!(out["error"], "quota", "{m}: {out}");
        let done = out["done"].as_u64().unwrap_or(u64::MAX);
        assert!(done <= MIB, "{m}: wrote {done}");
        let size = std::fs::metadata(w.join(&file)).expect("stat").len();
        assert!(size <= MIB, "{m}: {size} bytes on disk");
        if m != "set-size" {
            assert!(done >= MIB - 64 * 1024, "{m}: stopped early at {done}");
        }
    }
    // The quota is per call, and what fits in it is written and is no limit hit.
    let (kind, out) = mode(&t, json!({"mode": "stream", "path": "ok.bin", "n": MIB})).await;
    assert_eq!(
        (kind.as_str(), out["done"].as_u64()),
        ("ok", Some(MIB)),
        "{out}"
    );
    let (kind, out) = mode(&t, json!({"mode": "set-size", "path": "ok.bin", "n": 1000})).await;
    assert_eq!(kind, "ok", "shrinking is free: {out}");
    assert_eq!(
        std::fs::metadata(w.join("ok.bin")).expect("stat").len(),
        1000
    );
    // Each hit is in the call's audit: a `write` limit record and an `end` of `limit-write`.
    let rs = records(&log);
    let limits: Vec<&Value> = rs.iter().filter(|r| r["kind"] == "limit").collect();
    assert_eq!(limits.len(), 5, "{limits:?}");
    assert!(
        limits
            .iter()
            .all(|r| r["which"] == "write" && r["limit"] == MIB),
        "{limits:?}"
    );
    let ends: Vec<&str> = rs
        .iter()
        .filter(|r| r["kind"] == "end")
        .map(|r| r["outcome"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        ends,
        ["limit-write"; 5]
            .iter()
            .chain(&["ok", "ok"])
            .copied()
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn inode_quota_stops_create_mkdir_symlink() {
    let rt = runtime_with("", None);
    for m in ["create", "mkdir", "symlink", "link"] {
        let (_d, b) = base();
        let w = b.join("w");
        std::fs::create_dir(&w).expect("mkdir");
        std::fs::write(w.join("src"), "s").expect("write");
        let t = load_with(&rt, TOOL, &rw_manifest("/w", QUOTA), &bind("/w", &w, "")).expect("load");
        let (kind, out) = mode(&t, json!({"mode": m, "path": "src", "n": 100})).await;
        assert_eq!(kind, "limit-files", "{m}: {out}");
        assert_eq!(
            (out["done"].as_u64(), &out["error"]),
            (Some(10), &json!("quota")),
            "{m}: {out}"
        );
        let entries = std::fs::read_dir(&w).expect("readdir").count();
        assert_eq!(entries, 11, "{m}: src and 10 new entries");
    }
    // Opening an existing file with `create` makes no inode.
    let (_d, b) = base();
    let w = b.join("w");
    std::fs::create_dir(&w).expect("mkdir");
    let t = load_with(&rt, TOOL, &rw_manifest("/w", QUOTA), &bind("/w", &w, "")).expect("load");
    for _ in 0..3 {
        let (kind, out) = mode(&t, json!({"mode": "create", "n": 10})).await;
        assert_eq!(
            (kind.as_str(), out["done"].as_u64()),
            ("ok", Some(10)),
            "{out}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Finding 10: host fds per call.

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").expect("fds").count()
}

#[tokio::test]
async fn one_call_cannot_hold_more_than_the_fd_cap() {
    let (_d, b) = base();
    let w = b.join("w");
    std::fs::create_dir(&w).expect("mkdir");
    std::fs::write(w.join("f"), "x").expect("write");
    for i in 0..40 {
        std::fs::write(w.join(format!("e{i}")), "x").expect("write");
    }
    let rt = runtime_with("", None);
    let t = load_with(&rt, TOOL, &rw_manifest("/w", ""), &bind("/w", &w, "")).expect("load");
    let cap = wasmgov_host_api::fs_gov::MAX_FDS as u64;
    // Descriptors kept; streams kept after their descriptor was dropped; listings kept.
    for (m, n, want) in [
        ("open-many", 2000, cap),
        ("open-streams", 2000, cap),
        ("list", 200, wasmgov_host_api::fs_gov::MAX_LISTINGS as u64),
    ] {
        let (kind, out) = mode(&t, json!({"mode": m, "path": "f", "n": n})).await;
        assert_eq!(kind, "ok", "{m}: {out}");
        assert_eq!(
            (out["done"].as_u64(), &out["error"]),
            (Some(want), &json!("insufficient-memory")),
            "{m}: {out}"
        );
    }
    // Everything was released with the call (other tests run concurrently: allow some slack).
    let before = open_fds();
    let (_, out) = mode(&t, json!({"mode": "open-many", "path": "f", "n": 2000})).await;
    assert_eq!(out["done"].as_u64(), Some(cap));
    assert!(
        open_fds() < before + 64,
        "fds leaked: {before} -> {}",
        open_fds()
    );

    // The CLI under a soft limit of 200: it raises the limit, so the cap is what stops the tool
    // (without the raise, the opens fail with `io` near 190).
    let (wasm, m) = cli_package(&b, &rw_manifest("/w", ""));
    let cmd = format!(
        "ulimit -Sn 200 && exec \"$0\" run {} --manifest {} --allow-unsigned --dir /w={} --input '{}'",
        s(&wasm),
        s(&m),
        w.display(),
        json!({"mode": "open-many", "path": "f", "n": 2000})
    );
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(&cmd)
        .arg(assert_cmd::cargo::cargo_bin("wasmgov"))
        .env("XDG_STATE_HOME", shared_state().join("state"))
        .output()
        .expect("sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(
        (v["done"].as_u64(), &v["error"]),
        (Some(cap), &json!("insufficient-memory")),
        "{v}"
    );
}
