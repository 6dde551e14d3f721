//! In-memory customer store (tests and the memory runtime mode).
use std::{collections::HashMap, sync::Arc};

use shop_store::{EventStore, ExpectedVersion, NewEvent, StoreError, memory::MemoryEventStore};
use tokio::sync::Mutex;

use super::{CreateOutcome, Credentials, CustomerStore, version_conflict};
use crate::{
    domain::{Customer, ResetToken},
    events::reset_stream,
};

#[derive(Default)]
struct Inner {
    customers: HashMap<String, (Customer, String)>,
    by_email: HashMap<String, String>,
    resets: HashMap<String, ResetToken>,
}

/// A [`CustomerStore`] held in memory, with a [`MemoryEventStore`] outbox.
#[derive(Clone, Default)]
pub struct MemoryCustomerStore {
    inner: Arc<Mutex<Inner>>,
    events: MemoryEventStore,
}

impl MemoryCustomerStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl CustomerStore for MemoryCustomerStore {
    type Events = MemoryEventStore;

    fn events(&self) -> MemoryEventStore {
        self.events.clone()
    }

    async fn create(
        &self,
        customer: Customer,
        password_hash: String,
        events: Vec<NewEvent>,
    ) -> Result<CreateOutcome, StoreError> {
        // The lock is held across the append so state and events change together.
        let mut g = self.inner.lock().await;
        if g.by_email.contains_key(&customer.email) || g.customers.contains_key(&customer.id) {
            return Ok(CreateOutcome::EmailTaken);
        }
        self.events
            .append(&customer.id, ExpectedVersion::Any, events, Vec::new())
            .await?;
        g.by_email
            .insert(customer.email.clone(), customer.id.clone());
        g.customers
            .insert(customer.id.clone(), (customer, password_hash));
        Ok(CreateOutcome::Created)
    }

    async fn credentials(&self, email: &str) -> Result<Option<Credentials>, StoreError> {
        let g = self.inner.lock().await;
        Ok(g.by_email
            .get(email)
            .and_then(|id| g.customers.get(id))
            .map(|(c, hash)| Credentials {
                customer_id: c.id.clone(),
                password_hash: hash.clone(),
            }))
    }

    async fn get(&self, id: &str) -> Result<Option<Customer>, StoreError> {
        Ok(self
            .inner
            .lock()
            .await
            .customers
            .get(id)
            .map(|(c, _)| c.clone()))
    }

    async fn get_many(&self, ids: &[String]) -> Result<Vec<Customer>, StoreError> {
        let g = self.inner.lock().await;
        Ok(ids
            .iter()
            .filter_map(|id| g.customers.get(id).map(|(c, _)| c.clone()))
            .collect())
    }

    async fn update(
        &self,
        customer: Customer,
        expected_version: u64,
        events: Vec<NewEvent>,
    ) -> Result<(), StoreError> {
        self.replace(customer, expected_version, None, events).await
    }

    async fn update_password(
        &self,
        customer: Customer,
        expected_version: u64,
        password_hash: String,
        events: Vec<NewEvent>,
    ) -> Result<(), StoreError> {
        self.replace(customer, expected_version, Some(password_hash), events)
            .await
    }

    async fn issue_reset(
        &self,
        customer_id: &str,
        token: ResetToken,
        events: Vec<NewEvent>,
    ) -> Result<(), StoreError> {
        let mut g = self.inner.lock().await;
        if !g.customers.contains_key(customer_id) {
            return Err(StoreError::Backend(format!(
                "no customer {customer_id} to issue a reset token for"
            )));
        }
        self.events
            .append(
                &reset_stream(customer_id),
                ExpectedVersion::Any,
                events,
                Vec::new(),
            )
            .await?;
        g.resets.insert(customer_id.to_string(), token);
        Ok(())
    }

    async fn reset_token(&self, customer_id: &str) -> Result<Option<ResetToken>, StoreError> {
        Ok(self.inner.lock().await.resets.get(customer_id).cloned())
    }

    async fn consume_reset(&self, customer_id: &str, token_hash: &str) -> Result<bool, StoreError> {
        let mut g = self.inner.lock().await;
        match g.resets.get_mut(customer_id) {
            Some(t) if t.token_hash == token_hash && !t.used => {
                t.used = true;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

impl MemoryCustomerStore {
    async fn replace(
        &self,
        customer: Customer,
        expected_version: u64,
        password_hash: Option<String>,
        events: Vec<NewEvent>,
    ) -> Result<(), StoreError> {
        let mut g = self.inner.lock().await;
        let Some((current, _)) = g.customers.get(&customer.id) else {
            return Err(version_conflict(&customer.id, expected_version, 0));
        };
        if current.version != expected_version {
            return Err(version_conflict(
                &customer.id,
                expected_version,
                current.version,
            ));
        }
        self.events
            .append(&customer.id, ExpectedVersion::Any, events, Vec::new())
            .await?;
        if let Some(entry) = g.customers.get_mut(&customer.id) {
            entry.0 = customer;
            if let Some(hash) = password_hash {
                entry.1 = hash;
            }
        }
        Ok(())
    }
}
