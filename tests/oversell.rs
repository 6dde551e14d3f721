//! No oversell, under contention, over real HTTP: rounds of 200 concurrent checkouts by distinct signed-in
//! customers at one variant with 50 units, with random quantities and some declined cards. In every round the
//! units sold never exceed the stock, declines leave nothing behind, and the stock left reconciles exactly with
//! the orders placed. The same rounds run on the embedded engines and (fewer of them) on real Kafka + Cassandra.
mod common;

/// The tests of this file load the machine heavily: they run one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

use std::sync::Arc;

use common::*;
use rand::{Rng, SeedableRng, rngs::StdRng};

/// The shape of a run: rounds of `buyers` concurrent checkouts at a variant with `stock` units.
#[derive(Clone, Copy)]
struct Shape {
    rounds: usize,
    buyers: usize,
    stock: i64,
}

async fn sign_up(shop: &Shop, n: usize) -> Client {
    let mut c = Client::new(shop);
    let email = format!("buyer{n}@example.com");
    c.data(
        "mutation($i: CustomerCreateInput!) { customerCreate(input: $i) { userErrors { code } } }",
        json!({ "i": { "email": email, "password": "correct horse battery", "firstName": "B", "lastName": "N" } }),
    )
    .await;
    let login = c
        .data(
            "mutation($i: CustomerAccessTokenCreateInput!) { customerAccessTokenCreate(input: $i) { customerAccessToken { accessToken } } }",
            json!({ "i": { "email": email, "password": "correct horse battery" } }),
        )
        .await;
    c.token = Some(
        login["customerAccessTokenCreate"]["customerAccessToken"]["accessToken"]
            .as_str()
            .expect("token")
            .to_string(),
    );
    c
}

/// What one buyer's checkout ended as.
#[derive(Debug)]
enum Outcome {
    Paid { order_id: String, quantity: i64 },
    Declined,
    OutOfStock,
}

/// A buyer's cart with `quantity` units of `variant`; returns the cart id and the units it holds.
async fn fill_cart(c: &mut Client, variant: &str, quantity: i64) -> (String, i64) {
    let cart = c
        .data(
            &cart_create(),
            json!({ "input": { "lines": [ { "merchandiseId": variant, "quantity": quantity } ] } }),
        )
        .await;
    let cart = &cart["cartCreate"]["cart"];
    (
        cart["id"].as_str().expect("cart created").to_string(),
        cart["totalQuantity"].as_i64().unwrap(),
    )
}

async fn checkout(
    mut c: Client,
    cart_id: String,
    in_cart: i64,
    card: &'static str,
    key: String,
) -> (Client, Outcome) {
    // The checkout answers within its wait, or PENDING; then the same request (same key) is retried until
    // the first outcome is replayed.
    let mut out;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let body = c
            .gql(
                CHECKOUT,
                json!({ "cartId": cart_id, "payment": { "token": card }, "key": key }),
            )
            .await;
        // Overloaded: a real client retries with the same key, which can never double-apply.
        let unavailable = body["errors"][0]["extensions"]["code"] == "UNAVAILABLE";
        assert!(
            unavailable
                || body
                    .get("errors")
                    .is_none_or(|e| e.as_array().is_none_or(|a| a.is_empty())),
            "errors: {body}"
        );
        out = body["data"].clone();
        let r = &out["cartCheckout"];
        let pending = unavailable
            || r["order"]["status"] == "PENDING"
            || r["userErrors"][0]["code"] == "IDEMPOTENCY_KEY_IN_USE";
        if !pending {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "checkout never settled: {r}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let out = &out["cartCheckout"];
    let code = out["userErrors"][0]["code"].as_str().map(str::to_string);
    let outcome = match (out["order"]["status"].as_str(), code.as_deref()) {
        (Some("PAID"), None) => Outcome::Paid {
            order_id: out["order"]["id"].as_str().unwrap().to_string(),
            quantity: in_cart,
        },
        (_, Some("CARD_DECLINED")) => Outcome::Declined,
        (
            _,
            Some(
                "INSUFFICIENT_STOCK" | "MERCHANDISE_NOT_ENOUGH_STOCK" | "MERCHANDISE_OUT_OF_STOCK",
            ),
        ) => Outcome::OutOfStock,
        other => panic!("unexpected checkout outcome {other:?}: {out}"),
    };
    if !matches!(outcome, Outcome::Paid { .. }) {
        let status = c
            .data(
                "query($id: ID!) { cart(id: $id) { status } }",
                json!({ "id": cart_id }),
            )
            .await;
        assert_eq!(
            status["cart"]["status"], "OPEN",
            "a failed checkout reopens the cart"
        );
    }
    (c, outcome)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_checkouts_never_oversell() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let shape = Shape {
        rounds: 20,
        buyers: 200,
        stock: 50,
    };
    rounds_never_oversell(config(dir.path()), shape).await;
}

/// The same on the cluster engines: `bus = "kafka"`, `store = "cassandra"`. Smaller (every append is a Paxos
/// round on one debug-built test node); buyers retry with their key when the shop answers UNAVAILABLE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_checkouts_never_oversell_on_kafka_and_cassandra() {
    let _serial = SERIAL.lock().await;
    let (Some(brokers), Some(nodes)) = (
        shop_kernel::test_engine("THRIFTSHOP_TEST_KAFKA"),
        shop_kernel::test_engine("THRIFTSHOP_TEST_CASSANDRA"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let shape = Shape {
        rounds: 3,
        buyers: 80,
        stock: 25,
    };
    rounds_never_oversell(cluster_config(dir.path(), &brokers, &nodes), shape).await;
}

async fn rounds_never_oversell(cfg: Config, shape: Shape) {
    let Shape {
        rounds,
        buyers: n_buyers,
        stock,
    } = shape;
    let seed: u64 = std::env::var("OVERSELL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("oversell seed {seed} (set OVERSELL_SEED to replay)");
    let mut rng = StdRng::seed_from_u64(seed);

    let shop = Arc::new(Shop::start(cfg).await.expect("shop starts"));

    // Distinct signed-in customers (sign-up is slow by design: argon2id).
    let mut buyers = Vec::with_capacity(n_buyers);
    for chunk in (0..n_buyers).collect::<Vec<_>>().chunks(16) {
        let signups = chunk.iter().map(|&n| sign_up(&shop, n));
        buyers.extend(futures::future::join_all(signups).await);
    }

    // One variant per round, from deep in the catalog.
    let mut c = Client::new(&shop);
    let page = c
        .data(
            "{ products(first: 100) { edges { node { variants(first: 1) { edges { node { id } } } } } } }",
            json!({}),
        )
        .await;
    let variants: Vec<String> = page["products"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            p["node"]["variants"]["edges"][0]["node"]["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();

    let (mut total_sold, mut total_orders) = (0, 0);
    for round in 0..rounds {
        let variant = variants[round * 4 + 3].clone();
        thriftshop::admin::set_stock(&shop.auth, shop.services.inventory, &variant, stock)
            .await
            .expect("set stock");
        // Every buyer fills a cart first (carts do not hold stock), then all check out at once.
        let quantities: Vec<i64> = (0..n_buyers).map(|_| rng.random_range(1..=3)).collect();
        let carts = futures::future::join_all(
            buyers
                .iter_mut()
                .zip(&quantities)
                .map(|(b, &q)| fill_cart(b, &variant, q)),
        )
        .await;
        for ((_, held), wanted) in carts.iter().zip(&quantities) {
            assert_eq!(held, wanted, "each cart holds what its buyer asked for");
        }
        let mut tasks = Vec::with_capacity(n_buyers);
        for (i, (buyer, (cart_id, held))) in std::mem::take(&mut buyers)
            .into_iter()
            .zip(carts)
            .enumerate()
        {
            let card = if rng.random_bool(0.2) {
                "4000000000000002"
            } else {
                "4242424242424242"
            };
            let key = format!("round-{round}-buyer-{i}");
            tasks.push(tokio::spawn(checkout(buyer, cart_id, held, card, key)));
        }
        let mut sold = 0;
        let (mut paid, mut declined, mut out_of_stock) = (Vec::new(), 0, 0);
        for t in tasks {
            let (buyer, outcome) = t.await.expect("buyer task");
            buyers.push(buyer);
            match outcome {
                Outcome::Paid { order_id, quantity } => {
                    sold += quantity;
                    paid.push(order_id);
                }
                Outcome::Declined => declined += 1,
                Outcome::OutOfStock => out_of_stock += 1,
            }
        }
        let left = stock_of(&mut c, std::slice::from_ref(&variant)).await[0];
        eprintln!(
            "round {round}: {} paid ({sold} units), {declined} declined, {out_of_stock} out of stock, {left} left",
            paid.len()
        );
        assert!(sold <= stock, "round {round}: sold {sold} of {stock}");
        assert_eq!(
            left,
            stock - sold,
            "round {round}: stock reconciles with the orders"
        );
        assert!(
            out_of_stock > 0,
            "round {round}: demand exceeded stock, some buyers must miss out"
        );
        let placed = paid.len();
        paid.sort();
        paid.dedup();
        assert_eq!(
            paid.len(),
            placed,
            "round {round}: every paid checkout is its own order"
        );
        total_orders += placed;
        total_sold += sold;
    }

    // Every paid order is in its customer's history, exactly once.
    let mut listed = 0;
    for b in &mut buyers {
        let me = b
            .data(
                "{ customer { orders(first: 100) { edges { node { id status } } } } }",
                json!({}),
            )
            .await;
        for o in me["customer"]["orders"]["edges"].as_array().unwrap() {
            if o["node"]["status"] == "PAID" {
                listed += 1;
            }
        }
    }
    assert_eq!(
        listed, total_orders,
        "customers' histories list every paid order once"
    );
    eprintln!("{rounds} rounds: {total_orders} orders, {total_sold} units sold");
    Arc::try_unwrap(shop)
        .ok()
        .expect("no other owners")
        .stop()
        .await;
}
