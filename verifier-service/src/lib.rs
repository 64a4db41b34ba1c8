//! The verifier beyond appraisal: what it holds and how it is reached.
//!
//! - [`Authority`] (`authority`): the transport-free verifier — appraiser, store of reference
//!   values, appraisal policies and registered TPM AKs, builder keys for signed provenance, EAR
//!   token signer. A KBS embeds one.
//! - [`VerifierBackend`] (`backend`): the one interface a broker uses, implemented by the
//!   authority and by [`RemoteVerifier`] (`remote`, the gRPC client), with [`BackendError`], the
//!   one error of that boundary.
//! - [`VerifierService`] (`grpc`): the gRPC server, a skin over an authority: it reads the clock
//!   at the edge, decides which clients may change state ([`Managers`]) and signs results.
//! - `tls`: mutual TLS for both sides; `stored`: the store's rows as appraisal and listings use
//!   them.
//! - `connections`: what both servers admit: connections bounded in total and per client,
//!   closed when idle.
//! - `logging`: what both servers (this service and the KBS) log through: escaped, uncoloured
//!   unless on a terminal.
#![forbid(unsafe_code)]
// Tests may unwrap: a panic is how they fail. Production code may not.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod authority;
pub mod backend;
pub mod connections;
pub mod grpc;
pub mod logging;
pub mod remote;
pub mod stored;
pub mod tls;

pub use authority::{
    Authority, REFRESH_INTERVAL, TOKEN_LIFETIME, load_policy, poll_refresh, stored_policy_refused,
};
pub use backend::{
    Appraisal, Appraised, BackendError, DEFAULT_POLICY_ID, ImportSummary, PolicyChoice,
    PolicyLabel, PolicyListing, RESERVED_POLICY_IDS, RegisteredAkInfo, VerifierBackend,
    valid_policy_id,
};
pub use grpc::{Clock, Managers, VerifierService, serve};
pub use remote::{RemoteAppraisal, RemoteVerifier};
pub use tls::TlsFiles;

use warden_store::StoreError;

/// Largest message either side accepts (evidence with certificate chains and event logs).
pub const MAX_MESSAGE_BYTES: usize = 4 << 20;

/// Setting the service or a client up failed (calls fail with [`BackendError`]).
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A TLS PEM file could not be read.
    #[error("TLS material {path}: {source}")]
    TlsFile {
        /// The file's path.
        path: String,
        /// Why reading it failed.
        source: std::io::Error,
    },
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// tonic's transport failed (TLS configuration, serving).
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// Any other setup failure (a KBS's store, a URL that is not https, the listener).
    #[error("{0}")]
    Setup(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_verifier::appraisal::DEFAULT_APPRAISAL_POLICY;
    use warden_verifier::reference::NamedReferenceValue;
    use warden_verifier::registry::{VerifierRegistry, VerifierSettings};
    use warden_verifier::{Appraiser, ReferenceValues};

    fn appraiser() -> Appraiser {
        let policy = Appraiser::compile_policy("default", DEFAULT_APPRAISAL_POLICY).unwrap();
        Appraiser::new(
            VerifierRegistry::new(&VerifierSettings::default()),
            policy,
            ReferenceValues::default(),
        )
    }

    #[tokio::test]
    async fn a_kbs_store_holding_sealed_resources_or_signing_keys_is_refused() {
        for holds_signing_key in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let store = warden_store::testing::open_store(&dir.path().join("warden.db"))
                .await
                .unwrap();
            if holds_signing_key {
                let key = warden_store::StoredSigningKey {
                    name: "release".into(),
                    algorithm: "ecdsa-p256".into(),
                    sealed: b"sealed".to_vec(),
                    spki: b"spki".to_vec(),
                    certificate: None,
                    created_at: 0,
                    created_by: "test".into(),
                };
                store
                    .insert_signing_keys(&[(warden_store::SigningKeyRole::Named, key)])
                    .await
                    .unwrap();
            } else {
                store.put_resource("a/b/c", b"sealed").await.unwrap();
            }
            let error = VerifierService::open(appraiser(), store)
                .await
                .err()
                .expect("refused");
            assert!(
                error
                    .to_string()
                    .contains("sealed resources or signing keys"),
                "{error}"
            );
        }
    }

    #[tokio::test]
    async fn what_is_set_is_what_is_in_force_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("verifier.db");
        let authority = Authority::open(
            appraiser(),
            warden_store::testing::open_store(&path).await.unwrap(),
        )
        .await
        .unwrap();
        let policy = format!("{DEFAULT_APPRAISAL_POLICY}\n# an operator's\n");
        let named = PolicyChoice::parse("build-farm").unwrap();
        let set = authority
            .set_appraisal_policy(&named, &policy, "alice")
            .await
            .unwrap();
        let default = authority
            .set_appraisal_policy(&PolicyChoice::Default, &policy, "alice")
            .await
            .unwrap();
        assert_eq!(default.id, DEFAULT_POLICY_ID);
        assert_eq!(set.id, "build-farm");
        assert_eq!(set.sha256, default.sha256);
        let sample =
            NamedReferenceValue::new("sample", serde_json::json!({"min_svn": 2}), None).unwrap();
        authority
            .set_reference_value(&sample, "alice")
            .await
            .unwrap();
        // A value its TEE's schema refuses never becomes one to set.
        assert!(
            NamedReferenceValue::new("snp", serde_json::json!({"measurements": ["AB"]}), None)
                .is_err()
        );
        assert!(matches!(
            authority
                .set_appraisal_policy(&named, "not rego", "alice")
                .await,
            Err(BackendError::Invalid(_))
        ));
        let listing = authority.appraisal_policies().await.unwrap();
        drop(authority);

        let reopened = Authority::open(
            appraiser(),
            warden_store::testing::open_store(&path).await.unwrap(),
        )
        .await
        .unwrap();
        assert_eq!(reopened.appraisal_policies().await.unwrap(), listing);
        assert_eq!(listing.chosen(&named), Some(&set));
        assert_eq!(
            reopened.appraiser().reference_values().to_json(),
            serde_json::json!({"sample": {"min_svn": 2}})
        );
        let entries = reopened
            .reference_value_entries(time::OffsetDateTime::UNIX_EPOCH)
            .await
            .unwrap();
        assert_eq!(entries["sample"]["set_by"], "alice");
        assert_eq!(entries["sample"]["source"], "api");
    }

    /// An RSA AK `TPMT_PUBLIC` (restricted, fixedTPM, fixedParent signing key); its modulus,
    /// `fill` repeated, need not be a real key.
    fn rsa_ak_public(fill: u8) -> Vec<u8> {
        let mut ak_public = 0x0001u16.to_be_bytes().to_vec();
        ak_public.extend(0x000Bu16.to_be_bytes());
        ak_public.extend(0x0005_0072u32.to_be_bytes());
        ak_public.extend(0u16.to_be_bytes());
        ak_public.extend(0x0010u16.to_be_bytes());
        ak_public.extend(0x0014u16.to_be_bytes());
        ak_public.extend(0x000Bu16.to_be_bytes());
        ak_public.extend(2048u16.to_be_bytes());
        ak_public.extend(0u32.to_be_bytes());
        ak_public.extend(256u16.to_be_bytes());
        ak_public.extend([fill; 256]);
        ak_public
    }

    fn registered_keys(authority: &Authority) -> usize {
        use warden_verifier::tee::tpm::trust::KeyOrigin;
        let trust = authority.appraiser().registry().tpm_trust().snapshot();
        trust
            .keys
            .values()
            .filter(|origin| **origin == KeyOrigin::Registered)
            .count()
    }

    #[tokio::test]
    async fn an_authority_takes_in_what_another_on_its_store_changed_when_it_refreshes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("verifier.db");
        let a = Authority::open(
            appraiser(),
            warden_store::testing::open_store(&path).await.unwrap(),
        )
        .await
        .unwrap();
        let b = Authority::open(
            appraiser(),
            warden_store::testing::open_store(&path).await.unwrap(),
        )
        .await
        .unwrap();
        assert!(!b.refresh().await.unwrap(), "nothing changed");
        let builtin = b.appraisal_policies().await.unwrap();

        let policy = format!("{DEFAULT_APPRAISAL_POLICY}\n# an operator's\n");
        let named = PolicyChoice::parse("build-farm").unwrap();
        a.set_appraisal_policy(&named, &policy, "alice")
            .await
            .unwrap();
        a.set_appraisal_policy(&PolicyChoice::Default, &policy, "alice")
            .await
            .unwrap();
        let sample =
            NamedReferenceValue::new("sample", serde_json::json!({"min_svn": 2}), None).unwrap();
        a.set_reference_value(&sample, "alice").await.unwrap();
        let first = a.register_tpm_ak(&rsa_ak_public(0xC3), "").await.unwrap();
        a.register_tpm_ak(&rsa_ak_public(0xC5), "").await.unwrap();
        assert_eq!(registered_keys(&a), 2);
        assert_eq!(registered_keys(&b), 0);

        assert!(b.refresh().await.unwrap());
        assert!(
            !b.refresh().await.unwrap(),
            "rebuilt at the generation read"
        );
        let listing = a.appraisal_policies().await.unwrap();
        assert_ne!(listing, builtin);
        assert_eq!(b.appraisal_policies().await.unwrap(), listing);
        assert_eq!(
            b.appraiser().reference_values().to_json(),
            serde_json::json!({"sample": {"min_svn": 2}})
        );
        assert_eq!(registered_keys(&b), 2);

        // Removals too: a revoked AK, a deleted value, policies gone from the store (the
        // default falls back to the one the authority was built with).
        assert!(a.revoke_tpm_ak(&first, "bob").await.unwrap());
        assert!(a.delete_reference_value("sample", "bob").await.unwrap());
        for id in ["build-farm", DEFAULT_POLICY_ID] {
            assert!(
                a.store()
                    .delete_policy(warden_store::PolicyKind::Appraisal, id)
                    .await
                    .unwrap()
            );
        }
        b.reload().await.unwrap();
        assert_eq!(registered_keys(&b), 1);
        assert_eq!(
            b.appraiser().reference_values().to_json(),
            serde_json::json!({})
        );
        assert_eq!(b.appraisal_policies().await.unwrap(), builtin);
    }

    /// 250 nested brackets: the policy (a stack overflow, or hours, in regorus).
    fn nested_policy() -> String {
        format!(
            "package warden.appraisal\ntrust_vector := {}1{}\n",
            "[".repeat(250),
            "]".repeat(250)
        )
    }

    #[tokio::test]
    async fn a_policy_past_the_limits_is_refused_and_nothing_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let store = warden_store::testing::open_store(&dir.path().join("verifier.db"))
            .await
            .unwrap();
        let authority = Authority::open(appraiser(), store.clone()).await.unwrap();
        let before = authority.appraisal_policies().await.unwrap();
        for choice in [PolicyChoice::Default, PolicyChoice::parse("deep").unwrap()] {
            let refused = authority
                .set_appraisal_policy(&choice, &nested_policy(), "alice")
                .await;
            assert!(
                matches!(&refused, Err(BackendError::Invalid(m)) if m.contains("policy nests brackets 250 deep (line 2); at most 10 allowed")),
                "{refused:?}"
            );
        }
        assert_eq!(authority.appraisal_policies().await.unwrap(), before);
        assert!(
            store
                .policies(warden_store::PolicyKind::Appraisal)
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn a_stored_policy_past_the_limits_stops_start_up_and_says_how_to_remove_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = warden_store::testing::open_store(&dir.path().join("verifier.db"))
            .await
            .unwrap();
        // As an older build without the limits could have stored it.
        store
            .put_policy(
                warden_store::PolicyKind::Appraisal,
                "deep",
                &nested_policy(),
            )
            .await
            .unwrap();
        let error = Authority::open(appraiser(), store)
            .await
            .err()
            .expect("refused");
        let message = error.to_string();
        assert!(
            message.contains("stored appraisal policy \"deep\" is refused"),
            "{message}"
        );
        assert!(message.contains("250 deep"), "{message}");
        assert!(
            message.contains("warden-verifier remove-stored-policy --store <verifier.db> --name \"deep\"")
                && message.contains("warden-kbs remove-stored-policy --config <kbs.toml> --kind appraisal --name \"deep\""),
            "{message}"
        );
    }
}
