//! The customer store port and its adapters (SQLite, memory, Cassandra). Every state change commits together
//! with its outbox events (stream = customer id).
use std::future::Future;

use shop_store::{EventStore, NewEvent, StoreError};

use crate::domain::{Customer, ResetToken};

pub mod cassandra;
pub mod memory;
pub mod sqlite;
pub mod timed;

pub use cassandra::CassandraCustomerStore;
pub use memory::MemoryCustomerStore;
pub use sqlite::SqliteCustomerStore;

/// Outcome of creating a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateOutcome {
    /// Stored, with its events.
    Created,
    /// Another customer has this email; nothing was written.
    EmailTaken,
}

/// What authentication needs for an email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub customer_id: String,
    /// PHC string (argon2id).
    pub password_hash: String,
}

/// Persistence of customers, their addresses and their credentials.
pub trait CustomerStore: Send + Sync + 'static {
    /// The event store holding this store's outbox (what the relay reads).
    type Events: EventStore + Clone;

    /// The outbox event store.
    fn events(&self) -> Self::Events;

    /// Stores a new customer (whose `email` must be unique) and appends `events`, atomically.
    fn create(
        &self,
        customer: Customer,
        password_hash: String,
        events: Vec<NewEvent>,
    ) -> impl Future<Output = Result<CreateOutcome, StoreError>> + Send;

    /// Credentials of the customer with this (normalised) email.
    fn credentials(
        &self,
        email: &str,
    ) -> impl Future<Output = Result<Option<Credentials>, StoreError>> + Send;

    /// One customer by id.
    fn get(&self, id: &str) -> impl Future<Output = Result<Option<Customer>, StoreError>> + Send;

    /// Customers by id, in the order asked, unknown ids omitted.
    fn get_many(
        &self,
        ids: &[String],
    ) -> impl Future<Output = Result<Vec<Customer>, StoreError>> + Send;

    /// Replaces a customer (profile and addresses) if its stored version is still `expected_version`, and appends
    /// `events`, atomically. A different version fails with [`StoreError::Conflict`] and writes nothing.
    fn update(
        &self,
        customer: Customer,
        expected_version: u64,
        events: Vec<NewEvent>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Like [`CustomerStore::update`], and also replaces the customer's password hash (PHC string), atomically
    /// with the record and `events`.
    fn update_password(
        &self,
        customer: Customer,
        expected_version: u64,
        password_hash: String,
        events: Vec<NewEvent>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Makes `token` the customer's current reset token (replacing any earlier one, so older links stop
    /// working) and appends `events` (the reset mail, on the stream [`crate::events::reset_stream`]); on SQLite
    /// and in memory atomically, on Cassandra the token is stored first (a mail is never sent for a token that
    /// was not stored).
    fn issue_reset(
        &self,
        customer_id: &str,
        token: ResetToken,
        events: Vec<NewEvent>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The customer's current reset token, if one was ever issued.
    fn reset_token(
        &self,
        customer_id: &str,
    ) -> impl Future<Output = Result<Option<ResetToken>, StoreError>> + Send;

    /// Marks the current reset token used if it is still the one hashed `token_hash` and unused. Of concurrent
    /// calls for one token exactly one gets `Ok(true)` (Cassandra: a lightweight transaction).
    fn consume_reset(
        &self,
        customer_id: &str,
        token_hash: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Staff permissions from their stored CSV of names ([`shop_kernel::Permissions::to_csv`]). Names this build
/// does not know are dropped (permissions are never widened).
pub(crate) fn permissions_from_csv(csv: &str) -> shop_kernel::Permissions {
    csv.split(',')
        .filter_map(|n| shop_kernel::Permission::parse(n.trim()))
        .collect()
}

/// The conflict error for a stale `expected_version`.
pub(crate) fn version_conflict(id: &str, expected: u64, actual: u64) -> StoreError {
    StoreError::Conflict {
        stream: id.to_string(),
        expected: shop_store::ExpectedVersion::Exact(expected),
        actual,
    }
}
