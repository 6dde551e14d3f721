//! RPC platform shared by the services and the gateway:
//! - mapping between the kernel [`Error`] and the Thrift `ShopError` exception ([`reply`], [`call`]);
//! - the caller's identity, carried in TTHeader metadata (never in request structs) ([`current_actor`], [`with_actor`]);
//! - serving a generated server on a listener with programmatic shutdown ([`ShutdownIncoming`]);
//! - client settings with explicit timeouts ([`ClientSettings`], [`build_client!`]);
//! - service-to-service authentication: signed short-lived caller credentials and per-method ACLs
//!   ([`auth`]);
//! - distributed tracing and RED metrics of every call: W3C `traceparent` in TTHeader metainfo, server and
//!   client spans ([`ServerObservability`], [`ClientObservability`]).

use std::{cell::RefCell, future::Future, time::Duration};

use metainfo::{Forward, METAINFO, MetaInfo};
use shop_idl::common;
use shop_kernel::{Actor, Error, ErrorKind, Permission};
use tokio_util::sync::CancellationToken;
use volo::net::{
    conn::Conn,
    incoming::{DefaultIncoming, Incoming, MakeIncoming},
};
use volo_thrift::{ClientError, MaybeException, ServerError};

pub mod auth;
mod observe;

pub use observe::{
    ClientObservability, ClientObservabilityService, ServerObservability,
    ServerObservabilityService,
};
pub use shop_idl;
pub use shop_telemetry;

/// Metadata key of the calling customer's id (persistent: forwarded along the whole call chain).
pub const META_CUSTOMER: &str = "thriftshop-customer";
/// Metadata key of the calling guest session's id (persistent, like [`META_CUSTOMER`]).
pub const META_GUEST: &str = "thriftshop-guest";
/// Metadata key marking a trusted internal caller acting as the system.
pub const META_SYSTEM: &str = "thriftshop-system";
/// Metadata key of the calling staff member's permissions (comma-separated names).
pub const META_PERMISSIONS: &str = "thriftshop-permissions";
/// Metadata key of the caller's W3C trace context (persistent; every client call overwrites it with its own
/// span's context, so a callee always sees its direct caller).
pub const META_TRACEPARENT: &str = shop_telemetry::propagation::TRACEPARENT;

fn kind_to_wire(kind: ErrorKind) -> common::ErrorKind {
    match kind {
        ErrorKind::InvalidArgument => common::ErrorKind::INVALID_ARGUMENT,
        ErrorKind::NotFound => common::ErrorKind::NOT_FOUND,
        ErrorKind::Conflict => common::ErrorKind::CONFLICT,
        ErrorKind::FailedPrecondition => common::ErrorKind::FAILED_PRECONDITION,
        ErrorKind::Unauthenticated => common::ErrorKind::UNAUTHENTICATED,
        ErrorKind::PermissionDenied => common::ErrorKind::PERMISSION_DENIED,
        ErrorKind::ResourceExhausted => common::ErrorKind::RESOURCE_EXHAUSTED,
        ErrorKind::Unavailable => common::ErrorKind::UNAVAILABLE,
        ErrorKind::Internal => common::ErrorKind::INTERNAL,
    }
}

fn kind_from_wire(kind: common::ErrorKind) -> ErrorKind {
    match kind {
        common::ErrorKind::INVALID_ARGUMENT => ErrorKind::InvalidArgument,
        common::ErrorKind::NOT_FOUND => ErrorKind::NotFound,
        common::ErrorKind::CONFLICT => ErrorKind::Conflict,
        common::ErrorKind::FAILED_PRECONDITION => ErrorKind::FailedPrecondition,
        common::ErrorKind::UNAUTHENTICATED => ErrorKind::Unauthenticated,
        common::ErrorKind::PERMISSION_DENIED => ErrorKind::PermissionDenied,
        common::ErrorKind::RESOURCE_EXHAUSTED => ErrorKind::ResourceExhausted,
        common::ErrorKind::UNAVAILABLE => ErrorKind::Unavailable,
        _ => ErrorKind::Internal,
    }
}

/// The Thrift exception for a kernel error. Internal details are logged here and replaced by a generic text.
pub fn error_to_wire(e: &Error) -> common::ShopError {
    if e.kind == ErrorKind::Internal {
        tracing::error!(code = %e.code, detail = %e.message, "internal error");
    }
    common::ShopError {
        kind: kind_to_wire(e.kind),
        code: e.code.to_string().into(),
        message: e.public_message().to_string().into(),
        field: if e.field.is_empty() {
            None
        } else {
            Some(e.field.iter().map(|f| f.clone().into()).collect())
        },
    }
}

/// The kernel error for a Thrift exception.
pub fn error_from_wire(e: common::ShopError) -> Error {
    Error {
        kind: kind_from_wire(e.kind),
        code: e.code.to_string().into(),
        message: e.message.to_string(),
        field: e
            .field
            .unwrap_or_default()
            .into_iter()
            .map(|f| f.to_string())
            .collect(),
    }
}

/// What a generated server method returns.
pub type ServerResult<T, E> = Result<MaybeException<T, E>, ServerError>;

/// Turns a use-case result into a server reply: errors become the method's `ShopError` exception.
pub fn reply<T, E: From<common::ShopError>>(result: Result<T, Error>) -> ServerResult<T, E> {
    Ok(match result {
        Ok(v) => MaybeException::Ok(v),
        Err(e) => {
            observe::note_error(e.kind);
            MaybeException::Exception(E::from(error_to_wire(&e)))
        }
    })
}

/// Turns a generated client call's result into a kernel result: transport failures become `UNAVAILABLE`.
pub fn call<T, E: Into<common::ShopError>>(
    service: &'static str,
    result: Result<MaybeException<T, E>, ClientError>,
) -> Result<T, Error> {
    match result {
        Ok(MaybeException::Ok(v)) => Ok(v),
        Ok(MaybeException::Exception(e)) => Err(error_from_wire(e.into())),
        Err(ClientError::Application(ref e)) if let Some((kind, reason)) = refused(e) => {
            tracing::warn!(service, %reason, "the service refused the call");
            Err(match kind {
                ErrorKind::Unauthenticated => Error::new(
                    kind,
                    "SERVICE_UNAUTHENTICATED",
                    format!("the {service} service did not accept this caller's credentials"),
                ),
                _ => Error::new(
                    kind,
                    "SERVICE_PERMISSION_DENIED",
                    format!("this caller may not make that call to the {service} service"),
                ),
            })
        }
        Err(e) => {
            tracing::warn!(service, error = %e, "rpc call failed");
            Err(Error::unavailable(
                "SERVICE_UNAVAILABLE",
                format!("the {service} service is unavailable"),
            ))
        }
    }
}

/// The kind and reason of a call refused by [`auth::ServerAuth`].
fn refused(e: &pilota::thrift::ApplicationException) -> Option<(ErrorKind, &str)> {
    let msg = e.message();
    msg.strip_prefix(auth::UNAUTHENTICATED_PREFIX)
        .map(|r| (ErrorKind::Unauthenticated, r))
        .or_else(|| {
            msg.strip_prefix(auth::PERMISSION_DENIED_PREFIX)
                .map(|r| (ErrorKind::PermissionDenied, r))
        })
}

/// The caller of the current request, from the TTHeader metadata of the request being served.
pub fn current_actor() -> Actor {
    METAINFO
        .try_with(|mi| {
            let mi = mi.borrow();
            let customer_id = mi
                .get_persistent(META_CUSTOMER)
                .map(|s| s.to_string())
                .filter(|s| !s.is_empty());
            let guest_id = mi
                .get_persistent(META_GUEST)
                .map(|s| s.to_string())
                .filter(|s| !s.is_empty());
            let system = mi.get_persistent(META_SYSTEM).is_some_and(|s| s == "1");
            // Unknown names are dropped: a newer caller never grants an older callee more than it knows.
            let permissions = mi
                .get_persistent(META_PERMISSIONS)
                .map(|csv| {
                    csv.split(',')
                        .filter_map(|n| Permission::parse(n.trim()))
                        .collect()
                })
                .unwrap_or_default();
            Actor {
                customer_id,
                system,
                permissions,
                guest_id,
            }
        })
        .unwrap_or_default()
}

/// Runs `fut` with `actor` as the caller identity of every RPC it makes. When the current span is sampled,
/// its `traceparent` travels along too (clients built with [`build_client!`] replace it with their own
/// client span's context at each call).
pub async fn with_actor<F: Future>(actor: &Actor, fut: F) -> F::Output {
    let mut mi = MetaInfo::new();
    if let Some(tp) = sampled_traceparent() {
        mi.set_persistent(META_TRACEPARENT, tp);
    }
    if let Some(c) = &actor.customer_id {
        mi.set_persistent(META_CUSTOMER, c.clone());
    }
    if let Some(g) = &actor.guest_id {
        mi.set_persistent(META_GUEST, g.clone());
    }
    if actor.system {
        mi.set_persistent(META_SYSTEM, "1");
    }
    if !actor.permissions.is_empty() {
        mi.set_persistent(META_PERMISSIONS, actor.permissions.to_csv());
    }
    METAINFO.scope(RefCell::new(mi), fut).await
}

/// A metainfo of its own for one outgoing call: a copy of the current scope's forwarded (persistent) and
/// transient keys, so a layer can set per-call keys without concurrent calls from one scope seeing them.
pub(crate) fn call_metainfo() -> MetaInfo {
    let mut mi = MetaInfo::new();
    let _ = METAINFO.try_with(|cur| {
        let cur = cur.borrow();
        if let Some(all) = cur.get_all_persistents() {
            for (k, v) in all {
                mi.set_persistent(k.clone(), v.clone());
            }
        }
        if let Some(all) = cur.get_all_transients() {
            for (k, v) in all {
                mi.set_transient(k.clone(), v.clone());
            }
        }
    });
    mi
}

/// The current span's `traceparent` when it is sampled (nothing to propagate otherwise).
fn sampled_traceparent() -> Option<String> {
    use opentelemetry::trace::TraceContextExt as _;
    use shop_telemetry::OpenTelemetrySpanExt as _;
    let span = tracing::Span::current();
    if span.is_disabled() {
        return None;
    }
    let cx = span.context();
    if !cx.span().span_context().is_sampled() {
        return None;
    }
    shop_telemetry::propagation::traceparent_of(&cx)
}

/// Runs `fut` so that downstream calls carry the current caller's identity and the system mark
/// (for a service calling another on a customer's behalf as part of a trusted workflow).
pub async fn as_system<F: Future>(fut: F) -> F::Output {
    let mut actor = current_actor();
    actor.system = true;
    with_actor(&actor, fut).await
}

/// Listener that stops accepting when its token is cancelled, so a server can be stopped programmatically.
#[derive(Debug)]
pub struct ShutdownIncoming {
    inner: DefaultIncoming,
    shutdown: CancellationToken,
}

impl ShutdownIncoming {
    /// Accepts from `listener` until `shutdown` is cancelled.
    pub fn new(listener: tokio::net::TcpListener, shutdown: CancellationToken) -> Self {
        Self {
            inner: DefaultIncoming::from(listener),
            shutdown,
        }
    }
}

impl Incoming for ShutdownIncoming {
    async fn accept(&mut self) -> std::io::Result<Option<Conn>> {
        tokio::select! {
            _ = self.shutdown.cancelled() => Ok(None),
            conn = self.inner.accept() => conn,
        }
    }
}

impl MakeIncoming for ShutdownIncoming {
    type Incoming = ShutdownIncoming;
    async fn make_incoming(self) -> std::io::Result<Self::Incoming> {
        Ok(self)
    }
}

/// Client timeouts; volo has no defaults, so every client sets all three.
#[derive(Debug, Clone, Copy)]
pub struct ClientSettings {
    pub connect_timeout: Duration,
    pub rpc_timeout: Duration,
    pub read_write_timeout: Duration,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_millis(500),
            rpc_timeout: Duration::from_secs(5),
            read_write_timeout: Duration::from_secs(5),
        }
    }
}

/// Builds a generated client for `$addr` with the given [`ClientSettings`], the caller's
/// [`auth::Credentials`] and the [`ClientObservability`] layer (client spans, trace context propagation):
/// `build_client!(CartServiceClientBuilder, "cart", addr, settings, auth.credentials(Identity::Order)?)`.
#[macro_export]
macro_rules! build_client {
    ($builder:ty, $name:expr, $addr:expr, $settings:expr, $credentials:expr) => {{
        let s: $crate::ClientSettings = $settings;
        let c: $crate::auth::Credentials = $credentials;
        <$builder>::new($name)
            .address($addr)
            .connect_timeout(Some(s.connect_timeout))
            .rpc_timeout(Some(s.rpc_timeout))
            .read_write_timeout(Some(s.read_write_timeout))
            .layer_outer(c)
            .layer_outer($crate::ClientObservability)
            .build()
    }};
}

/// Addresses of every service's Thrift endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceAddrs {
    pub catalog: std::net::SocketAddr,
    pub inventory: std::net::SocketAddr,
    pub cart: std::net::SocketAddr,
    pub order: std::net::SocketAddr,
    pub user: std::net::SocketAddr,
    pub session: std::net::SocketAddr,
    pub recommender: std::net::SocketAddr,
}

/// Where a service keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// SQLite files under this directory (`<dir>/<service>.db`), WAL mode.
    Sqlite(std::path::PathBuf),
    /// In memory (tests only).
    Memory,
    /// A Cassandra/ScyllaDB cluster: one keyspace per service, `<keyspace_prefix>_<service>`.
    Cassandra(CassandraCluster),
}

/// How services reach their Cassandra/ScyllaDB cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CassandraCluster {
    /// Contact points, `host:port`.
    pub nodes: Vec<String>,
    /// Keyspaces are `<keyspace_prefix>_<service>`.
    pub keyspace_prefix: String,
    /// Replication factor of keyspaces created by the shop (3 in production).
    pub replication_factor: u32,
    /// The local datacenter (LOCAL_QUORUM/LOCAL_SERIAL and DC-aware routing); `None` for one-DC clusters.
    pub local_datacenter: Option<String>,
    /// Client-side timeout of every request.
    pub request_timeout: Duration,
}

impl CassandraCluster {
    /// Connection settings of service `name`'s keyspace.
    pub fn settings(&self, name: &str) -> shop_store::cassandra::CassandraSettings {
        shop_store::cassandra::CassandraSettings {
            nodes: self.nodes.clone(),
            keyspace: format!("{}_{name}", self.keyspace_prefix),
            replication_factor: self.replication_factor,
            request_timeout: self.request_timeout,
            local_datacenter: self.local_datacenter.clone(),
        }
    }
}

impl Storage {
    /// Opens the event store of an event-sourced service (`name` is the database file stem or keyspace suffix).
    pub async fn open_event_store(
        &self,
        name: &str,
    ) -> Result<shop_store::any::AnyEventStore, shop_store::StoreError> {
        match self {
            Storage::Sqlite(dir) => {
                shop_store::any::AnyEventStore::sqlite(&dir.join(format!("{name}.db")))
            }
            Storage::Memory => Ok(shop_store::any::AnyEventStore::memory()),
            Storage::Cassandra(cluster) => {
                shop_store::any::AnyEventStore::cassandra(cluster.settings(name)).await
            }
        }
    }
}

/// Error type of service start-up and serving.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A readiness check of a dependency: `Err` says what is wrong, in words safe to show an operator.
pub type Probe = std::sync::Arc<
    dyn Fn() -> std::pin::Pin<Box<dyn Future<Output = Result<(), Vec<String>>> + Send>>
        + Send
        + Sync,
>;

/// A component's readiness: the start-up signal (set by a service once its store is open and it serves; the
/// all-in-one shop waits for every service's before it seeds and opens the gateway) plus probes of what it
/// depends on at run time (its store answering, its consumer groups caught up), asked by `/readyz`.
#[derive(Clone, Default)]
pub struct Readiness(std::sync::Arc<ReadinessInner>);

#[derive(Default)]
struct ReadinessInner {
    started: tokio::sync::watch::Sender<bool>,
    probes: parking_lot::Mutex<Vec<Probe>>,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readiness")
            .field("started", &self.is_ready())
            .field("probes", &self.0.probes.lock().len())
            .finish()
    }
}

/// How long `/readyz` waits for one probe.
pub const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

impl Readiness {
    /// A signal not set yet, without probes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks the service started.
    pub fn mark_ready(&self) {
        self.0.started.send_replace(true);
    }

    /// Whether the service said it started.
    pub fn is_ready(&self) -> bool {
        *self.0.started.borrow()
    }

    /// Waits until the service has started.
    pub async fn wait(&self) {
        let mut rx = self.0.started.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = rx.wait_for(|ready| *ready).await;
    }

    /// Adds a run-time dependency check.
    pub fn add_probe(&self, probe: Probe) {
        self.0.probes.lock().push(probe);
    }

    /// Adds a check that the consumer groups run on `bus` are subscribed, reach the bus and lag at most
    /// `max_lag` messages.
    pub fn watch_consumers(&self, bus: &shop_bus::AnyBus, max_lag: u64) {
        let health = shop_bus::EventBus::consumer_health(bus).clone();
        self.add_probe(std::sync::Arc::new(move || {
            let problems = health.problems(max_lag);
            Box::pin(async move {
                if problems.is_empty() {
                    Ok(())
                } else {
                    Err(problems)
                }
            })
        }));
    }

    /// Adds a check that `storage` answers: for Cassandra, that the cluster serves a read (a local SQLite or
    /// memory store has nothing to reach).
    pub fn watch_storage(&self, storage: &Storage) {
        let Storage::Cassandra(cluster) = storage else {
            return;
        };
        let probe = shop_store::cassandra::ClusterProbe::new(
            cluster.nodes.clone(),
            PROBE_TIMEOUT.min(cluster.request_timeout),
        );
        self.add_probe(std::sync::Arc::new(move || {
            let probe = probe.clone();
            Box::pin(async move {
                probe.ping().await.map_err(|e| {
                    tracing::debug!(error = %e, "readiness: Cassandra does not answer");
                    vec!["store: Cassandra does not answer".to_string()]
                })
            })
        }));
    }

    /// Started and every probe passes (each within [`PROBE_TIMEOUT`]); otherwise what is wrong.
    pub async fn check(&self) -> Result<(), Vec<String>> {
        if !self.is_ready() {
            return Err(vec!["starting".into()]);
        }
        let probes: Vec<Probe> = self.0.probes.lock().clone();
        let results = futures::future::join_all(probes.iter().map(|probe| async move {
            match tokio::time::timeout(PROBE_TIMEOUT, probe()).await {
                Ok(r) => r,
                Err(_) => Err(vec![format!(
                    "a dependency did not answer within {} ms",
                    PROBE_TIMEOUT.as_millis()
                )]),
            }
        }))
        .await;
        let problems: Vec<String> = results
            .into_iter()
            .filter_map(Result::err)
            .flatten()
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

/// Everything a service needs to start, whatever the runtime mode.
#[derive(Clone)]
pub struct ServiceOptions {
    pub storage: Storage,
    /// Where the other services listen.
    pub peers: ServiceAddrs,
    pub client: ClientSettings,
    /// Where the outbox relay publishes and projections consume.
    pub bus: shop_bus::AnyBus,
    pub tuning: Tuning,
    /// Marked by the service when it starts serving.
    pub ready: Readiness,
    /// Where the service's RPC (and bus) metrics go; the all-in-one shop shares one registry.
    pub metrics: shop_telemetry::Metrics,
    /// Service keys: the service signs its calls with its own and admits callers by its ACL.
    pub auth: auth::ServiceAuth,
}

/// Behaviour knobs of the services (defaults suit the all-in-one shop).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tuning {
    /// How many live carts the cart service keeps in memory.
    pub cart_cache_capacity: usize,
    /// How long `checkout` waits for the saga's outcome before answering PENDING.
    pub checkout_wait: std::time::Duration,
    /// How long a checkout's stock reservation holds before it lapses by itself.
    pub reservation_ttl: std::time::Duration,
    /// How long a password-reset link works.
    pub password_reset_ttl: std::time::Duration,
    /// The storefront page a password-reset link opens (`<url>/<customer id>/<token>`).
    pub password_reset_url: String,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            cart_cache_capacity: 10_000,
            checkout_wait: std::time::Duration::from_secs(2),
            reservation_ttl: std::time::Duration::from_secs(600),
            password_reset_ttl: std::time::Duration::from_secs(3600),
            password_reset_url: "http://127.0.0.1:8080/account/reset".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_actor_round_trips_through_metainfo() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        for actor in [
            Actor::guest(),
            Actor::customer("c1"),
            Actor::guest_session("g1"),
            Actor {
                guest_id: Some("g2".into()),
                ..Actor::customer("c2")
            },
            Actor::internal(),
        ] {
            let seen = rt.block_on(with_actor(&actor, async { current_actor() }));
            assert_eq!(seen, actor);
        }
    }
}
