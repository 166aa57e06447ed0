//! `fetch-url`: HTTP(S) GET of a URL the tool's grant allows; returns the status, content type
//! and body as text, cut at a size limit.
//!
//! The host decides whether the URL may be reached (its `[net] allow`), resolves the name and
//! refuses internal addresses; a refusal comes back as the `failed` error
//! `HttpRequestDenied`. Redirects are returned, not followed: a 3xx answer carries `location`
//! and the caller decides whether to fetch that too (the host checks it again).

use wasmgov_sdk::{Deserialize, JsonSchema, Serialize, ToolError};

/// What to fetch.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Input {
    /// An `http://` or `https://` URL.
    url: String,
    /// Most body bytes to return (default 256 KiB, at most 4 MiB).
    #[serde(default)]
    max_bytes: Option<usize>,
}

/// The response.
#[derive(Serialize, JsonSchema)]
struct Output {
    /// HTTP status code.
    status: u16,
    /// The `content-type` header, if any.
    content_type: Option<String>,
    /// The `location` header of a redirect, if any.
    location: Option<String>,
    /// The body, decoded as UTF-8 (invalid sequences replaced).
    text: String,
    /// Body bytes returned.
    bytes: usize,
    /// Whether the body was cut at `max_bytes`.
    truncated: bool,
}

const DEFAULT_MAX: usize = 256 * 1024;
const HARD_MAX: usize = 4 * 1024 * 1024;

fn fetch_url(input: Input) -> Result<Output, ToolError> {
    let max = input.max_bytes.unwrap_or(DEFAULT_MAX).min(HARD_MAX);
    guest_net::split_url(&input.url).map_err(ToolError::invalid_input)?;
    let r = guest_net::request("GET", &input.url, &[], None, max, None)
        .map_err(|e| ToolError::failed(format!("GET {}: {e}", input.url)))?;
    Ok(Output {
        status: r.status,
        content_type: r.header("content-type").map(str::to_owned),
        location: r.header("location").map(str::to_owned),
        text: String::from_utf8_lossy(&r.body).into_owned(),
        bytes: r.body.len(),
        truncated: r.truncated,
    })
}

wasmgov_sdk::export_tool!(fetch_url);
