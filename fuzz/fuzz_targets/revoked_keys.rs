//! The revoked-keys parser on arbitrary text. A file it accepts either revokes the fixed key
//! or not, deterministically, and an empty or comment-only file revokes nothing.
#![no_main]

mod harness_key;

use libfuzzer_sys::fuzz_target;
use wasmgov_runtime::trust::RevokedKeys;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let key = harness_key::get();
    let text = &harness_key::substitute(text);
    let Ok(revoked) = RevokedKeys::parse(text) else {
        return;
    };
    let contains = revoked.contains(key.private.public_key().key_data());
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
