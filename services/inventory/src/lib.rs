//! The inventory service: stock levels per variant, event-sourced (one stream `stock-<variant_id>` per variant),
//! with all-or-nothing reservations that are later committed (stock leaves) or released (stock returns).
//!
//! Layers: [`domain`] (pure decide/apply), [`app`] (use cases, caching, per-variant write serialisation),
//! [`store`] (event store adapters), [`events`] (domain events ↔ Thrift event union), [`rpc`] (Thrift edge).

pub mod app;
pub mod domain;
pub mod events;
pub mod rpc;
pub mod store;

use std::sync::Arc;

/// Starts the service: opens its store, spawns its outbox relay (and projections), serves Thrift on `listener`
/// until `shutdown` is cancelled, then drains.
pub async fn run(
    opts: shop_rpc::ServiceOptions,
    listener: tokio::net::TcpListener,
    shutdown: tokio_util::sync::CancellationToken,
) -> Result<(), shop_rpc::BoxError> {
    let event_store = store::open_observed(&opts.storage, "inventory", &opts.metrics).await?;
    let app = Arc::new(
        app::App::start(event_store.clone())
            .await?
            .with_metrics(opts.metrics.clone()),
    );
    let relay = tokio::spawn(shop_bus::relay::run_relay(
        "inventory",
        event_store,
        opts.bus.clone(),
        shutdown.clone(),
    ));
    let sweeper = tokio::spawn(
        app.clone()
            .run_sweeper(std::time::Duration::from_secs(1), shutdown.clone()),
    );
    opts.ready.mark_ready();
    let served = shop_idl::inventory::InventoryServiceServer::new(rpc::InventoryRpc::new(app))
        .layer_front(opts.auth.server(acl()))
        .layer_front(shop_rpc::ServerObservability::new(
            "inventory",
            opts.metrics.clone(),
        ))
        .run(shop_rpc::ShutdownIncoming::new(listener, shutdown.clone()))
        .await;
    shutdown.cancel();
    let _ = relay.await;
    let _ = sweeper.await;
    served
}

/// Who may call which method of this service (service-to-service ACL; see `shop_rpc::auth`).
pub fn acl() -> shop_rpc::auth::Acl {
    use shop_rpc::auth::{Acl, Identity::*};
    Acl::new("inventory")
        .allow(&[Gateway, Cart, Order, Admin], &["get_stock"])
        // Only the order saga moves stock for a checkout or a cancellation.
        .allow(&[Order], &["reserve", "release", "commit", "return_stock"])
        // Staff adjust stock through the gateway; operators' tools set it up.
        .allow(&[Gateway, Admin], &["adjust_stock"])
}
