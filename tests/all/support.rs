//! Shared fixtures: the example tools built once from source, a `wasmgov` command with a private
//! state directory, and one shared library runtime so components compile once per run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Build every example tool for wasm32-wasip2 (once per process; cargo makes repeats cheap) and
/// return the path of `name`'s component.
pub fn tool(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip2",
                "--manifest-path",
            ])
            .arg(root().join("tools-examples/Cargo.toml"))
            // Explicit, so a CARGO_TARGET_DIR set for the host build does not move the tools.
            .arg("--target-dir")
            .arg(root().join("tools-examples/target"))
            .status()
            .expect("run cargo to build the example tools");
        assert!(status.success(), "building tools-examples failed");
        root().join("tools-examples/target/wasm32-wasip2/release")
    });
    // cargo names a cdylib with underscores and a binary with the package name as is.
    let lib = dir.join(format!("{}.wasm", name.replace('-', "_")));
    let bin = dir.join(format!("{name}.wasm"));
    if lib.exists() {
        lib
    } else {
        assert!(bin.exists(), "no component for {name}");
        bin
    }
}

/// A state directory shared by the CLI tests of this run, so the compile cache is warm after the
/// first run of each tool.
pub fn shared_state() -> &'static Path {
    static STATE: OnceLock<tempfile::TempDir> = OnceLock::new();
    STATE
        .get_or_init(|| tempfile::tempdir().expect("tempdir"))
        .path()
}

/// `wasmgov` with a private XDG environment.
pub fn wasmgov() -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("wasmgov").expect("wasmgov binary");
    let home = shared_state();
    c.env("XDG_STATE_HOME", home.join("state"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("HOME", home)
        .env_remove("RUST_LOG");
    c
}

/// Run `wasmgov` and return (exit code, stdout, stderr).
pub fn run(args: &[&str]) -> (i32, String, String) {
    let out = wasmgov().args(args).output().expect("run wasmgov");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// An operator policy whose ceilings are far above the defaults, so tests can set any limit.
pub const GENEROUS_POLICY: &str = r#"
[limits]
fuel = 1_000_000_000_000_000
memory = "1 GiB"
timeout = "120s"
output = "256 MiB"
host-calls = 100_000_000
"#;

/// [`GENEROUS_POLICY`] written to a file of this run.
pub fn generous_policy_file() -> PathBuf {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        let p = shared_state().join("generous-policy.toml");
        std::fs::write(&p, GENEROUS_POLICY).expect("write policy");
        p
    })
    .clone()
}

/// A library runtime shared by the tests of this process (pooling, compile cache on, the
/// generous policy).
pub fn runtime() -> &'static wasmgov::Runtime {
    static RT: OnceLock<wasmgov::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        let policy = wasmgov::policy::Policy::parse(GENEROUS_POLICY.as_bytes()).expect("policy");
        wasmgov::Runtime::builder()
            .policy(policy)
            .allocator(wasmgov::Allocator::Pooling { max_concurrent: 16 })
            .cache_dir(shared_state().join("lib-cache"))
            .build()
            .expect("runtime")
    })
}

/// Load an example tool into the shared runtime with `limits`.
pub fn load(name: &str, limits: wasmgov::Limits) -> wasmgov::Tool {
    let bytes = std::fs::read(tool(name)).expect("read component");
    runtime()
        .load_component(&bytes, limits)
        .expect("load component")
}

/// A path as `&str` for argument lists.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}
