//! Finding the packages named on the command line and assessing one.
//!
//! A package is `STEM.wasm` with, optionally, `STEM.toml` (its manifest) and `STEM.toml.sig`
//! beside it — the layout `wasmgov run` and `wasmgov serve` read. A directory stands for every
//! package in it.

use std::path::{Path, PathBuf};

use wasmgov_runtime::grant::GrantInputs;
use wasmgov_runtime::manifest::Manifest;
use wasmgov_runtime::package::{VerifyOptions, verify};

use crate::imports::Interfaces;
use crate::{AssessError, Context, Finding, Severity, ToolReport};

/// Largest component read (the runtime refuses larger ones anyway).
const MAX_COMPONENT: u64 = 256 * 1024 * 1024;

/// One package's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// The component.
    pub component: PathBuf,
    /// The manifest, if there is one.
    pub manifest: Option<PathBuf>,
}

impl Package {
    /// The packages `path` names: a `.wasm` (its manifest beside it), a `.toml` manifest (its
    /// component beside it), or a directory of packages.
    pub fn find(path: &Path) -> Result<Vec<Package>, AssessError> {
        let meta = std::fs::metadata(path).map_err(|source| AssessError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if meta.is_dir() {
            let mut out = Vec::new();
            let entries = std::fs::read_dir(path).map_err(|source| AssessError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            for e in entries {
                let e = e.map_err(|source| AssessError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                let p = e.path();
                if p.extension().is_some_and(|x| x == "wasm") && p.is_file() {
                    out.push(Self::of_component(p));
                }
            }
            out.sort_by(|a, b| a.component.cmp(&b.component));
            if out.is_empty() {
                return Err(AssessError::NotAPackage {
                    path: path.to_path_buf(),
                    why: "the directory holds no .wasm component".into(),
                });
            }
            return Ok(out);
        }
        match path.extension().and_then(|x| x.to_str()) {
            Some("wasm") => Ok(vec![Self::of_component(path.to_path_buf())]),
            Some("toml") => {
                let component = path.with_extension("wasm");
                if !component.is_file() {
                    return Err(AssessError::NotAPackage {
                        path: path.to_path_buf(),
                        why: format!("no component {} beside the manifest", component.display()),
                    });
                }
                Ok(vec![Package {
                    component,
                    manifest: Some(path.to_path_buf()),
                }])
            }
            _ => Err(AssessError::NotAPackage {
                path: path.to_path_buf(),
                why: "expected a .wasm component, a .toml manifest or a directory of packages"
                    .into(),
            }),
        }
    }

    fn of_component(component: PathBuf) -> Self {
        let m = component.with_extension("toml");
        Package {
            manifest: m.is_file().then_some(m),
            component,
        }
    }
}

fn read(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = Vec::new();
    std::fs::File::open(path)?
        .take(max + 1)
        .read_to_end(&mut buf)?;
    if buf.len() as u64 > max {
        return Err(std::io::Error::other(format!("larger than {max} bytes")));
    }
    Ok(buf)
}

/// What the rule modules look at, for one package.
pub(crate) struct Subject<'a> {
    pub manifest: &'a Manifest,
    pub manifest_text: &'a str,
    pub manifest_path: &'a Path,
    pub interfaces: Option<&'a Interfaces>,
    pub grant: &'a wasmgov_runtime::Grant,
    pub signer: Option<&'a wasmgov_runtime::trust::Signer>,
    pub signed: bool,
}

impl Subject<'_> {
    /// A finding of rule `id` at the manifest line containing `needle`.
    pub fn finding(&self, id: &'static str, severity: Severity, needle: &str) -> FindingAt {
        FindingAt {
            rule: id,
            severity,
            file: self.manifest_path.to_path_buf(),
            line: crate::line_of(self.manifest_text, needle),
        }
    }
}

/// A finding waiting for its words.
pub(crate) struct FindingAt {
    rule: &'static str,
    severity: Severity,
    file: PathBuf,
    line: Option<usize>,
}

impl FindingAt {
    /// With its message and hint.
    pub fn says(self, message: String, hint: impl Into<String>) -> Finding {
        Finding {
            rule: self.rule,
            severity: self.severity,
            message,
            hint: hint.into(),
            file: Some(self.file),
            line: self.line,
        }
    }
}

/// Assess one package (a package that cannot be read at all is one finding).
pub(crate) fn assess_one(p: &Package, cx: &Context<'_>) -> ToolReport {
    let stem = p
        .component
        .file_stem()
        .map_or_else(|| "component".into(), |s| s.to_string_lossy().into_owned());
    let mut report = ToolReport {
        component: p.component.clone(),
        manifest: p.manifest.clone(),
        tool: stem,
        publisher: None,
        signer: None,
        sha256: String::new(),
        accepted: false,
        reach: Vec::new(),
        findings: Vec::new(),
    };
    let refused = |message: String, hint: &str, file: &Path| Finding {
        rule: "hygiene-refused",
        severity: Severity::High,
        message,
        hint: hint.into(),
        file: Some(file.to_path_buf()),
        line: None,
    };
    let bytes = match read(&p.component, MAX_COMPONENT) {
        Ok(b) => b,
        Err(e) => {
            report.findings.push(refused(
                format!("cannot read the component: {e}"),
                "check the file",
                &p.component,
            ));
            report
                .reach
                .push("unknown: the component cannot be read".into());
            return report;
        }
    };
    report.sha256 = wasmgov_runtime::component::sha256_hex(&bytes);
    if cx.policy.detect.deny_listed(&report.sha256) {
        report.findings.push(Finding {
            rule: "vuln-denied-component",
            severity: Severity::Critical,
            message: format!(
                "component {} (sha256 {}) is on the policy's deny list",
                p.component.display(),
                report.sha256
            ),
            hint: "remove the package; the runtime refuses to load it".into(),
            file: cx.policy.path().map(Path::to_path_buf),
            line: None,
        });
    }
    let interfaces = match Interfaces::of(&bytes) {
        Ok(i) => Some(i),
        Err(e) => {
            report.findings.push(refused(
                format!("{}: {e}", p.component.display()),
                "only WebAssembly components (WASI 0.2) run under wasmgov",
                &p.component,
            ));
            None
        }
    };
    if let Some(i) = &interfaces {
        crate::hygiene::sdk_version(&mut report, i, &p.component);
    }
    let Some(manifest_path) = &p.manifest else {
        // A bare component runs as pure compute: it reaches nothing but its input and output.
        report.accepted = interfaces.is_some();
        report.reach.push(
            "nothing: no manifest, so it runs as pure compute (its input and output only)".into(),
        );
        report.findings.push(Finding {
            rule: "hygiene-unsigned",
            severity: Severity::Low,
            message: format!(
                "{} has no manifest: nobody vouches for it (it can only run as pure compute)",
                p.component.display()
            ),
            hint: "publish it with a signed manifest (`wasmgov pin`, `wasmgov sign`)".into(),
            file: Some(p.component.clone()),
            line: None,
        });
        return report;
    };
    let manifest_bytes = match read(
        manifest_path,
        wasmgov_runtime::manifest::MAX_MANIFEST_SIZE as u64,
    ) {
        Ok(b) => b,
        Err(e) => {
            report.findings.push(refused(
                format!("cannot read the manifest: {e}"),
                "check the file",
                manifest_path,
            ));
            report
                .reach
                .push("unknown: the manifest cannot be read".into());
            return report;
        }
    };
    let manifest = match Manifest::parse(&manifest_bytes) {
        Ok(m) => m,
        Err(e) => {
            let mut f = refused(
                format!("malformed manifest ({}): {e}", e.kind()),
                "fix the manifest (see `wasmgov manifest schema`), then pin and re-sign it",
                manifest_path,
            );
            f.line = e.line();
            report.findings.push(f);
            report
                .reach
                .push("unknown: the manifest cannot be read".into());
            return report;
        }
    };
    let text = String::from_utf8_lossy(&manifest_bytes).into_owned();
    report.tool = manifest.tool_id();
    report.publisher = Some(manifest.tool.publisher.clone());
    if cx
        .policy
        .detect
        .deny_listed(manifest.component.sha256.as_ref())
        && !cx.policy.detect.deny_listed(&report.sha256)
    {
        report.findings.push(Finding {
            rule: "vuln-denied-component",
            severity: Severity::Critical,
            message: format!(
                "{} pins component sha256 {}, which is on the policy's deny list",
                report.tool, manifest.component.sha256
            ),
            hint: "remove the package; the runtime refuses to load it".into(),
            file: Some(manifest_path.clone()),
            line: crate::line_of(&text, "sha256"),
        });
    }

    let sig_path = wasmgov_runtime::signature_path(manifest_path);
    let sig = std::fs::read(&sig_path).ok();
    let signed = sig.is_some();
    let mut opts = VerifyOptions::new(cx.policy);
    opts.trust = cx.trust;
    opts.revoked = cx.revoked;
    opts.now = cx.now;
    // `--dir` binds go to the packages that declare their guest path.
    let binds: Vec<wasmgov_runtime::grant::CliBind> = cx
        .binds
        .iter()
        .filter(|b| manifest.fs.iter().any(|f| f.guest == b.guest))
        .cloned()
        .collect();
    opts.binds = &binds;
    opts.allow_unsigned = !signed;
    let verified = verify(&manifest_bytes, sig.as_deref(), &bytes, &opts);
    let (grant, signer) = match verified {
        Ok(v) => {
            report.accepted = interfaces.is_some();
            report.signer = v.signer.as_ref().map(|s| s.fingerprint.clone());
            (Some(v.grant), v.signer)
        }
        Err(e) => {
            if signed {
                let hint = e.hint().unwrap_or_default();
                report.findings.push(refused(
                    format!(
                        "{} would be refused: error[{}]: {}",
                        report.tool,
                        e.kind(),
                        one_line(&e)
                    ),
                    &hint,
                    manifest_path,
                ));
            } else {
                report.findings.push(refused(
                    format!(
                        "{} would be refused even unsigned: error[{}]: {e}",
                        report.tool,
                        e.kind()
                    ),
                    &e.hint().unwrap_or_default(),
                    manifest_path,
                ));
            }
            // Its reach as if it were accepted: what it asks for, within the policy.
            let inputs = GrantInputs {
                binds: &binds,
                check_publisher: false,
                unsigned: !signed,
                ..GrantInputs::default()
            };
            (cx.policy.grant_with(&manifest, &inputs).ok(), None)
        }
    };
    if !signed {
        report.accepted = false;
        report.findings.push(Finding {
            rule: "hygiene-unsigned",
            severity: Severity::High,
            message: format!(
                "{} is not signed ({} is missing): it runs only with --allow-unsigned, and then without any policy secret, private range or bind",
                report.tool,
                sig_path.display()
            ),
            hint: "sign the manifest with `wasmgov sign` using a key in the operator's allowed_signers".into(),
            file: Some(manifest_path.clone()),
            line: None,
        });
    }
    let Some(grant) = grant else {
        report
            .reach
            .push("unknown: the policy refuses what the manifest asks".into());
        return report;
    };
    let subject = Subject {
        manifest: &manifest,
        manifest_text: &text,
        manifest_path,
        interfaces: interfaces.as_ref(),
        grant: &grant,
        signer: signer.as_ref(),
        signed,
    };
    if !report.accepted && signed {
        report.reach.push(
            "(refused as it stands; the reach below is what it would get if accepted)".into(),
        );
    }
    crate::reach::assess(&mut report, &subject);
    crate::overgrant::assess(&mut report, &subject, cx.usage);
    crate::hygiene::assess(&mut report, &subject, cx);
    report
}

/// An error's text on one line (a policy refusal lists its violations on lines of their own).
fn one_line(e: &dyn std::fmt::Display) -> String {
    e.to_string()
        .lines()
        .map(|l| l.trim().trim_start_matches("- "))
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}
