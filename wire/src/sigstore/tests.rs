//! The writer's exact shape, round trips and the reader's refusals. Interoperability with the
//! Python Sigstore models is tested in `tests/tests/sigstore_bundle.rs`.

use super::*;
use crate::dsse::IN_TOTO_PAYLOAD_TYPE;

fn material(signer: Signer) -> VerificationMaterial {
    VerificationMaterial {
        signer,
        tlog_entries: Vec::new(),
        rfc3161_timestamps: vec![vec![0x30, 0x03, 0x02, 0x01, 0x00]],
    }
}

fn message_bundle() -> Bundle {
    Bundle {
        verification_material: material(Signer::Certificate(vec![0x30, 0x01, 0x00])),
        content: BundleContent::MessageSignature {
            digest_algorithm: HashAlgorithm::Sha2_256,
            digest: vec![7; 32],
            signature: vec![0x30, 0x02, 0x01, 0x02],
        },
    }
}

fn dsse_bundle() -> Bundle {
    Bundle {
        verification_material: material(Signer::Certificate(vec![0x30, 0x01, 0x00])),
        content: BundleContent::Dsse(Envelope::with_one_signature(
            IN_TOTO_PAYLOAD_TYPE,
            b"{}".to_vec(),
            "abcd",
            vec![9, 9],
        )),
    }
}

fn parse_value(value: &Value) -> Result<Bundle, BundleError> {
    Bundle::parse(value.to_string().as_bytes())
}

/// `dsse_bundle()`'s JSON with `edit` applied.
fn edited(edit: impl FnOnce(&mut Value)) -> Value {
    let mut value = dsse_bundle().to_json_value();
    edit(&mut value);
    value
}

#[test]
fn the_writer_produces_exactly_the_v0_3_shape() {
    let message: Value = serde_json::from_str(&message_bundle().to_json()).unwrap();
    assert_eq!(
        message,
        json!({
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {
                "certificate": {"rawBytes": "MAEA"},
                "tlogEntries": [],
                "timestampVerificationData": {
                    "rfc3161Timestamps": [{"signedTimestamp": "MAMCAQA="}]
                }
            },
            "messageSignature": {
                "messageDigest": {"algorithm": "SHA2_256", "digest": STANDARD.encode([7; 32])},
                "signature": "MAIBAg=="
            }
        })
    );
    let dsse: Value = serde_json::from_str(&dsse_bundle().to_json()).unwrap();
    assert_eq!(
        dsse,
        json!({
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {
                "certificate": {"rawBytes": "MAEA"},
                "tlogEntries": [],
                "timestampVerificationData": {
                    "rfc3161Timestamps": [{"signedTimestamp": "MAMCAQA="}]
                }
            },
            "dsseEnvelope": {
                "payload": "e30=",
                "payloadType": "application/vnd.in-toto+json",
                "signatures": [{"sig": "CQk=", "keyid": "abcd"}]
            }
        })
    );
}

#[test]
fn other_signers_tlog_entries_and_no_timestamps_are_written_as_protobuf_json() {
    let mut bundle = message_bundle();
    bundle.verification_material = VerificationMaterial {
        signer: Signer::CertificateChain(vec![vec![1], vec![2]]),
        tlog_entries: vec![json!({"logIndex": "1"})],
        rfc3161_timestamps: Vec::new(),
    };
    let value = bundle.to_json_value();
    assert_eq!(
        value["verificationMaterial"],
        json!({
            "x509CertificateChain": {"certificates": [{"rawBytes": "AQ=="}, {"rawBytes": "Ag=="}]},
            "tlogEntries": [{"logIndex": "1"}],
        })
    );
    bundle.verification_material.signer = Signer::PublicKey { hint: "k1".into() };
    assert_eq!(
        bundle.to_json_value()["verificationMaterial"]["publicKey"],
        json!({"hint": "k1"})
    );
}

#[test]
fn what_the_writer_writes_reads_back_equal() {
    let mut bundles = vec![message_bundle(), dsse_bundle()];
    for algorithm in HashAlgorithm::ALL {
        let mut bundle = message_bundle();
        bundle.content = BundleContent::MessageSignature {
            digest_algorithm: algorithm,
            digest: vec![1; algorithm.digest_len()],
            signature: vec![2],
        };
        bundles.push(bundle);
    }
    for signer in [
        Signer::CertificateChain(vec![vec![1], vec![2, 3]]),
        Signer::PublicKey {
            hint: String::new(),
        },
        Signer::PublicKey { hint: "k".into() },
    ] {
        let mut bundle = dsse_bundle();
        bundle.verification_material.signer = signer;
        bundle.verification_material.tlog_entries = vec![json!({"opaque": [1, 2]}); 3];
        bundle.verification_material.rfc3161_timestamps = vec![vec![1]; MAX_TIMESTAMPS];
        bundles.push(bundle);
    }
    for bundle in bundles {
        assert_eq!(Bundle::parse(bundle.to_json().as_bytes()).unwrap(), bundle);
    }
}

#[test]
fn the_timestamped_bytes_are_the_signature() {
    assert_eq!(
        message_bundle().signature_bytes(),
        Some(&[0x30, 0x02, 0x01, 0x02][..])
    );
    assert_eq!(dsse_bundle().signature_bytes(), Some(&[9, 9][..]));
    let mut two = dsse_bundle();
    if let BundleContent::Dsse(envelope) = &mut two.content {
        envelope.signatures.push(envelope.signatures[0].clone());
    }
    assert_eq!(two.signature_bytes(), None);
}

#[test]
fn older_media_types_and_omitted_empty_members_are_read() {
    for media_type in ACCEPTED_MEDIA_TYPES {
        let value = edited(|v| {
            v["mediaType"] = media_type.into();
            let material = v["verificationMaterial"].as_object_mut().unwrap();
            material.remove("tlogEntries");
            material.remove("timestampVerificationData");
            v["dsseEnvelope"]["signatures"][0]
                .as_object_mut()
                .unwrap()
                .remove("keyid");
        });
        let bundle = parse_value(&value).unwrap();
        assert!(bundle.verification_material.tlog_entries.is_empty());
        assert!(bundle.verification_material.rfc3161_timestamps.is_empty());
        assert_eq!(bundle.signature_bytes(), Some(&[9, 9][..]));
    }
}

#[test]
fn unknown_misspelt_or_duplicated_members_are_refused_at_every_level() {
    let unknown = |path: &[&str], key: &str| {
        let value = edited(|v| {
            let mut at = v;
            for step in path {
                at = if let Ok(index) = step.parse::<usize>() {
                    &mut at[index]
                } else {
                    &mut at[*step]
                };
            }
            at.as_object_mut().unwrap().insert(key.into(), json!([]));
        });
        match parse_value(&value) {
            Err(BundleError::Json(message)) => assert!(message.contains(key), "{message}"),
            other => panic!("{path:?}.{key}: {other:?}"),
        }
    };
    unknown(&[], "extra");
    unknown(&["verificationMaterial"], "tlogEntrys");
    unknown(&["verificationMaterial", "certificate"], "raw_bytes");
    unknown(
        &["verificationMaterial", "timestampVerificationData"],
        "rfc3161_timestamps",
    );
    unknown(
        &[
            "verificationMaterial",
            "timestampVerificationData",
            "rfc3161Timestamps",
            "0",
        ],
        "signedTimeStamp",
    );
    unknown(&["dsseEnvelope"], "payload_type");
    unknown(&["dsseEnvelope", "signatures", "0"], "keyId");

    let message = message_bundle().to_json_value();
    let mut misspelt = message.clone();
    misspelt["messageSignature"]
        .as_object_mut()
        .unwrap()
        .insert("messageDigests".into(), json!({}));
    assert!(
        matches!(parse_value(&misspelt), Err(BundleError::Json(m)) if m.contains("messageDigests"))
    );

    // serde_json keeps the last of duplicated map keys; the strict structs refuse them.
    let text = message_bundle().to_json().replacen(
        "\"mediaType\"",
        "\"mediaType\":\"x\",\"mediaType\"",
        1,
    );
    assert!(
        matches!(Bundle::parse(text.as_bytes()), Err(BundleError::Json(m)) if m.contains("duplicate"))
    );
}

#[test]
fn exactly_one_content_and_one_signer_are_required() {
    let both = edited(|v| {
        v["messageSignature"] = message_bundle().to_json_value()["messageSignature"].clone();
    });
    assert_eq!(parse_value(&both), Err(BundleError::Content(2)));
    let neither = edited(|v| {
        v.as_object_mut().unwrap().remove("dsseEnvelope");
    });
    assert_eq!(parse_value(&neither), Err(BundleError::Content(0)));

    let two_signers = edited(|v| {
        v["verificationMaterial"]["publicKey"] = json!({"hint": "k"});
    });
    assert_eq!(parse_value(&two_signers), Err(BundleError::Signer(2)));
    let no_signer = edited(|v| {
        v["verificationMaterial"]
            .as_object_mut()
            .unwrap()
            .remove("certificate");
    });
    assert_eq!(parse_value(&no_signer), Err(BundleError::Signer(0)));
}

#[test]
fn a_bundled_envelope_has_exactly_one_signature() {
    let signature = json!({"sig": "CQk=", "keyid": "abcd"});
    for count in [0, 2, 3, 100] {
        let value =
            edited(|v| v["dsseEnvelope"]["signatures"] = json!(vec![signature.clone(); count]));
        assert_eq!(parse_value(&value), Err(BundleError::DsseSignatures(count)));
    }
    let absent = edited(|v| {
        v["dsseEnvelope"]
            .as_object_mut()
            .unwrap()
            .remove("signatures");
    });
    assert_eq!(parse_value(&absent), Err(BundleError::DsseSignatures(0)));
}

#[test]
fn bytes_must_be_standard_padded_base64_and_required_ones_non_empty() {
    // Where a bad value goes: the member's path and how to set it.
    type Case = (&'static str, fn(&mut Value, Value));
    let cases: [Case; 4] = [
        ("verificationMaterial.certificate.rawBytes", |v, b| {
            v["verificationMaterial"]["certificate"]["rawBytes"] = b
        }),
        (
            "verificationMaterial.timestampVerificationData.rfc3161Timestamps[].signedTimestamp",
            |v, b| {
                v["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"][0]["signedTimestamp"] =
                    b
            },
        ),
        ("dsseEnvelope.signatures[].sig", |v, b| {
            v["dsseEnvelope"]["signatures"][0]["sig"] = b
        }),
        ("dsseEnvelope.payload", |v, b| {
            v["dsseEnvelope"]["payload"] = b
        }),
    ];
    // Unpadded, URL-safe alphabet, embedded newline, not base64 at all.
    for bad in ["CQk", "-_8=", "CQ\nk=", "%%"] {
        for (field, set) in cases {
            let value = edited(|v| set(v, bad.into()));
            assert_eq!(
                parse_value(&value),
                Err(BundleError::Base64 { field }),
                "{bad:?}"
            );
        }
    }
    for (field, set) in &cases[..3] {
        let value = edited(|v| set(v, "".into()));
        assert_eq!(parse_value(&value), Err(BundleError::Empty { field }));
    }
    let mut message = message_bundle().to_json_value();
    message["messageSignature"]["signature"] = "AAE".into();
    assert_eq!(
        parse_value(&message),
        Err(BundleError::Base64 {
            field: "messageSignature.signature"
        })
    );
}

#[test]
fn message_digests_name_a_sha2_algorithm_and_have_its_length() {
    let mut value = message_bundle().to_json_value();
    value["messageSignature"]["messageDigest"]["algorithm"] = "SHA3_256".into();
    assert_eq!(
        parse_value(&value),
        Err(BundleError::HashAlgorithm("SHA3_256".into()))
    );
    value["messageSignature"]["messageDigest"]["algorithm"] = 1.into();
    assert!(matches!(parse_value(&value), Err(BundleError::Json(_))));
    value["messageSignature"]["messageDigest"]["algorithm"] = "SHA2_384".into();
    assert_eq!(
        parse_value(&value),
        Err(BundleError::DigestLength {
            algorithm: "SHA2_384",
            len: 32,
            expected: 48
        })
    );
    value["messageSignature"]
        .as_object_mut()
        .unwrap()
        .remove("messageDigest");
    assert!(
        matches!(parse_value(&value), Err(BundleError::Json(m)) if m.contains("messageDigest"))
    );
}

#[test]
fn media_type_size_and_counts_are_bounded() {
    for media_type in [
        "application/vnd.dev.sigstore.bundle.v0.4+json",
        "application/vnd.dev.sigstore.bundle+json;version=0.4",
        "application/vnd.dev.sigstore.bundle+json",
        "application/json",
        "",
    ] {
        let value = edited(|v| v["mediaType"] = media_type.into());
        assert_eq!(
            parse_value(&value),
            Err(BundleError::MediaType(media_type.into()))
        );
    }
    let absent = edited(|v| {
        v.as_object_mut().unwrap().remove("mediaType");
    });
    assert!(matches!(parse_value(&absent), Err(BundleError::Json(m)) if m.contains("mediaType")));

    let mut huge = dsse_bundle().to_json().into_bytes();
    huge.resize(MAX_BUNDLE_BYTES + 1, b' ');
    assert_eq!(
        Bundle::parse(&huge),
        Err(BundleError::TooLarge(MAX_BUNDLE_BYTES + 1))
    );

    let value = edited(|v| {
        v["verificationMaterial"]["tlogEntries"] = json!(vec![json!({}); MAX_TLOG_ENTRIES + 1]);
    });
    assert_eq!(
        parse_value(&value),
        Err(BundleError::TooMany {
            field: "verificationMaterial.tlogEntries",
            count: MAX_TLOG_ENTRIES + 1,
            max: MAX_TLOG_ENTRIES
        })
    );
    let value = edited(|v| {
        v["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"] =
            json!(vec![json!({"signedTimestamp": "AA=="}); MAX_TIMESTAMPS + 1]);
    });
    assert!(matches!(
        parse_value(&value),
        Err(BundleError::TooMany { count, .. }) if count == MAX_TIMESTAMPS + 1
    ));
    let chain = |count: usize| {
        edited(|v| {
            let material = v["verificationMaterial"].as_object_mut().unwrap();
            material.remove("certificate");
            material.insert(
                "x509CertificateChain".into(),
                json!({"certificates": vec![json!({"rawBytes": "AA=="}); count]}),
            );
        })
    };
    assert!(matches!(
        parse_value(&chain(MAX_CHAIN_CERTIFICATES + 1)),
        Err(BundleError::TooMany {
            field: "verificationMaterial.x509CertificateChain.certificates",
            ..
        })
    ));
    assert_eq!(
        parse_value(&chain(0)),
        Err(BundleError::Empty {
            field: "verificationMaterial.x509CertificateChain.certificates"
        })
    );
    assert!(parse_value(&chain(MAX_CHAIN_CERTIFICATES)).is_ok());
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    for bytes in [
        &b""[..],
        b"null",
        b"[]",
        b"{}",
        b"{\"mediaType\": 1}",
        b"\xff\xfe",
        &[b'['; 10_000],
    ] {
        assert!(Bundle::parse(bytes).is_err());
    }
    let text = message_bundle().to_json();
    for end in 0..text.len() {
        assert!(Bundle::parse(&text.as_bytes()[..end]).is_err());
    }
}
