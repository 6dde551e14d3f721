//! Projections: read models maintained from the event bus (Kafka in a cluster) in a [`ProjectionStore`]
//! (Cassandra in a cluster, memory in tests).
//!
//! | projector | topic | read model (query) |
//! |---|---|---|
//! | [`Projector::OrderHistory`] | `shop.order.v1` | a customer's placed orders, newest first, with number, status, total, placed-at ([`ProjectionStore::order_history`]) |
//! | [`Projector::Stock`] | `shop.inventory.v1` | on hand / reserved / available per variant ([`ProjectionStore::stock_levels`]) |
//! | [`Projector::Popularity`] | `shop.order.v1` (`order.placed.v1`) | orders and units per product, co-purchase counts ([`ProjectionStore::top_products`], [`ProjectionStore::co_purchased`]) |
//! | [`Projector::Carts`] | `shop.cart.v1` | a customer's carts with status, following buyer-identity changes and purchase ([`ProjectionStore::carts_by_owner`]) |
//!
//! Entry point: [`run`] (or [`Projections::run`] to keep a handle for [`Projections::lag`] and
//! [`Projections::rebuild`]). Each projector is one consumer-group member (`<prefix>.<projector>.g<generation>`)
//! that polls a batch, applies it and then commits it (at-least-once: a position is committed only once
//! everything before it was applied). Within a batch, different streams are applied concurrently and each
//! stream in log order (popularity keeps each partition in order); a failing write is retried with backoff
//! until it succeeds or the projector stops, so nothing is skipped.
//!
//! # Exactly-once effect over at-least-once delivery
//!
//! A message can arrive more than once in two ways: *redelivery* of the same log entry (a crash or rebalance
//! after applying but before the group commit) and *republication* (the outbox relay publishes at least once,
//! so a copy of an event can sit at a later offset). Projectors tolerate both:
//!
//! - **Per-stream read models** (order history, stock, carts): each row is a function of one event stream,
//!   whose events stay in order in one partition (key = stream id). The projector keeps the stream's state
//!   with the `seq` of the last event it applied and applies an event only if `seq > state.seq` — redeliveries
//!   and republished copies carry the same seq and are skipped. Every write is versioned by
//!   `(generation, seq)` (Cassandra: `USING TIMESTAMP generation << 40 | seq`, see [`model::Version`]), so
//!   rows are last-write-wins by stream position: a stale writer (a group member that lost its partition in a
//!   rebalance and has not noticed yet) cannot move a row back, and rewriting a row is harmless. Derived rows
//!   (history row, a cart's row in its owner's list, the removal from the previous owner's list) commit
//!   together with the state row (Cassandra: one logged batch), so the state never gets ahead of them.
//! - **Tallies** (popularity, co-purchase) add across streams, so they cannot be versioned by a stream seq.
//!   They are kept per *source partition* (`(product, partition)`; the query sums the partitions), and each
//!   tally row remembers the offset of the last purchase it counted: a row is incremented only when the
//!   delivery's offset is beyond it (and written `USING TIMESTAMP generation << 40 | offset + 1`). Only one
//!   member consumes a partition, and the popularity projector applies it strictly in order, so this is an
//!   exact guard against redelivery, also half-way through an order's rows. Once every row of an order is
//!   counted, a marker row for the order id is written; a republished copy at another offset finds the
//!   marker and is skipped. See [`ProjectionStore::record_purchase`].
//!
//! # Positions
//!
//! The projector records `(topic, partition) → offset` for its generation in the store
//! ([`ProjectionStore::save_position`], monotonic, written `USING TIMESTAMP offset + 1`) after a batch is
//! applied: after the first batch of a partition, then at most every 250 ms or 100 batches (one write per
//! event would double the writes for no gain in safety). On start it loads them and skips deliveries at or before them without
//! touching the read model (the group's committed offsets in Kafka lag behind: they are committed in the
//! background). Positions are a fast path and a progress report; the row guards above are what make the
//! effect exactly-once, so a position behind the rows only costs a few guarded re-reads.
//!
//! # Rebuild
//!
//! [`Projections::rebuild`] stops the projector, moves it to the next generation, wipes its tables and
//! positions (`TRUNCATE`: never deletes, whose wall-clock tombstones would shadow the replay's versioned
//! writes) and starts it again with the consumer group of the new generation — a group with no committed
//! offsets, which the bus starts at the earliest offset (Kafka: `auto.offset.reset=earliest`), so the topics
//! are replayed from the start and produce the same rows.
//!
//! Replicas elsewhere notice the new generation within [`GENERATION_CHECK`] and restart with its group. Until
//! then they may still write, after the wipe; that is harmless: every row carries the generation that wrote
//! it, a projector treats rows of an older generation as absent (and fails on a newer one, which makes a stale
//! replica retry until it restarts), and the new generation's writes outrank the old one's whatever their
//! positions. The replay writes every row the old generation could have written (the same log, the same
//! fold), so the old generation's leftovers are overwritten or deleted.
//!
//! # Lag
//!
//! Every applied delivery records `now - occurred_at_ms` (event appended → rows visible) in an HDR histogram;
//! [`Projections::lag`] returns p50/p99/max and the counters. The bus port does not expose the consumer
//! backlog (high watermarks), so it is not reported; `last_event_at_ms` tells how fresh the model is.
pub mod conformance;
pub mod lag;
pub mod model;
pub mod projector;
pub mod store;

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use futures::StreamExt;
use parking_lot::Mutex;
use shop_bus::{Delivery, EventBus, Subscription};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

pub use lag::LagReport;
pub use model::Projector;
pub use projector::Outcome;
pub use store::{AnyProjectionStore, ProjectionStore, StoreError};

use crate::{lag::Stats, model::Position};

/// How often a running projector checks whether another process rebuilt it.
pub const GENERATION_CHECK: Duration = Duration::from_secs(2);
/// A partition's position is saved when this much time passed since its last save…
const POSITION_SAVE_INTERVAL: Duration = Duration::from_millis(250);
/// …or after this many batches.
const POSITION_SAVE_EVERY: u64 = 100;
/// Deliveries polled at once.
const BATCH: usize = 256;
/// How long a poll waits for the first delivery.
const POLL_WAIT: Duration = Duration::from_millis(250);
/// Streams of one batch applied at once.
const MAX_PARALLEL_STREAMS: usize = 32;

type RebuildReply = oneshot::Sender<Result<u64, StoreError>>;
/// (topic, partition) → how far the projector got.
type Cursor = HashMap<(String, i32), Mark>;

/// A projector's progress in one partition.
struct Mark {
    /// The last offset applied (or recognised as applied).
    done: i64,
    /// When the position was last saved (`None`: never in this run).
    saved_at: Option<Instant>,
    /// Batches applied since.
    unsaved: u64,
}

struct Shared {
    stats: HashMap<Projector, Mutex<Stats>>,
    /// Where lag observations also go (`thriftshop_projection_lag_seconds`), when set.
    metrics: Option<shop_telemetry::Metrics>,
    /// Rebuild requests to running projectors.
    control: Mutex<HashMap<Projector, mpsc::Sender<RebuildReply>>>,
}

/// The projectors over one store: run them, read their lag, rebuild them. Cheap to clone.
#[derive(Clone)]
pub struct Projections<S> {
    store: S,
    shared: Arc<Shared>,
}

/// Runs every projector on `bus` into `store` until `cancel` is cancelled. Consumer groups are named
/// `<group_prefix>.<projector>.g<generation>` (e.g. `projections.order_history.g0`).
pub async fn run<B: EventBus, S: ProjectionStore>(
    bus: B,
    store: S,
    group_prefix: &str,
    cancel: CancellationToken,
) {
    Projections::new(store).run(bus, group_prefix, cancel).await
}

impl<S: ProjectionStore> Projections<S> {
    /// Projections over `store` (nothing runs until [`Projections::run`]).
    pub fn new(store: S) -> Self {
        Self {
            store,
            shared: Arc::new(Shared {
                stats: Projector::ALL
                    .into_iter()
                    .map(|p| (p, Mutex::new(Stats::new())))
                    .collect(),
                control: Mutex::new(HashMap::new()),
                metrics: None,
            }),
        }
    }

    /// Projections over `store` that also report every applied event's lag to `metrics`.
    pub fn with_metrics(store: S, metrics: shop_telemetry::Metrics) -> Self {
        let mut p = Self::new(store);
        if let Some(shared) = Arc::get_mut(&mut p.shared) {
            shared.metrics = Some(metrics);
        }
        p
    }

    /// The store (its queries are the read API).
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Runs every projector until `cancel` is cancelled. Run a handle once at a time (clones share it).
    pub async fn run<B: EventBus>(&self, bus: B, group_prefix: &str, cancel: CancellationToken) {
        self.run_some(bus, group_prefix, &Projector::ALL, cancel)
            .await
    }

    /// Runs the given projectors until `cancel` is cancelled.
    pub async fn run_some<B: EventBus>(
        &self,
        bus: B,
        group_prefix: &str,
        projectors: &[Projector],
        cancel: CancellationToken,
    ) {
        // Joined in place rather than spawned: dropping this future (a task abort) stops every projector
        // at once, like a crash, without leaving detached tasks behind.
        let runs = projectors
            .iter()
            .map(|&p| self.run_projector(bus.clone(), group_prefix.to_string(), p, cancel.clone()));
        futures::future::join_all(runs).await;
    }

    /// The lag and counters of `projector` in this process.
    pub fn lag(&self, projector: Projector) -> LagReport {
        self.stats(projector).lock().report(projector)
    }

    /// Clears the lag histograms and counters (to measure a window).
    pub fn reset_stats(&self) {
        for p in Projector::ALL {
            self.stats(p).lock().reset();
        }
    }

    /// Rebuilds `projector`: stops it (if it runs in this process), wipes its tables and positions, moves it
    /// to a new generation and restarts it with a fresh consumer group that replays the topics from the
    /// earliest offset. Returns the new generation once the wipe is done (the replay then runs in the
    /// background; watch [`Projections::lag`] or the positions).
    pub async fn rebuild(&self, projector: Projector) -> Result<u64, StoreError> {
        let control = self.shared.control.lock().get(&projector).cloned();
        if let Some(tx) = control {
            let (reply, rx) = oneshot::channel();
            if tx.send(reply).await.is_ok()
                && let Ok(result) = rx.await
            {
                return result;
            }
        }
        let generation = self.store.reset(projector).await?;
        self.stats(projector).lock().set_generation(generation);
        Ok(generation)
    }

    /// The positions `projector` recorded for its current generation.
    pub async fn positions(&self, projector: Projector) -> Result<Vec<Position>, StoreError> {
        let generation = self.store.generation(projector).await?;
        self.store.positions(projector, generation).await
    }

    fn stats(&self, p: Projector) -> &Mutex<Stats> {
        &self.shared.stats[&p]
    }

    async fn run_projector<B: EventBus>(
        &self,
        bus: B,
        prefix: String,
        p: Projector,
        cancel: CancellationToken,
    ) {
        let (tx, mut rx) = mpsc::channel::<RebuildReply>(4);
        self.shared.control.lock().insert(p, tx);
        let topics: Vec<String> = p.topics().iter().map(|t| t.to_string()).collect();
        while !cancel.is_cancelled() {
            let Some(generation) = retry(&cancel, || self.store.generation(p)).await else {
                break;
            };
            let Some(positions) = retry(&cancel, || self.store.positions(p, generation)).await
            else {
                break;
            };
            self.stats(p).lock().set_generation(generation);
            let group = format!("{prefix}.{}.g{generation}", p.name());
            tracing::info!(projector = %p, %group, "projector starting");
            let run_token = cancel.child_token();
            let consumer = self.consume(
                bus.clone(),
                group,
                topics.clone(),
                p,
                generation,
                positions,
                run_token.clone(),
            );
            tokio::pin!(consumer);
            let mut stopped = false;
            // The consumer returns only once `cancel` (the parent of `run_token`) is cancelled.
            let request = tokio::select! {
                _ = &mut consumer => {
                    stopped = true;
                    None
                }
                r = rx.recv() => r,
                _ = self.generation_changed(p, generation, &cancel) => None,
            };
            run_token.cancel();
            if !stopped {
                consumer.await;
            }
            if let Some(reply) = request {
                let result = self.store.reset(p).await;
                if let Ok(g) = &result {
                    tracing::info!(projector = %p, generation = g, "projector rebuilt: replaying from the start");
                    self.stats(p).lock().set_generation(*g);
                }
                let _ = reply.send(result);
            }
        }
        self.shared.control.lock().remove(&p);
        // Answer rebuild requests that raced with shutdown by doing the wipe here.
        rx.close();
        while let Some(reply) = rx.recv().await {
            let _ = reply.send(self.store.reset(p).await);
        }
    }

    /// Resolves when the stored generation of `p` is no longer `generation` (another process rebuilt it).
    async fn generation_changed(&self, p: Projector, generation: u64, cancel: &CancellationToken) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(GENERATION_CHECK) => {}
                _ = cancel.cancelled() => return std::future::pending().await,
            }
            match self.store.generation(p).await {
                Ok(g) if g != generation => {
                    tracing::info!(projector = %p, from = generation, to = g, "projector rebuilt elsewhere; restarting");
                    return;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(projector = %p, error = %e, "reading the generation failed")
                }
            }
        }
    }

    /// Consumes as generation `generation` of `p` until `cancel`: poll a batch, apply it, commit it.
    ///
    /// Within a batch, deliveries are grouped by stream (popularity: by partition, since its tally guards
    /// need each partition in order) and the groups are applied concurrently, each in order; the batch is
    /// committed and its positions saved once every group is done. So a stream's events apply one after
    /// the other in log order, and a committed or saved position never covers an unapplied delivery.
    #[allow(clippy::too_many_arguments)]
    async fn consume<B: EventBus>(
        &self,
        bus: B,
        group: String,
        topics: Vec<String>,
        p: Projector,
        generation: u64,
        positions: Vec<Position>,
        cancel: CancellationToken,
    ) {
        let mut marks: Cursor = positions
            .into_iter()
            .map(|pos| {
                let mark = Mark {
                    done: pos.offset,
                    saved_at: Some(Instant::now()),
                    unsaved: 0,
                };
                ((pos.topic, pos.partition), mark)
            })
            .collect();
        let mut tracker = shop_bus::consumer::GroupTracker::new(&bus, &group);
        let Some(mut sub) = retry_bus(&cancel, || bus.subscribe(&group, &topics)).await else {
            return;
        };
        tracker.subscribed();
        let mut backoff = Duration::from_millis(100);
        while !cancel.is_cancelled() {
            tracker.measure_lag(&mut sub).await;
            let polled = tokio::select! {
                polled = sub.poll(BATCH, POLL_WAIT) => polled,
                _ = cancel.cancelled() => break,
            };
            tracker.polled(&polled);
            let batch = match polled {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(projector = %p, %group, error = %e, "poll failed");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = cancel.cancelled() => break,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            backoff = Duration::from_millis(100);
            if batch.is_empty() {
                continue;
            }
            // Group by stream (by partition for popularity), keeping log order within each group.
            let mut groups: Vec<Vec<Delivery>> = Vec::new();
            let mut index: HashMap<(String, i32, String), usize> = HashMap::new();
            let mut last: HashMap<(String, i32), Delivery> = HashMap::new();
            for d in batch {
                let pk = (d.message.topic.clone(), d.partition);
                last.insert(pk.clone(), d.clone());
                if marks.get(&pk).is_some_and(|m| m.done >= d.offset) {
                    self.stats(p).lock().record(Outcome::Duplicate, 0, 0);
                    continue;
                }
                let key = match p {
                    Projector::Popularity => (pk.0, pk.1, String::new()),
                    _ => (pk.0, pk.1, d.message.key.clone()),
                };
                let at = *index.entry(key).or_insert_with(|| {
                    groups.push(Vec::new());
                    groups.len() - 1
                });
                groups[at].push(d);
            }
            let applied = futures::stream::iter(groups)
                .map(|g| self.apply_in_order(p, generation, g, &cancel))
                .buffer_unordered(MAX_PARALLEL_STREAMS)
                .fold(true, |all, ok| async move { all && ok })
                .await;
            if !applied {
                // Shut down mid-retry: the batch stays uncommitted (what was applied is guarded).
                break;
            }
            for (pk, d) in last {
                if let Err(e) = sub.commit(&d).await {
                    tracing::warn!(projector = %p, %group, error = %e, "commit failed");
                }
                let mark = marks.entry(pk.clone()).or_insert(Mark {
                    done: -1,
                    saved_at: None,
                    unsaved: 0,
                });
                mark.done = mark.done.max(d.offset);
                mark.unsaved += 1;
                let due = mark
                    .saved_at
                    .is_none_or(|t| t.elapsed() >= POSITION_SAVE_INTERVAL)
                    || mark.unsaved >= POSITION_SAVE_EVERY;
                if due {
                    let position = Position {
                        topic: pk.0,
                        partition: pk.1,
                        offset: mark.done,
                    };
                    match self.store.save_position(p, generation, &position).await {
                        Ok(()) => {
                            mark.saved_at = Some(Instant::now());
                            mark.unsaved = 0;
                        }
                        Err(e) => {
                            tracing::warn!(projector = %p, error = %e, "saving the position failed")
                        }
                    }
                }
            }
        }
        if let Err(e) = sub.close().await {
            tracing::warn!(projector = %p, %group, error = %e, "leaving the consumer group failed");
        }
    }

    /// Applies one stream's deliveries in order, retrying each until it succeeds; false if cancelled first.
    async fn apply_in_order(
        &self,
        p: Projector,
        generation: u64,
        deliveries: Vec<Delivery>,
        cancel: &CancellationToken,
    ) -> bool {
        for d in deliveries {
            if cancel.is_cancelled() {
                // Stop promptly (a rebuild or shutdown waits for this); the rest stays uncommitted.
                return false;
            }
            let mut wait = Duration::from_millis(20);
            loop {
                match projector::apply(&self.store, p, generation, &d).await {
                    Ok(outcome) => {
                        let now = shop_kernel::now_ms();
                        self.stats(p)
                            .lock()
                            .record(outcome, d.message.occurred_at_ms, now);
                        if let (Outcome::Applied, Some(m)) = (outcome, &self.shared.metrics) {
                            let lag = (now - d.message.occurred_at_ms).max(0) as u64;
                            m.projection_lag(p.name(), Duration::from_millis(lag));
                        }
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(projector = %p, partition = d.partition, offset = d.offset,
                            error = %e, "applying failed; retrying");
                        tokio::select! {
                            _ = tokio::time::sleep(wait) => {}
                            _ = cancel.cancelled() => return false,
                        }
                        wait = (wait * 2).min(Duration::from_secs(5));
                    }
                }
            }
        }
        true
    }
}

/// Retries a bus call with backoff until it succeeds; `None` when cancelled first.
async fn retry_bus<T, F, Fut>(cancel: &CancellationToken, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, shop_bus::BusError>>,
{
    let mut wait = Duration::from_millis(200);
    loop {
        match f().await {
            Ok(v) => return Some(v),
            Err(e) => {
                tracing::warn!(error = %e, "bus unavailable; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = cancel.cancelled() => return None,
                }
                wait = (wait * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Retries `f` with backoff until it succeeds; `None` when cancelled first.
async fn retry<T, F, Fut>(cancel: &CancellationToken, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let mut wait = Duration::from_millis(100);
    loop {
        match f().await {
            Ok(v) => return Some(v),
            Err(e) => {
                tracing::warn!(error = %e, "projection store unavailable; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = cancel.cancelled() => return None,
                }
                wait = (wait * 2).min(Duration::from_secs(5));
            }
        }
    }
}
