//! The revoked-keys parser on arbitrary text. A file it accepts either revokes the fixed key
//! or not, deterministically, and an empty or comment-only file revokes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ssh_key::PrivateKey;
use ssh_key::private::Ed25519Keypair;
use wasmgov_runtime::trust::RevokedKeys;

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
    let Ok(revoked) = RevokedKeys::parse(text) else {
        return;
    };
    let contains = revoked.contains(private.public_key().key_data());
    if text.lines().all(|l| {
        let l = l.trim_matches([' ', '\t', '\r']);
        l.is_empty() || l.starts_with('#')
    }) {
        assert!(revoked.is_empty());
        assert!(!contains);
    }
    let again = RevokedKeys::parse(text).expect("accepted once, accepted again");
    assert_eq!(again.len(), revoked.len());
});
