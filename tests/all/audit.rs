//! The audit log: every host call is recorded, tampering is detected, and a sink that fails
//! stops the call (fail closed).

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use wasmgov::audit::verify::{VerifyOptions, verify_file};
use wasmgov::{Audit, AuditOptions, LoadOptions, Runtime, Tool};

use crate::support::{GENEROUS_POLICY, shared_state, tool};

/// Example tool `name` under an unsigned manifest with `extra` tables.
pub(crate) fn load_unsigned(rt: &Runtime, name: &str, extra: &str, opts: &LoadOptions) -> Tool {
    let bytes = std::fs::read(tool(name)).expect("read component");
    let manifest = format!(
        "schema = 1\n\n[tool]\nname = \"{name}\"\nversion = \"1.0.0\"\npublisher = \"tests@example.com\"\ndescription = \"audit test\"\nsequence = 1\n\n[component]\nsha256 = \"{}\"\nsize = {}\n{extra}",
        wasmgov::names::Sha256Digest::of(&bytes),
        bytes.len()
    );
    rt.load_package(manifest.as_bytes(), None, &bytes, opts)
        .expect("load package")
}

/// An audited runtime under `policy_extra` that trusts the capability tests' publisher (whose
/// signed packages, [`crate::caps::load_with`], get what the policy provisions) and opens
/// loopback to every tool.
pub(crate) fn signed_runtime(policy_extra: &str, log: &Path) -> Runtime {
    let text = format!(
        "{GENEROUS_POLICY}\n{policy_extra}\n[[net.private]]\ncidr = \"127.0.0.1/32\"\ntools = [\"*\"]\n\n[[publishers]]\nprincipal = \"{}\"\ntools = [\"*\"]\n",
        crate::caps::TEST_PUBLISHER
    );
    let state = log.with_extension("state");
    Runtime::builder()
        .policy(wasmgov::policy::Policy::parse(text.as_bytes()).expect("policy"))
        .trust(crate::caps::test_trust())
        .state_dir(&state)
        .cache_dir(shared_state().join("lib-cache"))
        .audit(Audit::file(log).expect("audit"))
        .build()
        .expect("runtime")
}

/// Every record of the log at `p`.
pub(crate) fn records(p: &Path) -> Vec<Value> {
    std::fs::read_to_string(p)
        .expect("read log")
        .lines()
        .map(|l| serde_json::from_str(l).expect("record is JSON"))
        .collect()
}

pub(crate) fn temp_log() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().expect("tempdir");
    let p = d.path().join("audit.jsonl");
    (d, p)
}

const CANARY: &str = "canary-7f3e9a1c";

/// The host-call records of call `call`.
pub(crate) fn host_calls_of(rs: &[Value], call: &str) -> Vec<Value> {
    rs.iter()
        .filter(|r| r["call"] == call && r["kind"] == "host-call")
        .cloned()
        .collect()
}

/// How many host calls a `host-call` record stands for: its `count` (a run of identical
/// side-effect-free calls), or 1.
pub(crate) fn count_of(r: &Value) -> u64 {
    r.get("count").and_then(Value::as_u64).unwrap_or(1)
}

/// The host calls of `func` that call `call` made, counting each record's `count`.
pub(crate) fn calls_of_func(rs: &[Value], call: &str, func: &str) -> u64 {
    host_calls_of(rs, call)
        .iter()
        .filter(|r| r["func"] == func)
        .map(count_of)
        .sum()
}

pub(crate) fn calls(rs: &[Value]) -> Vec<String> {
    rs.iter()
        .filter(|r| r["kind"] == "start")
        .map(|r| r["call"].as_str().unwrap_or("").to_string())
        .collect()
}

pub(crate) async fn run_ok(t: &Tool, input: Value) -> Value {
    let out = t
        .run(input.to_string().as_bytes(), &Default::default())
        .await;
    let bytes = out.result.expect("call succeeds");
    serde_json::from_slice(&bytes).expect("JSON")
}

/// A tree with a bound directory `data/` holding a file whose content is the canary.
pub(crate) fn data_dir(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    std::fs::write(data.join("secret-content.txt"), CANARY).expect("write");
    data
}

pub(crate) fn storm(rt: &Runtime, data: &Path) -> Tool {
    let opts = LoadOptions {
        binds: vec![
            format!("/data={}:read", data.display())
                .parse()
                .expect("bind"),
        ],
        env_values: vec![("LANG".into(), CANARY.into())],
        ..Default::default()
    };
    load_unsigned(
        rt,
        "host-call-storm",
        "\n[[fs]]\nguest = \"/data\"\naccess = \"read\"\n\n[env]\nvars = [\"LANG\"]\n",
        &opts,
    )
}

pub(crate) fn audited_runtime_env(log: &Path, opts: AuditOptions) -> Runtime {
    let text = format!("{GENEROUS_POLICY}\n[env]\nvars = [\"LANG\"]\n");
    let policy = wasmgov::policy::Policy::parse(text.as_bytes()).expect("policy");
    Runtime::builder()
        .policy(policy)
        .allow_unsigned(true)
        .cache_dir(shared_state().join("lib-cache"))
        .audit(Audit::open(log, opts).expect("open audit log"))
        .build()
        .expect("runtime")
}

#[tokio::test]
async fn every_host_call_is_recorded_and_the_chain_verifies() {
    let (dir, log) = temp_log();
    let rt = audited_runtime_env(&log, AuditOptions::default());
    let t = storm(&rt, &data_dir(dir.path()));
    let out = run_ok(&t, json!({"n": 1000, "op": "clock"})).await;
    assert_eq!(out["done"], 1000);
    run_ok(
        &t,
        json!({"n": 3, "op": "stat", "path": "/data/secret-content.txt"}),
    )
    .await;
    run_ok(&t, json!({"n": 5, "op": "log"})).await;
    let rs = records(&log);
    let load = &rs[0];
    assert_eq!(load["kind"], "load");
    assert_eq!(load["tool"], "host-call-storm@1.0.0");
    assert_eq!(
        load["unsigned"], true,
        "an unsigned run is flagged in the load record"
    );
    assert!(
        load["policy_sha256"]
            .as_str()
            .is_some_and(|s| s.len() == 64)
    );
    assert_eq!(load["grant"]["fs"][0]["guest"], "/data");
    let ids = calls(&rs);
    assert_eq!(ids.len(), 3);
    // 1000 clock reads in a row, side-effect-free and without arguments: one record that
    // counts them, from the first read's time to the last's.
    let clock = host_calls_of(&rs, &ids[0]);
    let nows: Vec<&Value> = clock
        .iter()
        .filter(|r| r["iface"] == "wasi:clocks/monotonic-clock" && r["func"] == "now")
        .collect();
    assert_eq!(nows.len(), 1, "one record for the run: {nows:#?}");
    assert_eq!(nows[0]["count"], 1000);
    assert!(nows[0]["ts_last"].as_str() >= nows[0]["ts"].as_str());
    assert_eq!(nows[0]["decision"], "allow");
    // The end record's host calls (counted by the call hook) are the records' counts summed.
    let end = rs
        .iter()
        .find(|r| r["call"] == ids[0].as_str() && r["kind"] == "end")
        .expect("end");
    assert_eq!(end["host_calls"], clock.iter().map(count_of).sum::<u64>());
    let stat = host_calls_of(&rs, &ids[1]);
    // A filesystem call has a path: every one has its own record, none a count.
    assert_eq!(
        stat.iter()
            .filter(|r| r["func"] == "[method]descriptor.stat-at")
            .count(),
        3
    );
    assert!(stat.iter().all(|r| r.get("count").is_none()), "{stat:#?}");
    assert!(stat.iter().any(|r| r["iface"] == "wasi:filesystem/types"
        && r["func"] == "[method]descriptor.stat-at"
        && r["args"]["path"] == "secret-content.txt"
        && r["decision"] == "allow"
        && r["outcome"] == "ok"));
    // Identical consecutive log calls still have a record each: a log writes out of the
    // sandbox.
    let log_calls = host_calls_of(&rs, &ids[2]);
    assert_eq!(
        log_calls
            .iter()
            .filter(|r| r["iface"] == "wasmgov:tool/host" && r["func"] == "log")
            .count(),
        5
    );
    assert!(log_calls.iter().all(|r| r.get("count").is_none()));
    // Every call has a start and an end, in order, with the call's numbers.
    for id in &ids {
        let mine: Vec<&Value> = rs.iter().filter(|r| r["call"] == id.as_str()).collect();
        assert_eq!(mine.first().map(|r| &r["kind"]), Some(&json!("start")));
        let end = mine.last().expect("records");
        assert_eq!(end["kind"], "end");
        assert_eq!(end["outcome"], "ok");
        assert!(end["fuel"].as_u64().is_some_and(|f| f > 0));
        assert!(end["peak_memory"].as_u64().is_some_and(|m| m > 0));
    }
    for (i, r) in rs.iter().enumerate() {
        assert_eq!(r["seq"], i as u64);
        assert_eq!(r["v"], 1);
    }
    let rep = verify_file(&log, &VerifyOptions::default()).expect("verify");
    assert!(rep.ok(), "{rep:?}");
    assert_eq!(rep.records, rs.len() as u64);
    let counted: u64 = rs
        .iter()
        .filter(|r| r["kind"] == "host-call")
        .map(count_of)
        .sum();
    assert_eq!(
        rep.host_calls, counted,
        "verify's host-call total reads `count`"
    );
    assert!(counted > 1000 + 3 + 5);
    // The call hook also counts transitions that are not imports (resource drops): never fewer.
    let hooked: u64 = rs
        .iter()
        .filter(|r| r["kind"] == "end")
        .map(|r| r["host_calls"].as_u64().unwrap_or(0))
        .sum();
    assert!(counted <= hooked, "{counted} > {hooked}");
    assert_eq!(rep.unsigned_loads, 1);
    assert!(rep.unfinished.is_empty(), "{:?}", rep.unfinished);
}

#[tokio::test]
async fn verify_names_calls_that_started_and_never_ended() {
    // A process killed mid-call leaves a valid chain that stops inside the call: verify passes
    // (nothing was tampered with) and names the call, so nobody mistakes it for a finished one.
    let (dir, log) = temp_log();
    {
        let rt = audited_runtime_env(&log, AuditOptions::default());
        let t = storm(&rt, &data_dir(dir.path()));
        run_ok(&t, json!({"n": 3, "op": "clock"})).await;
        run_ok(&t, json!({"n": 3, "op": "clock"})).await;
    }
    let ids = calls(&records(&log));
    let text = std::fs::read_to_string(&log).expect("read");
    let lines: Vec<&str> = text.lines().collect();
    let cut = dir.path().join("cut.jsonl");
    // Everything up to the second call's last host call: its `end` never made it.
    std::fs::write(&cut, lines[..lines.len() - 1].join("\n") + "\n").expect("write");
    let rep = verify_file(&cut, &VerifyOptions::default()).expect("verify");
    assert!(rep.ok(), "{rep:?}");
    let names: Vec<&str> = rep.unfinished.iter().map(|u| u.call.as_str()).collect();
    assert_eq!(names, vec![ids[1].as_str()]);
    assert!(
        rep.unfinished[0].tool.starts_with("host-call-storm@"),
        "{rep:?}"
    );
    let out = crate::support::wasmgov()
        .args(["audit", "verify"])
        .arg(&cut)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "1 calls have a start and no end record (killed mid-call, the audit disk full, or \
             still running): {} ({}, start at seq {})",
            ids[1], rep.unfinished[0].tool, rep.unfinished[0].seq
        )),
        "{stdout}"
    );
}

#[tokio::test]
async fn a_denied_file_access_is_a_deny_record_naming_the_capability() {
    let (dir, log) = temp_log();
    let rt = audited_runtime_env(&log, AuditOptions::default());
    let t = storm(&rt, &data_dir(dir.path()));
    let out = run_ok(
        &t,
        json!({"n": 1, "op": "open", "path": "/data/../../etc/passwd"}),
    )
    .await;
    assert_eq!(out["errors"], 1);
    let rs = records(&log);
    let denies: Vec<&Value> = rs.iter().filter(|r| r["decision"] == "deny").collect();
    assert_eq!(denies.len(), 1, "{denies:?}");
    let d = denies[0];
    assert_eq!(d["iface"], "wasi:filesystem/types");
    assert_eq!(d["func"], "[method]descriptor.open-at");
    assert_eq!(d["args"]["path"], "../../etc/passwd");
    assert_eq!(d["outcome"], "not-permitted");
}

#[tokio::test]
async fn inputs_file_contents_and_env_values_never_reach_the_log() {
    let (dir, log) = temp_log();
    let rt = audited_runtime_env(&log, AuditOptions::default());
    let t = storm(&rt, &data_dir(dir.path()));
    // The canary is in the input, in the file the tool reads, in the env var it reads, and in
    // a log message the tool writes (as an unknown op's error text, too).
    run_ok(
        &t,
        json!({"n": 2, "op": "open", "path": "/data/secret-content.txt", "pad": CANARY}),
    )
    .await;
    run_ok(&t, json!({"n": 1, "op": "env", "pad": CANARY})).await;
    let bad = t
        .run(
            json!({"n": 1, "op": CANARY}).to_string().as_bytes(),
            &Default::default(),
        )
        .await;
    assert!(bad.result.is_err());
    let text = std::fs::read_to_string(&log).expect("read log");
    assert!(
        !text.contains(CANARY),
        "the canary leaked into the audit log"
    );
    // …while the log still shows what happened.
    assert!(text.contains("secret-content.txt"));
    assert!(text.contains("get-environment"));
}

#[tokio::test]
async fn verify_names_the_first_bad_seq_for_each_kind_of_tampering() {
    let (dir, log) = temp_log();
    let (sk, pk) = wasmgov::signature::keygen("operator").expect("key");
    let key = wasmgov::audit::CheckpointKey::from_ssh(&sk).expect("key");
    let verifier = wasmgov::audit::CheckpointVerifier::from_ssh(&pk).expect("pub");
    {
        let rt = audited_runtime_env(
            &log,
            AuditOptions {
                checkpoint_key: Some(key),
                fsync: false,
            },
        );
        let t = storm(&rt, &data_dir(dir.path()));
        // Records of their own (each has a path), so records 4..7 are host calls.
        let stat = json!({"n": 5, "op": "stat", "path": "/data/secret-content.txt"});
        run_ok(&t, stat.clone()).await;
        run_ok(&t, stat).await;
    }
    let with_key = VerifyOptions {
        key: Some(verifier.clone()),
        expect_head: None,
    };
    let good = verify_file(&log, &with_key).expect("verify");
    assert!(good.ok(), "{good:?}");
    assert_eq!(good.checkpoints, 2, "one checkpoint per call");
    assert_eq!(good.after_last_checkpoint, 0);
    let lines: Vec<String> = std::fs::read_to_string(&log)
        .expect("read")
        .lines()
        .map(String::from)
        .collect();
    let check = |lines: &[String], opts: &VerifyOptions| {
        let p = dir.path().join("tampered.jsonl");
        let mut text = lines.join("\n");
        text.push('\n');
        std::fs::write(&p, text).expect("write");
        verify_file(&p, opts).expect("verify").problem
    };
    // Edited: a host call's decision flipped.
    let mut edited = lines.clone();
    edited[4] = edited[4].replace("\"allow\"", "\"deny\"");
    assert_eq!(
        check(&edited, &VerifyOptions::default()).map(|p| p.seq),
        Some(4)
    );
    // Removed.
    let mut removed = lines.clone();
    removed.remove(5);
    assert_eq!(
        check(&removed, &VerifyOptions::default()).map(|p| p.seq),
        Some(5)
    );
    // Reordered.
    let mut swapped = lines.clone();
    swapped.swap(6, 7);
    assert_eq!(
        check(&swapped, &VerifyOptions::default()).map(|p| p.seq),
        Some(6)
    );
    // Torn last line.
    let mut torn = lines.clone();
    let last = torn.len() - 1;
    torn[last].truncate(40);
    assert_eq!(
        check(&torn, &VerifyOptions::default()).map(|p| p.seq),
        Some(last as u64)
    );
    // Whole records cut off the end: the file alone is a valid older log; the head kept from
    // the good verification catches it.
    let cut = lines[..lines.len() - 3].to_vec();
    assert_eq!(check(&cut, &VerifyOptions::default()), None);
    let head = VerifyOptions {
        key: None,
        expect_head: good.head.clone(),
    };
    assert_eq!(
        check(&cut, &head).map(|p| p.seq),
        Some((lines.len() - 3) as u64)
    );
    // Rewritten with fresh hashes after an edit: the chain verifies, the checkpoints do not.
    let rewritten = rehash(&edited);
    assert_eq!(check(&rewritten, &VerifyOptions::default()), None);
    let p = check(&rewritten, &with_key).expect("the forged log fails with the key");
    assert!(p.what.contains("signature"), "{p}");
    // Stripped of its checkpoints and rehashed: nothing vouches for it.
    let stripped: Vec<String> = lines
        .iter()
        .filter(|l| !l.contains("\"kind\":\"checkpoint\""))
        .cloned()
        .collect();
    let stripped = rehash(&stripped);
    let p = check(&stripped, &with_key).expect("no checkpoint fails with the key");
    assert!(p.what.contains("no checkpoint"), "{p}");
}

#[tokio::test]
async fn a_run_of_clock_reads_is_one_record_until_another_call_breaks_it() {
    let (dir, log) = temp_log();
    let rt = audited_runtime_env(&log, AuditOptions::default());
    let t = storm(&rt, &data_dir(dir.path()));
    // Each round: two clock reads, then a log.
    run_ok(&t, json!({"n": 4, "op": "clock-log"})).await;
    let rs = records(&log);
    let ids = calls(&rs);
    let hc = host_calls_of(&rs, &ids[0]);
    let shape: Vec<(String, u64)> = hc
        .iter()
        .map(|r| (r["func"].as_str().unwrap_or("").to_string(), count_of(r)))
        .collect();
    let round = [("now".to_string(), 2), ("log".to_string(), 1)];
    let want: Vec<(String, u64)> = round.iter().cycle().take(8).cloned().collect();
    assert_eq!(shape, want, "{hc:#?}");
    let end = rs.last().expect("end");
    assert_eq!(end["host_calls"], hc.iter().map(count_of).sum::<u64>());
    assert_eq!(calls_of_func(&rs, &ids[0], "now"), 8);
}

#[tokio::test]
async fn a_long_run_of_clock_reads_reaches_the_log_in_pieces_of_at_most_100_ms() {
    // A tool that only reads the clock must not keep its whole run unwritten until the call
    // ends: a run is handed to the writer once it spans 100 ms.
    let (dir, log) = temp_log();
    let rt = audited_runtime_env(&log, AuditOptions::default());
    let t = storm(&rt, &data_dir(dir.path()));
    let n = 1_000_000u64;
    run_ok(&t, json!({"n": n, "op": "clock"})).await;
    let rs = records(&log);
    let ids = calls(&rs);
    let nows: Vec<Value> = host_calls_of(&rs, &ids[0])
        .into_iter()
        .filter(|r| r["func"] == "now")
        .collect();
    assert_eq!(nows.iter().map(count_of).sum::<u64>(), n);
    let end = rs.last().expect("end");
    let us = end["us"].as_u64().expect("us");
    assert!(
        nows.len() as u64 >= us / 150_000,
        "{} records for a call of {us} µs",
        nows.len()
    );
    // When the call was long, no piece holds the whole run.
    if us > 300_000 {
        assert!(nows.iter().all(|r| count_of(r) < n), "{nows:#?}");
    }
}

#[tokio::test]
async fn verify_names_a_record_whose_count_was_edited() {
    let (dir, log) = temp_log();
    {
        let rt = audited_runtime_env(&log, AuditOptions::default());
        let t = storm(&rt, &data_dir(dir.path()));
        run_ok(&t, json!({"n": 50, "op": "clock"})).await;
    }
    let good = verify_file(&log, &VerifyOptions::default()).expect("verify");
    assert!(good.ok(), "{good:?}");
    assert_eq!(good.host_calls, 50);
    let lines: Vec<String> = std::fs::read_to_string(&log)
        .expect("read")
        .lines()
        .map(String::from)
        .collect();
    let at = lines
        .iter()
        .position(|l| l.contains("\"count\":50,"))
        .expect("a record counting the 50 reads");
    let check = |lines: &[String]| {
        let p = dir.path().join("tampered.jsonl");
        std::fs::write(&p, lines.join("\n") + "\n").expect("write");
        verify_file(&p, &VerifyOptions::default()).expect("verify")
    };
    // Fewer reads claimed: the record's hash no longer matches.
    let mut edited = lines.clone();
    edited[at] = edited[at].replace("\"count\":50,", "\"count\":5,");
    let rep = check(&edited);
    let p = rep.problem.expect("an edited count fails");
    assert_eq!(p.seq, at as u64, "{p}");
    assert!(p.what.contains("edited"), "{p}");
    // Rewritten with fresh hashes, a count no writer writes is still named.
    for bad in ["1", "0", "\"50\"", "-3"] {
        let mut forged = lines.clone();
        forged[at] = forged[at].replace("\"count\":50,", &format!("\"count\":{bad},"));
        let rep = check(&rehash(&forged));
        let p = rep.problem.expect("a malformed count fails");
        assert_eq!(p.seq, at as u64, "{p}");
        assert!(p.what.contains("`count`"), "{p}");
    }
}

/// What a forger with write access does: renumber, relink and rehash every line.
fn rehash(lines: &[String]) -> Vec<String> {
    use sha2_free::sha256_hex;
    let mut prev = "0".repeat(64);
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let mut v: serde_json::Map<String, Value> = serde_json::from_str(l).expect("json");
        v.remove("hash");
        v.insert("seq".into(), json!(i));
        v.insert("prev".into(), json!(prev));
        if v.get("kind") == Some(&json!("checkpoint")) {
            v.insert("head".into(), json!(prev));
        }
        let body = serde_json::to_string(&v).expect("json");
        let hash = sha256_hex(body.as_bytes());
        let line = format!("{},\"hash\":\"{hash}\"}}", &body[..body.len() - 1]);
        prev = hash;
        out.push(line);
    }
    out
}

/// SHA-256 without a test dependency: the library's own helper.
mod sha2_free {
    pub fn sha256_hex(b: &[u8]) -> String {
        wasmgov::audit::record::sha256_hex(b)
    }
}

#[tokio::test]
async fn the_tracing_output_wasmtime_emits_is_what_the_audit_capture_reads() {
    // Golden test: wasmtime's bindgen tracing (span name, `function` field, target paths,
    // `"..."` for lists, error Display) is not a stable API. If an upgrade changes it, this
    // fails instead of the log silently losing records.
    let (dir, log) = temp_log();
    let rt = audited_runtime_env(&log, AuditOptions::default());
    let t = storm(&rt, &data_dir(dir.path()));
    run_ok(&t, json!({"n": 1, "op": "clock"})).await;
    run_ok(
        &t,
        json!({"n": 1, "op": "open", "path": "/data/secret-content.txt"}),
    )
    .await;
    run_ok(&t, json!({"n": 1, "op": "open", "path": "/data/../x"})).await;
    run_ok(&t, json!({"n": 1, "op": "env"})).await;
    run_ok(&t, json!({"n": 1, "op": "log"})).await;
    let rs = records(&log);
    let seen: std::collections::BTreeSet<(String, String, String)> = rs
        .iter()
        .filter(|r| r["kind"] == "host-call")
        .map(|r| {
            (
                r["iface"].as_str().unwrap_or("").to_string(),
                r["func"].as_str().unwrap_or("").to_string(),
                r["outcome"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let want = [
        ("wasi:clocks/monotonic-clock", "now", "ok"),
        ("wasi:filesystem/preopens", "get-directories", "elided"),
        ("wasi:filesystem/types", "[method]descriptor.open-at", "ok"),
        (
            "wasi:filesystem/types",
            "[method]descriptor.open-at",
            "not-permitted",
        ),
        (
            "wasi:filesystem/types",
            "[method]descriptor.read-via-stream",
            "ok",
        ),
        (
            "wasi:io/streams",
            "[method]input-stream.blocking-read",
            "elided",
        ),
        ("wasi:cli/environment", "get-environment", "elided"),
        ("wasmgov:tool/host", "log", "ok"),
    ];
    for (i, f, o) in want {
        assert!(
            seen.contains(&(i.to_string(), f.to_string(), o.to_string())),
            "no record of {i} {f} -> {o}; saw {seen:#?}"
        );
    }
    // Every interface recorded is one the linker serves: nothing is misattributed.
    for (i, _, _) in &seen {
        assert!(
            wasmgov_host_api::SUPPORTED_INTERFACES.contains(&i.as_str()),
            "unknown interface {i}"
        );
    }
}

/// `wasmgov run host-call-storm` arguments with the generous policy.
fn storm_cli_args(audit: &Path, input: &str) -> Vec<String> {
    vec![
        "run".into(),
        crate::support::s(&tool("host-call-storm")).into(),
        "--policy".into(),
        crate::support::s(&crate::support::generous_policy_file()).into(),
        "--max-host-calls".into(),
        "10000000".into(),
        "--max-output".into(),
        "64MiB".into(),
        "--audit".into(),
        crate::support::s(audit).into(),
        "--input".into(),
        input.into(),
    ]
}

#[test]
fn processes_appending_to_one_log_keep_one_chain() {
    // Four `wasmgov run` processes and this process's runtime append to the same file at once:
    // every append is under the file lock and continues the chain from the file's last line, so
    // the result is one valid chain holding every call whole.
    let (dir, log) = temp_log();
    let children: Vec<std::thread::JoinHandle<(i32, String)>> = (0..4)
        .map(|i| {
            let args = storm_cli_args(&log, &format!(r#"{{"n":{},"op":"clock"}}"#, 600 + i));
            std::thread::spawn(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let (code, _, err) = crate::support::run(&args);
                (code, err)
            })
        })
        .collect();
    let rt = audited_runtime_env(&log, AuditOptions::default());
    let t = storm(&rt, &data_dir(dir.path()));
    let exec = tokio::runtime::Runtime::new().expect("tokio");
    for _ in 0..3 {
        exec.block_on(run_ok(&t, json!({"n": 700, "op": "clock"})));
    }
    for c in children {
        let (code, err) = c.join().expect("child");
        assert_eq!(code, 0, "{err}");
    }
    let rep = verify_file(&log, &VerifyOptions::default()).expect("verify");
    assert!(rep.ok(), "{rep:?}");
    assert!(rep.unfinished.is_empty(), "{:?}", rep.unfinished);
    let rs = records(&log);
    let ids = calls(&rs);
    assert_eq!(ids.len(), 7);
    let mut counts: Vec<u64> = ids.iter().map(|id| calls_of_func(&rs, id, "now")).collect();
    counts.sort_unstable();
    assert_eq!(counts, vec![600, 601, 602, 603, 700, 700, 700]);
}

#[test]
fn audit_show_json_streams_and_stops_quietly_when_its_reader_does() {
    // `audit show --json LOG | head` on a large log: the first lines come out, and when the
    // reader goes away the command ends with 0 instead of an error about the closed pipe.
    let (dir, log) = temp_log();
    // Log calls: a record each (clock reads would be one record with a count).
    let args = storm_cli_args(&log, r#"{"n":20000,"op":"log"}"#);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, _, err) = crate::support::run(&args);
    assert_eq!(code, 0, "{err}");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("wasmgov"))
        .args(["audit", "show", "--json"])
        .arg(&log)
        .env("HOME", dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut first = String::new();
    {
        let stdout = child.stdout.take().expect("stdout");
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut first)
            .expect("read");
    }
    let out = child.wait_with_output().expect("wait");
    assert!(first.contains("\"seq\":0"), "{first}");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn cli_run_writes_the_log_that_audit_verify_and_show_read() {
    let (dir, log) = temp_log();
    let (sk, _) = wasmgov::signature::keygen("operator").expect("key");
    let key = dir.path().join("audit_key");
    let pubkey = wasmgov::signature::write_keypair(&sk, &key).expect("write key");
    let mut args = storm_cli_args(&log, r#"{"n":3,"op":"clock"}"#);
    args.extend(["--audit-key".into(), crate::support::s(&key).into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out, err) = crate::support::run(&args);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"done\":3"));
    let (code, out, _) = crate::support::run(&[
        "audit",
        "verify",
        crate::support::s(&log),
        "--key",
        crate::support::s(&pubkey),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("OK "), "{out}");
    assert!(out.contains("1 checkpoints verified"), "{out}");
    let (code, out, _) = crate::support::run(&["audit", "show", crate::support::s(&log)]);
    assert_eq!(code, 0);
    assert!(out.contains("wasi:clocks/monotonic-clock"), "{out}");
    assert!(out.contains("checkpoint"), "{out}");
    let (code, out, _) = crate::support::run(&[
        "audit",
        "show",
        crate::support::s(&log),
        "--json",
        "--decision",
        "allow",
    ]);
    assert_eq!(code, 0);
    // The three clock reads are one record that counts them.
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains("\"count\":3"), "{out}");
    let (code, out, _) = crate::support::run(&["audit", "show", crate::support::s(&log)]);
    assert_eq!(code, 0);
    assert!(out.contains("now ×3 -> ok"), "{out}");
    // Tampering makes verify fail with exit 1 and name the seq.
    let text = std::fs::read_to_string(&log).expect("read");
    std::fs::write(&log, text.replacen("\"now\"", "\"nop\"", 1)).expect("write");
    let (code, out, _) = crate::support::run(&["audit", "verify", crate::support::s(&log)]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAILED") && out.contains("seq 2"), "{out}");
}

#[test]
fn a_full_disk_stops_the_run_before_the_tool_runs() {
    let (code, out, err) = crate::support::run(
        &storm_cli_args(Path::new("/dev/full"), r#"{"n":3,"op":"log"}"#)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert_eq!(code, 6, "{err}");
    assert!(err.contains("error[audit]"), "{err}");
    assert!(out.is_empty(), "no result without an audit record: {out}");
    assert!(!err.contains("[tool info] tick"), "the tool ran: {err}");
}

#[test]
fn a_log_that_hits_the_file_size_limit_mid_call_stops_the_call() {
    // A real failing sink: RLIMIT_FSIZE (with SIGXFSZ ignored, write returns EFBIG) lets the
    // load and start records through and fails during the tool's host calls. 4 MiB, because
    // wasmtime's memfd-backed memories are bound by the same limit.
    let (_dir, log) = temp_log();
    let n = 200_000;
    let args = storm_cli_args(&log, &format!(r#"{{"n":{n},"op":"log"}}"#));
    let bin = assert_cmd::cargo::cargo_bin("wasmgov");
    let mut c = std::process::Command::new("bash");
    c.arg("-c")
        .arg("trap '' XFSZ; ulimit -f 4096; exec \"$@\"")
        .arg("bash")
        .arg(&bin)
        .args(&args)
        .env("XDG_STATE_HOME", shared_state().join("state"))
        .env("XDG_CONFIG_HOME", shared_state().join("config"))
        .env("HOME", shared_state());
    let o = c.output().expect("run bash");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(6), "{err}");
    assert!(err.contains("error[audit]"), "{err}");
    assert!(o.stdout.is_empty(), "no result without its records");
    // The tool stopped soon after the failure: far fewer host calls ran than it asked for, and
    // at most what was in flight to the writer around the failed write: the batch being
    // written, the queue (4 batches of 256), and what the tool queued meanwhile.
    let ran = err.matches("[tool info] tick").count();
    let on_disk = std::fs::read_to_string(&log)
        .expect("read log")
        .matches("\"func\":\"log\"")
        .count();
    eprintln!("host calls run: {ran}, recorded on disk: {on_disk}");
    assert!(ran < n / 2, "{ran} host calls ran after the sink failed");
    assert!(ran >= on_disk);
    assert!(
        ran - on_disk <= (2 * 4 + 1) * 256,
        "{} host calls ran unrecorded",
        ran - on_disk
    );
    // What did reach the disk is a valid chain up to a torn last line at most.
    let rep = verify_file(&log, &VerifyOptions::default()).expect("verify");
    if let Some(p) = &rep.problem {
        assert!(
            p.what.contains("incomplete") || p.what.contains("hash"),
            "{p}"
        );
    }
}

#[test]
fn every_import_the_linker_serves_is_generated_with_tracing() {
    // Completeness by construction, checked against the exact crate versions this build uses:
    // the linker serves wasmtime-wasi (p2), wasmtime-wasi-io, wasmtime-wasi-http (p2) and our
    // own bindings, and every import of every `bindgen!` there must carry the `tracing` flag
    // (resource drops are not host calls that do anything a grant covers; bindgen never
    // traces them). An upgrade that drops the flag anywhere fails here.
    // `--filter-platform` for the host: a fresh machine's registry holds only the crates this
    // platform builds with, and an unfiltered resolve wants (downloads) every platform's.
    // Filtered, cargo needs nothing the build did not already fetch.
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let vv = std::process::Command::new(rustc)
        .arg("-vV")
        .output()
        .expect("rustc -vV");
    let host = String::from_utf8_lossy(&vv.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .expect("rustc -vV names the host");
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--filter-platform",
            &host,
        ])
        .current_dir(crate::support::root())
        .output()
        .expect("cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let dir_of = |name: &str| -> PathBuf {
        let p = meta["packages"]
            .as_array()
            .expect("packages")
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name} is not a dependency"));
        PathBuf::from(p["manifest_path"].as_str().expect("path"))
            .parent()
            .expect("dir")
            .to_path_buf()
    };
    let files = [
        dir_of("wasmtime-wasi").join("src/p2/bindings.rs"),
        dir_of("wasmtime-wasi-io").join("src/bindings.rs"),
        dir_of("wasmtime-wasi-http").join("src/p2/bindings.rs"),
        crate::support::root().join("host-api/src/bindings.rs"),
    ];
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let mut blocks = 0;
        let mut rest = text.as_str();
        while let Some(at) = rest.find("imports: {") {
            let line_start = rest[..at].rfind('\n').map_or(0, |i| i + 1);
            let block = &rest[at + "imports: {".len()..];
            if rest[line_start..at].trim_start().starts_with("//") {
                // A doc example, not a binding.
                rest = block;
                continue;
            }
            blocks += 1;
            let end = block.find('}').expect("imports block ends");
            let mut defaults = 0;
            for entry in block[..end].split(',') {
                let entry = entry.trim();
                let entry = entry
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("//"))
                    .collect::<Vec<_>>()
                    .join(" ");
                let entry = entry.trim();
                if entry.is_empty() {
                    continue;
                }
                let (key, flags) = match entry.strip_prefix('"') {
                    Some(q) => q.split_once("\":").expect("\"key\": flags"),
                    None => entry.split_once(':').expect("default: flags"),
                };
                if key.trim() == "default" {
                    defaults += 1;
                }
                assert!(
                    flags.contains("tracing") || key.contains("[drop]"),
                    "{}: import `{key}` is generated without tracing, so the audit log would \
                     not see it",
                    f.display()
                );
            }
            assert_eq!(
                defaults,
                1,
                "{}: an imports block without a default",
                f.display()
            );
            rest = &block[end..];
        }
        assert!(blocks > 0, "{}: no bindgen! imports found", f.display());
    }
}

#[tokio::test]
async fn network_denials_are_deny_records_naming_the_interface_and_destination() {
    use crate::caps::Server;
    let (_dir, log) = temp_log();
    let server = Server::start();
    let other = Server::start();
    let allow = format!("\"{}\"", server.url());
    let rt = signed_runtime(&format!("[net]\nallow = [{allow}]\n"), &log);
    let t = crate::caps::load_with(
        &rt,
        "hostile-net",
        &format!("\n[net]\nallow = [{allow}]\n"),
        &LoadOptions::default(),
    )
    .expect("load");
    let out = t
        .run(
            json!({
                "http": [
                    { "url": format!("http://127.0.0.1:{}/?token={CANARY}", other.port) },
                    { "url": format!("{}/ok", server.url()) },
                ],
                "tcp": [format!("127.0.0.1:{}", other.port)],
            })
            .to_string()
            .as_bytes(),
            &Default::default(),
        )
        .await;
    assert!(out.result.is_ok(), "{:?}", out.result);
    let rs = records(&log);
    let denies: Vec<&Value> = rs
        .iter()
        .filter(|r| r["kind"] == "host-call" && r["decision"] == "deny")
        .collect();
    assert!(
        denies.iter().any(|r| r["iface"]
            .as_str()
            .is_some_and(|i| i.starts_with("wasi:http/"))
            && r["reason"].is_string()
            && r["args"]["dest"]
                .as_str()
                .is_some_and(|d| d.contains(&other.port.to_string()))),
        "no wasi:http deny naming the destination: {denies:#?}"
    );
    assert!(
        denies.iter().any(|r| r["iface"]
            .as_str()
            .is_some_and(|i| i.starts_with("wasi:sockets/"))
            && r["outcome"] == "access-denied"),
        "no wasi:sockets deny: {:#?}",
        rs.iter()
            .filter(|r| r["iface"]
                .as_str()
                .is_some_and(|i| i.starts_with("wasi:sockets")))
            .collect::<Vec<_>>()
    );
    assert!(
        !std::fs::read_to_string(&log).expect("log").contains(CANARY),
        "a URL's query reached the log"
    );
}

#[tokio::test]
async fn a_secret_injected_into_a_request_never_reaches_the_log() {
    use crate::caps::Server;
    let (dir, log) = temp_log();
    let secret = "sk-audit-canary-51d0e2";
    let file = dir.path().join("token");
    std::fs::write(&file, secret).expect("write secret");
    let api = Server::start();
    let allow = format!("\"{}\"", api.url());
    let rt = signed_runtime(&format!("[net]\nallow = [{allow}]\n"), &log);
    let manifest = format!(
        "\n[net]\nallow = [{allow}]\n\n[[secrets]]\nname = \"API_TOKEN\"\nhost = \"{}\"\nheader = \"Authorization\"\nformat = \"Bearer {{}}\"\n",
        api.url()
    );
    let opts = LoadOptions {
        secrets: vec![("API_TOKEN".into(), wasmgov::grant::SecretSource::File(file))],
        ..Default::default()
    };
    let t = crate::caps::load_with(&rt, "call-api", &manifest, &opts).expect("load");
    let out = run_ok(&t, json!({ "base": api.url(), "path": "/v1/items" })).await;
    assert_eq!(out["status"], 200, "{out}");
    assert_eq!(
        api.seen()[0].header("authorization"),
        Some(format!("Bearer {secret}").as_str()),
        "the secret was sent"
    );
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(
        text.contains("wasi:http/outgoing-handler"),
        "the request is logged"
    );
    assert!(
        !text.contains(secret),
        "the secret's value reached the audit log"
    );
}

#[test]
fn keyless_verify_never_reports_forged_checkpoints_as_verified() {
    // A forger rewrites a real log with fresh hashes and appends a checkpoint with a made-up key
    // and signature: the chain is self-consistent, but nothing vouches for it.
    let (dir, log) = temp_log();
    let args = storm_cli_args(&log, r#"{"n":2,"op":"clock"}"#);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, _, err) = crate::support::run(&args);
    assert_eq!(code, 0, "{err}");
    let mut lines: Vec<String> = std::fs::read_to_string(&log)
        .expect("read")
        .lines()
        .map(String::from)
        .collect();
    lines.push(
        json!({"v": 1, "seq": 0, "ts": "2026-12-01T00:00:00Z", "kind": "checkpoint",
               "head": "", "key": "SHA256:forged", "sig": "AAAA", "prev": "", "hash": ""})
        .to_string(),
    );
    let forged = dir.path().join("forged.jsonl");
    std::fs::write(&forged, rehash(&lines).join("\n") + "\n").expect("write");

    let (code, out, _) = crate::support::run(&["audit", "verify", crate::support::s(&forged)]);
    assert_eq!(code, 0, "the chain itself is consistent: {out}");
    assert!(
        out.contains("1 checkpoint records NOT verified (no --key)"),
        "{out}"
    );
    assert!(!out.contains("checkpoints verified"), "{out}");
    assert!(out.contains("warning: without --key"), "{out}");

    let (code, out, _) = crate::support::run(&[
        "audit",
        "verify",
        crate::support::s(&forged),
        "--require-key",
    ]);
    assert_eq!(code, 1, "--require-key without a key is a failure: {out}");
    assert!(out.starts_with("FAILED "), "{out}");

    let (sk, _) = wasmgov::signature::keygen("operator").expect("key");
    let pubkey = wasmgov::signature::write_keypair(&sk, &dir.path().join("k")).expect("write key");
    let (code, out, _) = crate::support::run(&[
        "audit",
        "verify",
        crate::support::s(&forged),
        "--key",
        crate::support::s(&pubkey),
    ]);
    assert_eq!(code, 1, "a forged checkpoint fails under a real key: {out}");
}

/// A runtime auditing to `log` under `policy_extra` (after generous limits), resolving names
/// with `resolver`.
fn audited_net_runtime(
    log: &Path,
    policy_extra: &str,
    resolver: Option<std::sync::Arc<dyn wasmgov::Resolver>>,
) -> Runtime {
    let text = format!(
        "{GENEROUS_POLICY}\n{policy_extra}\n[[publishers]]\nprincipal = \"{}\"\ntools = [\"*\"]\n",
        crate::caps::TEST_PUBLISHER
    );
    let mut b = Runtime::builder()
        .policy(wasmgov::policy::Policy::parse(text.as_bytes()).expect("policy"))
        .trust(crate::caps::test_trust())
        .state_dir(log.with_extension("state"))
        .allow_unsigned(true)
        .cache_dir(shared_state().join("lib-cache"))
        .audit(Audit::file(log).expect("audit"));
    if let Some(r) = resolver {
        b = b.resolver(r);
    }
    b.build().expect("runtime")
}

/// The `handle` records of the log at `log`.
fn handle_records(log: &Path) -> Vec<Value> {
    records(log)
        .into_iter()
        .filter(|r| {
            r["kind"] == "host-call"
                && r["iface"] == "wasi:http/outgoing-handler"
                && r["func"] == "handle"
        })
        .collect()
}

#[tokio::test]
async fn an_internal_address_refusal_is_in_the_record_of_the_handle_that_caused_it() {
    use crate::caps::{Server, StubResolver};
    let server = Server::start();
    let port = server.port;
    // Three ways to land inside after the allow-list: a name that resolves inside, a name that
    // rebinds from outside to inside, a literal loopback address. No CIDR opens loopback.
    let stub = std::sync::Arc::new(
        StubResolver::default()
            .with("inside.test", &["127.0.0.1"])
            .with("mixed.test", &["93.184.216.34", "10.0.0.7"])
            .rebinding("rebind.test", &["127.0.0.1"], &["93.184.216.34"]),
    );
    let urls = [
        format!("http://inside.test:{port}"),
        format!("http://mixed.test:{port}"),
        format!("http://rebind.test:{port}"),
        format!("http://127.0.0.1:{port}"),
    ];
    let allow = urls
        .iter()
        .map(|u| format!("\"{u}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let (_dir, log) = temp_log();
    let rt = audited_net_runtime(&log, &format!("[net]\nallow = [{allow}]\n"), Some(stub));
    let t = load_unsigned(
        &rt,
        "hostile-net",
        &format!("\n[net]\nallow = [{allow}]\n"),
        &LoadOptions::default(),
    );
    let http: Vec<Value> = urls
        .iter()
        .map(|u| json!({ "url": format!("{u}/x") }))
        .collect();
    let out = t
        .run(
            json!({ "http": http }).to_string().as_bytes(),
            &Default::default(),
        )
        .await;
    assert!(out.result.is_ok(), "{:?}", out.result);
    assert_eq!(
        server.connections(),
        0,
        "an internal address was connected to"
    );
    let handles = handle_records(&log);
    for (host, addr) in [
        ("inside.test", "127.0.0.1"),
        ("mixed.test", "10.0.0.7"),
        ("rebind.test", "127.0.0.1"),
        ("127.0.0.1", "127.0.0.1"),
    ] {
        let r = handles
            .iter()
            .find(|r| {
                r["args"]["dest"]
                    .as_str()
                    .is_some_and(|d| d == format!("http://{host}:{port}"))
            })
            .unwrap_or_else(|| panic!("no handle record for {host}: {handles:#?}"));
        assert_eq!(r["decision"], "deny", "{host}: {r}");
        assert!(
            r["reason"].as_str().is_some_and(|s| s.contains(addr)),
            "{host}: the reason does not name {addr}: {r}"
        );
        assert!(
            r["args"]["addrs"]
                .as_str()
                .is_some_and(|a| a.contains(addr)),
            "{host}: the resolved addresses are not recorded: {r}"
        );
        assert!(r["args"]["connected"].is_null(), "{host}: {r}");
    }
    assert!(
        verify_file(&log, &VerifyOptions::default())
            .expect("verify")
            .ok(),
        "the chain verifies"
    );
}

#[tokio::test]
async fn an_allowed_request_records_the_address_connected_and_the_secret_names_only() {
    use crate::caps::{Server, StubResolver};
    let (dir, log) = temp_log();
    let secret = "sk-decision-canary-93be14";
    let file = dir.path().join("token");
    std::fs::write(&file, secret).expect("write secret");
    let api = Server::start();
    let other = Server::start();
    let stub = std::sync::Arc::new(StubResolver::default().with("api.test", &["127.0.0.1"]));
    // The secret is bound to the named host; the literal host is allowed but gets no secret.
    let named = format!("http://api.test:{}", api.port);
    let literal = other.url();
    let allow = format!("\"{named}\", \"{literal}\"");
    // Loopback and the secret are provisioned for this tool: a signed package gets them.
    let rt = audited_net_runtime(
        &log,
        &format!(
            "[net]\nallow = [{allow}]\n\n[[net.private]]\ncidr = \"127.0.0.1/32\"\ntools = [\"call-api\"]\n\n[secrets.API_TOKEN]\nsource = \"file:{}\"\nhost = \"{named}\"\ntools = [\"call-api\"]\n",
            file.display()
        ),
        Some(stub),
    );
    let manifest = format!(
        "\n[net]\nallow = [{allow}]\n\n[[secrets]]\nname = \"API_TOKEN\"\nhost = \"{named}\"\nheader = \"Authorization\"\nformat = \"Bearer {{}}\"\n"
    );
    let t = crate::caps::load_with(&rt, "call-api", &manifest, &LoadOptions::default())
        .expect("load call-api");
    let out = run_ok(&t, json!({ "base": named, "path": "/v1/items" })).await;
    assert_eq!(out["status"], 200, "{out}");
    let out = run_ok(&t, json!({ "base": literal, "path": "/v1/other" })).await;
    assert_eq!(out["status"], 200, "{out}");
    assert_eq!(
        api.seen()[0].header("authorization"),
        Some(format!("Bearer {secret}").as_str()),
        "the secret was sent"
    );
    assert!(other.seen()[0].header("authorization").is_none());

    let handles = handle_records(&log);
    let to_api = handles
        .iter()
        .find(|r| r["args"]["dest"] == named.as_str())
        .unwrap_or_else(|| panic!("no handle record for {named}: {handles:#?}"));
    assert_eq!(to_api["decision"], "allow", "{to_api}");
    assert_eq!(to_api["args"]["addrs"], "127.0.0.1", "{to_api}");
    assert_eq!(
        to_api["args"]["connected"],
        format!("127.0.0.1:{}", api.port),
        "{to_api}"
    );
    assert_eq!(to_api["args"]["secrets"], "API_TOKEN", "{to_api}");
    let to_other = handles
        .iter()
        .find(|r| r["args"]["dest"] == literal.as_str())
        .unwrap_or_else(|| panic!("no handle record for {literal}: {handles:#?}"));
    assert_eq!(
        to_other["args"]["connected"],
        format!("127.0.0.1:{}", other.port),
        "{to_other}"
    );
    assert!(to_other["args"]["secrets"].is_null(), "{to_other}");
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(!text.contains(secret), "the secret's value reached the log");
    assert!(
        verify_file(&log, &VerifyOptions::default())
            .expect("verify")
            .ok(),
        "the chain verifies"
    );
}
