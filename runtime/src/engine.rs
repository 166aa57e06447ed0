//! The wasmtime engine every call shares.
//!
//! Settings follow the measurements in `notes/perf-baseline.md`: a server keeps a pooling
//! allocator (instantiation in single-digit microseconds once warm), while a one-shot CLI run uses
//! the on-demand allocator because creating a pool costs milliseconds it would never earn back.
//! Fuel is on and epoch interruption is off: fuel bounds compute deterministically, and wall
//! time too, through the fuel-driven yields at which a call checks its deadline
//! (`invoke::YIELD_FUEL`). Epoch checks in the generated code cost fib(30) as much again as fuel
//! does and bound nothing fuel yields do not. Fuel does not tick while a tool is blocked in a
//! host call; the invocation's outer timeout covers that case.

use std::path::PathBuf;

use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig,
};

use crate::error::Error;

/// How instances get their memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allocator {
    /// Map memory per instance: cheapest to start, slower per call. Best for one-shot runs.
    OnDemand,
    /// Pre-reserved slots reused across calls: fastest per call. `max_concurrent` bounds calls
    /// in flight (the runtime's semaphore is sized to it, so the pool never runs out).
    Pooling {
        /// Most instances alive at once.
        max_concurrent: u32,
    },
}

/// Size of the wasm stack of one call.
pub const MAX_WASM_STACK: usize = 512 << 10;
/// Address space the pool may reserve for linear memories. Each slot reserves wasmtime's
/// default 4 GiB (plus guard) so that bounds checks compile away; x86-64 gives a process
/// 128 TiB, and the pool's stacks, tables and the rest of the process need some of it.
const MEMORY_SLOTS_RESERVED: u64 = 64 << 40;
/// What one memory slot reserves.
const MEMORY_SLOT: u64 = 4 << 30;

/// Memory slots for a pool of `n` instances: four each (a component may have several
/// memories) while that fits in [`MEMORY_SLOTS_RESERVED`], and never fewer than one each, so
/// that every admitted call of a one-memory tool (every tool built by today's toolchains) gets
/// its slot. Between those, a pool running `n` multi-memory tools at once can run out of slots;
/// that call fails to instantiate with an error; it does not wait or crash.
fn memory_slots(n: u32) -> u32 {
    let fits = u32::try_from(MEMORY_SLOTS_RESERVED / MEMORY_SLOT).unwrap_or(u32::MAX);
    n.saturating_mul(4).min(fits).max(n)
}

/// Engine settings an embedder may choose.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Allocation strategy.
    pub allocator: Allocator,
    /// Largest linear memory any call may have (the pool reserves this much per slot).
    pub max_memory: u64,
    /// Where compiled components are stored, keyed by content digest and engine settings
    /// ([`crate::artifacts`]). `None` compiles every load.
    pub cache_dir: Option<PathBuf>,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            allocator: Allocator::Pooling { max_concurrent: 64 },
            max_memory: 1 << 30,
            cache_dir: None,
        }
    }
}

/// Build the shared engine. (Compiled components are stored by [`crate::artifacts`], not by
/// wasmtime's cache.)
pub(crate) fn build(settings: &EngineSettings) -> Result<Engine, Error> {
    let mut cfg = Config::new();
    cfg.wasm_component_model(true)
        .consume_fuel(true)
        .epoch_interruption(false)
        .max_wasm_stack(MAX_WASM_STACK)
        .async_stack_size(2 << 20)
        // Pooled stacks are reused across tools: zero them so one call cannot read another's.
        .async_stack_zeroing(true)
        .cranelift_opt_level(OptLevel::Speed)
        .memory_init_cow(true)
        .concurrency_support(false);
    if let Allocator::Pooling { max_concurrent } = settings.allocator {
        let n = max_concurrent.max(1);
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(n)
            .max_component_instance_size(1 << 20)
            .max_core_instances_per_component(32)
            .total_core_instances(n * 32)
            .max_memories_per_component(4)
            .total_memories(memory_slots(n))
            .max_tables_per_component(16)
            .total_tables(n * 16)
            .total_stacks(n)
            .max_memory_size(usize::try_from(settings.max_memory).unwrap_or(usize::MAX))
            .table_elements(wasmgov_host_api::limiter::MAX_TABLE_ELEMENTS)
            .max_unused_warm_slots(n.min(16))
            .linear_memory_keep_resident(2 << 20)
            .table_keep_resident(64 << 10)
            .pagemap_scan(Enabled::Auto);
        cfg.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    Engine::new(&cfg).map_err(|e| Error::Internal(format!("cannot build the engine: {e:#}")))
}
