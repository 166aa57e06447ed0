//! Hot reload: watch the tools directory and serve what it holds now.
//!
//! A change is picked up after a short quiet period (a package is three files, usually copied one
//! after another), the directory is scanned again against the catalog being served (unchanged
//! packages kept as loaded, changed ones verified and loaded again, a refused new version leaves
//! the old one serving), and the new catalog replaces the old one. Calls in flight keep the
//! catalog they started with. Where the platform's file watcher is unavailable, the directory is
//! polled. It is also scanned every [`RESCAN`] whatever happens, so a release that expires while
//! it is served stops being served.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::catalog::{Catalog, Refused};
use crate::error::ServeError;
use crate::server::Server;

/// How long the directory must be quiet before it is scanned again.
pub const SETTLE: Duration = Duration::from_millis(300);
/// How often the directory is polled when no watcher is available.
const POLL: Duration = Duration::from_secs(2);
/// How often the directory is scanned even when nothing changed (releases expire).
pub const RESCAN: Duration = Duration::from_secs(60);

/// Scan `dir` again and serve the result; returns whether the served tools changed. Refusals that
/// are new since the last scan are logged.
pub async fn rescan(server: &Server, dir: &Path) -> Result<bool, ServeError> {
    let previous = server.catalog();
    let next = Catalog::scan_async(server.runtime(), dir, Some(previous.clone())).await?;
    log_changes(&previous, &next);
    Ok(server.replace_catalog(next))
}

fn log_changes(old: &Catalog, new: &Catalog) {
    for r in new.refused() {
        if !old.refused().contains(r) {
            log_refusal(r);
        }
    }
    for (name, s) in new.served() {
        match old.get(name) {
            None => tracing::info!(tool = %name, package = %s.stem, "now serving"),
            Some(o) if o.fingerprint != s.fingerprint => {
                tracing::info!(tool = %name, package = %s.stem, "now serving the new version")
            }
            Some(_) => {}
        }
    }
    for name in old.served().keys() {
        if new.get(name).is_none() {
            tracing::info!(tool = %name, "no longer served");
        }
    }
}

/// Log why a package is not served.
pub fn log_refusal(r: &Refused) {
    match &r.kept {
        Some(kept) => tracing::warn!(
            package = %r.stem,
            "new version not served, {kept} keeps serving the old one: error[{}]: {}",
            r.kind,
            r.reason
        ),
        None => tracing::warn!(package = %r.stem, "not served: error[{}]: {}", r.kind, r.reason),
    }
}

/// The platform's file watcher on `dir`, else a poller; `None` when not even a poller can be
/// made.
fn watcher<H>(dir: &Path, handler: H) -> Option<Box<dyn Watcher + Send>>
where
    H: notify::EventHandler + Clone,
{
    match notify::recommended_watcher(handler.clone()) {
        Ok(mut w) => match w.watch(dir, RecursiveMode::NonRecursive) {
            Ok(()) => return Some(Box::new(w)),
            Err(e) => tracing::warn!("cannot watch {}: {e}; polling instead", dir.display()),
        },
        Err(e) => tracing::warn!("no file watcher: {e}; polling {} instead", dir.display()),
    }
    let config = notify::Config::default().with_poll_interval(POLL);
    match notify::PollWatcher::new(handler, config) {
        Ok(mut w) => {
            if let Err(e) = w.watch(dir, RecursiveMode::NonRecursive) {
                tracing::error!("cannot poll {}: {e}; reload is off", dir.display());
            }
            Some(Box::new(w))
        }
        Err(e) => {
            tracing::error!("cannot poll {}: {e}; reload is off", dir.display());
            None
        }
    }
}

/// Watch `dir` and rescan on changes until `shutdown` is cancelled.
pub async fn watch(server: Server, dir: PathBuf, shutdown: CancellationToken) {
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let handler = move |_res: notify::Result<notify::Event>| {
        let _ = tx.send(());
    };
    let Some(_watcher) = watcher(&dir, handler) else {
        shutdown.cancelled().await;
        return;
    };
    let mut periodic = tokio::time::interval(RESCAN);
    periodic.tick().await;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            got = rx.recv() => if got.is_none() { return },
            _ = periodic.tick() => {}
        }
        // Let the burst of events of one copy settle.
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(SETTLE) => break,
                got = rx.recv() => if got.is_none() { return },
            }
        }
        if let Err(e) = rescan(&server, &dir).await {
            tracing::error!("reload failed, still serving the previous tools: {e}");
        }
    }
}
