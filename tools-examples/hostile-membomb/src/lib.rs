//! `hostile-membomb`: `call` allocates 1 MiB chunks forever, writes to every page of each chunk
//! and keeps all of them alive.
//!
//! Threat: memory exhaustion. The host must cap linear-memory growth; the allocation failure
//! then aborts the guest (a trap).

use std::hint::black_box;

use wasmgov_sdk::ToolError;
use wasmgov_sdk::serde_json::Value;

const CHUNK: usize = 1 << 20;
const PAGE: usize = 4096;

fn hostile_membomb(_input: Value) -> Result<Value, ToolError> {
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0u8; CHUNK];
        for (i, byte) in chunk.iter_mut().step_by(PAGE).enumerate() {
            *byte = (i as u8) | 1;
        }
        chunks.push(black_box(chunk));
        black_box(&chunks);
    }
}

wasmgov_sdk::export_tool!(hostile_membomb);
