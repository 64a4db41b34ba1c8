//! Sigstore bundles from untrusted bytes (what `verify-artifact` and provenance imports read).
//!
//! Properties: `Bundle::parse` returns errors, never panics; a bundle that parses is written
//! back by `Bundle::to_json` into JSON that parses to the same bundle; and what it timestamps is
//! always its one signature.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_wire::sigstore::{Bundle, BundleContent};

fuzz_target!(|data: &[u8]| {
    if let Ok(bundle) = Bundle::parse(data) {
        let again = bundle.to_json();
        assert_eq!(Bundle::parse(again.as_bytes()).unwrap(), bundle);
        let signature = bundle
            .signature_bytes()
            .expect("a parsed bundle has one signature");
        if let BundleContent::Dsse(envelope) = &bundle.content {
            assert_eq!(envelope.signatures.len(), 1);
            assert_eq!(signature, envelope.signatures[0].sig);
        }
    }
});
