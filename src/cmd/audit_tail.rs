//! `wasmgov audit tail`: the last records of a log and, with `--follow`, each record as it is
//! appended.
//!
//! Following reads what was appended since the last look, a whole line at a time (a record
//! being written is printed once its newline is there). A log that was rotated (the path now
//! names another file) or truncated (shorter than what was read) is read again from its start,
//! as `tail -F` does. The log is polled: it works the same on every filesystem, and a record is
//! shown within [`POLL`] of being written.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use wasmgov::audit::record;
use wasmgov::audit::show::{self, Filter, Layout};

use crate::flags::AuditTailArgs;
use crate::report::usage;

/// How often a followed log is looked at.
const POLL: Duration = Duration::from_millis(200);

/// Most bytes of one line read or kept while waiting for its end: the longest line any reader of
/// the log accepts (a record is far smaller).
const MAX_LINE: usize = record::MAX_LINE;

/// Run `wasmgov audit tail`.
pub fn run(a: AuditTailArgs) -> anyhow::Result<i32> {
    let path = a.show.file.clone();
    let filter = super::audit::filter_of(&a.show);
    let unreadable = |e: String| usage(format!("{}: {e}", path.display()), None);
    let mut reader = BufReader::new(super::audit::open_log(&path)?);
    // The last N matching records, streamed (a log of any size, in N records of memory).
    let keep = a.lines as usize;
    let mut last: VecDeque<(String, Value)> = VecDeque::with_capacity(keep.min(4096));
    let mut offset = 0u64;
    let mut bytes = Vec::new();
    loop {
        let n = record::read_line_capped(&mut reader, &mut bytes)
            .map_err(|e| unreadable(e.to_string()))?;
        if bytes.len() > MAX_LINE {
            return Err(unreadable(format!(
                "a line longer than {MAX_LINE} bytes at byte {offset}: not a record"
            )));
        }
        if n == 0 || !bytes.ends_with(b"\n") {
            // End of file, or a record still being written: following picks it up from here.
            break;
        }
        let line = String::from_utf8_lossy(&bytes);
        offset += n as u64;
        if let Some(v) = parse(&line, &filter).map_err(unreadable)? {
            if keep == 0 {
                continue;
            }
            if last.len() == keep {
                last.pop_front();
            }
            last.push_back((line.trim_end().to_owned(), v));
        }
    }

    let mut out = Out::new(a.show.json);
    for (_, v) in &last {
        out.layout.fit(&show::row(v).1);
    }
    if !out.json {
        out.layout.fit(&MIN_WIDTHS.map(|w| " ".repeat(w)));
        let header = out.layout.header();
        if out.emit(&header).is_err() {
            return Ok(0);
        }
    }
    for (text, v) in &last {
        if out.record(text, v).is_err() {
            return Ok(0);
        }
    }
    if !a.follow {
        return Ok(0);
    }
    // The file the first pass read, not the path opened again: a rotation in between must not
    // make `offset` point into another file.
    follow(&path, reader.into_inner(), offset, &filter, &mut out).map_err(unreadable)?;
    Ok(0)
}

/// Column widths a followed table starts with, so later rows mostly line up.
const MIN_WIDTHS: [usize; 7] = [5, 12, 12, 18, 22, 8, 0];

/// One line of the log, parsed, if it passes `filter`.
fn parse(line: &str, filter: &Filter) -> Result<Option<Value>, String> {
    let text = line.trim_end();
    if text.is_empty() {
        return Ok(None);
    }
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not a record: {e}"))?;
    Ok(filter.matches(&v).then_some(v))
}

/// Where records go: JSON Lines as written, or table rows.
struct Out {
    json: bool,
    layout: Layout,
    stdout: std::io::Stdout,
}

impl Out {
    fn new(json: bool) -> Self {
        Self {
            json,
            layout: Layout::default(),
            stdout: std::io::stdout(),
        }
    }

    /// Write and flush `text`; an error means the reader went away.
    fn emit(&mut self, text: &str) -> std::io::Result<()> {
        let mut o = self.stdout.lock();
        o.write_all(text.as_bytes())?;
        o.flush()
    }

    fn record(&mut self, text: &str, v: &Value) -> std::io::Result<()> {
        if self.json {
            self.emit(&format!("{text}\n"))
        } else {
            let (call, cells) = show::row(v);
            let line = self.layout.line(&call, &cells);
            self.emit(&line)
        }
    }
}

/// The identity (device, inode) of a file's metadata.
fn identity(m: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (m.dev(), m.ino())
}

/// Print each matching record appended to `file` (which `path` named) from `offset` on, then to
/// whatever file `path` names after a rotation, until stdout goes away.
fn follow(
    path: &Path,
    mut file: File,
    mut offset: u64,
    filter: &Filter,
    out: &mut Out,
) -> Result<(), String> {
    let mut id = Some(identity(&file.metadata().map_err(|e| e.to_string())?));
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let len = file.metadata().map_err(|e| e.to_string())?.len();
        if len < offset {
            // Truncated in place: read it again from the start.
            offset = 0;
            pending.clear();
        }
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| e.to_string())?;
        loop {
            let n = file.read(&mut buf).map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            offset += n as u64;
            pending.extend_from_slice(&buf[..n]);
            while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let text = String::from_utf8_lossy(&line);
                if let Some(v) = parse(&text, filter)?
                    && out.record(text.trim_end(), &v).is_err()
                {
                    return Ok(());
                }
            }
            if pending.len() > MAX_LINE {
                return Err(format!(
                    "a line longer than {MAX_LINE} bytes at byte {offset}"
                ));
            }
        }
        // Nothing new: has the path been rotated to a new file?
        let now = std::fs::metadata(path).ok().map(|m| identity(&m));
        // The old file was read to its end above; the new one is read from its start.
        if now.is_some()
            && now != id
            && let Ok(f) = File::open(path)
        {
            file = f;
            id = now;
            offset = 0;
            pending.clear();
            continue;
        }
        // A reader that went away is noticed when the next record is written.
        std::thread::sleep(POLL);
    }
}
