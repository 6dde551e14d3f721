//! The recommender over Thrift: orders are fed through an in-memory bus as encoded `order.placed.v1` events;
//! every method is called through the generated client (happy paths, access rule, typed errors).
//! The catalog peer is not running, so the popular fallback degrades to the sold products.
use std::{net::SocketAddr, time::Duration};

use shop_bus::{AnyBus, EventBus, Message, memory::MemoryBus};
use shop_idl::{
    common,
    events::{OrderEvent, OrderLineSnapshot, OrderPlaced},
    recommender::*,
};
use shop_kernel::{Actor, Error};
use shop_rpc::{ClientSettings, ServiceAddrs, ServiceOptions, Storage};
use tokio_util::sync::CancellationToken;

fn placed(customer: Option<&str>, lines: &[(&str, i64)]) -> Message {
    let order_id = shop_kernel::ids::new_id();
    let ev = OrderEvent::Placed(OrderPlaced {
        order_id: order_id.clone().into(),
        customer_id: customer.map(|c| c.to_string().into()),
        lines: lines
            .iter()
            .enumerate()
            .map(|(i, (p, q))| OrderLineSnapshot {
                line_id: format!("l{i}").into(),
                variant_id: format!("v-{p}").into(),
                product_id: p.to_string().into(),
                title: "Thing".into(),
                sku: "SKU".into(),
                quantity: *q,
                unit_price: common::Money {
                    amount_minor: 999,
                    currency: "USD".into(),
                },
            })
            .collect(),
        total: common::Money {
            amount_minor: 999,
            currency: "USD".into(),
        },
    });
    Message {
        topic: "shop.order.v1".into(),
        key: order_id,
        event_id: shop_kernel::ids::new_id(),
        event_type: "order.placed.v1".into(),
        seq: 5,
        occurred_at_ms: 1,
        traceparent: None,
        payload: shop_idl::encode_event(&ev),
    }
}

fn ids(r: Result<RecommendationsResponse, Error>) -> Vec<String> {
    r.unwrap()
        .product_ids
        .iter()
        .map(|p| p.to_string())
        .collect()
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[tokio::test]
async fn recommendations_over_thrift() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let unused: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let bus = MemoryBus::new();
    let auth = shop_rpc::auth::ServiceAuth::ephemeral();
    let opts = ServiceOptions {
        storage: Storage::Memory,
        peers: ServiceAddrs {
            catalog: unused,
            inventory: unused,
            cart: unused,
            order: unused,
            user: unused,
            session: unused,
            recommender: addr,
        },
        client: ClientSettings {
            connect_timeout: Duration::from_millis(200),
            ..Default::default()
        },
        bus: AnyBus::Memory(bus.clone()),
        tuning: shop_rpc::Tuning::default(),
        ready: Default::default(),
        metrics: Default::default(),
        auth: auth.clone(),
    };
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(shop_recommender::run(opts, listener, shutdown.clone()));
    let client = shop_rpc::build_client!(
        RecommenderServiceClientBuilder,
        "recommender",
        addr,
        ClientSettings::default(),
        auth.credentials(shop_rpc::auth::Identity::Gateway).unwrap()
    );

    // Fresh shop, catalog unreachable: nothing to recommend, but no error.
    assert!(
        ids(shop_rpc::call(
            "recommender",
            client.popular(PopularRequest { limit: 5 }).await
        ))
        .is_empty()
    );

    let mut garbage = placed(None, &[]);
    garbage.payload = bytes::Bytes::from_static(b"\x01\x02not thrift");
    let mut other = placed(None, &[("p9", 100)]);
    other.event_type = "order.created.v1".into();
    bus.publish(vec![
        garbage,
        other,
        placed(Some("c1"), &[("p1", 1), ("p2", 2)]),
        placed(Some("c2"), &[("p1", 1), ("p3", 1)]),
        placed(Some("c3"), &[("p1", 1), ("p2", 1)]),
        placed(None, &[("p4", 10)]),
    ])
    .await
    .unwrap();

    let mut popular = Vec::new();
    for _ in 0..100 {
        popular = ids(shop_rpc::call(
            "recommender",
            client.popular(PopularRequest { limit: 10 }).await,
        ));
        if popular.len() == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(popular, s(&["p4", "p1", "p2", "p3"]));
    assert_eq!(
        ids(shop_rpc::call(
            "recommender",
            client.popular(PopularRequest { limit: 2 }).await
        )),
        s(&["p4", "p1"])
    );

    let related = |p: &str, limit: i32| RelatedRequest {
        product_id: p.to_string().into(),
        limit,
    };
    assert_eq!(
        ids(shop_rpc::call(
            "recommender",
            client.related(related("p1", 3)).await
        )),
        s(&["p2", "p3", "p4"])
    );
    assert_eq!(
        ids(shop_rpc::call(
            "recommender",
            client.related(related("p2", 1)).await
        )),
        s(&["p1"])
    );
    assert_eq!(
        ids(shop_rpc::call(
            "recommender",
            client.related(related("nobody-bought", 2)).await
        )),
        s(&["p4", "p1"])
    );

    let for_c1 = || ForCustomerRequest {
        customer_id: "c1".into(),
        limit: 3,
    };
    let as_c1 = shop_rpc::with_actor(&Actor::customer("c1"), client.for_customer(for_c1())).await;
    assert_eq!(ids(shop_rpc::call("recommender", as_c1)), s(&["p3", "p4"]));
    let as_system = shop_rpc::with_actor(&Actor::internal(), client.for_customer(for_c1())).await;
    assert_eq!(
        ids(shop_rpc::call("recommender", as_system)),
        s(&["p3", "p4"])
    );
    // Someone else (or a guest) learns nothing.
    let as_c2 = shop_rpc::with_actor(&Actor::customer("c2"), client.for_customer(for_c1())).await;
    assert!(ids(shop_rpc::call("recommender", as_c2)).is_empty());
    assert!(
        ids(shop_rpc::call(
            "recommender",
            client.for_customer(for_c1()).await
        ))
        .is_empty()
    );

    // Typed errors.
    for limit in [0, -1, 51] {
        let e = shop_rpc::call(
            "recommender",
            client.popular(PopularRequest { limit }).await,
        )
        .unwrap_err();
        assert_eq!(
            (e.kind, e.code.as_ref(), e.field.clone()),
            (
                shop_kernel::ErrorKind::InvalidArgument,
                "INVALID_LIMIT",
                s(&["limit"])
            )
        );
    }
    let e = shop_rpc::call("recommender", client.related(related("p1", 0)).await).unwrap_err();
    assert_eq!(e.code, "INVALID_LIMIT");
    let e = shop_rpc::call("recommender", client.related(related("bad id!", 5)).await).unwrap_err();
    assert_eq!(
        (e.code.as_ref(), e.field.clone()),
        ("INVALID_ID", s(&["product_id"]))
    );
    let bad_customer = ForCustomerRequest {
        customer_id: "".into(),
        limit: 5,
    };
    let e = shop_rpc::call("recommender", client.for_customer(bad_customer).await).unwrap_err();
    assert_eq!(
        (e.code.as_ref(), e.field.clone()),
        ("INVALID_ID", s(&["customer_id"]))
    );
    let e = shop_rpc::call(
        "recommender",
        client
            .for_customer(ForCustomerRequest {
                customer_id: "c1".into(),
                limit: 99,
            })
            .await,
    )
    .unwrap_err();
    assert_eq!(e.code, "INVALID_LIMIT");

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
