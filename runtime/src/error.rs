//! The ways loading or calling a tool can end, as one typed enum an embedder can match.
//!
//! Every variant maps to one exit code of the CLI contract (DESIGN.md) and to a short `kind`
//! used in `error[KIND]` messages and audit records. Error text is user interface: it names what
//! happened, the value that caused it and, through [`Error::hint`], what to do next.

use std::path::PathBuf;
use std::time::Duration;

use crate::limits::LimitKind;

/// Why a tool was refused before anything of it ran.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The bytes are a core WebAssembly module, not a component.
    #[error("this is a core WebAssembly module, not a component")]
    NotAComponent,
    /// The bytes are not WebAssembly at all.
    #[error("not a WebAssembly binary (bad magic bytes)")]
    NotWasm,
    /// The component failed to parse, validate or compile.
    #[error("invalid component: {0}")]
    InvalidComponent(String),
    /// The component imports interfaces the host does not serve.
    #[error("the component imports what the host does not provide: {}", .0.join(", "))]
    UnsupportedImports(Vec<String>),
    /// The component exports neither `wasmgov:tool/tool` nor `wasi:cli/run`.
    #[error(
        "the component exports neither wasmgov:tool/tool@0.1 nor wasi:cli/run@0.2 (exports: {})",
        if .0.is_empty() { "none".to_string() } else { .0.join(", ") }
    )]
    NoToolExport(Vec<String>),
    /// A bind would expose a protected path: wasmgov's state, cache, audit log or audit key,
    /// its trust store or policy, or a secret's source file.
    #[error(
        "bind of {guest} to {} overlaps the protected path {}",
        host.display(),
        protected.display()
    )]
    ProtectedPath {
        /// Guest path.
        guest: String,
        /// Host directory of the bind.
        host: PathBuf,
        /// The protected path it overlaps.
        protected: PathBuf,
    },
    /// A directory of the grant could not be bound.
    #[error(transparent)]
    Bind(#[from] wasmgov_host_api::fs::BindError),
    /// A secret of the grant could not be read or bound (the message never holds its value).
    #[error(transparent)]
    Secret(#[from] wasmgov_host_api::secrets::SecretError),
}

impl Refusal {
    /// Short kind for `error[KIND]`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotAComponent => "not-a-component",
            Self::NotWasm => "not-wasm",
            Self::InvalidComponent(_) => "invalid-component",
            Self::UnsupportedImports(_) => "unsupported-imports",
            Self::NoToolExport(_) => "no-tool-export",
            Self::ProtectedPath { .. } => "protected-path",
            Self::Bind(_) => "bind",
            Self::Secret(_) => "secret",
        }
    }

    /// What the operator can do about it.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Self::NotAComponent => {
                "build the tool for `wasm32-wasip2` (rustc links a component), or \
                wrap the module with `wasm-tools component new`"
                    .into()
            }
            Self::NotWasm => "pass the `.wasm` file of a WASI 0.2 component".into(),
            Self::InvalidComponent(_) => "the file is damaged or was built for another \
                component-model version; rebuild it"
                .into(),
            Self::UnsupportedImports(_) => "a tool may import WASI 0.2 and wasmgov:tool/host@0.1 \
                only; remove the other imports"
                .into(),
            Self::NoToolExport(_) => "export wasmgov:tool/tool (use wasmgov-sdk's `export_tool!`) \
                or build a command with `fn main`"
                .into(),
            Self::ProtectedPath { .. } => "bind a directory that holds none of wasmgov's state, \
                cache, audit log, audit key, trust store or policy, and no secret's source file \
                (keep /run/secrets-style directories out of every bind)"
                .into(),
            Self::Bind(b) => b.hint().into(),
            Self::Secret(_) => "provide the value with --secret NAME=@FILE or NAME=env:VAR, or \
                in the policy's [secrets]"
                .into(),
        })
    }
}

/// A limit a call ran into, and how far the call got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitHit {
    /// Which limit.
    pub kind: LimitKind,
    /// Its value (fuel units, bytes, milliseconds or calls, by kind).
    pub limit: u64,
    /// What the call used or asked for when it stopped, in the same unit.
    pub used: u64,
    /// Wall time until the call stopped.
    pub elapsed: Duration,
    /// Fuel burned until then.
    pub fuel_used: u64,
}

impl std::fmt::Display for LimitHit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = self.elapsed.as_millis();
        match self.kind {
            LimitKind::Fuel => write!(f, "fuel limit of {} reached after {ms} ms", self.limit),
            LimitKind::Memory => write!(
                f,
                "memory limit of {} bytes reached: the tool asked for {} bytes (after {ms} ms, {} fuel)",
                self.limit, self.used, self.fuel_used
            ),
            LimitKind::Timeout => write!(
                f,
                "timeout of {} ms reached (ran {ms} ms, {} fuel)",
                self.limit, self.fuel_used
            ),
            LimitKind::Stack => write!(
                f,
                "wasm stack limit of {} bytes overflowed (after {ms} ms, {} fuel)",
                self.limit, self.fuel_used
            ),
            LimitKind::Output => write!(
                f,
                "output limit of {} bytes reached: result, stdout and stderr were cut there \
                 (after {ms} ms, {} fuel)",
                self.limit, self.fuel_used
            ),
            LimitKind::HostCalls => write!(
                f,
                "host-call limit of {} reached (after {ms} ms, {} fuel)",
                self.limit, self.fuel_used
            ),
            LimitKind::HostMemory => write!(
                f,
                "host-memory limit of {} bytes reached: the tool asked the host to hold {} bytes \
                 (after {ms} ms, {} fuel)",
                self.limit, self.used, self.fuel_used
            ),
            LimitKind::Write => write!(
                f,
                "write quota of {} bytes reached: the tool asked to add {} bytes to its \
                 read-write binds (after {ms} ms, {} fuel)",
                self.limit, self.used, self.fuel_used
            ),
            LimitKind::Files => write!(
                f,
                "new-file quota of {} reached: the tool asked to create file, directory or link \
                 number {} in its read-write binds (after {ms} ms, {} fuel)",
                self.limit, self.used, self.fuel_used
            ),
        }
    }
}

/// The tool's own error: it ran and said no.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolFailure {
    /// The tool rejected its input.
    #[error("the tool rejected its input: {0}")]
    InvalidInput(String),
    /// The tool could not do the work.
    #[error("the tool failed: {0}")]
    Failed(String),
    /// A command tool exited with a non-zero status.
    #[error("the tool exited with status {0}")]
    Exit(i32),
}

/// Everything that can go wrong loading or calling a tool.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Refused before running (exit 3).
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The package failed verification: manifest, signature, trust, pin or policy (exit 3).
    #[error(transparent)]
    Package(#[from] crate::package::RefusalError),
    /// A limit was hit (exit 4).
    #[error("{0}")]
    Limit(LimitHit),
    /// The tool trapped (exit 5).
    #[error("the tool trapped: {message}")]
    Trap {
        /// The trap and its wasm backtrace.
        message: String,
    },
    /// The tool returned its own error (exit 1).
    #[error(transparent)]
    Tool(#[from] ToolFailure),
    /// A file could not be read or written (exit 2).
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Every call slot was taken and the call asked not to wait (exit 6).
    #[error("busy: every call slot is taken")]
    Busy,
    /// The call was cancelled by its caller (exit 6).
    #[error("the call was cancelled")]
    Cancelled,
    /// The audit log could not be written, so the call was stopped (exit 6).
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
    /// The host failed (exit 6).
    #[error("internal error: {0}")]
    Internal(String),
    /// A detection rule stopped the call (exit 3).
    #[error("stopped by detection rule {rule}: {message}")]
    Stopped {
        /// The rule.
        rule: String,
        /// The finding's message.
        message: String,
    },
    /// The tool is quarantined (exit 3).
    #[error("`{key}` is quarantined since {since} by rule {rule}: {message}")]
    Quarantined {
        /// The quarantine key (`NAME PUBLISHER`, `NAME unsigned`, `component:SHA256`).
        key: String,
        /// The rule that quarantined it.
        rule: String,
        /// When.
        since: String,
        /// The finding's message.
        message: String,
    },
    /// The component is on the operator's deny list (exit 3).
    #[error("component sha256:{sha256} is on the policy's deny list")]
    DenyListed {
        /// The component's digest.
        sha256: String,
    },
    /// The detection state (quarantine list, baselines) cannot be used (exit 6).
    #[error(transparent)]
    DetectState(#[from] crate::detect::quarantine::QuarantineError),
}

impl Error {
    /// The CLI exit code for this outcome (DESIGN.md "CLI").
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Tool(_) => 1,
            Self::Io { .. } => 2,
            Self::Refused(_)
            | Self::Package(_)
            | Self::Stopped { .. }
            | Self::Quarantined { .. }
            | Self::DenyListed { .. } => 3,
            Self::Limit(_) => 4,
            Self::Trap { .. } => 5,
            Self::Busy
            | Self::Cancelled
            | Self::Audit(_)
            | Self::Internal(_)
            | Self::DetectState(_) => 6,
        }
    }

    /// Short kind for `error[KIND]`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Refused(r) => r.kind(),
            Self::Package(p) => p.kind(),
            Self::Limit(l) => match l.kind {
                LimitKind::Fuel => "limit-fuel",
                LimitKind::Memory => "limit-memory",
                LimitKind::Timeout => "limit-timeout",
                LimitKind::Stack => "limit-stack",
                LimitKind::Output => "limit-output",
                LimitKind::HostCalls => "limit-host-calls",
                LimitKind::HostMemory => "limit-host-memory",
                LimitKind::Write => "limit-write",
                LimitKind::Files => "limit-files",
            },
            Self::Trap { .. } => "trap",
            Self::Tool(ToolFailure::InvalidInput(_)) => "tool-invalid-input",
            Self::Tool(_) => "tool-failed",
            Self::Io { .. } => "io",
            Self::Busy => "busy",
            Self::Cancelled => "cancelled",
            Self::Audit(_) => "audit",
            Self::Internal(_) => "internal",
            Self::Stopped { .. } => "stopped",
            Self::Quarantined { .. } => "quarantined",
            Self::DenyListed { .. } => "deny-listed",
            Self::DetectState(_) => "detect-state",
        }
    }

    /// What to do next, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Refused(r) => r.hint(),
            Self::Package(p) => p.hint(),
            Self::Limit(l) => Some(match l.kind {
                LimitKind::Stack => "the wasm stack size is fixed by the engine; the tool \
                    recursed too deeply"
                    .into(),
                k => format!(
                    "raise `{k}` in the manifest's [limits] (within the policy's ceiling), or \
                     fix the tool"
                ),
            }),
            Self::Trap { .. } => Some("this is a bug in the tool, not in its input".into()),
            Self::Tool(_) => None,
            Self::Io { .. } => Some("check the path and its permissions".into()),
            Self::Busy => Some("retry later, or call with Admission::Wait".into()),
            Self::Cancelled => None,
            Self::Audit(a) => Some(a.hint()),
            Self::Internal(_) => Some("please report this with the command that caused it".into()),
            Self::Stopped { .. } => Some(
                "the finding is in the audit log (`wasmgov audit show LOG --kind finding`); if \
                 this behaviour is expected, tune the rule's [[detect]] entry in the policy"
                    .into(),
            ),
            Self::Quarantined { key, .. } => Some(format!(
                "review its findings (`wasmgov audit show LOG --kind finding`), then release it \
                 with `wasmgov quarantine release '{key}'`"
            )),
            Self::DenyListed { .. } => Some(
                "the operator refused this exact build; get another release from the publisher"
                    .into(),
            ),
            Self::DetectState(_) => Some(
                "check the state directory's permissions; a corrupt quarantine.json must be \
                 repaired or removed by the operator"
                    .into(),
            ),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
