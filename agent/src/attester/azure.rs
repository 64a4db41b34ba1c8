//! Azure confidential VMs (`az-snp-vtpm`, `az-tdx-vtpm`): the paravisor's (HCL's) report of the
//! hardware, and a quote by the vTPM whose attestation key that report names, sent in the
//! version-1 evidence JSON of CoCo's Azure attesters (read by [`warden_wire::azure`] and
//! verified by the verifier's `tee::azure`).
//!
//! What [`AzureAttester::evidence`] does, for the 48-byte runtime-data digest D:
//!
//! 1. Writes D followed by 16 zeros (the 64-byte report-data field) to vTPM NV index
//!    [`REPORT_DATA_NV_INDEX`] (0x01400002), defining it first (64 bytes, owner read/write) when
//!    it is missing or of another size, with owner authorisation — as Microsoft's `az-cvm-vtpm`
//!    crate and `snpguest --openhcl` do. The paravisor notices the write, puts the data, hex
//!    encoded, in the runtime claims' `user-data`, asks the hardware for a report whose report
//!    data is SHA-256(runtime claims) followed by 32 zeros, and publishes the HCL report in NV
//!    index [`HCL_REPORT_NV_INDEX`] (0x01400001).
//! 2. Reads the HCL report (owner authorisation) until it is the fresh one: it parses, holds the
//!    hardware report of the expected kind, its `user-data` is the field written, and the
//!    hardware report data binds the runtime claims (which also catches a report read while the
//!    paravisor rewrote it). `az-cvm-vtpm` sleeps a fixed 3 s after the write "to avoid
//!    retrieving a stale report"; `snpguest` reads at once. Reading again every
//!    [`AzureAttester::refresh_interval`] until [`AzureAttester::refresh_timeout`] (10 s by
//!    default) is as fast as the paravisor allows and tells a stale report from a fresh one.
//! 3. Checks that the key at persistent handle [`AK_PERSISTENT_HANDLE`] (0x81000003) is the
//!    runtime claims' `HCLAkPub`, then quotes all 24 SHA-256 PCRs with it, D as qualifying data
//!    (RSASSA/SHA-256, the key's scheme).
//! 4. SEV-SNP: fetches the VCEK from the IMDS THIM endpoint (`GET
//!    {imds}/metadata/THIM/amd/certification` with `Metadata: true`; JSON `{"vcekCert": PEM,
//!    "certificateChain": PEM, "tcbm", "cacheControl"}`). TDX: has IMDS turn the TDREPORT (the
//!    first 1024 bytes of the hardware report area) into a TD quote (`POST {imds}/acc/tdquote`,
//!    JSON `{"report": base64url}`, answer `{"quote": base64url}`) and checks the quote carries
//!    the TDREPORT's report data.
//! 5. Builds the evidence with [`evidence_json`], the one place its format is written.
//!
//! The IMDS is plain HTTP on a link-local address; requests bypass any configured proxy.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use warden_wire::azure::{HardwareReport, HclReport, RuntimeClaims, TD_REPORT_LEN};
use warden_wire::tpm::{Attest, HashAlg, KeyMaterial, PublicKey, Signature};

use super::tpm_device::{PCR_COUNT, PcrBank, Quote, TpmDevice, TpmDeviceError};
use super::{Attester, AttesterError, report_data_field};
use crate::error::error_chain;

/// Where the paravisor publishes the HCL report.
pub const HCL_REPORT_NV_INDEX: u32 = 0x0140_0001;
/// Where the guest writes the 64 bytes the next HCL report is to carry as `user-data`.
pub const REPORT_DATA_NV_INDEX: u32 = 0x0140_0002;
/// The size of [`REPORT_DATA_NV_INDEX`].
pub const REPORT_DATA_LEN: usize = 64;
/// The vTPM attestation key (the runtime claims' `HCLAkPub`).
pub const AK_PERSISTENT_HANDLE: u32 = 0x8100_0003;
/// Azure's Instance Metadata Service.
pub const DEFAULT_IMDS_BASE_URL: &str = "http://169.254.169.254";
/// IMDS path of the VCEK (Trusted Hardware Identity Management).
pub const THIM_CERTIFICATION_PATH: &str = "/metadata/THIM/amd/certification";
/// IMDS path that turns a TDREPORT into a TD quote.
pub const TD_QUOTE_PATH: &str = "/acc/tdquote";
/// Default [`AzureAttester::refresh_timeout`]: 10 s.
pub const DEFAULT_REFRESH_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`AzureAttester::refresh_interval`]: 250 ms.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_millis(250);
/// Default [`AzureAttester::imds_timeout`]: 30 s.
pub const DEFAULT_IMDS_TIMEOUT: Duration = Duration::from_secs(30);
/// Evidence format version written (CoCo's `EVIDENCE_VERSION`).
pub const EVIDENCE_VERSION: u32 = 1;
/// SHA-256 digest size: PCR values and the runtime-claims hash.
const SHA256_LEN: usize = 32;
/// REPORTDATA within a TDREPORT (after REPORTMACSTRUCT's type, reserved, CPUSVN and the TEE
/// TCB-info and TEE-info hashes).
const TD_REPORT_DATA_OFFSET: usize = 128;
/// IMDS answers are a few KiB (a VCEK and its chain; a TD quote).
const MAX_IMDS_ANSWER: usize = 256 * 1024;

/// One process writes the report-data index at a time: a concurrent write would make the report
/// read stale for the other caller.
static REPORT_LOCK: Mutex<()> = Mutex::new(());

/// Which hardware the Azure CVM runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AzureKind {
    /// AMD SEV-SNP (`az-snp-vtpm`).
    Snp,
    /// Intel TDX (`az-tdx-vtpm`).
    Tdx,
}

impl AzureKind {
    /// The protocol's `tee` name.
    pub fn tee(self) -> &'static str {
        match self {
            AzureKind::Snp => "az-snp-vtpm",
            AzureKind::Tdx => "az-tdx-vtpm",
        }
    }

    /// The kind for a protocol `tee` name.
    pub fn from_tee(name: &str) -> Option<Self> {
        match name {
            "az-snp-vtpm" => Some(AzureKind::Snp),
            "az-tdx-vtpm" => Some(AzureKind::Tdx),
            _ => None,
        }
    }

    fn hardware(self) -> HardwareReport {
        match self {
            AzureKind::Snp => HardwareReport::Snp,
            AzureKind::Tdx => HardwareReport::Tdx,
        }
    }

    /// Where the report data lies in the hardware report area.
    fn report_data_offset(self) -> usize {
        match self {
            AzureKind::Snp => warden_wire::snp::offset::REPORT_DATA,
            AzureKind::Tdx => TD_REPORT_DATA_OFFSET,
        }
    }
}

/// The Azure vTPM attester. Build with [`AzureAttester::new`] and adjust the public fields.
#[derive(Debug, Clone)]
pub struct AzureAttester {
    /// The CVM's hardware: selects the `tee` name, the hardware report expected in the HCL report
    /// and the IMDS step (VCEK or TD quote).
    pub kind: AzureKind,
    /// The vTPM's tpm2-tss TCTI, normally [`super::tpm::DEFAULT_TCTI`].
    pub tcti: String,
    /// `http://` base URL of the IMDS, [`DEFAULT_IMDS_BASE_URL`] on Azure.
    pub imds_base_url: String,
    /// How long to wait for the paravisor to publish the report for the data written.
    pub refresh_timeout: Duration,
    /// Pause between reads of a stale report.
    pub refresh_interval: Duration,
    /// Whole-request timeout of an IMDS call.
    pub imds_timeout: Duration,
}

impl AzureAttester {
    /// The attester for `kind` on the vTPM at `tcti`, with the Azure IMDS and default timings.
    pub fn new(kind: AzureKind, tcti: impl Into<String>) -> Self {
        Self {
            kind,
            tcti: tcti.into(),
            imds_base_url: DEFAULT_IMDS_BASE_URL.to_owned(),
            refresh_timeout: DEFAULT_REFRESH_TIMEOUT,
            refresh_interval: DEFAULT_REFRESH_INTERVAL,
            imds_timeout: DEFAULT_IMDS_TIMEOUT,
        }
    }

    /// Steps 1 to 3 of the module documentation: the fresh HCL report (bytes and parsed) and
    /// the vTPM quote of `digest`.
    fn report_and_quote(
        &self,
        digest: &[u8; 48],
    ) -> Result<(Vec<u8>, HclReport, AzureQuote), AttesterError> {
        let report_data = report_data_field(digest);
        let _serialised = REPORT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let mut device =
            TpmDevice::open(&self.tcti).map_err(|e| AttesterError::Unavailable(e.to_string()))?;
        write_report_data(&mut device, &report_data)?;
        let (bytes, report, claims) = self.read_fresh_report(&mut device, &report_data)?;
        check_ak(&mut device, &claims)?;
        let all_pcrs: Vec<u8> = (0..PCR_COUNT).collect();
        let quote = device
            .quote_with_persistent_key(AK_PERSISTENT_HANDLE, digest, &[PcrBank::Sha256], &all_pcrs)
            .map_err(device_error)?;
        Ok((bytes, report, AzureQuote::from_tpm_quote(&quote)?))
    }

    /// Reads the HCL report until [`check_hcl_report`] finds it fresh or the refresh timeout
    /// passes.
    fn read_fresh_report(
        &self,
        device: &mut TpmDevice,
        report_data: &[u8; REPORT_DATA_LEN],
    ) -> Result<(Vec<u8>, HclReport, RuntimeClaims), AttesterError> {
        let deadline = Instant::now() + self.refresh_timeout;
        loop {
            let bytes = device.nv_read(HCL_REPORT_NV_INDEX).map_err(|e| match e {
                TpmDeviceError::NvIndexMissing(_) => AttesterError::Unavailable(format!(
                    "the vTPM has no HCL report (NV index {HCL_REPORT_NV_INDEX:#010x}): not an Azure confidential VM"
                )),
                other => device_error(other),
            })?;
            match check_hcl_report(&bytes, self.kind, report_data) {
                Ok((report, claims)) => return Ok((bytes, report, claims)),
                Err(HclReportProblem::Wrong(reason)) => {
                    return Err(AttesterError::Evidence(reason));
                }
                Err(HclReportProblem::Stale(reason)) => {
                    if Instant::now() + self.refresh_interval > deadline {
                        return Err(AttesterError::Evidence(format!(
                            "the paravisor did not publish an HCL report for the report data \
                             written within {:?}: {reason}",
                            self.refresh_timeout
                        )));
                    }
                    std::thread::sleep(self.refresh_interval);
                }
            }
        }
    }

    /// The VCEK (DER) from the IMDS THIM endpoint.
    pub fn fetch_vcek(&self) -> Result<Vec<u8>, AttesterError> {
        let answer = imds_call(&self.imds_base_url, self.imds_timeout, ImdsCall::Vcek)?;
        let pem = answer["vcekCert"].as_str().ok_or_else(|| {
            AttesterError::Evidence("the IMDS THIM answer has no vcekCert text".into())
        })?;
        let der = rustls_pemfile::certs(&mut pem.as_bytes())
            .next()
            .and_then(Result::ok)
            .ok_or_else(|| {
                AttesterError::Evidence(
                    "the IMDS THIM answer's vcekCert holds no PEM certificate".into(),
                )
            })?;
        Ok(der.to_vec())
    }

    /// The TD quote IMDS makes of `td_report` (1024 bytes), checked to carry its report data.
    pub fn fetch_td_quote(&self, td_report: &[u8]) -> Result<Vec<u8>, AttesterError> {
        if td_report.len() != TD_REPORT_LEN {
            return Err(AttesterError::Evidence(format!(
                "a TDREPORT is {TD_REPORT_LEN} bytes, not {}",
                td_report.len()
            )));
        }
        let answer = imds_call(
            &self.imds_base_url,
            self.imds_timeout,
            ImdsCall::TdQuote(td_report),
        )?;
        let quote = answer["quote"]
            .as_str()
            .and_then(|text| warden_wire::azure::decode_base64(text).ok())
            .ok_or_else(|| {
                AttesterError::Evidence("the IMDS TD quote answer has no base64 quote".into())
            })?;
        check_td_quote(&quote, td_report)?;
        Ok(quote)
    }
}

impl Attester for AzureAttester {
    fn tee(&self) -> &'static str {
        self.kind.tee()
    }

    fn insecure_reason(&self) -> Option<&'static str> {
        None
    }

    fn evidence(&self, report_data: &[u8; 48]) -> Result<Value, AttesterError> {
        let (hcl_report, report, quote) = self.report_and_quote(report_data)?;
        match self.kind {
            AzureKind::Snp => {
                let vcek = self.fetch_vcek()?;
                Ok(evidence_json(&hcl_report, &quote, Some(&vcek), None))
            }
            AzureKind::Tdx => {
                let td_quote = self.fetch_td_quote(&report.hw_report[..TD_REPORT_LEN])?;
                Ok(evidence_json(&hcl_report, &quote, None, Some(&td_quote)))
            }
        }
    }
}

/// The vTPM quote as the evidence carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzureQuote {
    /// Marshalled `TPMS_ATTEST`: the signed bytes.
    pub message: Vec<u8>,
    /// The bare RSASSA-PKCS1-v1_5 (SHA-256) signature.
    pub signature: Vec<u8>,
    /// SHA-256 PCRs 0 to 23.
    pub pcrs: [[u8; SHA256_LEN]; PCR_COUNT as usize],
}

impl AzureQuote {
    /// Takes the device's quote apart: the signature must be an RSASSA/SHA-256
    /// `TPMT_SIGNATURE` (the Azure AK's scheme, all the verifier accepts here), the message a
    /// quote, and the PCR values exactly SHA-256 PCRs 0 to 23 in order.
    pub fn from_tpm_quote(quote: &Quote) -> Result<Self, AttesterError> {
        let malformed = |what: String| AttesterError::Evidence(format!("vTPM quote: {what}"));
        Attest::parse(&quote.attest).map_err(|e| malformed(format!("message: {e}")))?;
        let signature = match Signature::parse(&quote.signature)
            .map_err(|e| malformed(format!("signature: {e}")))?
        {
            Signature::RsaSsa {
                hash: HashAlg::Sha256,
                signature,
            } => signature,
            other => {
                return Err(malformed(format!(
                    "signature is {}/{}, not RSASSA/SHA-256",
                    other.scheme(),
                    other.hash().name()
                )));
            }
        };
        let [(PcrBank::Sha256, values)] = quote.pcrs.as_slice() else {
            return Err(malformed(
                "PCR values are not exactly the SHA-256 bank".into(),
            ));
        };
        if values.len() != usize::from(PCR_COUNT) {
            return Err(malformed(format!(
                "{} SHA-256 PCR values, not {PCR_COUNT}",
                values.len()
            )));
        }
        let mut pcrs = [[0u8; SHA256_LEN]; PCR_COUNT as usize];
        for (expected, ((index, value), slot)) in values.iter().zip(pcrs.iter_mut()).enumerate() {
            if usize::from(*index) != expected {
                return Err(malformed(format!(
                    "PCR {index} where PCR {expected} belongs"
                )));
            }
            *slot = value
                .as_slice()
                .try_into()
                .map_err(|_| malformed(format!("PCR {index} is {} bytes, not 32", value.len())))?;
        }
        Ok(AzureQuote {
            message: quote.attest.clone(),
            signature,
            pcrs,
        })
    }
}

/// CoCo's version-1 Azure evidence: `{"version": 1, "hcl_report": base64url, "tpm_quote":
/// {"signature": hex, "message": hex, "pcrs": [hex; 24]}}` plus `"vcek": base64url DER` (SNP)
/// or `"td_quote": base64url` (TDX). Base64 is URL-safe and padded, as CoCo's serde writes it.
pub fn evidence_json(
    hcl_report: &[u8],
    quote: &AzureQuote,
    vcek_der: Option<&[u8]>,
    td_quote: Option<&[u8]>,
) -> Value {
    let mut evidence = json!({
        "version": EVIDENCE_VERSION,
        "hcl_report": URL_SAFE.encode(hcl_report),
        "tpm_quote": {
            "signature": hex::encode(&quote.signature),
            "message": hex::encode(&quote.message),
            "pcrs": quote.pcrs.iter().map(hex::encode).collect::<Vec<_>>(),
        },
    });
    if let Some(vcek) = vcek_der {
        evidence["vcek"] = Value::String(URL_SAFE.encode(vcek));
    }
    if let Some(td_quote) = td_quote {
        evidence["td_quote"] = Value::String(URL_SAFE.encode(td_quote));
    }
    evidence
}

/// Why an HCL report read is not the one wanted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HclReportProblem {
    /// Not (yet) the report for the data written, or read while being rewritten: read again.
    Stale(String),
    /// Never going to be: the report holds the other kind of hardware report.
    Wrong(String),
}

/// Checks an HCL report read after `report_data` was written: it parses, holds a hardware report
/// of `kind` whose report data is SHA-256(runtime claims) followed by zeros, and its runtime
/// claims parse and carry `report_data` as `user-data` (hex, either case).
pub fn check_hcl_report(
    bytes: &[u8],
    kind: AzureKind,
    report_data: &[u8; REPORT_DATA_LEN],
) -> Result<(HclReport, RuntimeClaims), HclReportProblem> {
    let stale = |reason: String| HclReportProblem::Stale(reason);
    let report = HclReport::parse(bytes).map_err(|e| stale(e.to_string()))?;
    if report.kind != kind.hardware() {
        return Err(HclReportProblem::Wrong(format!(
            "the HCL report holds a {:?} report, but this attester is {}",
            report.kind,
            kind.tee()
        )));
    }
    let claims = RuntimeClaims::parse(&report.runtime_claims).map_err(|e| stale(e.to_string()))?;
    if !binds_runtime_claims(&report, kind) {
        return Err(stale(
            "the hardware report data is not SHA-256(runtime claims): report read while being rewritten?"
                .into(),
        ));
    }
    let user_data = claims
        .user_data
        .as_deref()
        .ok_or_else(|| stale("the runtime claims have no user-data".into()))?;
    if hex::decode(user_data).ok().as_deref() != Some(report_data.as_slice()) {
        return Err(stale(format!(
            "its user-data is {user_data}, not the {} written",
            hex::encode_upper(report_data)
        )));
    }
    Ok((report, claims))
}

/// Whether the hardware report's report data is SHA-256(runtime claims) followed by 32 zeros.
fn binds_runtime_claims(report: &HclReport, kind: AzureKind) -> bool {
    let offset = kind.report_data_offset();
    let Some(field) = report.hw_report.get(offset..offset + REPORT_DATA_LEN) else {
        return false;
    };
    let (hash, zeros) = field.split_at(SHA256_LEN);
    *hash == Sha256::digest(&report.runtime_claims)[..] && zeros.iter().all(|&b| b == 0)
}

/// A TD quote for `td_report` carries its report data (the quote's body is the TDREPORT's
/// TDINFO).
fn check_td_quote(quote: &[u8], td_report: &[u8]) -> Result<(), AttesterError> {
    let parsed = warden_wire::tdx::Quote::parse(quote)
        .map_err(|e| AttesterError::Evidence(format!("the TD quote from IMDS: {e}")))?;
    let wanted = td_report.get(TD_REPORT_DATA_OFFSET..TD_REPORT_DATA_OFFSET + REPORT_DATA_LEN);
    if Some(parsed.body().report_data()) != wanted {
        return Err(AttesterError::Evidence(
            "the TD quote from IMDS does not carry the TDREPORT's report data".into(),
        ));
    }
    Ok(())
}

/// Step 1: makes sure the report-data index is a 64-byte index and writes the field to it.
fn write_report_data(
    device: &mut TpmDevice,
    report_data: &[u8; REPORT_DATA_LEN],
) -> Result<(), AttesterError> {
    match device.nv_size(REPORT_DATA_NV_INDEX).map_err(device_error)? {
        Some(REPORT_DATA_LEN) => {}
        Some(_) => {
            device
                .nv_undefine(REPORT_DATA_NV_INDEX)
                .map_err(device_error)?;
            device
                .nv_define(REPORT_DATA_NV_INDEX, REPORT_DATA_LEN)
                .map_err(device_error)?;
        }
        None => device
            .nv_define(REPORT_DATA_NV_INDEX, REPORT_DATA_LEN)
            .map_err(device_error)?,
    }
    device
        .nv_write(REPORT_DATA_NV_INDEX, report_data)
        .map_err(device_error)
}

/// The quoting key must be the AK the runtime claims name, or the verifier refuses the quote.
fn check_ak(device: &mut TpmDevice, claims: &RuntimeClaims) -> Result<(), AttesterError> {
    let public = device
        .persistent_public(AK_PERSISTENT_HANDLE)
        .map_err(|e| match e {
            TpmDeviceError::PersistentKeyMissing(_) => AttesterError::Unavailable(format!(
                "the vTPM has no attestation key at {AK_PERSISTENT_HANDLE:#010x}"
            )),
            other => device_error(other),
        })?;
    let key = PublicKey::parse(&public).map_err(|e| {
        AttesterError::Evidence(format!(
            "the key at {AK_PERSISTENT_HANDLE:#010x} is unreadable: {e}"
        ))
    })?;
    if !same_key(&key.key, &claims.ak) {
        return Err(AttesterError::Evidence(format!(
            "the key at {AK_PERSISTENT_HANDLE:#010x} is not the HCL report's HCLAkPub: a verifier would refuse its quote"
        )));
    }
    Ok(())
}

/// Key equality up to encoding: leading zero bytes of an RSA modulus, exponent 0 for 65537.
fn same_key(a: &KeyMaterial, b: &KeyMaterial) -> bool {
    fn rsa(key: &KeyMaterial) -> Option<(&[u8], u32)> {
        let KeyMaterial::Rsa { modulus, exponent } = key else {
            return None;
        };
        let start = modulus
            .iter()
            .position(|&b| b != 0)
            .unwrap_or(modulus.len());
        let exponent = if *exponent == 0 { 65_537 } else { *exponent };
        Some((&modulus[start..], exponent))
    }
    match (rsa(a), rsa(b)) {
        (Some(a), Some(b)) => a == b,
        _ => a == b,
    }
}

fn device_error(error: TpmDeviceError) -> AttesterError {
    match error {
        TpmDeviceError::Open { .. } => AttesterError::Unavailable(error.to_string()),
        other => AttesterError::Evidence(other.to_string()),
    }
}

/// The two IMDS calls.
#[derive(Debug, Clone, Copy)]
enum ImdsCall<'a> {
    Vcek,
    TdQuote(&'a [u8]),
}

/// Makes `call` and returns its JSON answer. Runs on a thread of its own with a current-thread
/// runtime, so it may be called from anywhere (also from inside an async runtime).
fn imds_call(
    base_url: &str,
    timeout: Duration,
    call: ImdsCall<'_>,
) -> Result<Value, AttesterError> {
    let base = base_url.trim_end_matches('/');
    if !base.starts_with("http://") {
        return Err(AttesterError::Unavailable(format!(
            "IMDS base URL {base:?} is not an http:// URL (the IMDS serves plain HTTP)"
        )));
    }
    let url = match call {
        ImdsCall::Vcek => format!("{base}{THIM_CERTIFICATION_PATH}"),
        ImdsCall::TdQuote(_) => format!("{base}{TD_QUOTE_PATH}"),
    };
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| AttesterError::Evidence(format!("IMDS client runtime: {e}")))?;
                runtime.block_on(imds_request(&url, timeout, call))
            })
            .join()
            .unwrap_or_else(|_| {
                Err(AttesterError::Evidence(
                    "the IMDS request thread panicked".into(),
                ))
            })
    })
}

async fn imds_request(
    url: &str,
    timeout: Duration,
    call: ImdsCall<'_>,
) -> Result<Value, AttesterError> {
    let unavailable = |what: String| AttesterError::Unavailable(format!("IMDS {url}: {what}"));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    // Plain HTTP never handshakes; reqwest still needs a TLS backend configured.
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| AttesterError::Evidence(format!("IMDS client TLS: {e}")))?
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        // The IMDS refuses proxied requests, and a proxy must not see them.
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .user_agent(concat!("warden-agent/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| AttesterError::Evidence(format!("IMDS client: {}", error_chain(&e))))?;
    let request = match call {
        ImdsCall::Vcek => client.get(url).header("Metadata", "true"),
        ImdsCall::TdQuote(td_report) => client
            .post(url)
            .json(&json!({ "report": URL_SAFE_NO_PAD.encode(td_report) })),
    };
    let mut response = request
        .send()
        .await
        .map_err(|e| unavailable(error_chain(&e)))?;
    let status = response.status();
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| unavailable(error_chain(&e)))?
    {
        if body.len() + chunk.len() > MAX_IMDS_ANSWER {
            return Err(AttesterError::Evidence(format!(
                "IMDS {url}: answer larger than {MAX_IMDS_ANSWER} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        let text: String = String::from_utf8_lossy(&body)
            .chars()
            .take(200)
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        return Err(unavailable(format!("HTTP {status}: {text}")));
    }
    serde_json::from_slice(&body)
        .map_err(|e| AttesterError::Evidence(format!("IMDS {url}: answer is not JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};
    use std::net::TcpListener;
    use std::path::Path;
    use std::sync::Arc;

    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;
    use warden_test_support::vectors;
    use warden_verifier::collateral::CollateralSet;
    use warden_verifier::tee::azure::AzureVtpmVerifier;
    use warden_verifier::tee::snp::SnpVerifier;
    use warden_verifier::tee::snp::certs::{AmdRoots, Endorsements};
    use warden_verifier::tee::tdx::TdxVerifier;
    use warden_verifier::tee::tdx::collateral::TdxEndorsements;
    use warden_verifier::tee::{ExpectedBinding, Verifier};
    use warden_wire::azure::AzureEvidence;
    use warden_wire::tdx::{TdBody, unsigned_quote};

    use super::*;

    /// When the SNP sets' VCEKs and chains are valid (the verifier's own tests use it too).
    const SNP_AT: &str = "2026-11-01T00:00:00Z";
    /// Inside the Azure TDX set's Intel collateral window (MANIFEST §4).
    const TDX_AT: &str = "2025-03-01T00:00:00Z";
    const MILAN_V2_NONCE: &str = "982F5C6E45DF0ED3F10B6F60B02F0C8390E281300F3805E2279C16168CD6AE9AA398F647CAA2338748CD0FD9F5F819EF";
    const GENOA_NONCE: &str = "0218488bae25d2509232bf676f1a66a30d7372add909109b36016ef136f2938ca05475f8b46094de6b64270ea35d950f";

    fn at(text: &str) -> OffsetDateTime {
        OffsetDateTime::parse(text, &Rfc3339).unwrap()
    }

    fn read(path: &Path) -> Vec<u8> {
        std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn binding(report_data: &[u8]) -> ExpectedBinding {
        ExpectedBinding {
            report_data: Some(report_data.to_vec()),
            init_data_digest: None,
        }
    }

    fn pcrs(values: impl IntoIterator<Item = Vec<u8>>) -> [[u8; 32]; 24] {
        let values: Vec<[u8; 32]> = values
            .into_iter()
            .map(|value| value.try_into().unwrap())
            .collect();
        values.try_into().unwrap()
    }

    /// `derived/tpm_quote.{msg,sig}` and `pcrs_sha256.txt` ("index hex" lines).
    fn derived_quote(dir: &Path) -> AzureQuote {
        let derived = dir.join("derived");
        let text = String::from_utf8(read(&derived.join("pcrs_sha256.txt"))).unwrap();
        let values = text.lines().enumerate().map(|(index, line)| {
            let (number, value) = line.split_once(' ').unwrap();
            assert_eq!(number, index.to_string());
            hex::decode(value.trim()).unwrap()
        });
        AzureQuote {
            message: read(&derived.join("tpm_quote.msg")),
            signature: read(&derived.join("tpm_quote.sig")),
            pcrs: pcrs(values),
        }
    }

    /// A `{"signature","message","pcrs"}` hex quote file.
    fn quote_file(path: &Path) -> AzureQuote {
        let json: Value = serde_json::from_slice(&read(path)).unwrap();
        let field = |name: &str| hex::decode(json[name].as_str().unwrap()).unwrap();
        AzureQuote {
            message: field("message"),
            signature: field("signature"),
            pcrs: pcrs(
                json["pcrs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|value| hex::decode(value.as_str().unwrap()).unwrap()),
            ),
        }
    }

    fn evidence_file(path: &Path) -> AzureEvidence {
        AzureEvidence::from_json_bytes(&read(path)).unwrap()
    }

    fn snp_verifier(chain: &Path) -> AzureVtpmVerifier {
        let mut endorsements = Endorsements::default();
        endorsements.add_file(chain).unwrap();
        AzureVtpmVerifier::snp(Arc::new(SnpVerifier::new(AmdRoots::pinned(), endorsements)))
    }

    fn failed(
        verifier: &AzureVtpmVerifier,
        evidence: &Value,
        nonce: &[u8],
        when: &str,
    ) -> Vec<&'static str> {
        verifier
            .examine(evidence, &binding(nonce), at(when))
            .failed_checks()
            .iter()
            .map(|check| check.name)
            .collect()
    }

    /// What the verifier reads back from `built` is exactly what went in.
    fn assert_round_trip(
        built: &Value,
        hcl: &[u8],
        quote: &AzureQuote,
        vcek: Option<&[u8]>,
        td_quote: Option<&[u8]>,
    ) {
        let decoded = AzureEvidence::from_value(built).unwrap();
        assert_eq!(decoded.hcl_report, hcl);
        assert_eq!(decoded.tpm_quote.message, quote.message);
        assert_eq!(decoded.tpm_quote.signature, quote.signature);
        assert_eq!(
            decoded.tpm_quote.pcrs,
            quote.pcrs.map(|pcr| pcr.to_vec()).to_vec()
        );
        assert_eq!(decoded.vcek.as_deref(), vcek);
        assert_eq!(decoded.td_quote.as_deref(), td_quote);
    }

    #[test]
    fn snp_vector_sets_built_by_evidence_json_verify_with_their_nonce_only() {
        let root = vectors::tee("az-snp-vtpm");
        let challenge = b"challenge".to_vec();
        let milan_v2_nonce = hex::decode(MILAN_V2_NONCE).unwrap();
        let genoa_nonce = hex::decode(GENOA_NONCE).unwrap();
        // (set, evidence file, chain, nonce): the HCL report from the evidence, the quote and
        // VCEK from the byte-exact `derived/` files.
        let sets = [
            (
                "trustee-milan-v1",
                "evidence-v1.json",
                "milan_ask_ark_asvk.pem",
                &challenge,
            ),
            (
                "trustee-milan-v2",
                "evidence-v2.json",
                "milan_ask_ark_asvk.pem",
                &milan_v2_nonce,
            ),
            (
                "trustee-genoa",
                "evidence-genoa.json",
                "genoa_ask_ark_asvk.pem",
                &genoa_nonce,
            ),
        ];
        for (set, file, chain, nonce) in sets {
            let dir = root.join(set);
            let original = evidence_file(&dir.join(file));
            let quote = derived_quote(&dir);
            let vcek = read(&dir.join("derived/vcek.der"));
            let built = evidence_json(&original.hcl_report, &quote, Some(&vcek), None);
            assert_round_trip(&built, &original.hcl_report, &quote, Some(&vcek), None);
            assert_eq!(
                AzureEvidence::from_value(&built).unwrap(),
                original,
                "{set}"
            );

            let verifier = snp_verifier(&dir.join(chain));
            let ex = verifier.examine(&built, &binding(nonce), at(SNP_AT));
            assert!(ex.verified(), "{set}: {:?}", ex.failed_checks());
            assert_eq!(ex.claims["report_data"], hex::encode(nonce), "{set}");
            assert_eq!(
                failed(&verifier, &built, b"another nonce", SNP_AT),
                ["report_data"],
                "{set}"
            );
            let report = HclReport::parse(&original.hcl_report).unwrap();
            assert!(binds_runtime_claims(&report, AzureKind::Snp), "{set}");
        }

        // The older VM's raw files: HCL report, hex quote file, VCEK first in its chain file.
        let dir = root.join("trustee-milan-raw");
        let hcl = read(&dir.join("hcl-report.bin"));
        let quote = quote_file(&dir.join("tpm-quote-v1.json"));
        let chain = read(&dir.join("vcek_ask_ark.pem"));
        let vcek = rustls_pemfile::certs(&mut chain.as_slice())
            .next()
            .unwrap()
            .unwrap()
            .to_vec();
        let built = evidence_json(&hcl, &quote, Some(&vcek), None);
        assert_round_trip(&built, &hcl, &quote, Some(&vcek), None);
        let verifier = snp_verifier(&dir.join("vcek_ask_ark.pem"));
        let ex = verifier.examine(&built, &binding(&challenge), at(SNP_AT));
        assert!(ex.verified(), "{:?}", ex.failed_checks());
        assert_eq!(
            failed(&verifier, &built, b"challenge2", SNP_AT),
            ["report_data"]
        );
        assert!(binds_runtime_claims(
            &HclReport::parse(&hcl).unwrap(),
            AzureKind::Snp
        ));
    }

    #[test]
    fn tdx_vector_set_built_by_evidence_json_verifies_with_its_nonce_only() {
        let dir = vectors::set("az-tdx-vtpm", "trustee-tdx");
        let hcl = read(&dir.join("hcl-report.bin"));
        let quote = derived_quote(&dir);
        let td_quote = read(&dir.join("derived/td_quote.bin"));
        let built = evidence_json(&hcl, &quote, None, Some(&td_quote));
        assert_round_trip(&built, &hcl, &quote, None, Some(&td_quote));
        assert_eq!(
            AzureEvidence::from_value(&built).unwrap(),
            evidence_file(&dir.join("evidence-v1.json"))
        );

        let collateral = TdxEndorsements::from_dir(&dir.join("intel_collateral_2025-02")).unwrap();
        let verifier = AzureVtpmVerifier::tdx(Arc::new(TdxVerifier::new(collateral)));
        let ex = verifier.examine(&built, &binding(b"challenge"), at(TDX_AT));
        assert!(ex.verified(), "{:?}", ex.failed_checks());
        assert_eq!(
            failed(&verifier, &built, b"challenge2", TDX_AT),
            ["report_data"]
        );

        // What the agent checks of the TD quote IMDS returns, and of the HCL report.
        let report = HclReport::parse(&hcl).unwrap();
        assert!(binds_runtime_claims(&report, AzureKind::Tdx));
        let td_report = &report.hw_report[..TD_REPORT_LEN];
        check_td_quote(&td_quote, td_report).unwrap();
        let mut other = td_report.to_vec();
        other[TD_REPORT_DATA_OFFSET] ^= 1;
        assert!(matches!(
            check_td_quote(&td_quote, &other),
            Err(AttesterError::Evidence(_))
        ));
        assert!(check_td_quote(&td_quote[..100], td_report).is_err());
    }

    #[test]
    fn hcl_reports_are_fresh_only_with_the_report_data_written() {
        let root = vectors::tee("az-snp-vtpm");
        // Milan v2's paravisor was given the nonce; its user-data is the nonce and 16 zeros.
        let v2 = evidence_file(&root.join("trustee-milan-v2/evidence-v2.json")).hcl_report;
        let nonce: [u8; 48] = hex::decode(MILAN_V2_NONCE).unwrap().try_into().unwrap();
        let field = report_data_field(&nonce);
        let (report, claims) = check_hcl_report(&v2, AzureKind::Snp, &field).unwrap();
        assert_eq!(report.kind, HardwareReport::Snp);
        assert_eq!(
            claims.user_data.as_deref(),
            Some(hex::encode_upper(field).as_str())
        );

        let mut other = field;
        other[63] = 1;
        assert!(matches!(
            check_hcl_report(&v2, AzureKind::Snp, &other),
            Err(HclReportProblem::Stale(reason)) if reason.contains("user-data")
        ));
        // Milan v1's attester wrote nothing: user-data is 64 zeros.
        let v1 = evidence_file(&root.join("trustee-milan-v1/evidence-v1.json")).hcl_report;
        assert!(check_hcl_report(&v1, AzureKind::Snp, &[0; 64]).is_ok());
        assert!(matches!(
            check_hcl_report(&v1, AzureKind::Snp, &field),
            Err(HclReportProblem::Stale(_))
        ));
        // The other hardware is never going to be right.
        assert!(matches!(
            check_hcl_report(&v1, AzureKind::Tdx, &[0; 64]),
            Err(HclReportProblem::Wrong(_))
        ));
        // Claims the hardware report does not bind: read while rewritten.
        let mut altered = v1.clone();
        let at = altered
            .windows(8)
            .position(|window| window == b"26F8BC30")
            .unwrap();
        altered[at] = b'3';
        assert!(matches!(
            check_hcl_report(&altered, AzureKind::Snp, &[0; 64]),
            Err(HclReportProblem::Stale(reason)) if reason.contains("SHA-256")
        ));
        // Cut inside the header, the hardware report, the IGVM header and the claims (the zeros
        // after the claims are padding: cutting them leaves the report whole).
        let claims_end = warden_wire::azure::HCL_HEADER_LEN
            + warden_wire::azure::HW_REPORT_AREA_LEN
            + 20
            + HclReport::parse(&v1).unwrap().runtime_claims.len();
        for length in [0, 4, 100, 1230, claims_end - 1] {
            assert!(matches!(
                check_hcl_report(&v1[..length], AzureKind::Snp, &[0; 64]),
                Err(HclReportProblem::Stale(_))
            ));
        }
        let hcl = read(&vectors::set("az-tdx-vtpm", "trustee-tdx").join("hcl-report.bin"));
        assert!(check_hcl_report(&hcl, AzureKind::Tdx, &[0; 64]).is_ok());
        assert!(matches!(
            check_hcl_report(&hcl, AzureKind::Snp, &[0; 64]),
            Err(HclReportProblem::Wrong(_))
        ));
    }

    /// A device quote as [`TpmDevice::quote_with_persistent_key`] returns one.
    fn device_quote(quote: &AzureQuote) -> Quote {
        Quote {
            attest: quote.message.clone(),
            signature: Signature::rsassa(HashAlg::Sha256, quote.signature.clone()).marshal(),
            pcrs: vec![(
                PcrBank::Sha256,
                (0u8..24)
                    .map(|pcr| (pcr, quote.pcrs[usize::from(pcr)].to_vec()))
                    .collect(),
            )],
        }
    }

    /// A structurally valid quote message (nothing checks its signature here).
    fn sample_quote() -> AzureQuote {
        let mut message = 0xff54_4347u32.to_be_bytes().to_vec();
        message.extend(0x8018u16.to_be_bytes());
        message.extend([0, 0]); // qualifiedSigner
        message.extend([0, 2, 0xab, 0xcd]); // extraData
        message.extend([0; 17]); // clockInfo
        message.extend([0; 8]); // firmwareVersion
        message.extend([0, 0, 0, 1, 0, 0x0b, 3, 0xff, 0xff, 0xff]); // SHA-256 PCRs 0..23
        message.extend([0, 32]);
        message.extend([7; 32]);
        AzureQuote {
            message,
            signature: vec![0x5a; 256],
            pcrs: std::array::from_fn(|pcr| [pcr as u8; 32]),
        }
    }

    #[test]
    fn the_raw_signature_and_pcrs_come_out_of_the_device_quote() {
        let expected = sample_quote();
        let good = device_quote(&expected);
        assert_eq!(AzureQuote::from_tpm_quote(&good).unwrap(), expected);
        let real = derived_quote(&vectors::set("az-snp-vtpm", "trustee-milan-v1"));
        assert_eq!(
            AzureQuote::from_tpm_quote(&device_quote(&real)).unwrap(),
            real
        );

        let refused = |quote: Quote, why: &str| {
            assert!(
                matches!(
                    AzureQuote::from_tpm_quote(&quote),
                    Err(AttesterError::Evidence(_))
                ),
                "{why}"
            );
        };
        for length in 0..good.signature.len() {
            let mut cut = good.clone();
            cut.signature.truncate(length);
            refused(cut, "truncated TPMT_SIGNATURE");
        }
        let mut trailing = good.clone();
        trailing.signature.push(0);
        refused(trailing, "bytes after the TPMT_SIGNATURE");
        for signature in [
            Signature::rsassa(HashAlg::Sha1, vec![1; 256]),
            Signature::RsaPss {
                hash: HashAlg::Sha256,
                signature: vec![1; 256],
            },
            Signature::Ecdsa {
                hash: HashAlg::Sha256,
                r: vec![1; 32],
                s: vec![2; 32],
            },
        ] {
            let mut other = good.clone();
            other.signature = signature.marshal();
            refused(other, signature.scheme());
        }
        for length in [0, 4, 10, good.attest.len() - 1] {
            let mut cut = good.clone();
            cut.attest.truncate(length);
            refused(cut, "truncated TPMS_ATTEST");
        }
        let mut sha1 = good.clone();
        sha1.pcrs[0].0 = PcrBank::Sha1;
        refused(sha1, "SHA-1 bank");
        let mut two_banks = good.clone();
        two_banks.pcrs.push(good.pcrs[0].clone());
        refused(two_banks, "two banks");
        let mut none = good.clone();
        none.pcrs.clear();
        refused(none, "no bank");
        let mut short = good.clone();
        short.pcrs[0].1.pop();
        refused(short, "23 PCRs");
        let mut swapped = good.clone();
        swapped.pcrs[0].1.swap(3, 4);
        refused(swapped, "PCRs out of order");
        let mut wrong_size = good.clone();
        wrong_size.pcrs[0].1[5].1.pop();
        refused(wrong_size, "a 31-byte PCR");
    }

    #[test]
    fn evidence_json_writes_the_version_1_format() {
        let quote = sample_quote();
        // Bytes whose base64 has the URL-safe characters and needs padding.
        let hcl = [0xfb, 0xff, 0xbf, 0x00];
        let snp = evidence_json(&hcl, &quote, Some(&[0xfe, 0xff]), None);
        assert_eq!(snp["version"], 1);
        assert_eq!(snp["hcl_report"], "-_-_AA==");
        assert_eq!(snp["vcek"], "_v8=");
        assert!(snp.get("td_quote").is_none());
        assert_eq!(snp["tpm_quote"]["signature"], "5a".repeat(256));
        assert_eq!(snp["tpm_quote"]["message"], hex::encode(&quote.message));
        let pcrs = snp["tpm_quote"]["pcrs"].as_array().unwrap();
        assert_eq!(pcrs.len(), 24);
        assert_eq!(pcrs[23], "17".repeat(32));
        assert_eq!(snp.as_object().unwrap().len(), 4);

        let tdx = evidence_json(&hcl, &quote, None, Some(&[1, 2, 3]));
        assert_eq!(tdx["td_quote"], "AQID");
        assert!(tdx.get("vcek").is_none());
        assert_round_trip(&tdx, &hcl, &quote, None, Some(&[1, 2, 3]));
    }

    #[test]
    fn keys_compare_up_to_encoding() {
        let rsa = |modulus: &[u8], exponent| KeyMaterial::Rsa {
            modulus: modulus.to_vec(),
            exponent,
        };
        assert!(same_key(&rsa(&[0, 0xc1, 2], 0), &rsa(&[0xc1, 2], 65_537)));
        assert!(!same_key(&rsa(&[0xc1, 2], 3), &rsa(&[0xc1, 2], 65_537)));
        assert!(!same_key(
            &rsa(&[0xc1, 3], 65_537),
            &rsa(&[0xc1, 2], 65_537)
        ));
        let ecc = KeyMaterial::Ecc {
            curve: 3,
            x: vec![1],
            y: vec![2],
        };
        assert!(!same_key(&ecc, &rsa(&[1], 65_537)));
        assert!(same_key(&ecc, &ecc.clone()));
    }

    /// One request as the fake IMDS saw it.
    #[derive(Debug)]
    struct Seen {
        request_line: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    impl Seen {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
        }
    }

    /// A loopback HTTP/1.1 server answering one request per `(status, body)`, in order.
    fn fake_imds(answers: Vec<(u16, Vec<u8>)>) -> (String, std::thread::JoinHandle<Vec<Seen>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for (status, body) in answers {
                let (stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream);
                let mut request_line = String::new();
                reader.read_line(&mut request_line).unwrap();
                let mut headers = Vec::new();
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    let (key, value) = line.split_once(':').unwrap();
                    headers.push((key.trim().to_ascii_lowercase(), value.trim().to_owned()));
                }
                let length = headers
                    .iter()
                    .find(|(key, _)| key == "content-length")
                    .map_or(0, |(_, value)| value.parse::<usize>().unwrap());
                let mut request_body = vec![0; length];
                reader.read_exact(&mut request_body).unwrap();
                let mut stream = reader.into_inner();
                write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .unwrap();
                // The client may hang up early on an oversized answer.
                let _ = stream.write_all(&body);
                seen.push(Seen {
                    request_line: request_line.trim_end().to_owned(),
                    headers,
                    body: request_body,
                });
            }
            seen
        });
        (base, server)
    }

    fn attester(kind: AzureKind, imds: &str) -> AzureAttester {
        let mut attester = AzureAttester::new(kind, "device:/dev/null");
        attester.imds_base_url = format!("{imds}/");
        attester.imds_timeout = Duration::from_secs(20);
        attester
    }

    const PEM_VCEK: &str = "-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n";

    #[test]
    fn the_vcek_comes_from_imds_thim() {
        let answer = json!({
            "vcekCert": PEM_VCEK,
            "certificateChain": "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n",
            "tcbm": "DB18000000000004",
            "cacheControl": "86400",
        });
        let (base, server) = fake_imds(vec![(200, answer.to_string().into_bytes())]);
        let vcek = attester(AzureKind::Snp, &base).fetch_vcek().unwrap();
        assert_eq!(vcek, [0x30, 0x03, 0x02, 0x01, 0x01]);
        let seen = server.join().unwrap();
        assert_eq!(
            seen[0].request_line,
            "GET /metadata/THIM/amd/certification HTTP/1.1"
        );
        assert_eq!(seen[0].header("metadata"), Some("true"));
    }

    #[test]
    fn the_td_quote_comes_from_imds_for_the_tdreport() {
        let mut td_report = vec![0u8; TD_REPORT_LEN];
        let report_data: [u8; 64] = std::array::from_fn(|i| i as u8);
        td_report[TD_REPORT_DATA_OFFSET..TD_REPORT_DATA_OFFSET + 64].copy_from_slice(&report_data);
        td_report[0] = 0xfb; // a URL-safe character in the base64
        let quote = unsigned_quote(4, TdBody::Td10, &report_data, b"chain");
        let (base, server) = fake_imds(vec![
            (
                200,
                json!({"quote": URL_SAFE_NO_PAD.encode(&quote)})
                    .to_string()
                    .into_bytes(),
            ),
            (
                200,
                json!({"quote": URL_SAFE.encode(&quote)})
                    .to_string()
                    .into_bytes(),
            ),
        ]);
        let attester = attester(AzureKind::Tdx, &base);
        assert_eq!(attester.fetch_td_quote(&td_report).unwrap(), quote);
        assert_eq!(attester.fetch_td_quote(&td_report).unwrap(), quote);
        let seen = server.join().unwrap();
        assert_eq!(seen[0].request_line, "POST /acc/tdquote HTTP/1.1");
        assert_eq!(seen[0].header("content-type"), Some("application/json"));
        let body: Value = serde_json::from_slice(&seen[0].body).unwrap();
        let sent = URL_SAFE_NO_PAD
            .decode(body["report"].as_str().unwrap())
            .unwrap();
        assert_eq!(sent, td_report);
        assert!(matches!(
            attester.fetch_td_quote(&td_report[..1000]),
            Err(AttesterError::Evidence(_))
        ));
    }

    /// What an error must look like.
    type ErrorCheck = fn(&AttesterError) -> bool;

    #[test]
    fn bad_imds_answers_are_errors() {
        let td_report = vec![0u8; TD_REPORT_LEN];
        let other_quote = unsigned_quote(4, TdBody::Td10, &[9; 64], b"chain");
        let vcek_answers: Vec<(u16, Vec<u8>, ErrorCheck)> = vec![
            (
                503,
                b"{\"error\":\"busy\"}".to_vec(),
                |e| matches!(e, AttesterError::Unavailable(m) if m.contains("503")),
            ),
            (200, b"not json".to_vec(), |e| {
                matches!(e, AttesterError::Evidence(_))
            }),
            (
                200,
                b"{}".to_vec(),
                |e| matches!(e, AttesterError::Evidence(m) if m.contains("vcekCert")),
            ),
            (
                200,
                b"{\"vcekCert\":\"no PEM here\"}".to_vec(),
                |e| matches!(e, AttesterError::Evidence(m) if m.contains("PEM")),
            ),
            (
                200,
                vec![b' '; MAX_IMDS_ANSWER + 1],
                |e| matches!(e, AttesterError::Evidence(m) if m.contains("larger")),
            ),
        ];
        for (status, body, expected) in vcek_answers {
            let (base, server) = fake_imds(vec![(status, body)]);
            let error = attester(AzureKind::Snp, &base).fetch_vcek().unwrap_err();
            assert!(expected(&error), "{status}: {error}");
            server.join().unwrap();
        }
        let quote_answers: Vec<Vec<u8>> = vec![
            b"{\"quote\":\"***\"}".to_vec(),
            b"{\"quote\":\"AAAA\"}".to_vec(),
            json!({"quote": URL_SAFE.encode(&other_quote)})
                .to_string()
                .into_bytes(),
        ];
        for body in quote_answers {
            let (base, server) = fake_imds(vec![(200, body)]);
            let error = attester(AzureKind::Tdx, &base)
                .fetch_td_quote(&td_report)
                .unwrap_err();
            assert!(matches!(error, AttesterError::Evidence(_)), "{error}");
            server.join().unwrap();
        }
        // Nobody listening; not plain HTTP.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let closed = attester(AzureKind::Snp, &format!("http://127.0.0.1:{port}"));
        assert!(matches!(
            closed.fetch_vcek(),
            Err(AttesterError::Unavailable(_))
        ));
        let https = attester(AzureKind::Snp, "https://169.254.169.254");
        assert!(
            matches!(https.fetch_vcek(), Err(AttesterError::Unavailable(m)) if m.contains("http://"))
        );
    }

    #[test]
    fn names_and_defaults() {
        let attester = AzureAttester::new(AzureKind::Snp, "device:/dev/tpmrm0");
        assert_eq!(attester.tee(), "az-snp-vtpm");
        assert!(attester.insecure_reason().is_none());
        assert_eq!(attester.imds_base_url, "http://169.254.169.254");
        assert_eq!(AzureAttester::new(AzureKind::Tdx, "x").tee(), "az-tdx-vtpm");
        assert_eq!(AzureKind::from_tee("az-tdx-vtpm"), Some(AzureKind::Tdx));
        assert_eq!(AzureKind::from_tee("az-snp-vtpm"), Some(AzureKind::Snp));
        assert_eq!(AzureKind::from_tee("tdx"), None);
        // No TPM at that TCTI: unavailable, not a panic.
        let missing = AzureAttester::new(AzureKind::Snp, "device:/nonexistent/tpm");
        assert!(matches!(
            missing.evidence(&[0; 48]),
            Err(AttesterError::Unavailable(_))
        ));
    }
}
