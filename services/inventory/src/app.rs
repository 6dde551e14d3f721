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
use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use parking_lot::{Mutex, RwLock};
use shop_kernel::{Actor, Error, Result};
use shop_store::{EventLog, ExpectedVersion, StoreError};

use crate::{
    domain::{
        AdjustKind, Command, InventoryEvent, Item, ReservationState, apply, decide, validate,
    },
    events,
};

/// How many times a write is retried after a version conflict.
pub const MAX_ATTEMPTS: usize = 5;
const SCAN_BATCH: usize = 1000;
const STREAM_PREFIX: &str = "stock-";

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
        };
        app.warm().await?;
        Ok(app)
    }

    async fn warm(&self) -> Result<()> {
        let mut after = 0;
        loop {
            let batch = self.store.read_all(after, SCAN_BATCH).await?;
            let Some(last) = batch.last() else {
                return Ok(());
            };
            after = last.position;
            let mut items = self.items.write();
            let mut index = self.reservations.write();
            for rec in &batch {
                let Some(variant) = rec.stream_id.strip_prefix(STREAM_PREFIX) else {
                    continue;
                };
                let event = events::decode(&rec.event)?;
                if let InventoryEvent::Reserved {
                    reservation_id,
                    quantity,
                    ..
                } = &event
                {
                    let lines = index.entry(reservation_id.clone()).or_default();
                    if !lines.iter().any(|(v, _)| v == variant) {
                        lines.push((variant.to_string(), *quantity));
                    }
                }
                let entry = items.entry(variant.to_string()).or_default();
                apply(&mut entry.0, &event);
                entry.1 = rec.seq;
            }
        }
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
            let expected = if version == 0 {
                ExpectedVersion::NoStream
            } else {
                ExpectedVersion::Exact(version)
            };
            match self.store.append(&stream, expected, new, vec![]).await {
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
        let state = {
            let items = self.items.read();
            lines
                .first()
                .and_then(|(v, _)| items.get(v))
                .and_then(|(item, _)| item.reservations.get(reservation_id))
                .map_or(ReservationState::Active, |l| l.state)
        };
        Reservation {
            reservation_id: reservation_id.to_string(),
            lines,
            state,
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

    /// Changes on-hand stock (system callers only).
    pub async fn adjust_stock(
        &self,
        actor: &Actor,
        variant_id: &str,
        kind: AdjustKind,
        quantity: i64,
        reason: &str,
    ) -> Result<StockLevel> {
        require_system(actor)?;
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

    /// Reserves every line or none (system callers only). Idempotent per reservation id.
    pub async fn reserve(
        &self,
        actor: &Actor,
        reservation_id: &str,
        lines: Vec<(String, i64)>,
    ) -> Result<Reservation> {
        require_system(actor)?;
        validate::reservation_id(reservation_id)?;
        if let Some(existing) = self.lines_of(reservation_id) {
            return Ok(self.view(reservation_id, existing));
        }
        validate::reservation_lines(&lines)?;
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
        for (i, (variant, qty)) in lines.iter().enumerate() {
            let cmd = Command::Reserve {
                reservation_id: reservation_id.to_string(),
                quantity: *qty,
            };
            if let Err(e) = self.execute(variant, &cmd, now).await {
                self.compensate(reservation_id, &lines[..i], now).await;
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

    async fn transition(
        &self,
        actor: &Actor,
        reservation_id: &str,
        cmd: Command,
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
        let now = shop_kernel::now_ms();
        for (variant, _) in &lines {
            self.execute(variant, &cmd, now).await?;
        }
        Ok(self.view(reservation_id, lines))
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
        )
        .await
    }
}
