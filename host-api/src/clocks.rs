//! Clocks capability: wall and monotonic time, coarsened.
//!
//! Guards against high-resolution timing (threat M01): a tool that spins on `now` to build a
//! fine timer for cache or side-channel measurements sees only multiples of the granularity, and
//! `resolution` reports that granularity. A residual risk remains from timers built out of
//! counting loops (fuel bounds their length, not their precision).

use std::time::{Duration, Instant, SystemTime};

use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtxBuilder};

/// The granularity a call's clocks have unless the sandbox says otherwise.
pub const DEFAULT_GRANULARITY: Duration = Duration::from_millis(1);

fn floor(ns: u128, step: u128) -> u128 {
    if step == 0 { ns } else { ns - ns % step }
}

/// Monotonic time since the call's sandbox was built, floored to the granularity.
struct CoarseMonotonic {
    start: Instant,
    step: u128,
}

impl HostMonotonicClock for CoarseMonotonic {
    fn resolution(&self) -> u64 {
        u64::try_from(self.step).unwrap_or(u64::MAX).max(1)
    }

    fn now(&self) -> u64 {
        u64::try_from(floor(self.start.elapsed().as_nanos(), self.step)).unwrap_or(u64::MAX)
    }
}

/// Wall-clock time, floored to the granularity.
struct CoarseWall {
    step: u128,
}

impl HostWallClock for CoarseWall {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(u64::try_from(self.step).unwrap_or(u64::MAX).max(1))
    }

    fn now(&self) -> Duration {
        let ns = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let ns = floor(ns, self.step);
        Duration::new(
            u64::try_from(ns / 1_000_000_000).unwrap_or(u64::MAX),
            (ns % 1_000_000_000) as u32,
        )
    }
}

/// Give the tool both clocks at `granularity`.
pub(crate) fn apply(b: &mut WasiCtxBuilder, granularity: Duration) {
    let step = granularity.as_nanos();
    b.monotonic_clock(CoarseMonotonic {
        start: Instant::now(),
        step,
    })
    .wall_clock(CoarseWall { step });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_are_multiples_of_the_granularity() {
        let m = CoarseMonotonic {
            start: Instant::now(),
            step: 1_000_000,
        };
        let w = CoarseWall { step: 1_000_000 };
        for _ in 0..1000 {
            assert_eq!(m.now() % 1_000_000, 0);
            assert_eq!(w.now().subsec_nanos() % 1_000_000, 0);
        }
        assert_eq!(m.resolution(), 1_000_000);
        assert_eq!(w.resolution(), Duration::from_millis(1));
    }
}
