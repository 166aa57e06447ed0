//! `wasmgov:tool/host`: services the host offers to every tool.
//!
//! `log` never reaches the call's result: messages are kept, size-capped by the call's output
//! budget, and handed to the operator after the call.

use crate::bindings::wasmgov::tool::host::{Host, Level};
use crate::sandbox::Sandbox;

/// Longest single log message kept; longer ones are cut (and the cut is marked).
pub const MAX_LOG_MESSAGE: usize = 4096;

impl Host for Sandbox {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        };
        let mut message = message;
        if message.len() > MAX_LOG_MESSAGE {
            let mut cut = MAX_LOG_MESSAGE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push_str(" [cut]");
        }
        // A log line counts against the same output budget as stdout and stderr, so a tool
        // cannot use `log` to flood the host.
        self.output.charge(message.len() as u64 + 1)?;
        // The host keeps the line until the call ends: charge it as host memory too.
        self.host_memory
            .charge(message.len() as u64 + crate::sandbox::LOG_LINE_OVERHEAD)?;
        self.logs.push(crate::sandbox::GuestLog { level, message });
        Ok(())
    }
}
