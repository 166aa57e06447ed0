//! The hottest side-effect-free imports, served without a tracing span.
//!
//! Every other import is recorded from the span `bindgen!` opens around it (the runtime's
//! capture). For a clock or a random `u64` that span, its two events and the result's `Debug`
//! text cost three times the read itself, and a tool that reads the clock in a loop pays it on
//! every read. These functions are defined here over the stock ones (same names, same
//! implementations, reached through wasmtime-wasi's public `Host` impls) and report each call to
//! the sandbox's [`QuietRecorder`] instead: the runtime's audit capture, which writes a run of
//! identical calls as one record with a count (DESIGN.md, "Audit log").
//!
//! What stays as it was: each call is a host call to wasmtime, so the runtime's call hook still
//! counts it against the `host-calls` limit and closes the audit gate on it; a sandbox without
//! a recorder (audit off) serves the same values. Each function here is on
//! [`SIDE_EFFECT_FREE`](crate::SIDE_EFFECT_FREE): none takes an argument a grant decides on.

use std::sync::Arc;

use wasmtime::StoreContextMut;
use wasmtime::component::{ComponentType, Linker, LinkerInstance, Lower};
use wasmtime_wasi::clocks::WasiClocksCtxView;
use wasmtime_wasi::p2::bindings::clocks::{monotonic_clock, wall_clock};
use wasmtime_wasi::p2::bindings::random::{insecure, insecure_seed, random};

use crate::sandbox::Sandbox;

/// The version of `wasi:clocks` and `wasi:random` wasmtime-wasi registers its imports under;
/// a tool importing any 0.2.x version is linked to it. A unit test proves the names are the
/// stock ones, so an upgrade that renames them fails there instead of linking both.
const WASI_VERSION: &str = "0.2.12";

/// One of the host calls served here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuietCall {
    /// `wasi:clocks/monotonic-clock.now`.
    MonotonicNow,
    /// `wasi:clocks/monotonic-clock.resolution`.
    MonotonicResolution,
    /// `wasi:clocks/wall-clock.now`.
    WallNow,
    /// `wasi:clocks/wall-clock.resolution`.
    WallResolution,
    /// `wasi:random/random.get-random-u64`.
    RandomU64,
    /// `wasi:random/insecure.get-insecure-random-u64`.
    InsecureU64,
    /// `wasi:random/insecure-seed.insecure-seed`.
    InsecureSeed,
}

impl QuietCall {
    /// Every quiet call, in [`QuietCall::index`] order.
    pub const ALL: [QuietCall; 7] = [
        QuietCall::MonotonicNow,
        QuietCall::MonotonicResolution,
        QuietCall::WallNow,
        QuietCall::WallResolution,
        QuietCall::RandomU64,
        QuietCall::InsecureU64,
        QuietCall::InsecureSeed,
    ];

    /// Its interface, without version (as the audit log names it).
    pub fn interface(self) -> &'static str {
        match self {
            Self::MonotonicNow | Self::MonotonicResolution => "wasi:clocks/monotonic-clock",
            Self::WallNow | Self::WallResolution => "wasi:clocks/wall-clock",
            Self::RandomU64 => "wasi:random/random",
            Self::InsecureU64 => "wasi:random/insecure",
            Self::InsecureSeed => "wasi:random/insecure-seed",
        }
    }

    /// Its function name.
    pub fn function(self) -> &'static str {
        match self {
            Self::MonotonicNow | Self::WallNow => "now",
            Self::MonotonicResolution | Self::WallResolution => "resolution",
            Self::RandomU64 => "get-random-u64",
            Self::InsecureU64 => "get-insecure-random-u64",
            Self::InsecureSeed => "insecure-seed",
        }
    }

    /// Its place in [`QuietCall::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Who is told of each quiet call a sandbox serves, in the order the tool makes them.
pub trait QuietRecorder: Send + Sync {
    /// The tool made `call`; it is served right after this returns.
    fn record(&self, call: QuietCall);
}

fn note(s: &Sandbox, call: QuietCall) {
    if let Some(r) = &s.quiet {
        r.record(call);
    }
}

fn versioned(iface: &str) -> String {
    format!("{iface}@{WASI_VERSION}")
}

/// Define `call` in `linker` as `read`, told to the sandbox's recorder first.
fn define<R>(
    linker: &mut Linker<Sandbox>,
    call: QuietCall,
    read: fn(&mut Sandbox) -> wasmtime::Result<R>,
) -> wasmtime::Result<()>
where
    R: ComponentType + Lower + Send + Sync + 'static,
{
    let mut inst: LinkerInstance<'_, Sandbox> = linker.instance(&versioned(call.interface()))?;
    inst.func_wrap(
        call.function(),
        move |mut cx: StoreContextMut<'_, Sandbox>, (): ()| {
            let s = cx.data_mut();
            note(s, call);
            Ok((read(s)?,))
        },
    )
}

fn all(linker: &mut Linker<Sandbox>) -> wasmtime::Result<()> {
    use QuietCall::*;
    define(linker, MonotonicNow, |s| {
        monotonic_clock::Host::now(&mut s.clocks_view())
    })?;
    define(linker, MonotonicResolution, |s| {
        monotonic_clock::Host::resolution(&mut s.clocks_view())
    })?;
    define(linker, WallNow, |s| {
        wall_clock::Host::now(&mut s.clocks_view())
    })?;
    define(linker, WallResolution, |s| {
        wall_clock::Host::resolution(&mut s.clocks_view())
    })?;
    define(linker, RandomU64, |s| {
        random::Host::get_random_u64(s.random_ctx())
    })?;
    define(linker, InsecureU64, |s| {
        insecure::Host::get_insecure_random_u64(s.random_ctx())
    })?;
    define(linker, InsecureSeed, |s| {
        insecure_seed::Host::insecure_seed(s.random_ctx())
    })
}

/// Define the quiet calls over the stock ones already in `linker` (shadowing them).
pub(crate) fn add_to_linker(linker: &mut Linker<Sandbox>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let r = all(linker);
    linker.allow_shadowing(false);
    r
}

impl Sandbox {
    /// The clocks as wasmtime-wasi's `Host` impls take them.
    fn clocks_view(&mut self) -> WasiClocksCtxView<'_> {
        let view = wasmtime_wasi::WasiView::ctx(self);
        WasiClocksCtxView {
            ctx: view.ctx.clocks(),
            table: view.table,
        }
    }

    /// The random sources.
    fn random_ctx(&mut self) -> &mut wasmtime_wasi::random::WasiRandomCtx {
        wasmtime_wasi::WasiView::ctx(self).ctx.random()
    }

    /// Report this sandbox's quiet calls to `recorder` from now on.
    pub fn record_quiet_calls(&mut self, recorder: Arc<dyn QuietRecorder>) {
        self.quiet = Some(recorder);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names defined here are the ones wasmtime-wasi registers: defining them again without
    /// shadowing must fail for each. Were the version wrong, the stock functions would stay and
    /// ours would sit unused under another name.
    #[test]
    fn every_quiet_call_shadows_a_stock_import() {
        let engine = wasmtime::Engine::default();
        for call in QuietCall::ALL {
            let mut linker = Linker::<Sandbox>::new(&engine);
            wasmtime_wasi::p2::add_to_linker_async(&mut linker).expect("stock WASI");
            let mut inst = linker
                .instance(&versioned(call.interface()))
                .expect("instance");
            let again = inst.func_wrap(call.function(), |_cx, (): ()| Ok((0u64,)));
            assert!(again.is_err(), "{call:?} is not a stock import");
        }
    }

    #[test]
    fn every_quiet_call_is_side_effect_free_and_supported() {
        for (i, call) in QuietCall::ALL.into_iter().enumerate() {
            assert_eq!(call.index(), i);
            assert!(
                crate::SIDE_EFFECT_FREE.contains(&(call.interface(), call.function())),
                "{call:?}"
            );
            assert!(crate::SUPPORTED_INTERFACES.contains(&call.interface()));
        }
    }
}
