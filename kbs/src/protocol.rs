//! The KBS attestation handshake as plain state machines: no sockets, no clock, no storage,
//! no randomness of their own. Callers pass the time and fresh random bytes in.
//!
//! ```text
//! /auth ──► sealed ticket in the cookie ──/attest──► Attested (stored, cached here) ──(expiry)──► gone
//!           (no server state)              (the ticket's nonce is consumed on success)
//! ```
//!
//! `/auth` keeps nothing: the challenge travels in the `kbs-session-id` cookie as a [`Ticket`]
//! sealed (AES-256-GCM) under a key derived from the master key, so an unauthenticated client
//! costs no memory however many challenges it asks for, and every replica on one store opens
//! every replica's tickets. State is created only for a client that proved something: a
//! successful appraisal. The KBS stores it as one row that is also the record that the
//! ticket's nonce was used, kept until the ticket itself expires, so the same evidence can
//! never be replayed with that ticket on any replica. [`Sessions`] is a replica's bounded
//! cache of those grants.

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
/// The HKDF-SHA256 `info` deriving the ticket-sealing key from the master key: its own label,
/// so the ticket key is not the key sealing stored secrets.
pub const TICKET_KEY_INFO: &[u8] = b"warden-kbs session ticket key v1";
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
}

/// Limits of the handshake.
#[derive(Debug, Clone, Copy)]
pub struct ProtocolConfig {
    /// How long a session lives from `/auth`; once attested, never past its token's expiry.
    pub session_timeout: Duration,
    /// Most attested sessions a replica caches at once. Beyond it the oldest is dropped from
    /// the cache, never refused: the store still holds it (and its used nonce), so its next
    /// request loads it again.
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
    /// Tickets sealed under `key`, derived from the master key with [`TICKET_KEY_INFO`]: every
    /// replica, and a restarted one, opens them. That is safe only because a used nonce is
    /// recorded in the store, not in the process, until its ticket expires.
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

/// Until when a successful attestation of `ticket` grants its session: the ticket's expiry,
/// or the token's if sooner.
pub fn grant_until(ticket: &Ticket, claims: &EarClaims) -> OffsetDateTime {
    let token_expiry =
        OffsetDateTime::from_unix_timestamp(claims.exp).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    ticket.expires_at.min(token_expiry)
}

#[derive(Debug)]
struct Grant {
    authorization: Arc<Authorization>,
    until: OffsetDateTime,
}

/// A replica's cache of attested sessions, by session id. The store decides which appraisal
/// used a nonce and holds every grant; this only saves reading and verifying it again, so it
/// may forget any entry (the oldest beyond [`ProtocolConfig::max_sessions`], or an expired one).
pub struct Sessions {
    config: ProtocolConfig,
    held: HashMap<SessionId, Grant>,
    /// The ids in `held`, oldest first: the order of eviction.
    order: VecDeque<SessionId>,
}

impl Sessions {
    /// No sessions.
    pub fn new(config: ProtocolConfig) -> Self {
        Self {
            config,
            held: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Attested sessions cached.
    pub fn attested_count(&self) -> usize {
        self.held.len()
    }

    /// Whether the cache holds the session `ticket` names: then its nonce was used. A filter
    /// only: the cache forgets, the store does not.
    pub fn is_used(&self, ticket: &Ticket) -> bool {
        self.held.contains_key(&ticket.session_id)
    }

    /// Caches the grant of a successful appraisal of `ticket`, which the caller has already
    /// recorded in the store as using its nonce; until the token or ticket expires. A session
    /// cached already (loaded from that record meanwhile) keeps its entry.
    pub fn complete(
        &mut self,
        ticket: &Ticket,
        authorization: Authorization,
    ) -> Arc<Authorization> {
        let until = grant_until(ticket, &authorization.claims);
        self.adopt(ticket.session_id, authorization, until)
    }

    /// Caches a grant read from the store (its token verified by the caller), until `until`.
    pub fn adopt(
        &mut self,
        session_id: SessionId,
        authorization: Authorization,
        until: OffsetDateTime,
    ) -> Arc<Authorization> {
        if let Some(held) = self.held.get(&session_id) {
            return held.authorization.clone();
        }
        let authorization = Arc::new(authorization);
        self.held.insert(
            session_id,
            Grant {
                authorization: authorization.clone(),
                until,
            },
        );
        self.order.push_back(session_id);
        while self.held.len() > self.config.max_sessions {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            self.held.remove(&oldest);
        }
        authorization
    }

    /// The cached grant of the session `ticket` names: [`ProtocolError::NotAttested`] when the
    /// cache does not hold it (the store may), [`ProtocolError::SessionExpired`] when it ended.
    pub fn authorization(
        &self,
        ticket: &Ticket,
        now: OffsetDateTime,
    ) -> Result<Arc<Authorization>, ProtocolError> {
        match self.held.get(&ticket.session_id) {
            None => Err(ProtocolError::NotAttested),
            Some(grant) if now < grant.until => Ok(grant.authorization.clone()),
            Some(_) => Err(ProtocolError::SessionExpired),
        }
    }

    /// Forgets grants past their expiry; returns how many.
    pub fn purge_expired(&mut self, now: OffsetDateTime) -> usize {
        let before = self.held.len();
        self.held.retain(|_, grant| grant.until > now);
        let held = &self.held;
        self.order.retain(|id| held.contains_key(id));
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
        sessions.complete(&pending.ticket, authorization(&att, exp));
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
        sessions.complete(&pending.ticket, authorization(&att, 30));
        assert!(sessions.authorization(&ticket, START).is_ok());
        // The session ends with its token (30 s), before the 60 s session timeout.
        let later = START + Duration::seconds(31);
        assert_eq!(
            sessions.authorization(&ticket, later).unwrap_err(),
            ProtocolError::SessionExpired
        );
    }

    #[test]
    fn the_cache_keeps_the_first_grant_of_a_session_and_forgets_it_when_it_ends() {
        let mut sessions = Sessions::new(config(10));
        let (cookie, challenge) = issue(1, START);
        let ticket = challenges().open(&cookie, START).unwrap();
        let att = attestation(&challenge.nonce);
        // The store decides which appraisal used the nonce; a grant loaded from that record
        // before this replica cached its own stays the one held.
        let first = sessions.complete(&ticket, authorization(&att, 10));
        let again = sessions.complete(&ticket, authorization(&att, 50));
        assert!(Arc::ptr_eq(&first, &again));
        assert!(sessions.is_used(&ticket));
        // The token ended at 10 s: the grant is gone from the cache (the store keeps the nonce
        // used until the ticket expires).
        assert_eq!(
            sessions
                .authorization(&ticket, START + Duration::seconds(10))
                .unwrap_err(),
            ProtocolError::SessionExpired
        );
        assert_eq!(sessions.purge_expired(START + Duration::seconds(10)), 1);
        assert_eq!(sessions.attested_count(), 0);
        assert_eq!(
            sessions.authorization(&ticket, START).unwrap_err(),
            ProtocolError::NotAttested
        );
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
        // Evicted: the cache no longer knows it, so the caller asks the store.
        assert_eq!(
            sessions.authorization(&first, START).unwrap_err(),
            ProtocolError::NotAttested
        );
        assert!(sessions.authorization(&second, START).is_ok());
        assert!(sessions.authorization(&third, START).is_ok());
        // Loaded again from the store, it is the newest; the oldest cached one makes room.
        let (cookie, challenge) = issue(1, START);
        let att = attestation(&challenge.nonce);
        assert_eq!(challenges().open(&cookie, START).unwrap(), first);
        sessions.adopt(
            first.session_id,
            authorization(&att, 50),
            START + Duration::seconds(50),
        );
        assert!(sessions.authorization(&first, START).is_ok());
        assert_eq!(
            sessions.authorization(&second, START).unwrap_err(),
            ProtocolError::NotAttested
        );
        assert_eq!(
            sessions
                .authorization(&first, START + Duration::seconds(50))
                .unwrap_err(),
            ProtocolError::SessionExpired
        );
    }

    #[test]
    fn a_grant_ends_with_its_token_or_its_ticket_whichever_is_first() {
        let (cookie, _) = issue(1, START);
        let ticket = challenges().open(&cookie, START).unwrap();
        let claims = |exp| EarClaims {
            exp,
            ..EarClaims::default()
        };
        assert_eq!(
            grant_until(&ticket, &claims(30)),
            START + Duration::seconds(30)
        );
        assert_eq!(grant_until(&ticket, &claims(600)), ticket.expires_at);
        // An expiry no date can hold grants nothing.
        assert!(grant_until(&ticket, &claims(i64::MAX)) <= START);
    }
}
