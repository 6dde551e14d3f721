//! The inventory service over Thrift: every method through the generated client.
use std::net::SocketAddr;

use shop_idl::inventory::{self as t, InventoryServiceClient};
use shop_kernel::Actor;
use shop_rpc::{ClientSettings, ServiceAddrs, ServiceOptions, Storage, call, with_actor};
use tokio_util::sync::CancellationToken;

fn unused() -> SocketAddr {
    "127.0.0.1:9".parse().unwrap()
}

async fn start() -> (
    InventoryServiceClient,
    InventoryServiceClient,
    CancellationToken,
    tokio::task::JoinHandle<()>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let u = unused();
    let auth = shop_rpc::auth::ServiceAuth::ephemeral();
    let opts = ServiceOptions {
        storage: Storage::Memory,
        peers: ServiceAddrs {
            catalog: u,
            inventory: addr,
            cart: u,
            order: u,
            user: u,
            session: u,
            recommender: u,
        },
        client: ClientSettings::default(),
        bus: shop_bus::AnyBus::Memory(shop_bus::memory::MemoryBus::new()),
        tuning: shop_rpc::Tuning::default(),
        ready: Default::default(),
        metrics: Default::default(),
        auth: auth.clone(),
    };
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let server =
        tokio::spawn(async move { shop_inventory::run(opts, listener, token).await.unwrap() });
    // The saga's calls present the order service's credential; stock set-up, an operator's.
    let client = |identity| {
        shop_rpc::build_client!(
            t::InventoryServiceClientBuilder,
            "inventory",
            addr,
            ClientSettings::default(),
            auth.credentials(identity).unwrap()
        )
    };
    (
        client(shop_rpc::auth::Identity::Order),
        client(shop_rpc::auth::Identity::Admin),
        shutdown,
        server,
    )
}

fn system() -> Actor {
    Actor::internal()
}

fn line(v: &str, q: i64) -> t::StockLine {
    t::StockLine {
        variant_id: v.to_string().into(),
        quantity: q,
    }
}

#[tokio::test]
async fn every_method_over_thrift() {
    let (client, admin, shutdown, server) = start().await;
    let sys = system();

    let adjust = |v: &str, kind, q| t::AdjustStockRequest {
        variant_id: v.to_string().into(),
        kind,
        quantity: q,
        reason: "initial count".into(),
    };
    let level = call(
        "inventory",
        with_actor(
            &sys,
            admin.adjust_stock(adjust("a", t::AdjustmentKind::RECEIVE, 10)),
        )
        .await,
    )
    .unwrap()
    .level;
    assert_eq!((level.on_hand, level.available), (10, 10));
    call(
        "inventory",
        with_actor(
            &sys,
            admin.adjust_stock(adjust("b", t::AdjustmentKind::SET, 3)),
        )
        .await,
    )
    .unwrap();

    // Customers may not adjust.
    let e = call(
        "inventory",
        with_actor(
            &Actor::customer("c1"),
            admin.adjust_stock(adjust("a", t::AdjustmentKind::RECEIVE, 1)),
        )
        .await,
    )
    .unwrap_err();
    assert_eq!(e.code, "CALLER_NOT_ALLOWED");

    let reserve = t::ReserveRequest {
        reservation_id: "res-1".into(),
        lines: vec![line("a", 4), line("b", 3)],
        ttl_ms: None,
    };
    let r = call(
        "inventory",
        with_actor(&sys, client.reserve(reserve.clone())).await,
    )
    .unwrap()
    .reservation;
    assert_eq!(r.state, t::ReservationState::ACTIVE);
    assert_eq!(r.lines.len(), 2);
    let again = call("inventory", with_actor(&sys, client.reserve(reserve)).await)
        .unwrap()
        .reservation;
    assert_eq!(again, r);

    let short = t::ReserveRequest {
        reservation_id: "res-2".into(),
        lines: vec![line("a", 1), line("b", 1)],
        ttl_ms: None,
    };
    let e = call("inventory", with_actor(&sys, client.reserve(short)).await).unwrap_err();
    assert_eq!(
        (e.code.as_ref(), e.field.as_slice()),
        (
            "INSUFFICIENT_STOCK",
            ["lines".to_string(), "1".to_string()].as_slice()
        )
    );

    // get_stock is public; unknown variants are omitted.
    let stock = call(
        "inventory",
        client
            .get_stock(t::GetStockRequest {
                variant_ids: vec!["a".into(), "b".into(), "nope".into()],
            })
            .await,
    )
    .unwrap()
    .levels;
    assert_eq!(stock.len(), 2);
    assert_eq!((stock[0].reserved, stock[0].available), (4, 6));

    let c = call(
        "inventory",
        with_actor(
            &sys,
            client.commit(t::CommitRequest {
                reservation_id: "res-1".into(),
            }),
        )
        .await,
    )
    .unwrap()
    .reservation;
    assert_eq!(c.state, t::ReservationState::COMMITTED);
    let e = call(
        "inventory",
        with_actor(
            &sys,
            client.release(t::ReleaseRequest {
                reservation_id: "res-1".into(),
                reason: "cancel".into(),
            }),
        )
        .await,
    )
    .unwrap_err();
    assert_eq!(e.code, "RESERVATION_COMMITTED");

    // A short hold lapses by itself: the service's sweeper releases it.
    let brief = t::ReserveRequest {
        reservation_id: "res-brief".into(),
        lines: vec![line("a", 1)],
        ttl_ms: Some(100),
    };
    let held = call("inventory", with_actor(&sys, client.reserve(brief)).await)
        .unwrap()
        .reservation;
    assert!(held.expires_at_ms.is_some());
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let again = t::ReserveRequest {
            reservation_id: "res-brief".into(),
            lines: vec![line("a", 1)],
            ttl_ms: Some(100),
        };
        let r = call("inventory", with_actor(&sys, client.reserve(again)).await)
            .unwrap()
            .reservation;
        if r.state == t::ReservationState::RELEASED {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the hold never lapsed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    let r3 = t::ReserveRequest {
        reservation_id: "res-3".into(),
        lines: vec![line("a", 2)],
        ttl_ms: None,
    };
    call("inventory", with_actor(&sys, client.reserve(r3)).await).unwrap();
    let rel = call(
        "inventory",
        with_actor(
            &sys,
            client.release(t::ReleaseRequest {
                reservation_id: "res-3".into(),
                reason: "cancel".into(),
            }),
        )
        .await,
    )
    .unwrap()
    .reservation;
    assert_eq!(rel.state, t::ReservationState::RELEASED);
    let e = call(
        "inventory",
        with_actor(
            &sys,
            client.commit(t::CommitRequest {
                reservation_id: "missing".into(),
            }),
        )
        .await,
    )
    .unwrap_err();
    assert_eq!(e.code, "RESERVATION_NOT_FOUND");

    let stock = call(
        "inventory",
        client
            .get_stock(t::GetStockRequest {
                variant_ids: vec!["a".into()],
            })
            .await,
    )
    .unwrap()
    .levels;
    assert_eq!(
        (stock[0].on_hand, stock[0].reserved, stock[0].available),
        (6, 0, 6)
    );

    shutdown.cancel();
    server.await.unwrap();
}
