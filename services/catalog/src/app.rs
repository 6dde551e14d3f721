//! Catalog use cases. Reads are answered from the in-memory [`Catalog`] index (no store I/O per read);
//! writes (seeding, the best-selling projection) go to the store first, then to the index.
use std::sync::Arc;

use parking_lot::RwLock;
use shop_kernel::{Actor, Error, Page, PageRequest, Permission, Result};

use crate::{
    domain::{
        self, Catalog, Collection, DEFAULT_PAGE_SIZE, Product, SoldLine, SortKey, Variant, demo,
        query,
        write::{self, ProductFields, VariantInput, Written},
    },
    events,
    store::{CatalogStore, ProductWrite, WriteError},
};

/// Input of [`CatalogApp::create_product`].
#[derive(Debug, Clone, Default)]
pub struct CreateProduct {
    pub fields: ProductFields,
    pub variants: Vec<VariantInput>,
}

/// Input of [`CatalogApp::update_product`]: only the given fields change.
#[derive(Debug, Clone, Default)]
pub struct UpdateProduct {
    pub id: String,
    pub fields: ProductFields,
    pub variants: Vec<VariantInput>,
}

/// How often an update is recomputed when another process changed the product in between.
const UPDATE_ATTEMPTS: usize = 3;

fn require_manage_products(actor: &Actor) -> Result<()> {
    if actor.may(Permission::ManageProducts) {
        Ok(())
    } else {
        Err(Error::permission_denied(
            "CALLER_NOT_ALLOWED",
            "only staff with MANAGE_PRODUCTS may change the catalog",
        ))
    }
}

fn product_not_found() -> Error {
    Error::not_found("PRODUCT_NOT_FOUND", "no such product").with_field(["id"])
}

fn handle_taken(handle: &str) -> Error {
    Error::conflict(
        "HANDLE_TAKEN",
        format!("handle {handle:?} is used by another product"),
    )
    .with_field(["handle"])
}

/// The input index of the variant that asks for `sku` (for the error's field path).
fn sku_taken(sku: &str, inputs: &[VariantInput], written: &[Variant]) -> Error {
    let at = inputs
        .iter()
        .position(|v| v.sku.as_deref().map(str::trim) == Some(sku))
        .or_else(|| written.iter().position(|v| v.sku == sku));
    let field = match at {
        Some(i) => vec!["variants".to_string(), i.to_string(), "sku".to_string()],
        None => vec!["variants".to_string()],
    };
    Error::conflict(
        "SKU_TAKEN",
        format!("SKU {sku:?} is used by another product"),
    )
    .with_field(field)
}

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
    /// Serializes this process's product writes (checks against the index, store write, index update).
    writes: tokio::sync::Mutex<()>,
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
            writes: tokio::sync::Mutex::new(()),
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

    /// Creates a product (staff with MANAGE_PRODUCTS): validates it, checks that its handle and SKUs are free
    /// and its collections exist, stores it with its `product_created` event, then updates the index.
    pub async fn create_product(
        &self,
        actor: &Actor,
        input: &CreateProduct,
    ) -> Result<(Product, Vec<Variant>)> {
        require_manage_products(actor)?;
        let _w = self.writes.lock().await;
        let now = shop_kernel::now_ms();
        let w = write::create(
            &input.fields,
            &input.variants,
            now,
            shop_kernel::ids::new_id,
        )?;
        self.check_against_index(&w, &input.variants)?;
        let event = events::product_created(&w.product, &w.variants, now);
        let write = ProductWrite {
            product: w.product,
            variants: w.variants,
            events: vec![event],
        };
        match self.store.create_product(write.clone()).await {
            Ok(()) => {}
            Err(e) => return Err(self.write_error(e, &input.variants, &write.variants)),
        }
        self.index
            .write()
            .upsert(write.product.clone(), write.variants.clone());
        Ok((write.product, write.variants))
    }

    /// Changes the given fields of a product and its variants (staff with MANAGE_PRODUCTS). Nothing changes
    /// when a check fails; an update that changes nothing writes nothing and returns the product as it is. When
    /// another process changed the product in between, the update is recomputed on the stored product.
    pub async fn update_product(
        &self,
        actor: &Actor,
        input: &UpdateProduct,
    ) -> Result<(Product, Vec<Variant>)> {
        require_manage_products(actor)?;
        if !shop_kernel::ids::is_valid_token(&input.id) {
            return Err(product_not_found());
        }
        let _w = self.writes.lock().await;
        for attempt in 1..=UPDATE_ATTEMPTS {
            let (current, variants) = self.current(&input.id).await?;
            let now = shop_kernel::now_ms();
            let w = write::update(
                &current,
                &variants,
                &input.fields,
                &input.variants,
                now,
                shop_kernel::ids::new_id,
            )?;
            if w.changed.is_empty() {
                return Ok((w.product, w.variants));
            }
            self.check_against_index(&w, &input.variants)?;
            let event = events::product_updated(&w.product, &w.variants, &w.changed, now);
            let write = ProductWrite {
                product: w.product,
                variants: w.variants,
                events: vec![event],
            };
            match self
                .store
                .update_product(current.version, write.clone())
                .await
            {
                Ok(()) => {
                    self.index
                        .write()
                        .upsert(write.product.clone(), write.variants.clone());
                    return Ok((write.product, write.variants));
                }
                Err(WriteError::VersionConflict) if attempt < UPDATE_ATTEMPTS => {
                    // The index is behind the store: take the stored product and try again.
                    if let Some((p, vs)) = self.store.load_product(&input.id).await? {
                        self.index.write().upsert(p, vs);
                    }
                }
                Err(e) => return Err(self.write_error(e, &input.variants, &write.variants)),
            }
        }
        Err(Error::conflict(
            "VERSION_CONFLICT",
            "the product is being changed concurrently; try again",
        ))
    }

    /// Applies a product written by any catalog process (a `product_created` / `product_updated` event) to the
    /// index, unless the index already holds that version or a newer one. Returns whether the index changed.
    pub fn apply_product_written(&self, product: Product, variants: Vec<Variant>) -> bool {
        self.index.write().upsert(product, variants)
    }

    /// A product and its variants: from the index, else (written by another process, not yet applied here)
    /// from the store.
    async fn current(&self, id: &str) -> Result<(Product, Vec<Variant>)> {
        {
            let idx = self.index.read();
            if let Some(p) = idx.product(id) {
                return Ok((p.clone(), idx.variants_of(p)));
            }
        }
        match self.store.load_product(id).await? {
            Some((p, vs)) => {
                self.index.write().upsert(p.clone(), vs.clone());
                Ok((p, vs))
            }
            None => Err(product_not_found()),
        }
    }

    /// What the index can tell before the store is asked: collections exist, the handle and the SKUs are not
    /// another product's. (The store checks handle and SKUs again, atomically with the write.)
    fn check_against_index(&self, w: &Written, inputs: &[VariantInput]) -> Result<()> {
        let idx = self.index.read();
        let id = &w.product.id;
        for (i, c) in w.product.collection_ids.iter().enumerate() {
            if idx.collection(c).is_none() {
                return Err(
                    Error::not_found("COLLECTION_NOT_FOUND", "no such collection")
                        .with_field(["collection_ids".to_string(), i.to_string()]),
                );
            }
        }
        if idx
            .product_by_handle(&w.product.handle)
            .is_some_and(|p| p.id != *id)
        {
            return Err(handle_taken(&w.product.handle));
        }
        for v in &w.variants {
            if idx
                .variant_by_sku(&v.sku)
                .is_some_and(|o| o.product_id != *id)
            {
                return Err(sku_taken(&v.sku, inputs, &w.variants));
            }
        }
        Ok(())
    }

    fn write_error(&self, e: WriteError, inputs: &[VariantInput], written: &[Variant]) -> Error {
        match e {
            WriteError::HandleTaken(h) => handle_taken(&h),
            WriteError::SkuTaken(s) => sku_taken(&s, inputs, written),
            WriteError::NotFound => product_not_found(),
            WriteError::VersionConflict => Error::conflict(
                "VERSION_CONFLICT",
                "the product is being changed concurrently; try again",
            ),
            WriteError::Store(e) => e.into(),
        }
    }
}
