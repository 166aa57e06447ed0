//! Signed checkpoints: the operator's Ed25519 signature over the chain head.
//!
//! The hash chain alone shows that a log was edited, but not that it was *rewritten*: someone
//! with write access can recompute every hash. A checkpoint is signed with a key the writer of
//! the log does not need to share, so a rewritten log cannot carry valid checkpoints for its
//! new hashes. The signed message binds the checkpoint's own `seq` and the head it vouches for:
//!
//! ```text
//! wasmgov-audit-checkpoint-v1\n<seq>\n<head>
//! ```

use ed25519_dalek::{Signer as _, SigningKey, Verifier as _, VerifyingKey};
use ssh_encoding::base64::{Base64, Encoding};
use ssh_key::{PrivateKey, PublicKey};

use crate::signature::fingerprint;

/// Domain separation for checkpoint signatures.
const DOMAIN: &str = "wasmgov-audit-checkpoint-v1";

/// Why a checkpoint key cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Only Ed25519 keys sign checkpoints.
    #[error("checkpoint keys must be Ed25519, not {0}")]
    NotEd25519(String),
    /// The key is passphrase-protected.
    #[error("the checkpoint key is encrypted; give an unencrypted key")]
    Encrypted,
}

/// The host's checkpoint signing key.
#[derive(Clone)]
pub struct CheckpointKey {
    key: SigningKey,
    fingerprint: String,
}

impl std::fmt::Debug for CheckpointKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointKey")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl CheckpointKey {
    /// Use an OpenSSH Ed25519 private key (see [`crate::signature::load_private_key`]).
    pub fn from_ssh(key: &PrivateKey) -> Result<Self, KeyError> {
        if key.is_encrypted() {
            return Err(KeyError::Encrypted);
        }
        match key.key_data() {
            ssh_key::private::KeypairData::Ed25519(kp) => Ok(Self {
                key: SigningKey::from(&kp.private),
                fingerprint: fingerprint(key.public_key().key_data()),
            }),
            _ => Err(KeyError::NotEd25519(key.algorithm().as_str().to_owned())),
        }
    }

    /// The `SHA256:` fingerprint of the public half.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Sign the checkpoint at `seq` over `head`; base64.
    pub fn sign(&self, seq: u64, head: &str) -> String {
        Base64::encode_string(&self.key.sign(message(seq, head).as_bytes()).to_bytes())
    }
}

/// The key that verifies checkpoints.
#[derive(Debug, Clone)]
pub struct CheckpointVerifier {
    key: VerifyingKey,
    fingerprint: String,
}

impl CheckpointVerifier {
    /// Use an OpenSSH Ed25519 public key.
    pub fn from_ssh(key: &PublicKey) -> Result<Self, KeyError> {
        match key.key_data() {
            ssh_key::public::KeyData::Ed25519(pk) => Ok(Self {
                key: VerifyingKey::from_bytes(&pk.0)
                    .map_err(|_| KeyError::NotEd25519("a malformed Ed25519 key".into()))?,
                fingerprint: fingerprint(key.key_data()),
            }),
            _ => Err(KeyError::NotEd25519(key.algorithm().as_str().to_owned())),
        }
    }

    /// The `SHA256:` fingerprint.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Whether `sig` (base64) signs the checkpoint at `seq` over `head`.
    pub fn verify(&self, seq: u64, head: &str, sig: &str) -> bool {
        let Ok(bytes) = Base64::decode_vec(sig) else {
            return false;
        };
        let Ok(sig) = ed25519_dalek::Signature::from_slice(&bytes) else {
            return false;
        };
        self.key.verify(message(seq, head).as_bytes(), &sig).is_ok()
    }
}

fn message(seq: u64, head: &str) -> String {
    format!("{DOMAIN}\n{seq}\n{head}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_verifies_only_for_its_seq_and_head() {
        let (sk, pk) = crate::signature::keygen("audit").unwrap();
        let k = CheckpointKey::from_ssh(&sk).unwrap();
        let v = CheckpointVerifier::from_ssh(&pk).unwrap();
        assert_eq!(k.fingerprint(), v.fingerprint());
        let sig = k.sign(5, "ab");
        assert!(v.verify(5, "ab", &sig));
        assert!(!v.verify(6, "ab", &sig));
        assert!(!v.verify(5, "ac", &sig));
        assert!(!v.verify(5, "ab", "not base64!"));
    }
}
