//! The raw-wasmtime baseline shared by the benchmarks and the `raw-run` example: store data with
//! an empty WASI context, and a linker serving WASI plus a no-op `wasmgov:tool/host`. No limits,
//! no policy, no audit — what wasmgov is measured against.

use wasmtime::Engine;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use wasmgov_host_api::bindings::PluginPre;
use wasmgov_host_api::bindings::wasmgov::tool::host;

/// Store data of the raw baseline: a WASI context and nothing else.
pub struct Raw {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl Raw {
    /// An empty context: no files, env, args or network.
    pub fn new() -> Self {
        Self {
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
        }
    }
}

impl WasiView for Raw {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl host::Host for Raw {
    fn log(&mut self, _: host::Level, _: String) -> wasmtime::Result<()> {
        Ok(())
    }
}

/// Link and pre-instantiate `component` for [`Raw`] stores.
pub fn pre(engine: &Engine, component: &Component) -> wasmtime::Result<PluginPre<Raw>> {
    let mut linker = Linker::<Raw>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    host::add_to_linker::<Raw, HasSelf<Raw>>(&mut linker, |s| s)?;
    PluginPre::new(linker.instantiate_pre(component)?)
}
