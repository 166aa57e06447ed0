//! A component's top-level imports and exports, read from its binary without compiling it (so a
//! component the runtime would refuse can still be assessed).

use wasmparser::{Parser, Payload};

/// The interfaces a component names at its top level.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Interfaces {
    /// Import names, e.g. `wasi:filesystem/types@0.2.6`.
    pub imports: Vec<String>,
    /// Export names, e.g. `wasmgov:tool/tool@0.1.0`.
    pub exports: Vec<String>,
}

impl Interfaces {
    /// Read them from `bytes`; an error says why it is not a readable component.
    pub fn of(bytes: &[u8]) -> Result<Self, String> {
        if !Parser::is_component(bytes) {
            return Err("not a WebAssembly component".into());
        }
        let mut out = Self::default();
        let mut depth = 0usize;
        for payload in Parser::new(0).parse_all(bytes) {
            match payload.map_err(|e| format!("malformed component: {e}"))? {
                Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
                Payload::End(_) => depth = depth.saturating_sub(1),
                Payload::ComponentImportSection(r) if depth == 0 => {
                    for i in r {
                        let i = i.map_err(|e| format!("malformed import: {e}"))?;
                        out.imports.push(i.name.name.to_owned());
                    }
                }
                Payload::ComponentExportSection(r) if depth == 0 => {
                    for e in r {
                        let e = e.map_err(|e| format!("malformed export: {e}"))?;
                        out.exports.push(e.name.name.to_owned());
                    }
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// Whether it imports any interface of `package` (`wasi:filesystem`), or the one interface
    /// `package/iface` when the name has a slash.
    pub fn imports(&self, what: &str) -> bool {
        self.imports.iter().any(|i| {
            let unversioned = i.split('@').next().unwrap_or(i);
            if what.contains('/') {
                unversioned == what
            } else {
                unversioned.split('/').next() == Some(what)
            }
        })
    }

    /// The `wasmgov:tool` versions it imports or exports (`0.1.0`), with the name that says so.
    pub fn wasmgov_versions(&self) -> Vec<(&str, semver::Version)> {
        self.imports
            .iter()
            .chain(&self.exports)
            .filter_map(|n| {
                let (iface, v) = n.split_once('@')?;
                iface
                    .starts_with("wasmgov:tool/")
                    .then(|| semver::Version::parse(v).ok().map(|v| (n.as_str(), v)))
                    .flatten()
            })
            .collect()
    }
}

/// The `wasmgov:tool` interface version this runtime serves (the `package` line of
/// host-api's `wit/tool.wit`).
pub fn current_wasmgov_version() -> semver::Version {
    const WIT: &str = include_str!("../../host-api/wit/tool.wit");
    WIT.lines()
        .find_map(|l| l.trim().strip_prefix("package wasmgov:tool@"))
        .and_then(|v| semver::Version::parse(v.trim_end_matches(';')).ok())
        .unwrap_or_else(|| semver::Version::new(0, 1, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wit_version_is_read() {
        assert_eq!(current_wasmgov_version(), semver::Version::new(0, 1, 0));
    }

    #[test]
    fn a_core_module_and_junk_are_not_components() {
        assert!(Interfaces::of(b"\0asm\x01\0\0\0").is_err());
        assert!(Interfaces::of(b"hello").is_err());
        assert!(Interfaces::of(b"\0asm\x0d\0\x01\0\x07").is_err());
    }

    #[test]
    fn matching_by_package_and_by_interface() {
        let i = Interfaces {
            imports: vec![
                "wasi:filesystem/types@0.2.6".into(),
                "wasi:http/outgoing-handler@0.2.6".into(),
            ],
            exports: vec!["wasmgov:tool/tool@0.1.0".into()],
        };
        assert!(i.imports("wasi:filesystem"));
        assert!(i.imports("wasi:http/outgoing-handler"));
        assert!(!i.imports("wasi:http/types"));
        assert!(!i.imports("wasi:sockets"));
        assert_eq!(i.wasmgov_versions().len(), 1);
    }
}
