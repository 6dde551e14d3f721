//! The catalog service: products, variants and collections with search, sorting and paging.
//!
//! Reads are served from an in-memory index loaded from the store at start. An empty store is seeded with
//! the demo catalog (one `catalog.product_published.v1` event per product, in the same transaction). The
//! `catalog.best_selling` projection consumes `order.placed.v1` to count units sold (for `BEST_SELLING`).
//!
//! Staff writes (`create_product`, `update_product`) go to the store with their `catalog.product_created.v1` /
//! `catalog.product_updated.v1` event, then to this process's index. Every catalog process also reads those
//! events back from the catalog topic in a consumer group of its own ([`INDEX_GROUP_PREFIX`]), so writes made
//! by other replicas reach its index too (a version check skips what the index already holds).

pub mod app;
pub mod domain;
pub mod events;
pub mod rpc;
pub mod store;

use std::sync::Arc;

use shop_bus::{AnyBus, Delivery};
use shop_rpc::{BoxError, ServiceOptions, Storage};
use shop_store::EventStore;
use tokio_util::sync::CancellationToken;

use crate::{
    app::CatalogApp,
    store::{CatalogStore, memory::MemoryCatalogStore, sqlite::SqliteCatalogStore},
};

/// Consumer group of the best-selling projection.
pub const BEST_SELLING_GROUP: &str = "catalog.best_selling";
/// Prefix of the per-process consumer group that applies product writes to the index (`catalog.index.<id>`).
pub const INDEX_GROUP_PREFIX: &str = "catalog.index.";

/// Starts the service: opens its store, spawns its outbox relay (and projections), serves Thrift on `listener`
/// until `shutdown` is cancelled, then drains.
pub async fn run(
    opts: ServiceOptions,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> Result<(), BoxError> {
    match &opts.storage {
        Storage::Sqlite(dir) => {
            let store = SqliteCatalogStore::open(&dir.join("catalog.db"))?;
            let events = store.event_store().clone();
            serve(store, events, opts, listener, shutdown).await
        }
        Storage::Memory => {
            let store = MemoryCatalogStore::new();
            let events = store.event_store().clone();
            serve(store, events, opts, listener, shutdown).await
        }
        Storage::Cassandra(cluster) => {
            let store =
                store::cassandra::CassandraCatalogStore::connect(cluster.settings("catalog"))
                    .await?;
            let events = store.event_store().clone();
            serve(store, events, opts, listener, shutdown).await
        }
    }
}

/// Handles one delivery of the best-selling projection. Malformed `order.placed.v1` payloads are logged and
/// skipped (retrying cannot fix them); store failures are returned so the consumer retries.
pub async fn handle_order_delivery<S: CatalogStore>(
    app: &CatalogApp<S>,
    d: &Delivery,
) -> Result<(), shop_kernel::Error> {
    match events::decode_order_placed(&d.message.event_type, d.message.payload.clone()) {
        Ok(Some(lines)) => app
            .record_order_placed(&d.message.event_id, &lines)
            .await
            .map(|_| ()),
        Ok(None) => Ok(()),
        Err(e) => {
            tracing::warn!(event_id = %d.message.event_id, error = %e, "skipping undecodable order.placed.v1");
            Ok(())
        }
    }
}

/// Handles one delivery from the catalog topic: a product written by any catalog process goes into the index
/// (unless the index holds that version already). Other catalog events are ignored; undecodable payloads are
/// logged and skipped.
pub fn handle_catalog_delivery<S: CatalogStore>(app: &CatalogApp<S>, d: &Delivery) {
    match events::decode_product_written(&d.message.event_type, d.message.payload.clone()) {
        Ok(Some((product, variants))) => {
            if app.apply_product_written(product, variants) {
                tracing::debug!(stream = %d.message.key, seq = d.message.seq, "applied a product write to the index");
            }
        }
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(event_id = %d.message.event_id, error = %e, "skipping an undecodable product event");
        }
    }
}

async fn serve<S: CatalogStore, E: EventStore + Clone>(
    store: S,
    events: E,
    opts: ServiceOptions,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> Result<(), BoxError> {
    let timer = {
        let metrics = opts.metrics.clone();
        shop_store::timed::StoreTimer::new(move |op, elapsed| {
            metrics.store_operation("catalog", op, elapsed)
        })
    };
    let store = store::timed::TimedCatalogStore::new(store, timer.clone());
    let events = timer.event_store(events);
    let app = Arc::new(CatalogApp::start(store).await?);
    let relay = tokio::spawn(shop_bus::relay::run_relay(
        "catalog",
        events,
        opts.bus.clone(),
        shutdown.clone(),
    ));
    let projection = {
        let app = app.clone();
        let bus: AnyBus = opts.bus.clone();
        tokio::spawn(shop_bus::consumer::run_consumer(
            bus,
            BEST_SELLING_GROUP.into(),
            vec![events::ORDER_TOPIC.into()],
            move |d: Delivery| {
                let app = app.clone();
                async move { handle_order_delivery(&app, &d).await }
            },
            shutdown.clone(),
        ))
    };
    let index_feed = {
        let app = app.clone();
        let bus: AnyBus = opts.bus.clone();
        tokio::spawn(shop_bus::consumer::run_consumer(
            bus,
            format!("{INDEX_GROUP_PREFIX}{}", shop_kernel::ids::new_id()),
            vec![events::CATALOG_TOPIC.into()],
            move |d: Delivery| {
                let app = app.clone();
                async move {
                    handle_catalog_delivery(&app, &d);
                    Ok(())
                }
            },
            shutdown.clone(),
        ))
    };
    opts.ready.mark_ready();
    let served = shop_idl::catalog::CatalogServiceServer::new(rpc::CatalogRpc::new(app))
        .layer_front(opts.auth.server(acl()))
        .layer_front(shop_rpc::ServerObservability::new(
            "catalog",
            opts.metrics.clone(),
        ))
        .run(shop_rpc::ShutdownIncoming::new(listener, shutdown.clone()))
        .await;
    shutdown.cancel();
    let _ = relay.await;
    let _ = projection.await;
    let _ = index_feed.await;
    served.map_err(|e| -> BoxError { e.to_string().into() })
}

/// Who may call which method of this service (service-to-service ACL; see `shop_rpc::auth`).
pub fn acl() -> shop_rpc::auth::Acl {
    use shop_rpc::auth::{Acl, Identity::*};
    Acl::new("catalog")
        .allow(
            &[Gateway, Cart, Order, Recommender, Admin],
            &[
                "get_products",
                "get_product_by_handle",
                "search_products",
                "get_variants",
                "get_collections",
                "get_collection_by_handle",
                "list_collections",
            ],
        )
        // Staff edit the catalog through the gateway (which checks MANAGE_PRODUCTS, as does the service).
        .allow(&[Gateway, Admin], &["create_product", "update_product"])
}
