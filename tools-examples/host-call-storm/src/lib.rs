//! `host-call-storm`: makes `n` tiny host calls of one kind and reports how many it made.
//!
//! Threat and use: a flood of host calls must be bounded by the call's host-call limit (so a
//! tool cannot fill the audit disk), and every one of them must be in the audit log. The audit
//! bench uses it to price one audited host call.
//!
//! Input: `{"n": 100000, "op": "clock" | "stat" | "open" | "env" | "log" | "clock-log", "path":
//! "/data/x"}`.
//! - `clock`: `wasi:clocks/monotonic-clock.now` (the cheapest host call there is).
//! - `stat`: `stat` of `path` (a `wasi:filesystem/types` call; needs a bound directory).
//! - `open`: open `path` for reading and read it (fails if not granted: the log shows a deny).
//! - `env`: read an environment variable once (`wasi:cli/environment`).
//! - `log`: `wasmgov:tool/host.log` with a short message.
//! - `clock-log`: two clock reads, then a `log` (so the audit log's runs of identical clock
//!   reads are broken by another call); `n` counts these triples.

use std::hint::black_box;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use wasmgov_sdk::ToolError;

/// What to do.
#[derive(Deserialize, JsonSchema)]
struct Input {
    /// How many host calls.
    n: u64,
    /// Which kind.
    #[serde(default = "clock")]
    op: String,
    /// Path for `stat` and `open`.
    #[serde(default)]
    path: String,
}

fn clock() -> String {
    "clock".into()
}

/// What happened.
#[derive(Serialize, JsonSchema)]
struct Output {
    /// Calls made.
    done: u64,
    /// Calls that returned an error.
    errors: u64,
}

fn host_call_storm(input: Input) -> Result<Output, ToolError> {
    let mut errors = 0;
    for _ in 0..input.n {
        match input.op.as_str() {
            "clock" => {
                black_box(std::time::Instant::now());
            }
            "stat" => {
                if std::fs::metadata(black_box(&input.path)).is_err() {
                    errors += 1;
                }
            }
            "open" => match std::fs::read(black_box(&input.path)) {
                Ok(b) => {
                    black_box(b);
                }
                Err(_) => errors += 1,
            },
            "env" => {
                black_box(std::env::var_os("LANG"));
            }
            "log" => wasmgov_sdk::log::info("tick"),
            "clock-log" => {
                black_box(std::time::Instant::now());
                black_box(std::time::Instant::now());
                wasmgov_sdk::log::info("tick");
            }
            other => return Err(ToolError::invalid_input(format!("unknown op `{other}`"))),
        }
    }
    Ok(Output {
        done: input.n,
        errors,
    })
}

wasmgov_sdk::export_tool!(host_call_storm);
