//! Observers of the audit log: the live side (metrics, exporters, detection) is built on the
//! same events the log records, as each batch of records is written.
//!
//! An observer is called on the writer's path, under its lock, after the records are in the
//! file (so it never sees a record the log does not hold): it must be cheap and must not block —
//! count, or hand off to a queue.

use std::time::Duration;

/// One event of the log, as an observer sees it.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A call (or a describe) of `tool` started.
    Start {
        /// The tool's label (`name@version`).
        tool: &'a str,
    },
    /// A host call of `tool` into `iface`, allowed or denied by the host.
    HostCall {
        /// The tool's label.
        tool: &'a str,
        /// The interface, e.g. `wasi:filesystem/types`.
        iface: &'a str,
        /// Whether the host refused it.
        denied: bool,
    },
    /// A limit stopped a call of `tool`.
    Limit {
        /// The tool's label.
        tool: &'a str,
        /// `fuel`, `memory`, `timeout`, …
        which: &'a str,
    },
    /// A call of `tool` ended.
    End {
        /// The tool's label.
        tool: &'a str,
        /// `ok` or the error kind.
        outcome: &'a str,
        /// Wall time, microseconds.
        us: u64,
        /// Host calls made.
        host_calls: u64,
    },
    /// A batch of `records` was written (and synced, if asked) in `latency`.
    Written {
        /// Records in the batch.
        records: usize,
        /// Time from the start of the write to its end.
        latency: Duration,
    },
    /// A batch could not be written: the log has failed and calls stop.
    Failed,
}

/// Something that watches the audit log's events.
pub trait Observer: Send + Sync + 'static {
    /// One event; called in log order.
    fn observe(&self, event: &Event<'_>);
}
