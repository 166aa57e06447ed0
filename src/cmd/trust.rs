//! Loading the operator's trust store, revoked keys and policy from flags or XDG defaults.
//!
//! An explicitly named file that cannot be read is an error; a default location that does not
//! exist means "none" (no trust store, no revocations, the built-in policy).

use std::path::{Path, PathBuf};

use wasmgov::policy::Policy;
use wasmgov::trust::{AllowedSigners, RevokedKeys};

use crate::flags::TrustFlags;
use crate::paths::config_dir;

/// What the operator configured.
pub struct Operator {
    pub policy: Policy,
    pub trust: Option<AllowedSigners>,
    pub revoked: Option<RevokedKeys>,
    /// The files these came from: no tool may have them bound.
    pub files: Vec<PathBuf>,
}

fn pick(explicit: &Option<PathBuf>, default_name: &str) -> Option<PathBuf> {
    explicit.clone().or_else(|| {
        let p = config_dir()?.join(default_name);
        p.exists().then_some(p)
    })
}

/// Load the policy named by `--policy` or the default location, else the built-in one.
pub fn load_policy(explicit: &Option<PathBuf>) -> anyhow::Result<Policy> {
    match pick(explicit, "policy.toml") {
        Some(p) => Ok(Policy::load(&p).map_err(refused)?),
        None => Ok(Policy::builtin()),
    }
}

/// Load everything `flags` names.
pub fn load(flags: &TrustFlags) -> anyhow::Result<Operator> {
    let policy = load_policy(&flags.policy)?;
    let mut files: Vec<PathBuf> = policy.path().map(Path::to_path_buf).into_iter().collect();
    let trust = match pick(&flags.trust, "allowed_signers") {
        Some(p) => {
            let t = AllowedSigners::load(&p).map_err(refused)?;
            files.push(p);
            Some(t)
        }
        None => None,
    };
    let revoked = match pick(&flags.revoked, "revoked_keys") {
        Some(p) => {
            let r = RevokedKeys::load(&p).map_err(refused)?;
            files.push(p);
            Some(r)
        }
        None => None,
    };
    Ok(Operator {
        policy,
        trust,
        revoked,
        files,
    })
}

/// Turn a trust/policy error into the library's refusal (exit 3, its own kind and hint).
pub fn refused<E: Into<wasmgov::RefusalError>>(e: E) -> anyhow::Error {
    wasmgov::Error::Package(e.into()).into()
}

/// The manifest to use for `tool`: the explicit one, else `TOOL.toml` beside it if present.
pub fn manifest_for(tool: &Path, explicit: &Option<PathBuf>) -> Option<PathBuf> {
    explicit.clone().or_else(|| {
        let beside = tool.with_extension("toml");
        beside.is_file().then_some(beside)
    })
}
