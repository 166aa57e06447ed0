//! Diagnostics on stderr through `tracing` (stdout carries results, or the MCP protocol on
//! stdio); `WASMGOV_LOG` replaces the command's default filter.

/// Install the stderr subscriber with `default_filter` unless `WASMGOV_LOG` is set; with
/// `timestamps` each line starts with the time.
pub fn init(default_filter: &str, timestamps: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WASMGOV_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    let _ = if timestamps {
        fmt.try_init()
    } else {
        fmt.without_time().try_init()
    };
}
