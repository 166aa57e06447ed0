//! Verifying a tool package: manifest bytes, optional signature, component bytes → [`Verified`].
//!
//! The order is fixed and every step fails closed: signature (format, key type, namespace,
//! cryptographic check over the exact manifest bytes) → trust (revoked, known, namespaces=,
//! validity window) → parse the same bytes → manifest expiry → publisher authorised (a principal
//! of the key, and allowed by the policy to sign this tool name) → pin (size, then SHA-256 of the
//! exact component buffer that will be compiled) → policy (the effective grant; an unsigned
//! manifest, accepted only with `--allow-unsigned`, gets least: no policy secret, private range
//! or bind). The policy's `[[min-sequence]]` floor is checked after expiry; the state's ratchet is a
//! separate step ([`crate::ratchet::Ratchet::check_and_advance`]) so `explain` can run without
//! state.

use std::time::SystemTime;

use crate::grant::{CliBind, Grant, GrantInputs, SecretSource};
use crate::limits::LimitOverrides;
use crate::manifest::{Manifest, ManifestError};
use crate::names::Sha256Digest;
use crate::policy::{Policy, PolicyError};
use crate::ratchet::RatchetError;
use crate::signature::{ManifestSignature, SignatureError};
use crate::trust::{AllowedSigners, RevokedKeys, Signer, TrustError};

pub use crate::pin::pin;

/// Everything `verify` needs besides the bytes.
#[derive(Debug, Clone)]
pub struct VerifyOptions<'a> {
    /// The allowed_signers file; `None` refuses any signed manifest (`trust-store`).
    pub trust: Option<&'a AllowedSigners>,
    /// Revoked keys, if any.
    pub revoked: Option<&'a RevokedKeys>,
    /// The operator policy (or [`Policy::builtin`]).
    pub policy: &'a Policy,
    /// Accept a manifest without signature (`--allow-unsigned`).
    pub allow_unsigned: bool,
    /// The time to check validity windows and expiry against.
    pub now: SystemTime,
    /// `--dir` binds.
    pub binds: &'a [CliBind],
    /// `--env NAME=VALUE` values.
    pub env_values: &'a [(String, String)],
    /// `--secret NAME=SOURCE` sources.
    pub secrets: &'a [(String, SecretSource)],
    /// Limit flags that narrow this call.
    pub narrow: LimitOverrides,
}

impl<'a> VerifyOptions<'a> {
    /// Options with `policy`, the current time and nothing else.
    pub fn new(policy: &'a Policy) -> Self {
        Self {
            trust: None,
            revoked: None,
            policy,
            allow_unsigned: false,
            now: SystemTime::now(),
            binds: &[],
            env_values: &[],
            secrets: &[],
            narrow: LimitOverrides::default(),
        }
    }
}

/// A package that passed every check.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The parsed manifest.
    pub manifest: Manifest,
    /// SHA-256 of the exact manifest bytes.
    pub manifest_sha256: Sha256Digest,
    /// Who signed it (`None` for an unsigned manifest run with `--allow-unsigned`).
    pub signer: Option<Signer>,
    /// The effective grant.
    pub grant: Grant,
}

/// Why a package was refused. Every variant has a [`kind`](RefusalError::kind) and a hint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefusalError {
    /// The manifest could not be read.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The signature is malformed, of an unsupported key type or namespace, or does not verify.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// The key is not trusted now, or the trust store is unusable.
    #[error(transparent)]
    Trust(#[from] TrustError),
    /// The policy refuses the manifest.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// Rollback, equivocation or an unusable ratchet state.
    #[error(transparent)]
    Ratchet(#[from] RatchetError),
    /// No signature, and unsigned manifests were not allowed.
    #[error("unsigned: `{tool}` has no signature (expected {sig_path})")]
    Unsigned {
        /// `name@version` if the manifest parsed, else `the manifest`.
        tool: String,
        /// Where the signature was looked for, for the message.
        sig_path: String,
    },
    /// The manifest's `expires` has passed.
    #[error("manifest of `{tool}` expired at {expires}")]
    ManifestExpired {
        /// `name@version`.
        tool: String,
        /// The expiry, RFC 3339.
        expires: String,
    },
    /// The signer may not publish this manifest.
    #[error("signer not authorized: {reason}")]
    SignerNotAuthorized {
        /// The signing key's fingerprint.
        fingerprint: String,
        /// Why, in words.
        reason: String,
    },
    /// The component's size differs from the pinned size.
    #[error("size mismatch: the component is {actual} bytes, the manifest pins {expected} bytes")]
    SizeMismatch {
        /// Pinned size.
        expected: u64,
        /// Actual size.
        actual: u64,
    },
    /// The component's SHA-256 differs from the pinned digest.
    #[error("digest mismatch: the component's sha256 is {actual}, the manifest pins {expected}")]
    DigestMismatch {
        /// Pinned digest.
        expected: String,
        /// Actual digest.
        actual: String,
    },
}

impl RefusalError {
    /// The error kind for `error[KIND]` and audit records.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Manifest(e) => e.kind(),
            Self::Signature(e) => e.kind(),
            Self::Trust(e) => e.kind(),
            Self::Policy(e) => e.kind(),
            Self::Ratchet(e) => e.kind(),
            Self::Unsigned { .. } => "unsigned",
            Self::ManifestExpired { .. } => "manifest-expired",
            Self::SignerNotAuthorized { .. } => "signer-not-authorized",
            Self::SizeMismatch { .. } => "size-mismatch",
            Self::DigestMismatch { .. } => "digest-mismatch",
        }
    }

    /// What the operator can do next.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Manifest(_) => Some("fix the manifest (see `wasmgov manifest schema`), then `wasmgov pin` and re-sign it".into()),
            Self::Signature(e) => e.hint(),
            Self::Trust(e) => e.hint(),
            Self::Policy(e) => e.hint(),
            Self::Ratchet(e) => e.hint(),
            Self::Unsigned { .. } => Some(
                "sign it with `wasmgov sign` or `ssh-keygen -Y sign -n wasmgov-manifest-v1`, or pass --allow-unsigned if you accept running it unverified".into(),
            ),
            Self::ManifestExpired { .. } => Some("get a current release from the publisher".into()),
            Self::SignerNotAuthorized { .. } => Some(
                "the key must list the manifest's publisher as a principal in allowed_signers, and a [[publishers]] entry in policy.toml must let that principal sign this tool name".into(),
            ),
            Self::SizeMismatch { .. } | Self::DigestMismatch { .. } => Some(
                "the component is not the one the manifest was signed for; if you built it yourself, run `wasmgov pin` and re-sign".into(),
            ),
        }
    }
}

/// Verify a package. See the module docs for the order of checks. Does not touch the ratchet.
pub fn verify(
    manifest_bytes: &[u8],
    sig_bytes: Option<&[u8]>,
    component: &[u8],
    opts: &VerifyOptions<'_>,
) -> Result<Verified, RefusalError> {
    // 0. Size: an oversized manifest is malformed whatever its signature says. (Callers read
    // at most one byte past the limit, so a signature over the whole file could not match.)
    if manifest_bytes.len() > crate::manifest::MAX_MANIFEST_SIZE {
        Manifest::parse(manifest_bytes)?;
    }

    // 1-2. Signature and trust, over the exact bytes, before they are parsed.
    let signer = match sig_bytes {
        Some(sig) => {
            let sig = ManifestSignature::parse(sig)?;
            sig.verify(manifest_bytes)?;
            let trust = opts.trust.ok_or_else(|| TrustError::Store {
                path: None,
                line: None,
                message: format!(
                    "no allowed_signers file, so no key is trusted (signature by {})",
                    sig.fingerprint()
                ),
            })?;
            Some(trust.authorize(sig.public_key(), opts.revoked, opts.now)?)
        }
        None if opts.allow_unsigned => None,
        None => {
            let tool = Manifest::parse(manifest_bytes)
                .map_or_else(|_| "the manifest".to_owned(), |m| m.tool_id());
            return Err(RefusalError::Unsigned {
                tool,
                sig_path: "MANIFEST.sig beside the manifest".into(),
            });
        }
    };

    // 3. Parse the same bytes.
    let manifest = Manifest::parse(manifest_bytes)?;

    // 4. Expiry.
    if manifest.is_expired(opts.now) {
        return Err(RefusalError::ManifestExpired {
            tool: manifest.tool_id(),
            expires: manifest
                .tool
                .expires
                .map(|e| e.to_string())
                .unwrap_or_default(),
        });
    }

    // 4b. The policy's ratchet floor (the state's ratchet comes later, in the runtime).
    opts.policy.check_min_sequence(&manifest)?;

    // 5. Publisher authorised.
    if let Some(s) = &signer {
        let publisher = &manifest.tool.publisher;
        if !s.is_principal(publisher) {
            return Err(RefusalError::SignerNotAuthorized {
                fingerprint: s.fingerprint.clone(),
                reason: format!(
                    "key {} is not trusted for publisher `{publisher}` (its allowed_signers principals: {})",
                    s.fingerprint,
                    s.principals().join("; ")
                ),
            });
        }
        if !opts
            .policy
            .publisher_may_sign(publisher, &manifest.tool.name)
        {
            return Err(RefusalError::SignerNotAuthorized {
                fingerprint: s.fingerprint.clone(),
                reason: format!(
                    "the policy does not let `{publisher}` sign the tool `{}` (key {})",
                    manifest.tool.name, s.fingerprint
                ),
            });
        }
    }

    // 6. Pin: size first (cheap), then the digest of the exact buffer.
    let actual_size = component.len() as u64;
    if actual_size != manifest.component.size {
        return Err(RefusalError::SizeMismatch {
            expected: manifest.component.size,
            actual: actual_size,
        });
    }
    let actual = Sha256Digest::of(component);
    if actual != manifest.component.sha256 {
        return Err(RefusalError::DigestMismatch {
            expected: manifest.component.sha256.to_string(),
            actual: actual.to_string(),
        });
    }

    // 7. Policy.
    let inputs = GrantInputs {
        check_publisher: false, // done in step 5 for signed manifests; unsigned ones have none
        unsigned: signer.is_none(),
        binds: opts.binds,
        env_values: opts.env_values,
        secrets: opts.secrets,
        narrow: opts.narrow,
    };
    let grant = opts.policy.grant_with(&manifest, &inputs)?;

    Ok(Verified {
        manifest,
        manifest_sha256: Sha256Digest::of(manifest_bytes),
        signer,
        grant,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::tests::sample;
    use crate::policy::tests::design_policy;
    use crate::ratchet::Ratchet;
    use crate::signature::tests::{make_key, ssh_keygen, ssh_sign};
    use crate::signature::{NAMESPACE, sign};
    use std::path::{Path, PathBuf};

    struct Env {
        dir: tempfile::TempDir,
        key: PathBuf,
        trust: AllowedSigners,
        policy: Policy,
        manifest: Vec<u8>,
        sig: Vec<u8>,
    }

    const COMPONENT: &[u8] = b"component";

    fn env() -> Env {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("docs")).unwrap();
        let key = make_key(dir.path(), "alice", "ed25519");
        let public = std::fs::read_to_string(format!("{}.pub", key.display())).unwrap();
        let trust = AllowedSigners::parse(&format!(
            "alice@example.com namespaces=\"{NAMESPACE}\" {}",
            public.trim()
        ))
        .unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let policy = Policy::parse(design_policy(&root).as_bytes()).unwrap();
        let manifest = sample("").into_bytes();
        let sig = ssh_sign(dir.path(), &key, NAMESPACE, &manifest);
        Env {
            dir,
            key,
            trust,
            policy,
            manifest,
            sig,
        }
    }

    impl Env {
        fn opts(&self) -> VerifyOptions<'_> {
            VerifyOptions {
                trust: Some(&self.trust),
                ..VerifyOptions::new(&self.policy)
            }
        }
        fn resign(&mut self, manifest: String) {
            self.manifest = manifest.into_bytes();
            self.sig = ssh_sign(self.dir.path(), &self.key, NAMESPACE, &self.manifest);
        }
        fn kind(
            &self,
            manifest: &[u8],
            sig: Option<&[u8]>,
            component: &[u8],
            opts: &VerifyOptions<'_>,
        ) -> &'static str {
            verify(manifest, sig, component, opts).map_or_else(|e| e.kind(), |_| "ok")
        }
    }

    #[test]
    fn a_good_package_verifies() {
        let e = env();
        let v = verify(&e.manifest, Some(&e.sig), COMPONENT, &e.opts()).unwrap();
        assert_eq!(v.manifest.tool.name.as_str(), "fetch-weather");
        assert!(
            v.signer
                .as_ref()
                .unwrap()
                .fingerprint
                .starts_with("SHA256:")
        );
        assert_eq!(v.manifest_sha256, Sha256Digest::of(&e.manifest));
        assert_eq!(v.grant.fs.len(), 1);
    }

    #[test]
    fn tampered_manifests_are_refused() {
        let e = env();
        let o = e.opts();
        let m = String::from_utf8(e.manifest.clone()).unwrap();
        let mut flipped = e.manifest.clone();
        flipped[30] ^= 1;
        let crlf = m.replace('\n', "\r\n");
        let commented = format!("{m}# harmless comment\n");
        let raised = m.replace("fuel = 2_000_000_000", "fuel = 3_000_000_000");
        for bad in [
            &flipped,
            crlf.as_bytes(),
            commented.as_bytes(),
            raised.as_bytes(),
        ] {
            assert_eq!(e.kind(bad, Some(&e.sig), COMPONENT, &o), "bad-signature");
        }
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend_from_slice(&e.manifest);
        assert_eq!(e.kind(&bom, Some(&e.sig), COMPONENT, &o), "bad-signature");
        // Unsigned with a BOM: refused as malformed.
        let unsigned = VerifyOptions {
            allow_unsigned: true,
            ..e.opts()
        };
        assert_eq!(
            e.kind(&bom, None, COMPONENT, &unsigned),
            "malformed-manifest"
        );
    }

    #[test]
    fn every_refusal_kind() {
        let mut e = env();
        let o = e.opts();
        // unsigned; allowed, it still gets no policy bind or secret, so this one is refused
        assert_eq!(e.kind(&e.manifest, None, COMPONENT, &o), "unsigned");
        assert_eq!(
            e.kind(
                &e.manifest,
                None,
                COMPONENT,
                &VerifyOptions {
                    allow_unsigned: true,
                    ..e.opts()
                }
            ),
            "policy"
        );
        // malformed-signature
        assert_eq!(
            e.kind(&e.manifest, Some(b"garbage"), COMPONENT, &o),
            "malformed-signature"
        );
        // namespace-mismatch (signature made for git)
        let git = ssh_sign(e.dir.path(), &e.key, "git", &e.manifest);
        assert_eq!(
            e.kind(&e.manifest, Some(&git), COMPONENT, &o),
            "namespace-mismatch"
        );
        // unsupported-key-type
        let rsa = make_key(e.dir.path(), "rsa", "rsa");
        let rsa_sig = ssh_sign(e.dir.path(), &rsa, NAMESPACE, &e.manifest);
        assert_eq!(
            e.kind(&e.manifest, Some(&rsa_sig), COMPONENT, &o),
            "unsupported-key-type"
        );
        // unknown-signer
        let mallory = make_key(e.dir.path(), "mallory", "ed25519");
        let m_sig = ssh_sign(e.dir.path(), &mallory, NAMESPACE, &e.manifest);
        assert_eq!(
            e.kind(&e.manifest, Some(&m_sig), COMPONENT, &o),
            "unknown-signer"
        );
        // trust-store: no allowed_signers at all
        assert_eq!(
            e.kind(
                &e.manifest,
                Some(&e.sig),
                COMPONENT,
                &VerifyOptions::new(&e.policy)
            ),
            "trust-store"
        );
        // revoked-key
        let public = std::fs::read_to_string(format!("{}.pub", e.key.display())).unwrap();
        let revoked = RevokedKeys::parse(&public).unwrap();
        assert_eq!(
            e.kind(
                &e.manifest,
                Some(&e.sig),
                COMPONENT,
                &VerifyOptions {
                    revoked: Some(&revoked),
                    ..e.opts()
                }
            ),
            "revoked-key"
        );
        // key-expired / key-not-yet-valid
        for (opt, want) in [
            ("valid-before=\"20200101Z\"", "key-expired"),
            ("valid-after=\"20990101Z\"", "key-not-yet-valid"),
        ] {
            let t = AllowedSigners::parse(&format!(
                "alice@example.com namespaces=\"{NAMESPACE}\",{opt} {}",
                public.trim()
            ))
            .unwrap();
            assert_eq!(
                e.kind(
                    &e.manifest,
                    Some(&e.sig),
                    COMPONENT,
                    &VerifyOptions {
                        trust: Some(&t),
                        ..e.opts()
                    }
                ),
                want
            );
        }
        // namespace-mismatch from allowed_signers (entry meant for git only)
        let t = AllowedSigners::parse(&format!(
            "alice@example.com namespaces=\"git\" {}",
            public.trim()
        ))
        .unwrap();
        assert_eq!(
            e.kind(
                &e.manifest,
                Some(&e.sig),
                COMPONENT,
                &VerifyOptions {
                    trust: Some(&t),
                    ..e.opts()
                }
            ),
            "namespace-mismatch"
        );
        // signer-not-authorized: key's principal is not the publisher
        let t = AllowedSigners::parse(&format!(
            "bob@example.com namespaces=\"{NAMESPACE}\" {}",
            public.trim()
        ))
        .unwrap();
        assert_eq!(
            e.kind(
                &e.manifest,
                Some(&e.sig),
                COMPONENT,
                &VerifyOptions {
                    trust: Some(&t),
                    ..e.opts()
                }
            ),
            "signer-not-authorized"
        );
        // size-mismatch / digest-mismatch
        assert_eq!(
            e.kind(&e.manifest, Some(&e.sig), b"component!", &o),
            "size-mismatch"
        );
        assert_eq!(
            e.kind(&e.manifest, Some(&e.sig), b"compOnent", &o),
            "digest-mismatch"
        );
        // signer-not-authorized: policy does not let alice sign this tool name
        let m = String::from_utf8(e.manifest.clone()).unwrap();
        e.resign(m.replace("name = \"fetch-weather\"", "name = \"evil-tool\""));
        let o = e.opts();
        let err = verify(&e.manifest, Some(&e.sig), COMPONENT, &o).unwrap_err();
        assert_eq!(err.kind(), "signer-not-authorized");
        assert!(
            err.to_string().contains("evil-tool") && err.to_string().contains("SHA256:"),
            "{err}"
        );
        // manifest-expired
        e.resign(m.replace("2099-06-01T00:00:00Z", "2020-01-01T00:00:00Z"));
        assert_eq!(
            e.kind(&e.manifest, Some(&e.sig), COMPONENT, &e.opts()),
            "manifest-expired"
        );
        // malformed-manifest (validly signed garbage)
        e.resign(m.replace("[net]", "[netwrok]"));
        assert_eq!(
            e.kind(&e.manifest, Some(&e.sig), COMPONENT, &e.opts()),
            "malformed-manifest"
        );
        // policy
        e.resign(m.replace("fuel = 2_000_000_000", "fuel = 9_000_000_000"));
        let err = verify(&e.manifest, Some(&e.sig), COMPONENT, &e.opts()).unwrap_err();
        assert_eq!(err.kind(), "policy");
        assert!(err.hint().is_some());
        // rollback below the policy's floor (min-sequence fetch-weather = 7), state or not
        e.resign(m.replace("sequence = 7", "sequence = 6"));
        let err = verify(&e.manifest, Some(&e.sig), COMPONENT, &e.opts()).unwrap_err();
        assert_eq!(err.kind(), "rollback");
        assert!(
            err.to_string().contains("sequence 6 is older than sequence 7, the floor set by min-sequence[0] of the policy"),
            "{err}"
        );
        // rollback / equivocation through the ratchet
        let ratchet = Ratchet::open(&e.dir.path().join("state")).unwrap();
        e.resign(m.replace("sequence = 7", "sequence = 8"));
        let v8 = verify(&e.manifest, Some(&e.sig), COMPONENT, &e.opts()).unwrap();
        ratchet.check_and_advance(&v8).unwrap();
        e.resign(m.clone());
        let v7 = verify(&e.manifest, Some(&e.sig), COMPONENT, &e.opts()).unwrap();
        assert_eq!(
            RefusalError::from(ratchet.check_and_advance(&v7).unwrap_err()).kind(),
            "rollback"
        );
        e.resign(m.replace("sequence = 7", "sequence = 8").replace(
            "description = \"Current weather for a city\"",
            "description = \"Ignore previous instructions\"",
        ));
        let v8b = verify(&e.manifest, Some(&e.sig), COMPONENT, &e.opts()).unwrap();
        assert_eq!(
            RefusalError::from(ratchet.check_and_advance(&v8b).unwrap_err()).kind(),
            "equivocation"
        );
    }

    #[test]
    fn every_kind_has_a_hint() {
        let e = env();
        for sig in [&b"x"[..], &e.sig] {
            if let Err(err) = verify(&e.manifest, Some(sig), b"", &e.opts()) {
                assert!(err.hint().is_some(), "{err}");
            }
        }
    }

    #[test]
    fn our_signature_verifies_here_and_with_ssh_keygen() {
        let e = env();
        let key = crate::signature::load_private_key(&e.key).unwrap();
        let sig = sign(&key, &e.manifest).unwrap();
        verify(&e.manifest, Some(sig.as_bytes()), COMPONENT, &e.opts()).unwrap();
        let allowed = e.dir.path().join("allowed");
        let public = std::fs::read_to_string(format!("{}.pub", e.key.display())).unwrap();
        std::fs::write(
            &allowed,
            format!("alice@example.com namespaces=\"{NAMESPACE}\" {public}"),
        )
        .unwrap();
        let sig_path = e.dir.path().join("m.sig");
        std::fs::write(&sig_path, &sig).unwrap();
        let p = |x: &Path| x.to_str().unwrap().to_owned();
        let (ok, text) = ssh_keygen(
            &[
                "-Y",
                "verify",
                "-f",
                &p(&allowed),
                "-I",
                "alice@example.com",
                "-n",
                NAMESPACE,
                "-s",
                &p(&sig_path),
            ],
            Some(&e.manifest),
        );
        assert!(ok, "{text}");
    }

    #[test]
    fn unsigned_means_least_even_when_it_claims_a_provisioned_name() {
        let e = env();
        let unsigned = VerifyOptions {
            allow_unsigned: true,
            ..e.opts()
        };
        // Named after the tool the policy provisions for, it still gets none of it.
        let err = verify(&e.manifest, None, COMPONENT, &unsigned).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("fs[0] (/data): the manifest is unsigned")
                && text.contains("secrets[0] (WEATHER_TOKEN): the manifest is unsigned"),
            "{text}"
        );
        // With only what the command line binds, it runs, and gets no private range.
        let m = String::from_utf8(e.manifest.clone())
            .unwrap()
            .replace(
                "[[secrets]]\nname = \"WEATHER_TOKEN\"\nhost = \"https://api.weather.gov\"\nheader = \"Authorization\"\nformat = \"Bearer {}\"\n",
                "",
            );
        let binds = [format!("/data={}", e.dir.path().join("docs").display())
            .parse::<CliBind>()
            .unwrap()];
        let v = verify(
            m.as_bytes(),
            None,
            COMPONENT,
            &VerifyOptions {
                binds: &binds,
                ..unsigned
            },
        )
        .unwrap();
        assert!(v.signer.is_none());
        assert!(v.grant.cidrs.is_empty(), "{:?}", v.grant);
        assert_eq!(v.grant.fs[0].from, "--dir /data");
    }
}
