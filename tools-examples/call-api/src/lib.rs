//! `call-api`: calls an authenticated JSON API with a method, a path and an optional JSON body.
//!
//! The tool never holds the credential. Its manifest declares a `[[secrets]]` entry bound to the
//! API's host; the host adds that header to requests to that host only, and forbids the tool to
//! set it itself. The API's base URL comes from the input (and must be allowed by the grant).

use wasmgov_sdk::serde_json::Value;
use wasmgov_sdk::{Deserialize, JsonSchema, Serialize, ToolError};

/// The API call.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Input {
    /// Base URL of the API, e.g. `https://api.example.com`.
    base: String,
    /// Path and query, starting with `/`.
    path: String,
    /// HTTP method (default `GET`).
    #[serde(default)]
    method: Option<String>,
    /// A JSON body to send (as `application/json`).
    #[serde(default)]
    body: Option<Value>,
}

/// The API's answer.
#[derive(Serialize, JsonSchema)]
struct Output {
    /// HTTP status code.
    status: u16,
    /// The body as JSON when it parses, else as a string.
    body: Value,
}

fn call_api(input: Input) -> Result<Output, ToolError> {
    if !input.path.starts_with('/') {
        return Err(ToolError::invalid_input("`path` must start with `/`"));
    }
    let method = input.method.as_deref().unwrap_or("GET");
    let url = format!("{}{}", input.base.trim_end_matches('/'), input.path);
    let body = input.body.as_ref().map(|b| b.to_string().into_bytes());
    let mut headers = vec![("accept", "application/json")];
    if body.is_some() {
        headers.push(("content-type", "application/json"));
    }
    let r = guest_net::request(method, &url, &headers, body.as_deref(), 1 << 20, None)
        .map_err(|e| ToolError::failed(format!("{method} {url}: {e}")))?;
    let text = String::from_utf8_lossy(&r.body).into_owned();
    let body = wasmgov_sdk::serde_json::from_str(&text).unwrap_or(Value::String(text));
    Ok(Output {
        status: r.status,
        body,
    })
}

wasmgov_sdk::export_tool!(call_api);
