//! `hostile-cmd-exit`: a command (`wasi:cli/run`) that prints `partial` (no newline) to stdout and
//! exits with code 3.
//!
//! Threat: a command that dies mid-way. The host must report the exit code and not mistake the
//! partial stdout for a complete result.
//!
//! `std::process::exit(3)` cannot do this on `wasm32-wasip2`: std calls
//! `wasi:cli/exit.exit(result)`, which only carries success or failure, so the host sees 1. The
//! exact code needs `exit-with-code` (stable since WASI 0.2.12, implemented by wasmtime 48), which
//! this fixture imports itself.

use std::io::Write;

mod wasi_exit {
    wit_bindgen::generate!({
        inline: "
            package wasi:cli@0.2.12;
            interface exit {
                exit: func(status: result);
                exit-with-code: func(status-code: u8);
            }
            world exit-code { import exit; }
        ",
        world: "exit-code",
    });
}

fn main() {
    let mut stdout = std::io::stdout();
    let _ = stdout.write_all(b"partial");
    let _ = stdout.flush();
    #[cfg(target_arch = "wasm32")]
    wasi_exit::wasi::cli::exit::exit_with_code(std::hint::black_box(3));
    // Not reached on wasm; the best std can do elsewhere.
    std::process::exit(3);
}
