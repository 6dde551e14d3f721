//! End-to-end on a real Kafka (`THRIFTSHOP_TEST_KAFKA=host:port`), and on Kafka + Cassandra
//! (`THRIFTSHOP_TEST_CASSANDRA=host:port`): the assembled shop sells two products in three requests, a declined
//! card leaves stock and cart as they were, a retried key replays its order, and the recommender's co-purchase
//! projection — fed only through Kafka (outbox relay → topic → consumer group) — then relates the two products.
//! On Cassandra the shop is also restarted and still has its customers, orders and stock.
mod common;

/// The tests of this file load the machine heavily: they run one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

use std::time::{Duration, Instant};

use common::*;
use thriftshop::config::BusKind;

const RELATED: &str = "query($id: ID!) { productRecommendations(productId: $id) { id } }";

async fn first_related(c: &mut Client, product_id: &str) -> Option<String> {
    let d = c.data(RELATED, json!({ "id": product_id })).await;
    d["productRecommendations"][0]["id"]
        .as_str()
        .map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purchase_reaches_projections_through_kafka() {
    let _serial = SERIAL.lock().await;
    let Some(brokers) = shop_kernel::test_engine("THRIFTSHOP_TEST_KAFKA") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.bus = BusKind::Kafka;
    cfg.kafka.brokers = brokers;
    cfg.kafka.partitions = 3;
    cfg.kafka.namespace = format!("e2e-{}", shop_kernel::ids::new_id());
    journey(cfg, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journey_on_kafka_and_cassandra() {
    let _serial = SERIAL.lock().await;
    let (Some(brokers), Some(nodes)) = (
        shop_kernel::test_engine("THRIFTSHOP_TEST_KAFKA"),
        shop_kernel::test_engine("THRIFTSHOP_TEST_CASSANDRA"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    journey(cluster_config(dir.path(), &brokers, &nodes), true).await;
}

async fn journey(cfg: Config, restart: bool) {
    let started = Instant::now();
    let shop = Shop::start(cfg.clone()).await.expect("shop starts");
    eprintln!("shop ready in {} ms", started.elapsed().as_millis());
    let mut c = Client::new(&shop);

    // Two products from the middle of the landing page (so no fallback ranking relates them by accident).
    let landing = c.data(LANDING, json!({})).await;
    let products = landing["products"]["edges"].as_array().unwrap();
    let pick = |i: usize| {
        let p = &products[i]["node"];
        let v = p["variants"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| &v["node"])
            .find(|v| v["quantityAvailable"].as_i64().unwrap_or(0) >= 1)
            .expect("an in-stock variant");
        (
            p["id"].as_str().unwrap().to_string(),
            v["id"].as_str().unwrap().to_string(),
        )
    };
    let (p0, v0) = pick(7);
    let (p1, v1) = pick(13);
    assert_ne!(
        first_related(&mut c, &p0).await.as_deref(),
        Some(p1.as_str()),
        "before any order the products are unrelated"
    );

    let cart = c
        .data(
            &cart_create(),
            json!({ "input": { "lines": [ { "merchandiseId": v0, "quantity": 1 }, { "merchandiseId": v1, "quantity": 1 } ] } }),
        )
        .await;
    let cart_id = cart["cartCreate"]["cart"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let paid = c
        .data(
            CHECKOUT,
            json!({ "cartId": cart_id, "payment": { "token": "4242424242424242" }, "key": "kafka-1" }),
        )
        .await;
    assert_eq!(paid["cartCheckout"]["order"]["status"], "PAID", "{paid}");
    let placed = Instant::now();
    let order_id = paid["cartCheckout"]["order"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    // The same key again: the same order, nothing charged or sold twice.
    let again = c
        .data(
            CHECKOUT,
            json!({ "cartId": cart_id, "payment": { "token": "4242424242424242" }, "key": "kafka-1" }),
        )
        .await;
    assert_eq!(
        again["cartCheckout"]["order"]["id"],
        order_id.as_str(),
        "{again}"
    );
    let after_sale = stock_of(&mut c, &[v0.clone(), v1.clone()]).await;

    // A declined card: FAILED, stock untouched, the cart open again.
    let cart2 = c
        .data(
            &cart_create(),
            json!({ "input": { "lines": [ { "merchandiseId": v0, "quantity": 1 } ] } }),
        )
        .await;
    let declined = c
        .data(
            CHECKOUT,
            json!({ "cartId": cart2["cartCreate"]["cart"]["id"], "payment": { "token": "4000000000000002" }, "key": "kafka-2" }),
        )
        .await;
    assert_eq!(
        declined["cartCheckout"]["userErrors"][0]["code"], "CARD_DECLINED",
        "{declined}"
    );
    assert_eq!(
        stock_of(&mut c, &[v0.clone(), v1.clone()]).await,
        after_sale
    );

    // On Cassandra, the stock read model (fed from Kafka) converges to what the inventory service says.
    if let Some(projections) = &shop.projections {
        use shop_projections::ProjectionStore;
        let raw: Vec<String> = [&v0, &v1]
            .iter()
            .map(|g| g.rsplit('/').next().unwrap().to_string())
            .collect();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let rows = projections
                .store()
                .stock_levels(&raw)
                .await
                .expect("read model");
            let available: Vec<i64> = raw
                .iter()
                .map(|id| {
                    rows.iter()
                        .find(|r| &r.variant_id == id)
                        .map_or(-1, |r| r.on_hand - r.reserved)
                })
                .collect();
            if available == after_sale {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "stock projection stuck at {available:?}, want {after_sale:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for p in shop_projections::Projector::ALL {
            eprintln!("projection {p:?}: {:?}", projections.lag(p));
        }
    }

    // The co-purchase projection learns of the order only through Kafka.
    let deadline = placed + Duration::from_secs(60);
    loop {
        let r0 = first_related(&mut c, &p0).await;
        let r1 = first_related(&mut c, &p1).await;
        if r0.as_deref() == Some(p1.as_str()) && r1.as_deref() == Some(p0.as_str()) {
            eprintln!(
                "order visible in the recommender projection {} ms after checkout",
                placed.elapsed().as_millis()
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "projection never saw the order: related({p0}) = {r0:?}, related({p1}) = {r1:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    shop.stop().await;

    if restart {
        // Everything acknowledged is still there after a restart on the same keyspaces and topics.
        let shop = Shop::start(cfg).await.expect("shop restarts");
        let mut c = Client::new(&shop);
        let order = c
            .data(
                "query($id: ID!) { order(id: $id) { status } }",
                json!({ "id": order_id }),
            )
            .await;
        assert_eq!(order["order"]["status"], "PAID", "{order}");
        assert_eq!(stock_of(&mut c, &[v0, v1]).await, after_sale);
        shop.stop().await;
    }
}
