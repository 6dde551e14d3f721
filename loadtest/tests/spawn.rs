//! The generator against the real all-in-one shop in this process, at a low rate for a couple of seconds.
//! Asserts that requests succeed and the report has the operations; no timing assertions.
use std::time::Duration;

use shop_loadtest::{
    Session,
    scenario::Scenario,
    schedule::{ArrivalKind, LoadSpec},
    spawn::SpawnedShop,
    world::SetupOptions,
};

fn spec(rate: f64) -> LoadSpec {
    LoadSpec {
        rate,
        arrival: ArrivalKind::Poisson,
        warmup: Duration::from_millis(500),
        duration: Duration::from_secs(2),
        max_in_flight: 200,
        timeout: Duration::from_secs(20),
        seed: 7,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_run_against_the_spawned_shop() {
    let shop = SpawnedShop::start(2).await.expect("shop starts");

    let setup = SetupOptions {
        scenario: Scenario::ThriftShopMix,
        customers: 3,
        lag_sample: 1.0,
        ..SetupOptions::default()
    };
    let session = Session::new(&shop.url, setup, 200, vec!["test".into()])
        .await
        .expect("setup");
    assert!(
        session.world.products.len() >= 100,
        "the demo catalog is discovered"
    );
    assert_eq!(session.world.customers.len(), 3);
    let r = session.run(&spec(50.0)).await;
    println!("{}", r.to_text());
    let all = &r.overall;
    assert!(all.count >= 80, "{} arrivals", all.count);
    assert_eq!(all.transport_errors + all.timeouts + all.dropped, 0);
    assert!(
        all.errors.is_empty(),
        "no top-level errors: {:?}",
        r.operations
            .iter()
            .filter(|o| !o.errors.is_empty())
            .map(|o| (&o.name, &o.errors))
            .collect::<Vec<_>>()
    );
    assert!(all.ok * 10 >= all.count * 9, "at least 90% ok: {all:?}");
    let names: Vec<&str> = r.operations.iter().map(|o| o.name.as_str()).collect();
    for op in [
        "products",
        "productByHandle",
        "cartCreate",
        "cart",
        "customerOrders",
    ] {
        assert!(names.contains(&op), "{op} missing from {names:?}");
    }
    let json = serde_json::to_value(&r).unwrap();
    assert!(json["overall"]["p99_ms"].is_number());

    // The flash sale and the catalog-read query run too.
    for scenario in [Scenario::FlashSale, Scenario::CatalogRead] {
        let setup = SetupOptions {
            scenario,
            customers: 2,
            ..SetupOptions::default()
        };
        let session = Session::new(&shop.url, setup, 200, vec![])
            .await
            .expect("setup");
        let r = session.run(&spec(30.0)).await;
        println!("{}", r.to_text());
        assert!(r.overall.count > 0);
        assert!(
            r.overall.errors.is_empty(),
            "{scenario:?}: {:?}",
            r.overall.errors
        );
        if scenario == Scenario::FlashSale {
            let sale = &r.facts["flash_sale"];
            assert!(sale["available_at_start"].as_i64().unwrap() > 0, "{sale}");
            assert_eq!(sale["oversold"], false, "{sale}");
        }
    }
    shop.stop().await;
}
