//! TPM AK registration by credential activation (exchange described in
//! [`warden_wire::tpm::registration`]): the KBS accepts an AK only once it is proven to live in
//! a TPM whose EK certificate chains to a configured TPM-manufacturer CA.
//!
//! The [`Registrar`] is the exchange's state machine, with no I/O: it hands back the activated
//! AK, and the KBS registers it with its verifier (embedded or a service), which keeps and
//! trusts it before the client is told.
//!
//! Invariants: a challenge is single-use and expires after [`CHALLENGE_LIFETIME`]; at most
//! [`MAX_PENDING`] are outstanding; the secret is kept only as its SHA-256 (compared, never
//! returned); an AK is handed back only after a matching activation. The EK certificate must
//! carry the EK purpose (`tcg-kp-EKCertificate`) and chain to a configured CA; the AK must have
//! the attributes and empty authPolicy only a TPM-made AK can have (see [`acceptable_ak`]).
//!
//! The pending-challenge table is global ([`MAX_PENDING`]); filling it takes one rate-limited
//! registration per slot from a client with an EK certificate the KBS trusts.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore as _;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tracing::info;
use warden_verifier::tee::tpm::trust::{
    AkKey, Cert, OID_EK_CERTIFICATE, TpmTrust, chain_to_root, issued_by, registrable_ak,
};
use warden_wire::tpm::credential::{RsaEkPublic, make_credential};
use warden_wire::tpm::registration::{ActivateRequest, RegisterChallenge, RegisterRequest};
use warden_wire::tpm::{KeyMaterial, PublicKey};

use crate::error::KbsError;

/// How long a registration challenge can be activated.
pub const CHALLENGE_LIFETIME: time::Duration = time::Duration::minutes(2);
/// Most unexpired challenges held at once; registration beyond it answers 429.
pub const MAX_PENDING: usize = 1024;
/// Intermediates read from a registration request: each costs a signature check.
pub const MAX_EK_CHAIN: usize = 8;
const SECRET_LEN: usize = 32;

/// What registration needs from the configuration.
#[derive(Debug, Clone)]
pub struct RegistrationSettings {
    /// TPM-manufacturer CAs the EK certificate must chain to.
    pub ek_cas: TpmTrust,
}

/// An AK proven by credential activation to live in the TPM of a trusted EK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivatedAk {
    /// `TPMT_PUBLIC`.
    pub ak_public: Vec<u8>,
    /// TPM name, hex.
    pub ak_name: String,
}

struct Pending {
    ak_public: Vec<u8>,
    ak_name: Vec<u8>,
    secret_sha256: [u8; 32],
    expires: OffsetDateTime,
}

/// The registration exchange: pending challenges, by challenge id.
pub struct Registrar {
    settings: Option<RegistrationSettings>,
    pending: Mutex<HashMap<String, Pending>>,
}

fn refused(message: impl Into<String>) -> KbsError {
    KbsError::Registration(message.into())
}

fn base64_field(name: &str, text: &str) -> Result<Vec<u8>, KbsError> {
    STANDARD
        .decode(text)
        .map_err(|_| KbsError::Malformed(format!("{name} is not base64")))
}

impl Registrar {
    /// `settings` is `None` when registration is not configured: every request is refused.
    pub fn new(settings: Option<RegistrationSettings>) -> Self {
        Self {
            settings,
            pending: Mutex::new(HashMap::new()),
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        // Plain data: a panic elsewhere cannot leave it half-updated.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Step 1: checks the EK certificate and the AK, and returns the credential challenge.
    pub fn register(
        &self,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<RegisterChallenge, KbsError> {
        let settings = self.settings.as_ref().ok_or_else(|| {
            refused("TPM AK registration is disabled: the KBS has no [tpm] ek_ca_dir")
        })?;
        let request: RegisterRequest =
            serde_json::from_slice(body).map_err(|e| KbsError::Malformed(e.to_string()))?;
        // The AK first: its checks cost nothing, the EK chain costs signature checks.
        let ak_public = base64_field("ak_public", &request.ak_public)?;
        let ak = acceptable_ak(&ak_public)?;
        if request.ek_chain.len() > MAX_EK_CHAIN {
            return Err(refused(format!(
                "ek_chain has {} certificates; at most {MAX_EK_CHAIN} are read",
                request.ek_chain.len()
            )));
        }
        let ek_der = base64_field("ek_certificate", &request.ek_certificate)?;
        let chain = request
            .ek_chain
            .iter()
            .map(|text| base64_field("ek_chain", text))
            .collect::<Result<Vec<_>, _>>()?;
        let ek_cert =
            Cert::from_der(&ek_der).map_err(|e| refused(format!("EK certificate: {e}")))?;
        if !ek_cert.is_ek_certificate() {
            return Err(refused(format!(
                "the EK certificate does not name the EK purpose (extended key usage tcg-kp-EKCertificate, {OID_EK_CERTIFICATE})"
            )));
        }
        let root = chain_to_root(
            &settings.ek_cas,
            &ek_cert,
            "the EK certificate",
            &chain,
            now.unix_timestamp(),
            &issued_by,
        )
        .map_err(refused)?;
        let ek_key = AkKey::from_spki(ek_cert.spki_der())
            .map_err(|e| refused(format!("EK certificate key: {e}")))?;
        let KeyMaterial::Rsa { modulus, exponent } = &ek_key.material else {
            return Err(refused(
                "only RSA-2048 EKs (TCG template L-1) are supported",
            ));
        };

        let ak_name = ak.name();
        let mut secret = [0u8; SECRET_LEN];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let ek = RsaEkPublic {
            modulus,
            exponent: *exponent,
        };
        let credential = make_credential(&ek, &ak_name, &secret, None)
            .map_err(|e| refused(format!("cannot make a credential for this EK: {e}")))?;
        let challenge_id = hex::encode({
            let mut id = [0u8; 16];
            rand::rngs::OsRng.fill_bytes(&mut id);
            id
        });
        let mut pending = self.pending();
        pending.retain(|_, entry| entry.expires > now);
        if pending.len() >= MAX_PENDING {
            return Err(KbsError::RateLimited);
        }
        pending.insert(
            challenge_id.clone(),
            Pending {
                ak_public,
                ak_name: ak_name.clone(),
                secret_sha256: Sha256::digest(secret).into(),
                expires: now + CHALLENGE_LIFETIME,
            },
        );
        info!(ak_name = %hex::encode(&ak_name), ek_root = %root, "TPM AK registration challenged");
        Ok(RegisterChallenge {
            challenge_id,
            id_object: STANDARD.encode(&credential.id_object),
            encrypted_secret: STANDARD.encode(&credential.encrypted_secret),
        })
    }

    /// Step 3: a matching secret hands back the AK it proves.
    pub fn activate(&self, body: &[u8], now: OffsetDateTime) -> Result<ActivatedAk, KbsError> {
        if self.settings.is_none() {
            return Err(refused(
                "TPM AK registration is disabled: the KBS has no [tpm] ek_ca_dir",
            ));
        }
        let request: ActivateRequest =
            serde_json::from_slice(body).map_err(|e| KbsError::Malformed(e.to_string()))?;
        let secret = base64_field("secret", &request.secret)?;
        // Removed whatever the outcome: a challenge is answered once.
        let entry = self
            .pending()
            .remove(&request.challenge_id)
            .filter(|entry| entry.expires > now)
            .ok_or_else(|| refused("unknown, used or expired challenge"))?;
        // Comparing digests keeps the comparison's timing independent of the secret.
        if <[u8; 32]>::from(Sha256::digest(&secret)) != entry.secret_sha256 {
            return Err(refused(
                "the secret does not match: the AK is not in the TPM that holds this EK",
            ));
        }
        Ok(ActivatedAk {
            ak_name: hex::encode(&entry.ak_name),
            ak_public: entry.ak_public,
        })
    }
}

fn acceptable_ak(ak_public: &[u8]) -> Result<PublicKey, KbsError> {
    registrable_ak(ak_public).map_err(refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000 + seconds).unwrap()
    }

    /// An RSA AK `TPMT_PUBLIC` (restricted signing key) with `auth_policy`; its modulus need not
    /// be a real key.
    fn rsa_ak_public(auth_policy: &[u8]) -> Vec<u8> {
        let mut ak_public = 0x0001u16.to_be_bytes().to_vec();
        ak_public.extend(0x000Bu16.to_be_bytes());
        ak_public.extend(0x0005_0072u32.to_be_bytes());
        ak_public.extend((auth_policy.len() as u16).to_be_bytes());
        ak_public.extend(auth_policy);
        ak_public.extend(0x0010u16.to_be_bytes());
        ak_public.extend(0x0014u16.to_be_bytes());
        ak_public.extend(0x000Bu16.to_be_bytes());
        ak_public.extend(2048u16.to_be_bytes());
        ak_public.extend(0u32.to_be_bytes());
        ak_public.extend(256u16.to_be_bytes());
        ak_public.extend([0xC3; 256]);
        ak_public
    }

    fn registration(ak_public: &[u8], ek_chain: usize) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "ek_certificate": "AAAA",
            "ek_chain": vec!["AAAA"; ek_chain],
            "ak_public": STANDARD.encode(ak_public),
        }))
        .unwrap()
    }

    /// A registrar (with an empty EK CA set) holding one pending challenge for `secret`.
    fn with_challenge(secret: &[u8]) -> Registrar {
        let registrar = Registrar::new(Some(RegistrationSettings {
            ek_cas: TpmTrust::default(),
        }));
        let ak_public = rsa_ak_public(&[]);
        let ak_name = PublicKey::parse(&ak_public).unwrap().name();
        registrar.pending().insert(
            "c1".into(),
            Pending {
                ak_public,
                ak_name,
                secret_sha256: Sha256::digest(secret).into(),
                expires: at(60),
            },
        );
        registrar
    }

    fn activation(secret: &[u8]) -> Vec<u8> {
        serde_json::to_vec(&ActivateRequest {
            challenge_id: "c1".into(),
            secret: STANDARD.encode(secret),
        })
        .unwrap()
    }

    #[test]
    fn a_matching_secret_hands_back_the_ak_once() {
        let registrar = with_challenge(b"s3cret");
        let activated = registrar.activate(&activation(b"s3cret"), at(1)).unwrap();
        assert_eq!(activated.ak_name.len(), 68);
        assert_eq!(activated.ak_public, rsa_ak_public(&[]));
        assert_eq!(
            activated.ak_name,
            hex::encode(PublicKey::parse(&activated.ak_public).unwrap().name())
        );
        // Single use: the same answer again is refused.
        let replay = registrar.activate(&activation(b"s3cret"), at(2));
        assert!(matches!(replay, Err(KbsError::Registration(_))));
    }

    #[test]
    fn a_wrong_or_late_secret_registers_nothing() {
        let registrar = with_challenge(b"s3cret");
        let wrong = registrar.activate(&activation(b"guess"), at(1));
        assert!(matches!(wrong, Err(KbsError::Registration(m)) if m.contains("does not match")));
        // The failed answer used the challenge up.
        assert!(registrar.activate(&activation(b"s3cret"), at(2)).is_err());
        let late_registrar = with_challenge(b"s3cret");
        assert!(
            late_registrar
                .activate(&activation(b"s3cret"), at(61))
                .is_err()
        );
    }

    #[test]
    fn disabled_or_malformed_requests_are_refused_clearly() {
        let disabled = Registrar::new(None);
        assert!(matches!(
            disabled.register(b"{}", at(0)),
            Err(KbsError::Registration(m)) if m.contains("disabled")
        ));
        let registrar = with_challenge(b"x");
        assert!(matches!(
            registrar.register(b"not json", at(0)),
            Err(KbsError::Malformed(_))
        ));
        assert!(matches!(
            registrar.register(&registration(&rsa_ak_public(&[]), 0), at(0)),
            Err(KbsError::Registration(m)) if m.contains("EK certificate")
        ));
        assert!(matches!(
            registrar.register(&registration(&rsa_ak_public(&[]), MAX_EK_CHAIN + 1), at(0)),
            Err(KbsError::Registration(m)) if m.contains("at most 8")
        ));
        assert!(matches!(
            registrar.activate(b"[]", at(0)),
            Err(KbsError::Malformed(_))
        ));
    }

    #[test]
    fn an_ak_with_an_auth_policy_or_without_fixed_tpm_is_refused_before_the_ek_is_looked_at() {
        let registrar = with_challenge(b"x");
        // PolicyCommandCode(ActivateCredential): what a public-only external key would carry
        // to pass activation without ever having been in the TPM.
        let policy = [0x5A; 32];
        assert!(matches!(
            registrar.register(&registration(&rsa_ak_public(&policy), 0), at(0)),
            Err(KbsError::Registration(m)) if m.contains("authPolicy")
        ));
        let mut not_fixed_tpm = rsa_ak_public(&[]);
        not_fixed_tpm[4..8].copy_from_slice(
            &(0x0005_0072u32 & !warden_wire::tpm::attributes::FIXED_TPM).to_be_bytes(),
        );
        assert!(matches!(
            registrar.register(&registration(&not_fixed_tpm, 0), at(0)),
            Err(KbsError::Registration(m)) if m.contains("fixedTPM")
        ));
    }
}
