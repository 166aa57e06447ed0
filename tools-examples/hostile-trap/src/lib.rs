//! `hostile-trap`: `call` panics. On `wasm32-wasip2` a panic prints its message to stderr and
//! aborts, which is a wasm trap (`unreachable`).
//!
//! Threat: a guest crash mid-call. The host must report a trap, not a tool error, and stay
//! usable for the next call.

use std::hint::black_box;

use wasmgov_sdk::ToolError;
use wasmgov_sdk::serde_json::Value;

fn hostile_trap(input: Value) -> Result<Value, ToolError> {
    if black_box(true) {
        panic!("hostile-trap: deliberate panic (input was {input})");
    }
    Ok(input)
}

wasmgov_sdk::export_tool!(hostile_trap);
