//! `wasmgov run`: one call of a tool in a fresh sandbox.
//!
//! stdout carries the tool's result and nothing else; what the tool wrote to its own stdout
//! (tool world) or stderr, and what it logged, goes to stderr.

use std::io::{IsTerminal, Read, Write};

use crate::flags::RunArgs;
use crate::report::usage;

pub fn run(a: RunArgs) -> anyhow::Result<i32> {
    let otlp = super::otlp::start(&a.otlp)?;
    let code = call(a, otlp.as_ref());
    // The runtime and its audit log are gone: every record has been handed to the export.
    if let Some(x) = &otlp {
        super::otlp::finish(x);
    }
    code
}

fn call(
    a: RunArgs,
    otlp: Option<&std::sync::Arc<wasmgov_otel::OtlpExporter>>,
) -> anyhow::Result<i32> {
    if let Err((field, why)) = a.limits.overrides().check_ranges() {
        let flag = match field {
            "output" => "max-output",
            "host-memory" => "max-host-memory",
            "write" => "max-write",
            "files" => "max-files",
            other => other,
        };
        return Err(usage(format!("--{flag}: {why}"), None));
    }
    let input = read_input(&a)?;
    let state = super::state_dir(&a.state)?;
    let mut builder = super::operator_builder(
        super::trust::load(&a.trust)?,
        state.as_deref(),
        a.allow_unsigned,
    );
    // The checkpoint key signs the audit log: a tool that could read it could forge checkpoints.
    if let Some(k) = &a.audit_key {
        builder = builder.protect(k);
    }
    let audit = super::audit::open_for_run(&a, state.as_deref())?;
    if let Some(x) = otlp {
        audit.observe(x.clone());
    }
    builder = builder
        .observe(a.observe)
        .audit(audit)
        .detection(wasmgov::detect::DetectOptions {
            findings_file: a.findings.clone(),
            off: false,
        });
    // Findings the runtime's detection logs go to stderr.
    crate::logging::init("off,wasmgov::detect=warn", false);
    let rt = builder.build()?;
    let tool = match super::trust::manifest_for(&a.tool, &a.manifest) {
        Some(manifest) => {
            let opts = wasmgov::LoadOptions {
                binds: a.dirs.clone(),
                env_values: a.env.clone(),
                secrets: a.secrets.clone(),
                narrow: a.limits.overrides(),
                now: None,
            };
            let tool = rt.load_package_files(&manifest, &a.tool, &opts)?;
            if tool.package().is_some_and(|p| p.signer.is_none()) {
                eprintln!(
                    "warning: running UNSIGNED manifest {} (--allow-unsigned): nobody vouches for \
                     what it grants",
                    manifest.display()
                );
            }
            tool
        }
        None => {
            if !a.dirs.is_empty() || !a.env.is_empty() || !a.secrets.is_empty() {
                return Err(usage(
                    "--dir, --env and --secret need a manifest that declares them",
                    Some("pass --manifest M; a tool without one gets no capability at all".into()),
                ));
            }
            let bytes = super::read_file(&a.tool, "component")?;
            let limits = a.limits.overrides().or(rt.policy().limits);
            rt.load_component(&bytes, limits)?
        }
    };
    let input = match input {
        Some(i) => i,
        None if tool.info().world == wasmgov::WorldKind::Command => Vec::new(),
        None => {
            return Err(usage(
                "no input for the tool",
                Some("pass --input JSON, --input-file FILE, or pipe JSON on stdin".to_string()),
            ));
        }
    };
    let out = super::block_on(tool.run(&input, &wasmgov::CallOptions::default()))?;
    let mut err = std::io::stderr().lock();
    err.write_all(&out.stdout)?;
    err.write_all(&out.stderr)?;
    for l in &out.logs {
        writeln!(err, "[tool {}] {}", l.level, l.message)?;
    }
    drop(err);
    let result = out.result?;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&result)?;
    if tool.info().world == wasmgov::WorldKind::Tool {
        stdout.write_all(b"\n")?;
    }
    stdout.flush()?;
    Ok(0)
}

fn read_input(a: &RunArgs) -> anyhow::Result<Option<Vec<u8>>> {
    if let Some(s) = &a.input {
        return Ok(Some(s.clone().into_bytes()));
    }
    if let Some(p) = &a.input_file {
        if p.as_os_str() == "-" {
            return read_stdin().map(Some);
        }
        return super::read_file(p, "input file").map(Some);
    }
    if std::io::stdin().is_terminal() {
        return Ok(None);
    }
    read_stdin().map(Some)
}

fn read_stdin() -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    std::io::stdin()
        .read_to_end(&mut buf)
        .map_err(|e| usage(format!("cannot read stdin: {e}"), None))?;
    Ok(buf)
}
