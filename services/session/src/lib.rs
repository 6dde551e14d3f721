//! Session service: customer and guest access tokens. Tokens are 256-bit random strings returned once; only their
//! SHA-256 is stored. Customer sessions expire (30 days by default); guest sessions expire 14 days after their
//! last use (each validation slides the expiry, written at most once an hour). Both can be revoked or renewed.
//!
//! State-stored: a `sessions` table; every change commits together with its event (`session.created.v1`,
//! `session.revoked.v1` on `shop.session.v1`) in the outbox, which the relay publishes.

pub mod app;
pub mod domain;
pub mod events;
pub mod rpc;
pub mod store;

use std::sync::Arc;

use shop_rpc::{BoxError, ServiceOptions, ShutdownIncoming, Storage};
use tokio_util::sync::CancellationToken;

use crate::{
    app::SessionApp,
    domain::SessionConfig,
    rpc::SessionRpc,
    store::{CassandraSessionStore, MemorySessionStore, SessionStore, SqliteSessionStore},
};

/// Service name (database file `<dir>/session.db`, relay name, client name).
pub const SERVICE: &str = "session";

/// Starts the service: opens its store, spawns its outbox relay (and projections), serves Thrift on `listener`
/// until `shutdown` is cancelled, then drains.
pub async fn run(
    opts: ServiceOptions,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> Result<(), BoxError> {
    match &opts.storage {
        Storage::Sqlite(dir) => {
            let store = SqliteSessionStore::open(&dir.join(format!("{SERVICE}.db")))?;
            serve(store, opts, listener, shutdown).await
        }
        Storage::Memory => serve(MemorySessionStore::new(), opts, listener, shutdown).await,
        Storage::Cassandra(cluster) => {
            let store = CassandraSessionStore::connect(cluster.settings(SERVICE)).await?;
            serve(store, opts, listener, shutdown).await
        }
    }
}

async fn serve<S: SessionStore>(
    store: S,
    opts: ServiceOptions,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> Result<(), BoxError> {
    let timer = {
        let metrics = opts.metrics.clone();
        shop_store::timed::StoreTimer::new(move |op, elapsed| {
            metrics.store_operation(SERVICE, op, elapsed)
        })
    };
    let store = store::timed::TimedSessionStore::new(store, timer);
    let relay_stop = shutdown.child_token();
    let relay = tokio::spawn(shop_bus::relay::run_relay(
        SERVICE,
        store.events(),
        opts.bus.clone(),
        relay_stop.clone(),
    ));
    let app = Arc::new(SessionApp::new(store, SessionConfig::default()));
    opts.ready.mark_ready();
    let served = shop_idl::session::SessionServiceServer::new(SessionRpc::new(app))
        .layer_front(opts.auth.server(acl()))
        .layer_front(shop_rpc::ServerObservability::new(
            "session",
            opts.metrics.clone(),
        ))
        .run(ShutdownIncoming::new(listener, shutdown.clone()))
        .await;
    // Stop the relay (it drains what is pending) even if the server failed on its own.
    relay_stop.cancel();
    if let Err(e) = relay.await {
        tracing::warn!(error = %e, "session relay task failed");
    }
    served
}

/// Who may call which method of this service (service-to-service ACL; see `shop_rpc::auth`).
pub fn acl() -> shop_rpc::auth::Acl {
    use shop_rpc::auth::{Acl, Identity::*};
    // Sessions are the gateway's business alone: no service validates or issues tokens.
    Acl::new("session").allow(
        &[Gateway],
        &[
            "create_session",
            "create_guest_session",
            "validate",
            "revoke",
            "revoke_all",
            "renew",
        ],
    )
}
