//! What `tools/list` shows of a served tool: the signed manifest's name and description, the
//! pinned component's schemas, and annotations derived from the effective grant (never claimed
//! by the tool).

use std::sync::Arc;

use rmcp::model::{JsonObject, MetaObject, Tool as McpTool, ToolAnnotations};
use serde_json::{Value, json};
use wasmgov_runtime::names::Access;
use wasmgov_runtime::{Grant, Tool, WorldKind};

/// A served tool as MCP clients see it.
#[derive(Debug, Clone)]
pub struct Listing {
    /// The MCP tool definition.
    pub tool: McpTool,
    /// Whether results are returned as `structuredContent` (the output schema is an object).
    pub structured: bool,
}

impl Listing {
    /// The same listing under another name.
    pub fn renamed(&self, name: &str) -> Self {
        let mut l = self.clone();
        l.tool.name = name.to_owned().into();
        l
    }
}

/// The input schema of a wasi:cli command: its stdin, as text.
fn command_input_schema() -> JsonObject {
    match json!({
        "type": "object",
        "properties": {
            "stdin": {"type": "string", "description": "text the command reads on stdin"}
        },
        "additionalProperties": false
    }) {
        Value::Object(o) => o,
        _ => JsonObject::new(),
    }
}

/// `schema` as an object schema: as it is when it says `"type": "object"`; with that added
/// when it accepts any value (`true`, or an object schema without a `type`); `None` when it
/// describes something other than an object.
fn object_schema(schema: Value) -> Option<JsonObject> {
    match schema {
        Value::Bool(true) => Some(JsonObject::from_iter([(
            "type".to_owned(),
            json!("object"),
        )])),
        Value::Object(mut o) => match o.get("type") {
            Some(t) if t == "object" => Some(o),
            None => {
                o.insert("type".into(), json!("object"));
                Some(o)
            }
            Some(_) => None,
        },
        _ => None,
    }
}

/// The MCP annotations that follow from a grant: read-only only when nothing can be written
/// (no read-write bind) and nothing can be sent (no network); open-world when any network is
/// granted; destructive when a read-write bind exists.
pub fn annotations(grant: &Grant) -> ToolAnnotations {
    let writable = grant.fs.iter().any(|f| f.access == Access::ReadWrite);
    let network = !grant.net.is_empty() || !grant.cidrs.is_empty();
    ToolAnnotations::new()
        .read_only(!writable && !network)
        .destructive(writable)
        .open_world(network)
}

/// The listing of a loaded tool. A tool-world component is asked for its schemas once, here
/// (an audited `describe` call); its input schema must be a JSON object schema (MCP tools take an
/// object), and its output schema is offered only when it describes an object.
pub fn listing(
    tool: &Tool,
    handle: &tokio::runtime::Handle,
) -> Result<Listing, (&'static str, String, Option<String>)> {
    let verified =
        tool.package()
            .ok_or(("internal", "a served tool has no package".to_owned(), None))?;
    let m = &verified.manifest.tool;
    let (input, output) = match tool.info().world {
        WorldKind::Command => (command_input_schema(), None),
        WorldKind::Tool => {
            let d = handle
                .block_on(tool.describe())
                .map_err(|e| (e.kind(), format!("describe failed: {e}"), e.hint()))?;
            let input = object_schema(d.input_schema).ok_or((
                "schema",
                "the component's input schema does not describe an object".to_owned(),
                Some("MCP tools take an object: describe the input as a struct".to_owned()),
            ))?;
            let output = match d.output_schema {
                Value::Object(o) if o.get("type") == Some(&json!("object")) => Some(o),
                _ => None,
            };
            (input, output)
        }
    };
    let structured = output.is_some();
    let mut t = McpTool::new(m.name.to_string(), m.description.clone(), Arc::new(input))
        .with_annotations(annotations(tool.grant()));
    if let Some(o) = output {
        t = t.with_raw_output_schema(Arc::new(o));
    }
    let mut meta = JsonObject::new();
    meta.insert("io.wasmgov/publisher".into(), json!(m.publisher));
    meta.insert("io.wasmgov/version".into(), json!(m.version));
    meta.insert("io.wasmgov/sequence".into(), json!(m.sequence));
    meta.insert("io.wasmgov/sha256".into(), json!(tool.info().sha256));
    if let Some(s) = &verified.signer {
        meta.insert("io.wasmgov/signer".into(), json!(s.fingerprint));
    }
    t = t.with_meta(MetaObject(meta));
    Ok(Listing {
        tool: t,
        structured,
    })
}
