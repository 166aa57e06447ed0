//! The policy parser on arbitrary bytes, and the queries the runtime makes of a policy it
//! accepted: per-tool binds, private ranges, callers, publisher rules and the sequence floor.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wasmgov_runtime::names::{GuestPath, ToolName};
use wasmgov_runtime::policy::Policy;

fuzz_target!(|data: &[u8]| {
    let Ok(p) = Policy::parse(data) else {
        return;
    };
    for tool in ["text-stats", "a", "grep-files", "x-y-z"] {
        let Ok(name) = tool.parse::<ToolName>() else {
            continue;
        };
        let _ = p.publisher_may_sign("demo@wasmgov.example", &name);
        let _ = p.private_for(&name);
        let _ = p.may_call("agent", &name);
        let _ = p.min_sequence_for(&name);
        for guest in ["/data", "/notes", "/"] {
            if let Ok(g) = guest.parse::<GuestPath>() {
                let _ = p.binds_for(&name, &g);
            }
        }
    }
    let again = Policy::parse(data).expect("a policy accepted once is accepted again");
    assert_eq!(again.digest(), p.digest());
});
