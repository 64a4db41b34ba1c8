//! DSSE envelopes and in-toto statements (reference-value provenance) from untrusted bytes.
//!
//! Properties: parsing never panics; an envelope that parses re-encodes to one that parses the
//! same; and without a trusted key nothing is ever imported, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_verifier::provenance::{
    Envelope, Statement, TrustedBuilderKeys, import_reference_values, verify_envelope,
};

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<Statement>(data);
    let no_keys = TrustedBuilderKeys::default();
    let at = time::OffsetDateTime::UNIX_EPOCH;
    assert!(import_reference_values(data, &no_keys, at).is_err());
    if let Ok(envelope) = Envelope::parse(data) {
        let _ = envelope.pae();
        let again = serde_json::to_vec(&envelope.to_json()).unwrap();
        assert_eq!(Envelope::parse(&again).unwrap(), envelope);
        assert!(verify_envelope(&envelope, &no_keys).is_err());
    }
});
