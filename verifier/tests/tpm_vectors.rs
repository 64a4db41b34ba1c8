//! TPM 2.0 quote verification on the real evidence in `tests/vectors/tpm` (MANIFEST.md §5):
//! the GCE vTPM (AK certificate chain to Google's root, crypto-agile event log), a Windows GCE
//! VM (pinned AK, SHA-1 quote and log), an Azure vTPM quote (pinned AK) and Trustee's swtpm
//! sample (pinned AK). Each vector is converted into Warden's TPM evidence JSON by the loaders
//! below, the only code that knows the vectors' own formats.
#![allow(clippy::unwrap_used)]

mod common;

use common::vectors;

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use warden_verifier::collateral::CollateralSet;
use warden_verifier::tee::tpm::TpmVerifier;
use warden_verifier::tee::tpm::trust::TpmTrust;
use warden_verifier::tee::{Examination, ExpectedBinding, Verifier};
use warden_wire::tpm::{HashAlg, Signature};

fn at(text: &str) -> OffsetDateTime {
    OffsetDateTime::parse(text, &Rfc3339).unwrap()
}

const NOW: &str = "2026-11-01T00:00:00Z";
const GCE: &str = "gce-vtpm-cos85";

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(name).display()))
}

fn json_file(dir: &Path, name: &str) -> Value {
    serde_json::from_slice(&read(dir, name)).unwrap()
}

fn pcr_table(bank: HashAlg, values: impl IntoIterator<Item = (u32, String)>) -> Value {
    let values: BTreeMap<String, String> = values
        .into_iter()
        .map(|(pcr, hex)| (pcr.to_string(), hex))
        .collect();
    json!({ bank.name(): values })
}

/// GCE: the AK `TPMT_PUBLIC`, its certificate, three quotes (SHA-1, SHA-256 and SHA-384 PCR
/// banks, each RSASSA/SHA-256) with nonce 0x9009, and the crypto-agile event log.
fn gce_evidence(dir: &Path) -> Value {
    let derived = dir.join("derived_nonce9009");
    let quotes = json_file(&derived, "quotes.json");
    let mut pcrs = serde_json::Map::new();
    let mut quote_list = Vec::new();
    for bank in ["sha1", "sha256", "sha384"] {
        let quote = &quotes[bank];
        let unhex = |field: &str| hex::decode(quote[field].as_str().unwrap()).unwrap();
        quote_list.push(json!({
            "attest": STANDARD.encode(unhex("quote")),
            "signature": STANDARD.encode(unhex("sig")),
        }));
        pcrs.insert(bank.into(), quote["pcrs"].clone());
    }
    json!({
        "ak_public": STANDARD.encode(read(&derived, "ak_pub.tpmt_public.bin")),
        "ak_certificate": STANDARD.encode(read(dir, "ak_cert.der")),
        "quotes": quote_list,
        "pcrs": pcrs,
        "event_log": STANDARD.encode(read(&derived, "event_log.bin")),
    })
}

/// A protobuf field: a varint or a length-delimited value (the only wire types in these files).
enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

/// The top-level fields of a protobuf message, in order.
fn protobuf_fields(mut bytes: &[u8]) -> Vec<(u64, Field<'_>)> {
    fn varint(bytes: &mut &[u8]) -> u64 {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = bytes[0];
            *bytes = &bytes[1..];
            value |= u64::from(byte & 0x7F) << shift;
            if byte < 0x80 {
                break;
            }
        }
        value
    }
    let mut fields = Vec::new();
    while !bytes.is_empty() {
        let key = varint(&mut bytes);
        let field = match key & 7 {
            0 => Field::Varint(varint(&mut bytes)),
            2 => {
                let len = varint(&mut bytes) as usize;
                let (value, rest) = bytes.split_at(len);
                bytes = rest;
                Field::Bytes(value)
            }
            other => panic!("protobuf wire type {other} is not used by these vectors"),
        };
        fields.push((key >> 3, field));
    }
    fields
}

/// GCE evidence from go-tpm-tools' `attest.Attestation` protobuf: `ak_pub` (1), `quotes` (2:
/// `quote` 1, `raw_sig` 2, `pcrs` 3 = {`hash` 1, map `pcrs` 2 = {key 1, value 2}}), `event_log`
/// (3), `ak_cert` (6).
fn gce_evidence_from_protobuf(bytes: &[u8]) -> Value {
    let mut evidence = json!({"quotes": [], "pcrs": {}});
    for (number, field) in protobuf_fields(bytes) {
        let Field::Bytes(value) = field else { continue };
        match number {
            1 => evidence["ak_public"] = json!(STANDARD.encode(value)),
            3 => evidence["event_log"] = json!(STANDARD.encode(value)),
            6 => evidence["ak_certificate"] = json!(STANDARD.encode(value)),
            2 => {
                let mut quote = json!({});
                for (number, field) in protobuf_fields(value) {
                    match (number, field) {
                        (1, Field::Bytes(attest)) => {
                            quote["attest"] = json!(STANDARD.encode(attest))
                        }
                        (2, Field::Bytes(signature)) => {
                            quote["signature"] = json!(STANDARD.encode(signature))
                        }
                        (3, Field::Bytes(pcrs)) => {
                            let mut bank = None;
                            let mut values = serde_json::Map::new();
                            for (number, field) in protobuf_fields(pcrs) {
                                match (number, field) {
                                    (1, Field::Varint(hash)) => {
                                        bank = HashAlg::from_id(hash as u16)
                                    }
                                    (2, Field::Bytes(entry)) => {
                                        let (mut index, mut digest) = (0, Vec::new());
                                        for (number, field) in protobuf_fields(entry) {
                                            match (number, field) {
                                                (1, Field::Varint(i)) => index = i,
                                                (2, Field::Bytes(d)) => digest = d.to_vec(),
                                                _ => {}
                                            }
                                        }
                                        values
                                            .insert(index.to_string(), json!(hex::encode(digest)));
                                    }
                                    _ => {}
                                }
                            }
                            let bank = bank.expect("PCR bank").name();
                            evidence["pcrs"][bank] = Value::Object(values);
                        }
                        _ => {}
                    }
                }
                evidence["quotes"].as_array_mut().unwrap().push(quote);
            }
            _ => {}
        }
    }
    evidence
}

/// Trust in the given CA files of the GCE set.
fn gce_trust(dir: &Path, files: &[&str]) -> TpmTrust {
    let mut trust = TpmTrust::default();
    for file in files {
        trust.add_file(&dir.join(file)).unwrap();
    }
    trust
}

const GOOGLE_CHAIN: &[&str] = &["tpm_ek_root_1.cer", "tpm_ek_intermediate_2.crt"];

/// Windows on GCE (go-attestation): AK `TPMT_PUBLIC`, one SHA-1 quote with a SHA-1 signature,
/// 24 SHA-1 PCRs and the SHA-1 event log.
fn windows_evidence(dir: &Path) -> (Value, Vec<u8>) {
    let source = json_file(dir, "windows_gcp_shielded_vm.json");
    let ak_public = STANDARD
        .decode(source["AK"]["Public"].as_str().unwrap())
        .unwrap();
    let pcrs = source["Log"]["PCRs"].as_array().unwrap().iter().map(|pcr| {
        let digest = STANDARD.decode(pcr["Digest"].as_str().unwrap()).unwrap();
        (pcr["Index"].as_u64().unwrap() as u32, hex::encode(digest))
    });
    let evidence = json!({
        "ak_public": STANDARD.encode(&ak_public),
        "quotes": [{
            "attest": source["Quote"]["Quote"],
            "signature": source["Quote"]["Signature"],
        }],
        "pcrs": pcr_table(HashAlg::Sha1, pcrs),
        "event_log": source["Log"]["Raw"],
    });
    (evidence, ak_public)
}

/// A bare RSASSA/SHA-256 signature as the TPMT_SIGNATURE Warden's evidence carries.
fn rsassa_sha256(raw: Vec<u8>) -> String {
    STANDARD.encode(Signature::rsassa(HashAlg::Sha256, raw).marshal())
}

fn sha256_pcr_list(values: &Value) -> Value {
    let list = values.as_array().unwrap();
    pcr_table(
        HashAlg::Sha256,
        list.iter()
            .enumerate()
            .map(|(pcr, value)| (pcr as u32, value.as_str().unwrap().to_owned())),
    )
}

/// Azure vTPM (kinvolk/azure-cvm-tooling): SPKI from `akpub.pem`, raw signature, 24 SHA-256 PCRs.
fn kinvolk_evidence(dir: &Path) -> (Value, Vec<u8>) {
    let pem = read(dir, "akpub.pem");
    let spki = x509_parser::pem::parse_x509_pem(&pem).unwrap().1.contents;
    let source = json_file(dir, "quote_decoded_from_bincode.json");
    let evidence = json!({
        "ak_public": STANDARD.encode(&spki),
        "quotes": [{
            "attest": STANDARD.encode(hex::decode(source["message"].as_str().unwrap()).unwrap()),
            "signature": rsassa_sha256(hex::decode(source["signature"].as_str().unwrap()).unwrap()),
        }],
        "pcrs": sha256_pcr_list(&source["pcrs"]),
    });
    (evidence, spki)
}

/// Trustee's swtpm sample: SPKI, TPMS_ATTEST and TPMT_SIGNATURE (base64), SHA-256 PCRs (hex).
fn swtpm_evidence(dir: &Path) -> (Value, Vec<u8>) {
    let source = json_file(dir, "tpm_evidence.json");
    let spki = STANDARD
        .decode(source["ak_public"].as_str().unwrap())
        .unwrap();
    let evidence = json!({
        "ak_public": source["ak_public"],
        "quotes": [{
            "attest": source["tpm_quote"]["message"],
            "signature": source["tpm_quote"]["signature"],
        }],
        "pcrs": sha256_pcr_list(&source["tpm_quote"]["pcrs"]),
    });
    (evidence, spki)
}

fn binding(report_data: &[u8]) -> ExpectedBinding {
    ExpectedBinding {
        report_data: Some(report_data.to_vec()),
        init_data_digest: None,
    }
}

fn failed(ex: &Examination) -> Vec<&'static str> {
    ex.failed_checks().iter().map(|check| check.name).collect()
}

fn detail(ex: &Examination, name: &str) -> String {
    ex.checks
        .iter()
        .filter(|check| check.name == name)
        .map(|check| check.detail.clone())
        .collect::<Vec<_>>()
        .join("; ")
}

fn pinned(spki: &[u8]) -> TpmTrust {
    let mut trust = TpmTrust::default();
    trust.add_bytes(spki).unwrap();
    trust
}

#[test]
fn gce_quotes_verify_through_googles_ak_ca_and_the_event_log_replays_in_every_bank() {
    let dir = vectors::set("tpm", GCE);
    let evidence = gce_evidence(&dir);
    let verifier = TpmVerifier::new(gce_trust(&dir, GOOGLE_CHAIN));
    let ex = verifier.examine(&evidence, &binding(&[0x90, 0x09]), at(NOW));
    assert!(ex.verified(), "{:?}", ex.failed_checks());
    let claims = &ex.claims;
    assert_eq!(claims["ak"]["trust"], "certificate");
    assert!(
        claims["ak"]["root"]
            .as_str()
            .unwrap()
            .starts_with("tpm_ek_v1_cloud_host_root-signer"),
        "{}",
        claims["ak"]
    );
    assert_eq!(claims["ak"]["key"], "RSA-2048");
    let sha256 = &claims["pcrs"]["sha256"];
    assert_eq!(
        sha256["0"],
        "0f35c214608d93c7a6e68ae7359b4a8be5a0e99eea9107ece427c4dea4e439cf"
    );
    assert!(sha256["4"].as_str().unwrap().starts_with("d690bdac"));
    assert!(sha256["4"].as_str().unwrap().ends_with("0491"));
    assert!(sha256["7"].as_str().unwrap().starts_with("3365d7fa"));
    assert!(sha256["8"].as_str().unwrap().starts_with("9e9b6511"));
    assert!(sha256["9"].as_str().unwrap().starts_with("e01c8cf8"));
    assert_eq!(sha256.as_object().unwrap().len(), 24);
    assert!(
        claims["pcrs"]["sha384"]["0"]
            .as_str()
            .unwrap()
            .starts_with("46ce251b")
    );
    // SHA-1 values are verified but not vouched for while SHA-1 is not allowed.
    assert!(claims["pcrs"].get("sha1").is_none());
    assert_eq!(claims["report_data"], "9009");
    assert_eq!(claims["quote"]["reset_count"], 10);
    assert_eq!(claims["quote"]["firmware_version"], "2016051100162800");
    let log = &claims["event_log"];
    assert_eq!(log["bank"], "sha256");
    assert_eq!(log["replayed_pcrs"], json!([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
    assert!(
        detail(&ex, "event_log").contains("sha256, sha384"),
        "{}",
        detail(&ex, "event_log")
    );
    assert!(!log["boot_applications"].as_array().unwrap().is_empty());
    // The SecureBoot variable's event digest covers its data, so its value is proven.
    assert_eq!(log["secure_boot"], true);
    assert!(log["pcr_events"]["7"].as_array().unwrap().len() > 1);

    // With SHA-1 allowed the SHA-1 bank is vouched for and replayed too.
    let sha1 = TpmVerifier::new(gce_trust(&dir, GOOGLE_CHAIN)).allow_sha1(true);
    let ex = sha1.examine(&evidence, &binding(&[0x90, 0x09]), at(NOW));
    assert!(ex.verified(), "{:?}", ex.failed_checks());
    assert_eq!(
        ex.claims["pcrs"]["sha1"]["0"],
        "c032c3b51dbb6f96b047421512fd4b4dfde496f3"
    );
    assert!(
        detail(&ex, "event_log").contains("sha1"),
        "{}",
        detail(&ex, "event_log")
    );
}

#[test]
fn gce_evidence_is_refused_for_each_kind_of_tampering_or_distrust() {
    let dir = vectors::set("tpm", GCE);
    let evidence = gce_evidence(&dir);
    let nonce = binding(&[0x90, 0x09]);
    let verifier = TpmVerifier::new(gce_trust(&dir, GOOGLE_CHAIN));
    let refused = |evidence: &Value, expected: &ExpectedBinding, verifier: &TpmVerifier| {
        let ex = verifier.examine(evidence, expected, at(NOW));
        assert!(!ex.verified(), "{evidence}");
        ex
    };

    // Flipped bytes in a quote's signed bytes and in its signature.
    let flip = |field: &str, offset: usize| {
        let mut copy = evidence.clone();
        let mut bytes = STANDARD
            .decode(copy["quotes"][1][field].as_str().unwrap())
            .unwrap();
        bytes[offset] ^= 0x01;
        copy["quotes"][1][field] = Value::String(STANDARD.encode(bytes));
        copy
    };
    for offset in [10, 40, 60, 100] {
        let ex = refused(&flip("attest", offset), &nonce, &verifier);
        assert!(
            failed(&ex).contains(&"quote_signature"),
            "offset {offset}: {:?}",
            failed(&ex)
        );
    }
    let ex = refused(&flip("signature", 100), &nonce, &verifier);
    assert_eq!(failed(&ex), ["quote_signature"]);
    assert!(detail(&ex, "quote_signature").contains("quote 1"));

    // The nonce as ASCII "9009" is not the binary 0x90 0x09 the quotes carry.
    let ex = refused(&evidence, &binding(b"9009"), &verifier);
    assert_eq!(failed(&ex), ["report_data"]);

    // A changed PCR value no longer hashes to the quoted digest.
    let mut changed = evidence.clone();
    changed["pcrs"]["sha256"]["7"] = Value::String("00".repeat(32));
    let ex = refused(&changed, &nonce, &verifier);
    assert_eq!(failed(&ex), ["pcr_digest"]);

    // An AK nobody vouches for, a chain to another root, and the wrong intermediate.
    for (files, wanted) in [
        (&[][..], "no TPM CA root is configured"),
        (
            &["gcp_ek_ak_ca_root.crt", "gcp_ek_ak_ca_intermediate_v3.crt"][..],
            "not issued by a configured TPM CA",
        ),
        (
            &["tpm_ek_root_1.cer", "tpm_ek_intermediate_3.crt"][..],
            "not issued by a configured TPM CA",
        ),
    ] {
        let distrusting = TpmVerifier::new(gce_trust(&dir, files));
        let ex = refused(&evidence, &nonce, &distrusting);
        assert_eq!(failed(&ex), ["ak_trust"], "{files:?}");
        assert!(
            detail(&ex, "ak_trust").contains(wanted),
            "{}",
            detail(&ex, "ak_trust")
        );
    }
    let mut no_certificate = evidence.clone();
    no_certificate
        .as_object_mut()
        .unwrap()
        .remove("ak_certificate");
    let ex = refused(&no_certificate, &nonce, &verifier);
    assert!(detail(&ex, "ak_trust").contains("neither pinned nor registered"));

    // The certificate must be for the AK that signed.
    let kinvolk = vectors::set("tpm", "azure-vtpm-kinvolk");
    let mut other_key = evidence.clone();
    other_key["ak_public"] = kinvolk_evidence(&kinvolk).0["ak_public"].clone();
    let ex = refused(&other_key, &nonce, &verifier);
    assert!(detail(&ex, "ak_trust").contains("another key"));

    // A truncated log, and a log with one altered digest.
    let log = read(&dir.join("derived_nonce9009"), "event_log.bin");
    let mut truncated = evidence.clone();
    truncated["event_log"] = Value::String(STANDARD.encode(&log[..log.len() / 2]));
    let ex = refused(&truncated, &nonce, &verifier);
    assert_eq!(failed(&ex), ["event_log"], "{}", detail(&ex, "event_log"));
    let parsed = warden_wire::eventlog::parse_pcr_log(&log).unwrap();
    let mut cut_at_a_record = log.clone();
    let last_data = &parsed.events.last().unwrap().data;
    let last_record_len = 4 + 4 + 4 + (2 + 20) + (2 + 32) + (2 + 48) + 4 + last_data.len();
    cut_at_a_record.truncate(log.len() - last_record_len);
    let mut shortened = evidence.clone();
    shortened["event_log"] = Value::String(STANDARD.encode(&cut_at_a_record));
    let ex = refused(&shortened, &nonce, &verifier);
    assert!(
        detail(&ex, "event_log").contains("replays to"),
        "{}",
        detail(&ex, "event_log")
    );
    // Event data is not covered by the PCRs; an event's digest is.
    let digest = &parsed.events[10].digests[1].1;
    let position = log
        .windows(digest.len())
        .position(|window| window == digest.as_slice())
        .unwrap();
    let mut altered = log.clone();
    altered[position] ^= 0x20;
    let mut altered_evidence = evidence.clone();
    altered_evidence["event_log"] = Value::String(STANDARD.encode(&altered));
    let ex = refused(&altered_evidence, &nonce, &verifier);
    assert_eq!(failed(&ex), ["event_log"]);
}

#[test]
fn gce_protobuf_attestations_verify_and_the_nonce_less_one_is_a_replay_for_a_fresh_nonce() {
    let dir = vectors::set("tpm", GCE);
    let verifier = TpmVerifier::new(gce_trust(&dir, GOOGLE_CHAIN));
    // The protobuf decodes to exactly the evidence of the derived files.
    let with_nonce = gce_evidence_from_protobuf(&read(&dir, "gce-cos-85-nonce9009.pb"));
    assert_eq!(with_nonce, gce_evidence(&dir));

    let no_nonce = gce_evidence_from_protobuf(&read(&dir, "gce-cos-85-no-nonce.pb"));
    let ex = verifier.examine(&no_nonce, &binding(&[]), at(NOW));
    assert!(ex.verified(), "{:?}", ex.failed_checks());
    assert_eq!(ex.claims["report_data"], "");
    // Replayed where a fresh nonce is expected: refused for the binding alone.
    let ex = verifier.examine(&no_nonce, &binding(&[0x90, 0x09]), at(NOW));
    assert_eq!(failed(&ex), ["report_data"]);
}

#[test]
fn windows_quote_needs_a_pinned_ak_and_sha1_and_its_log_replays() {
    let dir = vectors::set("tpm", "go-attestation-windows-gcp");
    let (evidence, ak_public) = windows_evidence(&dir);
    let no_nonce = binding(&[]);
    let unpinned = TpmVerifier::new(TpmTrust::default()).allow_sha1(true);
    let ex = unpinned.examine(&evidence, &no_nonce, at(NOW));
    assert_eq!(failed(&ex), ["ak_trust"]);

    let no_sha1 = TpmVerifier::new(pinned(&ak_public));
    let ex = no_sha1.examine(&evidence, &no_nonce, at(NOW));
    assert_eq!(failed(&ex), ["quote_hash"]);

    let verifier = TpmVerifier::new(pinned(&ak_public)).allow_sha1(true);
    let ex = verifier.examine(&evidence, &no_nonce, at(NOW));
    assert!(ex.verified(), "{:?}", ex.failed_checks());
    assert_eq!(ex.claims["ak"]["trust"], "pinned");
    assert_eq!(
        ex.claims["pcrs"]["sha1"]["0"],
        "51c323de0c0c694f4601cdd02beb58ff13629f74"
    );
    assert_eq!(ex.claims["quote"]["signature_hash"], "sha1");
    // Obfuscated by the TPM: the AK is outside the endorsement hierarchy.
    assert_eq!(ex.claims["quote"]["reset_count"], 1_045_281_252u32);
    assert_eq!(ex.claims["quote"]["firmware_version"], "41e4356df966e035");
    assert_eq!(ex.claims["event_log"]["bank"], "sha1");
    assert_eq!(ex.claims["event_log"]["secure_boot"], true);
    assert_eq!(
        ex.claims["event_log"]["replayed_pcrs"],
        json!([0, 4, 5, 7, 11, 12, 13, 14])
    );

    // The quote has no nonce: one required is missing.
    let ex = verifier.examine(&evidence, &binding(b"fresh"), at(NOW));
    assert_eq!(failed(&ex), ["report_data"]);
    let mut changed = evidence.clone();
    changed["pcrs"]["sha1"]["4"] = Value::String("11".repeat(20));
    let ex = verifier.examine(&changed, &no_nonce, at(NOW));
    assert_eq!(failed(&ex), ["pcr_digest"]);
}

#[test]
fn azure_vtpm_quote_verifies_with_its_pinned_ak_and_nonce() {
    let dir = vectors::set("tpm", "azure-vtpm-kinvolk");
    let (evidence, spki) = kinvolk_evidence(&dir);
    let verifier = TpmVerifier::new(pinned(&spki));
    let ex = verifier.examine(&evidence, &binding(b"challenge"), at(NOW));
    assert!(ex.verified(), "{:?}", ex.failed_checks());
    assert_eq!(
        ex.claims["pcrs"]["sha256"]["0"],
        "f3a7e99a5f819a034386bce753a48a73cfdaa0bea0ecfc124bedbf5a8c4799be"
    );
    assert_eq!(ex.claims["quote"]["firmware_version"], "2020031200120003");
    assert_eq!(ex.claims["ak"]["trust"], "pinned");

    let ex = verifier.examine(&evidence, &binding(&[1, 2, 3, 4]), at(NOW));
    assert_eq!(failed(&ex), ["report_data"]);
    let source = json_file(&dir, "quote_decoded_from_bincode.json");
    let mut reversed = hex::decode(source["signature"].as_str().unwrap()).unwrap();
    reversed.reverse();
    let mut bad_signature = evidence.clone();
    bad_signature["quotes"][0]["signature"] = Value::String(rsassa_sha256(reversed));
    let ex = verifier.examine(&bad_signature, &binding(b"challenge"), at(NOW));
    assert_eq!(failed(&ex), ["quote_signature"]);
}

#[test]
fn trustee_swtpm_quote_verifies_only_with_its_ak_pinned() {
    let dir = vectors::set("tpm", "trustee-swtpm");
    let (evidence, spki) = swtpm_evidence(&dir);
    let attest = STANDARD
        .decode(evidence["quotes"][0]["attest"].as_str().unwrap())
        .unwrap();
    let extra_data = warden_wire::tpm::Attest::parse(&attest).unwrap().extra_data;
    assert_eq!(extra_data.len(), 64);
    let verifier = TpmVerifier::new(pinned(&spki));
    let ex = verifier.examine(&evidence, &binding(&extra_data[..48]), at(NOW));
    assert!(ex.verified(), "{:?}", ex.failed_checks());
    assert_eq!(
        ex.claims["ak"]["spki_sha256"],
        "a517f03ffdaee469aef1a19569547e330726335d0461c3ef6383409c6295679e"
    );
    assert_eq!(ex.claims["quote"]["firmware_version"], "2019102300163636");
    assert_eq!(ex.claims["pcrs"]["sha256"]["0"], "00".repeat(32));
    assert_eq!(ex.claims["pcrs"]["sha256"]["17"], "ff".repeat(32));

    // Init-data must be extended into PCR 8, which is zero here: refused, naming the PCR.
    let with_init_data = |digest: Vec<u8>| ExpectedBinding {
        init_data_digest: Some(digest),
        ..binding(&extra_data[..48])
    };
    let ex = verifier.examine(&evidence, &with_init_data(vec![0xab; 32]), at(NOW));
    assert_eq!(failed(&ex), ["init_data"]);
    assert!(detail(&ex, "init_data").contains(&format!("PCR 8 is {}", "00".repeat(32))));
    let ex = verifier.examine(&evidence, &with_init_data(vec![0xab; 48]), at(NOW));
    assert!(detail(&ex, "init_data").contains("SHA-256 init-data digests only"));

    let ex =
        TpmVerifier::new(TpmTrust::default()).examine(&evidence, &binding(&extra_data), at(NOW));
    assert_eq!(failed(&ex), ["ak_trust"]);
}

#[test]
fn malformed_evidence_is_an_evidence_format_failure() {
    let verifier = TpmVerifier::new(TpmTrust::default());
    for evidence in [
        json!(null),
        json!({}),
        json!({"ak_public": "!!", "quotes": [], "pcrs": {}}),
        json!({"ak_public": "AAAA", "quotes": [{"attest": "AAAA", "signature": "AAAA"}], "pcrs": {}}),
        json!({"ak_certificate": "AAAA", "quotes": [], "pcrs": {}}),
        json!({"ak_certificate": "AAAA", "quotes": [{"attest": "", "signature": ""}], "pcrs": {"md5": {}}}),
    ] {
        let ex = verifier.examine(&evidence, &ExpectedBinding::default(), at(NOW));
        assert_eq!(failed(&ex), ["evidence_format"], "{evidence}");
    }
}

/// Appraises `evidence` with the default policy and `tpm` reference values `reference`,
/// embedded and through the verifier service (see `common::both_ways`), which must agree on the
/// result and the whole trace.
fn appraise_tpm(
    evidence: &Value,
    trust: &TpmTrust,
    nonce: &[u8],
    reference: Value,
) -> warden_verifier::AttestationResult {
    use std::sync::Arc;
    use warden_verifier::appraisal::DEFAULT_APPRAISAL_POLICY;
    use warden_verifier::tee::tpm::trust::SharedTpmTrust;
    use warden_verifier::{
        AppraisalRequest, Appraiser, ReferenceValues, VerifierRegistry, VerifierSettings,
    };
    let appraiser = Appraiser::new(
        VerifierRegistry::new(&VerifierSettings {
            tpm_trust: Arc::new(SharedTpmTrust::new(trust.clone())),
            ..Default::default()
        }),
        Appraiser::compile_policy("default", DEFAULT_APPRAISAL_POLICY).unwrap(),
        ReferenceValues::new(serde_json::from_value(json!({ "tpm": reference })).unwrap()),
    );
    let request = AppraisalRequest {
        init_data: None,
        tee: "tpm",
        evidence,
        expected: binding(nonce),
    };
    common::both_ways::appraise(appraiser, &request, at(NOW)).expect("appraised")
}

/// Each quote appraised with a `tpm` reference value pinning its PCR 0, then another value.
#[test]
fn tpm_vectors_are_appraised_alike_embedded_and_through_the_verifier_service() {
    use warden_verifier::Status;
    let vectors = vectors::tee("tpm");
    let gce = vectors.join(GCE);
    let (azure, azure_ak) = kinvolk_evidence(&vectors.join("azure-vtpm-kinvolk"));
    let (swtpm, swtpm_ak) = swtpm_evidence(&vectors.join("trustee-swtpm"));
    let swtpm_attest = STANDARD
        .decode(swtpm["quotes"][0]["attest"].as_str().unwrap())
        .unwrap();
    let swtpm_nonce = warden_wire::tpm::Attest::parse(&swtpm_attest)
        .unwrap()
        .extra_data[..48]
        .to_vec();
    let cases = [
        (
            "gce",
            gce_evidence(&gce),
            gce_trust(&gce, GOOGLE_CHAIN),
            vec![0x90, 0x09],
        ),
        ("azure", azure, pinned(&azure_ak), b"challenge".to_vec()),
        ("swtpm", swtpm, pinned(&swtpm_ak), swtpm_nonce),
    ];
    for (label, evidence, trust, nonce) in cases {
        let pcr0 = evidence["pcrs"]["sha256"]["0"].as_str().unwrap().to_owned();
        for (reference, expected) in [
            (&pcr0, Status::Affirming),
            (&"11".repeat(32), Status::Warning),
        ] {
            let pcrs = json!({"pcrs": {"sha256": {"0": [reference]}}});
            let result = appraise_tpm(&evidence, &trust, &nonce, pcrs);
            assert_eq!(result.status, expected, "{label}: {:?}", result.trace);
        }
    }
}

/// On the GCE quote and its event log: the AK, every event extended into PCR 4 (boot
/// applications) and Secure Boot pinned as reference values; each one changed changes the verdict,
/// and the trace names the value.
#[test]
fn tpm_reference_values_pin_the_ak_the_logged_events_and_secure_boot() {
    use warden_verifier::Status;
    let dir = vectors::set("tpm", GCE);
    let evidence = gce_evidence(&dir);
    let trust = gce_trust(&dir, GOOGLE_CHAIN);
    let nonce = [0x90, 0x09];
    let pcr0 = evidence["pcrs"]["sha256"]["0"].clone();
    let claims = appraise_tpm(
        &evidence,
        &trust,
        &nonce,
        json!({"pcrs": {"sha256": {"0": [pcr0]}}}),
    )
    .claims;
    let ak = claims["ak"]["spki_sha256"].as_str().unwrap().to_owned();
    let pcr4: Vec<Value> = claims["event_log"]["pcr_events"]["4"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["digest"].clone())
        .collect();
    assert!(pcr4.len() >= 2, "{}", claims["event_log"]);
    assert_eq!(claims["event_log"]["secure_boot"], true);
    let pinned_all = json!({
        "pcrs": {"sha256": {"0": [pcr0]}},
        "ak_keys": [ak],
        "event_digests": {"4": pcr4},
        "require_secure_boot": true,
    });
    let affirmed = appraise_tpm(&evidence, &trust, &nonce, pinned_all.clone());
    assert_eq!(affirmed.status, Status::Affirming, "{:?}", affirmed.trace);

    let failing = |change: &dyn Fn(&mut Value)| {
        let mut reference = pinned_all.clone();
        change(&mut reference);
        let result = appraise_tpm(&evidence, &trust, &nonce, reference);
        (result.status, result.trace.failed)
    };
    let (status, failed) = failing(&|rv| rv["ak_keys"] = json!(["00".repeat(32)]));
    assert_eq!(status, Status::Contraindicated);
    assert!(
        failed.contains(&"reference_values.tpm.ak_keys".to_owned()),
        "{failed:?}"
    );
    let (status, failed) = failing(&|rv| {
        rv["event_digests"]["4"].as_array_mut().unwrap().pop();
    });
    assert_eq!(status, Status::Warning);
    assert!(
        failed.contains(&"reference_values.tpm.event_digests.4".to_owned()),
        "{failed:?}"
    );

    // Without the event log nothing proves the events or Secure Boot.
    let mut without_log = evidence.clone();
    without_log.as_object_mut().unwrap().remove("event_log");
    let result = appraise_tpm(&without_log, &trust, &nonce, pinned_all);
    assert_eq!(result.status, Status::Contraindicated);
    assert!(
        result
            .trace
            .failed
            .contains(&"reference_values.tpm.event_digests.4".to_owned()),
        "{:?}",
        result.trace
    );
}
