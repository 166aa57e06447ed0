//! The embedding API: a [`Runtime`] built once, [`Tool`] handles loaded from it, calls on those.
//!
//! A `Runtime` owns the engine, the linker and the artifact store. A `Tool` is
//! compiled and pre-instantiated once and is cheap to clone; each call builds a fresh sandbox.
//! Calls in flight are bounded by a semaphore sized to the engine's instance pool, so a burst
//! waits for a slot instead of failing inside the allocator.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::Semaphore;
use wasmtime::Engine;
use wasmtime::component::Linker;

use wasmgov_host_api::net::{Resolver, SystemResolver};
use wasmgov_host_api::{Sandbox, SandboxConfig, build_linker};

use crate::artifacts::ArtifactStore;
use crate::audit::Audit;
use crate::cancel::CancelToken;
use crate::component::{ComponentInfo, Prepared, prepare};
use crate::describe::ToolDescription;
use crate::detect::{DetectOptions, Detector, ToolKey};
use crate::engine::{self, Allocator, EngineSettings};
use crate::error::{Error, Refusal};
use crate::grant::{CliBind, Grant, SecretSource};
use crate::invoke::{Action, CallOutcome, invoke};
use crate::limits::{LimitOverrides, Limits};
use crate::package::{self, RefusalError, Verified, VerifyOptions};
use crate::policy::Policy;
use crate::ratchet::Ratchet;
use crate::trust::{AllowedSigners, RevokedKeys};

/// Builds a [`Runtime`].
#[derive(Debug, Clone, Default)]
pub struct RuntimeBuilder {
    engine: EngineSettings,
    policy: Option<Policy>,
    trust: Option<AllowedSigners>,
    revoked: Option<RevokedKeys>,
    state_dir: Option<PathBuf>,
    protected: Vec<PathBuf>,
    allow_unsigned: bool,
    resolver: Option<Arc<dyn Resolver>>,
    audit: Option<Audit>,
    detect: DetectOptions,
    observe: bool,
}

impl RuntimeBuilder {
    /// Learning mode: tools run under their grant, nothing more, but what they reach for
    /// outside it reaches the host and is refused with a record of what it would have needed
    /// (`needs`: a path under `/`, an allow-list entry, a private address) for `wasmgov
    /// suggest`. Paths outside every bind are served by an empty, never-read directory as `/`.
    /// Nothing is ever granted automatically.
    pub fn observe(mut self, yes: bool) -> Self {
        self.observe = yes;
        self
    }

    /// Write every load, call and host call to `audit`. Without one, nothing is audited.
    pub fn audit(mut self, audit: Audit) -> Self {
        self.audit = Some(audit);
        self
    }

    /// Where detection findings go besides the audit log (detection runs whenever there is
    /// an audit log; its rules are the policy's `[[detect]]`).
    pub fn detection(mut self, options: DetectOptions) -> Self {
        self.detect = options;
        self
    }

    /// Choose the instance allocator (pooling for servers, on-demand for one-shot runs).
    pub fn allocator(mut self, a: Allocator) -> Self {
        self.engine.allocator = a;
        self
    }

    /// Store compiled components in `dir` (created 0700; each artifact is checked against its
    /// digest before it is mapped). Shared across processes.
    pub fn cache_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.engine.cache_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Largest linear memory any call may get; the pool reserves this per slot.
    pub fn max_memory(mut self, bytes: u64) -> Self {
        self.engine.max_memory = bytes;
        self
    }

    /// The operator policy (default: [`Policy::builtin`], which grants nothing).
    pub fn policy(mut self, p: Policy) -> Self {
        self.policy = Some(p);
        self
    }

    /// The `allowed_signers` trust store (default: none, so every signed manifest is refused).
    pub fn trust(mut self, t: AllowedSigners) -> Self {
        self.trust = Some(t);
        self
    }

    /// Revoked keys; revocation beats trust.
    pub fn revoked(mut self, r: RevokedKeys) -> Self {
        self.revoked = Some(r);
        self
    }

    /// Where the rollback ratchet lives. Without it, signed packages are refused: accepting
    /// them without a ratchet would let an old, validly signed manifest replace a newer one.
    pub fn state_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.state_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// The resolver for host names tools may reach (default: the system's). Tests use a stub
    /// to count and steer lookups.
    pub fn resolver(mut self, r: Arc<dyn Resolver>) -> Self {
        self.resolver = Some(r);
        self
    }

    /// A host path no tool may have bound (in either direction: the bind may be neither inside
    /// it nor contain it) — the operator's trust store, policy, audit key and the like. The
    /// state directory, the compile cache, the audit log and every `file:` secret source (the
    /// policy's, and the `--secret` files of a load) are protected without being named.
    pub fn protect(mut self, path: impl AsRef<Path>) -> Self {
        self.protected.push(path.as_ref().to_path_buf());
        self
    }

    /// Accept manifests without a signature (loud; the operator takes responsibility).
    pub fn allow_unsigned(mut self, yes: bool) -> Self {
        self.allow_unsigned = yes;
        self
    }

    /// Build the engine and the linker.
    pub fn build(self) -> Result<Runtime, Error> {
        // Before any call of any runtime hits an import callsite (see `register_router`).
        crate::audit::capture::register_router();
        // The ratchet and (by default) the audit log live here: trusted only if private.
        if let Some(dir) = &self.state_dir {
            crate::private_dir::ensure(dir)?;
        }
        let engine = engine::build(&self.engine)?;
        let artifacts = match &self.engine.cache_dir {
            Some(dir) => Some(ArtifactStore::open(dir, &engine)?),
            None => None,
        };
        let linker = build_linker(&engine)
            .map_err(|e| Error::Internal(format!("cannot build the linker: {e:#}")))?;
        let slots = match self.engine.allocator {
            Allocator::Pooling { max_concurrent } => max_concurrent.max(1) as usize,
            Allocator::OnDemand => Semaphore::MAX_PERMITS,
        };
        let ratchet = match &self.state_dir {
            Some(dir) => Some(Ratchet::open(dir).map_err(RefusalError::from)?),
            None => None,
        };
        let policy = self.policy.unwrap_or_else(Policy::builtin);
        let observe_root = if self.observe {
            Some(observe_root(self.state_dir.as_deref())?)
        } else {
            None
        };
        let detector = match &self.audit {
            Some(_) if self.detect.off => None,
            Some(a) => Some(Detector::new(
                policy.detect.clone(),
                self.state_dir.as_deref(),
                a,
                &self.detect,
            )?),
            None => None,
        };
        let mut protected = self.protected;
        protected.extend(self.detect.findings_file.iter().cloned());
        protected.extend(self.state_dir.iter().cloned());
        protected.extend(self.engine.cache_dir.iter().cloned());
        protected.extend(self.audit.as_ref().map(|a| a.path().to_path_buf()));
        // Every secret file the policy names, whichever tool it is for: a bind must never
        // let one tool read what is provisioned for another.
        protected.extend(
            policy
                .secrets
                .values()
                .filter_map(|r| r.source.file().map(Path::to_path_buf)),
        );
        let protected = protected.iter().flat_map(|p| protected_forms(p)).collect();
        Ok(Runtime {
            inner: Arc::new(RuntimeInner {
                protected,
                engine,
                artifacts,
                policy,
                trust: self.trust,
                revoked: self.revoked,
                ratchet,
                allow_unsigned: self.allow_unsigned,
                resolver: self.resolver.unwrap_or_else(|| Arc::new(SystemResolver)),
                audit: self.audit,
                detector,
                observe_root,
                linker,
                slots: Arc::new(Semaphore::new(slots)),
            }),
        })
    }
}

struct RuntimeInner {
    protected: Vec<PathBuf>,
    engine: Engine,
    artifacts: Option<ArtifactStore>,
    policy: Policy,
    trust: Option<AllowedSigners>,
    revoked: Option<RevokedKeys>,
    ratchet: Option<Ratchet>,
    allow_unsigned: bool,
    resolver: Arc<dyn Resolver>,
    audit: Option<Audit>,
    detector: Option<Detector>,
    /// Learning mode's `/` (see [`RuntimeBuilder::observe`]).
    observe_root: Option<wasmgov_host_api::fs::Bind>,
    linker: Linker<Sandbox>,
    slots: Arc<Semaphore>,
}

/// The wasmgov runtime: one engine shared by every tool and call.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<RuntimeInner>,
}

/// The operator's inputs when loading a package: they can bind and fill in what the manifest
/// declares, and narrow its limits, but never add a capability.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `--dir GUEST=HOST[:read]` binds.
    pub binds: Vec<CliBind>,
    /// `--env NAME=VALUE` values for variables the manifest declares.
    pub env_values: Vec<(String, String)>,
    /// `--secret NAME=SOURCE` sources for secrets the manifest declares.
    pub secrets: Vec<(String, SecretSource)>,
    /// Lower limits for every call of this tool.
    pub narrow: LimitOverrides,
    /// The time to check signatures and expiry against (default: now).
    pub now: Option<SystemTime>,
}

/// The spellings of a protected path that a resolved bind path is compared with: the path made
/// absolute, its resolved form (a symlink's target), and its resolved parent joined with its
/// name (the link itself, when the target is elsewhere or missing).
fn protected_forms(p: &Path) -> Vec<PathBuf> {
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let mut forms = vec![abs.clone()];
    if let Ok(c) = std::fs::canonicalize(&abs) {
        forms.push(c);
    }
    if let (Some(parent), Some(name)) = (abs.parent(), abs.file_name())
        && let Ok(c) = std::fs::canonicalize(parent)
    {
        forms.push(c.join(name));
    }
    forms.dedup();
    forms
}

/// The empty directory learning mode serves as `/`: `STATE/observe-root`, else one per user
/// under the temporary directory, private either way. It is never read through (every path
/// under it is refused before the filesystem is asked), so what it holds does not matter.
fn observe_root(state: Option<&Path>) -> Result<wasmgov_host_api::fs::Bind, Error> {
    let dir = match state {
        Some(s) => s.join("observe-root"),
        None => {
            #[cfg(target_os = "linux")]
            // SAFETY: `getuid` has no preconditions and cannot fail.
            let user = unsafe { libc::getuid() }.to_string();
            #[cfg(not(target_os = "linux"))]
            let user = "user";
            // `ensure` refuses it unless this user (or root) owns it and no one else can write.
            std::env::temp_dir().join(format!("wasmgov-observe-{user}"))
        }
    };
    crate::private_dir::ensure(&dir)?;
    let host = std::fs::canonicalize(&dir).map_err(|e| Error::io(&dir, e))?;
    wasmgov_host_api::fs::Bind::open(&host, "/", true).map_err(|e| Error::from(Refusal::from(e)))
}

/// Most bytes read of a manifest or signature file (the parser refuses more than 64 KiB anyway).
const MAX_MANIFEST_READ: u64 = 64 * 1024 + 1;

impl Runtime {
    /// Start building a runtime.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    /// The operator policy this runtime enforces.
    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// The audit log calls are recorded in, if any.
    pub fn audit(&self) -> Option<&Audit> {
        self.inner.audit.as_ref()
    }

    /// The detection engine (present whenever the runtime has an audit log).
    pub fn detector(&self) -> Option<&Detector> {
        self.inner.detector.as_ref()
    }

    /// Load a component with no manifest: no capability at all, only compute under `limits`
    /// (each capped by the policy's ceiling).
    pub fn load_component(&self, bytes: &[u8], limits: Limits) -> Result<Tool, Error> {
        let ceiling = LimitOverrides::from(self.inner.policy.limits);
        self.load_granted(bytes, Grant::pure_compute(limits.narrowed(&ceiling)), None)
    }

    /// Verify a package and load it: signature, trust, expiry, publisher, pin, policy, then the
    /// rollback ratchet, and only then compile `component` (the exact bytes that were hashed).
    pub fn load_package(
        &self,
        manifest: &[u8],
        signature: Option<&[u8]>,
        component: &[u8],
        opts: &LoadOptions,
    ) -> Result<Tool, Error> {
        let inner = &self.inner;
        let vopts = VerifyOptions {
            trust: inner.trust.as_ref(),
            revoked: inner.revoked.as_ref(),
            policy: &inner.policy,
            allow_unsigned: inner.allow_unsigned,
            now: opts.now.unwrap_or_else(SystemTime::now),
            binds: &opts.binds,
            env_values: &opts.env_values,
            secrets: &opts.secrets,
            narrow: opts.narrow,
        };
        let verified = package::verify(manifest, signature, component, &vopts)?;
        // The command line's secret files are protected for this load like the policy's.
        let cli_secrets: Vec<PathBuf> = opts
            .secrets
            .iter()
            .filter_map(|(_, s)| s.file())
            .flat_map(protected_forms)
            .collect();
        for f in &verified.grant.fs {
            if let Some(p) = inner
                .protected
                .iter()
                .chain(&cli_secrets)
                .find(|p| f.host.starts_with(p) || p.starts_with(&f.host))
            {
                return Err(Refusal::ProtectedPath {
                    guest: f.guest.to_string(),
                    host: f.host.clone(),
                    protected: p.clone(),
                }
                .into());
            }
        }
        let key = tool_key(&verified);
        if let Some(d) = &inner.detector {
            d.refuse_quarantined(&key.key)?;
            // The pin `verify` checked the component's bytes against.
            d.check_deny_list(&key, verified.manifest.component.sha256.as_str())?;
        }
        if verified.signer.is_some() {
            let Some(ratchet) = &inner.ratchet else {
                return Err(Error::Internal(
                    "no state directory for the rollback ratchet; set one with \
                     RuntimeBuilder::state_dir"
                        .into(),
                ));
            };
            ratchet
                .check_and_advance(&verified)
                .map_err(RefusalError::from)?;
            if let Some(d) = &inner.detector {
                d.check_release(
                    &key,
                    verified.manifest_sha256.as_str(),
                    &verified.manifest.tool.description,
                )?;
            }
        }
        let grant = verified.grant.clone();
        self.load_granted(component, grant, Some((verified, key)))
    }

    /// Read `manifest_path`, its signature `manifest_path.sig` (if present) and the component,
    /// each once, and [`load_package`](Self::load_package) them.
    pub fn load_package_files(
        &self,
        manifest_path: &Path,
        component_path: &Path,
        opts: &LoadOptions,
    ) -> Result<Tool, Error> {
        let manifest = read_capped(manifest_path, MAX_MANIFEST_READ)?;
        let sig_path = signature_path(manifest_path);
        let signature = match std::fs::metadata(&sig_path) {
            Ok(_) => Some(read_capped(&sig_path, MAX_MANIFEST_READ)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io(sig_path, e)),
        };
        let component = std::fs::read(component_path).map_err(|e| Error::io(component_path, e))?;
        self.load_package(&manifest, signature.as_deref(), &component, opts)
            .map_err(|e| match e {
                Error::Package(RefusalError::Unsigned { tool, .. }) => {
                    Error::Package(RefusalError::Unsigned {
                        tool,
                        sig_path: sig_path.display().to_string(),
                    })
                }
                other => other,
            })
    }

    fn load_granted(
        &self,
        bytes: &[u8],
        grant: Grant,
        package: Option<(Verified, ToolKey)>,
    ) -> Result<Tool, Error> {
        let (prepared, info) = prepare(
            &self.inner.engine,
            &self.inner.linker,
            self.inner.artifacts.as_ref(),
            bytes,
        )?;
        let (verified, key) = package.unzip();
        let (label, mut load_info) =
            crate::audit::load_info(&info, &grant, verified.as_ref(), &self.inner.policy);
        load_info.observe = self.inner.observe_root.is_some();
        let key = match key {
            Some(k) => k,
            // A bare component: keyed by its digest, checked here (a package was checked
            // before its ratchet advanced).
            None => {
                let k = ToolKey {
                    key: format!("component:{}", info.sha256).into(),
                    name: "component".into(),
                    label: label.clone(),
                };
                if let Some(d) = &self.inner.detector {
                    d.refuse_quarantined(&k.key)?;
                    d.check_deny_list(&k, &info.sha256)?;
                }
                k
            }
        };
        // Binds are opened here and held by the loaded tool for every call.
        let mut sandbox = crate::sandbox::config_for(&grant, self.inner.resolver.clone())?;
        sandbox.observe_root = self.inner.observe_root.clone();
        let audit_load = match &self.inner.audit {
            Some(a) => Some(a.record_load(label.clone(), load_info)?),
            None => None,
        };
        Ok(Tool {
            inner: Arc::new(ToolInner {
                runtime: self.inner.clone(),
                prepared,
                info,
                grant,
                sandbox,
                verified,
                label,
                audit_load,
                key: Arc::new(key),
            }),
        })
    }

    /// Compile-cache hits (components mapped from the artifact store) and misses (components
    /// compiled, because their artifact was missing, corrupt or for another engine) of this
    /// runtime so far; zero without a cache directory.
    pub fn compile_cache_stats(&self) -> (usize, usize) {
        self.inner
            .artifacts
            .as_ref()
            .map_or((0, 0), ArtifactStore::stats)
    }
}

struct ToolInner {
    runtime: Arc<RuntimeInner>,
    prepared: Prepared,
    info: ComponentInfo,
    grant: Grant,
    sandbox: SandboxConfig,
    verified: Option<Verified>,
    /// `name@version` (or `component:<sha256 prefix>`) in audit records.
    label: Arc<str>,
    /// The id of this tool's `load` audit record.
    audit_load: Option<Arc<str>>,
    /// How detection and quarantine name this tool.
    key: Arc<ToolKey>,
}

/// The detection key of a verified package: name and publisher when signed, `NAME unsigned`
/// otherwise (an unsigned look-alike must not be able to quarantine the signed tool).
fn tool_key(v: &Verified) -> ToolKey {
    let t = &v.manifest.tool;
    let key = if v.signer.is_some() {
        crate::ratchet::entry_key(t.name.as_str(), &t.publisher)
    } else {
        format!("{} unsigned", t.name.as_str())
    };
    ToolKey {
        key: key.into(),
        name: t.name.as_str().into(),
        label: v.manifest.tool_id().into(),
    }
}

/// Create the state directory `dir` (mode 0700) if it is missing, and check that it can be
/// trusted with the ratchet, the quarantine list and compiled code: it and every ancestor owned
/// by this user or root, no one else able to write them (a sticky ancestor like `/tmp` aside),
/// and the directory usable by its owner. [`RuntimeBuilder::build`] makes the same check; call
/// this first to refuse the directory before opening anything in it (an audit log).
pub fn ensure_state_dir(dir: &Path) -> Result<(), Error> {
    crate::private_dir::ensure(dir)
}

/// `M.sig` for manifest `M`.
pub fn signature_path(manifest: &Path) -> PathBuf {
    let mut s = manifest.as_os_str().to_owned();
    s.push(".sig");
    PathBuf::from(s)
}

fn read_capped(path: &Path, max: u64) -> Result<Vec<u8>, Error> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut buf = Vec::new();
    f.take(max)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io(path, e))?;
    Ok(buf)
}

/// A loaded tool: verified, compiled and pre-instantiated. Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct Tool {
    inner: Arc<ToolInner>,
}

impl std::fmt::Debug for Tool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tool")
            .field("label", &self.inner.label)
            .field("sha256", &self.inner.info.sha256)
            .finish_non_exhaustive()
    }
}

/// Options of one call. They can only narrow what the tool's grant allows.
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    /// Tighter limits for this call.
    pub limits: LimitOverrides,
    /// Who is calling (an agent, a user): recorded in the audit log, grants nothing.
    pub caller: Option<String>,
    /// The call's id in the audit log (default: generated).
    pub call_id: Option<String>,
    /// Where the call came from (transport, request id, client, …): written into the `start`
    /// record as `context`, grants nothing.
    pub context: std::collections::BTreeMap<String, String>,
    /// Cancels the call from outside.
    pub cancel: Option<CancelToken>,
    /// What to do when every call slot is taken.
    pub admission: Admission,
}

/// What a call does when the runtime's call slots are all taken.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Admission {
    /// Wait for a slot (back-pressure).
    #[default]
    Wait,
    /// Fail at once with [`Error::Busy`].
    FailFast,
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

    /// The effective grant of each call.
    pub fn grant(&self) -> &Grant {
        &self.inner.grant
    }

    /// The verified package (manifest, signer), or `None` for a component loaded without one.
    pub fn package(&self) -> Option<&Verified> {
        self.inner.verified.as_ref()
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

    /// A tool-world component's name, description and schemas, as an agent must see them: for
    /// a tool loaded from a manifest, the manifest's name and description (the component's own
    /// words only beside them, where they differ), and the pinned component's schemas.
    pub async fn describe(&self) -> Result<ToolDescription, Error> {
        let out = self.invoke(Action::Describe, &CallOptions::default()).await;
        let bytes = out.result?;
        let d: ToolDescription = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Internal(format!("describe round-trip failed: {e}")))?;
        if let Some(det) = &self.inner.runtime.detector
            && self.package().is_some_and(|p| p.signer.is_some())
        {
            det.check_schema(&self.inner.key, &self.inner.info.sha256, &d.input_schema)?;
        }
        Ok(match self.package() {
            Some(p) => d.with_manifest(p.manifest.tool.name.as_str(), &p.manifest.tool.description),
            None => d,
        })
    }

    async fn invoke(&self, action: Action<'_>, opts: &CallOptions) -> CallOutcome {
        let rt = &self.inner.runtime;
        // The semaphore is never closed, so acquiring only waits.
        let _permit = match opts.admission {
            Admission::Wait => rt.slots.clone().acquire_owned().await.ok(),
            Admission::FailFast => match rt.slots.clone().try_acquire_owned() {
                Ok(p) => Some(p),
                Err(_) => return CallOutcome::failed(Error::Busy),
            },
        };
        if opts.cancel.as_ref().is_some_and(CancelToken::is_cancelled) {
            return CallOutcome::failed(Error::Cancelled);
        }
        // A cancellation from here on stops the guest inside the call, so the call's end (and
        // its audit record) still says what it used.
        self.invoke_admitted(action, opts).await
    }

    async fn invoke_admitted(&self, action: Action<'_>, opts: &CallOptions) -> CallOutcome {
        let rt = &self.inner.runtime;
        let limits = self.inner.grant.limits.narrowed(&opts.limits);
        let audit = match (&rt.audit, &self.inner.audit_load) {
            (Some(a), Some(load)) => {
                let start = crate::audit::Start {
                    tool: self.inner.label.clone(),
                    load: load.clone(),
                    action,
                    limits,
                    call_id: opts.call_id.as_deref(),
                    caller: opts.caller.as_deref(),
                    context: &opts.context,
                };
                match a.begin(start).await {
                    Ok(c) => Some(c),
                    Err(e) => return CallOutcome::failed(Error::Audit(e)),
                }
            }
            _ => None,
        };
        let detect = match (&rt.detector, &audit) {
            (Some(d), Some(a)) => Some((d, a.call_id().clone())),
            _ => None,
        };
        let stop = detect
            .as_ref()
            .map(|(d, call)| d.begin(call, &self.inner.key))
            .transpose();
        let mut out = match stop {
            // Refused, and audited as a call that did nothing.
            Err(e) => CallOutcome::failed(e),
            Ok(stop) => {
                invoke(
                    &rt.engine,
                    &self.inner.prepared,
                    self.inner.sandbox.clone(),
                    action,
                    limits,
                    audit.as_ref(),
                    // The caller's token, and detection's.
                    (opts.cancel.as_ref(), stop.as_ref()),
                )
                .await
            }
        };
        if let (Some((d, call)), Some(a)) = (&detect, &audit) {
            // What detection acts on must have reached it before the call's end is written.
            if (a.pending_urgent() || !out.secrets_echoed.is_empty())
                && let Err(e) = a.flush_host_calls().await
            {
                out.result = Err(Error::Audit(e));
            }
            if let Some(e) = d.conclude(call, &out.secrets_echoed)
                && !matches!(out.result, Err(Error::Quarantined { .. } | Error::Audit(_)))
            {
                out.result = Err(e);
            }
        }
        if let Some(a) = audit {
            // Detection counts limit hits and acts before the tool's next call.
            let observed = detect.is_some() && matches!(out.result, Err(Error::Limit(_)));
            a.finish(&mut out, observed).await;
        }
        if let Some((d, _)) = &detect {
            // The call's findings are in the log before its result is returned.
            d.settle(std::time::Duration::from_secs(5)).await;
        }
        out
    }
}
