//! The bundled advisory list (`assess/advisories.toml`, from rustsec/advisory-db) checked
//! against the wasmtime this binary was built with.

use serde::Deserialize;

use crate::{Finding, Severity};

/// The wasmtime version wasmgov is built with (pinned exactly in the workspace's Cargo.toml; a
/// test checks this against Cargo.lock).
pub const WASMTIME_VERSION: &str = "48.0.8";

/// The advisory list, as bundled.
pub const ADVISORIES_TOML: &str = include_str!("../advisories.toml");

/// The crates of the wasmtime family whose version is [`WASMTIME_VERSION`].
const SAME_VERSION: &[&str] = &[
    "wasmtime",
    "wasmtime-wasi",
    "wasmtime-wasi-http",
    "wasmtime-jit-debug",
];

/// One advisory.
#[derive(Debug, Clone, Deserialize)]
pub struct Advisory {
    /// `RUSTSEC-…`.
    pub id: String,
    /// GHSA and CVE ids.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The crate it is about.
    #[serde(rename = "crate")]
    pub krate: String,
    /// When it was published.
    pub date: String,
    /// What it is.
    pub title: String,
    /// `low` … `critical`, or `unknown`.
    pub severity: String,
    /// Its page.
    pub url: String,
    /// Version requirements that are fixed.
    #[serde(default)]
    pub patched: Vec<String>,
    /// Version requirements never affected.
    #[serde(default)]
    pub unaffected: Vec<String>,
    /// Set when the advisory was withdrawn.
    #[serde(default)]
    pub withdrawn: Option<String>,
}

#[derive(Deserialize)]
struct File {
    advisory: Vec<Advisory>,
}

/// Every bundled advisory (an unreadable list is a build defect a unit test catches; at run
/// time it reads as empty rather than failing an assessment).
pub fn all() -> Vec<Advisory> {
    toml::from_str::<File>(ADVISORIES_TOML)
        .map(|f| f.advisory)
        .unwrap_or_default()
}

impl Advisory {
    /// Whether `version` of its crate is affected: it matches no `patched` and no
    /// `unaffected` requirement. A requirement that does not parse counts as not matching, so
    /// a malformed entry reports rather than hides.
    pub fn affects(&self, version: &semver::Version) -> bool {
        if self.withdrawn.is_some() {
            return false;
        }
        let matches = |reqs: &[String]| {
            reqs.iter()
                .any(|r| semver::VersionReq::parse(r).is_ok_and(|req| req.matches(version)))
        };
        !matches(&self.patched) && !matches(&self.unaffected)
    }

    fn severity(&self) -> Severity {
        self.severity.parse().unwrap_or(Severity::High)
    }
}

/// The advisories that affect the wasmtime crates of this build, as findings.
pub fn runtime_findings() -> Vec<Finding> {
    findings_for(WASMTIME_VERSION)
}

/// The advisories that affect wasmtime `v`, as findings.
fn findings_for(v: &str) -> Vec<Finding> {
    let Ok(version) = semver::Version::parse(v) else {
        return Vec::new();
    };
    all()
        .into_iter()
        .filter(|a| SAME_VERSION.contains(&a.krate.as_str()) && a.affects(&version))
        .map(|a| Finding {
            rule: "vuln-runtime-advisory",
            severity: a.severity(),
            message: format!(
                "{} {v} is affected by {} ({}): {}",
                a.krate,
                a.id,
                a.aliases.join(", "),
                a.title
            ),
            hint: format!(
                "upgrade wasmgov to a release built with a patched {} ({}); see {}",
                a.krate,
                a.patched.join(" or "),
                a.url
            ),
            file: None,
            line: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_parses_and_every_requirement_is_valid() {
        let list: File = toml::from_str(ADVISORIES_TOML).expect("advisories.toml parses");
        assert!(list.advisory.len() > 40);
        for a in &list.advisory {
            for r in a.patched.iter().chain(&a.unaffected) {
                semver::VersionReq::parse(r)
                    .unwrap_or_else(|e| panic!("{}: requirement `{r}`: {e}", a.id));
            }
        }
    }

    #[test]
    fn the_pinned_version_is_the_one_in_cargo_lock() {
        let lock = include_str!("../../Cargo.lock");
        let at = lock
            .find("name = \"wasmtime\"\nversion = \"")
            .expect("wasmtime in Cargo.lock");
        let rest = &lock[at + "name = \"wasmtime\"\nversion = \"".len()..];
        let v = &rest[..rest.find('"').expect("quote")];
        assert_eq!(v, WASMTIME_VERSION);
    }

    #[test]
    fn an_old_wasmtime_is_affected_and_this_one_is_not() {
        let old = semver::Version::parse("47.0.2").expect("version");
        let hits: Vec<String> = all()
            .into_iter()
            .filter(|a| a.krate == "wasmtime" && a.affects(&old))
            .map(|a| a.id)
            .collect();
        assert!(!hits.is_empty(), "47.0.2 has known advisories");
        let f = findings_for("47.0.2");
        assert_eq!(f.len(), hits.len());
        assert!(f.iter().all(|f| {
            f.rule == "vuln-runtime-advisory"
                && f.message
                    .starts_with("wasmtime 47.0.2 is affected by RUSTSEC-")
                && f.hint.contains("https://rustsec.org/advisories/")
        }));
        assert!(runtime_findings().is_empty(), "{:?}", runtime_findings());
    }
}
