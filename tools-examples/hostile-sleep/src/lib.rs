//! `hostile-sleep`: `call` sleeps forever, blocked inside the WASI clock host call
//! (`wasi:clocks/monotonic-clock` subscribe + `wasi:io/poll`).
//!
//! Threat: wall-clock exhaustion without using CPU. Fuel never runs out here; the host needs a
//! wall-time limit that also interrupts blocked host calls.

use std::hint::black_box;
use std::time::Duration;

use wasmgov_sdk::ToolError;
use wasmgov_sdk::serde_json::Value;

fn hostile_sleep(_input: Value) -> Result<Value, ToolError> {
    loop {
        std::thread::sleep(black_box(Duration::from_secs(24 * 60 * 60)));
    }
}

wasmgov_sdk::export_tool!(hostile_sleep);
