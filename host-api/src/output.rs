//! Capped capture of a call's stdout and stderr.
//!
//! A tool shares one output budget between its result, stdout, stderr and log lines. Bytes up to
//! the cap are kept; the first write past it keeps what fits, marks the budget exceeded and fails,
//! so a flood ends the call (reported as an output limit) instead of being buffered without
//! bound or silently dropped.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

use crate::host_memory::HostMemory;

/// The error raised when a call writes past its output cap.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("output limit of {limit} bytes reached")]
pub struct OutputLimitExceeded {
    /// The cap.
    pub limit: u64,
}

/// One call's output budget, shared by its result, stdout, stderr and log lines.
#[derive(Debug)]
pub struct OutputBudget {
    limit: u64,
    used: AtomicU64,
    exceeded: AtomicBool,
}

impl OutputBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: u64) -> Arc<Self> {
        Arc::new(Self {
            limit,
            used: AtomicU64::new(0),
            exceeded: AtomicBool::new(false),
        })
    }

    /// The cap in bytes.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Bytes charged so far (at most the cap).
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Whether anything was refused.
    pub fn exceeded(&self) -> bool {
        self.exceeded.load(Ordering::Relaxed)
    }

    /// Take up to `n` bytes from the budget; returns how many were granted. Marks the budget
    /// exceeded when fewer than `n` were.
    pub fn take(&self, n: u64) -> u64 {
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let grant = n.min(self.limit.saturating_sub(used));
            match self.used.compare_exchange_weak(
                used,
                used + grant,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    if grant < n {
                        self.exceeded.store(true, Ordering::Relaxed);
                    }
                    return grant;
                }
                Err(now) => used = now,
            }
        }
    }

    /// Take exactly `n` bytes or fail with [`OutputLimitExceeded`].
    pub fn charge(&self, n: u64) -> Result<(), OutputLimitExceeded> {
        if self.take(n) == n {
            Ok(())
        } else {
            Err(OutputLimitExceeded { limit: self.limit })
        }
    }
}

/// A guest stdout/stderr that keeps bytes in memory up to the shared budget.
#[derive(Clone)]
pub struct CappedPipe {
    buf: Arc<Mutex<Vec<u8>>>,
    budget: Arc<OutputBudget>,
    host: Option<Arc<HostMemory>>,
}

impl CappedPipe {
    /// A pipe charging `budget`.
    pub fn new(budget: Arc<OutputBudget>) -> Self {
        Self {
            buf: Arc::default(),
            budget,
            host: None,
        }
    }

    /// The same pipe, also charging what it keeps to the call's host-memory budget.
    pub fn charging(mut self, host: Arc<HostMemory>) -> Self {
        self.host = Some(host);
        self
    }

    /// The bytes captured so far.
    pub fn contents(&self) -> Vec<u8> {
        self.buf.lock().map(|b| b.clone()).unwrap_or_default()
    }
}

impl IsTerminal for CappedPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedPipe {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl tokio::io::AsyncWrite for CappedPipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(h) = &self.host
            && let Err(e) = h.charge(data.len() as u64)
        {
            return Poll::Ready(Err(io::Error::other(e)));
        }
        let granted = self.budget.take(data.len() as u64) as usize;
        if let Ok(mut b) = self.buf.lock() {
            b.extend_from_slice(&data[..granted]);
        }
        if granted < data.len() {
            return Poll::Ready(Err(io::Error::other(OutputLimitExceeded {
                limit: self.budget.limit(),
            })));
        }
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_grants_up_to_the_cap_and_marks_excess() {
        let b = OutputBudget::new(10);
        assert_eq!(b.take(4), 4);
        assert!(!b.exceeded());
        assert_eq!(b.take(10), 6);
        assert!(b.exceeded());
        assert_eq!(b.used(), 10);
        assert!(b.charge(1).is_err());
    }
}
