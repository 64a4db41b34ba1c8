use super::*;

/// A TPMS_ATTEST quote built field by field, as a TPM marshals it.
fn quote_bytes(extra_data: &[u8], selection: &[(u16, &[u8])], pcr_digest: &[u8]) -> Vec<u8> {
    let mut bytes = TPM_GENERATED_VALUE.to_be_bytes().to_vec();
    bytes.extend(TPM_ST_ATTEST_QUOTE.to_be_bytes());
    let signer = [0x00, 0x0B, 0xAA, 0xBB];
    bytes.extend((signer.len() as u16).to_be_bytes());
    bytes.extend(signer);
    bytes.extend((extra_data.len() as u16).to_be_bytes());
    bytes.extend(extra_data);
    bytes.extend(8219159552u64.to_be_bytes());
    bytes.extend(10u32.to_be_bytes());
    bytes.extend(3u32.to_be_bytes());
    bytes.push(1);
    bytes.extend(0x2016_0511_0016_2800u64.to_be_bytes());
    bytes.extend((selection.len() as u32).to_be_bytes());
    for (bank, bitmap) in selection {
        bytes.extend(bank.to_be_bytes());
        bytes.push(bitmap.len() as u8);
        bytes.extend(*bitmap);
    }
    bytes.extend((pcr_digest.len() as u16).to_be_bytes());
    bytes.extend(pcr_digest);
    bytes
}

fn rsa_public(attributes: u32) -> Vec<u8> {
    let mut bytes = ALG_RSA.to_be_bytes().to_vec();
    bytes.extend(ALG_SHA256.to_be_bytes());
    bytes.extend(attributes.to_be_bytes());
    bytes.extend(0u16.to_be_bytes()); // empty authPolicy
    bytes.extend(ALG_NULL.to_be_bytes()); // no symmetric
    bytes.extend(ALG_RSASSA.to_be_bytes());
    bytes.extend(ALG_SHA256.to_be_bytes());
    bytes.extend(2048u16.to_be_bytes());
    bytes.extend(0u32.to_be_bytes());
    bytes.extend(256u16.to_be_bytes());
    bytes.extend([0xC5; 256]);
    bytes
}

#[test]
fn a_quote_parses_into_its_fields_and_selection() {
    let bytes = quote_bytes(
        &[0x90, 0x09],
        &[(ALG_SHA256, &[0xFF, 0x03, 0x80])],
        &[7; 32],
    );
    let attest = Attest::parse(&bytes).unwrap();
    assert_eq!(attest.extra_data, [0x90, 0x09]);
    assert_eq!(attest.clock_info.reset_count, 10);
    assert_eq!(attest.clock_info.restart_count, 3);
    assert!(attest.clock_info.safe);
    assert_eq!(attest.firmware_version, 0x2016_0511_0016_2800);
    assert_eq!(attest.pcr_selection.len(), 1);
    assert_eq!(attest.pcr_selection[0].bank, HashAlg::Sha256);
    assert_eq!(
        attest.pcr_selection[0].pcrs,
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 23]
    );
    assert_eq!(attest.pcr_digest, [7; 32]);
}

#[test]
fn every_truncation_and_any_trailing_byte_is_an_error() {
    let bytes = quote_bytes(
        &[1; 48],
        &[(ALG_SHA1, &[1, 0, 0]), (ALG_SHA256, &[0, 0, 1])],
        &[0; 32],
    );
    for len in 0..bytes.len() {
        assert!(
            matches!(
                Attest::parse(&bytes[..len]),
                Err(TpmError::Truncated { .. })
            ),
            "length {len}"
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(
        Attest::parse(&longer),
        Err(TpmError::TrailingBytes {
            structure: "TPMS_ATTEST",
            count: 1
        })
    );
}

#[test]
fn wrong_magic_type_sizes_and_banks_are_refused() {
    let good = quote_bytes(b"nonce", &[(ALG_SHA256, &[1, 0, 0])], &[0; 32]);
    let mut magic = good.clone();
    magic[0] = 0xFE;
    assert_eq!(Attest::parse(&magic), Err(TpmError::Magic(0xfe54_4347)));
    let mut certify = good.clone();
    certify[5] = 0x17;
    assert_eq!(Attest::parse(&certify), Err(TpmError::NotAQuote(0x8017)));
    let too_long = quote_bytes(&[0; 67], &[(ALG_SHA256, &[1])], &[0; 32]);
    assert!(matches!(
        Attest::parse(&too_long),
        Err(TpmError::TooLarge {
            field: "extraData",
            size: 67,
            ..
        })
    ));
    let repeated = quote_bytes(b"n", &[(ALG_SHA256, &[1]), (ALG_SHA256, &[2])], &[0; 32]);
    assert_eq!(
        Attest::parse(&repeated),
        Err(TpmError::RepeatedBank { bank: ALG_SHA256 })
    );
    let sm3 = quote_bytes(b"n", &[(0x0012, &[1])], &[0; 32]);
    assert!(matches!(
        Attest::parse(&sm3),
        Err(TpmError::Unsupported {
            algorithm: 0x0012,
            ..
        })
    ));
    let mut many_banks = good.clone();
    // The selection count follows 4 + 2 + (2 + 4) + (2 + 5) + 17 + 8 bytes.
    let count_at = 44;
    assert_eq!(many_banks[count_at..count_at + 4], 1u32.to_be_bytes());
    many_banks[count_at..count_at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        Attest::parse(&many_banks),
        Err(TpmError::TooLarge {
            field: "pcrSelect count",
            ..
        })
    ));
}

#[test]
fn the_pcr_digest_covers_selected_values_in_selection_order() {
    let selection = vec![
        PcrSelection {
            bank: HashAlg::Sha1,
            pcrs: vec![0],
        },
        PcrSelection {
            bank: HashAlg::Sha256,
            pcrs: vec![0, 7],
        },
    ];
    let sha1_0 = [1u8; 20];
    let sha256 = [[2u8; 32], [3u8; 32]];
    let value = |bank: HashAlg, pcr: u32| -> Option<&[u8]> {
        match (bank, pcr) {
            (HashAlg::Sha1, 0) => Some(&sha1_0[..]),
            (HashAlg::Sha256, 0) => Some(&sha256[0][..]),
            (HashAlg::Sha256, 7) => Some(&sha256[1][..]),
            _ => None,
        }
    };
    let digest = pcr_digest(HashAlg::Sha256, &selection, value).unwrap();
    let mut concatenated = sha1_0.to_vec();
    concatenated.extend(sha256[0]);
    concatenated.extend(sha256[1]);
    assert_eq!(digest, Sha256::digest(&concatenated).to_vec());
    let missing = |bank: HashAlg, pcr: u32| value(bank, pcr).filter(|_| pcr != 7);
    assert_eq!(
        pcr_digest(HashAlg::Sha256, &selection, missing),
        Err(PcrValueError::Missing {
            bank: HashAlg::Sha256,
            pcr: 7
        })
    );
    // 31 + 33 bytes concatenate like 32 + 32: refused, never hashed.
    let (short, long) = ([2u8; 31], [2u8; 33]);
    let resplit = |bank: HashAlg, pcr: u32| match (bank, pcr) {
        (HashAlg::Sha256, 0) => Some(&short[..]),
        (HashAlg::Sha256, 7) => Some(&long[..]),
        _ => value(bank, pcr),
    };
    assert_eq!(
        pcr_digest(HashAlg::Sha256, &selection, resplit),
        Err(PcrValueError::WrongLength {
            bank: HashAlg::Sha256,
            pcr: 0,
            len: 31
        })
    );
    assert_eq!(HashAlg::Sha1.digest([&b"abc"[..]]).len(), 20);
}

#[test]
fn signatures_of_each_scheme_parse_and_others_are_refused() {
    let mut rsassa = ALG_RSASSA.to_be_bytes().to_vec();
    rsassa.extend(ALG_SHA256.to_be_bytes());
    rsassa.extend(3u16.to_be_bytes());
    rsassa.extend([1, 2, 3]);
    assert_eq!(
        Signature::parse(&rsassa),
        Ok(Signature::RsaSsa {
            hash: HashAlg::Sha256,
            signature: vec![1, 2, 3]
        })
    );
    let mut ecdsa = ALG_ECDSA.to_be_bytes().to_vec();
    ecdsa.extend(ALG_SHA384.to_be_bytes());
    ecdsa.extend(1u16.to_be_bytes());
    ecdsa.push(9);
    ecdsa.extend(2u16.to_be_bytes());
    ecdsa.extend([8, 7]);
    let parsed = Signature::parse(&ecdsa).unwrap();
    assert_eq!(parsed.hash(), HashAlg::Sha384);
    assert_eq!(parsed.scheme(), "ecdsa");
    for len in 0..ecdsa.len() {
        assert!(Signature::parse(&ecdsa[..len]).is_err());
    }
    let mut hmac = 0x0005u16.to_be_bytes().to_vec();
    hmac.extend(ALG_SHA256.to_be_bytes());
    assert!(matches!(
        Signature::parse(&hmac),
        Err(TpmError::Unsupported {
            algorithm: 0x0005,
            ..
        })
    ));
    let mut oversized = ALG_RSAPSS.to_be_bytes().to_vec();
    oversized.extend(ALG_SHA256.to_be_bytes());
    oversized.extend(513u16.to_be_bytes());
    assert!(matches!(
        Signature::parse(&oversized),
        Err(TpmError::TooLarge { size: 513, .. })
    ));
}

#[test]
fn a_public_key_parses_with_its_attributes_and_name() {
    use attributes::*;
    let ak_attributes = FIXED_TPM | FIXED_PARENT | SENSITIVE_DATA_ORIGIN | RESTRICTED | SIGN;
    let bytes = rsa_public(ak_attributes);
    let key = PublicKey::parse(&bytes).unwrap();
    assert!(key.has_attributes(RESTRICTED | SIGN | FIXED_TPM));
    assert!(!key.has_attributes(DECRYPT));
    assert_eq!(key.scheme, Some((ALG_RSASSA, HashAlg::Sha256)));
    let KeyMaterial::Rsa { modulus, exponent } = &key.key else {
        panic!("not RSA")
    };
    assert_eq!((modulus.len(), *exponent), (256, 0));
    let name = key.name();
    assert_eq!(name[..2], [0x00, 0x0B]);
    assert_eq!(name[2..], Sha256::digest(&bytes)[..]);
    for len in 0..bytes.len() {
        assert!(PublicKey::parse(&bytes[..len]).is_err(), "length {len}");
    }
    let mut keyed_hash = bytes.clone();
    keyed_hash[1] = 0x08;
    assert!(matches!(
        PublicKey::parse(&keyed_hash),
        Err(TpmError::Unsupported {
            algorithm: 0x0008,
            ..
        })
    ));
}
