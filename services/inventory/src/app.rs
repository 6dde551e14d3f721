//! Inventory use cases over the event store.
//!
//! - Every variant has a stream `stock-<variant_id>`; its state is the fold of its events.
//! - An in-memory cache holds every known item and its stream version, so reads and checks never refold streams.
//!   It is warmed at start-up by one scan of the store; a version conflict (another writer) reloads the stream.
//! - Writes to a variant are serialised in-process by a per-variant async mutex; a reservation takes the
//!   mutexes of all its variants in sorted order (no deadlock), so concurrent reservations cannot oversell.
//! - Reservations are not a stream of their own: a reservation's lines are derived from the `reserved` events
//!   on the variant streams. An index `reservation_id → lines` is kept in memory and rebuilt by the start-up scan;
//!   the reservation's state is read from the items. Re-sending a reservation id returns the existing reservation.
//! - Reservations hold stock for a TTL (default 10 minutes). A sweeper ([`App::expire_due`], run every second by
//!   the service) releases the ones that lapsed without being committed or released; expiry is an event
//!   (`released` with reason `expired`), idempotent, and the deadlines are rebuilt by the start-up scan, so a
//!   crashed checkout's stock comes back by itself.
use std::{
    collections::{BTreeSet, HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use parking_lot::{Mutex, RwLock};
use shop_kernel::{Actor, Error, Permission, Result};
use shop_rpc::shop_telemetry::{Metrics, metrics::outcome};
use shop_store::{EventLog, ExpectedVersion, StoreError};

use crate::{
    domain::{
        AdjustKind, Command, InventoryEvent, Item, ReservationState, apply, decide, validate,
    },
    events,
};

/// How long a reservation holds stock when the caller does not say.
pub const DEFAULT_RESERVATION_TTL_MS: i64 = 10 * 60 * 1000;
/// Shortest and longest hold a caller may ask for.
pub const RESERVATION_TTL_RANGE_MS: std::ops::RangeInclusive<i64> = 100..=24 * 60 * 60 * 1000;

/// How many times a write is retried after a version conflict.
pub const MAX_ATTEMPTS: usize = 5;
const SCAN_BATCH: usize = 1000;
const STREAM_PREFIX: &str = "stock-";
/// Tag of every stock stream (set by its first append), for stores without a global log.
const STOCK_TAG: &str = "stock";

/// Stock of one variant as seen by callers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockLevel {
    pub variant_id: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
}

/// A reservation and its lines `(variant_id, quantity)` in request order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub reservation_id: String,
    pub lines: Vec<(String, i64)>,
    pub state: ReservationState,
    /// When the hold lapses unless committed or released.
    pub expires_at_ms: Option<i64>,
}

/// The stream of a variant.
pub fn stream_name(variant_id: &str) -> String {
    format!("{STREAM_PREFIX}{variant_id}")
}

/// The inventory application service.
pub struct App<S> {
    store: S,
    /// variant id → (state, stream version).
    items: RwLock<HashMap<String, (Item, u64)>>,
    /// reservation id → lines, in request order.
    reservations: RwLock<HashMap<String, Vec<(String, i64)>>>,
    /// Per-variant write locks.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Reservation ids whose `reserve` is running.
    in_flight: Mutex<HashSet<String>>,
    /// (expires_at_ms, reservation id) of reservations that may still be active.
    deadlines: Mutex<BTreeSet<(i64, String)>>,
    /// Reservation outcomes are counted here (`thriftshop_inventory_reservations_total`).
    metrics: Metrics,
}

struct InFlight<'a> {
    set: &'a Mutex<HashSet<String>>,
    id: String,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.set.lock().remove(&self.id);
    }
}

fn require_system(actor: &Actor) -> Result<()> {
    if actor.system {
        Ok(())
    } else {
        Err(Error::permission_denied(
            "CALLER_NOT_ALLOWED",
            "only internal callers may change stock",
        ))
    }
}

fn level(variant_id: &str, item: &Item) -> StockLevel {
    StockLevel {
        variant_id: variant_id.to_string(),
        on_hand: item.on_hand,
        reserved: item.reserved,
        available: item.available(),
    }
}

impl<S: EventLog> App<S> {
    /// Builds the service and warms its caches with one scan of the store.
    pub async fn start(store: S) -> Result<Self> {
        let app = Self {
            store,
            items: RwLock::default(),
            reservations: RwLock::default(),
            locks: Mutex::default(),
            in_flight: Mutex::default(),
            deadlines: Mutex::default(),
            metrics: Metrics::new(),
        };
        app.warm().await?;
        Ok(app)
    }

    /// Counts into `metrics` (the process registry) instead of a private one.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    async fn warm(&self) -> Result<()> {
        let mut deadlines = BTreeSet::new();
        if self.store.has_global_log() {
            let mut after = 0;
            loop {
                let batch = self.store.read_all(after, SCAN_BATCH).await?;
                let Some(last) = batch.last() else {
                    break;
                };
                after = last.position;
                self.absorb(&batch, &mut deadlines)?;
            }
        } else {
            // No global log (Cassandra): every stock stream carries STOCK_TAG from its first append.
            for stream in self.store.streams_by_tag(STOCK_TAG).await? {
                let recs = self.store.load(&stream).await?;
                self.absorb(&recs, &mut deadlines)?;
            }
        }
        // Only reservations still holding stock need a deadline.
        let items = self.items.read();
        let index = self.reservations.read();
        deadlines.retain(|(_, id)| {
            index.get(id).is_some_and(|lines| {
                lines.iter().any(|(v, _)| {
                    items
                        .get(v)
                        .and_then(|(item, _)| item.reservations.get(id))
                        .is_some_and(|l| l.state == ReservationState::Active)
                })
            })
        });
        self.deadlines.lock().extend(deadlines);
        Ok(())
    }

    /// Folds recorded stock events into the caches and collects reservation deadlines.
    fn absorb(
        &self,
        batch: &[shop_store::RecordedEvent],
        deadlines: &mut BTreeSet<(i64, String)>,
    ) -> Result<()> {
        let mut items = self.items.write();
        let mut index = self.reservations.write();
        for rec in batch {
            let Some(variant) = rec.stream_id.strip_prefix(STREAM_PREFIX) else {
                continue;
            };
            let event = events::decode(&rec.event)?;
            if let InventoryEvent::Reserved {
                reservation_id,
                quantity,
                expires_at_ms,
                ..
            } = &event
            {
                let lines = index.entry(reservation_id.clone()).or_default();
                if !lines.iter().any(|(v, _)| v == variant) {
                    lines.push((variant.to_string(), *quantity));
                }
                if let Some(at) = expires_at_ms {
                    deadlines.insert((*at, reservation_id.clone()));
                }
            }
            let entry = items.entry(variant.to_string()).or_default();
            apply(&mut entry.0, &event);
            entry.1 = rec.seq;
        }
        Ok(())
    }

    /// Loads a variant's stream into the cache (also when it does not exist yet, for writers).
    async fn reload(&self, variant_id: &str) -> Result<()> {
        let (item, version) = self.load(variant_id).await?;
        self.items
            .write()
            .insert(variant_id.to_string(), (item, version));
        Ok(())
    }

    async fn load(&self, variant_id: &str) -> Result<(Item, u64)> {
        let recs = self.store.load(&stream_name(variant_id)).await?;
        let mut item = Item::default();
        let mut version = 0;
        for rec in &recs {
            apply(&mut item, &events::decode(&rec.event)?);
            version = rec.seq;
        }
        Ok((item, version))
    }

    /// A variant's current state (cache first; unknown variants are read from the store but not cached).
    async fn item(&self, variant_id: &str) -> Result<(Item, u64)> {
        if let Some(hit) = self.items.read().get(variant_id) {
            return Ok(hit.clone());
        }
        self.load(variant_id).await
    }

    async fn lock(&self, variant_ids: &[&str]) -> Vec<tokio::sync::OwnedMutexGuard<()>> {
        let mut ids: Vec<&str> = variant_ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let mutexes: Vec<_> = {
            let mut locks = self.locks.lock();
            ids.iter()
                .map(|id| locks.entry((*id).to_string()).or_default().clone())
                .collect()
        };
        let mut guards = Vec::with_capacity(mutexes.len());
        for m in mutexes {
            guards.push(m.lock_owned().await);
        }
        guards
    }

    /// Decides and appends a command on one variant, retrying after version conflicts.
    /// The caller holds the variant's lock.
    async fn execute(&self, variant_id: &str, cmd: &Command, now: i64) -> Result<()> {
        let stream = stream_name(variant_id);
        let mut stale = !self.items.read().contains_key(variant_id);
        for _ in 0..MAX_ATTEMPTS {
            if stale {
                self.reload(variant_id).await?;
            }
            let (events, version) = {
                let items = self.items.read();
                let Some((item, version)) = items.get(variant_id) else {
                    return Err(Error::internal("item vanished from cache"));
                };
                (decide(item, variant_id, cmd, now)?, *version)
            };
            if events.is_empty() {
                return Ok(());
            }
            let new = events.iter().map(|e| events::encode(e, now)).collect();
            let (expected, tags) = if version == 0 {
                (ExpectedVersion::NoStream, vec![STOCK_TAG.to_string()])
            } else {
                (ExpectedVersion::Exact(version), vec![])
            };
            match self.store.append(&stream, expected, new, tags).await {
                Ok(v) => {
                    let mut items = self.items.write();
                    let entry = items.entry(variant_id.to_string()).or_default();
                    for e in &events {
                        apply(&mut entry.0, e);
                    }
                    entry.1 = v;
                    return Ok(());
                }
                Err(StoreError::Conflict { .. }) => stale = true,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::conflict(
            "CONCURRENT_MODIFICATION",
            "the stock changed concurrently; try again",
        ))
    }

    fn view(&self, reservation_id: &str, lines: Vec<(String, i64)>) -> Reservation {
        let line = {
            let items = self.items.read();
            lines
                .first()
                .and_then(|(v, _)| items.get(v))
                .and_then(|(item, _)| item.reservations.get(reservation_id))
                .copied()
        };
        Reservation {
            reservation_id: reservation_id.to_string(),
            lines,
            state: line.map_or(ReservationState::Active, |l| l.state),
            expires_at_ms: line.and_then(|l| l.expires_at_ms),
        }
    }

    fn lines_of(&self, reservation_id: &str) -> Option<Vec<(String, i64)>> {
        self.reservations.read().get(reservation_id).cloned()
    }

    /// Stock levels of the variants that have a stock record (unknown ones are omitted).
    pub async fn get_stock(&self, variant_ids: &[String]) -> Result<Vec<StockLevel>> {
        if variant_ids.len() > validate::MAX_STOCK_QUERY {
            return Err(Error::invalid(
                "TOO_MANY_IDS",
                format!("at most {} variant ids", validate::MAX_STOCK_QUERY),
            )
            .with_field(["variantIds"]));
        }
        for (i, id) in variant_ids.iter().enumerate() {
            validate::variant_id(id, &["variantIds", &i.to_string()])?;
        }
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for id in variant_ids {
            if !seen.insert(id.as_str()) {
                continue;
            }
            let (item, version) = self.item(id).await?;
            if version > 0 {
                out.push(level(id, &item));
            }
        }
        Ok(out)
    }

    /// Changes on-hand stock (staff with MANAGE_PRODUCTS and internal callers), recording `reason`.
    pub async fn adjust_stock(
        &self,
        actor: &Actor,
        variant_id: &str,
        kind: AdjustKind,
        quantity: i64,
        reason: &str,
    ) -> Result<StockLevel> {
        if !actor.may(Permission::ManageProducts) {
            return Err(Error::permission_denied(
                "CALLER_NOT_ALLOWED",
                "only staff with MANAGE_PRODUCTS may adjust stock",
            ));
        }
        validate::variant_id(variant_id, &["variantId"])?;
        validate::adjust_quantity(quantity)?;
        validate::reason(reason)?;
        let _guard = self.lock(&[variant_id]).await;
        let cmd = Command::Adjust {
            kind,
            quantity,
            reason: reason.to_string(),
        };
        self.execute(variant_id, &cmd, shop_kernel::now_ms())
            .await?;
        let (item, _) = self.item(variant_id).await?;
        Ok(level(variant_id, &item))
    }

    /// Reserves every line or none for `ttl_ms` (default [`DEFAULT_RESERVATION_TTL_MS`]); system callers only.
    /// Idempotent per reservation id.
    pub async fn reserve(
        &self,
        actor: &Actor,
        reservation_id: &str,
        lines: Vec<(String, i64)>,
        ttl_ms: Option<i64>,
    ) -> Result<Reservation> {
        require_system(actor)?;
        validate::reservation_id(reservation_id)?;
        if let Some(existing) = self.lines_of(reservation_id) {
            return Ok(self.view(reservation_id, existing));
        }
        validate::reservation_lines(&lines)?;
        let ttl_ms = ttl_ms.unwrap_or(DEFAULT_RESERVATION_TTL_MS);
        if !RESERVATION_TTL_RANGE_MS.contains(&ttl_ms) {
            return Err(Error::invalid(
                "INVALID_TTL",
                format!(
                    "ttl_ms must be between {} and {}",
                    RESERVATION_TTL_RANGE_MS.start(),
                    RESERVATION_TTL_RANGE_MS.end()
                ),
            )
            .with_field(["ttlMs"]));
        }
        if !self.in_flight.lock().insert(reservation_id.to_string()) {
            return Err(Error::conflict(
                "RESERVATION_IN_PROGRESS",
                "this reservation is being made; try again",
            ));
        }
        let _in_flight = InFlight {
            set: &self.in_flight,
            id: reservation_id.to_string(),
        };
        let ids: Vec<&str> = lines.iter().map(|(v, _)| v.as_str()).collect();
        let _guards = self.lock(&ids).await;
        if let Some(existing) = self.lines_of(reservation_id) {
            return Ok(self.view(reservation_id, existing));
        }
        // Check everything first: nothing is written when any line lacks stock.
        for (i, (variant, qty)) in lines.iter().enumerate() {
            let (item, _) = self.item(variant).await?;
            if item.available() < *qty {
                self.metrics
                    .inventory_reservation(outcome::INSUFFICIENT_STOCK);
                return Err(Error::precondition(
                    "INSUFFICIENT_STOCK",
                    format!(
                        "only {} available for variant {variant}",
                        item.available().max(0)
                    ),
                )
                .with_field(["lines", &i.to_string()]));
            }
        }
        let now = shop_kernel::now_ms();
        let expires_at_ms = now.saturating_add(ttl_ms);
        for (i, (variant, qty)) in lines.iter().enumerate() {
            let cmd = Command::Reserve {
                reservation_id: reservation_id.to_string(),
                quantity: *qty,
                expires_at_ms: Some(expires_at_ms),
            };
            if let Err(e) = self.execute(variant, &cmd, now).await {
                self.compensate(reservation_id, &lines[..i], now).await;
                if e.code == "INSUFFICIENT_STOCK" {
                    self.metrics
                        .inventory_reservation(outcome::INSUFFICIENT_STOCK);
                }
                return Err(if e.code == "INSUFFICIENT_STOCK" {
                    e.with_field(["lines", &i.to_string()])
                } else {
                    e
                });
            }
        }
        self.reservations
            .write()
            .insert(reservation_id.to_string(), lines.clone());
        self.deadlines
            .lock()
            .insert((expires_at_ms, reservation_id.to_string()));
        self.metrics.inventory_reservation(outcome::RESERVED);
        Ok(self.view(reservation_id, lines))
    }

    /// Releases lines already reserved by a reservation that could not complete.
    async fn compensate(&self, reservation_id: &str, done: &[(String, i64)], now: i64) {
        let cmd = Command::Release {
            reservation_id: reservation_id.to_string(),
            reason: "reservation failed".into(),
        };
        for (variant, _) in done {
            if let Err(e) = self.execute(variant, &cmd, now).await {
                tracing::error!(%reservation_id, %variant, error = %e, "could not compensate a partial reservation");
            }
        }
    }

    /// Applies `cmd` to every line of a reservation; when the reservation enters a new state, counts
    /// `outcome` (repeats of an idempotent call count once).
    async fn transition(
        &self,
        actor: &Actor,
        reservation_id: &str,
        cmd: Command,
        outcome: Option<&'static str>,
    ) -> Result<Reservation> {
        require_system(actor)?;
        validate::reservation_id(reservation_id)?;
        let lines = self.lines_of(reservation_id).ok_or_else(|| {
            Error::not_found(
                "RESERVATION_NOT_FOUND",
                format!("reservation {reservation_id} does not exist"),
            )
        })?;
        let ids: Vec<&str> = lines.iter().map(|(v, _)| v.as_str()).collect();
        let _guards = self.lock(&ids).await;
        let before = self.view(reservation_id, lines.clone()).state;
        let now = shop_kernel::now_ms();
        for (variant, _) in &lines {
            self.execute(variant, &cmd, now).await?;
        }
        let after = self.view(reservation_id, lines);
        if let Some(outcome) = outcome
            && after.state != before
        {
            self.metrics.inventory_reservation(outcome);
        }
        Ok(after)
    }

    /// Returns a reservation's stock to available (system callers only). Idempotent.
    pub async fn release(
        &self,
        actor: &Actor,
        reservation_id: &str,
        reason: &str,
    ) -> Result<Reservation> {
        require_system(actor)?;
        validate::reason(reason)?;
        self.transition(
            actor,
            reservation_id,
            Command::Release {
                reservation_id: reservation_id.to_string(),
                reason: reason.to_string(),
            },
            Some(outcome::RELEASED),
        )
        .await
    }

    /// Takes a reservation's stock out of on-hand (system callers only). Idempotent.
    pub async fn commit(&self, actor: &Actor, reservation_id: &str) -> Result<Reservation> {
        self.transition(
            actor,
            reservation_id,
            Command::Commit {
                reservation_id: reservation_id.to_string(),
            },
            Some(outcome::COMMITTED),
        )
        .await
    }

    /// Puts a committed reservation's stock back on hand (system callers only). Idempotent.
    pub async fn return_stock(
        &self,
        actor: &Actor,
        reservation_id: &str,
        reason: &str,
    ) -> Result<Reservation> {
        validate::reason(reason)?;
        self.transition(
            actor,
            reservation_id,
            Command::Return {
                reservation_id: reservation_id.to_string(),
                reason: reason.to_string(),
            },
            None,
        )
        .await
    }

    /// Releases every reservation whose hold lapsed by `now_ms` without being committed or released; returns
    /// how many were released. Idempotent; a reservation that fails to expire is retried on the next call.
    pub async fn expire_due(&self, now_ms: i64) -> usize {
        let due: Vec<(i64, String)> = {
            let mut deadlines = self.deadlines.lock();
            let later = deadlines.split_off(&(now_ms.saturating_add(1), String::new()));
            std::mem::replace(&mut *deadlines, later)
                .into_iter()
                .collect()
        };
        let mut released = 0;
        for (at, id) in due {
            let Some(lines) = self.lines_of(&id) else {
                continue;
            };
            let was_active = self.view(&id, lines.clone()).state == ReservationState::Active;
            let ids: Vec<&str> = lines.iter().map(|(v, _)| v.as_str()).collect();
            let _guards = self.lock(&ids).await;
            let cmd = Command::Expire {
                reservation_id: id.clone(),
            };
            let mut failed = false;
            for (variant, _) in &lines {
                if let Err(e) = self.execute(variant, &cmd, now_ms).await {
                    tracing::warn!(reservation_id = %id, %variant, error = %e, "expiring a reservation failed; will retry");
                    failed = true;
                }
            }
            if failed {
                self.deadlines.lock().insert((at, id));
            } else if was_active {
                tracing::info!(reservation_id = %id, "reservation expired; stock released");
                self.metrics.inventory_reservation(outcome::EXPIRED);
                released += 1;
            }
        }
        released
    }

    /// Runs [`App::expire_due`] every `every` until `shutdown`.
    pub async fn run_sweeper(
        self: Arc<Self>,
        every: Duration,
        shutdown: tokio_util::sync::CancellationToken,
    ) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    self.expire_due(shop_kernel::now_ms()).await;
                }
                _ = shutdown.cancelled() => return,
            }
        }
    }
}
