//! Crash safety: the real binary is SIGKILLed at random moments during a checkout storm and restarted on the
//! same data. Acknowledged orders survive, every interrupted saga is resumed to a settled outcome, no stock is
//! left reserved, and the stock sold reconciles exactly with the paid orders. The same storm runs on the embedded
//! engines and on real Kafka + Cassandra, where a kill also lands between storing events and publishing them: the
//! outbox relay publishes them after the restart, or the sagas waiting for them would never settle.
use std::{
    net::{SocketAddr, TcpListener},
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::{Value, json};
use shop_idl::inventory;
use shop_rpc::{build_client, call};

/// The tests of this file load the machine heavily: they run one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const STOCK: i64 = 60;
const BUYERS: usize = 120;
const CYCLES: usize = 4;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Ports {
    gateway: SocketAddr,
    services: Vec<(&'static str, SocketAddr)>,
}

impl Ports {
    fn new() -> Self {
        let at = |p| SocketAddr::from(([127, 0, 0, 1], p));
        Self {
            gateway: at(free_port()),
            services: [
                "catalog",
                "inventory",
                "cart",
                "order",
                "user",
                "session",
                "recommender",
            ]
            .into_iter()
            .map(|s| (s, at(free_port())))
            .collect(),
        }
    }

    fn inventory(&self) -> SocketAddr {
        self.services
            .iter()
            .find(|(n, _)| *n == "inventory")
            .unwrap()
            .1
    }
}

/// The service keys the shop process created in its data directory (the test calls services as `admin`).
fn service_keys(data: &Path) -> shop_rpc::auth::ServiceAuth {
    let mut ring = shop_rpc::auth::KeyRing::default();
    ring.merge_file(&data.join("service-keys.toml"))
        .expect("the shop wrote its service keys");
    shop_rpc::auth::ServiceAuth::new(ring, Default::default())
}

fn start(data: &Path, ports: &Ports, engines: &[(String, String)]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_thriftshop"));
    cmd.envs(engines.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    cmd.env("THRIFTSHOP__DATA_DIR", data)
        .env("THRIFTSHOP__GATEWAY__LISTEN", ports.gateway.to_string())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (name, addr) in &ports.services {
        cmd.env(
            format!("THRIFTSHOP__SERVICES__{}", name.to_uppercase()),
            addr.to_string(),
        );
    }
    cmd.spawn().expect("the binary starts")
}

async fn gql(http: &reqwest::Client, url: &str, query: &str, variables: Value) -> Option<Value> {
    let resp = http
        .post(url)
        .json(&json!({ "query": query, "variables": variables }))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .ok()?;
    let body: Value = resp.json().await.ok()?;
    assert!(
        body.get("errors")
            .is_none_or(|e| e.as_array().is_none_or(|a| a.is_empty())),
        "GraphQL errors: {body}"
    );
    Some(body["data"].clone())
}

async fn wait_ready(http: &reqwest::Client, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(180);
    while Instant::now() < deadline {
        if gql(
            http,
            url,
            "{ products(first: 1) { edges { node { id } } } }",
            json!({}),
        )
        .await
        .is_some()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the shop did not become ready");
}

async fn stock(keys: &shop_rpc::auth::ServiceAuth, ports: &Ports, variant: &str) -> (i64, i64) {
    let client = build_client!(
        inventory::InventoryServiceClientBuilder,
        "inventory",
        ports.inventory(),
        shop_rpc::ClientSettings::default(),
        keys.credentials(shop_rpc::auth::Identity::Admin).unwrap()
    );
    let levels = call(
        "inventory",
        client
            .get_stock(inventory::GetStockRequest {
                variant_ids: vec![variant.to_string().into()],
            })
            .await,
    )
    .expect("stock");
    let l = &levels.levels[0];
    (l.on_hand, l.reserved)
}

const CHECKOUT: &str = r#"mutation($cartId: ID!, $key: String!, $card: String!) {
  cartCheckout(cartId: $cartId, payment: { token: $card }, idempotencyKey: $key) {
    order { id status lineItems(first: 5) { edges { node { quantity } } } }
    userErrors { code }
  }
}"#;

/// A buyer: a guest cart and the checkout key it uses, and what it was told before a crash.
struct Attempt {
    cart_id: String,
    key: String,
    card: &'static str,
    quantity: i64,
    acknowledged: Option<(String, String)>,
}

/// Retries a checkout with its key until the outcome is settled; returns (order id, status) or None when the
/// checkout was refused before an order existed (e.g. out of stock at cart time is not possible here).
async fn settle(http: &reqwest::Client, url: &str, a: &Attempt) -> Option<(String, String)> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let vars = json!({ "cartId": a.cart_id, "key": a.key, "card": a.card });
        if let Some(d) = gql(http, url, CHECKOUT, vars).await {
            let r = &d["cartCheckout"];
            let code = r["userErrors"][0]["code"].as_str().unwrap_or("");
            let status = r["order"]["status"].as_str().unwrap_or("");
            if code != "IDEMPOTENCY_KEY_IN_USE" && status != "PENDING" {
                return r["order"]["id"]
                    .as_str()
                    .map(|id| (id.to_string(), status.to_string()));
            }
        }
        assert!(
            Instant::now() < deadline,
            "checkout {} never settled",
            a.key
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_checkout_storm_loses_nothing() {
    let _serial = SERIAL.lock().await;
    storm_with_kills(Vec::new(), CYCLES).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_checkout_storm_loses_nothing_on_kafka_and_cassandra() {
    let _serial = SERIAL.lock().await;
    let (Some(brokers), Some(nodes)) = (
        shop_kernel::test_engine("THRIFTSHOP_TEST_KAFKA"),
        shop_kernel::test_engine("THRIFTSHOP_TEST_CASSANDRA"),
    ) else {
        return;
    };
    let id = shop_kernel::ids::new_id();
    let run = &id[id.len() - 12..];
    let engines = [
        ("THRIFTSHOP__BUS", "kafka".to_string()),
        ("THRIFTSHOP__KAFKA__BROKERS", brokers),
        ("THRIFTSHOP__KAFKA__PARTITIONS", "3".to_string()),
        ("THRIFTSHOP__KAFKA__NAMESPACE", format!("crash-{run}")),
        ("THRIFTSHOP__STORE", "cassandra".to_string()),
        ("THRIFTSHOP__CASSANDRA__NODES", nodes),
        (
            "THRIFTSHOP__CASSANDRA__KEYSPACE_PREFIX",
            format!("crash_{run}"),
        ),
    ];
    storm_with_kills(
        engines
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        2,
    )
    .await;
}

/// The storm; returns the product and variant ids, the paid orders and the units they sold.
async fn storm_with_kills(
    engines: Vec<(String, String)>,
    cycles: usize,
) -> (String, String, i64, i64) {
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("crash seed {seed} (set CRASH_SEED to replay)");
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports::new();
    let url = format!("http://{}/graphql", ports.gateway);
    let http = reqwest::Client::new();

    let mut shop = start(dir.path(), &ports, &engines);
    wait_ready(&http, &url).await;
    let page = gql(
        &http,
        &url,
        "{ products(first: 30) { edges { node { id variants(first: 1) { edges { node { id } } } } } } }",
        json!({}),
    )
    .await
    .unwrap();
    let gid = page["products"]["edges"][17]["node"]["variants"]["edges"][0]["node"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let variant = gid.rsplit('/').next().unwrap().to_string();
    let product = page["products"]["edges"][17]["node"]["id"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let keys = service_keys(dir.path());
    thriftshop::admin::set_stock(&keys, ports.inventory(), &variant, STOCK)
        .await
        .expect("set stock");

    // Every buyer fills a guest cart first (carts hold no stock), while the stock is still there.
    let mut attempts: Vec<Attempt> = Vec::new();
    for i in 0..BUYERS {
        let quantity = rng.random_range(1..=2);
        let cart = gql(
            &http,
            &url,
            "mutation($i: CartInput!) { cartCreate(input: $i) { cart { id } } }",
            json!({ "i": { "lines": [ { "merchandiseId": gid, "quantity": quantity } ] } }),
        )
        .await
        .expect("cart");
        let card = if rng.random_bool(0.15) {
            "4000000000000002"
        } else {
            "4242424242424242"
        };
        attempts.push(Attempt {
            cart_id: cart["cartCreate"]["cart"]["id"]
                .as_str()
                .expect("cart created")
                .to_string(),
            key: format!("crash-{i}"),
            card,
            quantity,
            acknowledged: None,
        });
    }
    for (cycle, batch) in attempts.chunks_mut(BUYERS / cycles).enumerate() {
        // Fire this cycle's checkouts at once and kill the process mid-way.
        let kill_after = Duration::from_millis(rng.random_range(5..400));
        let storm = futures::future::join_all(batch.iter().map(|a| {
            let http = http.clone();
            let url = url.clone();
            let vars = json!({ "cartId": a.cart_id, "key": a.key, "card": a.card });
            async move {
                let d = gql(&http, &url, CHECKOUT, vars).await?;
                let r = &d["cartCheckout"];
                let status = r["order"]["status"].as_str()?;
                (status == "PAID" || status == "FAILED").then(|| {
                    (
                        r["order"]["id"].as_str().unwrap().to_string(),
                        status.to_string(),
                    )
                })
            }
        }));
        let killer = async {
            tokio::time::sleep(kill_after).await;
            shop.kill().expect("SIGKILL");
            shop.wait().expect("reaped");
        };
        let (outcomes, ()) = tokio::join!(storm, killer);
        let acked = outcomes.iter().filter(|o| o.is_some()).count();
        eprintln!(
            "cycle {cycle}: killed after {} ms; {acked} of {} checkouts had answered",
            kill_after.as_millis(),
            batch.len()
        );
        for (a, o) in batch.iter_mut().zip(outcomes) {
            a.acknowledged = o;
        }
        shop = start(dir.path(), &ports, &engines);
        wait_ready(&http, &url).await;
    }

    // Every checkout settles (interrupted sagas resume; lost requests are retried with their key).
    let mut sold = 0;
    let mut paid = 0;
    for a in &attempts {
        let outcome = settle(&http, &url, a).await;
        if let Some(before) = &a.acknowledged {
            assert_eq!(
                outcome.as_ref(),
                Some(before),
                "an acknowledged outcome survives the crash ({})",
                a.key
            );
        }
        if let Some((_, status)) = &outcome
            && status == "PAID"
        {
            sold += a.quantity;
            paid += 1;
        }
    }
    // Reservations of interrupted sagas were committed or released: nothing stays held.
    let (on_hand, reserved) = stock(&keys, &ports, &variant).await;
    eprintln!("{paid} paid orders, {sold} units sold; on hand {on_hand}, reserved {reserved}");
    assert_eq!(reserved, 0, "no reservation is left behind");
    assert_eq!(
        on_hand,
        STOCK - sold,
        "stock reconciles with the paid orders"
    );
    assert!(sold <= STOCK);
    shop.kill().ok();
    shop.wait().ok();
    (product, variant, paid, sold)
}
