//! Filesystem capability: only bound directories exist for a tool.
//!
//! Each bind maps a guest path to a host directory at read or read-write. wasmtime-wasi resolves
//! every path through cap-std, so `..`, absolute paths and symlinks (pre-existing or created by
//! the tool) cannot leave the bind; a read bind refuses every mutation (`FsPerms::ReadOnly`).

use std::path::PathBuf;

use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

/// One directory bound into the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    /// Host directory.
    pub host: PathBuf,
    /// Absolute guest path.
    pub guest: String,
    /// Whether the tool may only read.
    pub read_only: bool,
}

/// A bind whose host directory could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot bind {guest} to {host}: {source}")]
pub struct BindError {
    /// Guest path.
    pub guest: String,
    /// Host path.
    pub host: String,
    /// Why.
    #[source]
    pub source: wasmtime::Error,
}

/// Preopen each bind at its access.
pub(crate) fn apply(b: &mut WasiCtxBuilder, binds: &[Bind]) -> Result<(), BindError> {
    for d in binds {
        let perms = if d.read_only {
            FsPerms::ReadOnly
        } else {
            FsPerms::ReadWrite
        };
        b.preopened_dir(&d.host, &d.guest, perms)
            .map_err(|source| BindError {
                guest: d.guest.clone(),
                host: d.host.display().to_string(),
                source,
            })?;
    }
    Ok(())
}
