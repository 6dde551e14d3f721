//! Catalog use cases. Reads are answered from the in-memory [`Catalog`] index (no store I/O per read);
//! writes (seeding, the best-selling projection) go to the store first, then to the index.
use std::sync::Arc;

use parking_lot::RwLock;
use shop_kernel::{Error, Page, PageRequest, Result};

use crate::{
    domain::{
        self, Catalog, Collection, DEFAULT_PAGE_SIZE, Product, SoldLine, SortKey, Variant, demo,
        query,
    },
    events,
    store::CatalogStore,
};

/// A product search.
#[derive(Debug, Clone)]
pub struct SearchInput {
    pub query: Option<String>,
    pub collection_id: Option<String>,
    pub sort: SortKey,
    pub reverse: bool,
    pub page: PageRequest,
}

/// One page of search results.
#[derive(Debug, Clone)]
pub struct SearchOutput {
    pub page: Page<Product>,
    /// Matches before paging.
    pub total_count: i64,
}

/// The catalog application: store + in-memory index.
pub struct CatalogApp<S> {
    store: S,
    index: Arc<RwLock<Catalog>>,
}

impl<S: CatalogStore> CatalogApp<S> {
    /// Loads the index from `store`, seeding the demo catalog (with one `product_published` event per product)
    /// first if the store holds no product.
    pub async fn start(store: S) -> Result<Self> {
        let mut data = store.load().await?;
        if data.products.is_empty() {
            let now = shop_kernel::now_ms();
            let demo = demo::demo_catalog(now);
            let evs = demo
                .products
                .iter()
                .map(|p| events::product_published(p, now))
                .collect();
            if store.seed_if_empty(demo, evs).await? {
                tracing::info!("seeded the demo catalog");
            }
            data = store.load().await?;
        }
        Ok(Self {
            store,
            index: Arc::new(RwLock::new(Catalog::new(data))),
        })
    }

    /// Products by id, in request order; unknown ids are omitted, duplicates appear once.
    pub fn get_products(&self, ids: &[String]) -> Result<Vec<Product>> {
        let ids = domain::dedupe_ids(ids)?;
        let idx = self.index.read();
        Ok(ids
            .into_iter()
            .filter_map(|id| idx.product(id).cloned())
            .collect())
    }

    /// A product by handle.
    pub fn get_product_by_handle(&self, handle: &str) -> Result<Option<Product>> {
        domain::validate_handle(handle)?;
        Ok(self.index.read().product_by_handle(handle).cloned())
    }

    /// Variants by id, in request order; unknown ids are omitted, duplicates appear once.
    pub fn get_variants(&self, ids: &[String]) -> Result<Vec<Variant>> {
        let ids = domain::dedupe_ids(ids)?;
        let idx = self.index.read();
        Ok(ids
            .into_iter()
            .filter_map(|id| idx.variant(id).cloned())
            .collect())
    }

    /// Collections by id, in request order; unknown ids are omitted, duplicates appear once.
    pub fn get_collections(&self, ids: &[String]) -> Result<Vec<Collection>> {
        let ids = domain::dedupe_ids(ids)?;
        let idx = self.index.read();
        Ok(ids
            .into_iter()
            .filter_map(|id| idx.collection(id).cloned())
            .collect())
    }

    /// A collection by handle.
    pub fn get_collection_by_handle(&self, handle: &str) -> Result<Option<Collection>> {
        domain::validate_handle(handle)?;
        Ok(self.index.read().collection_by_handle(handle).cloned())
    }

    /// A page of collections in display order.
    pub fn list_collections(&self, page: &PageRequest) -> Result<Page<Collection>> {
        page.validate()?;
        page.apply(self.index.read().collections(), DEFAULT_PAGE_SIZE)
    }

    /// Searches products. A malformed or unknown `collection_id` is `COLLECTION_NOT_FOUND`.
    pub fn search(&self, input: &SearchInput) -> Result<SearchOutput> {
        input.page.validate()?;
        let q = query::parse(input.query.as_deref().unwrap_or(""))?;
        let idx = self.index.read();
        if let Some(c) = &input.collection_id
            && idx.collection(c).is_none()
        {
            return Err(
                Error::not_found("COLLECTION_NOT_FOUND", "no such collection")
                    .with_field(["collection_id"]),
            );
        }
        let hits = idx.search(
            &q,
            input.collection_id.as_deref(),
            input.sort,
            input.reverse,
        );
        let page = input.page.apply(&hits, DEFAULT_PAGE_SIZE)?;
        Ok(SearchOutput {
            total_count: hits.len() as i64,
            page: Page {
                items: page.items.into_iter().cloned().collect(),
                cursors: page.cursors,
                has_next_page: page.has_next_page,
                has_previous_page: page.has_previous_page,
            },
        })
    }

    /// Best-selling projection: counts the units of a placed order once per `event_id`.
    /// Returns whether the event was new.
    pub async fn record_order_placed(&self, event_id: &str, lines: &[SoldLine]) -> Result<bool> {
        let sales = domain::units_per_product(lines);
        let fresh = self.store.record_sales(event_id, sales.clone()).await?;
        if fresh {
            self.index.write().add_units_sold(&sales);
        }
        Ok(fresh)
    }

    /// Units sold of a product, as the index knows them.
    pub fn units_sold(&self, product_id: &str) -> i64 {
        self.index.read().units_sold(product_id)
    }
}
