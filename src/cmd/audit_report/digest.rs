//! What `audit report` shows, gathered in one pass over a log in bounded memory.
//!
//! A log can be gigabytes, so nothing here holds every record: counts are counted, the timeline
//! is a fixed number of time buckets per tool whose width doubles as the log gets longer, and
//! full detail is kept only for the records the page links to (denials, limit hits, findings,
//! releases, the start and end of calls that had one, a finding's evidence), each kind up to a
//! cap. Whatever is over a cap is counted and said ("N more"), never silently dropped. A link
//! on the page only ever points at a record the page shows.
//!
//! Nothing read here is trusted: a field of the wrong type reads as absent, and a line that is
//! not a JSON object stops the digest there (the page says where), keeping what came before.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde_json::Value;
use wasmgov::audit::show;

/// Time buckets per timeline lane.
pub const BUCKETS: usize = 200;
/// Tools with a lane of their own; later tools share the last lane.
pub const MAX_LANES: usize = 24;
/// Tools counted one by one; later ones are counted together.
pub const MAX_TOOLS: usize = 1000;
/// Records kept to be shown (and linked to).
pub const MAX_KEPT: usize = 5000;
/// Findings listed.
pub const MAX_FINDINGS: usize = 300;
/// Rows of the denial and the limit tables each (capability or kind, tool).
pub const MAX_GROUPS: usize = 500;
/// Records linked from one table row.
pub const LINKS: usize = 5;
/// Evidence seqs kept per finding.
pub const MAX_EVIDENCE: usize = 32;
/// Quarantine keys listed, and events listed per key.
pub const MAX_QUARANTINES: usize = 200;
pub const MAX_QUARANTINE_EVENTS: usize = 50;
/// Recent records remembered, so a finding's evidence (written before it) can still be shown.
const RECENT: usize = 4096;
/// Longest line read (a record is far smaller); a longer one stops the digest.
const MAX_LINE: usize = 16 * 1024 * 1024;
/// The name under which tools over [`MAX_TOOLS`] or [`MAX_LANES`] are counted.
pub const OTHER_TOOLS: &str = "(other tools)";

/// How a call went, as the timeline colours it. A call is counted once, by the first that
/// applies: stopped by a limit, had a host call denied, ended with an error, ended ok.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Ended ok with no denial.
    Ok,
    /// At least one host call was denied.
    Denied,
    /// A limit stopped it.
    Limit,
    /// Ended with the tool's error, a trap or another failure.
    Failed,
    /// A start and no end (killed, still running, or the log was cut).
    Unfinished,
}

impl Outcome {
    /// Every outcome, in the order the page lists them.
    pub const ALL: [Outcome; 5] = [
        Outcome::Ok,
        Outcome::Denied,
        Outcome::Limit,
        Outcome::Failed,
        Outcome::Unfinished,
    ];

    /// Its name on the page.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
            Outcome::Limit => "limit",
            Outcome::Failed => "failed",
            Outcome::Unfinished => "unfinished",
        }
    }

    /// Its index in [`Outcome::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// One record as the page shows it.
#[derive(Debug, Clone)]
pub struct Row {
    /// Its `seq`, if it has one.
    pub seq: Option<u64>,
    /// Its `kind`.
    pub kind: String,
    /// Whether it is a denied host call.
    pub deny: bool,
    /// Its call id.
    pub call: String,
    /// The cells of `audit show`'s table (control characters already escaped).
    pub cells: [String; 7],
}

/// Counts of one tool.
#[derive(Debug, Clone, Default)]
pub struct ToolStats {
    /// `start` records.
    pub calls: u64,
    /// Ended calls by [`Outcome`].
    pub outcomes: [u64; 5],
    /// Host calls (a record with `count` counts that many).
    pub host_calls: u64,
    /// Denied host calls.
    pub denials: u64,
    /// Limit hits.
    pub limits: u64,
    /// Findings.
    pub findings: u64,
}

/// A row of the denial or limit table: how many, and the first few records.
#[derive(Debug, Clone, Default)]
pub struct Group {
    /// Records in the group.
    pub count: u64,
    /// The first [`LINKS`] seqs.
    pub seqs: Vec<u64>,
    /// Up to [`LINKS`] distinct details (the functions denied; the limit values hit).
    pub details: Vec<String>,
}

impl Group {
    fn add(&mut self, seq: Option<u64>, detail: String) {
        self.count += 1;
        if let Some(s) = seq
            && self.seqs.len() < LINKS
        {
            self.seqs.push(s);
        }
        if self.details.len() < LINKS && !self.details.contains(&detail) {
            self.details.push(detail);
        }
    }
}

/// A `finding` record.
#[derive(Debug, Clone)]
pub struct Finding {
    /// Its seq.
    pub seq: Option<u64>,
    /// When (µs since the epoch), if its `ts` reads.
    pub at: Option<i64>,
    /// Its `ts`, as written.
    pub ts: String,
    /// Its timeline lane.
    pub lane: usize,
    /// Its fields, as written.
    pub tool: String,
    pub call: String,
    pub rule: String,
    pub severity: String,
    pub action: String,
    pub message: String,
    pub subject: Option<String>,
    pub quarantined: Option<String>,
    /// The first [`MAX_EVIDENCE`] evidence seqs, and how many there were.
    pub evidence: Vec<u64>,
    pub evidence_total: usize,
}

/// One quarantine or release of a key.
#[derive(Debug, Clone)]
pub struct QuarantineEvent {
    /// The record's seq.
    pub seq: Option<u64>,
    /// Its `ts`, as written.
    pub ts: String,
    /// True for a finding that quarantined, false for a release.
    pub quarantined: bool,
    /// The rule.
    pub rule: String,
    /// Who released (releases only).
    pub by: Option<String>,
}

/// What happened to one quarantine key.
#[derive(Debug, Clone, Default)]
pub struct Quarantine {
    /// The first [`MAX_QUARANTINE_EVENTS`] events, in log order.
    pub events: Vec<QuarantineEvent>,
    /// Events over the cap.
    pub more: u64,
    /// The state after the last event.
    pub quarantined: bool,
}

/// Calls per tool over time: [`BUCKETS`] buckets per lane, each counting calls by outcome, and
/// the first linked call of each bucket.
#[derive(Debug, Clone)]
pub struct Timeline {
    /// Time of the first record (µs since the epoch); bucket 0 starts there.
    pub origin: Option<i64>,
    /// Width of one bucket, µs. Doubles (merging pairs of buckets) whenever a call falls past
    /// the last bucket, so the log always fills between half and all of the lane.
    pub width: i64,
    /// The lanes, one per tool, the last possibly [`OTHER_TOOLS`].
    pub lanes: Vec<Lane>,
    lane_of: HashMap<String, usize>,
    other: Option<usize>,
}

/// One tool's lane.
#[derive(Debug, Clone)]
pub struct Lane {
    /// The tool.
    pub label: String,
    /// Calls per bucket by [`Outcome`], by the time they started.
    pub counts: Vec<[u32; 5]>,
    /// Per bucket, the seq of the `start` of its first call the page shows.
    pub link: Vec<Option<u64>>,
}

impl Default for Timeline {
    fn default() -> Self {
        Self {
            origin: None,
            width: 1,
            lanes: Vec::new(),
            lane_of: HashMap::new(),
            other: None,
        }
    }
}

impl Timeline {
    fn lane(&mut self, tool: &str) -> usize {
        if let Some(&i) = self.lane_of.get(tool) {
            return i;
        }
        let new = |label: &str| Lane {
            label: label.to_owned(),
            counts: vec![[0; 5]; BUCKETS],
            link: vec![None; BUCKETS],
        };
        if self.lanes.len() + 1 < MAX_LANES {
            self.lanes.push(new(tool));
            self.lane_of.insert(tool.to_owned(), self.lanes.len() - 1);
            return self.lanes.len() - 1;
        }
        *self.other.get_or_insert_with(|| {
            self.lanes.push(new(OTHER_TOOLS));
            self.lanes.len() - 1
        })
    }

    /// The bucket of time `t` (µs), widening the buckets until it fits.
    fn bucket(&mut self, t: i64) -> usize {
        let off = t.saturating_sub(self.origin.unwrap_or(t)).max(0);
        while off / self.width >= BUCKETS as i64 {
            for lane in &mut self.lanes {
                for i in 0..BUCKETS / 2 {
                    let (a, b) = (lane.counts[2 * i], lane.counts[2 * i + 1]);
                    lane.counts[i] = std::array::from_fn(|k| a[k].saturating_add(b[k]));
                    lane.link[i] = lane.link[2 * i].or(lane.link[2 * i + 1]);
                }
                for i in BUCKETS / 2..BUCKETS {
                    lane.counts[i] = [0; 5];
                    lane.link[i] = None;
                }
            }
            self.width = self.width.saturating_mul(2);
        }
        (off / self.width) as usize
    }

    /// Where `t` falls with the final bucket width (for marks drawn after the pass).
    pub fn position(&self, t: i64) -> usize {
        let off = t.saturating_sub(self.origin.unwrap_or(t)).max(0);
        ((off / self.width) as usize).min(BUCKETS - 1)
    }

    fn add(&mut self, lane: usize, t: Option<i64>, outcome: Outcome, link: Option<u64>) {
        let Some(t) = t.or(self.origin) else { return };
        let b = self.bucket(t);
        let l = &mut self.lanes[lane];
        let c = &mut l.counts[b][outcome.index()];
        *c = c.saturating_add(1);
        if l.link[b].is_none() {
            l.link[b] = link;
        }
    }
}

/// Where the digest stopped reading, when it did not reach the end.
#[derive(Debug, Clone)]
pub struct Stop {
    /// The line (1-based).
    pub line: usize,
    /// Why.
    pub what: String,
}

/// A call begun and not yet ended.
#[derive(Debug)]
struct Open {
    tool: String,
    at: Option<i64>,
    start: Row,
    /// Whether the page shows it (it had a denial, a limit hit or a finding).
    shown: bool,
    denied: bool,
    limited: bool,
}

/// Everything the page shows.
#[derive(Debug, Default)]
pub struct Digest {
    /// Records read.
    pub records: u64,
    /// `start` records.
    pub calls: u64,
    /// `load` records.
    pub loads: u64,
    /// `checkpoint` records.
    pub checkpoints: u64,
    /// Records of a kind this version does not know.
    pub unknown: u64,
    /// The earliest and latest `ts` (µs since the epoch, and as written).
    pub first: Option<(i64, String)>,
    pub last: Option<(i64, String)>,
    /// Counts per tool (up to [`MAX_TOOLS`], then [`OTHER_TOOLS`]).
    pub tools: BTreeMap<String, ToolStats>,
    /// Ended (and, at the end, unfinished) calls by [`Outcome`].
    pub outcomes: [u64; 5],
    /// Calls per tool over time.
    pub timeline: Timeline,
    /// Denied host calls by (interface, tool).
    pub denials: BTreeMap<(String, String), Group>,
    pub denials_total: u64,
    /// Limit hits by (which, tool).
    pub limits: BTreeMap<(String, String), Group>,
    pub limits_total: u64,
    /// Denials and limit hits of (capability or kind, tool) pairs over [`MAX_GROUPS`].
    pub groups_over: u64,
    /// The first [`MAX_FINDINGS`] findings, and counts of all by severity and by rule.
    pub findings: Vec<Finding>,
    pub findings_total: u64,
    pub by_severity: BTreeMap<String, u64>,
    pub by_rule: BTreeMap<String, u64>,
    /// Quarantine keys and what happened to them (up to [`MAX_QUARANTINES`] keys).
    pub quarantines: BTreeMap<String, Quarantine>,
    pub quarantines_over: u64,
    /// The records the page shows, by seq.
    pub kept: BTreeMap<u64, Row>,
    /// Records the page would have shown, over [`MAX_KEPT`].
    pub kept_over: u64,
    /// Where reading stopped early.
    pub stopped: Option<Stop>,
    open: HashMap<String, Open>,
    recent: HashMap<u64, Row>,
    recent_order: VecDeque<u64>,
    line: Vec<u8>,
    line_no: usize,
}

impl Digest {
    /// Read the next bytes of the log.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        while self.stopped.is_none() {
            let Some(nl) = bytes.iter().position(|&b| b == b'\n') else {
                self.line.extend_from_slice(bytes);
                if self.line.len() > MAX_LINE {
                    self.stop(self.line_no + 1, "the line is longer than 16 MiB".into());
                }
                return;
            };
            let mut line = std::mem::take(&mut self.line);
            line.extend_from_slice(&bytes[..nl]);
            bytes = &bytes[nl + 1..];
            self.line_no += 1;
            self.line(&line);
            line.clear();
            self.line = line;
        }
    }

    /// The log ended: calls still open are unfinished, and a last line without its newline is
    /// where reading stopped.
    pub fn finish(&mut self) {
        if self.stopped.is_none() && !self.line.is_empty() {
            self.stop(
                self.line_no + 1,
                "the last line is incomplete (torn write or truncation)".into(),
            );
        }
        let mut open: Vec<Open> = self.open.drain().map(|(_, o)| o).collect();
        open.sort_by_key(|o| o.start.seq);
        for o in open {
            self.ended(o, Outcome::Unfinished, None);
        }
    }

    fn stop(&mut self, line: usize, what: String) {
        self.stopped = Some(Stop { line, what });
        self.line = Vec::new();
    }

    fn line(&mut self, raw: &[u8]) {
        if raw.is_empty() {
            return;
        }
        match serde_json::from_slice::<Value>(raw) {
            Ok(v) if v.is_object() => self.record(&v),
            Ok(_) => self.stop(self.line_no, "not a record (not a JSON object)".into()),
            Err(e) => self.stop(self.line_no, format!("not a record: {e}")),
        }
    }

    fn record(&mut self, v: &Value) {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("");
        let seq = v.get("seq").and_then(Value::as_u64);
        let (call, cells) = show::row(v);
        let kind = s("kind").to_owned();
        let row = Row {
            seq,
            kind: kind.clone(),
            deny: kind == "host-call" && s("decision") == "deny",
            call: call.clone(),
            cells,
        };
        self.records += 1;
        let at = micros(s("ts"));
        if let Some(t) = at {
            self.timeline.origin.get_or_insert(t);
            if self.first.as_ref().is_none_or(|(f, _)| t < *f) {
                self.first = Some((t, s("ts").to_owned()));
            }
            if self.last.as_ref().is_none_or(|(l, _)| t > *l) {
                self.last = Some((t, s("ts").to_owned()));
            }
        }
        let tool = s("tool");
        match kind.as_str() {
            "load" => {
                self.loads += 1;
                self.tool(tool);
            }
            "start" => {
                self.calls += 1;
                self.tool(tool).calls += 1;
                self.open.insert(
                    call,
                    Open {
                        tool: tool.to_owned(),
                        at,
                        start: row.clone(),
                        shown: false,
                        denied: false,
                        limited: false,
                    },
                );
            }
            "host-call" => {
                let count = v.get("count").and_then(Value::as_u64).unwrap_or(1);
                let t = self.tool(tool);
                t.host_calls = t.host_calls.saturating_add(count);
                if row.deny {
                    t.denials += 1;
                    self.denials_total += 1;
                    let key = (s("iface").to_owned(), tool.to_owned());
                    self.group(true, key, seq, s("func").to_owned());
                    self.keep(row.clone());
                    if let Some(o) = self.open.get_mut(&call) {
                        o.shown = true;
                        o.denied = true;
                    }
                }
            }
            "limit" => {
                self.tool(tool).limits += 1;
                self.limits_total += 1;
                let n = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
                let detail = format!("limit {}, used {}", n("limit"), n("used"));
                self.group(false, (s("which").to_owned(), tool.to_owned()), seq, detail);
                self.keep(row.clone());
                if let Some(o) = self.open.get_mut(&call) {
                    o.shown = true;
                    o.limited = true;
                }
            }
            "end" => {
                let outcome = s("outcome");
                let o = self.open.remove(&call).unwrap_or_else(|| Open {
                    // An end whose start is not in the log (it began before the file did).
                    tool: tool.to_owned(),
                    at,
                    start: row.clone(),
                    shown: false,
                    denied: false,
                    limited: false,
                });
                let class = if o.limited || outcome.starts_with("limit") {
                    Outcome::Limit
                } else if o.denied {
                    Outcome::Denied
                } else if outcome == "ok" {
                    Outcome::Ok
                } else {
                    Outcome::Failed
                };
                self.ended(o, class, Some(row.clone()));
            }
            "finding" => self.finding(v, &row, at),
            "release" => {
                self.keep(row.clone());
                let q = self.quarantine(s("key"));
                if let Some(q) = q {
                    q.quarantined = false;
                    let event = QuarantineEvent {
                        seq,
                        ts: s("ts").to_owned(),
                        quarantined: false,
                        rule: s("rule").to_owned(),
                        by: Some(s("by").to_owned()),
                    };
                    push_event(q, event);
                }
            }
            "checkpoint" => self.checkpoints += 1,
            _ => self.unknown += 1,
        }
        if let Some(seq) = seq {
            if self.recent_order.len() == RECENT
                && let Some(old) = self.recent_order.pop_front()
            {
                self.recent.remove(&old);
            }
            if self.recent.insert(seq, row).is_none() {
                self.recent_order.push_back(seq);
            }
        }
    }

    fn finding(&mut self, v: &Value, row: &Row, at: Option<i64>) {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let opt = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let tool = s("tool");
        let call = s("call");
        self.tool(&tool).findings += 1;
        self.findings_total += 1;
        *self.by_severity.entry(s("severity")).or_default() += 1;
        *self.by_rule.entry(s("rule")).or_default() += 1;
        let evidence: Vec<u64> = v
            .get("evidence")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default();
        let action = s("action");
        if action == "quarantine" {
            // Without a key (an older or odd writer), the tool label names what was quarantined.
            let key = opt("quarantined").unwrap_or_else(|| tool.clone());
            let event = QuarantineEvent {
                seq: row.seq,
                ts: s("ts"),
                quarantined: true,
                rule: s("rule"),
                by: None,
            };
            if let Some(q) = self.quarantine(&key) {
                q.quarantined = true;
                push_event(q, event);
            }
        }
        if self.findings.len() >= MAX_FINDINGS {
            return;
        }
        self.keep(row.clone());
        // The records it points at: its call's start and end, and its evidence, when the page
        // still has them (a call in progress, or records read recently).
        if let Some(o) = self.open.get_mut(&call) {
            o.shown = true;
        } else {
            let of_call: Vec<Row> = self
                .recent
                .values()
                .filter(|r| r.call == call && (r.kind == "start" || r.kind == "end"))
                .cloned()
                .collect();
            for r in of_call {
                self.keep(r);
            }
        }
        for e in evidence.iter().take(MAX_EVIDENCE) {
            if let Some(r) = self.recent.get(e).cloned() {
                self.keep(r);
            }
        }
        let lane = self.timeline.lane(&tool);
        if let Some(t) = at {
            // Widen the timeline to hold it (a finding can come well after its call).
            self.timeline.bucket(t);
        }
        self.findings.push(Finding {
            seq: row.seq,
            at,
            ts: s("ts"),
            lane,
            tool,
            call,
            rule: s("rule"),
            severity: s("severity"),
            action,
            message: s("message"),
            subject: opt("subject"),
            quarantined: opt("quarantined"),
            evidence_total: evidence.len(),
            evidence: evidence.into_iter().take(MAX_EVIDENCE).collect(),
        });
    }

    fn ended(&mut self, o: Open, class: Outcome, end: Option<Row>) {
        let shown = o.shown || class == Outcome::Unfinished;
        let link = if shown {
            self.keep(o.start.clone());
            if let Some(end) = end {
                self.keep(end);
            }
            o.start.seq.filter(|s| self.kept.contains_key(s))
        } else {
            None
        };
        self.outcomes[class.index()] += 1;
        self.tool(&o.tool).outcomes[class.index()] += 1;
        let lane = self.timeline.lane(&o.tool);
        self.timeline.add(lane, o.at, class, link);
    }

    fn tool(&mut self, name: &str) -> &mut ToolStats {
        let name = if self.tools.len() < MAX_TOOLS || self.tools.contains_key(name) {
            name
        } else {
            OTHER_TOOLS
        };
        self.tools.entry(name.to_owned()).or_default()
    }

    fn group(&mut self, denial: bool, key: (String, String), seq: Option<u64>, detail: String) {
        let map = if denial {
            &mut self.denials
        } else {
            &mut self.limits
        };
        if map.len() >= MAX_GROUPS && !map.contains_key(&key) {
            self.groups_over += 1;
            return;
        }
        map.entry(key).or_default().add(seq, detail);
    }

    fn quarantine(&mut self, key: &str) -> Option<&mut Quarantine> {
        if self.quarantines.len() >= MAX_QUARANTINES && !self.quarantines.contains_key(key) {
            self.quarantines_over += 1;
            return None;
        }
        Some(self.quarantines.entry(key.to_owned()).or_default())
    }

    fn keep(&mut self, row: Row) {
        let Some(seq) = row.seq else { return };
        if self.kept.contains_key(&seq) {
            return;
        }
        if self.kept.len() >= MAX_KEPT {
            self.kept_over += 1;
            return;
        }
        self.kept.insert(seq, row);
    }
}

fn push_event(q: &mut Quarantine, e: QuarantineEvent) {
    if q.events.len() < MAX_QUARANTINE_EVENTS {
        q.events.push(e);
    } else {
        q.more += 1;
    }
}

/// `2026-11-25T20:51:03.123456Z` as µs since the Unix epoch (the form records are written in;
/// anything else reads as no time).
pub fn micros(ts: &str) -> Option<i64> {
    wasmgov::audit::record::ts_micros(ts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_timestamps_read_as_microseconds() {
        assert_eq!(micros("1970-01-01T00:00:00.000001Z"), Some(1));
        assert_eq!(
            micros("2026-11-25T20:51:03.123456Z"),
            Some(1_795_639_863_123_456)
        );
        assert_eq!(micros("2000-03-01T00:00:00Z"), Some(951_868_800_000_000));
        for bad in [
            "",
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-11-25T20:51:03.Z",
        ] {
            assert_eq!(micros(bad), None, "{bad}");
        }
    }

    fn line(seq: u64, call: &str, kind: &str, extra: &str) -> String {
        format!(
            "{{\"v\":1,\"seq\":{seq},\"ts\":\"2026-12-02T00:00:{:02}.000000Z\",\"call\":\"{call}\",\"tool\":\"t@1\",\"kind\":\"{kind}\"{extra}}}\n",
            seq % 60
        )
    }

    #[test]
    fn a_call_is_coloured_by_what_it_ran_into_and_only_its_records_are_kept() {
        let mut d = Digest::default();
        let log = [
            line(0, "A", "start", ""),
            // A run of seven identical clock reads, as one record.
            line(1, "A", "host-call", ",\"decision\":\"allow\",\"count\":7"),
            line(2, "A", "end", ",\"outcome\":\"ok\""),
            line(3, "B", "start", ""),
            line(
                4,
                "B",
                "host-call",
                ",\"iface\":\"wasi:sockets/tcp\",\"func\":\"connect\",\"decision\":\"deny\"",
            ),
            line(5, "B", "end", ",\"outcome\":\"ok\""),
            line(6, "C", "start", ""),
            line(7, "C", "limit", ",\"which\":\"fuel\",\"limit\":9,\"used\":9"),
            line(8, "C", "end", ",\"outcome\":\"limit-fuel\""),
            line(
                9,
                "B",
                "finding",
                ",\"rule\":\"deny-burst\",\"severity\":\"high\",\"action\":\"quarantine\",\"message\":\"m\",\"evidence\":[1,4],\"quarantined\":\"t p\"",
            ),
            line(10, "R", "release", ",\"key\":\"t p\",\"by\":\"op\",\"rule\":\"deny-burst\""),
            line(11, "D", "start", ""),
        ]
        .concat();
        // Fed in awkward pieces, as a reader hands them over.
        for chunk in log.as_bytes().chunks(7) {
            d.feed(chunk);
        }
        d.finish();
        assert!(d.stopped.is_none());
        assert_eq!(d.outcomes, [1, 1, 1, 0, 1]);
        assert_eq!(d.denials_total, 1);
        assert_eq!(d.limits_total, 1);
        assert_eq!(
            d.tools["t@1"].host_calls, 8,
            "a record's `count` is that many calls"
        );
        let kept: Vec<u64> = d.kept.keys().copied().collect();
        // Not call A's start and end: nothing links to them. Seq 1 is evidence.
        assert_eq!(kept, [1, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
        let q = &d.quarantines["t p"];
        assert_eq!(q.events.len(), 2);
        assert!(!q.quarantined);
    }

    #[test]
    fn reading_stops_at_a_line_that_is_not_a_record_and_keeps_what_came_before() {
        let mut d = Digest::default();
        d.feed(line(0, "A", "start", "").as_bytes());
        d.feed(b"{\"seq\":1,\"kind\":\n");
        d.feed(line(2, "A", "end", ",\"outcome\":\"ok\"").as_bytes());
        d.finish();
        assert_eq!(d.records, 1);
        let stop = d.stopped.as_ref().map(|s| s.line);
        assert_eq!(stop, Some(2));
        assert_eq!(d.outcomes[Outcome::Unfinished.index()], 1);
    }

    #[test]
    fn the_timeline_widens_its_buckets_and_keeps_every_call() {
        let mut t = Timeline {
            origin: Some(0),
            ..Timeline::default()
        };
        let lane = t.lane("t");
        for i in 0..1000 {
            t.add(lane, Some(i * 1_000_000), Outcome::Ok, None);
        }
        let total: u32 = t.lanes[lane].counts.iter().map(|c| c[0]).sum();
        assert_eq!(total, 1000);
        assert!(t.width as usize * BUCKETS >= 1_000_000_000);
        assert!(t.position(999_000_000) >= BUCKETS / 2);
    }
}
