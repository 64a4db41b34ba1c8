//! The KBS attestation handshake as plain state machines: no sockets, no clock, no storage,
//! no randomness of their own. Callers pass the time and fresh random bytes in.
//!
//! ```text
//! /auth ──► sealed ticket in the cookie ──/attest──► Attested (held here) ──(expiry)──► gone
//!           (no server state)              (the ticket's nonce is consumed on success)
//! ```
//!
//! `/auth` keeps nothing: the challenge travels in the `kbs-session-id` cookie as a [`Ticket`]
//! sealed (AES-256-GCM) under a key that never leaves the process, so an unauthenticated
//! client costs no memory however many challenges it asks for. State is created only for a
//! client that proved something: a successful appraisal. Its entry doubles as the record that
//! the ticket's nonce was used, and is kept until the ticket itself expires, so the same
//! evidence can never be replayed with that ticket.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
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

/// Longest TEE name `/auth` accepts; every TEE Warden knows is far shorter.
pub const MAX_TEE_NAME: usize = 32;

/// A session id: random, carried inside the sealed ticket.
pub type SessionId = [u8; 16];

const TICKET_FORMAT: u8 = 1;
const TICKET_AAD: &[u8] = b"warden-kbs session ticket v1";
const IV_LEN: usize = 12;
const NONCE_LEN: usize = 32;
/// version, session id, nonce, expiry (i64, big-endian), TEE name.
const TICKET_FIXED_LEN: usize = 1 + 16 + NONCE_LEN + 8;
/// The longest cookie a genuine ticket makes; anything longer is refused before decoding.
const MAX_COOKIE_LEN: usize = (IV_LEN + TICKET_FIXED_LEN + MAX_TEE_NAME + 16) * 4 / 3 + 4;

/// Why a handshake step was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// The `/auth` request's version is not [`PROTOCOL_VERSION`] (kept to 32 characters).
    #[error("protocol version {0:?} is not supported; this KBS accepts exactly {PROTOCOL_VERSION}")]
    UnsupportedVersion(String),
    /// The `/auth` request's `tee` is not a TEE name (the value is not echoed).
    #[error("tee must be 1 to {MAX_TEE_NAME} characters of a-z, 0-9, '-' and '_'")]
    BadTeeName,
    /// No session for this cookie: none sent, not one this KBS issued, or already removed.
    #[error("no session: call /auth first (or the session was used up or expired)")]
    NoSession,
    /// The session's time is up.
    #[error("session expired")]
    SessionExpired,
    /// The session has not completed attestation.
    #[error("session has not completed attestation")]
    NotAttested,
    /// The session's nonce was already used by a successful attestation.
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
    /// So many nonces were used by successful attestations within one session lifetime that
    /// no more can be remembered (see [`ProtocolConfig::max_sessions`]).
    #[error("too many sessions; retry later")]
    TooManySessions,
}

/// Limits of the handshake.
#[derive(Debug, Clone, Copy)]
pub struct ProtocolConfig {
    /// How long a session lives from `/auth`; once attested, never past its token's expiry.
    pub session_timeout: Duration,
    /// Most attested sessions held at once. Beyond it the oldest attested session is dropped
    /// (its client attests again), so attested clients can never lock others out; the record
    /// of its used nonce stays until the ticket expires, up to 16 × this many records.
    pub max_sessions: usize,
}

impl ProtocolConfig {
    fn max_used_nonces(&self) -> usize {
        self.max_sessions.saturating_mul(16)
    }
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
    /// Key ids of signing keys the evidence committed to (see [`crate::signing`]).
    pub signing_keys: Vec<String>,
}

/// Fresh random bytes for one `/auth`, from the caller's random source.
#[derive(Debug, Clone, Copy)]
pub struct Fresh {
    /// The new session's id.
    pub session_id: SessionId,
    /// The challenge nonce.
    pub nonce: [u8; NONCE_LEN],
    /// The AES-GCM IV sealing the ticket.
    pub iv: [u8; IV_LEN],
}

/// What `/auth` issued, as sealed into the cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// The session id.
    pub session_id: SessionId,
    /// The challenge nonce, base64 as sent to the client.
    pub nonce: String,
    /// The TEE named at `/auth`.
    pub tee: String,
    /// When the session ends at the latest.
    pub expires_at: OffsetDateTime,
}

/// Everything the verifier needs to appraise an attestation, taken from the ticket.
#[derive(Debug)]
pub struct PendingAttestation {
    /// The ticket the attestation answers.
    pub ticket: Ticket,
    /// The runtime-data digest and init-data digest the evidence must bind.
    pub expected: ExpectedBinding,
    /// The presented init-data, whose digest `expected` carries.
    pub init_data: Option<InitData>,
    /// The TEE public key from the runtime data.
    pub tee_key: TeePublicKey,
}

fn valid_tee_name(tee: &str) -> bool {
    (1..=MAX_TEE_NAME).contains(&tee.len())
        && tee
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Issues and opens sealed tickets. Holds only its key: `/auth` needs no lock and no memory.
pub struct Challenges {
    cipher: Aes256Gcm,
    session_timeout: Duration,
}

impl Challenges {
    /// Tickets sealed under `key` (random per process: a restart invalidates every ticket, so
    /// nonces consumed before it cannot be replayed after it).
    pub fn new(key: &[u8; 32], session_timeout: Duration) -> Self {
        Self {
            cipher: Aes256Gcm::new(key.into()),
            session_timeout,
        }
    }

    /// `/auth`: the challenge and the cookie value carrying its sealed ticket.
    pub fn issue(
        &self,
        request: &Request,
        fresh: Fresh,
        now: OffsetDateTime,
    ) -> Result<(String, Challenge), ProtocolError> {
        if request.version != PROTOCOL_VERSION {
            return Err(ProtocolError::UnsupportedVersion(
                request.version.chars().take(32).collect(),
            ));
        }
        if !valid_tee_name(&request.tee) {
            return Err(ProtocolError::BadTeeName);
        }
        let expires_at = now + self.session_timeout;
        let mut plain = Vec::with_capacity(TICKET_FIXED_LEN + request.tee.len());
        plain.push(TICKET_FORMAT);
        plain.extend_from_slice(&fresh.session_id);
        plain.extend_from_slice(&fresh.nonce);
        plain.extend_from_slice(&expires_at.unix_timestamp().to_be_bytes());
        plain.extend_from_slice(request.tee.as_bytes());
        let sealed = self
            .cipher
            .encrypt(
                &Nonce::from(fresh.iv),
                Payload {
                    msg: &plain,
                    aad: TICKET_AAD,
                },
            )
            // AES-GCM fails only for inputs of gigabytes; a ticket is under 100 bytes.
            .map_err(|_| ProtocolError::NoSession)?;
        let mut cookie = fresh.iv.to_vec();
        cookie.extend_from_slice(&sealed);
        let challenge = Challenge {
            nonce: STANDARD.encode(fresh.nonce),
            extra_params: serde_json::Value::String(String::new()),
        };
        Ok((URL_SAFE_NO_PAD.encode(cookie), challenge))
    }

    /// The unexpired ticket a cookie carries; anything this KBS did not seal is
    /// [`ProtocolError::NoSession`].
    pub fn open(&self, cookie: &str, now: OffsetDateTime) -> Result<Ticket, ProtocolError> {
        if cookie.len() > MAX_COOKIE_LEN {
            return Err(ProtocolError::NoSession);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(cookie)
            .map_err(|_| ProtocolError::NoSession)?;
        if bytes.len() < IV_LEN {
            return Err(ProtocolError::NoSession);
        }
        let (iv, sealed) = bytes.split_at(IV_LEN);
        let iv: [u8; IV_LEN] = iv.try_into().map_err(|_| ProtocolError::NoSession)?;
        let plain = self
            .cipher
            .decrypt(
                &Nonce::from(iv),
                Payload {
                    msg: sealed,
                    aad: TICKET_AAD,
                },
            )
            .map_err(|_| ProtocolError::NoSession)?;
        let ticket = Self::parse(&plain).ok_or(ProtocolError::NoSession)?;
        if ticket.expires_at <= now {
            return Err(ProtocolError::SessionExpired);
        }
        Ok(ticket)
    }

    /// Reads a ticket this process sealed; `None` only if the format changed under it.
    fn parse(plain: &[u8]) -> Option<Ticket> {
        let (fixed, tee) = plain.split_at_checked(TICKET_FIXED_LEN)?;
        let (&format, rest) = fixed.split_first()?;
        let (session_id, rest) = rest.split_at_checked(16)?;
        let (nonce, expiry) = rest.split_at_checked(NONCE_LEN)?;
        if format != TICKET_FORMAT {
            return None;
        }
        let expiry = i64::from_be_bytes(expiry.try_into().ok()?);
        Some(Ticket {
            session_id: session_id.try_into().ok()?,
            nonce: STANDARD.encode(nonce),
            tee: String::from_utf8(tee.to_vec()).ok()?,
            expires_at: OffsetDateTime::from_unix_timestamp(expiry).ok()?,
        })
    }
}

/// Checks an attestation against its ticket and derives what the evidence must bind.
pub fn pending_attestation(
    ticket: Ticket,
    attestation: &Attestation,
) -> Result<PendingAttestation, ProtocolError> {
    if attestation.runtime_data.nonce != ticket.nonce {
        return Err(ProtocolError::NonceMismatch);
    }
    let tee_key = TeePublicKey::from_jwk_value(&attestation.runtime_data.tee_pubkey)
        .map_err(|e| ProtocolError::BadTeeKey(e.to_string()))?;
    let runtime_data = runtime_data_digest(
        &ticket.nonce,
        &attestation.runtime_data.tee_pubkey,
        &attestation.tee_evidence.additional_evidence,
    );
    let init_data_digest = attestation
        .init_data
        .as_ref()
        .map(init_data_digest)
        .transpose()?;
    Ok(PendingAttestation {
        ticket,
        expected: ExpectedBinding {
            report_data: Some(runtime_data.to_vec()),
            init_data_digest,
        },
        init_data: attestation.init_data.clone(),
        tee_key,
    })
}

#[derive(Debug)]
struct Held {
    /// Until the ticket expires its nonce stays used.
    used_until: OffsetDateTime,
    /// The grant, until the token (or ticket) expires; `None` once evicted or expired.
    granted: Option<(Arc<Authorization>, OffsetDateTime)>,
}

/// Attested sessions and the nonces they used, by session id. Only successful attestations
/// add entries.
pub struct Sessions {
    config: ProtocolConfig,
    held: HashMap<SessionId, Held>,
    /// Attested sessions, oldest first: the order of eviction (may name already gone ones).
    granted_order: VecDeque<SessionId>,
    granted: usize,
}

impl Sessions {
    /// No sessions.
    pub fn new(config: ProtocolConfig) -> Self {
        Self {
            config,
            held: HashMap::new(),
            granted_order: VecDeque::new(),
            granted: 0,
        }
    }

    /// Attested sessions held.
    pub fn attested_count(&self) -> usize {
        self.granted
    }

    /// Used nonces remembered (attested sessions included).
    pub fn used_nonce_count(&self) -> usize {
        self.held.len()
    }

    /// Whether the ticket's nonce was already used by a successful attestation.
    pub fn is_used(&self, ticket: &Ticket) -> bool {
        self.held.contains_key(&ticket.session_id)
    }

    /// Records a successful appraisal of `ticket`: uses its nonce (a second success with the
    /// same ticket is refused) and grants the session until the token or ticket expires.
    pub fn complete(
        &mut self,
        ticket: &Ticket,
        authorization: Authorization,
        now: OffsetDateTime,
    ) -> Result<Arc<Authorization>, ProtocolError> {
        if self.is_used(ticket) {
            return Err(ProtocolError::NonceAlreadyUsed);
        }
        if self.held.len() >= self.config.max_used_nonces() {
            self.purge_expired(now);
            if self.held.len() >= self.config.max_used_nonces() {
                return Err(ProtocolError::TooManySessions);
            }
        }
        let token_expiry =
            OffsetDateTime::from_unix_timestamp(authorization.claims.exp).unwrap_or(now);
        let authorization = Arc::new(authorization);
        self.held.insert(
            ticket.session_id,
            Held {
                used_until: ticket.expires_at,
                granted: Some((authorization.clone(), ticket.expires_at.min(token_expiry))),
            },
        );
        self.granted += 1;
        self.granted_order.push_back(ticket.session_id);
        while self.granted > self.config.max_sessions {
            self.evict_oldest_grant();
        }
        Ok(authorization)
    }

    fn evict_oldest_grant(&mut self) {
        while let Some(id) = self.granted_order.pop_front() {
            if let Some(held) = self.held.get_mut(&id)
                && held.granted.take().is_some()
            {
                self.granted -= 1;
                return;
            }
        }
    }

    /// The authorization of the attested, unexpired session `ticket` names.
    pub fn authorization(
        &self,
        ticket: &Ticket,
        now: OffsetDateTime,
    ) -> Result<Arc<Authorization>, ProtocolError> {
        match self.held.get(&ticket.session_id) {
            None => Err(ProtocolError::NotAttested),
            Some(Held {
                granted: Some((authorization, until)),
                ..
            }) if now < *until => Ok(authorization.clone()),
            Some(_) => Err(ProtocolError::SessionExpired),
        }
    }

    /// Ends grants past their expiry and forgets nonces whose tickets expired; returns how
    /// many records were removed.
    pub fn purge_expired(&mut self, now: OffsetDateTime) -> usize {
        let before = self.held.len();
        self.held.retain(|_, held| held.used_until > now);
        let mut granted = 0;
        for held in self.held.values_mut() {
            if held
                .granted
                .as_ref()
                .is_some_and(|(_, until)| *until <= now)
            {
                held.granted = None;
            }
            granted += usize::from(held.granted.is_some());
        }
        self.granted = granted;
        let held = &self.held;
        self.granted_order
            .retain(|id| held.get(id).is_some_and(|h| h.granted.is_some()));
        before - self.held.len()
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
    const KEY: [u8; 32] = [7; 32];

    fn config(max_sessions: usize) -> ProtocolConfig {
        ProtocolConfig {
            session_timeout: Duration::seconds(60),
            max_sessions,
        }
    }

    fn challenges() -> Challenges {
        Challenges::new(&KEY, Duration::seconds(60))
    }

    fn request(version: &str, tee: &str) -> Request {
        Request {
            version: version.into(),
            tee: tee.into(),
            extra_params: json!({}),
        }
    }

    fn fresh(n: u8) -> Fresh {
        Fresh {
            session_id: [n; 16],
            nonce: [n.wrapping_add(100); 32],
            iv: [n; 12],
        }
    }

    /// A cookie and its challenge for session `n`, issued at `at`.
    fn issue(n: u8, at: OffsetDateTime) -> (String, Challenge) {
        challenges()
            .issue(&request("0.4.0", "sample"), fresh(n), at)
            .unwrap()
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
            signing_keys: Vec::new(),
            claims: EarClaims {
                exp,
                ..EarClaims::default()
            },
            tee_key: TeePublicKey::from_jwk_value(&attestation.runtime_data.tee_pubkey).unwrap(),
            token: "t".into(),
        }
    }

    /// Runs session `n` through a successful attestation whose token expires at `exp`.
    fn attest(sessions: &mut Sessions, n: u8, exp: i64) -> Ticket {
        let (cookie, challenge) = issue(n, START);
        let ticket = challenges().open(&cookie, START).unwrap();
        let att = attestation(&challenge.nonce);
        let pending = pending_attestation(ticket.clone(), &att).unwrap();
        sessions
            .complete(&pending.ticket, authorization(&att, exp), START)
            .unwrap();
        ticket
    }

    #[test]
    fn full_handshake_binds_nonce_and_key() {
        let mut sessions = Sessions::new(config(10));
        let (cookie, challenge) = issue(1, START);
        assert_eq!(challenge.nonce, STANDARD.encode([101u8; 32]));
        let ticket = challenges().open(&cookie, START).unwrap();
        assert_eq!(ticket.tee, "sample");
        let att = attestation(&challenge.nonce);
        let pending = pending_attestation(ticket.clone(), &att).unwrap();
        assert_eq!(
            pending.expected.report_data,
            Some(runtime_data_digest(&challenge.nonce, &att.runtime_data.tee_pubkey, "").to_vec())
        );
        assert_eq!(
            sessions.authorization(&ticket, START).unwrap_err(),
            ProtocolError::NotAttested
        );
        sessions
            .complete(&pending.ticket, authorization(&att, 30), START)
            .unwrap();
        assert!(sessions.authorization(&ticket, START).is_ok());
        // The session ends with its token (30 s), before the 60 s session timeout.
        let later = START + Duration::seconds(31);
        assert_eq!(
            sessions.authorization(&ticket, later).unwrap_err(),
            ProtocolError::SessionExpired
        );
    }

    #[test]
    fn a_nonce_is_used_once_even_by_concurrent_attempts_and_until_its_ticket_expires() {
        let mut sessions = Sessions::new(config(10));
        let (cookie, challenge) = issue(1, START);
        let ticket = challenges().open(&cookie, START).unwrap();
        let att = attestation(&challenge.nonce);
        // Two appraisals of the same evidence in flight: only the first to finish counts.
        let first = pending_attestation(ticket.clone(), &att).unwrap();
        let second = pending_attestation(ticket.clone(), &att).unwrap();
        sessions
            .complete(&first.ticket, authorization(&att, 10), START)
            .unwrap();
        assert!(sessions.is_used(&ticket));
        assert_eq!(
            sessions
                .complete(&second.ticket, authorization(&att, 10), START)
                .unwrap_err(),
            ProtocolError::NonceAlreadyUsed
        );
        // The token ended at 10 s, but the ticket lives to 60 s: the nonce stays used.
        let after_token = START + Duration::seconds(30);
        sessions.purge_expired(after_token);
        assert!(sessions.is_used(&ticket));
        assert_eq!(sessions.attested_count(), 0);
        sessions.purge_expired(START + Duration::seconds(61));
        assert_eq!(sessions.used_nonce_count(), 0);
    }

    #[test]
    fn failed_attempts_keep_no_state_and_do_not_use_the_nonce() {
        let sessions = Sessions::new(config(10));
        let (cookie, challenge) = issue(1, START);
        let ticket = challenges().open(&cookie, START).unwrap();
        assert_eq!(
            pending_attestation(ticket.clone(), &attestation("other"))
                .map(|_| ())
                .unwrap_err(),
            ProtocolError::NonceMismatch
        );
        let mut bad_key = attestation(&challenge.nonce);
        bad_key.runtime_data.tee_pubkey = json!({"kty": "oct", "k": "AAAA"});
        assert!(matches!(
            pending_attestation(ticket.clone(), &bad_key),
            Err(ProtocolError::BadTeeKey(_))
        ));
        assert!(!sessions.is_used(&ticket));
        assert!(pending_attestation(ticket, &attestation(&challenge.nonce)).is_ok());
    }

    #[test]
    fn tickets_are_sealed_bounded_and_expire() {
        let (cookie, _) = issue(1, START);
        let mut tampered = URL_SAFE_NO_PAD.decode(&cookie).unwrap();
        tampered[20] ^= 1;
        let tampered = URL_SAFE_NO_PAD.encode(tampered);
        let other_key = Challenges::new(&[8; 32], Duration::seconds(60));
        for refused in [
            tampered.as_str(),
            "",
            "not base64 !",
            "AAAA",
            &"A".repeat(MAX_COOKIE_LEN + 1),
        ] {
            assert_eq!(
                challenges().open(refused, START).unwrap_err(),
                ProtocolError::NoSession,
                "{refused}"
            );
        }
        assert_eq!(
            other_key.open(&cookie, START).unwrap_err(),
            ProtocolError::NoSession
        );
        assert_eq!(
            challenges()
                .open(&cookie, START + Duration::seconds(60))
                .unwrap_err(),
            ProtocolError::SessionExpired
        );
        // The longest TEE name still makes a cookie within the bound.
        let long = "a".repeat(MAX_TEE_NAME);
        let (cookie, _) = challenges()
            .issue(&request("0.4.0", &long), fresh(2), START)
            .unwrap();
        assert!(cookie.len() <= MAX_COOKIE_LEN);
        assert_eq!(challenges().open(&cookie, START).unwrap().tee, long);
    }

    #[test]
    fn auth_checks_version_and_tee_name_without_echoing_it() {
        let challenges = challenges();
        assert!(matches!(
            challenges.issue(&request("0.3.0", "sample"), fresh(1), START),
            Err(ProtocolError::UnsupportedVersion(_))
        ));
        for tee in [
            "",
            "Sample",
            "snp\nINFO forged",
            "\u{1b}[31m",
            &"a".repeat(33),
        ] {
            assert_eq!(
                challenges
                    .issue(&request("0.4.0", tee), fresh(1), START)
                    .unwrap_err(),
                ProtocolError::BadTeeName,
                "{tee:?}"
            );
        }
        for tee in ["snp", "az-snp-vtpm", "tpm", "sample"] {
            assert!(
                challenges
                    .issue(&request("0.4.0", tee), fresh(1), START)
                    .is_ok()
            );
        }
    }

    #[test]
    fn attested_sessions_are_bounded_by_evicting_the_oldest_never_by_refusing() {
        let mut sessions = Sessions::new(config(2));
        let first = attest(&mut sessions, 1, 50);
        let second = attest(&mut sessions, 2, 50);
        let third = attest(&mut sessions, 3, 50);
        assert_eq!(sessions.attested_count(), 2);
        assert_eq!(
            sessions.authorization(&first, START).unwrap_err(),
            ProtocolError::SessionExpired
        );
        assert!(sessions.authorization(&second, START).is_ok());
        assert!(sessions.authorization(&third, START).is_ok());
        assert!(sessions.is_used(&first), "eviction keeps the nonce used");
    }

    #[test]
    fn used_nonces_are_bounded_and_freed_when_their_tickets_expire() {
        let mut sessions = Sessions::new(config(1));
        for n in 0..16 {
            attest(&mut sessions, n, 50);
        }
        let (cookie, challenge) = issue(16, START);
        let ticket = challenges().open(&cookie, START).unwrap();
        let att = attestation(&challenge.nonce);
        assert_eq!(
            sessions
                .complete(&ticket, authorization(&att, 50), START)
                .unwrap_err(),
            ProtocolError::TooManySessions
        );
        let later = START + Duration::seconds(61);
        assert_eq!(sessions.purge_expired(later), 16);
        assert!(
            sessions
                .complete(&ticket, authorization(&att, 50), later)
                .is_ok()
        );
    }
}
