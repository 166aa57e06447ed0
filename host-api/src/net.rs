//! Network capability. Until a grant opens it, a tool has no network at all: wasmtime 48 changed
//! the socket defaults between releases, so every switch is set explicitly here rather than
//! trusting a default.

use std::future::ready;

use wasmtime_wasi::WasiCtxBuilder;

/// Deny TCP, UDP, name lookups and every socket address.
pub(crate) fn deny_all(b: &mut WasiCtxBuilder) {
    b.allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .socket_addr_check(|_, _| Box::pin(ready(false)));
}
