//! Cassandra / ScyllaDB catalog store, in the service's keyspace next to its [`CassandraEventStore`] (the outbox
//! the relay reads).
//!
//! # Schema (migrations `catalog_0001…`, recorded in `schema_migrations`)
//!
//! ```text
//! catalog_head (id int PRIMARY KEY, generation text, collections int, products int, variants int,
//!               events_pending boolean, seeded_at_ms bigint)                  -- one row, id = 0
//! catalog_collections / catalog_products / catalog_variants
//!     ((generation text, bucket int), position int, …columns…)                -- BUCKET rows per partition
//! catalog_seed_events ((generation text, bucket int), position int, stream text,
//!                      events frozen<list<tuple<…>>>)                         -- the seed's events, by stream
//! tallies, tally_processed                                                    -- units sold (CassandraTallies)
//! ```
//!
//! Lists (tags, ids) are CQL lists; images and options are JSON text, as in the SQLite adapter.
//!
//! # Seeding: all or nothing
//!
//! The catalog's data is written as a *generation* (a fresh id) that no read looks at, with the seed's events
//! beside it; then one LWT, `INSERT INTO catalog_head … IF NOT EXISTS` (events_pending = true), makes it *the*
//! catalog — the commit point. Only one seed can win it; a loser deletes its generation and returns `false`. A
//! CAS timeout is settled by a SERIAL read of the head's generation. After the commit, the seed's events are
//! appended to the event store, one append per stream with [`ExpectedVersion::NoStream`] (a conflict means an
//! earlier attempt appended them: seed events are the first of their streams), and `events_pending` is cleared
//! (`IF generation = ours`).
//!
//! **Why data and events are never visible one without the other.** Events are appended only after the commit,
//! so no event of a losing or crashed-before-commit seed exists. And every read of the data goes through
//! [`CatalogStore::load`] (the service serves reads from the index it loads), which first completes the
//! appends of a head still marked `events_pending` — so if the seeding process died after the commit, the
//! next load, by any process (and `connect`), appends the missing events before anyone sees the data.
//!
//! Handles, ids and SKUs are checked for uniqueness within the seed before anything is written (the SQLite
//! adapter's UNIQUE constraints); the head LWT serializes seeds, so no per-handle LWT is needed while seeding
//! is the only write of products. The first seed claims the catalog even if it holds no product.
//!
//! # Staff writes: products created or updated after the seed
//!
//! The seed's generation is never rewritten. A product written by staff is its stream's events: every
//! `catalog.product_created.v1` / `catalog.product_updated.v1` carries the whole product with its variants, so
//! the append (one conditional batch on the stream's partition: [`ExpectedVersion::NoStream`] for a create,
//! `Exact(version)` for an update) *is* the write and its event, committed together. Written streams carry the
//! tag [`WRITTEN_TAG`]; [`CatalogStore::load`] overlays their latest snapshots on the seed (a seed product keeps
//! its position; new products follow in creation order). A product's version is its stream's version.
//!
//! **Unique handles and SKUs** are LWT claims in `catalog_keys (key PRIMARY KEY, product_id, nonce,
//! claimed_at_ms)`, keys `handle:<h>` and `sku:<s>`. Before its append, a write claims every key its product
//! does not already hold (`INSERT … IF NOT EXISTS` with a nonce of this attempt; a CAS with an unknown outcome
//! is settled by a SERIAL read of the nonce, never retried blindly). A key whose claim belongs to another product
//! is taken while that product's current state holds it, and also while the claim is younger than the claim
//! grace (its write may still be in flight); an older claim its product does not hold is abandoned and taken
//! over with `UPDATE … IF nonce = <theirs>` (a product with no events is first sealed, so its create can never
//! commit). A product refreshing its own old claim does the same, so a taker and the owner cannot both win.
//! Keys of the seed have no claim row: the seed product that holds one (as its current state says) owns it.
//! When a write fails, the claims this attempt inserted or took over from another product are released
//! (`DELETE … IF nonce = ours`; a write that relies on a claim always puts its own nonce in it first, so a
//! release never removes a claim another write relies on). Claims taken over from another write of the same
//! product, and claims a product no longer holds after a change, stay until they are abandoned (after the grace,
//! another product may take them).
//!
//! # Units sold
//!
//! [`CatalogStore::record_sales`] is [`CassandraTallies::apply_once`] over the groups `sales:<shard>`
//! ([`shard_of`] the product id): exactly once per event id — see [`CassandraTallies`] for the mechanism (one
//! conditional batch per group with a marker of the event, then the processed mark; a crash half-way is
//! completed by the redelivery of the event).
use std::collections::{BTreeMap, HashMap, HashSet};

use futures::{TryStreamExt, future};
use scylla::{
    DeserializeRow, SerializeRow,
    statement::{
        batch::{Batch, BatchType},
        prepared::PreparedStatement,
    },
};
use shop_kernel::Money;
use shop_store::{
    EventStore, ExpectedVersion, NewEvent, StoreError,
    cassandra::{
        CassandraEventStore, CassandraSettings, CassandraTallies, LwtOutcome, SHARDS,
        apply_migrations, outcome_unknown, shard_of,
    },
};

use super::{CatalogStore, ProductWrite, StreamEvent, WriteError, check_write};
use crate::domain::{CatalogData, Collection, Image, Product, SelectedOption, Variant};

/// Tag of the streams of products written by staff (created, or seeded and then updated).
pub const WRITTEN_TAG: &str = "catalog:written";
/// Times a key claim is attempted again when its holder changed while it was being looked at.
const CLAIM_ATTEMPTS: usize = 3;
/// Margin added to the event store's marker grace before an unheld key claim counts as abandoned (clock skew).
const CLOCK_SKEW_ALLOWANCE: std::time::Duration = std::time::Duration::from_secs(5);

/// Rows per partition of the generation tables.
const BUCKET: usize = 500;
/// Rows per unlogged batch when writing a generation (all in one partition).
const WRITE_BATCH: usize = 50;
/// Concurrent requests when writing or reading a generation, or appending the seed's events.
const FAN_OUT: usize = 16;

/// Schema of the catalog tables, applied after the event store's.
pub const CATALOG_MIGRATIONS: &[(&str, &str)] = &[
    (
        "catalog_0001_head",
        "CREATE TABLE IF NOT EXISTS catalog_head (
            id int PRIMARY KEY,
            generation text,
            collections int,
            products int,
            variants int,
            event_streams int,
            events_pending boolean,
            seeded_at_ms bigint
        )",
    ),
    (
        "catalog_0002_collections",
        "CREATE TABLE IF NOT EXISTS catalog_collections (
            generation text,
            bucket int,
            position int,
            id text,
            handle text,
            title text,
            description text,
            image_json text,
            updated_at_ms bigint,
            PRIMARY KEY ((generation, bucket), position)
        )",
    ),
    (
        "catalog_0003_products",
        "CREATE TABLE IF NOT EXISTS catalog_products (
            generation text,
            bucket int,
            position int,
            id text,
            handle text,
            title text,
            description text,
            vendor text,
            product_type text,
            tags list<text>,
            images_json text,
            variant_ids list<text>,
            collection_ids list<text>,
            currency text,
            min_price_minor bigint,
            max_price_minor bigint,
            created_at_ms bigint,
            updated_at_ms bigint,
            PRIMARY KEY ((generation, bucket), position)
        )",
    ),
    (
        "catalog_0004_variants",
        "CREATE TABLE IF NOT EXISTS catalog_variants (
            generation text,
            bucket int,
            position int,
            id text,
            product_id text,
            sku text,
            title text,
            currency text,
            price_minor bigint,
            compare_at_minor bigint,
            options_json text,
            image_json text,
            variant_position int,
            PRIMARY KEY ((generation, bucket), position)
        )",
    ),
    (
        "catalog_0005_seed_events",
        "CREATE TABLE IF NOT EXISTS catalog_seed_events (
            generation text,
            bucket int,
            position int,
            stream text,
            events frozen<list<tuple<text, text, text, bigint, text, blob>>>,
            PRIMARY KEY ((generation, bucket), position)
        )",
    ),
    (
        "catalog_0006_keys",
        "CREATE TABLE IF NOT EXISTS catalog_keys (
            key text PRIMARY KEY,
            product_id text,
            nonce text,
            claimed_at_ms bigint
        )",
    ),
];

/// An event as stored with the seed.
type EventTuple = (String, String, String, i64, Option<String>, Vec<u8>);

fn to_tuple(e: &NewEvent) -> EventTuple {
    (
        e.event_id.clone(),
        e.event_type.clone(),
        e.topic.clone(),
        e.occurred_at_ms,
        e.traceparent.clone(),
        e.payload.to_vec(),
    )
}

fn from_tuple(t: EventTuple) -> NewEvent {
    NewEvent {
        event_id: t.0,
        event_type: t.1,
        topic: t.2,
        occurred_at_ms: t.3,
        traceparent: t.4,
        payload: t.5.into(),
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Backend(format!("encode json: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Backend(format!("decode json: {e}")))
}

fn opt_json<T: serde::de::DeserializeOwned>(s: Option<String>) -> Result<Option<T>, StoreError> {
    s.map(|s| from_json(&s)).transpose()
}

fn sales_group(shard: i32) -> String {
    format!("sales:{shard}")
}

fn bucket_of(position: usize) -> i32 {
    (position / BUCKET) as i32
}

fn buckets(rows: i32) -> i32 {
    (rows.max(0) as usize).div_ceil(BUCKET) as i32
}

// ---------------------------------------------------------------------------------------------------------
// Rows.

#[derive(SerializeRow, DeserializeRow)]
struct CollectionRow {
    generation: String,
    bucket: i32,
    position: i32,
    id: String,
    handle: String,
    title: String,
    description: String,
    image_json: Option<String>,
    updated_at_ms: i64,
}

#[derive(SerializeRow, DeserializeRow)]
struct ProductRow {
    generation: String,
    bucket: i32,
    position: i32,
    id: String,
    handle: String,
    title: String,
    description: String,
    vendor: String,
    product_type: String,
    tags: Option<Vec<String>>,
    images_json: String,
    variant_ids: Option<Vec<String>>,
    collection_ids: Option<Vec<String>>,
    currency: String,
    min_price_minor: i64,
    max_price_minor: i64,
    created_at_ms: i64,
    updated_at_ms: i64,
}

#[derive(SerializeRow, DeserializeRow)]
struct VariantRow {
    generation: String,
    bucket: i32,
    position: i32,
    id: String,
    product_id: String,
    sku: String,
    title: String,
    currency: String,
    price_minor: i64,
    compare_at_minor: Option<i64>,
    options_json: String,
    image_json: Option<String>,
    variant_position: i32,
}

#[derive(SerializeRow, DeserializeRow)]
struct SeedEventsRow {
    generation: String,
    bucket: i32,
    position: i32,
    stream: String,
    events: Vec<EventTuple>,
}

#[derive(DeserializeRow)]
struct HeadRow {
    generation: Option<String>,
    collections: Option<i32>,
    products: Option<i32>,
    variants: Option<i32>,
    event_streams: Option<i32>,
    events_pending: Option<bool>,
}

impl CollectionRow {
    fn new(generation: &str, position: usize, c: &Collection) -> Result<Self, StoreError> {
        Ok(Self {
            generation: generation.to_string(),
            bucket: bucket_of(position),
            position: position as i32,
            id: c.id.clone(),
            handle: c.handle.clone(),
            title: c.title.clone(),
            description: c.description.clone(),
            image_json: c.image.as_ref().map(to_json).transpose()?,
            updated_at_ms: c.updated_at_ms,
        })
    }

    fn into_domain(self) -> Result<Collection, StoreError> {
        Ok(Collection {
            id: self.id,
            handle: self.handle,
            title: self.title,
            description: self.description,
            image: opt_json::<Image>(self.image_json)?,
            updated_at_ms: self.updated_at_ms,
        })
    }
}

impl ProductRow {
    fn new(generation: &str, position: usize, p: &Product) -> Result<Self, StoreError> {
        Ok(Self {
            generation: generation.to_string(),
            bucket: bucket_of(position),
            position: position as i32,
            id: p.id.clone(),
            handle: p.handle.clone(),
            title: p.title.clone(),
            description: p.description.clone(),
            vendor: p.vendor.clone(),
            product_type: p.product_type.clone(),
            tags: Some(p.tags.clone()),
            images_json: to_json(&p.images)?,
            variant_ids: Some(p.variant_ids.clone()),
            collection_ids: Some(p.collection_ids.clone()),
            currency: p.min_price.currency.clone(),
            min_price_minor: p.min_price.amount_minor,
            max_price_minor: p.max_price.amount_minor,
            created_at_ms: p.created_at_ms,
            updated_at_ms: p.updated_at_ms,
        })
    }

    fn into_domain(self) -> Result<Product, StoreError> {
        Ok(Product {
            id: self.id,
            handle: self.handle,
            title: self.title,
            description: self.description,
            vendor: self.vendor,
            product_type: self.product_type,
            tags: self.tags.unwrap_or_default(),
            images: from_json(&self.images_json)?,
            variant_ids: self.variant_ids.unwrap_or_default(),
            collection_ids: self.collection_ids.unwrap_or_default(),
            min_price: Money::new(self.min_price_minor, self.currency.clone()),
            max_price: Money::new(self.max_price_minor, self.currency),
            created_at_ms: self.created_at_ms,
            updated_at_ms: self.updated_at_ms,
            version: 1,
        })
    }
}

impl VariantRow {
    fn new(generation: &str, position: usize, v: &Variant) -> Result<Self, StoreError> {
        Ok(Self {
            generation: generation.to_string(),
            bucket: bucket_of(position),
            position: position as i32,
            id: v.id.clone(),
            product_id: v.product_id.clone(),
            sku: v.sku.clone(),
            title: v.title.clone(),
            currency: v.price.currency.clone(),
            price_minor: v.price.amount_minor,
            compare_at_minor: v.compare_at_price.as_ref().map(|m| m.amount_minor),
            options_json: to_json(&v.options)?,
            image_json: v.image.as_ref().map(to_json).transpose()?,
            variant_position: v.position,
        })
    }

    fn into_domain(self) -> Result<Variant, StoreError> {
        Ok(Variant {
            id: self.id,
            product_id: self.product_id,
            sku: self.sku,
            title: self.title,
            price: Money::new(self.price_minor, self.currency.clone()),
            compare_at_price: self.compare_at_minor.map(|a| Money::new(a, self.currency)),
            options: from_json::<Vec<SelectedOption>>(&self.options_json)?,
            image: opt_json::<Image>(self.image_json)?,
            position: self.variant_position,
        })
    }
}

/// What SQLite's UNIQUE constraints check: ids and handles of collections and products, variant ids and SKUs,
/// and that every variant belongs to a product of the seed.
fn check_unique(data: &CatalogData) -> Result<(), StoreError> {
    fn unique<'a>(what: &str, keys: impl Iterator<Item = &'a str>) -> Result<(), StoreError> {
        let mut seen = HashSet::new();
        for k in keys {
            if !seen.insert(k) {
                return Err(StoreError::Backend(format!(
                    "catalog seed: duplicate {what} {k:?}"
                )));
            }
        }
        Ok(())
    }
    unique(
        "collection id",
        data.collections.iter().map(|c| c.id.as_str()),
    )?;
    unique(
        "collection handle",
        data.collections.iter().map(|c| c.handle.as_str()),
    )?;
    unique("product id", data.products.iter().map(|p| p.id.as_str()))?;
    unique(
        "product handle",
        data.products.iter().map(|p| p.handle.as_str()),
    )?;
    unique("variant id", data.variants.iter().map(|v| v.id.as_str()))?;
    unique("variant sku", data.variants.iter().map(|v| v.sku.as_str()))?;
    let products: HashSet<&str> = data.products.iter().map(|p| p.id.as_str()).collect();
    if let Some(v) = data
        .variants
        .iter()
        .find(|v| !products.contains(v.product_id.as_str()))
    {
        return Err(StoreError::Backend(format!(
            "catalog seed: variant {:?} of unknown product {:?}",
            v.id, v.product_id
        )));
    }
    Ok(())
}

/// The seed with the written products laid over it: a written seed product replaces the seed's (keeping its
/// position), new products follow in creation order; variants by product position, then variant position.
fn overlay(seed: &CatalogData, written: Vec<(Product, Vec<Variant>)>) -> CatalogData {
    let mut products = seed.products.clone();
    let mut position: HashMap<String, usize> = products
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id.clone(), i))
        .collect();
    let mut written = written;
    written.sort_by(|(a, _), (b, _)| (a.created_at_ms, &a.id).cmp(&(b.created_at_ms, &b.id)));
    let mut replaced: HashMap<String, Vec<Variant>> = HashMap::new();
    for (p, vs) in written {
        match position.get(&p.id) {
            Some(&i) => products[i] = p.clone(),
            None => {
                position.insert(p.id.clone(), products.len());
                products.push(p.clone());
            }
        }
        replaced.insert(p.id, vs);
    }
    let mut variants: Vec<Variant> = seed
        .variants
        .iter()
        .filter(|v| !replaced.contains_key(&v.product_id))
        .cloned()
        .collect();
    variants.extend(replaced.into_values().flatten());
    variants.sort_by_key(|v| {
        (
            position.get(&v.product_id).copied().unwrap_or(usize::MAX),
            v.position,
        )
    });
    CatalogData {
        collections: seed.collections.clone(),
        products,
        variants,
        units_sold: Vec::new(),
    }
}

/// The seed's events grouped by stream, streams in order of first appearance.
fn by_stream(events: Vec<StreamEvent>) -> Vec<(String, Vec<NewEvent>)> {
    let mut order: Vec<(String, Vec<NewEvent>)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for e in events {
        let at = *index.entry(e.stream.clone()).or_insert_with(|| {
            order.push((e.stream.clone(), Vec::new()));
            order.len() - 1
        });
        order[at].1.push(e.event);
    }
    order
}

// ---------------------------------------------------------------------------------------------------------

struct Statements {
    head: PreparedStatement,
    head_serial: PreparedStatement,
    claim_head: PreparedStatement,
    events_done: PreparedStatement,
    insert_collection: PreparedStatement,
    insert_product: PreparedStatement,
    insert_variant: PreparedStatement,
    insert_seed_events: PreparedStatement,
    collections: PreparedStatement,
    products: PreparedStatement,
    variants: PreparedStatement,
    seed_events: PreparedStatement,
    drop_collections: PreparedStatement,
    drop_products: PreparedStatement,
    drop_variants: PreparedStatement,
    drop_seed_events: PreparedStatement,
    claim_key: PreparedStatement,
    take_over_key: PreparedStatement,
    release_key: PreparedStatement,
    key_nonce_serial: PreparedStatement,
    key_holder_serial: PreparedStatement,
}

/// The seed's catalog (immutable once committed) and which seed product each of its keys belongs to.
struct Seed {
    data: CatalogData,
    position: HashMap<String, usize>,
    key_owner: HashMap<String, String>,
}

impl Seed {
    fn new(data: CatalogData) -> Self {
        let position = data
            .products
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id.clone(), i))
            .collect();
        let mut key_owner = HashMap::new();
        for p in &data.products {
            key_owner.insert(handle_key(&p.handle), p.id.clone());
        }
        for v in &data.variants {
            key_owner.insert(sku_key(&v.sku), v.product_id.clone());
        }
        Self {
            data,
            position,
            key_owner,
        }
    }

    fn product(&self, id: &str) -> Option<(Product, Vec<Variant>)> {
        let p = self.data.products.get(*self.position.get(id)?)?;
        let vs = self
            .data
            .variants
            .iter()
            .filter(|v| v.product_id == id)
            .cloned()
            .collect();
        Some((p.clone(), vs))
    }
}

fn handle_key(handle: &str) -> String {
    format!("handle:{handle}")
}

fn sku_key(sku: &str) -> String {
    format!("sku:{sku}")
}

/// The unique keys a product holds: its handle, then its SKUs.
fn keys_of(p: &Product, variants: &[Variant]) -> Vec<String> {
    std::iter::once(handle_key(&p.handle))
        .chain(variants.iter().map(|v| sku_key(&v.sku)))
        .collect()
}

/// The holder of a key claim, read at SERIAL consistency.
#[derive(DeserializeRow)]
struct KeyHolderRow {
    product_id: Option<String>,
    nonce: Option<String>,
    claimed_at_ms: Option<i64>,
}

/// A [`CatalogStore`] on Cassandra / ScyllaDB (see the module documentation). Cheap to clone.
#[derive(Clone)]
pub struct CassandraCatalogStore {
    events: CassandraEventStore,
    tallies: CassandraTallies,
    st: std::sync::Arc<Statements>,
    /// The committed seed, read once.
    seed: std::sync::Arc<tokio::sync::OnceCell<std::sync::Arc<Seed>>>,
}

impl std::fmt::Debug for CassandraCatalogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CassandraCatalogStore")
            .finish_non_exhaustive()
    }
}

impl CassandraCatalogStore {
    /// Connects the event store of `settings.keyspace` (creating the keyspace and applying its migrations),
    /// then [`CassandraCatalogStore::with_event_store`].
    pub async fn connect(settings: CassandraSettings) -> Result<Self, StoreError> {
        Self::with_event_store(CassandraEventStore::connect(settings).await?).await
    }

    /// A store over a connected event store (its keyspace holds the catalog tables too): applies
    /// [`CATALOG_MIGRATIONS`] and the tally migrations, prepares the statements and appends the events of a
    /// seed whose process died after its commit point.
    pub async fn with_event_store(events: CassandraEventStore) -> Result<Self, StoreError> {
        apply_migrations(events.session(), CATALOG_MIGRATIONS).await?;
        let tallies = CassandraTallies::new(&events).await?;
        let st = Statements::prepare(&events).await?;
        let store = Self {
            events,
            tallies,
            st: std::sync::Arc::new(st),
            seed: Default::default(),
        };
        store.head().await?;
        Ok(store)
    }

    /// The event store (outbox) the relay reads.
    pub fn event_store(&self) -> &CassandraEventStore {
        &self.events
    }

    fn session(&self) -> &scylla::client::session::Session {
        self.events.session()
    }

    /// The committed head, after completing its pending event appends (module docs). `None`: not seeded.
    async fn head(&self) -> Result<Option<HeadRow>, StoreError> {
        let head = self
            .session()
            .execute_unpaged(&self.st.head, ())
            .await?
            .into_rows_result()?
            .maybe_first_row::<HeadRow>()?;
        let Some(mut head) = head else {
            return Ok(None);
        };
        if head.events_pending.unwrap_or(false) {
            let generation = head.generation.clone().unwrap_or_default();
            self.append_seed_events(&generation, head.event_streams.unwrap_or(0))
                .await?;
            head.events_pending = Some(false);
        }
        Ok(Some(head))
    }

    /// Appends the events stored with `generation` (each stream once, `NoStream`), then clears the head's
    /// `events_pending`.
    async fn append_seed_events(&self, generation: &str, streams: i32) -> Result<(), StoreError> {
        let rows: Vec<SeedEventsRow> = self
            .read_generation(&self.st.seed_events, generation, streams)
            .await?;
        for chunk in rows.chunks(FAN_OUT) {
            future::try_join_all(chunk.iter().map(|row| async move {
                let events: Vec<NewEvent> = row.events.iter().cloned().map(from_tuple).collect();
                match self
                    .events
                    .append(&row.stream, ExpectedVersion::NoStream, events, vec![])
                    .await
                {
                    Ok(_) | Err(StoreError::Conflict { .. }) => Ok(()),
                    Err(e) => Err(e),
                }
            }))
            .await?;
        }
        let done = self
            .session()
            .execute_unpaged(&self.st.events_done, (generation,))
            .await;
        match done {
            Ok(_) => Ok(()),
            // Harmless: the appends are repeated (and conflict) by the next load.
            Err(e) if outcome_unknown(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Every row of `generation` in a table with `rows` rows, in position order.
    async fn read_generation<R>(
        &self,
        st: &PreparedStatement,
        generation: &str,
        rows: i32,
    ) -> Result<Vec<R>, StoreError>
    where
        R: for<'f, 'm> scylla::deserialize::row::DeserializeRow<'f, 'm> + Send + 'static,
    {
        let mut out = Vec::new();
        let all: Vec<i32> = (0..buckets(rows)).collect();
        for chunk in all.chunks(FAN_OUT) {
            let parts = future::try_join_all(chunk.iter().map(|b| async move {
                let mut rows = self
                    .session()
                    .execute_iter(st.clone(), (generation, *b))
                    .await?
                    .rows_stream::<R>()?;
                let mut part = Vec::new();
                while let Some(r) = rows.try_next().await? {
                    part.push(r);
                }
                Ok::<_, StoreError>(part)
            }))
            .await?;
            out.extend(parts.into_iter().flatten());
        }
        Ok(out)
    }

    /// Writes `rows` (all of one table) with unlogged single-partition batches.
    async fn write_rows<R: scylla::serialize::row::SerializeRow + Sync>(
        &self,
        st: &PreparedStatement,
        rows: &[(i32, R)],
    ) -> Result<(), StoreError> {
        // Group by bucket (partition) so every batch stays in one partition.
        let mut parts: BTreeMap<i32, Vec<&R>> = BTreeMap::new();
        for (bucket, row) in rows {
            parts.entry(*bucket).or_default().push(row);
        }
        let batches: Vec<Vec<&R>> = parts
            .into_values()
            .flat_map(|rows| {
                rows.chunks(WRITE_BATCH)
                    .map(<[&R]>::to_vec)
                    .collect::<Vec<_>>()
            })
            .collect();
        for chunk in batches.chunks(FAN_OUT) {
            future::try_join_all(chunk.iter().map(|rows| async move {
                let mut batch = Batch::new(BatchType::Unlogged);
                for _ in rows.iter() {
                    batch.append_statement(st.clone());
                }
                batch.set_is_idempotent(true);
                self.session().batch(&batch, rows).await
            }))
            .await?;
        }
        Ok(())
    }

    /// Deletes the partitions of a generation that lost (or failed) the head LWT. Best effort.
    async fn drop_generation(&self, generation: &str, data: &CatalogData, streams: usize) {
        let tables = [
            (&self.st.drop_collections, data.collections.len()),
            (&self.st.drop_products, data.products.len()),
            (&self.st.drop_variants, data.variants.len()),
            (&self.st.drop_seed_events, streams),
        ];
        for (st, rows) in tables {
            for b in 0..buckets(rows as i32) {
                if let Err(e) = self.session().execute_unpaged(st, (generation, b)).await {
                    tracing::warn!(generation, error = %e, "dropping an unused catalog generation failed");
                    return;
                }
            }
        }
    }

    /// The committed seed's data (read once, then cached: it never changes); `None` before seeding.
    async fn seed(&self) -> Result<Option<std::sync::Arc<Seed>>, StoreError> {
        if let Some(seed) = self.seed.get() {
            return Ok(Some(seed.clone()));
        }
        let Some(head) = self.head().await? else {
            return Ok(None);
        };
        let generation = head.generation.unwrap_or_default();
        let (collections, products, variants) = future::try_join3(
            self.read_generation::<CollectionRow>(
                &self.st.collections,
                &generation,
                head.collections.unwrap_or(0),
            ),
            self.read_generation::<ProductRow>(
                &self.st.products,
                &generation,
                head.products.unwrap_or(0),
            ),
            self.read_generation::<VariantRow>(
                &self.st.variants,
                &generation,
                head.variants.unwrap_or(0),
            ),
        )
        .await?;
        let collections = collections
            .into_iter()
            .map(CollectionRow::into_domain)
            .collect::<Result<Vec<_>, _>>()?;
        let products = products
            .into_iter()
            .map(ProductRow::into_domain)
            .collect::<Result<Vec<_>, _>>()?;
        // As the SQLite adapter orders them: by product position, then variant position.
        let rank: HashMap<&str, usize> = products
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id.as_str(), i))
            .collect();
        let mut variants = variants
            .into_iter()
            .map(VariantRow::into_domain)
            .collect::<Result<Vec<_>, _>>()?;
        variants.sort_by_key(|v| {
            (
                rank.get(v.product_id.as_str())
                    .copied()
                    .unwrap_or(usize::MAX),
                v.position,
            )
        });
        let seed = std::sync::Arc::new(Seed::new(CatalogData {
            collections,
            products,
            variants,
            units_sold: Vec::new(),
        }));
        Ok(Some(self.seed.get_or_init(|| async { seed }).await.clone()))
    }

    /// The current state of product `id` at its stream's version: the latest snapshot of a written product, the
    /// seed's product while only published; `None` if the product has no events.
    async fn current(&self, id: &str) -> Result<Option<(Product, Vec<Variant>)>, StoreError> {
        let events = self.events.load(id).await?;
        let Some(last) = events.last() else {
            return Ok(None);
        };
        let version = last.seq as i64;
        let found = match crate::events::decode_product_written(
            &last.event.event_type,
            last.event.payload.clone(),
        ) {
            Ok(Some(written)) => Some(written),
            Ok(None) => self.seed().await?.and_then(|s| s.product(id)),
            Err(e) => {
                return Err(StoreError::Backend(format!(
                    "cassandra: product {id}: undecodable event: {e}"
                )));
            }
        };
        Ok(found.map(|(mut p, vs)| {
            p.version = version;
            (p, vs)
        }))
    }

    /// The current state of every product written by staff.
    async fn written_products(&self) -> Result<Vec<(Product, Vec<Variant>)>, StoreError> {
        let ids = self.events.streams_by_tag(WRITTEN_TAG).await?;
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(FAN_OUT) {
            let found = future::try_join_all(chunk.iter().map(|id| self.current(id))).await?;
            out.extend(found.into_iter().flatten());
        }
        Ok(out)
    }

    /// How old a claim its product does not hold must be before it counts as abandoned (module docs).
    fn claim_grace_ms(&self) -> i64 {
        (self.events.marker_grace() + CLOCK_SKEW_ALLOWANCE).as_millis() as i64
    }

    /// Does product `owner`'s current state hold `key`?
    async fn holds(&self, owner: &str, key: &str) -> Result<bool, StoreError> {
        Ok(self
            .current(owner)
            .await?
            .is_some_and(|(p, vs)| keys_of(&p, &vs).iter().any(|k| k == key)))
    }

    /// Claims `key` for `product_id` with this attempt's `nonce` (module docs); `Ok(None)` if another product
    /// holds it or may still commit a write holding it. `Ok(Some(release))`: claimed; `release` says whether a
    /// failure of this attempt should delete the claim (not when it was taken over from another write of the same
    /// product, which may rely on it).
    async fn claim_key(
        &self,
        product_id: &str,
        key: &str,
        nonce: &str,
    ) -> Result<Option<bool>, StoreError> {
        let st = &self.st;
        if let Some(seed) = self.seed().await?
            && let Some(owner) = seed.key_owner.get(key)
            && owner != product_id
            && self.holds(owner, key).await?
        {
            return Ok(None);
        }
        for _ in 0..CLAIM_ATTEMPTS {
            let now = shop_kernel::now_ms();
            if self
                .events
                .claim(
                    &st.claim_key,
                    (key, product_id, nonce, now),
                    &st.key_nonce_serial,
                    key,
                    nonce,
                )
                .await?
            {
                return Ok(Some(true));
            }
            let holder = self
                .session()
                .execute_unpaged(&st.key_holder_serial, (key,))
                .await?
                .into_rows_result()?
                .maybe_first_row::<KeyHolderRow>()?;
            // Released since our attempt: claim again.
            let Some(holder) = holder else { continue };
            let holder_id = holder.product_id.unwrap_or_default();
            let holder_nonce = holder.nonce.unwrap_or_default();
            let same_product = holder_id == product_id;
            if !same_product {
                if self.holds(&holder_id, key).await? {
                    return Ok(None);
                }
                if now - holder.claimed_at_ms.unwrap_or(0) < self.claim_grace_ms() {
                    return Ok(None);
                }
                // A product without events whose create is abandoned: fence it so it can never commit.
                if self.events.last_event(&holder_id).await?.is_none()
                    && !self.events.seal_empty_stream(&holder_id).await?
                {
                    return Ok(None);
                }
            }
            // Another write of the same product (refreshed: our nonce and time fence takers), or abandoned: one
            // taker wins.
            let won = self
                .events
                .claim(
                    &st.take_over_key,
                    (product_id, nonce, now, key, &holder_nonce),
                    &st.key_nonce_serial,
                    key,
                    nonce,
                )
                .await?;
            return Ok(won.then_some(!same_product));
        }
        Ok(None)
    }

    /// Claims `keys` in order; on the first taken one, releases what this attempt claimed and says which.
    /// Returns the claims a later failure of this attempt should release.
    async fn claim_keys(
        &self,
        product_id: &str,
        keys: &[String],
        nonce: &str,
    ) -> Result<Vec<String>, WriteError> {
        let mut claimed = Vec::new();
        for key in keys {
            match self.claim_key(product_id, key, nonce).await {
                Ok(Some(release)) => {
                    if release {
                        claimed.push(key.clone());
                    }
                }
                Ok(None) => {
                    self.release_keys(&claimed, nonce).await;
                    return Err(match key.split_once(':') {
                        Some(("handle", h)) => WriteError::HandleTaken(h.to_string()),
                        Some((_, s)) => WriteError::SkuTaken(s.to_string()),
                        None => WriteError::SkuTaken(key.clone()),
                    });
                }
                Err(e) => {
                    // The last claim's outcome may be unknown; the others are ours and can go.
                    self.release_keys(&claimed, nonce).await;
                    return Err(e.into());
                }
            }
        }
        Ok(claimed)
    }

    /// Releases this attempt's claims (only rows still carrying `nonce`). Best effort: a claim left behind is
    /// abandoned once its grace is over.
    async fn release_keys(&self, keys: &[String], nonce: &str) {
        for key in keys {
            if let Err(e) = self
                .session()
                .execute_unpaged(&self.st.release_key, (key, nonce))
                .await
            {
                tracing::warn!(key, error = %e, "releasing a catalog key claim failed; it stays until abandoned");
            }
        }
    }

    /// Claims the keys `write` needs beyond those in `held`, appends its events, and releases the claims if the
    /// append is refused.
    async fn claim_and_append(
        &self,
        write: ProductWrite,
        held: &HashSet<String>,
        expected: ExpectedVersion,
    ) -> Result<(), WriteError> {
        let id = write.product.id.clone();
        let keys: Vec<String> = keys_of(&write.product, &write.variants)
            .into_iter()
            .filter(|k| !held.contains(k))
            .collect();
        let nonce = shop_kernel::ids::new_id();
        let claimed = self.claim_keys(&id, &keys, &nonce).await?;
        match self
            .events
            .append(&id, expected, write.events, vec![WRITTEN_TAG.to_string()])
            .await
        {
            Ok(_) => Ok(()),
            Err(StoreError::Conflict { .. }) => {
                self.release_keys(&claimed, &nonce).await;
                Err(WriteError::VersionConflict)
            }
            // The append's outcome may be unknown: keep the claims (they are abandoned later if it failed).
            Err(e) => Err(e.into()),
        }
    }

    /// The head LWT; `true` if `generation` became the catalog. A timeout is settled by a SERIAL read.
    async fn claim_head(
        &self,
        generation: &str,
        data: &CatalogData,
        streams: usize,
    ) -> Result<bool, StoreError> {
        let result = self
            .session()
            .execute_unpaged(
                &self.st.claim_head,
                (
                    generation,
                    data.collections.len() as i32,
                    data.products.len() as i32,
                    data.variants.len() as i32,
                    streams as i32,
                    shop_kernel::now_ms(),
                ),
            )
            .await;
        match result {
            Ok(r) => Ok(LwtOutcome::from_result(r)?.applied),
            Err(e) if outcome_unknown(&e) => {
                tracing::warn!(error = %e, "catalog seed outcome unknown; settling with a SERIAL read");
                let current = self
                    .session()
                    .execute_unpaged(&self.st.head_serial, ())
                    .await?
                    .into_rows_result()?
                    .maybe_first_row::<(Option<String>,)>()?;
                match current {
                    Some((g,)) => Ok(g.as_deref() == Some(generation)),
                    None => Err(StoreError::Backend(format!(
                        "cassandra: catalog seed: outcome unknown ({e})"
                    ))),
                }
            }
            Err(e) => Err(e.into()),
        }
    }
}

impl CatalogStore for CassandraCatalogStore {
    async fn load(&self) -> Result<CatalogData, StoreError> {
        let sales = async {
            let shards = future::try_join_all(
                (0..SHARDS).map(|s| async move { self.tallies.totals(&sales_group(s)).await }),
            )
            .await?;
            let mut units: Vec<(String, i64)> = shards.into_iter().flatten().collect();
            units.sort();
            Ok::<_, StoreError>(units)
        };
        let data = async {
            let Some(seed) = self.seed().await? else {
                return Ok(CatalogData::default());
            };
            let written = self.written_products().await?;
            Ok::<_, StoreError>(overlay(&seed.data, written))
        };
        let (mut data, units) = future::try_join(data, sales).await?;
        data.units_sold = units;
        Ok(data)
    }

    async fn seed_if_empty(
        &self,
        data: CatalogData,
        events: Vec<StreamEvent>,
    ) -> Result<bool, StoreError> {
        if self.head().await?.is_some() {
            return Ok(false);
        }
        check_unique(&data)?;
        let generation = shop_kernel::ids::new_id();
        let g = generation.as_str();
        let streams = by_stream(events);
        let collections = data
            .collections
            .iter()
            .enumerate()
            .map(|(i, c)| Ok((bucket_of(i), CollectionRow::new(g, i, c)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let products = data
            .products
            .iter()
            .enumerate()
            .map(|(i, p)| Ok((bucket_of(i), ProductRow::new(g, i, p)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let variants = data
            .variants
            .iter()
            .enumerate()
            .map(|(i, v)| Ok((bucket_of(i), VariantRow::new(g, i, v)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let seed_events: Vec<(i32, SeedEventsRow)> = streams
            .iter()
            .enumerate()
            .map(|(i, (stream, events))| {
                (
                    bucket_of(i),
                    SeedEventsRow {
                        generation: generation.clone(),
                        bucket: bucket_of(i),
                        position: i as i32,
                        stream: stream.clone(),
                        events: events.iter().map(to_tuple).collect(),
                    },
                )
            })
            .collect();
        let written = async {
            self.write_rows(&self.st.insert_collection, &collections)
                .await?;
            self.write_rows(&self.st.insert_product, &products).await?;
            self.write_rows(&self.st.insert_variant, &variants).await?;
            self.write_rows(&self.st.insert_seed_events, &seed_events)
                .await
        };
        let claimed = match written.await {
            Ok(()) => self.claim_head(g, &data, streams.len()).await,
            Err(e) => Err(e),
        };
        match claimed {
            Ok(true) => {
                self.append_seed_events(g, streams.len() as i32).await?;
                Ok(true)
            }
            Ok(false) => {
                self.drop_generation(g, &data, streams.len()).await;
                Ok(false)
            }
            // The outcome may be unknown: the generation must stay in case it is the catalog.
            Err(e) => Err(e),
        }
    }

    async fn create_product(&self, write: ProductWrite) -> Result<(), WriteError> {
        check_write(&write, 0)?;
        if self.events.last_event(&write.product.id).await?.is_some() {
            return Err(WriteError::VersionConflict);
        }
        self.claim_and_append(write, &HashSet::new(), ExpectedVersion::NoStream)
            .await
    }

    async fn update_product(
        &self,
        expected_version: i64,
        write: ProductWrite,
    ) -> Result<(), WriteError> {
        check_write(&write, expected_version)?;
        let Some((current, variants)) = self.current(&write.product.id).await? else {
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
        let held: HashSet<String> = keys_of(&current, &variants).into_iter().collect();
        self.claim_and_append(
            write,
            &held,
            ExpectedVersion::Exact(expected_version as u64),
        )
        .await
    }

    async fn load_product(&self, id: &str) -> Result<Option<(Product, Vec<Variant>)>, StoreError> {
        self.current(id).await
    }

    async fn record_sales(
        &self,
        event_id: &str,
        sales: Vec<(String, i64)>,
    ) -> Result<bool, StoreError> {
        let mut groups: BTreeMap<String, Vec<(String, i64)>> = BTreeMap::new();
        for (product, units) in sales {
            groups
                .entry(sales_group(shard_of(&product)))
                .or_default()
                .push((product, units));
        }
        self.tallies
            .apply_once(event_id, groups.into_iter().collect())
            .await
    }
}

impl Statements {
    async fn prepare(es: &CassandraEventStore) -> Result<Self, StoreError> {
        let paged = |cql: &'static str| async move {
            let mut st = es.prepare(cql, true).await?;
            st.set_page_size(1000);
            Ok::<_, StoreError>(st)
        };
        Ok(Self {
            claim_key: es
                .prepare(
                    "INSERT INTO catalog_keys (key, product_id, nonce, claimed_at_ms) VALUES (?, ?, ?, ?)
                     IF NOT EXISTS",
                    false,
                )
                .await?,
            take_over_key: es
                .prepare(
                    "UPDATE catalog_keys SET product_id = ?, nonce = ?, claimed_at_ms = ? WHERE key = ?
                     IF nonce = ?",
                    false,
                )
                .await?,
            release_key: es
                .prepare("DELETE FROM catalog_keys WHERE key = ? IF nonce = ?", false)
                .await?,
            key_nonce_serial: es
                .prepare_serial_read("SELECT nonce FROM catalog_keys WHERE key = ?")
                .await?,
            key_holder_serial: es
                .prepare_serial_read(
                    "SELECT product_id, nonce, claimed_at_ms FROM catalog_keys WHERE key = ?",
                )
                .await?,
            head: es
                .prepare(
                    "SELECT generation, collections, products, variants, event_streams, events_pending
                     FROM catalog_head WHERE id = 0",
                    true,
                )
                .await?,
            head_serial: es
                .prepare_serial_read("SELECT generation FROM catalog_head WHERE id = 0")
                .await?,
            claim_head: es
                .prepare(
                    "INSERT INTO catalog_head (id, generation, collections, products, variants, event_streams,
                     events_pending, seeded_at_ms) VALUES (0, ?, ?, ?, ?, ?, true, ?) IF NOT EXISTS",
                    false,
                )
                .await?,
            events_done: es
                .prepare(
                    "UPDATE catalog_head SET events_pending = false WHERE id = 0 IF generation = ?",
                    false,
                )
                .await?,
            insert_collection: es
                .prepare(
                    "INSERT INTO catalog_collections (generation, bucket, position, id, handle, title,
                     description, image_json, updated_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    true,
                )
                .await?,
            insert_product: es
                .prepare(
                    "INSERT INTO catalog_products (generation, bucket, position, id, handle, title, description,
                     vendor, product_type, tags, images_json, variant_ids, collection_ids, currency,
                     min_price_minor, max_price_minor, created_at_ms, updated_at_ms)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    true,
                )
                .await?,
            insert_variant: es
                .prepare(
                    "INSERT INTO catalog_variants (generation, bucket, position, id, product_id, sku, title,
                     currency, price_minor, compare_at_minor, options_json, image_json, variant_position)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    true,
                )
                .await?,
            insert_seed_events: es
                .prepare(
                    "INSERT INTO catalog_seed_events (generation, bucket, position, stream, events)
                     VALUES (?, ?, ?, ?, ?)",
                    true,
                )
                .await?,
            collections: paged(
                "SELECT generation, bucket, position, id, handle, title, description, image_json, updated_at_ms
                 FROM catalog_collections WHERE generation = ? AND bucket = ?",
            )
            .await?,
            products: paged(
                "SELECT generation, bucket, position, id, handle, title, description, vendor, product_type,
                 tags, images_json, variant_ids, collection_ids, currency, min_price_minor, max_price_minor,
                 created_at_ms, updated_at_ms FROM catalog_products WHERE generation = ? AND bucket = ?",
            )
            .await?,
            variants: paged(
                "SELECT generation, bucket, position, id, product_id, sku, title, currency, price_minor,
                 compare_at_minor, options_json, image_json, variant_position
                 FROM catalog_variants WHERE generation = ? AND bucket = ?",
            )
            .await?,
            seed_events: paged(
                "SELECT generation, bucket, position, stream, events
                 FROM catalog_seed_events WHERE generation = ? AND bucket = ?",
            )
            .await?,
            drop_collections: es
                .prepare(
                    "DELETE FROM catalog_collections WHERE generation = ? AND bucket = ?",
                    true,
                )
                .await?,
            drop_products: es
                .prepare(
                    "DELETE FROM catalog_products WHERE generation = ? AND bucket = ?",
                    true,
                )
                .await?,
            drop_variants: es
                .prepare(
                    "DELETE FROM catalog_variants WHERE generation = ? AND bucket = ?",
                    true,
                )
                .await?,
            drop_seed_events: es
                .prepare(
                    "DELETE FROM catalog_seed_events WHERE generation = ? AND bucket = ?",
                    true,
                )
                .await?,
        })
    }
}
