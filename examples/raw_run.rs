//! The baseline of the process benchmark: the least a wasmtime process must do to run a tool.
//!
//! `raw-run precompile TOOL.wasm OUT.cwasm` compiles once; `raw-run run OUT.cwasm INPUT` loads
//! the precompiled component, instantiates it with an empty WASI context and calls it: no
//! manifest, signature, policy, limits or audit.

use wasmtime::component::Component;
use wasmtime::{Config, Engine, Store};

#[path = "../benches/support/raw.rs"]
mod raw;
use raw::Raw;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let engine = Engine::new(Config::new().wasm_component_model(true))?;
    match args.as_slice() {
        [cmd, wasm, out] if cmd == "precompile" => {
            std::fs::write(out, engine.precompile_component(&std::fs::read(wasm)?)?)?;
            Ok(())
        }
        [cmd, cwasm, input] if cmd == "run" => {
            // SAFETY: the file was written by `precompile` above with this same engine
            // configuration, on this machine; it is not untrusted input.
            let component = unsafe { Component::deserialize_file(&engine, cwasm)? };
            let pre = raw::pre(&engine, &component)?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let out = rt.block_on(async {
                let mut store = Store::new(&engine, Raw::new());
                let inst = pre.instantiate_async(&mut store).await?;
                inst.wasmgov_tool_tool().call_call(&mut store, input).await
            })?;
            match out {
                Ok(s) => println!("{s}"),
                Err(e) => anyhow::bail!("tool error: {e:?}"),
            }
            Ok(())
        }
        _ => anyhow::bail!(
            "usage: raw-run precompile TOOL.wasm OUT.cwasm | raw-run run OUT.cwasm INPUT"
        ),
    }
}
