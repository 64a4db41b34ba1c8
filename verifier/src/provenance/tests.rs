//! Envelope parsing and PAE. Signing, trust and the whole import are tested end to end in
//! `tests/tests/provenance.rs` (keys of every kind, interoperability with securesystemslib).

use super::*;

#[test]
fn pae_matches_the_dsse_specification_example() {
    assert_eq!(
        pae("http://example.com/HelloWorld", b"hello world"),
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    );
    assert_eq!(pae("", b""), b"DSSEv1 0  0 ");
}

#[test]
fn envelopes_parse_and_round_trip_and_bad_ones_are_clear_errors() {
    let envelope = Envelope {
        payload_type: IN_TOTO_PAYLOAD_TYPE.into(),
        payload: b"{}".to_vec(),
        signatures: vec![EnvelopeSignature {
            keyid: "k".into(),
            sig: vec![1, 2, 3],
        }],
    };
    let bytes = serde_json::to_vec(&envelope.to_json()).unwrap();
    assert_eq!(Envelope::parse(&bytes).unwrap(), envelope);

    // The parser is warden_wire::dsse's; its errors arrive here as ProvenanceError::Envelope.
    let bad = |text: &str| ProvenanceError::from(Envelope::parse(text.as_bytes()).unwrap_err());
    assert!(matches!(bad("not json"), ProvenanceError::Envelope(_)));
    assert!(matches!(
        bad(r#"{"payload": "%%", "payloadType": "x"}"#),
        ProvenanceError::Envelope(m) if m.contains("base64")
    ));
    assert!(matches!(
        bad(r#"{"payload": "", "payloadType": "x", "signatures": [{"sig": "%%"}]}"#),
        ProvenanceError::Envelope(m) if m.contains("signature")
    ));
    let many = serde_json::json!({
        "payload": "", "payloadType": "x",
        "signatures": vec![serde_json::json!({"sig": ""}); MAX_SIGNATURES + 1],
    });
    assert!(matches!(
        ProvenanceError::from(Envelope::parse(many.to_string().as_bytes()).unwrap_err()),
        ProvenanceError::Envelope(m) if m.contains("signatures")
    ));
    let huge = vec![b' '; MAX_ENVELOPE_BYTES + 1];
    assert!(matches!(
        ProvenanceError::from(Envelope::parse(&huge).unwrap_err()),
        ProvenanceError::Envelope(m) if m.contains("bytes")
    ));
}

#[test]
fn nothing_is_verified_without_keys_signatures_or_the_in_toto_payload_type() {
    let mut envelope = Envelope {
        payload_type: "application/json".into(),
        payload: b"{}".to_vec(),
        signatures: Vec::new(),
    };
    let no_keys = TrustedBuilderKeys::default();
    assert_eq!(
        verify_envelope(&envelope, &no_keys),
        Err(ProvenanceError::PayloadType("application/json".into()))
    );
    envelope.payload_type = IN_TOTO_PAYLOAD_TYPE.into();
    assert_eq!(
        verify_envelope(&envelope, &no_keys),
        Err(ProvenanceError::NoTrustedKeys)
    );
}

#[test]
fn trusted_keys_must_be_public_keys_of_a_supported_kind() {
    let mut keys = TrustedBuilderKeys::default();
    assert!(keys.add_bytes(b"garbage").is_err());
    assert!(
        keys.add_bytes(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
            .is_err()
    );
    assert!(keys.keys.is_empty());
}

#[test]
fn reference_value_names_follow_the_kbs_rule() {
    assert!(valid_reference_value_name("snp"));
    assert!(valid_reference_value_name("tpm.build-42_a"));
    assert!(!valid_reference_value_name(""));
    assert!(!valid_reference_value_name("a/b"));
    assert!(!valid_reference_value_name(&"a".repeat(129)));
}
