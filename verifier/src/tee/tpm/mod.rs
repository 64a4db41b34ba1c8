//! TPM 2.0 quotes (`tee: "tpm"`): an attestation key (AK) the operator trusts signs one or more
//! `TPMS_ATTEST` quotes over PCR values, with the runtime-data binding as qualifying data.
//!
//! Checks, in order: `evidence_format` (see [`warden_wire::tpm::Evidence`]), `ak_trust` (AK
//! certificate chain to a configured CA root, or a pinned / registered key; see [`trust`]),
//! `ak_attributes` (a `TPMT_PUBLIC` AK must be a restricted, fixedTPM signing key, which is what
//! makes the TPM refuse to sign forged quotes with it), `quote_hash` (SHA-1 only when allowed),
//! `quote_signature`, `pcr_digest` (recomputed from the reported PCR values by the signature's
//! hash), `report_data` (`extraData` = expected binding, then zeros), `init_data` (only when the
//! client presented init-data: SHA-256 PCR 8 = SHA-256(0^32 ‖ digest), CoCo's convention), and
//! `event_log` (the log, when sent, replays to the quoted PCRs in every bank both carry).
//!
//! Claims: `pcrs` (`{bank: {index: hex}}`, only values a verified quote covers), `quote`
//! (`extra_data`, `clock`, `reset_count`, `restart_count`, `safe`, `firmware_version`,
//! `signature_scheme`, `signature_hash`, `qualified_signer`), `report_data`, `ak` (`key`,
//! `spki_sha256`, `trust`: `certificate`|`pinned`|`registered`, `name` for a `TPMT_PUBLIC`,
//! `root` for a certificate), `init_data` (the digest PCR 8 binds, when checked), and for a
//! matching log `event_log` (`bank`, `replayed_pcrs`,
//! `secure_boot` when proven, `boot_applications`, `pcr_events`). Reset and restart counts and
//! the firmware version are obfuscated by the TPM for keys outside the endorsement hierarchy.

pub mod quote;
pub mod trust;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};
use time::OffsetDateTime;
use warden_wire::eventlog::parse_pcr_log;
use warden_wire::tpm::{AkPublic, Evidence, HashAlg, attributes};

use super::{Check, DecodingVerifier, Examination, ExpectedBinding, Tee};
use crate::cache::BoundedCache;
use quote::{QuotePolicy, appraise_quotes, check_init_data};
use trust::{AkKey, Cert, SharedTpmTrust, TpmTrust, TrustError, chain_to_root};

/// The TPM verifier: the AK trust, the hash policy and the signature cache.
pub struct TpmVerifier {
    trust: Arc<SharedTpmTrust>,
    allow_sha1: bool,
    /// Whether a certificate's signature verifies with a CA's key, by (certificate, CA)
    /// fingerprints; time validity is judged on every call.
    signatures: BoundedCache<([u8; 32], [u8; 32]), bool>,
}

impl TpmVerifier {
    /// A verifier with fixed AK trust; SHA-1 is refused.
    pub fn new(trust: TpmTrust) -> Self {
        Self::with_shared_trust(Arc::new(SharedTpmTrust::new(trust)))
    }

    /// A verifier reading trust others may add to (the KBS registers activated AKs).
    pub fn with_shared_trust(trust: Arc<SharedTpmTrust>) -> Self {
        Self {
            trust,
            allow_sha1: false,
            signatures: BoundedCache::default(),
        }
    }

    /// Accept SHA-1 signatures and PCR banks (off by default).
    pub fn allow_sha1(mut self, allow: bool) -> Self {
        self.allow_sha1 = allow;
        self
    }

    /// Examines already-decoded evidence (see the module documentation for the checks).
    pub fn examine_decoded(
        &self,
        evidence: &Evidence,
        expected: &ExpectedBinding,
        at: OffsetDateTime,
    ) -> Examination {
        let mut ex = Examination::default();
        ex.push(Check::pass(
            "evidence_format",
            format!(
                "{} quote(s), {} PCR values",
                evidence.quotes.len(),
                evidence.pcrs.len()
            ),
        ));
        let trust = self.trust.snapshot();
        let Some(key) = self.trusted_key(&mut ex, evidence, &trust, at) else {
            return ex;
        };
        if !ex.push(check_attributes(&key)) {
            return ex;
        }
        let policy = QuotePolicy {
            allow_sha1: self.allow_sha1,
        };
        let Some(vouched) = appraise_quotes(
            &mut ex,
            &key.material,
            &evidence.quotes,
            &evidence.pcrs,
            expected,
            &policy,
        ) else {
            return ex;
        };
        check_init_data(&mut ex, expected, &vouched);
        let log_check = check_event_log(&mut ex.claims, evidence.event_log.as_deref(), &vouched);
        ex.push(log_check);
        ex
    }

    /// The AK, once `ak_trust` passed; the `ak` claim is set either way when the key is known.
    fn trusted_key(
        &self,
        ex: &mut Examination,
        evidence: &Evidence,
        trust: &TpmTrust,
        at: OffsetDateTime,
    ) -> Option<AkKey> {
        let from_evidence = match &evidence.ak_public {
            Some(AkPublic::Tpm(public)) => Some(AkKey::from_tpm(public.clone())),
            Some(AkPublic::Spki(der)) => Some(AkKey::from_spki(der)),
            None => None,
        }
        .transpose();
        let certificate = evidence
            .ak_certificate
            .as_deref()
            .map(|der| {
                let cert = Cert::from_der(der).map_err(|e| format!("AK certificate: {e}"))?;
                let key = AkKey::from_spki(cert.spki_der())
                    .map_err(|e| format!("AK certificate key: {e}"))?;
                Ok::<_, String>((cert, key))
            })
            .transpose();
        let (from_evidence, certificate) = match (from_evidence, certificate) {
            (Ok(key), Ok(cert)) => (key, cert),
            (Err(e), _) | (_, Err(e)) => {
                ex.push(Check::fail("ak_trust", e));
                return None;
            }
        };
        let key = match (from_evidence, &certificate) {
            (Some(key), Some((_, cert_key))) if key.spki_sha256 != cert_key.spki_sha256 => {
                ex.push(Check::fail(
                    "ak_trust",
                    "the AK certificate is for another key than ak_public",
                ));
                return None;
            }
            (Some(key), _) => key,
            (None, Some((_, cert_key))) => cert_key.clone(),
            (None, None) => {
                ex.push(Check::fail("ak_trust", "the evidence names no AK"));
                return None;
            }
        };
        let mut claim = json!({
            "key": key.describe(),
            "spki_sha256": hex::encode(key.spki_sha256),
        });
        if let Some(public) = &key.tpm_public {
            claim["name"] = Value::String(hex::encode(public.name()));
        }
        let check = if let Some(origin) = trust.key_origin(&key) {
            claim["trust"] = Value::String(origin.name().into());
            Check::pass("ak_trust", format!("the AK key is {}", origin.name()))
        } else if let Some((cert, _)) = &certificate {
            match self.chain_to_root(cert, &evidence.ak_chain, trust, at) {
                Ok(root) => {
                    claim["trust"] = Value::String("certificate".into());
                    claim["root"] = Value::String(root.clone());
                    Check::pass("ak_trust", format!("the AK certificate chains to {root}"))
                }
                Err(e) => Check::fail("ak_trust", e),
            }
        } else {
            Check::fail(
                "ak_trust",
                format!(
                    "the AK (SPKI SHA-256 {}) is neither pinned nor registered, and no AK certificate was sent",
                    hex::encode(key.spki_sha256)
                ),
            )
        };
        ex.claims.insert("ak".into(), claim);
        ex.push(check).then_some(key)
    }

    fn chain_to_root(
        &self,
        leaf: &Cert,
        sent: &[Vec<u8>],
        trust: &TpmTrust,
        at: OffsetDateTime,
    ) -> Result<String, TrustError> {
        chain_to_root(
            trust,
            leaf,
            "the AK certificate",
            sent,
            at.unix_timestamp(),
            &|cert, ca| self.issued(cert, ca),
        )
    }

    fn issued(&self, cert: &Cert, ca: &Cert) -> bool {
        cert.names_issuer(ca)
            && self
                .signatures
                .get_or_compute((cert.fingerprint, ca.fingerprint), || {
                    trust::issued_by(cert, ca)
                })
    }
}

/// A `TPMT_PUBLIC` AK must be a restricted signing key that cannot leave its TPM.
fn check_attributes(key: &AkKey) -> Check {
    use attributes::{DECRYPT, FIXED_TPM, RESTRICTED, SIGN};
    let Some(public) = &key.tpm_public else {
        return Check::pass(
            "ak_attributes",
            "not checked: the AK was given as a key, not a TPMT_PUBLIC (trusted as configured)",
        );
    };
    if public.has_attributes(RESTRICTED | SIGN | FIXED_TPM) && !public.has_attributes(DECRYPT) {
        Check::pass("ak_attributes", "restricted, fixedTPM signing key")
    } else {
        Check::fail(
            "ak_attributes",
            format!(
                "objectAttributes {:#010x}: an AK must be restricted, fixedTPM, sign and not decrypt",
                public.attributes
            ),
        )
    }
}

/// Replays the event log, when sent, in every bank it carries that a verified quote covers; each
/// replayed PCR must be quoted and equal. Publishes `event_log` claims for a matching log.
fn check_event_log(
    claims: &mut super::Claims,
    log: Option<&[u8]>,
    vouched: &BTreeMap<(HashAlg, u32), Vec<u8>>,
) -> Check {
    const NAME: &str = "event_log";
    let Some(bytes) = log else {
        return Check::pass(NAME, "not supplied");
    };
    let log = match parse_pcr_log(bytes) {
        Ok(log) => log,
        Err(e) => return Check::fail(NAME, e.to_string()),
    };
    let quoted_banks: Vec<HashAlg> = [
        HashAlg::Sha256,
        HashAlg::Sha384,
        HashAlg::Sha512,
        HashAlg::Sha1,
    ]
    .into_iter()
    .filter(|bank| vouched.keys().any(|(quoted, _)| quoted == bank))
    .filter(|bank| log.algorithms.iter().any(|(id, _)| *id == bank.id()))
    .collect();
    let Some(&primary) = quoted_banks.first() else {
        return Check::fail(NAME, "the log has no digests in a quoted PCR bank");
    };
    let mut replayed_pcrs = Vec::new();
    for &bank in &quoted_banks {
        let replayed = match log.replay_pcrs(bank) {
            Ok(replayed) => replayed,
            Err(e) => return Check::fail(NAME, e.to_string()),
        };
        for (pcr, value) in &replayed {
            match vouched.get(&(bank, *pcr)) {
                Some(quoted) if quoted == value => {}
                Some(quoted) => {
                    return Check::fail(
                        NAME,
                        format!(
                            "{} PCR {pcr} replays to {} but the quote has {}",
                            bank.name(),
                            hex::encode(value),
                            hex::encode(quoted)
                        ),
                    );
                }
                None => {
                    return Check::fail(
                        NAME,
                        format!("{} PCR {pcr} is logged but not quoted", bank.name()),
                    );
                }
            }
        }
        if bank == primary {
            replayed_pcrs = replayed.into_keys().collect();
        }
    }
    let components = log.pcr_components(primary);
    let mut claim = json!({
        "bank": primary.name(),
        "replayed_pcrs": replayed_pcrs,
        "boot_applications": components.boot_applications,
        "pcr_events": components.pcr_events,
    });
    if let Some(enabled) = components.secure_boot {
        claim["secure_boot"] = Value::Bool(enabled);
    }
    claims.insert(NAME.into(), claim);
    Check::pass(
        NAME,
        format!(
            "{} events replay to PCRs {:?} in {}",
            log.events.len(),
            replayed_pcrs,
            quoted_banks
                .iter()
                .map(|bank| bank.name())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )
}

impl DecodingVerifier for TpmVerifier {
    type Evidence = Evidence;
    type DecodeError = warden_wire::tpm::EvidenceError;

    fn tee(&self) -> Tee {
        Tee::Tpm
    }

    fn decode(evidence: &Value) -> Result<Evidence, warden_wire::tpm::EvidenceError> {
        Evidence::from_value(evidence)
    }

    fn examine_evidence(
        &self,
        evidence: &Evidence,
        expected: &ExpectedBinding,
        at: OffsetDateTime,
    ) -> Examination {
        self.examine_decoded(evidence, expected, at)
    }
}
