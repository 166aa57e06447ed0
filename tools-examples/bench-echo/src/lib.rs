//! `bench-echo`: `call` returns its input unchanged, with no JSON parsing or formatting, so a
//! benchmark of it measures the runtime (sandbox, limits, audit), not the tool's own work.
//!
//! It implements the `wasmgov:tool/tool` world by hand instead of through `export_tool!`, which
//! would parse the input and print the output.

use wasmgov_sdk::__private::{Error, Guest, Info};

struct Echo;

impl Guest for Echo {
    fn describe() -> Info {
        Info {
            name: "bench-echo".into(),
            description: env!("CARGO_PKG_DESCRIPTION").into(),
            input_schema: r#"{"type":"object"}"#.into(),
            output_schema: r#"{"type":"object"}"#.into(),
        }
    }

    fn call(input: String) -> Result<String, Error> {
        Ok(input)
    }
}

wasmgov_sdk::__private::export!(Echo with_types_in wasmgov_sdk::bindings);
