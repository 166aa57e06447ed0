//! Per-call resource limits and their units.
//!
//! Limits are parsed once, at the boundary (manifest, policy, CLI flag), into typed values; the
//! call path only compares integers. A limit that exists here is enforced by `invoke`: there is no
//! field that nothing reads.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

/// The default fuel budget of one call when neither manifest nor policy says otherwise.
pub const DEFAULT_FUEL: u64 = 2_000_000_000;
/// The default linear-memory cap of one call.
pub const DEFAULT_MEMORY: u64 = 64 << 20;
/// The default wall-clock budget of one call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The default cap on result + stdout + stderr of one call.
pub const DEFAULT_OUTPUT: u64 = 1 << 20;
/// The default cap on host calls (WASI and `wasmgov:tool/host` imports) of one call.
pub const DEFAULT_HOST_CALLS: u64 = 100_000;
/// The default cap on what the host holds for one call (HTTP fields and bodies, stream buffers,
/// resource-table entries): a tool with no grant can make the host hold no more than this.
pub const DEFAULT_HOST_MEMORY: u64 = 16 << 20;
/// The default cap on bytes one call may add to its read-write binds.
pub const DEFAULT_WRITE: u64 = 64 << 20;
/// The default cap on new files, directories and links one call may create in its binds.
pub const DEFAULT_FILES: u64 = 1000;

/// The largest wall-clock budget any policy, manifest or flag may set: one day. Longer is a typo
/// or an attempt to overflow a deadline, not a tool call.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);
/// The largest linear memory any policy, manifest or flag may set (16 GiB, four times what one
/// 32-bit memory can address).
pub const MAX_MEMORY: u64 = 16 << 30;
/// The largest output cap any policy, manifest or flag may set (16 GiB; output is held in host
/// memory until the call ends).
pub const MAX_OUTPUT: u64 = 16 << 30;
/// The largest host-memory budget any policy, manifest or flag may set (16 GiB).
pub const MAX_HOST_MEMORY: u64 = 16 << 30;
/// The largest write budget any policy, manifest or flag may set (1 TiB per call).
pub const MAX_WRITE: u64 = 1 << 40;
/// The most new files any policy, manifest or flag may let one call create (ten million).
pub const MAX_FILES: u64 = 10_000_000;

/// The limits one call runs under. Every field is enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// Wasm fuel (roughly, instructions executed).
    pub fuel: u64,
    /// Linear memory, bytes, summed over the component's memories.
    pub memory: u64,
    /// Wall-clock time, including time blocked in host calls.
    #[serde(with = "humantime_serde_compat")]
    pub timeout: Duration,
    /// Result + stdout + stderr, bytes. Excess is cut and reported.
    pub output: u64,
    /// Number of host calls.
    pub host_calls: u64,
    /// Bytes the host may hold for the call (HTTP fields and bodies, streams, handles).
    pub host_memory: u64,
    /// Bytes the call may add to its read-write binds.
    pub write: u64,
    /// New inodes (files, directories, links) the call may create in its read-write binds.
    pub files: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            fuel: DEFAULT_FUEL,
            memory: DEFAULT_MEMORY,
            timeout: DEFAULT_TIMEOUT,
            output: DEFAULT_OUTPUT,
            host_calls: DEFAULT_HOST_CALLS,
            host_memory: DEFAULT_HOST_MEMORY,
            write: DEFAULT_WRITE,
            files: DEFAULT_FILES,
        }
    }
}

impl Limits {
    /// Apply `narrow` on top of `self`: each field becomes the smaller of the two. Never widens.
    pub fn narrowed(self, narrow: &LimitOverrides) -> Self {
        Self {
            fuel: narrow.fuel.map_or(self.fuel, |v| v.min(self.fuel)),
            memory: narrow.memory.map_or(self.memory, |v| v.0.min(self.memory)),
            timeout: narrow
                .timeout
                .map_or(self.timeout, |v| v.0.min(self.timeout)),
            output: narrow.output.map_or(self.output, |v| v.0.min(self.output)),
            host_calls: narrow
                .host_calls
                .map_or(self.host_calls, |v| v.min(self.host_calls)),
            host_memory: narrow
                .host_memory
                .map_or(self.host_memory, |v| v.0.min(self.host_memory)),
            write: narrow.write.map_or(self.write, |v| v.0.min(self.write)),
            files: narrow.files.map_or(self.files, |v| v.min(self.files)),
        }
    }
}

/// Optional values for each limit, as written in a manifest, a policy or on the command line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LimitOverrides {
    /// Fuel.
    pub fuel: Option<u64>,
    /// Linear memory, e.g. `"64 MiB"`.
    pub memory: Option<ByteSize>,
    /// Wall time, e.g. `"10s"`.
    pub timeout: Option<HumanDuration>,
    /// Output cap, e.g. `"1 MiB"`.
    pub output: Option<ByteSize>,
    /// Host-call cap.
    pub host_calls: Option<u64>,
    /// Host-memory cap, e.g. `"16 MiB"`.
    pub host_memory: Option<ByteSize>,
    /// Bytes a call may add to its read-write binds, e.g. `"64 MiB"`.
    pub write: Option<ByteSize>,
    /// New inodes a call may create in its read-write binds.
    pub files: Option<u64>,
}

impl LimitOverrides {
    /// Check every set duration and size against its cap ([`MAX_TIMEOUT`], [`MAX_MEMORY`],
    /// [`MAX_OUTPUT`], [`MAX_HOST_MEMORY`], [`MAX_WRITE`], [`MAX_FILES`]); on failure, the
    /// field's key and what is wrong. Fuel and host calls are counts with no unit to overflow.
    pub fn check_ranges(&self) -> Result<(), (&'static str, String)> {
        if let Some(t) = self.timeout
            && t.0 > MAX_TIMEOUT
        {
            return Err((
                "timeout",
                format!(
                    "{}s is longer than {}h, the most any call may run",
                    t.0.as_secs(),
                    MAX_TIMEOUT.as_secs() / 3600
                ),
            ));
        }
        let sizes = [
            ("memory", self.memory, MAX_MEMORY),
            ("output", self.output, MAX_OUTPUT),
            ("host-memory", self.host_memory, MAX_HOST_MEMORY),
            ("write", self.write, MAX_WRITE),
        ];
        for (field, v, max) in sizes {
            if let Some(v) = v
                && v.0 > max
            {
                return Err((
                    field,
                    format!("{v} is over the most any call may have, {}", ByteSize(max)),
                ));
            }
        }
        if let Some(n) = self.files
            && n > MAX_FILES
        {
            return Err((
                "files",
                format!("{n} is over the most new files any call may create, {MAX_FILES}"),
            ));
        }
        Ok(())
    }

    /// Fill every unset field from `base`.
    pub fn or(self, base: Limits) -> Limits {
        Limits {
            fuel: self.fuel.unwrap_or(base.fuel),
            memory: self.memory.map_or(base.memory, |v| v.0),
            timeout: self.timeout.map_or(base.timeout, |v| v.0),
            output: self.output.map_or(base.output, |v| v.0),
            host_calls: self.host_calls.unwrap_or(base.host_calls),
            host_memory: self.host_memory.map_or(base.host_memory, |v| v.0),
            write: self.write.map_or(base.write, |v| v.0),
            files: self.files.unwrap_or(base.files),
        }
    }
}

impl From<Limits> for LimitOverrides {
    fn from(l: Limits) -> Self {
        Self {
            fuel: Some(l.fuel),
            memory: Some(ByteSize(l.memory)),
            timeout: Some(HumanDuration(l.timeout)),
            output: Some(ByteSize(l.output)),
            host_calls: Some(l.host_calls),
            host_memory: Some(ByteSize(l.host_memory)),
            write: Some(ByteSize(l.write)),
            files: Some(l.files),
        }
    }
}

/// Which limit a call hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LimitKind {
    /// Fuel ran out.
    Fuel,
    /// Linear memory could not grow.
    Memory,
    /// The wall-clock deadline passed.
    Timeout,
    /// The wasm stack overflowed.
    Stack,
    /// The output cap was reached.
    Output,
    /// The host-call cap was reached.
    HostCalls,
    /// The host-memory budget refused an allocation the tool asked the host for.
    HostMemory,
    /// The byte quota of the call's read-write binds was reached.
    Write,
    /// The new-file quota (files, directories, links) of the call's read-write binds was
    /// reached.
    Files,
}

impl LimitKind {
    /// The name used in messages, audit records and the manifest.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fuel => "fuel",
            Self::Memory => "memory",
            Self::Timeout => "timeout",
            Self::Stack => "stack",
            Self::Output => "output",
            Self::HostCalls => "host-calls",
            Self::HostMemory => "host-memory",
            Self::Write => "write",
            Self::Files => "files",
        }
    }
}

impl fmt::Display for LimitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error parsing a size or a duration.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UnitError(String);

/// A number of bytes, written as `"64 MiB"`, `"1MiB"`, `"4096"` or as a bare integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ByteSize(pub u64);

impl std::str::FromStr for ByteSize {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.is_empty() {
            return Err(UnitError("empty size".into()));
        }
        if let Ok(n) = t.parse::<u64>() {
            return Ok(Self(n));
        }
        t.parse::<bytesize::ByteSize>()
            .map(|b| Self(b.as_u64()))
            .map_err(|_| {
                UnitError(format!(
                    "invalid size `{s}`: expected a number of bytes with an optional unit, like `64 MiB`"
                ))
            })
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", bytesize::ByteSize(self.0).display().iec())
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Str(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(n) => Ok(Self(n)),
            Raw::Str(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// A duration written as `"10s"`, `"250ms"`, `"1m 30s"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub Duration);

impl std::str::FromStr for HumanDuration {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let d = humantime::parse_duration(s.trim()).map_err(|e| {
            UnitError(format!(
                "invalid duration `{s}`: {e}; expected a number with a unit, like `10s` or `250ms`"
            ))
        })?;
        if d.is_zero() {
            return Err(UnitError(format!(
                "invalid duration `{s}`: must be above zero"
            )));
        }
        Ok(Self(d))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

mod humantime_serde_compat {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_duration(*d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_and_without_units() {
        assert_eq!("64 MiB".parse::<ByteSize>().unwrap().0, 64 << 20);
        assert_eq!("1MiB".parse::<ByteSize>().unwrap().0, 1 << 20);
        assert_eq!("4096".parse::<ByteSize>().unwrap().0, 4096);
        assert!("lots".parse::<ByteSize>().is_err());
        assert!("".parse::<ByteSize>().is_err());
    }

    #[test]
    fn durations_reject_zero_and_garbage() {
        assert_eq!(
            "10s".parse::<HumanDuration>().unwrap().0,
            Duration::from_secs(10)
        );
        assert!("0s".parse::<HumanDuration>().is_err());
        assert!("soon".parse::<HumanDuration>().is_err());
    }

    #[test]
    fn durations_and_sizes_over_their_caps_are_refused() {
        let huge = LimitOverrides {
            timeout: Some("18446744073709551615s".parse().unwrap()),
            ..Default::default()
        };
        let (field, why) = huge.check_ranges().unwrap_err();
        assert_eq!(field, "timeout");
        assert_eq!(
            why,
            "18446744073709551615s is longer than 24h, the most any call may run"
        );
        for (o, field) in [
            (
                LimitOverrides {
                    memory: Some(ByteSize(MAX_MEMORY + 1)),
                    ..Default::default()
                },
                "memory",
            ),
            (
                LimitOverrides {
                    output: Some(ByteSize(u64::MAX)),
                    ..Default::default()
                },
                "output",
            ),
            (
                LimitOverrides {
                    host_memory: Some(ByteSize(MAX_HOST_MEMORY + 1)),
                    ..Default::default()
                },
                "host-memory",
            ),
            (
                LimitOverrides {
                    write: Some(ByteSize(u64::MAX)),
                    ..Default::default()
                },
                "write",
            ),
            (
                LimitOverrides {
                    files: Some(u64::MAX),
                    ..Default::default()
                },
                "files",
            ),
        ] {
            assert_eq!(o.check_ranges().unwrap_err().0, field);
        }
        let at_caps = LimitOverrides {
            timeout: Some(HumanDuration(MAX_TIMEOUT)),
            memory: Some(ByteSize(MAX_MEMORY)),
            output: Some(ByteSize(MAX_OUTPUT)),
            host_memory: Some(ByteSize(MAX_HOST_MEMORY)),
            write: Some(ByteSize(MAX_WRITE)),
            files: Some(MAX_FILES),
            ..Default::default()
        };
        assert!(at_caps.check_ranges().is_ok());
        assert!(
            LimitOverrides::from(Limits::default())
                .check_ranges()
                .is_ok()
        );
    }

    #[test]
    fn narrowing_never_widens() {
        let base = Limits::default();
        let wide = LimitOverrides {
            fuel: Some(u64::MAX),
            memory: Some(ByteSize(u64::MAX)),
            timeout: Some(HumanDuration(Duration::from_secs(99_999))),
            output: Some(ByteSize(u64::MAX)),
            host_calls: Some(u64::MAX),
            host_memory: Some(ByteSize(u64::MAX)),
            write: Some(ByteSize(u64::MAX)),
            files: Some(u64::MAX),
        };
        assert_eq!(base.narrowed(&wide), base);
        let tight = LimitOverrides {
            fuel: Some(5),
            ..Default::default()
        };
        assert_eq!(base.narrowed(&tight).fuel, 5);
    }
}
