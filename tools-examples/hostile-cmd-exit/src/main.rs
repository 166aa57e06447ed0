//! `hostile-cmd-exit`: a command (`wasi:cli/run`) that prints `partial` to stdout and exits with
//! code 3 via `std::process::exit`.
//!
//! Threat: a command that dies mid-way. The host must report the exit code and not mistake the
//! partial stdout for a complete result.

use std::io::Write;

fn main() {
    let mut stdout = std::io::stdout();
    let _ = stdout.write_all(b"partial");
    let _ = stdout.flush();
    std::process::exit(std::hint::black_box(3));
}
