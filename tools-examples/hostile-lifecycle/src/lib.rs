//! `hostile-lifecycle`: tries to carry state from one call to the next and to misuse resource
//! handles (M03).
//!
//! Input `{"plant": "CANARY"}` stores the canary in a global, on the heap and in linear memory
//! the allocator will hand out again, and reports what an earlier call left there (nothing, if
//! every call gets a fresh instance). `{"forge_handle": N}` calls a WASI method on a handle
//! number the tool never received; the host must answer with an error or a trap, never by
//! crashing. `{"exit": code}` exits through `wasi:cli/exit` midway.

use std::sync::Mutex;

use wasmgov_sdk::{Deserialize, JsonSchema, Serialize, ToolError};

/// What to do.
#[derive(Deserialize, JsonSchema, Default)]
#[serde(default)]
struct Input {
    plant: Option<String>,
    forge_handle: Option<u32>,
    exit: Option<u32>,
}

/// What an earlier call left behind.
#[derive(Serialize, JsonSchema)]
struct Output {
    /// The global planted by an earlier call, if any survived.
    previous_global: Option<String>,
    /// Canary bytes found in a fresh 1 MiB allocation (uninitialised memory reuse).
    found_in_fresh_memory: bool,
    /// What the forged handle call returned.
    forged: Option<String>,
}

static PLANTED: Mutex<Option<String>> = Mutex::new(None);

fn hostile_lifecycle(input: Input) -> Result<Output, ToolError> {
    let previous_global = PLANTED.lock().map(|g| g.clone()).unwrap_or(None);
    let mut found_in_fresh_memory = false;
    if let Some(c) = &input.plant {
        // Look in memory the allocator hands out before planting.
        let fresh: Vec<u8> = Vec::with_capacity(1 << 20);
        // SAFETY: reading capacity bytes that were never written is exactly the probe: in a
        // fresh instance they are zero; `u8` has no invalid bit patterns.
        let raw = unsafe { std::slice::from_raw_parts(fresh.as_ptr(), fresh.capacity()) };
        found_in_fresh_memory = raw.windows(c.len().max(1)).any(|w| w == c.as_bytes());
        drop(fresh);
        let mut block = c.as_bytes().repeat((1 << 16) / c.len().max(1));
        block.truncate(1 << 16);
        std::hint::black_box(&block);
        std::mem::forget(block);
        if let Ok(mut g) = PLANTED.lock() {
            *g = Some(c.clone());
        }
    }
    let forged = input.forge_handle.map(|h| {
        // SAFETY: deliberately wrong — the handle was never given to this instance. The host's
        // resource table must reject it.
        let d = unsafe { guest_net::wasip2::filesystem::types::Descriptor::from_handle(h) };
        let r = d.stat();
        std::mem::forget(d);
        format!("{r:?}")
    });
    if let Some(code) = input.exit {
        guest_net::wasip2::cli::exit::exit_with_code(code as u8);
    }
    Ok(Output {
        previous_global,
        found_in_fresh_memory,
        forged,
    })
}

wasmgov_sdk::export_tool!(hostile_lifecycle);
