//! Admin authentication: bearer JWTs (EdDSA or ES256) signed by configured admin keys.
//!
//! Each configured key grants a set of roles; a token may narrow them with its `roles` claim but
//! never widen them. There is no unauthenticated or allow-all mode.

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
}

impl Role {
    fn grants(self, permission: Permission) -> bool {
        matches!(
            (self, permission),
            (Role::Admin, _)
                | (_, Permission::Read)
                | (Role::Resources, Permission::WriteResources)
                | (Role::Policies, Permission::WritePolicies)
        )
    }
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
    /// `exp` has passed, or `iat` is more than 60 s in the future.
    #[error("admin token expired or not yet valid")]
    Expired,
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
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// Roles the token asks for, granted only where its key holds them (or holds `admin`); empty
    /// means all of the key's roles.
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

/// Who an authorised admin call came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminIdentity {
    /// Name of the admin key that signed the token.
    pub key: String,
    /// The token's `sub`.
    pub subject: String,
}

/// Checks admin tokens against the configured admin keys.
pub struct AdminAuth {
    keys: Vec<AdminKey>,
}

impl AdminAuth {
    /// Trusts `keys`; with none, every call is refused.
    pub fn new(keys: Vec<AdminKey>) -> Self {
        Self { keys }
    }

    /// How many admin keys are configured.
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Authenticates `authorization` (the header value) and checks it grants `permission` at `at`.
    pub fn authorize(
        &self,
        authorization: Option<&str>,
        permission: Permission,
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
        let now = at.unix_timestamp();
        if now >= claims.exp || claims.iat > now + 60 {
            return Err(AdminError::Expired);
        }
        // A token's roles count only where the key holds them (or holds admin); none means all.
        let key_holds = |role: &Role| key.roles.contains(role) || key.roles.contains(&Role::Admin);
        let effective: Vec<Role> = if claims.roles.is_empty() {
            key.roles.clone()
        } else {
            claims.roles.iter().copied().filter(key_holds).collect()
        };
        if !effective.into_iter().any(|role| role.grants(permission)) {
            return Err(AdminError::Forbidden {
                subject: claims.sub,
            });
        }
        Ok(AdminIdentity {
            key: key.name.clone(),
            subject: claims.sub,
        })
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

/// Mints an admin token with the private key PEM (Ed25519 or P-256) of the admin key `key_name`.
pub fn mint_token(
    key_name: &str,
    private_pem: &[u8],
    subject: &str,
    roles: Vec<Role>,
    issued_at: OffsetDateTime,
    lifetime: time::Duration,
) -> Result<String, String> {
    let (key, algorithm) = EncodingKey::from_ed_pem(private_pem)
        .map(|key| (key, Algorithm::EdDSA))
        .or_else(|_| EncodingKey::from_ec_pem(private_pem).map(|key| (key, Algorithm::ES256)))
        .map_err(|e| format!("not an Ed25519 or P-256 private key PEM: {e}"))?;
    let mut header = Header::new(algorithm);
    header.kid = Some(key_name.into());
    let claims = AdminClaims {
        sub: subject.into(),
        aud: ADMIN_AUDIENCE.into(),
        iat: issued_at.unix_timestamp(),
        exp: (issued_at + lifetime).unix_timestamp(),
        roles,
    };
    jsonwebtoken::encode(&header, &claims, &key).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    const NOW: OffsetDateTime = OffsetDateTime::UNIX_EPOCH;

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

    #[test]
    fn valid_token_with_role_is_accepted() {
        let (auth, private) = setup(vec![Role::Admin]);
        let token = mint_token(
            "ops",
            private.as_bytes(),
            "alice",
            vec![],
            NOW,
            Duration::hours(1),
        )
        .unwrap();
        let identity = auth
            .authorize(Some(&bearer(&token)), Permission::WriteResources, NOW)
            .unwrap();
        assert_eq!(identity.subject, "alice");
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
        let token = mint_token(
            "ops",
            private.as_bytes(),
            "bob",
            vec![],
            NOW,
            Duration::hours(1),
        )
        .unwrap();
        assert!(
            auth.authorize(Some(&bearer(&token)), Permission::WritePolicies, NOW)
                .is_ok()
        );
        assert!(matches!(
            auth.authorize(Some(&bearer(&token)), Permission::WriteResources, NOW),
            Err(AdminError::Forbidden { .. })
        ));
        let later = NOW + Duration::hours(2);
        assert_eq!(
            auth.authorize(Some(&bearer(&token)), Permission::Read, later),
            Err(AdminError::Expired)
        );
        let (other_private, _) = generate_key_pair().unwrap();
        let forged = mint_token(
            "ops",
            other_private.as_bytes(),
            "eve",
            vec![],
            NOW,
            Duration::hours(1),
        )
        .unwrap();
        assert!(matches!(
            auth.authorize(Some(&bearer(&forged)), Permission::Read, NOW),
            Err(AdminError::InvalidToken(_))
        ));
    }

    #[test]
    fn token_roles_narrow_but_never_widen() {
        let (auth, private) = setup(vec![Role::Admin]);
        let narrowed = mint_token(
            "ops",
            private.as_bytes(),
            "c",
            vec![Role::Reader],
            NOW,
            Duration::hours(1),
        )
        .unwrap();
        assert!(
            auth.authorize(Some(&bearer(&narrowed)), Permission::Read, NOW)
                .is_ok()
        );
        assert!(
            auth.authorize(Some(&bearer(&narrowed)), Permission::WriteResources, NOW)
                .is_err()
        );
        let (auth, private) = setup(vec![Role::Reader]);
        let widened = mint_token(
            "ops",
            private.as_bytes(),
            "d",
            vec![Role::Admin],
            NOW,
            Duration::hours(1),
        )
        .unwrap();
        assert!(
            auth.authorize(Some(&bearer(&widened)), Permission::WriteResources, NOW)
                .is_err()
        );
    }
}
