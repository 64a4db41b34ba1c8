use super::*;
use crate::{
    IssuedCertificate, NewLog, PolicyKind, ReferenceValueOrigin, SessionRecord, SigningKeyRole,
    StoreLocation, StoreOptions, StoredSigningKey, testing,
};

const BIG_BATCH: usize = crate::MAX_APPEND_BATCH;

/// Fills every table of `store`, the ephemeral ones too: more resources than a page, a 300 KB
/// value, NULLs and non-NULLs, and logs of several batches — more entries and nodes than a
/// page holds — and an empty one.
async fn populate(store: &Store) {
    store
        .put_resource("tenant/app/key", b"\x01sealed")
        .await
        .unwrap();
    store
        .put_resource("tenant/app/big", &vec![0xa5; 300_000])
        .await
        .unwrap();
    for i in 0..LARGE_VALUES_PAGE + 3 {
        store
            .put_resource(&format!("bulk/{i:03}"), &[i as u8; 40])
            .await
            .unwrap();
    }
    store
        .put_policy(PolicyKind::Release, "tenant/", "package release")
        .await
        .unwrap();
    store
        .put_policy(PolicyKind::Appraisal, "default", "package appraisal")
        .await
        .unwrap();
    store
        .put_policy(PolicyKind::Signing, "default", "package signing")
        .await
        .unwrap();
    let api = ReferenceValueOrigin {
        source: "api".into(),
        set_by: "ops".into(),
        provenance_sha256: None,
        expires_at: None,
    };
    let signed = ReferenceValueOrigin {
        source: "dsse:abc".into(),
        set_by: "ci".into(),
        provenance_sha256: Some("00".repeat(32)),
        expires_at: Some(1_900_000_000),
    };
    store
        .put_reference_values(&[("sample".into(), r#"{"min_svn":[1]}"#.into())], &api)
        .await
        .unwrap();
    store
        .put_reference_values(
            &[("snp".into(), r#"{"measurement":["ab"]}"#.into())],
            &signed,
        )
        .await
        .unwrap();
    store
        .put_registered_ak("ak1", b"tpmt1", "kbs")
        .await
        .unwrap();
    store
        .put_registered_ak("ak2", b"tpmt2", "kbs")
        .await
        .unwrap();
    assert!(store.revoke_registered_ak("ak2", "ops").await.unwrap());
    store
        .revoke_admin_token("jti-1", "admin:ops", 4_000_000_000, 1_000)
        .await
        .unwrap();
    let key = |name: &str, certificate: Option<Vec<u8>>| StoredSigningKey {
        name: name.into(),
        algorithm: "ecdsa-p384".into(),
        sealed: format!("sealed {name}").into_bytes(),
        spki: vec![0x30, 1, 2],
        certificate,
        created_at: 7,
        created_by: "signing-init".into(),
    };
    store
        .insert_signing_keys(&[
            (SigningKeyRole::Ca, key("authority", Some(vec![0x30, 9]))),
            (SigningKeyRole::Tsa, key("authority", Some(vec![0x30, 8]))),
            (SigningKeyRole::Ct, key("authority", None)),
            (SigningKeyRole::Named, key("release", None)),
        ])
        .await
        .unwrap();
    store
        .record_issued_certificate(&IssuedCertificate {
            serial: "0a".into(),
            kind: "keyless".into(),
            identity: "https://kbs/builders/b".into(),
            spki_sha256: "11".repeat(32),
            ear_jti: "jti".into(),
            not_before: 1,
            not_after: 2,
        })
        .await
        .unwrap();
    for name in ["audit", "signing", "unused"] {
        store
            .create_log(&NewLog {
                name: name.into(),
                origin: format!("kbs.test/{name}"),
                algorithm: "ed25519".into(),
                sealed_key: format!("sealed {name} key").into_bytes(),
                public_key: vec![2; 32],
            })
            .await
            .unwrap();
    }
    let append = |log: &'static str, count: usize| async move {
        store
            .append_log_entries(
                log,
                count,
                |_, i| format!("{{\"{log}\":{i}}}").into_bytes(),
                |size, _| Ok(format!("{log} checkpoint {size}")),
            )
            .await
            .unwrap();
    };
    for batch in 1..=7 {
        append("audit", batch).await;
    }
    append("audit", BIG_BATCH).await;
    append("audit", BIG_BATCH).await;
    append("audit", 5).await;
    append("signing", 2).await;
    append("signing", 1).await;
    store
        .service_key_or_insert("token-signing", b"sealed token key")
        .await
        .unwrap();
    assert!(
        store
            .claim_session(&SessionRecord {
                session_id: vec![1; 16],
                used_until: i64::MAX,
                granted_until: i64::MAX,
                token: "t".into(),
                signing_keys: vec!["k".into()],
            })
            .await
            .unwrap()
    );
    assert!(store.take_certified_key("k", i64::MAX, 0).await.unwrap());
}

/// Every copied table's rows, sorted (the backends order text keys by their own collations).
async fn dump(store: &Store) -> Vec<(&'static str, Vec<Vec<Value>>)> {
    let mut snapshot = store.begin_snapshot().await.unwrap();
    let mut tables = Vec::new();
    for table in TABLES {
        let mut rows: Vec<Vec<Value>> = Vec::new();
        loop {
            let after = rows.last().map(|row| row[..table.key].to_vec());
            let page = read_page(snapshot.conn(), table, after.as_deref())
                .await
                .unwrap();
            let full = page.len() == table.page;
            rows.extend(page);
            if !full {
                break;
            }
        }
        rows.sort();
        tables.push((table.name, rows));
    }
    snapshot.rollback().await.unwrap();
    tables
}

async fn open(location: &StoreLocation) -> Store {
    Store::open(location, &StoreOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", location.display()))
}

async fn fresh_postgres() -> Option<StoreLocation> {
    let server = testing::postgres_url()?;
    Some(StoreLocation::Postgres(
        testing::fresh_postgres_database(&server).await.unwrap(),
    ))
}

/// Copies `from` into the empty store at `to` and checks the copy row by row and through the
/// store's own reads.
async fn copy_and_compare(from: &Store, to: &StoreLocation) -> Store {
    let target = open(to).await;
    let started = std::time::Instant::now();
    let report = from.copy_into(&target).await.unwrap();
    eprintln!(
        "{} -> {}: {} rows in {:?}: {:?}",
        from.backend(),
        to.display(),
        report.rows(),
        started.elapsed(),
        report.tables
    );
    let audit_size = (1..=7).sum::<u64>() + 2 * BIG_BATCH as u64 + 5;
    assert_eq!(
        report.rows_of("resources"),
        2 + LARGE_VALUES_PAGE as u64 + 3
    );
    assert_eq!(report.rows_of("log_entries"), audit_size + 3);
    assert_eq!(report.rows_of("log_checkpoints"), 7 + 3 + 2);
    assert_eq!(report.rows_of("signing_keys"), 4);
    for (table, rows) in &report.tables {
        assert!(*rows > 0, "{table} was populated");
        assert!(!NOT_COPIED.contains(table));
    }
    assert_eq!(dump(from).await, dump(&target).await);
    assert_eq!(report.generation, from.generation().await.unwrap());
    assert_eq!(target.generation().await.unwrap(), report.generation);
    // Ephemeral state stays behind: the session is unknown, the key may be certified again.
    assert_eq!(target.session_count().await.unwrap(), 0);
    assert!(target.take_certified_key("k", i64::MAX, 0).await.unwrap());
    let sizes: Vec<(&str, u64)> = report
        .logs
        .iter()
        .map(|log| (log.name.as_str(), log.size))
        .collect();
    assert_eq!(
        sizes,
        [("audit", audit_size), ("signing", 3), ("unused", 0)]
    );
    for log in &report.logs {
        assert_eq!(
            target.log_root(&log.name, log.size).await.unwrap(),
            log.root
        );
        assert_eq!(from.log_root(&log.name, log.size).await.unwrap(), log.root);
    }
    // Proofs and leaf lookups (the partial index) work on the copy.
    assert_eq!(
        target
            .log_consistency_proof("audit", 10, audit_size)
            .await
            .unwrap(),
        from.log_consistency_proof("audit", 10, audit_size)
            .await
            .unwrap()
    );
    let entry = &target.log_entries("audit", 2000, 1).await.unwrap()[0];
    assert_eq!(entry.data, b"{\"audit\":2000}");
    assert_eq!(
        target
            .log_index_of_leaf("audit", &entry.leaf)
            .await
            .unwrap(),
        Some(2000)
    );
    assert_eq!(
        target.get_resource("tenant/app/big").await.unwrap(),
        Some(vec![0xa5; 300_000])
    );
    assert_eq!(
        target.reference_values().await.unwrap(),
        from.reference_values().await.unwrap()
    );
    assert!(target.is_revoked_admin_token("jti-1").await.unwrap());
    assert!(target.is_revoked_ak("ak2").await.unwrap());
    assert_eq!(
        target
            .service_key_or_insert("token-signing", b"other")
            .await
            .unwrap(),
        b"sealed token key"
    );
    // The copy goes on as a store: the next append extends the copied log.
    let appended = target
        .append_log_entries(
            "signing",
            1,
            |_, _| b"next".to_vec(),
            |_, _| Ok("cp".into()),
        )
        .await
        .unwrap();
    assert_eq!(appended.first_index, 3);
    target
}

/// SQLite to PostgreSQL and back when `WARDEN_TEST_POSTGRES` names a server; SQLite to SQLite
/// always. The same rows arrive each time.
#[tokio::test]
async fn a_populated_store_is_copied_row_for_row_in_every_direction() {
    let dir = tempfile::tempdir().unwrap();
    let source = open(&StoreLocation::Sqlite(dir.path().join("source.db"))).await;
    populate(&source).await;
    let back = StoreLocation::Sqlite(dir.path().join("back.db"));
    match fresh_postgres().await {
        Some(postgres) => {
            let on_postgres = copy_and_compare(&source, &postgres).await;
            // The appended entry is in the PostgreSQL copy only: copy a fresh one back.
            let pristine = fresh_postgres().await.unwrap();
            let pristine_store = open(&pristine).await;
            source.copy_into(&pristine_store).await.unwrap();
            copy_and_compare(&pristine_store, &back).await;
            on_postgres.close().await;
        }
        None => {
            eprintln!(
                "{} is not set: SQLite to SQLite only",
                testing::POSTGRES_ENV
            );
            copy_and_compare(&source, &back).await;
        }
    }
}

/// A target holding any durable row is refused before anything is written; rows of the
/// ephemeral tables do not count.
#[tokio::test]
async fn a_target_that_is_not_empty_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let source = open(&StoreLocation::Sqlite(dir.path().join("source.db"))).await;
    populate(&source).await;
    let refused = source.copy_into(&source).await.expect_err("into itself");
    assert!(matches!(refused, StoreError::CopyRefused(_)), "{refused}");
    let occupied = dir.path().join("occupied");
    for (target, location) in testing::stores(&occupied).await {
        target
            .revoke_admin_token("other", "ops", 4_000_000_000, 1_000)
            .await
            .unwrap();
        let before = dump(&target).await;
        let refused = source.copy_into(&target).await.expect_err("not empty");
        let message = refused.to_string();
        assert!(
            matches!(refused, StoreError::CopyRefused(_))
                && message.contains("revoked_admin_tokens holds 1 rows"),
            "{}: {message}",
            location.display()
        );
        assert_eq!(dump(&target).await, before, "{}", location.display());
    }
    let sessions_only = dir.path().join("sessions");
    for (target, location) in testing::stores(&sessions_only).await {
        target
            .claim_session(&SessionRecord {
                session_id: vec![9; 16],
                used_until: 1,
                granted_until: 1,
                token: "t".into(),
                signing_keys: Vec::new(),
            })
            .await
            .unwrap();
        let report = source.copy_into(&target).await.unwrap();
        assert!(report.rows() > 0, "{}", location.display());
    }
}

/// A copy that fails a check after writing rolls everything back: the target is still empty
/// and takes a good copy afterwards.
#[tokio::test]
async fn a_failed_copy_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let source = open(&StoreLocation::Sqlite(dir.path().join("source.db"))).await;
    populate(&source).await;
    // A size one past the stored nodes: the root at that size cannot be computed.
    testing::execute(
        &source,
        "UPDATE transparency_logs SET size = size + 1 WHERE name = 'signing'",
    )
    .await
    .unwrap();
    for (target, location) in testing::stores(dir.path()).await {
        let empty = dump(&target).await;
        let failed = source.copy_into(&target).await.expect_err("refused");
        assert!(
            matches!(failed, StoreError::Log(_)),
            "{}: {failed}",
            location.display()
        );
        assert_eq!(dump(&target).await, empty, "{}", location.display());
        testing::execute(
            &source,
            "UPDATE transparency_logs SET size = size - 1 WHERE name = 'signing'",
        )
        .await
        .unwrap();
        source.copy_into(&target).await.unwrap();
        testing::execute(
            &source,
            "UPDATE transparency_logs SET size = size + 1 WHERE name = 'signing'",
        )
        .await
        .unwrap();
    }
}

/// The copy's table list is the schema: every table copied or named ephemeral, with exactly
/// its columns, the primary key's first. A migration that adds a table or a column fails
/// this until the copy knows it.
#[tokio::test]
async fn every_table_and_column_of_the_schema_is_copied_or_named_ephemeral() {
    let dir = tempfile::tempdir().unwrap();
    for (store, location) in testing::stores(dir.path()).await {
        let columns: Vec<(String, String, i64)> = match &store.pool {
            Pool::Sqlite(pool) => sqlx::query_as(
                "SELECT m.name, p.name, p.pk FROM sqlite_master m, pragma_table_info(m.name) p
                 WHERE m.type = 'table' ORDER BY m.name, p.cid",
            )
            .fetch_all(pool)
            .await
            .unwrap(),
            Pool::Postgres(pool) => sqlx::query_as(
                "SELECT c.table_name::text, c.column_name::text,
                   COALESCE((SELECT k.ordinal_position::bigint FROM information_schema.key_column_usage k
                     JOIN information_schema.table_constraints t ON t.constraint_name = k.constraint_name
                       AND t.table_name = k.table_name AND t.constraint_type = 'PRIMARY KEY'
                     WHERE k.table_name = c.table_name AND k.column_name = c.column_name), 0)
                 FROM information_schema.columns c
                 WHERE c.table_schema = 'public' AND c.table_name <> 'schema_version'
                 ORDER BY c.table_name, c.ordinal_position",
            )
            .fetch_all(pool)
            .await
            .unwrap(),
        };
        let mut schema: std::collections::BTreeMap<String, Vec<(String, i64)>> = Default::default();
        for (table, column, pk) in columns {
            schema.entry(table).or_default().push((column, pk));
        }
        let mut expected: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
        expected.extend(NOT_COPIED);
        expected.push("store_generation");
        expected.sort();
        assert_eq!(
            schema.keys().collect::<Vec<_>>(),
            expected,
            "{}",
            location.display()
        );
        for table in TABLES {
            let declared: Vec<(String, i64)> = table
                .columns
                .iter()
                .enumerate()
                .map(|(i, (name, _))| {
                    let pk = if i < table.key { i as i64 + 1 } else { 0 };
                    ((*name).to_owned(), pk)
                })
                .collect();
            assert_eq!(
                schema[table.name],
                declared,
                "{} in {}",
                table.name,
                location.display()
            );
            assert!(table.page * table.columns.len() <= PARAMETERS);
        }
    }
}
