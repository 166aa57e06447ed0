//! Components the host will not run are refused before running, with exit 3 and a named reason.

use crate::support::{run, runtime, s};

fn write_tmp(name: &str, bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).expect("write");
    (dir, p)
}

#[test]
fn core_module_is_refused_by_name() {
    let module = wat::parse_str("(module (func (export \"_start\")))").expect("wat");
    let (_d, p) = write_tmp("core.wasm", &module);
    let (code, out, err) = run(&["run", s(&p), "--input", "{}"]);
    assert_eq!(code, 3, "{err}");
    assert!(out.is_empty());
    assert!(err.contains("error[not-a-component]"), "{err}");
    assert!(err.contains("hint:"), "{err}");
}

#[test]
fn garbage_bytes_are_refused() {
    for bytes in [
        &b"MZ\x90\x00 not wasm at all"[..],
        b"",
        b"\0asm\x0d\0\x01\0\xff\xff\xff\xff\x0f",
    ] {
        let (_d, p) = write_tmp("junk.wasm", bytes);
        let (code, _, err) = run(&["run", s(&p), "--input", "{}"]);
        assert_eq!(code, 3, "{err}");
        assert!(
            err.contains("error[not-wasm]") || err.contains("error[invalid-component]"),
            "{err}"
        );
    }
}

#[test]
fn truncated_component_is_refused() {
    let t = crate::support::tool("text-stats");
    let bytes = std::fs::read(&t).expect("read");
    let (_d, p) = write_tmp("cut.wasm", &bytes[..bytes.len() / 2]);
    let (code, _, err) = run(&["run", s(&p), "--input", "{}"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("error[invalid-component]"), "{err}");
}

#[test]
fn unknown_imports_are_refused_and_all_named() {
    let c = wat::parse_str(
        r#"(component
            (import "evil:host/exec@1.0.0" (instance (export "run" (func))))
            (import "wasi:http/incoming-handler@0.2.0" (instance))
        )"#,
    )
    .expect("wat");
    let (_d, p) = write_tmp("evil.wasm", &c);
    let (code, _, err) = run(&["run", s(&p), "--input", "{}"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("error[unsupported-imports]"), "{err}");
    assert!(err.contains("evil:host/exec@1.0.0"), "{err}");
    assert!(err.contains("wasi:http/incoming-handler@0.2.0"), "{err}");
}

#[test]
fn component_without_a_tool_export_is_refused() {
    let c = wat::parse_str("(component)").expect("wat");
    match runtime().load_component(&c, wasmgov::Limits::default()) {
        Err(wasmgov::Error::Refused(wasmgov::Refusal::NoToolExport(_))) => {}
        Err(e) => panic!("wrong refusal: {e}"),
        Ok(_) => panic!("an empty component was accepted"),
    }
}
