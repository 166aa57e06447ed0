//! The one linker every call is instantiated against.
//!
//! It serves all of WASI 0.2 and outgoing `wasi:http` (each call decided by the sandbox's grant)
//! and `wasmgov:tool/host`.
//! Nothing else: a component importing anything outside [`SUPPORTED_INTERFACES`] is refused at
//! load with the list of what it asked for, never stubbed with traps.

use wasmtime::Engine;
use wasmtime::component::{HasSelf, Linker};

use crate::bindings::wasmgov::tool::host;
use crate::fs_gov::GovFsData;
use crate::sandbox::Sandbox;

/// Every interface a tool may import (without version), each served and gated by the host.
pub const SUPPORTED_INTERFACES: &[&str] = &[
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/wall-clock",
    "wasi:filesystem/types",
    "wasi:filesystem/preopens",
    "wasi:http/types",
    "wasi:http/outgoing-handler",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:sockets/network",
    "wasi:sockets/instance-network",
    "wasi:sockets/tcp",
    "wasi:sockets/tcp-create-socket",
    "wasi:sockets/udp",
    "wasi:sockets/udp-create-socket",
    "wasi:sockets/ip-name-lookup",
    "wasmgov:tool/host",
    "wasmgov:tool/types",
];

/// Host calls, as (interface, function), that take no argument a grant decides on and change
/// nothing outside the sandbox: reading a clock or its resolution, a random `u64` or seed, a
/// pollable's or an output stream's readiness, and making a stream's pollable. The audit log
/// may record a run of identical ones as one record with a count (DESIGN.md, "Audit log").
///
/// Deliberately absent: `get-random-bytes` and `get-insecure-random-bytes` (their `len` is a
/// size the host bounds), `subscribe-duration` and `subscribe-instant` (they carry a time),
/// `poll` (a list of pollables), `pollable.block` (it waits, so a record costs nothing next to
/// it, and each wait keeps its own time), and every call that reads or writes data.
pub const SIDE_EFFECT_FREE: &[(&str, &str)] = &[
    ("wasi:clocks/monotonic-clock", "now"),
    ("wasi:clocks/monotonic-clock", "resolution"),
    ("wasi:clocks/wall-clock", "now"),
    ("wasi:clocks/wall-clock", "resolution"),
    ("wasi:random/random", "get-random-u64"),
    ("wasi:random/insecure", "get-insecure-random-u64"),
    ("wasi:random/insecure-seed", "insecure-seed"),
    ("wasi:io/poll", "[method]pollable.ready"),
    ("wasi:io/streams", "[method]output-stream.check-write"),
    ("wasi:io/streams", "[method]output-stream.subscribe"),
    ("wasi:io/streams", "[method]input-stream.subscribe"),
];

/// Whether an import name such as `wasi:cli/stdout@0.2.4` is one the host serves.
///
/// WASI imports must be 0.2.x (the linker matches semver-compatibly within 0.2);
/// `wasmgov:tool/host` must be 0.1.x.
pub fn is_supported_import(name: &str) -> bool {
    let (base, version) = match name.split_once('@') {
        Some((b, v)) => (b, Some(v)),
        None => (name, None),
    };
    if !SUPPORTED_INTERFACES.contains(&base) {
        return false;
    }
    let want = if base.starts_with("wasi:") {
        "0.2."
    } else {
        "0.1."
    };
    version.is_some_and(|v| v.starts_with(want))
}

/// A linker serving WASI 0.2 and `wasmgov:tool/host` for [`Sandbox`] stores.
pub fn build_linker(engine: &Engine) -> wasmtime::Result<Linker<Sandbox>> {
    let mut linker = Linker::<Sandbox>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    // The filesystem is served by the governor (held binds, special-file refusal, fd cap, write
    // quota) over the stock implementation; the generated bindings are the same, so each call
    // keeps its tracing span.
    linker.allow_shadowing(true);
    wasmtime_wasi::p2::bindings::filesystem::types::add_to_linker::<Sandbox, GovFsData>(
        &mut linker,
        Sandbox::fs_view,
    )?;
    wasmtime_wasi::p2::bindings::filesystem::preopens::add_to_linker::<Sandbox, GovFsData>(
        &mut linker,
        Sandbox::fs_view,
    )?;
    linker.allow_shadowing(false);
    // Clock and random reads: recorded without a tracing span (see `crate::quiet`).
    crate::quiet::add_to_linker(&mut linker)?;
    // wasi:http/types through the view that charges the call's host-memory budget.
    crate::http_types::add_to_linker(&mut linker)?;
    host::add_to_linker::<Sandbox, HasSelf<Sandbox>>(&mut linker, |s| s)?;
    Ok(linker)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_effect_free_calls_are_of_served_interfaces_and_never_sized_or_waiting() {
        for (iface, func) in SIDE_EFFECT_FREE {
            assert!(SUPPORTED_INTERFACES.contains(iface), "{iface}");
            assert!(!func.contains("bytes") && !func.contains("block"), "{func}");
        }
    }

    #[test]
    fn only_known_interfaces_at_known_versions_are_supported() {
        assert!(is_supported_import("wasi:cli/stdout@0.2.4"));
        assert!(is_supported_import("wasmgov:tool/host@0.1.0"));
        assert!(!is_supported_import("wasi:cli/stdout"));
        assert!(!is_supported_import("wasi:cli/stdout@0.3.0"));
        assert!(is_supported_import("wasi:http/outgoing-handler@0.2.4"));
        assert!(!is_supported_import("wasi:http/incoming-handler@0.2.4"));
        assert!(!is_supported_import("evil:host/exec@1.0.0"));
    }
}
