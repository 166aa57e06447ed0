//! `wasmgov verify`: every check `run` makes before compiling — signature, trust, expiry,
//! publisher, pin and policy — without running anything and without touching the ratchet.

use std::time::SystemTime;

use wasmgov::package::{VerifyOptions, verify};

use crate::flags::VerifyArgs;
use crate::report::usage;

pub fn run(a: VerifyArgs) -> anyhow::Result<i32> {
    let op = super::trust::load(&a.trust)?;
    // The component is TOOL.wasm beside TOOL.toml, the same convention `run` uses.
    let tool = match &a.tool {
        Some(t) => t.clone(),
        None => {
            let beside = a.manifest.with_extension("wasm");
            if !beside.is_file() {
                return Err(usage(
                    format!("no component beside {}", a.manifest.display()),
                    Some(
                        "pass --tool TOOL.wasm so the pinned sha256 and size can be checked".into(),
                    ),
                ));
            }
            beside
        }
    };
    let manifest = super::read_file(&a.manifest, "manifest")?;
    let sig_path = wasmgov::signature_path(&a.manifest);
    let sig = match std::fs::read(&sig_path) {
        Ok(s) => Some(s),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(usage(
                format!("cannot read {}: {e}", sig_path.display()),
                None,
            ));
        }
    };
    let component = super::read_file(&tool, "component")?;
    let opts = VerifyOptions {
        trust: op.trust.as_ref(),
        revoked: op.revoked.as_ref(),
        now: SystemTime::now(),
        ..VerifyOptions::new(&op.policy)
    };
    let v = verify(&manifest, sig.as_deref(), &component, &opts).map_err(|e| match e {
        // Name the file that was looked for, as `run` does.
        wasmgov::RefusalError::Unsigned { tool, .. } => {
            super::trust::refused(wasmgov::RefusalError::Unsigned {
                tool,
                sig_path: sig_path.display().to_string(),
            })
        }
        e => super::trust::refused(e),
    })?;
    let Some(signer) = &v.signer else {
        return Err(super::trust::refused(wasmgov::RefusalError::Unsigned {
            tool: v.manifest.tool_id(),
            sig_path: sig_path.display().to_string(),
        }));
    };
    println!(
        "ok: {} signed by {}",
        v.manifest.tool_id(),
        signer.principals().join(", ")
    );
    println!("key:       {} {}", signer.algorithm, signer.fingerprint);
    println!("manifest:  sha256 {}", v.manifest_sha256);
    println!(
        "component: {} (sha256 and size match the pin)",
        tool.display()
    );
    Ok(0)
}
