//! SQLite recommender store.
use rusqlite::params;
use shop_store::{
    StoreError,
    sqlite::{Db, EVENT_STORE_MIGRATIONS, Migration},
};

use super::RecommenderStore;
use crate::domain::OrderDelta;

/// Tables of the co-purchase projection.
pub const MIGRATIONS: &[Migration] = &[Migration {
    name: "recommender_v1",
    sql: "
        CREATE TABLE popularity (product_id TEXT PRIMARY KEY, units INTEGER NOT NULL);
        CREATE INDEX popularity_rank ON popularity (units DESC, product_id);
        CREATE TABLE co_counts (
            a TEXT NOT NULL,
            b TEXT NOT NULL,
            count INTEGER NOT NULL,
            PRIMARY KEY (a, b)
        );
        CREATE TABLE customer_products (
            customer_id TEXT NOT NULL,
            product_id TEXT NOT NULL,
            PRIMARY KEY (customer_id, product_id)
        );
        CREATE TABLE processed_events (event_id TEXT PRIMARY KEY, processed_at_ms INTEGER NOT NULL);
    ",
}];

/// A [`RecommenderStore`] on SQLite.
#[derive(Clone)]
pub struct SqliteRecommenderStore {
    db: Db,
}

impl SqliteRecommenderStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &std::path::Path) -> Result<Self, StoreError> {
        Ok(Self {
            db: Db::open(path, &[EVENT_STORE_MIGRATIONS, MIGRATIONS])?,
        })
    }

    /// A private in-memory database (tests).
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Ok(Self {
            db: Db::open_in_memory(&[EVENT_STORE_MIGRATIONS, MIGRATIONS])?,
        })
    }
}

impl RecommenderStore for SqliteRecommenderStore {
    async fn apply_order(&self, event_id: &str, delta: OrderDelta) -> Result<bool, StoreError> {
        let event_id = event_id.to_string();
        self.db
            .write(move |tx| {
                let fresh = tx.execute(
                    "INSERT OR IGNORE INTO processed_events (event_id, processed_at_ms) VALUES (?1, ?2)",
                    params![event_id, shop_kernel::now_ms()],
                )?;
                if fresh == 0 {
                    return Ok(false);
                }
                let mut pop = tx.prepare_cached(
                    "INSERT INTO popularity (product_id, units) VALUES (?1, ?2)
                     ON CONFLICT(product_id) DO UPDATE SET units = units + excluded.units",
                )?;
                for (p, n) in &delta.popularity {
                    pop.execute(params![p, n])?;
                }
                let mut co = tx.prepare_cached(
                    "INSERT INTO co_counts (a, b, count) VALUES (?1, ?2, 1)
                     ON CONFLICT(a, b) DO UPDATE SET count = count + 1",
                )?;
                for (a, b) in &delta.pairs {
                    co.execute(params![a, b])?;
                }
                if let Some((c, products)) = &delta.customer {
                    let mut cp = tx.prepare_cached(
                        "INSERT OR IGNORE INTO customer_products (customer_id, product_id) VALUES (?1, ?2)",
                    )?;
                    for p in products {
                        cp.execute(params![c, p])?;
                    }
                }
                Ok(true)
            })
            .await
    }

    async fn co_purchased(
        &self,
        product_ids: Vec<String>,
        limit: usize,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        if product_ids.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        self.db
            .call(move |c| {
                let mut ids = product_ids;
                ids.sort();
                ids.dedup();
                let placeholders = (0..ids.len())
                    .map(|i| format!("?{}", i + 2))
                    .collect::<Vec<_>>()
                    .join(",");
                let sql = format!(
                    "SELECT b, SUM(count) AS n FROM co_counts WHERE a IN ({placeholders})
                     GROUP BY b ORDER BY n DESC, b LIMIT ?1"
                );
                let mut args: Vec<rusqlite::types::Value> = vec![(limit as i64).into()];
                args.extend(ids.into_iter().map(rusqlite::types::Value::from));
                let mut stmt = c.prepare(&sql)?;
                let rows = stmt
                    .query_map(rusqlite::params_from_iter(args), |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await
    }

    async fn popular(&self, limit: usize) -> Result<Vec<(String, i64)>, StoreError> {
        self.db
            .call(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT product_id, units FROM popularity ORDER BY units DESC, product_id LIMIT ?1",
                )?;
                let rows =
                    stmt.query_map([limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await
    }

    async fn customer_products(
        &self,
        customer_id: &str,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let customer_id = customer_id.to_string();
        self.db
            .call(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT product_id FROM customer_products WHERE customer_id = ?1 ORDER BY product_id LIMIT ?2",
                )?;
                let rows = stmt
                    .query_map(params![customer_id, limit as i64], |r| r.get(0))?
                    .collect::<Result<Vec<String>, _>>()?;
                Ok(rows)
            })
            .await
    }
}
