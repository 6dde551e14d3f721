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
        &SessionConfig { ttl_ms },
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

async fn conformance<S: SessionStore>(store: S) -> anyhow::Result<()> {
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

    // Outbox: every event on the session's own stream, in global order, decodable.
    let all = store.events().unpublished(100).await?;
    assert!(all.windows(2).all(|w| w[0].position < w[1].position));
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
    Ok(())
}

#[tokio::test]
async fn memory_adapter() -> anyhow::Result<()> {
    conformance(MemorySessionStore::new()).await
}

#[tokio::test]
async fn sqlite_adapter_in_memory() -> anyhow::Result<()> {
    conformance(SqliteSessionStore::open_in_memory()?).await
}

#[tokio::test]
async fn sqlite_adapter_on_disk_survives_reopen() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("session.db");
    conformance(SqliteSessionStore::open(&path)?).await?;
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
