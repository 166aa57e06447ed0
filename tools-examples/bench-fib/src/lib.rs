//! `bench-fib`: naive recursive Fibonacci, the compute-bound fixture of the benchmarks.
//!
//! Input `{"n": 30}` → `{"fib": 832040}`. `n` above 40 is refused (it would run for minutes).

use std::hint::black_box;

use wasmgov_sdk::{Deserialize, JsonSchema, Serialize, ToolError};

/// Which Fibonacci number.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Input {
    /// Index, at most 40.
    n: u32,
}

/// The result.
#[derive(Serialize, JsonSchema)]
struct Output {
    /// fib(n).
    fib: u64,
}

fn fib(n: u32) -> u64 {
    if n < 2 { n as u64 } else { fib(n - 1) + fib(n - 2) }
}

fn bench_fib(input: Input) -> Result<Output, ToolError> {
    if input.n > 40 {
        return Err(ToolError::invalid_input("n must be at most 40"));
    }
    Ok(Output { fib: fib(black_box(input.n)) })
}

wasmgov_sdk::export_tool!(bench_fib);
