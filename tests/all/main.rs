//! wasmgov's integration tests, in one binary so wasmtime is linked once.
//!
//! Each module reads like the threat or behaviour it defends. Tools come from `tools-examples/`,
//! built from source once per test run (see `support`).

mod artifacts;
mod assess;
mod audit;
mod audit_census;
mod audit_report;
mod audit_routing;
mod audit_tail;
mod caps;
mod cli;
mod clocks;
mod detect;
mod embed;
mod env;
mod faults;
mod fs;
mod host_memory;
mod lifecycle;
mod limits;
mod load;
mod metrics;
mod net;
mod observe;
mod otel;
mod progress;
mod refuse;
mod sdk;
mod secrets;
mod serve;
mod signing;
mod signing_differential;
mod support;
mod ui;
