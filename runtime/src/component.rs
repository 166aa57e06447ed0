//! Turning bytes into a runnable component, refusing anything the host will not run.
//!
//! Checks, in order: WebAssembly magic (a core module is named as such), compile (wasmtime
//! validates everything; the artifact store, [`crate::artifacts`], makes a second load cheap),
//! every import served by the host (all unserved imports are listed at once, never stubbed
//! with traps), and a tool export: `wasmgov:tool/tool` (tool world) or `wasi:cli/run` (command).

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};
use wasmtime_wasi::p2::bindings::CommandPre;

use wasmgov_host_api::Sandbox;
use wasmgov_host_api::bindings::PluginPre;

use crate::artifacts::ArtifactStore;
use crate::error::{Error, Refusal};

const WASM_MAGIC: &[u8; 4] = b"\0asm";
const CORE_MODULE_VERSION: [u8; 4] = [0x01, 0x00, 0x00, 0x00];

/// Which kind of tool a component is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorldKind {
    /// Exports `wasmgov:tool/tool`: `describe` and `call` with JSON text.
    Tool,
    /// Exports `wasi:cli/run`: input on stdin, result on stdout.
    Command,
}

impl std::fmt::Display for WorldKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Tool => "tool (wasmgov:tool/tool@0.1)",
            Self::Command => "command (wasi:cli/run@0.2)",
        })
    }
}

/// What `wasmgov inspect` shows about a component.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ComponentInfo {
    /// Lowercase hex SHA-256 of the bytes.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// Tool or command.
    pub world: WorldKind,
    /// Imported interfaces, with versions.
    pub imports: Vec<String>,
    /// Exported interfaces, with versions.
    pub exports: Vec<String>,
}

/// A compiled, checked component ready to be instantiated many times.
#[derive(Clone)]
pub(crate) enum Prepared {
    Tool(PluginPre<Sandbox>),
    Command(CommandPre<Sandbox>),
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Refuse bytes that are not a component before handing them to the compiler.
pub(crate) fn precheck(bytes: &[u8]) -> Result<(), Refusal> {
    if bytes.len() < 8 || &bytes[..4] != WASM_MAGIC {
        return Err(Refusal::NotWasm);
    }
    if bytes[4..8] == CORE_MODULE_VERSION {
        return Err(Refusal::NotAComponent);
    }
    Ok(())
}

/// Compile (or map from `artifacts`), check imports and exports, and pre-instantiate.
pub(crate) fn prepare(
    engine: &Engine,
    linker: &Linker<Sandbox>,
    artifacts: Option<&ArtifactStore>,
    bytes: &[u8],
) -> Result<(Prepared, ComponentInfo), Error> {
    precheck(bytes)?;
    let sha256 = sha256_hex(bytes);
    let component = match artifacts {
        Some(store) => store.load(engine, &sha256, bytes),
        None => Component::new(engine, bytes),
    }
    .map_err(|e| Refusal::InvalidComponent(format!("{:#}", e.root_cause())))?;
    let ty = component.component_type();
    let imports: Vec<String> = ty.imports(engine).map(|(n, _)| n.to_string()).collect();
    let exports: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_string()).collect();
    let unsupported: Vec<String> = imports
        .iter()
        .filter(|n| !wasmgov_host_api::is_supported_import(n))
        .cloned()
        .collect();
    if !unsupported.is_empty() {
        return Err(Refusal::UnsupportedImports(unsupported).into());
    }
    let world = if exports
        .iter()
        .any(|e| e.starts_with("wasmgov:tool/tool@0.1."))
    {
        WorldKind::Tool
    } else if exports.iter().any(|e| e.starts_with("wasi:cli/run@0.2.")) {
        WorldKind::Command
    } else {
        return Err(Refusal::NoToolExport(exports).into());
    };
    let pre = linker
        .instantiate_pre(&component)
        .map_err(|e| Refusal::InvalidComponent(format!("{e:#}")))?;
    let prepared = match world {
        WorldKind::Tool => Prepared::Tool(
            PluginPre::new(pre).map_err(|e| Refusal::InvalidComponent(format!("{e:#}")))?,
        ),
        WorldKind::Command => Prepared::Command(
            CommandPre::new(pre).map_err(|e| Refusal::InvalidComponent(format!("{e:#}")))?,
        ),
    };
    let info = ComponentInfo {
        sha256,
        size: bytes.len() as u64,
        world,
        imports,
        exports,
    };
    Ok((prepared, info))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_modules_and_garbage_are_named() {
        assert!(matches!(
            precheck(b"\0asm\x01\0\0\0"),
            Err(Refusal::NotAComponent)
        ));
        assert!(matches!(
            precheck(b"MZ\x90\0garbage"),
            Err(Refusal::NotWasm)
        ));
        assert!(matches!(precheck(b""), Err(Refusal::NotWasm)));
        assert!(precheck(b"\0asm\x0d\0\x01\0").is_ok());
    }
}
