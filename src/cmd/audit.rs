//! `wasmgov audit verify|show` (`tail` and `report` have files of their own), and the audit sink of `wasmgov run`.

use std::io::Write;
use std::path::{Path, PathBuf};

use wasmgov::audit::show::{self, Filter};
use wasmgov::audit::verify::{self as chain, VerifyOptions};
use wasmgov::audit::{CheckpointKey, CheckpointVerifier};
use wasmgov::{Audit, AuditOptions};

use crate::flags::{AuditCommand, AuditShowArgs, AuditVerifyArgs, RunArgs};
use crate::report::usage;

pub fn run(c: AuditCommand) -> anyhow::Result<i32> {
    match c {
        AuditCommand::Verify(a) => verify(a),
        AuditCommand::Show(a) => show(a),
        AuditCommand::Tail(a) => super::audit_tail::run(a),
        AuditCommand::Report(a) => super::audit_report::run(a),
    }
}

/// The audit log of a command: `--audit FILE`, else `STATE/audit.jsonl`; with neither, a usage
/// error (no call runs unaudited).
pub(crate) fn log_path(explicit: Option<&Path>, state: Option<&Path>) -> anyhow::Result<PathBuf> {
    match (explicit, state) {
        (Some(p), _) => Ok(p.to_path_buf()),
        (None, Some(dir)) => Ok(dir.join("audit.jsonl")),
        (None, None) => Err(usage(
            "no audit log: neither --audit, --state nor $XDG_STATE_HOME/$HOME is set",
            Some("pass --audit FILE".into()),
        )),
    }
}

/// The records `a`'s flags select (`audit show` and `audit tail` take the same).
pub(crate) fn filter_of(a: &AuditShowArgs) -> Filter {
    Filter {
        tool: a.tool.clone(),
        call: a.call.clone(),
        decision: a.decision.clone(),
        kind: a.kind.clone(),
    }
}

/// Open an audit log to read; failure is a usage error.
pub(crate) fn open_log(path: &Path) -> anyhow::Result<std::fs::File> {
    std::fs::File::open(path).map_err(|e| {
        usage(
            format!("cannot read audit log {}: {e}", path.display()),
            None,
        )
    })
}

/// The audit sink of `wasmgov run`: `--audit FILE`, else `STATE/audit.jsonl`. A run without
/// an audit log is refused: no call runs unaudited.
pub(crate) fn open_for_run(a: &RunArgs, state: Option<&Path>) -> anyhow::Result<Audit> {
    let path = log_path(a.audit.as_deref(), state)?;
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
    let cannot = |e: std::io::Error| {
        usage(
            format!("cannot read audit log {}: {e}", a.file.display()),
            None,
        )
    };
    let bar = crate::progress::for_file(&a.file, "verifying");
    let file = std::fs::File::open(&a.file).map_err(cannot)?;
    let rep = chain::verify(std::io::BufReader::new(bar.wrap_read(file)), &opts).map_err(cannot);
    bar.finish_and_clear();
    let rep = rep?;
    let mut out = std::io::stdout().lock();
    if let Some(p) = &rep.problem {
        writeln!(
            out,
            "FAILED {}: {p}\n{} records before it verify.",
            a.file.display(),
            rep.records
        )?;
        unfinished(&mut out, &rep, "before it ")?;
        return Ok(1);
    }
    if opts.key.is_none() && a.require_key {
        writeln!(
            out,
            "FAILED {}: checkpoints were not verified (no --key), and --require-key asks for \
             them\n{} records verify as a chain only.",
            a.file.display(),
            rep.records
        )?;
        return Ok(1);
    }
    if opts.key.is_some() {
        writeln!(
            out,
            "OK {}: {} records, {} calls, {} host calls, {} checkpoints verified",
            a.file.display(),
            rep.records,
            rep.calls,
            rep.host_calls,
            rep.checkpoints
        )?;
    } else {
        writeln!(
            out,
            "OK {}: {} records, {} calls, {} host calls; {} checkpoint records NOT verified (no --key)",
            a.file.display(),
            rep.records,
            rep.calls,
            rep.host_calls,
            rep.unverified_checkpoints
        )?;
        writeln!(
            out,
            "warning: without --key only the chain's self-consistency is checked: whoever can \
             write the file can rewrite it with fresh hashes (pass --key PUB, or --require-key \
             to make this a failure)"
        )?;
    }
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
    unfinished(&mut out, &rep, "")?;
    Ok(0)
}

/// Name the calls with a start and no end (`before` says where they are, for a damaged log).
/// A log that verifies with such calls still verifies (exit 0): a crash is not tampering.
fn unfinished(
    out: &mut impl Write,
    rep: &chain::VerifyReport,
    before: &str,
) -> std::io::Result<()> {
    if rep.unfinished.is_empty() {
        return Ok(());
    }
    const SHOWN: usize = 5;
    let shown: Vec<String> = rep
        .unfinished
        .iter()
        .take(SHOWN)
        .map(ToString::to_string)
        .collect();
    let more = rep.unfinished.len().saturating_sub(SHOWN);
    writeln!(
        out,
        "warning: {} calls {before}have a start and no end record (killed mid-call, the audit \
         disk full, or still running): {}{}",
        rep.unfinished.len(),
        shown.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    )
}

fn show(a: AuditShowArgs) -> anyhow::Result<i32> {
    let filter = filter_of(&a);
    let unreadable = |e: String| usage(format!("{}: {e}", a.file.display()), None);
    // Streamed either way, so a log of any size goes through in constant memory. The table
    // reads the file twice: once for the column widths, once to print.
    let mut layout = show::Layout::default();
    let mut rows = 0usize;
    if !a.json {
        // The first pass prints nothing, so a bar on a terminal's stderr is safe here.
        let bar = crate::progress::for_file(&a.file, "reading");
        let log = open_log(&a.file)?;
        let measured = show::for_each(
            std::io::BufReader::new(bar.wrap_read(log)),
            &filter,
            |_, v| {
                layout.fit(&show::row(&v).1);
                rows += 1;
                Ok(())
            },
        );
        bar.finish_and_clear();
        measured.map_err(unreadable)?;
    }
    let mut out = std::io::stdout().lock();
    let mut write_failed: Option<std::io::Error> = None;
    let mut emit = |text: &str| {
        out.write_all(text.as_bytes()).map_err(|e| {
            write_failed = Some(e);
            String::new()
        })
    };
    let log = std::io::BufReader::new(open_log(&a.file)?);
    let read = if a.json {
        show::for_each(log, &filter, |line, _| emit(&format!("{line}\n")))
    } else {
        let header = layout.header();
        emit(&header).and_then(|()| {
            // Only the rows measured: a live log may have grown since.
            let mut left = rows;
            show::for_each(log, &filter, |_, v| {
                if left == 0 {
                    return Ok(());
                }
                left -= 1;
                let (call, cells) = show::row(&v);
                emit(&layout.line(&call, &cells))
            })
        })
    };
    match (read, write_failed) {
        (Ok(()), _) => Ok(0),
        // The reader went away (`| head`): done.
        (Err(_), Some(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        (Err(_), Some(e)) => Err(e.into()),
        (Err(e), None) => Err(unreadable(e)),
    }
}
