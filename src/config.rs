//! Typed configuration: defaults = the all-in-one shop; layered `--config file.toml` + env `THRIFTSHOP__SECTION__KEY`.
//! Unknown keys are rejected.
use std::{net::SocketAddr, path::PathBuf};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::{Deserialize, Serialize};

/// The whole shop's configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `development` (the default: GraphiQL, introspection and field suggestions on, per-client budgets off) or
    /// `production` (those off, per-client budgets on). Explicit settings win over the profile's defaults.
    pub profile: Profile,
    /// Where services keep their data (`sqlite`, the default) or `memory` (tests; lost on exit).
    pub store: StoreKind,
    /// The event bus: `embedded` (a SQLite log under `data_dir`, the default), `kafka` or `memory`.
    pub bus: BusKind,
    /// Directory for SQLite files.
    pub data_dir: PathBuf,
    pub gateway: GatewayConfig,
    pub services: ServicesConfig,
    /// HTTP admin endpoints of services run alone (`thriftshop serve <service>`): `/healthz`, `/readyz`, `/metrics`.
    pub admin: ServicesConfig,
    pub client: ClientConfig,
    pub demo: DemoConfig,
    pub kafka: KafkaConfig,
    pub cassandra: CassandraConfig,
    pub cart: CartConfig,
    pub checkout: CheckoutConfig,
    pub user: UserConfig,
    pub rate_limit: RateLimitConfig,
    /// Logs (pretty in development, JSON in production unless set), trace export over OTLP/HTTP, sampling.
    pub telemetry: shop_telemetry::TelemetrySettings,
    /// Keys of the service-to-service credentials (see SECURITY.md).
    pub service_auth: ServiceAuthConfig,
    /// What `/readyz` requires beyond reachable dependencies.
    pub health: HealthConfig,
}

/// Readiness bounds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// A component is not ready while one of its consumer groups lags more messages than this.
    pub max_consumer_lag: u64,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            max_consumer_lag: 1_000,
        }
    }
}

/// Where the service keys come from. Each process signs its calls with its own identity's key and accepts
/// callers whose public keys it has. Keys are base64: 32-byte Ed25519 seeds (`signing`) and public keys
/// (`verifying`); `thriftshop keys generate` prints a fresh set.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceAuthConfig {
    /// A keys file (`[signing]` and `[verifying]` tables). Default `<data_dir>/service-keys.toml`, which a
    /// development shop creates with fresh keys when no key is configured; in production keys must be given.
    pub keys_file: Option<PathBuf>,
    /// Signing keys by identity (`gateway`, `catalog`, …, `admin`). Secrets: give each process only its own.
    pub signing: std::collections::BTreeMap<String, String>,
    /// Public keys of the callers a process accepts, by identity.
    pub verifying: std::collections::BTreeMap<String, String>,
    /// Lifetime of issued credentials, in seconds (at most 300).
    pub token_ttl_secs: u64,
}

impl Default for ServiceAuthConfig {
    fn default() -> Self {
        Self {
            keys_file: None,
            signing: Default::default(),
            verifying: Default::default(),
            token_ttl_secs: 60,
        }
    }
}

/// Deployment profile: decides the defaults of the settings that differ between a laptop and production.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    #[default]
    Development,
    Production,
}

/// Per-gateway rate limits (0 disables one). Unset per-client budgets follow the profile: off in development,
/// 50 req/s (burst 100) and 20,000 complexity points/s (burst 50,000) in production.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    pub client_requests_per_second: Option<u32>,
    pub client_request_burst: Option<u32>,
    pub client_cost_per_second: Option<u32>,
    pub client_cost_burst: Option<u32>,
    /// Failed sign-ins per hour per IP address before its attempts are refused for a while.
    pub login_failures_per_ip_per_hour: u32,
    /// Failed sign-ins per hour per account (at most 100) before the account is refused for a while.
    pub login_failures_per_account_per_hour: u32,
    /// Password-reset requests (`customerRecover`) per hour per email address.
    pub password_recover_per_account_per_hour: u32,
    /// Password-reset requests (`customerRecover`) per hour per IP address.
    pub password_recover_per_ip_per_hour: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            client_requests_per_second: None,
            client_request_burst: None,
            client_cost_per_second: None,
            client_cost_burst: None,
            login_failures_per_ip_per_hour: 100,
            login_failures_per_account_per_hour: 20,
            password_recover_per_account_per_hour: 5,
            password_recover_per_ip_per_hour: 30,
        }
    }
}

/// The cart service.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CartConfig {
    /// How many live carts stay in memory (LRU).
    pub cache_capacity: usize,
}

impl Default for CartConfig {
    fn default() -> Self {
        Self {
            cache_capacity: 10_000,
        }
    }
}

/// Checkout behaviour.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CheckoutConfig {
    /// How long `cartCheckout` waits for the outcome before answering PENDING (ms, at most 30000).
    pub wait_ms: u64,
    /// How long a checkout's stock reservation holds before it lapses (ms, 1 s to 24 h).
    pub reservation_ttl_ms: u64,
}

impl Default for CheckoutConfig {
    fn default() -> Self {
        Self {
            wait_ms: 2_000,
            reservation_ttl_ms: 600_000,
        }
    }
}

/// The user service: password resets.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct UserConfig {
    /// How long a password-reset link works (ms, 5 minutes to 24 h).
    pub password_reset_ttl_ms: u64,
    /// The storefront page that takes a reset link; the mail's link is `<url>/<customer id>/<token>`
    /// (`http://` or `https://`).
    pub password_reset_url: String,
}

impl Default for UserConfig {
    fn default() -> Self {
        Self {
            password_reset_ttl_ms: 3_600_000,
            password_reset_url: "http://127.0.0.1:8080/account/reset".to_string(),
        }
    }
}

/// Storage engine.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    Sqlite,
    Memory,
    Cassandra,
}

/// The Cassandra/ScyllaDB cluster (used when `store = "cassandra"`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CassandraConfig {
    /// Contact points: comma-separated `host:port` list.
    pub nodes: String,
    /// Each service keeps its data in keyspace `<keyspace_prefix>_<service>` (created if missing).
    pub keyspace_prefix: String,
    /// Replication factor of keyspaces the shop creates (3 in production; 1 for a single local node).
    pub replication_factor: u32,
    /// The local datacenter (LOCAL_QUORUM/LOCAL_SERIAL, DC-aware routing); empty for single-DC clusters.
    pub local_datacenter: String,
    /// Client-side timeout of every request.
    pub request_timeout_ms: u64,
}

impl Default for CassandraConfig {
    fn default() -> Self {
        Self {
            nodes: "127.0.0.1:9042".into(),
            keyspace_prefix: "thriftshop".into(),
            replication_factor: 1,
            local_datacenter: String::new(),
            request_timeout_ms: 5_000,
        }
    }
}

/// Event bus engine.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BusKind {
    Embedded,
    Kafka,
    Memory,
}

/// The Kafka cluster (used when `bus = "kafka"`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// `bootstrap.servers`: comma-separated `host:port` list.
    pub brokers: String,
    /// Partitions of the topics the shop creates.
    pub partitions: i32,
    /// Replication factor of the topics the shop creates (3 in production; 1 for a single local broker).
    pub replication_factor: i32,
    /// How long a publish may wait for the brokers' acknowledgement before it fails.
    pub delivery_timeout_ms: u64,
    /// Prefix for topic and consumer-group names, so several shops can share one cluster (empty: none).
    pub namespace: String,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:9092".into(),
            partitions: 6,
            replication_factor: 1,
            delivery_timeout_ms: 30_000,
            namespace: String::new(),
        }
    }
}

/// The GraphQL gateway.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    pub listen: SocketAddr,
    /// Serve GraphiQL to browsers (unset: on in development, off in production).
    pub graphiql: Option<bool>,
    /// Answer introspection (unset: on in development, off in production).
    pub introspection: Option<bool>,
    /// Suggest field names in validation errors (unset: on in development, off in production).
    pub field_suggestions: Option<bool>,
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_body_bytes: usize,
    /// Most lexical tokens in a document.
    pub max_tokens: usize,
    /// Most aliases in an operation (fragments expanded).
    pub max_aliases: usize,
    /// Most root fields in an operation.
    pub max_root_fields: usize,
    /// Most operations in a batched request.
    pub max_batch: usize,
    /// A trusted-documents manifest: when set, only its documents are executed (allowlist mode).
    pub trusted_documents: Option<PathBuf>,
    /// Take the client address from `X-Forwarded-For` (only behind a proxy that sets it).
    pub trust_forwarded_for: bool,
    /// How long a resolved access token is reused before asking the session service again: the bound on how
    /// long a token revoked through another gateway keeps working (0 disables the cache).
    pub token_cache_ms: u64,
}

/// Thrift listen addresses of the seven services (also where the gateway and peers reach them).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServicesConfig {
    pub catalog: SocketAddr,
    pub inventory: SocketAddr,
    pub cart: SocketAddr,
    pub order: SocketAddr,
    pub user: SocketAddr,
    pub session: SocketAddr,
    pub recommender: SocketAddr,
}

/// Thrift client timeouts (milliseconds).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ClientConfig {
    pub connect_timeout_ms: u64,
    pub rpc_timeout_ms: u64,
}

/// Demo data.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DemoConfig {
    /// Give every catalog variant without a stock record some stock at start-up.
    pub seed_stock: bool,
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

impl Default for Config {
    fn default() -> Self {
        Self {
            profile: Profile::Development,
            store: StoreKind::Sqlite,
            bus: BusKind::Embedded,
            data_dir: PathBuf::from("./data"),
            gateway: GatewayConfig::default(),
            services: ServicesConfig::default(),
            admin: ServicesConfig::admin_default(),
            client: ClientConfig::default(),
            demo: DemoConfig { seed_stock: true },
            kafka: KafkaConfig::default(),
            cassandra: CassandraConfig::default(),
            cart: CartConfig::default(),
            checkout: CheckoutConfig::default(),
            user: UserConfig::default(),
            rate_limit: RateLimitConfig::default(),
            telemetry: shop_telemetry::TelemetrySettings::default(),
            service_auth: ServiceAuthConfig::default(),
            health: HealthConfig::default(),
        }
    }
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            listen: addr(8080),
            graphiql: None,
            introspection: None,
            field_suggestions: None,
            max_depth: 15,
            max_complexity: 10_000,
            max_body_bytes: 256 * 1024,
            max_tokens: 5_000,
            max_aliases: 30,
            max_root_fields: 20,
            max_batch: 16,
            trusted_documents: None,
            trust_forwarded_for: false,
            token_cache_ms: 2_000,
        }
    }
}

impl Default for ServicesConfig {
    fn default() -> Self {
        Self::from_base(9101)
    }
}

impl ServicesConfig {
    /// Loopback addresses on seven consecutive ports from `base` (catalog first, recommender last).
    fn from_base(base: u16) -> Self {
        Self {
            catalog: addr(base),
            inventory: addr(base + 1),
            cart: addr(base + 2),
            order: addr(base + 3),
            user: addr(base + 4),
            session: addr(base + 5),
            recommender: addr(base + 6),
        }
    }

    /// The default admin addresses (`/healthz`, `/readyz`, `/metrics` of a service run alone): 9201…9207.
    pub fn admin_default() -> Self {
        Self::from_base(9201)
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            connect_timeout_ms: 500,
            rpc_timeout_ms: 5_000,
        }
    }
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self { seed_stock: true }
    }
}

impl Config {
    /// The service keys: configured keys plus the keys file. With no key configured and no keys file, a
    /// development shop creates the keys file with fresh keys (so every process on this machine, and the
    /// operator commands, share it); production requires configured keys.
    pub fn service_auth(&self) -> anyhow::Result<shop_rpc::auth::ServiceAuth> {
        use anyhow::Context as _;
        use shop_rpc::auth::{AuthSettings, KeyRing, ServiceAuth};
        let a = &self.service_auth;
        let mut ring =
            KeyRing::from_config(&a.signing, &a.verifying).context("service_auth keys")?;
        let path = a
            .keys_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("service-keys.toml"));
        if path.exists() {
            ring.merge_file(&path)?;
        } else if ring.is_empty() && self.profile == Profile::Development {
            ring = KeyRing::load_or_create(&path)?;
        } else if ring.is_empty() {
            anyhow::bail!(
                "no service keys: the production profile needs service_auth.keys_file or \
                 service_auth.signing/verifying keys (`thriftshop keys generate` prints a set)"
            );
        }
        Ok(ServiceAuth::new(
            ring,
            AuthSettings {
                token_ttl: std::time::Duration::from_secs(a.token_ttl_secs),
            },
        ))
    }

    /// Defaults, then the optional TOML file, then `THRIFTSHOP__…` environment variables.
    pub fn load(file: Option<&std::path::Path>) -> Result<Self, Box<figment::Error>> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(f) = file {
            fig = fig.merge(Toml::file_exact(f));
        }
        fig = fig.merge(Env::prefixed("THRIFTSHOP__").split("__"));
        let mut cfg: Config = fig.extract().map_err(Box::new)?;
        if cfg.profile == Profile::Production && fig.find_value("telemetry.log_format").is_err() {
            cfg.telemetry.log_format = shop_telemetry::LogFormat::Json;
        }
        let problems = cfg.problems();
        if problems.is_empty() {
            Ok(cfg)
        } else {
            Err(Box::new(figment::Error::from(format!(
                "invalid configuration: {}",
                problems.join("; ")
            ))))
        }
    }

    /// Whether a profile-dependent switch is on: the explicit setting, else on only in development.
    pub fn dev_default(&self, explicit: Option<bool>) -> bool {
        explicit.unwrap_or(self.profile == Profile::Development)
    }

    /// A per-client budget: the explicit setting, else `production` in the production profile and 0 (off) in
    /// development.
    pub fn budget(&self, explicit: Option<u32>, production: u32) -> u32 {
        explicit.unwrap_or(match self.profile {
            Profile::Development => 0,
            Profile::Production => production,
        })
    }

    /// Every semantic problem with these settings (empty when valid).
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        let k = &self.kafka;
        if k.brokers.trim().is_empty() {
            p.push("kafka.brokers must list at least one host:port".to_string());
        }
        if k.partitions < 1 {
            p.push(format!(
                "kafka.partitions must be >= 1 (got {})",
                k.partitions
            ));
        }
        if k.replication_factor < 1 {
            p.push(format!(
                "kafka.replication_factor must be >= 1 (got {})",
                k.replication_factor
            ));
        }
        if k.delivery_timeout_ms == 0 {
            p.push("kafka.delivery_timeout_ms must be > 0".to_string());
        }
        if self.client.connect_timeout_ms == 0 || self.client.rpc_timeout_ms == 0 {
            p.push("client timeouts must be > 0".to_string());
        }
        let g = &self.gateway;
        for (name, v) in [
            ("max_depth", g.max_depth),
            ("max_complexity", g.max_complexity),
            ("max_body_bytes", g.max_body_bytes),
            ("max_tokens", g.max_tokens),
            ("max_aliases", g.max_aliases),
            ("max_root_fields", g.max_root_fields),
            ("max_batch", g.max_batch),
        ] {
            if v == 0 {
                p.push(format!("gateway.{name} must be >= 1"));
            }
        }
        if self.rate_limit.login_failures_per_account_per_hour > 100 {
            p.push(format!(
                "rate_limit.login_failures_per_account_per_hour must be at most 100 (got {})",
                self.rate_limit.login_failures_per_account_per_hour
            ));
        }
        let c = &self.cassandra;
        if c.nodes.split(',').all(|n| n.trim().is_empty()) {
            p.push("cassandra.nodes must list at least one host:port".to_string());
        }
        let prefix_ok = c.keyspace_prefix.len() <= 30
            && c.keyspace_prefix
                .starts_with(|ch: char| ch.is_ascii_alphabetic())
            && c.keyspace_prefix
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
        if !prefix_ok {
            p.push(format!(
                "cassandra.keyspace_prefix must be a letter then up to 29 letters, digits or _ (got {:?})",
                c.keyspace_prefix
            ));
        }
        if c.replication_factor < 1 {
            p.push("cassandra.replication_factor must be >= 1".to_string());
        }
        if c.request_timeout_ms == 0 {
            p.push("cassandra.request_timeout_ms must be > 0".to_string());
        }
        if self.gateway.token_cache_ms > 60_000 {
            p.push(format!(
                "gateway.token_cache_ms must be at most 60000 (got {})",
                self.gateway.token_cache_ms
            ));
        }
        if !(300_000..=86_400_000).contains(&self.user.password_reset_ttl_ms) {
            p.push(format!(
                "user.password_reset_ttl_ms must be between 300000 and 86400000 (got {})",
                self.user.password_reset_ttl_ms
            ));
        }
        let url = self.user.password_reset_url.trim();
        if !(url.starts_with("http://") || url.starts_with("https://"))
            || url.len() > 512
            || url.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            p.push(format!(
                "user.password_reset_url must be an http:// or https:// URL of at most 512 characters (got {:?})",
                self.user.password_reset_url
            ));
        }
        if self.cart.cache_capacity == 0 {
            p.push("cart.cache_capacity must be >= 1".to_string());
        }
        if self.checkout.wait_ms > 30_000 {
            p.push(format!(
                "checkout.wait_ms must be at most 30000 (got {})",
                self.checkout.wait_ms
            ));
        }
        if !(1_000..=86_400_000).contains(&self.checkout.reservation_ttl_ms) {
            p.push(format!(
                "checkout.reservation_ttl_ms must be between 1000 and 86400000 (got {})",
                self.checkout.reservation_ttl_ms
            ));
        }
        p
    }

    /// Service behaviour knobs.
    /// Where the services keep their data.
    pub fn storage(&self) -> shop_rpc::Storage {
        match self.store {
            StoreKind::Sqlite => shop_rpc::Storage::Sqlite(self.data_dir.clone()),
            StoreKind::Memory => shop_rpc::Storage::Memory,
            StoreKind::Cassandra => {
                let c = &self.cassandra;
                shop_rpc::Storage::Cassandra(shop_rpc::CassandraCluster {
                    nodes: c
                        .nodes
                        .split(',')
                        .map(|n| n.trim().to_string())
                        .filter(|n| !n.is_empty())
                        .collect(),
                    keyspace_prefix: c.keyspace_prefix.clone(),
                    replication_factor: c.replication_factor,
                    local_datacenter: Some(c.local_datacenter.trim().to_string())
                        .filter(|d| !d.is_empty()),
                    request_timeout: std::time::Duration::from_millis(c.request_timeout_ms),
                })
            }
        }
    }

    pub fn tuning(&self) -> shop_rpc::Tuning {
        shop_rpc::Tuning {
            cart_cache_capacity: self.cart.cache_capacity,
            checkout_wait: std::time::Duration::from_millis(self.checkout.wait_ms),
            reservation_ttl: std::time::Duration::from_millis(self.checkout.reservation_ttl_ms),
            password_reset_ttl: std::time::Duration::from_millis(self.user.password_reset_ttl_ms),
            password_reset_url: self.user.password_reset_url.trim().to_string(),
        }
    }

    /// Addresses of the services.
    pub fn service_addrs(&self) -> shop_rpc::ServiceAddrs {
        let s = &self.services;
        shop_rpc::ServiceAddrs {
            catalog: s.catalog,
            inventory: s.inventory,
            cart: s.cart,
            order: s.order,
            user: s.user,
            session: s.session,
            recommender: s.recommender,
        }
    }

    /// Client settings.
    pub fn client_settings(&self) -> shop_rpc::ClientSettings {
        let rpc = std::time::Duration::from_millis(self.client.rpc_timeout_ms);
        shop_rpc::ClientSettings {
            connect_timeout: std::time::Duration::from_millis(self.client.connect_timeout_ms),
            rpc_timeout: rpc,
            read_write_timeout: rpc,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API returns figment::Error
    fn file_and_env_layers_and_unknown_keys() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "shop.toml",
                "store = \"memory\"\n[gateway]\nlisten = \"127.0.0.1:9999\"\n",
            )?;
            jail.set_env("THRIFTSHOP__GATEWAY__GRAPHIQL", "false");
            let c = Config::load(Some(std::path::Path::new("shop.toml"))).expect("loads");
            assert_eq!(c.store, StoreKind::Memory);
            assert_eq!(c.gateway.listen, addr(9999));
            assert_eq!(c.gateway.graphiql, Some(false));
            assert!(!c.dev_default(c.gateway.graphiql));
            assert!(c.dev_default(c.gateway.introspection));
            jail.set_env("THRIFTSHOP__PROFILE", "production");
            let p = Config::load(None).expect("loads");
            assert!(!p.dev_default(p.gateway.introspection));
            assert_eq!(p.budget(p.rate_limit.client_requests_per_second, 50), 50);
            jail.set_env("THRIFTSHOP__RATE_LIMIT__CLIENT_REQUESTS_PER_SECOND", "0");
            let p = Config::load(None).expect("loads");
            assert_eq!(p.budget(p.rate_limit.client_requests_per_second, 50), 0);
            jail.set_env("THRIFTSHOP__PROFILE", "development");
            jail.create_file("bad.toml", "[gateway]\nlisen = \"x\"\n")?;
            assert!(Config::load(Some(std::path::Path::new("bad.toml"))).is_err());
            jail.set_env("THRIFTSHOP__BUS", "carrier-pigeon");
            assert!(Config::load(None).is_err());
            jail.set_env("THRIFTSHOP__BUS", "kafka");
            jail.set_env("THRIFTSHOP__KAFKA__BROKERS", "10.0.0.1:9092,10.0.0.2:9092");
            let c = Config::load(None).expect("kafka config loads");
            assert_eq!(c.bus, BusKind::Kafka);
            assert_eq!(c.kafka.brokers, "10.0.0.1:9092,10.0.0.2:9092");
            jail.set_env("THRIFTSHOP__KAFKA__PARTITIONS", "0");
            jail.set_env("THRIFTSHOP__KAFKA__REPLICATION_FACTOR", "0");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(
                err.contains("kafka.partitions") && err.contains("kafka.replication_factor"),
                "{err}"
            );
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API returns figment::Error
    fn password_reset_settings_are_checked_and_reach_the_tuning() {
        figment::Jail::expect_with(|jail| {
            let c = Config::load(None).expect("defaults load");
            let t = c.tuning();
            assert_eq!(t.password_reset_ttl, std::time::Duration::from_secs(3600));
            assert_eq!(t.password_reset_url, "http://127.0.0.1:8080/account/reset");
            assert_eq!(c.rate_limit.password_recover_per_account_per_hour, 5);
            jail.set_env("THRIFTSHOP__USER__PASSWORD_RESET_TTL_MS", "900000");
            jail.set_env(
                "THRIFTSHOP__USER__PASSWORD_RESET_URL",
                "https://shop.example/account/reset",
            );
            let c = Config::load(None).expect("loads");
            assert_eq!(
                c.tuning().password_reset_ttl,
                std::time::Duration::from_secs(900)
            );
            assert_eq!(
                c.tuning().password_reset_url,
                "https://shop.example/account/reset"
            );
            jail.set_env("THRIFTSHOP__USER__PASSWORD_RESET_TTL_MS", "1000");
            jail.set_env(
                "THRIFTSHOP__USER__PASSWORD_RESET_URL",
                "javascript:alert(1)",
            );
            let err = Config::load(None).unwrap_err().to_string();
            assert!(
                err.contains("user.password_reset_ttl_ms")
                    && err.contains("user.password_reset_url"),
                "{err}"
            );
            Ok(())
        });
    }
}
