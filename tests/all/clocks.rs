//! M01: a tool spinning on the clocks to build a fine timer sees only the host's granularity.

use serde_json::Value;
use wasmgov::Limits;

use crate::support::load;

#[tokio::test]
async fn tool_cannot_build_a_fine_timer_from_the_clocks() {
    let t = load(
        "hostile-clock",
        Limits {
            host_calls: 1_000_000,
            ..Limits::default()
        },
    );
    let out = t.call("{}").await.expect("the tool runs");
    let v: Value = serde_json::from_slice(&out).expect("json");
    let ms = 1_000_000u64;
    assert_eq!(v["monotonic_resolution_ns"], ms, "{v}");
    assert_eq!(v["wall_resolution_ns"], ms, "{v}");
    assert_eq!(v["monotonic_multiples"], true, "{v}");
    assert_eq!(v["wall_multiples"], true, "{v}");
    for step in ["min_monotonic_step_ns", "min_wall_step_ns"] {
        if let Some(s) = v[step].as_u64() {
            assert!(s >= ms, "{step} = {s} ns: finer than the granularity ({v})");
        }
    }
    // The spin really observed time passing (otherwise the test proves nothing).
    assert!(
        v["min_monotonic_step_ns"].as_u64().is_some(),
        "no monotonic tick seen: {v}"
    );
}
