//! Calls whose `start` has been seen and whose `end` has not: each is a span being built.
//!
//! Bounded: a call whose end never comes (the process died, the log failed mid-call) must not
//! hold memory for ever. Past `max_open` calls the oldest is sent as it is, marked incomplete;
//! past `max_events` events a span counts the rest instead of keeping them.

use std::collections::{HashMap, VecDeque};
use std::time::SystemTime;

use opentelemetry::trace::{
    Event as SpanEvent, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use wasmgov_runtime::audit::Body;

use crate::ids::call_ids;
use crate::item::Record;
use crate::mapping;

/// A call's span so far.
struct Open {
    name: String,
    start: SystemTime,
    /// The newest time seen of the call, the end of an incomplete span.
    last: SystemTime,
    attributes: Vec<KeyValue>,
    events: Vec<SpanEvent>,
    dropped_events: u32,
}

/// The table of open spans.
pub(crate) struct OpenSpans {
    open: HashMap<Box<str>, Open>,
    /// Call ids in the order they started (some may have ended since).
    order: VecDeque<Box<str>>,
    max_open: usize,
    max_events: usize,
    scope: InstrumentationScope,
}

impl OpenSpans {
    pub(crate) fn new(max_open: usize, max_events: usize, scope: InstrumentationScope) -> Self {
        Self {
            open: HashMap::new(),
            order: VecDeque::new(),
            max_open: max_open.max(1),
            max_events,
            scope,
        }
    }

    /// Calls open now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.open.len()
    }

    /// A `start` record: open its span. Returns the span pushed out to make room, if any.
    pub(crate) fn start(&mut self, r: &Record) -> Option<SpanData> {
        let Body::Start { action, .. } = &r.body else {
            return None;
        };
        let name = format!("{action} {}", mapping::tool_name(&r.tool));
        self.open.insert(
            r.call.clone(),
            Open {
                name,
                start: r.ts,
                last: r.ts,
                attributes: mapping::start_attributes(r),
                events: Vec::new(),
                dropped_events: 0,
            },
        );
        self.order.push_back(r.call.clone());
        let mut evicted = None;
        while self.open.len() > self.max_open {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some(o) = self.open.remove(&oldest) {
                evicted = Some(self.incomplete(&oldest, o));
            }
        }
        // Ended calls leave their ids behind in `order`; drop them before they add up.
        if self.order.len() > 2 * self.max_open {
            let open = &self.open;
            self.order.retain(|c| open.contains_key(c));
        }
        evicted
    }

    /// An event of call `call` at `at`; dropped (and counted) past the span's cap, ignored
    /// when the call is not open (its span was sent already, or its start was not seen).
    pub(crate) fn event(&mut self, call: &str, at: SystemTime, event: impl FnOnce() -> SpanEvent) {
        let Some(o) = self.open.get_mut(call) else {
            return;
        };
        o.last = o.last.max(at);
        if o.events.len() < self.max_events {
            o.events.push(event());
        } else {
            o.dropped_events = o.dropped_events.saturating_add(1);
        }
    }

    /// An `end` record: the call's span, complete.
    pub(crate) fn end(&mut self, r: &Record) -> Option<SpanData> {
        let Body::End { outcome, .. } = &r.body else {
            return None;
        };
        let mut o = self.open.remove(&r.call)?;
        o.attributes.extend(mapping::end_attributes(r));
        let status = if outcome == "ok" {
            Status::Unset
        } else {
            Status::error(outcome.clone())
        };
        Some(self.span(&r.call, o, r.ts, status))
    }

    /// Every open span, marked incomplete (at shutdown).
    pub(crate) fn drain(&mut self) -> Vec<SpanData> {
        self.order.clear();
        let open: Vec<_> = self.open.drain().collect();
        open.into_iter()
            .map(|(call, o)| self.incomplete(&call, o))
            .collect()
    }

    fn incomplete(&self, call: &str, mut o: Open) -> SpanData {
        o.attributes.push(KeyValue::new("wasmgov.incomplete", true));
        let end = o.last;
        self.span(call, o, end, Status::Unset)
    }

    fn span(&self, call: &str, o: Open, end: SystemTime, status: Status) -> SpanData {
        let (trace_id, span_id) = call_ids(call);
        let mut events = SpanEvents::default();
        events.events = o.events;
        events.dropped_count = o.dropped_events;
        SpanData {
            span_context: SpanContext::new(
                trace_id,
                span_id,
                TraceFlags::SAMPLED,
                false,
                TraceState::NONE,
            ),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: o.name.into(),
            start_time: o.start,
            end_time: end.max(o.start),
            attributes: o.attributes,
            dropped_attributes_count: 0,
            events,
            links: SpanLinks::default(),
            status,
            instrumentation_scope: self.scope.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(call: &str) -> Record {
        Record {
            seq: 1,
            ts: SystemTime::UNIX_EPOCH,
            call: call.into(),
            tool: "t@1".into(),
            body: Body::Start {
                load: "L".into(),
                action: "call",
                caller: None,
                context: Default::default(),
                input_size: 0,
                input_sha256: String::new(),
                limits: Default::default(),
            },
        }
    }

    #[test]
    fn calls_that_never_end_are_pushed_out_incomplete_not_kept() {
        let mut t = OpenSpans::new(3, 2, InstrumentationScope::builder("t").build());
        let mut evicted = Vec::new();
        for i in 0..100 {
            evicted.extend(t.start(&start(&format!("C{i}"))));
        }
        assert_eq!(t.len(), 3);
        assert_eq!(evicted.len(), 97);
        assert!(t.order.len() <= 6);
        assert!(
            evicted[0]
                .attributes
                .contains(&KeyValue::new("wasmgov.incomplete", true))
        );
        for _ in 0..5 {
            t.event("C99", SystemTime::UNIX_EPOCH, || {
                SpanEvent::with_name("host-call")
            });
        }
        let spans = t.drain();
        let c99 = spans
            .iter()
            .find(|s| s.span_context.trace_id() == call_ids("C99").0)
            .expect("C99");
        assert_eq!(c99.events.len(), 2);
        assert_eq!(c99.events.dropped_count, 3);
    }
}
