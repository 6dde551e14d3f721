//! SQLite catalog store. Lists (tags, images, options, ids) are stored as JSON columns; the event store tables
//! live in the same database, so seeding and its `product_published` events commit together.
use rusqlite::{OptionalExtension, params};
use shop_kernel::Money;
use shop_store::{
    ExpectedVersion, StoreError,
    sqlite::{Db, EVENT_STORE_MIGRATIONS, Migration, SqliteEventStore, append_in_tx},
};

use super::{CatalogStore, ProductWrite, StreamEvent, WriteError, check_write};
use crate::domain::{CatalogData, Collection, Image, Product, SelectedOption, Variant};

/// The columns of a product row as [`product_row`] reads them.
const SELECT_PRODUCT: &str = "SELECT id, handle, title, description, vendor, product_type, tags_json, images_json,
     variant_ids_json, collection_ids_json, currency, min_price_minor, max_price_minor, created_at_ms, updated_at_ms,
     (SELECT COALESCE(MAX(e.seq), 1) FROM events e WHERE e.stream_id = products.id)
     FROM products";

/// The columns of a variant row as [`variant_row`] reads them.
const SELECT_VARIANT: &str = "SELECT v.id, v.product_id, v.sku, v.title, v.currency, v.price_minor,
     v.compare_at_minor, v.options_json, v.image_json, v.position FROM variants v";

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
    for pr in &data.products {
        insert_product(tx, pr)?;
    }
    for va in &data.variants {
        insert_variant(tx, va)?;
    }
    Ok(())
}

const PRODUCT_COLUMNS: &str = "id, handle, title, description, vendor, product_type, tags_json, images_json,
     variant_ids_json, collection_ids_json, currency, min_price_minor, max_price_minor, created_at_ms,
     updated_at_ms";

fn insert_product(tx: &rusqlite::Transaction<'_>, pr: &Product) -> Result<(), StoreError> {
    let mut p = tx.prepare_cached(&format!(
        "INSERT INTO products ({PRODUCT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
    ))?;
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
    Ok(())
}

fn insert_variant(tx: &rusqlite::Transaction<'_>, va: &Variant) -> Result<(), StoreError> {
    let mut v = tx.prepare_cached(
        "INSERT INTO variants (id, product_id, sku, title, currency, price_minor, compare_at_minor, options_json,
             image_json, position)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
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
    Ok(())
}

/// Handle and SKU uniqueness against every other product, inside the write's transaction.
fn check_unique(tx: &rusqlite::Transaction<'_>, write: &ProductWrite) -> Result<(), WriteError> {
    let id = &write.product.id;
    let taken: Option<String> = tx
        .query_row(
            "SELECT id FROM products WHERE handle = ?1 AND id <> ?2",
            params![write.product.handle, id],
            |r| r.get(0),
        )
        .optional()
        .map_err(StoreError::from)?;
    if taken.is_some() {
        return Err(WriteError::HandleTaken(write.product.handle.clone()));
    }
    let mut st = tx
        .prepare_cached("SELECT 1 FROM variants WHERE sku = ?1 AND product_id <> ?2")
        .map_err(StoreError::from)?;
    for v in &write.variants {
        if st.exists(params![v.sku, id]).map_err(StoreError::from)? {
            return Err(WriteError::SkuTaken(v.sku.clone()));
        }
    }
    Ok(())
}

/// Appends the write's events to the product's stream; a version mismatch is [`WriteError::VersionConflict`].
fn append_events(
    tx: &rusqlite::Transaction<'_>,
    write: &ProductWrite,
    expected: ExpectedVersion,
) -> Result<(), WriteError> {
    match append_in_tx(tx, &write.product.id, expected, &write.events, &[]) {
        Ok(_) => Ok(()),
        Err(StoreError::Conflict { .. }) => Err(WriteError::VersionConflict),
        Err(e) => Err(e.into()),
    }
}

fn product_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Product> {
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
        version: r.get(15)?,
    })
}

fn variant_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Variant> {
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
        .prepare_cached(&format!("{SELECT_PRODUCT} ORDER BY position"))?
        .query_map([], product_row)?
        .collect::<Result<Vec<_>, _>>()?;
    let variants = c
        .prepare_cached(&format!(
            "{SELECT_VARIANT} JOIN products p ON p.id = v.product_id ORDER BY p.position, v.position"
        ))?
        .query_map([], variant_row)?
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

    async fn create_product(&self, write: ProductWrite) -> Result<(), WriteError> {
        check_write(&write, 0)?;
        self.write_tx(move |tx| Self::create_in_tx(tx, &write))
            .await?;
        self.events.notify_appended();
        Ok(())
    }

    async fn update_product(
        &self,
        expected_version: i64,
        write: ProductWrite,
    ) -> Result<(), WriteError> {
        check_write(&write, expected_version)?;
        self.write_tx(move |tx| Self::update_in_tx(tx, expected_version, &write))
            .await?;
        self.events.notify_appended();
        Ok(())
    }

    async fn load_product(&self, id: &str) -> Result<Option<(Product, Vec<Variant>)>, StoreError> {
        let id = id.to_string();
        self.events
            .db()
            .call(move |c| {
                let Some(p) = c
                    .prepare_cached(&format!("{SELECT_PRODUCT} WHERE id = ?1"))?
                    .query_row([&id], product_row)
                    .optional()?
                else {
                    return Ok(None);
                };
                let vs = c
                    .prepare_cached(&format!(
                        "{SELECT_VARIANT} WHERE v.product_id = ?1 ORDER BY v.position"
                    ))?
                    .query_map([&id], variant_row)?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Some((p, vs)))
            })
            .await
    }
}

impl SqliteCatalogStore {
    /// Runs `f` in an immediate transaction, committed only when `f` succeeds (any error rolls it back).
    async fn write_tx<F>(&self, f: F) -> Result<(), WriteError>
    where
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<(), WriteError> + Send + 'static,
    {
        self.events
            .db()
            .call(move |conn| {
                let tx =
                    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                match f(&tx) {
                    Ok(()) => {
                        tx.commit()?;
                        Ok(Ok(()))
                    }
                    // Dropping the transaction rolls it back.
                    Err(e) => Ok(Err(e)),
                }
            })
            .await?
    }

    /// The create, inside a transaction.
    fn create_in_tx(
        tx: &rusqlite::Transaction<'_>,
        write: &ProductWrite,
    ) -> Result<(), WriteError> {
        let exists = tx
            .prepare_cached("SELECT 1 FROM products WHERE id = ?1")
            .and_then(|mut s| s.exists([&write.product.id]))
            .map_err(StoreError::from)?;
        if exists {
            return Err(WriteError::VersionConflict);
        }
        check_unique(tx, write)?;
        append_events(tx, write, ExpectedVersion::NoStream)?;
        insert_product(tx, &write.product)?;
        for v in &write.variants {
            insert_variant(tx, v)?;
        }
        Ok(())
    }

    fn update_in_tx(
        tx: &rusqlite::Transaction<'_>,
        expected_version: i64,
        write: &ProductWrite,
    ) -> Result<(), WriteError> {
        let p = &write.product;
        let stored: Option<String> = tx
            .query_row(
                "SELECT variant_ids_json FROM products WHERE id = ?1",
                [&p.id],
                |r| r.get(0),
            )
            .optional()
            .map_err(StoreError::from)?;
        let Some(stored) = stored else {
            return Err(WriteError::NotFound);
        };
        // The version first (a stale write is a conflict, whatever else is wrong with it); an error after the
        // append rolls it back with the rest of the transaction.
        append_events(tx, write, ExpectedVersion::Exact(expected_version as u64))?;
        let stored: Vec<String> = from_json(0, &stored).map_err(StoreError::from)?;
        if stored.iter().any(|v| !p.variant_ids.contains(v)) {
            return Err(WriteError::Store(StoreError::Backend(
                "a product write may not drop variants".into(),
            )));
        }
        check_unique(tx, write)?;
        tx.execute(
            "UPDATE products SET handle = ?2, title = ?3, description = ?4, vendor = ?5, product_type = ?6,
                 tags_json = ?7, images_json = ?8, variant_ids_json = ?9, collection_ids_json = ?10, currency = ?11,
                 min_price_minor = ?12, max_price_minor = ?13, updated_at_ms = ?14
             WHERE id = ?1",
            params![
                p.id,
                p.handle,
                p.title,
                p.description,
                p.vendor,
                p.product_type,
                to_json(&p.tags)?,
                to_json(&p.images)?,
                to_json(&p.variant_ids)?,
                to_json(&p.collection_ids)?,
                p.min_price.currency,
                p.min_price.amount_minor,
                p.max_price.amount_minor,
                p.updated_at_ms
            ],
        )
        .map_err(StoreError::from)?;
        // Re-inserted whole, so SKUs may move between the product's own variants.
        tx.execute("DELETE FROM variants WHERE product_id = ?1", [&p.id])
            .map_err(StoreError::from)?;
        for v in &write.variants {
            insert_variant(tx, v)?;
        }
        Ok(())
    }
}
