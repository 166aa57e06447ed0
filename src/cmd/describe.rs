//! `wasmgov describe`: what an agent sees of a tool.
//!
//! With a manifest (given, or `TOOL.toml` beside the component), the package is verified as
//! `run` verifies it, and the name and description are the signed manifest's; the component's
//! own words are shown beside them only where they differ. Without one, it is the component's
//! own account of itself, under default limits and no grant.

use crate::flags::DescribeArgs;

pub fn run(a: DescribeArgs) -> anyhow::Result<i32> {
    let tool = match super::trust::manifest_for(&a.tool, &a.manifest) {
        Some(manifest) => {
            let state = super::state_dir(&a.state)?;
            let mut b = super::operator_builder(
                super::trust::load(&a.trust)?,
                state.as_deref(),
                a.allow_unsigned,
            );
            if let Some(dir) = &state {
                // `describe` runs the tool: it is audited like any call.
                let audit =
                    wasmgov::Audit::file(dir.join("audit.jsonl")).map_err(wasmgov::Error::Audit)?;
                b = b.audit(audit);
            }
            let rt = b.build()?;
            let opts = wasmgov::LoadOptions {
                binds: a.dirs.clone(),
                ..Default::default()
            };
            rt.load_package_files(&manifest, &a.tool, &opts)?
        }
        None => {
            let bytes = super::read_file(&a.tool, "component")?;
            let rt = super::cli_runtime(a.state.as_deref())?;
            rt.load_component(&bytes, wasmgov::Limits::default())?
        }
    };
    let d = super::block_on(tool.describe())??;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&d)?);
        return Ok(0);
    }
    println!("name:        {}", d.name);
    if let Some(g) = &d.guest_name {
        println!("             (the component calls itself `{g}`)");
    }
    println!("description: {}", d.description);
    if let Some(g) = &d.guest_description {
        println!("             (the component's own description: {g:?})");
    }
    println!(
        "input schema:\n{}",
        serde_json::to_string_pretty(&d.input_schema)?
    );
    println!(
        "output schema:\n{}",
        serde_json::to_string_pretty(&d.output_schema)?
    );
    Ok(0)
}
