//! The host-memory budget: what the host holds on a call's behalf is charged to the call.
//!
//! wasmtime's `ResourceLimiter` sees only linear memories, tables and instances; nothing in
//! wasmtime-wasi or wasmtime-wasi-http charges the buffers and objects a guest makes the host
//! allocate (HTTP fields, outgoing body buffers, URI strings, responses in flight, captured
//! stderr and log lines). Without a budget a tool with no grant at all can make the host hold
//! gigabytes through a few thousand handles while its own memory stays tiny.
//!
//! One [`HostMemory`] per call. Each place that makes the host hold bytes for the guest charges
//! them first and refuses with the interface's own error when the budget is spent — never a
//! trap, so a well-behaved tool can handle it — and the refusal is remembered
//! ([`HostMemory::exceeded`]) so the call is reported as `limit-host-memory` whatever the tool
//! does next. Where an owner object exists (an outgoing body, a request in flight) the charge is
//! a [`Reservation`] refunded when the owner is dropped; charges for small strings and fields
//! made within one short call are not refunded (conservative: a tool can only under-use its
//! budget, never exceed it).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The error a refused host allocation raises where the interface has no error of its own to
/// return (the runtime downcasts it to report the limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("host-memory limit of {limit} bytes reached")]
pub struct HostMemoryExceeded {
    /// The budget, bytes.
    pub limit: u64,
}

/// One call's host-memory budget.
#[derive(Debug)]
pub struct HostMemory {
    limit: u64,
    used: AtomicU64,
    peak: AtomicU64,
    wanted: AtomicU64,
    exceeded: AtomicBool,
}

impl HostMemory {
    /// A budget of `limit` bytes.
    pub fn new(limit: u64) -> Arc<Self> {
        Arc::new(Self {
            limit,
            used: AtomicU64::new(0),
            peak: AtomicU64::new(0),
            wanted: AtomicU64::new(0),
            exceeded: AtomicBool::new(false),
        })
    }

    /// The budget, bytes.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Bytes charged and not refunded.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// The most bytes charged at once.
    pub fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }

    /// What the call asked the host to hold when it was refused: the largest total a refused
    /// charge would have made, and at least the budget once a cap standing for host memory
    /// refused (0 when nothing was).
    pub fn wanted(&self) -> u64 {
        let w = self.wanted.load(Ordering::Relaxed);
        if self.exceeded() {
            w.max(self.limit)
        } else {
            w
        }
    }

    /// Whether anything was refused.
    pub fn exceeded(&self) -> bool {
        self.exceeded.load(Ordering::Relaxed)
    }

    /// Mark the budget exceeded: something the call asked the host to hold was refused by a
    /// cap that stands for host memory (requests in flight, live handles).
    pub fn refuse(&self) {
        self.exceeded.store(true, Ordering::Relaxed);
    }

    /// Take `n` bytes for good (no refund), or refuse and mark the budget exceeded.
    pub fn charge(&self, n: u64) -> Result<(), HostMemoryExceeded> {
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let next = match used.checked_add(n) {
                Some(next) if next <= self.limit => next,
                asked => {
                    self.wanted
                        .fetch_max(asked.unwrap_or(u64::MAX), Ordering::Relaxed);
                    self.exceeded.store(true, Ordering::Relaxed);
                    return Err(HostMemoryExceeded { limit: self.limit });
                }
            };
            match self
                .used
                .compare_exchange_weak(used, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => {
                    self.peak.fetch_max(next, Ordering::Relaxed);
                    return Ok(());
                }
                Err(now) => used = now,
            }
        }
    }

    /// Take `n` bytes until the returned reservation is dropped, or refuse and mark the budget
    /// exceeded.
    pub fn reserve(self: &Arc<Self>, n: u64) -> Result<Reservation, HostMemoryExceeded> {
        self.charge(n)?;
        Ok(Reservation {
            budget: self.clone(),
            bytes: n,
        })
    }
}

/// Bytes taken from a [`HostMemory`] until this is dropped.
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<HostMemory>,
    bytes: u64,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_past_the_budget_are_refused_and_remembered() {
        let m = HostMemory::new(100);
        assert!(m.charge(60).is_ok());
        assert!(!m.exceeded());
        assert_eq!(m.charge(41), Err(HostMemoryExceeded { limit: 100 }));
        assert!(m.exceeded());
        assert_eq!(m.used(), 60);
        assert!(m.charge(40).is_ok());
        assert_eq!(m.wanted(), 101);
        assert!(
            m.charge(u64::MAX).is_err(),
            "an overflowing charge is refused"
        );
    }

    #[test]
    fn reservations_are_refunded_when_dropped() {
        let m = HostMemory::new(100);
        let a = m.reserve(70).expect("fits");
        assert!(m.reserve(70).is_err());
        drop(a);
        assert_eq!(m.used(), 0);
        let _b = m.reserve(100).expect("fits after the refund");
        assert_eq!(m.peak(), 100);
    }
}
