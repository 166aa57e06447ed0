//! One call: a fresh store, the limits armed, the tool run, the ending classified.
//!
//! Each call gets its own `Store` and `Sandbox`, so nothing of one call is visible to the next.
//! Fuel bounds compute. Fuel also bounds wall time while the tool runs wasm: the store yields to
//! the executor every [`YIELD_FUEL`] units, and the call's future checks its deadline each time it
//! is polled ([`with_deadline`]), so one mechanism enforces both limits and the guest's code carries
//! no epoch checks (which cost fib(30) 1.4× on their own, see docs/benchmarks.md). An outer
//! timeout bounds wall time while the tool is blocked in a host call (fuel does not tick there);
//! the memory limiter and the output budget fail the offending operation with a typed
//! error; a call hook counts host calls. The ending is classified by which of these fired, not
//! by parsing messages.

use std::time::{Duration, Instant};

use std::future::Future;
use std::task::Poll;

use wasmtime::{CallHook, Engine, Store, Trap};
use wasmtime_wasi::I32Exit;

use wasmgov_host_api::bindings::wasmgov::tool::types::Error as GuestError;
use wasmgov_host_api::fs_gov::WriteWhat;
use wasmgov_host_api::{
    GuestLog, HostMemoryExceeded, MemoryLimitExceeded, OutputLimitExceeded, Sandbox, SandboxConfig,
};

use crate::audit::AuditGateClosed;
use crate::component::Prepared;
use crate::engine::MAX_WASM_STACK;
use crate::error::{Error, LimitHit, Refusal, ToolFailure};
use crate::limits::{LimitKind, Limits};

/// What one call used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CallStats {
    /// Fuel burned.
    pub fuel_used: u64,
    /// Largest linear memory held at once, bytes.
    pub peak_memory: u64,
    /// Host calls made (transitions from the tool into the host).
    pub host_calls: u64,
    /// Output charged (result + stdout + stderr + log lines), bytes.
    pub output: u64,
    /// Wall time.
    #[serde(serialize_with = "as_micros")]
    pub duration: Duration,
}

fn as_micros<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Everything one call produced, whether it succeeded or not.
#[derive(Debug)]
pub struct CallOutcome {
    /// The result (JSON text for a tool, stdout bytes for a command) or why there is none.
    pub result: Result<Vec<u8>, Error>,
    /// What the tool wrote to stdout that is not its result (tool world only).
    pub stdout: Vec<u8>,
    /// What the tool wrote to stderr.
    pub stderr: Vec<u8>,
    /// What the tool logged through `wasmgov:tool/host.log`.
    pub logs: Vec<GuestLog>,
    /// What the call used.
    pub stats: CallStats,
    /// Names of the secrets a server echoed back in a response to this call, which the host
    /// masked before the tool could read them (sorted, deduplicated; never the values).
    pub secrets_echoed: Vec<String>,
}

impl CallOutcome {
    /// An outcome of a call that never reached the tool.
    pub(crate) fn failed(e: Error) -> Self {
        Self {
            result: Err(e),
            stdout: Vec::new(),
            stderr: Vec::new(),
            logs: Vec::new(),
            stats: CallStats::default(),
            secrets_echoed: Vec::new(),
        }
    }
}

/// Fuel a tool burns between two yields to the executor, at which its call's deadline is
/// checked. About 0.1 ms of typical compute (fib(30) burns 35 M units in ~2.8 ms on the
/// benchmark machine); even a loop that misses the cache on every load (~100 ns a unit) is
/// seen within ~0.1 s of its deadline. A yield costs a fiber switch, ~1 µs.
pub const YIELD_FUEL: u64 = 1_000_000;

/// The call's wall-clock limit was reached.
#[derive(Debug, Clone, Copy)]
struct TimedOut;

/// Runs `inner` until `deadline`, checked every time the future is polled: a tool running wasm
/// yields every [`YIELD_FUEL`] units of fuel, so a busy guest is stopped at the first yield
/// past its deadline without any timer having to fire (a guest cannot starve its own deadline
/// by keeping the executor thread busy). Dropping `inner` stops the guest where it stood.
async fn with_deadline<F: Future>(
    inner: F,
    deadline: Option<Instant>,
) -> Result<F::Output, TimedOut> {
    let mut inner = std::pin::pin!(inner);
    std::future::poll_fn(|cx| {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Poll::Ready(Err(TimedOut));
        }
        inner.as_mut().poll(cx).map(Ok)
    })
    .await
}

/// The error the call hook raises when the host-call cap is reached.
#[derive(Debug, thiserror::Error)]
#[error("host-call limit of {0} reached")]
struct HostCallLimit(u64);

/// What a call asks of the tool.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Action<'a> {
    /// `call(input)` of a tool, or `run` of a command with `input` on stdin.
    Call(&'a [u8]),
    /// `describe()` of a tool; the result is [`crate::ToolDescription`] as JSON.
    Describe,
}

/// Run one call of `prepared` under `limits` in a sandbox built from `config`.
pub(crate) async fn invoke(
    engine: &Engine,
    prepared: &Prepared,
    mut config: SandboxConfig,
    action: Action<'_>,
    limits: Limits,
    audit: Option<&crate::audit::CallAudit>,
    (cancel, stop): (
        Option<&crate::cancel::CancelToken>,
        Option<&crate::cancel::CancelToken>,
    ),
) -> CallOutcome {
    let input = match action {
        Action::Call(i) => i,
        Action::Describe => &[],
    };
    let start = Instant::now();
    let is_command = matches!(prepared, Prepared::Command(_));
    config.memory = limits.memory;
    config.output = limits.output;
    config.host_memory = limits.host_memory;
    config.timeout = Some(limits.timeout);
    config.write_bytes = limits.write;
    config.write_files = limits.files;
    if is_command {
        config.stdin = input.to_vec();
    }
    let mut sandbox = match Sandbox::new(config) {
        Ok(s) => s,
        Err(e) => {
            return CallOutcome::failed(Refusal::Bind(e).into());
        }
    };
    if let Some(a) = audit {
        sandbox.record_quiet_calls(a.quiet_recorder());
    }
    let mut store = Store::new(engine, sandbox);
    store.limiter(|s| &mut s.limiter);
    // What one host call may copy from the guest before the host can charge or refuse it. The
    // same fuel bounds lifting the tool's result, which the output limit allows up to its size.
    store.set_hostcall_fuel(
        usize::try_from(limits.output.saturating_add(64 * 1024))
            .unwrap_or(usize::MAX)
            .max(wasmgov_host_api::sandbox::HOSTCALL_FUEL),
    );
    // A store starts with no fuel; component start-up burns fuel too, so set it before
    // instantiating. Fuel is enabled on every engine this crate builds.
    // The yields are what let `Deadline` see the clock while the guest computes.
    let fuel_ok = store.set_fuel(limits.fuel).is_ok()
        && store.fuel_async_yield_interval(Some(YIELD_FUEL)).is_ok();
    // Timeouts are range-checked where they are read (limits.rs); a deadline past what an
    // Instant can hold is no deadline (the outer timeout still holds).
    let deadline = start.checked_add(limits.timeout);
    let cap = limits.host_calls;
    let audit_gate = audit.map(|a| a.health());
    store.call_hook(move |mut cx, hook| {
        if matches!(hook, CallHook::CallingHost) {
            // Fail closed: once a record could not be written, no host call runs.
            if let Some(h) = &audit_gate
                && !h.ok()
            {
                return Err(wasmtime::Error::new(AuditGateClosed(
                    h.failure().unwrap_or_default(),
                )));
            }
            let s = cx.data_mut();
            s.host_calls += 1;
            if s.host_calls > cap {
                return Err(wasmtime::Error::new(HostCallLimit(cap)));
            }
            // A tool that ignores failed writes would otherwise keep running after its output
            // budget is spent; stop it at its next host call.
            if s.output.exceeded() {
                return Err(wasmtime::Error::new(OutputLimitExceeded {
                    limit: s.output.limit(),
                }));
            }
            // Likewise once the host refused to hold more for it.
            if s.host_memory.exceeded() {
                return Err(wasmtime::Error::new(HostMemoryExceeded {
                    limit: s.host_memory.limit(),
                }));
            }
        }
        Ok(())
    });

    // A tool's input is JSON text; check it once. A command reads raw bytes on stdin.
    let input_str = if is_command {
        Ok("")
    } else {
        std::str::from_utf8(input)
    };
    // `None`: cancelled from outside (the guest is dropped where it stood, as at a timeout).
    let ran = if input_str.is_err() {
        Some(Ok(Ok(Err(ToolFailure::InvalidInput(
            "input is not valid UTF-8".into(),
        )))))
    } else if !fuel_ok {
        Some(Ok(Err(wasmtime::Error::msg(
            "fuel is not enabled on this engine",
        ))))
    } else {
        let run = async {
            match prepared {
                Prepared::Tool(pre) => {
                    let inst = pre.instantiate_async(&mut store).await?;
                    let guest = inst.wasmgov_tool_tool();
                    if let Action::Describe = action {
                        let info = guest.call_describe(&mut store).await?;
                        return Ok(crate::describe::from_guest(info));
                    }
                    let r = guest
                        .call_call(&mut store, input_str.unwrap_or_default())
                        .await?;
                    Ok::<_, wasmtime::Error>(match r {
                        Ok(out) => Ok(out.into_bytes()),
                        Err(GuestError::InvalidInput(m)) => Err(ToolFailure::InvalidInput(m)),
                        Err(GuestError::Failed(m)) => Err(ToolFailure::Failed(m)),
                    })
                }
                Prepared::Command(_) if matches!(action, Action::Describe) => {
                    Ok(Err(ToolFailure::Failed(
                        "a command tool cannot describe itself; only tool-world components can"
                            .into(),
                    )))
                }
                Prepared::Command(pre) => {
                    let inst = pre.instantiate_async(&mut store).await?;
                    let r = inst.wasi_cli_run().call_run(&mut store).await?;
                    Ok(match r {
                        Ok(()) => Ok(Vec::new()),
                        Err(()) => Err(ToolFailure::Exit(1)),
                    })
                }
            }
        };
        let run = with_deadline(run, deadline);
        let timed = async {
            let r = match audit {
                Some(a) => tokio::time::timeout(limits.timeout, a.capture(run)).await,
                None => tokio::time::timeout(limits.timeout, run).await,
            };
            // The deadline seen at a fuel yield is the same limit as the outer timer's.
            match r {
                Ok(Err(TimedOut)) => Err(TimedOut),
                Ok(Ok(r)) => Ok(r),
                Err(_elapsed) => Err(TimedOut),
            }
        };
        // The caller's token, and detection's (a rule that stops the call).
        let cancelled = async {
            match (cancel, stop) {
                (Some(a), Some(b)) => tokio::select! {
                    () = a.cancelled() => {},
                    () = b.cancelled() => {},
                },
                (Some(a), None) | (None, Some(a)) => a.cancelled().await,
                (None, None) => std::future::pending().await,
            }
        };
        tokio::select! {
            r = timed => Some(r),
            () = cancelled => None,
        }
    };

    let elapsed = start.elapsed();
    let fuel_used = limits.fuel.saturating_sub(store.get_fuel().unwrap_or(0));
    let sandbox = store.data();
    let mut stats = CallStats {
        fuel_used,
        peak_memory: sandbox.limiter.peak(),
        host_calls: sandbox.host_calls.min(limits.host_calls),
        output: 0,
        duration: elapsed,
    };
    let hit = |kind: LimitKind, limit: u64, used: u64| {
        Err(Error::Limit(LimitHit {
            kind,
            limit,
            used,
            elapsed,
            fuel_used,
        }))
    };
    let output_exceeded = sandbox.output.exceeded();
    // A tool that handled the host's refusal and returned anyway still hit the limit: what it
    // returns was computed without what it asked the host to hold.
    let host_memory_hit = || {
        hit(
            LimitKind::HostMemory,
            sandbox.host_memory.limit(),
            sandbox.host_memory.wanted(),
        )
    };
    let result: Result<Vec<u8>, Error> = match ran {
        None => Err(Error::Cancelled),
        Some(Err(TimedOut)) => {
            let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
            hit(LimitKind::Timeout, ms(limits.timeout), ms(elapsed))
        }
        Some(Ok(Ok(Ok(out)))) => {
            if output_exceeded {
                hit(LimitKind::Output, limits.output, sandbox.output.used())
            } else if sandbox.host_memory.exceeded() {
                host_memory_hit()
            } else if is_command {
                Ok(sandbox.stdout.contents())
            } else if sandbox.output.charge(out.len() as u64).is_err() {
                hit(LimitKind::Output, limits.output, sandbox.output.used())
            } else {
                Ok(out)
            }
        }
        Some(Ok(Ok(Err(failure)))) if output_exceeded => {
            let _ = failure;
            hit(LimitKind::Output, limits.output, sandbox.output.used())
        }
        Some(Ok(Ok(Err(failure)))) if sandbox.host_memory.exceeded() => {
            let _ = failure;
            host_memory_hit()
        }
        Some(Ok(Ok(Err(failure)))) => Err(failure.into()),
        Some(Ok(Err(e))) => classify(e, sandbox, &limits, is_command, elapsed, fuel_used),
    };
    // A write-quota refusal ends the call as a limit hit, whatever the tool made of the
    // `quota` error code it got (it may have carried on, or failed in its own words).
    let result = match sandbox.fs.write_exceeded() {
        Some(w) if !matches!(result, Err(Error::Limit(_))) => {
            let kind = match w.what {
                WriteWhat::Bytes => LimitKind::Write,
                WriteWhat::Files => LimitKind::Files,
            };
            hit(kind, w.limit, w.desired)
        }
        _ => result,
    };
    stats.output = sandbox.output.used();
    let stdout = if is_command {
        Vec::new()
    } else {
        sandbox.stdout.contents()
    };
    let stderr = sandbox.stderr.contents();
    let logs = sandbox.logs.clone();
    let secrets_echoed = sandbox.secrets_echoed();
    CallOutcome {
        result,
        stdout,
        stderr,
        logs,
        stats,
        secrets_echoed,
    }
}

/// Name the reason a call stopped with an error from wasmtime.
fn classify(
    e: wasmtime::Error,
    sandbox: &Sandbox,
    limits: &Limits,
    is_command: bool,
    elapsed: Duration,
    fuel_used: u64,
) -> Result<Vec<u8>, Error> {
    let hit = |kind: LimitKind, limit: u64, used: u64| {
        Err(Error::Limit(LimitHit {
            kind,
            limit,
            used,
            elapsed,
            fuel_used,
        }))
    };
    if let Some(g) = e.downcast_ref::<AuditGateClosed>() {
        return Err(Error::Audit(crate::audit::AuditError::Write(g.0.clone())));
    }
    // A flood usually surfaces as the guest's own panic on a failed write: the budget knows.
    if sandbox.output.exceeded() {
        return hit(LimitKind::Output, limits.output, sandbox.output.used());
    }
    if let Some(m) = e
        .downcast_ref::<MemoryLimitExceeded>()
        .copied()
        .or(sandbox.limiter.exceeded)
    {
        return hit(LimitKind::Memory, m.limit, m.desired);
    }
    if e.downcast_ref::<HostCallLimit>().is_some() {
        return hit(LimitKind::HostCalls, limits.host_calls, sandbox.host_calls);
    }
    let host = &sandbox.host_memory;
    if host.exceeded()
        || e.downcast_ref::<HostMemoryExceeded>().is_some()
        || is_host_resource_exhaustion(&e)
    {
        // A full handle table or spent hostcall fuel is a cap standing for host memory too.
        host.refuse();
        return hit(LimitKind::HostMemory, host.limit(), host.wanted());
    }
    if let Some(exit) = e.downcast_ref::<I32Exit>() {
        return match (exit.0, is_command) {
            (0, true) => Ok(sandbox.stdout.contents()),
            (code, _) => Err(ToolFailure::Exit(code).into()),
        };
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => hit(LimitKind::Fuel, limits.fuel, fuel_used),
        Some(Trap::StackOverflow) => hit(
            LimitKind::Stack,
            MAX_WASM_STACK as u64,
            MAX_WASM_STACK as u64,
        ),
        Some(t) => Err(Error::Trap {
            message: trap_message(&t.to_string(), &e),
        }),
        None => Err(Error::Trap {
            message: trap_message(&format!("{:#}", e.root_cause()), &e),
        }),
    }
}

/// Whether `e` is one of wasmtime's own caps on what the host holds or copies for a call: a
/// full resource table (every live handle is a host object) or spent hostcall fuel (too many
/// bytes copied from the guest in one host call). Both stand for host memory.
fn is_host_resource_exhaustion(e: &wasmtime::Error) -> bool {
    // wasmtime's hostcall-fuel error type is private; its message is pinned by
    // `tests/all/limits.rs` (`huge_strings_copied_into_the_host_are_a_host_memory_limit`).
    const HOSTCALL_FUEL: &str = "fuel allocated for hostcalls has been exhausted";
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<wasmtime::component::ResourceTableError>(),
            Some(wasmtime::component::ResourceTableError::Full)
        ) || c.to_string().contains(HOSTCALL_FUEL)
    })
}

/// The trap's description and the top of its wasm backtrace (enough to find the bug, bounded so
/// a deep recursion does not print thousands of frames).
fn trap_message(what: &str, e: &wasmtime::Error) -> String {
    const FRAMES: usize = 8;
    let mut msg = what.to_string();
    if let Some(bt) = e.downcast_ref::<wasmtime::WasmBacktrace>() {
        let text = bt.to_string();
        let lines: Vec<&str> = text.lines().collect();
        for l in lines.iter().take(FRAMES + 1) {
            msg.push_str("\n    ");
            msg.push_str(l.trim());
        }
        if lines.len() > FRAMES + 1 {
            msg.push_str(&format!("\n    … {} more frames", lines.len() - FRAMES - 1));
        }
    }
    msg
}
