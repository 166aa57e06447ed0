//! Every flag of the `wasmgov` command, in one place, each saying what it grants or limits.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Run untrusted agent tools as WebAssembly components: nothing is granted unless a signed
/// manifest asks for it and the operator's policy allows it.
#[derive(Debug, Parser)]
#[command(name = "wasmgov", version, about, max_term_width = 100)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a tool once in a fresh sandbox and print its result on stdout.
    Run(RunArgs),
    /// Print a tool's name, description and input/output JSON Schemas.
    Describe(DescribeArgs),
    /// Print a component's sha256, size, world, imports and exports (runs nothing).
    Inspect(InspectArgs),
}

/// Limit flags shared by commands that run a tool.
#[derive(Debug, Args, Clone, Default)]
pub struct LimitFlags {
    /// Fuel for the call (roughly, wasm instructions). Default 2000000000.
    #[arg(long, value_name = "N")]
    pub fuel: Option<u64>,
    /// Linear-memory cap, e.g. `64MiB`. Default 64 MiB.
    #[arg(long, value_name = "SIZE")]
    pub memory: Option<wasmgov::limits::ByteSize>,
    /// Wall-clock cap including time blocked in host calls, e.g. `10s`. Default 10s.
    #[arg(long, value_name = "DUR")]
    pub timeout: Option<wasmgov::limits::HumanDuration>,
    /// Cap on result + stdout + stderr, e.g. `1MiB`. Default 1 MiB.
    #[arg(long = "max-output", value_name = "SIZE")]
    pub max_output: Option<wasmgov::limits::ByteSize>,
    /// Cap on host calls (transitions from the tool into the host). Default 100000.
    #[arg(long = "max-host-calls", value_name = "N")]
    pub max_host_calls: Option<u64>,
}

impl LimitFlags {
    /// The flags as overrides.
    pub fn overrides(&self) -> wasmgov::LimitOverrides {
        wasmgov::LimitOverrides {
            fuel: self.fuel,
            memory: self.memory,
            timeout: self.timeout,
            output: self.max_output,
            host_calls: self.max_host_calls,
        }
    }
}

/// `wasmgov run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The tool: a WASI 0.2 component (`.wasm`).
    pub tool: PathBuf,
    /// JSON input for the tool (a command tool reads it on stdin).
    #[arg(long, value_name = "JSON", conflicts_with = "input_file")]
    pub input: Option<String>,
    /// Read the input from a file (`-` for stdin). Without --input or --input-file, stdin is
    /// read when it is not a terminal.
    #[arg(long = "input-file", value_name = "FILE")]
    pub input_file: Option<PathBuf>,
    /// Limits of this call. Without a manifest they set the call's limits; with one they can
    /// only narrow what the manifest and policy allow.
    #[command(flatten)]
    pub limits: LimitFlags,
}

/// `wasmgov describe`.
#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// The tool component.
    pub tool: PathBuf,
    /// Print the description as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `wasmgov inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The component.
    pub tool: PathBuf,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}
