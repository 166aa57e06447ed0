//! The writer: the only code that touches the log file, shared by the writer thread and by
//! callers that write a record and wait for it (a tool's `load`, a quarantine release).
//!
//! A call's records reach the writer thread through its [`Inbox`], a bounded FIFO: a tool that
//! makes host calls faster than the disk takes them is slowed down (back-pressure), never
//! allowed to lose records. The writer thread takes everything queued at once and appends it
//! with one `write(2)` under one file lock, so the cost of the file is shared by every call
//! whose records are waiting (group commit); a flush that asks for durability is answered after
//! one `fdatasync` that covers every record queued before it. A call that does not wait for
//! its records (a log without fsync) wakes the writer only when it is idle, and the writer then
//! lingers up to [`LINGER`] gathering more, so a stream of calls costs one wake-up per batch,
//! not per call.
//!
//! The writer (under its mutex, whoever holds it) assigns `seq`, `prev` and `hash`, so records
//! of concurrent calls form one chain. Each batch is appended under an exclusive file lock, and
//! when the file grew since this writer's last append (another process writes the same log),
//! the chain resumes from the file's last line.
//!
//! The first write error marks the sink failed for good: every later flush reports it, and the
//! runtime's call hook refuses the next host call of every running call (fail closed).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::AuditError;
use super::checkpoint::CheckpointKey;
use super::observe::{Event, HostCallEvent, Observer, RecordEvent};
use super::record::{self, Body, GENESIS_HEX, Hex64, HostBatch, HostCallItem, Pending, TsCache};

/// Host-call records per message sent to the writer.
pub(crate) const BATCH: usize = 256;
/// Records the inbox holds before senders wait for the writer.
const MAX_QUEUED: usize = 4 * BATCH;
/// Longest a record that nobody waits for stays queued before the writer appends it.
pub(crate) const LINGER: Duration = Duration::from_millis(1);
/// Bytes appended between two writeback starts when calls end with an fsync.
const WRITEBACK_EVERY: u64 = 4 << 20;

/// Whether the sink still works, shared with the call hooks.
#[derive(Debug, Default)]
pub struct Health {
    failed: AtomicBool,
    why: Mutex<Option<String>>,
}

impl Health {
    /// Whether every record so far could be written.
    pub fn ok(&self) -> bool {
        !self.failed.load(Ordering::Acquire)
    }

    /// The first write failure, if any.
    pub fn failure(&self) -> Option<String> {
        self.why.lock().ok().and_then(|w| w.clone())
    }

    pub(crate) fn fail(&self, why: String) {
        if let Ok(mut w) = self.why.lock()
            && w.is_none()
        {
            *w = Some(why);
        }
        self.failed.store(true, Ordering::Release);
    }
}

/// Who waits for a flush's answer.
pub(crate) type Ack = tokio::sync::oneshot::Sender<Result<(), String>>;

/// One message to the writer.
pub(crate) enum Msg {
    /// Append these records in order.
    Records(Vec<Pending>),
    /// Append these host calls in order.
    HostCalls(HostBatch),
    /// Append a checkpoint (if a key is set and asked for), write everything before this out,
    /// optionally fsync, then answer.
    Flush {
        checkpoint: Option<(Arc<str>, Arc<str>)>,
        sync: bool,
        /// Who waits for the answer (none when the caller writes on its own thread).
        ack: Option<Ack>,
    },
    /// Write what came before, then stop (the owning `Audit` is gone; a span the runtime could
    /// not close may still hold a sender, so the writer cannot wait for all senders to go).
    Shutdown,
}

/// The chain position after the last record this writer knows of.
#[derive(Debug, Clone)]
struct Head {
    seq: Option<u64>,
    hash: Hex64,
}

impl Head {
    fn genesis() -> Self {
        Self {
            seq: None,
            hash: GENESIS_HEX,
        }
    }

    fn next_seq(&self) -> u64 {
        self.seq.map_or(0, |s| s + 1)
    }
}

pub(crate) struct Writer {
    file: File,
    path: PathBuf,
    regular: bool,
    /// File length after this writer's last append (None: unknown, re-read the tail).
    known_len: Option<u64>,
    head: Head,
    key: Option<CheckpointKey>,
    health: Arc<Health>,
    buf: Vec<u8>,
    ts: TsCache,
    /// Start writing back to disk while a call runs, so its closing fsync waits only for the
    /// tail (set when calls end with an fsync).
    writeback: bool,
    /// Bytes appended since writeback was last started.
    unstarted: u64,
    /// Whether this writer appended anything since its last fsync (shutdown syncs only then).
    unsynced: bool,
    /// Who watches the events written (metrics, exporters, detection), in the order added.
    pub(crate) observers: Vec<Arc<dyn Observer>>,
    /// `seq` of the first record of the batch last appended.
    first_seq: u64,
}

impl Writer {
    /// Open (create, 0600) `path` for appending and read the chain head from its last line.
    pub(crate) fn open(
        path: &Path,
        key: Option<CheckpointKey>,
        writeback: bool,
        health: Arc<Health>,
    ) -> Result<Self, AuditError> {
        let io = |e: std::io::Error| AuditError::Open {
            path: path.to_owned(),
            reason: e.to_string(),
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let mut b = std::fs::DirBuilder::new();
            b.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
            b.create(dir).map_err(io)?;
        }
        let mut opts = std::fs::OpenOptions::new();
        opts.append(true).create(true).read(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let file = opts.open(path).map_err(io)?;
        let regular = file.metadata().map_err(io)?.is_file();
        let mut w = Self {
            file,
            path: path.to_owned(),
            regular,
            known_len: None,
            head: Head::genesis(),
            key,
            health,
            buf: Vec::with_capacity(BATCH * 400),
            ts: TsCache::default(),
            writeback,
            unstarted: 0,
            unsynced: false,
            observers: Vec::new(),
            first_seq: 0,
        };
        if w.regular {
            w.file.lock().map_err(io)?;
            let r = w.resume();
            let _ = w.file.unlock();
            r?;
        }
        Ok(w)
    }

    /// Read the chain head from the file's last line. A last line that is not a whole record
    /// (a crash mid-write, an edit) stops the writer: appending to a broken chain would hide
    /// the break.
    fn resume(&mut self) -> Result<(), AuditError> {
        let damaged = |reason: &str| AuditError::DamagedTail {
            path: self.path.clone(),
            reason: reason.to_string(),
        };
        let io = |e: std::io::Error| AuditError::Open {
            path: self.path.clone(),
            reason: e.to_string(),
        };
        let len = self.file.seek(SeekFrom::End(0)).map_err(io)?;
        self.known_len = Some(len);
        if len == 0 {
            self.head = Head::genesis();
            return Ok(());
        }
        let mut window: u64 = 64 * 1024;
        let line = loop {
            let start = len.saturating_sub(window);
            self.file.seek(SeekFrom::Start(start)).map_err(io)?;
            let mut data = Vec::with_capacity((len - start) as usize);
            (&mut self.file)
                .take(len - start)
                .read_to_end(&mut data)
                .map_err(io)?;
            let Some(body) = data.strip_suffix(b"\n") else {
                return Err(damaged("the last line is incomplete (no newline)"));
            };
            match body.iter().rposition(|&b| b == b'\n') {
                Some(i) => break body[i + 1..].to_vec(),
                None if start == 0 => break body.to_vec(),
                None => window = window.saturating_mul(4),
            }
        };
        let Some((_, hash)) = record::split_hash(&line) else {
            return Err(damaged("the last line does not end with a hash"));
        };
        #[derive(serde::Deserialize)]
        struct Seq {
            seq: u64,
        }
        let seq: Seq = serde_json::from_slice(&line)
            .map_err(|e| damaged(&format!("the last line is not a record: {e}")))?;
        let mut h = GENESIS_HEX;
        h.copy_from_slice(hash.as_bytes());
        self.head = Head {
            seq: Some(seq.seq),
            hash: h,
        };
        Ok(())
    }

    /// Append `items` (answering their flushes) and return the outcome. Once a write failed,
    /// nothing more is written and every flush is answered with that failure.
    pub(crate) fn serve(&mut self, items: &mut Vec<Msg>) -> Result<(), String> {
        let began = std::time::Instant::now();
        let result = if self.health.ok() {
            self.append(items)
        } else {
            Err(self.health.failure().unwrap_or_default())
        };
        let latency = began.elapsed();
        let checkpoints = self.key.is_some();
        for o in &self.observers {
            notify(
                o.as_ref(),
                items,
                &result,
                latency,
                self.first_seq,
                checkpoints,
            );
        }
        if let Err(why) = &result {
            self.health.fail(why.clone());
        }
        for m in items.drain(..) {
            if let Msg::Flush { ack: Some(ack), .. } = m {
                let _ = ack.send(result.clone());
            }
        }
        result
    }

    fn append(&mut self, items: &[Msg]) -> Result<(), String> {
        let path = self.path.display().to_string();
        let io = |what: &str, e: std::io::Error| format!("cannot {what} audit log {path}: {e}");
        if self.regular {
            self.file.lock().map_err(|e| io("lock", e))?;
        }
        let r = (|| {
            if self.regular {
                let len = self.file.metadata().map_err(|e| io("stat", e))?.len();
                if self.known_len != Some(len) {
                    self.resume().map_err(|e| e.to_string())?;
                }
            }
            self.buf.clear();
            let mut sync = false;
            let mut head = self.head.clone();
            self.first_seq = head.next_seq();
            for m in items {
                match m {
                    Msg::Records(rs) => {
                        for p in rs {
                            head = self.line(p, &head)?;
                        }
                    }
                    Msg::HostCalls(b) => {
                        for item in &b.items {
                            head = self.host_line(b, item, &head);
                        }
                    }
                    Msg::Shutdown => sync |= self.unsynced || !self.buf.is_empty(),
                    Msg::Flush {
                        checkpoint,
                        sync: s,
                        ..
                    } => {
                        sync |= *s;
                        if let (Some((call, tool)), Some(key)) = (checkpoint, &self.key) {
                            let seq = head.next_seq();
                            let p = Pending {
                                ts: std::time::SystemTime::now(),
                                call: call.clone(),
                                tool: tool.clone(),
                                body: Body::Checkpoint {
                                    head: record::hex_str(&head.hash).to_string(),
                                    key: key.fingerprint().to_string(),
                                    sig: key.sign(seq, record::hex_str(&head.hash)),
                                },
                            };
                            head = self.line(&p, &head)?;
                        }
                    }
                }
            }
            if !self.buf.is_empty() {
                self.write_batch().map_err(|e| io("write", e))?;
            }
            self.unsynced |= !self.buf.is_empty();
            if sync {
                self.file.sync_data().map_err(|e| io("sync", e))?;
                self.unstarted = 0;
                self.unsynced = false;
            } else if self.writeback && self.regular {
                self.unstarted += self.buf.len() as u64;
                if self.unstarted >= WRITEBACK_EVERY {
                    self.start_writeback();
                    self.unstarted = 0;
                }
            }
            self.known_len = self.known_len.map(|l| l + self.buf.len() as u64);
            self.head = head;
            Ok(())
        })();
        if self.regular {
            let _ = self.file.unlock();
        }
        if r.is_err() {
            // Part of the batch may be on disk; the next writer must read the tail again.
            self.known_len = None;
        }
        r
    }

    /// Append `self.buf`, a run of whole records. When the write fails part way (the disk is
    /// full, the file hit its size limit), the part that reached the file is cut back to the
    /// last whole record it holds: the log stays a valid chain that ends at a record boundary
    /// (verify passes on it and names the call that did not end), never a torn line, which no
    /// writer may append to. Only this writer's own bytes of this batch are cut, under the lock
    /// it holds; where the length is unknown (not a regular file) nothing is cut.
    fn write_batch(&mut self) -> std::io::Result<()> {
        let mut written = 0;
        while written < self.buf.len() {
            match self.file.write(&self.buf[written..]) {
                Ok(0) => {
                    return self.cut_back(written, std::io::ErrorKind::WriteZero.into());
                }
                Ok(n) => written += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return self.cut_back(written, e),
            }
        }
        Ok(())
    }

    /// After a failed write of `self.buf` of which `written` bytes reached the file, cut the
    /// file to its last whole record, and return `e`.
    fn cut_back(&mut self, written: usize, e: std::io::Error) -> std::io::Result<()> {
        if let (true, Some(before)) = (self.regular, self.known_len) {
            let whole = self.buf[..written]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |i| i + 1);
            if whole < written {
                // Shrinking frees space, so this works on a full disk; if it fails, the torn
                // line stays and verify names it.
                let _ = self.file.set_len(before + whole as u64);
            }
        }
        Err(e)
    }

    /// Ask the kernel to start writing the file's dirty pages to disk, without waiting. A hint:
    /// the fsync at the end of the call is what reports errors.
    fn start_writeback(&self) {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            // SAFETY: sync_file_range takes plain integers; the descriptor belongs to
            // `self.file`, which is open for the whole call. Offset 0 and length 0 mean the
            // whole file; SYNC_FILE_RANGE_WRITE only starts writeback and never blocks on it.
            let _ = unsafe {
                libc::sync_file_range(self.file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE)
            };
        }
    }

    fn host_line(&mut self, batch: &HostBatch, item: &HostCallItem, head: &Head) -> Head {
        let seq = head.next_seq();
        let hash = record::write_host_call(
            &mut self.buf,
            &mut self.ts,
            &batch.head,
            item,
            seq,
            &head.hash,
        );
        Head {
            seq: Some(seq),
            hash,
        }
    }

    fn line(&mut self, p: &Pending, head: &Head) -> Result<Head, String> {
        let seq = head.next_seq();
        let hash = record::write_line(&mut self.buf, p, seq, &head.hash)
            .map_err(|e| format!("cannot serialise an audit record: {e}"))?;
        Ok(Head {
            seq: Some(seq),
            hash,
        })
    }
}

/// Tell `o` what `items` held, once they are written (or that writing failed). `seq` is the
/// first record's; a flush that asks for a checkpoint adds one when `checkpoints`.
fn notify(
    o: &dyn Observer,
    items: &[Msg],
    result: &Result<(), String>,
    latency: std::time::Duration,
    mut seq: u64,
    checkpoints: bool,
) {
    if result.is_err() {
        o.observe(&Event::Failed);
        return;
    }
    let mut records = 0;
    for m in items {
        match m {
            Msg::Records(rs) => {
                for p in rs {
                    records += 1;
                    o.observe(&Event::Record(RecordEvent {
                        seq,
                        ts: p.ts,
                        call: &p.call,
                        tool: &p.tool,
                        body: &p.body,
                    }));
                    seq += 1;
                }
            }
            Msg::HostCalls(b) => {
                for item in &b.items {
                    records += 1;
                    o.observe(&Event::HostCall(HostCallEvent {
                        seq,
                        ts_us: b.head.micros(item.at),
                        call: &b.head.call,
                        tool: &b.head.tool,
                        iface: &item.site.iface,
                        func: &item.site.func,
                        args: &item.args,
                        decision: item.decision,
                        outcome: &item.outcome,
                        reason: item.reason.as_deref(),
                        us: item.us,
                        count: item.count,
                        last_ts_us: b.head.micros(item.last),
                    }));
                    seq += 1;
                }
            }
            Msg::Flush {
                checkpoint: Some(_),
                ..
            } if checkpoints => {
                records += 1;
                seq += 1;
            }
            _ => {}
        }
    }
    if records > 0 {
        o.observe(&Event::Written { records, latency });
    }
}

/// Lock the shared writer; a panic while it was held leaves a writer whose health says what
/// was written, so keep using it.
pub(crate) fn lock(w: &Mutex<Writer>) -> std::sync::MutexGuard<'_, Writer> {
    w.lock().unwrap_or_else(|p| p.into_inner())
}

/// What is queued for the writer thread.
#[derive(Default)]
struct Queued {
    msgs: Vec<Msg>,
    /// Records in `msgs` (host calls count one each).
    records: usize,
    /// Someone waits for an answer, or the queue is full: write now, without lingering.
    urgent: bool,
    /// The writer thread waits for the first message (so a sender must wake it).
    idle: bool,
    /// The writer stopped: nothing more is taken.
    closed: bool,
    /// Senders waiting for room.
    blocked: usize,
}

/// The writer thread's inbox: a bounded FIFO of messages with its two wake-ups.
#[derive(Default)]
pub(crate) struct Inbox {
    q: Mutex<Queued>,
    /// The writer waits here for messages.
    ready: Condvar,
    /// Senders wait here for room.
    room: Condvar,
}

/// The writer thread is gone; nothing more can be written.
#[derive(Debug)]
pub(crate) struct Stopped;

/// A handle that queues messages for the writer thread. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Sender(Arc<Inbox>);

fn records_in(m: &Msg) -> usize {
    match m {
        Msg::Records(r) => r.len(),
        Msg::HostCalls(b) => b.items.len(),
        _ => 1,
    }
}

impl Inbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queued> {
        self.q.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Sender {
    /// Queue `m`; written within [`LINGER`] (sooner when the queue fills or a flush waits).
    /// Blocks while the queue is full (back-pressure).
    pub(crate) fn send(&self, m: Msg) -> Result<(), Stopped> {
        self.send_all(vec![m], false)
    }

    /// Queue `msgs` in order; `urgent` when someone waits for their answer.
    pub(crate) fn send_all(&self, msgs: Vec<Msg>, urgent: bool) -> Result<(), Stopped> {
        let inbox = &*self.0;
        let n: usize = msgs.iter().map(records_in).sum();
        let mut q = inbox.lock();
        while !q.closed && q.records > 0 && q.records + n > MAX_QUEUED {
            if !q.urgent {
                q.urgent = true;
                inbox.ready.notify_one();
            }
            q.blocked += 1;
            q = inbox.room.wait(q).unwrap_or_else(|p| p.into_inner());
            q.blocked -= 1;
        }
        if q.closed {
            return Err(Stopped);
        }
        q.records += n;
        q.msgs.extend(msgs);
        // A notify is a system call: only when the writer waits for a first message, or
        // lingers while this one needs an answer.
        let wake = q.idle || (urgent && !q.urgent);
        q.urgent |= urgent;
        if wake {
            q.idle = false;
            inbox.ready.notify_one();
        }
        Ok(())
    }
}

/// Take batches from `inbox` and append them until a shutdown message.
fn run(writer: Arc<Mutex<Writer>>, inbox: Arc<Inbox>) {
    loop {
        let mut items = {
            let mut q = inbox.lock();
            // When the first message that nobody waits for must be written, at the latest.
            let mut due: Option<Instant> = None;
            loop {
                if q.msgs.is_empty() {
                    q.idle = true;
                    q = inbox.ready.wait(q).unwrap_or_else(|p| p.into_inner());
                    q.idle = false;
                    continue;
                }
                if q.urgent {
                    break;
                }
                let due = *due.get_or_insert_with(|| Instant::now() + LINGER);
                let left = due.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                q = inbox
                    .ready
                    .wait_timeout(q, left)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
            q.urgent = false;
            q.records = 0;
            if q.blocked > 0 {
                inbox.room.notify_all();
            }
            std::mem::take(&mut q.msgs)
        };
        let stop = items.iter().any(|m| matches!(m, Msg::Shutdown));
        let _ = lock(&writer).serve(&mut items);
        if stop {
            let mut q = inbox.lock();
            q.closed = true;
            // What was queued behind the shutdown is answered as failed by dropping its acks.
            q.msgs.clear();
            inbox.room.notify_all();
            return;
        }
    }
}

/// Start the writer thread over the shared `writer`; returns its sender.
pub(crate) fn spawn(
    writer: Arc<Mutex<Writer>>,
) -> Result<(Sender, std::thread::JoinHandle<()>), AuditError> {
    let inbox = Arc::new(Inbox::default());
    let theirs = inbox.clone();
    let handle = std::thread::Builder::new()
        .name("wasmgov-audit".into())
        .spawn(move || run(writer, theirs))
        .map_err(|e| AuditError::Open {
            path: PathBuf::new(),
            reason: format!("cannot start the audit writer thread: {e}"),
        })?;
    Ok((Sender(inbox), handle))
}
