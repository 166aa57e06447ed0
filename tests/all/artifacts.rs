//! The compile cache holds native code that is mapped and run: an artifact that is not exactly
//! what the compiler wrote for this engine (a flipped byte, a truncated or empty file, another
//! engine's output) must be compiled again and replaced, never loaded.

use std::path::{Path, PathBuf};

use wasmgov::Limits;
use wasmgov::component::sha256_hex;

use crate::support::tool;

const INPUT: &str = r#"{"text":"one two three"}"#;

fn runtime(cache: &Path) -> wasmgov::Runtime {
    wasmgov::Runtime::builder()
        .allocator(wasmgov::Allocator::OnDemand)
        .cache_dir(cache)
        .build()
        .expect("runtime")
}

/// The one artifact in `cache`.
fn artifact(cache: &Path) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(cache)
        .expect("read cache")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .collect();
    assert_eq!(found.len(), 1, "one artifact per component: {found:?}");
    found[0].clone()
}

/// The digest stored beside `artifact`, checking that it names the artifact's file.
fn stored_digest(artifact: &Path) -> String {
    let text =
        std::fs::read_to_string(artifact.with_extension("sha256")).expect("digest beside it");
    let (digest, name) = text
        .trim_end()
        .split_once('\n')
        .expect("digest and file name");
    assert_eq!(Some(name), artifact.file_name().and_then(|n| n.to_str()));
    digest.to_owned()
}

/// Load text-stats through a fresh runtime over `cache`, call it, and return the runtime.
async fn words_counted(cache: &Path, bytes: &[u8]) -> wasmgov::Runtime {
    let rt = runtime(cache);
    let t = rt.load_component(bytes, Limits::default()).expect("load");
    let out = t.call(INPUT).await.expect("call");
    let v: serde_json::Value = serde_json::from_slice(&out).expect("json");
    assert_eq!(v["words"], 3, "the tool still computes the right result");
    rt
}

/// Warm the cache, `damage` its artifact, and check the next load compiles and replaces it,
/// and the load after that maps the replacement.
async fn a_damaged_artifact_is_rebuilt(damage: impl FnOnce(&Path, &[u8])) {
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes = std::fs::read(tool("text-stats")).expect("read tool");
    let first = words_counted(dir.path(), &bytes).await;
    assert_eq!(first.compile_cache_stats(), (0, 1), "first load compiles");
    let path = artifact(dir.path());
    let good = std::fs::read(&path).expect("read artifact");
    assert_eq!(stored_digest(&path), sha256_hex(&good));

    damage(&path, &bytes);
    let damaged = std::fs::read(&path).expect("read damaged");
    assert_ne!(damaged, good, "the damage changed the artifact");

    let second = words_counted(dir.path(), &bytes).await;
    assert_eq!(
        second.compile_cache_stats(),
        (0, 1),
        "the damaged artifact was not loaded: the component was compiled again"
    );
    let rebuilt = std::fs::read(artifact(dir.path())).expect("read rebuilt");
    assert_ne!(rebuilt, damaged, "the damaged artifact was replaced");
    assert_eq!(rebuilt, good, "by the compiler's output for this engine");
    assert_eq!(stored_digest(&path), sha256_hex(&rebuilt));

    let third = words_counted(dir.path(), &bytes).await;
    assert_eq!(
        third.compile_cache_stats(),
        (1, 0),
        "the rebuilt artifact is used"
    );
}

/// Flip one bit in the middle of the file at `p`: in an artifact that is code, which wasmtime
/// itself would map without a murmur.
fn flip_a_middle_bit(p: &Path) {
    let mut b = std::fs::read(p).expect("read");
    let at = b.len() / 2;
    b[at] ^= 0x01;
    std::fs::write(p, b).expect("write");
}

#[tokio::test]
async fn an_artifact_with_a_flipped_byte_is_rebuilt_not_loaded() {
    a_damaged_artifact_is_rebuilt(|p, _| flip_a_middle_bit(p)).await;
}

#[tokio::test]
async fn a_truncated_artifact_is_rebuilt() {
    a_damaged_artifact_is_rebuilt(|p, _| {
        let b = std::fs::read(p).expect("read");
        std::fs::write(p, &b[..b.len() / 3]).expect("write");
    })
    .await;
}

#[tokio::test]
async fn an_empty_artifact_is_rebuilt() {
    a_damaged_artifact_is_rebuilt(|p, _| std::fs::write(p, b"").expect("write")).await;
}

#[tokio::test]
async fn an_artifact_without_its_digest_is_rebuilt() {
    // The artifact itself is intact: without the digest it is still not trusted.
    a_damaged_artifact_is_rebuilt(|p, _| {
        std::fs::remove_file(p.with_extension("sha256")).expect("rm digest");
        flip_a_middle_bit(p);
    })
    .await;
}

#[tokio::test]
async fn another_engines_artifact_is_rebuilt_even_with_a_matching_digest() {
    // Precompiled by an engine with other settings (no fuel) and given a digest that
    // matches it: only wasmtime's compatibility check stands between it and being run.
    a_damaged_artifact_is_rebuilt(|p, bytes| {
        let other = wasmtime::Engine::new(wasmtime::Config::new().wasm_component_model(true))
            .expect("engine");
        let foreign = other.precompile_component(bytes).expect("precompile");
        std::fs::write(p, &foreign).expect("write");
        let name = p.file_name().and_then(|n| n.to_str()).expect("name");
        std::fs::write(
            p.with_extension("sha256"),
            format!("{}\n{name}\n", sha256_hex(&foreign)),
        )
        .expect("write digest");
    })
    .await;
}

#[tokio::test]
async fn another_components_artifact_is_rebuilt_even_with_its_own_digest() {
    // unit-calc's artifact and digest file, copied over text-stats's: the digest matches the
    // bytes, but names another file, so this is not text-stats's code.
    a_damaged_artifact_is_rebuilt(|p, _| {
        let other = tempfile::tempdir().expect("tempdir");
        let bytes = std::fs::read(tool("unit-calc")).expect("read tool");
        runtime(other.path())
            .load_component(&bytes, Limits::default())
            .expect("load");
        let theirs = artifact(other.path());
        std::fs::copy(&theirs, p).expect("copy artifact");
        std::fs::copy(theirs.with_extension("sha256"), p.with_extension("sha256"))
            .expect("copy digest");
    })
    .await;
}
