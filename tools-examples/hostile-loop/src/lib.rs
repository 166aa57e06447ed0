//! `hostile-loop`: `call` spins forever in pure computation, never making a host call.
//!
//! Threat: CPU exhaustion. The host must stop it with fuel or epoch interruption.

use std::hint::black_box;

use wasmgov_sdk::ToolError;
use wasmgov_sdk::serde_json::Value;

fn hostile_loop(_input: Value) -> Result<Value, ToolError> {
    let mut n: u64 = 0;
    loop {
        n = black_box(n.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
}

wasmgov_sdk::export_tool!(hostile_loop);
