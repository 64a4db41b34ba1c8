//! Intel DCAP collateral: TCB info (v3, `TDX`), QE identity (v2, `TD_QE`), CRLs and the
//! certificates that sign them, recognised by content from Intel PCS responses (JSON, DER, PEM)
//! or from a dcap-qvl collateral bundle (`collateral.json`).
//!
//! JSON items are kept with the exact bytes Intel signed (the `tcbInfo` / `enclaveIdentity`
//! value as it appears in the file, never re-serialised) and their signature; nothing here is
//! trusted until the verifier has checked that signature against a TCB signing certificate
//! chained to the pinned Intel SGX Root CA, at the verification time.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::pck::{IntelCert, parse_intel_cert};
use crate::collateral::{CollateralError, CollateralSet, SharedCollateral};
use crate::x509::Crl;

/// Intel's TCB status vocabulary (PCS API v4), best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum TcbStatus {
    /// The TCB is current.
    UpToDate,
    /// The TCB is current but software hardening is needed.
    SWHardeningNeeded,
    /// The TCB is current but the platform needs configuring.
    ConfigurationNeeded,
    /// The TCB is current but needs both configuration and software hardening.
    ConfigurationAndSWHardeningNeeded,
    /// A newer TCB fixes known vulnerabilities.
    OutOfDate,
    /// Out of date, and the platform also needs configuring.
    OutOfDateConfigurationNeeded,
    /// The TCB is revoked.
    Revoked,
}

impl TcbStatus {
    /// Parses Intel's status name; an unknown name is an error.
    pub fn parse(text: &str) -> Result<TcbStatus, String> {
        Ok(match text {
            "UpToDate" => TcbStatus::UpToDate,
            "SWHardeningNeeded" => TcbStatus::SWHardeningNeeded,
            "ConfigurationNeeded" => TcbStatus::ConfigurationNeeded,
            "ConfigurationAndSWHardeningNeeded" => TcbStatus::ConfigurationAndSWHardeningNeeded,
            "OutOfDate" => TcbStatus::OutOfDate,
            "OutOfDateConfigurationNeeded" => TcbStatus::OutOfDateConfigurationNeeded,
            "Revoked" => TcbStatus::Revoked,
            other => return Err(format!("unknown TCB status {other:?}")),
        })
    }

    /// Intel's name for the status (as in the collateral).
    pub fn name(self) -> &'static str {
        match self {
            TcbStatus::UpToDate => "UpToDate",
            TcbStatus::SWHardeningNeeded => "SWHardeningNeeded",
            TcbStatus::ConfigurationNeeded => "ConfigurationNeeded",
            TcbStatus::ConfigurationAndSWHardeningNeeded => "ConfigurationAndSWHardeningNeeded",
            TcbStatus::OutOfDate => "OutOfDate",
            TcbStatus::OutOfDateConfigurationNeeded => "OutOfDateConfigurationNeeded",
            TcbStatus::Revoked => "Revoked",
        }
    }

    /// The platform status after learning that another component (QE or TDX module) is out of
    /// date or revoked (Intel QVL's convergence rules).
    pub fn converge(self, other: TcbStatus) -> TcbStatus {
        use TcbStatus::*;
        match (self, other) {
            (_, Revoked) | (Revoked, _) => Revoked,
            (UpToDate | SWHardeningNeeded, OutOfDate | OutOfDateConfigurationNeeded) => OutOfDate,
            (
                ConfigurationNeeded | ConfigurationAndSWHardeningNeeded,
                OutOfDate | OutOfDateConfigurationNeeded,
            ) => OutOfDateConfigurationNeeded,
            (status, _) => status,
        }
    }
}

impl std::fmt::Display for TcbStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A level of a component identified by one ISV SVN (QE, TDX module).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SvnLevel {
    /// The component's ISV SVN at or above which this level applies.
    pub isv_svn: u16,
    /// The level's `tcbDate` (RFC 3339, as Intel wrote it).
    pub date: String,
    /// The level's TCB status.
    pub status: TcbStatus,
    /// Intel security advisory ids (`advisoryIDs`) for this level.
    pub advisories: Vec<String>,
}

/// A platform TCB level of a TDX TCB info.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformLevel {
    /// Minimum SVN of each of the 16 SGX TCB components (compared with the PCK's CPUSVN).
    pub sgx_components: [u8; 16],
    /// Minimum PCE SVN.
    pub pce_svn: u16,
    /// Minimum SVN of each of the 16 TDX TCB components (compared with TEE_TCB_SVN).
    pub tdx_components: [u8; 16],
    /// The level's `tcbDate` (RFC 3339, as Intel wrote it).
    pub date: String,
    /// The level's TCB status.
    pub status: TcbStatus,
    /// Intel security advisory ids (`advisoryIDs`) for this level.
    pub advisories: Vec<String>,
}

/// Expected TDX module signer and attributes (`tdxModule` or one `tdxModuleIdentities` entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleIdentity {
    /// Module identity id, e.g. `TDX_01` (empty for `tdxModule`).
    pub id: String,
    /// Expected MRSIGNER_SEAM.
    pub mr_signer: Vec<u8>,
    /// Expected SEAM attributes, under `attributes_mask`.
    pub attributes: [u8; 8],
    /// Mask of the SEAM attribute bits that must match.
    pub attributes_mask: [u8; 8],
    /// The module's TCB levels, best first.
    pub levels: Vec<SvnLevel>,
}

/// What every signed JSON item shares: the signed bytes, the signature and the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// The exact bytes Intel signed.
    pub body: String,
    /// r ‖ s (ECDSA P-256/SHA-256).
    pub signature: [u8; 64],
    /// SHA-256 over body and signature: the identity the verification is cached under.
    pub fingerprint: [u8; 32],
    /// `issueDate`, Unix seconds.
    pub issue_date: i64,
    /// `nextUpdate`, Unix seconds.
    pub next_update: i64,
    /// `tcbEvaluationDataNumber`: higher is more recent.
    pub evaluation_number: u32,
}

impl Signed {
    /// Whether `at` (Unix seconds) lies within [`issueDate`, `nextUpdate`], bounds included.
    pub fn covers(&self, at: i64) -> bool {
        self.issue_date <= at && at <= self.next_update
    }
}

/// A TDX TCB info (v3): the platform TCB levels for one FMSPC and PCE-ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcbInfo {
    /// Signed bytes, signature and validity window.
    pub signed: Signed,
    /// The platform family (FMSPC) this TCB info applies to.
    pub fmspc: [u8; 6],
    /// The PCE-ID this TCB info applies to.
    pub pce_id: [u8; 2],
    /// Expected signer and attributes of TDX modules with major version 0 (`tdxModule`).
    pub tdx_module: Option<ModuleIdentity>,
    /// Identities and TCB levels of later TDX modules (`tdxModuleIdentities`).
    pub module_identities: Vec<ModuleIdentity>,
    /// Platform TCB levels, best first as Intel lists them.
    pub levels: Vec<PlatformLevel>,
}

/// The TD quoting enclave's identity (`TD_QE`, v2): what a genuine QE report must show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QeIdentity {
    /// Signed bytes, signature and validity window.
    pub signed: Signed,
    /// Expected MISCSELECT, under `misc_select_mask`.
    pub misc_select: [u8; 4],
    /// Mask of the MISCSELECT bits that must match.
    pub misc_select_mask: [u8; 4],
    /// Expected ATTRIBUTES, under `attributes_mask`.
    pub attributes: [u8; 16],
    /// Mask of the ATTRIBUTES bits that must match.
    pub attributes_mask: [u8; 16],
    /// Expected MRSIGNER of the QE.
    pub mr_signer: [u8; 32],
    /// Expected ISV product id of the QE.
    pub isv_prod_id: u16,
    /// The QE's TCB levels, best first.
    pub levels: Vec<SvnLevel>,
}

/// Everything Intel publishes for appraising TDX quotes, as loaded (unverified).
#[derive(Debug, Clone, Default)]
pub struct TdxEndorsements {
    /// TCB infos, one or more per FMSPC.
    pub tcb_infos: Vec<Arc<TcbInfo>>,
    /// TD QE identities.
    pub qe_identities: Vec<Arc<QeIdentity>>,
    /// TCB signing certificates, CA certificates from issuer chains.
    pub certs: Vec<IntelCert>,
    /// CRLs (root CA and PCK CA).
    pub crls: Vec<Crl>,
}

/// Offline Intel collateral, shared with the KBS's PCS fetcher.
pub type TdxCollateral = SharedCollateral<TdxEndorsements>;

impl CollateralSet for TdxEndorsements {
    fn add_bytes(&mut self, bytes: &[u8]) -> Result<(), CollateralError> {
        let text = std::str::from_utf8(bytes).ok();
        match text.map(str::trim_start) {
            Some(json) if json.starts_with('{') => Ok(self.add_json(json)?),
            Some(pem) if pem.starts_with("-----BEGIN") => Ok(self.add_pem(bytes)?),
            _ => {
                if let Ok(cert) = parse_intel_cert(bytes) {
                    self.certs.push(cert);
                    return Ok(());
                }
                let crl = Crl::from_der(bytes)
                    .map_err(|_| "not Intel collateral (JSON, PEM, DER certificate or CRL)")?;
                self.crls.push(crl);
                Ok(())
            }
        }
    }
}

/// The dcap-qvl collateral bundle.
#[derive(Deserialize)]
struct Bundle {
    tcb_info: String,
    tcb_info_signature: String,
    tcb_info_issuer_chain: String,
    qe_identity: String,
    qe_identity_signature: String,
    qe_identity_issuer_chain: String,
    #[serde(default)]
    pck_crl_issuer_chain: String,
    root_ca_crl: String,
    pck_crl: String,
}

#[derive(Deserialize)]
struct PcsResponse<'a> {
    #[serde(borrow, rename = "tcbInfo")]
    tcb_info: Option<&'a RawValue>,
    #[serde(borrow, rename = "enclaveIdentity")]
    enclave_identity: Option<&'a RawValue>,
    signature: Option<String>,
}

impl TdxEndorsements {
    fn add_json(&mut self, json: &str) -> Result<(), String> {
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|e| format!("JSON: {e}"))?;
        if value.get("tcb_info").is_some() {
            let bundle: Bundle =
                serde_json::from_value(value).map_err(|e| format!("collateral bundle: {e}"))?;
            return self.add_bundle(bundle);
        }
        let response: PcsResponse<'_> =
            serde_json::from_str(json).map_err(|e| format!("PCS response: {e}"))?;
        let signature = response
            .signature
            .ok_or("a PCS response carries a \"signature\"")?;
        match (response.tcb_info, response.enclave_identity) {
            (Some(body), None) => self.add_tcb_info(body.get(), &signature),
            (None, Some(body)) => self.add_qe_identity(body.get(), &signature),
            _ => Err("JSON is neither a TCB info nor a QE identity response".into()),
        }
    }

    fn add_bundle(&mut self, bundle: Bundle) -> Result<(), String> {
        self.add_tcb_info(&bundle.tcb_info, &bundle.tcb_info_signature)?;
        self.add_qe_identity(&bundle.qe_identity, &bundle.qe_identity_signature)?;
        for chain in [
            &bundle.tcb_info_issuer_chain,
            &bundle.qe_identity_issuer_chain,
            &bundle.pck_crl_issuer_chain,
        ] {
            self.add_pem(chain.as_bytes())?;
        }
        for (name, crl) in [
            ("root_ca_crl", &bundle.root_ca_crl),
            ("pck_crl", &bundle.pck_crl),
        ] {
            let der = hex::decode(crl).map_err(|e| format!("{name}: {e}"))?;
            self.crls
                .push(Crl::from_der(&der).map_err(|e| format!("{name}: {e}"))?);
        }
        Ok(())
    }

    fn add_pem(&mut self, pem: &[u8]) -> Result<(), String> {
        let mut found = false;
        for item in x509_parser::pem::Pem::iter_from_buffer(pem) {
            let item = item.map_err(|e| format!("PEM: {e}"))?;
            match item.label.as_str() {
                "CERTIFICATE" => self.add_cert(parse_intel_cert(&item.contents)?),
                "X509 CRL" => self.crls.push(Crl::from_der(&item.contents)?),
                other => return Err(format!("unexpected PEM block {other:?}")),
            }
            found = true;
        }
        if found {
            Ok(())
        } else {
            Err("PEM without certificates or CRLs".into())
        }
    }

    /// Issuer chains repeat the root and the TCB signing certificate: keep one copy of each.
    fn add_cert(&mut self, cert: IntelCert) {
        if !self.certs.iter().any(|c| c.fingerprint == cert.fingerprint) {
            self.certs.push(cert);
        }
    }

    fn add_tcb_info(&mut self, body: &str, signature: &str) -> Result<(), String> {
        let info = parse_tcb_info(body, signature).map_err(|e| format!("TCB info: {e}"))?;
        if !self
            .tcb_infos
            .iter()
            .any(|known| known.signed.fingerprint == info.signed.fingerprint)
        {
            self.tcb_infos.push(Arc::new(info));
        }
        Ok(())
    }

    fn add_qe_identity(&mut self, body: &str, signature: &str) -> Result<(), String> {
        let identity =
            parse_qe_identity(body, signature).map_err(|e| format!("QE identity: {e}"))?;
        if !self
            .qe_identities
            .iter()
            .any(|known| known.signed.fingerprint == identity.signed.fingerprint)
        {
            self.qe_identities.push(Arc::new(identity));
        }
        Ok(())
    }
}

fn timestamp(text: &str) -> Result<i64, String> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|e| format!("date {text:?}: {e}"))
}

fn hex_array<const N: usize>(field: &str, text: &str) -> Result<[u8; N], String> {
    let bytes = hex::decode(text).map_err(|e| format!("{field}: {e}"))?;
    bytes
        .try_into()
        .map_err(|_| format!("{field}: expected {N} bytes"))
}

fn signed(body: &str, signature: &str, common: &Common) -> Result<Signed, String> {
    let signature: [u8; 64] = hex_array("signature", signature)?;
    let mut hasher = Sha256::new();
    hasher.update(body.as_bytes());
    hasher.update(signature);
    Ok(Signed {
        body: body.to_owned(),
        signature,
        fingerprint: hasher.finalize().into(),
        issue_date: timestamp(&common.issue_date)?,
        next_update: timestamp(&common.next_update)?,
        evaluation_number: common.tcb_evaluation_data_number,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Common {
    id: String,
    version: u32,
    issue_date: String,
    next_update: String,
    tcb_evaluation_data_number: u32,
}

#[derive(Deserialize)]
struct Svn {
    svn: u8,
}

#[derive(Deserialize)]
struct IsvSvn {
    isvsvn: u16,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LevelJson<T> {
    tcb: T,
    tcb_date: String,
    tcb_status: String,
    #[serde(rename = "advisoryIDs", default)]
    advisory_ids: Vec<String>,
}

#[derive(Deserialize)]
struct PlatformTcbJson {
    sgxtcbcomponents: Vec<Svn>,
    pcesvn: u16,
    tdxtcbcomponents: Vec<Svn>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ModuleJson {
    #[serde(default)]
    id: String,
    mrsigner: String,
    attributes: String,
    attributes_mask: String,
    #[serde(default)]
    tcb_levels: Vec<LevelJson<IsvSvn>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TcbInfoJson {
    #[serde(flatten)]
    common: Common,
    fmspc: String,
    pce_id: String,
    tdx_module: Option<ModuleJson>,
    #[serde(default)]
    tdx_module_identities: Vec<ModuleJson>,
    tcb_levels: Vec<LevelJson<PlatformTcbJson>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct QeIdentityJson {
    #[serde(flatten)]
    common: Common,
    miscselect: String,
    miscselect_mask: String,
    attributes: String,
    attributes_mask: String,
    mrsigner: String,
    isvprodid: u16,
    tcb_levels: Vec<LevelJson<IsvSvn>>,
}

fn svn_levels(levels: Vec<LevelJson<IsvSvn>>) -> Result<Vec<SvnLevel>, String> {
    levels
        .into_iter()
        .map(|level| {
            Ok(SvnLevel {
                isv_svn: level.tcb.isvsvn,
                date: level.tcb_date,
                status: TcbStatus::parse(&level.tcb_status)?,
                advisories: level.advisory_ids,
            })
        })
        .collect()
}

fn components(field: &str, svns: &[Svn]) -> Result<[u8; 16], String> {
    let values: Vec<u8> = svns.iter().map(|c| c.svn).collect();
    values
        .try_into()
        .map_err(|_| format!("{field}: expected 16 components"))
}

fn module(json: ModuleJson) -> Result<ModuleIdentity, String> {
    Ok(ModuleIdentity {
        id: json.id,
        mr_signer: hex::decode(&json.mrsigner).map_err(|e| format!("mrsigner: {e}"))?,
        attributes: hex_array("attributes", &json.attributes)?,
        attributes_mask: hex_array("attributesMask", &json.attributes_mask)?,
        levels: svn_levels(json.tcb_levels)?,
    })
}

/// Parses a TDX TCB info (`id` "TDX", version 3) from the exact signed text.
pub fn parse_tcb_info(body: &str, signature: &str) -> Result<TcbInfo, String> {
    let json: TcbInfoJson = serde_json::from_str(body).map_err(|e| e.to_string())?;
    if json.common.id != "TDX" || json.common.version != 3 {
        return Err(format!(
            "id {:?} version {} is not a TDX TCB info v3",
            json.common.id, json.common.version
        ));
    }
    let signed = signed(body, signature, &json.common)?;
    let levels = json
        .tcb_levels
        .into_iter()
        .map(|level| {
            Ok(PlatformLevel {
                sgx_components: components("sgxtcbcomponents", &level.tcb.sgxtcbcomponents)?,
                pce_svn: level.tcb.pcesvn,
                tdx_components: components("tdxtcbcomponents", &level.tcb.tdxtcbcomponents)?,
                date: level.tcb_date,
                status: TcbStatus::parse(&level.tcb_status)?,
                advisories: level.advisory_ids,
            })
        })
        .collect::<Result<_, String>>()?;
    Ok(TcbInfo {
        signed,
        fmspc: hex_array("fmspc", &json.fmspc)?,
        pce_id: hex_array("pceId", &json.pce_id)?,
        tdx_module: json.tdx_module.map(module).transpose()?,
        module_identities: json
            .tdx_module_identities
            .into_iter()
            .map(module)
            .collect::<Result<_, _>>()?,
        levels,
    })
}

/// Parses a TD QE identity (`id` "TD_QE", version 2) from the exact signed text.
pub fn parse_qe_identity(body: &str, signature: &str) -> Result<QeIdentity, String> {
    let json: QeIdentityJson = serde_json::from_str(body).map_err(|e| e.to_string())?;
    if json.common.id != "TD_QE" || json.common.version != 2 {
        return Err(format!(
            "id {:?} version {} is not a TD_QE identity v2",
            json.common.id, json.common.version
        ));
    }
    Ok(QeIdentity {
        signed: signed(body, signature, &json.common)?,
        misc_select: hex_array("miscselect", &json.miscselect)?,
        misc_select_mask: hex_array("miscselectMask", &json.miscselect_mask)?,
        attributes: hex_array("attributes", &json.attributes)?,
        attributes_mask: hex_array("attributesMask", &json.attributes_mask)?,
        mr_signer: hex_array("mrsigner", &json.mrsigner)?,
        isv_prod_id: json.isvprodid,
        levels: svn_levels(json.tcb_levels)?,
    })
}
