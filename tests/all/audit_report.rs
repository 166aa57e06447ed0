//! `wasmgov audit report`: the page an operator opens must show what the log holds — calls per
//! tool coloured by outcome, denials, limit hits, findings, quarantines — must fetch nothing,
//! and must not let a log's attacker-controlled text (tool names, paths, reasons) become
//! markup. Each page is rendered by a real browser (Debian's headless `chromium`, network
//! blocked) and its screenshot is read back pixel by pixel.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::support::{run, s, tool};

/// The page's colours (src/cmd/audit_report/page.rs): outcome fills, severity fills, verdicts.
const OK: [u8; 3] = [0x2f, 0x9e, 0x44];
const DENIED: [u8; 3] = [0xe0, 0x31, 0x31];
const LIMIT: [u8; 3] = [0xf7, 0x67, 0x07];
const FAILED: [u8; 3] = [0x70, 0x48, 0xe8];
const LOW: [u8; 3] = [0x33, 0x9a, 0xf0];
const MEDIUM: [u8; 3] = [0xfc, 0xc4, 0x19];
const HIGH: [u8; 3] = [0xe8, 0x59, 0x0c];
const CRITICAL: [u8; 3] = [0xa6, 0x1e, 0x4d];
const VERIFIED: [u8; 3] = [0xd3, 0xf9, 0xd8];
const DAMAGED: [u8; 3] = [0xff, 0xc9, 0xc9];

/// Append a record to `log`, hash-chained to its last line as the writer does: the SHA-256 of
/// the line without its `hash` member, followed by `}`. `fields` are the kind's JSON members.
/// Returns its seq.
fn append(log: &Path, call: &str, tool: &str, kind: &str, fields: &str) -> u64 {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let (seq, prev, ts) = match text.lines().last() {
        Some(l) => {
            let v: Value = serde_json::from_str(l).expect("last line is a record");
            (
                v["seq"].as_u64().expect("seq") + 1,
                v["hash"].as_str().expect("hash").to_owned(),
                v["ts"].as_str().expect("ts").to_owned(),
            )
        }
        None => (0, "0".repeat(64), "2026-12-02T00:00:00.000000Z".to_owned()),
    };
    let j = |s: &str| serde_json::to_string(s).expect("json string");
    let body = format!(
        "{{\"v\":1,\"seq\":{seq},\"ts\":{},\"call\":{},\"tool\":{},\"kind\":\"{kind}\",{fields},\"prev\":\"{prev}\"",
        j(&ts),
        j(call),
        j(tool)
    );
    let hash = wasmgov::audit::record::sha256_hex(format!("{body}}}").as_bytes());
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("open log");
    use std::io::Write;
    writeln!(f, "{body},\"hash\":\"{hash}\"}}").expect("append");
    seq
}

fn records(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .expect("read log")
        .lines()
        .map(|l| serde_json::from_str(l).expect("record"))
        .collect()
}

/// Run a tool through the CLI into `log`; returns the exit code.
fn run_tool(log: &Path, name: &str, input: &str, extra: &[&str]) -> i32 {
    let wasm = tool(name);
    let mut args = vec!["run", s(&wasm), "--audit", s(log), "--input", input];
    args.extend_from_slice(extra);
    run(&args).0
}

/// Real logs written by `wasmgov run`, made once: a clean one (three good calls) and a hostile
/// one (the same, a tool whose network attempts are denied, one stopped by its fuel limit,
/// then findings and a release appended to the chain).
struct Logs {
    _dir: tempfile::TempDir,
    clean: PathBuf,
    hostile: PathBuf,
}

fn logs() -> &'static Logs {
    static LOGS: OnceLock<Logs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let clean = dir.path().join("clean.jsonl");
        let hostile = dir.path().join("hostile.jsonl");
        for log in [&clean, &hostile] {
            for _ in 0..3 {
                assert_eq!(run_tool(log, "text-stats", r#"{"text":"a b c"}"#, &[]), 0);
            }
        }
        let net = r#"{"http":[{"url":"http://example.com/"}],"tcp":["10.0.0.1:80"],"lookup":["metadata.google.internal"]}"#;
        assert_eq!(run_tool(&hostile, "hostile-net", net, &[]), 0);
        assert_eq!(
            run_tool(&hostile, "hostile-loop", "{}", &["--fuel", "10000000"]),
            4
        );
        let rs = records(&hostile);
        let denials: Vec<&Value> = rs
            .iter()
            .filter(|r| r["kind"] == "host-call" && r["decision"] == "deny")
            .collect();
        assert!(denials.len() >= 3, "hostile-net was not denied: {rs:?}");
        let seqs: Vec<String> = denials.iter().map(|r| r["seq"].to_string()).collect();
        let call = denials[0]["call"].as_str().expect("call").to_owned();
        let label = denials[0]["tool"].as_str().expect("tool").to_owned();
        append(
            &hostile,
            &call,
            &label,
            "finding",
            &format!(
                r#""rule":"deny-burst","severity":"high","action":"quarantine","message":"{} denials in one call","evidence":[{}],"subject":"wasi:sockets/tcp-create-socket","quarantined":"hostile-net example.com""#,
                seqs.len(),
                seqs.join(",")
            ),
        );
        append(
            &hostile,
            &call,
            &label,
            "finding",
            &format!(
                r#""rule":"internal-address","severity":"critical","action":"stop-call","message":"tried 10.0.0.1, an internal address","evidence":[{}]"#,
                seqs[1]
            ),
        );
        append(
            &hostile,
            "01RELEASE",
            &label,
            "release",
            r#""key":"hostile-net example.com","by":"operator","rule":"deny-burst""#,
        );
        let (code, out, _) = run(&["audit", "verify", s(&hostile)]);
        assert_eq!(code, 0, "the appended records keep the chain: {out}");
        Logs {
            _dir: dir,
            clean,
            hostile,
        }
    })
}

/// `wasmgov audit report LOG --html OUT`: (exit code, stderr, the page).
fn report(log: &Path, out: &Path) -> (i32, String, String) {
    let (code, _, err) = run(&["audit", "report", s(log), "--html", s(out)]);
    let html = std::fs::read_to_string(out).unwrap_or_default();
    (code, err, html)
}

/// Headless chromium with the network blocked: no name resolves, so a page that tried to
/// fetch anything would get nothing.
fn chromium(dir: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--force-color-profile=srgb",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--window-size=1400,2400",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.join("chromium-profile").display()
        ))
        .args(args)
        .output()
        .expect("chromium not found: run scripts/setup (it installs Debian's chromium package)");
    assert!(
        out.status.success(),
        "chromium {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn url(p: &Path) -> String {
    format!("file://{}", p.display())
}

/// The page as a browser renders it: pixel counts by colour.
struct Shot(HashMap<[u8; 3], usize>);

impl Shot {
    fn of(html: &Path) -> Shot {
        let dir = html.parent().expect("dir");
        let png = dir.join(format!(
            "{}.png",
            html.file_name().and_then(|n| n.to_str()).unwrap_or("page")
        ));
        chromium(
            dir,
            &[&format!("--screenshot={}", png.display()), &url(html)],
        );
        let file = std::io::BufReader::new(std::fs::File::open(&png).expect("screenshot"));
        let mut dec = png::Decoder::new(file);
        dec.set_transformations(png::Transformations::EXPAND);
        let mut reader = dec.read_info().expect("a PNG");
        let mut buf = vec![0; reader.output_buffer_size().expect("size")];
        let info = reader.next_frame(&mut buf).expect("decode");
        let samples = info.color_type.samples();
        assert!(samples >= 3, "{:?}", info.color_type);
        assert_eq!((info.width, info.height), (1400, 2400));
        let mut counts = HashMap::new();
        for px in buf[..info.buffer_size()].chunks_exact(samples) {
            *counts.entry([px[0], px[1], px[2]]).or_default() += 1;
        }
        Shot(counts)
    }

    fn count(&self, c: [u8; 3]) -> usize {
        self.0.get(&c).copied().unwrap_or(0)
    }
}

/// The page fetches nothing: no element that loads something, no resource attribute, no
/// stylesheet import, every link within the page, and a policy that forbids loading anything
/// else. (Log text is escaped, so every `<` in the page opens one of the page's own tags.)
fn assert_self_contained(html: &str) {
    assert!(html.contains(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">"
    ));
    for tag in html.split('<').skip(1) {
        let tag = tag.split('>').next().unwrap_or("").to_lowercase();
        let name = tag.split([' ', '/']).next().unwrap_or("");
        assert!(
            ![
                "script", "link", "img", "image", "iframe", "object", "embed", "use", "base"
            ]
            .contains(&name),
            "<{tag}> in the page"
        );
        for attr in [
            " src=",
            " srcset=",
            "xlink:href",
            " style=\"background:url",
            " action=",
        ] {
            assert!(!tag.contains(attr), "{attr} in <{tag}>");
        }
        if let Some(i) = tag.find(" href=\"") {
            assert!(
                tag[i + 7..].starts_with('#'),
                "a link out of the page: <{tag}>"
            );
        }
    }
    let css = html
        .split("<style>")
        .nth(1)
        .and_then(|s| s.split("</style>").next())
        .expect("a style sheet");
    assert!(!css.contains("url(") && !css.contains("@import"), "{css}");
}

/// Every `#seq-N` link has its record on the page.
fn assert_links_resolve(html: &str) -> usize {
    let mut n = 0;
    const LINK: &str = "href=\"#seq-";
    for (i, _) in html.match_indices(LINK) {
        let rest = &html[i + LINK.len()..];
        let seq: String = rest.chars().take_while(char::is_ascii_digit).collect();
        assert!(
            html.contains(&format!("id=\"seq-{seq}\"")),
            "#seq-{seq} links to nothing"
        );
        n += 1;
    }
    n
}

#[test]
fn the_report_shows_calls_denials_limits_findings_and_quarantines_in_a_browser() {
    let logs = logs();
    let dir = tempfile::tempdir().expect("tempdir");

    // A quiet log: good calls only. None of the colours of trouble may be drawn.
    let clean = dir.path().join("clean.html");
    let (code, err, html) = report(&logs.clean, &clean);
    assert_eq!(code, 0, "{err}");
    assert!(err.is_empty(), "{err}");
    assert_self_contained(&html);
    assert!(html.contains("No host call was denied."));
    assert!(html.contains("No findings."));
    let shot = Shot::of(&clean);
    assert!(shot.count(OK) > 10_000, "the good calls are drawn");
    assert!(
        shot.count(VERIFIED) > 10_000,
        "the verdict says it verifies"
    );
    for (name, c) in [
        ("denied", DENIED),
        ("limit", LIMIT),
        ("failed", FAILED),
        ("low", LOW),
        ("medium", MEDIUM),
        ("high", HIGH),
        ("critical", CRITICAL),
        ("damaged", DAMAGED),
    ] {
        assert_eq!(shot.count(c), 0, "{name} drawn for a log without it");
    }

    // The hostile log: 5 calls (3 ok, 1 denied, 1 stopped by fuel), 2 findings (high,
    // critical), a quarantine and its release.
    let page = dir.path().join("hostile.html");
    let (code, err, html) = report(&logs.hostile, &page);
    assert_eq!(code, 0, "{err}");
    assert_self_contained(&html);
    assert!(html.contains("<strong>Chain verifies</strong>"), "{html}");
    assert!(html.contains("wasi:sockets/tcp-create-socket"));
    assert!(html.contains("wasi:http/outgoing-handler"));
    assert!(html.contains("<td>fuel</td>"));
    assert!(html.contains("deny-burst") && html.contains("internal-address"));
    assert!(html.contains("hostile-net example.com"));
    assert!(html.contains("<span class=\"state r\">released</span>"));
    assert!(html.contains("released by operator"));
    let linked = assert_links_resolve(&html);
    assert!(linked >= 10, "{linked} links");
    // Each denial, the limit hit, both findings and the release are on the page.
    for r in records(&logs.hostile) {
        let kind = r["kind"].as_str().unwrap_or("");
        if r["decision"] == "deny" || ["limit", "finding", "release"].contains(&kind) {
            assert!(
                html.contains(&format!("id=\"seq-{}\"", r["seq"])),
                "{kind} seq {} not shown",
                r["seq"]
            );
        }
    }

    let shot = Shot::of(&page);
    let (ok, denied, limit) = (shot.count(OK), shot.count(DENIED), shot.count(LIMIT));
    // The outcome bar alone is 1000 × 18 px split 3:1:1; marks and swatches add a little.
    assert!(
        denied >= 3000 && limit >= 3000,
        "denied {denied}, limit {limit}"
    );
    let ratio = ok as f64 / denied as f64;
    assert!((2.5..3.5).contains(&ratio), "ok {ok} / denied {denied}");
    let ratio = denied as f64 / limit as f64;
    assert!(
        (0.85..1.18).contains(&ratio),
        "denied {denied} / limit {limit}"
    );
    assert_eq!(shot.count(FAILED), 0);
    // The severity bar is split 1:1 between high and critical.
    let (high, critical) = (shot.count(HIGH), shot.count(CRITICAL));
    assert!(
        high >= 8000 && critical >= 8000,
        "high {high}, critical {critical}"
    );
    let ratio = high as f64 / critical as f64;
    assert!(
        (0.85..1.18).contains(&ratio),
        "high {high} / critical {critical}"
    );
    assert_eq!(shot.count(LOW) + shot.count(MEDIUM), 0);
    assert_eq!(shot.count(DAMAGED), 0);

    // `--html -` writes the same page to stdout.
    let (code, out, _) = run(&["audit", "report", s(&logs.hostile), "--html", "-"]);
    assert_eq!(code, 0);
    assert_eq!(out, html);
}

#[test]
fn log_text_cannot_become_markup_in_the_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("evil.jsonl");
    let evil = "<script>alert(1)</script>\"'&\u{1b}[2J\u{7}<img src=x onerror=alert(2)>";
    let j = |s: &str| serde_json::to_string(s).expect("json");
    let tool = format!("{evil}@1.0.0");
    append(
        &log,
        "01LOAD",
        &tool,
        "load",
        r#""component_sha256":"00","component_size":1,"world":"tool","policy_sha256":"00""#,
    );
    append(
        &log,
        "01CALL",
        &tool,
        "start",
        r#""load":"01LOAD","action":"call","input_size":0,"input_sha256":"00""#,
    );
    append(
        &log,
        "01CALL",
        &tool,
        "host-call",
        &format!(
            r#""iface":{},"func":"[method]descriptor.open-at","args":{{"path":{}}},"decision":"deny","outcome":"not-permitted","reason":{},"us":1"#,
            j(evil),
            j(&format!("../{evil}")),
            j(evil)
        ),
    );
    append(
        &log,
        "01CALL",
        &tool,
        "end",
        r#""outcome":"ok","exit":0,"fuel":1,"peak_memory":0,"host_calls":1,"output":0,"us":1"#,
    );
    append(
        &log,
        "01CALL",
        &tool,
        "finding",
        &format!(
            r#""rule":{e},"severity":{e},"action":"quarantine","message":{e},"evidence":[2],"subject":{e},"quarantined":{e}"#,
            e = j(evil)
        ),
    );
    append(
        &log,
        "01REL",
        &tool,
        "release",
        &format!(r#""key":{e},"by":{e},"rule":{e}"#, e = j(evil)),
    );
    let (code, out, _) = run(&["audit", "verify", s(&log)]);
    assert_eq!(code, 0, "{out}");

    let page = dir.path().join("evil.html");
    let (code, err, html) = report(&log, &page);
    assert_eq!(code, 0, "{err}");
    assert_self_contained(&html);
    assert!(!html.to_lowercase().contains("<script"), "{html}");
    assert!(!html.contains("onerror=alert(2)>"), "{html}");
    assert!(!html.chars().any(|c| c.is_control() && c != '\n'), "{html}");
    let shown = "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;\\u{1b}[2J\\u{7}&lt;img src=x onerror=alert(2)&gt;";
    // In the tools table, the denial table, the findings, the quarantines and the records.
    assert!(html.matches(shown).count() >= 8, "{html}");
    // The browser reads it all as text: its DOM has the text, and no element came of it.
    let dom = String::from_utf8(chromium(dir.path(), &["--dump-dom", &url(&page)]).stdout)
        .expect("utf-8 DOM");
    assert!(
        dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{dom}"
    );
    let lower = dom.to_lowercase();
    assert!(
        !lower.contains("<script") && !lower.contains("<img"),
        "{dom}"
    );
}

#[test]
fn a_damaged_log_is_reported_where_it_breaks_and_what_came_before_still_shows() {
    let logs = logs();
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("damaged.jsonl");
    let text = std::fs::read_to_string(&logs.hostile).expect("read");
    let lines: Vec<&str> = text.lines().collect();
    // Someone edits the limit record, and the file ends in a line that is not a record.
    let at = lines
        .iter()
        .position(|l| l.contains("\"kind\":\"limit\""))
        .expect("a limit record");
    let mut edited: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    edited[at] = edited[at].replacen("\"used\":", "\"used\":1", 1);
    let seq = records(&logs.hostile)[at]["seq"].as_u64().expect("seq");
    std::fs::write(&log, edited.join("\n") + "\n{\"seq\":\n").expect("write");

    let page = dir.path().join("damaged.html");
    let (code, err, html) = report(&log, &page);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&format!("seq {seq}")), "{err}");
    assert!(
        html.contains(&format!(
            "Chain DAMAGED at seq {seq}</strong> (line {})",
            at + 1
        )),
        "{html}"
    );
    let stop = lines.len() + 1;
    assert!(
        html.contains(&format!("Reading stopped at line {stop}</strong>")),
        "{html}"
    );
    // Everything before the bad line is there, and what follows the damage is flagged.
    assert!(html.contains("deny-burst") && html.contains("released by operator"));
    assert!(html.contains(&format!("<tr id=\"seq-{seq}\" class=\"limit unvouched\">")));
    assert_links_resolve(&html);
    let shot = Shot::of(&page);
    assert!(shot.count(DAMAGED) > 10_000, "the verdict is shown damaged");
    assert_eq!(shot.count(VERIFIED), 0, "and never as verified");
    assert!(
        shot.count(DENIED) > 3000,
        "the data before the damage is drawn"
    );
}

#[test]
fn a_missing_log_or_an_unwritable_page_is_an_io_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.jsonl");
    let (code, _, err) = run(&["audit", "report", s(&missing), "--html", "-"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with("error[io]: cannot read the audit log"),
        "{err}"
    );
    assert!(err.contains("hint: check the path"), "{err}");
    let out = dir.path().join("no/such/dir/report.html");
    let (code, _, err) = run(&["audit", "report", s(&logs().clean), "--html", s(&out)]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with("error[io]: cannot write the report"),
        "{err}"
    );
    assert!(err.contains("hint: check the path"), "{err}");
}
