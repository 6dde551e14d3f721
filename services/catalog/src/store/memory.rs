//! In-memory catalog store (tests and `Storage::Memory`), with an in-memory event store as its outbox.
use std::{
    collections::{BTreeMap, HashSet},
    sync::Arc,
};

use parking_lot::Mutex;
use shop_store::{EventStore, ExpectedVersion, StoreError, memory::MemoryEventStore};

use super::{CatalogStore, StreamEvent};
use crate::domain::CatalogData;

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
}
