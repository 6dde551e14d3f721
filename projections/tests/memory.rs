//! The projection store conformance suite and the whole projector flow on the in-memory adapters.
mod common;

use std::time::Duration;

use shop_bus::memory::MemoryBus;
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
