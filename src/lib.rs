//! wasmgov: run AI-agent tools as WebAssembly components under signed, audited capability limits.
//!
//! This crate is the `wasmgov` CLI and a re-export of the library it is built on
//! ([`wasmgov_runtime`]). An embedder builds a [`Runtime`] once, loads [`Tool`]s from it and calls
//! them; each call runs in a fresh sandbox under limits.
//!
//! ```no_run
//! # async fn demo(wasm: &[u8]) -> Result<(), wasmgov::Error> {
//! let rt = wasmgov::Runtime::builder().build()?;
//! let tool = rt.load_component(wasm, wasmgov::Limits::default())?;
//! let out = tool.call(r#"{"text":"hello world"}"#).await?;
//! println!("{}", String::from_utf8_lossy(&out));
//! # Ok(()) }
//! ```

pub use wasmgov_runtime::*;
