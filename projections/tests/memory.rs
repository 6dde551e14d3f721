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
