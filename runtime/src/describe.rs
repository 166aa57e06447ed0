//! What a tool says about itself: the `describe` export, checked and typed.

use serde::Serialize;
use serde_json::Value;

use wasmgov_host_api::bindings::wasmgov::tool::types::Info;

use crate::error::ToolFailure;

/// A tool's name, description and JSON Schemas, as returned by its `describe` export.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ToolDescription {
    /// Tool name.
    pub name: String,
    /// What the agent sees.
    pub description: String,
    /// JSON Schema of the input.
    pub input_schema: Value,
    /// JSON Schema of the output.
    pub output_schema: Value,
}

/// Check the guest's answer; schemas must be JSON objects (or `true`).
pub(crate) fn from_guest(info: Info) -> Result<Vec<u8>, ToolFailure> {
    let schema = |which: &str, text: &str| -> Result<Value, ToolFailure> {
        match serde_json::from_str::<Value>(text) {
            Ok(v @ (Value::Object(_) | Value::Bool(true))) => Ok(v),
            Ok(_) => Err(ToolFailure::Failed(format!(
                "describe: {which} schema is not a JSON object"
            ))),
            Err(e) => Err(ToolFailure::Failed(format!(
                "describe: {which} schema is not JSON: {e}"
            ))),
        }
    };
    let d = ToolDescription {
        input_schema: schema("input", &info.input_schema)?,
        output_schema: schema("output", &info.output_schema)?,
        name: info.name,
        description: info.description,
    };
    serde_json::to_vec(&d).map_err(|e| ToolFailure::Failed(format!("describe: {e}")))
}
