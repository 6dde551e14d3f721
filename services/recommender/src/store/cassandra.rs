//! Cassandra / ScyllaDB recommender store: the co-purchase projection as exactly-once grouped counters
//! ([`CassandraTallies`], shared with the catalog's best-selling projection) in the service's keyspace.
//!
//! # Layout
//!
//! Every count is a total in a *group* (one partition of the `tallies` table):
//!
//! | group | items | total |
//! |---|---|---|
//! | `pop:<shard>` (`shard` = [`shard_of`]`(product)`, 16 partitions) | product | units sold |
//! | `co:<a>` | product `b` bought with `a` | orders with both |
//! | `cust:<customer>` | product | orders of the customer with it |
//!
//! [`RecommenderStore::popular`] reads the 16 popularity partitions and ranks them; [`co_purchased`] reads one
//! partition per seed product; [`customer_products`] reads the first items (by id) of one partition.
//!
//! # Once per event
//!
//! `apply_order` is [`CassandraTallies::apply_once`]: an event already marked processed changes nothing and
//! returns `false`; otherwise each group gets the order's increments in one conditional batch on its partition
//! together with a marker of the event (so no group counts it twice), and then the event is marked processed
//! with `INSERT … IF NOT EXISTS` — the caller whose mark applied returns `true`. There is no transaction across
//! groups: a crash half-way leaves the event unmarked and some groups counted, and the redelivery of the event
//! (the consumer stores its offset only after processing) completes the rest; the markers skip the groups
//! already done. "Processed" therefore always means "counted in every group, once". Timeouts of these LWTs
//! are settled with SERIAL reads, never blindly retried.
//!
//! [`co_purchased`]: RecommenderStore::co_purchased
//! [`customer_products`]: RecommenderStore::customer_products
use std::collections::{BTreeMap, BTreeSet, HashMap};

use futures::future;
use shop_store::{
    StoreError,
    cassandra::{CassandraEventStore, CassandraSettings, CassandraTallies, SHARDS, shard_of},
};

use super::RecommenderStore;
use crate::domain::{OrderDelta, sort_scored};

fn pop_group(shard: i32) -> String {
    format!("pop:{shard}")
}

fn co_group(product: &str) -> String {
    format!("co:{product}")
}

fn customer_group(customer: &str) -> String {
    format!("cust:{customer}")
}

/// A [`RecommenderStore`] on Cassandra / ScyllaDB (see the module documentation). Cheap to clone.
#[derive(Clone, Debug)]
pub struct CassandraRecommenderStore {
    events: CassandraEventStore,
    tallies: CassandraTallies,
}

impl CassandraRecommenderStore {
    /// Connects to `settings.keyspace` (created if missing; the event store's migrations are applied there
    /// too, as in the SQLite adapter's database), then [`CassandraRecommenderStore::with_event_store`].
    pub async fn connect(settings: CassandraSettings) -> Result<Self, StoreError> {
        Self::with_event_store(CassandraEventStore::connect(settings).await?).await
    }

    /// A store in the keyspace of a connected event store: applies the tally migrations and prepares them.
    pub async fn with_event_store(events: CassandraEventStore) -> Result<Self, StoreError> {
        let tallies = CassandraTallies::new(&events).await?;
        Ok(Self { events, tallies })
    }

    /// The event store of the keyspace (its session serves operations tooling and tests).
    pub fn event_store(&self) -> &CassandraEventStore {
        &self.events
    }
}

/// The group increments of one order.
fn groups_of(delta: OrderDelta) -> Vec<(String, Vec<(String, i64)>)> {
    let mut groups: BTreeMap<String, Vec<(String, i64)>> = BTreeMap::new();
    for (product, units) in delta.popularity {
        groups
            .entry(pop_group(shard_of(&product)))
            .or_default()
            .push((product, units));
    }
    for (a, b) in delta.pairs {
        groups.entry(co_group(&a)).or_default().push((b, 1));
    }
    if let Some((customer, products)) = delta.customer {
        let distinct: BTreeSet<String> = products.into_iter().collect();
        groups.insert(
            customer_group(&customer),
            distinct.into_iter().map(|p| (p, 1)).collect(),
        );
    }
    groups.into_iter().collect()
}

impl RecommenderStore for CassandraRecommenderStore {
    async fn apply_order(&self, event_id: &str, delta: OrderDelta) -> Result<bool, StoreError> {
        self.tallies.apply_once(event_id, groups_of(delta)).await
    }

    async fn co_purchased(
        &self,
        product_ids: Vec<String>,
        limit: usize,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        if product_ids.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let distinct: BTreeSet<String> = product_ids.into_iter().collect();
        let mut sum: HashMap<String, i64> = HashMap::new();
        let seeds: Vec<String> = distinct.into_iter().collect();
        for chunk in seeds.chunks(16) {
            let totals = future::try_join_all(
                chunk
                    .iter()
                    .map(|a| async move { self.tallies.totals(&co_group(a)).await }),
            )
            .await?;
            for (b, n) in totals.into_iter().flatten() {
                let e = sum.entry(b).or_insert(0);
                *e = e.saturating_add(n);
            }
        }
        let mut out: Vec<(String, i64)> = sum.into_iter().collect();
        sort_scored(&mut out);
        out.truncate(limit);
        Ok(out)
    }

    async fn popular(&self, limit: usize) -> Result<Vec<(String, i64)>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let shards = future::try_join_all(
            (0..SHARDS).map(|s| async move { self.tallies.totals(&pop_group(s)).await }),
        )
        .await?;
        let mut out: Vec<(String, i64)> = shards.into_iter().flatten().collect();
        sort_scored(&mut out);
        out.truncate(limit);
        Ok(out)
    }

    async fn customer_products(
        &self,
        customer_id: &str,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        Ok(self
            .tallies
            .first_totals(&customer_group(customer_id), limit)
            .await?
            .into_iter()
            .map(|(product, _)| product)
            .collect())
    }
}
