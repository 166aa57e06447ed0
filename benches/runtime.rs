//! wasmgov against raw wasmtime doing the same work, in the same process and run, so the
//! results are ratios that survive a noisy machine. See docs/benchmarks.md for the table.
//!
//! Groups:
//! 1. `cold_call`: new sandbox + instantiate + call + drop of a trivial tool (text-stats on a
//!    one-word input): raw tuned wasmtime vs wasmgov (fuel, epoch, memory limiter, output
//!    budget, host-call hook; and again with the audit log to a file), and a fresh `bwrap`
//!    sandbox process running `/bin/true` (a lower bound for starting any tool in a process
//!    sandbox).
//! 2. `throughput_2_threads`: 2,000 such calls spread over two worker threads, wasmgov with
//!    its audit log written to a file.
//!    Both on text-stats (an SDK tool: serde JSON in and out) and on bench-echo (no JSON work).
//!    `durable_64_in_flight`: 2,048 calls, 64 in flight, with the audit log durable (each
//!    call's records fdatasync'd before its result returns; group commit) and not synced, and
//!    one lone fdatasync on the same disk; prints the durable calls' latency next to it.
//! 3. `compute_fib30`: bench-fib with n = 30: raw wasmtime with neither fuel nor epochs vs
//!    wasmgov with fuel (which also drives the wall-clock deadline).
//! 4. `process_end_to_end`: `wasmgov run` of a signed, pinned tool with a warm compile cache,
//!    as a whole process, vs the `raw-run` example: a minimal wasmtime process that loads a
//!    precompiled component and calls it.
//!
//! Prerequisites: `scripts/build-tools`, `cargo build --examples`, and `bwrap` (scripts/setup
//! installs bubblewrap); a group whose prerequisite is missing is skipped with a message.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};

use wasmgov_host_api::bindings::PluginPre;

mod support {
    pub mod raw;
}
use support::raw::{self, Raw};

const TRIVIAL_INPUT: &str = r#"{"text":"hello"}"#;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn component(name: &str) -> Vec<u8> {
    let p = root()
        .join("tools-examples/target/wasm32-wasip2/release")
        .join(format!("{name}.wasm"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}; run scripts/build-tools", p.display()))
}

/// Raw wasmtime tuned as in notes/perf-baseline.md: pooling, keep-resident, pagemap scan.
fn raw_engine(fuel_and_epochs: bool) -> Engine {
    let mut cfg = Config::new();
    cfg.wasm_component_model(true).concurrency_support(false);
    if fuel_and_epochs {
        cfg.consume_fuel(true).epoch_interruption(true);
    }
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(64)
        .max_core_instances_per_component(32)
        .total_core_instances(64 * 32)
        .total_memories(256)
        .total_tables(1024)
        .max_tables_per_component(16)
        .max_memories_per_component(4)
        .total_stacks(64)
        .max_memory_size(1 << 30)
        .linear_memory_keep_resident(2 << 20)
        .pagemap_scan(wasmtime::Enabled::Auto);
    cfg.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&cfg).expect("engine")
}

fn raw_pre(engine: &Engine, bytes: &[u8]) -> PluginPre<Raw> {
    let c = wasmtime::component::Component::new(engine, bytes).expect("compile");
    raw::pre(engine, &c).expect("link")
}

async fn raw_call(engine: &Engine, pre: &PluginPre<Raw>, input: &str) -> String {
    let mut store = Store::new(engine, Raw::new());
    let inst = pre
        .instantiate_async(&mut store)
        .await
        .expect("instantiate");
    inst.wasmgov_tool_tool()
        .call_call(&mut store, input)
        .await
        .expect("call")
        .expect("ok")
}

fn wasmgov_runtime() -> wasmgov::Runtime {
    wasmgov_runtime_with(None)
}

/// wasmgov as a server runs it; with `audit`, every call is written to that JSON Lines file
/// (and fsync'd at the end of each call when the flag says so).
fn wasmgov_runtime_with(audit: Option<(&Path, bool)>) -> wasmgov::Runtime {
    wasmgov_runtime_detecting(audit, true)
}

/// [`wasmgov_runtime_with`], with detection on or off (it runs whenever there is an audit log).
fn wasmgov_runtime_detecting(audit: Option<(&Path, bool)>, detect: bool) -> wasmgov::Runtime {
    let policy = wasmgov::policy::Policy::parse(
        b"[limits]\nfuel = 100_000_000_000\nmemory = \"256 MiB\"\ntimeout = \"60s\"\noutput = \"4 MiB\"\nhost-calls = 1_000_000\n",
    )
    .expect("policy");
    let mut b = wasmgov::Runtime::builder()
        .policy(policy)
        .allocator(wasmgov::Allocator::Pooling { max_concurrent: 64 });
    if let Some((path, fsync)) = audit {
        let options = wasmgov::AuditOptions {
            fsync,
            ..wasmgov::AuditOptions::default()
        };
        b = b.audit(wasmgov::audit::Audit::open(path, options).expect("audit log"));
    }
    b.detection(wasmgov::detect::DetectOptions {
        off: !detect,
        ..Default::default()
    })
    .build()
    .expect("runtime")
}

fn limits() -> wasmgov::Limits {
    wasmgov::Limits {
        fuel: 100_000_000_000,
        memory: 256 << 20,
        timeout: Duration::from_secs(60),
        ..wasmgov::Limits::default()
    }
}

fn cold_call(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let bytes = component("text_stats");
    let engine = raw_engine(false);
    let pre = raw_pre(&engine, &bytes);
    let wg = wasmgov_runtime();
    let tool = wg.load_component(&bytes, limits()).expect("load");
    let audit_dir = tempfile::tempdir().expect("tempdir");
    let audited = wasmgov_runtime_with(Some((&audit_dir.path().join("a.jsonl"), false)));
    let audited_tool = audited.load_component(&bytes, limits()).expect("load");
    let undetected =
        wasmgov_runtime_detecting(Some((&audit_dir.path().join("n.jsonl"), false)), false);
    let undetected_tool = undetected.load_component(&bytes, limits()).expect("load");
    let synced = wasmgov_runtime_with(Some((&audit_dir.path().join("s.jsonl"), true)));
    let synced_tool = synced.load_component(&bytes, limits()).expect("load");
    let mut g = c.benchmark_group("cold_call");
    g.bench_function("raw_wasmtime", |b| {
        b.iter(|| rt.block_on(raw_call(&engine, &pre, TRIVIAL_INPUT)))
    });
    g.bench_function("wasmgov", |b| {
        b.iter(|| rt.block_on(tool.call(TRIVIAL_INPUT)).expect("call"))
    });
    g.bench_function("wasmgov_audit_to_file", |b| {
        b.iter(|| rt.block_on(audited_tool.call(TRIVIAL_INPUT)).expect("call"))
    });
    // What detection adds to the audited call (it is on in `wasmgov_audit_to_file`).
    g.bench_function("wasmgov_audit_to_file_detection_off", |b| {
        b.iter(|| {
            rt.block_on(undetected_tool.call(TRIVIAL_INPUT))
                .expect("call")
        })
    });
    g.bench_function("wasmgov_audit_to_file_fsync_each_call", |b| {
        b.iter(|| rt.block_on(synced_tool.call(TRIVIAL_INPUT)).expect("call"))
    });
    // The same with a tool that does no JSON work, so the runtime's own cost is what differs.
    let echo = component("bench_echo");
    let echo_pre = raw_pre(&engine, &echo);
    let echo_tool = audited.load_component(&echo, limits()).expect("load");
    g.bench_function("raw_wasmtime_echo", |b| {
        b.iter(|| rt.block_on(raw_call(&engine, &echo_pre, TRIVIAL_INPUT)))
    });
    g.bench_function("wasmgov_audit_to_file_echo", |b| {
        b.iter(|| rt.block_on(echo_tool.call(TRIVIAL_INPUT)).expect("call"))
    });
    if Command::new("bwrap").arg("--version").output().is_ok() {
        g.bench_function("bwrap_process", |b| {
            b.iter(|| {
                let s = Command::new("bwrap")
                    .args(["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"])
                    .args(["--unshare-all", "--die-with-parent", "/bin/true"])
                    .status()
                    .expect("bwrap");
                assert!(s.success());
            })
        });
    } else {
        eprintln!("cold_call/bwrap_process skipped: bwrap not installed (scripts/setup)");
    }
    g.finish();
}

/// A tokio runtime with two worker threads, one per vCPU of the benchmark machine.
fn two_workers() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio")
}

/// Run `calls` calls spread over `tasks` tasks of `rt`, each call made by `call`.
fn spread<F, Fut>(rt: &tokio::runtime::Runtime, tasks: usize, calls: usize, call: F)
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    rt.block_on(async {
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let call = call.clone();
                tokio::spawn(async move {
                    for _ in 0..calls / tasks {
                        call().await;
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.expect("task");
        }
    })
}

fn throughput(c: &mut Criterion) {
    const CALLS: usize = 2_000;
    let rt = two_workers();
    let engine = raw_engine(false);
    let audit_dir = tempfile::tempdir().expect("tempdir");
    let wg = wasmgov_runtime_with(Some((&audit_dir.path().join("audit.jsonl"), false)));
    let mut g = c.benchmark_group("throughput_2_threads");
    g.throughput(Throughput::Elements(CALLS as u64));
    g.sample_size(10);
    for (name, file) in [("", "text_stats"), ("_echo", "bench_echo")] {
        let bytes = component(file);
        let pre = Arc::new(raw_pre(&engine, &bytes));
        let tool = wg.load_component(&bytes, limits()).expect("load");
        let engine = engine.clone();
        g.bench_function(format!("raw_wasmtime{name}"), |b| {
            b.iter(|| {
                let (engine, pre) = (engine.clone(), pre.clone());
                spread(&rt, 2, CALLS, move || {
                    let (engine, pre) = (engine.clone(), pre.clone());
                    async move {
                        raw_call(&engine, &pre, TRIVIAL_INPUT).await;
                    }
                })
            })
        });
        g.bench_function(format!("wasmgov_audit_to_file{name}"), |b| {
            b.iter(|| {
                let tool = tool.clone();
                spread(&rt, 2, CALLS, move || {
                    let tool = tool.clone();
                    async move {
                        tool.call(TRIVIAL_INPUT).await.expect("call");
                    }
                })
            })
        });
    }
    g.finish();
}

/// Durable audit under load: 64 calls in flight (2 worker threads), each call's records on
/// stable storage before its result returns, against the same calls with the log not synced,
/// and one `fdatasync` of a small append to a file on the same disk alone. After the group, the
/// latency of the durable calls is printed next to that lone fdatasync.
fn durable(c: &mut Criterion) {
    const CALLS: usize = 2_048;
    const IN_FLIGHT: usize = 64;
    let rt = two_workers();
    let bytes = component("text_stats");
    // Under target/, not /tmp: the disk a server's state directory is on (tmpfs has no fsync).
    let dir = tempfile::tempdir_in(root().join("target")).expect("tempdir");
    let fast = wasmgov_runtime_with(Some((&dir.path().join("fast.jsonl"), false)));
    let synced = wasmgov_runtime_with(Some((&dir.path().join("durable.jsonl"), true)));
    let fast_tool = fast.load_component(&bytes, limits()).expect("load");
    let durable_tool = synced.load_component(&bytes, limits()).expect("load");
    let latencies = Arc::new(std::sync::Mutex::new(Vec::<Duration>::new()));
    let mut g = c.benchmark_group("durable_64_in_flight");
    g.throughput(Throughput::Elements(CALLS as u64));
    g.sample_size(10);
    g.bench_function("audit_not_synced", |b| {
        b.iter(|| {
            let tool = fast_tool.clone();
            spread(&rt, IN_FLIGHT, CALLS, move || {
                let tool = tool.clone();
                async move {
                    tool.call(TRIVIAL_INPUT).await.expect("call");
                }
            })
        })
    });
    g.bench_function("audit_durable", |b| {
        b.iter(|| {
            let (tool, lat) = (durable_tool.clone(), latencies.clone());
            spread(&rt, IN_FLIGHT, CALLS, move || {
                let (tool, lat) = (tool.clone(), lat.clone());
                async move {
                    let t0 = std::time::Instant::now();
                    tool.call(TRIVIAL_INPUT).await.expect("call");
                    let took = t0.elapsed();
                    lat.lock().expect("latencies").push(took);
                }
            })
        })
    });
    let fsyncs = Arc::new(std::sync::Mutex::new(Vec::<Duration>::new()));
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.path().join("alone.jsonl"))
        .expect("open");
    g.throughput(Throughput::Elements(1));
    g.bench_function("one_fdatasync_alone", |b| {
        b.iter(|| {
            use std::io::Write;
            let t0 = std::time::Instant::now();
            file.write_all(&[b'x'; 1200]).expect("write");
            file.sync_data().expect("fdatasync");
            fsyncs.lock().expect("fsyncs").push(t0.elapsed());
        })
    });
    g.finish();
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        (
            v.get(v.len() / 2).copied(),
            v.get(v.len() * 99 / 100).copied(),
        )
    };
    let (lat50, lat99) = median(&mut latencies.lock().expect("latencies"));
    let (f50, f99) = median(&mut fsyncs.lock().expect("fsyncs"));
    eprintln!(
        "durable_64_in_flight: call latency p50 {lat50:?} p99 {lat99:?}; one fdatasync alone p50 {f50:?} p99 {f99:?}"
    );
}

fn compute(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let bytes = component("bench_fib");
    let input = r#"{"n":30}"#;
    let engine = raw_engine(false);
    let pre = raw_pre(&engine, &bytes);
    let wg = wasmgov_runtime();
    let tool = wg.load_component(&bytes, limits()).expect("load");
    let expect = r#"{"fib":832040}"#;
    assert_eq!(rt.block_on(raw_call(&engine, &pre, input)), expect);
    let mut g = c.benchmark_group("compute_fib30");
    g.sample_size(20);
    g.bench_function("raw_wasmtime_no_fuel_no_epoch", |b| {
        b.iter(|| rt.block_on(raw_call(&engine, &pre, input)))
    });
    g.bench_function("wasmgov_fuel_and_deadline", |b| {
        b.iter(|| rt.block_on(tool.call(input)).expect("call"))
    });
    g.finish();
}

/// Sign and pin a manifest for text-stats in `dir`; return the wasmgov run arguments.
fn signed_package(dir: &Path, wasmgov: &Path) -> Vec<String> {
    let wasm = dir.join("text_stats.wasm");
    std::fs::write(&wasm, component("text_stats")).expect("copy");
    let manifest = dir.join("text_stats.toml");
    std::fs::write(
        &manifest,
        "schema = 1\n\n[tool]\nname = \"text-stats\"\nversion = \"1.0.0\"\npublisher = \"bench@wasmgov.example\"\nsequence = 1\n\n[component]\nsha256 = \"0000000000000000000000000000000000000000000000000000000000000000\"\nsize = 0\n",
    )
    .expect("manifest");
    let key = dir.join("key");
    let ok = |c: &mut Command| assert!(c.status().expect("spawn").success());
    ok(Command::new(wasmgov)
        .args(["keygen", "-C", "bench@wasmgov.example", "-f"])
        .arg(&key)
        .stdout(std::process::Stdio::null()));
    ok(Command::new(wasmgov).arg("pin").arg(&manifest).arg(&wasm));
    ok(Command::new(wasmgov)
        .arg("sign")
        .arg("--key")
        .arg(&key)
        .arg(&manifest));
    let public = std::fs::read_to_string(dir.join("key.pub")).expect("pub");
    std::fs::write(
        dir.join("allowed_signers"),
        format!("bench@wasmgov.example namespaces=\"wasmgov-manifest-v1\" {public}"),
    )
    .expect("signers");
    std::fs::write(
        dir.join("policy.toml"),
        "[[publishers]]\nprincipal = \"bench@wasmgov.example\"\ntools = [\"text-stats\"]\n",
    )
    .expect("policy");
    let s = |p: PathBuf| p.display().to_string();
    vec![
        "run".into(),
        s(wasm),
        "--trust".into(),
        s(dir.join("allowed_signers")),
        "--policy".into(),
        s(dir.join("policy.toml")),
        "--state".into(),
        s(dir.join("state")),
        "--input".into(),
        TRIVIAL_INPUT.into(),
    ]
}

fn process(c: &mut Criterion) {
    let target = root().join("target");
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let wasmgov = target.join(profile).join("wasmgov");
    let raw_run = target.join(profile).join("examples/raw-run");
    if !wasmgov.exists() || !raw_run.exists() {
        eprintln!(
            "process_end_to_end skipped: build with `cargo build --release --examples` first"
        );
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let args = signed_package(dir.path(), &wasmgov);
    let cwasm = dir.path().join("text_stats.cwasm");
    let wasm = dir.path().join("text_stats.wasm");
    assert!(
        Command::new(&raw_run)
            .arg("precompile")
            .arg(&wasm)
            .arg(&cwasm)
            .status()
            .expect("raw-run")
            .success()
    );
    let run_ok = |c: &mut Command| {
        let out = c.output().expect("spawn");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run_ok(Command::new(&wasmgov).args(&args)); // warms the compile cache
    let mut g = c.benchmark_group("process_end_to_end");
    g.sample_size(30);
    g.bench_function("raw_wasmtime_precompiled", |b| {
        b.iter(|| {
            run_ok(
                Command::new(&raw_run)
                    .arg("run")
                    .arg(&cwasm)
                    .arg(TRIVIAL_INPUT),
            )
        })
    });
    g.bench_function("wasmgov_run_signed_warm_cache", |b| {
        b.iter(|| run_ok(Command::new(&wasmgov).args(&args)))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = cold_call, throughput, durable, compute, process
}
criterion_main!(benches);
