//! User service: customer registration (argon2id password hashes), authentication, profiles and address books.
//!
//! State-stored: `customers` and `addresses` tables; every change commits together with its event
//! (`user.registered.v1`, `user.profile_updated.v1`, `user.addresses_changed.v1`, `user.password_changed.v1`
//! on `shop.user.v1`) in the outbox, which the relay publishes. Password resets store only a hash of their
//! token and send the link as `email.password_reset_requested.v1` on `shop.email.v1`.

pub mod app;
pub mod domain;
pub mod events;
pub mod rpc;
pub mod store;

use std::sync::Arc;

use shop_rpc::{BoxError, ServiceOptions, ShutdownIncoming, Storage};
use tokio_util::sync::CancellationToken;

use crate::{
    app::{Passwords, UserApp},
    rpc::UserRpc,
    store::{CustomerStore, MemoryCustomerStore, SqliteCustomerStore},
};

/// Service name (database file `<dir>/user.db`, relay name, client name).
pub const SERVICE: &str = "user";

/// Starts the service: opens its store, spawns its outbox relay (and projections), serves Thrift on `listener`
/// until `shutdown` is cancelled, then drains.
pub async fn run(
    opts: ServiceOptions,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> Result<(), BoxError> {
    match &opts.storage {
        Storage::Sqlite(dir) => {
            let store = SqliteCustomerStore::open(&dir.join(format!("{SERVICE}.db")))?;
            serve(store, opts, listener, shutdown).await
        }
        Storage::Memory => serve(MemoryCustomerStore::new(), opts, listener, shutdown).await,
        Storage::Cassandra(cluster) => {
            let store =
                store::cassandra::CassandraCustomerStore::connect(cluster.settings(SERVICE))
                    .await?;
            serve(store, opts, listener, shutdown).await
        }
    }
}

async fn serve<S: CustomerStore>(
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
    let store = store::timed::TimedCustomerStore::new(store, timer);
    let relay_stop = shutdown.child_token();
    let relay = tokio::spawn(shop_bus::relay::run_relay(
        SERVICE,
        store.events(),
        opts.bus.clone(),
        relay_stop.clone(),
    ));
    let reset = app::ResetSettings {
        ttl: opts.tuning.password_reset_ttl,
        url: opts.tuning.password_reset_url.clone(),
        ..app::ResetSettings::default()
    };
    let app = Arc::new(UserApp::new(store, Passwords::default()).with_reset(reset));
    opts.ready.mark_ready();
    let served = shop_idl::user::UserServiceServer::new(UserRpc::new(app))
        .layer_front(opts.auth.server(acl()))
        .layer_front(shop_rpc::ServerObservability::new(
            "user",
            opts.metrics.clone(),
        ))
        .run(ShutdownIncoming::new(listener, shutdown.clone()))
        .await;
    // Stop the relay (it drains what is pending) even if the server failed on its own.
    relay_stop.cancel();
    if let Err(e) = relay.await {
        tracing::warn!(error = %e, "user relay task failed");
    }
    served
}

/// Who may call which method of this service (service-to-service ACL; see `shop_rpc::auth`).
pub fn acl() -> shop_rpc::auth::Acl {
    use shop_rpc::auth::{Acl, Identity::*};
    Acl::new("user")
        .allow(
            &[Gateway],
            &[
                "register",
                "authenticate",
                "get_customers",
                "update_profile",
                "add_address",
                "update_address",
                "delete_address",
                "change_password",
                "request_password_reset",
                "reset_password",
            ],
        )
        // Appointing staff is an operator's act (`thriftshop staff`), never an API call.
        .allow(&[Admin], &["set_permissions"])
}
