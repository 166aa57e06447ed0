//! What is served: signed, verified packages only, under names that say whose they are, as the
//! signed manifest describes them, with annotations from the grant; reload keeps the last good
//! version of a package whose new files are refused.

use serde_json::json;
use wasmgov_serve::ServerOptions;

use super::{Fixture, OTHER_PUBLISHER, Pipe, Pkg, error_text, server, wait_for};

#[tokio::test(flavor = "multi_thread")]
async fn only_signed_verified_packages_are_served_as_their_manifest_describes_them() {
    let notes = tempfile::tempdir().unwrap();
    let f = Fixture::new(&format!(
        "[net]\nallow = [\"https://example.com\"]\n\n\
         [[binds]]\ntools = [\"write-note\"]\nguest = \"/notes\"\nhost = \"{}\"\naccess = \"read-write\"\n",
        notes.path().display()
    ));
    f.package(
        "text-stats",
        "text-stats",
        Pkg {
            description: "the signed words, not the component's",
            ..Pkg::default()
        },
    );
    f.package(
        "write-note",
        "write-note",
        Pkg {
            extra: "\n[[fs]]\nguest = \"/notes\"\naccess = \"read-write\"\n",
            ..Pkg::default()
        },
    );
    f.package(
        "fetch-url",
        "fetch-url",
        Pkg {
            extra: "\n[net]\nallow = [\"https://example.com\"]\n",
            ..Pkg::default()
        },
    );
    f.package(
        "csv",
        "csv-to-json",
        Pkg {
            name: Some("csv-to-json"),
            ..Pkg::default()
        },
    );
    // Refused: no signature; a component byte changed; the manifest edited after signing; a
    // component with no manifest; a manifest asking for more than the policy allows.
    f.package("unsigned", "unit-calc", Pkg::default());
    std::fs::remove_file(f.tools.join("unsigned.toml.sig")).unwrap();
    f.package("tampered", "json-query", Pkg::default());
    let w = f.tools.join("tampered.wasm");
    let mut bytes = std::fs::read(&w).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&w, bytes).unwrap();
    f.package("edited", "unit-calc", Pkg::default());
    let m = f.tools.join("edited.toml");
    let text = std::fs::read_to_string(&m).unwrap();
    std::fs::write(&m, text.replace("signed description", "edited description")).unwrap();
    std::fs::copy(
        crate::support::tool("unit-calc"),
        f.tools.join("stray.wasm"),
    )
    .unwrap();
    f.package(
        "greedy",
        "fetch-url",
        Pkg {
            name: Some("greedy"),
            extra: "\n[net]\nallow = [\"https://elsewhere.example\"]\n",
            ..Pkg::default()
        },
    );

    let rt = f.runtime();
    let catalog = f.catalog(&rt, None).await;
    let served: Vec<&str> = catalog.served().keys().map(String::as_str).collect();
    assert_eq!(
        served,
        ["csv-to-json", "fetch-url", "text-stats", "write-note"]
    );
    let refused: Vec<(&str, &str)> = catalog
        .refused()
        .iter()
        .map(|r| (r.stem.as_str(), r.kind.as_str()))
        .collect();
    assert_eq!(refused.len(), 5, "{refused:?}");
    for (stem, kind) in [
        ("unsigned", "unsigned"),
        ("tampered", "digest"),
        ("edited", "signature"),
        ("stray.wasm", "no-manifest"),
        ("greedy", "policy"),
    ] {
        let r = refused
            .iter()
            .find(|r| r.0 == stem)
            .unwrap_or_else(|| panic!("{stem} not refused: {refused:?}"));
        assert!(r.1.contains(kind), "{stem}: {} is not {kind}", r.1);
    }

    let mut p = Pipe::session(
        wasmgov_serve::Server::new(rt, catalog, ServerOptions::default()),
        "2025-11-25",
    )
    .await;
    let tools = p.tools().await;
    assert_eq!(tools.len(), 4);
    let ts = &tools["text-stats"];
    assert_eq!(ts["description"], "the signed words, not the component's");
    assert_eq!(ts["inputSchema"]["type"], "object");
    assert_eq!(ts["outputSchema"]["type"], "object");
    let hints = |name: &str| {
        let a = &tools[name]["annotations"];
        (
            a["readOnlyHint"].as_bool().unwrap(),
            a["destructiveHint"].as_bool().unwrap(),
            a["openWorldHint"].as_bool().unwrap(),
        )
    };
    assert_eq!(hints("text-stats"), (true, false, false));
    assert_eq!(hints("write-note"), (false, true, false));
    assert_eq!(hints("fetch-url"), (false, false, true));
    assert_eq!(hints("csv-to-json"), (true, false, false));
    assert_eq!(
        ts["_meta"]["io.wasmgov/publisher"],
        crate::caps::TEST_PUBLISHER
    );
    // A command component takes its stdin as the one argument.
    let r = p.call("csv-to-json", json!({"stdin": "a,b\n1,2\n"})).await;
    assert_eq!(r["isError"], false, "{r}");
    assert!(
        r["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("\"a\":\"1\"")
    );
    let r = p.call("csv-to-json", json!({"stdin": 5})).await;
    assert!(
        error_text(&r).starts_with("error[tool-invalid-input]"),
        "{r}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_publishers_of_one_name_are_both_served_under_names_that_say_whose() {
    let f = Fixture::new("");
    f.package(
        "mine",
        "text-stats",
        Pkg {
            name: Some("stats"),
            description: "ours",
            ..Pkg::default()
        },
    );
    f.package(
        "theirs",
        "tool-fails",
        Pkg {
            name: Some("stats"),
            publisher: OTHER_PUBLISHER,
            description: "theirs",
            sequence: 9,
            ..Pkg::default()
        },
    );
    // The same tool of one publisher twice: the higher sequence is served, the other refused.
    f.package(
        "mine-old",
        "text-stats",
        Pkg {
            name: Some("solo"),
            ..Pkg::default()
        },
    );
    f.package(
        "mine-new",
        "text-stats",
        Pkg {
            name: Some("solo"),
            sequence: 2,
            description: "newer",
            ..Pkg::default()
        },
    );
    let s = server(&f, ServerOptions::default()).await;
    let catalog = s.catalog();
    let names: Vec<&str> = catalog.served().keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "solo",
            "stats__other_example.com",
            "stats__tests_example.com"
        ]
    );
    assert_eq!(catalog.refused().len(), 1);
    assert_eq!(catalog.refused()[0].stem, "mine-old");
    // Loaded newest first, the older one is a rollback; oldest first, it is superseded.
    assert!(
        ["superseded", "rollback"].contains(&catalog.refused()[0].kind.as_str()),
        "{:?}",
        catalog.refused()
    );

    let mut p = Pipe::session(s, "2025-06-18").await;
    let tools = p.tools().await;
    assert_eq!(tools["stats__tests_example.com"]["description"], "ours");
    assert_eq!(tools["stats__other_example.com"]["description"], "theirs");
    assert_eq!(tools["solo"]["description"], "newer");
    // Each name runs its own publisher's component.
    let r = p
        .call("stats__tests_example.com", json!({"text": "a b"}))
        .await;
    assert_eq!(r["structuredContent"]["words"], 2, "{r}");
    let r = p.call("stats__other_example.com", json!({})).await;
    assert!(error_text(&r).starts_with("error[tool-failed]"), "{r}");
    // The bare name shadows neither.
    let r = p
        .request("tools/call", json!({"name": "stats", "arguments": {}}))
        .await;
    assert_eq!(r["error"]["code"], -32602, "{r}");
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_serves_new_versions_keeps_the_last_good_one_and_tells_session_clients() {
    let f = Fixture::new("");
    // Release `description` of the tool `counter` as sequence `sequence`.
    let release = |description, sequence| {
        f.package(
            "t",
            "text-stats",
            Pkg {
                name: Some("counter"),
                description,
                sequence,
                ..Pkg::default()
            },
        )
    };
    release("v1", 1);
    f.sleepy("1s");
    let s = server(&f, ServerOptions::default()).await;
    let mut p = Pipe::session(s.clone(), "2025-11-25").await;
    assert_eq!(p.tools().await["counter"]["description"], "v1");

    // A call in flight when its package goes away finishes on the version it started with.
    let slow = p
        .start("tools/call", json!({"name": "sleepy", "arguments": {}}))
        .await;
    wait_for(&f, |r| r["action"] == "call").await;
    // A new release of one package, another removed.
    release("v2", 2);
    for ext in ["wasm", "toml", "toml.sig"] {
        std::fs::remove_file(f.tools.join(format!("sleepy.{ext}"))).unwrap();
    }
    assert!(wasmgov_serve::reload::rescan(&s, &f.tools).await.unwrap());
    let r = p.response(slow).await;
    assert!(
        error_text(&r["result"]).starts_with("error[limit-timeout]"),
        "{r}"
    );
    // The session was told, and sees the new list.
    assert!(
        p.other
            .iter()
            .any(|m| m["method"] == "notifications/tools/list_changed"),
        "{:?}",
        p.other
    );
    let tools = p.tools().await;
    assert_eq!(tools["counter"]["description"], "v2");
    assert!(!tools.contains_key("sleepy"));

    // A tampered new version is not served: v2 keeps serving, and the refusal says so.
    release("v3", 3);
    let m = f.tools.join("t.toml");
    let text = std::fs::read_to_string(&m).unwrap();
    std::fs::write(&m, text.replace("v3", "v4")).unwrap();
    assert!(!wasmgov_serve::reload::rescan(&s, &f.tools).await.unwrap());
    let catalog = s.catalog();
    assert_eq!(catalog.refused().len(), 1);
    assert_eq!(catalog.refused()[0].kept.as_deref(), Some("counter"));
    assert_eq!(p.tools().await["counter"]["description"], "v2");
    // A rollback to v1's files is refused the same way.
    release("v1", 1);
    wasmgov_serve::reload::rescan(&s, &f.tools).await.unwrap();
    let catalog = s.catalog();
    assert_eq!(
        catalog.refused()[0].kind,
        "rollback",
        "{:?}",
        catalog.refused()
    );
    assert_eq!(p.tools().await["counter"]["description"], "v2");
    let r = p.call("counter", json!({"text": "still here"})).await;
    assert_eq!(r["structuredContent"]["words"], 2, "{r}");
}
