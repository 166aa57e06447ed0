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

/// A library runtime shared by the tests of this process (pooling, compile cache on).
pub fn runtime() -> &'static wasmgov::Runtime {
    static RT: OnceLock<wasmgov::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        wasmgov::Runtime::builder()
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
