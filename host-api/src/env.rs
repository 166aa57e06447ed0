//! Environment capability: a tool sees only the variables its grant names, with the operator's
//! values. Nothing is inherited from the host process, so canaries in the host environment
//! (`AWS_SECRET_ACCESS_KEY`, …) never reach a tool. No arguments and no cwd are given either.

use wasmtime_wasi::WasiCtxBuilder;

/// Give the tool exactly `vars`.
pub(crate) fn apply(b: &mut WasiCtxBuilder, vars: &[(String, String)]) {
    for (k, v) in vars {
        b.env(k, v);
    }
}
