//! `wasmgov quarantine list|release`: the tools detection took out of service.

use std::path::PathBuf;

use wasmgov::detect::Quarantine;

use crate::flags::{QuarantineCommand, QuarantineListArgs, QuarantineReleaseArgs};
use crate::report::usage;

pub fn run(c: QuarantineCommand) -> anyhow::Result<i32> {
    match c {
        QuarantineCommand::List(a) => list(a),
        QuarantineCommand::Release(a) => release(a),
    }
}

fn state(explicit: &Option<PathBuf>) -> anyhow::Result<PathBuf> {
    super::state_dir(explicit)?.ok_or_else(|| {
        usage(
            "no state directory: neither --state nor $XDG_STATE_HOME/$HOME is set",
            Some("pass --state DIR (the one `wasmgov run` and `serve` use)".into()),
        )
    })
}

fn list(a: QuarantineListArgs) -> anyhow::Result<i32> {
    let dir = state(&a.state)?;
    let q = Quarantine::new(&dir);
    let entries = q.list().map_err(wasmgov::Error::from)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&entries)?);
        return Ok(0);
    }
    if entries.is_empty() {
        println!("no tool is quarantined ({})", q.path().display());
        return Ok(0);
    }
    let p = wasmgov::audit::show::printable;
    for (key, e) in &entries {
        println!(
            "{}  rule {}  since {}  call {}\n    {} ({})",
            p(key),
            p(&e.rule),
            p(&e.since),
            p(&e.call),
            p(&e.message),
            p(&e.tool)
        );
    }
    Ok(0)
}

fn release(a: QuarantineReleaseArgs) -> anyhow::Result<i32> {
    let dir = state(&a.state)?;
    // The log first: a release nobody can read about does not happen.
    let log = super::audit::log_path(a.audit.as_deref(), Some(&dir))?;
    let audit = wasmgov::Audit::file(&log).map_err(wasmgov::Error::Audit)?;
    let q = Quarantine::new(&dir);
    let released = q.release(&a.tool).map_err(wasmgov::Error::from)?;
    if released.is_empty() {
        let known: Vec<String> = q
            .list()
            .map_err(wasmgov::Error::from)?
            .into_keys()
            .collect();
        return Err(usage(
            format!("`{}` is not quarantined", a.tool),
            Some(if known.is_empty() {
                "no tool is quarantined".into()
            } else {
                format!("quarantined: {}", known.join(", "))
            }),
        ));
    }
    let by = whoami();
    for (key, e) in &released {
        audit
            .record_release(key, &by, &e.rule)
            .map_err(wasmgov::Error::Audit)?;
        println!(
            "released `{}` (quarantined by {} since {})",
            wasmgov::audit::show::printable(key),
            e.rule,
            e.since
        );
    }
    Ok(0)
}

/// The local user, as the audit record names who released.
fn whoami() -> String {
    let uid = {
        // SAFETY: geteuid has no preconditions and cannot fail.
        unsafe { libc::geteuid() }
    };
    match std::env::var("USER") {
        Ok(u) if !u.is_empty() => format!("{u} (uid {uid})"),
        _ => format!("uid {uid}"),
    }
}
