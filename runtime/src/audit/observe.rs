//! Observers of the audit log: the live side (metrics, exporters, detection) is built on the
//! same events the log records, as each batch of records is written.
//!
//! An observer is called on the writer's path, under its lock, after the records are in the
//! file (so it never sees a record the log does not hold): it must be cheap and must not block —
//! count, or hand off to a queue. Every event carries the record's `seq`, so whatever an
//! observer derives (a metric exemplar, a span, a finding's evidence) points back at the
//! hash-chained record it came from.

use std::time::{Duration, SystemTime};

use super::record::{Body, Decision};
use super::summary::ArgValue;

/// One event of the log, as an observer sees it.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A record other than a host call (load, start, limit, end, checkpoint, finding, …).
    Record(RecordEvent<'a>),
    /// A `host-call` record.
    HostCall(HostCallEvent<'a>),
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

/// A written record that is not a host call.
#[derive(Debug, Clone, Copy)]
pub struct RecordEvent<'a> {
    /// Its `seq` in the log.
    pub seq: u64,
    /// Its `ts`.
    pub ts: SystemTime,
    /// Its `call` (the load id for a `load` record).
    pub call: &'a str,
    /// Its `tool` label (`name@version`).
    pub tool: &'a str,
    /// What it says.
    pub body: &'a Body,
}

/// A written `host-call` record: one host call, or a run of identical ones (`count`).
#[derive(Debug, Clone, Copy)]
pub struct HostCallEvent<'a> {
    /// Its `seq` in the log.
    pub seq: u64,
    /// When the host call began, microseconds since the Unix epoch.
    pub ts_us: u64,
    /// The call it belongs to.
    pub call: &'a str,
    /// The tool's label.
    pub tool: &'a str,
    /// The interface, e.g. `wasi:filesystem/types`.
    pub iface: &'a str,
    /// The function, e.g. `[method]descriptor.open-at`.
    pub func: &'a str,
    /// The argument summary the record holds (paths, hosts, sizes; never contents).
    pub args: &'a [(&'static str, ArgValue)],
    /// Whether the host served or refused it.
    pub decision: Decision,
    /// `ok`, an error code, `trap`, `cancelled`, `elided`.
    pub outcome: &'a str,
    /// Why the host refused it, when it said.
    pub reason: Option<&'a str>,
    /// Duration, microseconds (of all `count` calls together).
    pub us: u64,
    /// Host calls the record stands for: 1, or the length of a run of identical
    /// side-effect-free calls (a clock read in a loop) written as one record. Count calls with
    /// this, not with the number of events.
    pub count: u64,
    /// When the last call of the run began, microseconds since the Unix epoch (`ts_us` when
    /// `count` is 1).
    pub last_ts_us: u64,
}

impl HostCallEvent<'_> {
    /// Whether the host refused it.
    pub fn denied(&self) -> bool {
        self.decision == Decision::Deny
    }

    /// The text of argument `name` (`path`, `dest`, `addrs`, `secrets`, …), if the record kept
    /// one.
    pub fn arg(&self, name: &str) -> Option<&str> {
        self.args.iter().find_map(|(k, v)| match v {
            ArgValue::Text(t) if *k == name => Some(t.as_str()),
            _ => None,
        })
    }
}

/// Something that watches the audit log's events.
pub trait Observer: Send + Sync + 'static {
    /// One event; called in log order.
    fn observe(&self, event: &Event<'_>);
}
