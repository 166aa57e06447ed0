//! `wasmgov pin`: write a component's sha256 and size into its manifest, keeping the rest of
//! the text as it was. The manifest must be signed again afterwards.

use crate::flags::PinArgs;

pub fn run(a: PinArgs) -> anyhow::Result<i32> {
    let text = super::read_file(&a.manifest, "manifest")?;
    let text = String::from_utf8(text).map_err(|_| {
        crate::report::usage(format!("{} is not UTF-8", a.manifest.display()), None)
    })?;
    let component = super::read_file(&a.tool, "component")?;
    let pinned = wasmgov::package::pin(&text, &component).map_err(super::trust::refused)?;
    // Write beside and rename, so a crash never leaves a half-written manifest.
    let tmp = a.manifest.with_extension("toml.tmp");
    std::fs::write(&tmp, pinned.as_bytes())?;
    std::fs::rename(&tmp, &a.manifest)?;
    eprintln!(
        "pinned {} ({} bytes, sha256 {}) in {}; sign it again",
        a.tool.display(),
        component.len(),
        wasmgov::component::sha256_hex(&component),
        a.manifest.display()
    );
    Ok(0)
}
