//! The `allowed_signers` parser on arbitrary text, then the trust decision for a fixed key at
//! several times: whatever the file, parsing and `authorize` return without panicking, and
//! an entry that authorizes a key names that key.
#![no_main]

use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use ssh_key::PrivateKey;
use ssh_key::private::Ed25519Keypair;
use wasmgov_runtime::trust::{AllowedSigners, RevokedKeys};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // `@KEY@` stands for the harness key's base64, so seeds and mutations can name the key.
    let private = PrivateKey::from(Ed25519Keypair::from_seed(&[7; 32]));
    let openssh = private
        .public_key()
        .to_openssh()
        .expect("an Ed25519 key encodes");
    let blob = openssh.split(' ').nth(1).expect("type, then base64");
    let text = &text.replace("@KEY@", blob);
    let _ = wasmgov_runtime::trust::parse_ssh_time(text);
    let Ok(signers) = AllowedSigners::parse(text) else {
        return;
    };
    let _ = signers.unsupported_entries();
    let key = private.public_key().key_data();
    let revoked = RevokedKeys::default();
    for secs in [0u64, 1_700_000_000, 4_102_444_800, u64::from(u32::MAX) * 4] {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
        if let Ok(signer) = signers.authorize(key, Some(&revoked), now) {
            assert!(
                text.contains(blob),
                "a key authorized by a file that does not contain it"
            );
            let _ = signer.principals();
            let _ = signer.is_principal("demo@wasmgov.example");
        }
    }
});
