//! [`TimedSessionStore`]: the session store with every operation timed into
//! `thriftshop_store_operation_duration_seconds` (`operation` = the port's method name).
use shop_store::{
    NewEvent, StoreError,
    timed::{StoreTimer, TimedEventStore},
};

use super::{Revocation, SessionStore};
use crate::domain::Session;

/// A [`SessionStore`] decorator reporting each operation's latency to a [`StoreTimer`]; its outbox store is
/// timed too (as [`TimedEventStore`]).
#[derive(Debug, Clone)]
pub struct TimedSessionStore<S> {
    inner: S,
    timer: StoreTimer,
}

impl<S> TimedSessionStore<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, timer: StoreTimer) -> Self {
        Self { inner, timer }
    }
}

impl<S: SessionStore> SessionStore for TimedSessionStore<S> {
    type Events = TimedEventStore<S::Events>;

    fn events(&self) -> Self::Events {
        self.timer.event_store(self.inner.events())
    }

    async fn insert(&self, session: Session, events: Vec<NewEvent>) -> Result<(), StoreError> {
        self.timer
            .time("insert", self.inner.insert(session, events))
            .await
    }

    async fn find_by_token_hash(&self, token_hash: &str) -> Result<Option<Session>, StoreError> {
        let f = self.inner.find_by_token_hash(token_hash);
        self.timer.time("find_by_token_hash", f).await
    }

    async fn active_for_customer(
        &self,
        customer_id: &str,
        now_ms: i64,
    ) -> Result<Vec<Session>, StoreError> {
        let f = self.inner.active_for_customer(customer_id, now_ms);
        self.timer.time("active_for_customer", f).await
    }

    async fn revoke(
        &self,
        revocations: Vec<Revocation>,
        revoked_at_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        let f = self.inner.revoke(revocations, revoked_at_ms);
        self.timer.time("revoke", f).await
    }

    async fn extend(&self, session: &Session, expires_at_ms: i64) -> Result<bool, StoreError> {
        let f = self.inner.extend(session, expires_at_ms);
        self.timer.time("extend", f).await
    }

    async fn replace(
        &self,
        old: Revocation,
        revoked_at_ms: i64,
        new: Session,
        new_events: Vec<NewEvent>,
    ) -> Result<bool, StoreError> {
        let f = self.inner.replace(old, revoked_at_ms, new, new_events);
        self.timer.time("replace", f).await
    }
}
