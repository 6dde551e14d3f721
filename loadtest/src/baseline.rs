//! Baselines measured in the same run as a scenario, at the same offered rate and duration, through the same
//! open-loop runner ([`crate::schedule::run_open_loop`]): figures become ratios that survive a noisy machine.
//!
//! - [`Baseline::Echo`]: the machine's HTTP ceiling. An axum + hyper server on its own Tokio runtime in this
//!   process (served like the gateway: `axum::serve`, read the whole body) answers every POST with a small
//!   fixed JSON body; the generator posts the catalog-read request through the same keep-alive client as the
//!   scenario.
//! - [`Baseline::ThriftDirect`]: the gateway-overhead denominator. The data of the `catalog-read` query
//!   ([`crate::world::CATALOG_HEAVY`]) fetched with the generated volo-thrift clients straight from the
//!   catalog and inventory services, with the calls the gateway makes for it: `search_products(first 20, sort
//!   ID)`, then at once `get_variants` (each product's first 10), `get_collections` (each product's first 3)
//!   and `get_stock` (every variant of the 20, for `totalInventory` and `quantityAvailable`).
use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use anyhow::Context;
use axum::{Router, body::Bytes, http::header, routing::post};
use serde::Serialize;
use serde_json::json;
use shop_idl::{catalog, common, inventory};
use shop_rpc::{ClientSettings, build_client};
use volo_thrift::{ClientError, MaybeException};

use crate::{
    gql::Gql,
    stats::{Outcome, Sample},
    world::CATALOG_HEAVY,
};

/// The echo server's answer.
pub const ECHO_BODY: &str = r#"{"data":{"echo":true}}"#;
/// Products per page of the catalog-read query (`products(first: 20)`).
pub const PAGE: i32 = 20;
/// Variants per product in the catalog-read query (`variants(first: 10)`).
pub const VARIANTS_PER_PRODUCT: usize = 10;
/// Collections per product in the catalog-read query (`collections(first: 3)`).
pub const COLLECTIONS_PER_PRODUCT: usize = 3;

/// A baseline that can be run next to a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Baseline {
    /// A raw HTTP echo (axum + tokio + hyper) in this process: the machine's ceiling.
    Echo,
    /// The catalog-read query's data by direct Thrift calls to catalog and inventory: the gateway's denominator.
    ThriftDirect,
}

impl Baseline {
    /// Every baseline.
    pub const ALL: [Baseline; 2] = [Baseline::Echo, Baseline::ThriftDirect];

    /// The name in reports and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Baseline::Echo => "echo",
            Baseline::ThriftDirect => "thrift-direct",
        }
    }

    /// What it measures (in reports).
    pub fn what(self) -> &'static str {
        match self {
            Baseline::Echo => {
                "POST of the catalog-read request to an axum+hyper server in this process answering a fixed \
                 22-byte JSON body; same keep-alive HTTP client"
            }
            Baseline::ThriftDirect => {
                "catalog-read's data by direct volo-thrift calls: catalog.search_products(20) -> \
                 catalog.get_variants || catalog.get_collections || inventory.get_stock"
            }
        }
    }
}

/// An HTTP echo server on its own runtime (threads named `shop-echo`, so CPU accounting counts it with the
/// server side, like the spawned shop).
pub struct EchoServer {
    /// Where it answers (`POST /echo`).
    pub url: String,
    /// Requests answered so far.
    pub served: Arc<AtomicU64>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl EchoServer {
    /// Starts the server on loopback port 0 with `threads` worker threads.
    pub async fn start(threads: usize) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("shop-echo")
            .enable_all()
            .build()
            .context("building the echo server's runtime")?;
        let served = Arc::new(AtomicU64::new(0));
        let counter = served.clone();
        let app = Router::new().route(
            "/echo",
            post(move |body: Bytes| {
                let counter = counter.clone();
                async move {
                    // The body is read in full (as the gateway does) before answering.
                    drop(body);
                    counter.fetch_add(1, Ordering::Relaxed);
                    ([(header::CONTENT_TYPE, "application/json")], ECHO_BODY)
                }
            }),
        );
        let listener = runtime
            .spawn(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .await
            .context("binding the echo server")?
            .context("binding the echo server")?;
        let addr = listener.local_addr()?;
        runtime.spawn(async move { axum::serve(listener, app).await });
        Ok(Self {
            url: format!("http://{addr}/echo"),
            served,
            runtime: Some(runtime),
        })
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// What one direct fetch returned.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Fetched {
    /// Product ids, in page order.
    pub products: Vec<String>,
    pub variants: usize,
    pub collections: usize,
    pub stock_levels: usize,
    /// Thrift calls made.
    pub calls: usize,
}

/// Direct Thrift clients of the catalog and inventory services (pooled connections, built once).
#[derive(Clone)]
pub struct ThriftDirect {
    catalog: catalog::CatalogServiceClient,
    inventory: inventory::InventoryServiceClient,
}

fn rpc<T, E: Into<common::ShopError>>(
    r: Result<MaybeException<T, E>, ClientError>,
) -> Result<T, Outcome> {
    match r {
        Ok(MaybeException::Ok(v)) => Ok(v),
        Ok(MaybeException::Exception(e)) => Err(Outcome::Error(e.into().code.to_string())),
        Err(e) => Err(Outcome::Transport(format!("thrift: {e}"))),
    }
}

impl ThriftDirect {
    /// Clients for the services at `catalog` and `inventory`, with the gateway's default client settings,
    /// presenting `credentials`.
    pub fn new(
        catalog: SocketAddr,
        inventory: SocketAddr,
        credentials: shop_rpc::auth::Credentials,
    ) -> Self {
        let s = ClientSettings::default();
        Self {
            catalog: build_client!(
                catalog::CatalogServiceClientBuilder,
                "catalog",
                catalog,
                s,
                credentials.clone()
            ),
            inventory: build_client!(
                inventory::InventoryServiceClientBuilder,
                "inventory",
                inventory,
                s,
                credentials
            ),
        }
    }

    /// Fetches the catalog-read query's data with the calls the gateway makes for it.
    pub async fn fetch(&self) -> Result<Fetched, Outcome> {
        let page = rpc(self
            .catalog
            .search_products(catalog::SearchProductsRequest {
                query: None,
                collection_id: None,
                // `products(first: 20)` without a sort key sorts by ID.
                sort_key: catalog::ProductSortKey::ID,
                reverse: false,
                page: common::PageRequest {
                    first: Some(PAGE),
                    after: None,
                    last: None,
                    before: None,
                },
            })
            .await)?;
        let products = page.products;
        let variant_ids: Vec<_> = products
            .iter()
            .flat_map(|p| p.variant_ids.iter().take(VARIANTS_PER_PRODUCT).cloned())
            .collect();
        let mut collection_ids: Vec<_> = products
            .iter()
            .flat_map(|p| {
                p.collection_ids
                    .iter()
                    .take(COLLECTIONS_PER_PRODUCT)
                    .cloned()
            })
            .collect();
        collection_ids.sort();
        collection_ids.dedup();
        // totalInventory needs every variant of the product; quantityAvailable the shown ones (a subset).
        let stock_ids: Vec<_> = products
            .iter()
            .flat_map(|p| p.variant_ids.iter().cloned())
            .collect();
        let (variants, collections, stock) = tokio::join!(
            self.catalog
                .get_variants(catalog::GetVariantsRequest { ids: variant_ids }),
            self.catalog
                .get_collections(catalog::GetCollectionsRequest {
                    ids: collection_ids
                }),
            self.inventory.get_stock(inventory::GetStockRequest {
                variant_ids: stock_ids
            }),
        );
        let (variants, collections, stock) = (rpc(variants)?, rpc(collections)?, rpc(stock)?);
        Ok(Fetched {
            products: products.iter().map(|p| p.id.to_string()).collect(),
            variants: variants.variants.len(),
            collections: collections.collections.len(),
            stock_levels: stock.levels.len(),
            calls: 4,
        })
    }
}

/// A baseline ready to run: its client (and, for the echo, its server).
pub enum Target {
    Echo { gql: Gql, server: Arc<EchoServer> },
    ThriftDirect(ThriftDirect),
}

impl Target {
    /// Which baseline this is.
    pub fn baseline(&self) -> Baseline {
        match self {
            Target::Echo { .. } => Baseline::Echo,
            Target::ThriftDirect(_) => Baseline::ThriftDirect,
        }
    }

    /// One request.
    pub async fn exec(&self) -> Sample {
        match self {
            Target::Echo { gql, .. } => gql.read(CATALOG_HEAVY, &json!({}), None).await,
            Target::ThriftDirect(t) => match t.fetch().await {
                Ok(f) if f.products.is_empty() => Outcome::Error("NO_PRODUCTS".into()).into(),
                Ok(_) => Outcome::Ok.into(),
                Err(o) => o.into(),
            },
        }
    }
}

/// The baselines of a session.
pub struct Baselines {
    pub targets: Vec<Arc<Target>>,
}

/// Where the `thrift-direct` baseline finds the services, and the credential it presents (the gateway's: it
/// makes the gateway's calls).
#[derive(Debug, Clone)]
pub struct ThriftAddrs {
    pub catalog: SocketAddr,
    pub inventory: SocketAddr,
    pub credentials: shop_rpc::auth::Credentials,
}

impl Baselines {
    /// Prepares `which` (in that order; duplicates ignored): starts the echo server on `threads` workers and
    /// checks that a direct fetch works. `client` is the scenario's HTTP client (its pool is shared).
    pub async fn start(
        which: &[Baseline],
        client: &Gql,
        threads: usize,
        thrift: Option<ThriftAddrs>,
    ) -> anyhow::Result<Self> {
        let mut targets = Vec::new();
        let mut seen = Vec::new();
        for &b in which {
            if seen.contains(&b) {
                continue;
            }
            seen.push(b);
            let target = match b {
                Baseline::Echo => {
                    let server = EchoServer::start(threads).await?;
                    Target::Echo {
                        gql: client.with_url(&server.url)?,
                        server: Arc::new(server),
                    }
                }
                Baseline::ThriftDirect => {
                    let a = thrift.clone().context(
                        "the thrift-direct baseline needs the catalog and inventory Thrift addresses \
                         (--spawn, or --thrift-catalog and --thrift-inventory)",
                    )?;
                    let t = ThriftDirect::new(a.catalog, a.inventory, a.credentials);
                    let f = t.fetch().await.map_err(|o| {
                        anyhow::anyhow!("thrift-direct: the first fetch failed: {o:?}")
                    })?;
                    anyhow::ensure!(
                        !f.products.is_empty(),
                        "thrift-direct: the catalog has no products"
                    );
                    Target::ThriftDirect(t)
                }
            };
            let first = target.exec().await;
            anyhow::ensure!(
                first.outcome == Outcome::Ok,
                "baseline {}: the first request failed: {:?}",
                b.name(),
                first.outcome
            );
            targets.push(Arc::new(target));
        }
        Ok(Self { targets })
    }
}
