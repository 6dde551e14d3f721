//! In-memory session store (tests and the memory runtime mode).
use std::{collections::HashMap, sync::Arc};

use shop_store::{EventStore, ExpectedVersion, NewEvent, StoreError, memory::MemoryEventStore};
use tokio::sync::Mutex;

use super::{Revocation, SessionStore, duplicate};
use crate::domain::Session;

#[derive(Default)]
struct Inner {
    sessions: HashMap<String, Session>,
    by_hash: HashMap<String, String>,
}

impl Inner {
    fn check_new(&self, s: &Session) -> Result<(), StoreError> {
        if self.sessions.contains_key(&s.session_id) || self.by_hash.contains_key(&s.token_hash) {
            return Err(duplicate(&s.session_id));
        }
        Ok(())
    }

    fn put(&mut self, s: Session) {
        self.by_hash
            .insert(s.token_hash.clone(), s.session_id.clone());
        self.sessions.insert(s.session_id.clone(), s);
    }
}

/// A [`SessionStore`] held in memory, with a [`MemoryEventStore`] outbox.
#[derive(Clone, Default)]
pub struct MemorySessionStore {
    inner: Arc<Mutex<Inner>>,
    events: MemoryEventStore,
}

impl MemorySessionStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl SessionStore for MemorySessionStore {
    type Events = MemoryEventStore;

    fn events(&self) -> MemoryEventStore {
        self.events.clone()
    }

    async fn insert(&self, session: Session, events: Vec<NewEvent>) -> Result<(), StoreError> {
        // The lock is held across the append so state and events change together.
        let mut g = self.inner.lock().await;
        g.check_new(&session)?;
        self.events
            .append(
                &session.session_id,
                ExpectedVersion::Any,
                events,
                Vec::new(),
            )
            .await?;
        g.put(session);
        Ok(())
    }

    async fn find_by_token_hash(&self, token_hash: &str) -> Result<Option<Session>, StoreError> {
        let g = self.inner.lock().await;
        Ok(g.by_hash
            .get(token_hash)
            .and_then(|id| g.sessions.get(id))
            .cloned())
    }

    async fn active_for_customer(
        &self,
        customer_id: &str,
        now_ms: i64,
    ) -> Result<Vec<Session>, StoreError> {
        let g = self.inner.lock().await;
        let mut out: Vec<Session> = g
            .sessions
            .values()
            .filter(|s| s.customer_id.as_deref() == Some(customer_id) && s.is_active(now_ms))
            .cloned()
            .collect();
        out.sort_by(|a, b| (a.created_at_ms, &a.session_id).cmp(&(b.created_at_ms, &b.session_id)));
        Ok(out)
    }

    async fn revoke(
        &self,
        revocations: Vec<Revocation>,
        revoked_at_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        let mut g = self.inner.lock().await;
        let mut revoked = Vec::new();
        for r in revocations {
            let Some(s) = g.sessions.get_mut(&r.session_id) else {
                continue;
            };
            if s.revoked_at_ms.is_some() {
                continue;
            }
            self.events
                .append(
                    &r.session_id,
                    ExpectedVersion::Any,
                    vec![r.event],
                    Vec::new(),
                )
                .await?;
            s.revoked_at_ms = Some(revoked_at_ms);
            revoked.push(r.session_id);
        }
        Ok(revoked)
    }

    async fn extend(&self, session: &Session, expires_at_ms: i64) -> Result<bool, StoreError> {
        let mut g = self.inner.lock().await;
        match g.sessions.get_mut(&session.session_id) {
            Some(s) if s.revoked_at_ms.is_none() && s.expires_at_ms < expires_at_ms => {
                s.expires_at_ms = expires_at_ms;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn replace(
        &self,
        old: Revocation,
        revoked_at_ms: i64,
        new: Session,
        new_events: Vec<NewEvent>,
    ) -> Result<bool, StoreError> {
        let mut g = self.inner.lock().await;
        match g.sessions.get(&old.session_id) {
            Some(s) if s.revoked_at_ms.is_none() => {}
            _ => return Ok(false),
        }
        g.check_new(&new)?;
        self.events
            .append(
                &old.session_id,
                ExpectedVersion::Any,
                vec![old.event],
                Vec::new(),
            )
            .await?;
        self.events
            .append(
                &new.session_id,
                ExpectedVersion::Any,
                new_events,
                Vec::new(),
            )
            .await?;
        if let Some(s) = g.sessions.get_mut(&old.session_id) {
            s.revoked_at_ms = Some(revoked_at_ms);
        }
        g.put(new);
        Ok(true)
    }
}
