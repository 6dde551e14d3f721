//! Stored credentials: every password hash is argon2id v19 with the OWASP parameters of `app` (m = 19 MiB,
//! t = 2, p = 1) and a random salt of at least 16 bytes; the password itself appears nowhere in storage — not in
//! the hash, the customer record or the outbox events.
use argon2::PasswordHash;
use shop_store::EventStore;
use shop_user::{
    app::{ARGON2_M_KIB, ARGON2_P, ARGON2_T, Passwords, UserApp},
    domain::Registration,
    store::{CustomerStore, SqliteCustomerStore},
};

#[tokio::test]
async fn hashes_are_argon2id_with_the_stated_parameters_and_passwords_are_stored_nowhere() {
    const { assert!(ARGON2_M_KIB >= 19 * 1024 && ARGON2_T >= 2 && ARGON2_P == 1) };
    let store = SqliteCustomerStore::open_in_memory().unwrap();
    let app = UserApp::new(store.clone(), Passwords::new(2));
    let secret = "correct horse battery staple";
    let mut salts = Vec::new();
    for email in ["ann@example.com", "bob@example.com"] {
        app.register(Registration {
            email: email.into(),
            password: secret.into(),
            ..Default::default()
        })
        .await
        .unwrap();
        let creds = store.credentials(email).await.unwrap().expect("stored");
        let phc = PasswordHash::new(&creds.password_hash).expect("a PHC string");
        assert_eq!(phc.algorithm.as_str(), "argon2id");
        assert_eq!(phc.version, Some(0x13));
        assert_eq!(phc.params.get_decimal("m"), Some(ARGON2_M_KIB));
        assert_eq!(phc.params.get_decimal("t"), Some(ARGON2_T));
        assert_eq!(phc.params.get_decimal("p"), Some(ARGON2_P));
        let salt = phc.salt.expect("salted");
        let mut buf = [0u8; 64];
        assert!(
            salt.decode_b64(&mut buf).unwrap().len() >= 16,
            "salt of at least 128 bits"
        );
        salts.push(salt.as_str().to_string());
        assert!(!creds.password_hash.contains(secret));
        // The authenticated record carries no credential.
        let customer = app.authenticate(email, secret).await.unwrap();
        assert!(!format!("{customer:?}").contains(secret));
    }
    assert_ne!(salts[0], salts[1], "every hash has its own salt");
    // Nothing in the outbox carries the password or its hash.
    for rec in store.events().unpublished(100).await.unwrap() {
        let bytes = rec.event.payload.to_vec();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(secret) && !text.contains("argon2"), "{text}");
    }
}
