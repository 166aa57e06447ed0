//! `audit verify` and `audit show` on hostile logs.
//!
//! Two shapes of input, chosen by the first byte:
//! - raw bytes, as a log file (torn lines, garbage, huge numbers, invalid UTF-8);
//! - records whose chain the harness computes (`seq`, `prev`, `hash` correct, the middle of each
//!   record from the fuzzer), so the checks behind the hash — kinds, counts, checkpoints,
//!   unfinished calls — are reached, not only the hash comparison.
//!
//! Oracles: neither panics; a log the harness chained correctly with plain records verifies
//! unless a record is not JSON or breaks a rule verify documents; verify's counts are
//! consistent with the records it reports.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};
use wasmgov_runtime::audit::show::{self, Filter};
use wasmgov_runtime::audit::verify::{self, VerifyOptions};

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Chain `middles` (each the members between `"seq":N,` and `,"prev"`) into a log.
fn chain(middles: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut prev = GENESIS.to_string();
    for (seq, m) in middles.iter().enumerate() {
        let start = out.len();
        out.extend_from_slice(format!("{{\"v\":1,\"seq\":{seq},").as_bytes());
        out.extend_from_slice(m);
        out.extend_from_slice(format!(",\"prev\":\"{prev}\"").as_bytes());
        let mut h = Sha256::new();
        h.update(&out[start..]);
        h.update(b"}");
        let hash = hex::encode(h.finalize());
        out.extend_from_slice(format!(",\"hash\":\"{hash}\"}}\n").as_bytes());
        prev = hash;
    }
    out
}

fn check(log: &[u8]) -> verify::VerifyReport {
    let rep = verify::verify(Cursor::new(log), &VerifyOptions::default())
        .expect("reading from memory does not fail");
    // What verify reports is consistent with itself.
    assert!(rep.calls <= rep.records);
    assert!(rep.unfinished.len() as u64 <= rep.calls);
    assert!(rep.unverified_checkpoints <= rep.records);
    if let Some((seq, _)) = &rep.head {
        assert_eq!(*seq + 1, rep.records, "the head is the last good record");
    } else {
        assert_eq!(rep.records, 0);
    }
    if let Some(p) = &rep.problem {
        assert_eq!(
            p.seq, rep.records,
            "the problem is at the first record not counted"
        );
    }
    // `show` streams the same bytes: it may refuse a line, never panic.
    let mut rows = Vec::new();
    let _ = show::for_each(Cursor::new(log), &Filter::default(), |line, v| {
        let _ = show::row(&v);
        rows.push((line, v));
        Ok(())
    });
    let table = show::table(&rows);
    // Whatever a record holds, the table has no raw control characters but newlines: a log
    // cannot drive the operator's terminal.
    assert!(
        !table.chars().any(|c| c.is_control() && c != '\n'),
        "a control character reached the table"
    );
    rep
}

/// A valid record of one of seven kinds for call `c`: the harness knows what each means, so it
/// can compute what verify must report.
fn template(kind: u8, c: u8, n: u8) -> String {
    let ts = r#""ts":"2026-12-01T00:00:00.000000Z""#;
    let call = format!("\"call\":\"01JCALL{c:02}\",\"tool\":\"t@1\"");
    match kind % 7 {
        0 => format!(r#"{ts},{call},"kind":"start","input_sha256":"00""#),
        1 => format!(r#"{ts},{call},"kind":"end","outcome":"ok""#),
        2 => format!(r#"{ts},{call},"kind":"host-call","iface":"wasi:clocks","func":"now""#),
        3 => format!(
            r#"{ts},{call},"kind":"host-call","iface":"wasi:clocks","func":"now","count":{}"#,
            u32::from(n) + 2
        ),
        4 => format!(r#"{ts},"call":"","tool":"t@1","kind":"load","unsigned":true"#),
        5 => format!(
            r#"{ts},"call":"","tool":"","kind":"checkpoint","head":"x","key":"k","sig":"s""#
        ),
        _ => format!(r#"{ts},{call},"kind":"note","text":"\u001b[2J""#),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            check(rest);
        }
        1 => {
            // Records separated by newlines in the input; each becomes one chained record.
            let middles: Vec<&[u8]> = rest.split(|b| *b == b'\n').take(64).collect();
            check(&chain(&middles));
        }
        _ => {
            // Valid records only: verify must pass and count exactly what the harness counts.
            let mut records = Vec::new();
            let (mut calls, mut host_calls, mut unsigned, mut checkpoints) = (0u64, 0u64, 0, 0);
            let mut open: Vec<u8> = Vec::new();
            for w in rest.chunks_exact(3).take(256) {
                let (kind, c, n) = (w[0] % 7, w[1] % 8, w[2]);
                match kind {
                    0 => {
                        calls += 1;
                        open.retain(|o| *o != c);
                        open.push(c);
                    }
                    1 => open.retain(|o| *o != c),
                    2 => host_calls += 1,
                    3 => host_calls += u64::from(n) + 2,
                    4 => unsigned += 1,
                    5 => checkpoints += 1,
                    _ => {}
                }
                records.push(template(kind, c, n));
            }
            let middles: Vec<&[u8]> = records.iter().map(|r| r.as_bytes()).collect();
            let rep = check(&chain(&middles));
            assert!(
                rep.ok(),
                "a correctly chained log failed: {:?}",
                rep.problem
            );
            assert_eq!(rep.records, records.len() as u64);
            assert_eq!(rep.calls, calls);
            assert_eq!(rep.host_calls, host_calls);
            assert_eq!(rep.unsigned_loads, unsigned);
            assert_eq!(rep.unverified_checkpoints, checkpoints);
            let want: Vec<String> = open.iter().map(|c| format!("01JCALL{c:02}")).collect();
            let got: Vec<&str> = rep.unfinished.iter().map(|u| u.call.as_str()).collect();
            assert_eq!(got, want, "unfinished calls, in start order");
        }
    }
});
