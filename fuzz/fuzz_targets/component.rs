//! Component loading and `inspect` on mutated components: the bytes go through the same
//! `load_component` a `wasmgov run` of an unsigned tool takes (precheck, compile, import and
//! export checks, pre-instantiation). A component that loads is described and called under
//! tight limits, so mutated code that still validates runs in the sandbox too. Whatever the
//! bytes: a typed error or a tool, never a panic, a hang or unbounded memory.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use wasmgov_runtime::{Allocator, CallOptions, Limits, Runtime, WorldKind};

fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        Runtime::builder()
            .allocator(Allocator::OnDemand)
            .build()
            .expect("a runtime with no state builds")
    })
}

fn executor() -> &'static tokio::runtime::Runtime {
    static EX: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    EX.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread executor builds")
    })
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        fuel: 2_000_000,
        memory: 16 << 20,
        timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    let Ok(tool) = runtime().load_component(data, limits) else {
        return;
    };
    let info = tool.info();
    assert_eq!(info.size, data.len() as u64);
    assert_eq!(info.sha256.len(), 64);
    // Run it under the limits (a tool's description and a call; a command with empty stdin):
    // any result but a host panic or a hang is fine.
    if info.world == WorldKind::Tool {
        let _ = executor().block_on(tool.describe());
    }
    let _ = executor().block_on(tool.run(b"{}", &CallOptions::default()));
});
