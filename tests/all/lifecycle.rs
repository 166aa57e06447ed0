//! Lifecycle threats (M03): nothing of one call is visible to the next, a forged resource handle
//! is an error for the tool and not a crash of the host, and `exit` ends only the call.

use serde_json::json;
use wasmgov::{Error, LoadOptions, ToolFailure};

use crate::caps::{call_json, load_with, runtime_with};

const CANARY: &str = "lifecycle-canary-51be";

#[tokio::test]
async fn a_call_cannot_leave_state_for_the_next() {
    let rt = runtime_with("", None);
    let t = load_with(&rt, "hostile-lifecycle", "", &LoadOptions::default()).expect("load");
    let first = call_json(&t, json!({ "plant": CANARY })).await;
    assert_eq!(first["previous_global"], serde_json::Value::Null);
    let second = call_json(&t, json!({ "plant": CANARY })).await;
    assert_eq!(
        second["previous_global"],
        serde_json::Value::Null,
        "{second}"
    );
    assert_eq!(second["found_in_fresh_memory"], false, "{second}");
    // Another tool in the same runtime sees nothing either.
    let other = load_with(&rt, "hostile-env", "", &LoadOptions::default()).expect("load");
    let out = call_json(&other, json!({})).await;
    assert!(!out.to_string().contains(CANARY));
}

#[tokio::test]
async fn forged_handles_and_exit_end_only_the_call() {
    let rt = runtime_with("", None);
    let t = load_with(&rt, "hostile-lifecycle", "", &LoadOptions::default()).expect("load");
    for h in [0u32, 7, 4242, u32::MAX] {
        let out = t
            .run(
                json!({ "forge_handle": h }).to_string().as_bytes(),
                &Default::default(),
            )
            .await;
        match out.result {
            Err(Error::Trap { .. }) => {}
            Ok(b) => {
                let v: serde_json::Value = serde_json::from_slice(&b).expect("json");
                assert!(v["forged"].as_str().unwrap_or("").starts_with("Err"), "{v}");
            }
            Err(e) => panic!("handle {h}: unexpected {e}"),
        }
    }
    let out = t
        .run(
            json!({ "exit": 1 }).to_string().as_bytes(),
            &Default::default(),
        )
        .await;
    assert!(
        matches!(out.result, Err(Error::Tool(ToolFailure::Exit(1)))),
        "{:?}",
        out.result
    );
    // The host still serves calls.
    let ok = call_json(&t, json!({})).await;
    assert_eq!(ok["previous_global"], serde_json::Value::Null);
}
