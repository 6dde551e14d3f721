//! Use cases with a short TTL (expiry through the app layer) over the memory adapter.
use std::time::Duration;

use shop_kernel::{Actor, ErrorKind};
use shop_session::{
    app::SessionApp,
    domain::{SessionConfig, SessionKind, token_hash},
    store::{MemorySessionStore, SessionStore},
};

#[tokio::test]
async fn expired_tokens_are_invalid_but_still_revocable() -> anyhow::Result<()> {
    let store = MemorySessionStore::new();
    let app = SessionApp::new(
        store.clone(),
        SessionConfig {
            ttl_ms: 30,
            ..SessionConfig::default()
        },
    );
    let system = Actor::internal();
    let issued = app.create_session(&system, "c1").await?;
    assert_eq!(issued.session.kind, SessionKind::Customer);
    app.validate(&issued.token).await?;
    // Only the hash is stored.
    let stored = store
        .find_by_token_hash(&token_hash(&issued.token))
        .await?
        .expect("stored");
    assert_ne!(stored.token_hash, issued.token);
    assert!(
        !format!("{issued:?}").contains(&issued.token),
        "Debug must not print the token"
    );

    tokio::time::sleep(Duration::from_millis(60)).await;
    let e = app.validate(&issued.token).await.unwrap_err();
    assert_eq!(
        (e.kind, e.code.as_ref()),
        (ErrorKind::Unauthenticated, "INVALID_TOKEN")
    );
    assert_eq!(
        app.renew(&issued.token).await.unwrap_err().code,
        "INVALID_TOKEN"
    );
    assert_eq!(
        app.revoke_all(&system, "c1").await?,
        0,
        "expired sessions are not counted"
    );
    let revoked = app.revoke(&issued.token).await?;
    assert!(revoked.revoked_at_ms.is_some());
    Ok(())
}

#[tokio::test]
async fn concurrent_renewals_yield_one_winner() -> anyhow::Result<()> {
    let app = std::sync::Arc::new(SessionApp::new(
        MemorySessionStore::new(),
        SessionConfig::default(),
    ));
    let issued = app.create_guest_session().await?;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (app, token) = (app.clone(), issued.token.clone());
        tasks.push(tokio::spawn(async move { app.renew(&token).await }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await? {
            Ok(_) => ok += 1,
            Err(e) => assert_eq!(e.code, "INVALID_TOKEN"),
        }
    }
    assert_eq!(ok, 1);
    Ok(())
}

#[tokio::test]
async fn guest_sessions_expire_when_idle_and_slide_when_used() -> anyhow::Result<()> {
    let store = MemorySessionStore::new();
    let app = SessionApp::new(
        store.clone(),
        SessionConfig {
            guest_ttl_ms: 300,
            guest_slide_interval_ms: 1,
            ..SessionConfig::default()
        },
    );
    let guest = app.create_guest_session().await?;
    assert_eq!(guest.session.kind, SessionKind::Guest);
    assert_eq!(guest.session.customer_id, None);
    let first_expiry = guest.session.expires_at_ms;
    // Used within its idle lifetime, again and again: it stays valid past its first expiry.
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        app.validate(&guest.token).await?;
    }
    let stored = store
        .find_by_token_hash(&token_hash(&guest.token))
        .await?
        .expect("stored");
    assert!(stored.expires_at_ms > first_expiry, "the expiry slid");
    // Left idle longer than its lifetime: invalid.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        app.validate(&guest.token).await.unwrap_err().code,
        "INVALID_TOKEN"
    );
    // A revoked guest token is invalid at once.
    let other = app.create_guest_session().await?;
    app.revoke(&other.token).await?;
    assert_eq!(
        app.validate(&other.token).await.unwrap_err().code,
        "INVALID_TOKEN"
    );
    Ok(())
}
