//! Admin authentication: bearer JWTs (EdDSA or ES256) signed by configured admin keys.
//!
//! Each configured key grants a set of roles; a token grants only the roles its `roles` claim
//! names that its key holds (none named: nothing). Every token carries `iat`, `exp` (at most
//! `[admin] max_token_lifetime` later, and never later than now plus that) and a `jti` that a
//! revocation names; revocations live in the store and are checked by the service on every
//! call. There is no unauthenticated or allow-all mode.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Audience every admin token must carry, so an attestation token can never pass as one.
pub const ADMIN_AUDIENCE: &str = "warden-kbs-admin";

/// A role an admin key grants (`roles` of `[[admin.keys]]` and of admin tokens).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Everything.
    Admin,
    /// Set and delete resources (values are write-only through the API).
    Resources,
    /// Set appraisal and release policies and reference values.
    Policies,
    /// List resource names, policies and reference values.
    Reader,
    /// Create and delete the signing authority's named keys.
    Signing,
}

/// What an admin call needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// List resource names, policies and reference values (every role).
    Read,
    /// Store or delete resources (`admin`, `resources`).
    WriteResources,
    /// Set policies and reference values (`admin`, `policies`).
    WritePolicies,
    /// Revoke admin tokens (`admin`).
    RevokeTokens,
    /// Create or delete named signing keys (`admin`, `signing`).
    ManageSigningKeys,
}

impl Role {
    fn grants(self, permission: Permission) -> bool {
        matches!(
            (self, permission),
            (Role::Admin, _)
                | (_, Permission::Read)
                | (Role::Resources, Permission::WriteResources)
                | (Role::Policies, Permission::WritePolicies)
                | (Role::Signing, Permission::ManageSigningKeys)
        )
    }
}

/// The longest an admin token may live (`exp - iat`) unless `[admin] max_token_lifetime` says
/// otherwise.
pub const DEFAULT_MAX_TOKEN_LIFETIME: time::Duration = time::Duration::hours(1);

/// Clock skew tolerated between the minting machine and the KBS, in seconds (`iat` may be this
/// far in the future).
pub const CLOCK_SKEW_SECS: i64 = 60;

/// Longest `jti` accepted: revocations are stored by it.
pub const MAX_TOKEN_ID_LEN: usize = 128;

/// Whether `jti` is a token id the KBS accepts: 1 to [`MAX_TOKEN_ID_LEN`] of `[A-Za-z0-9._-]`
/// (so it is safe to log and bounded to store).
pub fn valid_token_id(jti: &str) -> bool {
    (1..=MAX_TOKEN_ID_LEN).contains(&jti.len())
        && jti
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// Why an admin call was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    /// No `Authorization: Bearer` token.
    #[error("admin token missing: send Authorization: Bearer <token>")]
    MissingToken,
    /// The token does not parse, names no configured key (`kid`), or fails its signature or claims.
    #[error("admin token invalid: {0}")]
    InvalidToken(String),
    /// The token has no `jti`, so it could not be revoked.
    #[error(
        "admin token has no jti (token id), so it could not be revoked: mint tokens with `warden-kbs admin token`"
    )]
    NoTokenId,
    /// The token's `jti` is empty, too long or has characters outside `[A-Za-z0-9._-]`.
    #[error("admin token jti must be 1 to {MAX_TOKEN_ID_LEN} of [A-Za-z0-9._-]")]
    BadTokenId,
    /// `iat` is more than [`CLOCK_SKEW_SECS`] in the future.
    #[error("admin token issued in the future (iat {iat}, now {now})")]
    IssuedInFuture {
        /// The token's `iat`.
        iat: i64,
        /// The KBS's time.
        now: i64,
    },
    /// `exp` is not after `iat`.
    #[error("admin token expires (exp {exp}) before it is issued (iat {iat})")]
    LifetimeNotPositive {
        /// The token's `iat`.
        iat: i64,
        /// The token's `exp`.
        exp: i64,
    },
    /// `exp - iat` exceeds `[admin] max_token_lifetime`.
    #[error(
        "admin token lifetime {lifetime} s exceeds the maximum of {max} s ([admin] max_token_lifetime)"
    )]
    LifetimeTooLong {
        /// The token's `exp - iat`, in seconds.
        lifetime: i64,
        /// The maximum, in seconds.
        max: i64,
    },
    /// `exp` is later than now plus `[admin] max_token_lifetime`.
    #[error("admin token expires at {exp}, later than now + max_token_lifetime ({latest})")]
    ExpiresTooLate {
        /// The token's `exp`.
        exp: i64,
        /// The latest `exp` accepted now.
        latest: i64,
    },
    /// `exp` has passed.
    #[error("admin token expired at {exp}")]
    Expired {
        /// The token's `exp`.
        exp: i64,
    },
    /// The token's `roles` claim is empty or missing: a token grants only the roles it names.
    #[error("admin token of {subject} grants no roles")]
    NoRoles {
        /// The token's `sub`.
        subject: String,
    },
    /// The token's `jti` was revoked (`POST /kbs/v0/admin/tokens/revoke`).
    #[error("admin token {jti} is revoked")]
    Revoked {
        /// The token's `jti`.
        jti: String,
    },
    /// The token's effective roles do not grant the call.
    #[error("admin {subject} lacks the role for this call")]
    Forbidden {
        /// The token's `sub`.
        subject: String,
    },
}

/// The claims of an admin JWT.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdminClaims {
    /// Who the token is for (logged with every change made).
    pub sub: String,
    /// Audience; must be [`ADMIN_AUDIENCE`].
    pub aud: String,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expiry, Unix seconds; at most `[admin] max_token_lifetime` after `iat`.
    pub exp: i64,
    /// Token id (required): what a revocation names.
    #[serde(default)]
    pub jti: Option<String>,
    /// Roles the token asks for, granted only where its key holds them (or holds `admin`). A
    /// token grants only the roles it names: empty or missing grants nothing.
    #[serde(default)]
    pub roles: Vec<Role>,
}

/// A configured admin public key and the roles it grants.
pub struct AdminKey {
    /// Key name, matched against the token's `kid`.
    pub name: String,
    /// Roles tokens signed with this key may use.
    pub roles: Vec<Role>,
    key: DecodingKey,
    algorithm: Algorithm,
}

impl AdminKey {
    /// Loads a public key PEM, Ed25519 or P-256.
    pub fn from_public_pem(name: &str, pem: &[u8], roles: Vec<Role>) -> Result<Self, String> {
        let (key, algorithm) = DecodingKey::from_ed_pem(pem)
            .map(|key| (key, Algorithm::EdDSA))
            .or_else(|_| DecodingKey::from_ec_pem(pem).map(|key| (key, Algorithm::ES256)))
            .map_err(|e| {
                format!("admin key {name}: not an Ed25519 or P-256 public key PEM: {e}")
            })?;
        Ok(Self {
            name: name.into(),
            roles,
            key,
            algorithm,
        })
    }
}

/// An authenticated admin token: who, which token, and the roles it grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminIdentity {
    /// Name of the admin key that signed the token.
    pub key: String,
    /// The token's `sub`.
    pub subject: String,
    /// The token's `jti`.
    pub jti: String,
    /// The roles the token names that its key holds.
    pub roles: Vec<Role>,
}

impl AdminIdentity {
    /// Refuses unless one of the token's effective roles grants `permission`.
    pub fn require(&self, permission: Permission) -> Result<(), AdminError> {
        if self.roles.iter().any(|role| role.grants(permission)) {
            Ok(())
        } else {
            Err(AdminError::Forbidden {
                subject: self.subject.clone(),
            })
        }
    }
}

/// A revocation (`POST /kbs/v0/admin/tokens/revoke`): the token's `jti` and, optionally, its
/// `exp`, which keeps the revocation at least that long (a token minted with a future `iat`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    /// The revoked token's `jti`.
    pub jti: String,
    /// The revoked token's `exp`, Unix seconds, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
}

/// Checks admin tokens against the configured admin keys.
pub struct AdminAuth {
    keys: Vec<AdminKey>,
    max_lifetime: time::Duration,
}

impl AdminAuth {
    /// Trusts `keys`, accepting tokens of at most [`DEFAULT_MAX_TOKEN_LIFETIME`]; with no keys,
    /// every call is refused.
    pub fn new(keys: Vec<AdminKey>) -> Self {
        Self {
            keys,
            max_lifetime: DEFAULT_MAX_TOKEN_LIFETIME,
        }
    }

    /// Accepts tokens living at most `max` (`exp - iat`) instead.
    pub fn with_max_token_lifetime(mut self, max: time::Duration) -> Self {
        self.max_lifetime = max;
        self
    }

    /// The longest lifetime accepted.
    pub fn max_token_lifetime(&self) -> time::Duration {
        self.max_lifetime
    }

    /// How many admin keys are configured.
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Until when a revocation made at `now` must be kept (Unix seconds): until no token with
    /// that `jti` that existed at `now` can be valid. One minted by then with a clock at most
    /// [`CLOCK_SKEW_SECS`] ahead has `iat` ≤ `now` + skew, so it is dead by `now` + the maximum
    /// lifetime + the skew; `exp`, when given, covers a token minted with a later `iat`.
    pub fn revocation_purge_after(&self, now: OffsetDateTime, exp: Option<i64>) -> i64 {
        let latest = now
            .unix_timestamp()
            .saturating_add(self.max_lifetime.whole_seconds())
            .saturating_add(CLOCK_SKEW_SECS);
        latest.max(exp.unwrap_or(i64::MIN))
    }

    /// Authenticates `authorization` (the header value) at `at`: signature by a configured key,
    /// audience, `jti`, a lifetime within the maximum, validity at `at`, and at least one role.
    /// Revocation is the caller's to check (it lives in the store).
    pub fn authenticate(
        &self,
        authorization: Option<&str>,
        at: OffsetDateTime,
    ) -> Result<AdminIdentity, AdminError> {
        let token = authorization
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .ok_or(AdminError::MissingToken)?;
        let invalid = |e: jsonwebtoken::errors::Error| AdminError::InvalidToken(e.to_string());
        let header = jsonwebtoken::decode_header(token).map_err(invalid)?;
        let kid = header
            .kid
            .ok_or_else(|| AdminError::InvalidToken("no kid in header".into()))?;
        let key = self
            .keys
            .iter()
            .find(|key| key.name == kid)
            .ok_or_else(|| AdminError::InvalidToken(format!("unknown admin key {kid:?}")))?;
        let mut validation = Validation::new(key.algorithm);
        validation.validate_exp = false;
        validation.required_spec_claims = ["exp", "iat", "aud", "sub"].map(String::from).into();
        validation.set_audience(&[ADMIN_AUDIENCE]);
        let claims = jsonwebtoken::decode::<AdminClaims>(token, &key.key, &validation)
            .map_err(invalid)?
            .claims;
        let jti = claims.jti.ok_or(AdminError::NoTokenId)?;
        if !valid_token_id(&jti) {
            return Err(AdminError::BadTokenId);
        }
        self.check_lifetime(claims.iat, claims.exp, at.unix_timestamp())?;
        if claims.roles.is_empty() {
            return Err(AdminError::NoRoles {
                subject: claims.sub,
            });
        }
        // A token's roles count only where the key holds them (or holds admin).
        let key_holds = |role: &Role| key.roles.contains(role) || key.roles.contains(&Role::Admin);
        let roles = claims.roles.into_iter().filter(key_holds).collect();
        Ok(AdminIdentity {
            key: key.name.clone(),
            subject: claims.sub,
            jti,
            roles,
        })
    }

    /// The time rules: issued by now (give or take the skew), alive for a positive span of at
    /// most the maximum, ending no later than now + the maximum, and not yet ended.
    fn check_lifetime(&self, iat: i64, exp: i64, now: i64) -> Result<(), AdminError> {
        let max = self.max_lifetime.whole_seconds();
        if iat > now.saturating_add(CLOCK_SKEW_SECS) {
            return Err(AdminError::IssuedInFuture { iat, now });
        }
        let lifetime = exp.saturating_sub(iat);
        if lifetime <= 0 {
            return Err(AdminError::LifetimeNotPositive { iat, exp });
        }
        if lifetime > max {
            return Err(AdminError::LifetimeTooLong { lifetime, max });
        }
        let latest = now.saturating_add(max);
        if exp > latest {
            return Err(AdminError::ExpiresTooLate { exp, latest });
        }
        if now >= exp {
            return Err(AdminError::Expired { exp });
        }
        Ok(())
    }

    /// [`AdminAuth::authenticate`], then checks the token grants `permission` (revocation is
    /// not checked).
    pub fn authorize(
        &self,
        authorization: Option<&str>,
        permission: Permission,
        at: OffsetDateTime,
    ) -> Result<AdminIdentity, AdminError> {
        let identity = self.authenticate(authorization, at)?;
        identity.require(permission)?;
        Ok(identity)
    }
}

/// A new Ed25519 admin key pair as (private PKCS#8 PEM, public SPKI PEM).
pub fn generate_key_pair() -> Result<(String, String), String> {
    use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
    use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey};
    let signing = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    // PKCS#8 v1 (no embedded public key): the form jsonwebtoken's PEM reader accepts reliably.
    let v1 = ed25519_dalek::pkcs8::KeypairBytes {
        secret_key: signing.to_bytes(),
        public_key: None,
    };
    let private = v1.to_pkcs8_pem(LineEnding::LF).map_err(|e| e.to_string())?;
    let public = signing
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| e.to_string())?;
    Ok((private.to_string(), public))
}

/// A token [`mint_token`] made, with the claims a revocation names.
#[derive(Debug, Clone)]
pub struct MintedToken {
    /// The JWT.
    pub token: String,
    /// Its `jti`.
    pub jti: String,
    /// Its `exp`, Unix seconds.
    pub exp: i64,
}

/// Mints an admin token with the private key PEM (Ed25519 or P-256) of the admin key `key_name`,
/// naming `roles` (at least one) and a random `jti`.
pub fn mint_token(
    key_name: &str,
    private_pem: &[u8],
    subject: &str,
    roles: Vec<Role>,
    issued_at: OffsetDateTime,
    lifetime: time::Duration,
) -> Result<MintedToken, String> {
    if roles.is_empty() {
        return Err("an admin token must name at least one role".into());
    }
    let mut id = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut id);
    let claims = AdminClaims {
        sub: subject.into(),
        aud: ADMIN_AUDIENCE.into(),
        iat: issued_at.unix_timestamp(),
        exp: (issued_at + lifetime).unix_timestamp(),
        jti: Some(hex::encode(id)),
        roles,
    };
    Ok(MintedToken {
        token: sign_token(key_name, private_pem, &claims)?,
        jti: claims.jti.unwrap_or_default(),
        exp: claims.exp,
    })
}

/// Signs `claims` as an admin JWT of the admin key `key_name` with its private key PEM (Ed25519
/// or P-256). [`mint_token`] is the way to make a valid one; this signs anything (tests).
pub fn sign_token<T: Serialize>(
    key_name: &str,
    private_pem: &[u8],
    claims: &T,
) -> Result<String, String> {
    let (key, algorithm) = EncodingKey::from_ed_pem(private_pem)
        .map(|key| (key, Algorithm::EdDSA))
        .or_else(|_| EncodingKey::from_ec_pem(private_pem).map(|key| (key, Algorithm::ES256)))
        .map_err(|e| format!("not an Ed25519 or P-256 private key PEM: {e}"))?;
    let mut header = Header::new(algorithm);
    header.kid = Some(key_name.into());
    jsonwebtoken::encode(&header, claims, &key).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::Duration;

    /// A fixed "now" (2023-11-14T22:13:20Z): verification time is a parameter.
    const NOW: OffsetDateTime = match OffsetDateTime::from_unix_timestamp(1_700_000_000) {
        Ok(now) => now,
        Err(_) => panic!("valid timestamp"),
    };

    fn setup(roles: Vec<Role>) -> (AdminAuth, String) {
        let (private, public) = generate_key_pair().unwrap();
        let auth = AdminAuth::new(vec![
            AdminKey::from_public_pem("ops", public.as_bytes(), roles).unwrap(),
        ]);
        (auth, private)
    }

    fn bearer(token: &str) -> String {
        format!("Bearer {token}")
    }

    fn mint(
        private: &str,
        roles: Vec<Role>,
        issued_at: OffsetDateTime,
        lifetime: Duration,
    ) -> String {
        mint_token(
            "ops",
            private.as_bytes(),
            "alice",
            roles,
            issued_at,
            lifetime,
        )
        .unwrap()
        .token
    }

    /// Signs arbitrary claims: what an attacker holding a key, or a careless minter, could send.
    fn signed(private: &str, claims: serde_json::Value) -> String {
        sign_token("ops", private.as_bytes(), &claims).unwrap()
    }

    fn claims(iat: i64, exp: i64) -> serde_json::Value {
        json!({"sub": "alice", "aud": ADMIN_AUDIENCE, "iat": iat, "exp": exp, "jti": "j-1", "roles": ["admin"]})
    }

    #[test]
    fn valid_token_with_role_is_accepted_and_carries_its_jti() {
        let (auth, private) = setup(vec![Role::Admin]);
        let minted = mint_token(
            "ops",
            private.as_bytes(),
            "alice",
            vec![Role::Admin],
            NOW,
            Duration::hours(1),
        )
        .unwrap();
        assert_eq!(minted.exp, NOW.unix_timestamp() + 3600);
        assert!(valid_token_id(&minted.jti), "{}", minted.jti);
        let identity = auth
            .authorize(
                Some(&bearer(&minted.token)),
                Permission::WriteResources,
                NOW,
            )
            .unwrap();
        assert_eq!(identity.subject, "alice");
        assert_eq!(identity.jti, minted.jti);
        assert!(
            auth.authorize(Some(&bearer(&minted.token)), Permission::RevokeTokens, NOW)
                .is_ok()
        );
        // Two tokens never share a jti.
        let other = mint_token(
            "ops",
            private.as_bytes(),
            "a",
            vec![Role::Admin],
            NOW,
            Duration::hours(1),
        )
        .unwrap();
        assert_ne!(other.jti, minted.jti);
    }

    #[test]
    fn missing_bad_expired_and_wrong_role_tokens_are_refused() {
        let (auth, private) = setup(vec![Role::Policies]);
        assert_eq!(
            auth.authorize(None, Permission::Read, NOW),
            Err(AdminError::MissingToken)
        );
        assert!(matches!(
            auth.authorize(Some("Bearer junk"), Permission::Read, NOW),
            Err(AdminError::InvalidToken(_))
        ));
        let token = mint(&private, vec![Role::Policies], NOW, Duration::hours(1));
        assert!(
            auth.authorize(Some(&bearer(&token)), Permission::WritePolicies, NOW)
                .is_ok()
        );
        assert!(matches!(
            auth.authorize(Some(&bearer(&token)), Permission::WriteResources, NOW),
            Err(AdminError::Forbidden { .. })
        ));
        assert!(matches!(
            auth.authorize(Some(&bearer(&token)), Permission::RevokeTokens, NOW),
            Err(AdminError::Forbidden { .. })
        ));
        let later = NOW + Duration::hours(2);
        assert_eq!(
            auth.authorize(Some(&bearer(&token)), Permission::Read, later),
            Err(AdminError::Expired {
                exp: NOW.unix_timestamp() + 3600
            })
        );
        let (other_private, _) = generate_key_pair().unwrap();
        let forged = mint(&other_private, vec![Role::Admin], NOW, Duration::hours(1));
        assert!(matches!(
            auth.authorize(Some(&bearer(&forged)), Permission::Read, NOW),
            Err(AdminError::InvalidToken(_))
        ));
    }

    #[test]
    fn token_roles_narrow_but_never_widen() {
        let (auth, private) = setup(vec![Role::Admin]);
        let narrowed = mint(&private, vec![Role::Reader], NOW, Duration::hours(1));
        assert!(
            auth.authorize(Some(&bearer(&narrowed)), Permission::Read, NOW)
                .is_ok()
        );
        assert!(matches!(
            auth.authorize(Some(&bearer(&narrowed)), Permission::WriteResources, NOW),
            Err(AdminError::Forbidden { .. })
        ));
        let (auth, private) = setup(vec![Role::Reader]);
        let widened = mint(&private, vec![Role::Admin], NOW, Duration::hours(1));
        assert!(matches!(
            auth.authorize(Some(&bearer(&widened)), Permission::WriteResources, NOW),
            Err(AdminError::Forbidden { .. })
        ));
    }

    #[test]
    fn a_token_naming_no_roles_grants_nothing() {
        let (auth, private) = setup(vec![Role::Admin]);
        let now = NOW.unix_timestamp();
        let mut empty = claims(now, now + 600);
        empty["roles"] = json!([]);
        let mut missing = claims(now, now + 600);
        missing.as_object_mut().unwrap().remove("roles");
        for token in [signed(&private, empty), signed(&private, missing)] {
            let refused = auth.authorize(Some(&bearer(&token)), Permission::Read, NOW);
            assert_eq!(
                refused,
                Err(AdminError::NoRoles {
                    subject: "alice".into()
                })
            );
            assert!(refused.unwrap_err().to_string().contains("grants no roles"));
        }
        // The minting API refuses to make such a token in the first place.
        assert!(
            mint_token(
                "ops",
                private.as_bytes(),
                "a",
                vec![],
                NOW,
                Duration::hours(1)
            )
            .is_err()
        );
    }

    #[test]
    fn lifetimes_beyond_the_maximum_are_refused_with_the_reason() {
        let (auth, private) = setup(vec![Role::Admin]);
        let now = NOW.unix_timestamp();
        let check = |iat: i64, exp: i64| {
            auth.authorize(
                Some(&bearer(&signed(&private, claims(iat, exp)))),
                Permission::Read,
                NOW,
            )
        };
        // Exactly the maximum is fine; a second more is not.
        assert!(check(now, now + 3600).is_ok());
        assert_eq!(
            check(now - 10, now + 3591),
            Err(AdminError::LifetimeTooLong {
                lifetime: 3601,
                max: 3600
            })
        );
        // exp in year 9999, issued now or issued in year 9999.
        let year_9999 = 253_402_300_799;
        assert_eq!(
            check(now, year_9999),
            Err(AdminError::LifetimeTooLong {
                lifetime: year_9999 - now,
                max: 3600
            })
        );
        assert_eq!(
            check(year_9999 - 3600, year_9999),
            Err(AdminError::IssuedInFuture {
                iat: year_9999 - 3600,
                now
            })
        );
        // Within the skew, iat may be ahead; exp may still not pass now + max.
        assert!(check(now + 60, now + 3600).is_ok());
        assert_eq!(
            check(now + 61, now + 600),
            Err(AdminError::IssuedInFuture { iat: now + 61, now })
        );
        assert_eq!(
            check(now + 30, now + 3630),
            Err(AdminError::ExpiresTooLate {
                exp: now + 3630,
                latest: now + 3600
            })
        );
        assert_eq!(
            check(now, now),
            Err(AdminError::LifetimeNotPositive { iat: now, exp: now })
        );
        assert_eq!(check(now - 600, now), Err(AdminError::Expired { exp: now }));
        // The maximum is configurable.
        let (private, public) = generate_key_pair().unwrap();
        let five_minutes = AdminAuth::new(vec![
            AdminKey::from_public_pem("ops", public.as_bytes(), vec![Role::Admin]).unwrap(),
        ])
        .with_max_token_lifetime(Duration::minutes(5));
        let hour = mint(&private, vec![Role::Admin], NOW, Duration::hours(1));
        assert_eq!(
            five_minutes.authorize(Some(&bearer(&hour)), Permission::Read, NOW),
            Err(AdminError::LifetimeTooLong {
                lifetime: 3600,
                max: 300
            })
        );
    }

    #[test]
    fn a_token_without_a_usable_jti_is_refused() {
        let (auth, private) = setup(vec![Role::Admin]);
        let now = NOW.unix_timestamp();
        let mut no_id = claims(now, now + 600);
        no_id.as_object_mut().unwrap().remove("jti");
        assert_eq!(
            auth.authorize(
                Some(&bearer(&signed(&private, no_id))),
                Permission::Read,
                NOW
            ),
            Err(AdminError::NoTokenId)
        );
        for bad in ["", "a\nforged log line", &"x".repeat(MAX_TOKEN_ID_LEN + 1)] {
            let mut bad_id = claims(now, now + 600);
            bad_id["jti"] = json!(bad);
            assert_eq!(
                auth.authorize(
                    Some(&bearer(&signed(&private, bad_id))),
                    Permission::Read,
                    NOW
                ),
                Err(AdminError::BadTokenId),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_revocation_outlives_every_token_that_existed_when_it_was_made() {
        let (auth, _) = setup(vec![Role::Admin]);
        let now = NOW.unix_timestamp();
        // A token minted up to now (clock up to the skew ahead) is dead by now + max + skew.
        assert_eq!(auth.revocation_purge_after(NOW, None), now + 3600 + 60);
        assert_eq!(auth.revocation_purge_after(NOW, Some(now + 10)), now + 3660);
        // A token minted with a later iat: kept until its exp.
        assert_eq!(
            auth.revocation_purge_after(NOW, Some(now + 86_400)),
            now + 86_400
        );
    }
}
