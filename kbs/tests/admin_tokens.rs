//! Admin tokens through the `Kbs` itself (no HTTP): a revocation is stored, refuses the token
//! at once and after a restart, and leaves other tokens working; the lifetime and role rules
//! reach every admin call with their typed reasons.
#![allow(clippy::unwrap_used)]

use serde_json::json;
use time::{Duration, OffsetDateTime};
use warden_kbs::admin::{ADMIN_AUDIENCE, AdminError, Role, mint_token, sign_token};
use warden_kbs::init::{InitOptions, init_with_signing_authority};
use warden_kbs::{Config, Kbs, KbsError};

async fn open(config: &std::path::Path) -> Kbs {
    Kbs::open(&Config::load(config).unwrap()).await.unwrap()
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_token_is_refused_at_once_and_after_a_restart_while_others_work() {
    let dir = tempfile::tempdir().unwrap();
    let output = init_with_signing_authority(&InitOptions {
        dir: dir.path().join("kbs"),
        listen: "127.0.0.1:0".into(),
        hostnames: vec![],
        insecure_allow_sample: false,
        store_url: warden_store::testing::suite_database().await,
    })
    .await
    .unwrap();
    let key = std::fs::read(&output.admin_private_key).unwrap();
    let now = OffsetDateTime::now_utc();
    let mint = |roles: Vec<Role>| {
        mint_token("admin", &key, "ops", roles, now, Duration::minutes(30)).unwrap()
    };
    let kbs = open(&output.config).await;
    let leaked = mint(vec![Role::Admin]);
    let fresh = mint(vec![Role::Admin]);
    kbs.admin_list_resources(Some(&bearer(&leaked.token)), now)
        .await
        .unwrap();

    // A reader cannot revoke; the admin role can, and a token may revoke itself.
    let reader = mint(vec![Role::Reader]);
    let request = json!({"jti": leaked.jti}).to_string();
    let refused = kbs
        .admin_revoke_token(Some(&bearer(&reader.token)), request.as_bytes(), now)
        .await
        .unwrap_err();
    assert!(
        matches!(refused, KbsError::Admin(AdminError::Forbidden { .. })),
        "{refused}"
    );
    let answer = kbs
        .admin_revoke_token(Some(&bearer(&leaked.token)), request.as_bytes(), now)
        .await
        .unwrap();
    assert_eq!(answer["jti"], leaked.jti.as_str());
    // Kept past every token that existed: max lifetime (1 h default) + clock skew.
    assert_eq!(answer["kept_until"], now.unix_timestamp() + 3600 + 60);

    let revoked = kbs
        .admin_list_resources(Some(&bearer(&leaked.token)), now)
        .await
        .unwrap_err();
    assert!(
        matches!(&revoked, KbsError::Admin(AdminError::Revoked { jti }) if *jti == leaked.jti),
        "{revoked}"
    );
    assert_eq!((revoked.status(), revoked.kind()), (401, "AdminAuthFailed"));
    kbs.admin_list_resources(Some(&bearer(&fresh.token)), now)
        .await
        .unwrap();

    // Durable: a restarted KBS still refuses it.
    drop(kbs);
    let kbs = open(&output.config).await;
    assert!(matches!(
        kbs.admin_put_resource(Some(&bearer(&leaked.token)), "a/b/c", b"x", now)
            .await,
        Err(KbsError::Admin(AdminError::Revoked { .. }))
    ));
    kbs.admin_put_resource(Some(&bearer(&fresh.token)), "a/b/c", b"x", now)
        .await
        .unwrap();

    // Malformed revocations are refused before anything is stored.
    for body in [
        json!({"jti": "has space"}),
        json!({"jti": ""}),
        json!({"jti": "a", "unknown": 1}),
    ] {
        let refused = kbs
            .admin_revoke_token(
                Some(&bearer(&fresh.token)),
                body.to_string().as_bytes(),
                now,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(refused, KbsError::Malformed(_)),
            "{body}: {refused}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_configured_maximum_lifetime_and_the_role_rule_hold_for_every_admin_call() {
    let dir = tempfile::tempdir().unwrap();
    let output = init_with_signing_authority(&InitOptions {
        dir: dir.path().join("kbs"),
        listen: "127.0.0.1:0".into(),
        hostnames: vec![],
        insecure_allow_sample: false,
        store_url: warden_store::testing::suite_database().await,
    })
    .await
    .unwrap();
    let text = std::fs::read_to_string(&output.config).unwrap();
    // The starter config names the default; this KBS allows ten minutes.
    let configured = text.replace(
        "max_token_lifetime = \"1h\"",
        "max_token_lifetime = \"10m\"",
    );
    assert_ne!(
        configured, text,
        "the starter config names max_token_lifetime"
    );
    std::fs::write(&output.config, configured).unwrap();
    let key = std::fs::read(&output.admin_private_key).unwrap();
    let now = OffsetDateTime::now_utc();
    let kbs = open(&output.config).await;

    let hour = mint_token(
        "admin",
        &key,
        "ops",
        vec![Role::Admin],
        now,
        Duration::hours(1),
    )
    .unwrap();
    let refused = kbs
        .admin_list_policies(Some(&bearer(&hour.token)), now)
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            KbsError::Admin(AdminError::LifetimeTooLong {
                lifetime: 3600,
                max: 600
            })
        ),
        "{refused}"
    );
    let ten = mint_token(
        "admin",
        &key,
        "ops",
        vec![Role::Admin],
        now,
        Duration::minutes(10),
    )
    .unwrap();
    kbs.admin_list_policies(Some(&bearer(&ten.token)), now)
        .await
        .unwrap();

    let t = now.unix_timestamp();
    let no_roles = sign_token(
        "admin",
        &key,
        &json!({"sub": "ops", "aud": ADMIN_AUDIENCE, "iat": t, "exp": t + 60, "jti": "j1", "roles": []}),
    )
    .unwrap();
    let refused = kbs
        .admin_list_policies(Some(&bearer(&no_roles)), now)
        .await
        .unwrap_err();
    assert!(
        matches!(refused, KbsError::Admin(AdminError::NoRoles { .. })),
        "{refused}"
    );
    assert_eq!((refused.status(), refused.kind()), (403, "AdminForbidden"));
    assert!(refused.to_string().contains("grants no roles"));
}
