//! The `allowed_signers` parser on arbitrary text, then the trust decision for a fixed key at
//! several times: whatever the file, parsing and `authorize` return without panicking, and
//! an entry that authorizes a key names that key.
#![no_main]

mod harness_key;

use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use wasmgov_runtime::trust::{AllowedSigners, RevokedKeys};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let key = harness_key::get();
    let text = &harness_key::substitute(text);
    let _ = wasmgov_runtime::trust::parse_ssh_time(text);
    let Ok(signers) = AllowedSigners::parse(text) else {
        return;
    };
    let _ = signers.unsupported_entries();
    let pubkey = key.private.public_key().key_data();
    let revoked = RevokedKeys::default();
    for secs in [0u64, 1_700_000_000, 4_102_444_800, u64::from(u32::MAX) * 4] {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
        if let Ok(signer) = signers.authorize(pubkey, Some(&revoked), now) {
            assert!(
                text.contains(&key.blob),
                "a key authorized by a file that does not contain it"
            );
            let _ = signer.principals();
            let _ = signer.is_principal("demo@wasmgov.example");
        }
    }
});
