//! A synthetic Intel-shaped PKI around a real quote, for checks no real vector can reach (a PCK
//! revoked by its CA's CRL): every key is generated here, so results are only trusted by a
//! verifier explicitly configured with this root (which marks them insecure).
//!
//! The TD report, QE report, PCK SGX extensions, TCB info and QE identity are the real ones from
//! `dcap-qvl-tdx`; only the keys, certificates, signatures and CRLs are replaced.

use std::path::Path;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CertifiedIssuer,
    CustomExtension, DnType, IsCa, KeyIdMethod, KeyPair, PKCS_ECDSA_P256_SHA256, RevokedCertParams,
    SerialNumber,
};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use warden_wire::tdx::Quote;
use x509_parser::prelude::{FromDer, X509Certificate};

pub(crate) const SIM_PCK_SERIAL: u64 = 0x77;

pub(crate) struct SimTdx {
    pub root_der: Vec<u8>,
    pub quote: Vec<u8>,
    /// Collateral files' contents: TCB info and QE identity responses, TCB signing chain, CRLs.
    pub collateral: Vec<Vec<u8>>,
}

fn date(text: &str) -> OffsetDateTime {
    OffsetDateTime::parse(text, &Rfc3339).unwrap()
}

fn key() -> (EcdsaKeyPair, KeyPair) {
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .unwrap();
    let signing =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
    let rcgen_key = KeyPair::try_from(pkcs8.as_ref()).unwrap();
    assert_eq!(rcgen_key.algorithm(), &PKCS_ECDSA_P256_SHA256);
    (signing, rcgen_key)
}

fn sign(key: &EcdsaKeyPair, message: &[u8]) -> Vec<u8> {
    key.sign(&SystemRandom::new(), message)
        .unwrap()
        .as_ref()
        .to_vec()
}

fn params(common_name: &str, serial: u64, ca: bool) -> CertificateParams {
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.serial_number = Some(SerialNumber::from(serial));
    params.not_before = date("2020-01-01T00:00:00Z");
    params.not_after = date("2040-01-01T00:00:00Z");
    if ca {
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    }
    params
}

fn crl(issuer: &CertifiedIssuer<'_, KeyPair>, revoked: &[u64]) -> Vec<u8> {
    CertificateRevocationListParams {
        this_update: date("2025-06-01T00:00:00Z"),
        next_update: date("2025-08-01T00:00:00Z"),
        crl_number: SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: revoked
            .iter()
            .map(|serial| RevokedCertParams {
                serial_number: SerialNumber::from(*serial),
                revocation_time: date("2025-06-01T00:00:00Z"),
                reason_code: None,
                invalidity_date: None,
            })
            .collect(),
        key_identifier_method: KeyIdMethod::Sha256,
    }
    .signed_by(issuer)
    .unwrap()
    .der()
    .to_vec()
}

/// Re-signs the real `dcap-qvl-tdx` quote and collateral under a fresh PKI; the PCK CRL revokes
/// the PCK when `revoke_pck`. Valid at 2025-07-01.
pub(crate) fn build(tdx_vectors: &Path, revoke_pck: bool) -> SimTdx {
    let dir = tdx_vectors.join("dcap-qvl-tdx");
    let real_quote = std::fs::read(dir.join("tdx_quote.bin")).unwrap();
    let quote = Quote::parse(&real_quote).unwrap();
    let bundle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("collateral.json")).unwrap()).unwrap();

    let real_pck_der = &x509_parser::pem::Pem::iter_from_buffer(quote.signature().pck_chain)
        .next()
        .unwrap()
        .unwrap()
        .contents;
    let (_, real_pck) = X509Certificate::from_der(real_pck_der).unwrap();
    let sgx = real_pck
        .extensions()
        .iter()
        .find(|ext| ext.oid.to_id_string() == "1.2.840.113741.1.13.1")
        .unwrap();

    let (_, root_key) = key();
    let root = CertifiedIssuer::self_signed(params("Sim SGX Root CA", 1, true), root_key).unwrap();
    let (_, pca_key) = key();
    let pca =
        CertifiedIssuer::signed_by(params("Sim SGX PCK Platform CA", 2, true), pca_key, &root)
            .unwrap();
    let (tcb_signing, tcb_key) = key();
    let tcb_cert = params("Sim SGX TCB Signing", 3, false)
        .signed_by(&tcb_key, &root)
        .unwrap();
    let (pck_signing, pck_key) = key();
    let mut pck_params = params("Sim SGX PCK Certificate", SIM_PCK_SERIAL, false);
    pck_params.custom_extensions = vec![CustomExtension::from_oid_content(
        &[1, 2, 840, 113741, 1, 13, 1],
        sgx.value.to_vec(),
    )];
    let pck = pck_params.signed_by(&pck_key, &pca).unwrap();
    let (attestation, _) = key();

    let attestation_key = &attestation.public_key().as_ref()[1..];
    let signature = quote.signature();
    let mut qe_report = signature.qe_report.bytes().to_vec();
    let mut hasher = Sha256::new();
    hasher.update(attestation_key);
    hasher.update(signature.qe_auth_data);
    qe_report[320..352].copy_from_slice(&hasher.finalize());
    qe_report[352..384].fill(0);
    let chain = format!("{}{}{}", pck.pem(), pca.pem(), root.pem());

    let mut inner = qe_report.clone();
    inner.extend(sign(&pck_signing, &qe_report));
    inner.extend((signature.qe_auth_data.len() as u16).to_le_bytes());
    inner.extend(signature.qe_auth_data);
    inner.extend(5u16.to_le_bytes());
    inner.extend((chain.len() as u32).to_le_bytes());
    inner.extend(chain.as_bytes());
    let mut signature_data = sign(&attestation, quote.signed_bytes());
    signature_data.extend(attestation_key);
    signature_data.extend(6u16.to_le_bytes());
    signature_data.extend((inner.len() as u32).to_le_bytes());
    signature_data.extend(inner);
    let mut sim_quote = quote.signed_bytes().to_vec();
    sim_quote.extend((signature_data.len() as u32).to_le_bytes());
    sim_quote.extend(signature_data);

    let response = |field: &str, body: &str| {
        format!(
            "{{\"{field}\":{body},\"signature\":\"{}\"}}",
            hex::encode(sign(&tcb_signing, body.as_bytes()))
        )
        .into_bytes()
    };
    let revoked = if revoke_pck {
        vec![SIM_PCK_SERIAL]
    } else {
        vec![]
    };
    SimTdx {
        root_der: root.der().to_vec(),
        quote: sim_quote,
        collateral: vec![
            response("tcbInfo", bundle["tcb_info"].as_str().unwrap()),
            response("enclaveIdentity", bundle["qe_identity"].as_str().unwrap()),
            format!("{}{}", tcb_cert.pem(), root.pem()).into_bytes(),
            crl(&root, &[]),
            crl(&pca, &revoked),
        ],
    }
}
