//! The recommender service: "customers who bought this also bought", personal recommendations and popular
//! products, from the `recommender.copurchase` projection of `order.placed.v1` events, with the catalog's
//! newest products as a fallback for a fresh shop.
//!
//! The recommender emits no events, so it runs no outbox relay; its database still carries the event-store
//! tables like every service database.

pub mod app;
pub mod domain;
pub mod events;
pub mod rpc;
pub mod store;

use std::sync::Arc;

use shop_bus::Delivery;
use shop_rpc::{BoxError, ServiceOptions, Storage};
use tokio_util::sync::CancellationToken;

use crate::{
    app::{CatalogPort, RecommenderApp},
    rpc::CatalogClient,
    store::{RecommenderStore, memory::MemoryRecommenderStore, sqlite::SqliteRecommenderStore},
};

/// Consumer group of the co-purchase projection.
pub const COPURCHASE_GROUP: &str = "recommender.copurchase";

/// Starts the service: opens its store, spawns its projection, serves Thrift on `listener` until `shutdown`
/// is cancelled, then drains.
pub async fn run(
    opts: ServiceOptions,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> Result<(), BoxError> {
    let catalog = CatalogClient::new(shop_rpc::build_client!(
        shop_idl::catalog::CatalogServiceClientBuilder,
        "catalog",
        opts.peers.catalog,
        opts.client,
        opts.auth
            .credentials(shop_rpc::auth::Identity::Recommender)?
    ));
    match &opts.storage {
        Storage::Sqlite(dir) => {
            let store = SqliteRecommenderStore::open(&dir.join("recommender.db"))?;
            serve(store, catalog, opts, listener, shutdown).await
        }
        Storage::Memory => {
            serve(
                MemoryRecommenderStore::new(),
                catalog,
                opts,
                listener,
                shutdown,
            )
            .await
        }
        Storage::Cassandra(cluster) => {
            let store = store::cassandra::CassandraRecommenderStore::connect(
                cluster.settings("recommender"),
            )
            .await?;
            serve(store, catalog, opts, listener, shutdown).await
        }
    }
}

/// Handles one delivery of the co-purchase projection. Malformed `order.placed.v1` payloads are logged and
/// skipped (retrying cannot fix them); store failures are returned so the consumer retries.
pub async fn handle_order_delivery<S: RecommenderStore, C: CatalogPort>(
    app: &RecommenderApp<S, C>,
    d: &Delivery,
) -> Result<(), shop_kernel::Error> {
    match events::decode_order_placed(&d.message.event_type, d.message.payload.clone()) {
        Ok(Some(order)) => app
            .record_order_placed(&d.message.event_id, &order)
            .await
            .map(|_| ()),
        Ok(None) => Ok(()),
        Err(e) => {
            tracing::warn!(event_id = %d.message.event_id, error = %e, "skipping undecodable order.placed.v1");
            Ok(())
        }
    }
}

async fn serve<S: RecommenderStore, C: CatalogPort>(
    store: S,
    catalog: C,
    opts: ServiceOptions,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> Result<(), BoxError> {
    let timer = {
        let metrics = opts.metrics.clone();
        shop_store::timed::StoreTimer::new(move |op, elapsed| {
            metrics.store_operation("recommender", op, elapsed)
        })
    };
    let store = store::timed::TimedRecommenderStore::new(store, timer);
    let app = Arc::new(RecommenderApp::new(store, catalog));
    let projection = {
        let app = app.clone();
        tokio::spawn(shop_bus::consumer::run_consumer(
            opts.bus.clone(),
            COPURCHASE_GROUP.into(),
            vec![events::ORDER_TOPIC.into()],
            move |d: Delivery| {
                let app = app.clone();
                async move { handle_order_delivery(&app, &d).await }
            },
            shutdown.clone(),
        ))
    };
    opts.ready.mark_ready();
    let served =
        shop_idl::recommender::RecommenderServiceServer::new(rpc::RecommenderRpc::new(app))
            .layer_front(opts.auth.server(acl()))
            .layer_front(shop_rpc::ServerObservability::new(
                "recommender",
                opts.metrics.clone(),
            ))
            .run(shop_rpc::ShutdownIncoming::new(listener, shutdown.clone()))
            .await;
    shutdown.cancel();
    let _ = projection.await;
    served.map_err(|e| -> BoxError { e.to_string().into() })
}

/// Who may call which method of this service (service-to-service ACL; see `shop_rpc::auth`).
pub fn acl() -> shop_rpc::auth::Acl {
    use shop_rpc::auth::{Acl, Identity::*};
    Acl::new("recommender").allow(&[Gateway], &["related", "for_customer", "popular"])
}
