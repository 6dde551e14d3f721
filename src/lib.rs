//! The thriftshop binary's assembly: starts the GraphQL gateway and the seven Thrift services (all-in-one), or
//! one component alone (`thriftshop serve <component>`), from one [`config::Config`].

pub mod admin;
pub mod config;
pub mod health;
mod seed;

use std::{net::SocketAddr, str::FromStr};

use anyhow::Context;
use config::{BusKind, Config};
use shop_projections::{AnyProjectionStore, Projections};
use shop_rpc::{BoxError, ServiceAddrs, ServiceOptions};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

/// A part of the shop that can run alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    Gateway,
    Catalog,
    Inventory,
    Cart,
    Order,
    User,
    Session,
    Recommender,
}

impl Component {
    /// The seven services.
    pub const SERVICES: [Component; 7] = [
        Component::Catalog,
        Component::Inventory,
        Component::Cart,
        Component::Order,
        Component::User,
        Component::Session,
        Component::Recommender,
    ];

    /// Lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Component::Gateway => "gateway",
            Component::Catalog => "catalog",
            Component::Inventory => "inventory",
            Component::Cart => "cart",
            Component::Order => "order",
            Component::User => "user",
            Component::Session => "session",
            Component::Recommender => "recommender",
        }
    }

    fn configured_addr(self, cfg: &Config) -> SocketAddr {
        let s = &cfg.services;
        match self {
            Component::Gateway => cfg.gateway.listen,
            Component::Catalog => s.catalog,
            Component::Inventory => s.inventory,
            Component::Cart => s.cart,
            Component::Order => s.order,
            Component::User => s.user,
            Component::Session => s.session,
            Component::Recommender => s.recommender,
        }
    }

    /// Where a service run alone serves its admin endpoints (`None` for the gateway, which serves its own).
    fn admin_addr(self, cfg: &Config) -> Option<SocketAddr> {
        let a = &cfg.admin;
        Some(match self {
            Component::Gateway => return None,
            Component::Catalog => a.catalog,
            Component::Inventory => a.inventory,
            Component::Cart => a.cart,
            Component::Order => a.order,
            Component::User => a.user,
            Component::Session => a.session,
            Component::Recommender => a.recommender,
        })
    }
}

impl FromStr for Component {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Component::Gateway].into_iter().chain(Component::SERVICES).find(|c| c.name() == s).ok_or_else(|| {
            format!("unknown component `{s}` (gateway, catalog, inventory, cart, order, user, session, recommender)")
        })
    }
}

fn open_bus(cfg: &Config) -> anyhow::Result<shop_bus::AnyBus> {
    Ok(match cfg.bus {
        BusKind::Embedded => shop_bus::AnyBus::Embedded(
            shop_bus::embedded::EmbeddedBus::open(&cfg.data_dir.join("eventlog.db"))
                .context("opening the event log")?,
        ),
        BusKind::Kafka => {
            let k = &cfg.kafka;
            shop_bus::AnyBus::Kafka(
                shop_bus::kafka::KafkaBus::connect(shop_bus::kafka::KafkaSettings {
                    brokers: k.brokers.clone(),
                    partitions: k.partitions,
                    replication_factor: k.replication_factor,
                    client_id: "thriftshop".into(),
                    delivery_timeout: std::time::Duration::from_millis(k.delivery_timeout_ms),
                    namespace: k.namespace.clone(),
                })
                .context("configuring the Kafka client")?,
            )
        }
        BusKind::Memory => shop_bus::AnyBus::Memory(shop_bus::memory::MemoryBus::new()),
    })
}

fn gateway_options(
    cfg: &Config,
    peers: ServiceAddrs,
    metrics: &shop_telemetry::Metrics,
    service_auth: &shop_rpc::auth::ServiceAuth,
) -> anyhow::Result<shop_gateway::GatewayOptions> {
    use shop_gateway::{hardening, limits};
    let g = &cfg.gateway;
    let r = &cfg.rate_limit;
    let persisted = match &g.trusted_documents {
        Some(path) => hardening::PersistedMode::allowlist_from_file(path)?,
        None => hardening::PersistedMode::Automatic,
    };
    Ok(shop_gateway::GatewayOptions {
        peers,
        client: cfg.client_settings(),
        graphiql: cfg.dev_default(g.graphiql),
        introspection: cfg.dev_default(g.introspection),
        field_suggestions: cfg.dev_default(g.field_suggestions),
        max_depth: g.max_depth,
        max_complexity: g.max_complexity,
        max_body_bytes: g.max_body_bytes,
        document_limits: hardening::DocumentLimits {
            max_tokens: g.max_tokens,
            max_aliases: g.max_aliases,
            max_root_fields: g.max_root_fields,
        },
        persisted,
        max_batch: g.max_batch,
        trust_forwarded_for: g.trust_forwarded_for,
        limits: limits::LimitOptions {
            client_requests_per_second: cfg.budget(r.client_requests_per_second, 50),
            client_request_burst: cfg.budget(r.client_request_burst, 100),
            client_cost_per_second: cfg.budget(r.client_cost_per_second, 20_000),
            client_cost_burst: cfg.budget(r.client_cost_burst, 50_000),
            login_failures_per_ip_per_hour: r.login_failures_per_ip_per_hour,
            login_failures_per_account_per_hour: r.login_failures_per_account_per_hour,
            password_recover_per_account_per_hour: r.password_recover_per_account_per_hour,
            password_recover_per_ip_per_hour: r.password_recover_per_ip_per_hour,
        },
        auth: shop_gateway::auth::AuthOptions {
            cache_ttl: std::time::Duration::from_millis(g.token_cache_ms),
            ..Default::default()
        },
        metrics: metrics.clone(),
        credentials: service_auth.credentials(shop_rpc::auth::Identity::Gateway)?,
        // A gateway run alone depends on nothing else in its process; the all-in-one shop adds its services'.
        ..Default::default()
    })
}

async fn run_service(
    c: Component,
    opts: ServiceOptions,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), BoxError> {
    match c {
        Component::Catalog => shop_catalog::run(opts, listener, shutdown).await,
        Component::Inventory => shop_inventory::run(opts, listener, shutdown).await,
        Component::Cart => shop_cart::run(opts, listener, shutdown).await,
        Component::Order => shop_order::run(opts, listener, shutdown).await,
        Component::User => shop_user::run(opts, listener, shutdown).await,
        Component::Session => shop_session::run(opts, listener, shutdown).await,
        Component::Recommender => shop_recommender::run(opts, listener, shutdown).await,
        Component::Gateway => Err("the gateway is not a Thrift service".into()),
    }
}

async fn bind(addr: SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen for {what} on {addr}"))
}

/// A running shop (all-in-one): the gateway and seven services in this process.
pub struct Shop {
    /// Where GraphQL is served.
    pub gateway_addr: SocketAddr,
    /// Where the services listen.
    pub services: ServiceAddrs,
    /// The service keys of this shop (operators' tools in the same process call services with them).
    pub auth: shop_rpc::auth::ServiceAuth,
    /// The Cassandra read models fed from the bus (with `store = "cassandra"`): order history by customer,
    /// stock by variant, popularity and co-purchase, carts by owner; their lag and rebuild.
    pub projections: Option<Projections<AnyProjectionStore>>,
    shutdown: CancellationToken,
    tasks: Vec<(&'static str, JoinHandle<Result<(), BoxError>>)>,
}

impl Shop {
    /// Binds every listener (port 0 allowed), starts the services, seeds demo stock if configured, then starts
    /// the gateway. Returns when the shop is ready to serve.
    pub async fn start(cfg: Config) -> anyhow::Result<Shop> {
        let shutdown = CancellationToken::new();
        let mut listeners = Vec::new();
        for c in Component::SERVICES {
            listeners.push((c, bind(c.configured_addr(&cfg), c.name()).await?));
        }
        let addr_of = |want: Component| -> anyhow::Result<SocketAddr> {
            let (_, l) = listeners
                .iter()
                .find(|(c, _)| *c == want)
                .context("listener")?;
            Ok(l.local_addr()?)
        };
        let services = ServiceAddrs {
            catalog: addr_of(Component::Catalog)?,
            inventory: addr_of(Component::Inventory)?,
            cart: addr_of(Component::Cart)?,
            order: addr_of(Component::Order)?,
            user: addr_of(Component::User)?,
            session: addr_of(Component::Session)?,
            recommender: addr_of(Component::Recommender)?,
        };
        let storage = cfg.storage();
        let metrics = shop_telemetry::Metrics::new();
        let auth = cfg.service_auth()?;
        let mut gateway_opts = gateway_options(&cfg, services, &metrics, &auth)?;
        let opts = ServiceOptions {
            storage,
            peers: services,
            client: cfg.client_settings(),
            bus: open_bus(&cfg)?,
            tuning: cfg.tuning(),
            ready: shop_rpc::Readiness::new(),
            metrics: metrics.clone(),
            auth: auth.clone(),
        };
        // The services share this process: the gateway's /readyz also covers their store and consumer groups.
        gateway_opts.dependencies = dependencies(&cfg, &opts);
        gateway_opts.dependencies.mark_ready();
        let mut tasks = Vec::new();
        let mut signals = Vec::new();
        for (c, listener) in listeners {
            let opts = ServiceOptions {
                ready: shop_rpc::Readiness::new(),
                ..opts.clone()
            };
            signals.push((c.name(), opts.ready.clone()));
            let task = tokio::spawn(run_service(c, opts, listener, shutdown.clone()));
            tasks.push((c.name(), task));
        }
        // Every service opens its store (creating keyspaces on a fresh cluster takes seconds) before it serves.
        if let Err(e) = wait_until_ready(&signals, &mut tasks).await {
            let shop = Shop {
                gateway_addr: cfg.gateway.listen,
                services,
                auth: auth.clone(),
                projections: None,
                shutdown: shutdown.clone(),
                tasks,
            };
            shop.stop().await;
            return Err(e);
        }
        let gateway_listener = bind(cfg.gateway.listen, "the gateway").await?;
        let gateway_addr = gateway_listener.local_addr()?;
        let mut shop = Shop {
            gateway_addr,
            services,
            auth: auth.clone(),
            projections: None,
            shutdown: shutdown.clone(),
            tasks,
        };
        if let shop_rpc::Storage::Cassandra(cluster) = &opts.storage {
            match AnyProjectionStore::cassandra(cluster.settings("projections")).await {
                Ok(store) => {
                    let projections = Projections::with_metrics(store, metrics.clone());
                    let runner = projections.clone();
                    let bus = opts.bus.clone();
                    let stop = shutdown.clone();
                    shop.tasks.push((
                        "projections",
                        tokio::spawn(async move {
                            runner.run(bus, "projections", stop).await;
                            Ok(())
                        }),
                    ));
                    shop.projections = Some(projections);
                }
                Err(e) => {
                    shop.stop().await;
                    return Err(anyhow::anyhow!("opening the projection store: {e}"));
                }
            }
        }
        if cfg.demo.seed_stock
            && let Err(e) = seed::seed_stock(services, cfg.client_settings(), &auth).await
        {
            shop.stop().await;
            return Err(e.context("seeding demo stock"));
        }
        let gw = tokio::spawn(shop_gateway::serve(
            gateway_opts,
            gateway_listener,
            shutdown,
        ));
        shop.tasks.push(("gateway", gw));
        Ok(shop)
    }

    /// A token that stops the shop when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Waits until every component has stopped (after the token is cancelled or a component fails).
    pub async fn wait(self) -> anyhow::Result<()> {
        let mut failed = None;
        for (name, task) in self.tasks {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::error!(component = name, error = %e, "component failed");
                    self.shutdown.cancel();
                    failed.get_or_insert_with(|| anyhow::anyhow!("{name} failed: {e}"));
                }
                Err(e) => {
                    self.shutdown.cancel();
                    failed.get_or_insert_with(|| anyhow::anyhow!("{name} panicked: {e}"));
                }
            }
        }
        failed.map_or(Ok(()), Err)
    }

    /// Stops every component and waits for them.
    pub async fn stop(self) {
        self.shutdown.cancel();
        if let Err(e) = self.wait().await {
            tracing::warn!(error = %e, "shutdown");
        }
    }
}

/// Run-time readiness checks of what services with `opts` depend on: their store answers and the consumer
/// groups on their bus are caught up within `health.max_consumer_lag` (not marked started yet).
fn dependencies(cfg: &Config, opts: &ServiceOptions) -> shop_rpc::Readiness {
    let ready = shop_rpc::Readiness::new();
    ready.watch_storage(&opts.storage);
    ready.watch_consumers(&opts.bus, cfg.health.max_consumer_lag);
    ready
}

/// How long the services may take to open their stores at start-up.
const STARTUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(180);

/// Waits for every service's readiness signal; fails (removing the finished task) if one stops first, or on
/// timeout.
async fn wait_until_ready(
    signals: &[(&'static str, shop_rpc::Readiness)],
    tasks: &mut Vec<(&'static str, JoinHandle<Result<(), BoxError>>)>,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + STARTUP_TIMEOUT;
    for (name, ready) in signals {
        let Some(i) = tasks.iter().position(|(n, _)| n == name) else {
            continue;
        };
        tokio::select! {
            _ = ready.wait() => {}
            r = &mut tasks[i].1 => {
                tasks.remove(i);
                return Err(match r {
                    Ok(Ok(())) => anyhow::anyhow!("the {name} service stopped during start-up"),
                    Ok(Err(e)) => anyhow::anyhow!("the {name} service failed to start: {e}"),
                    Err(e) => anyhow::anyhow!("the {name} service panicked during start-up: {e}"),
                });
            }
            _ = tokio::time::sleep_until(deadline) => {
                anyhow::bail!("the {name} service was not ready within {} s", STARTUP_TIMEOUT.as_secs());
            }
        }
    }
    Ok(())
}

/// Runs one component alone with the addresses from `cfg`, until `shutdown`.
pub async fn serve_component(
    c: Component,
    cfg: Config,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let listener = bind(c.configured_addr(&cfg), c.name()).await?;
    if c == Component::Gateway {
        return shop_gateway::serve(
            gateway_options(
                &cfg,
                cfg.service_addrs(),
                &shop_telemetry::Metrics::new(),
                &cfg.service_auth()?,
            )?,
            listener,
            shutdown,
        )
        .await
        .map_err(|e| anyhow::anyhow!("gateway: {e}"));
    }
    let storage = cfg.storage();
    let mut opts = ServiceOptions {
        ready: shop_rpc::Readiness::new(),
        storage,
        peers: cfg.service_addrs(),
        client: cfg.client_settings(),
        bus: open_bus(&cfg)?,
        tuning: cfg.tuning(),
        metrics: shop_telemetry::Metrics::new(),
        auth: cfg.service_auth()?,
    };
    opts.ready = dependencies(&cfg, &opts);
    let admin = match c.admin_addr(&cfg) {
        Some(addr) => {
            let listener = bind(addr, "the admin endpoints").await?;
            Some(tokio::spawn(health::serve_admin(
                listener,
                c.name(),
                opts.ready.clone(),
                opts.metrics.clone(),
                shutdown.clone(),
            )))
        }
        None => None,
    };
    let served = run_service(c, opts, listener, shutdown.clone())
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e}", c.name()));
    shutdown.cancel();
    if let Some(admin) = admin {
        let _ = admin.await;
    }
    served
}
