//! End-to-end: the assembled shop (gateway + seven Thrift services on loopback, SQLite under a temp dir) over
//! real HTTP on port 0. Journeys, declines, idempotency, bad input, restart.
mod common;

use common::*;

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

/// The sandbox's hard cards: an authorization whose answer is lost is resolved by looking it up (one charge),
/// and a capture refused after authorization voids the payment, restores stock and reopens the cart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payment_timeouts_and_failed_captures() {
    let dir = tempfile::tempdir().unwrap();
    let shop = Shop::start(config(dir.path())).await.expect("shop starts");
    let mut c = Client::new(&shop);
    let landing = c.data(LANDING, json!({})).await;
    let picked = pick_variants(&landing, 2);
    let ids: Vec<String> = picked.iter().map(|(id, _)| id.clone()).collect();
    let before = stock_of(&mut c, &ids).await;

    let shop_ref = &shop;
    let buy = |card: &'static str, key: &'static str| {
        let variant = ids[0].clone();
        async move {
            let mut c = Client::new(shop_ref);
            let cart = c
                .data(
                    &cart_create(),
                    json!({ "input": { "lines": [ { "merchandiseId": variant, "quantity": 1 } ] } }),
                )
                .await;
            let cart_id = cart["cartCreate"]["cart"]["id"]
                .as_str()
                .unwrap()
                .to_string();
            let out = c
                .data(
                    CHECKOUT,
                    json!({ "cartId": cart_id, "payment": { "token": card }, "key": key }),
                )
                .await;
            (cart_id, out["cartCheckout"].clone())
        }
    };

    let (_, slow) = buy("4000000000000119", "timeout-1").await;
    assert_eq!(slow["userErrors"], json!([]), "{slow}");
    assert_eq!(slow["order"]["status"], "PAID");
    assert_eq!(slow["order"]["financialStatus"], "PAID");
    assert_eq!(stock_of(&mut c, &ids).await[0], before[0] - 1);

    let (cart_id, refused) = buy("4000000000000341", "capture-1").await;
    assert_eq!(refused["order"]["status"], "FAILED", "{refused}");
    assert_eq!(refused["order"]["financialStatus"], "VOIDED");
    assert_eq!(refused["userErrors"][0]["code"], "CAPTURE_FAILED");
    assert_eq!(
        stock_of(&mut c, &ids).await[0],
        before[0] - 1,
        "the failed capture's stock is back"
    );
    let cart = c
        .data(
            "query($id: ID!) { cart(id: $id) { status } }",
            json!({ "id": cart_id }),
        )
        .await;
    assert_eq!(cart["cart"]["status"], "OPEN");
    shop.stop().await;
}

async fn signed_in(shop: &Shop, email: &str) -> Client {
    let mut c = Client::new(shop);
    c.data(
        "mutation($i: CustomerCreateInput!) { customerCreate(input: $i) { userErrors { code } } }",
        json!({ "i": { "email": email, "password": "correct horse battery" } }),
    )
    .await;
    let login = c
        .data(
            "mutation($i: CustomerAccessTokenCreateInput!) { customerAccessTokenCreate(input: $i) { customerAccessToken { accessToken } } }",
            json!({ "i": { "email": email, "password": "correct horse battery" } }),
        )
        .await;
    c.token = login["customerAccessTokenCreate"]["customerAccessToken"]["accessToken"]
        .as_str()
        .map(str::to_string);
    assert!(c.token.is_some());
    c
}

const CANCEL: &str = r#"mutation($id: ID!, $reason: String) {
  orderCancel(orderId: $id, reason: $reason) {
    order { id status financialStatus statusHistory { status reason } }
    userErrors { field code message }
  }
}"#;

/// A customer cancels a paid order: refund and restock, once; nobody else can cancel it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_cancel_their_paid_orders() {
    let dir = tempfile::tempdir().unwrap();
    let shop = Shop::start(config(dir.path())).await.expect("shop starts");
    let mut ada = signed_in(&shop, "ada@example.com").await;
    let mut bob = signed_in(&shop, "bob@example.com").await;
    let landing = ada.data(LANDING, json!({})).await;
    let picked = pick_variants(&landing, 3);
    let ids: Vec<String> = picked.iter().map(|(id, _)| id.clone()).collect();
    let before = stock_of(&mut ada, &ids).await;

    let cart = ada
        .data(
            &cart_create(),
            json!({ "input": { "lines": [ { "merchandiseId": ids[0], "quantity": 3 } ] } }),
        )
        .await;
    let cart_id = cart["cartCreate"]["cart"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let paid = ada
        .data(
            CHECKOUT,
            json!({ "cartId": cart_id, "payment": { "token": "4242424242424242" }, "key": "k" }),
        )
        .await;
    let order_id = paid["cartCheckout"]["order"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(stock_of(&mut ada, &ids).await[0], before[0] - 3);

    // Not Bob's order: it looks like it does not exist.
    let theirs = bob.data(CANCEL, json!({ "id": order_id })).await;
    assert_eq!(
        theirs["orderCancel"]["userErrors"][0]["code"],
        "ORDER_NOT_FOUND"
    );
    let bogus = ada
        .data(CANCEL, json!({ "id": "gid://thriftshop/Order/nope" }))
        .await;
    assert_eq!(
        bogus["orderCancel"]["userErrors"][0]["code"],
        "ORDER_NOT_FOUND"
    );
    let long = ada
        .data(CANCEL, json!({ "id": order_id, "reason": "x".repeat(501) }))
        .await;
    assert_eq!(
        long["orderCancel"]["userErrors"][0]["code"],
        "INVALID_REASON"
    );

    let done = ada
        .data(
            CANCEL,
            json!({ "id": order_id, "reason": "changed my mind" }),
        )
        .await;
    let o = &done["orderCancel"]["order"];
    assert_eq!(done["orderCancel"]["userErrors"], json!([]), "{done}");
    assert_eq!(o["status"], "CANCELLED");
    assert_eq!(o["financialStatus"], "REFUNDED");
    assert_eq!(o["statusHistory"][2]["reason"], "changed my mind");
    assert_eq!(stock_of(&mut ada, &ids).await, before, "the stock is back");

    // Again: nothing more happens.
    let again = ada.data(CANCEL, json!({ "id": order_id })).await;
    assert_eq!(again["orderCancel"]["order"]["status"], "CANCELLED");
    assert_eq!(stock_of(&mut ada, &ids).await, before, "restocked once");
    shop.stop().await;
}

/// The same checkout sent ten times at once: one order, charged and stocked once; the others are told the key
/// is in use (or get the first outcome replayed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_retries_with_one_key_make_one_order() {
    let dir = tempfile::tempdir().unwrap();
    let shop = Shop::start(config(dir.path())).await.expect("shop starts");
    let mut c = Client::new(&shop);
    let landing = c.data(LANDING, json!({})).await;
    let picked = pick_variants(&landing, 2);
    let ids: Vec<String> = picked.iter().map(|(id, _)| id.clone()).collect();
    let before = stock_of(&mut c, &ids).await;
    let cart = c
        .data(
            &cart_create(),
            json!({ "input": { "lines": [ { "merchandiseId": ids[0], "quantity": 2 } ] } }),
        )
        .await;
    let cart_id = cart["cartCreate"]["cart"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let shop_ref = &shop;
    let attempts = futures::future::join_all((0..10).map(|_| {
        let cart_id = cart_id.clone();
        async move {
            let mut c = Client::new(shop_ref);
            c.data(
                CHECKOUT,
                json!({ "cartId": cart_id, "payment": { "token": "4242424242424242" }, "key": "same" }),
            )
            .await["cartCheckout"]
                .clone()
        }
    }))
    .await;
    let mut orders = std::collections::HashSet::new();
    for a in &attempts {
        match a["order"]["id"].as_str() {
            Some(id) => {
                orders.insert(id.to_string());
            }
            None => assert_eq!(a["userErrors"][0]["code"], "IDEMPOTENCY_KEY_IN_USE", "{a}"),
        }
    }
    assert!(orders.len() <= 1, "one order for one key: {orders:?}");
    // Retrying now replays the one outcome.
    let settled = c
        .data(
            CHECKOUT,
            json!({ "cartId": cart_id, "payment": { "token": "4242424242424242" }, "key": "same" }),
        )
        .await;
    let order_id = settled["cartCheckout"]["order"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(settled["cartCheckout"]["order"]["status"], "PAID");
    assert!(orders.is_empty() || orders.contains(&order_id));
    assert_eq!(
        stock_of(&mut c, &ids).await[0],
        before[0] - 2,
        "stock taken once"
    );
    let me = c
        .data(
            "query($id: ID!) { order(id: $id) { financialStatus } }",
            json!({ "id": order_id }),
        )
        .await;
    assert_eq!(me["order"]["financialStatus"], "PAID");
    shop.stop().await;
}
