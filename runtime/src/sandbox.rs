//! From an effective grant to the sandbox configuration host-api enforces.
//!
//! The grant was decided by the runtime (manifest ∩ policy ∩ operator flags); this is the only
//! place it crosses into host-api, so a capability the grant does not name cannot appear in a
//! sandbox.

use wasmgov_host_api::SandboxConfig;
use wasmgov_host_api::fs::Bind;

use crate::grant::Grant;
use crate::names::Access;

/// The sandbox of each call under `grant`.
pub(crate) fn config_for(grant: &Grant) -> SandboxConfig {
    let binds = grant
        .fs
        .iter()
        .map(|f| Bind {
            host: f.host.clone(),
            guest: f.guest.to_string(),
            read_only: f.access != Access::ReadWrite,
        })
        .collect();
    // A declared, allowed variable without an operator value takes the host's value if it has
    // one; otherwise the tool does not see it at all.
    let env = grant
        .env
        .iter()
        .filter_map(|e| {
            let value = e
                .value
                .clone()
                .or_else(|| std::env::var(e.name.as_str()).ok())?;
            Some((e.name.to_string(), value))
        })
        .collect();
    SandboxConfig {
        binds,
        env,
        ..SandboxConfig::default()
    }
}
