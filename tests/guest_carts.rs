//! End-to-end: guest access tokens and guest carts through GraphQL against the in-process shop; signing in
//! merges the guest's carts into the customer's (or keeps them as the customer's own carts).
mod common;

use common::*;

const GUEST_TOKEN: &str = "mutation { guestAccessTokenCreate { guestAccessToken { accessToken expiresAt } userErrors { code message } } }";

const SIGN_IN: &str = r#"mutation($i: CustomerAccessTokenCreateInput!) {
  customerAccessTokenCreate(input: $i) {
    customerAccessToken { accessToken }
    cart { id status lines(first: 10) { edges { node { quantity merchandise { ... on ProductVariant { id } } } } } }
    warnings { code message target }
    userErrors { code message }
  }
}"#;

const CARTS: &str = "{ carts(first: 20) { edges { node { id status } } } }";

const CART: &str = r#"query($id: ID!) {
  cart(id: $id) { id status mergedInto { id } lines(first: 10) { edges { node { quantity merchandise { ... on ProductVariant { id } } } } } }
}"#;

async fn guest(shop: &Shop) -> Client {
    let mut c = Client::new(shop);
    let d = c.data(GUEST_TOKEN, json!({})).await;
    let t = &d["guestAccessTokenCreate"]["guestAccessToken"];
    assert!(t["expiresAt"].is_string());
    c.token = Some(t["accessToken"].as_str().expect("guest token").to_string());
    c
}

async fn sign_up(shop: &Shop, email: &str) {
    let mut c = Client::new(shop);
    let d = c
        .data(
            "mutation($i: CustomerCreateInput!) { customerCreate(input: $i) { userErrors { code } } }",
            json!({ "i": { "email": email, "password": "correct horse battery" } }),
        )
        .await;
    assert_eq!(d["customerCreate"]["userErrors"], json!([]));
}

async fn new_cart(c: &mut Client, lines: &[(&str, i64)]) -> String {
    let lines: Vec<Value> = lines
        .iter()
        .map(|(v, q)| json!({ "merchandiseId": v, "quantity": q }))
        .collect();
    let d = c
        .data(&cart_create(), json!({ "input": { "lines": lines } }))
        .await;
    assert_eq!(d["cartCreate"]["userErrors"], json!([]), "{d}");
    d["cartCreate"]["cart"]["id"].as_str().unwrap().to_string()
}

fn cart_ids(d: &Value) -> Vec<String> {
    d["carts"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_string())
        .collect()
}

/// Quantity of `variant` in a cart object (None when it has no such line).
fn qty(cart: &Value, variant: &str) -> Option<i64> {
    cart["lines"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"]["merchandise"]["id"] == json!(variant))
        .map(|e| e["node"]["quantity"].as_i64().unwrap())
}

/// The top-level error code of a request made with `token` (empty when it succeeded).
async fn error_with(shop: &Shop, token: &str) -> String {
    let mut c = Client::new(shop);
    c.token = Some(token.to_string());
    let body = c.gql(CARTS, json!({})).await;
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The journeys of this file start whole shops: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_carts_merge_or_move_into_the_customers_at_sign_in() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    journey(config(dir.path())).await;
}

/// The same on Kafka and Cassandra (the cart streams and their guest/owner tags in Cassandra).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_carts_merge_on_kafka_and_cassandra() {
    let _serial = SERIAL.lock().await;
    let (Some(brokers), Some(nodes)) = (
        shop_kernel::test_engine("THRIFTSHOP_TEST_KAFKA"),
        shop_kernel::test_engine("THRIFTSHOP_TEST_CASSANDRA"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    journey(cluster_config(dir.path(), &brokers, &nodes)).await;
}

async fn journey(cfg: Config) {
    let shop = Shop::start(cfg).await.expect("shop starts");
    let mut anon = Client::new(&shop);
    let landing = anon.data(LANDING, json!({})).await;
    let picked = pick_variants(&landing, 10);
    let (v1, v2) = (picked[0].0.as_str(), picked[1].0.as_str());

    // A guest gets a token; carts created with it are the guest's.
    let mut g = guest(&shop).await;
    let guest_token = g.token.clone().unwrap();
    assert_eq!(error_with(&shop, &guest_token).await, "");
    let gc = new_cart(&mut g, &[(v1, 2), (v2, 1)]).await;
    assert_eq!(
        cart_ids(&g.data(CARTS, json!({})).await),
        std::slice::from_ref(&gc)
    );
    // The id is still a capability: readable without the token.
    let d = anon.data(CART, json!({ "id": gc })).await;
    assert_eq!(d["cart"]["id"], json!(gc));
    // Nobody else lists it: an anonymous caller or another guest.
    assert!(cart_ids(&anon.data(CARTS, json!({})).await).is_empty());
    let mut other = guest(&shop).await;
    let oc = new_cart(&mut other, &[(v2, 1)]).await;
    assert_eq!(cart_ids(&other.data(CARTS, json!({})).await), [oc]);

    // A customer with a cart holding one of the same variants.
    sign_up(&shop, "ada@example.com").await;
    let mut ada = Client::new(&shop);
    let login = ada
        .data(
            SIGN_IN,
            json!({ "i": { "email": "ada@example.com", "password": "correct horse battery" } }),
        )
        .await;
    ada.token = login["customerAccessTokenCreate"]["customerAccessToken"]["accessToken"]
        .as_str()
        .map(str::to_string);
    let ac = new_cart(&mut ada, &[(v1, 1)]).await;

    // The guest signs in (the guest token travels as the request's Authorization): MERGE by default.
    let merged = g
        .data(
            SIGN_IN,
            json!({ "i": { "email": "ada@example.com", "password": "correct horse battery" } }),
        )
        .await;
    let p = &merged["customerAccessTokenCreate"];
    assert_eq!(p["userErrors"], json!([]));
    assert_eq!(p["warnings"], json!([]));
    assert_eq!(
        p["cart"]["id"],
        json!(ac),
        "the customer's cart took the lines"
    );
    assert_eq!(qty(&p["cart"], v1), Some(3), "quantities summed");
    assert_eq!(qty(&p["cart"], v2), Some(1));
    // One cart for the customer; the guest cart is closed and only the customer reaches it.
    assert_eq!(
        cart_ids(&ada.data(CARTS, json!({})).await),
        std::slice::from_ref(&ac)
    );
    let closed = ada.data(CART, json!({ "id": gc })).await;
    assert_eq!(closed["cart"]["status"], "MERGED");
    assert_eq!(closed["cart"]["mergedInto"]["id"], json!(ac));
    assert_eq!(
        anon.data(CART, json!({ "id": gc })).await["cart"],
        Value::Null
    );
    assert_eq!(
        other.data(CART, json!({ "id": gc })).await["cart"],
        Value::Null
    );
    // The merged cart cannot be changed or bought.
    let add = ada
        .data(
            "mutation($id: ID!, $v: ID!) { cartLinesAdd(cartId: $id, lines: [{ merchandiseId: $v, quantity: 1 }]) { cart { id } userErrors { code } } }",
            json!({ "id": gc, "v": v1 }),
        )
        .await;
    assert_eq!(
        add["cartLinesAdd"]["userErrors"][0]["code"],
        "CART_NOT_OPEN"
    );
    let buy = ada
        .data(
            CHECKOUT,
            json!({ "cartId": gc, "payment": { "token": "4242424242424242" }, "key": "merged-1" }),
        )
        .await;
    assert!(buy["cartCheckout"]["order"].is_null(), "{buy}");
    assert!(
        !buy["cartCheckout"]["userErrors"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // The guest token is revoked.
    assert_eq!(error_with(&shop, &guest_token).await, "UNAUTHENTICATED");

    // A retried sign-in with the same (now used) guest token signs in and adds nothing twice.
    let retry = anon
        .data(
            SIGN_IN,
            json!({ "i": { "email": "ada@example.com", "password": "correct horse battery", "guestAccessToken": guest_token } }),
        )
        .await;
    let p = &retry["customerAccessTokenCreate"];
    assert!(p["customerAccessToken"]["accessToken"].is_string());
    assert_eq!(p["warnings"][0]["code"], "GUEST_ACCESS_TOKEN_INVALID");
    let after = ada.data(CART, json!({ "id": ac })).await;
    assert_eq!(
        (qty(&after["cart"], v1), qty(&after["cart"], v2)),
        (Some(3), Some(1))
    );

    // KEEP_SEPARATE: the guest's cart becomes the customer's own, and its id stops working for anyone else.
    let mut g3 = guest(&shop).await;
    let g3_token = g3.token.clone().unwrap();
    let kept = new_cart(&mut g3, &[(v2, 2)]).await;
    sign_up(&shop, "bob@example.com").await;
    let mut bob = Client::new(&shop);
    let login = bob
        .data(
            SIGN_IN,
            json!({ "i": { "email": "bob@example.com", "password": "correct horse battery", "guestAccessToken": g3_token, "cartMerge": "KEEP_SEPARATE" } }),
        )
        .await;
    let p = &login["customerAccessTokenCreate"];
    assert_eq!(
        (p["userErrors"].clone(), p["cart"].clone()),
        (json!([]), Value::Null)
    );
    bob.token = p["customerAccessToken"]["accessToken"]
        .as_str()
        .map(str::to_string);
    assert_eq!(
        cart_ids(&bob.data(CARTS, json!({})).await),
        std::slice::from_ref(&kept)
    );
    let mine = bob.data(CART, json!({ "id": kept })).await;
    assert_eq!(mine["cart"]["status"], "OPEN");
    assert_eq!(qty(&mine["cart"], v2), Some(2));
    for c in [&mut anon, &mut other, &mut ada] {
        assert_eq!(
            c.data(CART, json!({ "id": kept })).await["cart"],
            Value::Null
        );
    }
    let mut g4 = guest(&shop).await;
    assert_eq!(
        g4.data(CART, json!({ "id": kept })).await["cart"],
        Value::Null
    );
    assert_eq!(error_with(&shop, &g3_token).await, "UNAUTHENTICATED");

    // A guest token can be revoked on its own; a customer token is not a guest token.
    let g4_token = g4.token.clone().unwrap();
    const DELETE: &str = "mutation($t: String!) { guestAccessTokenDelete(guestAccessToken: $t) { deletedAccessToken userErrors { field code } } }";
    let d = anon
        .data(DELETE, json!({ "t": bob.token.clone().unwrap() }))
        .await;
    assert_eq!(
        d["guestAccessTokenDelete"]["userErrors"][0]["code"],
        "INVALID_TOKEN"
    );
    assert_eq!(
        bob.data(CARTS, json!({})).await["carts"]["edges"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let d = anon.data(DELETE, json!({ "t": g4_token })).await;
    assert_eq!(
        d["guestAccessTokenDelete"]["deletedAccessToken"],
        json!(g4_token)
    );
    assert_eq!(error_with(&shop, &g4_token).await, "UNAUTHENTICATED");
    shop.stop().await;
}
