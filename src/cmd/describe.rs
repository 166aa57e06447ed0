//! `wasmgov describe`: the tool's own account of itself, under default limits and no grant.

use crate::flags::DescribeArgs;

pub fn run(a: DescribeArgs) -> anyhow::Result<i32> {
    let bytes = super::read_file(&a.tool, "component")?;
    let rt = super::cli_runtime(None)?;
    let tool = rt.load_component(&bytes, wasmgov::Limits::default())?;
    let d = super::block_on(tool.describe())??;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&d)?);
        return Ok(0);
    }
    println!("name:        {}", d.name);
    println!("description: {}", d.description);
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
