//! `--spawn`: the all-in-one shop in this process, on port 0, with its data in a temporary directory, on its own
//! Tokio runtime (so the generator's dispatcher does not queue behind the shop's tasks).
use anyhow::Context;
use thriftshop::{Shop, config::Config};

/// A shop running in this process.
pub struct SpawnedShop {
    /// The GraphQL endpoint.
    pub url: String,
    /// Where the shop's Thrift services listen (the `thrift-direct` baseline calls catalog and inventory).
    pub services: shop_rpc::ServiceAddrs,
    /// The shop's service keys (the baseline and stock set-up call services with them).
    pub auth: shop_rpc::auth::ServiceAuth,
    shop: Option<Shop>,
    runtime: Option<tokio::runtime::Runtime>,
    _data: tempfile::TempDir,
}

/// The all-in-one configuration on loopback port 0, data under `dir`.
pub fn config(dir: &std::path::Path) -> Config {
    let mut cfg = Config {
        data_dir: dir.to_path_buf(),
        ..Config::default()
    };
    let any = "127.0.0.1:0".parse().expect("socket address");
    cfg.gateway.listen = any;
    let s = &mut cfg.services;
    for a in [
        &mut s.catalog,
        &mut s.inventory,
        &mut s.cart,
        &mut s.order,
        &mut s.user,
        &mut s.session,
        &mut s.recommender,
    ] {
        *a = any;
    }
    cfg
}

impl SpawnedShop {
    /// Starts the shop on a runtime of `threads` workers; returns when it serves.
    pub async fn start(threads: usize) -> anyhow::Result<Self> {
        let data = tempfile::tempdir().context("creating a data directory")?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("shop")
            .enable_all()
            .build()
            .context("building the shop's runtime")?;
        let shop = runtime
            .spawn(Shop::start(config(data.path())))
            .await
            .context("the shop's start-up panicked")?
            .context("starting the shop")?;
        Ok(Self {
            url: format!("http://{}/graphql", shop.gateway_addr),
            services: shop.services,
            auth: shop.auth.clone(),
            shop: Some(shop),
            runtime: Some(runtime),
            _data: data,
        })
    }

    /// Sets the on-hand stock of a variant (global id) through the inventory service, as an internal caller.
    pub async fn set_stock(&self, variant_gid: &str, quantity: i64) -> anyhow::Result<()> {
        let shop = self.shop.as_ref().context("the shop is stopped")?;
        thriftshop::admin::set_stock(&shop.auth, shop.services.inventory, variant_gid, quantity)
            .await
    }

    /// Stops the shop and its runtime.
    pub async fn stop(mut self) {
        if let (Some(shop), Some(rt)) = (self.shop.take(), self.runtime.as_ref()) {
            let _ = rt.spawn(shop.stop()).await;
        }
    }
}

impl Drop for SpawnedShop {
    fn drop(&mut self) {
        if let Some(shop) = self.shop.take() {
            shop.shutdown_token().cancel();
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}
