//! The [`ProjectionStore`] on Apache Cassandra / ScyllaDB (driver `scylla` 1.9), in a keyspace of its own.
//!
//! # Schema (versioned migrations in `schema_migrations`, each statement idempotent)
//!
//! ```text
//! projector_generations (projector PK, generation)
//! projector_positions   ((projector, generation), topic, log_partition) → log_offset, updated_at_ms
//! order_states          (order_id PK) → customer_id, number, status, …, seq
//! order_history         ((customer_id), placed_at_ms DESC, order_id DESC) → number, status, total, …
//! stock_levels          (variant_id PK) → on_hand, reserved, available, updated_at_ms, seq
//! cart_states           (cart_id PK) → created_by, buyer_customer_id, status, lines map, …, seq
//! carts_by_owner        ((customer_id), cart_id) → status, currency, total_quantity, …
//! product_popularity    ((product_id), src) → orders, units, last_offset
//! co_purchases          ((product_id), src, other_id) → orders, last_offset
//! counted_orders        (order_id PK) → src, log_offset, counted_at_ms
//! ```
//!
//! Per-stream rows are written `USING TIMESTAMP generation << 40 | seq` and tallies
//! `USING TIMESTAMP generation << 40 | offset + 1` ([`Version::timestamp`]): Cassandra's last-write-wins then
//! orders writes by projector generation and log position rather than by wall clock (see the crate
//! documentation). Generations up to 2^23 and positions up to 2^40 fit. Consequently these tables are only ever wiped with `TRUNCATE` — a `DELETE` at wall-clock
//! time would shadow every later write of the same row. Reads and plain writes run at QUORUM
//! (LOCAL_QUORUM with a local datacenter) and are marked idempotent.
use std::{collections::BTreeMap, sync::Arc, time::Duration};

use futures::{TryStreamExt, future};
use scylla::{
    DeserializeRow,
    client::session::Session,
    statement::{
        Statement,
        batch::{Batch, BatchType},
        prepared::PreparedStatement,
    },
};
pub use shop_store::cassandra::CassandraSettings;
use shop_store::cassandra::open_session;

use super::{ProjectionStore, StoreError};
use crate::{
    model::{
        self, CartState, CartSummary, CoPurchase, OrderState, OrderSummary, Position,
        ProductPopularity, Projector, Purchase, Source, StockLevel, Version,
    },
    projector::stale_generation,
};

/// Client-side timeout of schema changes.
const DDL_TIMEOUT: Duration = Duration::from_secs(60);
/// Page size of paged reads.
const PAGE_SIZE: i32 = 1000;

/// Schema changes, applied once each, in order, by the event store's migration runner
/// ([`apply_migrations`], recorded in this keyspace's `schema_migrations`). Every statement is idempotent on
/// its own (`IF NOT EXISTS`): two processes may start at once.
const MIGRATIONS: &[(&str, &str)] = &[
    (
        "projections_0001_generations",
        "CREATE TABLE IF NOT EXISTS projector_generations (projector text PRIMARY KEY, generation bigint)",
    ),
    (
        "projections_0002_positions",
        "CREATE TABLE IF NOT EXISTS projector_positions (
            projector text, generation bigint, topic text, log_partition int,
            log_offset bigint, updated_at_ms bigint,
            PRIMARY KEY ((projector, generation), topic, log_partition))",
    ),
    (
        "projections_0003_order_states",
        "CREATE TABLE IF NOT EXISTS order_states (
            order_id text PRIMARY KEY, customer_id text, number bigint, status text, financial_status text,
            currency text, total_minor bigint, created_at_ms bigint, placed_at_ms bigint, updated_at_ms bigint,
            seq bigint, generation bigint)",
    ),
    (
        "projections_0004_order_history",
        "CREATE TABLE IF NOT EXISTS order_history (
            customer_id text, placed_at_ms bigint, order_id text, number bigint, status text,
            financial_status text, total_minor bigint, currency text, updated_at_ms bigint,
            PRIMARY KEY ((customer_id), placed_at_ms, order_id)
        ) WITH CLUSTERING ORDER BY (placed_at_ms DESC, order_id DESC)",
    ),
    (
        "projections_0005_stock_levels",
        "CREATE TABLE IF NOT EXISTS stock_levels (
            variant_id text PRIMARY KEY, on_hand bigint, reserved bigint, available bigint,
            updated_at_ms bigint, seq bigint, generation bigint)",
    ),
    (
        "projections_0006_cart_states",
        "CREATE TABLE IF NOT EXISTS cart_states (
            cart_id text PRIMARY KEY, created_by text, buyer_customer_id text, status text, currency text,
            lines map<text, bigint>, order_id text, created_at_ms bigint, updated_at_ms bigint, seq bigint,
            generation bigint)",
    ),
    (
        "projections_0007_carts_by_owner",
        "CREATE TABLE IF NOT EXISTS carts_by_owner (
            customer_id text, cart_id text, status text, currency text, total_quantity bigint, order_id text,
            created_at_ms bigint, updated_at_ms bigint,
            PRIMARY KEY ((customer_id), cart_id))",
    ),
    (
        "projections_0008_product_popularity",
        "CREATE TABLE IF NOT EXISTS product_popularity (
            product_id text, src int, orders bigint, units bigint, last_offset bigint, generation bigint,
            PRIMARY KEY ((product_id), src))",
    ),
    (
        "projections_0009_co_purchases",
        "CREATE TABLE IF NOT EXISTS co_purchases (
            product_id text, src int, other_id text, orders bigint, last_offset bigint, generation bigint,
            PRIMARY KEY ((product_id), src, other_id))",
    ),
    (
        "projections_0010_counted_orders",
        "CREATE TABLE IF NOT EXISTS counted_orders (
            order_id text PRIMARY KEY, src int, log_offset bigint, counted_at_ms bigint, generation bigint)",
    ),
];

/// The tables each projector owns (wiped by a rebuild).
fn tables(p: Projector) -> &'static [&'static str] {
    match p {
        Projector::OrderHistory => &["order_states", "order_history"],
        Projector::Stock => &["stock_levels"],
        Projector::Popularity => &["product_popularity", "co_purchases", "counted_orders"],
        Projector::Carts => &["cart_states", "carts_by_owner"],
    }
}

struct Statements {
    generation: PreparedStatement,
    set_generation: PreparedStatement,
    positions: PreparedStatement,
    save_position: PreparedStatement,
    delete_positions: PreparedStatement,
    order_state: PreparedStatement,
    save_order_state: PreparedStatement,
    save_history: PreparedStatement,
    history: PreparedStatement,
    stock: PreparedStatement,
    save_stock: PreparedStatement,
    cart_state: PreparedStatement,
    save_cart_state: PreparedStatement,
    save_owner_row: PreparedStatement,
    delete_owner_row: PreparedStatement,
    carts_by_owner: PreparedStatement,
    counted: PreparedStatement,
    mark_counted: PreparedStatement,
    tally: PreparedStatement,
    save_tally: PreparedStatement,
    co_tallies: PreparedStatement,
    save_co_tally: PreparedStatement,
    popularity: PreparedStatement,
    all_popularity: PreparedStatement,
    co_purchased: PreparedStatement,
}

/// The projection store on Cassandra. Cheap to clone.
#[derive(Clone)]
pub struct CassandraProjectionStore {
    inner: Arc<Inner>,
}

struct Inner {
    session: Session,
    st: Statements,
}

impl std::fmt::Debug for CassandraProjectionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CassandraProjectionStore")
            .finish_non_exhaustive()
    }
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("cassandra projections: {e}"))
}

/// Runs an idempotent schema change and waits for schema agreement.
async fn ddl(session: &Session, cql: &str) -> Result<(), StoreError> {
    let mut statement = Statement::new(cql.to_string());
    statement.set_request_timeout(Some(DDL_TIMEOUT));
    statement.set_is_idempotent(true);
    session.query_unpaged(statement, ()).await?;
    session.await_schema_agreement().await?;
    Ok(())
}

// Row types.

#[derive(DeserializeRow)]
struct OrderStateRow {
    order_id: String,
    customer_id: Option<String>,
    number: Option<i64>,
    status: Option<String>,
    financial_status: Option<String>,
    currency: Option<String>,
    total_minor: Option<i64>,
    created_at_ms: Option<i64>,
    placed_at_ms: Option<i64>,
    updated_at_ms: Option<i64>,
    seq: Option<i64>,
    generation: Option<i64>,
}

impl From<OrderStateRow> for OrderState {
    fn from(r: OrderStateRow) -> Self {
        OrderState {
            order_id: r.order_id,
            customer_id: r.customer_id,
            number: r.number.unwrap_or(0),
            status: r.status.unwrap_or_default(),
            financial_status: r.financial_status.unwrap_or_default(),
            currency: r.currency.unwrap_or_default(),
            total_minor: r.total_minor,
            created_at_ms: r.created_at_ms.unwrap_or(0),
            placed_at_ms: r.placed_at_ms,
            updated_at_ms: r.updated_at_ms.unwrap_or(0),
            seq: r.seq.unwrap_or(0).max(0) as u64,
            generation: r.generation.unwrap_or(0).max(0) as u64,
        }
    }
}

#[derive(DeserializeRow)]
struct HistoryRow {
    customer_id: String,
    placed_at_ms: i64,
    order_id: String,
    number: Option<i64>,
    status: Option<String>,
    financial_status: Option<String>,
    total_minor: Option<i64>,
    currency: Option<String>,
    updated_at_ms: Option<i64>,
}

impl From<HistoryRow> for OrderSummary {
    fn from(r: HistoryRow) -> Self {
        OrderSummary {
            customer_id: r.customer_id,
            order_id: r.order_id,
            number: r.number.unwrap_or(0),
            status: r.status.unwrap_or_default(),
            financial_status: r.financial_status.unwrap_or_default(),
            total_minor: r.total_minor.unwrap_or(0),
            currency: r.currency.unwrap_or_default(),
            placed_at_ms: r.placed_at_ms,
            updated_at_ms: r.updated_at_ms.unwrap_or(0),
        }
    }
}

#[derive(DeserializeRow)]
struct StockRow {
    variant_id: String,
    on_hand: Option<i64>,
    reserved: Option<i64>,
    updated_at_ms: Option<i64>,
    seq: Option<i64>,
    generation: Option<i64>,
}

impl From<StockRow> for StockLevel {
    fn from(r: StockRow) -> Self {
        StockLevel {
            variant_id: r.variant_id,
            on_hand: r.on_hand.unwrap_or(0),
            reserved: r.reserved.unwrap_or(0),
            updated_at_ms: r.updated_at_ms.unwrap_or(0),
            seq: r.seq.unwrap_or(0).max(0) as u64,
            generation: r.generation.unwrap_or(0).max(0) as u64,
        }
    }
}

#[derive(DeserializeRow)]
struct CartStateRow {
    cart_id: String,
    created_by: Option<String>,
    buyer_customer_id: Option<String>,
    status: Option<String>,
    currency: Option<String>,
    lines: Option<BTreeMap<String, i64>>,
    order_id: Option<String>,
    created_at_ms: Option<i64>,
    updated_at_ms: Option<i64>,
    seq: Option<i64>,
    generation: Option<i64>,
}

impl From<CartStateRow> for CartState {
    fn from(r: CartStateRow) -> Self {
        CartState {
            cart_id: r.cart_id,
            created_by: r.created_by,
            buyer_customer_id: r.buyer_customer_id,
            status: r.status.unwrap_or_default(),
            currency: r.currency.unwrap_or_default(),
            lines: r.lines.unwrap_or_default(),
            order_id: r.order_id,
            created_at_ms: r.created_at_ms.unwrap_or(0),
            updated_at_ms: r.updated_at_ms.unwrap_or(0),
            seq: r.seq.unwrap_or(0).max(0) as u64,
            generation: r.generation.unwrap_or(0).max(0) as u64,
        }
    }
}

#[derive(DeserializeRow)]
struct OwnerRow {
    customer_id: String,
    cart_id: String,
    status: Option<String>,
    currency: Option<String>,
    total_quantity: Option<i64>,
    order_id: Option<String>,
    created_at_ms: Option<i64>,
    updated_at_ms: Option<i64>,
}

impl From<OwnerRow> for CartSummary {
    fn from(r: OwnerRow) -> Self {
        CartSummary {
            customer_id: r.customer_id,
            cart_id: r.cart_id,
            status: r.status.unwrap_or_default(),
            currency: r.currency.unwrap_or_default(),
            total_quantity: r.total_quantity.unwrap_or(0),
            order_id: r.order_id,
            created_at_ms: r.created_at_ms.unwrap_or(0),
            updated_at_ms: r.updated_at_ms.unwrap_or(0),
        }
    }
}

/// The write timestamp of `version` (generation in the high bits, position in the low 40).
fn timestamp(version: Version) -> Result<i64, StoreError> {
    version.timestamp().ok_or_else(|| {
        backend(format!(
            "version {version:?} does not fit a write timestamp"
        ))
    })
}

/// The write timestamp of a tally counted at `source`.
fn tally_timestamp(source: Source) -> Result<i64, StoreError> {
    timestamp(Version {
        generation: source.generation,
        position: source.offset.max(-1) as u64 + 1,
    })
}

/// A seq as a `bigint`.
fn ts_seq(seq: u64) -> i64 {
    seq.min(i64::MAX as u64) as i64
}

fn stale(source: Source, found: i64) -> StoreError {
    stale_generation(
        Projector::Popularity,
        source.generation,
        found.max(0) as u64,
    )
}

impl CassandraProjectionStore {
    /// Connects, creates the keyspace if missing, applies the migrations and prepares every statement.
    pub async fn connect(settings: CassandraSettings) -> Result<Self, StoreError> {
        let (session, _) = open_session(&settings, MIGRATIONS).await?;
        let st = Statements::prepare(&session).await?;
        Ok(Self {
            inner: Arc::new(Inner { session, st }),
        })
    }

    /// The driver session (operations tooling and tests).
    pub fn session(&self) -> &Session {
        &self.inner.session
    }

    fn s(&self) -> &Session {
        &self.inner.session
    }

    fn st(&self) -> &Statements {
        &self.inner.st
    }

    /// A logged batch of prepared statements (idempotent: fixed values at fixed timestamps).
    fn logged(&self, statements: &[&PreparedStatement]) -> Batch {
        let mut batch = Batch::new(BatchType::Logged);
        for st in statements {
            batch.append_statement((*st).clone());
        }
        batch.set_is_idempotent(true);
        batch
    }

    /// `(orders, units, last_offset)` of a tally as `source`'s generation sees it: a row of an older
    /// generation counts as absent, one of a newer generation is an error.
    async fn tally_row(
        &self,
        product: &str,
        source: Source,
    ) -> Result<(i64, i64, i64), StoreError> {
        let row = self
            .s()
            .execute_unpaged(&self.st().tally, (product, source.partition))
            .await?
            .into_rows_result()?
            .maybe_first_row::<(Option<i64>, Option<i64>, Option<i64>, Option<i64>)>()?;
        Ok(match row {
            Some((_, _, _, Some(g))) if g > source.generation as i64 => {
                return Err(stale(source, g));
            }
            Some((o, u, l, Some(g))) if g == source.generation as i64 => {
                (o.unwrap_or(0), u.unwrap_or(0), l.unwrap_or(-1))
            }
            _ => (0, 0, -1),
        })
    }

    /// Counts `units` of `product` bought at `source` unless its tally already did.
    async fn count_product(
        &self,
        source: Source,
        product: &str,
        units: i64,
    ) -> Result<(), StoreError> {
        let (orders, total_units, last) = self.tally_row(product, source).await?;
        if last >= source.offset {
            return Ok(());
        }
        self.s()
            .execute_unpaged(
                &self.st().save_tally,
                (
                    product,
                    source.partition,
                    orders + 1,
                    total_units.saturating_add(units),
                    source.offset,
                    source.generation as i64,
                    tally_timestamp(source)?,
                ),
            )
            .await?;
        Ok(())
    }

    /// Counts the co-purchases of `product` with `others` bought at `source`, skipping the rows that did.
    async fn count_co_purchases(
        &self,
        source: Source,
        product: &str,
        others: Vec<&str>,
    ) -> Result<(), StoreError> {
        if others.is_empty() {
            return Ok(());
        }
        let rows = self
            .s()
            .execute_unpaged(&self.st().co_tallies, (product, source.partition, &others))
            .await?
            .into_rows_result()?;
        let mut current: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        for row in rows.rows::<(String, Option<i64>, Option<i64>, Option<i64>)>()? {
            let (other, orders, last, g) = row?;
            match g {
                Some(g) if g > source.generation as i64 => return Err(stale(source, g)),
                Some(g) if g == source.generation as i64 => {
                    current.insert(other, (orders.unwrap_or(0), last.unwrap_or(-1)));
                }
                _ => {}
            }
        }
        let ts = tally_timestamp(source)?;
        let writes = others.into_iter().filter_map(|other| {
            let (orders, last) = current.get(other).copied().unwrap_or((0, -1));
            (last < source.offset).then(|| {
                self.s().execute_unpaged(
                    &self.st().save_co_tally,
                    (
                        product,
                        source.partition,
                        other,
                        orders + 1,
                        source.offset,
                        source.generation as i64,
                        ts,
                    ),
                )
            })
        });
        future::try_join_all(writes).await?;
        Ok(())
    }
}

impl Statements {
    async fn prepare(session: &Session) -> Result<Self, StoreError> {
        let prepare = |cql: &'static str| async move {
            let mut st = session.prepare(cql).await?;
            // Every statement here may be sent twice: reads, and writes of fixed values at fixed timestamps.
            st.set_is_idempotent(true);
            Ok::<_, StoreError>(st)
        };
        let paged = |mut st: PreparedStatement| {
            st.set_page_size(PAGE_SIZE);
            st
        };
        Ok(Self {
            generation: prepare("SELECT generation FROM projector_generations WHERE projector = ?").await?,
            set_generation: prepare("UPDATE projector_generations SET generation = ? WHERE projector = ?").await?,
            positions: prepare(
                "SELECT topic, log_partition, log_offset FROM projector_positions WHERE projector = ? AND generation = ?",
            )
            .await?,
            save_position: prepare(
                "INSERT INTO projector_positions (projector, generation, topic, log_partition, log_offset, updated_at_ms)
                 VALUES (?, ?, ?, ?, ?, ?) USING TIMESTAMP ?",
            )
            .await?,
            delete_positions: prepare(
                "DELETE FROM projector_positions WHERE projector = ? AND generation = ?",
            )
            .await?,
            order_state: prepare(
                "SELECT order_id, customer_id, number, status, financial_status, currency, total_minor,
                        created_at_ms, placed_at_ms, updated_at_ms, seq, generation
                 FROM order_states WHERE order_id = ?",
            )
            .await?,
            save_order_state: prepare(
                "INSERT INTO order_states (order_id, customer_id, number, status, financial_status, currency,
                        total_minor, created_at_ms, placed_at_ms, updated_at_ms, seq, generation)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?",
            )
            .await?,
            save_history: prepare(
                "INSERT INTO order_history (customer_id, placed_at_ms, order_id, number, status, financial_status,
                        total_minor, currency, updated_at_ms)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?",
            )
            .await?,
            history: paged(
                prepare(
                    "SELECT customer_id, placed_at_ms, order_id, number, status, financial_status, total_minor,
                            currency, updated_at_ms
                     FROM order_history WHERE customer_id = ? LIMIT ?",
                )
                .await?,
            ),
            stock: prepare(
                "SELECT variant_id, on_hand, reserved, updated_at_ms, seq, generation FROM stock_levels
                 WHERE variant_id = ?",
            )
            .await?,
            save_stock: prepare(
                "INSERT INTO stock_levels (variant_id, on_hand, reserved, available, updated_at_ms, seq, generation)
                 VALUES (?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?",
            )
            .await?,
            cart_state: prepare(
                "SELECT cart_id, created_by, buyer_customer_id, status, currency, lines, order_id, created_at_ms,
                        updated_at_ms, seq, generation
                 FROM cart_states WHERE cart_id = ?",
            )
            .await?,
            save_cart_state: prepare(
                "INSERT INTO cart_states (cart_id, created_by, buyer_customer_id, status, currency, lines, order_id,
                        created_at_ms, updated_at_ms, seq, generation)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?",
            )
            .await?,
            save_owner_row: prepare(
                "INSERT INTO carts_by_owner (customer_id, cart_id, status, currency, total_quantity, order_id,
                        created_at_ms, updated_at_ms)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?",
            )
            .await?,
            delete_owner_row: prepare(
                "DELETE FROM carts_by_owner USING TIMESTAMP ? WHERE customer_id = ? AND cart_id = ?",
            )
            .await?,
            carts_by_owner: paged(
                prepare(
                    "SELECT customer_id, cart_id, status, currency, total_quantity, order_id, created_at_ms,
                            updated_at_ms
                     FROM carts_by_owner WHERE customer_id = ?",
                )
                .await?,
            ),
            counted: prepare("SELECT generation FROM counted_orders WHERE order_id = ?").await?,
            mark_counted: prepare(
                "INSERT INTO counted_orders (order_id, src, log_offset, counted_at_ms, generation)
                 VALUES (?, ?, ?, ?, ?) USING TIMESTAMP ?",
            )
            .await?,
            tally: prepare(
                "SELECT orders, units, last_offset, generation FROM product_popularity
                 WHERE product_id = ? AND src = ?",
            )
            .await?,
            save_tally: prepare(
                "INSERT INTO product_popularity (product_id, src, orders, units, last_offset, generation)
                 VALUES (?, ?, ?, ?, ?, ?) USING TIMESTAMP ?",
            )
            .await?,
            co_tallies: prepare(
                "SELECT other_id, orders, last_offset, generation FROM co_purchases
                 WHERE product_id = ? AND src = ? AND other_id IN ?",
            )
            .await?,
            save_co_tally: prepare(
                "INSERT INTO co_purchases (product_id, src, other_id, orders, last_offset, generation)
                 VALUES (?, ?, ?, ?, ?, ?) USING TIMESTAMP ?",
            )
            .await?,
            popularity: prepare(
                "SELECT orders, units FROM product_popularity WHERE product_id = ?",
            )
            .await?,
            all_popularity: paged(
                prepare("SELECT product_id, orders, units FROM product_popularity").await?,
            ),
            co_purchased: paged(
                prepare("SELECT other_id, orders FROM co_purchases WHERE product_id = ?").await?,
            ),
        })
    }
}

impl ProjectionStore for CassandraProjectionStore {
    async fn generation(&self, projector: Projector) -> Result<u64, StoreError> {
        Ok(self
            .s()
            .execute_unpaged(&self.st().generation, (projector.name(),))
            .await?
            .into_rows_result()?
            .maybe_first_row::<(Option<i64>,)>()?
            .and_then(|(g,)| g)
            .unwrap_or(0)
            .max(0) as u64)
    }

    async fn reset(&self, projector: Projector) -> Result<u64, StoreError> {
        let old = self.generation(projector).await?;
        let next = old + 1;
        // The generation first: a crash after it leaves the old rows under the new generation, which the
        // replay then skips as already applied (and another rebuild wipes); never half-wiped tables under a
        // group that has committed offsets.
        self.s()
            .execute_unpaged(&self.st().set_generation, (next as i64, projector.name()))
            .await?;
        for table in tables(projector) {
            ddl(self.s(), &format!("TRUNCATE {table}")).await?;
        }
        self.s()
            .execute_unpaged(&self.st().delete_positions, (projector.name(), old as i64))
            .await?;
        Ok(next)
    }

    async fn positions(
        &self,
        projector: Projector,
        generation: u64,
    ) -> Result<Vec<Position>, StoreError> {
        let rows = self
            .s()
            .execute_unpaged(&self.st().positions, (projector.name(), generation as i64))
            .await?
            .into_rows_result()?;
        Ok(rows
            .rows::<(String, i32, i64)>()?
            .map(|r| {
                r.map(|(topic, partition, offset)| Position {
                    topic,
                    partition,
                    offset,
                })
            })
            .collect::<Result<_, _>>()?)
    }

    async fn save_position(
        &self,
        projector: Projector,
        generation: u64,
        position: &Position,
    ) -> Result<(), StoreError> {
        self.s()
            .execute_unpaged(
                &self.st().save_position,
                (
                    projector.name(),
                    generation as i64,
                    &position.topic,
                    position.partition,
                    position.offset,
                    shop_kernel::now_ms(),
                    position.offset + 1,
                ),
            )
            .await?;
        Ok(())
    }

    async fn order_state(&self, order_id: &str) -> Result<Option<OrderState>, StoreError> {
        Ok(self
            .s()
            .execute_unpaged(&self.st().order_state, (order_id,))
            .await?
            .into_rows_result()?
            .maybe_first_row::<OrderStateRow>()?
            .map(Into::into))
    }

    async fn save_order(&self, s: &OrderState) -> Result<(), StoreError> {
        let ts = timestamp(s.version())?;
        let state = (
            &s.order_id,
            &s.customer_id,
            s.number,
            &s.status,
            &s.financial_status,
            &s.currency,
            s.total_minor,
            s.created_at_ms,
            s.placed_at_ms,
            s.updated_at_ms,
            ts_seq(s.seq),
            s.generation as i64,
            ts,
        );
        match s.summary() {
            // The history row and the state commit together (logged batch: one round trip, and never a
            // state row ahead of its history row).
            Some(h) => {
                let history = (
                    &h.customer_id,
                    h.placed_at_ms,
                    &h.order_id,
                    h.number,
                    &h.status,
                    &h.financial_status,
                    h.total_minor,
                    &h.currency,
                    h.updated_at_ms,
                    ts,
                );
                let batch = self.logged(&[&self.st().save_history, &self.st().save_order_state]);
                self.s().batch(&batch, (history, state)).await?;
            }
            None => {
                self.s()
                    .execute_unpaged(&self.st().save_order_state, state)
                    .await?;
            }
        }
        Ok(())
    }

    async fn order_history(
        &self,
        customer_id: &str,
        limit: usize,
    ) -> Result<Vec<OrderSummary>, StoreError> {
        let limit = limit.clamp(1, i32::MAX as usize) as i32;
        let mut rows = self
            .s()
            .execute_iter(self.st().history.clone(), (customer_id, limit))
            .await?
            .rows_stream::<HistoryRow>()?;
        let mut out = Vec::new();
        while let Some(r) = rows.try_next().await? {
            out.push(OrderSummary::from(r));
        }
        Ok(out)
    }

    async fn stock(&self, variant_id: &str) -> Result<Option<StockLevel>, StoreError> {
        Ok(self
            .s()
            .execute_unpaged(&self.st().stock, (variant_id,))
            .await?
            .into_rows_result()?
            .maybe_first_row::<StockRow>()?
            .map(Into::into))
    }

    async fn save_stock(&self, l: &StockLevel) -> Result<(), StoreError> {
        self.s()
            .execute_unpaged(
                &self.st().save_stock,
                (
                    &l.variant_id,
                    l.on_hand,
                    l.reserved,
                    l.available(),
                    l.updated_at_ms,
                    ts_seq(l.seq),
                    l.generation as i64,
                    timestamp(l.version())?,
                ),
            )
            .await?;
        Ok(())
    }

    async fn stock_levels(&self, variant_ids: &[String]) -> Result<Vec<StockLevel>, StoreError> {
        let found = future::try_join_all(variant_ids.iter().map(|v| self.stock(v))).await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn cart_state(&self, cart_id: &str) -> Result<Option<CartState>, StoreError> {
        Ok(self
            .s()
            .execute_unpaged(&self.st().cart_state, (cart_id,))
            .await?
            .into_rows_result()?
            .maybe_first_row::<CartStateRow>()?
            .map(Into::into))
    }

    async fn save_cart(
        &self,
        s: &CartState,
        previous_owner: Option<&str>,
    ) -> Result<(), StoreError> {
        let ts = timestamp(s.version())?;
        let moved_from = previous_owner.filter(|prev| Some(*prev) != s.owner());
        let state = (
            &s.cart_id,
            &s.created_by,
            &s.buyer_customer_id,
            &s.status,
            &s.currency,
            &s.lines,
            &s.order_id,
            s.created_at_ms,
            s.updated_at_ms,
            ts_seq(s.seq),
            s.generation as i64,
            ts,
        );
        let summary = s.summary();
        let row = summary.as_ref().map(|r| {
            (
                &r.customer_id,
                &r.cart_id,
                &r.status,
                &r.currency,
                r.total_quantity,
                &r.order_id,
                r.created_at_ms,
                r.updated_at_ms,
                ts,
            )
        });
        let st = self.st();
        // The owner rows and the state commit together (logged batch: one round trip, atomic).
        match (moved_from, row) {
            (Some(prev), Some(row)) => {
                let batch = self.logged(&[
                    &st.delete_owner_row,
                    &st.save_owner_row,
                    &st.save_cart_state,
                ]);
                self.s()
                    .batch(&batch, ((ts, prev, &s.cart_id), row, state))
                    .await?;
            }
            (Some(prev), None) => {
                let batch = self.logged(&[&st.delete_owner_row, &st.save_cart_state]);
                self.s()
                    .batch(&batch, ((ts, prev, &s.cart_id), state))
                    .await?;
            }
            (None, Some(row)) => {
                let batch = self.logged(&[&st.save_owner_row, &st.save_cart_state]);
                self.s().batch(&batch, (row, state)).await?;
            }
            (None, None) => {
                self.s().execute_unpaged(&st.save_cart_state, state).await?;
            }
        }
        Ok(())
    }

    async fn carts_by_owner(&self, customer_id: &str) -> Result<Vec<CartSummary>, StoreError> {
        let mut rows = self
            .s()
            .execute_iter(self.st().carts_by_owner.clone(), (customer_id,))
            .await?
            .rows_stream::<OwnerRow>()?;
        let mut out = Vec::new();
        while let Some(r) = rows.try_next().await? {
            out.push(CartSummary::from(r));
        }
        model::sort_carts(&mut out);
        Ok(out)
    }

    async fn record_purchase(
        &self,
        source: Source,
        purchase: &Purchase,
    ) -> Result<bool, StoreError> {
        let counted_by = self
            .s()
            .execute_unpaged(&self.st().counted, (&purchase.order_id,))
            .await?
            .into_rows_result()?
            .maybe_first_row::<(Option<i64>,)>()?
            .and_then(|(g,)| g);
        match counted_by {
            Some(g) if g > source.generation as i64 => return Err(stale(source, g)),
            Some(g) if g == source.generation as i64 => return Ok(false),
            _ => {}
        }
        let products: Vec<&str> = purchase.products.keys().map(String::as_str).collect();
        let tallies = purchase.products.iter().map(|(product, units)| {
            let others: Vec<&str> = products
                .iter()
                .copied()
                .filter(|o| *o != product.as_str())
                .collect();
            async move {
                self.count_product(source, product, *units).await?;
                self.count_co_purchases(source, product, others).await
            }
        });
        future::try_join_all(tallies).await?;
        self.s()
            .execute_unpaged(
                &self.st().mark_counted,
                (
                    &purchase.order_id,
                    source.partition,
                    source.offset,
                    shop_kernel::now_ms(),
                    source.generation as i64,
                    tally_timestamp(source)?,
                ),
            )
            .await?;
        Ok(true)
    }

    async fn popularity(&self, product_id: &str) -> Result<ProductPopularity, StoreError> {
        let rows = self
            .s()
            .execute_unpaged(&self.st().popularity, (product_id,))
            .await?
            .into_rows_result()?;
        let mut p = ProductPopularity {
            product_id: product_id.to_string(),
            ..Default::default()
        };
        for r in rows.rows::<(Option<i64>, Option<i64>)>()? {
            let (orders, units) = r?;
            p.orders += orders.unwrap_or(0);
            p.units += units.unwrap_or(0);
        }
        Ok(p)
    }

    async fn top_products(&self, limit: usize) -> Result<Vec<ProductPopularity>, StoreError> {
        let mut rows = self
            .s()
            .execute_iter(self.st().all_popularity.clone(), ())
            .await?
            .rows_stream::<(String, Option<i64>, Option<i64>)>()?;
        let mut by: BTreeMap<String, ProductPopularity> = BTreeMap::new();
        while let Some((product, orders, units)) = rows.try_next().await? {
            let p = by
                .entry(product.clone())
                .or_insert_with(|| ProductPopularity {
                    product_id: product,
                    ..Default::default()
                });
            p.orders += orders.unwrap_or(0);
            p.units += units.unwrap_or(0);
        }
        let mut out: Vec<ProductPopularity> = by.into_values().collect();
        model::sort_popularity(&mut out);
        out.truncate(limit);
        Ok(out)
    }

    async fn co_purchased(
        &self,
        product_id: &str,
        limit: usize,
    ) -> Result<Vec<CoPurchase>, StoreError> {
        let mut rows = self
            .s()
            .execute_iter(self.st().co_purchased.clone(), (product_id,))
            .await?
            .rows_stream::<(String, Option<i64>)>()?;
        let mut by: BTreeMap<String, i64> = BTreeMap::new();
        while let Some((other, orders)) = rows.try_next().await? {
            *by.entry(other).or_default() += orders.unwrap_or(0);
        }
        let mut out: Vec<CoPurchase> = by
            .into_iter()
            .map(|(other_id, orders)| CoPurchase { other_id, orders })
            .collect();
        model::sort_co_purchases(&mut out);
        out.truncate(limit);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_wiped_table_is_created() {
        // Every table a rebuild wipes is created by a migration.
        for p in Projector::ALL {
            for t in tables(p) {
                assert!(
                    MIGRATIONS
                        .iter()
                        .any(|(_, cql)| cql.contains(&format!("EXISTS {t} ("))),
                    "{t}"
                );
            }
        }
    }
}
