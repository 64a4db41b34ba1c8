//! The AK registration exchange (a Warden extension beside the CoCo KBS protocol): the agent
//! proves its attestation key lives in the same TPM as an endorsement key whose certificate
//! chains to a trusted TPM manufacturer, by credential activation.
//!
//! 1. `POST /kbs/v0/tpm/register` [`RegisterRequest`] → [`RegisterChallenge`]: the KBS checks the
//!    EK certificate and the AK's attributes, then encrypts a fresh secret to the EK with the
//!    AK's name (TPM2_MakeCredential, [`super::credential`]).
//! 2. The agent recovers the secret with TPM2_ActivateCredential, which the TPM only performs
//!    when the named AK is loaded beside that EK.
//! 3. `POST /kbs/v0/tpm/activate` [`ActivateRequest`] → [`Registered`]: a matching secret, once and
//!    before the challenge expires, registers the AK; its quotes are then trusted.
//!
//! Bytes are standard base64; names are hex.

use serde::{Deserialize, Serialize};

/// Path of step 1: the agent posts a [`RegisterRequest`] and receives a [`RegisterChallenge`].
pub const REGISTER_PATH: &str = "/kbs/v0/tpm/register";
/// Path of step 3: the agent posts an [`ActivateRequest`] and receives [`Registered`].
pub const ACTIVATE_PATH: &str = "/kbs/v0/tpm/activate";

/// Step 1 request: the EK certificate (and chain) and the AK to register.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// DER EK certificate (as read from the TPM's NV index 0x01c00002).
    pub ek_certificate: String,
    /// Intermediate CA certificates (DER), when the TPM vendor's chain needs them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ek_chain: Vec<String>,
    /// The AK's `TPMT_PUBLIC`.
    pub ak_public: String,
}

/// Step 1 response: the credential for the agent's TPM to activate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterChallenge {
    /// Identifies this challenge in the [`ActivateRequest`].
    pub challenge_id: String,
    /// `TPM2B_ID_OBJECT` content (credentialBlob).
    pub id_object: String,
    /// `TPM2B_ENCRYPTED_SECRET` content (secret).
    pub encrypted_secret: String,
}

/// Step 3 request: the secret recovered by credential activation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivateRequest {
    /// The `challenge_id` of the [`RegisterChallenge`] being answered.
    pub challenge_id: String,
    /// The secret TPM2_ActivateCredential returned.
    pub secret: String,
}

/// Step 3 response: the AK is registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registered {
    /// The registered AK's TPM name.
    pub ak_name: String,
}
