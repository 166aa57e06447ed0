//! The audit log: every load, call, host call, limit hit and ending, as a hash-chained JSON
//! Lines file that an operator can trust after the fact.
//!
//! What it guards against:
//! - *unaudited work*: a call's `start` record is queued to the writer before the tool runs,
//!   every host call is recorded, and if any record cannot be written the runtime's call hook
//!   refuses the next host call, no call starts, and a call ends with [`crate::Error::Audit`]
//!   (exit 6) instead of a result. Nothing runs on a sink that has failed. With `fsync` (the
//!   default) a call's result is returned only once all its records are on stable storage; the
//!   writer commits the records of every call waiting with one `fdatasync` (group commit).
//!   Without it, records are appended by the writer thread within [`writer::LINGER`] of being
//!   queued and the call does not wait for them: a crash or a write failure can lose that last
//!   millisecond of records (see docs/audit.md, "Durability").
//! - *after-the-fact edits*: each record holds the hash of the one before it; `wasmgov audit
//!   verify` names the first record whose hash or link is wrong. With an operator key, a signed
//!   [checkpoint](checkpoint) after every call pins the chain head, so the file cannot be
//!   rewritten wholesale either.
//! - *leaks*: input payloads, file contents, environment values and secret values never enter
//!   a record (see [`capture`]).
//! - *disk exhaustion by a tool*: host calls are capped per call, so is the number of records.
//!
//! The record format is documented in `docs/audit.md`.

pub mod capture;
pub mod checkpoint;
pub mod observe;
pub mod record;
pub mod show;
pub mod summary;
pub mod verify;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use crate::component::{ComponentInfo, WorldKind};
use crate::error::Error;
use crate::grant::Grant;
use crate::invoke::{Action, CallOutcome};
use crate::limits::Limits;
use crate::package::Verified;
use crate::policy::Policy;

pub use checkpoint::{CheckpointKey, CheckpointVerifier, KeyError};
pub use observe::{Event, HostCallEvent, Observer, RecordEvent};
pub use record::{Body, Decision, LoadInfo};
pub use writer::Health;

use capture::{CallCapture, Captured};
use record::Pending;
use writer::{Msg, Sender, Writer};

/// Why the audit log could not be used. Every variant stops the work it was auditing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    /// The log file could not be opened or created.
    #[error("cannot open audit log {}: {reason}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The log's last line is not a whole record, so the chain cannot be continued.
    #[error("audit log {} ends in a damaged record ({reason}); not appending to it", path.display())]
    DamagedTail {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A record could not be written; the call was stopped.
    #[error("the audit log could not be written: {0}")]
    Write(String),
    /// The checkpoint key is unusable.
    #[error(transparent)]
    Key(#[from] KeyError),
}

impl AuditError {
    /// What the operator can do about it.
    pub fn hint(&self) -> String {
        match self {
            Self::Open { .. } => "check that the directory exists and is writable, or choose \
                another file with --audit"
                .into(),
            Self::DamagedTail { .. } => "run `wasmgov audit verify` on it, keep it as evidence, \
                and start a new log file"
                .into(),
            Self::Write(_) => "no call runs unaudited: free disk space or fix the log's \
                permissions, then run the call again"
                .into(),
            Self::Key(_) => "create one with `wasmgov keygen -f FILE`".into(),
        }
    }
}

/// How the log is written.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// Sign a checkpoint over the chain head after every call.
    pub checkpoint_key: Option<CheckpointKey>,
    /// Durable: a call's result is returned only once its records are on stable storage (one
    /// `fdatasync` shared by every call whose records are waiting; it also covers the tool's
    /// `load` record), and the log is synced when closed after unsynced writes. Without it the
    /// calls do not wait: the writer thread appends their records within [`writer::LINGER`],
    /// and a crash, a power loss or a write failure can lose the records of the last calls
    /// before it (the next call is then refused).
    pub fsync: bool,
}

impl Default for AuditOptions {
    fn default() -> Self {
        Self {
            checkpoint_key: None,
            fsync: true,
        }
    }
}

/// An audit log sink: one file, one writer thread, one hash chain. Cheap to clone; share one
/// per file (several processes may append to the same file: appends are locked and the chain
/// continues across them).
#[derive(Clone)]
pub struct Audit {
    inner: Arc<Inner>,
}

struct Inner {
    tx: Option<Sender>,
    /// The writer, also used directly by callers that wait for a few records.
    core: Arc<Mutex<Writer>>,
    health: Arc<Health>,
    path: PathBuf,
    fsync: bool,
    checkpoints: bool,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The writer writes what is queued, then stops.
        if let Some(tx) = self.tx.take() {
            let _ = tx.send_all(vec![Msg::Shutdown], true);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// An [`Audit`] that does not keep the log open (for what the log's own observers hold).
#[derive(Clone)]
pub struct WeakAudit(std::sync::Weak<Inner>);

impl WeakAudit {
    /// The log, while something else still holds it.
    pub fn upgrade(&self) -> Option<Audit> {
        self.0.upgrade().map(|inner| Audit { inner })
    }
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audit")
            .field("path", &self.inner.path)
            .field("healthy", &self.inner.health.ok())
            .finish_non_exhaustive()
    }
}

/// The error the call hook raises when the sink has failed: the host call does not run.
#[derive(Debug, thiserror::Error)]
#[error("audit sink failed: {0}")]
pub(crate) struct AuditGateClosed(pub(crate) String);

impl Audit {
    /// Append to `path` (created 0600 if missing) with the default options: no checkpoints,
    /// fsync at the end of each call.
    pub fn file(path: impl AsRef<Path>) -> Result<Self, AuditError> {
        Self::open(path, AuditOptions::default())
    }

    /// Append to `path` with `options`.
    pub fn open(path: impl AsRef<Path>, options: AuditOptions) -> Result<Self, AuditError> {
        let path = path.as_ref();
        let health = Arc::new(Health::default());
        let checkpoints = options.checkpoint_key.is_some();
        let w = Writer::open(path, options.checkpoint_key, options.fsync, health.clone())?;
        let core = Arc::new(Mutex::new(w));
        let (tx, thread) = writer::spawn(core.clone())?;
        Ok(Self {
            inner: Arc::new(Inner {
                tx: Some(tx),
                core,
                health,
                path: path.to_owned(),
                fsync: options.fsync,
                checkpoints,
                thread: Some(thread),
            }),
        })
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Let `observer` see every event from now on, as it is written, after the observers
    /// added before it. Metrics, exporters and detection are built on this.
    pub fn observe(&self, observer: Arc<dyn Observer>) {
        writer::lock(&self.inner.core).observers.push(observer);
    }

    /// A handle that does not keep the log open.
    pub fn downgrade(&self) -> WeakAudit {
        WeakAudit(Arc::downgrade(&self.inner))
    }

    /// Write one record of `call` / `tool` now, on this thread (synced if the log syncs).
    pub(crate) fn record_now(
        &self,
        call: Arc<str>,
        tool: Arc<str>,
        body: Body,
    ) -> Result<(), AuditError> {
        self.write_one(call, tool, body, self.inner.fsync)
    }

    /// Write one record now, on this thread, and fsync the log if `sync`.
    fn write_one(
        &self,
        call: Arc<str>,
        tool: Arc<str>,
        body: Body,
        sync: bool,
    ) -> Result<(), AuditError> {
        let p = Pending {
            ts: SystemTime::now(),
            call,
            tool,
            body,
        };
        let flush = Msg::Flush {
            checkpoint: None,
            sync,
            ack: None,
        };
        self.write_here(vec![Msg::Records(vec![p]), flush])
    }

    /// Record that an operator (`by`) released the quarantined tool `key`, which rule `rule`
    /// had quarantined (`wasmgov quarantine release`).
    pub fn record_release(&self, key: &str, by: &str, rule: &str) -> Result<(), AuditError> {
        let tool: Arc<str> = key.split(' ').next().unwrap_or(key).into();
        self.record_now(
            record::new_call_id(),
            tool,
            Body::Release {
                key: record::cap_text(key),
                by: record::cap_text(by),
                rule: record::cap_text(rule),
            },
        )
    }

    /// Whether every record so far was written. Once false, it stays false.
    pub fn is_healthy(&self) -> bool {
        self.inner.health.ok()
    }

    /// Queue `msgs` for the writer thread (`urgent`: someone waits for their answer). The
    /// writer being gone fails the sink.
    fn queue(&self, msgs: Vec<Msg>, urgent: bool) -> Result<(), AuditError> {
        let tx = self.inner.tx.as_ref().ok_or_else(|| self.failed())?;
        tx.send_all(msgs, urgent).map_err(|_| {
            self.inner.health.fail("the audit writer stopped".into());
            self.failed()
        })
    }

    fn failed(&self) -> AuditError {
        AuditError::Write(
            self.inner
                .health
                .failure()
                .unwrap_or_else(|| "the audit writer stopped".into()),
        )
    }

    /// Write `msgs` on this thread, without a hop to the writer thread, waiting for the writer
    /// if another thread holds it.
    fn write_here(&self, mut msgs: Vec<Msg>) -> Result<(), AuditError> {
        writer::lock(&self.inner.core)
            .serve(&mut msgs)
            .map_err(AuditError::Write)
    }

    /// Hand `msgs` to the writer thread and wait for the answer to the last of them, which is
    /// a flush.
    async fn write_via_thread(&self, mut msgs: Vec<Msg>) -> Result<(), AuditError> {
        let (ack, rx) = tokio::sync::oneshot::channel();
        match msgs.last_mut() {
            Some(Msg::Flush { ack: a, .. }) => *a = Some(ack),
            _ => msgs.push(Msg::Flush {
                checkpoint: None,
                sync: false,
                ack: Some(ack),
            }),
        }
        self.queue(msgs, true)?;
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(why)) => Err(AuditError::Write(why)),
            Err(_) => Err(self.failed()),
        }
    }

    /// Write the `load` record of a tool (and wait until it is written). Returns its id, which
    /// every `start` of this tool names.
    pub(crate) fn record_load(
        &self,
        tool: Arc<str>,
        info: LoadInfo,
    ) -> Result<Arc<str>, AuditError> {
        let id = record::new_call_id();
        // On file before the tool can be called, but not fsync'd on its own: the end of every
        // call is, and so is the log's shutdown after a load with no call; either sync covers
        // this record (one file), so one disk flush per `wasmgov run` instead of two.
        self.write_one(id.clone(), tool, Body::Load(Box::new(info)), false)?;
        Ok(id)
    }

    /// Queue the `start` record of a call: a call begins only on a sink that works, and its
    /// records follow the start in the log.
    pub(crate) async fn begin(&self, start: Start<'_>) -> Result<CallAudit, AuditError> {
        let tx = self.inner.tx.clone().ok_or_else(|| self.failed())?;
        if !self.is_healthy() {
            return Err(self.failed());
        }
        let call: Arc<str> = match start.call_id {
            Some(id) => Arc::from(id),
            None => record::new_call_id(),
        };
        let tool = start.tool;
        if tracing::level_filters::STATIC_MAX_LEVEL < tracing::level_filters::LevelFilter::TRACE {
            return Err(AuditError::Write(
                "TRACE events are compiled out (a `max_level_*` feature of the tracing crate), \
                 so host calls cannot be seen; refusing to run unaudited"
                    .into(),
            ));
        }
        let capture = Arc::new(CallCapture::new(
            call.clone(),
            tool.clone(),
            tx.clone(),
            self.inner.health.clone(),
        ));
        let (action, input) = match start.action {
            Action::Call(i) => ("call", i),
            Action::Describe => ("describe", &[][..]),
        };
        // Not waited for: the writer appends it before anything else of the call, and a call
        // that waits for durability waits for it at its end.
        self.queue(
            vec![Msg::Records(vec![Pending {
                ts: capture.now(),
                call: call.clone(),
                tool: tool.clone(),
                body: Body::Start {
                    load: start.load,
                    action,
                    caller: start.caller.map(record::cap_text),
                    context: start
                        .context
                        .iter()
                        .take(MAX_CONTEXT_ENTRIES)
                        .map(|(k, v)| (record::cap_text(k), record::cap_text(v)))
                        .collect(),
                    input_size: input.len() as u64,
                    input_sha256: record::sha256_hex(input),
                    limits: start.limits,
                },
            }])],
            false,
        )?;
        Ok(CallAudit {
            audit: self.clone(),
            capture,
            started: Instant::now(),
            finished: false,
        })
    }
}

/// What a `start` record says.
pub(crate) struct Start<'a> {
    pub(crate) tool: Arc<str>,
    pub(crate) load: Arc<str>,
    pub(crate) action: Action<'a>,
    pub(crate) limits: Limits,
    pub(crate) call_id: Option<&'a str>,
    pub(crate) caller: Option<&'a str>,
    pub(crate) context: &'a std::collections::BTreeMap<String, String>,
}

/// Most `context` entries a `start` record keeps (each key and value is capped like `caller`).
const MAX_CONTEXT_ENTRIES: usize = 16;

/// The label and `load` record of a tool.
pub(crate) fn load_info(
    info: &ComponentInfo,
    grant: &Grant,
    verified: Option<&Verified>,
    policy: &Policy,
) -> (Arc<str>, LoadInfo) {
    let label: Arc<str> = match verified {
        Some(v) => v.manifest.tool_id().into(),
        None => format!(
            "component:{}",
            info.sha256.get(..12).unwrap_or(&info.sha256)
        )
        .into(),
    };
    let signer = verified.and_then(|v| v.signer.as_ref());
    let li = LoadInfo {
        component_sha256: info.sha256.clone(),
        component_size: info.size,
        world: match info.world {
            WorldKind::Tool => "tool",
            WorldKind::Command => "command",
        },
        manifest_sha256: verified.map(|v| v.manifest_sha256.as_str().to_string()),
        signer: signer.map(|s| s.fingerprint.clone()),
        principals: signer.map(|s| s.principals()).unwrap_or_default(),
        unsigned: verified.is_some_and(|v| v.signer.is_none()),
        policy_sha256: policy.digest().as_str().to_string(),
        observe: false,
        grant: serde_json::to_value(grant).unwrap_or(serde_json::Value::Null),
    };
    (label, li)
}

/// The audit side of one call.
pub(crate) struct CallAudit {
    audit: Audit,
    capture: Arc<CallCapture>,
    started: Instant,
    finished: bool,
}

impl CallAudit {
    /// The call's id in the log.
    pub(crate) fn call_id(&self) -> &Arc<str> {
        &self.capture.call
    }

    /// Whether host calls not yet handed to the writer include one detection acts on (a
    /// denial or a sensitive open).
    pub(crate) fn pending_urgent(&self) -> bool {
        self.capture.pending_urgent()
    }

    /// Write the host calls recorded so far (so the log's observers have seen them) and wait.
    pub(crate) async fn flush_host_calls(&self) -> Result<(), AuditError> {
        // With nothing new, an empty batch: behind the earlier ones (in the writer thread's
        // queue, or behind the writer's hold on the log while it tells its observers), it
        // returns once the observers have seen them.
        let batch = self
            .capture
            .take_done()
            .unwrap_or_else(|| self.capture.take_empty());
        self.audit
            .write_via_thread(vec![Msg::HostCalls(batch)])
            .await
    }

    /// The sink's health, for the call hook.
    pub(crate) fn health(&self) -> Arc<Health> {
        self.audit.inner.health.clone()
    }

    /// What host-api tells of the clock and random reads it serves without a span.
    pub(crate) fn quiet_recorder(&self) -> Arc<dyn wasmgov_host_api::quiet::QuietRecorder> {
        self.capture.clone()
    }

    /// Run `f` with this call's host calls captured.
    pub(crate) fn capture<F: std::future::Future>(
        &self,
        f: F,
    ) -> impl std::future::Future<Output = F::Output> {
        Captured::new(f, self.capture.clone())
    }

    /// Write the rest of the call's records, its `limit` and `end` records and a checkpoint,
    /// flush, and wait (when the log is durable, or when `observed`: the log's observers must
    /// have seen the records before this returns). If anything of the call could not be written, its result is replaced by
    /// [`Error::Audit`]: an unaudited result is not returned.
    pub(crate) async fn finish(mut self, outcome: &mut CallOutcome, observed: bool) {
        self.finished = true;
        let checkpoint = self
            .audit
            .inner
            .checkpoints
            .then(|| (self.capture.call.clone(), self.capture.tool.clone()));
        let (host_calls, records) = self.closing(outcome);
        let fsync = self.audit.inner.fsync;
        let msgs = vec![
            Msg::HostCalls(host_calls),
            Msg::Records(records),
            Msg::Flush {
                checkpoint,
                sync: fsync,
                ack: None,
            },
        ];
        // Durable: wait for the writer's fdatasync. Otherwise queue and go (unless the caller
        // needs the log's observers to have seen the call); a write that fails later stops
        // every call after it.
        let r = if fsync || observed {
            self.audit.write_via_thread(msgs).await
        } else {
            self.audit.queue(msgs, false)
        };
        let r = r.and_then(|()| {
            if self.audit.is_healthy() {
                Ok(())
            } else {
                Err(self.audit.failed())
            }
        });
        if let Err(e) = r
            && !matches!(outcome.result, Err(Error::Audit(_)))
        {
            outcome.result = Err(Error::Audit(e));
        }
    }

    /// The host calls not yet sent, then the call's `limit` (if one stopped it) and `end`.
    fn closing(&mut self, outcome: &CallOutcome) -> (record::HostBatch, Vec<Pending>) {
        // The call's future is gone: every host call of the call has been recorded by now.
        let host_calls = self.capture.take();
        let mut records = Vec::with_capacity(2);
        let at = |body| Pending {
            ts: self.capture.now(),
            call: self.capture.call.clone(),
            tool: self.capture.tool.clone(),
            body,
        };
        if let Err(Error::Limit(l)) = &outcome.result {
            records.push(at(Body::Limit {
                which: l.kind.as_str().into(),
                limit: l.limit,
                used: l.used,
            }));
        }
        let (name, exit) = match &outcome.result {
            Ok(_) => ("ok", 0),
            Err(e) => (e.kind(), e.exit_code()),
        };
        let s = &outcome.stats;
        records.push(at(Body::End {
            outcome: name.into(),
            exit,
            fuel: s.fuel_used,
            peak_memory: s.peak_memory,
            host_calls: s.host_calls,
            output: s.output,
            us: u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX),
        }));
        (host_calls, records)
    }
}

impl Drop for CallAudit {
    /// A call dropped before it finished (cancelled by its caller) still gets its records and
    /// an `end`; nobody waits for them to reach the disk.
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let outcome = CallOutcome::failed(Error::Cancelled);
        let (host_calls, records) = self.closing(&outcome);
        let _ = self.audit.queue(
            vec![Msg::HostCalls(host_calls), Msg::Records(records)],
            false,
        );
    }
}
