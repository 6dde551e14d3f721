//! The order service: checkout turns a cart into an order — reserve stock, authorize and capture payment
//! (built-in sandbox provider), purchase the cart — with compensation on every failure path, idempotency keys,
//! and the customer's order history. Orders are event-sourced (`order-<id>` streams, topic `shop.order.v1`).

pub mod app;
pub mod domain;
pub mod events;
pub mod payments;
pub mod rpc;
pub mod store;

use std::sync::Arc;

use shop_rpc::{BoxError, ServiceOptions, ShutdownIncoming};
use shop_store::EventStore;
use tokio_util::sync::CancellationToken;

/// The consumer group of the order processor.
pub const PROCESSOR_GROUP: &str = "order.processor";
/// How many sagas the processor runs at once.
pub const PROCESSOR_CONCURRENCY: usize = 64;

async fn serve<S: EventStore + Clone>(
    store: S,
    opts: ServiceOptions,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> Result<(), BoxError> {
    let peers = rpc::ThriftPeers {
        reservation_ttl: opts.tuning.reservation_ttl,
        cart: shop_rpc::build_client!(
            shop_idl::cart::CartServiceClientBuilder,
            "cart",
            opts.peers.cart,
            opts.client,
            opts.auth.credentials(shop_rpc::auth::Identity::Order)?
        ),
        inventory: shop_rpc::build_client!(
            shop_idl::inventory::InventoryServiceClientBuilder,
            "inventory",
            opts.peers.inventory,
            opts.client,
            opts.auth.credentials(shop_rpc::auth::Identity::Order)?
        ),
    };
    let app = Arc::new(
        app::OrderApp::new(
            store.clone(),
            peers,
            payments::SandboxProvider::new(),
            opts.tuning.checkout_wait,
        )
        .with_metrics(opts.metrics.clone()),
    );
    let relay = tokio::spawn(shop_bus::relay::run_relay(
        "order",
        store,
        opts.bus.clone(),
        shutdown.clone(),
    ));
    // The order processor: runs the saga of every checkout request (many at once, committed in order).
    let processor = {
        let app = app.clone();
        tokio::spawn(shop_bus::consumer::run_consumer_concurrent(
            opts.bus.clone(),
            PROCESSOR_GROUP.into(),
            vec![events::TOPIC.into()],
            PROCESSOR_CONCURRENCY,
            move |d: shop_bus::Delivery| {
                let app = app.clone();
                async move {
                    let kind = d.message.event_type.as_str();
                    if kind != events::CHECKOUT_REQUESTED && kind != events::CANCELLED {
                        return Ok(());
                    }
                    match d.message.key.strip_prefix("order-") {
                        Some(order_id) => app.drive(order_id).await,
                        None => Ok(()),
                    }
                }
            },
            shutdown.clone(),
        ))
    };
    opts.ready.mark_ready();
    let server = shop_idl::order::OrderServiceServer::new(rpc::OrderRpc::new(app))
        .layer_front(opts.auth.server(acl()))
        .layer_front(shop_rpc::ServerObservability::new(
            "order",
            opts.metrics.clone(),
        ))
        .run(ShutdownIncoming::new(listener, shutdown.clone()))
        .await;
    shutdown.cancel();
    relay.await?;
    processor.await?;
    server
}

/// Starts the service: opens its store, spawns its outbox relay, serves Thrift on `listener` until `shutdown`
/// is cancelled, then drains.
pub async fn run(
    opts: ServiceOptions,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> Result<(), BoxError> {
    let metrics = opts.metrics.clone();
    let store = shop_store::timed::TimedEventStore::new(
        opts.storage.open_event_store("order").await?,
        move |op, elapsed| metrics.store_operation("order", op, elapsed),
    );
    serve(store, opts, listener, shutdown).await
}

/// Who may call which method of this service (service-to-service ACL; see `shop_rpc::auth`).
pub fn acl() -> shop_rpc::auth::Acl {
    use shop_rpc::auth::{Acl, Identity::*};
    Acl::new("order").allow(
        &[Gateway],
        &[
            "checkout",
            "get_orders",
            "list_orders",
            "cancel_order",
            "fulfill_order",
        ],
    )
}
