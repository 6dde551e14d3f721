//! In-memory recommender store (tests and `Storage::Memory`).
use std::{
    collections::{BTreeSet, HashMap, HashSet},
    sync::Arc,
};

use parking_lot::Mutex;
use shop_store::StoreError;

use super::RecommenderStore;
use crate::domain::{OrderDelta, sort_scored};

#[derive(Default)]
struct Inner {
    popularity: HashMap<String, i64>,
    co: HashMap<String, HashMap<String, i64>>,
    customers: HashMap<String, BTreeSet<String>>,
    processed: HashSet<String>,
}

/// A [`RecommenderStore`] held in memory.
#[derive(Clone, Default)]
pub struct MemoryRecommenderStore {
    inner: Arc<Mutex<Inner>>,
}

impl MemoryRecommenderStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl RecommenderStore for MemoryRecommenderStore {
    async fn apply_order(&self, event_id: &str, delta: OrderDelta) -> Result<bool, StoreError> {
        let mut g = self.inner.lock();
        if !g.processed.insert(event_id.to_string()) {
            return Ok(false);
        }
        for (p, n) in delta.popularity {
            let e = g.popularity.entry(p).or_insert(0);
            *e = e.saturating_add(n);
        }
        for (a, b) in delta.pairs {
            *g.co.entry(a).or_default().entry(b).or_insert(0) += 1;
        }
        if let Some((c, products)) = delta.customer {
            g.customers.entry(c).or_default().extend(products);
        }
        Ok(true)
    }

    async fn co_purchased(
        &self,
        product_ids: Vec<String>,
        limit: usize,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let g = self.inner.lock();
        let mut sum: HashMap<&str, i64> = HashMap::new();
        let distinct: BTreeSet<&String> = product_ids.iter().collect();
        for a in distinct {
            for (b, n) in g.co.get(a).into_iter().flatten() {
                *sum.entry(b.as_str()).or_insert(0) += n;
            }
        }
        let mut out: Vec<(String, i64)> =
            sum.into_iter().map(|(b, n)| (b.to_string(), n)).collect();
        sort_scored(&mut out);
        out.truncate(limit);
        Ok(out)
    }

    async fn popular(&self, limit: usize) -> Result<Vec<(String, i64)>, StoreError> {
        let g = self.inner.lock();
        let mut out: Vec<(String, i64)> =
            g.popularity.iter().map(|(p, n)| (p.clone(), *n)).collect();
        sort_scored(&mut out);
        out.truncate(limit);
        Ok(out)
    }

    async fn customer_products(
        &self,
        customer_id: &str,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let g = self.inner.lock();
        Ok(g.customers
            .get(customer_id)
            .map(|s| s.iter().take(limit).cloned().collect())
            .unwrap_or_default())
    }
}
