//! `wasmgov assess` and `wasmgov suggest`: least privilege, before and after a tool is trusted.
//!
//! [`assess`] reads a package (component, manifest, signature) the way the runtime would, under
//! the operator's policy and trust, without running it, and reports:
//!
//! * **reach** — the effective grant in plain words, and what a hostile build could do with it
//!   (exfiltration, destruction, secret misuse, the internal network);
//! * **over-grant** — what is granted that the component cannot use (it does not import the
//!   interface) or, given an audit log, did not use in the recorded calls;
//! * **hygiene** — unsigned or refused packages, no expiry, keys without `valid-before`, broad
//!   publisher globs, limits at the policy's ceiling, an outdated `wasmgov:tool` version;
//! * **known-vulnerable** — the wasmtime this binary was built with against the bundled advisory
//!   list, and components on the operator's deny list.
//!
//! Each finding has a stable rule id ([`rules::RULES`]), a severity, a message and a fix hint;
//! [`sarif`] renders a report as SARIF 2.1.0. [`suggest`] turns the refusals an observed run
//! recorded (`run --observe`) into the smallest manifest and policy additions, for a human to
//! review.

pub mod advisories;
mod hygiene;
pub mod imports;
mod overgrant;
pub mod package;
mod reach;
pub mod rules;
pub mod sarif;
pub mod suggest;
mod text;
pub mod usage;

use std::path::PathBuf;
use std::time::SystemTime;

use serde::Serialize;
use wasmgov_runtime::policy::Policy;
use wasmgov_runtime::trust::{AllowedSigners, RevokedKeys};

pub use package::Package;
pub use rules::{Rule, Severity};
pub use usage::Usage;

/// Why an assessment could not be made at all (a package that is merely bad is a finding).
#[derive(Debug, thiserror::Error)]
pub enum AssessError {
    /// A named package, directory or audit log could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// What was read.
        path: PathBuf,
        /// Why it failed.
        source: std::io::Error,
    },
    /// A path names nothing that is a package.
    #[error("{path}: {why}")]
    NotAPackage {
        /// The path given.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// The audit log is not a wasmgov audit log.
    #[error("audit log {path}: {why}")]
    Audit {
        /// The log.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
}

/// What an assessment is made against.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// The operator's policy (or the built-in one).
    pub policy: &'a Policy,
    /// The trust store, if the operator has one.
    pub trust: Option<&'a AllowedSigners>,
    /// Revoked keys.
    pub revoked: Option<&'a RevokedKeys>,
    /// What the recorded calls used, from `--audit`.
    pub usage: Option<&'a Usage>,
    /// `--dir` binds, as `run` would be given them.
    pub binds: &'a [wasmgov_runtime::grant::CliBind],
    /// When (expiry and key validity are judged at this time).
    pub now: SystemTime,
}

/// One finding.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Its rule's stable id.
    pub rule: &'static str,
    /// How bad.
    pub severity: Severity,
    /// What was found, naming the tool and the grant.
    pub message: String,
    /// How to fix it.
    pub hint: String,
    /// The file it is about (a manifest, the policy), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// The line in `file`, when one line says it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
}

/// The assessment of one package.
#[derive(Debug, Clone, Serialize)]
pub struct ToolReport {
    /// The component file.
    pub component: PathBuf,
    /// The manifest file, if there is one.
    pub manifest: Option<PathBuf>,
    /// `name@version`, or the file name of a package without a readable manifest.
    pub tool: String,
    /// The publisher the manifest names.
    pub publisher: Option<String>,
    /// The fingerprint of the key that signed it, when the signature verified.
    pub signer: Option<String>,
    /// The component's SHA-256 (hex).
    pub sha256: String,
    /// Whether the runtime would load it as it stands (signed, trusted, pinned, within policy).
    pub accepted: bool,
    /// The effective grant in plain words, one line each.
    pub reach: Vec<String>,
    /// Everything found, worst first.
    pub findings: Vec<Finding>,
}

/// The assessment of every package named, and of the runtime itself.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// This wasmgov's version.
    pub wasmgov: &'static str,
    /// The wasmtime it was built with.
    pub wasmtime: &'static str,
    /// The policy assessed against: its file, or `built-in`.
    pub policy: String,
    /// Findings about the runtime (advisories against its wasmtime).
    pub runtime: Vec<Finding>,
    /// One report per package.
    pub tools: Vec<ToolReport>,
}

impl Report {
    /// Every finding, the runtime's first.
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.runtime
            .iter()
            .chain(self.tools.iter().flat_map(|t| t.findings.iter()))
    }

    /// The worst severity found, if anything was.
    pub fn worst(&self) -> Option<Severity> {
        self.findings().map(|f| f.severity).max()
    }
}

/// Assess `packages` against `cx`.
pub fn assess(packages: &[Package], cx: &Context<'_>) -> Report {
    let mut tools: Vec<ToolReport> = packages
        .iter()
        .map(|p| package::assess_one(p, cx))
        .collect();
    // Publisher globs are judged against every package assessed together.
    hygiene::publisher_globs(&mut tools, cx);
    for t in &mut tools {
        t.findings
            .sort_by(|a, b| b.severity.cmp(&a.severity).then(a.rule.cmp(b.rule)));
    }
    Report {
        wasmgov: env!("CARGO_PKG_VERSION"),
        wasmtime: advisories::WASMTIME_VERSION,
        policy: cx
            .policy
            .path()
            .map_or_else(|| "built-in".to_owned(), |p| p.display().to_string()),
        runtime: advisories::runtime_findings(),
        tools,
    }
}

/// The first line (1-based) of `text` that contains `needle`.
pub(crate) fn line_of(text: &str, needle: &str) -> Option<usize> {
    text.lines().position(|l| l.contains(needle)).map(|i| i + 1)
}
