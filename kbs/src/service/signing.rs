//! The signing authority's API calls: certificates for attested build enclaves, the trust
//! root, and the admin calls for the signing policy and named keys. Every refusal is logged
//! (an audit line) with the caller's TEE and the reason.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tracing::{info, warn};
use warden_signing::LeafRequest;
use warden_signing::certificate::certificate_pem;
use warden_store::{IssuedCertificate, PolicyKind, SigningKeyRole};
use warden_wire::signing_key::KeyAlgorithm;

use super::{Kbs, internal, random_bytes, result_label};
use sha2::Digest as _;
use warden_verifier::artifact::{Artifact, Expectations, verify_bundle};
use warden_wire::sigstore::Bundle;
use warden_wire::sigstore::tlog_entry::{InclusionProof, LogEntry, rekor_v2_entry};
use warden_wire::tlog::SignedNote;

use crate::admin::Permission;
use crate::audit::AuditEvent;
use crate::error::KbsError;
use crate::protocol::Authorization;
use crate::signing::{
    SIGNING_POLICY_ID, SIGNING_POLICY_NAME, SigningDecision, SigningDesk, attested_facts,
    create_named_key, load_policy, valid_name,
};

/// Largest signing request body (a CSR, or a statement to sign).
pub(crate) const MAX_SIGNING_BODY_BYTES: usize = 64 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct CertificateRequest {
    /// Standard base64 of the DER PKCS#10 request.
    csr: String,
    /// Requested lifetime; default and upper bound from `[signing]`.
    #[serde(default)]
    lifetime_seconds: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSigningKey {
    name: String,
    algorithm: String,
}

/// A signing request body: bounded, then JSON of `T` (whose unknown members are refused).
fn signing_request<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, KbsError> {
    if body.len() > MAX_SIGNING_BODY_BYTES {
        return Err(KbsError::SigningRequest(format!(
            "body larger than {MAX_SIGNING_BODY_BYTES} bytes"
        )));
    }
    serde_json::from_slice(body).map_err(|e| KbsError::SigningRequest(format!("{what}: {e}")))
}

/// The service-log line of a signing call: who (TEE, token `jti`), which key, the identity and
/// serial issued, or why it was refused.
fn trace_outcome(
    outcome: &Result<Value, KbsError>,
    claims: &warden_verifier::ear::EarClaims,
    key: &str,
    what: &str,
) {
    let tee = result_label(claims);
    match outcome {
        Ok(answer) => info!(
            %tee, %key, ear_jti = %claims.jti,
            identity = %answer["identity"].as_str().unwrap_or_default(),
            serial = %answer["serial"].as_str().unwrap_or_default(),
            "{what} issued"
        ),
        Err(error) => warn!(%tee, %key, ear_jti = %claims.jti, %error, "{what} refused"),
    }
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

impl Kbs {
    fn signing_desk(&self) -> Result<&SigningDesk, KbsError> {
        self.signing.as_ref().ok_or(KbsError::SigningDisabled)
    }

    /// The attested session `cookie` names (attested on any replica).
    async fn attested_session(
        &self,
        cookie: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<std::sync::Arc<Authorization>, KbsError> {
        let cookie = cookie.ok_or(KbsError::Unauthenticated)?;
        let ticket = self.challenges.open(cookie, now)?;
        self.session_authorization(&ticket, now).await
    }

    /// `POST /kbs/v0/signing/certificate`: a short-lived code-signing certificate for a key the
    /// attested session's evidence committed to, if the signing policy allows the caller.
    pub async fn signing_certificate(
        &self,
        cookie: Option<&str>,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<Value, KbsError> {
        let desk = self.signing_desk()?;
        let session = self.attested_session(cookie, now).await?;
        let outcome = self.issue_certificate(desk, &session, body, now).await;
        self.signing_outcome(outcome, &session.claims, "-", "signing certificate", now)
            .await
    }

    /// Logs a signing call's outcome, and puts a refusal on the audit log (an issued
    /// certificate or signature is there already).
    async fn signing_outcome(
        &self,
        outcome: Result<Value, KbsError>,
        claims: &warden_verifier::ear::EarClaims,
        key: &str,
        what: &str,
        now: OffsetDateTime,
    ) -> Result<Value, KbsError> {
        trace_outcome(&outcome, claims, key, what);
        if let Err(error) = &outcome
            && !matches!(error, KbsError::LogUnavailable(_))
        {
            let refusal = AuditEvent::SigningRefused {
                what: what.to_owned(),
                key: key.to_owned(),
                jti: claims.jti.clone(),
                tee: result_label(claims),
                reason: error.to_string(),
            };
            self.record(refusal, now).await?;
        }
        outcome
    }

    async fn issue_certificate(
        &self,
        desk: &SigningDesk,
        session: &Authorization,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<Value, KbsError> {
        let request: CertificateRequest = signing_request(body, "certificate request")?;
        let csr = STANDARD
            .decode(request.csr.as_bytes())
            .map_err(|e| KbsError::SigningRequest(format!("csr is not standard base64: {e}")))?;
        let csr = warden_signing::verify_csr(&csr)
            .map_err(|e| KbsError::SigningRequest(e.to_string()))?;
        if !session.signing_keys.contains(&csr.keyid) {
            return Err(KbsError::KeyNotBound { keyid: csr.keyid });
        }
        let settings = desk.settings();
        let lifetime = match request.lifetime_seconds {
            None => settings.default_lifetime,
            Some(0) => {
                return Err(KbsError::SigningRequest(
                    "lifetime-seconds must be positive".into(),
                ));
            }
            Some(seconds) => time::Duration::seconds(seconds.into()).min(settings.max_lifetime),
        };
        let decision = desk.decide(
            &session.claims,
            json!({
                "kind": "certificate",
                "key": null,
                "public-key": {"algorithm": csr.algorithm.name(), "spki-sha256": csr.keyid},
                "lifetime-seconds": lifetime.whole_seconds(),
            }),
        );
        let builder = match decision {
            SigningDecision::Allow { builder } => builder,
            SigningDecision::Deny { reason } => {
                return Err(KbsError::SigningDenied {
                    policy: SIGNING_POLICY_ID.into(),
                    reason,
                });
            }
        };
        let until = OffsetDateTime::from_unix_timestamp(session.claims.exp).unwrap_or(now);
        let taken = desk
            .take_commitment(&csr.keyid, until.max(now + lifetime), now)
            .await
            .map_err(KbsError::from)?;
        if !taken {
            return Err(KbsError::AlreadyCertified { keyid: csr.keyid });
        }
        let identity = desk.identity(&builder);
        let facts = attested_facts(&session.claims, None);
        let serial = warden_signing::ca::serial_from(random_bytes());
        let not_after = now + lifetime;
        let certificate = desk
            .authority()
            .issue(&LeafRequest {
                spki: &csr.spki,
                identity: &identity,
                issuer: &settings.issuer,
                attested_facts: &facts,
                not_before: now,
                not_after,
                serial,
            })
            .map_err(internal)?;
        let serial = hex::encode(serial);
        let issued = AuditEvent::Certificate {
            serial: serial.clone(),
            identity: identity.clone(),
            jti: session.claims.jti.clone(),
            spki_sha256: csr.keyid.clone(),
        };
        self.record(issued, now).await?;
        self.store
            .record_issued_certificate(&IssuedCertificate {
                serial: serial.clone(),
                kind: "keyless".into(),
                identity: identity.clone(),
                spki_sha256: csr.keyid,
                ear_jti: session.claims.jti.clone(),
                not_before: now.unix_timestamp(),
                not_after: not_after.unix_timestamp(),
            })
            .await
            .map_err(internal)?;
        Ok(json!({
            "certificate": certificate_pem(&certificate),
            "chain": [certificate_pem(desk.authority().root_certificate())],
            "identity": identity,
            "issuer": settings.issuer,
            "serial": serial,
            "not-before": rfc3339(now),
            "not-after": rfc3339(not_after),
        }))
    }

    /// `GET /kbs/v0/signing/trust-root`: the CA and TSA certificates deployers trust, and the CT
    /// key whose SCTs the certificates embed.
    pub fn signing_trust_root(&self) -> Result<Value, KbsError> {
        let desk = self.signing_desk()?;
        Ok(json!({
            "issuer": desk.settings().issuer,
            "ca": certificate_pem(desk.authority().root_certificate()),
            "tsa": certificate_pem(desk.authority().tsa_certificate()),
            "ct": public_key_pem(desk.authority().ct_key().spki_der()),
        }))
    }

    /// `PUT /kbs/v0/admin/policies/signing`: compiles, stores and applies the signing policy.
    pub async fn admin_set_signing_policy(
        &self,
        auth: Option<&str>,
        source: &[u8],
        now: OffsetDateTime,
    ) -> Result<Value, KbsError> {
        let who = self.authorize(auth, Permission::WritePolicies, now).await?;
        let desk = self.signing_desk()?;
        let source = std::str::from_utf8(source)
            .map_err(|_| KbsError::BadPolicy("policy is not UTF-8".into()))?;
        let policy = load_policy(source)
            .await
            .map_err(|e| KbsError::BadPolicy(e.to_string()))?;
        let digest = policy.digest().to_owned();
        let _writes = self.admin_writes.lock().await;
        let before = desk.policy();
        let before = before.source().as_bytes();
        let after = Some(source.as_bytes());
        self.record_admin(
            &who,
            "set-signing-policy",
            SIGNING_POLICY_ID,
            Some(before),
            after,
            now,
        )
        .await?;
        self.store
            .put_policy(PolicyKind::Signing, SIGNING_POLICY_NAME, source)
            .await
            .map_err(KbsError::from)?;
        desk.set_policy(policy);
        info!(admin = %who, %digest, "signing policy set");
        Ok(json!({"id": SIGNING_POLICY_ID, "sha256": digest}))
    }

    /// `DELETE /kbs/v0/admin/policies/signing`: back to the shipped default (refuse all).
    pub async fn admin_delete_signing_policy(
        &self,
        auth: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<(), KbsError> {
        let who = self.authorize(auth, Permission::WritePolicies, now).await?;
        let desk = self.signing_desk()?;
        let _writes = self.admin_writes.lock().await;
        let stored = self
            .stored_policy(PolicyKind::Signing, SIGNING_POLICY_NAME)
            .await?;
        let Some(before) = stored else {
            return Err(KbsError::NotFound("signing policy".into()));
        };
        let before = Some(before.as_bytes());
        self.record_admin(
            &who,
            "delete-signing-policy",
            SIGNING_POLICY_ID,
            before,
            None,
            now,
        )
        .await?;
        self.store
            .delete_policy(PolicyKind::Signing, SIGNING_POLICY_NAME)
            .await
            .map_err(KbsError::from)?;
        let default = load_policy(crate::signing::DEFAULT_SIGNING_POLICY)
            .await
            .map_err(internal)?;
        desk.set_policy(default);
        info!(admin = %who, "signing policy deleted: the default refuses every request");
        Ok(())
    }

    /// `GET /kbs/v0/admin/policies/signing`: the signing policy in force.
    pub async fn admin_get_signing_policy(
        &self,
        auth: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Value, KbsError> {
        self.authorize(auth, Permission::Read, now).await?;
        let policy = self.signing_desk()?.policy();
        Ok(json!({"id": policy.id(), "sha256": policy.digest(), "source": policy.source()}))
    }

    /// `POST /kbs/v0/admin/signing-keys`: creates a named key sealed in the store; answers its
    /// public half only.
    pub async fn admin_create_signing_key(
        &self,
        auth: Option<&str>,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<Value, KbsError> {
        let who = self
            .authorize(auth, Permission::ManageSigningKeys, now)
            .await?;
        self.signing_desk()?;
        let request: NewSigningKey = serde_json::from_slice(body)
            .map_err(|e| KbsError::Malformed(format!("signing key: {e}")))?;
        if !valid_name(&request.name) {
            return Err(KbsError::Malformed(format!(
                "signing key name {:?} must match [a-z0-9][a-z0-9._-]{{0,62}}",
                request.name
            )));
        }
        let algorithm = KeyAlgorithm::from_name(&request.algorithm).ok_or_else(|| {
            KbsError::Malformed(format!(
                "algorithm {:?} is not one of {}",
                request.algorithm,
                KeyAlgorithm::ALL.map(KeyAlgorithm::name).join(", ")
            ))
        })?;
        let _writes = self.admin_writes.lock().await;
        if self
            .store
            .signing_key(SigningKeyRole::Named, &request.name)
            .await
            .map_err(KbsError::from)?
            .is_some()
        {
            return Err(KbsError::Conflict(format!("signing key {}", request.name)));
        }
        let target = &request.name;
        self.record_admin(&who, "create-signing-key", target, None, None, now)
            .await?;
        let key = create_named_key(
            &self.store,
            &self.sealer,
            &request.name,
            algorithm,
            &who,
            now,
        )
        .await
        .map_err(internal)?;
        info!(admin = %who, key = %request.name, algorithm = %algorithm.name(), "named signing key created");
        Ok(json!({
            "name": request.name,
            "algorithm": algorithm.name(),
            "public-key": public_key_pem(key.spki_der()),
            "keyid": key.keyid(),
        }))
    }

    /// `GET /kbs/v0/admin/signing-keys`: public halves of the named keys.
    pub async fn admin_list_signing_keys(
        &self,
        auth: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Value, KbsError> {
        self.authorize(auth, Permission::Read, now).await?;
        self.signing_desk()?;
        let keys = self
            .store
            .signing_keys(SigningKeyRole::Named)
            .await
            .map_err(KbsError::from)?;
        let keys: Vec<Value> = keys
            .iter()
            .map(|key| {
                json!({
                    "name": key.name,
                    "algorithm": key.algorithm,
                    "public-key": public_key_pem(&key.spki),
                    "keyid": warden_wire::signing_key::spki_keyid(&key.spki),
                    "created-by": key.created_by,
                })
            })
            .collect();
        Ok(json!({"keys": keys}))
    }

    /// `DELETE /kbs/v0/admin/signing-keys/<name>`.
    pub async fn admin_delete_signing_key(
        &self,
        auth: Option<&str>,
        name: &str,
        now: OffsetDateTime,
    ) -> Result<(), KbsError> {
        let who = self
            .authorize(auth, Permission::ManageSigningKeys, now)
            .await?;
        self.signing_desk()?;
        let _writes = self.admin_writes.lock().await;
        // Only a deletion that will happen is recorded.
        let stored = self.store.signing_key(SigningKeyRole::Named, name).await;
        if stored.map_err(KbsError::from)?.is_none() {
            return Err(KbsError::NotFound(format!("signing key {name}")));
        }
        self.record_admin(&who, "delete-signing-key", name, None, None, now)
            .await?;
        if !self
            .store
            .delete_named_signing_key(name)
            .await
            .map_err(KbsError::from)?
        {
            return Err(KbsError::NotFound(format!("signing key {name}")));
        }
        info!(admin = %who, key = %name, "named signing key deleted");
        Ok(())
    }
}

/// PEM of a DER SubjectPublicKeyInfo.
fn public_key_pem(spki: &[u8]) -> String {
    warden_wire::pem::encode("PUBLIC KEY", spki)
}

/// Largest timestamp request read (a TimeStampReq is about 100 bytes).
pub(crate) const MAX_TIMESTAMP_REQUEST_BYTES: usize = 4096;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct SignRequest {
    /// DSSE payload type; only in-toto statements are signed.
    payload_type: String,
    /// Standard base64 of the statement.
    payload: String,
}

/// The parts of a statement the signing policy and the builder check read.
struct StatementSummary {
    predicate_type: String,
    builder_id: Option<String>,
    subjects: Value,
}

/// Reads an in-toto Statement v1 for remote signing: SLSA Provenance v1 (whose builder must be
/// the caller) or Warden's reference-value predicate; at least one subject with a SHA-256.
fn summarise_statement(payload_type: &str, payload: &[u8]) -> Result<StatementSummary, KbsError> {
    use warden_verifier::provenance::{REFERENCE_VALUES_PREDICATE, STATEMENT_V1};
    use warden_wire::code_signing::SLSA_PROVENANCE_V1;
    let refuse = |reason: &str| KbsError::SigningRequest(format!("statement: {reason}"));
    if payload_type != warden_wire::dsse::IN_TOTO_PAYLOAD_TYPE {
        return Err(refuse("payload-type must be application/vnd.in-toto+json"));
    }
    let statement: Value =
        serde_json::from_slice(payload).map_err(|e| refuse(&format!("not JSON: {e}")))?;
    if statement["_type"] != STATEMENT_V1 {
        return Err(refuse("not an in-toto Statement v1"));
    }
    let subjects = statement["subject"].clone();
    let covered = subjects.as_array().is_some_and(|subjects| {
        !subjects.is_empty()
            && subjects.iter().all(|s| {
                s["digest"]["sha256"]
                    .as_str()
                    .is_some_and(|d| d.len() == 64)
            })
    });
    if !covered {
        return Err(refuse(
            "every subject needs a sha256 digest, and there must be one",
        ));
    }
    let predicate_type = statement["predicateType"].as_str().unwrap_or_default();
    let builder_id = match predicate_type {
        SLSA_PROVENANCE_V1 => Some(
            statement["predicate"]["runDetails"]["builder"]["id"]
                .as_str()
                .ok_or_else(|| refuse("SLSA provenance without runDetails.builder.id"))?
                .to_owned(),
        ),
        REFERENCE_VALUES_PREDICATE => None,
        other => {
            return Err(refuse(&format!(
                "predicateType {other:?} is neither SLSA Provenance v1 nor Warden's reference values"
            )));
        }
    };
    Ok(StatementSummary {
        predicate_type: predicate_type.to_owned(),
        builder_id,
        subjects,
    })
}

impl Kbs {
    /// `POST /kbs/v0/signing/timestamp`: an RFC 3161 timestamp (DER `TimeStampResp`; a bad
    /// request gets a rejection response). Unauthenticated, so rate-limited like `/auth`: a
    /// timestamp vouches only for the time.
    pub fn signing_timestamp(
        &self,
        client: std::net::IpAddr,
        body: &[u8],
        now: OffsetDateTime,
        instant: std::time::Instant,
    ) -> Result<Vec<u8>, KbsError> {
        let desk = self.signing_desk()?;
        self.rate_limit(client, instant)?;
        if body.len() > MAX_TIMESTAMP_REQUEST_BYTES {
            return Err(KbsError::SigningRequest(format!(
                "timestamp request larger than {MAX_TIMESTAMP_REQUEST_BYTES} bytes"
            )));
        }
        Ok(desk.timestamp(body, now))
    }

    /// `POST /kbs/v0/signing/keys/<name>/sign`: the named key signs the caller's in-toto
    /// statement as it is (DSSE), if the signing policy allows this attested caller, this key
    /// and this statement. Answers a Sigstore bundle: the envelope, a certificate for the named
    /// key naming the caller's identity and attested facts, and a timestamp. Only the attested
    /// session may ask: an attestation token is a bearer credential others may hold, and a
    /// signature, unlike a resource, is not encrypted to the attested key.
    pub async fn signing_sign(
        &self,
        cookie: Option<&str>,
        key_name: &str,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<Value, KbsError> {
        let desk = self.signing_desk()?;
        let claims = self.attested_session(cookie, now).await?.claims.clone();
        let outcome = self.remote_sign(desk, &claims, key_name, body, now).await;
        self.signing_outcome(outcome, &claims, key_name, "remote signature", now)
            .await
    }

    async fn remote_sign(
        &self,
        desk: &SigningDesk,
        claims: &warden_verifier::ear::EarClaims,
        key_name: &str,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<Value, KbsError> {
        let request: SignRequest = signing_request(body, "sign request")?;
        let payload = STANDARD.decode(request.payload.as_bytes()).map_err(|e| {
            KbsError::SigningRequest(format!("payload is not standard base64: {e}"))
        })?;
        let summary = summarise_statement(&request.payload_type, &payload)?;
        let decision = desk.decide(
            claims,
            json!({
                "kind": "dsse",
                "key": key_name,
                "statement": {
                    "predicate-type": summary.predicate_type,
                    "builder-id": summary.builder_id,
                    "subjects": summary.subjects,
                },
            }),
        );
        let builder = match decision {
            SigningDecision::Allow { builder } => builder,
            SigningDecision::Deny { reason } => {
                return Err(KbsError::SigningDenied {
                    policy: SIGNING_POLICY_ID.into(),
                    reason,
                });
            }
        };
        let identity = desk.identity(&builder);
        if let Some(got) = summary.builder_id
            && got != identity
        {
            return Err(KbsError::BuilderMismatch {
                expected: identity,
                got,
            });
        }
        // Existence is revealed only to a caller the policy allowed, as with resources.
        let key = crate::signing::load_named_key(&self.store, &self.sealer, key_name)
            .await
            .map_err(|e| match e {
                crate::signing::AuthorityError::Store(e) => KbsError::from(e),
                other => internal(other),
            })?
            .ok_or_else(|| KbsError::NotFound(format!("signing key {key_name}")))?;
        let pae = warden_wire::dsse::pae(&request.payload_type, &payload);
        let signature = key.sign(&pae).map_err(internal)?;
        let envelope = warden_wire::dsse::Envelope::with_one_signature(
            request.payload_type,
            payload,
            key.keyid(),
            signature.clone(),
        );
        let serial = warden_signing::ca::serial_from(random_bytes());
        let not_after = now + desk.settings().default_lifetime;
        let certificate = desk
            .authority()
            .issue(&LeafRequest {
                spki: key.spki_der(),
                identity: &identity,
                issuer: &desk.settings().issuer,
                attested_facts: &attested_facts(claims, Some(key_name)),
                not_before: now,
                not_after,
                serial,
            })
            .map_err(internal)?;
        self.store
            .record_issued_certificate(&IssuedCertificate {
                serial: hex::encode(serial),
                kind: format!("named:{key_name}"),
                identity: identity.clone(),
                spki_sha256: key.keyid(),
                ear_jti: claims.jti.clone(),
                not_before: now.unix_timestamp(),
                not_after: not_after.unix_timestamp(),
            })
            .await
            .map_err(internal)?;
        let timestamp_request =
            warden_wire::tsp::build_request(&signature, Some(random_nonce())).map_err(internal)?;
        let digest = sha2::Sha256::digest(&pae);
        let mut bundle = Bundle {
            verification_material: warden_wire::sigstore::VerificationMaterial {
                signer: warden_wire::sigstore::Signer::Certificate(certificate),
                tlog_entries: Vec::new(),
                rfc3161_timestamps: vec![desk.timestamp(&timestamp_request, now)],
            },
            content: warden_wire::sigstore::BundleContent::Dsse(envelope),
        };
        let signed = SignatureRecord {
            key: format!("named:{key_name}"),
            identity: identity.clone(),
            jti: claims.jti.clone(),
            digest: hex::encode(digest),
        };
        self.log_signature(&mut bundle, key.algorithm(), signed, now)
            .await?;
        Ok(json!({"identity": identity, "bundle": bundle.to_json_value()}))
    }

    /// `POST /kbs/v0/signing/log`: records the signature of a bundle made with a key this CA
    /// certified (a build's own key: the agent signs locally) on the signing transparency log,
    /// and answers the bundle with its log entry and inclusion proof. The bundle must verify
    /// against this CA (chain, timestamp, validity, signature — over the message digest, for a
    /// message signature). Like Rekor, it takes any caller's valid entry, so it is
    /// rate-limited like `/auth`; the certificate already carries the attestation.
    pub async fn signing_log(
        &self,
        client: std::net::IpAddr,
        body: &[u8],
        now: OffsetDateTime,
        instant: std::time::Instant,
    ) -> Result<Value, KbsError> {
        let desk = self.signing_desk()?;
        self.rate_limit(client, instant)?;
        let mut bundle =
            Bundle::parse(body).map_err(|e| KbsError::SigningRequest(format!("bundle: {e}")))?;
        let digest = match &bundle.content {
            warden_wire::sigstore::BundleContent::MessageSignature { digest, .. } => {
                <[u8; 32]>::try_from(digest.as_slice()).ok()
            }
            warden_wire::sigstore::BundleContent::Dsse(envelope) => {
                Some(sha2::Sha256::digest(envelope.pae()).into())
            }
        };
        let digest = digest.ok_or_else(|| {
            KbsError::SigningRequest("a message signature's digest must be SHA2_256".into())
        })?;
        let artifacts = match &bundle.content {
            warden_wire::sigstore::BundleContent::MessageSignature { .. } => vec![Artifact {
                name: format!("sha256:{}", hex::encode(digest)),
                sha256: digest,
                bytes: None,
            }],
            warden_wire::sigstore::BundleContent::Dsse(_) => Vec::new(),
        };
        let roots = [desk.authority().root_certificate().to_vec()];
        let expect = Expectations {
            issuer: Some(&desk.settings().issuer),
            ..Expectations::default()
        };
        let verified = verify_bundle(body, &artifacts, &roots, &expect)
            .result
            .map_err(|e| KbsError::SigningRequest(format!("the bundle does not verify: {e}")))?;
        bundle.verification_material.tlog_entries.clear();
        let signed = SignatureRecord {
            key: "keyless".into(),
            identity: verified.identity.clone(),
            jti: String::new(),
            digest: hex::encode(digest),
        };
        let index = self
            .log_signature(&mut bundle, verified.algorithm, signed, now)
            .await?;
        info!(identity = %verified.identity, index, "signature logged");
        Ok(
            json!({"identity": verified.identity, "log-index": index, "bundle": bundle.to_json_value()}),
        )
    }

    /// Records `bundle`'s signature on the signing transparency log (a `hashedrekord` 0.0.2
    /// entry) and on the audit log, then puts the entry with its inclusion proof and the
    /// checkpoint into the bundle. Nothing is answered unlogged: a log failure is a 503.
    async fn log_signature(
        &self,
        bundle: &mut Bundle,
        algorithm: KeyAlgorithm,
        signed: SignatureRecord,
        now: OffsetDateTime,
    ) -> Result<u64, KbsError> {
        let log = self.signing_log.as_ref().ok_or(KbsError::SigningDisabled)?;
        let body = warden_wire::rekor::hashedrekord_v002(bundle, algorithm)
            .map_err(|e| KbsError::SigningRequest(e.to_string()))?;
        let unavailable = |e: &dyn std::fmt::Display| KbsError::LogUnavailable(e.to_string());
        let appended = log
            .append_raw(body.clone())
            .await
            .map_err(|e| unavailable(&e))?;
        let hashes = log
            .store()
            .log_inclusion_proof(log.name(), appended.index, appended.size)
            .await
            .map_err(|e| unavailable(&e))?;
        let event = AuditEvent::Signature {
            key: signed.key,
            identity: signed.identity,
            jti: signed.jti,
            digest: signed.digest,
            signing_log_index: appended.index,
        };
        self.record(event, now).await?;
        let checkpoint =
            SignedNote::parse(appended.checkpoint.as_bytes()).map_err(|e| unavailable(&e))?;
        let proof = InclusionProof {
            log_index: appended.index,
            root_hash: appended.root,
            tree_size: appended.size,
            hashes,
        };
        let entry = rekor_v2_entry(&LogEntry {
            log_index: appended.index,
            log_id: &log.verifier().full_key_id(),
            canonicalized_body: &body,
            inclusion_proof: &proof,
            checkpoint: &checkpoint,
        })
        .map_err(|e| unavailable(&e))?;
        bundle.verification_material.tlog_entries = vec![entry];
        Ok(appended.index)
    }
}

/// Who signed what, for the audit log's signature entry.
struct SignatureRecord {
    /// `named:<key>` or `keyless`.
    key: String,
    identity: String,
    jti: String,
    /// Hex SHA-256 of what was signed.
    digest: String,
}

fn random_nonce() -> u64 {
    u64::from_be_bytes(random_bytes())
}
