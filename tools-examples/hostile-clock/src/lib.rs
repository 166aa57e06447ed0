//! `hostile-clock`: spins on `monotonic-clock.now` and `wall-clock.now` to build a fine timer
//! (threat M01), and reports every tick it could see.
//!
//! Output: the clocks' reported resolutions, the smallest non-zero step between two readings
//! and whether every reading was a multiple of the reported resolution.

use guest_net::wasip2::clocks::{monotonic_clock, wall_clock};
use wasmgov_sdk::serde_json::Value;
use wasmgov_sdk::{JsonSchema, Serialize, ToolError};

/// What the tool observed.
#[derive(Serialize, JsonSchema)]
struct Output {
    /// `monotonic-clock.resolution`, ns.
    monotonic_resolution_ns: u64,
    /// `wall-clock.resolution`, ns.
    wall_resolution_ns: u64,
    /// Smallest non-zero difference between two consecutive monotonic readings, ns.
    min_monotonic_step_ns: Option<u64>,
    /// Smallest non-zero difference between two consecutive wall readings, ns.
    min_wall_step_ns: Option<u64>,
    /// Every monotonic reading was a multiple of the reported resolution.
    monotonic_multiples: bool,
    /// Every wall reading's nanoseconds were a multiple of the reported resolution.
    wall_multiples: bool,
    /// Readings taken.
    readings: u32,
}

const READINGS: u32 = 200_000;

fn hostile_clock(_input: Value) -> Result<Output, ToolError> {
    let mono_res = monotonic_clock::resolution();
    let wall_res = wall_clock::resolution();
    let wall_res_ns = wall_res.seconds * 1_000_000_000 + u64::from(wall_res.nanoseconds);
    let (mut min_m, mut min_w) = (None::<u64>, None::<u64>);
    let (mut mono_ok, mut wall_ok) = (true, true);
    let mut last_m = monotonic_clock::now();
    let mut last_w = wall_clock::now();
    for _ in 0..READINGS {
        let m = monotonic_clock::now();
        let w = wall_clock::now();
        mono_ok &= mono_res > 0 && m % mono_res == 0;
        wall_ok &= wall_res_ns > 0 && u64::from(w.nanoseconds) % wall_res_ns.max(1) == 0;
        let dm = m.saturating_sub(last_m);
        if dm > 0 {
            min_m = Some(min_m.map_or(dm, |x| x.min(dm)));
        }
        let wn = |t: &wall_clock::Datetime| t.seconds * 1_000_000_000 + u64::from(t.nanoseconds);
        let dw = wn(&w).saturating_sub(wn(&last_w));
        if dw > 0 {
            min_w = Some(min_w.map_or(dw, |x| x.min(dw)));
        }
        last_m = m;
        last_w = w;
    }
    Ok(Output {
        monotonic_resolution_ns: mono_res,
        wall_resolution_ns: wall_res_ns,
        min_monotonic_step_ns: min_m,
        min_wall_step_ns: min_w,
        monotonic_multiples: mono_ok,
        wall_multiples: wall_ok,
        readings: READINGS,
    })
}

wasmgov_sdk::export_tool!(hostile_clock);
