//! Hostile tools against every limit: each is stopped by the right limit, reported as its own
//! kind with exit 4, within its bound, and the host serves the next call.

use std::time::{Duration, Instant};

use wasmgov::{Error, LimitKind, Limits};

use crate::support::{load, run, s, tool};

fn limit_kind(r: &Result<Vec<u8>, Error>) -> Option<LimitKind> {
    match r {
        Err(Error::Limit(l)) => Some(l.kind),
        _ => None,
    }
}

#[tokio::test]
async fn infinite_loop_runs_out_of_fuel() {
    let t = load(
        "hostile-loop",
        Limits {
            fuel: 50_000_000,
            ..Limits::default()
        },
    );
    let out = t.run(b"{}", &Default::default()).await;
    assert_eq!(
        limit_kind(&out.result),
        Some(LimitKind::Fuel),
        "{:?}",
        out.result
    );
    assert_eq!(out.stats.fuel_used, 50_000_000);
}

#[tokio::test]
async fn infinite_loop_with_ample_fuel_hits_the_timeout() {
    let t = load(
        "hostile-loop",
        Limits {
            fuel: u64::MAX / 2,
            timeout: Duration::from_millis(300),
            ..Limits::default()
        },
    );
    let start = Instant::now();
    let out = t.run(b"{}", &Default::default()).await;
    assert_eq!(
        limit_kind(&out.result),
        Some(LimitKind::Timeout),
        "{:?}",
        out.result
    );
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "stopped late: {:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn sleeping_in_a_host_call_hits_the_timeout() {
    let t = load(
        "hostile-sleep",
        Limits {
            timeout: Duration::from_millis(300),
            ..Limits::default()
        },
    );
    let start = Instant::now();
    let out = t.run(b"{}", &Default::default()).await;
    assert_eq!(
        limit_kind(&out.result),
        Some(LimitKind::Timeout),
        "{:?}",
        out.result
    );
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "stopped late: {:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn recursion_overflows_the_stack_not_the_host() {
    let t = load("hostile-recursion", Limits::default());
    let out = t.run(b"{}", &Default::default()).await;
    assert_eq!(
        limit_kind(&out.result),
        Some(LimitKind::Stack),
        "{:?}",
        out.result
    );
    // The host is alive and serves the next call.
    let ok = load("text-stats", Limits::default())
        .call(r#"{"text":"still here"}"#)
        .await;
    assert!(ok.is_ok(), "{ok:?}");
}

#[tokio::test]
async fn memory_bomb_is_a_memory_limit_not_a_crash() {
    let limit = 16 << 20;
    let t = load(
        "hostile-membomb",
        Limits {
            memory: limit,
            ..Limits::default()
        },
    );
    let out = t.run(b"{}", &Default::default()).await;
    assert_eq!(
        limit_kind(&out.result),
        Some(LimitKind::Memory),
        "{:?}",
        out.result
    );
    assert!(
        out.stats.peak_memory <= limit,
        "peak {} > limit {limit}",
        out.stats.peak_memory
    );
}

#[tokio::test]
async fn output_flood_is_cut_at_the_cap() {
    let cap = 256 << 10;
    let t = load(
        "hostile-flood",
        Limits {
            output: cap,
            ..Limits::default()
        },
    );
    let out = t.run(b"{}", &Default::default()).await;
    assert_eq!(
        limit_kind(&out.result),
        Some(LimitKind::Output),
        "{:?}",
        out.result
    );
    let kept = (out.stdout.len() + out.stderr.len()) as u64;
    assert!(kept <= cap, "kept {kept} bytes > cap {cap}");
    assert!(
        kept >= cap / 2,
        "the first bytes up to the cap are kept ({kept})"
    );
}

#[tokio::test]
async fn host_call_flood_is_capped() {
    // The flood tool writes in a loop; every write is a host call.
    let t = load(
        "hostile-flood",
        Limits {
            host_calls: 50,
            ..Limits::default()
        },
    );
    let out = t.run(b"{}", &Default::default()).await;
    assert_eq!(
        limit_kind(&out.result),
        Some(LimitKind::HostCalls),
        "{:?}",
        out.result
    );
    assert!(out.stats.host_calls <= 50);
}

#[tokio::test]
async fn calls_do_not_share_state() {
    // Two calls of the same tool: the second sees a fresh sandbox (counts start from zero).
    let t = load("text-stats", Limits::default());
    let a = t.run(br#"{"text":"one"}"#, &Default::default()).await;
    let b = t.run(br#"{"text":"one"}"#, &Default::default()).await;
    assert_eq!(a.result.as_ref().ok(), b.result.as_ref().ok());
}

#[test]
fn cli_reports_each_limit_with_its_own_kind_and_exit_4() {
    let policy = crate::support::generous_policy_file().display().to_string();
    let cases: &[(&str, &[&str], &str)] = &[
        ("hostile-loop", &["--fuel", "10000000"], "error[limit-fuel]"),
        (
            "hostile-loop",
            &[
                "--fuel",
                "100000000000000",
                "--timeout",
                "300ms",
                "--policy",
                &policy,
            ],
            "error[limit-timeout]",
        ),
        (
            "hostile-sleep",
            &["--timeout", "300ms"],
            "error[limit-timeout]",
        ),
        ("hostile-recursion", &[], "error[limit-stack]"),
        (
            "hostile-membomb",
            &["--memory", "16MiB"],
            "error[limit-memory]",
        ),
        (
            "hostile-flood",
            &["--max-output", "64KiB"],
            "error[limit-output]",
        ),
    ];
    for (name, flags, kind) in cases {
        let t = tool(name);
        let mut args = vec!["run", s(&t), "--input", "{}"];
        args.extend_from_slice(flags);
        let start = Instant::now();
        let (code, out, err) = run(&args);
        assert_eq!(code, 4, "{name}: {err}");
        assert!(err.contains(kind), "{name}: {err}");
        assert!(err.contains("hint:"), "{name}: {err}");
        assert!(out.is_empty(), "{name}: no result on stdout");
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{name} took {:?}",
            start.elapsed()
        );
    }
}
