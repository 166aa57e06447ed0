//! wasmgov runtime: load a tool, verify it, decide its grant, and run it under limits.
//!
//! Data flows one way: the CLI (or an embedder) calls into this crate, which verifies the package
//! (manifest, signature, trust, policy), compiles the component once, and runs each call in a
//! fresh sandbox built by `wasmgov-host-api`.

mod artifacts;
pub mod audit;
pub mod cancel;
pub mod component;
pub mod describe;
pub mod detect;
pub mod engine;
pub mod error;
pub mod grant;
pub mod invoke;
pub mod limits;
pub mod manifest;
pub mod metrics;
pub mod names;
pub mod net_pattern;
pub mod package;
pub mod pattern;
pub mod pin;
pub mod policy;
mod private_dir;
pub mod ratchet;
pub mod runtime;
mod sandbox;
pub mod signature;
mod state_file;
pub mod toml_doc;
pub mod trust;

pub use audit::{Audit, AuditError, AuditOptions};
pub use cancel::CancelToken;
pub use component::{ComponentInfo, WorldKind};
pub use describe::ToolDescription;
pub use engine::{Allocator, EngineSettings};
pub use error::{Error, LimitHit, Refusal, ToolFailure};
pub use grant::Grant;
pub use invoke::{CallOutcome, CallStats};
pub use limits::{LimitKind, LimitOverrides, Limits};
pub use package::{RefusalError, Verified};
pub use runtime::{
    Admission, CallOptions, LoadOptions, Runtime, RuntimeBuilder, Tool, signature_path,
};
pub use wasmgov_host_api::net::{
    AddressClass, ResolveFuture, Resolver, SystemResolver, address_class,
};
