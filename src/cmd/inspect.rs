//! `wasmgov inspect`: what a component is, without running it.

use crate::flags::InspectArgs;

pub fn run(a: InspectArgs) -> anyhow::Result<i32> {
    let bytes = super::read_file(&a.tool, "component")?;
    let rt = super::cli_runtime(None)?;
    let tool = rt.load_component(&bytes, wasmgov::Limits::default())?;
    let info = tool.info();
    if a.json {
        println!("{}", serde_json::to_string_pretty(info)?);
        return Ok(0);
    }
    println!("sha256:  {}", info.sha256);
    println!("size:    {} bytes", info.size);
    println!("world:   {}", info.world);
    println!("imports:");
    for i in &info.imports {
        println!("  {i}");
    }
    println!("exports:");
    for e in &info.exports {
        println!("  {e}");
    }
    Ok(0)
}
