//! `wasmgov explain`: what a manifest would be granted under a policy, in plain words — which
//! policy entry (or flag) gave each part, and what the policy provisions that this tool does not
//! get and why — or every reason it would be refused. Runs nothing, reads no signature, touches
//! no state.

use wasmgov::grant::GrantInputs;
use wasmgov::manifest::Manifest;

use crate::flags::ExplainArgs;

pub fn run(a: ExplainArgs) -> anyhow::Result<i32> {
    let policy = super::trust::load_policy(&a.policy)?;
    let bytes = super::read_file(&a.manifest, "manifest")?;
    let m = Manifest::parse(&bytes).map_err(super::trust::refused)?;
    policy
        .check_min_sequence(&m)
        .map_err(super::trust::refused)?;
    let inputs = GrantInputs {
        binds: &a.dirs,
        // An unsigned manifest is not checked against [[publishers]] (nobody signed it); a
        // signed one is, as `run` checks it against the signer's principal.
        check_publisher: !a.unsigned,
        unsigned: a.unsigned,
        ..GrantInputs::default()
    };
    let explanation = policy
        .explain_with(&m, &inputs)
        .map_err(super::trust::refused)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&explanation)?);
        return Ok(0);
    }
    let source = match policy.path() {
        Some(p) => p.display().to_string(),
        None => "the built-in policy".to_string(),
    };
    let how = if a.unsigned {
        " (unsigned, as with --allow-unsigned: no policy secret, private range or bind)"
    } else {
        ""
    };
    println!("{} under {source}{how}:", m.tool_id());
    let text = explanation.to_string();
    println!("{}", text.trim_end());
    Ok(0)
}
