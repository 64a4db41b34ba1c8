//! Intel TDX: DCAP quotes v4 and v5 (TDX 1.0 and 1.5 bodies) with an ECDSA P-256 attestation
//! key certified by the platform's PCK, appraised against Intel collateral at a given time.
//!
//! Checks, in order (each reported by name, see [`crate::tee::Check`]): `evidence_format`,
//! `quote_format` (declared lengths; zero padding after the signature data is tolerated, any other
//! trailing byte is refused: unsigned content must not ride along), `quote_signature`
//! (attestation key over header and body), `qe_binding` (QE report data = SHA-256(attestation
//! key ‖ QE auth data) ‖ 0³²), `pck_chain` (PCK ← PCK Platform/Processor CA ← pinned Intel SGX
//! Root CA), `qe_report_signature` (PCK over the QE report), `validity` (every certificate,
//! including the TCB signing certificate, at the verification time), `tcb_info` (for the PCK's
//! FMSPC and PCE-ID, signed by the TCB signing chain), `qe_identity` (TD_QE, signed; MRSIGNER,
//! ISVPRODID, masked MISCSELECT/ATTRIBUTES, ISVSVN level), `revocation` (root CA CRL and PCK CRL,
//! signed and not revoking the chain; required unless configured otherwise),
//! `collateral_freshness` (TCB info, QE identity and CRLs between issue and `nextUpdate` at the
//! verification time), `tcb_level` (platform level from the PCK's SVNs and TEE_TCB_SVN, converged
//! with the QE and TDX module statuses; no matching level or Revoked fails), `tdx_module`
//! (MRSIGNER_SEAM and SEAM attributes match the TCB info's module identity), `report_data`,
//! `mr_config_id` (= init-data digest, when init-data was presented) and `event_log` (the CCEL
//! replays to RTMR0–3, when a log was sent).
//!
//! An OutOfDate (or ConfigurationNeeded, SWHardeningNeeded) platform is *verified*: the status is
//! a claim for the appraisal policy, which decides (the default policy refuses OutOfDate).
//!
//! Claims (hex lower-case): `quote_version`, `tdx_version` ("1.0"/"1.5"), `tee_tcb_svn`,
//! `tee_tcb_svn2`, `mr_seam`, `mr_signer_seam`, `seam_attributes`, `td_attributes` and its bits
//! (`debug`, `sept_ve_disable`, `pks`, `kl`, `perfmon`), `xfam`, `mr_td`, `mr_config_id`,
//! `mr_owner`, `mr_owner_config`, `rtmr0`..`rtmr3`, `mr_service_td` (1.5), `report_data`,
//! `qe_svn`, `pce_svn`; from the PCK `fmspc`, `pce_id`, `cpu_svn`, `pck_pce_svn`, `sgx_type`;
//! from the collateral `tcb_status`, `platform_tcb_status`, `qe_tcb_status`,
//! `tdx_module_tcb_status`, `tdx_module_id`, `advisory_ids`, `tcb_date`,
//! `tcb_evaluation_data_number`, `collateral_expiry` (earliest `nextUpdate`, RFC 3339); from the
//! event log `boot` (kernel digest and command line, boot applications, events per RTMR).

pub mod collateral;
pub mod pck;

use std::sync::Arc;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, ParsedPublicKey, UnparsedPublicKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use warden_wire::eventlog;
use warden_wire::tdx::{INTEL_QE_VENDOR_ID, Quote, TdBody, TdReport, td_attributes};

use super::{
    Check, Claims, DecodingVerifier, Examination, ExpectedBinding, Tee, check_report_data, rfc3339,
};
use crate::cache::BoundedCache;
use crate::x509::Crl;
use collateral::{
    ModuleIdentity, PlatformLevel, QeIdentity, Signed, SvnLevel, TcbInfo, TcbStatus, TdxCollateral,
    TdxEndorsements,
};
use pck::{INTEL_SCHEMES, IntelCert, PckChain, PckExtensions, parse_intel_cert, pinned_root};
/// TDX evidence (CoCo JSON or a raw quote file), shared with the agent through `warden-wire`.
pub use warden_wire::tdx::Evidence as TdxEvidence;

/// A PCK chain from a quote, verified up to the pinned root (cached by the chain's bytes).
struct VerifiedPck {
    chain: PckChain,
    key: ParsedPublicKey,
}

/// The TDX verifier: the pinned Intel root, offline collateral and the verification caches.
pub struct TdxVerifier {
    root: IntelCert,
    /// Set when `root` is not Intel's: every result says so.
    insecure_root: Option<String>,
    collateral: Arc<TdxCollateral>,
    require_crl: bool,
    chains: BoundedCache<[u8; 32], Arc<VerifiedPck>>,
    /// Whether a certificate is issued by the root, by fingerprint.
    root_issued: BoundedCache<[u8; 32], bool>,
    /// Whether a collateral item's or CRL's signature verifies, by (item, signer) fingerprints.
    signatures: BoundedCache<([u8; 32], [u8; 32]), bool>,
    attestation_keys: BoundedCache<[u8; 64], Option<Arc<ParsedPublicKey>>>,
}

impl TdxVerifier {
    /// A verifier with fixed offline collateral, trusting the Intel SGX Root CA; CRLs are required.
    pub fn new(collateral: TdxEndorsements) -> Self {
        Self::with_shared_collateral(Arc::new(TdxCollateral::new(collateral)))
    }

    /// A verifier reading collateral that others may add to (e.g. the KBS's PCS fetcher).
    pub fn with_shared_collateral(collateral: Arc<TdxCollateral>) -> Self {
        Self {
            root: pinned_root(),
            insecure_root: None,
            collateral,
            require_crl: true,
            chains: BoundedCache::default(),
            root_issued: BoundedCache::default(),
            signatures: BoundedCache::default(),
            attestation_keys: BoundedCache::default(),
        }
    }

    /// Whether the root CA CRL and PCK CRL must be present (default: yes).
    pub fn require_crl(mut self, require: bool) -> Self {
        self.require_crl = require;
        self
    }

    /// Trusts `root_der` INSTEAD of the Intel SGX Root CA (a private test PKI). Every result
    /// carries an insecurity reason naming the root.
    pub fn with_insecure_root(mut self, root_der: &[u8]) -> Result<Self, String> {
        let root = parse_intel_cert(root_der)?;
        root.verify_issued_by_with(&root, INTEL_SCHEMES)
            .map_err(|e| format!("the root is not self-signed: {e}"))?;
        self.insecure_root = Some(format!(
            "TDX evidence verified with the INSECURE root {:?}, not Intel's",
            root.name()
        ));
        self.root = root;
        Ok(self)
    }

    /// Examines already-decoded evidence (see the module documentation for the checks).
    pub fn examine_decoded(
        &self,
        evidence: &TdxEvidence,
        expected: &ExpectedBinding,
        at: OffsetDateTime,
    ) -> Examination {
        let mut examination = Examination::default();
        examination.insecure.extend(self.insecure_root.clone());
        let quote = match Quote::parse(&evidence.quote) {
            Ok(quote) => quote,
            Err(e) => {
                examination.push(Check::fail("quote_format", e.to_string()));
                return examination;
            }
        };
        examination.claims = quote_claims(&quote);
        if !examination.push(check_format(&quote)) {
            return examination;
        }
        let signature = quote.signature();
        let attestation_key = self.attestation_key(&signature.attestation_key);
        examination.push(check_quote_signature(&quote, attestation_key.as_deref()));
        examination.push(check_qe_binding(&quote));
        let pck = match self.verify_pck_chain(signature.pck_chain) {
            Ok(pck) => pck,
            Err(e) => {
                examination.push(Check::fail("pck_chain", e));
                return examination;
            }
        };
        examination.push(Check::pass(
            "pck_chain",
            format!(
                "{} ← {} ← pinned {}",
                pck.chain.leaf.name(),
                pck.chain.ca.name(),
                self.root.name()
            ),
        ));
        add_pck_claims(&mut examination.claims, &pck.chain.extensions);
        examination.push(
            match pck
                .key
                .verify_sig(signature.qe_report.bytes(), &signature.qe_report_signature)
            {
                Ok(()) => Check::pass("qe_report_signature", "QE report signed by the PCK"),
                Err(_) => Check::fail(
                    "qe_report_signature",
                    "QE report signature does not verify with the PCK",
                ),
            },
        );

        let collateral = self.collateral.snapshot();
        let unix = at.unix_timestamp();
        let tcb_info = self.select_tcb_info(&collateral, &pck.chain.extensions, unix);
        let qe_identity = self.select_qe_identity(&collateral, unix);
        let mut signers = Vec::new();
        let tcb_info = match tcb_info {
            Ok((info, signer)) => {
                examination.push(Check::pass(
                    "tcb_info",
                    format!(
                        "TCB info for FMSPC {} (evaluation {}) signed by {}",
                        hex::encode(info.fmspc),
                        info.signed.evaluation_number,
                        signer.name()
                    ),
                ));
                signers.push(signer);
                Some(info)
            }
            Err(e) => {
                examination.push(Check::fail("tcb_info", e));
                None
            }
        };
        let qe_status = match qe_identity {
            Ok((identity, signer)) => {
                signers.push(signer);
                let check = check_qe_identity(identity, &quote);
                let status = check.as_ref().ok().cloned();
                examination.push(match check {
                    Ok(level) => Check::pass(
                        "qe_identity",
                        format!(
                            "TD_QE identity matches; QE ISV SVN {} → {}",
                            signature.qe_report.isv_svn(),
                            level.status
                        ),
                    ),
                    Err(e) => Check::fail("qe_identity", e),
                });
                Some((identity, status))
            }
            Err(e) => {
                examination.push(Check::fail("qe_identity", e));
                None
            }
        };
        examination.push(check_validity(
            unix,
            [&pck.chain.leaf, &pck.chain.ca, &self.root]
                .into_iter()
                .chain(signers.iter().copied()),
        ));
        let crls = self.select_crls(&collateral, &pck.chain.ca, unix);
        examination.push(self.check_revocation(&crls, &pck, &signers));
        let freshness = check_freshness(
            unix,
            tcb_info,
            qe_status.as_ref().map(|(identity, _)| *identity),
            &crls,
            &mut examination.claims,
        );
        examination.push(freshness);
        if let Some(info) = &tcb_info {
            let qe_level = qe_status.as_ref().and_then(|(_, level)| level.as_ref());
            let (level_check, module_check) = check_tcb_level(
                info,
                &pck.chain.extensions,
                &quote.body(),
                qe_level,
                &mut examination.claims,
            );
            examination.push(level_check);
            examination.push(module_check);
        }
        examination.push(check_report_data(quote.body().report_data(), expected));
        if let Some(digest) = &expected.init_data_digest {
            examination.push(check_mr_config_id(&quote.body(), digest));
        }
        if let Some(log) = &evidence.event_log {
            let replay = check_event_log(log, &quote.body(), &mut examination.claims);
            examination.push(replay);
        }
        examination
    }

    fn verify_pck_chain(&self, pem: &[u8]) -> Result<Arc<VerifiedPck>, String> {
        let key: [u8; 32] = Sha256::digest(pem).into();
        if let Some(hit) = self.chains.get(&key) {
            return Ok(hit);
        }
        let chain = PckChain::read(pem)?;
        chain.verify(&self.root)?;
        let leaf = &chain.leaf;
        let public_key = leaf.public_key_bits()?;
        let parsed = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &public_key)
            .map_err(|e| format!("{}: not a P-256 key: {e}", leaf.name()))?;
        let verified = Arc::new(VerifiedPck { chain, key: parsed });
        self.chains.insert(key, verified.clone());
        Ok(verified)
    }

    fn issued_by_root(&self, cert: &IntelCert) -> bool {
        self.root_issued.get_or_compute(cert.fingerprint, || {
            cert.fingerprint != self.root.fingerprint
                && cert
                    .verify_issued_by_with(&self.root, INTEL_SCHEMES)
                    .is_ok()
        })
    }

    /// Whether `signer`'s key signed `signed`. Outcomes, failures included, are cached: a
    /// collateral directory holds CA certificates too, and trying them must not cost a P-256
    /// verification on every appraisal.
    fn signature_verifies(&self, signed: &Signed, signer: &IntelCert) -> bool {
        self.signatures
            .get_or_compute((signed.fingerprint, signer.fingerprint), || {
                signer.public_key_bits().is_ok_and(|bits| {
                    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, bits)
                        .verify(signed.body.as_bytes(), &signed.signature)
                        .is_ok()
                })
            })
    }

    /// The attestation key, parsed once per key (it is the same for every quote of a QE).
    fn attestation_key(&self, key: &[u8; 64]) -> Option<Arc<ParsedPublicKey>> {
        self.attestation_keys.get_or_compute(*key, || {
            let mut point = [0u8; 65];
            point[0] = 0x04;
            point[1..].copy_from_slice(key);
            ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                .ok()
                .map(Arc::new)
        })
    }

    /// The TCB signing certificate (chained to the root) whose key signed `signed`, preferring
    /// one valid at `at`: Intel renewed it in 2025 with the same key and serial.
    fn collateral_signer<'c>(
        &self,
        collateral: &'c TdxEndorsements,
        signed: &Signed,
        at: i64,
    ) -> Result<&'c IntelCert, String> {
        let mut signers: Vec<&IntelCert> = collateral
            .certs
            .iter()
            .filter(|cert| cert.ext.is_none() && self.issued_by_root(cert))
            .filter(|cert| self.signature_verifies(signed, cert))
            .collect();
        signers.sort_by_key(|cert| !cert.valid_at(at));
        signers.first().copied().ok_or_else(|| {
            "signature does not verify with any TCB signing certificate chained to the Intel SGX \
             Root CA in the collateral"
                .into()
        })
    }

    fn select_tcb_info<'c>(
        &self,
        collateral: &'c TdxEndorsements,
        pck: &PckExtensions,
        at: i64,
    ) -> Result<(&'c TcbInfo, &'c IntelCert), String> {
        let matching: Vec<&Arc<TcbInfo>> = collateral
            .tcb_infos
            .iter()
            .filter(|info| info.fmspc == pck.fmspc && info.pce_id == pck.pce_id)
            .collect();
        let info = best(&matching, |info| &info.signed, at).ok_or_else(|| {
            let known: Vec<String> = collateral
                .tcb_infos
                .iter()
                .map(|info| hex::encode(info.fmspc))
                .collect();
            format!(
                "no TDX TCB info for FMSPC {} / PCE-ID {} (collateral has FMSPC {})",
                hex::encode(pck.fmspc),
                hex::encode(pck.pce_id),
                if known.is_empty() {
                    "none".into()
                } else {
                    known.join(", ")
                }
            )
        })?;
        let signer = self.collateral_signer(collateral, &info.signed, at)?;
        Ok((info, signer))
    }

    fn select_qe_identity<'c>(
        &self,
        collateral: &'c TdxEndorsements,
        at: i64,
    ) -> Result<(&'c QeIdentity, &'c IntelCert), String> {
        let all: Vec<&Arc<QeIdentity>> = collateral.qe_identities.iter().collect();
        let identity = best(&all, |identity| &identity.signed, at)
            .ok_or("no TD_QE identity in the collateral")?;
        let signer = self.collateral_signer(collateral, &identity.signed, at)?;
        Ok((identity, signer))
    }

    /// The freshest CRL issued (name and signature) by the root and by the PCK's CA.
    fn select_crls<'c>(
        &self,
        collateral: &'c TdxEndorsements,
        pck_ca: &IntelCert,
        at: i64,
    ) -> SelectedCrls<'c> {
        let pick = |issuer: &IntelCert| {
            let mut signed: Vec<&Crl> = collateral
                .crls
                .iter()
                .filter(|crl| crl.named_issuer(issuer))
                .filter(|crl| self.crl_signed_by(crl, issuer))
                .collect();
            // Prefer one fresh at `at`, then the latest.
            signed.sort_by_key(|crl| (!crl.fresh_at(at), std::cmp::Reverse(crl.this_update)));
            signed.first().copied()
        };
        SelectedCrls {
            root: pick(&self.root),
            pck: pick(pck_ca),
        }
    }

    fn crl_signed_by(&self, crl: &Crl, issuer: &IntelCert) -> bool {
        self.signatures
            .get_or_compute((crl.fingerprint, issuer.fingerprint), || {
                crl.verify_issued_by(issuer, INTEL_SCHEMES).is_ok()
            })
    }

    fn check_revocation(
        &self,
        crls: &SelectedCrls<'_>,
        pck: &VerifiedPck,
        signers: &[&IntelCert],
    ) -> Check {
        const NAME: &str = "revocation";
        let mut missing = Vec::new();
        let mut revoked = Vec::new();
        match &crls.root {
            Some(crl) => revoked.extend(
                std::iter::once(&pck.chain.ca)
                    .chain(signers.iter().copied())
                    .filter(|cert| crl.revokes(*cert))
                    .map(|cert| cert.name().to_owned()),
            ),
            None => missing.push("Intel SGX Root CA CRL".to_owned()),
        }
        match &crls.pck {
            Some(crl) if crl.revokes(&pck.chain.leaf) => revoked.push(format!(
                "{} (serial {})",
                pck.chain.leaf.name(),
                hex::encode(&pck.chain.leaf.serial)
            )),
            Some(_) => {}
            None => missing.push(format!("{} CRL", pck.chain.ca.name())),
        }
        if !revoked.is_empty() {
            return Check::fail(NAME, format!("revoked: {}", revoked.join(", ")));
        }
        match (missing.is_empty(), self.require_crl) {
            (true, _) => Check::pass(NAME, "PCK chain and TCB signing certificate not revoked"),
            (false, true) => Check::fail(
                NAME,
                format!(
                    "missing collateral: no {} signed by its CA",
                    missing.join(" and ")
                ),
            ),
            (false, false) => Check::pass(
                NAME,
                format!(
                    "NOT CHECKED: no {} (CRLs not required by configuration)",
                    missing.join(" and ")
                ),
            ),
        }
    }
}

struct SelectedCrls<'c> {
    root: Option<&'c Crl>,
    pck: Option<&'c Crl>,
}

/// Among candidates, one whose window covers `at` with the highest TCB evaluation number, else
/// the one expiring last (so that the freshness check explains what is out of date).
fn best<'a, T>(candidates: &[&'a T], signed: impl Fn(&T) -> &Signed, at: i64) -> Option<&'a T> {
    candidates.iter().copied().max_by_key(|item| {
        let signed = signed(item);
        (
            signed.covers(at),
            signed.evaluation_number,
            signed.next_update,
        )
    })
}

fn check_format(quote: &Quote<'_>) -> Check {
    const NAME: &str = "quote_format";
    if quote.qe_vendor_id() != INTEL_QE_VENDOR_ID {
        return Check::fail(
            NAME,
            format!(
                "QE vendor {} is not Intel",
                hex::encode(quote.qe_vendor_id())
            ),
        );
    }
    let trailing = quote.trailing();
    let non_zero = trailing.iter().filter(|b| **b != 0).count();
    if non_zero > 0 {
        return Check::fail(
            NAME,
            format!(
                "{} bytes follow the signature data, {non_zero} of them non-zero: unsigned \
                 content is refused (zero padding is tolerated)",
                trailing.len()
            ),
        );
    }
    Check::pass(
        NAME,
        format!(
            "quote v{} with a {} body, {} bytes of zero padding",
            quote.version(),
            quote.body_kind().name(),
            trailing.len()
        ),
    )
}

fn check_quote_signature(quote: &Quote<'_>, key: Option<&ParsedPublicKey>) -> Check {
    const NAME: &str = "quote_signature";
    let signature = quote.signature();
    let Some(key) = key else {
        return Check::fail(NAME, "the attestation key is not a P-256 point");
    };
    match key.verify_sig(quote.signed_bytes(), &signature.signature) {
        Ok(()) => Check::pass(NAME, "header and TD report signed by the attestation key"),
        Err(_) => Check::fail(
            NAME,
            "quote signature does not verify with the attestation key",
        ),
    }
}

fn check_qe_binding(quote: &Quote<'_>) -> Check {
    const NAME: &str = "qe_binding";
    let signature = quote.signature();
    let mut hasher = Sha256::new();
    hasher.update(signature.attestation_key);
    hasher.update(signature.qe_auth_data);
    let digest = hasher.finalize();
    let report_data = signature.qe_report.report_data();
    if report_data[..32] == digest[..] && report_data[32..].iter().all(|b| *b == 0) {
        Check::pass(NAME, "QE report data binds the attestation key")
    } else {
        Check::fail(
            NAME,
            "QE report data is not SHA-256(attestation key ‖ QE auth data): the attestation key \
             is not the QE's",
        )
    }
}

fn check_validity<'a>(at: i64, certs: impl Iterator<Item = &'a IntelCert>) -> Check {
    const NAME: &str = "validity";
    let expired: Vec<String> = certs
        .filter(|cert| !cert.valid_at(at))
        .map(|cert| {
            format!(
                "{} valid {} .. {}",
                cert.name(),
                rfc3339(cert.not_before),
                rfc3339(cert.not_after)
            )
        })
        .collect();
    if expired.is_empty() {
        Check::pass(NAME, format!("every certificate valid at {}", rfc3339(at)))
    } else {
        Check::fail(
            NAME,
            format!("not valid at {}: {}", rfc3339(at), expired.join("; ")),
        )
    }
}

fn check_freshness(
    at: i64,
    tcb_info: Option<&TcbInfo>,
    qe_identity: Option<&QeIdentity>,
    crls: &SelectedCrls,
    claims: &mut Claims,
) -> Check {
    const NAME: &str = "collateral_freshness";
    let mut windows: Vec<(&str, i64, i64)> = Vec::new();
    if let Some(info) = tcb_info {
        windows.push(("TCB info", info.signed.issue_date, info.signed.next_update));
    }
    if let Some(identity) = qe_identity {
        windows.push((
            "QE identity",
            identity.signed.issue_date,
            identity.signed.next_update,
        ));
    }
    for (name, crl) in [("root CA CRL", &crls.root), ("PCK CRL", &crls.pck)] {
        if let Some(crl) = crl {
            windows.push((name, crl.this_update, crl.next_update.unwrap_or(i64::MIN)));
        }
    }
    if let Some(expiry) = windows.iter().map(|(_, _, next)| *next).min() {
        claims.insert("collateral_expiry".into(), json!(rfc3339(expiry)));
    }
    let stale: Vec<String> = windows
        .iter()
        .filter(|(_, from, until)| !(*from <= at && at <= *until))
        .map(|(name, from, until)| {
            let state = if at > *until {
                "expired"
            } else {
                "not yet valid"
            };
            format!(
                "{name} {state} (valid {} .. {})",
                rfc3339(*from),
                rfc3339(*until)
            )
        })
        .collect();
    if stale.is_empty() {
        Check::pass(NAME, format!("all collateral current at {}", rfc3339(at)))
    } else {
        Check::fail(
            NAME,
            format!(
                "collateral out of date at {}: {}",
                rfc3339(at),
                stale.join("; ")
            ),
        )
    }
}

/// The QE level for a matching QE report, or why the report does not match the identity.
fn check_qe_identity(identity: &QeIdentity, quote: &Quote<'_>) -> Result<SvnLevel, String> {
    let report = quote.signature().qe_report;
    if report.mr_signer() != identity.mr_signer {
        return Err(format!(
            "QE MRSIGNER {} is not Intel's {}",
            hex::encode(report.mr_signer()),
            hex::encode(identity.mr_signer)
        ));
    }
    if report.isv_prod_id() != identity.isv_prod_id {
        return Err(format!(
            "QE ISVPRODID {} is not {}",
            report.isv_prod_id(),
            identity.isv_prod_id
        ));
    }
    let masked_equal = |actual: &[u8], expected: &[u8], mask: &[u8]| {
        actual
            .iter()
            .zip(expected)
            .zip(mask)
            .all(|((a, e), m)| a & m == e & m)
    };
    if !masked_equal(
        &report.misc_select(),
        &identity.misc_select,
        &identity.misc_select_mask,
    ) {
        return Err("QE MISCSELECT differs from the identity under its mask".into());
    }
    if !masked_equal(
        report.attributes(),
        &identity.attributes,
        &identity.attributes_mask,
    ) {
        return Err("QE ATTRIBUTES differ from the identity under their mask".into());
    }
    let level = identity
        .levels
        .iter()
        .find(|level| report.isv_svn() >= level.isv_svn)
        .ok_or_else(|| format!("QE ISV SVN {} is below every level", report.isv_svn()))?;
    if level.status == TcbStatus::Revoked {
        return Err(format!("QE ISV SVN {} is Revoked", report.isv_svn()));
    }
    Ok(level.clone())
}

/// Selects the platform TCB level (Intel QVL rules for TDX) and the TDX module's level, and
/// converges them with the QE's status. Returns the `tcb_level` and `tdx_module` checks.
fn check_tcb_level(
    info: &TcbInfo,
    pck: &PckExtensions,
    body: &TdReport<'_>,
    qe_level: Option<&SvnLevel>,
    claims: &mut Claims,
) -> (Check, Check) {
    let tee_tcb_svn = body.tee_tcb_svn();
    let module = match module_level(info, body) {
        Ok(module) => module,
        Err(e) => {
            return (
                Check::fail(
                    "tcb_level",
                    "not evaluated: the TDX module is not recognised",
                ),
                Check::fail("tdx_module", e),
            );
        }
    };
    let module_check = Check::pass(
        "tdx_module",
        match &module {
            Some((id, level)) => format!("{id} ISV SVN {} → {}", tee_tcb_svn[0], level.status),
            None => "TDX module signer and attributes match the TCB info".into(),
        },
    );
    let level = match platform_level(info, pck, &tee_tcb_svn) {
        Ok(level) => level,
        Err(e) => return (Check::fail("tcb_level", e), module_check),
    };
    let mut status = level.status;
    let mut advisories = level.advisories.clone();
    if let Some(qe) = qe_level {
        status = status.converge(qe.status);
        advisories.extend(qe.advisories.iter().cloned());
        claims.insert("qe_tcb_status".into(), json!(qe.status.name()));
    }
    if let Some((id, module_level)) = &module {
        status = status.converge(module_level.status);
        advisories.extend(module_level.advisories.iter().cloned());
        claims.insert("tdx_module_id".into(), json!(id));
        claims.insert(
            "tdx_module_tcb_status".into(),
            json!(module_level.status.name()),
        );
    }
    advisories.sort();
    advisories.dedup();
    claims.insert("platform_tcb_status".into(), json!(level.status.name()));
    claims.insert("tcb_status".into(), json!(status.name()));
    claims.insert("tcb_date".into(), json!(level.date));
    claims.insert("advisory_ids".into(), json!(advisories));
    claims.insert(
        "tcb_evaluation_data_number".into(),
        json!(info.signed.evaluation_number),
    );
    let detail = format!(
        "platform level {} ({}), converged status {status}{}",
        level.date,
        level.status,
        if advisories.is_empty() {
            String::new()
        } else {
            format!(", advisories {}", advisories.join(", "))
        }
    );
    let level_check = if status == TcbStatus::Revoked {
        Check::fail("tcb_level", detail)
    } else {
        Check::pass("tcb_level", detail)
    };
    (level_check, module_check)
}

fn platform_level<'a>(
    info: &'a TcbInfo,
    pck: &PckExtensions,
    tee_tcb_svn: &[u8; 16],
) -> Result<&'a PlatformLevel, String> {
    // With a TDX module identity (major version > 0) the first two TEE_TCB_SVN bytes are the
    // module's, judged by its identity instead.
    let first_tdx_component = if tee_tcb_svn[1] > 0 { 2 } else { 0 };
    let sgx_ok = |level: &PlatformLevel| {
        pck.pce_svn >= level.pce_svn
            && pck
                .cpu_svn_components
                .iter()
                .zip(level.sgx_components)
                .all(|(have, need)| *have >= need)
    };
    let tdx_ok = |level: &PlatformLevel| {
        tee_tcb_svn[first_tdx_component..]
            .iter()
            .zip(&level.tdx_components[first_tdx_component..])
            .all(|(have, need)| have >= need)
    };
    if let Some(first_sgx) = info.levels.iter().find(|level| sgx_ok(level))
        && first_sgx.status == TcbStatus::Revoked
    {
        return Ok(first_sgx);
    }
    info.levels
        .iter()
        .find(|level| sgx_ok(level) && tdx_ok(level))
        .ok_or_else(|| {
            format!(
                "no TCB level matches: PCK SVNs {:?} PCESVN {} TEE_TCB_SVN {} (platform TCB not \
                 supported by TCB info evaluation {})",
                pck.cpu_svn_components,
                pck.pce_svn,
                hex::encode(tee_tcb_svn),
                info.signed.evaluation_number
            )
        })
}

/// The TDX module's identity and level (major version > 0), or `None` for version 0 whose
/// signer is checked against the TCB info's `tdxModule`.
fn module_level(info: &TcbInfo, body: &TdReport<'_>) -> Result<Option<(String, SvnLevel)>, String> {
    let tee_tcb_svn = body.tee_tcb_svn();
    let matches = |identity: &ModuleIdentity| {
        body.mr_signer_seam() == identity.mr_signer.as_slice()
            && body
                .seam_attributes()
                .iter()
                .zip(identity.attributes_mask)
                .zip(identity.attributes)
                .all(|((have, mask), want)| have & mask == want & mask)
    };
    if tee_tcb_svn[1] == 0 {
        let module = info
            .tdx_module
            .as_ref()
            .ok_or("the TCB info has no tdxModule")?;
        return if matches(module) {
            Ok(None)
        } else {
            Err("MRSIGNER_SEAM or SEAM attributes differ from the TCB info's tdxModule".into())
        };
    }
    let id = format!("TDX_{:02X}", tee_tcb_svn[1]);
    let identity = info
        .module_identities
        .iter()
        .find(|identity| identity.id == id)
        .ok_or_else(|| format!("TDX module {id} is not in the TCB info's module identities"))?;
    if !matches(identity) {
        return Err(format!(
            "MRSIGNER_SEAM or SEAM attributes differ from module identity {id}"
        ));
    }
    let level = identity
        .levels
        .iter()
        .find(|level| u16::from(tee_tcb_svn[0]) >= level.isv_svn)
        .ok_or_else(|| format!("{id} ISV SVN {} is below every level", tee_tcb_svn[0]))?;
    Ok(Some((id, level.clone())))
}

fn check_mr_config_id(body: &TdReport<'_>, digest: &[u8]) -> Check {
    const NAME: &str = "mr_config_id";
    let field = body.mr_config_id();
    let matches = digest.len() <= field.len()
        && field.starts_with(digest)
        && field[digest.len()..].iter().all(|b| *b == 0);
    if matches {
        Check::pass(NAME, "MRCONFIGID carries the init-data digest")
    } else {
        Check::fail(
            NAME,
            format!(
                "MRCONFIGID {} does not carry the init-data digest {}",
                hex::encode(field),
                hex::encode(digest)
            ),
        )
    }
}

fn check_event_log(log: &[u8], body: &TdReport<'_>, claims: &mut Claims) -> Check {
    const NAME: &str = "event_log";
    let parsed = match eventlog::parse(log) {
        Ok(parsed) => parsed,
        Err(e) => return Check::fail(NAME, format!("CC event log: {e}")),
    };
    let replayed = match parsed.replay_rtmrs() {
        Ok(rtmrs) => rtmrs,
        Err(e) => return Check::fail(NAME, format!("CC event log replay: {e}")),
    };
    let mismatched: Vec<String> = (0..4)
        .filter(|index| body.rtmr(*index) != Some(&replayed[*index][..]))
        .map(|index| {
            format!(
                "RTMR{index}: quote {} ≠ replay {}",
                hex::encode(body.rtmr(index).unwrap_or_default()),
                hex::encode(replayed[index])
            )
        })
        .collect();
    if !mismatched.is_empty() {
        return Check::fail(
            NAME,
            format!(
                "event log does not replay to the quoted RTMRs: {}",
                mismatched.join("; ")
            ),
        );
    }
    claims.insert(
        "boot".into(),
        serde_json::to_value(parsed.boot_components()).unwrap_or(Value::Null),
    );
    Check::pass(
        NAME,
        format!("{} events replay to RTMR0-3", parsed.events.len()),
    )
}

fn quote_claims(quote: &Quote<'_>) -> Claims {
    let body = quote.body();
    let attributes = u64::from_le_bytes(body.td_attributes());
    let mut claims = Claims::new();
    let mut put = |name: &str, value: Value| {
        claims.insert(name.to_owned(), value);
    };
    put("quote_version", json!(quote.version()));
    put(
        "tdx_version",
        json!(match quote.body_kind() {
            TdBody::Td10 => "1.0",
            TdBody::Td15 => "1.5",
        }),
    );
    put("qe_svn", json!(quote.qe_svn()));
    put("pce_svn", json!(quote.pce_svn()));
    put("tee_tcb_svn", json!(hex::encode(body.tee_tcb_svn())));
    put("mr_seam", json!(hex::encode(body.mr_seam())));
    put("mr_signer_seam", json!(hex::encode(body.mr_signer_seam())));
    put(
        "seam_attributes",
        json!(hex::encode(body.seam_attributes())),
    );
    put("td_attributes", json!(hex::encode(body.td_attributes())));
    for (name, bit) in [
        ("debug", td_attributes::DEBUG),
        ("sept_ve_disable", td_attributes::SEPT_VE_DISABLE),
        ("pks", td_attributes::PKS),
        ("kl", td_attributes::KL),
        ("perfmon", td_attributes::PERFMON),
    ] {
        put(name, json!(attributes & bit != 0));
    }
    put("xfam", json!(hex::encode(body.xfam())));
    put("mr_td", json!(hex::encode(body.mr_td())));
    put("mr_config_id", json!(hex::encode(body.mr_config_id())));
    put("mr_owner", json!(hex::encode(body.mr_owner())));
    put(
        "mr_owner_config",
        json!(hex::encode(body.mr_owner_config())),
    );
    for index in 0..4 {
        put(
            &format!("rtmr{index}"),
            json!(hex::encode(body.rtmr(index).unwrap_or_default())),
        );
    }
    put("report_data", json!(hex::encode(body.report_data())));
    if let Some(svn2) = body.tee_tcb_svn2() {
        put("tee_tcb_svn2", json!(hex::encode(svn2)));
    }
    if let Some(service_td) = body.mr_service_td() {
        put("mr_service_td", json!(hex::encode(service_td)));
    }
    claims
}

fn add_pck_claims(claims: &mut Claims, pck: &PckExtensions) {
    claims.insert("fmspc".into(), json!(hex::encode(pck.fmspc)));
    claims.insert("pce_id".into(), json!(hex::encode(pck.pce_id)));
    claims.insert("cpu_svn".into(), json!(hex::encode(pck.cpu_svn)));
    claims.insert("pck_pce_svn".into(), json!(pck.pce_svn));
    claims.insert("sgx_type".into(), json!(pck.sgx_type));
}

impl DecodingVerifier for TdxVerifier {
    type Evidence = TdxEvidence;
    type DecodeError = String;

    fn tee(&self) -> Tee {
        Tee::Tdx
    }

    fn decode(evidence: &Value) -> Result<TdxEvidence, String> {
        TdxEvidence::from_json(evidence)
    }

    fn examine_evidence(
        &self,
        evidence: &TdxEvidence,
        expected: &ExpectedBinding,
        at: OffsetDateTime,
    ) -> Examination {
        self.examine_decoded(evidence, expected, at)
    }
}
