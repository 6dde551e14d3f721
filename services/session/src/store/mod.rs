//! The session store port and its adapters (SQLite, Cassandra, memory). Every state change commits together
//! with its outbox events (stream = session id).
use std::future::Future;

use shop_store::{EventStore, NewEvent, StoreError};

use crate::domain::Session;

pub mod cassandra;
pub mod memory;
pub mod sqlite;
pub mod timed;

pub use cassandra::CassandraSessionStore;
pub use memory::MemorySessionStore;
pub use sqlite::SqliteSessionStore;

/// One session to revoke, with the event to record if it is revoked now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub session_id: String,
    pub event: NewEvent,
}

/// Persistence of sessions, looked up by token hash.
pub trait SessionStore: Send + Sync + 'static {
    /// The event store holding this store's outbox (what the relay reads).
    type Events: EventStore + Clone;

    /// The outbox event store.
    fn events(&self) -> Self::Events;

    /// Stores a new session and appends `events`, atomically. A duplicate session id or token hash fails with
    /// [`StoreError::Conflict`] and writes nothing.
    fn insert(
        &self,
        session: Session,
        events: Vec<NewEvent>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The session whose token hashes to `token_hash`, whatever its status.
    fn find_by_token_hash(
        &self,
        token_hash: &str,
    ) -> impl Future<Output = Result<Option<Session>, StoreError>> + Send;

    /// Sessions of `customer_id` neither revoked nor expired at `now_ms`, oldest first.
    fn active_for_customer(
        &self,
        customer_id: &str,
        now_ms: i64,
    ) -> impl Future<Output = Result<Vec<Session>, StoreError>> + Send;

    /// Marks the listed sessions revoked at `revoked_at_ms`, in one transaction. Sessions already revoked (or
    /// unknown) are skipped and their event is not recorded. Returns the ids actually revoked.
    fn revoke(
        &self,
        revocations: Vec<Revocation>,
        revoked_at_ms: i64,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    /// Moves the expiry of a session that is not revoked to `expires_at_ms` if that is later than its current
    /// one (sliding expiry of guest sessions; no event: an extension is not a change of who holds what).
    /// Returns whether it moved.
    fn extend(
        &self,
        session: &Session,
        expires_at_ms: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Revokes `old` (recording its event) and inserts `new` (appending `new_events`), atomically — only if the
    /// old session is not revoked yet. Returns false (nothing written) if it was.
    fn replace(
        &self,
        old: Revocation,
        revoked_at_ms: i64,
        new: Session,
        new_events: Vec<NewEvent>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// The conflict error for a duplicate session.
pub(crate) fn duplicate(session_id: &str) -> StoreError {
    StoreError::Conflict {
        stream: session_id.to_string(),
        expected: shop_store::ExpectedVersion::NoStream,
        actual: 1,
    }
}
