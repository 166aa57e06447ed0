//! Completeness, called: `import-census` calls functions of every interface the linker serves
//! and reports which, in order; each must be a `host-call` record of its call, in that order.
//! (The static half, that every linked import is generated with tracing at all, is
//! `audit::every_import_the_linker_serves_is_generated_with_tracing`.)

use std::collections::BTreeSet;

use serde_json::{Value, json};
use wasmgov::audit::verify::{VerifyOptions, verify_file};
use wasmgov::{AuditOptions, LoadOptions};

use crate::audit::{calls, host_calls_of, load_unsigned, records, temp_log};
use crate::support::{GENEROUS_POLICY, shared_state};

/// A TCP grant, so the census gets a socket; 127.0.0.1 is internal and no CIDR opens it, so the
/// connect itself is refused.
const TCP: &str = "[net]\nallow = [\"tcp://127.0.0.1:9\"]\n";

/// Interfaces with nothing the census can call without ending or breaking itself: `exit` ends
/// the call, `terminal-input`/`terminal-output` are resources without methods, `wasi:io/error`
/// and `wasi:sockets/network` only describe errors no call here returns, `wasi:sockets/udp` needs
/// a UDP socket (refused), and `wasmgov:tool/types` holds types only.
const NOTHING_TO_CALL: &[&str] = &[
    "wasi:cli/exit",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:io/error",
    "wasi:sockets/network",
    "wasi:sockets/udp",
    "wasmgov:tool/types",
];

#[tokio::test]
async fn every_import_the_census_calls_is_a_record_in_the_order_it_was_called() {
    let (dir, log) = temp_log();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).expect("mkdir");
    let policy = format!("{GENEROUS_POLICY}\n{TCP}");
    let rt = wasmgov::Runtime::builder()
        .policy(wasmgov::policy::Policy::parse(policy.as_bytes()).expect("policy"))
        .allow_unsigned(true)
        .cache_dir(shared_state().join("lib-cache"))
        .audit(wasmgov::Audit::open(&log, AuditOptions::default()).expect("audit log"))
        .build()
        .expect("runtime");
    let opts = LoadOptions {
        binds: vec![format!("/work={}", work.display()).parse().expect("bind")],
        ..Default::default()
    };
    let t = load_unsigned(
        &rt,
        "import-census",
        &format!("\n[[fs]]\nguest = \"/work\"\naccess = \"read-write\"\n\n{TCP}"),
        &opts,
    );
    let out = t
        .run(
            json!({"dir": "/work"}).to_string().as_bytes(),
            &Default::default(),
        )
        .await;
    let bytes = out.result.expect("the census runs to its end");
    let out: Value = serde_json::from_slice(&bytes).expect("JSON");
    let want: Vec<&str> = out["calls"]
        .as_array()
        .expect("calls")
        .iter()
        .map(|c| c.as_str().expect("a string"))
        .collect();
    assert!(want.len() > 80, "the census made {} calls", want.len());

    let rs = records(&log);
    let ids = calls(&rs);
    // A record of a run of identical calls stands for `count` of them.
    let got: Vec<String> = host_calls_of(&rs, &ids[0])
        .iter()
        .flat_map(|r| {
            let g = format!(
                "{} {}",
                r["iface"].as_str().unwrap_or(""),
                r["func"].as_str().unwrap_or("")
            );
            std::iter::repeat_n(g, crate::audit::count_of(r) as usize)
        })
        .collect();
    // In order: each call the guest made is the next matching record.
    let mut rest = got.iter();
    for (i, w) in want.iter().enumerate() {
        assert!(
            rest.any(|g| g == w),
            "call #{i} `{w}` has no record after the previous one; records: {got:#?}"
        );
    }
    // Every interface the linker serves with something to call was called and recorded.
    let seen: BTreeSet<&str> = got
        .iter()
        .filter_map(|g| g.split_once(' ').map(|(i, _)| i))
        .collect();
    for iface in wasmgov_host_api::SUPPORTED_INTERFACES {
        if !NOTHING_TO_CALL.contains(iface) {
            assert!(seen.contains(iface), "no record of any {iface} call");
        }
    }
    // The refused ones are deny records.
    for (iface, func) in [
        ("wasi:sockets/tcp", "[method]tcp-socket.finish-connect"),
        ("wasi:sockets/udp-create-socket", "create-udp-socket"),
        ("wasi:sockets/ip-name-lookup", "resolve-addresses"),
        ("wasi:http/outgoing-handler", "handle"),
    ] {
        let r = host_calls_of(&rs, &ids[0])
            .into_iter()
            .find(|r| r["iface"] == iface && r["func"] == func)
            .unwrap_or_else(|| panic!("no record of {iface} {func}"));
        assert_eq!(r["decision"], "deny", "{r}");
    }
    let rep = verify_file(&log, &VerifyOptions::default()).expect("verify");
    assert!(rep.ok(), "{rep:?}");
}
