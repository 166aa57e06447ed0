//! From an effective grant to the sandbox configuration host-api enforces.
//!
//! The grant was decided by the runtime (manifest ∩ policy ∩ operator flags); this is the only
//! place it crosses into host-api, so a capability the grant does not name cannot appear in a
//! sandbox. Secret values are read here, once, at load: a secret that cannot be read fails the
//! load (a tool that expects a credential should not run without it and fail in confusing ways).

use std::sync::Arc;

use wasmgov_host_api::SandboxConfig;
use wasmgov_host_api::fs::Bind;
use wasmgov_host_api::net::{AddressPolicy, NetConfig, Resolver};
use wasmgov_host_api::secrets::{SecretBinding, SecretError};

use crate::error::Refusal;
use crate::grant::Grant;
use crate::names::Access;
use crate::net_pattern::NetPattern;

/// The sandbox of each call under `grant`, resolving names with `resolver`.
///
/// Each bind is opened here, once, as a directory handle that every call of the tool is served
/// from; the grant resolved and checked its path just before.
pub(crate) fn config_for(
    grant: &Grant,
    resolver: Arc<dyn Resolver>,
) -> Result<SandboxConfig, Refusal> {
    let binds = grant
        .fs
        .iter()
        .map(|f| {
            Bind::open(&f.host, f.guest.as_ref(), f.access != Access::ReadWrite).map(|mut b| {
                b.sensitive = f.sensitive;
                b
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
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
    let net = NetConfig {
        rules: grant.net.iter().map(NetPattern::rule).collect(),
        addresses: AddressPolicy {
            cidrs: grant.cidrs.clone(),
        },
        resolver,
        max_response_body: None,
    };
    let mut secrets = Vec::with_capacity(grant.secrets.len());
    for s in &grant.secrets {
        let value = s.source.read().map_err(|e| SecretError::Unreadable {
            name: s.name.to_string(),
            source_desc: s.source.to_string(),
            reason: e.kind().to_string(),
        })?;
        if value.is_empty() {
            return Err(SecretError::Unreadable {
                name: s.name.to_string(),
                source_desc: s.source.to_string(),
                reason: "the value is empty".into(),
            }
            .into());
        }
        secrets.push(SecretBinding::new(
            s.name.as_str(),
            s.host.rule(),
            &s.header,
            &s.format,
            &value,
        )?);
    }
    Ok(SandboxConfig {
        binds,
        env,
        net,
        secrets,
        timeout: Some(grant.limits.timeout),
        ..SandboxConfig::default()
    })
}
