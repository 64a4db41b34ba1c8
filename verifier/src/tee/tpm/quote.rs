//! Quote appraisal shared by the TPM and Azure vTPM verifiers: each quote's signature by the AK,
//! the hash algorithms allowed, the PCR digest recomputed from the reported values, and the
//! qualifying data (`extraData`) against the expected binding.

use std::collections::BTreeMap;

use aws_lc_rs::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde_json::{Map, Value, json};
use warden_wire::tpm::{
    ECC_NIST_P256, ECC_NIST_P384, HashAlg, KeyMaterial, Signature, SignedQuote, pcr_digest,
};

use super::super::{Check, Examination, ExpectedBinding, check_report_data};

/// Verifies a `TPMT_SIGNATURE` over `message` with `key`. ECDSA pairs P-256 with SHA-256 and
/// P-384 with SHA-384; RSASSA and RSAPSS take SHA-1 (the caller decides whether SHA-1 is
/// allowed), SHA-256, SHA-384 or SHA-512. RSAPSS expects the salt length to equal the digest
/// length, which TPMs implementing the 2016+ library (and every vTPM here) use.
pub fn verify_signature(
    key: &KeyMaterial,
    signature: &Signature,
    message: &[u8],
) -> Result<(), String> {
    let refused = || "signature does not verify with the AK".to_owned();
    let pss = matches!(signature, Signature::RsaPss { .. });
    match (key, signature) {
        (KeyMaterial::Rsa { modulus, exponent }, Signature::RsaSsa { hash, signature })
        | (KeyMaterial::Rsa { modulus, exponent }, Signature::RsaPss { hash, signature }) => {
            let algorithm: &'static signature::RsaParameters = match (pss, hash) {
                (false, HashAlg::Sha1) => &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
                (false, HashAlg::Sha256) => &signature::RSA_PKCS1_2048_8192_SHA256,
                (false, HashAlg::Sha384) => &signature::RSA_PKCS1_2048_8192_SHA384,
                (false, HashAlg::Sha512) => &signature::RSA_PKCS1_2048_8192_SHA512,
                (true, HashAlg::Sha256) => &signature::RSA_PSS_2048_8192_SHA256,
                (true, HashAlg::Sha384) => &signature::RSA_PSS_2048_8192_SHA384,
                (true, HashAlg::Sha512) => &signature::RSA_PSS_2048_8192_SHA512,
                (true, HashAlg::Sha1) => return Err("RSAPSS with SHA-1 is not supported".into()),
            };
            let exponent = if *exponent == 0 { 65_537 } else { *exponent };
            // Big-endian without leading zeros, as aws-lc-rs requires.
            let exponent = exponent.to_be_bytes();
            let significant = |bytes: &[u8]| -> usize {
                bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len())
            };
            RsaPublicKeyComponents {
                n: &modulus[significant(modulus)..],
                e: &exponent[significant(&exponent)..],
            }
            .verify(algorithm, message, signature)
            .map_err(|_| refused())
        }
        (KeyMaterial::Ecc { curve, x, y }, Signature::Ecdsa { hash, r, s }) => {
            let (algorithm, len): (&'static signature::EcdsaVerificationAlgorithm, usize) =
                match (*curve, hash) {
                    (ECC_NIST_P256, HashAlg::Sha256) => (&signature::ECDSA_P256_SHA256_FIXED, 32),
                    (ECC_NIST_P384, HashAlg::Sha384) => (&signature::ECDSA_P384_SHA384_FIXED, 48),
                    (curve, hash) => {
                        return Err(format!(
                            "ECDSA on curve {curve:#06x} with {} is not supported",
                            hash.name()
                        ));
                    }
                };
            let point = [&[0x04][..], &left_pad(x, len)?, &left_pad(y, len)?].concat();
            let fixed = [left_pad(r, len)?, left_pad(s, len)?].concat();
            UnparsedPublicKey::new(algorithm, point)
                .verify(message, &fixed)
                .map_err(|_| refused())
        }
        (_, signature) => Err(format!(
            "a {} signature cannot come from this AK's key type",
            signature.scheme()
        )),
    }
}

fn left_pad(bytes: &[u8], len: usize) -> Result<Vec<u8>, String> {
    let significant = &bytes[bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len())..];
    if significant.len() > len {
        return Err(format!("ECC value of {} bytes exceeds {len}", bytes.len()));
    }
    let mut out = vec![0; len - significant.len()];
    out.extend(significant);
    Ok(out)
}

/// What the quote checks need beyond the evidence.
pub struct QuotePolicy {
    /// Accept SHA-1 signatures and SHA-1 PCR banks (legacy TPMs, Windows' SHA-1 logs).
    pub allow_sha1: bool,
}

/// Runs `quote_hash`, `quote_signature`, `pcr_digest` and `report_data` over every quote and,
/// when all pass, returns the PCR values the quotes vouch for, by bank and index. Claims
/// `pcrs` and `quote` are added to `ex`.
pub fn appraise_quotes(
    ex: &mut Examination,
    key: &KeyMaterial,
    quotes: &[SignedQuote],
    pcrs: &BTreeMap<(HashAlg, u32), Vec<u8>>,
    expected: &ExpectedBinding,
    policy: &QuotePolicy,
) -> Option<BTreeMap<(HashAlg, u32), Vec<u8>>> {
    if quotes.is_empty() {
        ex.push(Check::fail("quote_format", "the evidence has no quote"));
        return None;
    }
    // A SHA-1 signature is forgeable in principle: refused unless allowed. A SHA-1 PCR bank
    // under a SHA-2 signature is verified like any other, but its values (SHA-1 extend chains)
    // are only vouched for, and so exported and replayed, when SHA-1 is allowed.
    let sha1_signature = quotes
        .iter()
        .any(|quote| quote.signature.hash() == HashAlg::Sha1);
    let hash_check = match (sha1_signature, policy.allow_sha1) {
        (false, true) => Check::pass("quote_hash", "SHA-2 signatures (SHA-1 allowed)"),
        (false, false) => Check::pass(
            "quote_hash",
            "SHA-2 signatures; SHA-1 PCR banks, if any, are verified but not used",
        ),
        (true, true) => Check::pass(
            "quote_hash",
            "SHA-1 signature, accepted because SHA-1 is allowed",
        ),
        (true, false) => Check::fail(
            "quote_hash",
            "SHA-1 signature, refused (SHA-1 is not allowed)",
        ),
    };
    if !ex.push(hash_check) {
        return None;
    }

    let mut vouched = BTreeMap::new();
    let mut signatures_ok = true;
    let mut digests_ok = true;
    for (number, quote) in quotes.iter().enumerate() {
        if let Err(e) = verify_signature(key, &quote.signature, &quote.attest_bytes) {
            signatures_ok = false;
            ex.push(Check::fail(
                "quote_signature",
                format!("quote {number}: {e}"),
            ));
            continue;
        }
        let selection = &quote.attest.pcr_selection;
        match pcr_digest(quote.signature.hash(), selection, |bank, pcr| {
            pcrs.get(&(bank, pcr)).map(Vec::as_slice)
        }) {
            Ok(digest) if digest == quote.attest.pcr_digest => {
                let usable = selection
                    .iter()
                    .filter(|bank| policy.allow_sha1 || bank.bank != HashAlg::Sha1);
                for bank in usable {
                    for &pcr in &bank.pcrs {
                        if let Some(value) = pcrs.get(&(bank.bank, pcr)) {
                            vouched.insert((bank.bank, pcr), value.clone());
                        }
                    }
                }
            }
            Ok(_) => {
                digests_ok = false;
                ex.push(Check::fail(
                    "pcr_digest",
                    format!("quote {number}: the reported PCR values do not hash to the quoted PCR digest"),
                ));
            }
            Err(problem) => {
                digests_ok = false;
                ex.push(Check::fail(
                    "pcr_digest",
                    format!("quote {number}: {problem}"),
                ));
            }
        }
    }
    if signatures_ok {
        ex.push(Check::pass(
            "quote_signature",
            format!("{} quote(s) signed by the AK", quotes.len()),
        ));
    }
    if signatures_ok && digests_ok {
        ex.push(Check::pass(
            "pcr_digest",
            format!("{} PCR values match the quoted digests", vouched.len()),
        ));
    }
    if !(signatures_ok && digests_ok) {
        return None;
    }

    // Every quote must carry the same qualifying data, or one could be a replay.
    let extra_data = &quotes[0].attest.extra_data;
    if quotes
        .iter()
        .any(|quote| &quote.attest.extra_data != extra_data)
    {
        ex.push(Check::fail(
            "report_data",
            "the quotes carry different qualifying data",
        ));
        return None;
    }
    ex.claims.insert("pcrs".into(), pcr_claims(&vouched));
    ex.claims.insert("quote".into(), quote_claims(&quotes[0]));
    ex.claims
        .insert("report_data".into(), Value::String(hex::encode(extra_data)));
    if !ex.push(check_report_data(extra_data, expected)) {
        return None;
    }
    Some(vouched)
}

/// `{"sha256": {"0": hex, ...}, ...}`.
pub fn pcr_claims(pcrs: &BTreeMap<(HashAlg, u32), Vec<u8>>) -> Value {
    let mut banks: Map<String, Value> = Map::new();
    for ((bank, pcr), value) in pcrs {
        let entry = banks
            .entry(bank.name())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(values) = entry {
            values.insert(pcr.to_string(), Value::String(hex::encode(value)));
        }
    }
    Value::Object(banks)
}

fn quote_claims(quote: &SignedQuote) -> Value {
    let attest = &quote.attest;
    json!({
        "extra_data": hex::encode(&attest.extra_data),
        "clock": attest.clock_info.clock,
        "reset_count": attest.clock_info.reset_count,
        "restart_count": attest.clock_info.restart_count,
        "safe": attest.clock_info.safe,
        "firmware_version": format!("{:016x}", attest.firmware_version),
        "signature_scheme": quote.signature.scheme(),
        "signature_hash": quote.signature.hash().name(),
        "qualified_signer": hex::encode(&attest.qualified_signer),
    })
}

/// The PCR that carries init-data, as CoCo's TPM attesters extend it.
pub const INIT_DATA_PCR: u32 = 8;

/// `init_data`, when the client presented init-data: SHA-256 PCR 8, as a verified quote vouches
/// for it, must be exactly one extend of the init-data digest from zero
/// (`SHA-256(0^32 ‖ digest)`). Only SHA-256 digests fit the SHA-256 bank. Sets the `init_data`
/// claim (the digest) when it matches.
pub fn check_init_data(
    ex: &mut Examination,
    expected: &ExpectedBinding,
    vouched: &BTreeMap<(HashAlg, u32), Vec<u8>>,
) {
    let Some(digest) = expected.init_data_digest.as_deref() else {
        return;
    };
    let check = if digest.len() != HashAlg::Sha256.digest_len() {
        Check::fail(
            "init_data",
            format!(
                "PCR {INIT_DATA_PCR} binds SHA-256 init-data digests only; this one has {} bytes (use algorithm = \"sha256\")",
                digest.len()
            ),
        )
    } else {
        let wanted = HashAlg::Sha256.digest([&[0u8; 32][..], digest]);
        match vouched.get(&(HashAlg::Sha256, INIT_DATA_PCR)) {
            None => Check::fail(
                "init_data",
                format!("no verified quote covers SHA-256 PCR {INIT_DATA_PCR}"),
            ),
            Some(value) if *value == wanted => {
                ex.claims
                    .insert("init_data".into(), Value::String(hex::encode(digest)));
                Check::pass(
                    "init_data",
                    format!("PCR {INIT_DATA_PCR} holds the init-data digest extended from zero"),
                )
            }
            Some(value) => Check::fail(
                "init_data",
                format!(
                    "PCR {INIT_DATA_PCR} is {}, not the init-data digest {} extended from zero ({})",
                    hex::encode(value),
                    hex::encode(digest),
                    hex::encode(&wanted)
                ),
            ),
        }
    };
    ex.push(check);
}
