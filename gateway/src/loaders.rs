//! DataLoaders for public catalog and inventory data: one batched call per service per query level.
//! Batch functions run in spawned tasks (without the caller's identity), so only public data goes through them.
use std::{collections::HashMap, sync::Arc, time::Duration};

use async_graphql::dataloader::{DataLoader, Loader};
use shop_idl::{catalog, inventory};
use shop_kernel::Error;

use crate::clients::Clients;

/// Largest number of ids sent in one batched call.
pub const MAX_BATCH: usize = 250;

/// Products by id.
pub struct ProductLoader(pub Arc<Clients>);
/// Variants by id.
pub struct VariantLoader(pub Arc<Clients>);
/// Collections by id.
pub struct CollectionLoader(pub Arc<Clients>);
/// Stock levels by variant id (unknown variants have no entry).
pub struct StockLoader(pub Arc<Clients>);

fn ids(keys: &[String]) -> Vec<pilota::FastStr> {
    keys.iter()
        .map(|k| pilota::FastStr::from(k.clone()))
        .collect()
}

impl Loader<String> for ProductLoader {
    type Value = catalog::Product;
    type Error = Error;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, Self::Value>, Self::Error> {
        let resp = shop_rpc::call(
            "catalog",
            self.0
                .catalog
                .get_products(catalog::GetProductsRequest { ids: ids(keys) })
                .await,
        )?;
        Ok(resp
            .products
            .into_iter()
            .map(|p| (p.id.to_string(), p))
            .collect())
    }
}

impl Loader<String> for VariantLoader {
    type Value = catalog::Variant;
    type Error = Error;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, Self::Value>, Self::Error> {
        let resp = shop_rpc::call(
            "catalog",
            self.0
                .catalog
                .get_variants(catalog::GetVariantsRequest { ids: ids(keys) })
                .await,
        )?;
        Ok(resp
            .variants
            .into_iter()
            .map(|v| (v.id.to_string(), v))
            .collect())
    }
}

impl Loader<String> for CollectionLoader {
    type Value = catalog::Collection;
    type Error = Error;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, Self::Value>, Self::Error> {
        let resp = shop_rpc::call(
            "catalog",
            self.0
                .catalog
                .get_collections(catalog::GetCollectionsRequest { ids: ids(keys) })
                .await,
        )?;
        Ok(resp
            .collections
            .into_iter()
            .map(|c| (c.id.to_string(), c))
            .collect())
    }
}

impl Loader<String> for StockLoader {
    type Value = inventory::StockLevel;
    type Error = Error;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, Self::Value>, Self::Error> {
        let resp = shop_rpc::call(
            "inventory",
            self.0
                .inventory
                .get_stock(inventory::GetStockRequest {
                    variant_ids: ids(keys),
                })
                .await,
        )?;
        Ok(resp
            .levels
            .into_iter()
            .map(|l| (l.variant_id.to_string(), l))
            .collect())
    }
}

/// The loaders of a schema (no cache: they batch concurrent loads; data stays fresh).
pub struct Loaders {
    pub products: DataLoader<ProductLoader>,
    pub variants: DataLoader<VariantLoader>,
    pub collections: DataLoader<CollectionLoader>,
    pub stock: DataLoader<StockLoader>,
}

fn mk<T: Loader<String>>(loader: T) -> DataLoader<T> {
    DataLoader::new(loader, tokio::spawn)
        .delay(Duration::from_millis(1))
        .max_batch_size(MAX_BATCH)
}

impl Loaders {
    /// Loaders over `clients`.
    pub fn new(clients: Arc<Clients>) -> Self {
        Self {
            products: mk(ProductLoader(clients.clone())),
            variants: mk(VariantLoader(clients.clone())),
            collections: mk(CollectionLoader(clients.clone())),
            stock: mk(StockLoader(clients)),
        }
    }
}
