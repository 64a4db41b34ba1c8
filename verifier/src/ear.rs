//! EAR attestation results (draft-ietf-rats-ear): the AR4SI trustworthiness vector, the overall
//! status, the JWT claims set, and the ES256 keys that sign and verify it.
//!
//! Tokens verify with any JWT library from the JWKS alone: the header names the key by its
//! RFC 7638 thumbprint, which is also the `kid` in the JWKS.

use std::collections::{BTreeMap, HashMap};

use crate::explain::TraceSummary;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, JwkSet, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::appraisal::AttestationResult;

/// The `eat_profile` claim of every token: the EAR profile these claims follow.
pub const EAT_PROFILE: &str = "tag:github.com,2023:veraison/ear";
/// Name of the submodule holding the primary TEE's appraisal (Trustee uses the same name, so
/// release policies written for it read the same paths).
pub const PRIMARY_SUBMOD: &str = "cpu0";

/// EAR / AR4SI trust tier. Ordered from least to most severe; a vector's status is its worst tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// No claim is made.
    None,
    /// Every claim made is affirming.
    Affirming,
    /// The worst claim is a warning: a concern, short of contraindicated.
    Warning,
    /// Some claim is contraindicated (or negative): the attester must not be trusted.
    Contraindicated,
}

impl Status {
    /// Tier of one AR4SI claim value: 2..=31 affirming, 32..=95 warning, 96..=127
    /// contraindicated; 0 (no claim) and 1 (unexpected evidence) make no claim. Negative values
    /// (verifier malfunction and unassigned) are treated as contraindicated: fail closed.
    pub fn of_claim(value: i8) -> Status {
        match value {
            0 | 1 => Status::None,
            2..=31 => Status::Affirming,
            32..=95 => Status::Warning,
            _ => Status::Contraindicated,
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::None => "none",
            Status::Affirming => "affirming",
            Status::Warning => "warning",
            Status::Contraindicated => "contraindicated",
        })
    }
}

/// The AR4SI trustworthiness vector. Absent claims are "no claim".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct TrustVector {
    /// AR4SI `instance-identity`: whether the attesting instance is recognised.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_identity: Option<i8>,
    /// AR4SI `configuration`: whether the attester's configuration is approved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub configuration: Option<i8>,
    /// AR4SI `executables`: whether the loaded code is approved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub executables: Option<i8>,
    /// AR4SI `file-system`: whether the attester's files are approved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_system: Option<i8>,
    /// AR4SI `hardware`: whether the hardware is genuine and at an approved security level.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hardware: Option<i8>,
    /// AR4SI `runtime-opaque`: whether the attester's memory is protected from outside access.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime_opaque: Option<i8>,
    /// AR4SI `storage-opaque`: whether the attester's storage is protected from outside access.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_opaque: Option<i8>,
    /// AR4SI `sourced-data`: whether the data the attester relies on comes from approved sources.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sourced_data: Option<i8>,
}

impl TrustVector {
    fn claims(&self) -> [Option<i8>; 8] {
        [
            self.instance_identity,
            self.configuration,
            self.executables,
            self.file_system,
            self.hardware,
            self.runtime_opaque,
            self.storage_opaque,
            self.sourced_data,
        ]
    }

    /// The worst tier among the claims made; `None` when no claim is made.
    pub fn status(&self) -> Status {
        self.claims()
            .into_iter()
            .flatten()
            .map(Status::of_claim)
            .max()
            .unwrap_or(Status::None)
    }
}

/// The verifier that produced a result (`ear.verifier-id`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VerifierId {
    /// Who built the verifier: always `warden`.
    pub developer: String,
    /// The verifier build: `warden-verifier <crate version>`.
    pub build: String,
}

/// One appraised component (`submods.cpu0`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Submod {
    /// The component's overall tier: the worst tier in its vector.
    #[serde(rename = "ear.status")]
    pub status: Status,
    /// The component's AR4SI trustworthiness vector.
    #[serde(rename = "ear.trustworthiness-vector")]
    pub trust_vector: TrustVector,
    /// Id of the appraisal policy that produced the vector.
    #[serde(rename = "ear.appraisal-policy-id")]
    pub appraisal_policy_id: String,
    /// Claims keyed by TEE name, as Trustee does.
    #[serde(rename = "ear.veraison.annotated-evidence")]
    pub annotated_evidence: BTreeMap<String, Value>,
    /// Name of the appraised TEE (as [`crate::Tee::name`]).
    #[serde(rename = "warden.tee")]
    pub tee: String,
    /// The decision trace in brief: how many steps passed and which failed (the whole trace
    /// is returned by the API and shown by `warden-verifier explain`).
    #[serde(rename = "warden.trace", default)]
    pub trace: TraceSummary,
}

/// Proof-of-possession key: the TEE key bound into the evidence (RFC 7800).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Confirmation {
    /// The TEE's public key as a JWK.
    pub jwk: Value,
}

/// The full claims set of a Warden attestation result token. (`Default` is an empty claims set
/// with no submodule: every release policy denies it.)
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EarClaims {
    /// Always [`EAT_PROFILE`].
    pub eat_profile: String,
    /// Issuer: the signer's configured issuer name.
    pub iss: String,
    /// Issued-at time, Unix seconds.
    pub iat: i64,
    /// Start of validity, Unix seconds (the issue time).
    pub nbf: i64,
    /// Expiry time, Unix seconds; the token is valid strictly before it.
    pub exp: i64,
    /// Unique token id (random, hex).
    pub jti: String,
    /// The challenge nonce the evidence answered.
    pub eat_nonce: String,
    /// The verifier build that issued the token.
    #[serde(rename = "ear.verifier-id")]
    pub verifier_id: VerifierId,
    /// Appraised components by submodule name; Warden writes one, [`PRIMARY_SUBMOD`].
    pub submods: BTreeMap<String, Submod>,
    /// The TEE key the token is bound to (`cnf`).
    pub cnf: Confirmation,
    /// Why this result carries no hardware assurance; present only for insecure TEEs so that
    /// every consumer of the token can see it.
    #[serde(
        rename = "warden.insecure",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub insecure: Vec<String>,
}

impl EarClaims {
    /// The primary TEE's appraisal ([`PRIMARY_SUBMOD`]); `None` if the token has none.
    pub fn primary(&self) -> Option<&Submod> {
        self.submods.get(PRIMARY_SUBMOD)
    }
}

/// Inputs to a token that are not part of the appraisal itself.
pub struct TokenContext<'a> {
    /// The challenge nonce, copied to `eat_nonce`.
    pub nonce: &'a str,
    /// The TEE's public key as a JWK, copied to `cnf.jwk`.
    pub tee_pubkey: &'a Value,
    /// Issue time; also the start of validity (`iat`, `nbf`).
    pub issued_at: OffsetDateTime,
    /// How long the token is valid after `issued_at` (whole seconds count).
    pub lifetime: time::Duration,
    /// Unique token id; random, supplied by the caller so this module stays deterministic.
    pub jti: String,
}

impl EarClaims {
    /// Builds the claims set for `result`: one primary submodule, issuer `issuer`, valid for
    /// `context.lifetime` from `context.issued_at`.
    pub fn new(result: &AttestationResult, issuer: &str, context: TokenContext<'_>) -> Self {
        let iat = context.issued_at.unix_timestamp();
        let submod = Submod {
            status: result.status,
            trust_vector: result.trust_vector.clone(),
            appraisal_policy_id: result.policy_id.clone(),
            annotated_evidence: BTreeMap::from([(
                result.tee.name().to_owned(),
                Value::Object(result.claims.clone()),
            )]),
            tee: result.tee.name().into(),
            trace: result.trace.clone(),
        };
        Self {
            eat_profile: EAT_PROFILE.into(),
            iss: issuer.into(),
            iat,
            nbf: iat,
            exp: iat + context.lifetime.whole_seconds(),
            jti: context.jti,
            eat_nonce: context.nonce.into(),
            verifier_id: VerifierId {
                developer: "warden".into(),
                build: concat!("warden-verifier ", env!("CARGO_PKG_VERSION")).into(),
            },
            submods: BTreeMap::from([(PRIMARY_SUBMOD.to_owned(), submod)]),
            cnf: Confirmation {
                jwk: context.tee_pubkey.clone(),
            },
            insecure: result.insecure_reasons.clone(),
        }
    }
}

/// Why a token could not be signed or verified.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The signing key or a JWK could not be read or used.
    #[error("signing key is unusable: {0}")]
    Key(String),
    /// Encoding or signing the JWT failed.
    #[error("token signing failed: {0}")]
    Signing(String),
    /// The token is malformed, its signature or issuer is wrong, or it lacks `exp`, `iat` or
    /// `iss`.
    #[error("token is invalid: {0}")]
    Invalid(String),
    /// The verification time is before `nbf` or not before `exp`.
    #[error("token is expired or not yet valid at {at}")]
    OutsideValidity {
        /// The verification time given.
        at: OffsetDateTime,
    },
    /// The token's header names no `kid`, or one not in the JWKS.
    #[error("token was signed by an unknown key")]
    UnknownKey,
}

/// Generates a new P-256 signing key as PKCS#8 PEM.
pub fn generate_signing_key_pem() -> Result<String, TokenError> {
    use p256::pkcs8::{EncodePrivateKey, LineEnding};
    let key = p256::SecretKey::random(&mut rand::rngs::OsRng);
    key.to_pkcs8_pem(LineEnding::LF)
        .map(|pem| pem.to_string())
        .map_err(|e| TokenError::Key(e.to_string()))
}

/// Signs EAR tokens with a persistent ES256 key.
pub struct TokenSigner {
    encoding: EncodingKey,
    public: Jwk,
    kid: String,
    issuer: String,
}

impl TokenSigner {
    /// Loads a P-256 private key from PKCS#8 PEM to sign tokens with issuer `issuer`; the key id
    /// is the key's RFC 7638 SHA-256 thumbprint.
    pub fn from_pem(pem: &[u8], issuer: &str) -> Result<Self, TokenError> {
        let key_error = |e: jsonwebtoken::errors::Error| TokenError::Key(e.to_string());
        let encoding = EncodingKey::from_ec_pem(pem).map_err(key_error)?;
        let mut public = Jwk::from_encoding_key(&encoding, Algorithm::ES256).map_err(key_error)?;
        let kid = public
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(key_error)?;
        public.common.key_id = Some(kid.clone());
        public.common.public_key_use = Some(jsonwebtoken::jwk::PublicKeyUse::Signature);
        Ok(Self {
            encoding,
            public,
            kid,
            issuer: issuer.into(),
        })
    }

    /// The issuer written in `iss`.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Signs `claims` as an ES256 JWT whose header `kid` names this key.
    pub fn sign(&self, claims: &EarClaims) -> Result<String, TokenError> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        let token = jsonwebtoken::encode(&header, claims, &self.encoding)
            .map_err(|e| TokenError::Signing(e.to_string()))?;
        // ECDSA signatures come as (r, s) or (r, n - s) at random; only the low-S form is
        // issued, so each token has exactly one valid encoding.
        let (signed, signature) = split_signature(&token).map_err(TokenError::Signing)?;
        match signature.normalize_s() {
            Some(low) => Ok(format!(
                "{signed}.{}",
                URL_SAFE_NO_PAD.encode(low.to_bytes())
            )),
            None => Ok(token),
        }
    }

    /// The public keys, as served at `/.well-known/jwks.json`.
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: vec![self.public.clone()],
        }
    }

    /// A verifier that accepts this signer's tokens (its JWKS and issuer).
    pub fn verifier(&self) -> Result<TokenVerifier, TokenError> {
        TokenVerifier::from_jwks(&self.jwks(), &self.issuer)
    }
}

/// A compact ES256 JWS split into its signed part and its P-256 signature.
fn split_signature(token: &str) -> Result<(&str, p256::ecdsa::Signature), String> {
    let (signed, signature) = token
        .rsplit_once('.')
        .ok_or_else(|| "not a compact JWS".to_string())?;
    let bytes = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|e| format!("signature is not base64url: {e}"))?;
    let signature = p256::ecdsa::Signature::from_slice(&bytes)
        .map_err(|_| "signature is not a 64-byte P-256 (r, s)".to_string())?;
    Ok((signed, signature))
}

/// Verifies Warden EAR tokens against a JWKS, with the verification time as a parameter.
pub struct TokenVerifier {
    keys: HashMap<String, DecodingKey>,
    issuer: String,
}

impl TokenVerifier {
    /// Accepts tokens signed by any key in `jwks` (each must have a `kid`) and issued by `issuer`.
    pub fn from_jwks(jwks: &JwkSet, issuer: &str) -> Result<Self, TokenError> {
        let mut keys = HashMap::new();
        for jwk in &jwks.keys {
            let kid = jwk
                .common
                .key_id
                .clone()
                .ok_or_else(|| TokenError::Key("JWK without kid".into()))?;
            let key = DecodingKey::from_jwk(jwk).map_err(|e| TokenError::Key(e.to_string()))?;
            keys.insert(kid, key);
        }
        Ok(Self {
            keys,
            issuer: issuer.into(),
        })
    }

    /// Checks the signature, the issuer and the required `exp`, `iat` and `iss` claims, and that
    /// `at` lies in [`nbf`, `exp`); returns the claims.
    pub fn verify(&self, token: &str, at: OffsetDateTime) -> Result<EarClaims, TokenError> {
        let invalid = |e: jsonwebtoken::errors::Error| TokenError::Invalid(e.to_string());
        let header = jsonwebtoken::decode_header(token).map_err(invalid)?;
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let key = self.keys.get(&kid).ok_or(TokenError::UnknownKey)?;
        let (_, signature) = split_signature(token).map_err(TokenError::Invalid)?;
        if signature.normalize_s().is_some() {
            // (r, n - s) verifies too; accepting it would give one token two encodings.
            return Err(TokenError::Invalid(
                "high-S ECDSA signature refused (signatures must be low-S)".into(),
            ));
        }
        let mut validation = Validation::new(Algorithm::ES256);
        // Expiry is judged below against the caller's time, never the wall clock.
        validation.validate_exp = false;
        validation.required_spec_claims = ["exp", "iat", "iss"].map(String::from).into();
        validation.set_issuer(&[&self.issuer]);
        let claims = jsonwebtoken::decode::<EarClaims>(token, key, &validation)
            .map_err(invalid)?
            .claims;
        let now = at.unix_timestamp();
        if now < claims.nbf || now >= claims.exp {
            return Err(TokenError::OutsideValidity { at });
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_issued_low_s_and_high_s_twins_are_refused() {
        let signer =
            TokenSigner::from_pem(generate_signing_key_pem().unwrap().as_bytes(), "iss").unwrap();
        let verifier = signer.verifier().unwrap();
        let claims = EarClaims {
            iss: "iss".into(),
            iat: 10,
            nbf: 10,
            exp: 100,
            ..EarClaims::default()
        };
        let at = OffsetDateTime::from_unix_timestamp(50).unwrap();
        // Raw ECDSA gives high S half the time: 16 tokens all low-S show normalisation works.
        for _ in 0..16 {
            let token = signer.sign(&claims).unwrap();
            let (signed, signature) = split_signature(&token).unwrap();
            assert!(signature.normalize_s().is_none(), "issued high-S");
            verifier.verify(&token, at).unwrap();
            // The same signature as (r, n - s) verifies mathematically; it must be refused.
            let (r, s) = signature.split_scalars();
            let twin = p256::ecdsa::Signature::from_scalars(r, -*s.as_ref()).unwrap();
            let twin = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(twin.to_bytes()));
            let error = verifier.verify(&twin, at).unwrap_err();
            assert!(error.to_string().contains("high-S"), "{error}");
        }
    }

    #[test]
    fn status_is_the_worst_claim() {
        let mut vector = TrustVector::default();
        assert_eq!(vector.status(), Status::None);
        vector.hardware = Some(0);
        assert_eq!(vector.status(), Status::None);
        vector.instance_identity = Some(2);
        assert_eq!(vector.status(), Status::Affirming);
        vector.executables = Some(33);
        assert_eq!(vector.status(), Status::Warning);
        vector.configuration = Some(96);
        assert_eq!(vector.status(), Status::Contraindicated);
        assert_eq!(Status::of_claim(-1), Status::Contraindicated);
    }

    #[test]
    fn vector_uses_ar4si_names_and_refuses_unknown_ones() {
        let vector = TrustVector {
            instance_identity: Some(2),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&vector).unwrap(),
            serde_json::json!({"instance-identity": 2})
        );
        assert!(serde_json::from_value::<TrustVector>(serde_json::json!({"bogus": 2})).is_err());
        assert!(
            serde_json::from_value::<TrustVector>(serde_json::json!({"hardware": 300})).is_err()
        );
    }
}
