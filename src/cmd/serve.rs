//! `wasmgov serve`: the signed tool packages of a directory as an MCP server.

use std::io::Write;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use wasmgov_serve::{
    Catalog, HttpListener, HttpOptions, ServeError, Server, ServerOptions, Tokens,
};

use crate::flags::ServeArgs;
use crate::report::usage;

/// Largest `--max-body`.
const MAX_BODY_CEILING: u64 = 64 * 1024 * 1024;
/// How long stdio's transport keeps writing after the drain, so the last responses go out.
const STDIO_FLUSH: Duration = Duration::from_millis(200);
/// Instances the runtime keeps beyond `--max-concurrent` for reloads.
const DESCRIBE_SLOTS: u32 = 2;
/// Longest `--drain-timeout`.
const MAX_DRAIN: Duration = Duration::from_secs(24 * 60 * 60);
/// Default `--max-body`.
const DEFAULT_MAX_BODY: u64 = 4 * 1024 * 1024;

/// A server failure as the CLI reports it.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct Failed(#[from] pub ServeError);

/// Run `wasmgov serve`.
pub fn run(a: ServeArgs) -> anyhow::Result<i32> {
    if !a.tools.is_dir() {
        return Err(usage(
            format!("--tools {} is not a directory", a.tools.display()),
            Some("give the directory of NAME.wasm + NAME.toml + NAME.toml.sig packages".into()),
        ));
    }
    if a.drain_timeout.0 > MAX_DRAIN {
        return Err(usage(
            format!("--drain-timeout {} is over the 24h cap", a.drain_timeout),
            Some("calls have their own timeouts; the drain waits at most for the longest".into()),
        ));
    }
    let max_body = a.max_body.map_or(DEFAULT_MAX_BODY, |b| b.0);
    if !(1024..=MAX_BODY_CEILING).contains(&max_body) {
        return Err(usage(
            format!("--max-body {max_body} bytes is outside 1 KiB ..= 64 MiB"),
            None,
        ));
    }
    if a.http.is_none() && a.tokens.is_some() {
        return Err(usage(
            "--tokens authenticates HTTP callers; stdio has none",
            Some("add --http ADDR, or drop --tokens".into()),
        ));
    }
    let tokens = match &a.tokens {
        Some(p) => Some(Tokens::load(p).map_err(ServeError::from).map_err(Failed)?),
        None => None,
    };
    let state = super::state_dir(&a.state)?;
    let op = super::trust::load(&a.trust)?;
    if a.http.is_some() && !op.policy.callers.is_empty() && tokens.is_none() {
        return Err(Failed(ServeError::CallersWithoutTokens).into());
    }
    let audit_path = super::audit::log_path(a.audit.as_deref(), state.as_deref())?;
    let audit = wasmgov::Audit::open(
        &audit_path,
        wasmgov::AuditOptions {
            checkpoint_key: None,
            fsync: a.audit_fsync,
        },
    )
    .map_err(wasmgov::Error::Audit)?;
    // Metrics count what the audit log records; the OTLP export, if any, sends it (and counts
    // its own failures and drops among the metrics).
    let otlp = super::otlp::start(&a.otlp)?;
    let mut metrics = wasmgov::metrics::Metrics::new();
    if let Some(x) = &otlp {
        x.register_metrics(metrics.registry_mut());
        audit.observe(x.clone());
    }
    let metrics = std::sync::Arc::new(metrics);
    audit.observe(metrics.clone());
    let rt = super::operator_builder(op, state.as_deref(), false)
        // Spare instances beyond the call slots, for the `describe` of packages a reload loads
        // while every slot is busy.
        .allocator(wasmgov::Allocator::Pooling {
            max_concurrent: a.max_concurrent + DESCRIBE_SLOTS,
        })
        .observe(a.observe)
        .audit(audit)
        .detection(wasmgov::detect::DetectOptions {
            findings_file: a.findings.clone(),
            off: false,
        })
        .build()?;
    init_logging();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let code = runtime.block_on(serve(a, rt, tokens, max_body as usize, metrics));
    runtime.shutdown_timeout(Duration::from_millis(500));
    if let Some(x) = &otlp {
        super::otlp::finish(x);
    }
    code
}

/// Diagnostics go to stderr (stdout is the protocol on stdio); `WASMGOV_LOG` sets the filter.
/// rmcp is quiet by default: it logs an ERROR for every cancelled request
/// (`WASMGOV_LOG=warn,rmcp=debug` shows it).
fn init_logging() {
    crate::logging::init("warn,rmcp=off,wasmgov_serve=info", true);
}

/// `--check`: what would be served, and why not.
/// Package files are a publisher's bytes: their words are shown, never interpreted by the
/// terminal.
fn print_check(catalog: &Catalog) -> i32 {
    use wasmgov::audit::show::printable as p;
    // A refusal names files and manifest text a publisher wrote: no control character of theirs
    // reaches the terminal, only the message's own line breaks.
    let lines = |s: &str| s.lines().map(p).collect::<Vec<_>>().join("\n");
    let mut out = std::io::stdout().lock();
    for (name, s) in catalog.served() {
        let m = &s.verified().manifest.tool;
        let _ = writeln!(
            out,
            "serve   {:<28} {}.toml  {}@{} by {} (sequence {})",
            p(name),
            p(&s.stem),
            m.name,
            p(&m.version),
            p(&m.publisher),
            m.sequence
        );
    }
    for r in catalog.refused() {
        let _ = writeln!(
            out,
            "refuse  {:<28} error[{}]: {}",
            p(&r.stem),
            r.kind,
            lines(&r.reason)
        );
        if let Some(h) = &r.hint {
            let _ = writeln!(out, "        {:<28} hint: {}", "", lines(h));
        }
    }
    let _ = writeln!(
        out,
        "{} served, {} refused",
        catalog.served().len(),
        catalog.refused().len()
    );
    if catalog.refused().is_empty() { 0 } else { 3 }
}

async fn serve(
    a: ServeArgs,
    rt: wasmgov::Runtime,
    tokens: Option<Tokens>,
    max_body: usize,
    metrics: std::sync::Arc<wasmgov::metrics::Metrics>,
) -> anyhow::Result<i32> {
    let catalog = Catalog::scan_async(&rt, &a.tools, None)
        .await
        .map_err(Failed)?;
    if a.check {
        return Ok(print_check(&catalog));
    }
    for r in catalog.refused() {
        wasmgov_serve::reload::log_refusal(r);
    }
    let refused = match catalog.refused().len() {
        0 => String::new(),
        n => format!(" ({n} refused; `--check` says why)"),
    };
    eprintln!(
        "wasmgov serve: {} tools from {}{refused}",
        catalog.served().len(),
        a.tools.display(),
    );
    let server = Server::new(
        rt,
        catalog,
        ServerOptions {
            max_concurrent: a.max_concurrent as usize,
            max_queued: a.max_queued as usize,
        },
    );
    let shutdown = CancellationToken::new();
    tokio::spawn(wasmgov_serve::reload::watch(
        server.clone(),
        a.tools.clone(),
        shutdown.clone(),
    ));
    tokio::spawn(drain_on_signal(
        server.clone(),
        a.drain_timeout.0,
        shutdown.clone(),
    ));
    let served = match a.http {
        Some(addr) => {
            let listener = HttpListener::bind(HttpOptions {
                addr,
                tokens,
                allowed_hosts: a.allow_host.clone(),
                allowed_origins: a.allow_origin.clone(),
                max_body,
                metrics: Some(metrics),
                ..HttpOptions::default()
            })
            .await
            .map_err(Failed)?;
            eprintln!(
                "wasmgov serve: listening on http://{}/mcp",
                listener.local_addr()
            );
            listener.run(server, shutdown.clone()).await
        }
        None => {
            let stdio_end = CancellationToken::new();
            let end = stdio_end.clone();
            let stop = shutdown.clone();
            // The last drained call's response is written before the transport is stopped.
            tokio::spawn(async move {
                stop.cancelled().await;
                tokio::time::sleep(STDIO_FLUSH).await;
                end.cancel();
            });
            wasmgov_serve::stdio::serve_stdio(server, max_body, stdio_end).await
        }
    };
    shutdown.cancel();
    served.map_err(Failed)?;
    Ok(0)
}

/// On SIGTERM or SIGINT: stop taking calls, let those in flight finish (up to `grace`), then
/// stop the transports.
async fn drain_on_signal(server: Server, grace: Duration, shutdown: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::error!("cannot handle SIGTERM; stop the server with SIGKILL");
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
            () = shutdown.cancelled() => return,
        }
    }
    #[cfg(not(unix))]
    {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = shutdown.cancelled() => return,
        }
    }
    server.start_draining();
    let n = server.in_flight();
    eprintln!("wasmgov serve: draining {n} calls in flight (up to {grace:?})");
    if tokio::time::timeout(grace, server.drained()).await.is_err() {
        eprintln!(
            "wasmgov serve: {} calls still running after {grace:?}: stopping them",
            server.in_flight()
        );
    }
    shutdown.cancel();
}
