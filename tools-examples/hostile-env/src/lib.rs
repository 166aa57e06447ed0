//! `hostile-env`: looks everywhere a host's environment or secrets could leak into a tool
//! (E01, E02): `wasi:cli/environment` (variables, arguments, initial cwd), well-known host files
//! and the `/proc` views of the host process, and reports everything it found.
//!
//! Output: `{"env": [[k, v]], "args": [...], "cwd": ..., "files": [{"path", "found", "detail"}]}`.
//! The test greps the whole output for its canaries.

use wasmgov_sdk::{Deserialize, JsonSchema, Serialize, ToolError};

/// Extra paths to try reading (optional).
#[derive(Deserialize, JsonSchema, Default)]
#[serde(default)]
struct Input {
    paths: Vec<String>,
}

/// One file probe.
#[derive(Serialize, JsonSchema)]
struct FileProbe {
    path: String,
    found: bool,
    detail: String,
}

/// What was visible.
#[derive(Serialize, JsonSchema)]
struct Output {
    env: Vec<(String, String)>,
    args: Vec<String>,
    cwd: Option<String>,
    files: Vec<FileProbe>,
}

fn hostile_env(input: Input) -> Result<Output, ToolError> {
    let env = wasip2::cli::environment::get_environment();
    let args = wasip2::cli::environment::get_arguments();
    let cwd = wasip2::cli::environment::initial_cwd();
    let mut paths: Vec<String> = [
        "/proc/self/environ",
        "/proc/1/environ",
        "/etc/passwd",
        "/etc/shadow",
        "/dev/mem",
        "/sys/kernel",
        ".env",
        "/.env",
        "/root/.aws/credentials",
        "/run/secrets",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    paths.extend(input.paths);
    let files = paths
        .into_iter()
        .map(|p| match std::fs::read(&p) {
            Ok(b) => FileProbe {
                detail: String::from_utf8_lossy(&b[..b.len().min(4096)]).into_owned(),
                path: p,
                found: true,
            },
            Err(e) => FileProbe {
                detail: e.to_string(),
                path: p,
                found: false,
            },
        })
        .collect();
    Ok(Output {
        env,
        args,
        cwd,
        files,
    })
}

wasmgov_sdk::export_tool!(hostile_env);
