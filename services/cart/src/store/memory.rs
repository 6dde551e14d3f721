//! The in-memory adapter (tests).
use shop_store::memory::MemoryEventStore;

/// A fresh, empty in-memory event store.
pub fn open() -> MemoryEventStore {
    MemoryEventStore::new()
}
