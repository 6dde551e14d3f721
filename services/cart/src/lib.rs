//! The cart service: carts with price-snapshotted lines, stock-checked quantities, notes, attributes, discount
//! codes and the checkout steps used by the order service. Event-sourced: one stream `cart-<cart_id>` per cart.
//!
//! Layers: [`domain`] (pure decide/apply and validation), [`app`] (use cases, hot-cart LRU, optimistic writes,
//! catalog/inventory ports), [`store`] (event store adapters), [`events`] (domain events ↔ Thrift event union),
//! [`rpc`] (Thrift edge and Thrift-backed ports).

pub mod app;
pub mod domain;
pub mod events;
pub mod rpc;
pub mod store;

use std::sync::Arc;

/// Currency of carts created without lines.
pub const DEFAULT_CURRENCY: &str = "USD";

/// Starts the service: opens its store, spawns its outbox relay (and projections), serves Thrift on `listener`
/// until `shutdown` is cancelled, then drains.
pub async fn run(
    opts: shop_rpc::ServiceOptions,
    listener: tokio::net::TcpListener,
    shutdown: tokio_util::sync::CancellationToken,
) -> Result<(), shop_rpc::BoxError> {
    let event_store = store::open_observed(&opts.storage, "cart", &opts.metrics).await?;
    let catalog = shop_rpc::build_client!(
        shop_idl::catalog::CatalogServiceClientBuilder,
        "catalog",
        opts.peers.catalog,
        opts.client,
        opts.auth.credentials(shop_rpc::auth::Identity::Cart)?
    );
    let inventory = shop_rpc::build_client!(
        shop_idl::inventory::InventoryServiceClientBuilder,
        "inventory",
        opts.peers.inventory,
        opts.client,
        opts.auth.credentials(shop_rpc::auth::Identity::Cart)?
    );
    let app = Arc::new(
        app::App::new(
            event_store.clone(),
            rpc::ThriftCatalog::new(catalog),
            rpc::ThriftStock::new(inventory),
            opts.tuning.cart_cache_capacity,
            DEFAULT_CURRENCY,
        )
        .with_metrics(opts.metrics.clone()),
    );
    let relay = tokio::spawn(shop_bus::relay::run_relay(
        "cart",
        event_store,
        opts.bus.clone(),
        shutdown.clone(),
    ));
    opts.ready.mark_ready();
    let served = shop_idl::cart::CartServiceServer::new(rpc::CartRpc::new(app))
        .layer_front(opts.auth.server(acl()))
        .layer_front(shop_rpc::ServerObservability::new(
            "cart",
            opts.metrics.clone(),
        ))
        .run(shop_rpc::ShutdownIncoming::new(listener, shutdown.clone()))
        .await;
    shutdown.cancel();
    let _ = relay.await;
    served
}

/// Who may call which method of this service (service-to-service ACL; see `shop_rpc::auth`).
pub fn acl() -> shop_rpc::auth::Acl {
    use shop_rpc::auth::{Acl, Identity::*};
    Acl::new("cart")
        .allow(
            &[Gateway],
            &[
                "create_cart",
                "list_carts",
                "add_lines",
                "update_lines",
                "remove_lines",
                "update_note",
                "update_attributes",
                "update_discount_codes",
                "update_buyer_identity",
                "merge_guest_carts",
            ],
        )
        .allow(&[Gateway, Order], &["get_cart"])
        // Only the order saga moves a cart through checkout.
        .allow(
            &[Order],
            &["begin_checkout", "complete_checkout", "abort_checkout"],
        )
}
