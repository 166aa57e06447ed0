//! The host side of everything a wasmgov tool can import.
//!
//! This crate owns the `wasmgov:tool` WIT package (`wit/`), the per-call sandbox state that
//! backs every import, and the linker that serves them. Each capability lives in a module of its
//! own that owns its enforcement; a tool gets nothing that its sandbox configuration does not
//! name. The runtime decides *what* a call may do; this crate makes sure the call can do no more.
#![deny(missing_docs)]

pub mod bindings;
pub mod clocks;
mod env;
pub mod fs;
pub mod fs_gov;
pub mod host;
pub mod host_memory;
pub mod http;
pub mod http_types;
pub mod limiter;
pub mod linker;
pub mod net;
pub mod output;
pub mod quiet;
pub mod redact;
pub mod sandbox;
pub mod secrets;

pub use host_memory::{HostMemory, HostMemoryExceeded};
pub use limiter::{MemoryLimitExceeded, MemoryLimiter};
pub use linker::{SIDE_EFFECT_FREE, SUPPORTED_INTERFACES, build_linker, is_supported_import};
pub use output::{OutputBudget, OutputLimitExceeded};
pub use sandbox::{GuestLog, Sandbox, SandboxConfig};
