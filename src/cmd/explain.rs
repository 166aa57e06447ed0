//! `wasmgov explain`: what a manifest would be granted under a policy, in plain words, or every
//! reason it would be refused. Runs nothing, reads no signature, touches no state.

use wasmgov::grant::GrantInputs;
use wasmgov::manifest::Manifest;

use crate::flags::ExplainArgs;

pub fn run(a: ExplainArgs) -> anyhow::Result<i32> {
    let policy = super::trust::load_policy(&a.policy)?;
    let bytes = super::read_file(&a.manifest, "manifest")?;
    let m = Manifest::parse(&bytes).map_err(super::trust::refused)?;
    let inputs = GrantInputs {
        binds: &a.dirs,
        ..GrantInputs::default()
    };
    let grant = policy
        .grant_with(&m, &inputs)
        .map_err(super::trust::refused)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&grant)?);
        return Ok(0);
    }
    let source = match policy.path() {
        Some(p) => p.display().to_string(),
        None => "the built-in policy".to_string(),
    };
    println!("{} under {source}:", m.tool_id());
    let text = grant.to_string();
    println!("{}", text.trim_end());
    Ok(0)
}
