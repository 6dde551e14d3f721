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

const FULFILL: &str = r#"mutation($id: ID!) {
  orderFulfill(orderId: $id) { order { id status fulfillmentStatus } userErrors { field code message } }
}"#;

const ADJUST: &str = r#"mutation($i: InventoryAdjustInput!) {
  inventoryAdjust(input: $i) { inventoryLevel { variantId onHand reserved available } userErrors { field code message } }
}"#;

const PRODUCT_Q: &str = r#"query($id: ID!) { product(id: $id) { id handle title priceRange { minVariantPrice { amount } }
  variants(first: 10) { edges { node { id sku price { amount } } } } } }"#;

fn top_level_code(body: &Value) -> String {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Staff appointed by an operator read, fulfil and cancel anyone's orders (MANAGE_ORDERS) and adjust stock
/// (MANAGE_PRODUCTS); customers cannot; permissions apply and lapse within the token-cache bound; a revoked
/// token stops working at once on the gateway that revoked it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_permissions_gate_order_and_stock_operations() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.gateway.token_cache_ms = 200;
    let shop = Shop::start(cfg).await.expect("shop starts");
    let mut ada = signed_in(&shop, "ada@example.com").await;
    let mut sam = signed_in(&shop, "sam@example.com").await;
    let landing = ada.data(LANDING, json!({})).await;
    let picked = pick_variants(&landing, 3);
    let ids: Vec<String> = picked.iter().map(|(id, _)| id.clone()).collect();

    let mut orders = Vec::new();
    for key in ["k1", "k2"] {
        let cart = ada
            .data(
                &cart_create(),
                json!({ "input": { "lines": [ { "merchandiseId": ids[0], "quantity": 1 } ] } }),
            )
            .await;
        let paid = ada
            .data(
                CHECKOUT,
                json!({ "cartId": cart["cartCreate"]["cart"]["id"], "payment": { "token": "4242424242424242" }, "key": key }),
            )
            .await;
        assert_eq!(paid["cartCheckout"]["order"]["status"], "PAID", "{paid}");
        orders.push(
            paid["cartCheckout"]["order"]["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let order_q = "query($id: ID!) { order(id: $id) { id status } }";
    let adjust = |qty: i64, reason: &str| json!({ "i": { "variantId": ids[1], "kind": "SET", "quantity": qty, "reason": reason } });

    // Not staff yet: denied, and other customers' orders stay invisible.
    for c in [&mut sam, &mut ada] {
        let denied = c.gql(FULFILL, json!({ "id": orders[0] })).await;
        assert_eq!(top_level_code(&denied), "PERMISSION_DENIED", "{denied}");
        assert_eq!(
            denied["errors"][0]["extensions"]["errorCode"],
            "ACCESS_DENIED"
        );
        let denied = c.gql(ADJUST, adjust(7, "count")).await;
        assert_eq!(top_level_code(&denied), "PERMISSION_DENIED", "{denied}");
    }
    assert_eq!(
        sam.data(order_q, json!({ "id": orders[0] })).await["order"],
        Value::Null
    );
    let theirs = sam.data(CANCEL, json!({ "id": orders[1] })).await;
    assert_eq!(
        theirs["orderCancel"]["userErrors"][0]["code"],
        "ORDER_NOT_FOUND"
    );
    let before = stock_of(&mut ada, &ids).await;

    // An operator appoints Sam; unknown permissions and unknown emails are refused.
    let user_addr = shop.services.user;
    assert!(
        thriftshop::admin::set_staff_permissions(
            &shop.auth,
            user_addr,
            "sam@example.com",
            &["ROOT".into()]
        )
        .await
        .is_err()
    );
    assert!(
        thriftshop::admin::set_staff_permissions(&shop.auth, user_addr, "nobody@example.com", &[])
            .await
            .is_err()
    );
    let held = thriftshop::admin::set_staff_permissions(
        &shop.auth,
        user_addr,
        "Sam@Example.com",
        &["MANAGE_ORDERS".into()],
    )
    .await
    .unwrap();
    assert_eq!(held, ["MANAGE_ORDERS"]);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let me = sam
        .data("{ customer { staffPermissions } }", json!({}))
        .await;
    assert_eq!(me["customer"]["staffPermissions"], json!(["MANAGE_ORDERS"]));
    assert_eq!(
        sam.data(order_q, json!({ "id": orders[0] })).await["order"]["status"],
        "PAID"
    );
    let done = sam.data(FULFILL, json!({ "id": orders[0] })).await;
    assert_eq!(
        done["orderFulfill"]["order"]["status"], "FULFILLED",
        "{done}"
    );
    let again = sam.data(FULFILL, json!({ "id": orders[0] })).await;
    assert_eq!(
        again["orderFulfill"]["order"]["status"], "FULFILLED",
        "idempotent"
    );
    let late = sam.data(CANCEL, json!({ "id": orders[0] })).await;
    assert_eq!(
        late["orderCancel"]["userErrors"][0]["code"],
        "ORDER_ALREADY_FULFILLED"
    );
    let cancelled = sam
        .data(CANCEL, json!({ "id": orders[1], "reason": "fraud check" }))
        .await;
    assert_eq!(
        cancelled["orderCancel"]["order"]["status"], "CANCELLED",
        "{cancelled}"
    );
    assert_eq!(
        cancelled["orderCancel"]["order"]["financialStatus"],
        "REFUNDED"
    );
    let not_fulfillable = sam.data(FULFILL, json!({ "id": orders[1] })).await;
    assert_eq!(
        not_fulfillable["orderFulfill"]["userErrors"][0]["code"],
        "ORDER_NOT_FULFILLABLE"
    );
    let bogus = sam
        .data(FULFILL, json!({ "id": "gid://thriftshop/Order/nope" }))
        .await;
    assert_eq!(
        bogus["orderFulfill"]["userErrors"][0]["code"],
        "ORDER_NOT_FOUND"
    );
    // MANAGE_ORDERS does not reach stock.
    let denied = sam.gql(ADJUST, adjust(7, "count")).await;
    assert_eq!(top_level_code(&denied), "PERMISSION_DENIED");
    assert_eq!(stock_of(&mut ada, &ids).await[1], before[1]);

    thriftshop::admin::set_staff_permissions(
        &shop.auth,
        user_addr,
        "sam@example.com",
        &["MANAGE_ORDERS".into(), "MANAGE_PRODUCTS".into()],
    )
    .await
    .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let set = sam.data(ADJUST, adjust(7, "cycle count")).await;
    assert_eq!(set["inventoryAdjust"]["userErrors"], json!([]), "{set}");
    assert_eq!(set["inventoryAdjust"]["inventoryLevel"]["onHand"], 7);
    assert_eq!(set["inventoryAdjust"]["inventoryLevel"]["available"], 7);
    assert_eq!(stock_of(&mut ada, &ids).await[1], 7);
    for (vars, code) in [
        (adjust(-1, "count"), "INVALID_QUANTITY"),
        (adjust(5, ""), "INVALID_REASON"),
        (
            json!({ "i": { "variantId": "gid://thriftshop/ProductVariant/nope", "kind": "RECEIVE", "quantity": 1, "reason": "x" } }),
            "VARIANT_NOT_FOUND",
        ),
        (
            json!({ "i": { "variantId": "not-a-gid", "kind": "RECEIVE", "quantity": 1, "reason": "x" } }),
            "INVALID",
        ),
    ] {
        let bad = sam.data(ADJUST, vars).await;
        assert_eq!(
            bad["inventoryAdjust"]["userErrors"][0]["code"], code,
            "{bad}"
        );
        assert_eq!(bad["inventoryAdjust"]["inventoryLevel"], Value::Null);
    }
    assert_eq!(
        stock_of(&mut ada, &ids).await[1],
        7,
        "bad input changes nothing"
    );
    let received = sam
        .data(
            ADJUST,
            json!({ "i": { "variantId": ids[1], "kind": "RECEIVE", "quantity": 3, "reason": "delivery" } }),
        )
        .await;
    assert_eq!(received["inventoryAdjust"]["inventoryLevel"]["onHand"], 10);

    // Revoked staff status lapses within the cache bound.
    thriftshop::admin::set_staff_permissions(&shop.auth, user_addr, "sam@example.com", &[])
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let denied = sam.gql(FULFILL, json!({ "id": orders[0] })).await;
    assert_eq!(top_level_code(&denied), "PERMISSION_DENIED");
    assert_eq!(
        sam.data("{ customer { staffPermissions } }", json!({}))
            .await["customer"]["staffPermissions"],
        json!([])
    );

    // Signing out: the token stops working at once on this gateway.
    let token = sam.token.clone().unwrap();
    let out = sam
        .data(
            "mutation($t: String!) { customerAccessTokenDelete(customerAccessToken: $t) { deletedAccessToken userErrors { code } } }",
            json!({ "t": token }),
        )
        .await;
    assert_eq!(
        out["customerAccessTokenDelete"]["userErrors"],
        json!([]),
        "{out}"
    );
    let resp = reqwest::Client::new()
        .post(format!("http://{}/graphql", shop.gateway_addr))
        .bearer_auth(&token)
        .json(&json!({ "query": "{ customer { id } }" }))
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(top_level_code(&body), "UNAUTHENTICATED", "{body}");
    shop.stop().await;
}

/// A graphql-transport-ws client: connects with `token` in the `connection_init` payload, subscribes, and
/// collects every `next` payload until `complete` (or an `error` message), with a deadline.
async fn subscribe(shop: &Shop, token: Option<&str>, query: &str, variables: Value) -> Vec<Value> {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};
    let mut req = format!("ws://{}/graphql/ws", shop.gateway_addr)
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("ws connects");
    let payload = match token {
        Some(t) => json!({ "Authorization": format!("Bearer {t}") }),
        None => json!({}),
    };
    let send = |v: Value| Message::text(v.to_string());
    ws.send(send(
        json!({ "type": "connection_init", "payload": payload }),
    ))
    .await
    .unwrap();
    ws.send(send(json!({ "id": "1", "type": "subscribe", "payload": { "query": query, "variables": variables } })))
        .await
        .unwrap();
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("the subscription ends in time");
        let Some(Ok(Message::Text(text))) = msg else {
            match msg {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => panic!("unexpected websocket message: {other:?}"),
            }
        };
        let v: Value = serde_json::from_str(&text).unwrap();
        match v["type"].as_str() {
            Some("connection_ack") | Some("ping") | Some("pong") => {}
            Some("next") => out.push(v["payload"].clone()),
            Some("error") => {
                out.push(json!({ "errors": v["payload"] }));
                break;
            }
            Some("complete") => break,
            other => panic!("unexpected message type {other:?}: {v}"),
        }
    }
    out
}

const STATUS_SUB: &str =
    "subscription($id: ID!) { orderStatusChanged(orderId: $id) { id status financialStatus } }";

/// `orderStatusChanged` reports a checkout answered PENDING until its outcome, then completes; other customers
/// and guests learn nothing about the order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_status_changed_follows_a_pending_checkout_to_its_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.checkout.wait_ms = 0; // every checkout answers PENDING at once
    let shop = Shop::start(cfg).await.expect("shop starts");
    let mut ada = signed_in(&shop, "ada@example.com").await;
    let bob = signed_in(&shop, "bob@example.com").await;
    let landing = ada.data(LANDING, json!({})).await;
    let ids: Vec<String> = pick_variants(&landing, 2)
        .into_iter()
        .map(|(id, _)| id)
        .collect();

    for (card, outcome) in [("4242424242424242", "PAID"), ("4000000000000002", "FAILED")] {
        let cart = ada
            .data(
                &cart_create(),
                json!({ "input": { "lines": [ { "merchandiseId": ids[0], "quantity": 1 } ] } }),
            )
            .await;
        let answered = ada
            .data(
                CHECKOUT,
                json!({ "cartId": cart["cartCreate"]["cart"]["id"], "payment": { "token": card }, "key": card }),
            )
            .await;
        let order = &answered["cartCheckout"]["order"];
        assert_eq!(order["status"], "PENDING", "{answered}");
        let order_id = order["id"].as_str().unwrap().to_string();

        let seen = subscribe(
            &shop,
            ada.token.as_deref(),
            STATUS_SUB,
            json!({ "id": order_id }),
        )
        .await;
        let statuses: Vec<&str> = seen
            .iter()
            .map(|p| {
                p["data"]["orderStatusChanged"]["status"]
                    .as_str()
                    .unwrap_or("?")
            })
            .collect();
        assert!(
            statuses == ["PENDING", outcome] || statuses == [outcome],
            "{card}: {seen:?}"
        );
        assert!(
            seen.iter()
                .all(|p| p["data"]["orderStatusChanged"]["id"] == order_id)
        );

        // Another customer, and a guest, are told the order does not exist.
        for token in [bob.token.as_deref(), None] {
            let theirs = subscribe(&shop, token, STATUS_SUB, json!({ "id": order_id })).await;
            assert_eq!(theirs.len(), 1, "{theirs:?}");
            assert_eq!(
                theirs[0]["errors"][0]["extensions"]["code"], "NOT_FOUND",
                "{theirs:?}"
            );
        }
    }
    // A malformed id is an error, not a hang.
    let bad = subscribe(&shop, None, STATUS_SUB, json!({ "id": "nope" })).await;
    assert!(bad[0]["errors"][0]["message"].is_string(), "{bad:?}");
    shop.stop().await;
}

/// Guessing a password through aliases: every aliased `customerAccessTokenCreate` is one attempt; after the
/// account's failure budget (20 per hour by default) even the right password is refused with
/// RESOURCE_EXHAUSTED and a retry-after, while other accounts are unaffected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_guessing_through_aliases_locks_the_account() {
    let dir = tempfile::tempdir().unwrap();
    let shop = Shop::start(config(dir.path())).await.expect("shop starts");
    let _ann = signed_in(&shop, "ann@example.com").await;
    let _bob = signed_in(&shop, "bob@example.com").await;
    let mut mallory = Client::new(&shop);
    let guesses = |from: usize| {
        (from..from + 10)
            .map(|i| format!("g{i}: customerAccessTokenCreate(input: {{ email: \"ANN@example.com\", password: \"guess-{i}-guess\" }}) {{ customerAccessToken {{ accessToken }} userErrors {{ code }} }}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    for from in [0, 10] {
        let v = mallory
            .gql(&format!("mutation {{ {} }}", guesses(from)), json!({}))
            .await;
        for i in from..from + 10 {
            assert_eq!(
                v["data"][format!("g{i}")]["userErrors"][0]["code"],
                "UNIDENTIFIED_CUSTOMER",
                "{v}"
            );
        }
    }
    let login = "mutation($e: String!) { customerAccessTokenCreate(input: { email: $e, password: \"correct horse battery\" }) { customerAccessToken { accessToken } userErrors { code } } }";
    // The 21st failure spends past the budget; from then on the account is refused, even with its password.
    let v = mallory
        .gql(&format!("mutation {{ {} }}", guesses(20)), json!({}))
        .await;
    assert!(v["errors"].as_array().is_some_and(|e| !e.is_empty()), "{v}");
    let v = mallory.gql(login, json!({ "e": "ann@example.com" })).await;
    assert_eq!(top_level_code(&v), "RESOURCE_EXHAUSTED", "{v}");
    assert_eq!(v["errors"][0]["extensions"]["errorCode"], "LOGIN_THROTTLED");
    assert!(
        v["errors"][0]["extensions"]["retryAfterSeconds"].as_u64() > Some(1),
        "{v}"
    );
    let v = mallory.gql(login, json!({ "e": "bob@example.com" })).await;
    assert!(
        v["data"]["customerAccessTokenCreate"]["customerAccessToken"]["accessToken"].is_string(),
        "{v}"
    );
    shop.stop().await;
}

/// Root fields (queries, mutations, subscriptions) that take an id, read from the schema: an `ID` argument, or an
/// input object that holds an `ID` somewhere.
fn id_taking_root_fields() -> std::collections::BTreeSet<String> {
    let sdl = shop_gateway::schema_sdl();
    // Input object name → the types of its fields.
    let mut inputs: std::collections::HashMap<String, Vec<String>> = Default::default();
    let mut current: Option<String> = None;
    let mut roots: Vec<(String, String)> = Vec::new(); // (field, argument list)
    let mut in_root = false;
    for line in sdl.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("input ") {
            current = Some(rest.trim_end_matches('{').trim().to_string());
            continue;
        }
        if t.starts_with("type Query")
            || t.starts_with("type Mutation")
            || t.starts_with("type Subscription")
        {
            in_root = true;
            continue;
        }
        if t == "}" {
            current = None;
            in_root = false;
            continue;
        }
        if t.starts_with('"') || t.is_empty() {
            continue;
        }
        if let Some(name) = &current
            && let Some((_, ty)) = t.split_once(':')
        {
            inputs
                .entry(name.clone())
                .or_default()
                .push(ty.trim().to_string());
        }
        if in_root && let Some((field, rest)) = t.split_once('(') {
            roots.push((field.to_string(), rest.to_string()));
        }
    }
    fn holds_id(
        ty: &str,
        inputs: &std::collections::HashMap<String, Vec<String>>,
        depth: usize,
    ) -> bool {
        let base: String = ty
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let base = base
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string();
        if base == "ID" {
            return true;
        }
        depth < 5
            && inputs
                .get(&base)
                .is_some_and(|fields| fields.iter().any(|f| holds_id(f, inputs, depth + 1)))
    }
    roots
        .into_iter()
        .filter(|(_, args)| {
            args.split([',', ')'])
                .filter_map(|a| a.split_once(':'))
                .any(|(_, ty)| {
                    let ty = ty.split('=').next().unwrap_or_default();
                    holds_id(ty, &inputs, 0)
                })
        })
        .map(|(f, _)| f)
        .collect()
}

/// The BOLA matrix: every root field that takes an id is listed here with what protects it, and the test fails
/// when the schema gains an id-taking field that is not. Owned objects (carts, orders) are probed by another
/// customer and by a guest: reads give null, writes give NOT_FOUND-style user errors or PERMISSION_DENIED, and
/// the owner's objects are unchanged afterwards. Catalog objects are public by design.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_customer_or_a_guest_cannot_reach_a_customers_objects() {
    const OWNED_CART: &[&str] = &[
        "cart",
        "cartLinesAdd",
        "cartLinesUpdate",
        "cartLinesRemove",
        "cartBuyerIdentityUpdate",
        "cartNoteUpdate",
        "cartAttributesUpdate",
        "cartDiscountCodesUpdate",
        "cartCheckout",
    ];
    const OWNED_ORDER: &[&str] = &["order", "orderCancel", "orderFulfill", "orderStatusChanged"];
    const OWNED_ADDRESS: &[&str] = &["customerAddressUpdate", "customerAddressDelete"];
    const EITHER: &[&str] = &["node", "nodes"];
    // Takes a customer's id, but acts only with that customer's reset token.
    const RESET: &[&str] = &["customerReset"];
    // Public catalog ids (anyone may read them) or staff-only operations on them.
    const PUBLIC: &[&str] = &[
        "product",
        "productVariant",
        "collection",
        "productRecommendations",
        "cartCreate",
        "inventoryAdjust",
        "productCreate",
        "productUpdate",
    ];
    let covered: std::collections::BTreeSet<String> = [
        OWNED_CART,
        OWNED_ORDER,
        OWNED_ADDRESS,
        EITHER,
        RESET,
        PUBLIC,
    ]
    .concat()
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(
        id_taking_root_fields(),
        covered,
        "every id-taking root field must be in the BOLA matrix"
    );

    let dir = tempfile::tempdir().unwrap();
    let shop = Shop::start(config(dir.path())).await.expect("shop starts");
    let mut ann = signed_in(&shop, "ann@example.com").await;
    let bob = signed_in(&shop, "bob@example.com").await;
    let landing = ann.data(LANDING, json!({})).await;
    let ids: Vec<String> = pick_variants(&landing, 3)
        .into_iter()
        .map(|(id, _)| id)
        .collect();

    // Ann's open cart (signed in: it is hers) and her paid order.
    let cart_of = |c: &Value| c["cartCreate"]["cart"].clone();
    let open = cart_of(
        &ann.data(
            &cart_create(),
            json!({ "input": { "lines": [ { "merchandiseId": ids[0], "quantity": 2 } ], "note": "ann's note" } }),
        )
        .await,
    );
    let cart_id = open["id"].as_str().unwrap().to_string();
    let line_id = open["lines"]["edges"][0]["node"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let paid_cart = cart_of(
        &ann.data(
            &cart_create(),
            json!({ "input": { "lines": [ { "merchandiseId": ids[1], "quantity": 1 } ] } }),
        )
        .await,
    );
    let paid = ann
        .data(
            CHECKOUT,
            json!({ "cartId": paid_cart["id"], "payment": { "token": "4242424242424242" }, "key": "bola" }),
        )
        .await;
    let order_id = paid["cartCheckout"]["order"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(paid["cartCheckout"]["order"]["status"], "PAID");
    let address = ann
        .data(
            "mutation($a: MailingAddressInput!) { customerAddressCreate(address: $a) { customerAddress { id } userErrors { code } } }",
            json!({ "a": { "address1": "1 Main St", "city": "Springfield", "countryCode": "US", "zip": "12345" } }),
        )
        .await;
    let address_id = address["customerAddressCreate"]["customerAddress"]["id"]
        .as_str()
        .expect("address created")
        .to_string();
    let ann_id = ann.data("{ customer { id } }", json!({})).await["customer"]["id"]
        .as_str()
        .expect("ann's id")
        .to_string();
    let addresses_q = "{ customer { addresses(first: 5) { edges { node { id address1 city } } } defaultAddress { id } } }";
    let ann_addresses_before = ann.data(addresses_q, json!({})).await;
    let cart_q = format!("query($id: ID!) {{ cart(id: $id) {{ {CART_FIELDS} note }} }}");
    let ann_cart_before = ann.data(&cart_q, json!({ "id": cart_id })).await;
    let stock_before = stock_of(&mut ann, &ids).await;
    // The product of Ann's first variant, as everyone sees it (staff-only writes are probed below).
    let product_id = landing["products"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| {
            p["node"]["variants"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v["node"]["id"] == ids[0].as_str())
        })
        .expect("the product of a picked variant")["node"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let product_before = ann.data(PRODUCT_Q, json!({ "id": product_id })).await;

    let cart_writes: Vec<(&str, String, Value)> = vec![
        ("cartLinesAdd", "mutation($c: ID!, $v: ID!) { cartLinesAdd(cartId: $c, lines: [{ merchandiseId: $v, quantity: 1 }]) { cart { id } userErrors { code } } }".into(), json!({ "c": cart_id, "v": ids[1] })),
        ("cartLinesUpdate", "mutation($c: ID!, $l: ID!) { cartLinesUpdate(cartId: $c, lines: [{ id: $l, quantity: 5 }]) { cart { id } userErrors { code } } }".into(), json!({ "c": cart_id, "l": line_id })),
        ("cartLinesRemove", "mutation($c: ID!, $l: ID!) { cartLinesRemove(cartId: $c, lineIds: [$l]) { cart { id } userErrors { code } } }".into(), json!({ "c": cart_id, "l": line_id })),
        ("cartBuyerIdentityUpdate", "mutation($c: ID!) { cartBuyerIdentityUpdate(cartId: $c, buyerIdentity: { email: \"x@evil.example\" }) { cart { id } userErrors { code } } }".into(), json!({ "c": cart_id })),
        ("cartNoteUpdate", "mutation($c: ID!) { cartNoteUpdate(cartId: $c, note: \"pwned\") { cart { id } userErrors { code } } }".into(), json!({ "c": cart_id })),
        ("cartAttributesUpdate", "mutation($c: ID!) { cartAttributesUpdate(cartId: $c, attributes: [{ key: \"k\", value: \"v\" }]) { cart { id } userErrors { code } } }".into(), json!({ "c": cart_id })),
        ("cartDiscountCodesUpdate", "mutation($c: ID!) { cartDiscountCodesUpdate(cartId: $c, discountCodes: [\"FREE\"]) { cart { id } userErrors { code } } }".into(), json!({ "c": cart_id })),
        ("cartCheckout", "mutation($c: ID!) { cartCheckout(cartId: $c, payment: { token: \"4242424242424242\" }, idempotencyKey: \"steal\") { order { id } userErrors { code } } }".into(), json!({ "c": cart_id })),
    ];
    let mut guest = Client::new(&shop);
    for (who, intruder) in [("bob", bob), ("guest", Client::new(&shop))]
        .iter_mut()
        .map(|(w, c)| (*w, c))
    {
        // Reads: null, whatever the route.
        let r = intruder.data(&cart_q, json!({ "id": cart_id })).await;
        assert_eq!(r["cart"], Value::Null, "{who}: cart");
        let r = intruder
            .data(
                "query($id: ID!) { order(id: $id) { id } }",
                json!({ "id": order_id }),
            )
            .await;
        assert_eq!(r["order"], Value::Null, "{who}: order");
        let r = intruder
            .data(
                "query($id: ID!) { node(id: $id) { id } }",
                json!({ "id": cart_id }),
            )
            .await;
        assert_eq!(r["node"], Value::Null, "{who}: node(cart)");
        let r = intruder
            .data(
                "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
                json!({ "ids": [cart_id, order_id] }),
            )
            .await;
        assert_eq!(r["nodes"], json!([null, null]), "{who}: nodes");
        let sub = subscribe(
            &shop,
            intruder.token.as_deref(),
            STATUS_SUB,
            json!({ "id": order_id }),
        )
        .await;
        assert_eq!(
            sub[0]["errors"][0]["extensions"]["code"], "NOT_FOUND",
            "{who}: orderStatusChanged"
        );

        // Writes: refused as if the object did not exist.
        for (field, q, vars) in &cart_writes {
            let r = intruder.data(q, vars.clone()).await;
            let code = r[*field]["userErrors"][0]["code"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            assert!(code == "CART_NOT_FOUND", "{who}: {field} gave {r}");
            assert!(
                r[*field]["cart"].is_null() && r[*field]["order"].is_null(),
                "{who}: {field}"
            );
        }
        let r = intruder
            .data(
                "mutation($id: ID!) { customerAddressUpdate(id: $id, address: { address1: \"x\", city: \"x\", countryCode: \"US\", zip: \"1\" }) { customerAddress { id } userErrors { code } } }",
                json!({ "id": address_id }),
            )
            .await;
        let code = r["customerAddressUpdate"]["userErrors"][0]["code"].clone();
        assert!(
            code == "ADDRESS_NOT_FOUND" || code == "UNIDENTIFIED_CUSTOMER",
            "{who}: {r}"
        );
        let r = intruder
            .data(
                "mutation($id: ID!) { customerAddressDelete(id: $id) { deletedCustomerAddressId userErrors { code } } }",
                json!({ "id": address_id }),
            )
            .await;
        let code = r["customerAddressDelete"]["userErrors"][0]["code"].clone();
        assert!(
            code == "ADDRESS_NOT_FOUND" || code == "UNIDENTIFIED_CUSTOMER",
            "{who}: {r}"
        );
        assert!(r["customerAddressDelete"]["deletedCustomerAddressId"].is_null());
        let r = intruder.data(CANCEL, json!({ "id": order_id })).await;
        assert_eq!(
            r["orderCancel"]["userErrors"][0]["code"], "ORDER_NOT_FOUND",
            "{who}: orderCancel"
        );
        let r = intruder
            .data(
                "mutation($id: ID!) { customerReset(id: $id, input: { resetToken: \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\", password: \"taken over 1\" }) { customer { id } customerAccessToken { accessToken } userErrors { code } } }",
                json!({ "id": ann_id }),
            )
            .await;
        assert_eq!(
            r["customerReset"],
            json!({ "customer": null, "customerAccessToken": null, "userErrors": [{ "code": "TOKEN_INVALID" }] }),
            "{who}: customerReset"
        );
        let r = intruder.gql(FULFILL, json!({ "id": order_id })).await;
        assert_eq!(
            top_level_code(&r),
            "PERMISSION_DENIED",
            "{who}: orderFulfill"
        );
        // Catalog writes are staff-only (MANAGE_PRODUCTS), whatever product id is given.
        let r = intruder
            .gql(
                "mutation($p: ProductUpdateInput!) { productUpdate(product: $p) { product { id } userErrors { code } } }",
                json!({ "p": { "id": product_id, "title": "Hacked", "variants": [{ "id": ids[0], "price": "0.01" }] } }),
            )
            .await;
        assert_eq!(
            top_level_code(&r),
            "PERMISSION_DENIED",
            "{who}: productUpdate"
        );
        let r = intruder
            .gql(
                "mutation($p: ProductCreateInput!) { productCreate(product: $p) { product { id } userErrors { code } } }",
                json!({ "p": { "title": "Fake", "variants": [{ "sku": "FAKE-1", "price": "1" }] } }),
            )
            .await;
        assert_eq!(
            top_level_code(&r),
            "PERMISSION_DENIED",
            "{who}: productCreate"
        );
    }

    // Nothing of Ann's moved.
    assert_eq!(
        ann.data(&cart_q, json!({ "id": cart_id })).await,
        ann_cart_before
    );
    assert_eq!(ann.data(addresses_q, json!({})).await, ann_addresses_before);
    let o = ann
        .data(
            "query($id: ID!) { order(id: $id) { status financialStatus } }",
            json!({ "id": order_id }),
        )
        .await;
    assert_eq!(
        o["order"],
        json!({ "status": "PAID", "financialStatus": "PAID" })
    );
    assert_eq!(stock_of(&mut guest, &ids).await, stock_before);
    // Ann's password and session are hers still.
    let login = guest
        .data(
            "mutation($i: CustomerAccessTokenCreateInput!) { customerAccessTokenCreate(input: $i) { customerAccessToken { accessToken } } }",
            json!({ "i": { "email": "ann@example.com", "password": "correct horse battery" } }),
        )
        .await;
    assert!(login["customerAccessTokenCreate"]["customerAccessToken"]["accessToken"].is_string());
    assert_eq!(
        ann.data("{ customer { id } }", json!({})).await["customer"]["id"],
        ann_id.as_str()
    );
    assert_eq!(
        guest.data(PRODUCT_Q, json!({ "id": product_id })).await,
        product_before,
        "the product is unchanged"
    );
    shop.stop().await;
}

/// A signed-in customer edits their profile and address book over GraphQL; bad input is a typed user error that
/// changes nothing; guests are told to sign in; signing out everywhere revokes every token of theirs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_manage_their_profile_addresses_and_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let shop = Shop::start(config(dir.path())).await.expect("shop starts");
    let mut ann = signed_in(&shop, "ann@example.com").await;
    const UPDATE: &str = "mutation($c: CustomerUpdateInput!) { customerUpdate(customer: $c) { customer { firstName lastName phone acceptsMarketing } userErrors { field code } } }";
    const CREATE: &str = "mutation($a: MailingAddressInput!, $d: Boolean) { customerAddressCreate(address: $a, makeDefault: $d) { customerAddress { id city } customer { defaultAddress { id } } userErrors { field code } } }";
    const EDIT: &str = "mutation($id: ID!, $a: MailingAddressInput!) { customerAddressUpdate(id: $id, address: $a) { customerAddress { id city zip } userErrors { field code } } }";
    const DELETE: &str = "mutation($id: ID!) { customerAddressDelete(id: $id) { deletedCustomerAddressId customer { defaultAddress { id } } userErrors { field code } } }";
    let home = json!({ "address1": "1 Main St", "city": "Springfield", "countryCode": "US", "zip": "12345" });

    let r = ann
        .data(UPDATE, json!({ "c": { "firstName": " Ann ", "phone": "+1 555 0100", "acceptsMarketing": true } }))
        .await;
    assert_eq!(
        r["customerUpdate"]["customer"],
        json!({ "firstName": "Ann", "lastName": null, "phone": "+1 555 0100", "acceptsMarketing": true }),
        "{r}"
    );
    let r = ann
        .data(UPDATE, json!({ "c": { "lastName": "x".repeat(101) } }))
        .await;
    assert_eq!(
        r["customerUpdate"]["userErrors"][0]["code"], "TOO_LONG",
        "{r}"
    );
    assert_eq!(
        r["customerUpdate"]["userErrors"][0]["field"],
        json!(["customer", "lastName"])
    );
    let me = ann
        .data("{ customer { firstName lastName } }", json!({}))
        .await;
    assert_eq!(
        me["customer"],
        json!({ "firstName": "Ann", "lastName": null }),
        "bad input changes nothing"
    );

    let first = ann.data(CREATE, json!({ "a": home })).await;
    let first_id = first["customerAddressCreate"]["customerAddress"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        first["customerAddressCreate"]["customer"]["defaultAddress"]["id"],
        first_id.as_str()
    );
    let second = ann
        .data(CREATE, json!({ "a": { "address1": "2 Elm St", "city": "Shelbyville", "countryCode": "US", "zip": "54321" }, "d": true }))
        .await;
    let second_id = second["customerAddressCreate"]["customerAddress"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        second["customerAddressCreate"]["customer"]["defaultAddress"]["id"],
        second_id.as_str()
    );
    let bad = ann
        .data(
            CREATE,
            json!({ "a": { "address1": "3 Oak", "city": "X", "countryCode": "ZZZ", "zip": "1" } }),
        )
        .await;
    assert_eq!(
        bad["customerAddressCreate"]["userErrors"][0]["code"], "INVALID_COUNTRY_CODE",
        "{bad}"
    );
    assert_eq!(
        bad["customerAddressCreate"]["userErrors"][0]["field"],
        json!(["address", "countryCode"])
    );
    let moved = ann
        .data(EDIT, json!({ "id": first_id, "a": { "address1": "1 Main St", "city": "Capital City", "countryCode": "US", "zip": "99999" } }))
        .await;
    assert_eq!(
        moved["customerAddressUpdate"]["customerAddress"]["city"], "Capital City",
        "{moved}"
    );
    let gone = ann.data(DELETE, json!({ "id": second_id })).await;
    assert_eq!(
        gone["customerAddressDelete"]["deletedCustomerAddressId"],
        second_id.as_str(),
        "{gone}"
    );
    assert_eq!(
        gone["customerAddressDelete"]["customer"]["defaultAddress"]["id"],
        first_id.as_str()
    );
    let again = ann.data(DELETE, json!({ "id": second_id })).await;
    assert_eq!(
        again["customerAddressDelete"]["userErrors"][0]["code"],
        "ADDRESS_NOT_FOUND"
    );
    let malformed = ann.data(DELETE, json!({ "id": "not-an-id" })).await;
    assert_eq!(
        malformed["customerAddressDelete"]["userErrors"][0]["field"],
        json!(["id"])
    );

    // Guests have no profile to change.
    let mut guest = Client::new(&shop);
    let r = guest
        .data(UPDATE, json!({ "c": { "firstName": "Eve" } }))
        .await;
    assert_eq!(
        r["customerUpdate"]["userErrors"][0]["code"],
        "UNIDENTIFIED_CUSTOMER"
    );
    let r = guest.data(CREATE, json!({ "a": home })).await;
    assert_eq!(
        r["customerAddressCreate"]["userErrors"][0]["code"],
        "UNIDENTIFIED_CUSTOMER"
    );

    // Signing out everywhere: both of Ann's tokens stop working.
    let other = signed_in(&shop, "ann@example.com").await; // a second sign-in (customerCreate fails: taken)
    let r = ann
        .data(
            "mutation { customerAccessTokenDeleteAll { userErrors { code } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        r["customerAccessTokenDeleteAll"]["userErrors"],
        json!([]),
        "{r}"
    );
    for token in [ann.token.clone().unwrap(), other.token.clone().unwrap()] {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let resp = reqwest::Client::new()
                .post(format!("http://{}/graphql", shop.gateway_addr))
                .bearer_auth(&token)
                .json(&json!({ "query": "{ customer { id } }" }))
                .send()
                .await
                .unwrap();
            let body: Value = resp.json().await.unwrap();
            if top_level_code(&body) == "UNAUTHENTICATED" {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "token still works: {body}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
    shop.stop().await;
}
