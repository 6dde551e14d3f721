//! [`TimedCustomerStore`]: the customer store with every operation timed into
//! `thriftshop_store_operation_duration_seconds` (`operation` = the port's method name).
use shop_store::{
    NewEvent, StoreError,
    timed::{StoreTimer, TimedEventStore},
};

use super::{CreateOutcome, Credentials, CustomerStore};
use crate::domain::{Customer, ResetToken};

/// A [`CustomerStore`] decorator reporting each operation's latency to a [`StoreTimer`]; its outbox store is
/// timed too (as [`TimedEventStore`]).
#[derive(Debug, Clone)]
pub struct TimedCustomerStore<S> {
    inner: S,
    timer: StoreTimer,
}

impl<S> TimedCustomerStore<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, timer: StoreTimer) -> Self {
        Self { inner, timer }
    }
}

impl<S: CustomerStore> CustomerStore for TimedCustomerStore<S> {
    type Events = TimedEventStore<S::Events>;

    fn events(&self) -> Self::Events {
        self.timer.event_store(self.inner.events())
    }

    async fn create(
        &self,
        customer: Customer,
        password_hash: String,
        events: Vec<NewEvent>,
    ) -> Result<CreateOutcome, StoreError> {
        let f = self.inner.create(customer, password_hash, events);
        self.timer.time("create", f).await
    }

    async fn credentials(&self, email: &str) -> Result<Option<Credentials>, StoreError> {
        self.timer
            .time("credentials", self.inner.credentials(email))
            .await
    }

    async fn get(&self, id: &str) -> Result<Option<Customer>, StoreError> {
        self.timer.time("get", self.inner.get(id)).await
    }

    async fn get_many(&self, ids: &[String]) -> Result<Vec<Customer>, StoreError> {
        self.timer.time("get_many", self.inner.get_many(ids)).await
    }

    async fn update(
        &self,
        customer: Customer,
        expected_version: u64,
        events: Vec<NewEvent>,
    ) -> Result<(), StoreError> {
        let f = self.inner.update(customer, expected_version, events);
        self.timer.time("update", f).await
    }

    async fn update_password(
        &self,
        customer: Customer,
        expected_version: u64,
        password_hash: String,
        events: Vec<NewEvent>,
    ) -> Result<(), StoreError> {
        let f = self
            .inner
            .update_password(customer, expected_version, password_hash, events);
        self.timer.time("update_password", f).await
    }

    async fn issue_reset(
        &self,
        customer_id: &str,
        token: ResetToken,
        events: Vec<NewEvent>,
    ) -> Result<(), StoreError> {
        let f = self.inner.issue_reset(customer_id, token, events);
        self.timer.time("issue_reset", f).await
    }

    async fn reset_token(&self, customer_id: &str) -> Result<Option<ResetToken>, StoreError> {
        self.timer
            .time("reset_token", self.inner.reset_token(customer_id))
            .await
    }

    async fn consume_reset(&self, customer_id: &str, token_hash: &str) -> Result<bool, StoreError> {
        let f = self.inner.consume_reset(customer_id, token_hash);
        self.timer.time("consume_reset", f).await
    }
}
