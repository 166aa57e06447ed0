//! `wasmgov pin`: write a component's SHA-256 and size into a manifest's `[component]` table.
//!
//! The text is edited in place with `toml_edit`, so comments, order and formatting are kept; only
//! the two values change (and `[component]` is appended if missing). The result must then be
//! signed again: its bytes changed.

use toml_edit::{DocumentMut, Item, Table, TableLike, Value};

use crate::manifest::ManifestError;
use crate::names::Sha256Digest;
use crate::toml_doc::DocError;

fn error(field: Option<&str>, line: Option<usize>, message: impl Into<String>) -> ManifestError {
    ManifestError(DocError {
        field: field.map(str::to_owned),
        line,
        message: message.into(),
    })
}

fn set(table: &mut dyn TableLike, key: &str, new: Value) {
    if let Some(old) = table.get_mut(key).and_then(Item::as_value_mut) {
        let decor = old.decor().clone();
        *old = new;
        *old.decor_mut() = decor;
    } else {
        table.insert(key, Item::Value(new));
    }
}

/// Return `manifest_text` with `[component] sha256` and `size` set for `component`.
pub fn pin(manifest_text: &str, component: &[u8]) -> Result<String, ManifestError> {
    let mut doc: DocumentMut = manifest_text.parse().map_err(|e: toml_edit::TomlError| {
        let line = e.span().map(|s| {
            let head = &manifest_text.as_bytes()[..s.start.min(manifest_text.len())];
            head.iter().filter(|&&b| b == b'\n').count() + 1
        });
        error(None, line, e.message().trim())
    })?;
    let size = i64::try_from(component.len())
        .map_err(|_| error(Some("component.size"), None, "component too large"))?;
    let root = doc.as_table_mut();
    if !root.contains_key("component") {
        root.insert("component", Item::Table(Table::new()));
    }
    let table = root
        .get_mut("component")
        .and_then(Item::as_table_like_mut)
        .ok_or_else(|| error(Some("component"), None, "is not a table"))?;
    set(
        table,
        "sha256",
        Value::from(Sha256Digest::of(component).to_string()),
    );
    set(table, "size", Value::from(size));
    Ok(doc.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Manifest;
    use crate::manifest::tests::sample;

    #[test]
    fn pin_rewrites_only_the_two_values() {
        let original = sample("").replace("size = 9", "size = 1   # bytes, filled in by pin");
        let pinned = pin(&original, b"new bytes").unwrap();
        let m = Manifest::parse(pinned.as_bytes()).unwrap();
        assert_eq!(m.component.sha256, Sha256Digest::of(b"new bytes"));
        assert_eq!(m.component.size, 9);
        assert!(
            pinned.contains("size = 9   # bytes, filled in by pin"),
            "{pinned}"
        );
        assert!(pinned.contains("fuel = 2_000_000_000"), "formatting kept");
        let changed: Vec<_> = original
            .lines()
            .zip(pinned.lines())
            .filter(|(a, b)| a != b)
            .collect();
        assert_eq!(changed.len(), 2, "{changed:?}");
        assert_eq!(original.lines().count(), pinned.lines().count());
    }

    #[test]
    fn pin_adds_a_missing_component_table_and_handles_inline_tables() {
        let text = "schema = 1\n# hi\n[tool]\nname = \"x\"\nversion = \"1\"\npublisher = \"a@b\"\nsequence = 1\n";
        let pinned = pin(text, b"abc").unwrap();
        assert!(pinned.starts_with(text), "{pinned}");
        let m = Manifest::parse(pinned.as_bytes()).unwrap();
        assert_eq!(m.component.size, 3);
        let inline = text.replace(
            "# hi\n",
            "component = { sha256 = \"\", size = 0 } # pinned\n",
        );
        let pinned = pin(&inline, b"abc").unwrap();
        assert_eq!(
            Manifest::parse(pinned.as_bytes()).unwrap().component.size,
            3,
            "{pinned}"
        );
        assert!(pinned.contains("} # pinned"), "{pinned}");
    }

    #[test]
    fn pin_reports_broken_toml_with_its_line() {
        let e = pin("schema = 1\n[tool\n", b"").unwrap_err();
        assert_eq!(e.line(), Some(2), "{e}");
        assert!(pin("component = 3\n", b"").is_err());
    }
}
