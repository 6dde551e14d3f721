//! Shared helpers of the end-to-end tests: the shop's configuration on port 0 and a small GraphQL client.
#![allow(dead_code)] // each test binary uses a different subset
use std::path::Path;

pub use serde_json::{Value, json};
pub use thriftshop::{Shop, config::Config};

pub fn config(dir: &Path) -> Config {
    let mut cfg = Config {
        data_dir: dir.to_path_buf(),
        ..Config::default()
    };
    cfg.gateway.listen = "127.0.0.1:0".parse().unwrap();
    for a in [
        &mut cfg.services.catalog,
        &mut cfg.services.inventory,
        &mut cfg.services.cart,
        &mut cfg.services.order,
        &mut cfg.services.user,
        &mut cfg.services.session,
        &mut cfg.services.recommender,
    ] {
        *a = "127.0.0.1:0".parse().unwrap();
    }
    cfg
}

/// The shop on the cluster engines: Kafka at `brokers`, Cassandra at `nodes`, in a fresh topic namespace and
/// fresh keyspaces (so runs never see each other's data).
pub fn cluster_config(dir: &Path, brokers: &str, nodes: &str) -> Config {
    let mut cfg = config(dir);
    let id = shop_kernel::ids::new_id();
    let run = &id[id.len() - 12..]; // the random end of a UUIDv7
    cfg.bus = thriftshop::config::BusKind::Kafka;
    cfg.kafka.brokers = brokers.to_string();
    cfg.kafka.partitions = 3;
    cfg.kafka.namespace = format!("e2e-{run}");
    cfg.store = thriftshop::config::StoreKind::Cassandra;
    cfg.cassandra.nodes = nodes.to_string();
    cfg.cassandra.keyspace_prefix = format!("e2e_{}", run.to_ascii_lowercase());
    cfg
}

pub struct Client {
    http: reqwest::Client,
    url: String,
    pub token: Option<String>,
    pub requests: usize,
}

impl Client {
    pub fn new(shop: &Shop) -> Self {
        Self {
            http: reqwest::Client::new(),
            url: format!("http://{}/graphql", shop.gateway_addr),
            token: None,
            requests: 0,
        }
    }

    pub async fn gql(&mut self, query: &str, variables: Value) -> Value {
        self.requests += 1;
        let mut req = self
            .http
            .post(&self.url)
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("http");
        assert!(resp.status().is_success(), "HTTP {}", resp.status());
        resp.json().await.expect("json body")
    }

    /// Runs `query`, asserts there are no top-level errors, returns `data`.
    pub async fn data(&mut self, query: &str, variables: Value) -> Value {
        let body = self.gql(query, variables).await;
        assert!(
            body.get("errors")
                .is_none_or(|e| e.as_array().is_none_or(|a| a.is_empty())),
            "errors: {body}"
        );
        body["data"].clone()
    }
}

pub const LANDING: &str = r#"
query Landing {
  products(first: 20) {
    edges { cursor node {
      id handle title featuredImage { url }
      priceRange { minVariantPrice { amount currencyCode } maxVariantPrice { amount currencyCode } }
      availableForSale
      variants(first: 5) { edges { node { id sku title availableForSale quantityAvailable price { amount currencyCode } } } }
    } }
    pageInfo { hasNextPage endCursor }
  }
}"#;

pub const CART_FIELDS: &str = r#"
  id status totalQuantity
  cost { subtotalAmount { amount currencyCode } totalAmount { amount currencyCode } }
  lines(first: 10) { edges { node { id quantity merchandise { ... on ProductVariant { id } } cost { totalAmount { amount } } } } }
"#;

pub fn cart_create() -> String {
    format!(
        "mutation($input: CartInput!) {{ cartCreate(input: $input) {{ cart {{ {CART_FIELDS} }} userErrors {{ field message code }} warnings {{ code message target }} }} }}"
    )
}

pub const CHECKOUT: &str = r#"
mutation($cartId: ID!, $payment: PaymentInput!, $key: String!) {
  cartCheckout(cartId: $cartId, payment: $payment, idempotencyKey: $key) {
    order { id name orderNumber status financialStatus totalPrice { amount currencyCode } subtotalPrice { amount }
            lineItems(first: 10) { edges { node { quantity title variant { id } } } } }
    userErrors { field message code }
  }
}"#;

pub const STOCK: &str = r#"query($ids: [ID!]!) { nodes(ids: $ids) { ... on ProductVariant { id quantityAvailable } } }"#;

pub async fn stock_of(c: &mut Client, ids: &[String]) -> Vec<i64> {
    let d = c.data(STOCK, json!({ "ids": ids })).await;
    d["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["quantityAvailable"].as_i64().unwrap())
        .collect()
}

pub fn cents(amount: &Value) -> i64 {
    let s = amount.as_str().expect("Decimal is a string");
    let (whole, frac) = s.split_once('.').unwrap_or((s, "0"));
    whole.parse::<i64>().unwrap() * 100 + format!("{frac:0<2}")[..2].parse::<i64>().unwrap()
}

/// Picks two distinct in-stock variants with at least `min` available, with their prices in cents.
pub fn pick_variants(landing: &Value, min: i64) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for p in landing["products"]["edges"].as_array().unwrap() {
        for v in p["node"]["variants"]["edges"].as_array().unwrap() {
            let v = &v["node"];
            if v["quantityAvailable"].as_i64().unwrap_or(0) >= min && out.len() < 2 {
                out.push((
                    v["id"].as_str().unwrap().to_string(),
                    cents(&v["price"]["amount"]),
                ));
                break;
            }
        }
    }
    assert_eq!(out.len(), 2, "need two in-stock variants");
    out
}
