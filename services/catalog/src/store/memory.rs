//! In-memory catalog store (tests and `Storage::Memory`), with an in-memory event store as its outbox.
use std::{
    collections::{BTreeMap, HashSet},
    sync::Arc,
};

use parking_lot::Mutex;
use shop_store::{EventStore, ExpectedVersion, StoreError, memory::MemoryEventStore};

use super::{CatalogStore, ProductWrite, StreamEvent, WriteError, check_write};
use crate::domain::{CatalogData, Product, Variant};

#[derive(Default)]
struct Inner {
    data: CatalogData,
    units: BTreeMap<String, i64>,
    processed: HashSet<String>,
}

/// A [`CatalogStore`] held in memory.
#[derive(Clone, Default)]
pub struct MemoryCatalogStore {
    inner: Arc<Mutex<Inner>>,
    events: MemoryEventStore,
    /// Serializes product writes so that the checks, the append and the state change act as one.
    writes: Arc<tokio::sync::Mutex<()>>,
}

impl Inner {
    /// Handle and SKU uniqueness against every other product.
    fn check_unique(&self, write: &ProductWrite) -> Result<(), WriteError> {
        let id = &write.product.id;
        if let Some(p) = self
            .data
            .products
            .iter()
            .find(|p| p.handle == write.product.handle && p.id != *id)
        {
            return Err(WriteError::HandleTaken(p.handle.clone()));
        }
        for v in &write.variants {
            if self
                .data
                .variants
                .iter()
                .any(|o| o.sku == v.sku && o.product_id != *id)
            {
                return Err(WriteError::SkuTaken(v.sku.clone()));
            }
        }
        Ok(())
    }

    fn put(&mut self, write: ProductWrite) {
        let id = write.product.id.clone();
        match self.data.products.iter_mut().find(|p| p.id == id) {
            Some(p) => *p = write.product,
            None => self.data.products.push(write.product),
        }
        // Keep the SQLite adapter's order: by product position, then variant position.
        let mut rest: Vec<Variant> = std::mem::take(&mut self.data.variants)
            .into_iter()
            .filter(|v| v.product_id != id)
            .collect();
        rest.extend(write.variants);
        let rank: std::collections::HashMap<&str, usize> = self
            .data
            .products
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id.as_str(), i))
            .collect();
        rest.sort_by_key(|v| (rank.get(v.product_id.as_str()).copied(), v.position));
        self.data.variants = rest;
    }
}

impl MemoryCatalogStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The event store (outbox) the relay reads.
    pub fn event_store(&self) -> &MemoryEventStore {
        &self.events
    }
}

impl CatalogStore for MemoryCatalogStore {
    async fn load(&self) -> Result<CatalogData, StoreError> {
        let g = self.inner.lock();
        let mut data = g.data.clone();
        data.units_sold = g.units.iter().map(|(k, v)| (k.clone(), *v)).collect();
        Ok(data)
    }

    async fn seed_if_empty(
        &self,
        data: CatalogData,
        events: Vec<StreamEvent>,
    ) -> Result<bool, StoreError> {
        {
            let mut g = self.inner.lock();
            if !g.data.products.is_empty() {
                return Ok(false);
            }
            g.data = CatalogData {
                units_sold: Vec::new(),
                ..data
            };
        }
        // Appending with `Any` to an in-memory store cannot fail, so the seed is all-or-nothing in effect.
        for e in events {
            self.events
                .append(&e.stream, ExpectedVersion::Any, vec![e.event], vec![])
                .await?;
        }
        Ok(true)
    }

    async fn record_sales(
        &self,
        event_id: &str,
        sales: Vec<(String, i64)>,
    ) -> Result<bool, StoreError> {
        let mut g = self.inner.lock();
        if !g.processed.insert(event_id.to_string()) {
            return Ok(false);
        }
        for (id, n) in sales {
            let e = g.units.entry(id).or_insert(0);
            *e = e.saturating_add(n);
        }
        Ok(true)
    }

    async fn create_product(&self, write: ProductWrite) -> Result<(), WriteError> {
        check_write(&write, 0)?;
        let _w = self.writes.lock().await;
        {
            let g = self.inner.lock();
            if g.data.products.iter().any(|p| p.id == write.product.id) {
                return Err(WriteError::VersionConflict);
            }
            g.check_unique(&write)?;
        }
        self.append(&write, ExpectedVersion::NoStream).await?;
        self.inner.lock().put(write);
        Ok(())
    }

    async fn update_product(
        &self,
        expected_version: i64,
        write: ProductWrite,
    ) -> Result<(), WriteError> {
        check_write(&write, expected_version)?;
        let _w = self.writes.lock().await;
        {
            let g = self.inner.lock();
            let Some(current) = g.data.products.iter().find(|p| p.id == write.product.id) else {
                return Err(WriteError::NotFound);
            };
            if current.version != expected_version {
                return Err(WriteError::VersionConflict);
            }
            if current
                .variant_ids
                .iter()
                .any(|v| !write.product.variant_ids.contains(v))
            {
                return Err(WriteError::Store(StoreError::Backend(
                    "a product write may not drop variants".into(),
                )));
            }
            g.check_unique(&write)?;
        }
        self.append(&write, ExpectedVersion::Exact(expected_version as u64))
            .await?;
        self.inner.lock().put(write);
        Ok(())
    }

    async fn load_product(&self, id: &str) -> Result<Option<(Product, Vec<Variant>)>, StoreError> {
        let g = self.inner.lock();
        Ok(g.data.products.iter().find(|p| p.id == id).map(|p| {
            let vs = g
                .data
                .variants
                .iter()
                .filter(|v| v.product_id == id)
                .cloned()
                .collect();
            (p.clone(), vs)
        }))
    }
}

impl MemoryCatalogStore {
    async fn append(
        &self,
        write: &ProductWrite,
        expected: ExpectedVersion,
    ) -> Result<(), WriteError> {
        match self
            .events
            .append(&write.product.id, expected, write.events.clone(), vec![])
            .await
        {
            Ok(_) => Ok(()),
            Err(StoreError::Conflict { .. }) => Err(WriteError::VersionConflict),
            Err(e) => Err(e.into()),
        }
    }
}
