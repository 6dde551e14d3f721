//! `/metrics` after a journey: the all-in-one shop serves one registry on the gateway; a guest browses, makes a
//! cart, adds a line, reads the cart twice, pays one cart and gets another declined; a customer signs up, signs
//! in and asks for recommendations. The exposition must parse
//! strictly and show RED per GraphQL operation and per Thrift method, the business series recorded where the
//! facts happen (cart cache, reservations, checkout outcomes, orders and revenue, carts created), store
//! latency of every service (event-sourced and state-stored) and the bus counters.
mod common;

use std::{
    collections::BTreeSet,
    time::{Duration, Instant},
};

use common::*;
use shop_telemetry::testing::{Exposition, parse_exposition};

const CART_CREATE: &str = r#"
mutation CartCreate($input: CartInput!) {
  cartCreate(input: $input) { cart { id totalQuantity } userErrors { field message code } }
}"#;

const CART_LINES_ADD: &str = r#"
mutation CartLinesAdd($c: ID!, $v: ID!) {
  cartLinesAdd(cartId: $c, lines: [{ merchandiseId: $v, quantity: 1 }]) {
    cart { id totalQuantity } userErrors { field message code }
  }
}"#;

const CART: &str = r#"query Cart($id: ID!) { cart(id: $id) { id status totalQuantity } }"#;

const CHECKOUT: &str = r#"
mutation Checkout($cartId: ID!, $payment: PaymentInput!, $key: String!) {
  cartCheckout(cartId: $cartId, payment: $payment, idempotencyKey: $key) {
    order { id status totalPrice { amount currencyCode } }
    userErrors { field message code }
  }
}"#;

async fn scrape(http: &reqwest::Client, shop: &Shop) -> (String, Exposition) {
    let resp = http
        .get(format!("http://{}/metrics", shop.gateway_addr))
        .send()
        .await
        .expect("GET /metrics");
    assert!(resp.status().is_success(), "HTTP {}", resp.status());
    let text = resp.text().await.expect("body");
    let parsed = parse_exposition(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    (text, parsed)
}

fn sum(x: &Exposition, name: &str, labels: &[(&str, &str)]) -> f64 {
    x.series(name)
        .into_iter()
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

fn label_values(x: &Exposition, name: &str, label: &str) -> BTreeSet<String> {
    x.series(name)
        .into_iter()
        .filter_map(|s| s.labels.get(label).cloned())
        .collect()
}

async fn cart_create(c: &mut Client, variant: &str) -> String {
    let d = c
        .data(
            CART_CREATE,
            json!({ "input": { "lines": [ { "merchandiseId": variant, "quantity": 1 } ] } }),
        )
        .await;
    assert_eq!(d["cartCreate"]["userErrors"], json!([]), "{d}");
    d["cartCreate"]["cart"]["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_the_journey() {
    let dir = tempfile::tempdir().unwrap();
    let shop = Shop::start(config(dir.path())).await.expect("shop starts");
    let mut c = Client::new(&shop);
    let http = reqwest::Client::new();

    // Browse, make a cart, add a line, read it twice, pay.
    let landing = c.data(LANDING, json!({})).await;
    let picked = pick_variants(&landing, 3);
    assert_eq!(picked.len(), 2, "two variants in stock");
    let (a, price_a) = (&picked[0].0, picked[0].1);
    let (b, price_b) = (&picked[1].0, picked[1].1);
    let cart_id = cart_create(&mut c, a).await;
    let added = c
        .data(CART_LINES_ADD, json!({ "c": cart_id, "v": b }))
        .await;
    assert_eq!(added["cartLinesAdd"]["userErrors"], json!([]), "{added}");
    assert_eq!(added["cartLinesAdd"]["cart"]["totalQuantity"], 2);
    for _ in 0..2 {
        let read = c.data(CART, json!({ "id": cart_id })).await;
        assert_eq!(read["cart"]["status"], "OPEN", "{read}");
    }
    let paid = c
        .data(
            CHECKOUT,
            json!({ "cartId": cart_id, "payment": { "token": "4242424242424242" }, "key": "m-1" }),
        )
        .await;
    assert_eq!(paid["cartCheckout"]["userErrors"], json!([]), "{paid}");
    assert_eq!(paid["cartCheckout"]["order"]["status"], "PAID", "{paid}");
    let total = cents(&paid["cartCheckout"]["order"]["totalPrice"]["amount"]);
    assert_eq!(total, price_a + price_b);
    let currency = paid["cartCheckout"]["order"]["totalPrice"]["currencyCode"]
        .as_str()
        .unwrap()
        .to_string();

    // A second cart, declined.
    let cart2 = cart_create(&mut c, a).await;
    let declined = c
        .data(
            CHECKOUT,
            json!({ "cartId": cart2, "payment": { "token": "4000000000000002" }, "key": "m-2" }),
        )
        .await;
    assert_eq!(
        declined["cartCheckout"]["order"]["status"], "FAILED",
        "{declined}"
    );

    // A customer signs up and in (user and session stores) and asks for recommendations (recommender store).
    let mut ann = Client::new(&shop);
    let signed_up = ann
        .data(
            "mutation SignUp($i: CustomerCreateInput!) { customerCreate(input: $i) { customer { id } userErrors { code } } }",
            json!({ "i": { "email": "metrics@example.com", "password": "metrics password 1" } }),
        )
        .await;
    assert_eq!(
        signed_up["customerCreate"]["userErrors"],
        json!([]),
        "{signed_up}"
    );
    let signed_in = ann
        .data(
            "mutation SignIn($i: CustomerAccessTokenCreateInput!) { customerAccessTokenCreate(input: $i) { customerAccessToken { accessToken } } }",
            json!({ "i": { "email": "metrics@example.com", "password": "metrics password 1" } }),
        )
        .await;
    ann.token = signed_in["customerAccessTokenCreate"]["customerAccessToken"]["accessToken"]
        .as_str()
        .map(str::to_string);
    assert!(ann.token.is_some(), "{signed_in}");
    let me = ann.data("query Me { customer { id } }", json!({})).await;
    assert!(me["customer"]["id"].is_string(), "{me}");
    let product = landing["products"]["edges"][0]["node"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    ann.data(
        "query Related($id: ID!) { productRecommendations(productId: $id) { id } }",
        json!({ "id": product }),
    )
    .await;

    // Consumers and the processor run after the responses: scrape until the bus has caught up.
    let deadline = Instant::now() + Duration::from_secs(15);
    let (text, x) = loop {
        let (text, x) = scrape(&http, &shop).await;
        let settled = sum(&x, "thriftshop_bus_consumed_total", &[]) > 0.0
            && sum(&x, "thriftshop_orders_placed_total", &[]) >= 1.0
            && sum(
                &x,
                "thriftshop_checkout_outcomes_total",
                &[("outcome", "payment_failed")],
            ) >= 1.0
            // The projections of the catalog and the recommender store the placed order.
            && [("catalog", "record_sales"), ("recommender", "apply_order")]
                .iter()
                .all(|(store, op)| {
                    sum(
                        &x,
                        "thriftshop_store_operation_duration_seconds_count",
                        &[("store", store), ("operation", op)],
                    ) > 0.0
                });
        if settled || Instant::now() > deadline {
            break (text, x);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let show = |what: &str| format!("{what}\n{text}");

    // Gateway RED per operation.
    for (op, ty, n) in [
        ("Landing", "query", 1.0),
        ("CartCreate", "mutation", 2.0),
        ("CartLinesAdd", "mutation", 1.0),
        ("Cart", "query", 2.0),
        ("Checkout", "mutation", 2.0),
    ] {
        assert_eq!(
            sum(
                &x,
                "thriftshop_gateway_requests_total",
                &[("operation", op), ("type", ty)]
            ),
            n,
            "{}",
            show(op)
        );
        assert_eq!(
            sum(
                &x,
                "thriftshop_gateway_request_duration_seconds_count",
                &[("operation", op), ("type", ty)]
            ),
            n,
            "{}",
            show(op)
        );
    }
    assert!(
        sum(
            &x,
            "thriftshop_gateway_requests_total",
            &[("operation", "Landing"), ("outcome", "ok")]
        ) == 1.0,
        "{}",
        show("Landing ok")
    );

    // Thrift RED of the services the journey went through.
    let served = label_values(&x, "thriftshop_rpc_server_requests_total", "service");
    for service in ["cart", "order", "inventory", "catalog"] {
        assert!(served.contains(service), "{}", show(service));
        let methods: BTreeSet<String> = x
            .series("thriftshop_rpc_server_requests_total")
            .into_iter()
            .filter(|s| s.labels.get("service").map(String::as_str) == Some(service))
            .filter_map(|s| s.labels.get("method").cloned())
            .collect();
        assert!(!methods.is_empty(), "{}", show(service));
        assert!(
            sum(
                &x,
                "thriftshop_rpc_server_duration_seconds_count",
                &[("service", service)]
            ) > 0.0,
            "{}",
            show(service)
        );
    }
    // The journey's own calls, each counted with its result code.
    for (service, method, n) in [
        ("cart", "create_cart", 2.0),
        ("cart", "add_lines", 1.0),
        ("cart", "begin_checkout", 2.0),
        ("cart", "complete_checkout", 1.0),
        ("cart", "abort_checkout", 1.0),
        ("order", "checkout", 2.0),
        ("inventory", "reserve", 2.0),
        ("inventory", "commit", 1.0),
        ("inventory", "release", 1.0),
    ] {
        assert_eq!(
            sum(
                &x,
                "thriftshop_rpc_server_requests_total",
                &[("service", service), ("method", method), ("code", "ok")]
            ),
            n,
            "{}",
            show(&format!("{service}/{method}"))
        );
    }
    assert!(
        sum(
            &x,
            "thriftshop_rpc_server_requests_total",
            &[("service", "cart"), ("method", "get_cart")]
        ) >= 2.0,
        "{}",
        show("cart/get_cart")
    );

    // Cart cache: the two reads (and the checkout steps) are served from memory.
    assert!(
        sum(&x, "thriftshop_cart_cache_hits_total", &[]) >= 2.0,
        "{}",
        show("cache hits")
    );
    assert!(x.value("thriftshop_cart_cache_misses_total", &[]).is_some());
    assert!(x.value("thriftshop_cart_store_loads_total", &[]).is_some());
    assert_eq!(
        sum(&x, "thriftshop_carts_created_total", &[]),
        2.0,
        "{}",
        show("carts created")
    );

    // Reservations: both checkouts reserved; the paid one committed, the declined one released.
    for (outcome, n) in [("reserved", 2.0), ("committed", 1.0), ("released", 1.0)] {
        assert_eq!(
            sum(
                &x,
                "thriftshop_inventory_reservations_total",
                &[("outcome", outcome)]
            ),
            n,
            "{}",
            show(outcome)
        );
    }

    // Checkout outcomes, orders and revenue.
    for outcome in ["placed", "payment_failed"] {
        assert_eq!(
            sum(
                &x,
                "thriftshop_checkout_outcomes_total",
                &[("outcome", outcome)]
            ),
            1.0,
            "{}",
            show(outcome)
        );
    }
    assert_eq!(
        sum(&x, "thriftshop_orders_placed_total", &[]),
        1.0,
        "{}",
        show("orders placed")
    );
    assert_eq!(
        sum(
            &x,
            "thriftshop_revenue_minor_total",
            &[("currency", &currency)]
        ),
        total as f64,
        "{}",
        show("revenue")
    );

    // Store latency of the event-sourced services (hot carts are never re-read: the cache serves them)...
    for (store, ops) in [
        ("cart", &["append", "unpublished", "mark_published"][..]),
        ("order", &["append", "load", "next_sequence"][..]),
        ("inventory", &["append", "load", "read_all"][..]),
        // ... and of the services with their own store ports (state tables plus an outbox).
        ("catalog", &["load", "seed_if_empty", "record_sales"][..]),
        (
            "user",
            &["create", "credentials", "unpublished", "mark_published"][..],
        ),
        ("session", &["insert", "find_by_token_hash"][..]),
        ("recommender", &["apply_order", "co_purchased"][..]),
    ] {
        for op in ops {
            assert!(
                sum(
                    &x,
                    "thriftshop_store_operation_duration_seconds_count",
                    &[("store", store), ("operation", op)]
                ) > 0.0,
                "{}",
                show(&format!("{store} {op}"))
            );
        }
    }
    assert!(
        !x.series("thriftshop_store_operation_duration_seconds_bucket")
            .is_empty()
    );

    // The bus: what the relays published, what the consumers processed.
    let published = label_values(&x, "thriftshop_bus_published_total", "topic");
    for topic in ["shop.cart.v1", "shop.order.v1", "shop.inventory.v1"] {
        assert!(published.contains(topic), "{}", show(topic));
    }
    assert!(
        sum(
            &x,
            "thriftshop_bus_consumed_total",
            &[("group", shop_order::PROCESSOR_GROUP)]
        ) >= 2.0,
        "{}",
        show("order processor")
    );
    // Consumer lag of the embedded log, reported by the runners (a gauge per group and topic).
    let lag = x.value(
        "thriftshop_bus_consumer_lag_messages",
        &[
            ("group", shop_order::PROCESSOR_GROUP),
            ("topic", "shop.order.v1"),
        ],
    );
    assert!(lag.is_some_and(|n| n >= 0.0), "{}", show("consumer lag"));

    shop.stop().await;
}
