//! Order persistence: order streams (`order-<id>`) on the generic event store, tagged `customer:<id>`.
use shop_kernel::Result;
use shop_store::{EventStore, ExpectedVersion};

use crate::{domain, events};

/// Loads and appends order streams.
#[derive(Clone)]
pub struct OrderRepo<S> {
    store: S,
}

fn stream(order_id: &str) -> String {
    format!("order-{order_id}")
}

impl<S: EventStore + Clone> OrderRepo<S> {
    /// A repository over `store`.
    pub fn new(store: S) -> Self {
        Self { store }
    }

    /// The underlying event store (for the relay).
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The order folded from its stream, if it exists.
    pub async fn load(&self, order_id: &str) -> Result<Option<domain::Order>> {
        let recorded = self.store.load(&stream(order_id)).await?;
        let mut order = None;
        for r in &recorded {
            let e = events::decode(&r.event.payload)?;
            order = domain::apply(order, &e, r.event.occurred_at_ms);
        }
        Ok(order)
    }

    /// Appends `evs` at the order's `expected` version and returns the new state.
    pub async fn append(
        &self,
        current: Option<&domain::Order>,
        evs: Vec<domain::Event>,
        now_ms: i64,
    ) -> Result<domain::Order> {
        let expected = match current {
            None => ExpectedVersion::NoStream,
            Some(o) => ExpectedVersion::Exact(o.version),
        };
        let mut next = current.cloned();
        let mut encoded = Vec::with_capacity(evs.len());
        for e in &evs {
            next = domain::apply(next, e, now_ms);
            encoded.push(events::encode(e, next.as_ref(), now_ms));
        }
        let order = next
            .ok_or_else(|| shop_kernel::Error::internal("order stream must start with Created"))?;
        let tags = match (&current, &order.customer_id) {
            (None, Some(c)) => vec![format!("customer:{c}")],
            _ => vec![],
        };
        self.store
            .append(&stream(&order.id), expected, encoded, tags)
            .await?;
        Ok(order)
    }

    /// Ids of a customer's orders, newest first.
    pub async fn customer_order_ids(&self, customer_id: &str) -> Result<Vec<String>> {
        Ok(self
            .store
            .streams_by_tag(&format!("customer:{customer_id}"))
            .await?
            .into_iter()
            .filter_map(|s| s.strip_prefix("order-").map(str::to_string))
            .collect())
    }

    /// Next order number (1001, 1002, …).
    pub async fn next_number(&self) -> Result<i64> {
        Ok(1000 + self.store.next_sequence("order_number").await?)
    }
}
