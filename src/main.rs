//! The `wasmgov` command: parse flags, call the library, print. Nothing here that an embedder
//! would also need.

mod cmd;
mod flags;
mod logging;
mod paths;
mod progress;
mod report;

use clap::Parser;

fn main() {
    raise_fd_limit();
    let cli = flags::Cli::parse();
    let code = match cmd::dispatch(cli) {
        Ok(code) => code,
        Err(e) => report::error(&e),
    };
    std::process::exit(code);
}

/// Raise the soft open-files limit to the hard one: a call may hold up to
/// `wasmgov_host_api::fs_gov::MAX_FDS` host fds, and the usual soft limit (1024) is far below
/// what the hard limit allows. Failure leaves the limit as it was (the per-call cap still holds).
#[cfg(unix)]
fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit for getrlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0
        || lim.rlim_cur >= lim.rlim_max
    {
        return;
    }
    lim.rlim_cur = lim.rlim_max;
    // SAFETY: `lim` is a valid rlimit; raising the soft limit up to the hard one needs no
    // privilege, and a failure changes nothing.
    unsafe {
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
}

#[cfg(not(unix))]
fn raise_fd_limit() {}
