//! Host bindings generated from `wit/tool.wit` (world `wasmgov:tool/plugin`).
//!
//! Every import is `tracing`-instrumented so the audit capture sees it like a WASI import.
#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: "wit",
    world: "wasmgov:tool/plugin",
    imports: { default: tracing | trappable },
    exports: { default: async },
});
