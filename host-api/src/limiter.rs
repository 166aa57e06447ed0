//! The memory limiter: a call's linear memory may not grow past its limit.
//!
//! wasmtime's stock `StoreLimits` reports a failed growth either as `-1` (which a Rust guest
//! turns into an abort that looks like a crash) or as an untyped error. This limiter fails the
//! growth with a typed error, so the runtime reports it as a memory limit, not as a trap.

use std::fmt;

use wasmtime::ResourceLimiter;

/// The error a growth past the limit raises inside the guest (and the runtime downcasts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLimitExceeded {
    /// Bytes the guest asked for (total, after growth).
    pub desired: u64,
    /// The limit.
    pub limit: u64,
}

impl fmt::Display for MemoryLimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "memory limit: wanted {} bytes, limit is {} bytes",
            self.desired, self.limit
        )
    }
}

impl std::error::Error for MemoryLimitExceeded {}

/// Tracks and caps linear memory, tables and instance counts of one call.
#[derive(Debug)]
pub struct MemoryLimiter {
    limit: u64,
    current: u64,
    peak: u64,
    /// Set when a growth was refused.
    pub exceeded: Option<MemoryLimitExceeded>,
}

/// Most table elements a call may have (per table).
pub const MAX_TABLE_ELEMENTS: usize = 100_000;

impl MemoryLimiter {
    /// A limiter allowing `limit` bytes of linear memory in all.
    pub fn new(limit: u64) -> Self {
        Self {
            limit,
            current: 0,
            peak: 0,
            exceeded: None,
        }
    }

    /// The most linear memory the call held at once.
    pub fn peak(&self) -> u64 {
        self.peak
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Sum over all memories of the component: the growth adds `desired - current`.
        let grow = (desired as u64).saturating_sub(current as u64);
        let total = self.current.saturating_add(grow);
        if total > self.limit {
            let e = MemoryLimitExceeded {
                desired: total,
                limit: self.limit,
            };
            self.exceeded = Some(e);
            return Err(wasmtime::Error::new(e));
        }
        self.current = total;
        self.peak = self.peak.max(total);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        64
    }

    fn tables(&self) -> usize {
        64
    }

    fn memories(&self) -> usize {
        16
    }
}
