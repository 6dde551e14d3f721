//! Prometheus metrics of a thriftshop process: one [`Metrics`] per process, cloned into every component that
//! records (a clone is one `Arc`), rendered by [`Metrics::encode`] on `/metrics`.
//!
//! Names follow `thriftshop_<component>_<thing>_<unit>`; counters end in `_total`.
//!
//! **Label values must come from bounded sets** — every distinct value is a new time series kept for the life
//! of the process:
//! - `operation`: a GraphQL operation name normalised with [`Metrics::normalize_operation`] (or an
//!   [`OperationNames`] of your own): missing → `anonymous`, malformed or over-long → `other`, and only the
//!   first N distinct names (or the persisted/allow-listed ones) are kept, later ones → `other`;
//! - `type`: `query`, `mutation`, `subscription` (anything else → `unknown`, see [`operation_type`]);
//! - `outcome` / `code`: the constants in [`outcome`] or the stable `ShopError.code` values — never free
//!   text, ids or messages;
//! - `service`, `method`, `topic`, `group`, `projection`, `store`: names from code, not from requests.
//!
//! Label values are `Cow<'static, str>`: pass `&'static str` where you can (no allocation) or an owned
//! `String`.

use std::{
    borrow::Cow,
    collections::HashSet,
    sync::{Arc, RwLock},
    time::Duration,
};

use prometheus_client::{
    encoding::text::encode,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

/// A label value.
pub type Label = Cow<'static, str>;

type Labels<const N: usize> = [(&'static str, Label); N];
type Counters<const N: usize> = Family<Labels<N>, Counter>;
type Gauges<const N: usize> = Family<Labels<N>, Gauge>;
type Histograms<const N: usize> = Family<Labels<N>, Histogram, fn() -> Histogram>;

/// Standard `outcome` / `code` label values.
pub mod outcome {
    /// Success.
    pub const OK: &str = "ok";
    /// Failure (for `code` labels prefer the stable error code).
    pub const ERROR: &str = "error";
    /// A GraphQL response with data and errors.
    pub const PARTIAL: &str = "partial";
    /// Refused before execution (rate limit, admission, validation).
    pub const REJECTED: &str = "rejected";
    /// A Thrift call that failed below the application (connect, timeout, decode).
    pub const TRANSPORT: &str = "transport";
    /// Reservation outcomes.
    pub const RESERVED: &str = "reserved";
    pub const INSUFFICIENT_STOCK: &str = "insufficient_stock";
    pub const RELEASED: &str = "released";
    /// A reservation whose stock left the warehouse (the order was paid).
    pub const COMMITTED: &str = "committed";
    /// A reservation released by the sweeper because its hold lapsed.
    pub const EXPIRED: &str = "expired";
    /// Checkout outcomes.
    pub const PLACED: &str = "placed";
    pub const PAYMENT_FAILED: &str = "payment_failed";
    pub const OUT_OF_STOCK: &str = "out_of_stock";
    pub const CONFLICT: &str = "conflict";
}

/// `operation` value of a request without an operation name.
pub const ANONYMOUS: &str = "anonymous";
/// `operation` value of names that are malformed, too long, or past the distinct-name limit.
pub const OTHER: &str = "other";
/// Longest operation name kept as a label value.
pub const MAX_OPERATION_NAME_LEN: usize = 64;
/// Distinct operation names [`Metrics::new`] admits before mapping new ones to [`OTHER`].
pub const DEFAULT_OPERATION_LIMIT: usize = 200;

/// Latency buckets (seconds) for requests and RPCs: fine below 50 ms, where the targets are.
pub const LATENCY_BUCKETS: [f64; 15] = [
    0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Projection lag buckets (seconds): the targets are 20 ms (embedded) and 100 ms (Kafka + Cassandra).
pub const PROJECTION_LAG_BUCKETS: [f64; 13] = [
    0.001, 0.002_5, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Store operation buckets (seconds): SQLite answers in microseconds, Cassandra LWTs in milliseconds.
pub const STORE_BUCKETS: [f64; 14] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
    5.0,
];

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}
fn projection_histogram() -> Histogram {
    Histogram::new(PROJECTION_LAG_BUCKETS)
}
fn store_histogram() -> Histogram {
    Histogram::new(STORE_BUCKETS)
}

/// Bounds the `operation` label: the first `limit` distinct valid names (plus any `known` ones, e.g. the
/// persisted-query allowlist) are kept, everything else becomes [`OTHER`]; a missing name is [`ANONYMOUS`].
#[derive(Debug)]
pub struct OperationNames {
    admitted: RwLock<HashSet<Arc<str>>>,
    limit: usize,
}

impl OperationNames {
    /// Admits up to `limit` distinct names as they are first seen.
    pub fn new(limit: usize) -> Self {
        Self {
            admitted: RwLock::new(HashSet::new()),
            limit,
        }
    }

    /// Pre-admits `known` names (they do not count against `limit`).
    pub fn with_known<I, S>(known: I, limit: usize) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let admitted: HashSet<Arc<str>> = known
            .into_iter()
            .filter(|n| is_valid_operation_name(n.as_ref()))
            .map(|n| Arc::from(n.as_ref()))
            .collect();
        let limit = limit + admitted.len();
        Self {
            admitted: RwLock::new(admitted),
            limit,
        }
    }

    /// The label value for an operation name.
    pub fn normalize(&self, name: Option<&str>) -> Label {
        let name = match name.map(str::trim) {
            None | Some("") => return Cow::Borrowed(ANONYMOUS),
            Some(n) if !is_valid_operation_name(n) => return Cow::Borrowed(OTHER),
            Some(n) => n,
        };
        let admitted = self.admitted.read().unwrap_or_else(|e| e.into_inner());
        if let Some(known) = admitted.get(name) {
            return Cow::Owned(known.to_string());
        }
        let full = admitted.len() >= self.limit;
        drop(admitted);
        if full {
            return Cow::Borrowed(OTHER);
        }
        let mut admitted = self.admitted.write().unwrap_or_else(|e| e.into_inner());
        if admitted.len() >= self.limit && !admitted.contains(name) {
            return Cow::Borrowed(OTHER);
        }
        admitted.insert(Arc::from(name));
        Cow::Owned(name.to_owned())
    }
}

/// A GraphQL `Name` (`[_A-Za-z][_0-9A-Za-z]*`) of at most [`MAX_OPERATION_NAME_LEN`] bytes.
pub fn is_valid_operation_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b == b'_' || b.is_ascii_alphabetic())
        && bytes.all(|b| b == b'_' || b.is_ascii_alphanumeric())
        && name.len() <= MAX_OPERATION_NAME_LEN
}

/// The `type` label value: `query`, `mutation`, `subscription`, else `unknown`.
pub fn operation_type(kind: &str) -> &'static str {
    match kind {
        "query" | "Query" | "QUERY" => "query",
        "mutation" | "Mutation" | "MUTATION" => "mutation",
        "subscription" | "Subscription" | "SUBSCRIPTION" => "subscription",
        _ => "unknown",
    }
}

/// Every `thriftshop_*` metric family of one process. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

struct Inner {
    registry: Registry,
    operations: OperationNames,

    gateway_requests: Counters<3>,
    gateway_duration: Histograms<2>,
    gateway_errors: Counters<2>,

    rpc_server_requests: Counters<3>,
    rpc_server_duration: Histograms<2>,
    rpc_client_requests: Counters<3>,
    rpc_client_duration: Histograms<2>,

    bus_consumer_lag: Gauges<2>,
    bus_published: Counters<1>,
    bus_consumed: Counters<2>,

    projection_lag: Histograms<1>,
    store_duration: Histograms<2>,

    cart_cache_hits: Counter,
    cart_cache_misses: Counter,
    cart_store_loads: Counter,

    inventory_reservations: Counters<1>,
    checkout_outcomes: Counters<1>,

    orders_placed: Counter,
    revenue_minor: Counters<1>,
    carts_created: Counter,

    component_ready: Gauges<1>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// `Content-Type` of [`Metrics::encode`]'s output (OpenMetrics text, which Prometheus negotiates).
    pub const CONTENT_TYPE: &'static str =
        "application/openmetrics-text; version=1.0.0; charset=utf-8";

    /// A registry with every family, admitting [`DEFAULT_OPERATION_LIMIT`] distinct operation names.
    pub fn new() -> Self {
        Self::with_operation_names(OperationNames::new(DEFAULT_OPERATION_LIMIT))
    }

    /// A registry whose `operation` labels are bounded by `operations`.
    pub fn with_operation_names(operations: OperationNames) -> Self {
        let mut r = Registry::default();
        fn counters<const N: usize>(r: &mut Registry, name: &str, help: &str) -> Counters<N> {
            let f = Counters::<N>::default();
            r.register(name, help, f.clone());
            f
        }
        fn gauges<const N: usize>(r: &mut Registry, name: &str, help: &str) -> Gauges<N> {
            let f = Gauges::<N>::default();
            r.register(name, help, f.clone());
            f
        }
        fn histograms<const N: usize>(
            r: &mut Registry,
            name: &str,
            help: &str,
            make: fn() -> Histogram,
        ) -> Histograms<N> {
            let f = Histograms::<N>::new_with_constructor(make);
            r.register(name, help, f.clone());
            f
        }
        fn counter(r: &mut Registry, name: &str, help: &str) -> Counter {
            let c = Counter::default();
            r.register(name, help, c.clone());
            c
        }

        // Counter names are registered without `_total`: the encoder appends it.
        let inner = Inner {
            gateway_requests: counters(
                &mut r,
                "thriftshop_gateway_requests",
                "GraphQL requests by operation, type and outcome (ok, partial, error, rejected)",
            ),
            gateway_duration: histograms(
                &mut r,
                "thriftshop_gateway_request_duration_seconds",
                "GraphQL request latency by operation and type",
                latency_histogram,
            ),
            gateway_errors: counters(
                &mut r,
                "thriftshop_gateway_errors",
                "GraphQL errors returned, by operation and extensions.code",
            ),
            rpc_server_requests: counters(
                &mut r,
                "thriftshop_rpc_server_requests",
                "Thrift calls served, by service, method and result code (ok or the error code)",
            ),
            rpc_server_duration: histograms(
                &mut r,
                "thriftshop_rpc_server_duration_seconds",
                "Thrift handler latency by service and method",
                latency_histogram,
            ),
            rpc_client_requests: counters(
                &mut r,
                "thriftshop_rpc_client_requests",
                "Thrift calls made, by service, method and result code (ok, an error code, transport)",
            ),
            rpc_client_duration: histograms(
                &mut r,
                "thriftshop_rpc_client_duration_seconds",
                "Thrift call latency seen by the caller, by service and method",
                latency_histogram,
            ),
            bus_consumer_lag: gauges(
                &mut r,
                "thriftshop_bus_consumer_lag_messages",
                "Messages a consumer group is behind the end of a topic",
            ),
            bus_published: counters(
                &mut r,
                "thriftshop_bus_published",
                "Events published to the bus, by topic",
            ),
            bus_consumed: counters(
                &mut r,
                "thriftshop_bus_consumed",
                "Events processed by consumers, by group and topic",
            ),
            projection_lag: histograms(
                &mut r,
                "thriftshop_projection_lag_seconds",
                "Time from an event's append to its visibility in a read model, by projection",
                projection_histogram,
            ),
            store_duration: histograms(
                &mut r,
                "thriftshop_store_operation_duration_seconds",
                "Event/read-model store operation latency, by store and operation",
                store_histogram,
            ),
            cart_cache_hits: counter(
                &mut r,
                "thriftshop_cart_cache_hits",
                "Cart commands and reads served from the in-memory cart cache",
            ),
            cart_cache_misses: counter(
                &mut r,
                "thriftshop_cart_cache_misses",
                "Cart commands and reads that missed the in-memory cart cache",
            ),
            cart_store_loads: counter(
                &mut r,
                "thriftshop_cart_store_loads",
                "Carts loaded (or reloaded after a stale version) from the event store",
            ),
            inventory_reservations: counters(
                &mut r,
                "thriftshop_inventory_reservations",
                "Stock reservation attempts by outcome",
            ),
            checkout_outcomes: counters(
                &mut r,
                "thriftshop_checkout_outcomes",
                "Checkouts by outcome",
            ),
            orders_placed: counter(&mut r, "thriftshop_orders_placed", "Orders placed"),
            revenue_minor: counters(
                &mut r,
                "thriftshop_revenue_minor",
                "Revenue of placed orders in minor currency units, by ISO currency",
            ),
            carts_created: counter(&mut r, "thriftshop_carts_created", "Carts created"),
            component_ready: gauges(
                &mut r,
                "thriftshop_component_ready",
                "1 when a component's /readyz reports ready, else 0",
            ),
            registry: r,
            operations,
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The registry in OpenMetrics text format (serve with [`Metrics::CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        // Writing to a String does not fail; should the encoder ever report an error, serve what it wrote
        // rather than failing the scrape (or the process).
        if let Err(e) = encode(&mut out, &self.inner.registry) {
            tracing::warn!(error = %e, "encoding metrics failed");
        }
        out
    }

    /// `Content-Type` of [`Metrics::encode_prometheus`]'s output (the classic Prometheus text format).
    pub const PROMETHEUS_CONTENT_TYPE: &'static str = "text/plain; version=0.0.4; charset=utf-8";

    /// The registry in the classic Prometheus text format 0.0.4 (for clients that do not ask for
    /// OpenMetrics): counter metadata names carry `_total`, no `# UNIT` / `# EOF` lines.
    pub fn encode_prometheus(&self) -> String {
        openmetrics_to_prometheus(&self.encode())
    }

    /// Content negotiation for `/metrics`: OpenMetrics when the `Accept` header asks for it (Prometheus
    /// does), else the classic text format. Returns `(content type, body)`.
    pub fn encode_for(&self, accept: Option<&str>) -> (&'static str, String) {
        if accept.is_some_and(|a| a.contains("application/openmetrics-text")) {
            (Self::CONTENT_TYPE, self.encode())
        } else {
            (Self::PROMETHEUS_CONTENT_TYPE, self.encode_prometheus())
        }
    }

    /// The bounded `operation` label value for a GraphQL operation name.
    pub fn normalize_operation(&self, name: Option<&str>) -> Label {
        self.inner.operations.normalize(name)
    }

    // ---- gateway

    /// One GraphQL request: `operation` already normalised, `op_type` from [`operation_type`], `outcome`
    /// from [`outcome`].
    pub fn gateway_request(
        &self,
        operation: impl Into<Label>,
        op_type: &'static str,
        outcome: &'static str,
        elapsed: Duration,
    ) {
        let operation = operation.into();
        let i = &self.inner;
        i.gateway_duration
            .get_or_create(&[("operation", operation.clone()), ("type", op_type.into())])
            .observe(elapsed.as_secs_f64());
        i.gateway_requests
            .get_or_create(&[
                ("operation", operation),
                ("type", op_type.into()),
                ("outcome", outcome.into()),
            ])
            .inc();
    }

    /// One GraphQL error with a stable `extensions.code`.
    pub fn gateway_error(&self, operation: impl Into<Label>, code: impl Into<Label>) {
        self.inner
            .gateway_errors
            .get_or_create(&[("operation", operation.into()), ("code", code.into())])
            .inc();
    }

    // ---- rpc

    /// One served Thrift call; `code` is [`outcome::OK`] or the stable error code.
    pub fn rpc_server(
        &self,
        service: impl Into<Label>,
        method: impl Into<Label>,
        code: impl Into<Label>,
        elapsed: Duration,
    ) {
        let i = &self.inner;
        record_rpc(
            &i.rpc_server_requests,
            &i.rpc_server_duration,
            service.into(),
            method.into(),
            code.into(),
            elapsed,
        );
    }

    /// One outgoing Thrift call; `code` is [`outcome::OK`], the stable error code, or
    /// [`outcome::TRANSPORT`].
    pub fn rpc_client(
        &self,
        service: impl Into<Label>,
        method: impl Into<Label>,
        code: impl Into<Label>,
        elapsed: Duration,
    ) {
        let i = &self.inner;
        record_rpc(
            &i.rpc_client_requests,
            &i.rpc_client_duration,
            service.into(),
            method.into(),
            code.into(),
            elapsed,
        );
    }

    // ---- bus, projections, stores

    pub fn bus_published(&self, topic: impl Into<Label>) {
        self.inner
            .bus_published
            .get_or_create(&[("topic", topic.into())])
            .inc();
    }

    pub fn bus_consumed(&self, group: impl Into<Label>, topic: impl Into<Label>) {
        self.inner
            .bus_consumed
            .get_or_create(&[("group", group.into()), ("topic", topic.into())])
            .inc();
    }

    /// Sets how many messages `group` is behind on `topic` (end offset − committed offset, summed over
    /// partitions).
    pub fn bus_consumer_lag(&self, group: impl Into<Label>, topic: impl Into<Label>, lag: u64) {
        self.inner
            .bus_consumer_lag
            .get_or_create(&[("group", group.into()), ("topic", topic.into())])
            .set(i64::try_from(lag).unwrap_or(i64::MAX));
    }

    /// Time from an event's append (its `occurred_at`) to its projection being visible.
    pub fn projection_lag(&self, projection: impl Into<Label>, lag: Duration) {
        self.inner
            .projection_lag
            .get_or_create(&[("projection", projection.into())])
            .observe(lag.as_secs_f64());
    }

    pub fn store_operation(
        &self,
        store: impl Into<Label>,
        operation: impl Into<Label>,
        elapsed: Duration,
    ) {
        self.inner
            .store_duration
            .get_or_create(&[("store", store.into()), ("operation", operation.into())])
            .observe(elapsed.as_secs_f64());
    }

    // ---- cart cache

    pub fn cart_cache_hit(&self) {
        self.inner.cart_cache_hits.inc();
    }
    pub fn cart_cache_miss(&self) {
        self.inner.cart_cache_misses.inc();
    }
    pub fn cart_store_load(&self) {
        self.inner.cart_store_loads.inc();
    }

    // ---- outcomes

    /// One reservation attempt: [`outcome::RESERVED`], [`outcome::INSUFFICIENT_STOCK`], [`outcome::RELEASED`], …
    pub fn inventory_reservation(&self, outcome: impl Into<Label>) {
        self.inner
            .inventory_reservations
            .get_or_create(&[("outcome", outcome.into())])
            .inc();
    }

    /// One checkout: [`outcome::PLACED`], [`outcome::OUT_OF_STOCK`], [`outcome::PAYMENT_FAILED`], …
    pub fn checkout_outcome(&self, outcome: impl Into<Label>) {
        self.inner
            .checkout_outcomes
            .get_or_create(&[("outcome", outcome.into())])
            .inc();
    }

    // ---- business

    /// One order placed worth `total_minor` minor units of `currency` (ISO 4217 code).
    pub fn order_placed(&self, currency: impl Into<Label>, total_minor: u64) {
        self.inner.orders_placed.inc();
        self.inner
            .revenue_minor
            .get_or_create(&[("currency", currency.into())])
            .inc_by(total_minor);
    }

    pub fn cart_created(&self) {
        self.inner.carts_created.inc();
    }

    // ---- health

    /// Mirrors a component's readiness (what `/readyz` answers) for alerting.
    pub fn set_ready(&self, component: impl Into<Label>, ready: bool) {
        self.inner
            .component_ready
            .get_or_create(&[("component", component.into())])
            .set(i64::from(ready));
    }
}

/// Rewrites OpenMetrics text as Prometheus text 0.0.4: a counter family `x` is declared as `x_total` (its
/// samples' name), `# UNIT` and `# EOF` are dropped.
fn openmetrics_to_prometheus(text: &str) -> String {
    let counters: HashSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|p| line.strip_prefix(p).map(|rest| (p, rest)));
        match meta {
            Some((prefix, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                if counters.contains(name) {
                    out.push_str(&format!("{prefix}{name}_total {tail}"));
                } else {
                    out.push_str(line);
                }
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

fn record_rpc(
    requests: &Counters<3>,
    duration: &Histograms<2>,
    service: Label,
    method: Label,
    code: Label,
    elapsed: Duration,
) {
    duration
        .get_or_create(&[("service", service.clone()), ("method", method.clone())])
        .observe(elapsed.as_secs_f64());
    requests
        .get_or_create(&[("service", service), ("method", method), ("code", code)])
        .inc();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_names_are_bounded() {
        let names = OperationNames::with_known(["Checkout"], 2);
        assert_eq!(names.normalize(None), ANONYMOUS);
        assert_eq!(names.normalize(Some("  ")), ANONYMOUS);
        assert_eq!(names.normalize(Some("Checkout")), "Checkout");
        assert_eq!(names.normalize(Some("bad name")), OTHER);
        assert_eq!(names.normalize(Some("1abc")), OTHER);
        assert_eq!(names.normalize(Some(&"a".repeat(65))), OTHER);
        assert_eq!(names.normalize(Some(&"a".repeat(64))), "a".repeat(64));
        assert_eq!(names.normalize(Some("Landing")), "Landing");
        assert_eq!(names.normalize(Some("Random123")), OTHER, "limit reached");
        assert_eq!(
            names.normalize(Some("Landing")),
            "Landing",
            "admitted stays"
        );
        assert_eq!(names.normalize(Some("Checkout")), "Checkout", "known stays");
    }

    #[test]
    fn reservation_outcomes_are_labels() {
        let m = Metrics::new();
        for o in [
            outcome::RESERVED,
            outcome::INSUFFICIENT_STOCK,
            outcome::RELEASED,
            outcome::COMMITTED,
            outcome::EXPIRED,
        ] {
            m.inventory_reservation(o);
        }
        let text = m.encode();
        for o in [
            "reserved",
            "insufficient_stock",
            "released",
            "committed",
            "expired",
        ] {
            assert!(
                text.contains(&format!(
                    "thriftshop_inventory_reservations_total{{outcome=\"{o}\"}} 1\n"
                )),
                "{o}: {text}"
            );
        }
    }

    #[test]
    fn operation_types_are_bounded() {
        assert_eq!(operation_type("query"), "query");
        assert_eq!(operation_type("MUTATION"), "mutation");
        assert_eq!(operation_type("subscription"), "subscription");
        assert_eq!(operation_type("drop table"), "unknown");
    }

    #[test]
    fn clones_share_the_registry() {
        let m = Metrics::new();
        let c = m.clone();
        c.cart_created();
        m.cart_created();
        assert!(m.encode().contains("thriftshop_carts_created_total 2\n"));
    }

    #[test]
    fn classic_text_declares_counters_by_their_sample_name() {
        let m = Metrics::new();
        m.cart_created();
        m.bus_consumer_lag("g", "t", 1);
        let text = m.encode_prometheus();
        assert!(text.contains("# TYPE thriftshop_carts_created_total counter\n"));
        assert!(
            text.contains("# HELP thriftshop_carts_created_total Carts created.\n"),
            "{text}"
        );
        assert!(text.contains("# TYPE thriftshop_bus_consumer_lag_messages gauge\n"));
        assert!(!text.contains("# EOF"));
        let (ct, body) = m.encode_for(Some("application/openmetrics-text;version=1.0.0,*/*;q=0.1"));
        assert_eq!(ct, Metrics::CONTENT_TYPE);
        assert!(body.ends_with("# EOF\n"));
        assert_eq!(m.encode_for(None).0, Metrics::PROMETHEUS_CONTENT_TYPE);
    }
}
