//! Password change and reset end to end over GraphQL against the all-in-one shop: the reset link travels as an
//! `email.password_reset_requested.v1` event on `shop.email.v1`, read here from the shop's embedded event log.
mod common;

use std::time::{Duration, Instant};

use common::*;
use shop_bus::{EventBus, Subscription, embedded::EmbeddedBus};
use shop_user::events::{PasswordResetMail, decode_mail};

/// Argon2 sign-ups and sign-ins are heavy: the tests of this file run one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const SIGN_IN: &str = "mutation($i: CustomerAccessTokenCreateInput!) { customerAccessTokenCreate(input: $i) { customerAccessToken { accessToken } customerUserErrors { code } } }";
const RECOVER: &str = "mutation($e: String!) { customerRecover(email: $e) { customerUserErrors { field code } userErrors { field code } } }";
const RESET_BY_URL: &str = "mutation($u: String!, $p: String!) { customerResetByUrl(resetUrl: $u, password: $p) { customer { id email } customerAccessToken { accessToken } customerUserErrors { field code } } }";
const RESET: &str = "mutation($id: ID!, $i: CustomerResetInput!) { customerReset(id: $id, input: $i) { customer { id } customerAccessToken { accessToken } userErrors { field code } } }";
const UPDATE: &str = "mutation($c: CustomerUpdateInput!) { customerUpdate(customer: $c) { customer { firstName } customerAccessToken { accessToken } userErrors { field code } } }";

async fn sign_up(shop: &Shop, email: &str, password: &str) -> Client {
    let mut c = Client::new(shop);
    let r = c
        .data(
            "mutation($i: CustomerCreateInput!) { customerCreate(input: $i) { customer { id } userErrors { code } } }",
            json!({ "i": { "email": email, "password": password } }),
        )
        .await;
    assert_eq!(r["customerCreate"]["userErrors"], json!([]), "{r}");
    c.token = sign_in(shop, email, password).await;
    assert!(c.token.is_some(), "signed in");
    c
}

/// A fresh access token for `email` / `password`, or `None` when the shop refuses them.
async fn sign_in(shop: &Shop, email: &str, password: &str) -> Option<String> {
    let r = Client::new(shop)
        .data(
            SIGN_IN,
            json!({ "i": { "email": email, "password": password } }),
        )
        .await;
    r["customerAccessTokenCreate"]["customerAccessToken"]["accessToken"]
        .as_str()
        .map(str::to_string)
}

/// The top-level `extensions.code` of a response (empty when there is none).
fn top_level_code(body: &Value) -> String {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Is `token` refused on the next request (no waiting)?
async fn rejected_now(shop: &Shop, token: &str) -> bool {
    let body: Value = reqwest::Client::new()
        .post(format!("http://{}/graphql", shop.gateway_addr))
        .bearer_auth(token)
        .json(&json!({ "query": "{ customer { id } }" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    top_level_code(&body) == "UNAUTHENTICATED"
}

/// Does `token` still identify its customer? (Waits up to the gateway's token-cache bound for a revocation.)
async fn token_rejected(shop: &Shop, token: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let body: Value = reqwest::Client::new()
            .post(format!("http://{}/graphql", shop.gateway_addr))
            .bearer_auth(token)
            .json(&json!({ "query": "{ customer { id } }" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if top_level_code(&body) == "UNAUTHENTICATED" {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn customer_id(c: &mut Client) -> String {
    c.data("{ customer { id } }", json!({})).await["customer"]["id"]
        .as_str()
        .expect("signed in")
        .to_string()
}

/// The reset mails on the shop's log, read by a consumer group of the test's own.
struct Mailbox {
    sub: shop_bus::embedded::EmbeddedSubscription,
}

impl Mailbox {
    async fn open(dir: &std::path::Path) -> Self {
        let bus = EmbeddedBus::open(&dir.join("eventlog.db")).expect("event log");
        let sub = bus
            .subscribe("test.mailbox", &["shop.email.v1".to_string()])
            .await
            .expect("subscribe");
        Self { sub }
    }

    /// Every reset mail published within `wait`.
    async fn drain(&mut self, wait: Duration) -> Vec<PasswordResetMail> {
        let deadline = Instant::now() + wait;
        let mut out = Vec::new();
        while Instant::now() < deadline {
            let batch = self
                .sub
                .poll(100, Duration::from_millis(100))
                .await
                .expect("poll");
            for d in &batch {
                assert_eq!(d.message.event_type, "email.password_reset_requested.v1");
                out.push(decode_mail(d.message.payload.clone()).expect("a reset mail"));
                self.sub.commit(d).await.expect("commit");
            }
        }
        out
    }

    /// The next reset mail (the relay publishes it shortly after the request committed).
    async fn next(&mut self) -> PasswordResetMail {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let batch = self
                .sub
                .poll(1, Duration::from_millis(200))
                .await
                .expect("poll");
            if let Some(d) = batch.first() {
                self.sub.commit(d).await.expect("commit");
                return decode_mail(d.message.payload.clone()).expect("a reset mail");
            }
            assert!(Instant::now() < deadline, "no reset mail arrived");
        }
    }
}

/// register → customerRecover → the mail on the bus → customerResetByUrl: older links and reused links fail
/// with one code, the new password signs in and the old one does not, every earlier session is revoked, an
/// unknown email gets the same answer (and no mail), `customerReset(id:)` works with the id and token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forgotten_password_is_reset_through_the_mailed_link() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.user.password_reset_url = "https://shop.example/account/reset".into();
    let shop = Shop::start(cfg).await.expect("shop starts");
    let mut mailbox = Mailbox::open(dir.path()).await;
    let mut ann = sign_up(&shop, "ann@example.com", "old password 1").await;
    let ann_id = customer_id(&mut ann).await;
    let raw_id = ann_id.rsplit('/').next().unwrap().to_string();
    let second_session = sign_in(&shop, "ann@example.com", "old password 1")
        .await
        .unwrap();
    let mut guest = Client::new(&shop);

    // Known and unknown emails: the same answer; a mail only for the account.
    let known = guest
        .data(RECOVER, json!({ "e": " Ann@Example.com " }))
        .await;
    let unknown = guest
        .data(RECOVER, json!({ "e": "nobody@example.com" }))
        .await;
    assert_eq!(known, unknown);
    assert_eq!(
        known["customerRecover"],
        json!({ "customerUserErrors": [], "userErrors": [] })
    );
    let first = mailbox.next().await;
    assert_eq!(first.to, "ann@example.com");
    assert_eq!(first.customer_id, raw_id);
    assert_eq!(first.reset_token.len(), 43, "256 random bits, base64url");
    assert_eq!(
        first.reset_url,
        format!(
            "https://shop.example/account/reset/{raw_id}/{}",
            first.reset_token
        )
    );
    let ttl = first.expires_at_ms - shop_kernel::now_ms();
    assert!(
        (3_500_000..=3_600_000).contains(&ttl),
        "expires in 1 h: {ttl}"
    );
    // A malformed email is a typed error, not an answer about accounts.
    let bad = guest.data(RECOVER, json!({ "e": "not an email" })).await;
    assert_eq!(
        bad["customerRecover"]["userErrors"],
        json!([{ "field": ["email"], "code": "INVALID_EMAIL" }])
    );

    // A second request replaces the first link.
    guest.data(RECOVER, json!({ "e": "ann@example.com" })).await;
    let second = mailbox.next().await;
    assert_ne!(second.reset_token, first.reset_token);
    assert!(
        mailbox.drain(Duration::from_millis(500)).await.is_empty(),
        "no mail for the unknown email"
    );
    let invalid = json!([{ "field": ["resetUrl"], "code": "TOKEN_INVALID" }]);
    let r = guest
        .data(
            RESET_BY_URL,
            json!({ "u": first.reset_url, "p": "new password 2" }),
        )
        .await;
    assert_eq!(
        r["customerResetByUrl"]["customerUserErrors"], invalid,
        "{r}"
    );
    assert!(r["customerResetByUrl"]["customerAccessToken"].is_null());
    // A tampered link, and garbage.
    for url in [
        format!("{}x", second.reset_url),
        second.reset_url.replace(&raw_id, "0000"),
        "no link at all".to_string(),
    ] {
        let r = guest
            .data(RESET_BY_URL, json!({ "u": url, "p": "new password 2" }))
            .await;
        assert_eq!(
            r["customerResetByUrl"]["customerUserErrors"], invalid,
            "{url}: {r}"
        );
    }
    // A password against the policy does not spend the link.
    let r = guest
        .data(RESET_BY_URL, json!({ "u": second.reset_url, "p": "short" }))
        .await;
    assert_eq!(
        r["customerResetByUrl"]["customerUserErrors"],
        json!([{ "field": ["password"], "code": "TOO_SHORT" }])
    );
    let r = guest
        .data(
            RESET_BY_URL,
            json!({ "u": second.reset_url, "p": "new password 2" }),
        )
        .await;
    let reset = &r["customerResetByUrl"];
    assert_eq!(reset["customerUserErrors"], json!([]), "{r}");
    assert_eq!(reset["customer"]["email"], "ann@example.com");
    let fresh = reset["customerAccessToken"]["accessToken"]
        .as_str()
        .expect("a fresh token")
        .to_string();

    // Single use; the old password is gone, the new one works; earlier sessions are over.
    let r = guest
        .data(
            RESET_BY_URL,
            json!({ "u": second.reset_url, "p": "another password 3" }),
        )
        .await;
    assert_eq!(r["customerResetByUrl"]["customerUserErrors"], invalid);
    assert_eq!(
        sign_in(&shop, "ann@example.com", "old password 1").await,
        None
    );
    assert!(
        sign_in(&shop, "ann@example.com", "new password 2")
            .await
            .is_some()
    );
    assert!(
        sign_in(&shop, "ann@example.com", "another password 3")
            .await
            .is_none()
    );
    for token in [ann.token.clone().unwrap(), second_session] {
        assert!(
            token_rejected(&shop, &token).await,
            "an earlier session survived"
        );
    }
    let mut fresh_client = Client::new(&shop);
    fresh_client.token = Some(fresh);
    assert_eq!(customer_id(&mut fresh_client).await, ann_id);

    // customerReset(id:, input:) with the mailed token; a wrong id or token gets the one code.
    guest.data(RECOVER, json!({ "e": "ann@example.com" })).await;
    let third = mailbox.next().await;
    let bob = sign_up(&shop, "bob@example.com", "bob password 1").await;
    let mut bob = bob;
    let bob_id = customer_id(&mut bob).await;
    let wrong = json!([{ "field": ["input", "resetToken"], "code": "TOKEN_INVALID" }]);
    for (id, token) in [
        (bob_id.as_str(), third.reset_token.as_str()),
        (
            ann_id.as_str(),
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ),
        (ann_id.as_str(), "not a token!"),
    ] {
        let r = guest
            .data(
                RESET,
                json!({ "id": id, "i": { "resetToken": token, "password": "hijacked pw 9" } }),
            )
            .await;
        assert_eq!(r["customerReset"]["userErrors"], wrong, "{r}");
    }
    let r = guest
        .data(
            RESET,
            json!({ "id": "gid://thriftshop/Cart/x", "i": { "resetToken": third.reset_token, "password": "hijacked pw 9" } }),
        )
        .await;
    assert_eq!(
        r["customerReset"]["userErrors"],
        json!([{ "field": ["id"], "code": "TOKEN_INVALID" }])
    );
    assert!(
        sign_in(&shop, "bob@example.com", "bob password 1")
            .await
            .is_some()
    );
    let r = guest
        .data(
            RESET,
            json!({ "id": ann_id, "i": { "resetToken": third.reset_token, "password": "third password 3" } }),
        )
        .await;
    assert_eq!(r["customerReset"]["userErrors"], json!([]), "{r}");
    assert_eq!(r["customerReset"]["customer"]["id"], ann_id.as_str());
    assert!(
        sign_in(&shop, "ann@example.com", "third password 3")
            .await
            .is_some()
    );
    shop.stop().await;
}

/// `customerUpdate` with `password`: needs the right `currentPassword` (a wrong one changes nothing), follows
/// the policy, then revokes the customer's other sessions and returns a fresh token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_the_password_needs_the_current_one_and_ends_other_sessions() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let shop = Shop::start(config(dir.path())).await.expect("shop starts");
    let mut ann = sign_up(&shop, "ann@example.com", "old password 1").await;
    let other = sign_in(&shop, "ann@example.com", "old password 1")
        .await
        .unwrap();

    let r = ann
        .data(UPDATE, json!({ "c": { "password": "new password 2" } }))
        .await;
    assert_eq!(
        r["customerUpdate"]["userErrors"],
        json!([{ "field": ["customer", "currentPassword"], "code": "BLANK" }])
    );
    let r = ann
        .data(
            UPDATE,
            json!({ "c": { "password": "new password 2", "currentPassword": "wrong password", "firstName": "Mallory" } }),
        )
        .await;
    assert_eq!(
        r["customerUpdate"]["userErrors"],
        json!([{ "field": ["customer", "currentPassword"], "code": "CURRENT_PASSWORD_INVALID" }])
    );
    assert!(r["customerUpdate"]["customer"].is_null());
    assert!(r["customerUpdate"]["customerAccessToken"].is_null());
    let r = ann
        .data(
            UPDATE,
            json!({ "c": { "password": "short", "currentPassword": "old password 1" } }),
        )
        .await;
    assert_eq!(
        r["customerUpdate"]["userErrors"],
        json!([{ "field": ["customer", "password"], "code": "TOO_SHORT" }])
    );
    // Nothing changed: both sessions work, the old password signs in, the name is unset.
    assert_eq!(
        ann.data("{ customer { firstName } }", json!({})).await["customer"]["firstName"],
        Value::Null
    );
    let mut other_client = Client::new(&shop);
    other_client.token = Some(other.clone());
    customer_id(&mut other_client).await;
    assert!(
        sign_in(&shop, "ann@example.com", "old password 1")
            .await
            .is_some()
    );

    customer_id(&mut other_client).await; // cached by the gateway now
    let r = ann
        .data(
            UPDATE,
            json!({ "c": { "password": "new password 2", "currentPassword": "old password 1", "firstName": "Ann" } }),
        )
        .await;
    let update = &r["customerUpdate"];
    assert_eq!(update["userErrors"], json!([]), "{r}");
    assert_eq!(update["customer"]["firstName"], "Ann");
    let fresh = update["customerAccessToken"]["accessToken"]
        .as_str()
        .expect("a fresh token")
        .to_string();
    let old = ann.token.replace(fresh).unwrap();
    // The other session was cached by this gateway a moment ago: the gateway that revoked it forgets it at once.
    assert!(
        rejected_now(&shop, &other).await,
        "cached token still accepted"
    );
    for token in [other, old] {
        assert!(token_rejected(&shop, &token).await, "a session survived");
    }
    customer_id(&mut ann).await;
    assert_eq!(
        sign_in(&shop, "ann@example.com", "old password 1").await,
        None
    );
    assert!(
        sign_in(&shop, "ann@example.com", "new password 2")
            .await
            .is_some()
    );
    shop.stop().await;
}

/// Guessing is budgeted: wrong current passwords and unusable reset tokens spend the sign-in budget (after
/// which even the right answer is refused for a while), and reset requests are budgeted per email.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guesses_and_reset_requests_are_rate_limited() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.rate_limit.login_failures_per_account_per_hour = 2;
    cfg.rate_limit.password_recover_per_account_per_hour = 2;
    let shop = Shop::start(cfg).await.expect("shop starts");
    let mut ann = sign_up(&shop, "ann@example.com", "old password 1").await;
    let ann_id = customer_id(&mut ann).await;

    let wrong =
        json!({ "c": { "password": "new password 2", "currentPassword": "wrong password" } });
    for _ in 0..3 {
        let r = ann.data(UPDATE, wrong.clone()).await;
        assert_eq!(
            r["customerUpdate"]["userErrors"][0]["code"],
            "CURRENT_PASSWORD_INVALID"
        );
    }
    let right =
        json!({ "c": { "password": "new password 2", "currentPassword": "old password 1" } });
    let r = ann.gql(UPDATE, right).await;
    assert_eq!(top_level_code(&r), "RESOURCE_EXHAUSTED", "{r}");
    assert!(r["errors"][0]["extensions"]["retryAfterSeconds"].as_u64() > Some(0));

    let mut guest = Client::new(&shop);
    let reset = |token: &str| json!({ "id": ann_id, "i": { "resetToken": token, "password": "hijacked pw 9" } });
    for _ in 0..3 {
        let r = guest
            .data(RESET, reset("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"))
            .await;
        assert_eq!(r["customerReset"]["userErrors"][0]["code"], "TOKEN_INVALID");
    }
    let r = guest
        .gql(RESET, reset("BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"))
        .await;
    assert_eq!(top_level_code(&r), "RESOURCE_EXHAUSTED", "{r}");

    for _ in 0..2 {
        let r = guest.data(RECOVER, json!({ "e": "ann@example.com" })).await;
        assert_eq!(r["customerRecover"]["userErrors"], json!([]));
    }
    let r = guest.gql(RECOVER, json!({ "e": "ANN@example.com" })).await;
    assert_eq!(top_level_code(&r), "RESOURCE_EXHAUSTED", "{r}");
    // Another email is not affected (and an unknown one is budgeted the same way).
    let r = guest
        .data(RECOVER, json!({ "e": "nobody@example.com" }))
        .await;
    assert_eq!(r["customerRecover"]["userErrors"], json!([]));
    shop.stop().await;
}

/// The same flow on Kafka + Cassandra: the token row is written by lightweight transactions, the changed hash
/// rides in the customer's state row, and the reset mail is read from the Kafka topic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_and_change_on_kafka_and_cassandra() {
    let _serial = SERIAL.lock().await;
    let (Some(brokers), Some(nodes)) = (
        shop_kernel::test_engine("THRIFTSHOP_TEST_KAFKA"),
        shop_kernel::test_engine("THRIFTSHOP_TEST_CASSANDRA"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = cluster_config(dir.path(), &brokers, &nodes);
    let bus = shop_bus::kafka::KafkaBus::connect(shop_bus::kafka::KafkaSettings {
        brokers,
        partitions: cfg.kafka.partitions,
        client_id: "password-reset-test".into(),
        namespace: cfg.kafka.namespace.clone(),
        ..Default::default()
    })
    .expect("kafka");
    let shop = Shop::start(cfg).await.expect("shop starts");
    let mut ann = sign_up(&shop, "ann@example.com", "old password 1").await;
    let mut guest = Client::new(&shop);
    let r = guest.data(RECOVER, json!({ "e": "ann@example.com" })).await;
    assert_eq!(r["customerRecover"]["userErrors"], json!([]));
    let mut sub = bus
        .subscribe("test.mailbox", &["shop.email.v1".to_string()])
        .await
        .expect("subscribe");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mail = loop {
        let batch = sub.poll(1, Duration::from_millis(500)).await.expect("poll");
        if let Some(d) = batch.first() {
            break decode_mail(d.message.payload.clone()).expect("a reset mail");
        }
        assert!(Instant::now() < deadline, "no reset mail on Kafka");
    };
    let _ = sub.close().await;
    assert_eq!(mail.to, "ann@example.com");

    let r = guest
        .data(
            RESET_BY_URL,
            json!({ "u": mail.reset_url, "p": "new password 2" }),
        )
        .await;
    assert_eq!(
        r["customerResetByUrl"]["customerUserErrors"],
        json!([]),
        "{r}"
    );
    let r = guest
        .data(
            RESET_BY_URL,
            json!({ "u": mail.reset_url, "p": "new password 3" }),
        )
        .await;
    assert_eq!(
        r["customerResetByUrl"]["customerUserErrors"][0]["code"],
        "TOKEN_INVALID"
    );
    assert!(token_rejected(&shop, ann.token.as_deref().unwrap()).await);
    assert_eq!(
        sign_in(&shop, "ann@example.com", "old password 1").await,
        None
    );
    ann.token = sign_in(&shop, "ann@example.com", "new password 2").await;
    assert!(ann.token.is_some());

    // A later profile change keeps the new password; a password change replaces it.
    let r = ann
        .data(UPDATE, json!({ "c": { "firstName": "Ann" } }))
        .await;
    assert_eq!(r["customerUpdate"]["userErrors"], json!([]));
    assert!(
        sign_in(&shop, "ann@example.com", "new password 2")
            .await
            .is_some()
    );
    let r = ann
        .data(
            UPDATE,
            json!({ "c": { "password": "newest password 4", "currentPassword": "new password 2" } }),
        )
        .await;
    assert_eq!(r["customerUpdate"]["userErrors"], json!([]), "{r}");
    assert!(r["customerUpdate"]["customerAccessToken"]["accessToken"].is_string());
    assert_eq!(
        sign_in(&shop, "ann@example.com", "new password 2").await,
        None
    );
    assert!(
        sign_in(&shop, "ann@example.com", "newest password 4")
            .await
            .is_some()
    );
    shop.stop().await;
}
