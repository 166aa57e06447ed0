//! One module per subcommand; each returns the process exit code.

mod assess;
mod audit;
mod audit_report;
mod audit_tail;
mod describe;
mod explain;
mod inspect;
mod keys;
pub(crate) mod otlp;
mod pin;
mod quarantine;
mod run;
pub(crate) mod serve;
mod suggest;
mod token;
mod trust;
mod verify;

use std::path::{Path, PathBuf};

use crate::flags::{Cli, Command, ManifestCommand};
use crate::report::usage;

/// Run the chosen subcommand.
pub fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Run(a) => run::run(*a),
        Command::Describe(a) => describe::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Keygen(a) => keys::keygen(a),
        Command::Sign(a) => keys::sign(a),
        Command::Verify(a) => verify::run(a),
        Command::Pin(a) => pin::run(a),
        Command::Explain(a) => explain::run(a),
        Command::Audit(c) => audit::run(c),
        Command::Serve(a) => serve::run(*a),
        Command::Token(c) => token::run(c),
        Command::Quarantine(c) => quarantine::run(c),
        Command::Assess(a) => assess::run(a),
        Command::Suggest(a) => suggest::run(a),
        Command::Manifest(ManifestCommand::Schema) => {
            println!("{}", wasmgov::manifest::Manifest::json_schema());
            Ok(0)
        }
    }
}

/// Read a file the user named; failure is a usage error (exit 2).
pub(crate) fn read_file(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        usage(
            format!("cannot read {what} {}: {e}", path.display()),
            Some("check the path and its permissions".to_string()),
        )
    })
}

/// A runtime for one-shot CLI use: on-demand allocation (a pool costs more to create than one
/// call saves), the compile cache under the state directory, and the audit log there (a
/// `describe` runs the tool, and no tool runs unaudited).
pub(crate) fn cli_runtime(state: Option<&Path>) -> anyhow::Result<wasmgov::Runtime> {
    let mut b = wasmgov::Runtime::builder().allocator(wasmgov::Allocator::OnDemand);
    if let Some(dir) = state
        .map(Path::to_path_buf)
        .or_else(crate::paths::state_dir)
    {
        let audit = wasmgov::Audit::file(dir.join("audit.jsonl")).map_err(wasmgov::Error::Audit)?;
        b = b.cache_dir(dir.join("cache")).audit(audit);
    }
    Ok(b.build()?)
}

/// The state directory: `--state`, else `$XDG_STATE_HOME/wasmgov`. Absolute, so a relative
/// `--state` means the same directory to the ratchet and the compile cache (which requires an
/// absolute path). Created if missing and checked before anything in it is opened (the audit
/// log is, before the runtime is built): one that others may write, or that its owner may not
/// use, is refused (`error[io]`, exit 2).
pub(crate) fn state_dir(explicit: &Option<PathBuf>) -> anyhow::Result<Option<PathBuf>> {
    match explicit.clone().or_else(crate::paths::state_dir) {
        Some(dir) => {
            let dir = std::path::absolute(&dir).map_err(|e| {
                crate::report::usage(
                    format!("cannot resolve --state {}: {e}", dir.display()),
                    None,
                )
            })?;
            wasmgov::runtime::ensure_state_dir(&dir)?;
            Ok(Some(dir))
        }
        None => Ok(None),
    }
}

/// A one-shot runtime under the operator's policy, trust store and revoked keys (whose files no
/// tool may have bound), with the ratchet and the compile cache in `state`.
pub(crate) fn operator_builder(
    op: trust::Operator,
    state: Option<&Path>,
    allow_unsigned: bool,
) -> wasmgov::RuntimeBuilder {
    let mut b = wasmgov::Runtime::builder()
        .allocator(wasmgov::Allocator::OnDemand)
        .policy(op.policy)
        .allow_unsigned(allow_unsigned);
    if let Some(t) = op.trust {
        b = b.trust(t);
    }
    if let Some(r) = op.revoked {
        b = b.revoked(r);
    }
    for f in &op.files {
        b = b.protect(f);
    }
    if let Some(dir) = state {
        b = b.state_dir(dir).cache_dir(dir.join("cache"));
    }
    b
}

/// A current-thread tokio runtime for one call.
///
/// A host call can leave a blocking-pool thread stuck in the kernel after the call ended at its
/// deadline (an `open(2)` of a FIFO that raced the type check, a hung network filesystem): the
/// thread cannot be cancelled, and dropping the runtime would wait for it forever. Everything
/// the call had to say is written by then (the audit writer flushes each record before the call
/// returns), so the runtime is shut down without waiting for such threads for more than
/// [`SHUTDOWN_GRACE`], and the process exits.
pub(crate) fn block_on<F: std::future::Future>(f: F) -> anyhow::Result<F::Output> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let out = rt.block_on(f);
    rt.shutdown_timeout(SHUTDOWN_GRACE);
    Ok(out)
}

/// How long the CLI waits for blocking host threads after its call has ended.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_millis(200);
