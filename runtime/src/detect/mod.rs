//! Threat detection on the live audit events: rules that raise findings and act on them.
//!
//! The [`Detector`] is an [`Observer`] of the runtime's audit log, so it sees exactly what the
//! log holds, as it is written, with each record's `seq` as evidence. The rules (see
//! [`rules`]) are evaluated inline, under the writer's lock, with a few map lookups per record:
//! a benign call costs two map operations. When a rule fires, the action is taken at once (the
//! call's stop token is cancelled; a quarantined key is refused from the next call on), and the
//! finding is handed to a delivery thread that writes it to the audit log as a `finding` record,
//! persists a quarantine, appends the OCSF line and logs it.
//!
//! Rules that judge a tool rather than a call run where the runtime loads or describes it:
//! `deny-listed` (the component's digest) and `rug-pull` (a new signed release whose
//! description or input schema differs from the one before).

mod baseline;
pub mod ocsf;
pub mod quarantine;
pub mod rules;

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use crate::audit::observe::{Event, HostCallEvent, Observer, RecordEvent};
use crate::audit::{Audit, Body, WeakAudit};
use crate::cancel::CancelToken;
use crate::error::Error;

pub use quarantine::{Entry as QuarantineEntry, Quarantine, QuarantineError};
pub use rules::{Action, DetectPolicy, Rule, RuleId, Severity};

/// One finding: a rule fired on a tool's records.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The rule.
    pub rule: RuleId,
    /// Its severity.
    pub severity: Severity,
    /// What the runtime did.
    pub action: Action,
    /// The tool's label (`name@version`).
    pub tool: Arc<str>,
    /// The call that tripped it (a fresh id for a finding at load).
    pub call: Arc<str>,
    /// The tool's quarantine key.
    pub key: Arc<str>,
    /// One line for a human.
    pub message: String,
    /// `seq` of the records that tripped it.
    pub evidence: Vec<u64>,
    /// What it is about (an interface, a path, a host, a digest).
    pub subject: Option<String>,
    /// When it was raised.
    pub at: SystemTime,
}

impl Finding {
    fn body(&self) -> Body {
        Body::Finding {
            rule: self.rule.as_str().into(),
            severity: self.severity.as_str().into(),
            action: self.action.as_str().into(),
            message: self.message.clone(),
            evidence: self.evidence.clone(),
            subject: self.subject.clone(),
            quarantined: (self.action == Action::Quarantine).then(|| self.key.to_string()),
        }
    }
}

/// Where findings go besides the audit log.
#[derive(Debug, Clone, Default)]
pub struct DetectOptions {
    /// Append each finding as an OCSF Detection Finding JSON line to this file (created 0600).
    pub findings_file: Option<PathBuf>,
    /// Run without detection at all (no rule, no quarantine check): for an embedder that
    /// watches the audit log itself, and for measuring what detection costs. The CLI never
    /// sets it.
    pub off: bool,
}

/// The tool a load or call belongs to, as detection keys it.
#[derive(Debug)]
pub(crate) struct ToolKey {
    /// Quarantine key (see [`quarantine`]).
    pub(crate) key: Arc<str>,
    /// Tool name (what `tools` patterns match).
    pub(crate) name: Arc<str>,
    /// `name@version` label.
    pub(crate) label: Arc<str>,
}

/// What a call's outcome must become because a rule acted on it.
#[derive(Debug, Clone)]
struct Verdict {
    action: Action,
    rule: RuleId,
    message: String,
    /// The key and its quarantine, when the action quarantined the tool.
    quarantined: Option<(Arc<str>, QuarantineEntry)>,
}

impl Verdict {
    /// The error the call ends with.
    fn error(self) -> Error {
        match self.quarantined {
            Some((key, entry)) => entry.refusal(&key),
            None => Error::Stopped {
                rule: self.rule.as_str().into(),
                message: self.message,
            },
        }
    }
}

/// A call in progress, as detection tracks it.
struct CallState {
    tool: Arc<ToolKey>,
    stop: CancelToken,
    verdict: Option<Verdict>,
    /// Subjects `internal-address` already fired on in this call.
    internal: Vec<String>,
    /// Whether `sensitive-read` fired in this call.
    sensitive_fired: bool,
    /// (`seq`, secret names) of host calls that carried secrets.
    secret_seqs: Vec<(u64, String)>,
}

/// Timestamps (µs) and seqs of events inside a rule's window.
#[derive(Default)]
struct Window(VecDeque<(u64, u64)>);

impl Window {
    /// Add one event; the evidence when `threshold` events fall within `window`.
    fn push(&mut self, ts_us: u64, seq: u64, threshold: u32, window: Duration) -> Option<Vec<u64>> {
        let span = u64::try_from(window.as_micros()).unwrap_or(u64::MAX);
        self.0.push_back((ts_us, seq));
        while let Some(&(t, _)) = self.0.front() {
            if ts_us.saturating_sub(t) > span {
                self.0.pop_front();
            } else {
                break;
            }
        }
        // Never more than the threshold is kept.
        while self.0.len() > threshold as usize {
            self.0.pop_front();
        }
        if self.0.len() >= threshold as usize {
            let ev = self.0.iter().map(|&(_, s)| s).collect();
            self.0.clear();
            return Some(ev);
        }
        None
    }
}

#[derive(Default)]
struct Live {
    calls: HashMap<Arc<str>, CallState>,
    denies: HashMap<(Arc<str>, Box<str>), Window>,
    limits: HashMap<Arc<str>, Window>,
}

/// Most calls tracked at once (a call whose end record never came is dropped past it).
const MAX_CALLS: usize = 1 << 20;
/// Most `(tool, interface)` deny windows and limit windows kept.
const MAX_WINDOWS: usize = 65_536;
/// Most secret-carrying host calls remembered per call (evidence for `secret-echo`).
const MAX_SECRET_SEQS: usize = 64;
/// Findings waiting for delivery; past it they are counted as dropped (the action still holds).
const QUEUE: usize = 4096;
/// How often the quarantine file is looked at for another process's change.
const REFRESH: Duration = Duration::from_secs(1);

struct QCache {
    map: HashMap<String, QuarantineEntry>,
    /// Keys quarantined here and not yet in the file.
    local: HashMap<String, QuarantineEntry>,
    stamp: Option<(u64, SystemTime)>,
    checked: Instant,
}

struct Inner {
    policy: DetectPolicy,
    live: Mutex<Live>,
    quarantine: Option<Quarantine>,
    qcache: RwLock<QCache>,
    baseline: baseline::Baseline,
    out: Mutex<Option<File>>,
    tx: SyncSender<(u64, Finding)>,
    audit: WeakAudit,
    tickets: AtomicU64,
    delivered: tokio::sync::watch::Sender<u64>,
    dropped: AtomicU64,
}

/// The runtime's detection engine (one per runtime with an audit log).
#[derive(Clone)]
pub struct Detector {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// `t` as RFC 3339 UTC with seconds.
fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    crate::trust::rfc3339(i64::try_from(secs).unwrap_or(i64::MAX))
}

impl QCache {
    fn get(&self, key: &str) -> Option<&QuarantineEntry> {
        self.map.get(key).or_else(|| self.local.get(key))
    }
}

impl Detector {
    /// A detector for `policy`, keeping quarantine and baselines in `state_dir` (in memory only
    /// without one), writing findings into `audit`.
    pub(crate) fn new(
        policy: DetectPolicy,
        state_dir: Option<&Path>,
        audit: &Audit,
        options: &DetectOptions,
    ) -> Result<Self, Error> {
        let quarantine = state_dir.map(Quarantine::new);
        let (map, stamp) = match &quarantine {
            Some(q) => (q.list()?.into_iter().collect(), q.stamp()),
            None => (HashMap::new(), None),
        };
        let baseline = baseline::Baseline::open(state_dir)?;
        let out = match &options.findings_file {
            Some(p) => {
                let mut o = std::fs::OpenOptions::new();
                o.create(true).append(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
                Some(o.open(p).map_err(|e| Error::io(p, e))?)
            }
            None => None,
        };
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
        let (delivered, _) = tokio::sync::watch::channel(0);
        let inner = Arc::new(Inner {
            policy,
            live: Mutex::new(Live::default()),
            quarantine,
            qcache: RwLock::new(QCache {
                map,
                local: HashMap::new(),
                stamp,
                checked: Instant::now(),
            }),
            baseline,
            out: Mutex::new(out),
            tx,
            audit: audit.downgrade(),
            tickets: AtomicU64::new(0),
            delivered,
            dropped: AtomicU64::new(0),
        });
        let weak = Arc::downgrade(&inner);
        std::thread::Builder::new()
            .name("wasmgov-detect".into())
            .spawn(move || deliver(weak, rx))
            .map_err(|e| Error::Internal(format!("cannot start the detection thread: {e}")))?;
        let d = Self { inner };
        // The log holds the detector, which holds the log only weakly: no cycle.
        audit.observe(Arc::new(d.clone()));
        Ok(d)
    }

    /// The rules in force.
    pub fn policy(&self) -> &DetectPolicy {
        &self.inner.policy
    }

    /// Findings that could not be queued for delivery (their action was still taken).
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    /// Whether `key` is quarantined (here or, within a second, by another process sharing the
    /// state directory).
    pub fn quarantined(&self, key: &str) -> Option<QuarantineEntry> {
        {
            let c = self.inner.qcache.read().unwrap_or_else(|p| p.into_inner());
            let fresh = c.checked.elapsed() < REFRESH || self.inner.quarantine.is_none();
            if fresh {
                return c.get(key).cloned();
            }
        }
        let mut c = self.inner.qcache.write().unwrap_or_else(|p| p.into_inner());
        if c.checked.elapsed() >= REFRESH
            && let Some(q) = &self.inner.quarantine
        {
            c.checked = Instant::now();
            let stamp = q.stamp();
            if stamp != c.stamp {
                match q.list() {
                    Ok(l) => {
                        c.map = l.into_iter().collect();
                        c.stamp = stamp;
                    }
                    // Fail closed: keep what was quarantined.
                    Err(e) => tracing::error!(target: "wasmgov::detect", "{e}"),
                }
            }
        }
        c.get(key).cloned()
    }

    /// `error[quarantined]` if `key` is quarantined.
    pub(crate) fn refuse_quarantined(&self, key: &str) -> Result<(), Error> {
        match self.quarantined(key) {
            Some(e) => Err(e.refusal(key)),
            None => Ok(()),
        }
    }

    /// A call of `tool` begins: refused if the tool is quarantined, else tracked, with the
    /// token a rule cancels to stop it.
    pub(crate) fn begin(&self, call: &Arc<str>, tool: &Arc<ToolKey>) -> Result<CancelToken, Error> {
        self.refuse_quarantined(&tool.key)?;
        let stop = CancelToken::new();
        let mut live = lock(&self.inner.live);
        if live.calls.len() >= MAX_CALLS {
            live.calls.clear();
        }
        live.calls.insert(
            call.clone(),
            CallState {
                tool: tool.clone(),
                stop: stop.clone(),
                verdict: None,
                internal: Vec::new(),
                sensitive_fired: false,
                secret_seqs: Vec::new(),
            },
        );
        Ok(stop)
    }

    /// The call ran and was sent back the secrets `echoed` (masked): raise `secret-echo` for
    /// them, and say what the call's outcome must become if a rule acted on it.
    pub(crate) fn conclude(&self, call: &str, echoed: &[String]) -> Option<Error> {
        if !echoed.is_empty() {
            self.secrets_echoed(call, echoed);
        }
        let live = lock(&self.inner.live);
        let verdict = live.calls.get(call).and_then(|c| c.verdict.clone());
        verdict.map(Verdict::error)
    }

    /// The tool read a response in which secrets `names` were echoed (and masked).
    fn secrets_echoed(&self, call: &str, names: &[String]) {
        let rule = self.inner.policy.rule(RuleId::SecretEcho);
        let mut live = lock(&self.inner.live);
        let Some(c) = live.calls.get(call) else {
            return;
        };
        if !rule.watches(&c.tool.name) {
            return;
        }
        let evidence: Vec<u64> = c
            .secret_seqs
            .iter()
            .filter(|(_, n)| n.split(',').any(|n| names.iter().any(|x| x == n)))
            .map(|(s, _)| *s)
            .collect();
        let msg = format!(
            "the response to a request carrying secret {} echoed its value back to the tool; \
             the value was masked",
            names.join(", ")
        );
        let tool = c.tool.clone();
        self.fire(
            &mut live,
            rule,
            &tool,
            call,
            msg,
            evidence,
            Some(names.join(",")),
        );
    }

    /// Wait (up to `limit`) until every finding raised so far is in the audit log (a call's
    /// own, including those its closing records raised), and keep what the call taught the
    /// baselines.
    pub(crate) async fn settle(&self, limit: Duration) {
        self.inner.baseline.save_if_dirty();
        let ticket = self.inner.tickets.load(Ordering::Acquire);
        if *self.inner.delivered.borrow() >= ticket {
            return;
        }
        let mut rx = self.inner.delivered.subscribe();
        let _ = tokio::time::timeout(limit, rx.wait_for(|d| *d >= ticket)).await;
    }

    /// `deny-listed`: refuse component `sha256` if the policy lists it, with a finding.
    pub(crate) fn check_deny_list(&self, tool: &ToolKey, sha256: &str) -> Result<(), Error> {
        if !self.inner.policy.deny_listed(sha256) {
            return Ok(());
        }
        let rule = self.inner.policy.rule(RuleId::DenyListed);
        let f = self.finding_at_load(
            rule,
            tool,
            format!("component sha256:{sha256} is on the policy's deny list; not loaded"),
            Some(format!("sha256:{sha256}")),
        );
        self.deliver_now(f);
        Err(Error::DenyListed {
            sha256: sha256.into(),
        })
    }

    /// `rug-pull` at load: a new signed release whose description differs from the last one.
    pub(crate) fn check_release(
        &self,
        tool: &ToolKey,
        manifest_sha256: &str,
        description: &str,
    ) -> Result<(), Error> {
        let changed = self
            .inner
            .baseline
            .release(&tool.key, manifest_sha256, description)?;
        self.rug_pull(changed, tool, "description")
    }

    /// `rug-pull` at describe: the input schema differs from the one a previous release of the
    /// tool had.
    pub(crate) fn check_schema(
        &self,
        tool: &ToolKey,
        component_sha256: &str,
        schema: &serde_json::Value,
    ) -> Result<(), Error> {
        let changed = self
            .inner
            .baseline
            .schema(&tool.key, component_sha256, schema)?;
        self.rug_pull(changed, tool, "input schema")
    }

    /// A finding (and its action) when what agents are told about `tool` `changed`.
    fn rug_pull(&self, changed: bool, tool: &ToolKey, what: &str) -> Result<(), Error> {
        let rule = self.inner.policy.rule(RuleId::RugPull);
        if !changed || !rule.watches(&tool.name) {
            return Ok(());
        }
        let f = self.finding_at_load(
            rule,
            tool,
            format!(
                "a new signed release of {} changed its {what}: what agents are told about the \
                 tool is not what was reviewed",
                tool.label
            ),
            Some(what.into()),
        );
        let quarantined = (f.action == Action::Quarantine).then(|| self.quarantine_now(&f));
        self.deliver_now(f);
        match quarantined {
            Some(e) => Err(e.refusal(&tool.key)),
            None => Ok(()),
        }
    }

    fn finding_at_load(
        &self,
        rule: &Rule,
        tool: &ToolKey,
        message: String,
        subject: Option<String>,
    ) -> Finding {
        Finding {
            rule: rule.id,
            severity: rule.severity,
            action: rule.action,
            tool: tool.label.clone(),
            call: crate::audit::record::new_call_id(),
            key: tool.key.clone(),
            message,
            evidence: Vec::new(),
            subject,
            at: SystemTime::now(),
        }
    }

    fn entry_of(f: &Finding) -> QuarantineEntry {
        QuarantineEntry {
            rule: f.rule.as_str().into(),
            since: rfc3339(f.at),
            tool: f.tool.to_string(),
            call: f.call.to_string(),
            message: f.message.clone(),
        }
    }

    /// Refuse `f.key` from now on, in memory (the file follows on delivery).
    fn quarantine_now(&self, f: &Finding) -> QuarantineEntry {
        let e = Self::entry_of(f);
        let mut c = self.inner.qcache.write().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = c.get(&f.key) {
            return old.clone();
        }
        c.local.insert(f.key.to_string(), e.clone());
        e
    }

    /// Deliver a finding on this thread (loads are not on the writer's path).
    fn deliver_now(&self, f: Finding) {
        deliver_one(&self.inner, &f);
    }

    #[allow(clippy::too_many_arguments)]
    fn fire(
        &self,
        live: &mut Live,
        rule: &Rule,
        tool: &Arc<ToolKey>,
        call: &str,
        message: String,
        evidence: Vec<u64>,
        subject: Option<String>,
    ) {
        let f = Finding {
            rule: rule.id,
            severity: rule.severity,
            action: rule.action,
            tool: tool.label.clone(),
            call: call.into(),
            key: tool.key.clone(),
            message,
            evidence,
            subject,
            at: SystemTime::now(),
        };
        let quarantined =
            (f.action == Action::Quarantine).then(|| (f.key.clone(), self.quarantine_now(&f)));
        let ticket = self.inner.tickets.fetch_add(1, Ordering::AcqRel) + 1;
        if f.action != Action::Alert
            && let Some(c) = live.calls.get_mut(call)
        {
            if c.verdict.as_ref().is_none_or(|v| f.action > v.action) {
                c.verdict = Some(Verdict {
                    action: f.action,
                    rule: f.rule,
                    message: f.message.clone(),
                    quarantined,
                });
            }
            c.stop.cancel();
        }
        match self.inner.tx.try_send((ticket, f)) {
            Ok(()) => {}
            Err(TrySendError::Full((t, f)) | TrySendError::Disconnected((t, f))) => {
                self.inner.dropped.fetch_add(1, Ordering::Relaxed);
                self.inner.delivered.send_modify(|d| *d = (*d).max(t));
                tracing::error!(
                    target: "wasmgov::detect",
                    rule = f.rule.as_str(), tool = %f.tool, call = %f.call,
                    "finding dropped (delivery queue full): {}", f.message
                );
            }
        }
    }

    fn on_host_call(&self, h: &HostCallEvent<'_>) {
        let p = &self.inner.policy;
        let mut live = lock(&self.inner.live);
        let Some(c) = live.calls.get_mut(h.call) else {
            return;
        };
        if let Some(names) = h.arg("secrets")
            && c.secret_seqs.len() < MAX_SECRET_SEQS
        {
            c.secret_seqs.push((h.seq, names.to_owned()));
        }
        if c.verdict.is_some() {
            // Already being stopped: what it does until the guest is gone adds nothing.
            return;
        }
        // Most host calls are allowed and not under a sensitive bind: they end here.
        let sensitive = h.arg("sensitive").filter(|_| !h.denied());
        if sensitive.is_none() && !h.denied() {
            return;
        }
        let tool = c.tool.clone();
        if let Some(path) = sensitive {
            let rule = p.rule(RuleId::SensitiveRead);
            if rule.watches(&tool.name) && self.inner.baseline.first_read(&tool.key, path) {
                let first = !c.sensitive_fired;
                c.sensitive_fired = true;
                if first {
                    let msg = format!(
                        "{} opened {path}, under a bind marked sensitive, for the first time",
                        tool.label
                    );
                    self.fire(
                        &mut live,
                        rule,
                        &tool,
                        h.call,
                        msg,
                        vec![h.seq],
                        Some(path.into()),
                    );
                }
            }
        }
        if !h.denied() {
            return;
        }
        let rule = p.rule(RuleId::InternalAddress);
        if rule.watches(&tool.name)
            && (h.iface.starts_with("wasi:http") || h.iface.starts_with("wasi:sockets"))
            && let Some(target) = internal_target(h)
        {
            let c = live.calls.get_mut(h.call);
            let new = c.is_some_and(|c| {
                if c.internal.contains(&target) || c.internal.len() >= 16 {
                    false
                } else {
                    c.internal.push(target.clone());
                    true
                }
            });
            if new {
                let msg = format!(
                    "{} tried to reach {target}, an internal address its grant does not open",
                    tool.label
                );
                self.fire(
                    &mut live,
                    rule,
                    &tool,
                    h.call,
                    msg,
                    vec![h.seq],
                    Some(target),
                );
            }
        }
        let rule = p.rule(RuleId::DenyBurst);
        if rule.watches(&tool.name) {
            if live.denies.len() >= MAX_WINDOWS {
                live.denies.clear();
            }
            let w = live
                .denies
                .entry((tool.key.clone(), h.iface.into()))
                .or_default();
            if let Some(ev) = w.push(h.ts_us, h.seq, rule.threshold, rule.window) {
                let msg = format!(
                    "{} was denied {} times on {} within {}",
                    tool.label,
                    ev.len(),
                    h.iface,
                    humantime::format_duration(rule.window)
                );
                self.fire(
                    &mut live,
                    rule,
                    &tool,
                    h.call,
                    msg,
                    ev,
                    Some(h.iface.into()),
                );
            }
        }
    }

    fn on_record(&self, r: &RecordEvent<'_>) {
        match r.body {
            Body::Limit { which, .. } => {
                let rule = self.inner.policy.rule(RuleId::RepeatedLimits);
                let mut live = lock(&self.inner.live);
                let Some(tool) = live.calls.get(r.call).map(|c| c.tool.clone()) else {
                    return;
                };
                if !rule.watches(&tool.name) {
                    return;
                }
                if live.limits.len() >= MAX_WINDOWS {
                    live.limits.clear();
                }
                let ts =
                    r.ts.duration_since(SystemTime::UNIX_EPOCH)
                        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
                let w = live.limits.entry(tool.key.clone()).or_default();
                if let Some(ev) = w.push(ts, r.seq, rule.threshold, rule.window) {
                    let msg = format!(
                        "{} hit limits {} times within {} (the last: {which})",
                        tool.label,
                        ev.len(),
                        humantime::format_duration(rule.window)
                    );
                    self.fire(&mut live, rule, &tool, r.call, msg, ev, Some(which.clone()));
                }
            }
            Body::End { .. } => {
                lock(&self.inner.live).calls.remove(r.call);
            }
            _ => {}
        }
    }
}

/// The internal destination a denied network host call aimed at, if any: an address literal
/// or resolved address in a refused range, or a name that is internal by definition.
fn internal_target(h: &HostCallEvent<'_>) -> Option<String> {
    if let Some(addrs) = h.arg("addrs") {
        for a in addrs.split(',') {
            if let Ok(ip) = a.trim().parse::<IpAddr>()
                && let Some(class) = wasmgov_host_api::net::address_class(ip)
            {
                let host = h.arg("dest").map(host_of).unwrap_or_default();
                return Some(format!("{host} ({ip}, {class})").trim_start().to_string());
            }
        }
    }
    let host = host_of(h.arg("dest")?);
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return wasmgov_host_api::net::address_class(ip).map(|class| format!("{ip} ({class})"));
    }
    let name = host.to_ascii_lowercase();
    let internal_name = name == "localhost"
        || name.ends_with(".localhost")
        || name.ends_with(".internal")
        || name == "metadata"
        || name == "instance-data"
        || name.ends_with(".local");
    internal_name.then_some(name)
}

/// `host` of `scheme://host:port/...` (or of `host:port`).
fn host_of(dest: &str) -> String {
    let rest = dest.split_once("://").map_or(dest, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = authority.strip_prefix('[') {
        return format!("[{}]", v6.split(']').next().unwrap_or(v6));
    }
    authority
        .rsplit_once(':')
        .map_or(authority, |(h, _)| h)
        .to_string()
}

impl Observer for Detector {
    fn observe(&self, event: &Event<'_>) {
        match event {
            Event::HostCall(h) => self.on_host_call(h),
            Event::Record(r) => self.on_record(r),
            Event::Written { .. } | Event::Failed => {}
        }
    }
}

/// The delivery thread: audit record, quarantine file, OCSF line, log; in order.
fn deliver(inner: std::sync::Weak<Inner>, rx: Receiver<(u64, Finding)>) {
    while let Ok((ticket, f)) = rx.recv() {
        let Some(inner) = inner.upgrade() else {
            return;
        };
        deliver_one(&inner, &f);
        inner.delivered.send_modify(|d| *d = (*d).max(ticket));
    }
}

fn deliver_one(inner: &Inner, f: &Finding) {
    let audit = inner.audit.upgrade();
    if let Some(a) = audit
        && let Err(e) = a.record_now(f.call.clone(), f.tool.clone(), f.body())
    {
        tracing::error!(target: "wasmgov::detect", "cannot write a finding to the audit log: {e}");
    }
    if f.action == Action::Quarantine
        && let Some(q) = &inner.quarantine
    {
        match q.add(&f.key, Detector::entry_of(f)) {
            Ok(()) => {
                let mut c = inner.qcache.write().unwrap_or_else(|p| p.into_inner());
                if let Some(e) = c.local.remove(&*f.key) {
                    c.map.entry(f.key.to_string()).or_insert(e);
                }
                c.stamp = q.stamp();
            }
            Err(e) => tracing::error!(
                target: "wasmgov::detect",
                "quarantine of {} is held in memory only: {e}", f.key
            ),
        }
    }
    if f.rule == RuleId::SensitiveRead {
        inner.baseline.save_if_dirty();
    }
    if let Some(file) = lock(&inner.out).as_mut() {
        let mut line = ocsf::detection_finding(f).to_string();
        line.push('\n');
        if let Err(e) = file.write_all(line.as_bytes()) {
            tracing::error!(target: "wasmgov::detect", "cannot append to the findings file: {e}");
        }
    }
    tracing::warn!(
        target: "wasmgov::detect",
        rule = f.rule.as_str(),
        severity = f.severity.as_str(),
        action = f.action.as_str(),
        tool = %f.tool,
        call = %f.call,
        "{}", f.message
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_fire_at_the_threshold_within_the_window_only() {
        let mut w = Window::default();
        let win = Duration::from_secs(10);
        assert!(w.push(0, 1, 3, win).is_none());
        assert!(w.push(1_000_000, 2, 3, win).is_none());
        // The first falls out of the window.
        assert!(w.push(12_000_000, 3, 3, win).is_none());
        assert!(w.push(13_000_000, 4, 3, win).is_none());
        assert_eq!(w.push(14_000_000, 5, 3, win), Some(vec![3, 4, 5]));
        // Cleared after firing.
        assert!(w.push(14_000_001, 6, 3, win).is_none());
    }

    #[test]
    fn hosts_are_taken_from_destinations() {
        assert_eq!(host_of("http://169.254.169.254:80"), "169.254.169.254");
        assert_eq!(host_of("https://[::1]:443/x"), "[::1]");
        assert_eq!(host_of("http://user@localhost:8080/p?q"), "localhost");
        assert_eq!(host_of("example.com:443"), "example.com");
    }
}
