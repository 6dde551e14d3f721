//! [`AnyEventStore`]: the event store adapter chosen by configuration, for services that are purely
//! event-sourced (cart, inventory, order).
use std::{path::Path, sync::Arc};

use tokio::sync::Notify;

use crate::{
    EventLog, EventStore, ExpectedVersion, NewEvent, RecordedEvent, StoreError,
    cassandra::{CassandraEventStore, CassandraSettings},
    memory::MemoryEventStore,
    sqlite::{Db, EVENT_STORE_MIGRATIONS, SqliteEventStore},
};

/// The event store adapter chosen by configuration.
#[derive(Clone)]
pub enum AnyEventStore {
    /// A SQLite file.
    Sqlite(SqliteEventStore),
    /// In memory (tests).
    Memory(MemoryEventStore),
    /// A Cassandra/ScyllaDB keyspace (no global log: see [`EventLog::has_global_log`]).
    Cassandra(CassandraEventStore),
}

impl AnyEventStore {
    /// Opens (creating if needed) a SQLite event store at `path`.
    pub fn sqlite(path: &Path) -> Result<Self, StoreError> {
        Ok(Self::Sqlite(SqliteEventStore::new(Db::open(
            path,
            &[EVENT_STORE_MIGRATIONS],
        )?)))
    }

    /// A fresh, empty in-memory event store.
    pub fn memory() -> Self {
        Self::Memory(MemoryEventStore::new())
    }

    /// Connects to (creating and migrating) the Cassandra keyspace of `settings`.
    pub async fn cassandra(settings: CassandraSettings) -> Result<Self, StoreError> {
        Ok(Self::Cassandra(
            CassandraEventStore::connect(settings).await?,
        ))
    }
}

macro_rules! delegate {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            AnyEventStore::Sqlite($s) => $e,
            AnyEventStore::Memory($s) => $e,
            AnyEventStore::Cassandra($s) => $e,
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

    async fn unpublished(&self, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        delegate!(self, s => s.unpublished(limit).await)
    }

    async fn mark_published(&self, events: &[RecordedEvent]) -> Result<(), StoreError> {
        delegate!(self, s => s.mark_published(events).await)
    }

    async fn next_sequence(&self, name: &str) -> Result<i64, StoreError> {
        delegate!(self, s => s.next_sequence(name).await)
    }

    fn appended(&self) -> Arc<Notify> {
        delegate!(self, s => s.appended())
    }
}

impl EventLog for AnyEventStore {
    async fn read_all(&self, after: i64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        match self {
            AnyEventStore::Sqlite(s) => s.read_all(after, limit).await,
            AnyEventStore::Memory(s) => s.read_all(after, limit).await,
            AnyEventStore::Cassandra(_) => Err(StoreError::Backend(
                "a Cassandra event store has no global log".into(),
            )),
        }
    }

    fn has_global_log(&self) -> bool {
        !matches!(self, AnyEventStore::Cassandra(_))
    }
}
