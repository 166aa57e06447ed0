//! Filesystem threats (F01–F05): no path, symlink or hard link leaves a bind, and a read bind
//! refuses every mutation — proven by a hostile tool's own report and by the host's sentinel
//! files, unchanged by hash. The example tools work inside the same binds.

mod resources;

use std::path::{Path, PathBuf};

use serde_json::json;
use wasmgov::LoadOptions;
use wasmgov::grant::CliBind;

use crate::caps::{call_json, digest, load_with, runtime_with};
use crate::support::s;

const SECRET: &str = "host-sentinel-8d1f2a";

struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    /// base/{sentinel.txt, outside/sentinel.txt, ro/{inside.txt, sub/, escape -> ../outside,
    /// escape-file -> ../sentinel.txt, proc -> /proc}, rw/}
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let b = dir.path();
        std::fs::write(b.join("sentinel.txt"), SECRET).expect("write");
        std::fs::create_dir(b.join("outside")).expect("mkdir");
        std::fs::write(b.join("outside/sentinel.txt"), SECRET).expect("write");
        std::fs::create_dir_all(b.join("ro/sub")).expect("mkdir");
        std::fs::write(b.join("ro/inside.txt"), "inside line one\nneedle here\n").expect("write");
        std::fs::create_dir(b.join("rw")).expect("mkdir");
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(b.join("outside"), b.join("ro/escape")).expect("link");
            std::os::unix::fs::symlink("../sentinel.txt", b.join("ro/escape-file")).expect("link");
            std::os::unix::fs::symlink("/proc", b.join("ro/proc")).expect("link");
        }
        Self { dir }
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn binds(&self) -> Vec<CliBind> {
        vec![
            format!("/ro={}:read", self.p("ro").display())
                .parse()
                .expect("bind"),
            format!("/rw={}", self.p("rw").display())
                .parse()
                .expect("bind"),
        ]
    }
}

const FS_MANIFEST: &str = "\n[[fs]]\nguest = \"/ro\"\naccess = \"read-write\"\n\n[[fs]]\nguest = \"/rw\"\naccess = \"read-write\"\n";

/// (path relative to base, sha256, mtime) of every entry, symlinks not followed.
fn snapshot(base: &Path, skip: &str) -> Vec<(String, String, Option<std::time::SystemTime>)> {
    let mut out = Vec::new();
    let mut stack = vec![base.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("readdir").flatten() {
            let p = e.path();
            let rel = p.strip_prefix(base).expect("prefix").display().to_string();
            if rel.starts_with(skip) {
                continue;
            }
            let meta = std::fs::symlink_metadata(&p).expect("meta");
            let hash = if meta.is_file() {
                digest(&p)
            } else {
                String::new()
            };
            out.push((rel, hash, meta.modified().ok()));
            if meta.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn tool_cannot_escape_or_mutate_its_binds() {
    let tree = Tree::new();
    let before = snapshot(tree.dir.path(), "rw");
    let rt = runtime_with("", None);
    let opts = LoadOptions {
        binds: tree.binds(),
        ..Default::default()
    };
    let t = load_with(&rt, "hostile-fs", FS_MANIFEST, &opts).expect("load");
    let out = call_json(&t, json!({})).await;
    let attempts = out["attempts"].as_array().expect("attempts");
    assert!(attempts.len() > 30, "{out}");
    for a in attempts {
        let name = a["name"].as_str().unwrap_or("");
        let detail = a["detail"].as_str().unwrap_or("");
        if name.starts_with("control:") {
            assert!(detail.starts_with("ok"), "{name}: {detail}");
        } else {
            assert_eq!(a["escaped"], false, "{name} escaped: {detail}");
        }
    }
    assert!(
        !out.to_string().contains(SECRET),
        "sentinel bytes reached the tool"
    );
    assert!(
        !out.to_string().contains("root:"),
        "/etc/passwd reached the tool"
    );
    // The host's view: nothing outside the read-write bind changed, not even an mtime.
    assert_eq!(snapshot(tree.dir.path(), "rw"), before);
    // Inside the read-write bind only the tool's own files exist; the relative symlink may be
    // there (creating it is allowed), but nothing it pointed at was touched.
    for e in std::fs::read_dir(tree.p("rw")).expect("readdir").flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        assert!(
            ["control.txt", "rel-link"].contains(&n.as_str()),
            "unexpected {n}"
        );
    }
    // The host is fine and serves the next call.
    let again = call_json(&t, json!({})).await;
    assert!(again["attempts"].is_array());
}

#[tokio::test]
async fn example_tools_work_inside_their_binds() {
    let tree = Tree::new();
    let rt = runtime_with("", None);
    let grep = load_with(
        &rt,
        "grep-files",
        "\n[[fs]]\nguest = \"/data\"\naccess = \"read\"\n",
        &LoadOptions {
            binds: vec![
                format!("/data={}", tree.p("ro").display())
                    .parse()
                    .expect("bind"),
            ],
            ..Default::default()
        },
    )
    .expect("load");
    let out = call_json(&grep, json!({ "pattern": "NEEDLE", "ignore_case": true })).await;
    let m = out["matches"].as_array().expect("matches");
    assert_eq!(m.len(), 1, "{out}");
    assert_eq!(m[0]["file"], "/data/inside.txt");
    assert_eq!(m[0]["line"], 2);
    assert!(
        !out.to_string().contains(SECRET),
        "followed a symlink out: {out}"
    );

    let note_manifest = "\n[[fs]]\nguest = \"/notes\"\naccess = \"read-write\"\n";
    let bind = |suffix: &str| LoadOptions {
        binds: vec![
            format!("/notes={}{suffix}", tree.p("rw").display())
                .parse()
                .expect("bind"),
        ],
        ..Default::default()
    };
    let note = load_with(&rt, "write-note", note_manifest, &bind("")).expect("load");
    call_json(&note, json!({ "file": "todo.md", "text": "first" })).await;
    let out = call_json(&note, json!({ "file": "todo.md", "text": "second" })).await;
    assert_eq!(out["size"], 13, "{out}");
    assert_eq!(
        std::fs::read_to_string(tree.p("rw/todo.md")).expect("read"),
        "first\nsecond\n"
    );
    // The operator narrowed the bind to read: the same tool cannot write.
    let ro_note = load_with(&rt, "write-note", note_manifest, &bind(":read")).expect("load");
    let out = ro_note
        .run(
            json!({ "file": "todo.md", "text": "third" })
                .to_string()
                .as_bytes(),
            &Default::default(),
        )
        .await;
    assert!(out.result.is_err());
    assert_eq!(
        std::fs::read_to_string(tree.p("rw/todo.md")).expect("read"),
        "first\nsecond\n"
    );
}

#[test]
fn binding_a_protected_or_escaping_host_path_is_refused() {
    let tree = Tree::new();
    let rt = runtime_with("[fs]\nroots = [\"/nonexistent-root\"]\n", None);
    for host in [
        "/proc".to_string(),
        tree.p("ro/escape").display().to_string(),
    ] {
        let opts = LoadOptions {
            binds: vec![format!("/data={host}").parse().expect("bind")],
            ..Default::default()
        };
        let e = load_with(
            &rt,
            "grep-files",
            "\n[[fs]]\nguest = \"/data\"\naccess = \"read\"\n",
            &opts,
        )
        .expect_err("refused");
        assert_eq!(e.exit_code(), 3, "{e}");
    }
}

#[test]
fn binding_wasmgovs_own_state_audit_or_trust_is_refused() {
    // F06: a bind may neither lie inside nor contain the state directory, the compile cache,
    // the audit log, the trust store and policy files, the audit key, or a secret's file.
    let dir = tempfile::tempdir().expect("tempdir");
    let base = std::fs::canonicalize(dir.path()).expect("canonical");
    let (state, docs, ops) = (base.join("state"), base.join("docs"), base.join("operator"));
    for d in [&state, &docs, &ops] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    let wasm = base.join("grep_files.wasm");
    std::fs::copy(crate::support::tool("grep-files"), &wasm).expect("copy");
    let manifest = base.join("grep_files.toml");
    std::fs::write(
        &manifest,
        "schema = 1\n\n[tool]\nname = \"grep-files\"\nversion = \"0.1.0\"\npublisher = \"x@example.com\"\nsequence = 1\n\n[component]\nsha256 = \"0000000000000000000000000000000000000000000000000000000000000000\"\nsize = 0\n\n[[fs]]\nguest = \"/data\"\naccess = \"read\"\n",
    )
    .expect("manifest");
    let (code, _, err) = crate::support::run(&["pin", s(&manifest), s(&wasm)]);
    assert_eq!(code, 0, "{err}");
    // Finding 6: a secret's source file (whichever tool it is for) and the audit checkpoint key.
    let (vault, keys) = (base.join("vault"), base.join("keys"));
    for d in [&vault, &keys] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    std::fs::write(vault.join("token"), "tok-ABC123\n").expect("token");
    let audit_key = keys.join("audit");
    let (code, _, err) = crate::support::run(&["keygen", "-f", s(&audit_key)]);
    assert_eq!(code, 0, "{err}");
    let policy = ops.join("policy.toml");
    std::fs::write(
        &policy,
        format!(
            "[fs]\nroots = [\"{}\"]\n\n[secrets.OTHER_TOKEN]\nsource = \"file:{}\"\nhost = \"https://api.example.com\"\ntools = [\"call-api\"]\n",
            base.display(),
            vault.join("token").display()
        ),
    )
    .expect("policy");
    let run = |host: &Path| {
        crate::support::run(&[
            "run",
            s(&wasm),
            "--manifest",
            s(&manifest),
            "--allow-unsigned",
            "--policy",
            s(&policy),
            "--state",
            s(&state),
            "--audit-key",
            s(&audit_key),
            "--dir",
            &format!("/data={}:read", host.display()),
            "--input",
            r#"{"pattern":"x"}"#,
        ])
    };
    for host in [
        state.clone(),
        state.join("cache"),
        base.clone(),
        ops.clone(),
        vault.clone(),
        keys.clone(),
    ] {
        std::fs::create_dir_all(&host).expect("mkdir");
        let (code, out, err) = run(&host);
        assert_eq!(code, 3, "{}: {err}", host.display());
        assert!(
            err.contains("error[protected-path]"),
            "{}: {err}",
            host.display()
        );
        assert!(out.is_empty());
    }
    // Control: an ordinary directory under the root binds and the tool runs.
    let (code, _, err) = run(&docs);
    assert_ne!(code, 3, "{err}");
}
