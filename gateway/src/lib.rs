//! The thriftshop GraphQL gateway: a Shopify-Storefront-dialect API (see `GRAPHQL.md` and `schema.graphql`)
//! that fans out over Thrift to the catalog, inventory, cart, order, user, session and recommender services.
//!
//! Entry points: [`router`] (an axum router), [`serve`] (serve it on a listener until cancelled) and
//! [`schema_sdl`] (the sorted SDL written to `schema.graphql`).

pub mod auth;
pub mod clients;
pub mod coalesce;
pub mod ctx;
pub mod error;
pub mod extension;
pub mod gid;
pub mod hardening;
pub mod http;
pub mod limits;
pub mod loaders;
pub mod mutation;
pub mod query;
pub mod scalars;
pub mod subscription;
pub mod types;

use std::{net::SocketAddr, sync::Arc};

use async_graphql::{SDLExportOptions, Schema};
use axum::{Router, routing::get};
use shop_rpc::{BoxError, ClientSettings, ServiceAddrs};
use tokio_util::sync::CancellationToken;
use tower_http::limit::RequestBodyLimitLayer;

pub use crate::{
    clients::Clients, loaders::Loaders, mutation::Mutation, query::Query,
    subscription::Subscription,
};

/// The gateway's GraphQL schema.
pub type GatewaySchema = Schema<Query, Mutation, Subscription>;

/// Gateway configuration.
#[derive(Debug, Clone)]
pub struct GatewayOptions {
    /// Where the services listen.
    pub peers: ServiceAddrs,
    /// Timeouts of the Thrift clients.
    pub client: ClientSettings,
    /// Serve GraphiQL on `GET /graphql` to browsers.
    pub graphiql: bool,
    /// Largest query depth.
    pub max_depth: usize,
    /// Largest query complexity (connections count `first` times their selection).
    pub max_complexity: usize,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Access-token resolution (cache bound for revocation).
    pub auth: auth::AuthOptions,
    /// Answer introspection queries (`__schema`, `__type`). Off in the production profile.
    pub introspection: bool,
    /// Suggest field names in validation errors ("did you mean …"). Off in the production profile.
    pub field_suggestions: bool,
    /// Token, alias and root-field limits of a document.
    pub document_limits: hardening::DocumentLimits,
    /// Automatic persisted queries, or only trusted documents.
    pub persisted: hardening::PersistedMode,
    /// Most operations in one batched request.
    pub max_batch: usize,
    /// Per-client and sign-in rate limits.
    pub limits: limits::LimitOptions,
    /// Take the client address from the last `X-Forwarded-For` entry (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
    /// Where RED metrics go (served on `/metrics`).
    pub metrics: shop_telemetry::Metrics,
    /// The gateway's service credential, presented on every call to a service.
    pub credentials: shop_rpc::auth::Credentials,
    /// Further `/readyz` checks: in the all-in-one shop, the services' store and consumer groups (which share
    /// the gateway's process). Ready without probes by default.
    pub dependencies: shop_rpc::Readiness,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        let addr = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
        Self {
            peers: ServiceAddrs {
                catalog: addr(9101),
                inventory: addr(9102),
                cart: addr(9103),
                order: addr(9104),
                user: addr(9105),
                session: addr(9106),
                recommender: addr(9107),
            },
            client: ClientSettings::default(),
            graphiql: true,
            max_depth: 15,
            max_complexity: 10_000,
            max_body_bytes: 256 * 1024,
            auth: auth::AuthOptions::default(),
            introspection: true,
            field_suggestions: true,
            document_limits: hardening::DocumentLimits::default(),
            persisted: hardening::PersistedMode::Automatic,
            max_batch: 16,
            limits: limits::LimitOptions::default(),
            trust_forwarded_for: false,
            metrics: shop_telemetry::Metrics::new(),
            credentials: shop_rpc::auth::Credentials::none(),
            dependencies: {
                let ready = shop_rpc::Readiness::new();
                ready.mark_ready();
                ready
            },
        }
    }
}

fn builder() -> async_graphql::SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(Query, Mutation, Subscription)
}

/// The executable schema over `clients`, with the limits of `opts`.
pub fn build_schema(
    opts: &GatewayOptions,
    clients: Arc<Clients>,
    authenticator: Arc<auth::Authenticator>,
    limits: Arc<limits::Limits>,
) -> GatewaySchema {
    let loaders = Arc::new(Loaders::new(clients.clone()));
    let catalog_reads = Arc::new(loaders::CatalogReads::new(clients.clone()));
    let admission = Arc::new(hardening::Admission::new(
        opts.document_limits,
        opts.persisted.clone(),
    ));
    let mut b = builder()
        .data(clients)
        .data(authenticator)
        .data(loaders)
        .data(catalog_reads)
        .data(limits.clone())
        .extension(extension::Gateway {
            admission,
            limits,
            metrics: opts.metrics.clone(),
        })
        .limit_depth(opts.max_depth)
        .limit_complexity(opts.max_complexity)
        .limit_recursive_depth(64)
        .limit_directives(32);
    if !opts.introspection {
        b = b.disable_introspection();
    }
    if !opts.field_suggestions {
        b = b.disable_suggestions();
    }
    b.finish()
}

/// The schema in SDL, with fields, arguments and enum items sorted (the content of `schema.graphql`).
pub fn schema_sdl() -> String {
    builder().finish().sdl_with_options(
        SDLExportOptions::new()
            .sorted_fields()
            .sorted_arguments()
            .sorted_enum_items(),
    )
}

/// The HTTP router: `POST/GET /graphql`, `GET /graphql/ws` (graphql-transport-ws), `GET /healthz`, `GET /readyz`
/// and `GET /metrics`.
/// Thrift clients are built here, once; no connection is made until a request needs a service.
pub fn router(opts: GatewayOptions) -> Router {
    let clients = Arc::new(Clients::new(opts.peers, opts.client, &opts.credentials));
    let authenticator = Arc::new(auth::Authenticator::new(clients.clone(), opts.auth));
    let limits = Arc::new(limits::Limits::new(opts.limits));
    let schema = build_schema(
        &opts,
        clients.clone(),
        authenticator.clone(),
        limits.clone(),
    );
    let state = http::AppState {
        schema,
        clients,
        auth: authenticator,
        limits,
        metrics: opts.metrics.clone(),
        peers: opts.peers,
        dependencies: opts.dependencies.clone(),
        max_batch: opts.max_batch,
        trust_forwarded_for: opts.trust_forwarded_for,
        graphiql: opts.graphiql,
        max_body_bytes: opts.max_body_bytes,
    };
    Router::new()
        .route("/graphql", get(http::get_graphql).post(http::post_graphql))
        .route("/graphql/ws", get(http::ws_graphql))
        .route("/healthz", get(http::healthz))
        .route("/readyz", get(http::readyz))
        .route("/metrics", get(http::metrics))
        .layer(RequestBodyLimitLayer::new(opts.max_body_bytes))
        .with_state(state)
}

/// Serves [`router`] on `listener` until `shutdown` is cancelled, then drains in-flight requests.
pub async fn serve(
    opts: GatewayOptions,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> Result<(), BoxError> {
    let app = router(opts);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move { shutdown.cancelled().await })
    .await?;
    Ok(())
}
