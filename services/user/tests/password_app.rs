//! Password change and reset use cases over the in-memory store: who may call them, expiry, replacement and
//! single use, and that a failure changes nothing.
use std::time::Duration;

use shop_kernel::{Actor, ErrorKind};
use shop_store::{EventLog, EventStore};
use shop_user::{
    app::{Passwords, ResetSettings, UserApp},
    domain::Registration,
    events::{self, PasswordResetMail},
    store::{CustomerStore, MemoryCustomerStore},
};

fn app(ttl: Duration) -> UserApp<MemoryCustomerStore> {
    UserApp::new(MemoryCustomerStore::new(), Passwords::new(2)).with_reset(ResetSettings {
        ttl,
        url: "https://shop.example/reset".into(),
        min_answer: Duration::from_millis(20),
    })
}

async fn register(app: &UserApp<MemoryCustomerStore>, email: &str) -> String {
    let reg = Registration {
        email: email.into(),
        password: "old password 1".into(),
        ..Default::default()
    };
    app.register(reg).await.expect("registered").id
}

/// The reset mails appended for `customer_id`, oldest first.
async fn mails(app: &UserApp<MemoryCustomerStore>, customer_id: &str) -> Vec<PasswordResetMail> {
    let recorded = app
        .store()
        .events()
        .load(&events::reset_stream(customer_id))
        .await
        .unwrap();
    recorded
        .into_iter()
        .map(|r| events::decode_mail(r.event.payload).unwrap())
        .collect()
}

#[tokio::test]
async fn only_internal_callers_reset_and_only_customers_change() {
    let app = app(Duration::from_secs(3600));
    let id = register(&app, "ann@example.com").await;
    let customer = Actor::customer(id.clone());
    for actor in [Actor::guest(), customer.clone()] {
        let e = app
            .request_password_reset(&actor, "ann@example.com")
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::PermissionDenied);
        let e = app
            .reset_password(&actor, &id, "token", "new password 2")
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::PermissionDenied);
    }
    assert!(mails(&app, &id).await.is_empty());
    let e = app
        .change_password(&Actor::guest(), "old password 1", "new password 2")
        .await
        .unwrap_err();
    assert_eq!(e.code, "UNIDENTIFIED_CUSTOMER");
    let e = app
        .change_password(&customer, "old password 1", "short")
        .await
        .unwrap_err();
    assert_eq!(
        (e.code.as_ref(), e.field.as_slice()),
        ("PASSWORD_TOO_SHORT", &["new_password".to_string()][..])
    );
    let e = app
        .change_password(&customer, &"x".repeat(500), "new password 2")
        .await
        .unwrap_err();
    assert_eq!(e.code, "CURRENT_PASSWORD_INVALID");
    assert_eq!(
        app.store().get(&id).await.unwrap().unwrap().version,
        1,
        "nothing changed"
    );
    let changed = app
        .change_password(&customer, "old password 1", "new password 2")
        .await
        .unwrap();
    assert_eq!(changed.version, 2);
    assert!(
        app.authenticate("ann@example.com", "old password 1")
            .await
            .is_err()
    );
    assert!(
        app.authenticate("ann@example.com", "new password 2")
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn unknown_emails_get_the_same_answer_and_no_mail() {
    let app = app(Duration::from_secs(3600));
    let system = Actor::internal();
    let id = register(&app, "ann@example.com").await;
    let before = app.store().events().read_all(0, 1000).await.unwrap().len();
    app.request_password_reset(&system, "nobody@example.com")
        .await
        .unwrap();
    assert_eq!(
        app.store().events().read_all(0, 1000).await.unwrap().len(),
        before
    );
    app.request_password_reset(&system, " ANN@example.com")
        .await
        .unwrap();
    let sent = mails(&app, &id).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, "ann@example.com");
    let stored = app.store().reset_token(&id).await.unwrap().unwrap();
    assert_ne!(
        stored.token_hash, sent[0].reset_token,
        "only a hash is stored"
    );
    let e = app
        .request_password_reset(&system, "not an email")
        .await
        .unwrap_err();
    assert_eq!(e.code, "INVALID_EMAIL");
}

#[tokio::test]
async fn expired_replaced_and_used_tokens_are_all_token_invalid() {
    let system = Actor::internal();
    // Expiry.
    let short = app(Duration::from_millis(30));
    let id = register(&short, "ann@example.com").await;
    short
        .request_password_reset(&system, "ann@example.com")
        .await
        .unwrap();
    let mail = mails(&short, &id).await.remove(0);
    tokio::time::sleep(Duration::from_millis(60)).await;
    let e = short
        .reset_password(&system, &id, &mail.reset_token, "new password 2")
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind, e.code.as_ref()),
        (ErrorKind::Unauthenticated, "TOKEN_INVALID")
    );

    // Replacement, policy before spending, single use.
    let app = app(Duration::from_secs(3600));
    let id = register(&app, "bob@example.com").await;
    for _ in 0..2 {
        app.request_password_reset(&system, "bob@example.com")
            .await
            .unwrap();
    }
    let sent = mails(&app, &id).await;
    let (old, new) = (&sent[0].reset_token, &sent[1].reset_token);
    let invalid = |r: Result<_, shop_kernel::Error>| r.is_err_and(|e| e.code == "TOKEN_INVALID");
    assert!(invalid(
        app.reset_password(&system, &id, old, "new password 2")
            .await
    ));
    assert!(invalid(
        app.reset_password(&system, "other", new, "new password 2")
            .await
    ));
    assert!(invalid(
        app.reset_password(&system, &id, "", "new password 2").await
    ));
    let e = app
        .reset_password(&system, &id, new, "short")
        .await
        .unwrap_err();
    assert_eq!(e.code, "PASSWORD_TOO_SHORT");
    let done = app
        .reset_password(&system, &id, new, "new password 2")
        .await
        .unwrap();
    assert_eq!(done.version, 2);
    assert!(invalid(
        app.reset_password(&system, &id, new, "third password 3")
            .await
    ));
    assert!(
        app.authenticate("bob@example.com", "new password 2")
            .await
            .is_ok()
    );
    let stream = app.store().events().load(&id).await.unwrap();
    assert_eq!(
        stream.last().unwrap().event.event_type,
        "user.password_changed.v1"
    );
}
