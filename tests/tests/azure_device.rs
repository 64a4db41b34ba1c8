//! The Azure vTPM attester's device paths against a real software TPM (swtpm), one per test: NV
//! index definition, chunked writes and reads with the authorisation Azure's HCL indices use,
//! quotes by a key at a persistent handle, and `AzureAttester::evidence` end to end with the
//! paravisor's part played by the test (an HCL report, unsigned hardware report inside, written
//! to NV index 0x01400001 beforehand) and a fake IMDS on loopback.
//!
//! Signatures are checked here with OpenSSL, independently of the code under test.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::sign::Verifier;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use warden_agent::attester::azure::{
    AK_PERSISTENT_HANDLE, AzureAttester, AzureKind, HCL_REPORT_NV_INDEX, REPORT_DATA_NV_INDEX,
};
use warden_agent::attester::tpm_device::{AkAlgorithm, PcrBank, TpmDevice, TpmDeviceError};
use warden_agent::attester::{Attester, AttesterError, report_data_field};
use warden_tests::swtpm::Swtpm;
use warden_wire::azure::AzureEvidence;
use warden_wire::tdx::{TdBody, unsigned_quote};
use warden_wire::tpm::{Attest, KeyMaterial, PublicKey};

const SNP_REPORT_DATA_OFFSET: usize = 0x50;
const TD_REPORT_DATA_OFFSET: usize = 128;
const VCEK_PEM: &str = "-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n";
const VCEK_DER: [u8; 5] = [0x30, 0x03, 0x02, 0x01, 0x01];

fn rsa_key(public: &[u8]) -> (Vec<u8>, u32) {
    match PublicKey::parse(public).unwrap().key {
        KeyMaterial::Rsa { modulus, exponent } => {
            (modulus, if exponent == 0 { 65_537 } else { exponent })
        }
        other => panic!("not an RSA key: {other:?}"),
    }
}

/// RSASSA-PKCS1-v1_5 / SHA-256 verification of a bare signature.
fn rsa_verifies(key: &(Vec<u8>, u32), message: &[u8], signature: &[u8]) -> bool {
    let rsa = Rsa::from_public_components(
        BigNum::from_slice(&key.0).unwrap(),
        BigNum::from_u32(key.1).unwrap(),
    )
    .unwrap();
    let key = PKey::from_rsa(rsa).unwrap();
    let mut verifier = Verifier::new(MessageDigest::sha256(), &key).unwrap();
    verifier.update(message).unwrap();
    verifier.verify(signature).unwrap()
}

/// An HCL report as the paravisor writes one: 32-byte header, hardware report area (unsigned,
/// zero but for its report data = SHA-256(runtime claims) ‖ zeros), IGVM request data, the
/// runtime claims naming `ak` as HCLAkPub and carrying `user_data`.
fn hcl_report(kind: AzureKind, ak: &(Vec<u8>, u32), user_data: &[u8; 64]) -> Vec<u8> {
    let exponent = ak.1.to_be_bytes();
    let exponent = &exponent[exponent.iter().position(|&b| b != 0).unwrap()..];
    let claims = json!({
        "keys": [{
            "kid": "HCLAkPub", "key_ops": ["sign"], "kty": "RSA",
            "e": URL_SAFE_NO_PAD.encode(exponent), "n": URL_SAFE_NO_PAD.encode(&ak.0),
        }],
        "vm-configuration": {"vmUniqueId": "00000000-0000-0000-0000-000000000000"},
        "user-data": hex::encode_upper(user_data),
    })
    .to_string();
    let (report_type, offset) = match kind {
        AzureKind::Snp => (2u32, SNP_REPORT_DATA_OFFSET),
        AzureKind::Tdx => (4u32, TD_REPORT_DATA_OFFSET),
    };
    let mut hardware = vec![0u8; 1184];
    hardware[offset..offset + 32].copy_from_slice(&Sha256::digest(claims.as_bytes()));
    let mut report = b"HCLA".to_vec();
    let total = 32 + hardware.len() + 20 + claims.len();
    for field in [2u32, total as u32, 2, 0] {
        report.extend(field.to_le_bytes());
    }
    report.extend([0u8; 12]);
    report.extend(&hardware);
    let claims_len = claims.len() as u32;
    for field in [claims_len + 20, 1, report_type, 1, claims_len] {
        report.extend(field.to_le_bytes());
    }
    report.extend(claims.as_bytes());
    report
}

/// Plays the paravisor's part: publishes `report` at 0x01400001 (defining the index).
fn publish(device: &mut TpmDevice, report: &[u8]) {
    if device.nv_size(HCL_REPORT_NV_INDEX).unwrap().is_some() {
        device.nv_undefine(HCL_REPORT_NV_INDEX).unwrap();
    }
    device.nv_define(HCL_REPORT_NV_INDEX, report.len()).unwrap();
    device.nv_write(HCL_REPORT_NV_INDEX, report).unwrap();
}

/// A TPM with an RSA AK at 0x81000003; returns the AK's modulus and exponent.
fn provision_ak(device: &mut TpmDevice) -> (Vec<u8>, u32) {
    let ak = device.create_ak(AkAlgorithm::Rsa2048).unwrap();
    device.persist_ak(&ak, AK_PERSISTENT_HANDLE).unwrap();
    rsa_key(&ak.public)
}

/// One request as the fake IMDS saw it.
struct Seen {
    request_line: String,
    body: Vec<u8>,
}

/// A loopback HTTP/1.1 server answering one request per body, in order, with 200.
fn fake_imds(answers: Vec<Value>) -> (String, JoinHandle<Vec<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for answer in answers {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream);
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let line = line.trim_end().to_ascii_lowercase();
                if line.is_empty() {
                    break;
                }
                if let Some(value) = line.strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let answer = answer.to_string();
            write!(
                reader.into_inner(),
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            )
            .unwrap();
            seen.push(Seen {
                request_line: request_line.trim_end().to_owned(),
                body,
            });
        }
        seen
    });
    (base, server)
}

fn attester(kind: AzureKind, tpm: &Swtpm, imds: &str) -> AzureAttester {
    let mut attester = AzureAttester::new(kind, tpm.tcti());
    attester.imds_base_url = imds.to_owned();
    attester.refresh_timeout = Duration::from_millis(600);
    attester.refresh_interval = Duration::from_millis(200);
    attester
}

/// Checks `evidence` as a verifier would, minus the hardware: HCL report as published, quote
/// signed by `ak` over `digest` and the 24 PCR values sent.
fn check_evidence(evidence: &Value, report: &[u8], ak: &(Vec<u8>, u32), digest: &[u8; 48]) {
    assert_eq!(evidence["version"], 1);
    let decoded = AzureEvidence::from_value(evidence).unwrap();
    assert_eq!(decoded.hcl_report, report);
    let quote = &decoded.tpm_quote;
    assert!(rsa_verifies(ak, &quote.message, &quote.signature));
    let attest = Attest::parse(&quote.message).unwrap();
    assert_eq!(attest.extra_data, digest);
    assert_eq!(attest.pcr_selection.len(), 1);
    assert_eq!(attest.pcr_selection[0].pcrs, (0..24).collect::<Vec<u32>>());
    assert_eq!(quote.pcrs.len(), 24);
    let mut hasher = Sha256::new();
    for value in &quote.pcrs {
        assert_eq!(value.len(), 32);
        hasher.update(value);
    }
    assert_eq!(attest.pcr_digest, hasher.finalize().to_vec());
}

#[test]
fn nv_indices_are_defined_written_in_chunks_read_and_undefined() {
    let tpm = Swtpm::start();
    let mut device = TpmDevice::open(&tpm.tcti()).unwrap();
    let index = REPORT_DATA_NV_INDEX;
    assert_eq!(device.nv_size(index).unwrap(), None);
    assert!(matches!(
        device.nv_read(index),
        Err(TpmDeviceError::NvIndexMissing(0x0140_0002))
    ));
    assert!(matches!(
        device.nv_write(index, &[1; 64]),
        Err(TpmDeviceError::NvIndexMissing(_))
    ));
    assert!(matches!(
        device.nv_undefine(index),
        Err(TpmDeviceError::NvIndexMissing(_))
    ));

    device.nv_define(index, 64).unwrap();
    assert_eq!(device.nv_size(index).unwrap(), Some(64));
    assert!(matches!(
        device.nv_read(index),
        Err(TpmDeviceError::NvIndexUnwritten(_))
    ));
    let data: Vec<u8> = (0..64).collect();
    device.nv_write(index, &data).unwrap();
    assert_eq!(device.nv_read(index).unwrap(), data);
    // A shorter write replaces the start only.
    device.nv_write(index, &[0xee; 8]).unwrap();
    let mut expected = data.clone();
    expected[..8].fill(0xee);
    assert_eq!(device.nv_read(index).unwrap(), expected);
    assert!(matches!(
        device.nv_write(index, &[0; 65]),
        Err(TpmDeviceError::NvDataTooLarge {
            size: 64,
            length: 65,
            ..
        })
    ));
    assert!(matches!(
        device.nv_write(index, &[]),
        Err(TpmDeviceError::InvalidArgument(_))
    ));
    let again = device.nv_define(index, 64).unwrap_err();
    assert!(matches!(again, TpmDeviceError::Nv { .. }), "{again}");
    device.nv_undefine(index).unwrap();
    assert_eq!(device.nv_size(index).unwrap(), None);

    // Larger than TPM_PT_NV_BUFFER_MAX (1024 on swtpm): written and read in two chunks each.
    let large: Vec<u8> = (0..2000u32).map(|i| (i * 7 % 251) as u8).collect();
    device.nv_define(HCL_REPORT_NV_INDEX, large.len()).unwrap();
    device.nv_write(HCL_REPORT_NV_INDEX, &large).unwrap();
    assert_eq!(device.nv_read(HCL_REPORT_NV_INDEX).unwrap(), large);

    for handle in [AK_PERSISTENT_HANDLE, 0, 0x4000_0001] {
        assert!(matches!(
            device.nv_read(handle),
            Err(TpmDeviceError::InvalidArgument(_))
        ));
    }
    assert!(matches!(
        device.nv_define(0x0140_0003, 0),
        Err(TpmDeviceError::InvalidArgument(_))
    ));
    // The EK certificate still reads through the shared NV code.
    assert!(device.ek_certificate().unwrap().is_some());
}

#[test]
fn a_persistent_key_quotes_and_its_ak_is_readable() {
    let tpm = Swtpm::start();
    let mut device = TpmDevice::open(&tpm.tcti()).unwrap();
    let digest = [0x42u8; 48];
    let all: Vec<u8> = (0..24).collect();
    assert!(matches!(
        device.persistent_public(AK_PERSISTENT_HANDLE),
        Err(TpmDeviceError::PersistentKeyMissing(0x8100_0003))
    ));
    assert!(matches!(
        device.quote_with_persistent_key(AK_PERSISTENT_HANDLE, &digest, &[PcrBank::Sha256], &all),
        Err(TpmDeviceError::PersistentKeyMissing(_))
    ));

    let ak = device.create_ak(AkAlgorithm::Rsa2048).unwrap();
    device.persist_ak(&ak, AK_PERSISTENT_HANDLE).unwrap();
    assert_eq!(
        device.persistent_public(AK_PERSISTENT_HANDLE).unwrap(),
        ak.public
    );
    let taken = device.persist_ak(&ak, AK_PERSISTENT_HANDLE).unwrap_err();
    assert!(matches!(taken, TpmDeviceError::Tpm { .. }), "{taken}");

    let quote = device
        .quote_with_persistent_key(AK_PERSISTENT_HANDLE, &digest, &[PcrBank::Sha256], &all)
        .unwrap();
    let attest = Attest::parse(&quote.attest).unwrap();
    assert_eq!(attest.extra_data, digest);
    let signature = warden_wire::tpm::Signature::parse(&quote.signature).unwrap();
    let warden_wire::tpm::Signature::RsaSsa { signature, .. } = signature else {
        panic!("not RSASSA");
    };
    assert!(rsa_verifies(
        &rsa_key(&ak.public),
        &quote.attest,
        &signature
    ));
    assert_eq!(quote.pcrs.len(), 1);
    assert_eq!(quote.pcrs[0].1.len(), 24);
    // The key stays; a second quote works, and quoting left no object behind (swtpm has three
    // slots, the blob AK quote loads two).
    for _ in 0..4 {
        device
            .quote_with_persistent_key(AK_PERSISTENT_HANDLE, b"", &[PcrBank::Sha256], &[0])
            .unwrap();
    }
    device.quote(&ak, b"x", &[PcrBank::Sha256], &[0]).unwrap();

    assert!(matches!(
        device.quote_with_persistent_key(HCL_REPORT_NV_INDEX, &digest, &[PcrBank::Sha256], &all),
        Err(TpmDeviceError::InvalidArgument(_))
    ));
    assert!(matches!(
        device.quote_with_persistent_key(AK_PERSISTENT_HANDLE, &[0; 65], &[PcrBank::Sha256], &all),
        Err(TpmDeviceError::InvalidArgument(_))
    ));
}

#[test]
fn azure_snp_evidence_end_to_end_on_swtpm_with_a_fake_imds() {
    let tpm = Swtpm::start();
    let digest: [u8; 48] = std::array::from_fn(|i| i as u8 + 1);
    let mut device = TpmDevice::open(&tpm.tcti()).unwrap();
    let ak = provision_ak(&mut device);
    let report = hcl_report(AzureKind::Snp, &ak, &report_data_field(&digest));
    publish(&mut device, &report);
    // A report-data index of the wrong size is replaced by a 64-byte one.
    device.nv_define(REPORT_DATA_NV_INDEX, 32).unwrap();
    drop(device);

    let thim =
        json!({"vcekCert": VCEK_PEM, "certificateChain": "", "tcbm": "0", "cacheControl": "0"});
    let (imds, server) = fake_imds(vec![thim]);
    let attester = attester(AzureKind::Snp, &tpm, &imds);
    assert_eq!(attester.tee(), "az-snp-vtpm");
    let evidence = attester.evidence(&digest).unwrap();
    check_evidence(&evidence, &report, &ak, &digest);
    assert_eq!(
        AzureEvidence::from_value(&evidence).unwrap().vcek.unwrap(),
        VCEK_DER
    );
    assert!(evidence.get("td_quote").is_none());
    let seen = server.join().unwrap();
    assert_eq!(
        seen[0].request_line,
        "GET /metadata/THIM/amd/certification HTTP/1.1"
    );

    let mut device = TpmDevice::open(&tpm.tcti()).unwrap();
    assert_eq!(
        device.nv_read(REPORT_DATA_NV_INDEX).unwrap(),
        report_data_field(&digest)
    );
    drop(device);

    // The paravisor never publishes a report for another digest: stale until the timeout.
    let started = Instant::now();
    let stale = attester.evidence(&[7; 48]).unwrap_err();
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(&stale, AttesterError::Evidence(m) if m.contains("did not publish") && m.contains("user-data")),
        "{stale}"
    );
    // The TDX attester does not take an SNP report, and does not wait for it.
    let mut tdx = attester.clone();
    tdx.kind = AzureKind::Tdx;
    tdx.refresh_timeout = Duration::from_secs(30);
    let started = Instant::now();
    let wrong = tdx.evidence(&digest).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        matches!(&wrong, AttesterError::Evidence(m) if m.contains("Snp")),
        "{wrong}"
    );

    // A report naming another AK: its quote would be refused, so none is sent.
    let mut device = TpmDevice::open(&tpm.tcti()).unwrap();
    let mut other = ak.clone();
    other.0[10] ^= 1;
    publish(
        &mut device,
        &hcl_report(AzureKind::Snp, &other, &report_data_field(&digest)),
    );
    drop(device);
    let foreign = attester.evidence(&digest).unwrap_err();
    assert!(
        matches!(&foreign, AttesterError::Evidence(m) if m.contains("HCLAkPub")),
        "{foreign}"
    );
}

#[test]
fn azure_tdx_evidence_end_to_end_on_swtpm_with_a_fake_imds() {
    let tpm = Swtpm::start();
    let digest = [0xd5u8; 48];
    let imds_unused = "http://127.0.0.1:9";

    // Not an Azure CVM: no HCL report index.
    let no_report = attester(AzureKind::Tdx, &tpm, imds_unused);
    let missing = no_report.evidence(&digest).unwrap_err();
    assert!(
        matches!(&missing, AttesterError::Unavailable(m) if m.contains("HCL report")),
        "{missing}"
    );

    let mut device = TpmDevice::open(&tpm.tcti()).unwrap();
    // The report first: without an AK the attester stops at the key.
    let ak = rsa_key(&device.create_ak(AkAlgorithm::Rsa2048).unwrap().public);
    let report = hcl_report(AzureKind::Tdx, &ak, &report_data_field(&digest));
    publish(&mut device, &report);
    drop(device);
    let no_ak = no_report.evidence(&digest).unwrap_err();
    assert!(
        matches!(&no_ak, AttesterError::Unavailable(m) if m.contains("0x81000003")),
        "{no_ak}"
    );

    let mut device = TpmDevice::open(&tpm.tcti()).unwrap();
    let ak = provision_ak(&mut device);
    let report = hcl_report(AzureKind::Tdx, &ak, &report_data_field(&digest));
    publish(&mut device, &report);
    drop(device);
    let td_report = &report[32..32 + 1024];
    let td_report_data: [u8; 64] = td_report[TD_REPORT_DATA_OFFSET..TD_REPORT_DATA_OFFSET + 64]
        .try_into()
        .unwrap();
    let td_quote = unsigned_quote(4, TdBody::Td10, &td_report_data, b"pck chain");
    let (imds, server) = fake_imds(vec![json!({"quote": URL_SAFE_NO_PAD.encode(&td_quote)})]);
    let attester = attester(AzureKind::Tdx, &tpm, &imds);
    let evidence = attester.evidence(&digest).unwrap();
    check_evidence(&evidence, &report, &ak, &digest);
    assert_eq!(evidence["td_quote"], URL_SAFE.encode(&td_quote));
    assert!(evidence.get("vcek").is_none());
    let seen = server.join().unwrap();
    assert_eq!(seen[0].request_line, "POST /acc/tdquote HTTP/1.1");
    let request: Value = serde_json::from_slice(&seen[0].body).unwrap();
    assert_eq!(
        URL_SAFE_NO_PAD
            .decode(request["report"].as_str().unwrap())
            .unwrap(),
        td_report
    );
}
