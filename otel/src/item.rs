//! The owned copy of an audit event that crosses the queue: the observer runs under the audit
//! writer's lock and borrows the record, so it copies what the export needs and nothing more.

use std::time::{Duration, SystemTime};

use wasmgov_runtime::audit::summary::ArgValue;
use wasmgov_runtime::audit::{Body, Decision, Event};

/// One event for the export thread.
#[derive(Debug)]
pub(crate) enum Item {
    /// A record other than a host call.
    Record(Record),
    /// A `host-call` record.
    HostCall(HostCall),
    /// The audit log failed; calls stop.
    AuditFailed {
        /// When the observer heard of it.
        at: SystemTime,
    },
}

/// A written record that is not a host call.
#[derive(Debug)]
pub(crate) struct Record {
    pub(crate) seq: u64,
    pub(crate) ts: SystemTime,
    pub(crate) call: Box<str>,
    pub(crate) tool: Box<str>,
    pub(crate) body: Body,
}

/// A written `host-call` record.
#[derive(Debug)]
pub(crate) struct HostCall {
    pub(crate) seq: u64,
    pub(crate) ts: SystemTime,
    pub(crate) call: Box<str>,
    pub(crate) tool: Box<str>,
    pub(crate) iface: Box<str>,
    pub(crate) func: Box<str>,
    pub(crate) args: Vec<(&'static str, ArgValue)>,
    pub(crate) decision: Decision,
    pub(crate) outcome: Box<str>,
    pub(crate) reason: Option<Box<str>>,
    pub(crate) us: u64,
    /// Host calls the record stands for (a run of identical side-effect-free calls), 1 or more.
    pub(crate) count: u64,
    /// When the last call of the run began (`ts` for a single call).
    pub(crate) ts_last: SystemTime,
}

impl Item {
    /// The item of `event`, or `None` for an event the export does not send (a batch written).
    pub(crate) fn of(event: &Event<'_>) -> Option<Self> {
        Some(match event {
            Event::Record(r) => Self::Record(Record {
                seq: r.seq,
                ts: r.ts,
                call: r.call.into(),
                tool: r.tool.into(),
                body: r.body.clone(),
            }),
            Event::HostCall(h) => Self::HostCall(HostCall {
                seq: h.seq,
                ts: SystemTime::UNIX_EPOCH + Duration::from_micros(h.ts_us),
                call: h.call.into(),
                tool: h.tool.into(),
                iface: h.iface.into(),
                func: h.func.into(),
                args: h.args.to_vec(),
                decision: h.decision,
                outcome: h.outcome.into(),
                reason: h.reason.map(Into::into),
                us: h.us,
                count: h.count,
                ts_last: SystemTime::UNIX_EPOCH + Duration::from_micros(h.last_ts_us),
            }),
            Event::Written { .. } => return None,
            Event::Failed => Self::AuditFailed {
                at: SystemTime::now(),
            },
        })
    }

    /// Whether the observer should build an item for `event` at all.
    pub(crate) fn wanted(event: &Event<'_>) -> bool {
        !matches!(event, Event::Written { .. })
    }
}
