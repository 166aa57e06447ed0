//! What a tool says about itself: the `describe` export, checked and typed.

use serde::Serialize;
use serde_json::Value;

use wasmgov_host_api::bindings::wasmgov::tool::types::Info;

use crate::error::ToolFailure;

/// A tool's name, description and JSON Schemas.
///
/// For a tool loaded from a manifest, `name` and `description` are the manifest's (signed, so
/// they cannot change after review, and the tool cannot change them per call); what the
/// component's own `describe` export said is kept beside them only where it differs. The schemas
/// come from the pinned component's `describe`.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ToolDescription {
    /// Tool name: the manifest's, else the component's own.
    pub name: String,
    /// What the agent sees: the manifest's, else the component's own.
    pub description: String,
    /// JSON Schema of the input.
    pub input_schema: Value,
    /// JSON Schema of the output.
    pub output_schema: Value,
    /// The name the component gave itself, when it differs from the manifest's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest_name: Option<String>,
    /// The description the component gave itself, when it differs from the manifest's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest_description: Option<String>,
}

impl ToolDescription {
    /// Put the manifest's `name` and `description` in front, keeping the component's own words
    /// beside them where they differ.
    pub(crate) fn with_manifest(mut self, name: &str, description: &str) -> Self {
        if self.name != name {
            self.guest_name = Some(std::mem::replace(&mut self.name, name.to_owned()));
        }
        if self.description != description {
            self.guest_description = Some(std::mem::replace(
                &mut self.description,
                description.to_owned(),
            ));
        }
        self
    }
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
        guest_name: None,
        guest_description: None,
    };
    serde_json::to_vec(&d).map_err(|e| ToolFailure::Failed(format!("describe: {e}")))
}
