//! End-to-end: the assembled shop (gateway + seven Thrift services on loopback, SQLite under a temp dir) over
//! real HTTP on port 0. Journeys, declines, idempotency, bad input, restart.
use std::path::Path;

use serde_json::{Value, json};
use thriftshop::{Shop, config::Config};

fn config(dir: &Path) -> Config {
    let mut cfg = Config {
        data_dir: dir.to_path_buf(),
        ..Config::default()
    };
    cfg.gateway.listen = "127.0.0.1:0".parse().unwrap();
    for a in [
        &mut cfg.services.catalog,
        &mut cfg.services.inventory,
        &mut cfg.services.cart,
        &mut cfg.services.order,
        &mut cfg.services.user,
        &mut cfg.services.session,
        &mut cfg.services.recommender,
    ] {
        *a = "127.0.0.1:0".parse().unwrap();
    }
    cfg
}

struct Client {
    http: reqwest::Client,
    url: String,
    token: Option<String>,
    requests: usize,
}

impl Client {
    fn new(shop: &Shop) -> Self {
        Self {
            http: reqwest::Client::new(),
            url: format!("http://{}/graphql", shop.gateway_addr),
            token: None,
            requests: 0,
        }
    }

    async fn gql(&mut self, query: &str, variables: Value) -> Value {
        self.requests += 1;
        let mut req = self
            .http
            .post(&self.url)
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("http");
        assert!(resp.status().is_success(), "HTTP {}", resp.status());
        resp.json().await.expect("json body")
    }

    /// Runs `query`, asserts there are no top-level errors, returns `data`.
    async fn data(&mut self, query: &str, variables: Value) -> Value {
        let body = self.gql(query, variables).await;
        assert!(
            body.get("errors")
                .is_none_or(|e| e.as_array().is_none_or(|a| a.is_empty())),
            "errors: {body}"
        );
        body["data"].clone()
    }
}

const LANDING: &str = r#"
query Landing {
  products(first: 20) {
    edges { cursor node {
      id handle title featuredImage { url }
      priceRange { minVariantPrice { amount currencyCode } maxVariantPrice { amount currencyCode } }
      availableForSale
      variants(first: 5) { edges { node { id sku title availableForSale quantityAvailable price { amount currencyCode } } } }
    } }
    pageInfo { hasNextPage endCursor }
  }
}"#;

const CART_FIELDS: &str = r#"
  id status totalQuantity
  cost { subtotalAmount { amount currencyCode } totalAmount { amount currencyCode } }
  lines(first: 10) { edges { node { id quantity merchandise { ... on ProductVariant { id } } cost { totalAmount { amount } } } } }
"#;

fn cart_create() -> String {
    format!(
        "mutation($input: CartInput!) {{ cartCreate(input: $input) {{ cart {{ {CART_FIELDS} }} userErrors {{ field message code }} warnings {{ code message target }} }} }}"
    )
}

const CHECKOUT: &str = r#"
mutation($cartId: ID!, $payment: PaymentInput!, $key: String!) {
  cartCheckout(cartId: $cartId, payment: $payment, idempotencyKey: $key) {
    order { id name orderNumber status financialStatus totalPrice { amount currencyCode } subtotalPrice { amount }
            lineItems(first: 10) { edges { node { quantity title variant { id } } } } }
    userErrors { field message code }
  }
}"#;

const STOCK: &str = r#"query($ids: [ID!]!) { nodes(ids: $ids) { ... on ProductVariant { id quantityAvailable } } }"#;

async fn stock_of(c: &mut Client, ids: &[String]) -> Vec<i64> {
    let d = c.data(STOCK, json!({ "ids": ids })).await;
    d["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["quantityAvailable"].as_i64().unwrap())
        .collect()
}

fn cents(amount: &Value) -> i64 {
    let s = amount.as_str().expect("Decimal is a string");
    let (whole, frac) = s.split_once('.').unwrap_or((s, "0"));
    whole.parse::<i64>().unwrap() * 100 + format!("{frac:0<2}")[..2].parse::<i64>().unwrap()
}

/// Picks two distinct in-stock variants with at least `min` available, with their prices in cents.
fn pick_variants(landing: &Value, min: i64) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for p in landing["products"]["edges"].as_array().unwrap() {
        for v in p["node"]["variants"]["edges"].as_array().unwrap() {
            let v = &v["node"];
            if v["quantityAvailable"].as_i64().unwrap_or(0) >= min && out.len() < 2 {
                out.push((
                    v["id"].as_str().unwrap().to_string(),
                    cents(&v["price"]["amount"]),
                ));
                break;
            }
        }
    }
    assert_eq!(out.len(), 2, "need two in-stock variants");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purchase_journey_decline_idempotency_bad_input_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let shop = Shop::start(config(dir.path())).await.expect("shop starts");
    let mut c = Client::new(&shop);

    // Sign up and log in (not part of the purchase's request count).
    let created = c
        .data(
            "mutation($i: CustomerCreateInput!) { customerCreate(input: $i) { customer { id email } userErrors { field message code } } }",
            json!({ "i": { "email": "Ada@Example.com", "password": "correct horse battery", "firstName": "Ada", "lastName": "L" } }),
        )
        .await;
    assert_eq!(
        created["customerCreate"]["customer"]["email"],
        "ada@example.com"
    );
    let login = c
        .data(
            "mutation($i: CustomerAccessTokenCreateInput!) { customerAccessTokenCreate(input: $i) { customerAccessToken { accessToken expiresAt } userErrors { code message } } }",
            json!({ "i": { "email": "ada@example.com", "password": "correct horse battery" } }),
        )
        .await;
    let token = login["customerAccessTokenCreate"]["customerAccessToken"]["accessToken"]
        .as_str()
        .expect("token")
        .to_string();
    c.token = Some(token.clone());

    // The purchase: three requests.
    c.requests = 0;
    let landing = c.data(LANDING, json!({})).await;
    let products = landing["products"]["edges"].as_array().unwrap();
    assert_eq!(products.len(), 20);
    assert!(
        landing["products"]["pageInfo"]["hasNextPage"]
            .as_bool()
            .unwrap()
    );
    let picked = pick_variants(&landing, 3);
    let ids: Vec<String> = picked.iter().map(|(id, _)| id.clone()).collect();
    let stock_before_purchase = {
        // Read from the landing data itself (no extra request counted in the purchase).
        let mut s = Vec::new();
        for id in &ids {
            for p in products {
                for v in p["node"]["variants"]["edges"].as_array().unwrap() {
                    if v["node"]["id"] == json!(id) {
                        s.push(v["node"]["quantityAvailable"].as_i64().unwrap());
                    }
                }
            }
        }
        s
    };
    let cart = c
        .data(
            &cart_create(),
            json!({ "input": { "lines": [ { "merchandiseId": ids[0], "quantity": 2 }, { "merchandiseId": ids[1], "quantity": 1 } ] } }),
        )
        .await;
    let cart = &cart["cartCreate"];
    assert_eq!(cart["userErrors"], json!([]));
    let expected_total = picked[0].1 * 2 + picked[1].1;
    assert_eq!(
        cents(&cart["cart"]["cost"]["totalAmount"]["amount"]),
        expected_total
    );
    assert_eq!(cart["cart"]["totalQuantity"], 3);
    let cart_id = cart["cart"]["id"].as_str().unwrap().to_string();
    let paid = c
        .data(
            CHECKOUT,
            json!({ "cartId": cart_id, "payment": { "token": "4242424242424242" }, "key": "k-1" }),
        )
        .await;
    let paid = &paid["cartCheckout"];
    assert_eq!(paid["userErrors"], json!([]), "{paid}");
    assert_eq!(paid["order"]["status"], "PAID");
    assert_eq!(
        cents(&paid["order"]["totalPrice"]["amount"]),
        expected_total
    );
    assert_eq!(paid["order"]["totalPrice"]["currencyCode"], "USD");
    assert_eq!(c.requests, 3, "a purchase takes three GraphQL requests");
    let order_id = paid["order"]["id"].as_str().unwrap().to_string();

    // Stock went down by what was bought.
    let after = stock_of(&mut c, &ids).await;
    assert_eq!(
        after,
        vec![stock_before_purchase[0] - 2, stock_before_purchase[1] - 1]
    );

    // The customer's orders show it; the cart is purchased.
    let me = c
        .data(
            "{ customer { email orders(first: 5) { edges { node { id status } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        me["customer"]["orders"]["edges"][0]["node"]["id"],
        json!(order_id)
    );
    let cart_now = c
        .data(
            "query($id: ID!) { cart(id: $id) { status } }",
            json!({ "id": cart_id }),
        )
        .await;
    assert_eq!(cart_now["cart"]["status"], "PURCHASED");

    // Same idempotency key: same order, charged and stocked once.
    let again = c
        .data(
            CHECKOUT,
            json!({ "cartId": cart_id, "payment": { "token": "4242424242424242" }, "key": "k-1" }),
        )
        .await;
    assert_eq!(again["cartCheckout"]["order"]["id"], json!(order_id));
    assert_eq!(stock_of(&mut c, &ids).await, after);
    // Same key, different parameters: refused.
    let reused = c
        .data(
            CHECKOUT,
            json!({ "cartId": cart_id, "payment": { "token": "4000000000000002" }, "key": "k-1" }),
        )
        .await;
    assert_eq!(
        reused["cartCheckout"]["userErrors"][0]["code"],
        "IDEMPOTENCY_KEY_REUSED"
    );

    // Declined card: order FAILED with a userError, stock restored, cart OPEN again.
    let cart2 = c
        .data(
            &cart_create(),
            json!({ "input": { "lines": [ { "merchandiseId": ids[0], "quantity": 1 } ] } }),
        )
        .await;
    let cart2_id = cart2["cartCreate"]["cart"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let declined = c
        .data(
            CHECKOUT,
            json!({ "cartId": cart2_id, "payment": { "token": "4000000000000002" }, "key": "k-2" }),
        )
        .await;
    let declined = &declined["cartCheckout"];
    assert_eq!(declined["order"]["status"], "FAILED");
    assert_eq!(declined["userErrors"][0]["code"], "CARD_DECLINED");
    assert_eq!(
        stock_of(&mut c, &ids).await,
        after,
        "a decline restores stock"
    );
    let cart2_now = c
        .data(
            "query($id: ID!) { cart(id: $id) { status } }",
            json!({ "id": cart2_id }),
        )
        .await;
    assert_eq!(cart2_now["cart"]["status"], "OPEN");

    // Bad input: typed errors, nothing written.
    for (quantity, what) in [(0, "zero"), (-3, "negative"), (1_000_000_000, "huge")] {
        let r = c
            .data(&cart_create(), json!({ "input": { "lines": [ { "merchandiseId": ids[0], "quantity": quantity } ] } }))
            .await;
        assert!(
            r["cartCreate"]["cart"].is_null(),
            "{what} quantity must not create a cart: {r}"
        );
        assert!(
            !r["cartCreate"]["userErrors"].as_array().unwrap().is_empty(),
            "{what} quantity: {r}"
        );
    }
    let unknown = c
        .data(
            &cart_create(),
            json!({ "input": { "lines": [ { "merchandiseId": "gid://thriftshop/ProductVariant/doesnotexist", "quantity": 1 } ] } }),
        )
        .await;
    assert!(unknown["cartCreate"]["cart"].is_null());
    assert!(
        !unknown["cartCreate"]["userErrors"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let malformed = c
        .data(
            &cart_create(),
            json!({ "input": { "lines": [ { "merchandiseId": "not-a-gid", "quantity": 1 } ] } }),
        )
        .await;
    assert!(malformed["cartCreate"]["cart"].is_null());
    let oversized = c
        .gql(
            "{ products(first: 100000) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert!(
        oversized["errors"][0]["extensions"]["code"].is_string(),
        "{oversized}"
    );
    let wrong_type = c
        .gql(
            "{ products(first: \"ten\") { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert!(
        wrong_type["errors"][0]["extensions"]["code"].is_string(),
        "{wrong_type}"
    );
    let bad_id = c
        .gql(
            "{ product(id: \"gid://thriftshop/Nope/1\") { id } }",
            json!({}),
        )
        .await;
    assert!(
        bad_id["errors"][0]["extensions"]["code"].is_string(),
        "{bad_id}"
    );
    let unknown_cart = c
        .data(
            "{ cart(id: \"gid://thriftshop/Cart/nosuchcart\") { id } }",
            json!({}),
        )
        .await;
    assert!(unknown_cart["cart"].is_null());
    assert_eq!(
        stock_of(&mut c, &ids).await,
        after,
        "bad input changed nothing"
    );

    // Restart on the same data: customer, orders, carts and stock are as they were.
    shop.stop().await;
    let shop = Shop::start(config(dir.path()))
        .await
        .expect("shop restarts");
    let mut c2 = Client::new(&shop);
    c2.token = Some(token);
    let me = c2
        .data(
            "{ customer { email orders(first: 5) { edges { node { id status } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(me["customer"]["email"], "ada@example.com");
    let orders = me["customer"]["orders"]["edges"].as_array().unwrap();
    assert_eq!(orders.len(), 2, "the paid and the declined order: {me}");
    let paid_again = orders
        .iter()
        .find(|e| e["node"]["id"] == json!(order_id))
        .expect("the paid order survives");
    assert_eq!(paid_again["node"]["status"], "PAID");
    assert_eq!(stock_of(&mut c2, &ids).await, after);
    let cart_now = c2
        .data(
            "query($id: ID!) { cart(id: $id) { status totalQuantity } }",
            json!({ "id": cart2_id }),
        )
        .await;
    assert_eq!(cart_now["cart"]["status"], "OPEN");
    assert_eq!(cart_now["cart"]["totalQuantity"], 1);
    shop.stop().await;
}
