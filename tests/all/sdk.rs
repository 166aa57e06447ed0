//! The SDK's `describe`: the JSON Schema an example tool publishes matches its Rust types.

use serde_json::Value;
use wasmgov::Limits;

use crate::support::{load, runtime, tool};

#[tokio::test]
async fn text_stats_schema_matches_its_types() {
    let d = load("text-stats", Limits::default())
        .describe()
        .await
        .expect("describe");
    assert_eq!(d.name, "text-stats");
    let input = &d.input_schema;
    assert_eq!(input["type"], "object");
    assert_eq!(input["properties"]["text"]["type"], "string");
    assert_eq!(input["required"], Value::from(vec!["text"]));
    let output = &d.output_schema;
    for field in ["lines", "words", "chars", "bytes", "top_words"] {
        assert!(
            output["properties"].get(field).is_some(),
            "output schema lacks {field}: {output}"
        );
    }
}

#[tokio::test]
async fn second_load_of_a_tool_hits_the_compile_cache() {
    // A fresh runtime over the same cache directory as a first one: the second load of the
    // same bytes must not compile again.
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes = std::fs::read(tool("json-query")).expect("read");
    let first = wasmgov::Runtime::builder()
        .allocator(wasmgov::Allocator::OnDemand)
        .cache_dir(dir.path())
        .build()
        .expect("runtime");
    first
        .load_component(&bytes, Limits::default())
        .expect("load");
    assert_eq!(first.compile_cache_stats(), (0, 1), "first load compiles");
    let second = wasmgov::Runtime::builder()
        .allocator(wasmgov::Allocator::OnDemand)
        .cache_dir(dir.path())
        .build()
        .expect("runtime");
    second
        .load_component(&bytes, Limits::default())
        .expect("load");
    assert_eq!(
        second.compile_cache_stats(),
        (1, 0),
        "second load hits the cache"
    );
    let _ = runtime();
}
