//! Trace and span ids of a call, derived from its id so that anyone holding the audit log can
//! compute them: no table of ids has to be kept or shipped.
//!
//! With `D = SHA-256(call id as UTF-8)`, the call's trace id is `D[0..16]` and its span id is
//! `D[16..24]`, i.e. the first 32 and the next 16 hex digits of
//! `printf %s "$CALL" | sha256sum`. (An all-zero id is invalid in OpenTelemetry; should a digest
//! give one, its last byte is set to 1. This never happens in practice.)
//!
//! A hash rather than the call id's own bits: an embedder may choose call ids of any form
//! (`CallOptions::call_id`), and the mapping must be the same for all of them.

use opentelemetry::trace::{SpanId, TraceId};
use sha2::{Digest, Sha256};

/// The trace id and span id of call `call`.
pub fn call_ids(call: &str) -> (TraceId, SpanId) {
    let d = Sha256::digest(call.as_bytes());
    let mut trace = [0u8; 16];
    trace.copy_from_slice(&d[..16]);
    let mut span = [0u8; 8];
    span.copy_from_slice(&d[16..24]);
    if trace == [0; 16] {
        trace[15] = 1;
    }
    if span == [0; 8] {
        span[7] = 1;
    }
    (TraceId::from_bytes(trace), SpanId::from_bytes(span))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_the_sha256_prefix_of_the_call_id() {
        // printf %s 01JDX0000000000000000000AB | sha256sum
        let (t, s) = call_ids("01JDX0000000000000000000AB");
        let hex = {
            let d = Sha256::digest(b"01JDX0000000000000000000AB");
            d.iter().map(|b| format!("{b:02x}")).collect::<String>()
        };
        assert_eq!(t.to_string(), hex[..32]);
        assert_eq!(s.to_string(), hex[32..48]);
        assert_ne!(call_ids("a"), call_ids("b"));
    }
}
