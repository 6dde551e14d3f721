//! Storage platform for the services: SQLite access ([`sqlite::Db`]: WAL, migrations, blocking work off the
//! runtime), and the event store port ([`EventStore`]) with SQLite, Cassandra ([`cassandra`]) and in-memory
//! adapters that pass one conformance suite ([`conformance`]).
//!
//! The event store doubles as the outbox: what is appended is [`EventStore::unpublished`] until the relay (in
//! `shop-bus`) has published it and called [`EventStore::mark_published`].

pub mod any;
pub mod cassandra;
pub mod conformance;
pub mod memory;
pub mod sqlite;
pub mod timed;

use std::future::Future;

use bytes::Bytes;

/// Errors from a store adapter.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The stream's version was not the expected one (optimistic concurrency).
    #[error("version conflict on stream {stream}: expected {expected:?}, found {actual}")]
    Conflict {
        stream: String,
        expected: ExpectedVersion,
        actual: u64,
    },
    /// The engine failed (I/O, corruption, driver error). Never shown to clients.
    #[error("storage failure: {0}")]
    Backend(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Backend(e.to_string())
    }
}

impl From<StoreError> for shop_kernel::Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { .. } => {
                shop_kernel::Error::conflict("VERSION_CONFLICT", "concurrent modification")
            }
            StoreError::Backend(detail) => {
                tracing::error!(%detail, "store failure");
                shop_kernel::Error::unavailable("STORE_UNAVAILABLE", "storage is unavailable")
            }
        }
    }
}

/// The version a stream must have for an append to succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// Append whatever the version (for state-stored services that only use the outbox).
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream's last event must have this sequence number (1-based).
    Exact(u64),
}

/// An event to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub event_id: String,
    /// e.g. `order.placed.v1`.
    pub event_type: String,
    /// Bus topic, e.g. `shop.order.v1`.
    pub topic: String,
    pub occurred_at_ms: i64,
    pub traceparent: Option<String>,
    pub payload: Bytes,
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    /// Global, strictly increasing position within stores that keep a global order ([`EventLog`]); stores
    /// without one (Cassandra) report the sequence number here.
    pub position: i64,
    pub stream_id: String,
    /// 1-based sequence within the stream.
    pub seq: u64,
    pub event: NewEvent,
}

/// Append-only event streams with optimistic concurrency, tags for lookups, and a global order for the relay.
pub trait EventStore: Send + Sync + 'static {
    /// Appends `events` to `stream` if its version matches; returns the new version. Tags (e.g. `owner:<id>`)
    /// are attached to the stream for [`EventStore::streams_by_tag`]. All or nothing.
    fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        tags: Vec<String>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// All events of a stream in order (empty if the stream does not exist).
    fn load(
        &self,
        stream: &str,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>, StoreError>> + Send;

    /// Streams carrying `tag`, newest tagging first.
    fn streams_by_tag(
        &self,
        tag: &str,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    /// Events appended but not yet marked published (the outbox), in sequence order within each stream,
    /// at most `limit`. Read by the relay; an event stays here until [`EventStore::mark_published`].
    fn unpublished(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>, StoreError>> + Send;

    /// Records that `events` (taken from [`EventStore::unpublished`], in its order) reached the bus.
    fn mark_published(
        &self,
        events: &[RecordedEvent],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Next value of a named, durable, gap-tolerant counter (starts at 1).
    fn next_sequence(&self, name: &str) -> impl Future<Output = Result<i64, StoreError>> + Send;

    /// A notifier that fires after every successful append (wakes the relay).
    fn appended(&self) -> std::sync::Arc<tokio::sync::Notify>;
}

/// A store that keeps one global order over all its events (SQLite, memory) and can replay it, e.g. to rebuild
/// an index at start-up. Cluster stores (Cassandra) have no global order: an adapter chosen at run time
/// ([`any::AnyEventStore`]) says so with [`EventLog::has_global_log`], and callers then scan by tag instead.
pub trait EventLog: EventStore {
    /// Events with position > `after`, in position order, at most `limit`.
    fn read_all(
        &self,
        after: i64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>, StoreError>> + Send;

    /// Whether [`EventLog::read_all`] works on this store.
    fn has_global_log(&self) -> bool {
        true
    }
}

/// Checks `expected` against the stream's current version.
pub(crate) fn check_version(
    stream: &str,
    expected: ExpectedVersion,
    actual: u64,
) -> Result<(), StoreError> {
    let ok = match expected {
        ExpectedVersion::Any => true,
        ExpectedVersion::NoStream => actual == 0,
        ExpectedVersion::Exact(v) => actual == v,
    };
    if ok {
        Ok(())
    } else {
        Err(StoreError::Conflict {
            stream: stream.to_string(),
            expected,
            actual,
        })
    }
}
