//! Storage of the cart service: the generic [`shop_store::EventStore`] (the service is event-sourced and
//! keeps no state tables). [`AnyEventStore`] selects the adapter chosen by configuration.

pub mod memory;
pub mod sqlite;

use shop_rpc::Storage;
use shop_store::{
    EventStore, ExpectedVersion, NewEvent, RecordedEvent, StoreError, memory::MemoryEventStore,
    sqlite::SqliteEventStore,
};

/// The event store adapter chosen by configuration.
#[derive(Clone)]
pub enum AnyEventStore {
    /// SQLite file (`<dir>/<name>.db`).
    Sqlite(SqliteEventStore),
    /// In memory (tests).
    Memory(MemoryEventStore),
}

/// Opens the store for `storage`; `name` is the database file stem.
pub fn open(storage: &Storage, name: &str) -> Result<AnyEventStore, StoreError> {
    match storage {
        Storage::Sqlite(dir) => Ok(AnyEventStore::Sqlite(sqlite::open(
            &dir.join(format!("{name}.db")),
        )?)),
        Storage::Memory => Ok(AnyEventStore::Memory(memory::open())),
    }
}

macro_rules! delegate {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            AnyEventStore::Sqlite($s) => $e,
            AnyEventStore::Memory($s) => $e,
        }
    };
}

impl EventStore for AnyEventStore {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        tags: Vec<String>,
    ) -> Result<u64, StoreError> {
        delegate!(self, s => s.append(stream, expected, events, tags).await)
    }
    async fn load(&self, stream: &str) -> Result<Vec<RecordedEvent>, StoreError> {
        delegate!(self, s => s.load(stream).await)
    }
    async fn streams_by_tag(&self, tag: &str) -> Result<Vec<String>, StoreError> {
        delegate!(self, s => s.streams_by_tag(tag).await)
    }
    async fn read_all(&self, after: i64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        delegate!(self, s => s.read_all(after, limit).await)
    }
    async fn save_checkpoint(&self, name: &str, position: i64) -> Result<(), StoreError> {
        delegate!(self, s => s.save_checkpoint(name, position).await)
    }
    async fn checkpoint(&self, name: &str) -> Result<i64, StoreError> {
        delegate!(self, s => s.checkpoint(name).await)
    }
    async fn next_sequence(&self, name: &str) -> Result<i64, StoreError> {
        delegate!(self, s => s.next_sequence(name).await)
    }
    fn appended(&self) -> std::sync::Arc<tokio::sync::Notify> {
        delegate!(self, s => s.appended())
    }
}
