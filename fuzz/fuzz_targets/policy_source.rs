//! Policy text from untrusted bytes (an admin's or a manager's PUT, a store written by another
//! build), through the policy loader's limits and, when they pass, regorus.
//!
//! Properties: the lexical scan never panics and never overflows a stack, however deep or large
//! the text; what it accepts is within every limit; and what it accepts compiles (or is refused
//! by regorus) without overflowing the stack or running away — libFuzzer's crash and timeout
//! detection enforce the last part.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_verifier::RegoPolicy;
use warden_verifier::policy::shape::{self, MAX_CHAIN, MAX_NESTING, MAX_PARSE_COST};

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let measured = shape::measure(source);
    match shape::check(source) {
        Ok(accepted) => {
            assert_eq!(accepted, measured);
            assert!(accepted.depth <= MAX_NESTING);
            assert!(accepted.parse_cost <= MAX_PARSE_COST);
            assert!(accepted.chain <= MAX_CHAIN);
            // The same checks run inside; this is the full path a PUT takes, minus the thread.
            let _ = RegoPolicy::compile("fuzz", source, &["data.warden.release.allow"]);
        }
        Err(_) => assert!(RegoPolicy::compile("fuzz", source, &[]).is_err()),
    }
});
