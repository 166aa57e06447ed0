//! The tools a server offers: the signed packages of a directory, verified and loaded, under the
//! names MCP clients see them by.
//!
//! A package is `STEM.wasm` + `STEM.toml` + `STEM.toml.sig` in the directory. Each is verified
//! as `wasmgov run` verifies it (trust store, policy, ratchet; unsigned packages are never
//! served) and loaded once; what the agent sees comes from the signed manifest and the pinned
//! component's `describe`, never from what the tool says at call time. A reload keeps a package
//! that did not change as it is, loads one that did, and when the new files fail verification
//! keeps serving the version that was loaded before (and says why).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use wasmgov_runtime::{LoadOptions, Runtime, Tool, WorldKind};

use crate::error::ServeError;
use crate::listing::{self, Listing};

/// Most bytes read of a manifest or its signature.
const MAX_MANIFEST: u64 = 64 * 1024 + 1;
/// Most bytes read of a component.
const MAX_COMPONENT: u64 = 512 * 1024 * 1024;
/// Most packages a directory may hold.
const MAX_PACKAGES: usize = 4096;

/// A loaded package, served under `name`.
#[derive(Debug)]
pub struct Served {
    /// The name MCP clients call it by: the manifest's tool name, or `NAME__PUBLISHER` when two
    /// publishers ship a tool of that name.
    pub name: String,
    /// The file stem of the package in the directory.
    pub stem: String,
    /// The loaded tool.
    pub tool: Tool,
    /// What `tools/list` shows of it.
    pub listing: Listing,
    /// SHA-256 over the package's three files, to see on reload whether anything changed.
    pub fingerprint: [u8; 32],
}

impl Served {
    /// The manifest's tool name.
    pub fn tool_name(&self) -> &wasmgov_runtime::names::ToolName {
        &self.verified().manifest.tool.name
    }

    /// The verified package (every served tool has one).
    pub fn verified(&self) -> &wasmgov_runtime::Verified {
        self.tool
            .package()
            .expect("a served tool is always loaded from a verified package")
    }

    /// A wasi:cli command (input on stdin) rather than a tool-world component.
    pub fn is_command(&self) -> bool {
        self.tool.info().world == WorldKind::Command
    }
}

/// A package that is not served (or whose new version is not), and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The file stem (or file name, for a stray file).
    pub stem: String,
    /// `error[KIND]` of the refusal.
    pub kind: String,
    /// Why.
    pub reason: String,
    /// What to do.
    pub hint: Option<String>,
    /// The name of the earlier version that keeps being served instead, if any.
    pub kept: Option<String>,
}

/// The served tools by name, and the packages refused at the last scan.
#[derive(Debug, Default)]
pub struct Catalog {
    served: BTreeMap<String, Arc<Served>>,
    refused: Vec<Refused>,
    dir: PathBuf,
}

/// The files of one package.
struct PackageFiles {
    stem: String,
    manifest: Vec<u8>,
    signature: Vec<u8>,
    component: Vec<u8>,
    fingerprint: [u8; 32],
}

impl Catalog {
    /// An empty catalog of `dir`.
    pub fn empty(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            ..Self::default()
        }
    }

    /// The served tools, by name.
    pub fn served(&self) -> &BTreeMap<String, Arc<Served>> {
        &self.served
    }

    /// A served tool by name.
    pub fn get(&self, name: &str) -> Option<&Arc<Served>> {
        self.served.get(name)
    }

    /// The packages refused at the last scan.
    pub fn refused(&self) -> &[Refused] {
        &self.refused
    }

    /// The directory served.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether `other` serves the same tools under the same names and listings.
    pub fn same_tools(&self, other: &Catalog) -> bool {
        self.served.len() == other.served.len()
            && self
                .served
                .iter()
                .zip(&other.served)
                .all(|((a, x), (b, y))| a == b && x.fingerprint == y.fingerprint)
    }

    /// Scan `dir` and load what it holds. `previous` is the catalog being replaced: its packages
    /// whose files did not change are kept as loaded, and its version of a package whose new
    /// files are refused keeps being served. Blocking (verification and compilation); run it on
    /// a blocking thread, or call [`Catalog::scan_async`].
    pub fn scan(
        runtime: &Runtime,
        dir: &Path,
        previous: Option<&Catalog>,
        handle: &tokio::runtime::Handle,
    ) -> Result<Self, std::io::Error> {
        let mut refused = Vec::new();
        let stems = list_packages(dir, &mut refused)?;
        let old_by_stem: BTreeMap<&str, &Arc<Served>> = previous
            .map(|p| p.served.values().map(|s| (s.stem.as_str(), s)).collect())
            .unwrap_or_default();
        let mut loaded: Vec<Arc<Served>> = Vec::new();
        for stem in stems {
            let old = old_by_stem.get(stem.as_str()).copied();
            let refuse = |(kind, reason, hint): Refusal| Refused {
                stem: stem.clone(),
                kind: kind.to_owned(),
                reason,
                hint,
                kept: old.map(|o| o.name.clone()),
            };
            // What this package serves now, and why its files are refused.
            let (serves, refusal) = match read_package(dir, &stem) {
                Err(r) => (old.cloned(), Some(refuse(r))),
                Ok(files) => match old.filter(|o| o.fingerprint == files.fingerprint) {
                    // Unchanged files, but a release can expire while it is served.
                    Some(o)
                        if o.verified()
                            .manifest
                            .is_expired(std::time::SystemTime::now()) =>
                    {
                        let expired = refuse((
                            "manifest-expired",
                            format!("{} has expired", o.verified().manifest.tool_id()),
                            Some("get a current release from the publisher".into()),
                        ));
                        (
                            None,
                            Some(Refused {
                                kept: None,
                                ..expired
                            }),
                        )
                    }
                    Some(o) => (Some(o.clone()), None),
                    None => match load(runtime, files, handle) {
                        Ok(s) => (Some(Arc::new(s)), None),
                        Err(r) => (old.cloned(), Some(refuse(r))),
                    },
                },
            };
            loaded.extend(serves);
            refused.extend(refusal);
        }
        let served = name_them(loaded, &mut refused);
        refused.sort_by(|a, b| a.stem.cmp(&b.stem));
        Ok(Self {
            served,
            refused,
            dir: dir.to_path_buf(),
        })
    }

    /// [`Catalog::scan`] on a blocking thread of the current tokio runtime; a directory that
    /// cannot be read is [`ServeError::Dir`].
    pub async fn scan_async(
        runtime: &Runtime,
        dir: &Path,
        previous: Option<Arc<Catalog>>,
    ) -> Result<Self, ServeError> {
        let fail = |source| ServeError::Dir {
            path: dir.to_path_buf(),
            source,
        };
        let (runtime, owned_dir) = (runtime.clone(), dir.to_path_buf());
        let handle = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            Catalog::scan(&runtime, &owned_dir, previous.as_deref(), &handle)
        })
        .await
        .map_err(|e| fail(std::io::Error::other(e.to_string())))?
        .map_err(fail)
    }
}

/// The package stems of `dir` (sorted); stray files are refused.
fn list_packages(dir: &Path, refused: &mut Vec<Refused>) -> Result<Vec<String>, std::io::Error> {
    let mut stems = BTreeSet::new();
    let mut wasm = BTreeSet::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        if let Some(stem) = name.strip_suffix(".toml") {
            stems.insert(stem.to_owned());
        } else if let Some(stem) = name.strip_suffix(".wasm") {
            wasm.insert(stem.to_owned());
        }
        if stems.len() > MAX_PACKAGES {
            return Err(std::io::Error::other(format!(
                "{} holds more than {MAX_PACKAGES} packages",
                dir.display()
            )));
        }
    }
    for stray in wasm.difference(&stems) {
        refused.push(Refused {
            stem: format!("{stray}.wasm"),
            kind: "no-manifest".into(),
            reason: format!("{stray}.wasm has no manifest {stray}.toml beside it"),
            hint: Some(
                "a served tool needs its signed manifest: NAME.toml and NAME.toml.sig".into(),
            ),
            kept: None,
        });
    }
    Ok(stems.into_iter().collect())
}

type Refusal = (&'static str, String, Option<String>);

fn read_capped(path: &Path, max: u64) -> Result<Option<Vec<u8>>, std::io::Error> {
    use std::io::Read;
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if !f.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut buf = Vec::new();
    f.take(max).read_to_end(&mut buf)?;
    Ok(Some(buf))
}

fn read_package(dir: &Path, stem: &str) -> Result<PackageFiles, Refusal> {
    let read = |name: String, max: u64| {
        let path = dir.join(&name);
        read_capped(&path, max).map_err(|e| {
            (
                "io",
                format!("cannot read {}: {e}", path.display()),
                Some("check the file and its permissions".to_owned()),
            )
        })
    };
    let manifest = read(format!("{stem}.toml"), MAX_MANIFEST)?.unwrap_or_default();
    let Some(signature) = read(format!("{stem}.toml.sig"), MAX_MANIFEST)? else {
        return Err((
            "unsigned",
            format!("{stem}.toml has no signature {stem}.toml.sig"),
            Some("serve runs signed packages only: sign it with `wasmgov sign`".into()),
        ));
    };
    let Some(component) = read(format!("{stem}.wasm"), MAX_COMPONENT)? else {
        return Err((
            "no-component",
            format!("{stem}.toml has no component {stem}.wasm beside it"),
            Some("put the component the manifest pins next to it as STEM.wasm".into()),
        ));
    };
    let mut h = Sha256::new();
    for part in [&manifest, &signature, &component] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    Ok(PackageFiles {
        stem: stem.to_owned(),
        manifest,
        signature,
        component,
        fingerprint: h.finalize().into(),
    })
}

fn load(
    runtime: &Runtime,
    files: PackageFiles,
    handle: &tokio::runtime::Handle,
) -> Result<Served, Refusal> {
    let tool = runtime
        .load_package(
            &files.manifest,
            Some(&files.signature),
            &files.component,
            &LoadOptions::default(),
        )
        .map_err(|e| (e.kind(), e.to_string(), e.hint()))?;
    let listing = listing::listing(&tool, handle)?;
    Ok(Served {
        name: String::new(),
        stem: files.stem,
        tool,
        listing,
        fingerprint: files.fingerprint,
    })
}

/// Give every loaded package its served name. One publisher's tool keeps its name; when two
/// publishers ship one name, each is served as `NAME__PUBLISHER`. The same tool of the same
/// publisher in two packages is served once, the higher sequence.
fn name_them(
    loaded: Vec<Arc<Served>>,
    refused: &mut Vec<Refused>,
) -> BTreeMap<String, Arc<Served>> {
    let mut by_tool: BTreeMap<String, BTreeMap<String, Vec<Arc<Served>>>> = BTreeMap::new();
    for s in loaded {
        let m = &s.verified().manifest.tool;
        by_tool
            .entry(m.name.to_string())
            .or_default()
            .entry(m.publisher.clone())
            .or_default()
            .push(s);
    }
    let mut served = BTreeMap::new();
    for (tool, publishers) in by_tool {
        let qualify = publishers.len() > 1;
        for (publisher, mut versions) in publishers {
            versions.sort_by_key(|s| std::cmp::Reverse(s.verified().manifest.tool.sequence));
            let best = versions.remove(0);
            let mut name = if qualify {
                format!("{tool}__{}", publisher_slug(&publisher))
            } else {
                tool.clone()
            };
            // Two publishers whose slugs meet (`a@x` and `a_x`): the manifest digest tells them
            // apart, so neither shadows the other.
            while served.contains_key(&name) {
                let digest = best.verified().manifest_sha256.to_string();
                name = format!("{name}_{}", digest.get(..8).unwrap_or(&digest));
            }
            for other in versions {
                refused.push(Refused {
                    stem: other.stem.clone(),
                    kind: "superseded".into(),
                    reason: format!(
                        "{} sequence {} of {publisher} is older than {}.toml (sequence {})",
                        tool,
                        other.verified().manifest.tool.sequence,
                        best.stem,
                        best.verified().manifest.tool.sequence
                    ),
                    hint: Some("remove the older package from the directory".into()),
                    kept: None,
                });
            }
            let entry = if best.name == name {
                best
            } else {
                Arc::new(Served {
                    name: name.clone(),
                    stem: best.stem.clone(),
                    tool: best.tool.clone(),
                    listing: best.listing.renamed(&name),
                    fingerprint: best.fingerprint,
                })
            };
            served.insert(name, entry);
        }
    }
    served
}

/// A publisher as it appears in a served name: characters outside `A-Z a-z 0-9 . -` become `_`.
pub fn publisher_slug(publisher: &str) -> String {
    publisher
        .chars()
        .take(56)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_keep_only_tool_name_characters() {
        assert_eq!(publisher_slug("alice@example.com"), "alice_example.com");
        assert_eq!(publisher_slug("a b/c"), "a_b_c");
    }
}
