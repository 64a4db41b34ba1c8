//! TPM `TPMT_SIGNATURE`s from untrusted evidence.
//!
//! Property: parsing returns an error or a signature, never panics, and a parsed signature
//! marshals back to exactly the bytes it was read from (nothing skipped, nothing invented).
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_wire::tpm::Signature;

fuzz_target!(|data: &[u8]| {
    if let Ok(signature) = Signature::parse(data) {
        assert_eq!(
            signature.marshal(),
            data,
            "marshal is not the inverse of parse"
        );
    }
});
