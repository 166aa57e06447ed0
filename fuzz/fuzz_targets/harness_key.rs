//! The one key the trust-file targets know: an Ed25519 key from a fixed seed. In an input,
//! `@KEY@` stands for its base64, so seeds and mutations can name it in a line.

// Each target includes this module as its own and uses part of it.
#![allow(dead_code)]

use std::sync::OnceLock;

use ssh_key::PrivateKey;
use ssh_key::private::Ed25519Keypair;

/// The harness key and its public key's base64 (the second field of an OpenSSH key line).
pub struct HarnessKey {
    /// The key.
    pub private: PrivateKey,
    /// Its public key's base64.
    pub blob: String,
}

/// The harness key, made once.
pub fn get() -> &'static HarnessKey {
    static KEY: OnceLock<HarnessKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let private = PrivateKey::from(Ed25519Keypair::from_seed(&[7; 32]));
        let line = private
            .public_key()
            .to_openssh()
            .expect("an Ed25519 key encodes");
        let blob = line
            .split(' ')
            .nth(1)
            .expect("type, then base64")
            .to_owned();
        HarnessKey { private, blob }
    })
}

/// `text` with every `@KEY@` replaced by the harness key's base64.
pub fn substitute(text: &str) -> String {
    text.replace("@KEY@", &get().blob)
}
