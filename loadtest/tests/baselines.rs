//! Baselines in the same run: a short, low-rate run of each, and the report's `baselines` section with ratios.
//! No timing assertions beyond sanity (non-zero rate, p50 ≤ p99).
use std::{collections::HashSet, sync::atomic::Ordering, time::Duration};

use serde_json::{Value, json};
use shop_loadtest::{
    Session,
    baseline::{Baseline, Baselines, Target, ThriftAddrs, ThriftDirect},
    gql::Gql,
    measure,
    report::{BaselineReport, OpReport},
    scenario::Scenario,
    schedule::{ArrivalKind, LoadSpec},
    spawn::SpawnedShop,
    world::{CATALOG_HEAVY, SetupOptions},
};

fn spec(rate: f64, secs: f64) -> LoadSpec {
    LoadSpec {
        rate,
        arrival: ArrivalKind::Constant,
        warmup: Duration::from_millis(300),
        duration: Duration::from_secs_f64(secs),
        max_in_flight: 100,
        timeout: Duration::from_secs(20),
        seed: 3,
    }
}

/// Every request answered, none failed, a positive achieved rate near the offered one, p50 ≤ p99.
fn assert_sane(what: &str, r: &OpReport, expected: u64) {
    assert_eq!(r.count, expected, "{what}: arrivals in the window: {r:?}");
    assert_eq!(r.ok, r.count, "{what}: every request ok: {r:?}");
    assert_eq!(r.failures(), 0, "{what}: no errors, timeouts, drops: {r:?}");
    assert!(
        r.achieved_rps > 0.8 * r.offered_rps && r.offered_rps > 0.0,
        "{what}: achieved {} of {} req/s",
        r.achieved_rps,
        r.offered_rps
    );
    assert!(
        0.0 < r.p50_ms && r.p50_ms <= r.p99_ms && r.p99_ms <= r.max_ms,
        "{what}: p50 {} p99 {} max {}",
        r.p50_ms,
        r.p99_ms,
        r.max_ms
    );
}

/// The echo baseline alone (no shop): the same runner and recording as scenarios.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_baseline_measures_an_in_process_http_server() {
    let client = Gql::new("http://127.0.0.1:1/graphql", 100).unwrap();
    let b = Baselines::start(&[Baseline::Echo, Baseline::Echo], &client, 1, None)
        .await
        .expect("the echo server starts");
    assert_eq!(b.targets.len(), 1, "duplicates are ignored");
    let target = b.targets[0].clone();
    let Target::Echo { gql, server } = &*target else {
        panic!("not the echo")
    };
    assert!(gql.url().ends_with("/echo"), "{}", gql.url());
    let served = server.served.clone();

    let s = spec(100.0, 1.0);
    let t = target.clone();
    let (m, usage) = measure(
        &s,
        |_| "echo",
        move |_| {
            let t = t.clone();
            async move { t.exec().await }
        },
    )
    .await;
    let r = BaselineReport::new("echo", Baseline::Echo.what(), &m, usage);
    assert_sane("echo", &r.overall, 100);
    assert!(r.overall.p99_ms < 1000.0, "{:?}", r.overall);
    assert_eq!(
        served.load(Ordering::Relaxed),
        1 + 30 + 100,
        "check, warm-up, window"
    );

    // A thrift-direct baseline needs addresses, and fails up front when nothing answers there.
    assert!(
        Baselines::start(&[Baseline::ThriftDirect], &client, 1, None)
            .await
            .is_err()
    );
    let nowhere = "127.0.0.1:1".parse().unwrap();
    assert!(
        Baselines::start(
            &[Baseline::ThriftDirect],
            &client,
            1,
            Some(ThriftAddrs {
                catalog: nowhere,
                inventory: nowhere,
                credentials: shop_rpc::auth::Credentials::none(),
            })
        )
        .await
        .is_err()
    );
}

fn gid_tail(v: &Value) -> String {
    v.as_str().unwrap().rsplit('/').next().unwrap().to_string()
}

/// Against the spawned shop: thrift-direct fetches the catalog-read query's data, and a catalog-read run with
/// both baselines reports them with sane figures and ratios.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_read_run_reports_baselines_and_ratios() {
    let shop = SpawnedShop::start(2).await.expect("shop starts");
    let addrs = ThriftAddrs {
        catalog: shop.services.catalog,
        inventory: shop.services.inventory,
        credentials: shop
            .auth
            .credentials(shop_rpc::auth::Identity::Gateway)
            .unwrap(),
    };

    // The direct calls fetch what the GraphQL query shows: the same products in the same order, as many
    // variants and distinct collections, and stock for every shown variant.
    let gql = Gql::new(&shop.url, 10).unwrap();
    let data = gql.data(CATALOG_HEAVY, &json!({}), None).await.unwrap();
    let edges = data["products"]["edges"].as_array().unwrap();
    let ids: Vec<String> = edges.iter().map(|e| gid_tail(&e["node"]["id"])).collect();
    let variants: usize = edges
        .iter()
        .map(|e| e["node"]["variants"]["edges"].as_array().unwrap().len())
        .sum();
    let collections: HashSet<&str> = edges
        .iter()
        .flat_map(|e| e["node"]["collections"]["edges"].as_array().unwrap())
        .map(|c| c["node"]["handle"].as_str().unwrap())
        .collect();
    let fetched = ThriftDirect::new(addrs.catalog, addrs.inventory, addrs.credentials.clone())
        .fetch()
        .await
        .expect("direct fetch");
    assert_eq!(ids.len(), 20);
    assert_eq!(fetched.products, ids, "same products, same order");
    assert_eq!(fetched.variants, variants);
    assert_eq!(fetched.collections, collections.len());
    assert!(fetched.stock_levels >= variants, "{fetched:?}");

    let setup = SetupOptions {
        scenario: Scenario::CatalogRead,
        customers: 0,
        ..SetupOptions::default()
    };
    let session = Session::new(&shop.url, setup, 100, vec!["test".into()])
        .await
        .expect("setup");
    let baselines = Baselines::start(&Baseline::ALL, &session.world.gql, 2, Some(addrs))
        .await
        .expect("baselines start");
    let Target::Echo { server, .. } = &*baselines.targets[0] else {
        panic!("echo comes first")
    };
    let served = server.served.clone();
    let session = session.with_baselines(baselines);
    let r = session.run(&spec(20.0, 1.5)).await;
    println!("{}", r.to_text());

    assert_sane("catalog-read", &r.overall, 30);
    let names: Vec<&str> = r.baselines.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["echo", "thrift-direct"]);
    for b in &r.baselines {
        assert_sane(&b.name, &b.overall, 30);
        assert_eq!(b.overall.offered_rps, r.overall.offered_rps, "same rate");
        for (what, x) in [
            ("p50", b.ratio.p50),
            ("p99", b.ratio.p99),
            ("rps", b.ratio.achieved_rps),
        ] {
            let x = x.unwrap_or_else(|| panic!("{} {what} ratio", b.name));
            assert!(x.is_finite() && x > 0.0, "{} {what} ratio {x}", b.name);
        }
        let want = r.overall.p99_ms / b.overall.p99_ms;
        assert!((b.ratio.p99.unwrap() - want).abs() < 1e-9);
    }
    let echo = &r.baselines[0].overall;
    assert!(
        echo.p50_ms < r.overall.p50_ms,
        "an echo is cheaper than the heavy catalog query: {} vs {} ms",
        echo.p50_ms,
        r.overall.p50_ms
    );

    let json = serde_json::to_value(&r).unwrap();
    let b = json["baselines"].as_array().expect("baselines in the JSON");
    assert_eq!(b.len(), 2);
    for x in b {
        assert!(x["overall"]["achieved_rps"].as_f64().unwrap() > 0.0);
        assert!(x["ratio"]["p99"].as_f64().unwrap() > 0.0);
        assert!(x["what"].as_str().unwrap().len() > 10);
    }
    assert!(r.to_text().contains("baselines ("));
    // The echo server really answered them: the set-up check, the warm-up's 6 and the window's 30.
    assert_eq!(served.load(Ordering::Relaxed), 1 + 6 + 30);
    shop.stop().await;
}
