//! Load with faults: 1,000 concurrent calls mixing good tools and every hostile fixture, through
//! the library and through `wasmgov serve`. Under that load every good call still returns its
//! exact result, every hostile one ends with its own limit or denial (never another error, never
//! a hang), nothing reaches the network or leaves a bind, host memory stays bounded, and the
//! audit log verifies with exactly one `start` and one `end` per call, the end saying what the
//! caller got.

mod serve;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wasmgov::audit::verify::{VerifyOptions, verify_file};
use wasmgov::{CallOptions, LoadOptions, Tool};

use crate::caps::{Server, TcpCounter};
use crate::serve::{Fixture, Pkg, policy_text};
use crate::support::s;

/// Calls of each run.
pub const CALLS: usize = 1000;
/// Calls in flight at once (the library's pool and `serve --max-concurrent`): the other calls
/// wait for a slot, as an agent server's do.
pub const SLOTS: u32 = 32;
/// One deadline for a whole run: a hang fails the test instead of wedging it.
pub const RUN_DEADLINE: Duration = Duration::from_secs(150);

/// What a call is given.
#[derive(Debug, Clone)]
pub enum Input {
    /// A tool-world call's JSON arguments.
    Json(Value),
    /// A command's stdin.
    Stdin(String),
}

impl Input {
    /// The bytes the library passes.
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Self::Json(v) => v.to_string().into_bytes(),
            Self::Stdin(s) => s.clone().into_bytes(),
        }
    }

    /// MCP `tools/call` arguments.
    pub fn arguments(&self) -> Value {
        match self {
            Self::Json(v) => v.clone(),
            Self::Stdin(s) => json!({ "stdin": s }),
        }
    }
}

/// How a call must end.
#[derive(Debug, Clone)]
pub enum Want {
    /// This exact JSON result.
    Json(Value),
    /// Its input back, byte for byte (bench-echo).
    Echo,
    /// A report of attempts that all failed (the tool ran; the host refused everything it
    /// tried). `deny`: the log holds at least one `deny` record of the call.
    Report {
        check: fn(&Value) -> Result<(), String>,
        deny: bool,
    },
    /// This error kind (`error[KIND]`, the `end` record's outcome).
    Error(&'static str),
}

impl Want {
    /// The `end` record's `outcome`.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Error(k) => k,
            _ => "ok",
        }
    }
}

/// One call of the mix.
#[derive(Debug, Clone)]
pub struct Case {
    /// The package (tool name) called.
    pub tool: &'static str,
    /// Its input.
    pub input: Input,
    /// How it must end.
    pub want: Want,
}

/// A package of the mix: (tool name, example component, manifest tables).
type PackageSpec = (&'static str, &'static str, &'static str);

/// Good tools: default limits (memory narrowed so the RSS bound below is arithmetic).
const GOOD: [PackageSpec; 4] = [
    (
        "text-stats",
        "text-stats",
        "\n[limits]\nmemory = \"16 MiB\"\n",
    ),
    (
        "json-query",
        "json-query",
        "\n[limits]\nmemory = \"16 MiB\"\n",
    ),
    (
        "unit-calc",
        "unit-calc",
        "\n[limits]\nmemory = \"16 MiB\"\n",
    ),
    (
        "bench-echo",
        "bench-echo",
        "\n[limits]\nmemory = \"16 MiB\"\n",
    ),
];

/// Every hostile fixture, each with small limits so that it ends fast, by its own limit.
const HOSTILE: [PackageSpec; 14] = [
    (
        "hostile-loop",
        "hostile-loop",
        "\n[limits]\nfuel = 20_000_000\nmemory = \"16 MiB\"\n",
    ),
    (
        "hostile-recursion",
        "hostile-recursion",
        "\n[limits]\nmemory = \"16 MiB\"\n",
    ),
    (
        "hostile-membomb",
        "hostile-membomb",
        "\n[limits]\nmemory = \"8 MiB\"\n",
    ),
    (
        "hostile-flood",
        "hostile-flood",
        "\n[limits]\noutput = \"256 KiB\"\nmemory = \"16 MiB\"\n",
    ),
    (
        "hostile-sleep",
        "hostile-sleep",
        "\n[limits]\ntimeout = \"300ms\"\nmemory = \"16 MiB\"\n",
    ),
    (
        "hostile-trap",
        "hostile-trap",
        "\n[limits]\nmemory = \"16 MiB\"\n",
    ),
    (
        "hostile-host-memory",
        "hostile-host-memory",
        "\n[limits]\nhost-memory = \"1 MiB\"\nmemory = \"16 MiB\"\n",
    ),
    (
        "hostile-cmd-exit",
        "hostile-cmd-exit",
        "\n[limits]\nmemory = \"16 MiB\"\n",
    ),
    (
        "hostile-clock",
        "hostile-clock",
        "\n[limits]\nhost-calls = 2000\nmemory = \"16 MiB\"\n",
    ),
    // No [net] table: every destination is refused.
    (
        "hostile-net",
        "hostile-net",
        "\n[limits]\nmemory = \"16 MiB\"\n",
    ),
    (
        "hostile-fs",
        "hostile-fs",
        "\n[limits]\nmemory = \"16 MiB\"\n\n[[fs]]\nguest = \"/ro\"\naccess = \"read\"\n\n\
         [[fs]]\nguest = \"/rw\"\naccess = \"read-write\"\n",
    ),
    (
        "hostile-fs-res",
        "hostile-fs-res",
        "\n[limits]\nwrite = \"64 KiB\"\nmemory = \"16 MiB\"\n\n[[fs]]\nguest = \"/w\"\n\
         access = \"read-write\"\n",
    ),
    (
        "hostile-env",
        "hostile-env",
        "\n[limits]\nmemory = \"16 MiB\"\n",
    ),
    (
        "hostile-lifecycle",
        "hostile-lifecycle",
        "\n[limits]\nmemory = \"16 MiB\"\n",
    ),
];

/// The sentinel the file escapes look for outside their binds.
const SENTINEL: &str = "load-sentinel-5c0ffee";

/// The packages, policy and escape targets of the mix, in one directory.
pub struct Mix {
    /// Packages, trust, policy, state and audit log (as the serve tests lay them out).
    pub f: Fixture,
    /// An HTTP server the network escapes aim at: it must see no connection.
    pub http: Server,
    /// A TCP listener the raw-socket escapes aim at: it must see no connection.
    pub tcp: TcpCounter,
    tree: PathBuf,
}

impl Mix {
    /// Sign every package, lay out the binds, write the policy that binds them.
    pub fn new() -> Self {
        let f = Fixture::new("");
        for (name, component, extra) in GOOD.iter().chain(&HOSTILE) {
            f.package(
                name,
                component,
                Pkg {
                    extra,
                    ..Pkg::default()
                },
            );
        }
        // tree/{sentinel.txt, outside/sentinel.txt, ro/{inside.txt, sub/, escape -> ../outside,
        // escape-file -> ../sentinel.txt, proc -> /proc}, rw/, w/}, as the fs tests do.
        let tree = f.dir.path().join("tree");
        std::fs::create_dir_all(tree.join("ro/sub")).expect("mkdir");
        std::fs::create_dir_all(tree.join("outside")).expect("mkdir");
        std::fs::create_dir(tree.join("rw")).expect("mkdir");
        std::fs::create_dir(tree.join("w")).expect("mkdir");
        std::fs::write(tree.join("sentinel.txt"), SENTINEL).expect("write");
        std::fs::write(tree.join("outside/sentinel.txt"), SENTINEL).expect("write");
        std::fs::write(tree.join("ro/inside.txt"), "inside\n").expect("write");
        std::os::unix::fs::symlink(tree.join("outside"), tree.join("ro/escape")).expect("link");
        std::os::unix::fs::symlink("../sentinel.txt", tree.join("ro/escape-file")).expect("link");
        std::os::unix::fs::symlink("/proc", tree.join("ro/proc")).expect("link");
        let bind = |tool: &str, guest: &str, dir: &str, access: &str| {
            format!(
                "[[binds]]\ntools = [\"{tool}\"]\nguest = \"{guest}\"\nhost = \"{}\"\n\
                 access = \"{access}\"\n\n",
                tree.join(dir).display()
            )
        };
        let binds = bind("hostile-fs", "/ro", "ro", "read")
            + &bind("hostile-fs", "/rw", "rw", "read-write")
            + &bind("hostile-fs-res", "/w", "w", "read-write");
        std::fs::write(&f.policy, policy_text(&binds)).expect("policy");
        Self {
            f,
            http: Server::start(),
            tcp: TcpCounter::start(),
            tree,
        }
    }

    /// Every package's tool name.
    pub fn tools() -> impl Iterator<Item = &'static str> {
        GOOD.iter().chain(&HOSTILE).map(|(name, _, _)| *name)
    }

    /// Call `i` of the run: even calls are good tools in turn, odd ones the hostile fixtures in
    /// turn (so each of the 14 comes 35 or 36 times in 1,000, spread over the whole run).
    pub fn case(&self, i: usize) -> Case {
        if i.is_multiple_of(2) {
            good_case(i / 2 % GOOD.len(), i)
        } else {
            self.hostile_case(i / 2 % HOSTILE.len(), i)
        }
    }

    fn hostile_case(&self, k: usize, i: usize) -> Case {
        let tool = HOSTILE[k].0;
        let (input, want) = match tool {
            "hostile-loop" => (json!({}), Want::Error("limit-fuel")),
            "hostile-recursion" => (json!({}), Want::Error("limit-stack")),
            "hostile-membomb" => (json!({}), Want::Error("limit-memory")),
            "hostile-flood" => (json!({}), Want::Error("limit-output")),
            "hostile-sleep" => (json!({}), Want::Error("limit-timeout")),
            "hostile-trap" => (json!({ "i": i }), Want::Error("trap")),
            "hostile-host-memory" => {
                return Case {
                    tool,
                    input: Input::Stdin("fields 9900".into()),
                    want: Want::Error("limit-host-memory"),
                };
            }
            "hostile-cmd-exit" => {
                return Case {
                    tool,
                    input: Input::Stdin(String::new()),
                    // It exits with 3: its own failure, not the host's.
                    want: Want::Error("tool-failed"),
                };
            }
            "hostile-clock" => (json!({}), Want::Error("limit-host-calls")),
            "hostile-net" => (
                json!({
                    "http": [{ "url": format!("{}/ok", self.http.url()) },
                             { "url": "http://169.254.169.254/latest/meta-data/" }],
                    "tcp": [format!("127.0.0.1:{}", self.tcp.port)],
                    "udp": ["127.0.0.1:9"],
                    "lookup": ["localhost"],
                }),
                Want::Report {
                    check: net_refused,
                    deny: true,
                },
            ),
            "hostile-fs" => (
                json!({ "ro": "/ro", "rw": "/rw", "outside": "sentinel.txt", "inside": "inside.txt" }),
                Want::Report {
                    check: fs_contained,
                    deny: true,
                },
            ),
            "hostile-fs-res" => (
                json!({ "mode": "append", "dir": "/w", "path": "append.bin", "n": 1 << 20 }),
                Want::Error("limit-write"),
            ),
            "hostile-env" => (
                json!({}),
                Want::Report {
                    check: env_empty,
                    deny: false,
                },
            ),
            "hostile-lifecycle" => (
                json!({ "plant": format!("canary-{i}") }),
                Want::Json(json!({
                    "previous_global": null,
                    "found_in_fresh_memory": false,
                    "forged": null,
                })),
            ),
            other => unreachable!("no case for {other}"),
        };
        Case {
            tool,
            input: Input::Json(input),
            want,
        }
    }

    /// After a run: nothing outside the binds changed and nothing reached the escape targets.
    pub fn assert_nothing_escaped(&self) {
        assert_eq!(
            self.http.connections(),
            0,
            "a network escape reached the server"
        );
        assert_eq!(self.tcp.count(), 0, "a raw socket reached the listener");
        for p in ["sentinel.txt", "outside/sentinel.txt"] {
            assert_eq!(
                std::fs::read_to_string(self.tree.join(p)).expect("sentinel"),
                SENTINEL,
                "{p} changed"
            );
        }
        assert_eq!(
            std::fs::read_to_string(self.tree.join("ro/inside.txt")).expect("inside"),
            "inside\n"
        );
        // What every append call could add, and no more: 64 KiB each.
        let appended = std::fs::metadata(self.tree.join("w/append.bin")).map_or(0, |m| m.len());
        let calls = (0..CALLS)
            .filter(|&i| self.case(i).tool == "hostile-fs-res")
            .count() as u64;
        assert!(appended <= calls * 64 * 1024, "{appended} bytes appended");
    }
}

/// A good call with an exact expected result, different for each `i`.
pub fn good_case(k: usize, i: usize) -> Case {
    let tool = GOOD[k].0;
    let (input, want) = match tool {
        "text-stats" => {
            let text = format!("alpha beta beta\ngamma {i}");
            let n = text.len();
            (
                json!({ "text": text }),
                Want::Json(json!({
                    "lines": 2, "words": 5, "chars": n, "bytes": n,
                    // Ties by word, and digits sort before letters.
                    "top_words": [
                        {"word": "beta", "count": 2},
                        {"word": i.to_string(), "count": 1},
                        {"word": "alpha", "count": 1},
                        {"word": "gamma", "count": 1},
                    ],
                })),
            )
        }
        "json-query" => (
            json!({ "data": { "items": [{ "id": i, "tags": ["a", format!("t{i}")] }] },
                    "path": "items[0].tags[-1]" }),
            Want::Json(json!({ "found": true, "value": format!("t{i}") })),
        ),
        "unit-calc" => (
            json!({ "value": i, "from": "KiB", "to": "B" }),
            Want::Json(json!({ "value": (i * 1024) as f64, "unit": "B" })),
        ),
        "bench-echo" => (json!({ "call": i, "pad": "e".repeat(i % 97) }), Want::Echo),
        other => unreachable!("no case for {other}"),
    };
    Case {
        tool,
        input: Input::Json(input),
        want,
    }
}

fn net_refused(v: &Value) -> Result<(), String> {
    let results = v["results"].as_array().ok_or("no results")?;
    if results.len() != 5 {
        return Err(format!("{} results", results.len()));
    }
    for r in results {
        if r["ok"] != false {
            return Err(format!("{} was reached: {}", r["target"], r["detail"]));
        }
    }
    for r in &results[..2] {
        if r["detail"] != "HttpRequestDenied" {
            return Err(format!(
                "{} refused otherwise: {}",
                r["target"], r["detail"]
            ));
        }
    }
    Ok(())
}

fn fs_contained(v: &Value) -> Result<(), String> {
    let attempts = v["attempts"].as_array().ok_or("no attempts")?;
    if attempts.len() < 30 {
        return Err(format!("only {} attempts", attempts.len()));
    }
    for a in attempts {
        let name = a["name"].as_str().unwrap_or("");
        let detail = a["detail"].as_str().unwrap_or("");
        if name.starts_with("control:") {
            if !detail.starts_with("ok") {
                return Err(format!("{name} failed: {detail}"));
            }
        } else if a["escaped"] != false {
            return Err(format!("{name} escaped: {detail}"));
        }
    }
    if v.to_string().contains(SENTINEL) {
        return Err("sentinel bytes reached the tool".into());
    }
    Ok(())
}

fn env_empty(v: &Value) -> Result<(), String> {
    if v["env"] != json!([]) {
        return Err(format!("environment leaked: {}", v["env"]));
    }
    let files = v["files"].as_array().ok_or("no files")?;
    if let Some(f) = files.iter().find(|f| f["found"] != false) {
        return Err(format!("host file readable: {}", f["path"]));
    }
    Ok(())
}

/// How a call ended, as its caller saw it.
#[derive(Debug)]
pub enum Answer {
    /// The result's bytes (library) or its structured content as JSON text (serve).
    Ok(Vec<u8>),
    /// The error kind and message.
    Err(String, String),
}

/// Check one call's answer against its case; `exact_bytes`: compare an echo byte for byte (the
/// library) rather than as JSON (serve re-encodes results).
pub fn check_answer(i: usize, case: &Case, answer: &Answer, exact_bytes: bool) {
    let parse = |b: &[u8]| -> Value {
        serde_json::from_slice(b).unwrap_or_else(|e| {
            panic!(
                "call {i} ({}): result is not JSON ({e}): {}",
                case.tool,
                String::from_utf8_lossy(b)
            )
        })
    };
    match (&case.want, answer) {
        (Want::Error(kind), Answer::Err(got, message)) => assert_eq!(
            got, kind,
            "call {i} ({}) ended with another error: {message}",
            case.tool
        ),
        (Want::Error(kind), Answer::Ok(b)) => panic!(
            "call {i} ({}) returned instead of ending with {kind}: {}",
            case.tool,
            String::from_utf8_lossy(b)
        ),
        (_, Answer::Err(kind, message)) => {
            panic!("call {i} ({}) failed: error[{kind}]: {message}", case.tool)
        }
        (Want::Json(want), Answer::Ok(b)) => {
            assert_eq!(&parse(b), want, "call {i} ({})", case.tool)
        }
        (Want::Echo, Answer::Ok(b)) => {
            if exact_bytes {
                assert_eq!(b, &case.input.bytes(), "call {i}: echo differs");
            } else {
                assert_eq!(parse(b), case.input.arguments(), "call {i}: echo differs");
            }
        }
        (Want::Report { check, .. }, Answer::Ok(b)) => {
            if let Err(e) = check(&parse(b)) {
                panic!("call {i} ({}): {e}", case.tool);
            }
        }
    }
}

/// What the log says about a run.
#[derive(Debug, Default)]
pub struct LogSummary {
    /// Records in all.
    pub records: usize,
    /// Records of each kind.
    pub kinds: BTreeMap<String, usize>,
}

/// Verify the log at `log` (library verifier and `wasmgov audit verify`) and check that every
/// call has exactly one `start` and one `end`, that each of the run's `CALLS` calls is there
/// once (found by `case_of` from its start record) with the outcome its caller got, that the
/// calls expected to be refused hold a `deny` record and those that hit a limit one `limit`
/// record of that limit, and that the log holds nothing else but `loads` loads and
/// `describes` describe calls (and detection's findings about the calls).
pub fn check_log(
    log: &Path,
    cases: &[Case],
    case_of: impl Fn(&Value) -> Option<usize>,
    loads: usize,
    describes: usize,
) -> LogSummary {
    let rep = verify_file(log, &VerifyOptions::default()).expect("verify");
    assert!(rep.ok(), "the chain does not verify: {:?}", rep.problem);
    assert!(
        rep.unfinished.is_empty(),
        "unfinished calls: {:?}",
        rep.unfinished
    );
    assert_eq!(rep.calls as usize, cases.len() + describes, "start records");
    let (code, out, err) = crate::support::run(&["audit", "verify", s(log)]);
    assert_eq!(code, 0, "wasmgov audit verify: {out}{err}");

    let text = std::fs::read_to_string(log).expect("read log");
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("record is JSON"))
        .collect();
    let mut summary = LogSummary {
        records: records.len(),
        ..LogSummary::default()
    };
    let mut starts: BTreeMap<&str, &Value> = BTreeMap::new();
    let mut ends: BTreeMap<&str, &Value> = BTreeMap::new();
    let mut denies: BTreeSet<&str> = BTreeSet::new();
    let mut limits: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut load_ids = BTreeSet::new();
    for r in &records {
        let kind = r["kind"].as_str().expect("kind");
        let call = r["call"].as_str().expect("call id");
        *summary.kinds.entry(kind.to_owned()).or_default() += 1;
        match kind {
            "load" => assert!(load_ids.insert(call), "two loads {call}"),
            "start" => {
                assert!(starts.insert(call, r).is_none(), "two starts of {call}");
                assert!(
                    load_ids.contains(r["load"].as_str().unwrap_or("")),
                    "start of {call} names no earlier load: {r}"
                );
            }
            "host-call" | "limit" | "end" => {
                assert!(
                    starts.contains_key(call),
                    "{kind} of {call} before (or without) its start"
                );
                assert!(!ends.contains_key(call), "{kind} of {call} after its end");
                if kind == "end" {
                    ends.insert(call, r);
                } else if kind == "limit" {
                    limits
                        .entry(call)
                        .or_default()
                        .push(r["which"].as_str().unwrap_or(""));
                } else if r["decision"] == "deny" {
                    denies.insert(call);
                }
            }
            // Detection's default rules alert on deny bursts and repeated limit hits.
            "finding" => assert_eq!(r["action"], "alert", "{r}"),
            other => panic!("unexpected record kind {other}: {r}"),
        }
    }
    assert_eq!(load_ids.len(), loads, "load records");
    assert_eq!(starts.len(), ends.len(), "every start has one end");
    let mut seen = vec![false; cases.len()];
    let mut describe_calls = 0;
    for (call, start) in &starts {
        let end = ends[call];
        if start["action"] == "describe" {
            describe_calls += 1;
            assert_eq!(end["outcome"], "ok", "{end}");
            continue;
        }
        assert_eq!(start["action"], "call", "{start}");
        let i = case_of(start).unwrap_or_else(|| panic!("start of no call of the run: {start}"));
        assert!(!seen[i], "call {i} started twice");
        seen[i] = true;
        let case = &cases[i];
        assert!(
            start["tool"]
                .as_str()
                .unwrap_or("")
                .starts_with(&format!("{}@", case.tool)),
            "call {i} is {} in the log: {start}",
            case.tool
        );
        assert_eq!(
            end["outcome"],
            case.want.outcome(),
            "call {i} ({}): {end}",
            case.tool
        );
        let limit = case.want.outcome().strip_prefix("limit-");
        let got: Vec<&str> = limits.get(call).cloned().unwrap_or_default();
        assert_eq!(
            got,
            limit.into_iter().collect::<Vec<_>>(),
            "call {i} limit records"
        );
        if let Want::Report { deny: true, .. } = case.want {
            assert!(
                denies.contains(call),
                "call {i} ({}) has no deny record",
                case.tool
            );
        }
    }
    assert_eq!(describe_calls, describes, "describe calls");
    assert!(seen.iter().all(|&x| x), "calls missing from the log");
    summary
}

/// VmHWM of process `pid` (`self` for this one), KiB.
pub fn rss_high_water_mark_kib(pid: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

/// Await every task, in order, all within [`RUN_DEADLINE`]: a call that hangs fails the run.
pub async fn join_within_deadline<T: Send + 'static>(
    tasks: Vec<tokio::task::JoinHandle<T>>,
) -> Vec<T> {
    tokio::time::timeout(RUN_DEADLINE, async {
        let mut v = Vec::with_capacity(tasks.len());
        for t in tasks {
            v.push(t.await.expect("call task"));
        }
        v
    })
    .await
    .expect("every call ends within the run's deadline")
}

/// Calls per tool of a run, for the report.
pub fn calls_per_tool(cases: &[Case]) -> BTreeMap<&'static str, usize> {
    let mut m = BTreeMap::new();
    for c in cases {
        *m.entry(c.tool).or_default() += 1;
    }
    m
}

/// Host RSS bound of the library run: what the [`SLOTS`] calls in flight may hold at once if
/// each touched its whole linear memory (16 MiB, the mix's largest `memory`: 512 MiB) and its
/// 2 MiB async stack (64 MiB), over the runtime itself (debug build, 18 components mapped: about
/// 150 MiB), rounded to 768 MiB. What else a call may make the host hold is small in this mix
/// (1 MiB host-memory for the host-memory bomb, 256 KiB output for the flood, kilobytes for the
/// rest). Measured: about 340 MiB. Retaining 0.5 MiB of each finished call would exceed it.
pub const LIBRARY_RSS_BOUND_KIB: u64 = 768 * 1024;

const CHILD_MARK: &str = "load: library RSS high-water mark ";

/// The library run measured in a process of its own: the test binary's other tests (10,000
/// calls in flight, host-memory floods) raise this process's VmHWM long before this one runs.
#[test]
fn a_thousand_mixed_calls_through_the_library_stay_bounded_and_audited() {
    crate::support::tool("text-stats");
    let exe = std::env::current_exe().expect("test binary");
    let out = std::process::Command::new(exe)
        .args([
            "--exact",
            "load::library_run",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env_remove("RUST_LOG")
        .output()
        .expect("run the load in a child");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the library run failed:\n{stdout}\n{stderr}"
    );
    eprintln!("{}", stderr.trim());
    let hwm: u64 = stderr
        .lines()
        .find_map(|l| l.strip_prefix(CHILD_MARK))
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the child printed no RSS figure:\n{stdout}\n{stderr}"));
    assert!(
        hwm < LIBRARY_RSS_BOUND_KIB,
        "library run: RSS high-water mark {hwm} KiB is over {LIBRARY_RSS_BOUND_KIB} KiB"
    );
}

/// The library run itself; run (in a child process) by the test above.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run in a child process by a_thousand_mixed_calls_through_the_library_stay_bounded_and_audited"]
async fn library_run() {
    let mix = Mix::new();
    let f = &mix.f;
    let audit = wasmgov::Audit::open(&f.audit, wasmgov::AuditOptions::default()).expect("audit");
    let rt = wasmgov::Runtime::builder()
        .policy(wasmgov::policy::Policy::load(&f.policy).expect("policy"))
        .trust(wasmgov::trust::AllowedSigners::load(&f.trust).expect("trust"))
        .state_dir(&f.state)
        .cache_dir(crate::support::shared_state().join("lib-cache"))
        .allocator(wasmgov::Allocator::Pooling {
            max_concurrent: SLOTS,
        })
        .max_memory(64 << 20)
        .audit(audit)
        .build()
        .expect("runtime");
    let tools: BTreeMap<&str, Tool> = Mix::tools()
        .map(|name| {
            let t = rt
                .load_package_files(
                    &f.tools.join(format!("{name}.toml")),
                    &f.tools.join(format!("{name}.wasm")),
                    &LoadOptions::default(),
                )
                .unwrap_or_else(|e| panic!("load {name}: {e}"));
            (name, t)
        })
        .collect();
    let cases: Vec<Case> = (0..CALLS).map(|i| mix.case(i)).collect();
    let began = Instant::now();
    let tasks: Vec<_> = cases
        .iter()
        .enumerate()
        .map(|(i, case)| {
            let tool = tools[case.tool].clone();
            let input = case.input.bytes();
            tokio::spawn(async move {
                let opts = CallOptions {
                    caller: Some(format!("load-{i}")),
                    ..CallOptions::default()
                };
                tool.run(&input, &opts).await
            })
        })
        .collect();
    let outcomes = join_within_deadline(tasks).await;
    let wall = began.elapsed();
    for (i, (case, out)) in cases.iter().zip(&outcomes).enumerate() {
        let answer = match &out.result {
            Ok(b) => Answer::Ok(b.clone()),
            Err(e) => Answer::Err(e.kind().to_owned(), e.to_string()),
        };
        check_answer(i, case, &answer, true);
    }
    drop(outcomes);
    mix.assert_nothing_escaped();
    // Close the log: the runtime and every tool hold it.
    drop(tools);
    drop(rt);
    let summary = check_log(
        &f.audit,
        &cases,
        |start| {
            start["caller"]
                .as_str()
                .and_then(|c| c.strip_prefix("load-"))
                .and_then(|n| n.parse().ok())
        },
        Mix::tools().count(),
        0,
    );
    let hwm = rss_high_water_mark_kib("self");
    eprintln!(
        "{CHILD_MARK}{hwm} KiB ({} MiB); {CALLS} calls in {:.1} s, {SLOTS} at a time; \
         {} audit records {:?}",
        hwm / 1024,
        wall.as_secs_f64(),
        summary.records,
        summary.kinds
    );
    eprintln!("load: calls per tool {:?}", calls_per_tool(&cases));
}
