//! The manifest parser on arbitrary bytes: a manifest is the first attacker-controlled file a
//! load reads. Whatever the bytes, `parse` returns (never panics, never loops), and a manifest
//! it accepts is internally consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wasmgov_runtime::manifest::Manifest;

fuzz_target!(|data: &[u8]| {
    let Ok(m) = Manifest::parse(data) else {
        return;
    };
    // Everything the runtime derives from an accepted manifest must be computable.
    let id = m.tool_id();
    assert!(!id.is_empty());
    let _ = m.is_expired(std::time::SystemTime::UNIX_EPOCH);
    let _ = m.is_expired(std::time::SystemTime::now());
    // The manifest it accepted is the manifest it reads again: parsing is deterministic.
    let again = Manifest::parse(data).expect("a manifest accepted once is accepted again");
    assert_eq!(again.tool_id(), id);
});
