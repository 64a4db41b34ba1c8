//! The KBS attestation handshake as a plain state machine: no sockets, no clock, no storage,
//! no randomness of its own. Callers pass the time, fresh nonces and session ids in.
//!
//! ```text
//! auth ──► Challenged ──begin_attestation──► Attesting ──complete──► Attested ──(expiry)──► gone
//!                 │ (nonce consumed here: any failure removes the session)
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use time::{Duration, OffsetDateTime};
use warden_verifier::ExpectedBinding;
use warden_verifier::ear::EarClaims;
use warden_wire::{
    Attestation, Challenge, InitData, PROTOCOL_VERSION, Request, TeePublicKey, runtime_data_digest,
};

/// The digest a TEE must carry for this init-data (SNP HOST_DATA, TDX MRCONFIGID): the hash of
/// the TOML body's bytes with the algorithm the body itself names, as CoCo computes it.
pub fn init_data_digest(init_data: &InitData) -> Result<Vec<u8>, ProtocolError> {
    warden_verifier::init_data::read(init_data)
        .map(|(digest, _)| digest)
        .map_err(ProtocolError::BadInitData)
}

/// Why a handshake step was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// The `/auth` request's version is not [`PROTOCOL_VERSION`] (kept to 32 characters).
    #[error("protocol version {0:?} is not supported; this KBS accepts exactly {PROTOCOL_VERSION}")]
    UnsupportedVersion(String),
    /// No session with this id: none sent, never opened, or already removed.
    #[error("no session: call /auth first (or the session was used up or expired)")]
    NoSession,
    /// The session's time is up; it is removed.
    #[error("session expired")]
    SessionExpired,
    /// The session has not completed attestation.
    #[error("session has not completed attestation")]
    NotAttested,
    /// The session's nonce was already consumed by an attestation attempt.
    #[error("session already used its nonce; start again with /auth")]
    NonceAlreadyUsed,
    /// The runtime data's nonce is not this session's challenge.
    #[error("nonce does not match the challenge of this session")]
    NonceMismatch,
    /// The runtime data's TEE public key is unusable.
    #[error("TEE public key refused: {0}")]
    BadTeeKey(String),
    /// The init-data cannot be read or hashed.
    #[error("init-data refused: {0}")]
    BadInitData(String),
    /// [`ProtocolConfig::max_sessions`] unexpired sessions are already held.
    #[error("too many pending sessions; retry later")]
    TooManySessions,
}

/// Limits of the handshake.
#[derive(Debug, Clone, Copy)]
pub struct ProtocolConfig {
    /// How long a session lives from `/auth`; once attested, never past its token's expiry.
    pub session_timeout: Duration,
    /// Most sessions held at once; `/auth` beyond it fails with
    /// [`ProtocolError::TooManySessions`].
    pub max_sessions: usize,
}

/// What a successful attestation grants a session.
#[derive(Debug)]
pub struct Authorization {
    /// The claims of the appraisal, as carried by the token.
    pub claims: EarClaims,
    /// The attested TEE key that resources are encrypted to.
    pub tee_key: TeePublicKey,
    /// The signed attestation token `/attest` returned.
    pub token: String,
}

/// Everything the verifier needs to appraise an attestation, taken from the session.
#[derive(Debug)]
pub struct PendingAttestation {
    /// The TEE named at `/auth`.
    pub tee: String,
    /// The session's challenge nonce (now consumed).
    pub nonce: String,
    /// The runtime-data digest and init-data digest the evidence must bind.
    pub expected: ExpectedBinding,
    /// The presented init-data, whose digest `expected` carries.
    pub init_data: Option<InitData>,
    /// The TEE public key from the runtime data.
    pub tee_key: TeePublicKey,
}

#[derive(Debug)]
enum State {
    Challenged { tee: String, nonce: String },
    Attesting,
    Attested(Arc<Authorization>),
}

#[derive(Debug)]
struct Session {
    state: State,
    expires_at: OffsetDateTime,
}

/// The sessions of the handshake, by session id (the `kbs-session-id` cookie).
pub struct Handshake {
    config: ProtocolConfig,
    sessions: HashMap<String, Session>,
}

impl Handshake {
    /// A handshake with no sessions.
    pub fn new(config: ProtocolConfig) -> Self {
        Self {
            config,
            sessions: HashMap::new(),
        }
    }

    /// Sessions held, including expired ones not yet purged.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Opens a session for `request` with the caller's fresh `session_id` and `nonce`.
    pub fn auth(
        &mut self,
        request: &Request,
        session_id: String,
        nonce: String,
        now: OffsetDateTime,
    ) -> Result<Challenge, ProtocolError> {
        if request.version != PROTOCOL_VERSION {
            return Err(ProtocolError::UnsupportedVersion(
                request.version.chars().take(32).collect(),
            ));
        }
        if self.sessions.len() >= self.config.max_sessions {
            self.purge_expired(now);
            if self.sessions.len() >= self.config.max_sessions {
                return Err(ProtocolError::TooManySessions);
            }
        }
        let state = State::Challenged {
            tee: request.tee.clone(),
            nonce: nonce.clone(),
        };
        let expires_at = now + self.config.session_timeout;
        self.sessions
            .insert(session_id, Session { state, expires_at });
        Ok(Challenge {
            nonce,
            extra_params: serde_json::Value::String(String::new()),
        })
    }

    /// The TEE a live session was challenged for, without consuming anything: lets the I/O
    /// layer prepare collateral only for callers that hold a fresh challenge.
    pub fn challenged_tee(&self, session_id: &str, now: OffsetDateTime) -> Option<&str> {
        match self.sessions.get(session_id) {
            Some(Session {
                state: State::Challenged { tee, .. },
                expires_at,
            }) if now < *expires_at => Some(tee),
            _ => None,
        }
    }

    /// Consumes the session's nonce and returns what must be appraised. From here on the session
    /// either completes or is gone: a nonce is never accepted twice.
    pub fn begin_attestation(
        &mut self,
        session_id: &str,
        attestation: &Attestation,
        now: OffsetDateTime,
    ) -> Result<PendingAttestation, ProtocolError> {
        let session = self.live_session(session_id, now)?;
        let State::Challenged { tee, nonce } =
            std::mem::replace(&mut session.state, State::Attesting)
        else {
            self.sessions.remove(session_id);
            return Err(ProtocolError::NonceAlreadyUsed);
        };
        let outcome = (|| {
            if attestation.runtime_data.nonce != nonce {
                return Err(ProtocolError::NonceMismatch);
            }
            let tee_key = TeePublicKey::from_jwk_value(&attestation.runtime_data.tee_pubkey)
                .map_err(|e| ProtocolError::BadTeeKey(e.to_string()))?;
            let runtime_data = runtime_data_digest(
                &nonce,
                &attestation.runtime_data.tee_pubkey,
                &attestation.tee_evidence.additional_evidence,
            );
            let init_data_digest = attestation
                .init_data
                .as_ref()
                .map(init_data_digest)
                .transpose()?;
            let init_data = attestation.init_data.clone();
            Ok(PendingAttestation {
                tee,
                nonce,
                expected: ExpectedBinding {
                    report_data: Some(runtime_data.to_vec()),
                    init_data_digest,
                },
                init_data,
                tee_key,
            })
        })();
        if outcome.is_err() {
            self.sessions.remove(session_id);
        }
        outcome
    }

    /// Records a successful appraisal. The session never outlives its token.
    pub fn complete_attestation(
        &mut self,
        session_id: &str,
        authorization: Authorization,
        now: OffsetDateTime,
    ) -> Result<Arc<Authorization>, ProtocolError> {
        let token_expiry =
            OffsetDateTime::from_unix_timestamp(authorization.claims.exp).unwrap_or(now);
        let session = self.live_session(session_id, now)?;
        if !matches!(session.state, State::Attesting) {
            return Err(ProtocolError::NonceAlreadyUsed);
        }
        let authorization = Arc::new(authorization);
        session.state = State::Attested(authorization.clone());
        session.expires_at = session.expires_at.min(token_expiry);
        Ok(authorization)
    }

    /// Drops a session whose attestation failed.
    pub fn abort_attestation(&mut self, session_id: &str) {
        self.sessions.remove(session_id);
    }

    /// The authorization of an attested, unexpired session.
    pub fn authorization(
        &mut self,
        session_id: &str,
        now: OffsetDateTime,
    ) -> Result<Arc<Authorization>, ProtocolError> {
        match &self.live_session(session_id, now)?.state {
            State::Attested(authorization) => Ok(authorization.clone()),
            _ => Err(ProtocolError::NotAttested),
        }
    }

    /// Removes expired sessions and returns how many there were.
    pub fn purge_expired(&mut self, now: OffsetDateTime) -> usize {
        let before = self.sessions.len();
        self.sessions.retain(|_, session| session.expires_at > now);
        before - self.sessions.len()
    }

    fn live_session(
        &mut self,
        session_id: &str,
        now: OffsetDateTime,
    ) -> Result<&mut Session, ProtocolError> {
        let expired = match self.sessions.get(session_id) {
            None => return Err(ProtocolError::NoSession),
            Some(session) => session.expires_at <= now,
        };
        if expired {
            self.sessions.remove(session_id);
            return Err(ProtocolError::SessionExpired);
        }
        self.sessions
            .get_mut(session_id)
            .ok_or(ProtocolError::NoSession)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use sha2::Digest as _;
    use warden_wire::jwe::KeyAlgorithm;
    use warden_wire::{RuntimeData, TeeEvidence, TeeKeyPair};

    const START: OffsetDateTime = OffsetDateTime::UNIX_EPOCH;

    fn handshake(max_sessions: usize) -> Handshake {
        Handshake::new(ProtocolConfig {
            session_timeout: Duration::seconds(60),
            max_sessions,
        })
    }

    fn request(version: &str) -> Request {
        Request {
            version: version.into(),
            tee: "sample".into(),
            extra_params: json!({}),
        }
    }

    #[test]
    fn init_data_digest_is_the_verifiers_and_bad_init_data_is_a_protocol_error() {
        // The rules themselves are tested in `warden_verifier::init_data`.
        let body = "version = \"0.1.0\"\nalgorithm = \"sha384\"\n[data]\nkey = \"value\"\n";
        let init = InitData {
            format: "toml".into(),
            body: body.into(),
        };
        assert_eq!(
            init_data_digest(&init).unwrap(),
            sha2::Sha384::digest(body.as_bytes()).to_vec()
        );
        let json = InitData {
            format: "json".into(),
            body: body.into(),
        };
        assert!(matches!(
            init_data_digest(&json),
            Err(ProtocolError::BadInitData(_))
        ));
    }

    fn attestation(nonce: &str) -> Attestation {
        let key = TeeKeyPair::generate(KeyAlgorithm::EcdhEsA256kw).unwrap();
        Attestation {
            init_data: None,
            runtime_data: RuntimeData {
                nonce: nonce.into(),
                tee_pubkey: key.public_jwk(),
            },
            tee_evidence: TeeEvidence {
                primary_evidence: json!({}),
                additional_evidence: String::new(),
            },
        }
    }

    fn authorization(attestation: &Attestation, exp: i64) -> Authorization {
        Authorization {
            claims: EarClaims {
                exp,
                ..EarClaims::default()
            },
            tee_key: TeePublicKey::from_jwk_value(&attestation.runtime_data.tee_pubkey).unwrap(),
            token: "t".into(),
        }
    }

    #[test]
    fn full_handshake_binds_nonce_and_key() {
        let mut hs = handshake(10);
        let challenge = hs
            .auth(&request("0.4.0"), "s".into(), "n1".into(), START)
            .unwrap();
        assert_eq!(challenge.nonce, "n1");
        let att = attestation("n1");
        let pending = hs.begin_attestation("s", &att, START).unwrap();
        assert_eq!(pending.tee, "sample");
        assert_eq!(
            pending.expected.report_data,
            Some(runtime_data_digest("n1", &att.runtime_data.tee_pubkey, "").to_vec())
        );
        assert_eq!(
            hs.authorization("s", START).unwrap_err(),
            ProtocolError::NotAttested
        );
        hs.complete_attestation("s", authorization(&att, 30), START)
            .unwrap();
        assert!(hs.authorization("s", START).is_ok());
        // The session ends with its token (30 s), before the 60 s session timeout.
        let later = START + Duration::seconds(31);
        assert_eq!(
            hs.authorization("s", later).unwrap_err(),
            ProtocolError::SessionExpired
        );
    }

    #[test]
    fn nonce_is_single_use() {
        let mut hs = handshake(10);
        hs.auth(&request("0.4.0"), "s".into(), "n1".into(), START)
            .unwrap();
        let att = attestation("n1");
        hs.begin_attestation("s", &att, START).unwrap();
        assert_eq!(
            hs.begin_attestation("s", &att, START).unwrap_err(),
            ProtocolError::NonceAlreadyUsed
        );
        assert_eq!(
            hs.begin_attestation("s", &att, START).unwrap_err(),
            ProtocolError::NoSession
        );
    }

    #[test]
    fn wrong_nonce_ends_the_session() {
        let mut hs = handshake(10);
        hs.auth(&request("0.4.0"), "s".into(), "n1".into(), START)
            .unwrap();
        assert_eq!(
            hs.begin_attestation("s", &attestation("n2"), START)
                .unwrap_err(),
            ProtocolError::NonceMismatch
        );
        assert_eq!(
            hs.begin_attestation("s", &attestation("n1"), START)
                .unwrap_err(),
            ProtocolError::NoSession
        );
    }

    #[test]
    fn expired_sessions_are_refused_and_purged() {
        let mut hs = handshake(10);
        hs.auth(&request("0.4.0"), "s".into(), "n1".into(), START)
            .unwrap();
        let late = START + Duration::seconds(61);
        assert_eq!(
            hs.begin_attestation("s", &attestation("n1"), late)
                .unwrap_err(),
            ProtocolError::SessionExpired
        );
        hs.auth(&request("0.4.0"), "t".into(), "n2".into(), START)
            .unwrap();
        assert_eq!(hs.purge_expired(late), 1);
        assert_eq!(hs.session_count(), 0);
    }

    #[test]
    fn pending_sessions_are_bounded_and_version_checked() {
        let mut hs = handshake(2);
        assert!(matches!(
            hs.auth(&request("0.3.0"), "a".into(), "n".into(), START),
            Err(ProtocolError::UnsupportedVersion(_))
        ));
        hs.auth(&request("0.4.0"), "a".into(), "n".into(), START)
            .unwrap();
        hs.auth(&request("0.4.0"), "b".into(), "n".into(), START)
            .unwrap();
        assert_eq!(
            hs.auth(&request("0.4.0"), "c".into(), "n".into(), START)
                .unwrap_err(),
            ProtocolError::TooManySessions
        );
        let later = START + Duration::seconds(61);
        assert!(
            hs.auth(&request("0.4.0"), "c".into(), "n".into(), later)
                .is_ok(),
            "expired sessions make room"
        );
    }

    #[test]
    fn bad_tee_key_is_refused() {
        let mut hs = handshake(10);
        hs.auth(&request("0.4.0"), "s".into(), "n1".into(), START)
            .unwrap();
        let mut att = attestation("n1");
        att.runtime_data.tee_pubkey = json!({"kty": "oct", "k": "AAAA"});
        assert!(matches!(
            hs.begin_attestation("s", &att, START),
            Err(ProtocolError::BadTeeKey(_))
        ));
    }
}
