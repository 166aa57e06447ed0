//! The embedding API: a [`Runtime`] built once, [`Tool`] handles loaded from it, calls on those.
//!
//! A `Runtime` owns the engine, the linker, the epoch thread and the compile cache. A `Tool` is
//! compiled and pre-instantiated once and is cheap to clone; each call builds a fresh sandbox.
//! Calls in flight are bounded by a semaphore sized to the engine's instance pool, so a burst
//! waits for a slot instead of failing inside the allocator.

use std::path::Path;
use std::sync::Arc;

use tokio::sync::Semaphore;
use wasmtime::Engine;
use wasmtime::component::Linker;

use wasmgov_host_api::{Sandbox, SandboxConfig, build_linker};

use crate::component::{ComponentInfo, Prepared, prepare};
use crate::describe::ToolDescription;
use crate::engine::{self, Allocator, EngineSettings, EpochTicker};
use crate::error::Error;
use crate::invoke::{Action, CallOutcome, invoke};
use crate::limits::{LimitOverrides, Limits};

/// Builds a [`Runtime`].
#[derive(Debug, Clone, Default)]
pub struct RuntimeBuilder {
    engine: EngineSettings,
}

impl RuntimeBuilder {
    /// Choose the instance allocator (pooling for servers, on-demand for one-shot runs).
    pub fn allocator(mut self, a: Allocator) -> Self {
        self.engine.allocator = a;
        self
    }

    /// Cache compiled components in `dir` (created 0700). Shared across processes.
    pub fn cache_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.engine.cache_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Largest linear memory any call may get; the pool reserves this per slot.
    pub fn max_memory(mut self, bytes: u64) -> Self {
        self.engine.max_memory = bytes;
        self
    }

    /// Build the engine, the linker and the epoch thread.
    pub fn build(self) -> Result<Runtime, Error> {
        let (engine, cache) = engine::build(&self.engine)?;
        let linker = build_linker(&engine)
            .map_err(|e| Error::Internal(format!("cannot build the linker: {e:#}")))?;
        let ticker = EpochTicker::start(&engine)?;
        let slots = match self.engine.allocator {
            Allocator::Pooling { max_concurrent } => max_concurrent.max(1) as usize,
            Allocator::OnDemand => Semaphore::MAX_PERMITS,
        };
        Ok(Runtime {
            inner: Arc::new(RuntimeInner {
                engine,
                cache,
                linker,
                slots: Arc::new(Semaphore::new(slots)),
                _ticker: ticker,
            }),
        })
    }
}

struct RuntimeInner {
    engine: Engine,
    cache: Option<wasmtime::Cache>,
    linker: Linker<Sandbox>,
    slots: Arc<Semaphore>,
    _ticker: EpochTicker,
}

/// The wasmgov runtime: one engine shared by every tool and call.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<RuntimeInner>,
}

/// What a loaded tool may use: its limits and its sandbox (binds, env).
#[derive(Debug, Clone, Default)]
pub struct Grant {
    /// Limits of each call.
    pub limits: Limits,
    /// Files and environment of each call's sandbox.
    pub sandbox: SandboxConfig,
}

impl Runtime {
    /// Start building a runtime.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    /// Load a component with no manifest: no capability at all and the given limits.
    pub fn load_component(&self, bytes: &[u8], limits: Limits) -> Result<Tool, Error> {
        self.load_with_grant(
            bytes,
            Grant {
                limits,
                sandbox: SandboxConfig::default(),
            },
        )
    }

    /// Load a component under an already decided grant (see [`crate::package::verify`]).
    pub fn load_with_grant(&self, bytes: &[u8], grant: Grant) -> Result<Tool, Error> {
        let (prepared, info) = prepare(&self.inner.engine, &self.inner.linker, bytes)?;
        Ok(Tool {
            inner: Arc::new(ToolInner {
                runtime: self.inner.clone(),
                prepared,
                info,
                grant,
            }),
        })
    }

    /// Compile-cache hits and misses of this runtime's engine so far (zero without a cache).
    pub fn compile_cache_stats(&self) -> (usize, usize) {
        match &self.inner.cache {
            Some(c) => (c.cache_hits(), c.cache_misses()),
            None => (0, 0),
        }
    }
}

struct ToolInner {
    runtime: Arc<RuntimeInner>,
    prepared: Prepared,
    info: ComponentInfo,
    grant: Grant,
}

/// A loaded tool: verified, compiled and pre-instantiated. Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct Tool {
    inner: Arc<ToolInner>,
}

/// Options of one call. They can only narrow what the tool's grant allows.
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    /// Tighter limits for this call.
    pub limits: LimitOverrides,
}

impl Tool {
    /// Digest, size, world, imports and exports of the component.
    pub fn info(&self) -> &ComponentInfo {
        &self.inner.info
    }

    /// The limits each call runs under.
    pub fn limits(&self) -> Limits {
        self.inner.grant.limits
    }

    /// Call the tool on JSON `input` (a command tool gets it on stdin) and return its result.
    pub async fn call(&self, input: &str) -> Result<Vec<u8>, Error> {
        self.run(input.as_bytes(), &CallOptions::default())
            .await
            .result
    }

    /// Call the tool and keep everything the call produced: result, stderr, logs and stats.
    pub async fn run(&self, input: &[u8], opts: &CallOptions) -> CallOutcome {
        self.invoke(Action::Call(input), opts).await
    }

    /// Ask a tool-world component for its name, description and schemas.
    pub async fn describe(&self) -> Result<ToolDescription, Error> {
        let out = self.invoke(Action::Describe, &CallOptions::default()).await;
        let bytes = out.result?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::Internal(format!("describe round-trip failed: {e}")))
    }

    async fn invoke(&self, action: Action<'_>, opts: &CallOptions) -> CallOutcome {
        let rt = &self.inner.runtime;
        // The semaphore is never closed, so acquiring only waits.
        let _permit = rt.slots.clone().acquire_owned().await.ok();
        let limits = self.inner.grant.limits.narrowed(&opts.limits);
        invoke(
            &rt.engine,
            &self.inner.prepared,
            self.inner.grant.sandbox.clone(),
            action,
            limits,
        )
        .await
    }
}
