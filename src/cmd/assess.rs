//! `wasmgov assess`: reach, over-grant, hygiene and advisories of packages, before they are
//! trusted. Reads the packages, the operator's policy and trust, and optionally an audit log;
//! runs nothing and touches no state.
//!
//! Exit codes: 0, or 1 with `--fail-on SEVERITY` when a finding at or above it exists; 2 for a
//! path that is not a package or an unreadable audit log; 3 for an unusable policy or trust
//! store (as every command that reads them).

use std::io::Write;

use wasmgov_assess::{Context, Package, Usage};

use crate::flags::{AssessArgs, AssessFormat};
use crate::report::usage;

pub fn run(a: AssessArgs) -> anyhow::Result<i32> {
    let operator = super::trust::load(&a.trust)?;
    let mut packages = Vec::new();
    for p in &a.packages {
        packages.extend(Package::find(p).map_err(|e| {
            usage(
                e.to_string(),
                Some("name a STEM.wasm, a STEM.toml beside it, or a directory of packages".into()),
            )
        })?);
    }
    let log = match &a.audit {
        Some(p) => Some(Usage::read(p).map_err(|e| {
            usage(
                e.to_string(),
                Some("pass the audit log `wasmgov run` or `serve` wrote (--audit)".into()),
            )
        })?),
        None => None,
    };
    let cx = Context {
        policy: &operator.policy,
        trust: operator.trust.as_ref(),
        revoked: operator.revoked.as_ref(),
        usage: log.as_ref(),
        binds: &a.dirs,
        now: std::time::SystemTime::now(),
    };
    let report = wasmgov_assess::assess(&packages, &cx);
    let text = match a.format {
        AssessFormat::Text => format!("{report}\n"),
        AssessFormat::Json => serde_json::to_string_pretty(&report)? + "\n",
        AssessFormat::Sarif => {
            // Locations relative to where the report is read: the current directory.
            let base = std::env::current_dir().unwrap_or_default();
            serde_json::to_string_pretty(&wasmgov_assess::sarif::to_sarif(&report, &base))? + "\n"
        }
    };
    match &a.output {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| usage(format!("cannot write {}: {e}", path.display()), None))?,
        None => {
            let mut out = std::io::stdout().lock();
            // A closed pipe (`| head`) is not an error of the assessment.
            let _ = out.write_all(text.as_bytes());
        }
    }
    Ok(match (a.fail_on, report.worst()) {
        (Some(bar), Some(worst)) if worst >= bar => 1,
        _ => 0,
    })
}
