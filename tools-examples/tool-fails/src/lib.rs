//! `tool-fails`: a fixture that accepts any JSON input and always returns the `failed` tool error
//! (the runner's exit code 1 path). A string field `reason` in the input is echoed in the message.

use wasmgov_sdk::ToolError;
use wasmgov_sdk::serde_json::Value;

fn tool_fails(input: Value) -> Result<Value, ToolError> {
    let reason = input
        .get("reason")
        .and_then(Value::as_str)
        .unwrap_or("this tool always fails");
    Err(ToolError::failed(format!("tool-fails: {reason}")))
}

wasmgov_sdk::export_tool!(tool_fails);
