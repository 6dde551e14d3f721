//! In-memory bus for fast unit tests.
use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::{BusError, Delivery, EventBus, Message, Subscription, wait_for_messages};

#[derive(Default)]
struct Inner {
    log: Vec<Message>,
    ids: HashSet<String>,
    offsets: HashMap<String, i64>,
}

/// An [`EventBus`] held in memory.
#[derive(Default, Clone)]
pub struct MemoryBus {
    inner: Arc<Mutex<Inner>>,
    notify: Arc<Notify>,
    health: crate::health::ConsumerHealth,
}

impl MemoryBus {
    /// An empty bus.
    pub fn new() -> Self {
        Self::default()
    }
}

impl EventBus for MemoryBus {
    type Subscription = MemorySubscription;

    fn consumer_health(&self) -> &crate::health::ConsumerHealth {
        &self.health
    }

    async fn publish(&self, messages: Vec<Message>) -> Result<(), BusError> {
        {
            let mut g = self.inner.lock();
            for m in messages {
                if g.ids.insert(m.event_id.clone()) {
                    g.log.push(m);
                }
            }
        }
        self.notify.notify_waiters();
        Ok(())
    }

    async fn subscribe(
        &self,
        group: &str,
        topics: &[String],
    ) -> Result<MemorySubscription, BusError> {
        let cursor = self.inner.lock().offsets.get(group).copied().unwrap_or(0);
        Ok(MemorySubscription {
            bus: self.clone(),
            group: group.to_string(),
            topics: topics.to_vec(),
            cursor,
        })
    }
}

impl MemoryBus {
    /// Every message published so far on `topic`, in order (for tests that inspect what a service emitted).
    pub fn messages(&self, topic: &str) -> Vec<Message> {
        self.inner
            .lock()
            .log
            .iter()
            .filter(|m| m.topic == topic)
            .cloned()
            .collect()
    }
}

/// A member of a consumer group on the in-memory log (one partition).
pub struct MemorySubscription {
    bus: MemoryBus,
    group: String,
    topics: Vec<String>,
    cursor: i64,
}

impl MemorySubscription {
    fn fetch(&self, max: usize) -> Vec<Delivery> {
        let g = self.bus.inner.lock();
        g.log
            .iter()
            .enumerate()
            .map(|(i, m)| (i as i64 + 1, m))
            .filter(|(o, m)| *o > self.cursor && self.topics.contains(&m.topic))
            .take(max)
            .map(|(offset, m)| Delivery {
                partition: 0,
                offset,
                message: m.clone(),
            })
            .collect()
    }
}

impl Subscription for MemorySubscription {
    async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BusError> {
        let notify = self.bus.notify.clone();
        let batch =
            wait_for_messages(&notify, wait, || std::future::ready(Ok(self.fetch(max)))).await?;
        if let Some(last) = batch.last() {
            self.cursor = last.offset;
        }
        Ok(batch)
    }

    async fn commit(&mut self, delivery: &Delivery) -> Result<(), BusError> {
        let mut g = self.bus.inner.lock();
        let cur = g.offsets.entry(self.group.clone()).or_insert(0);
        *cur = (*cur).max(delivery.offset);
        Ok(())
    }

    async fn close(self) -> Result<(), BusError> {
        Ok(())
    }
}
