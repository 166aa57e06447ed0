//! One call's sandbox: the store data behind every import.
//!
//! A sandbox is built fresh for each call from a [`SandboxConfig`] and dropped with the call's
//! store, so nothing of one call is visible to the next. It starts from nothing: stdin is the
//! call's input (or empty), stdout and stderr are captured under the output budget, and each
//! capability (files, env, network) is added only by its own module from the grant.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime_wasi::filesystem::WasiFilesystemCtxView;
use wasmtime_wasi::p2::pipe::MemoryInputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::clocks;
use crate::fs_gov::{FsGov, GovFs};
use crate::host_memory::HostMemory;
use crate::http::HttpPolicy;
use crate::limiter::MemoryLimiter;
use crate::net::NetConfig;
use crate::output::{CappedPipe, OutputBudget};
use crate::quiet::QuietRecorder;
use crate::secrets::SecretBinding;
use crate::{env, fs, net};

/// What one call's sandbox may see and use. Everything absent is denied.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Bytes the tool reads on stdin (a command tool's input).
    pub stdin: Vec<u8>,
    /// Linear-memory cap, bytes.
    pub memory: u64,
    /// Cap on result + stdout + stderr + log lines, bytes.
    pub output: u64,
    /// Directories bound into the guest.
    pub binds: Vec<fs::Bind>,
    /// Environment variables the tool sees.
    pub env: Vec<(String, String)>,
    /// Where the tool may connect (HTTP and raw TCP).
    pub net: NetConfig,
    /// Secrets added host-side to matching outgoing requests.
    pub secrets: Vec<SecretBinding>,
    /// The call's wall-time limit: network timeouts are clamped to what is left of it
    /// (`None`: the default of 30 s).
    pub timeout: Option<Duration>,
    /// What the host may hold for the call (HTTP fields and bodies, stream buffers, handles),
    /// bytes.
    pub host_memory: u64,
    /// Bytes the call may add to its read-write binds.
    pub write_bytes: u64,
    /// New inodes (files, directories, links) the call may create in its read-write binds.
    pub write_files: u64,
    /// Learning mode: an empty directory served as `/` whose every path is refused with a
    /// record of what it would have needed (see [`crate::fs_gov::FsGov::observing`]).
    pub observe_root: Option<fs::Bind>,
    /// Granularity of the wall and monotonic clocks (`None`:
    /// [`clocks::DEFAULT_GRANULARITY`](crate::clocks::DEFAULT_GRANULARITY)).
    pub clock_granularity: Option<Duration>,
}

/// The default of [`SandboxConfig::host_memory`].
pub const DEFAULT_HOST_MEMORY: u64 = 16 << 20;
/// The default of [`SandboxConfig::write_bytes`].
pub const DEFAULT_WRITE_BYTES: u64 = 64 << 20;
/// The default of [`SandboxConfig::write_files`].
pub const DEFAULT_WRITE_FILES: u64 = 1000;

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            stdin: Vec::new(),
            memory: 0,
            output: 0,
            binds: Vec::new(),
            env: Vec::new(),
            net: NetConfig::default(),
            secrets: Vec::new(),
            timeout: None,
            host_memory: DEFAULT_HOST_MEMORY,
            write_bytes: DEFAULT_WRITE_BYTES,
            write_files: DEFAULT_WRITE_FILES,
            observe_root: None,
            clock_granularity: None,
        }
    }
}

/// A log line the tool wrote through `wasmgov:tool/host.log`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestLog {
    /// `trace`, `debug`, `info`, `warn` or `error`.
    pub level: &'static str,
    /// The message (cut at [`crate::host::MAX_LOG_MESSAGE`]).
    pub message: String,
}

/// The store data of one call.
pub struct Sandbox {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    http_hooks: HttpPolicy,
    table: ResourceTable,
    /// Memory accounting and cap.
    pub limiter: MemoryLimiter,
    /// What the host holds for the call, charged against its `host-memory` limit.
    pub host_memory: Arc<HostMemory>,
    /// The shared output budget.
    pub output: Arc<OutputBudget>,
    /// Captured stdout.
    pub stdout: CappedPipe,
    /// Captured stderr.
    pub stderr: CappedPipe,
    /// Lines the tool logged.
    pub logs: Vec<GuestLog>,
    /// Host calls made so far (counted by the runtime's call hook).
    pub host_calls: u64,
    /// Held binds, write quota, fd and listing caps of this call's filesystem.
    pub fs: FsGov,
    /// Told of each clock and random read served without a tracing span ([`crate::quiet`]).
    pub(crate) quiet: Option<Arc<dyn QuietRecorder>>,
}

/// Most handles (files, streams, pollables, HTTP objects) a call may hold open at once. Each
/// entry is small, and the ones that hold buffers are charged to the host-memory budget; this
/// cap bounds the rest (and the host fds behind them).
pub const MAX_HANDLES: usize = 2_000;

/// Bytes the guest may copy into the host in one host call (strings, lists): a string the host
/// keeps is charged to the budget, but the copy itself happens before any charge can refuse it.
pub const HOSTCALL_FUEL: usize = 1 << 20;

/// Host bytes charged per log line on top of its message (the line's own record).
pub const LOG_LINE_OVERHEAD: u64 = size_of::<GuestLog>() as u64;

/// Most bytes of HTTP header fields a tool may build into one `fields` resource.
pub const MAX_HTTP_FIELDS: usize = 64 * 1024;

/// Wall-time assumed for network timeouts when the configuration names none.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

impl Sandbox {
    /// Build a sandbox granting exactly what `config` names; refused if a bind's host path no
    /// longer names the directory held since the grant was made.
    pub fn new(config: SandboxConfig) -> Result<Self, fs::BindError> {
        for b in &config.binds {
            b.verify()?;
        }
        let output = OutputBudget::new(config.output);
        let host_memory = HostMemory::new(config.host_memory);
        let stdout = CappedPipe::new(output.clone());
        // stderr is kept only for the operator, so the host holds it on the call's behalf; stdout
        // is (or carries) the result, whose size the output budget is for.
        let stderr = CappedPipe::new(output.clone()).charging(host_memory.clone());
        let mut b = WasiCtxBuilder::new();
        b.stdin(MemoryInputPipe::new(config.stdin))
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_blocking_current_thread(false)
            // A `get-random-bytes` call may not make the host allocate more than this.
            .max_random_size(1 << 20);
        net::apply_sockets(&mut b, &config.net);
        env::apply(&mut b, &config.env);
        clocks::apply(
            &mut b,
            config
                .clock_granularity
                .unwrap_or(clocks::DEFAULT_GRANULARITY),
        );
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_HANDLES);
        let now = Instant::now();
        // A timeout too large to add is as good as none: clamp instead of overflowing.
        let deadline = now
            .checked_add(config.timeout.unwrap_or(DEFAULT_TIMEOUT))
            .or_else(|| now.checked_add(Duration::from_secs(365 * 24 * 3600)))
            .unwrap_or(now);
        let max_body = config.net.max_response_body.unwrap_or(config.memory);
        let http_hooks = HttpPolicy::new(
            Arc::new(config.net),
            config.secrets.into(),
            deadline,
            max_body,
            host_memory.clone(),
        );
        let mut http = WasiHttpCtx::new();
        http.set_field_size_limit(MAX_HTTP_FIELDS);
        Ok(Self {
            wasi: b.build(),
            http,
            http_hooks,
            table,
            limiter: MemoryLimiter::new(config.memory),
            host_memory,
            output,
            stdout,
            stderr,
            logs: Vec::new(),
            host_calls: 0,
            fs: FsGov::new(config.binds, config.write_bytes, config.write_files)
                .observing(config.observe_root),
            quiet: None,
        })
    }
}

impl Sandbox {
    /// The filesystem as the governor serves it (see [`crate::fs_gov`]).
    pub(crate) fn fs_view(&mut self) -> GovFs<'_> {
        GovFs {
            inner: WasiFilesystemCtxView {
                ctx: self.wasi.filesystem(),
                table: &mut self.table,
            },
            gov: &mut self.fs,
        }
    }

    /// Names of the secrets a server echoed back to this call, masked before the tool could
    /// read them (sorted, deduplicated; never the values). See [`crate::redact`].
    pub fn secrets_echoed(&self) -> Vec<String> {
        self.http_hooks.secrets_echoed()
    }

    /// The `wasi:http` view and the host-memory budget, borrowed together.
    pub(crate) fn http_and_memory(&mut self) -> (WasiHttpCtxView<'_>, &Arc<HostMemory>) {
        (
            WasiHttpCtxView {
                ctx: &mut self.http,
                table: &mut self.table,
                hooks: &mut self.http_hooks,
            },
            &self.host_memory,
        )
    }
}

impl WasiView for Sandbox {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for Sandbox {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.http_hooks,
        }
    }
}
