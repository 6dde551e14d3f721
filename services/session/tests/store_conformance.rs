//! The same checks against every `SessionStore` adapter.
use shop_session::{
    domain::{RevokeReason, Session, SessionConfig, SessionEvent, SessionKind, token_hash},
    events,
    store::{MemorySessionStore, Revocation, SessionStore, SqliteSessionStore},
};
use shop_store::{EventStore, StoreError};

fn session(
    id: &str,
    token: &str,
    customer: Option<&str>,
    now: i64,
    ttl_ms: i64,
) -> (Session, Vec<shop_store::NewEvent>) {
    let kind = if customer.is_some() {
        SessionKind::Customer
    } else {
        SessionKind::Guest
    };
    let (s, e) = Session::create(
        id.into(),
        token_hash(token),
        kind,
        customer.map(Into::into),
        &SessionConfig {
            ttl_ms,
            guest_ttl_ms: ttl_ms,
            ..SessionConfig::default()
        },
        now,
    )
    .unwrap();
    (s, vec![events::to_new_event(&e, now)])
}

fn revocation(s: &Session, reason: RevokeReason, now: i64) -> Revocation {
    let (_, e) = s.revoke(reason, now);
    Revocation {
        session_id: s.session_id.clone(),
        event: events::to_new_event(&e.unwrap(), now),
    }
}

/// `global_order`: the store's outbox keeps one order over all streams (SQLite, memory); Cassandra orders
/// events within a stream only.
async fn conformance<S: SessionStore>(store: S, global_order: bool) -> anyhow::Result<()> {
    let (a, ev) = session("s1", "tok-a", Some("c1"), 1_000, 10_000);
    store.insert(a.clone(), ev).await?;
    assert_eq!(
        store.find_by_token_hash(&token_hash("tok-a")).await?,
        Some(a.clone())
    );
    assert_eq!(store.find_by_token_hash(&token_hash("tok-x")).await?, None);
    assert_eq!(
        store.find_by_token_hash("tok-a").await?,
        None,
        "lookups are by hash only"
    );

    // Duplicate id or token hash: conflict, nothing written.
    let (dup, ev) = session("s1", "tok-other", None, 1_000, 10_000);
    assert!(matches!(
        store.insert(dup, ev).await,
        Err(StoreError::Conflict { .. })
    ));
    let (dup, ev) = session("s-dup", "tok-a", None, 1_000, 10_000);
    assert!(matches!(
        store.insert(dup, ev).await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(store.events().load("s-dup").await?.is_empty());

    let (b, ev) = session("s2", "tok-b", Some("c1"), 2_000, 10_000);
    store.insert(b.clone(), ev).await?;
    let (short, ev) = session("s3", "tok-c", Some("c1"), 1_000, 500);
    store.insert(short.clone(), ev).await?;
    let (guest, ev) = session("g1", "tok-g", None, 1_000, 10_000);
    store.insert(guest.clone(), ev).await?;
    let (other, ev) = session("s4", "tok-d", Some("c2"), 1_000, 10_000);
    store.insert(other.clone(), ev).await?;

    // Active sessions of a customer: not expired (s3 expired at 1_500), oldest first.
    let active = store.active_for_customer("c1", 3_000).await?;
    assert_eq!(
        active
            .iter()
            .map(|s| s.session_id.as_str())
            .collect::<Vec<_>>(),
        ["s1", "s2"]
    );
    assert!(store.active_for_customer("nobody", 3_000).await?.is_empty());

    // Revoke: once only; unknown ids skipped.
    let done = store
        .revoke(vec![revocation(&a, RevokeReason::SignedOut, 3_000)], 3_000)
        .await?;
    assert_eq!(done, ["s1"]);
    let again = store
        .revoke(vec![revocation(&a, RevokeReason::SignedOut, 3_100)], 3_100)
        .await?;
    assert!(again.is_empty());
    let stored = store
        .find_by_token_hash(&token_hash("tok-a"))
        .await?
        .unwrap();
    assert_eq!(stored.revoked_at_ms, Some(3_000));
    let ghost = Revocation {
        session_id: "ghost".into(),
        event: revocation(&a, RevokeReason::RevokedAll, 1).event,
    };
    assert!(store.revoke(vec![ghost], 3_200).await?.is_empty());
    assert_eq!(
        store
            .events()
            .load("s1")
            .await?
            .iter()
            .map(|r| r.event.event_type.as_str())
            .collect::<Vec<_>>(),
        ["session.created.v1", "session.revoked.v1"]
    );
    assert!(store.events().load("ghost").await?.is_empty());
    assert_eq!(store.active_for_customer("c1", 3_000).await?.len(), 1);

    // Replace: revokes the old and inserts the new atomically; refused if the old is already revoked.
    let (renewed, ev) = session("s5", "tok-e", Some("c1"), 4_000, 10_000);
    assert!(
        store
            .replace(
                revocation(&b, RevokeReason::Renewed, 4_000),
                4_000,
                renewed.clone(),
                ev
            )
            .await?
    );
    assert_eq!(
        store
            .find_by_token_hash(&token_hash("tok-b"))
            .await?
            .unwrap()
            .revoked_at_ms,
        Some(4_000)
    );
    assert_eq!(
        store.find_by_token_hash(&token_hash("tok-e")).await?,
        Some(renewed.clone())
    );
    let (second, ev) = session("s6", "tok-f", Some("c1"), 4_000, 10_000);
    assert!(
        !store
            .replace(
                revocation(&b, RevokeReason::Renewed, 4_100),
                4_100,
                second,
                ev
            )
            .await?
    );
    assert_eq!(store.find_by_token_hash(&token_hash("tok-f")).await?, None);
    assert!(store.events().load("s6").await?.is_empty());
    // A replacement colliding with an existing session fails and leaves the old one untouched.
    let (clash, ev) = session("s4", "tok-h", Some("c1"), 4_000, 10_000);
    assert!(
        store
            .replace(
                revocation(&renewed, RevokeReason::Renewed, 4_200),
                4_200,
                clash,
                ev
            )
            .await
            .is_err()
    );
    assert_eq!(
        store
            .find_by_token_hash(&token_hash("tok-e"))
            .await?
            .unwrap()
            .revoked_at_ms,
        None
    );

    // Batch revoke of everything active for c1.
    let active = store.active_for_customer("c1", 5_000).await?;
    let batch: Vec<_> = active
        .iter()
        .map(|s| revocation(s, RevokeReason::RevokedAll, 5_000))
        .collect();
    assert_eq!(store.revoke(batch, 5_000).await?, ["s5"]);
    assert!(store.active_for_customer("c1", 5_000).await?.is_empty());
    assert_eq!(store.active_for_customer("c2", 5_000).await?.len(), 1);

    // Outbox: every event on the session's own stream, in global order (stream order without one), decodable.
    let all = store.events().unpublished(100).await?;
    if global_order {
        assert!(all.windows(2).all(|w| w[0].position < w[1].position));
    } else {
        for w in all.windows(2) {
            if w[0].stream_id == w[1].stream_id {
                assert!(w[0].seq < w[1].seq, "stream order");
            }
        }
    }
    assert!(all.iter().all(|r| r.event.topic == "shop.session.v1"));
    let created = all
        .iter()
        .filter(|r| r.event.event_type == "session.created.v1")
        .count();
    let revoked = all
        .iter()
        .filter(|r| r.event.event_type == "session.revoked.v1")
        .count();
    assert_eq!((created, revoked), (6, 3));
    for r in &all {
        match events::decode(r.event.payload.clone())? {
            SessionEvent::Created { session_id, .. } | SessionEvent::Revoked { session_id, .. } => {
                assert_eq!(session_id, r.stream_id)
            }
        }
    }

    // Sliding expiry: the expiry only moves forward, never for a revoked session, and records no event.
    let (g, ev) = session("s-slide", "tok-slide", None, 1_000, 10_000);
    store.insert(g.clone(), ev).await?;
    assert!(store.extend(&g, 20_000).await?);
    assert!(!store.extend(&g, 15_000).await?, "never moves back");
    let found = store.find_by_token_hash(&token_hash("tok-slide")).await?;
    assert_eq!(found.map(|s| s.expires_at_ms), Some(20_000));
    store
        .revoke(vec![revocation(&g, RevokeReason::SignedOut, 2_000)], 2_000)
        .await?;
    assert!(
        !store.extend(&g, 30_000).await?,
        "a revoked session stays revoked"
    );
    let after = store.events().unpublished(100).await?;
    assert_eq!(
        after.len(),
        all.len() + 2,
        "created + revoked, no extension event"
    );
    Ok(())
}

#[tokio::test]
async fn memory_adapter() -> anyhow::Result<()> {
    conformance(MemorySessionStore::new(), true).await
}

#[tokio::test]
async fn sqlite_adapter_in_memory() -> anyhow::Result<()> {
    conformance(SqliteSessionStore::open_in_memory()?, true).await
}

#[tokio::test]
async fn sqlite_adapter_on_disk_survives_reopen() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("session.db");
    conformance(SqliteSessionStore::open(&path)?, true).await?;
    let reopened = SqliteSessionStore::open(&path)?;
    let s = reopened
        .find_by_token_hash(&token_hash("tok-d"))
        .await?
        .expect("s4");
    assert_eq!(
        (s.session_id.as_str(), s.customer_id.as_deref(), s.kind),
        ("s4", Some("c2"), SessionKind::Customer)
    );
    Ok(())
}

mod cassandra {
    use std::time::Duration;

    use scylla::statement::Statement;
    use shop_session::{domain::token_hash, store::CassandraSessionStore, store::SessionStore};
    use shop_store::{EventStore, cassandra::CassandraSettings};

    /// An event as the adapter stores it in a replacement intent.
    type EventTuple = (String, String, String, i64, Option<String>, Vec<u8>);

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
        F: FnOnce(String, CassandraSessionStore) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        // `session_` + 32 hex chars: a valid unquoted CQL identifier.
        let keyspace = format!("session_{}", shop_kernel::ids::new_id());
        let store = CassandraSessionStore::connect(settings(nodes, &keyspace)).await?;
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
            super::conformance(store, false).await?;
            // A second connection to the same keyspace sees the same sessions (migrations recorded once).
            let again = CassandraSessionStore::connect(settings(&nodes2, &keyspace)).await?;
            let s = again
                .find_by_token_hash(&token_hash("tok-e"))
                .await?
                .expect("s5");
            assert_eq!(s.session_id, "s5");
            assert!(s.revoked_at_ms.is_some());
            Ok(())
        })
        .await
    }

    /// Concurrent inserts of one token hash: exactly one wins, the losers leave nothing visible.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cassandra_token_hash_is_unique_under_races() -> anyhow::Result<()> {
        let Some(nodes) = shop_kernel::test_engine("THRIFTSHOP_TEST_CASSANDRA") else {
            return Ok(());
        };
        with_keyspace(&nodes, |_, store| async move {
            let tries = (0..6).map(|i| {
                let store = store.clone();
                async move {
                    let (s, ev) =
                        super::session(&format!("r{i}"), "tok-race", Some("c9"), 1_000, 10_000);
                    store.insert(s, ev).await
                }
            });
            let results = futures::future::join_all(tries).await;
            assert_eq!(
                results.iter().filter(|r| r.is_ok()).count(),
                1,
                "{results:?}"
            );
            let winner = store
                .find_by_token_hash(&token_hash("tok-race"))
                .await?
                .expect("the winner");
            assert_eq!(
                store.active_for_customer("c9", 2_000).await?,
                vec![winner.clone()]
            );
            let pending = store.events().unpublished(100).await?;
            assert_eq!(pending.len(), 1);
            assert_eq!(pending[0].stream_id, winner.session_id);
            // Concurrent revocations of one session: recorded once.
            let revs = (0..4).map(|_| {
                let store = store.clone();
                let r = super::revocation(
                    &winner,
                    shop_session::domain::RevokeReason::SignedOut,
                    3_000,
                );
                async move { store.revoke(vec![r], 3_000).await }
            });
            let done: Vec<Vec<String>> = futures::future::try_join_all(revs).await?;
            assert_eq!(done.iter().map(Vec::len).sum::<usize>(), 1);
            assert_eq!(store.events().load(&winner.session_id).await?.len(), 2);
            Ok(())
        })
        .await
    }

    /// A replacement cut short after its commit point (the old session's revocation) is completed from its
    /// intent; one whose revocation never happened is rolled back (its claims released).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cassandra_crashed_replacements_are_settled() -> anyhow::Result<()> {
        let Some(nodes) = shop_kernel::test_engine("THRIFTSHOP_TEST_CASSANDRA") else {
            return Ok(());
        };
        with_keyspace(&nodes, |keyspace, store| async move {
            let (old, ev) = super::session("o1", "tok-old", Some("c7"), 1_000, 10_000);
            store.insert(old.clone(), ev).await?;
            let (other, ev) = super::session("o2", "tok-other", Some("c7"), 1_000, 10_000);
            store.insert(other.clone(), ev).await?;
            let events = store.events();
            let db = events.session();
            // What `replace` writes before its commit point, for n1 (replacing o1) and n2 (replacing o2).
            let mut revocations = Vec::new();
            for (new_id, token, old) in [("n1", "tok-n1", &old), ("n2", "tok-n2", &other)] {
                let (new, new_events) = super::session(new_id, token, Some("c7"), 2_000, 10_000);
                let r = super::revocation(old, shop_session::domain::RevokeReason::Renewed, 2_000);
                let nonce = format!("nonce-{new_id}");
                db.query_unpaged(
                    format!("INSERT INTO {keyspace}.session_ids (session_id, nonce) VALUES (?, ?)"),
                    (new_id, &nonce),
                )
                .await?;
                db.query_unpaged(
                    format!(
                        "INSERT INTO {keyspace}.session_tokens (token_hash, session_id, nonce, kind,
                         customer_id, created_at_ms, expires_at_ms) VALUES (?, ?, ?, 'CUSTOMER', 'c7', ?, ?)"
                    ),
                    (&new.token_hash, new_id, &nonce, new.created_at_ms, new.expires_at_ms),
                )
                .await?;
                db.query_unpaged(
                    format!(
                        "INSERT INTO {keyspace}.sessions_by_customer (customer_id, session_id, token_hash,
                         kind, created_at_ms, expires_at_ms) VALUES ('c7', ?, ?, 'CUSTOMER', ?, ?)"
                    ),
                    (new_id, &new.token_hash, new.created_at_ms, new.expires_at_ms),
                )
                .await?;
                let tuples: Vec<EventTuple> = new_events
                    .iter()
                    .map(|e| {
                        (
                            e.event_id.clone(),
                            e.event_type.clone(),
                            e.topic.clone(),
                            e.occurred_at_ms,
                            e.traceparent.clone(),
                            e.payload.to_vec(),
                        )
                    })
                    .collect();
                db.query_unpaged(
                    format!(
                        "INSERT INTO {keyspace}.session_replacements (shard, session_id, token_hash,
                         customer_id, nonce, old_session_id, revoke_event_id, written_at_ms, events)
                         VALUES (?, ?, ?, 'c7', ?, ?, ?, ?, ?)"
                    ),
                    (
                        shop_store::cassandra::shard_of(new_id),
                        new_id,
                        &new.token_hash,
                        &nonce,
                        &old.session_id,
                        &r.event.event_id,
                        shop_kernel::now_ms(),
                        &tuples,
                    ),
                )
                .await?;
                revocations.push(r);
            }
            // The process dies right after n1's commit point; n2's revocation never happened.
            store
                .events()
                .append(
                    "o1",
                    shop_store::ExpectedVersion::Exact(1),
                    vec![revocations[0].event.clone()],
                    vec![],
                )
                .await?;
            assert_eq!(store.find_by_token_hash(&token_hash("tok-n1")).await?, None);
            // Young intents are left alone; old ones are settled.
            assert_eq!(store.complete_replacements().await?, 0);
            assert_eq!(
                store
                    .complete_replacements_older_than(Duration::ZERO)
                    .await?,
                1
            );
            let n1 = store
                .find_by_token_hash(&token_hash("tok-n1"))
                .await?
                .expect("n1 completed");
            assert_eq!(n1.revoked_at_ms, None);
            assert_eq!(store.events().load("n1").await?.len(), 1);
            assert_eq!(store.find_by_token_hash(&token_hash("tok-n2")).await?, None);
            assert!(store.events().load("n2").await?.is_empty());
            // n2's claims were released: its token hash can be used again; o2 is untouched.
            let (again, ev) = super::session("n3", "tok-n2", Some("c7"), 3_000, 10_000);
            store.insert(again, ev).await?;
            let active: Vec<String> = store
                .active_for_customer("c7", 4_000)
                .await?
                .into_iter()
                .map(|s| s.session_id)
                .collect();
            assert_eq!(active, ["o2", "n1", "n3"]);
            assert_eq!(
                store
                    .complete_replacements_older_than(Duration::ZERO)
                    .await?,
                0,
                "intents deleted"
            );
            Ok(())
        })
        .await
    }
}
