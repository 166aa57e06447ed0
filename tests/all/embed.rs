//! The embedding API an agent server relies on: `Send` futures, concurrency with back-pressure
//! or a typed `Busy`, cancellation that stops the guest, reload without disturbing calls in
//! flight, and the example server answering concurrent calls on 127.0.0.1.

use std::io::{BufRead, BufReader, Write};
use std::time::{Duration, Instant};

use wasmgov::{Admission, CallOptions, CancelToken, Error, Limits};

use crate::support::{GENEROUS_POLICY, tool};

fn small_runtime(slots: u32) -> wasmgov::Runtime {
    let policy = wasmgov::policy::Policy::parse(GENEROUS_POLICY.as_bytes()).expect("policy");
    wasmgov::Runtime::builder()
        .policy(policy)
        .allocator(wasmgov::Allocator::Pooling {
            max_concurrent: slots,
        })
        .cache_dir(crate::support::shared_state().join("lib-cache"))
        .build()
        .expect("runtime")
}

fn load(rt: &wasmgov::Runtime, name: &str, limits: Limits) -> wasmgov::Tool {
    rt.load_component(&std::fs::read(tool(name)).expect("read"), limits)
        .expect("load")
}

/// hostile-loop with fuel and time enough to spin until something else stops it.
fn spinner(rt: &wasmgov::Runtime) -> wasmgov::Tool {
    let limits = Limits {
        fuel: u64::MAX / 4,
        timeout: Duration::from_secs(60),
        ..Limits::default()
    };
    load(rt, "hostile-loop", limits)
}

#[test]
fn call_futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let rt = small_runtime(1);
    let t = load(&rt, "text-stats", Limits::default());
    let fut = t.call("{}");
    assert_send(&fut);
    let opts = CallOptions::default();
    let run = t.run(b"{}", &opts);
    assert_send(&run);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_calls_all_complete() {
    let rt = small_runtime(4);
    let t = load(&rt, "text-stats", Limits::default());
    let mut tasks = Vec::new();
    for i in 0..64 {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let input = format!(r#"{{"text":"{}"}}"#, "w ".repeat(i + 1));
            let out = t.call(&input).await.expect("call");
            let v: serde_json::Value = serde_json::from_slice(&out).expect("json");
            assert_eq!(v["words"], i + 1);
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_fast_admission_is_busy_when_slots_are_taken() {
    let rt = small_runtime(1);
    let sleeper = load(
        &rt,
        "hostile-sleep",
        Limits {
            timeout: Duration::from_secs(2),
            ..Limits::default()
        },
    );
    let quick = load(&rt, "text-stats", Limits::default());
    let hold = tokio::spawn(async move { sleeper.run(b"{}", &CallOptions::default()).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let opts = CallOptions {
        admission: Admission::FailFast,
        ..CallOptions::default()
    };
    let busy = quick.run(br#"{"text":"x"}"#, &opts).await;
    assert!(matches!(busy.result, Err(Error::Busy)), "{:?}", busy.result);
    // Waiting admission gets the slot once the sleeper's timeout frees it.
    let waited = quick.run(br#"{"text":"x"}"#, &CallOptions::default()).await;
    assert!(waited.result.is_ok(), "{:?}", waited.result);
    hold.await.expect("sleeper");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_token_stops_a_spinning_guest_promptly() {
    let rt = small_runtime(2);
    let spinner = spinner(&rt);
    let token = CancelToken::new();
    let opts = CallOptions {
        cancel: Some(token.clone()),
        ..CallOptions::default()
    };
    let start = Instant::now();
    let call = tokio::spawn(async move { spinner.run(b"{}", &opts).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    token.cancel();
    let out = call.await.expect("join");
    assert!(
        matches!(out.result, Err(Error::Cancelled)),
        "{:?}",
        out.result
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_call_future_frees_its_slot() {
    let rt = small_runtime(1);
    let spinner = spinner(&rt);
    let call = tokio::spawn(async move { spinner.run(b"{}", &CallOptions::default()).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    call.abort();
    let _ = call.await;
    // The only slot is free again: a call with fail-fast admission gets it.
    let quick = load(&rt, "text-stats", Limits::default());
    let opts = CallOptions {
        admission: Admission::FailFast,
        ..CallOptions::default()
    };
    let out = tokio::time::timeout(Duration::from_secs(5), quick.run(br#"{"text":"x"}"#, &opts))
        .await
        .expect("not stuck");
    assert!(out.result.is_ok(), "{:?}", out.result);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_does_not_disturb_calls_in_flight() {
    let rt = small_runtime(4);
    let old = load(
        &rt,
        "hostile-sleep",
        Limits {
            timeout: Duration::from_millis(500),
            ..Limits::default()
        },
    );
    let in_flight = tokio::spawn({
        let old = old.clone();
        async move { old.run(b"{}", &CallOptions::default()).await }
    });
    // Replace the handle while the old call runs; the old call ends by its own limit.
    let new = load(&rt, "text-stats", Limits::default());
    drop(old);
    assert!(new.call(r#"{"text":"fresh"}"#).await.is_ok());
    let out = in_flight.await.expect("join");
    assert!(
        matches!(out.result, Err(Error::Limit(_))),
        "{:?}",
        out.result
    );
}

#[test]
fn example_agent_server_answers_concurrent_calls() {
    // cargo builds examples for `cargo test`: target/<profile>/examples/agent-server.
    let exe = std::env::current_exe().expect("exe");
    let server = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|p| p.join("examples/agent-server"))
        .expect("examples dir");
    assert!(server.exists(), "example not built: {}", server.display());
    let dir = tool("text-stats").parent().expect("dir").to_path_buf();
    let mut child = std::process::Command::new(&server)
        .args([
            "--tools",
            dir.to_str().expect("utf-8"),
            "--listen",
            "127.0.0.1:0",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start server");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    out.read_line(&mut first).expect("read");
    let addr = first
        .trim()
        .strip_prefix("listening on ")
        .expect("address line")
        .to_string();
    let mut conn = std::net::TcpStream::connect(&addr).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut reqs = String::new();
    for i in 0..20 {
        reqs.push_str(&format!(
            r#"{{"id":{i},"tool":"text_stats","input":{{"text":"{}"}}}}"#,
            "a ".repeat(i + 1)
        ));
        reqs.push('\n');
    }
    reqs.push_str("{\"id\":\"bad\",\"tool\":\"hostile_loop\",\"input\":{}}\n");
    conn.write_all(reqs.as_bytes()).expect("send");
    let mut reader = BufReader::new(conn);
    let mut seen = 0;
    let mut limited = false;
    for _ in 0..21 {
        let mut line = String::new();
        reader.read_line(&mut line).expect("answer");
        let v: serde_json::Value = serde_json::from_str(&line).expect("json");
        if v["id"] == "bad" {
            assert_eq!(v["error"]["kind"], "limit-fuel", "{v}");
            limited = true;
        } else {
            let i = v["id"].as_u64().expect("id") as usize;
            assert_eq!(v["ok"]["words"], i + 1, "{v}");
            seen += 1;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(seen, 20);
    assert!(limited);
}

fn rss_high_water_mark_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_calls_blocked_in_host_calls_stay_under_one_gib() {
    const N: usize = 10_000;
    let policy = wasmgov::policy::Policy::parse(GENEROUS_POLICY.as_bytes()).expect("policy");
    let rt = wasmgov::Runtime::builder()
        .policy(policy)
        .allocator(wasmgov::Allocator::Pooling {
            max_concurrent: N as u32,
        })
        .max_memory(64 << 20)
        .cache_dir(crate::support::shared_state().join("lib-cache"))
        .build()
        .expect("runtime");
    let sleeper = load(
        &rt,
        "hostile-sleep",
        Limits {
            // Long enough for all of them to be started and blocked at once.
            timeout: Duration::from_secs(8),
            ..Limits::default()
        },
    );
    // Calls inside `run` now, and the most there ever were. Admission is fail-fast, so a call
    // inside `run` holds a slot (one that found none would end `Busy`, which fails below), and
    // every call lasts until its own 8 s timeout: if the most is N, all N were running at once,
    // none taken in turn after another had ended. (No elapsed-time assertion: a busy machine
    // slows the calls down, it does not make them overlap less.)
    use std::sync::atomic::{AtomicUsize, Ordering};
    let in_flight = std::sync::Arc::new(AtomicUsize::new(0));
    let most = std::sync::Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..N)
        .map(|_| {
            let (t, in_flight, most) = (sleeper.clone(), in_flight.clone(), most.clone());
            tokio::spawn(async move {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                let opts = CallOptions {
                    admission: wasmgov::Admission::FailFast,
                    ..CallOptions::default()
                };
                let out = t.run(b"{}", &opts).await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                out
            })
        })
        .collect();
    let mut timed_out = 0;
    for task in tasks {
        let out = task.await.expect("join");
        match out.result {
            Err(Error::Limit(l)) if l.kind == wasmgov::LimitKind::Timeout => timed_out += 1,
            other => panic!("a call ended otherwise: {other:?}"),
        }
    }
    assert_eq!(
        timed_out, N,
        "every call completes (here: by its own timeout)"
    );
    assert_eq!(
        most.load(Ordering::SeqCst),
        N,
        "the calls did not all run at once"
    );
    let hwm = rss_high_water_mark_kib();
    assert!(
        hwm < 1024 * 1024,
        "host RSS high-water mark {hwm} KiB is over 1 GiB"
    );
    eprintln!(
        "{N} calls in flight: RSS high-water mark {} MiB",
        hwm / 1024
    );
}
