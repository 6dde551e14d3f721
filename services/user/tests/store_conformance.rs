//! The same checks against every `CustomerStore` adapter.
use shop_store::{EventStore, StoreError};
use shop_user::{
    domain::{self, AddressInput, Customer, PasswordChangeReason, Registration, ResetToken},
    events,
    store::{CreateOutcome, CustomerStore, MemoryCustomerStore, SqliteCustomerStore},
};

fn new_customer(id: &str, email: &str) -> (Customer, Vec<shop_store::NewEvent>) {
    let reg = Registration {
        email: email.into(),
        password: "password1".into(),
        ..Default::default()
    };
    let (c, evs) = domain::register(id.into(), &reg, 1_000).unwrap();
    (
        c,
        evs.iter().map(|e| events::to_new_event(e, 1_000)).collect(),
    )
}

fn addr(zip: &str) -> AddressInput {
    AddressInput {
        address1: "1 Main St".into(),
        city: "Springfield".into(),
        country_code: "US".into(),
        zip: zip.into(),
        phone: Some("555".into()),
        ..Default::default()
    }
}

/// `global_order`: the store's outbox keeps one order over all streams (SQLite, memory); Cassandra orders
/// events within a stream only.
async fn conformance<S: CustomerStore + Clone>(store: S, global_order: bool) -> anyhow::Result<()> {
    // Create and read back.
    let (ann, evs) = new_customer("c1", "ann@example.com");
    assert_eq!(
        store.create(ann.clone(), "hash-1".into(), evs).await?,
        CreateOutcome::Created
    );
    assert_eq!(store.get("c1").await?, Some(ann.clone()));
    assert_eq!(store.get("nobody").await?, None);
    let creds = store
        .credentials("ann@example.com")
        .await?
        .expect("credentials");
    assert_eq!(
        (creds.customer_id.as_str(), creds.password_hash.as_str()),
        ("c1", "hash-1")
    );
    assert_eq!(store.credentials("bob@example.com").await?, None);

    // Duplicate email: nothing written.
    let (dup, evs) = new_customer("c2", "ann@example.com");
    assert_eq!(
        store.create(dup, "hash-2".into(), evs).await?,
        CreateOutcome::EmailTaken
    );
    assert_eq!(store.get("c2").await?, None);
    assert_eq!(store.events().load("c2").await?.len(), 0);

    let (bob, evs) = new_customer("c3", "bob@example.com");
    assert_eq!(
        store.create(bob.clone(), "hash-3".into(), evs).await?,
        CreateOutcome::Created
    );

    // get_many keeps the asked order and omits unknown ids.
    let many = store
        .get_many(&["c3".into(), "zz".into(), "c1".into()])
        .await?;
    assert_eq!(
        many.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["c3", "c1"]
    );

    // Update with addresses, in order, and the outbox event.
    let (a1, e1) = ann.add_address("a1".into(), &addr("111"), false, 2_000)?;
    let (a2, e2) = a1.add_address("a2".into(), &addr("222"), true, 2_001)?;
    store
        .update(
            a1.clone(),
            ann.version,
            e1.iter().map(|e| events::to_new_event(e, 2_000)).collect(),
        )
        .await?;
    store
        .update(
            a2.clone(),
            a1.version,
            e2.iter().map(|e| events::to_new_event(e, 2_001)).collect(),
        )
        .await?;
    let stored = store.get("c1").await?.expect("c1");
    assert_eq!(stored, a2);
    assert_eq!(
        stored
            .addresses
            .iter()
            .map(|a| a.id.as_str())
            .collect::<Vec<_>>(),
        ["a1", "a2"]
    );
    assert_eq!(stored.default_address_id.as_deref(), Some("a2"));

    // Stale version: conflict, nothing written.
    let (stale, e3) = a1.delete_address("a1", 3_000)?;
    let err = store
        .update(
            stale,
            a1.version,
            e3.iter().map(|e| events::to_new_event(e, 3_000)).collect(),
        )
        .await;
    assert!(matches!(err, Err(StoreError::Conflict { .. })), "{err:?}");
    assert_eq!(store.get("c1").await?, Some(a2.clone()));

    // Deleting addresses really removes them.
    let (a3, e3) = a2.delete_address("a1", 3_001)?;
    store
        .update(
            a3.clone(),
            a2.version,
            e3.iter().map(|e| events::to_new_event(e, 3_001)).collect(),
        )
        .await?;
    assert_eq!(store.get("c1").await?, Some(a3.clone()));

    // Staff permissions are stored with the customer (and read back by every lookup).
    let staff: shop_kernel::Permissions = shop_kernel::Permission::ALL.into_iter().collect();
    let (a4, e4) = a3.set_permissions(staff, 3_002);
    store
        .update(
            a4.clone(),
            a3.version,
            e4.iter().map(|e| events::to_new_event(e, 3_002)).collect(),
        )
        .await?;
    assert_eq!(store.get("c1").await?.map(|c| c.permissions), Some(staff));
    assert_eq!(store.get_many(&["c1".into()]).await?, vec![a4.clone()]);
    let (a5, e5) = a4.set_permissions(shop_kernel::Permissions::NONE, 3_003);
    store
        .update(
            a5.clone(),
            a4.version,
            e5.iter().map(|e| events::to_new_event(e, 3_003)).collect(),
        )
        .await?;
    assert_eq!(store.get("c1").await?, Some(a5));

    // Outbox: registered + 3 address changes + 2 permission changes on c1's stream, registered on c3's.
    let stream: Vec<String> = store
        .events()
        .load("c1")
        .await?
        .into_iter()
        .map(|r| r.event.event_type)
        .collect();
    assert_eq!(
        stream,
        [
            "user.registered.v1",
            "user.addresses_changed.v1",
            "user.addresses_changed.v1",
            "user.addresses_changed.v1",
            "user.permissions_changed.v1",
            "user.permissions_changed.v1"
        ]
    );
    let all = store.events().unpublished(100).await?;
    assert_eq!(all.len(), 7);
    assert!(all.iter().all(|r| r.event.topic == "shop.user.v1"));
    let first_change = if global_order {
        assert!(all.windows(2).all(|w| w[0].position < w[1].position));
        let types: Vec<&str> = all.iter().map(|r| r.event.event_type.as_str()).collect();
        assert_eq!(
            types[..3],
            [
                "user.registered.v1",
                "user.registered.v1",
                "user.addresses_changed.v1"
            ]
        );
        &all[2]
    } else {
        for w in all.windows(2) {
            if w[0].stream_id == w[1].stream_id {
                assert!(w[0].seq < w[1].seq, "stream order");
            }
        }
        let c3: Vec<&str> = all
            .iter()
            .filter(|r| r.stream_id == "c3")
            .map(|r| r.event.event_type.as_str())
            .collect();
        assert_eq!(c3, ["user.registered.v1"]);
        all.iter()
            .find(|r| r.stream_id == "c1" && r.seq == 2)
            .expect("c1's first address change")
    };
    assert_eq!(
        events::decode(first_change.event.payload.clone())?,
        domain::UserEvent::AddressesChanged {
            customer_id: "c1".into(),
            address_count: 1
        }
    );

    // Concurrent registrations of one email: exactly one wins, the others see EmailTaken (not an error).
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (c, evs) = new_customer(&format!("race{i}"), "race@example.com");
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.create(c, "h".into(), evs).await
        }));
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await??);
    }
    let created = outcomes
        .iter()
        .filter(|o| **o == CreateOutcome::Created)
        .count();
    assert_eq!((created, outcomes.len()), (1, 8));
    Ok(())
}

fn mail(customer_id: &str, token: &str) -> Vec<shop_store::NewEvent> {
    let m = events::PasswordResetMail {
        to: "pat@example.com".into(),
        customer_id: customer_id.into(),
        reset_url: format!("https://shop.example/account/reset/{customer_id}/{token}"),
        reset_token: token.into(),
        expires_at_ms: 9_000,
    };
    vec![events::password_reset_mail(&m, 1_000)]
}

/// Password changes and reset tokens: replaced on issue, single use under races, hashes only, the mail in the
/// outbox with the token; a new password hash commits with its event and survives later changes.
async fn password_conformance<S: CustomerStore + Clone>(store: S) -> anyhow::Result<()> {
    let (pat, evs) = new_customer("p1", "pat@example.com");
    store.create(pat.clone(), "hash-0".into(), evs).await?;
    assert_eq!(store.reset_token("p1").await?, None);

    let a = ResetToken::issue("token-a", 1_000, 3_600_000);
    store
        .issue_reset("p1", a.clone(), mail("p1", "token-a"))
        .await?;
    assert_eq!(store.reset_token("p1").await?, Some(a.clone()));
    let b = ResetToken::issue("token-b", 2_000, 3_600_000);
    store
        .issue_reset("p1", b.clone(), mail("p1", "token-b"))
        .await?;
    assert_eq!(
        store.reset_token("p1").await?,
        Some(b.clone()),
        "a new token replaces the old"
    );
    let mails = store.events().load(&events::reset_stream("p1")).await?;
    assert_eq!(mails.len(), 2);
    for (m, token) in mails.iter().zip(["token-a", "token-b"]) {
        assert_eq!(m.event.topic, "shop.email.v1");
        assert_eq!(m.event.event_type, "email.password_reset_requested.v1");
        assert_eq!(
            events::decode_mail(m.event.payload.clone())?.reset_token,
            token
        );
    }
    // The customer's own stream is untouched by reset mails.
    assert_eq!(store.events().load("p1").await?.len(), 1);
    assert_eq!(store.get("p1").await?, Some(pat.clone()));

    // The replaced token is dead; the current one is spent exactly once, even under a race.
    assert!(!store.consume_reset("p1", &a.token_hash).await?);
    assert!(!store.consume_reset("nobody", &b.token_hash).await?);
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let (store, hash) = (store.clone(), b.token_hash.clone());
        tasks.push(tokio::spawn(async move {
            store.consume_reset("p1", &hash).await
        }));
    }
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await??);
    }
    assert_eq!(wins, 1, "single use");
    assert!(store.reset_token("p1").await?.is_some_and(|t| t.used));
    assert!(!store.consume_reset("p1", &b.token_hash).await?);
    // Issuing again gives a fresh, unused token.
    let c = ResetToken::issue("token-c", 3_000, 3_600_000);
    store
        .issue_reset("p1", c.clone(), mail("p1", "token-c"))
        .await?;
    assert_eq!(store.reset_token("p1").await?, Some(c));

    // A password change commits the hash with its event; a stale version writes nothing.
    let (next, evs) = pat.change_password(PasswordChangeReason::Reset, 4_000);
    let records: Vec<_> = evs.iter().map(|e| events::to_new_event(e, 4_000)).collect();
    store
        .update_password(next.clone(), pat.version, "hash-1".into(), records.clone())
        .await?;
    assert_eq!(store.get("p1").await?, Some(next.clone()));
    let hash = |s: S| async move {
        anyhow::Ok(
            s.credentials("pat@example.com")
                .await?
                .map(|c| c.password_hash),
        )
    };
    assert_eq!(hash(store.clone()).await?, Some("hash-1".to_string()));
    let stale = store
        .update_password(next.clone(), pat.version, "hash-stale".into(), records)
        .await;
    assert!(
        matches!(stale, Err(StoreError::Conflict { .. })),
        "{stale:?}"
    );
    assert_eq!(hash(store.clone()).await?, Some("hash-1".to_string()));
    let stream = store.events().load("p1").await?;
    assert_eq!(
        stream
            .iter()
            .map(|r| r.event.event_type.as_str())
            .collect::<Vec<_>>(),
        ["user.registered.v1", "user.password_changed.v1"]
    );
    assert_eq!(
        events::decode(stream[1].event.payload.clone())?,
        domain::UserEvent::PasswordChanged {
            customer_id: "p1".into(),
            reason: PasswordChangeReason::Reset
        }
    );
    // Later changes keep the new password.
    let (later, evs) = next.add_address("pa".into(), &addr("9"), false, 5_000)?;
    let records = evs.iter().map(|e| events::to_new_event(e, 5_000)).collect();
    store.update(later.clone(), next.version, records).await?;
    assert_eq!(store.get("p1").await?, Some(later));
    assert_eq!(hash(store.clone()).await?, Some("hash-1".to_string()));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_adapter() -> anyhow::Result<()> {
    conformance(MemoryCustomerStore::new(), true).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_adapter_in_memory() -> anyhow::Result<()> {
    conformance(SqliteCustomerStore::open_in_memory()?, true).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_adapter_passwords() -> anyhow::Result<()> {
    password_conformance(MemoryCustomerStore::new()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_adapter_passwords() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("user.db");
    password_conformance(SqliteCustomerStore::open(&path)?).await?;
    // Tokens and new hashes survive a restart.
    let reopened = SqliteCustomerStore::open(&path)?;
    assert!(reopened.reset_token("p1").await?.is_some_and(|t| !t.used));
    assert_eq!(
        reopened
            .credentials("pat@example.com")
            .await?
            .map(|c| c.password_hash),
        Some("hash-1".to_string())
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_adapter_on_disk_survives_reopen() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("user.db");
    conformance(SqliteCustomerStore::open(&path)?, true).await?;
    let reopened = SqliteCustomerStore::open(&path)?;
    assert_eq!(
        reopened.get("c1").await?.map(|c| c.email),
        Some("ann@example.com".to_string())
    );
    Ok(())
}

mod cassandra {
    use std::time::Duration;

    use scylla::statement::Statement;
    use shop_store::{EventStore, ExpectedVersion, StoreError, cassandra::CassandraSettings};
    use shop_user::store::{CassandraCustomerStore, CreateOutcome, CustomerStore};

    fn settings(nodes: &str, keyspace: &str) -> CassandraSettings {
        CassandraSettings {
            nodes: nodes.split(',').map(|n| n.trim().to_string()).collect(),
            keyspace: keyspace.to_string(),
            replication_factor: 1,
            request_timeout: Duration::from_secs(2),
            local_datacenter: None,
        }
    }

    /// Runs `body` against a store in a fresh keyspace, then drops the keyspace even if `body` failed.
    async fn with_keyspace<F, Fut>(nodes: &str, body: F) -> anyhow::Result<()>
    where
        F: FnOnce(String, CassandraCustomerStore) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        // `user_` + 32 hex chars: a valid unquoted CQL identifier.
        let keyspace = format!("user_{}", shop_kernel::ids::new_id());
        let store = CassandraCustomerStore::connect(settings(nodes, &keyspace)).await?;
        let outcome = tokio::spawn(body(keyspace.clone(), store.clone())).await;
        let mut drop = Statement::new(format!("DROP KEYSPACE IF EXISTS {keyspace}"));
        drop.set_request_timeout(Some(Duration::from_secs(60)));
        store.events().session().query_unpaged(drop, ()).await?;
        match outcome {
            Ok(result) => result,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cassandra_adapter() -> anyhow::Result<()> {
        let Some(nodes) = shop_kernel::test_engine("THRIFTSHOP_TEST_CASSANDRA") else {
            return Ok(());
        };
        let nodes2 = nodes.clone();
        with_keyspace(&nodes, |keyspace, store| async move {
            super::conformance(store.clone(), false).await?;
            // A second connection to the same keyspace sees the same customers (migrations recorded once).
            let again = CassandraCustomerStore::connect(settings(&nodes2, &keyspace)).await?;
            assert_eq!(again.get("c1").await?, store.get("c1").await?);
            assert_eq!(
                again
                    .credentials("ann@example.com")
                    .await?
                    .map(|c| c.customer_id),
                Some("c1".to_string())
            );
            // Until a password change, the hash is kept with the email claim only: no state row holds it.
            let rows = store
                .events()
                .session()
                .query_unpaged(
                    format!("SELECT password_hash FROM {keyspace}.customer_states WHERE customer_id = 'c1'"),
                    (),
                )
                .await?
                .into_rows_result()?;
            assert!(
                rows.rows::<(Option<String>,)>()?
                    .all(|r| r.is_ok_and(|(h,)| h.is_none()))
            );
            // Superseded state rows are removed once a change commits: one row per customer.
            assert_eq!(rows.rows_num(), 1);
            Ok(())
        })
        .await
    }

    /// Writes an email claim for `customer_id` without a customer, as a registration that died (or is still
    /// running) between its claim and its append leaves it.
    async fn orphan_claim(
        store: &CassandraCustomerStore,
        keyspace: &str,
        email: &str,
        customer_id: &str,
        claimed_at_ms: i64,
    ) -> anyhow::Result<()> {
        store
            .events()
            .session()
            .query_unpaged(
                format!(
                    "INSERT INTO {keyspace}.customer_emails (email, customer_id, nonce, password_hash,
                     claimed_at_ms) VALUES (?, ?, 'n-orphan', 'h-orphan', ?)"
                ),
                (email, customer_id, claimed_at_ms),
            )
            .await?;
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cassandra_adapter_passwords() -> anyhow::Result<()> {
        let Some(nodes) = shop_kernel::test_engine("THRIFTSHOP_TEST_CASSANDRA") else {
            return Ok(());
        };
        with_keyspace(&nodes, |keyspace, store| async move {
            super::password_conformance(store.clone()).await?;
            // Only hashes are stored: no row of the reset table holds a token.
            let rows = store
                .events()
                .session()
                .query_unpaged(
                    format!("SELECT token_hash FROM {keyspace}.password_resets"),
                    (),
                )
                .await?
                .into_rows_result()?;
            for row in rows.rows::<(Option<String>,)>()? {
                let (hash,) = row?;
                assert_eq!(hash.as_deref().map(str::len), Some(64));
            }
            Ok(())
        })
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cassandra_abandoned_email_claims_are_fenced_and_taken_over() -> anyhow::Result<()> {
        let Some(nodes) = shop_kernel::test_engine("THRIFTSHOP_TEST_CASSANDRA") else {
            return Ok(());
        };
        with_keyspace(&nodes, |keyspace, store| async move {
            let now = shop_kernel::now_ms();
            // A claim without a customer is invisible.
            orphan_claim(&store, &keyspace, "young@example.com", "ghost-1", now).await?;
            assert_eq!(store.credentials("young@example.com").await?, None);
            // A young one may still commit: the email is taken, nothing is fenced.
            let (c, evs) = super::new_customer("y1", "young@example.com");
            assert_eq!(
                store.create(c, "h".into(), evs).await?,
                CreateOutcome::EmailTaken
            );
            assert_eq!(store.get("y1").await?, None);

            // An abandoned one (older than the grace period, no events) is fenced and taken over.
            let old = now - store.claim_grace().as_millis() as i64 - 1_000;
            orphan_claim(&store, &keyspace, "old@example.com", "ghost-2", old).await?;
            let (c, evs) = super::new_customer("o1", "old@example.com");
            assert_eq!(
                store.create(c.clone(), "h-new".into(), evs).await?,
                CreateOutcome::Created
            );
            let creds = store.credentials("old@example.com").await?.expect("creds");
            assert_eq!(
                (creds.customer_id.as_str(), creds.password_hash.as_str()),
                ("o1", "h-new")
            );
            assert_eq!(store.get("o1").await?, Some(c));
            // The abandoned registration can never commit now.
            let (_, late) = super::new_customer("ghost-2", "old@example.com");
            let err = store
                .events()
                .append("ghost-2", ExpectedVersion::NoStream, late, vec![])
                .await;
            assert!(matches!(err, Err(StoreError::Conflict { .. })), "{err:?}");
            assert_eq!(store.get("ghost-2").await?, None);
            assert!(store.events().load("ghost-2").await?.is_empty());

            // An old claim of a customer that exists is never taken over. (The claim is aged with a plain write
            // dated after the LWT that wrote it.)
            store
                .events()
                .session()
                .query_unpaged(
                    format!(
                        "UPDATE {keyspace}.customer_emails USING TIMESTAMP ? SET claimed_at_ms = ?
                         WHERE email = 'old@example.com'"
                    ),
                    ((now + 60_000) * 1_000, old),
                )
                .await?;
            let (c, evs) = super::new_customer("o2", "old@example.com");
            assert_eq!(
                store.create(c, "h".into(), evs).await?,
                CreateOutcome::EmailTaken
            );
            assert_eq!(store.get("o2").await?, None);
            assert_eq!(
                store
                    .credentials("old@example.com")
                    .await?
                    .map(|c| c.customer_id),
                Some("o1".to_string())
            );
            assert_eq!(store.events().load("o1").await?.len(), 1);
            Ok(())
        })
        .await
    }
}
