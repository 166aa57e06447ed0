//! Secrets (E02, M02b): the host adds a secret only to requests bound for its own host; the
//! tool can neither read it, set or override its header, nor send it anywhere else, and no
//! output or error holds the value.

use serde_json::json;
use wasmgov::grant::SecretSource;
use wasmgov::{Error, LoadOptions, Refusal};

use crate::caps::{Server, call_json, load_unsigned, load_with, runtime_with};

const CANARY: &str = "sk-canary-3f9a1c77e0";

struct Setup {
    _dir: tempfile::TempDir,
    api: Server,
    other: Server,
    rt: wasmgov::Runtime,
    manifest: String,
    opts: LoadOptions,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{CANARY}\n")).expect("write secret");
    let (api, other) = (Server::start(), Server::start());
    let allow = format!("\"{}\", \"{}\"", api.url(), other.url());
    let manifest = format!(
        "\n[net]\nallow = [{allow}]\n\n[[secrets]]\nname = \"API_TOKEN\"\nhost = \"{}\"\nheader = \"Authorization\"\nformat = \"Bearer {{}}\"\n",
        api.url()
    );
    let rt = runtime_with(
        &format!(
            "[net]\nallow = [{allow}]\n\n[[net.private]]\ncidr = \"127.0.0.1/32\"\ntools = [\"*\"]\n"
        ),
        None,
    );
    let opts = LoadOptions {
        secrets: vec![("API_TOKEN".into(), SecretSource::File(file))],
        ..Default::default()
    };
    Setup {
        _dir: dir,
        api,
        other,
        rt,
        manifest,
        opts,
    }
}

#[tokio::test]
async fn the_secret_reaches_its_own_host_and_nowhere_else() {
    let s = setup();
    // The real example: call-api gets an answer from the API, which saw the credential.
    let t = load_with(&s.rt, "call-api", &s.manifest, &s.opts).expect("load");
    let out = call_json(&t, json!({ "base": s.api.url(), "path": "/v1/items" })).await;
    assert_eq!(out["status"], 200, "{out}");
    assert!(!out.to_string().contains(CANARY));
    let seen = s.api.seen();
    assert_eq!(
        seen[0].header("authorization"),
        Some(format!("Bearer {CANARY}").as_str())
    );

    // The same tool aimed at the other allowed host sends nothing.
    let out = call_json(&t, json!({ "base": s.other.url(), "path": "/collect" })).await;
    assert_eq!(out["status"], 200);
    let seen = s.other.seen();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].header("authorization").is_none(), "{seen:?}");
    for (_, v) in &seen[0].headers {
        assert!(!v.contains(CANARY), "{seen:?}");
    }
}

#[tokio::test]
async fn the_tool_cannot_set_or_override_the_secret_header() {
    let s = setup();
    let t = load_with(&s.rt, "hostile-net", &s.manifest, &s.opts).expect("load");
    let out = call_json(
        &t,
        json!({ "http": [
            { "url": format!("{}/", s.api.url()), "headers": [["authorization", "Bearer mine"]] },
            { "url": format!("{}/", s.other.url()), "headers": [["Authorization", "Bearer {API_TOKEN}"]] },
            { "url": format!("{}/?token=${{API_TOKEN}}", s.other.url()), "method": "POST", "body": "{{API_TOKEN}} $API_TOKEN" },
        ]}),
    )
    .await;
    let r = out["results"].as_array().expect("results");
    assert_eq!(r[0]["ok"], false, "{out}");
    assert!(
        r[0]["detail"].as_str().unwrap_or("").contains("Forbidden"),
        "{out}"
    );
    assert_eq!(r[1]["ok"], false, "{out}");
    assert_eq!(r[2]["ok"], true, "{out}");
    assert!(!out.to_string().contains(CANARY));
    assert_eq!(s.api.connections(), 0);
    // Placeholders are just text: the other host receives them literally, never the value.
    for seen in s.other.seen() {
        assert!(seen.header("authorization").is_none());
        assert!(!format!("{seen:?}").contains(CANARY));
    }
}

#[tokio::test]
async fn the_tool_cannot_read_the_secret_from_env_or_files() {
    let s = setup();
    let t = load_with(&s.rt, "hostile-env", &s.manifest, &s.opts).expect("load");
    let out = t
        .run(
            json!({ "paths": [s._dir.path().join("token").display().to_string()] })
                .to_string()
                .as_bytes(),
            &Default::default(),
        )
        .await;
    let text = format!(
        "{:?}{}{}",
        out.result,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.result.is_ok(), "{text}");
    assert!(!text.contains(CANARY), "{text}");
}

#[tokio::test]
async fn a_secret_that_cannot_be_read_fails_the_load_without_leaking() {
    let s = setup();
    let missing = LoadOptions {
        secrets: vec![(
            "API_TOKEN".into(),
            SecretSource::File(s._dir.path().join("missing")),
        )],
        ..Default::default()
    };
    match load_with(&s.rt, "call-api", &s.manifest, &missing) {
        Err(Error::Refused(Refusal::Secret(e))) => {
            assert!(e.to_string().contains("API_TOKEN"), "{e}");
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("loaded without its secret"),
    }
    // A value that would split the header is refused, and the message does not echo it.
    let bad = s._dir.path().join("bad");
    std::fs::write(&bad, format!("{CANARY}\r\nX-Injected: 1")).expect("write");
    let opts = LoadOptions {
        secrets: vec![("API_TOKEN".into(), SecretSource::File(bad))],
        ..Default::default()
    };
    let e = load_with(&s.rt, "call-api", &s.manifest, &opts).expect_err("refused");
    assert!(!e.to_string().contains(CANARY), "{e}");
    // A secret the manifest does not declare cannot be handed in.
    let opts = LoadOptions {
        secrets: vec![(
            "OTHER".into(),
            SecretSource::File(s._dir.path().join("token")),
        )],
        ..s.opts.clone()
    };
    let e = load_with(&s.rt, "call-api", &s.manifest, &opts).expect_err("refused");
    assert!(e.to_string().contains("--secret OTHER"), "{e}");
}

/// Finding 1: a secret the operator provisions for one tool and host never reaches another
/// tool, nor its own tool on another host, nor an unsigned manifest that claims the tool's name.
#[tokio::test]
async fn secret_is_never_sent_to_another_tools_host() {
    let s = setup();
    let token = s._dir.path().join("token");
    let allow = format!("\"{}\", \"{}\"", s.api.url(), s.other.url());
    let policy = format!(
        "[net]\nallow = [{allow}]\n\n[[net.private]]\ncidr = \"127.0.0.1/32\"\ntools = [\"*\"]\n\n[secrets.API_TOKEN]\nsource = \"file:{}\"\nhost = \"{}\"\ntools = [\"call-api\"]\n",
        token.display(),
        s.api.url()
    );
    let rt = runtime_with(&policy, None);
    let claim = |host: &str| {
        format!(
            "\n[net]\nallow = [{allow}]\n\n[[secrets]]\nname = \"API_TOKEN\"\nhost = \"{host}\"\nheader = \"X-Api-Key\"\n"
        )
    };
    let none = LoadOptions::default();
    // The tool it is for, sent to its host: injected.
    let t = load_with(&rt, "call-api", &s.manifest, &none).expect("load");
    let out = call_json(&t, json!({ "base": s.api.url(), "path": "/v1" })).await;
    assert_eq!(out["status"], 200, "{out}");
    assert_eq!(
        s.api.seen()[0].header("authorization"),
        Some(format!("Bearer {CANARY}").as_str())
    );
    // Another tool (the review's search-x), on its own host or on the secret's host.
    for host in [s.other.url(), s.api.url()] {
        let e = load_with(&rt, "hostile-net", &claim(&host), &none).expect_err("refused");
        assert_eq!(e.kind(), "policy", "{e}");
        assert!(
            e.to_string()
                .contains("provisioned only for tools [\"call-api\"], not `hostile-net`"),
            "{e}"
        );
    }
    // The right tool asking for it on another (allowed) host.
    let e = load_with(&rt, "call-api", &claim(&s.other.url()), &none).expect_err("refused");
    assert!(e.to_string().contains("may go only to"), "{e}");
    // An unsigned manifest named call-api (anyone who can write beside the .wasm).
    let e = load_unsigned(&rt, "call-api", &s.manifest, &none).expect_err("refused");
    assert!(
        e.to_string().contains("unsigned tool gets no secret"),
        "{e}"
    );
    let e = load_unsigned(&rt, "call-api", &s.manifest, &s.opts)
        .expect_err("refused with --secret too");
    assert!(
        e.to_string().contains("unsigned tool gets no secret"),
        "{e}"
    );
    // Nothing but the one granted call reached a server, and the other host never saw it.
    assert_eq!(s.api.connections(), 1);
    assert_eq!(s.other.connections(), 0);
}

/// Finding 6: the file a secret comes from cannot be read through a bind — neither the
/// policy's `file:` sources (whichever tool they are for) nor a `--secret NAME=@FILE`.
#[tokio::test]
async fn the_secret_file_cannot_be_read_through_a_bind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = std::fs::canonicalize(dir.path()).expect("canonical");
    let vault = base.join("vault");
    std::fs::create_dir(&vault).expect("mkdir");
    std::fs::write(vault.join("token"), format!("{CANARY}\n")).expect("token");
    #[cfg(unix)]
    std::os::unix::fs::symlink(&vault, base.join("alias")).expect("link");
    let fs_manifest = "\n[[fs]]\nguest = \"/vault\"\naccess = \"read\"\n";
    let bind = |host: &std::path::Path| LoadOptions {
        binds: vec![format!("/vault={}", host.display()).parse().expect("bind")],
        ..Default::default()
    };
    // Control: with no secret anywhere, the tool reads the file through the bind.
    let rt = runtime_with("", None);
    let t = load_with(&rt, "hostile-env", fs_manifest, &bind(&vault)).expect("load");
    let out = call_json(&t, json!({ "paths": ["/vault/token"] })).await;
    assert!(out.to_string().contains(CANARY), "{out}");

    // A policy secret sourced from it, provisioned for another tool.
    let rt = runtime_with(
        &format!(
            "[secrets.OTHER]\nsource = \"file:{}\"\nhost = \"https://api.example.com\"\ntools = [\"call-api\"]\n",
            vault.join("token").display()
        ),
        None,
    );
    for host in [vault.clone(), base.clone(), base.join("alias")] {
        match load_with(&rt, "hostile-env", fs_manifest, &bind(&host)) {
            Err(Error::Refused(Refusal::ProtectedPath { protected, .. })) => {
                assert!(
                    protected.ends_with("vault/token"),
                    "{}",
                    protected.display()
                );
            }
            Err(e) => panic!("{}: wrong error: {e}", host.display()),
            Ok(_) => panic!("{}: bound the secret's file", host.display()),
        }
    }

    // A --secret file, for the tool's own declared secret.
    let rt = runtime_with("[net]\nallow = [\"https://api.example.com\"]\n", None);
    let m = format!(
        "{fs_manifest}\n[net]\nallow = [\"https://api.example.com\"]\n\n[[secrets]]\nname = \"API_TOKEN\"\nhost = \"https://api.example.com\"\nheader = \"Authorization\"\n"
    );
    let opts = LoadOptions {
        secrets: vec![("API_TOKEN".into(), SecretSource::File(vault.join("token")))],
        ..bind(&vault)
    };
    match load_with(&rt, "hostile-env", &m, &opts) {
        Err(Error::Refused(Refusal::ProtectedPath { .. })) => {}
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("bound the --secret file"),
    }
}

/// The mask an echo of `Bearer CANARY` (the formatted header value) becomes.
fn bearer_mask() -> String {
    "*".repeat("Bearer ".len() + CANARY.len())
}

/// A server that echoes the request hands the tool its own credential: the host masks every
/// echo, in the body and in the headers, before the tool reads it, and says which secret it was.
#[tokio::test]
async fn a_server_echoing_the_request_cannot_hand_the_tool_its_secret() {
    let s = setup();
    let t = load_with(&s.rt, "fetch-url", &s.manifest, &s.opts).expect("load");
    let out = t
        .run(
            json!({ "url": format!("{}/echo", s.api.url()) })
                .to_string()
                .as_bytes(),
            &Default::default(),
        )
        .await;
    let bytes = out.result.expect("call succeeds");
    assert!(
        !bytes.windows(CANARY.len()).any(|w| w == CANARY.as_bytes()),
        "{}",
        String::from_utf8_lossy(&bytes)
    );
    let v: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
    let text = v["text"].as_str().expect("text");
    assert!(
        text.contains(&format!("authorization: {}\n", bearer_mask())),
        "{text}"
    );
    // Same length: the server's Content-Length still holds and nothing else moved.
    assert!(text.contains("host: 127.0.0.1:"), "{text}");
    assert_eq!(out.secrets_echoed, vec!["API_TOKEN".to_string()]);
    // The server did get the credential.
    assert_eq!(
        s.api.seen()[0].header("authorization"),
        Some(format!("Bearer {CANARY}").as_str())
    );

    // A hostile tool reading every response header finds the mask there too.
    let t = load_with(&s.rt, "hostile-net", &s.manifest, &s.opts).expect("load");
    let out = t
        .run(
            json!({ "http": [{ "url": format!("{}/echo", s.api.url()), "show_headers": true }] })
                .to_string()
                .as_bytes(),
            &Default::default(),
        )
        .await;
    let text = String::from_utf8_lossy(out.result.as_deref().expect("call succeeds")).to_string();
    assert!(!text.contains(CANARY), "{text}");
    assert!(
        text.contains(&format!("x-echo-authorization: {}", bearer_mask())),
        "{text}"
    );
    assert_eq!(out.secrets_echoed, vec!["API_TOKEN".to_string()]);
}

/// A value split across two chunks of a chunked body is masked as a whole.
#[tokio::test]
async fn an_echo_split_across_chunks_is_masked() {
    let s = setup();
    let t = load_with(&s.rt, "fetch-url", &s.manifest, &s.opts).expect("load");
    let out = t
        .run(
            json!({ "url": format!("{}/echo-chunked", s.api.url()) })
                .to_string()
                .as_bytes(),
            &Default::default(),
        )
        .await;
    let v: serde_json::Value =
        serde_json::from_slice(&out.result.expect("call succeeds")).expect("JSON");
    assert_eq!(v["text"], format!("auth={}", bearer_mask()), "{v}");
    assert_eq!(out.secrets_echoed, vec!["API_TOKEN".to_string()]);
}

/// A server that does not echo: the body is untouched and nothing is reported; nor is a
/// request that carried no secret ever masked.
#[tokio::test]
async fn a_server_that_does_not_echo_is_left_alone() {
    let s = setup();
    let t = load_with(&s.rt, "fetch-url", &s.manifest, &s.opts).expect("load");
    let run = |url: String| {
        let t = &t;
        async move {
            let out = t
                .run(
                    json!({ "url": url }).to_string().as_bytes(),
                    &Default::default(),
                )
                .await;
            let v: serde_json::Value =
                serde_json::from_slice(&out.result.expect("call succeeds")).expect("JSON");
            (v, out.secrets_echoed)
        }
    };
    let (v, echoed) = run(format!("{}/v1/items", s.api.url())).await;
    assert_eq!(v["text"], "hello", "{v}");
    assert_eq!(v["bytes"], 5);
    assert!(echoed.is_empty(), "{echoed:?}");
    // The other host got no secret, so its echo holds none and is passed on as it is.
    let (v, echoed) = run(format!("{}/echo", s.other.url())).await;
    let text = v["text"].as_str().expect("text");
    assert!(text.contains("host: 127.0.0.1:"), "{text}");
    assert!(!text.contains('*'), "{text}");
    assert!(echoed.is_empty(), "{echoed:?}");
}

/// The echo is in the audit record of the host call that read it (names only): `handle` for an
/// echo in the response head, the call that pulled the frame for one in the body.
#[tokio::test]
async fn an_echo_is_audited_by_name_never_by_value() {
    let s = setup();
    let (_d, log) = crate::audit::temp_log();
    let allow = format!("\"{}\", \"{}\"", s.api.url(), s.other.url());
    let rt = crate::audit::signed_runtime(&format!("[net]\nallow = [{allow}]\n"), &log);
    let t = load_with(&rt, "fetch-url", &s.manifest, &s.opts).expect("load");
    for path in ["/echo", "/echo-chunked"] {
        let out = t
            .run(
                json!({ "url": format!("{}{path}", s.api.url()) })
                    .to_string()
                    .as_bytes(),
                &Default::default(),
            )
            .await;
        assert!(out.result.is_ok(), "{:?}", out.result);
    }
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(!text.contains(CANARY), "the value reached the audit log");
    let records = crate::audit::records(&log);
    let calls = crate::audit::calls(&records);
    assert_eq!(calls.len(), 2, "{text}");
    for (call, head) in calls.iter().zip([true, false]) {
        let echoed: Vec<serde_json::Value> = crate::audit::host_calls_of(&records, call)
            .into_iter()
            .filter(|r| r["args"]["echoed"].is_string())
            .collect();
        assert_eq!(
            echoed.len(),
            1,
            "one record per response and secret:\n{text}"
        );
        let r = &echoed[0];
        assert_eq!(r["args"]["echoed"], "API_TOKEN", "{r}");
        assert_eq!(r["decision"], "allow", "{r}");
        if head {
            assert_eq!(r["func"], "handle", "{r}");
        } else {
            assert_ne!(r["func"], "handle", "the body is read after `handle`: {r}");
        }
    }
}
