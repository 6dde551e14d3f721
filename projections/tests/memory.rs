//! The projection store conformance suite on the memory adapter, and the whole projector flow on the
//! in-memory bus and on the embedded (SQLite) log of the all-in-one shop.
mod common;

use std::time::Duration;

use shop_bus::{embedded::EmbeddedBus, memory::MemoryBus};
use shop_projections::{conformance, store::memory::MemoryProjectionStore};

#[tokio::test]
async fn memory_store_conforms() {
    conformance::run_all(MemoryProjectionStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_projectors_are_exact_restartable_and_rebuildable() {
    common::full_flow(
        MemoryBus::new(),
        MemoryProjectionStore::new(),
        "m",
        40,
        common::Copies::FreshEventId,
        Duration::from_secs(20),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_log_projectors_are_exact_restartable_and_rebuildable() {
    let dir = tempfile::tempdir().unwrap();
    let bus = EmbeddedBus::open(&dir.path().join("log.db")).unwrap();
    common::full_flow(
        bus,
        MemoryProjectionStore::new(),
        "e",
        40,
        common::Copies::FreshEventId,
        Duration::from_secs(30),
    )
    .await;
}

/// The all-in-one shop keeps its log (embedded bus) across restarts but not a memory projection store: a new,
/// empty store must rebuild the read models from the start of the log, not resume at the committed offsets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_memory_store_replays_a_durable_log_from_the_start() {
    use shop_bus::EventBus;
    use shop_projections::Projections;
    use tokio_util::sync::CancellationToken;

    let dir = tempfile::tempdir().unwrap();
    let bus = EmbeddedBus::open(&dir.path().join("log.db")).unwrap();
    let scenario = common::generate("r", 12);
    let messages: Vec<_> = scenario.items.iter().map(|(m, _)| m.clone()).collect();
    bus.publish(messages.clone()).await.unwrap();
    let want = common::expected(&scenario, &messages);
    for _run in 0..2 {
        let store = MemoryProjectionStore::new();
        let cancel = CancellationToken::new();
        let run = tokio::spawn({
            let (p, bus, cancel) = (Projections::new(store.clone()), bus.clone(), cancel.clone());
            async move { p.run(bus, "shop", cancel).await }
        });
        common::wait_for(&store, &scenario, &want, Duration::from_secs(20)).await;
        cancel.cancel();
        run.await.unwrap();
        // The next store's generation (clock-based) must differ from this one's.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A store that fails some calls — some before doing anything, some after their write landed (a timeout
/// whose outcome is unknown) — to show retries and redeliveries still count everything exactly once.
#[derive(Clone)]
struct Flaky {
    inner: MemoryProjectionStore,
    calls: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Flaky {
    /// `Some(true)`: fail after the write; `Some(false)`: fail before it.
    fn fault(&self) -> Option<bool> {
        let n = self
            .calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match n % 13 {
            5 => Some(true),
            11 => Some(false),
            _ => None,
        }
    }
}

fn injected() -> shop_projections::StoreError {
    shop_projections::StoreError::Backend("injected fault".into())
}

macro_rules! flaky_write {
    ($self:ident, $call:expr) => {{
        match $self.fault() {
            Some(false) => Err(injected()),
            Some(true) => {
                let _ = $call.await;
                Err(injected())
            }
            None => $call.await,
        }
    }};
}

mod flaky_impl {
    use shop_projections::{
        ProjectionStore, Projector, StoreError,
        model::{
            CartState, CartSummary, CoPurchase, OrderState, OrderSummary, Position,
            ProductPopularity, Purchase, Source, StockLevel,
        },
    };

    use super::{Flaky, injected};

    impl ProjectionStore for Flaky {
        async fn generation(&self, p: Projector) -> Result<u64, StoreError> {
            self.inner.generation(p).await
        }
        async fn reset(&self, p: Projector) -> Result<u64, StoreError> {
            self.inner.reset(p).await
        }
        async fn positions(&self, p: Projector, g: u64) -> Result<Vec<Position>, StoreError> {
            self.inner.positions(p, g).await
        }
        async fn save_position(
            &self,
            p: Projector,
            g: u64,
            pos: &Position,
        ) -> Result<(), StoreError> {
            flaky_write!(self, self.inner.save_position(p, g, pos))
        }
        async fn order_state(&self, id: &str) -> Result<Option<OrderState>, StoreError> {
            match self.fault() {
                Some(_) => Err(injected()),
                None => self.inner.order_state(id).await,
            }
        }
        async fn save_order(&self, s: &OrderState) -> Result<(), StoreError> {
            flaky_write!(self, self.inner.save_order(s))
        }
        async fn order_history(
            &self,
            c: &str,
            limit: usize,
        ) -> Result<Vec<OrderSummary>, StoreError> {
            self.inner.order_history(c, limit).await
        }
        async fn stock(&self, v: &str) -> Result<Option<StockLevel>, StoreError> {
            self.inner.stock(v).await
        }
        async fn save_stock(&self, l: &StockLevel) -> Result<(), StoreError> {
            flaky_write!(self, self.inner.save_stock(l))
        }
        async fn stock_levels(&self, v: &[String]) -> Result<Vec<StockLevel>, StoreError> {
            self.inner.stock_levels(v).await
        }
        async fn cart_state(&self, id: &str) -> Result<Option<CartState>, StoreError> {
            self.inner.cart_state(id).await
        }
        async fn save_cart(&self, s: &CartState, prev: Option<&str>) -> Result<(), StoreError> {
            flaky_write!(self, self.inner.save_cart(s, prev))
        }
        async fn carts_by_owner(&self, c: &str) -> Result<Vec<CartSummary>, StoreError> {
            self.inner.carts_by_owner(c).await
        }
        async fn record_purchase(&self, at: Source, p: &Purchase) -> Result<bool, StoreError> {
            flaky_write!(self, self.inner.record_purchase(at, p))
        }
        async fn popularity(&self, p: &str) -> Result<ProductPopularity, StoreError> {
            self.inner.popularity(p).await
        }
        async fn top_products(&self, n: usize) -> Result<Vec<ProductPopularity>, StoreError> {
            self.inner.top_products(n).await
        }
        async fn co_purchased(&self, p: &str, n: usize) -> Result<Vec<CoPurchase>, StoreError> {
            self.inner.co_purchased(p, n).await
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_writes_are_retried_and_counted_once() {
    use shop_bus::EventBus;
    use shop_projections::Projections;
    use tokio_util::sync::CancellationToken;

    let bus = MemoryBus::new();
    let inner = MemoryProjectionStore::new();
    let store = Flaky {
        inner: inner.clone(),
        calls: Default::default(),
    };
    let scenario = common::generate("f", 30);
    let messages: Vec<_> = scenario.items.iter().map(|(m, _)| m.clone()).collect();
    bus.publish(messages.clone()).await.unwrap();
    let want = common::expected(&scenario, &messages);
    let projections = Projections::new(store.clone());
    let cancel = CancellationToken::new();
    let run = tokio::spawn({
        let (p, bus, cancel) = (projections.clone(), bus.clone(), cancel.clone());
        async move { p.run(bus, "shop", cancel).await }
    });
    common::wait_for(&inner, &scenario, &want, Duration::from_secs(60)).await;
    let retried: u64 = shop_projections::Projector::ALL
        .iter()
        .map(|p| projections.lag(*p).duplicates)
        .sum();
    assert!(
        retried > 0,
        "some writes landed before their error: the retries must have found them applied"
    );
    cancel.cancel();
    run.await.unwrap();
}

/// Two replicas of every projector consume the same log at once (the in-memory bus gives every member every
/// message: the worst case of a rebalance, where a member that lost its partition keeps writing), and one of
/// them rebuilds every projector while the other keeps running. The rows stay exact, the other replica
/// follows the new generation, and later events are projected once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_replicas_and_an_online_rebuild_stay_exact() {
    use shop_bus::EventBus;
    use shop_projections::{Projections, Projector};
    use tokio_util::sync::CancellationToken;

    let bus = MemoryBus::new();
    let store = MemoryProjectionStore::new();
    let scenario = common::generate("z", 30);
    let messages: Vec<_> = scenario.items.iter().map(|(m, _)| m.clone()).collect();
    let cancel = CancellationToken::new();
    let a = Projections::new(store.clone());
    let b = Projections::new(store.clone());
    let runs: Vec<_> = [a.clone(), b.clone()]
        .into_iter()
        .map(|p| {
            let (bus, cancel) = (bus.clone(), cancel.clone());
            tokio::spawn(async move { p.run(bus, "shop", cancel).await })
        })
        .collect();
    for chunk in messages.chunks(16) {
        bus.publish(chunk.to_vec()).await.unwrap();
        tokio::task::yield_now().await;
    }
    let want = common::expected(&scenario, &messages);
    common::wait_for(&store, &scenario, &want, Duration::from_secs(20)).await;
    assert!(
        Projector::ALL
            .iter()
            .map(|p| a.lag(*p).duplicates + b.lag(*p).duplicates)
            .sum::<u64>()
            > 0,
        "the replicas saw each other's work"
    );

    let before = common::snapshot(&store, &scenario).await;
    for p in Projector::ALL {
        a.rebuild(p).await.unwrap();
    }
    common::wait_for(&store, &scenario, &want, Duration::from_secs(20)).await;
    assert_eq!(common::snapshot(&store, &scenario).await, before);
    // B notices the new generation (it checks every 2 s) and restarts with it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while Projector::ALL
        .iter()
        .any(|p| b.lag(*p).generation != a.lag(*p).generation)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "replica b did not follow the rebuild"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let more = common::generate("z2", 10);
    let more_messages: Vec<_> = more.items.iter().map(|(m, _)| m.clone()).collect();
    bus.publish(more_messages.clone()).await.unwrap();
    let want_more = common::expected(&more, &more_messages);
    common::wait_for(&store, &more, &want_more, Duration::from_secs(20)).await;
    assert_eq!(common::snapshot(&store, &scenario).await, before);
    cancel.cancel();
    for r in runs {
        r.await.unwrap();
    }
}
