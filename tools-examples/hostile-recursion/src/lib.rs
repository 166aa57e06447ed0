//! `hostile-recursion`: `call` recurses without bound.
//!
//! Threat: stack exhaustion. Each level keeps its values in wasm locals (nothing address-taken),
//! so the frames live on the engine's wasm stack, not on the guest's shadow stack in linear
//! memory: the host must stop it with its stack limit, not crash.

use std::hint::black_box;

use wasmgov_sdk::ToolError;
use wasmgov_sdk::serde_json::Value;

#[inline(never)]
#[allow(unconditional_recursion)] // the point of this fixture
fn descend(depth: u64) -> u64 {
    let next = black_box(depth.wrapping_mul(31).wrapping_add(7));
    // The addition after the call keeps it from being a tail call.
    descend(next).wrapping_add(black_box(depth))
}

fn hostile_recursion(_input: Value) -> Result<Value, ToolError> {
    Ok(Value::from(descend(0)))
}

wasmgov_sdk::export_tool!(hostile_recursion);
