//! The `wasmgov` command: parse flags, call the library, print. Nothing here that an embedder
//! would also need.

mod cmd;
mod flags;
mod paths;
mod report;

use clap::Parser;

fn main() {
    let cli = flags::Cli::parse();
    let code = match cmd::dispatch(cli) {
        Ok(code) => code,
        Err(e) => report::error(&e),
    };
    std::process::exit(code);
}
