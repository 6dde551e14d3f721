//! The [`ProjectionStore`] in memory: fast tests and the all-in-one shop. Mirrors the Cassandra adapter's
//! semantics exactly, including last-write-wins by version (a row remembers the version of its last write or
//! delete; an older write or delete is ignored, a delete wins a tie).
use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use parking_lot::Mutex;

use super::{ProjectionStore, StoreError};
use crate::{
    model::{
        self, CartState, CartSummary, CoPurchase, OrderState, OrderSummary, Position,
        ProductPopularity, Projector, Purchase, Source, StockLevel, Version,
    },
    projector::stale_generation,
};

/// A row with last-write-wins versioning; `value: None` is a tombstone.
#[derive(Debug, Clone)]
struct Cell<T> {
    version: Version,
    value: Option<T>,
}

fn write<K: Eq + std::hash::Hash + Ord, T>(
    map: &mut BTreeMap<K, Cell<T>>,
    key: K,
    version: Version,
    value: T,
) {
    match map.get(&key) {
        Some(c) if c.version > version || (c.version == version && c.value.is_none()) => {}
        _ => {
            map.insert(
                key,
                Cell {
                    version,
                    value: Some(value),
                },
            );
        }
    }
}

fn delete<K: Eq + std::hash::Hash + Ord, T>(
    map: &mut BTreeMap<K, Cell<T>>,
    key: K,
    version: Version,
) {
    match map.get(&key) {
        Some(c) if c.version > version => {}
        _ => {
            map.insert(
                key,
                Cell {
                    version,
                    value: None,
                },
            );
        }
    }
}

fn live<K, T: Clone>(map: &BTreeMap<K, Cell<T>>, key: &K) -> Option<T>
where
    K: Ord,
{
    map.get(key).and_then(|c| c.value.clone())
}

/// A per-partition tally with the offset of the last purchase it counted.
#[derive(Debug, Clone)]
struct Tally {
    generation: u64,
    orders: i64,
    units: i64,
    /// -1: nothing counted yet (Kafka offsets start at 0).
    last_offset: i64,
}

impl Tally {
    fn empty(generation: u64) -> Self {
        Self {
            generation,
            orders: 0,
            units: 0,
            last_offset: -1,
        }
    }

    /// The tally as `source`'s generation sees it: a row of an older generation counts as absent.
    fn current(row: Option<&Tally>, source: Source) -> Result<Tally, StoreError> {
        match row {
            Some(t) if t.generation > source.generation => Err(stale_generation(
                Projector::Popularity,
                source.generation,
                t.generation,
            )),
            Some(t) if t.generation == source.generation => Ok(t.clone()),
            _ => Ok(Tally::empty(source.generation)),
        }
    }
}

#[derive(Default)]
struct Inner {
    /// Generation of a projector never reset here: see [`MemoryProjectionStore::new`].
    base_generation: u64,
    generations: HashMap<Projector, u64>,
    /// (projector, generation, topic, partition) → offset.
    positions: BTreeMap<(Projector, u64, String, i32), i64>,
    orders: BTreeMap<String, Cell<OrderState>>,
    /// (customer, placed_at, order) → row.
    history: BTreeMap<(String, i64, String), Cell<OrderSummary>>,
    stock: BTreeMap<String, Cell<StockLevel>>,
    carts: BTreeMap<String, Cell<CartState>>,
    /// (owner, cart) → row.
    carts_by_owner: BTreeMap<(String, String), Cell<CartSummary>>,
    /// (product, partition) → tally.
    popularity: BTreeMap<(String, i32), Tally>,
    /// (product, partition, other) → tally (`units` unused).
    co_purchase: BTreeMap<(String, i32, String), Tally>,
    /// order → generation that counted it.
    counted_orders: HashMap<String, u64>,
}

/// The in-memory projection store. Cheap to clone (shared state).
#[derive(Clone)]
pub struct MemoryProjectionStore {
    inner: Arc<Mutex<Inner>>,
}

impl Default for MemoryProjectionStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryProjectionStore {
    /// An empty store. Its projectors start at a generation taken from the clock (milliseconds since the
    /// epoch), not 0: the read models are empty at every process start, so they must be consumed with a
    /// consumer group no earlier process used — one that replays the topics from the start — rather than
    /// resume from the committed offsets a durable log (the embedded bus, Kafka) kept for the previous run.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                base_generation: shop_kernel::now_ms().max(0) as u64,
                ..Inner::default()
            })),
        }
    }
}

impl ProjectionStore for MemoryProjectionStore {
    async fn generation(&self, projector: Projector) -> Result<u64, StoreError> {
        let g = self.inner.lock();
        Ok(g.generations
            .get(&projector)
            .copied()
            .unwrap_or(g.base_generation))
    }

    async fn reset(&self, projector: Projector) -> Result<u64, StoreError> {
        let mut g = self.inner.lock();
        match projector {
            Projector::OrderHistory => {
                g.orders.clear();
                g.history.clear();
            }
            Projector::Stock => g.stock.clear(),
            Projector::Carts => {
                g.carts.clear();
                g.carts_by_owner.clear();
            }
            Projector::Popularity => {
                g.popularity.clear();
                g.co_purchase.clear();
                g.counted_orders.clear();
            }
        }
        g.positions.retain(|(p, ..), _| *p != projector);
        let next = g
            .generations
            .get(&projector)
            .copied()
            .unwrap_or(g.base_generation)
            + 1;
        g.generations.insert(projector, next);
        Ok(next)
    }

    async fn positions(
        &self,
        projector: Projector,
        generation: u64,
    ) -> Result<Vec<Position>, StoreError> {
        Ok(self
            .inner
            .lock()
            .positions
            .iter()
            .filter(|((p, g, ..), _)| *p == projector && *g == generation)
            .map(|((_, _, topic, partition), offset)| Position {
                topic: topic.clone(),
                partition: *partition,
                offset: *offset,
            })
            .collect())
    }

    async fn save_position(
        &self,
        projector: Projector,
        generation: u64,
        position: &Position,
    ) -> Result<(), StoreError> {
        let mut g = self.inner.lock();
        let cur = g
            .positions
            .entry((
                projector,
                generation,
                position.topic.clone(),
                position.partition,
            ))
            .or_insert(position.offset);
        *cur = (*cur).max(position.offset);
        Ok(())
    }

    async fn order_state(&self, order_id: &str) -> Result<Option<OrderState>, StoreError> {
        Ok(live(&self.inner.lock().orders, &order_id.to_string()))
    }

    async fn save_order(&self, state: &OrderState) -> Result<(), StoreError> {
        let mut g = self.inner.lock();
        if let Some(row) = state.summary() {
            let key = (
                row.customer_id.clone(),
                row.placed_at_ms,
                row.order_id.clone(),
            );
            write(&mut g.history, key, state.version(), row);
        }
        write(
            &mut g.orders,
            state.order_id.clone(),
            state.version(),
            state.clone(),
        );
        Ok(())
    }

    async fn order_history(
        &self,
        customer_id: &str,
        limit: usize,
    ) -> Result<Vec<OrderSummary>, StoreError> {
        let g = self.inner.lock();
        let mut rows: Vec<OrderSummary> = g
            .history
            .iter()
            .filter(|((c, ..), _)| c == customer_id)
            .filter_map(|(_, cell)| cell.value.clone())
            .collect();
        model::sort_history(&mut rows);
        rows.truncate(limit);
        Ok(rows)
    }

    async fn stock(&self, variant_id: &str) -> Result<Option<StockLevel>, StoreError> {
        Ok(live(&self.inner.lock().stock, &variant_id.to_string()))
    }

    async fn save_stock(&self, level: &StockLevel) -> Result<(), StoreError> {
        let mut g = self.inner.lock();
        write(
            &mut g.stock,
            level.variant_id.clone(),
            level.version(),
            level.clone(),
        );
        Ok(())
    }

    async fn stock_levels(&self, variant_ids: &[String]) -> Result<Vec<StockLevel>, StoreError> {
        let g = self.inner.lock();
        Ok(variant_ids
            .iter()
            .filter_map(|v| live(&g.stock, v))
            .collect())
    }

    async fn cart_state(&self, cart_id: &str) -> Result<Option<CartState>, StoreError> {
        Ok(live(&self.inner.lock().carts, &cart_id.to_string()))
    }

    async fn save_cart(
        &self,
        state: &CartState,
        previous_owner: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut g = self.inner.lock();
        if let Some(prev) = previous_owner
            && Some(prev) != state.owner()
        {
            delete(
                &mut g.carts_by_owner,
                (prev.to_string(), state.cart_id.clone()),
                state.version(),
            );
        }
        if let Some(row) = state.summary() {
            write(
                &mut g.carts_by_owner,
                (row.customer_id.clone(), row.cart_id.clone()),
                state.version(),
                row,
            );
        }
        write(
            &mut g.carts,
            state.cart_id.clone(),
            state.version(),
            state.clone(),
        );
        Ok(())
    }

    async fn carts_by_owner(&self, customer_id: &str) -> Result<Vec<CartSummary>, StoreError> {
        let g = self.inner.lock();
        let mut rows: Vec<CartSummary> = g
            .carts_by_owner
            .iter()
            .filter(|((c, _), _)| c == customer_id)
            .filter_map(|(_, cell)| cell.value.clone())
            .collect();
        model::sort_carts(&mut rows);
        Ok(rows)
    }

    async fn record_purchase(
        &self,
        source: Source,
        purchase: &Purchase,
    ) -> Result<bool, StoreError> {
        let mut g = self.inner.lock();
        match g.counted_orders.get(&purchase.order_id) {
            Some(&by) if by > source.generation => {
                return Err(stale_generation(
                    Projector::Popularity,
                    source.generation,
                    by,
                ));
            }
            Some(&by) if by == source.generation => return Ok(false),
            _ => {}
        }
        // Read every row first (an error changes nothing), then write.
        let mut writes = Vec::new();
        let mut co_writes = Vec::new();
        for (product, units) in &purchase.products {
            let key = (product.clone(), source.partition);
            let mut t = Tally::current(g.popularity.get(&key), source)?;
            if t.last_offset < source.offset {
                t.orders += 1;
                t.units += units;
                t.last_offset = source.offset;
                writes.push((key, t));
            }
            for other in purchase.products.keys().filter(|o| *o != product) {
                let key = (product.clone(), source.partition, other.clone());
                let mut t = Tally::current(g.co_purchase.get(&key), source)?;
                if t.last_offset < source.offset {
                    t.orders += 1;
                    t.last_offset = source.offset;
                    co_writes.push((key, t));
                }
            }
        }
        g.popularity.extend(writes);
        g.co_purchase.extend(co_writes);
        g.counted_orders
            .insert(purchase.order_id.clone(), source.generation);
        Ok(true)
    }

    async fn popularity(&self, product_id: &str) -> Result<ProductPopularity, StoreError> {
        let g = self.inner.lock();
        let mut p = ProductPopularity {
            product_id: product_id.to_string(),
            ..Default::default()
        };
        for ((product, _), t) in g.popularity.iter() {
            if product == product_id {
                p.orders += t.orders;
                p.units += t.units;
            }
        }
        Ok(p)
    }

    async fn top_products(&self, limit: usize) -> Result<Vec<ProductPopularity>, StoreError> {
        let g = self.inner.lock();
        let mut by: BTreeMap<&str, ProductPopularity> = BTreeMap::new();
        for ((product, _), t) in g.popularity.iter() {
            let p = by
                .entry(product.as_str())
                .or_insert_with(|| ProductPopularity {
                    product_id: product.clone(),
                    ..Default::default()
                });
            p.orders += t.orders;
            p.units += t.units;
        }
        let mut rows: Vec<ProductPopularity> = by.into_values().collect();
        model::sort_popularity(&mut rows);
        rows.truncate(limit);
        Ok(rows)
    }

    async fn co_purchased(
        &self,
        product_id: &str,
        limit: usize,
    ) -> Result<Vec<CoPurchase>, StoreError> {
        let g = self.inner.lock();
        let mut by: BTreeMap<&str, i64> = BTreeMap::new();
        for ((product, _, other), t) in g.co_purchase.iter() {
            if product == product_id {
                *by.entry(other.as_str()).or_default() += t.orders;
            }
        }
        let mut rows: Vec<CoPurchase> = by
            .into_iter()
            .map(|(other, orders)| CoPurchase {
                other_id: other.to_string(),
                orders,
            })
            .collect();
        model::sort_co_purchases(&mut rows);
        rows.truncate(limit);
        Ok(rows)
    }
}
