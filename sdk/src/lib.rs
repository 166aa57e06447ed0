//! Guest SDK for wasmgov tools.
//!
//! A tool is a WebAssembly component (target `wasm32-wasip2`) that exports the
//! `wasmgov:tool/tool` interface: `describe()` returns its name, description and the JSON
//! Schemas of its input and output, and `call(input)` turns JSON text into JSON text. With this
//! crate a tool author writes one typed Rust function and one macro call:
//!
//! ```ignore
//! use wasmgov_sdk::{Deserialize, JsonSchema, Serialize, ToolError};
//!
//! /// Text to measure.
//! #[derive(Deserialize, JsonSchema)]
//! struct Input {
//!     text: String,
//! }
//!
//! #[derive(Serialize, JsonSchema)]
//! struct Output {
//!     words: usize,
//!     lines: usize,
//! }
//!
//! fn stats(input: Input) -> Result<Output, ToolError> {
//!     if input.text.is_empty() {
//!         return Err(ToolError::invalid_input("`text` is empty"));
//!     }
//!     wasmgov_sdk::log::debug(&format!("{} bytes", input.text.len()));
//!     Ok(Output {
//!         words: input.text.split_whitespace().count(),
//!         lines: input.text.lines().count(),
//!     })
//! }
//!
//! // Name and description default to CARGO_PKG_NAME and CARGO_PKG_DESCRIPTION.
//! wasmgov_sdk::export_tool!(stats);
//! // or: wasmgov_sdk::export_tool!(stats, name = "stats", description = "Count words and lines");
//! ```
//!
//! The tool crate is a `cdylib`:
//!
//! ```toml
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! wasmgov-sdk = { path = "../sdk" }
//! serde = { version = "1", features = ["derive"] }  # the derives expand to `serde::...`
//! schemars = "1"                                   # and `schemars::...`
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2`; the `.wasm` file in
//! `target/wasm32-wasip2/release/` is already a component.
//!
//! The `serde` and `schemars` dependencies are needed because their derive macros name those
//! crates. To do without them, put `#[serde(crate = "wasmgov_sdk::serde")]` on each type and
//! `use wasmgov_sdk::schemars;` in the module.
//!
//! How a call maps to the WIT result:
//! - input that is not valid JSON or does not match `Input` → `invalid-input` with serde's message;
//! - `Err(ToolError::InvalidInput(..))` → `invalid-input`, `Err(ToolError::Failed(..))` → `failed`;
//! - `Ok(output)` → the output serialised as JSON text;
//! - a panic traps the component (the host reports it as a crash, not as a tool error).
#![deny(missing_docs)]

use std::fmt;

pub use schemars::{self, JsonSchema};
pub use serde::{self, Deserialize, Serialize};
pub use serde_json;

/// Bindings generated from `host-api/wit/tool.wit`. Not a stable API: use [`export_tool!`] and
/// [`log`] instead.
#[doc(hidden)]
#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../host-api/wit",
        world: "wasmgov:tool/plugin",
        pub_export_macro: true,
        default_bindings_module: "wasmgov_sdk::bindings",
        export_macro_name: "export",
    });
}

use bindings::exports::wasmgov::tool::tool as wit_tool;

/// Why a tool call did not produce a result; maps onto the WIT `error` variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolError {
    /// The input was not valid for this tool (wrong shape, out of range, unknown option).
    InvalidInput(String),
    /// The input was valid but the tool could not do the work.
    Failed(String),
}

impl ToolError {
    /// The input was not valid for this tool; `message` tells the caller what to fix.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::InvalidInput(message.into())
    }

    /// The input was valid but the work failed; `message` says why.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::Failed(message.into())
    }

    /// The human-readable message, without the kind.
    pub fn message(&self) -> &str {
        match self {
            Self::InvalidInput(m) | Self::Failed(m) => m,
        }
    }
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidInput(m) => write!(f, "invalid input: {m}"),
            Self::Failed(m) => write!(f, "failed: {m}"),
        }
    }
}

impl std::error::Error for ToolError {}

impl From<ToolError> for wit_tool::Error {
    fn from(e: ToolError) -> Self {
        match e {
            ToolError::InvalidInput(m) => Self::InvalidInput(m),
            ToolError::Failed(m) => Self::Failed(m),
        }
    }
}

/// The JSON Schema of `T` as compact JSON text (what `describe` reports).
pub fn schema_json<T: JsonSchema>() -> String {
    serde_json::to_string(&schemars::schema_for!(T)).expect("a JSON Schema always serialises")
}

/// Runs `tool` on JSON text exactly as the exported `call` does: parse, run, serialise.
///
/// Useful for a tool's own unit tests on the host.
pub fn invoke<I, O, E, F>(tool: F, input: &str) -> Result<String, ToolError>
where
    I: serde::de::DeserializeOwned,
    O: Serialize,
    E: Into<ToolError>,
    F: FnOnce(I) -> Result<O, E>,
{
    let input: I =
        serde_json::from_str(input).map_err(|e| ToolError::InvalidInput(e.to_string()))?;
    let output = tool(input).map_err(Into::into)?;
    serde_json::to_string(&output)
        .map_err(|e| ToolError::Failed(format!("cannot serialise the output: {e}")))
}

/// Logging through the host's `log` import. Messages go to the operator's log, never into the
/// result. On a non-wasm target (unit tests) they are written to stderr instead.
pub mod log {
    /// Severity of a log message.
    pub use crate::bindings::wasmgov::tool::host::Level;

    /// Writes `message` at `level`.
    pub fn log(level: Level, message: &str) {
        #[cfg(target_arch = "wasm32")]
        crate::bindings::wasmgov::tool::host::log(level, message);
        #[cfg(not(target_arch = "wasm32"))]
        eprintln!("[{level:?}] {message}");
    }

    /// Writes `message` at level `trace`.
    pub fn trace(message: &str) {
        log(Level::Trace, message)
    }

    /// Writes `message` at level `debug`.
    pub fn debug(message: &str) {
        log(Level::Debug, message)
    }

    /// Writes `message` at level `info`.
    pub fn info(message: &str) {
        log(Level::Info, message)
    }

    /// Writes `message` at level `warn`.
    pub fn warn(message: &str) {
        log(Level::Warn, message)
    }

    /// Writes `message` at level `error`.
    pub fn error(message: &str) {
        log(Level::Error, message)
    }
}

/// Support for [`export_tool!`]; not a stable API.
#[doc(hidden)]
pub mod __private {
    use super::*;
    pub use crate::bindings::export;
    pub use wit_tool::{Error, Guest, Info};

    /// `describe` for a tool function: the schemas are inferred from its signature.
    pub fn describe<I, O, E, F>(name: &str, description: &str, _tool: F) -> Info
    where
        I: JsonSchema,
        O: JsonSchema,
        F: FnOnce(I) -> Result<O, E>,
    {
        Info {
            name: name.to_string(),
            description: description.to_string(),
            input_schema: schema_json::<I>(),
            output_schema: schema_json::<O>(),
        }
    }

    /// `call` for a tool function.
    pub fn call<I, O, E, F>(tool: F, input: &str) -> Result<String, Error>
    where
        I: serde::de::DeserializeOwned,
        O: Serialize,
        E: Into<ToolError>,
        F: FnOnce(I) -> Result<O, E>,
    {
        invoke(tool, input).map_err(Into::into)
    }
}

/// Exports a typed function as this component's `wasmgov:tool/tool` implementation.
///
/// The function has the shape `fn(I) -> Result<O, E>` where `I: Deserialize + JsonSchema`,
/// `O: Serialize + JsonSchema` and `E: Into<ToolError>` (usually [`ToolError`] itself).
///
/// ```ignore
/// wasmgov_sdk::export_tool!(stats);
/// wasmgov_sdk::export_tool!(stats, name = "text-stats");
/// wasmgov_sdk::export_tool!(stats, description = "Count words");
/// wasmgov_sdk::export_tool!(stats, name = "text-stats", description = "Count words");
/// ```
///
/// `name` defaults to `CARGO_PKG_NAME` and `description` to `CARGO_PKG_DESCRIPTION` of the crate
/// that invokes the macro. Invoke it once per component.
#[macro_export]
macro_rules! export_tool {
    ($tool:path $(,)?) => {
        $crate::export_tool!(
            $tool,
            name = ::core::env!("CARGO_PKG_NAME"),
            description = ::core::env!("CARGO_PKG_DESCRIPTION")
        );
    };
    ($tool:path, name = $name:expr $(,)?) => {
        $crate::export_tool!(
            $tool,
            name = $name,
            description = ::core::env!("CARGO_PKG_DESCRIPTION")
        );
    };
    ($tool:path, description = $description:expr $(,)?) => {
        $crate::export_tool!(
            $tool,
            name = ::core::env!("CARGO_PKG_NAME"),
            description = $description
        );
    };
    ($tool:path, name = $name:expr, description = $description:expr $(,)?) => {
        const _: () = {
            struct WasmgovTool;

            impl $crate::__private::Guest for WasmgovTool {
                fn describe() -> $crate::__private::Info {
                    $crate::__private::describe($name, $description, $tool)
                }

                fn call(
                    input: ::std::string::String,
                ) -> ::core::result::Result<::std::string::String, $crate::__private::Error>
                {
                    $crate::__private::call($tool, &input)
                }
            }

    $crate::__private::export!(WasmgovTool with_types_in $crate::bindings);
        };
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[derive(Deserialize, JsonSchema)]
    struct Input {
        /// Text to count.
        text: String,
    }

    #[derive(Serialize, JsonSchema)]
    struct Output {
        words: usize,
    }

    fn words(input: Input) -> Result<Output, ToolError> {
        if input.text == "fail" {
            return Err(ToolError::failed("told to fail"));
        }
        if input.text.is_empty() {
            return Err(ToolError::invalid_input("`text` is empty"));
        }
        Ok(Output {
            words: input.text.split_whitespace().count(),
        })
    }

    #[test]
    fn error_maps_to_wit_variants() {
        let e: wit_tool::Error = ToolError::invalid_input("bad").into();
        assert!(matches!(e, wit_tool::Error::InvalidInput(ref m) if m == "bad"));
        let e: wit_tool::Error = ToolError::failed("boom").into();
        assert!(matches!(e, wit_tool::Error::Failed(ref m) if m == "boom"));
        assert_eq!(ToolError::failed("boom").to_string(), "failed: boom");
        assert_eq!(ToolError::invalid_input("bad").message(), "bad");
    }

    #[test]
    fn call_runs_the_function() {
        assert_eq!(
            invoke(words, r#"{"text":"a b  c"}"#).unwrap(),
            r#"{"words":3}"#
        );
        assert_eq!(
            invoke(words, r#"{"text":""}"#),
            Err(ToolError::invalid_input("`text` is empty"))
        );
        assert_eq!(
            invoke(words, r#"{"text":"fail"}"#),
            Err(ToolError::failed("told to fail"))
        );
    }

    #[test]
    fn bad_json_is_invalid_input_with_serde_message() {
        let Err(ToolError::InvalidInput(m)) = invoke(words, "{") else {
            panic!("expected invalid input")
        };
        assert!(m.contains("EOF"), "{m}");
        let Err(ToolError::InvalidInput(m)) = invoke(words, r#"{"txt":"a"}"#) else {
            panic!("expected invalid input")
        };
        assert!(m.contains("missing field `text`"), "{m}");
        let e: Result<String, wit_tool::Error> = __private::call(words, "[]");
        assert!(matches!(e, Err(wit_tool::Error::InvalidInput(_))));
    }

    #[test]
    fn describe_reports_schemas_of_both_types() {
        let info = __private::describe("words", "Count words", words);
        assert_eq!(info.name, "words");
        assert_eq!(info.description, "Count words");
        let input: Value = serde_json::from_str(&info.input_schema).unwrap();
        assert_eq!(input["type"], "object");
        assert_eq!(input["properties"]["text"]["type"], "string");
        assert_eq!(input["properties"]["text"]["description"], "Text to count.");
        assert_eq!(input["required"], json!(["text"]));
        let output: Value = serde_json::from_str(&info.output_schema).unwrap();
        assert_eq!(output["properties"]["words"]["type"], "integer");
        assert!(
            output["$schema"]
                .as_str()
                .unwrap()
                .contains("json-schema.org")
        );
    }
}
