//! SQLite catalog store. Lists (tags, images, options, ids) are stored as JSON columns; the event store tables
//! live in the same database, so seeding and its `product_published` events commit together.
use rusqlite::{OptionalExtension, params};
use shop_kernel::Money;
use shop_store::{
    ExpectedVersion, StoreError,
    sqlite::{Db, EVENT_STORE_MIGRATIONS, Migration, SqliteEventStore, append_in_tx},
};

use super::{CatalogStore, StreamEvent};
use crate::domain::{CatalogData, Collection, Image, Product, SelectedOption, Variant};

/// Tables of the catalog.
pub const MIGRATIONS: &[Migration] = &[Migration {
    name: "catalog_v1",
    sql: "
        CREATE TABLE collections (
            position INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            handle TEXT NOT NULL UNIQUE,
            title TEXT NOT NULL,
            description TEXT NOT NULL,
            image_json TEXT,
            updated_at_ms INTEGER NOT NULL
        );
        CREATE TABLE products (
            position INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            handle TEXT NOT NULL UNIQUE,
            title TEXT NOT NULL,
            description TEXT NOT NULL,
            vendor TEXT NOT NULL,
            product_type TEXT NOT NULL,
            tags_json TEXT NOT NULL,
            images_json TEXT NOT NULL,
            variant_ids_json TEXT NOT NULL,
            collection_ids_json TEXT NOT NULL,
            currency TEXT NOT NULL,
            min_price_minor INTEGER NOT NULL,
            max_price_minor INTEGER NOT NULL,
            created_at_ms INTEGER NOT NULL,
            updated_at_ms INTEGER NOT NULL
        );
        CREATE TABLE variants (
            id TEXT PRIMARY KEY,
            product_id TEXT NOT NULL REFERENCES products (id),
            sku TEXT NOT NULL UNIQUE,
            title TEXT NOT NULL,
            currency TEXT NOT NULL,
            price_minor INTEGER NOT NULL,
            compare_at_minor INTEGER,
            options_json TEXT NOT NULL,
            image_json TEXT,
            position INTEGER NOT NULL
        );
        CREATE INDEX variants_by_product ON variants (product_id, position);
        CREATE TABLE product_sales (product_id TEXT PRIMARY KEY, units INTEGER NOT NULL);
        CREATE TABLE processed_events (event_id TEXT PRIMARY KEY, processed_at_ms INTEGER NOT NULL);
    ",
}];

/// A [`CatalogStore`] on SQLite.
#[derive(Clone)]
pub struct SqliteCatalogStore {
    events: SqliteEventStore,
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Backend(format!("encode json: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(idx: usize, s: &str) -> rusqlite::Result<T> {
    serde_json::from_str(s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn opt_json<T: serde::de::DeserializeOwned>(
    idx: usize,
    s: Option<String>,
) -> rusqlite::Result<Option<T>> {
    s.map(|s| from_json(idx, &s)).transpose()
}

impl SqliteCatalogStore {
    /// Opens (creating if needed) the catalog database at `path`.
    pub fn open(path: &std::path::Path) -> Result<Self, StoreError> {
        Ok(Self::from_db(Db::open(
            path,
            &[EVENT_STORE_MIGRATIONS, MIGRATIONS],
        )?))
    }

    /// A private in-memory database (tests).
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Ok(Self::from_db(Db::open_in_memory(&[
            EVENT_STORE_MIGRATIONS,
            MIGRATIONS,
        ])?))
    }

    fn from_db(db: Db) -> Self {
        Self {
            events: SqliteEventStore::new(db),
        }
    }

    /// The event store (outbox) the relay reads.
    pub fn event_store(&self) -> &SqliteEventStore {
        &self.events
    }
}

fn insert_all(tx: &rusqlite::Transaction<'_>, data: &CatalogData) -> Result<(), StoreError> {
    let mut c = tx.prepare_cached(
        "INSERT INTO collections (id, handle, title, description, image_json, updated_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for col in &data.collections {
        let image = col.image.as_ref().map(to_json).transpose()?;
        c.execute(params![
            col.id,
            col.handle,
            col.title,
            col.description,
            image,
            col.updated_at_ms
        ])?;
    }
    let mut p = tx.prepare_cached(
        "INSERT INTO products (id, handle, title, description, vendor, product_type, tags_json, images_json,
             variant_ids_json, collection_ids_json, currency, min_price_minor, max_price_minor, created_at_ms,
             updated_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?;
    for pr in &data.products {
        p.execute(params![
            pr.id,
            pr.handle,
            pr.title,
            pr.description,
            pr.vendor,
            pr.product_type,
            to_json(&pr.tags)?,
            to_json(&pr.images)?,
            to_json(&pr.variant_ids)?,
            to_json(&pr.collection_ids)?,
            pr.min_price.currency,
            pr.min_price.amount_minor,
            pr.max_price.amount_minor,
            pr.created_at_ms,
            pr.updated_at_ms
        ])?;
    }
    let mut v = tx.prepare_cached(
        "INSERT INTO variants (id, product_id, sku, title, currency, price_minor, compare_at_minor, options_json,
             image_json, position)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    for va in &data.variants {
        let image = va.image.as_ref().map(to_json).transpose()?;
        v.execute(params![
            va.id,
            va.product_id,
            va.sku,
            va.title,
            va.price.currency,
            va.price.amount_minor,
            va.compare_at_price.as_ref().map(|m| m.amount_minor),
            to_json(&va.options)?,
            image,
            va.position
        ])?;
    }
    Ok(())
}

fn load_all(c: &rusqlite::Connection) -> Result<CatalogData, StoreError> {
    let collections = c
        .prepare_cached(
            "SELECT id, handle, title, description, image_json, updated_at_ms FROM collections ORDER BY position",
        )?
        .query_map([], |r| {
            Ok(Collection {
                id: r.get(0)?,
                handle: r.get(1)?,
                title: r.get(2)?,
                description: r.get(3)?,
                image: opt_json::<Image>(4, r.get(4)?)?,
                updated_at_ms: r.get(5)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let products = c
        .prepare_cached(
            "SELECT id, handle, title, description, vendor, product_type, tags_json, images_json, variant_ids_json,
                 collection_ids_json, currency, min_price_minor, max_price_minor, created_at_ms, updated_at_ms
             FROM products ORDER BY position",
        )?
        .query_map([], |r| {
            let currency: String = r.get(10)?;
            Ok(Product {
                id: r.get(0)?,
                handle: r.get(1)?,
                title: r.get(2)?,
                description: r.get(3)?,
                vendor: r.get(4)?,
                product_type: r.get(5)?,
                tags: from_json(6, &r.get::<_, String>(6)?)?,
                images: from_json(7, &r.get::<_, String>(7)?)?,
                variant_ids: from_json(8, &r.get::<_, String>(8)?)?,
                collection_ids: from_json(9, &r.get::<_, String>(9)?)?,
                min_price: Money::new(r.get(11)?, currency.clone()),
                max_price: Money::new(r.get(12)?, currency),
                created_at_ms: r.get(13)?,
                updated_at_ms: r.get(14)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let variants = c
        .prepare_cached(
            "SELECT v.id, v.product_id, v.sku, v.title, v.currency, v.price_minor, v.compare_at_minor,
                 v.options_json, v.image_json, v.position
             FROM variants v JOIN products p ON p.id = v.product_id ORDER BY p.position, v.position",
        )?
        .query_map([], |r| {
            let currency: String = r.get(4)?;
            Ok(Variant {
                id: r.get(0)?,
                product_id: r.get(1)?,
                sku: r.get(2)?,
                title: r.get(3)?,
                price: Money::new(r.get(5)?, currency.clone()),
                compare_at_price: r.get::<_, Option<i64>>(6)?.map(|a| Money::new(a, currency)),
                options: from_json::<Vec<SelectedOption>>(7, &r.get::<_, String>(7)?)?,
                image: opt_json::<Image>(8, r.get(8)?)?,
                position: r.get(9)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let units_sold = c
        .prepare_cached("SELECT product_id, units FROM product_sales ORDER BY product_id")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CatalogData {
        collections,
        products,
        variants,
        units_sold,
    })
}

impl CatalogStore for SqliteCatalogStore {
    async fn load(&self) -> Result<CatalogData, StoreError> {
        self.events.db().call(|c| load_all(c)).await
    }

    async fn seed_if_empty(
        &self,
        data: CatalogData,
        events: Vec<StreamEvent>,
    ) -> Result<bool, StoreError> {
        let seeded = self
            .events
            .db()
            .write(move |tx| {
                let existing: Option<i64> = tx
                    .query_row("SELECT 1 FROM products LIMIT 1", [], |r| r.get(0))
                    .optional()?;
                if existing.is_some() {
                    return Ok(false);
                }
                insert_all(tx, &data)?;
                for e in &events {
                    append_in_tx(
                        tx,
                        &e.stream,
                        ExpectedVersion::Any,
                        std::slice::from_ref(&e.event),
                        &[],
                    )?;
                }
                Ok(true)
            })
            .await?;
        if seeded {
            self.events.notify_appended();
        }
        Ok(seeded)
    }

    async fn record_sales(
        &self,
        event_id: &str,
        sales: Vec<(String, i64)>,
    ) -> Result<bool, StoreError> {
        let event_id = event_id.to_string();
        self.events
            .db()
            .write(move |tx| {
                let fresh = tx.execute(
                    "INSERT OR IGNORE INTO processed_events (event_id, processed_at_ms) VALUES (?1, ?2)",
                    params![event_id, shop_kernel::now_ms()],
                )?;
                if fresh == 0 {
                    return Ok(false);
                }
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO product_sales (product_id, units) VALUES (?1, ?2)
                     ON CONFLICT(product_id) DO UPDATE SET units = units + excluded.units",
                )?;
                for (id, n) in &sales {
                    stmt.execute(params![id, n])?;
                }
                Ok(true)
            })
            .await
    }
}
