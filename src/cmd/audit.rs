//! `wasmgov audit verify|show`, and the audit sink of `wasmgov run`.

use std::io::Write;
use std::path::Path;

use wasmgov::audit::show::{self, Filter};
use wasmgov::audit::verify::{VerifyOptions, verify_file};
use wasmgov::audit::{CheckpointKey, CheckpointVerifier};
use wasmgov::{Audit, AuditOptions};

use crate::flags::{AuditCommand, AuditShowArgs, AuditVerifyArgs, RunArgs};
use crate::report::usage;

pub fn run(c: AuditCommand) -> anyhow::Result<i32> {
    match c {
        AuditCommand::Verify(a) => verify(a),
        AuditCommand::Show(a) => show(a),
    }
}

/// The audit sink of `wasmgov run`: `--audit FILE`, else `STATE/audit.jsonl`. A run without
/// an audit log is refused: no call runs unaudited.
pub(crate) fn open_for_run(a: &RunArgs, state: Option<&Path>) -> anyhow::Result<Audit> {
    let path = match (&a.audit, state) {
        (Some(p), _) => p.clone(),
        (None, Some(dir)) => dir.join("audit.jsonl"),
        (None, None) => {
            return Err(usage(
                "no audit log: neither --audit, --state nor $XDG_STATE_HOME/$HOME is set",
                Some("pass --audit FILE".into()),
            ));
        }
    };
    let checkpoint_key =
        match &a.audit_key {
            Some(k) => {
                let key = wasmgov::signature::load_private_key(k).map_err(|e| {
                    usage(
                        format!("cannot use --audit-key: {e}"),
                        Some("create one with `wasmgov keygen -f FILE`".into()),
                    )
                })?;
                Some(CheckpointKey::from_ssh(&key).map_err(|e| {
                    usage(format!("cannot use --audit-key {}: {e}", k.display()), None)
                })?)
            }
            None => None,
        };
    Ok(Audit::open(
        &path,
        AuditOptions {
            checkpoint_key,
            fsync: true,
        },
    )
    .map_err(wasmgov::Error::Audit)?)
}

fn verify(a: AuditVerifyArgs) -> anyhow::Result<i32> {
    let key = match &a.key {
        Some(p) => {
            let pk = wasmgov::signature::load_public_key(p)
                .map_err(|e| usage(format!("cannot use --key: {e}"), None))?;
            Some(
                CheckpointVerifier::from_ssh(&pk)
                    .map_err(|e| usage(format!("cannot use --key {}: {e}", p.display()), None))?,
            )
        }
        None => None,
    };
    let opts = VerifyOptions {
        key,
        expect_head: a.head.clone(),
    };
    let rep = verify_file(&a.file, &opts).map_err(|e| {
        usage(
            format!("cannot read audit log {}: {e}", a.file.display()),
            None,
        )
    })?;
    let mut out = std::io::stdout().lock();
    if let Some(p) = &rep.problem {
        writeln!(
            out,
            "FAILED {}: {p}\n{} records before it verify.",
            a.file.display(),
            rep.records
        )?;
        return Ok(1);
    }
    writeln!(
        out,
        "OK {}: {} records, {} calls, {} checkpoints",
        a.file.display(),
        rep.records,
        rep.calls,
        rep.checkpoints
    )?;
    if let Some((seq, hash)) = &rep.head {
        writeln!(
            out,
            "head {seq}:{hash}  (keep it; `--head {seq}:{hash}` later detects records cut off the end)"
        )?;
    }
    if opts.key.is_some() && rep.after_last_checkpoint > 0 {
        writeln!(
            out,
            "warning: the last {} records come after the last checkpoint: no signature vouches for them (a call in progress, or appended by someone else)",
            rep.after_last_checkpoint
        )?;
    }
    if rep.unsigned_loads > 0 {
        writeln!(
            out,
            "warning: {} tool loads ran UNSIGNED manifests (--allow-unsigned)",
            rep.unsigned_loads
        )?;
    }
    if !rep.unfinished.is_empty() {
        const SHOWN: usize = 5;
        let more = rep.unfinished.len().saturating_sub(SHOWN);
        writeln!(
            out,
            "warning: {} calls have a start and no end record (killed mid-call, or still running): {}{}",
            rep.unfinished.len(),
            rep.unfinished[..rep.unfinished.len().min(SHOWN)].join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        )?;
    }
    Ok(0)
}

fn show(a: AuditShowArgs) -> anyhow::Result<i32> {
    let f = std::fs::File::open(&a.file).map_err(|e| {
        usage(
            format!("cannot read audit log {}: {e}", a.file.display()),
            None,
        )
    })?;
    let filter = Filter {
        tool: a.tool.clone(),
        call: a.call.clone(),
        decision: a.decision.clone(),
    };
    let reader = std::io::BufReader::new(f);
    let mut out = std::io::stdout().lock();
    let unreadable = |e: String| usage(format!("{}: {e}", a.file.display()), None);
    if a.json {
        // Streamed: a log of any size, and `| head` stops it early.
        let mut write_failed: Option<std::io::Error> = None;
        let read = show::for_each(reader, &filter, |line, _| {
            writeln!(out, "{line}").map_err(|e| {
                write_failed = Some(e);
                String::new()
            })
        });
        match (read, write_failed) {
            (Ok(()), _) => {}
            (Err(_), Some(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            (Err(_), Some(e)) => return Err(e.into()),
            (Err(e), None) => return Err(unreadable(e)),
        }
    } else {
        let records = show::read(reader, &filter).map_err(unreadable)?;
        out.write_all(show::table(&records).as_bytes())?;
    }
    Ok(0)
}
